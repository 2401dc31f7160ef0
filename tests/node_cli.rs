//! `minichain node` as a process: its help, and a graceful stop on SIGTERM and SIGINT
//! (stop accepting, cancel mining, answer the waiting POST, exit 0).
//!
//! Run with `cargo test --test node_cli`.

mod common;

use std::process::{Child, Command};
use std::time::Duration;

use common::node::{post, wait_until};
use common::process::{spawn_until_listening, unreachable_node_command, wait_exit};

fn minichain() -> Command {
    Command::new(env!("CARGO_BIN_EXE_minichain"))
}

/// Starts a lone node on a free port mining at a pinned, unreachable difficulty, on a
/// data directory of its own; returns the child, its base URL and the directory
/// (removed on drop).
fn start_node() -> (Child, String, tempfile::TempDir) {
    start_node_with(&[])
}

/// [`start_node`] with more arguments.
fn start_node_with(extra: &[&str]) -> (Child, String, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("a temporary data directory");
    let mut command = unreachable_node_command(data.path());
    command.args(extra);
    let (child, addr, lines) = spawn_until_listening(&mut command);
    // Keep draining the log so the node never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://{addr}"), data)
}

async fn stop_while_mining(signal: &str) {
    let (mut child, base, _data) = start_node();
    let client = reqwest::Client::new();
    let pending = {
        let (client, base) = (client.clone(), base.clone());
        tokio::spawn(async move { post(&client, &base, r#"{"data": "never found"}"#).await })
    };
    wait_until("the node mines", Duration::from_secs(10), || async {
        status(&client, &base).await["mining"]["active"] == true
    })
    .await;
    let killed = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let (code, body) = pending.await.expect("task");
    assert_eq!(code, 503, "{body}");
    let status =
        tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(10)))
            .await
            .expect("join");
    assert!(status.success(), "exit status {status}");
    assert!(
        client.get(format!("{base}/healthz")).send().await.is_err(),
        "stopped accepting"
    );
}

/// SIGTERM while mining: the POST gets 503, the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_gracefully() {
    stop_while_mining("-TERM").await;
}

/// SIGINT (Ctrl-C) likewise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_gracefully() {
    stop_while_mining("-INT").await;
}

/// Whether the node's search runs, from `/api/status`.
async fn mining_active(client: &reqwest::Client, base: &str) -> Option<bool> {
    status(client, base).await["mining"]["active"].as_bool()
}

/// The node's `/api/status`, or JSON null when it does not answer with JSON.
async fn status(client: &reqwest::Client, base: &str) -> serde_json::Value {
    let Ok(response) = client.get(format!("{base}/api/status")).send().await else {
        return serde_json::Value::Null;
    };
    response.json().await.unwrap_or_default()
}

/// A client that goes away while its block is mined stops the search (a block nobody
/// waits for is not mined, and the queue moves on); one that stays keeps it running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_stops_its_search() {
    let (mut child, base, _data) = start_node();
    let client = reqwest::Client::new();
    let addr = base.trim_start_matches("http://").to_owned();
    let body = r#"{"data": "nobody waits"}"#;
    let request = format!(
        "POST /api/mineblock HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut socket = std::net::TcpStream::connect(&addr).expect("connect");
    std::io::Write::write_all(&mut socket, request.as_bytes()).expect("send");
    wait_until("the node mines", Duration::from_secs(10), || async {
        mining_active(&client, &base).await == Some(true)
    })
    .await;
    // Still mining a moment later while the client waits.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mining_active(&client, &base).await, Some(true));
    drop(socket);
    wait_until("the search stops", Duration::from_secs(10), || async {
        mining_active(&client, &base).await == Some(false)
    })
    .await;
    let status = status(&client, &base).await;
    assert_eq!(status["mining"]["queue"], 0, "{status}");
    assert_eq!(status["mining"]["blocks_mined"], 0, "{status}");
    child.kill().expect("kill");
    child.wait().expect("reap");
}

/// Requests whose clients went away while they waited leave the queue at once: after
/// more of them than the queue holds, a live client is queued, not refused (before, each
/// kept its place until the coordinator reached it, and the live client got 503).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_left_do_not_fill_the_queue() {
    // All from one address: no cap per address below the 1,100 connections.
    let (mut child, base, _data) = start_node_with(&["--max-connections-per-ip", "2048"]);
    let client = reqwest::Client::new();
    let addr = base.trim_start_matches("http://").to_owned();
    let request = |text: &str| {
        format!(
            "POST /api/mineblock HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{text}",
            text.len()
        )
    };
    // One client that waits, whose search never ends.
    let mut live = std::net::TcpStream::connect(&addr).expect("connect");
    std::io::Write::write_all(&mut live, request(r#"{"data": "waits"}"#).as_bytes()).expect("send");
    wait_until("the node mines", Duration::from_secs(10), || async {
        mining_active(&client, &base).await == Some(true)
    })
    .await;
    // More than the queue holds: each sent, then the client leaves once it is queued.
    for i in 0..1100 {
        let mut gone = std::net::TcpStream::connect(&addr).expect("connect");
        std::io::Write::write_all(
            &mut gone,
            request(&format!(r#"{{"data": {i}}}"#)).as_bytes(),
        )
        .expect("send");
        drop(gone);
    }
    wait_until(
        "the queue holds only the live request",
        Duration::from_secs(30),
        || async { status(&client, &base).await["mining"]["queue"] == 1 },
    )
    .await;
    let late = {
        let (client, base) = (client.clone(), base.clone());
        tokio::spawn(async move { post(&client, &base, r#"{"data": "late"}"#).await })
    };
    wait_until(
        "the late request is queued",
        Duration::from_secs(10),
        || async { status(&client, &base).await["mining"]["queue"] == 2 },
    )
    .await;
    assert!(
        !late.is_finished(),
        "the late request was answered: {:?}",
        late.await
    );
    // The leavers' requests reached the queue and were taken out of it (not refused
    // or lost before it, which would pass the checks above with withdrawal broken).
    let status = status(&client, &base).await;
    let withdrawn = status["mining"]["withdrawn"].as_u64().expect("withdrawn");
    assert!(withdrawn >= 100, "{withdrawn} withdrawn: {status}");
    late.abort();
    drop(live);
    child.kill().expect("kill");
    child.wait().expect("reap");
}

/// A connection left half-way through a request does not hold the stop past the
/// shutdown grace (10 s) twice over: the mining queue stops on its own word, not when
/// the last handle on it goes, so the process exits within the grace (it took 20 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_request_holds_the_stop_no_longer_than_the_grace() {
    let (mut child, base, _data) = start_node();
    let addr = base.trim_start_matches("http://").to_owned();
    let mut socket = std::net::TcpStream::connect(&addr).expect("connect");
    std::io::Write::write_all(
        &mut socket,
        b"POST /api/mineblock HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"data\"",
    )
    .expect("send");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status =
        tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(30)))
            .await
            .expect("join");
    let took = started.elapsed();
    assert!(status.success(), "exit status {status}");
    assert!(took < Duration::from_secs(14), "the stop took {took:?}");
    drop(socket);
}

/// `--help` names the one-block route on one line: clap's help reads `{n}` in doc
/// text as a line break, which once cut it into `/api/blocks/` and a broken line.
#[test]
fn help_names_the_block_route_on_one_line() {
    for flag in ["-h", "--help"] {
        let output = minichain().args(["node", flag]).output().expect("run");
        assert!(output.status.success());
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(
            help.contains("/api/blocks/N"),
            "route missing from:\n{help}"
        );
        assert!(
            !help
                .lines()
                .any(|line| line.trim_end().ends_with("/api/blocks/")),
            "route cut by a line break in:\n{help}"
        );
    }
}

/// `--help` explains every flag.
#[test]
fn help_lists_every_flag() {
    let output = minichain().args(["node", "--help"]).output().expect("run");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--host",
        "--port",
        "--redis",
        "--root",
        "--threads",
        "--fork-choice",
        "--mine-rate-ms",
        "--max-message-bytes",
        "--max-body-bytes",
        "--header-timeout-ms",
        "--body-timeout-ms",
        "--max-connections",
        "--allow-host",
        "--body-budget-bytes",
        "--mining-queue-bytes",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    assert!(
        !help.contains("--difficulty"),
        "the benchmark pin stays hidden"
    );
    for (args, flag) in [
        (["node", "--threads", "0"], "--threads"),
        (["node", "--allow-host", "miner.lan:8000"], "--allow-host"),
    ] {
        let output = minichain().args(args).output().expect("run");
        assert!(!output.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(flag),
            "{args:?}"
        );
    }
}

/// A port in use is one line that names the address and the reason once (the reason
/// was printed twice: in the message and again as its source).
#[test]
fn port_in_use_is_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = taken.local_addr().expect("addr").port().to_string();
    let output = minichain()
        .args([
            "node",
            "--port",
            &port,
            "--data-dir",
            "none",
            "--redis",
            "none",
            "--root",
            "none",
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    assert!(
        line.starts_with(&format!("error: cannot listen on 127.0.0.1:{port}: ")),
        "{err}"
    );
    assert_eq!(line.matches("(os error").count(), 1, "{err}");
}
