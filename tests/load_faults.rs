//! Load with faults: for 45 s, `wrk` reads the GET routes of two node processes and a
//! paced stream of mine requests goes to both, while their one Redis is killed and
//! started again twice and the peer node is killed with SIGKILL and started again.
//!
//! Checks behaviour only (figures are printed, never compared with a threshold):
//! - no request gets a 5xx, and no GET gets anything but a 2xx (wrk's Lua hooks count
//!   every status; a connection refused while the peer is down is a socket error, not
//!   a status);
//! - no panic in either node's stderr, and the first node is still running;
//! - both nodes reach the same tip after the last fault (bounded poll), and again
//!   after the load stops, on a chain that is valid.
//!
//! Loopback only. Each node runs in a folder of its own (its working directory), so
//! whatever it keeps on disk survives the peer's restart, as a real restart would;
//! the peer also syncs from the first node (`--root`) and over Redis.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::redis::{RedisServer, free_port};
use minichain::chain::RuleSet;
use minichain::chain::block::parse_chain;
use minichain::chain::validate::{check_chain, now_ms};

/// How long wrk and the mine stream run: the faults end 33 s in, so the last 12 s are
/// load on two recovered nodes.
const LOAD: Duration = Duration::from_secs(45);

/// Pause between two mine requests: enough blocks to keep the tip moving, few enough
/// that two nodes can be seen on one tip.
const MINE_PACE: Duration = Duration::from_millis(200);

/// Longest wait for both nodes to reach one tip.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(30);

/// wrk's script: spreads requests over the GET routes and counts every status; `done`
/// prints one `status CODE COUNT` line per code.
const WRK_SCRIPT: &str = r#"
local threads = {}
function setup(thread) table.insert(threads, thread) end
local paths = { "/api/blocks", "/api/blocks?from=0&limit=20", "/api/blocks/0", "/api/status" }
local i = 0
function init(args) statuses = {} end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do total[code] = (total[code] or 0) + n end
  end
  for code, n in pairs(total) do io.write(string.format("status %d %d\n", code, n)) end
end
"#;

/// A `minichain node` child process, restartable on the same port, its stderr kept
/// in one file per run.
struct NodeProcess {
    name: &'static str,
    port: u16,
    args: Vec<String>,
    dir: PathBuf,
    child: Option<Child>,
    logs: Vec<PathBuf>,
}

impl NodeProcess {
    fn start(name: &'static str, port: u16, args: Vec<String>, dir: &Path) -> NodeProcess {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).expect("node folder");
        let mut node = NodeProcess {
            name,
            port,
            args,
            dir,
            child: None,
            logs: Vec::new(),
        };
        node.spawn();
        node
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the process (again) and waits until `/healthz` answers; retries while
    /// the port is not free yet after a kill.
    fn spawn(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self
                .dir
                .join(format!("{}-{}.stderr", self.name, self.logs.len()));
            let stderr = File::create(&log).expect("log file");
            self.logs.push(log);
            let child = Command::new(env!("CARGO_BIN_EXE_minichain"))
                .arg("node")
                .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
                // Its own store, kept across restarts: a killed node comes back with
                // the chain it had (never the user's default data directory).
                .arg("--data-dir")
                .arg(self.dir.join("data"))
                .args(&self.args)
                .current_dir(&self.dir)
                .env("RUST_LOG", "minichain=info")
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("start minichain node");
            self.child = Some(child);
            while Instant::now() < deadline {
                if let Some(child) = self.child.as_mut()
                    && let Ok(Some(_)) = child.try_wait()
                {
                    break; // exited (the port still held?): start again
                }
                if http_get(self.port, "/healthz").is_some_and(|(code, _)| code == 200) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(Instant::now() < deadline, "{} did not start", self.name);
            self.kill9();
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL, as a crash: no shutdown, nothing flushed.
    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL on Unix
            let _ = child.wait();
        }
    }

    fn still_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Lines of every run's stderr that tell of a panic.
    fn panics(&self) -> Vec<String> {
        self.logs
            .iter()
            .flat_map(|log| {
                std::fs::read_to_string(log)
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| l.contains("panicked"))
                    .map(|l| format!("{}: {l}", log.display()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One HTTP/1.1 request over a fresh connection: status and body, or `None` when the
/// node cannot be reached (it is down) or answers nonsense.
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let answer = String::from_utf8(answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Some((code, if chunked { dechunk(body)? } else { body.into() }))
}

/// The body of a chunked HTTP/1.1 answer.
fn dechunk(mut rest: &str) -> Option<String> {
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.trim(), 16).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.push_str(after.get(..size)?);
        rest = after.get(size + 2..)?;
    }
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http(port, "GET", path, "")
}

/// A node's tip hash and length from `/api/status`.
fn tip(port: u16) -> Option<(String, u64)> {
    let (code, body) = http_get(port, "/api/status")?;
    if code != 200 {
        return None;
    }
    let status: serde_json::Value = serde_json::from_str(&body).ok()?;
    Some((
        status["tip_hash"].as_str()?.to_owned(),
        status["length"].as_u64()?,
    ))
}

/// Polls both nodes until they report the same tip; how long that took, or `None`.
fn wait_converged(a: u16, b: u16, timeout: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let (Some(x), Some(y)) = (tip(a), tip(b))
            && x == y
        {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// What one wrk run printed, and the status counts its `done` hook wrote.
struct WrkRun {
    output: String,
    statuses: Vec<(u16, u64)>,
}

impl WrkRun {
    fn line(&self, starts: &str) -> String {
        self.output
            .lines()
            .find(|l| l.trim_start().starts_with(starts))
            .map(|l| l.trim().to_owned())
            .unwrap_or_else(|| format!("{starts} (none)"))
    }

    fn count(&self, pred: impl Fn(u16) -> bool) -> u64 {
        self.statuses
            .iter()
            .filter(|(c, _)| pred(*c))
            .map(|(_, n)| n)
            .sum()
    }
}

fn start_wrk(url: &str, script: &Path) -> Child {
    Command::new("wrk")
        .args(["-t1", "-c4", "--latency", "--timeout", "5s"])
        .arg(format!("-d{}s", LOAD.as_secs()))
        .arg("-s")
        .arg(script)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wrk must be installed (apt-get install wrk; scripts/test installs it)")
}

fn finish_wrk(child: Child) -> WrkRun {
    let out = child.wait_with_output().expect("wrk runs");
    let output = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "wrk failed: {output}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let statuses = output
        .lines()
        .filter_map(|l| {
            let mut parts = l.strip_prefix("status ")?.split(' ');
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
        .collect();
    WrkRun { output, statuses }
}

/// Tallies of the mine stream.
#[derive(Default, Debug)]
struct MineTally {
    ok: u64,
    /// Answered with a status other than 200 (none may be a 5xx).
    other: Vec<u16>,
    /// No answer: the node was down (the peer, while killed).
    unreachable: u64,
}

/// Sends mine requests in turn to `ports`, one every [`MINE_PACE`], until `until`.
fn mine_stream(ports: [u16; 2], until: Instant) -> MineTally {
    let mut tally = MineTally::default();
    let mut i = 0u64;
    while Instant::now() < until {
        let port = ports[(i % 2) as usize];
        let body = format!("{{\"data\": \"load {i}\"}}");
        match http(port, "POST", "/api/mineblock", &body) {
            Some((200, _)) => tally.ok += 1,
            Some((code, _)) => tally.other.push(code),
            None => tally.unreachable += 1,
        }
        i += 1;
        std::thread::sleep(MINE_PACE);
    }
    tally
}

#[test]
fn load_with_redis_restarts_and_a_peer_killed() {
    let dir = std::env::temp_dir().join(format!("minichain-load-faults-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp folder");
    let script = dir.join("statuses.lua");
    std::fs::write(&script, WRK_SCRIPT).expect("wrk script");

    let mut redis = RedisServer::start();
    let common_args = |root: String| -> Vec<String> {
        [
            "--redis",
            &redis.url(),
            "--root",
            &root,
            "--threads",
            "1",
            "--miner-nice",
            "0",
            // Any block slower than 1 ms lowers the difficulty: blocks stay cheap.
            "--mine-rate-ms",
            "1",
            "--redis-backoff-max-ms",
            "200",
            "--root-timeout-ms",
            "2000",
        ]
        .map(String::from)
        .to_vec()
    };
    let mut a = NodeProcess::start("a", free_port(), common_args("none".into()), &dir);
    let mut b = NodeProcess::start("b", free_port(), common_args(a.url()), &dir);
    let (pa, pb) = (a.port, b.port);

    let started = Instant::now();
    let until = started + LOAD;
    let wrk_a = start_wrk(&a.url(), &script);
    let wrk_b = start_wrk(&b.url(), &script);
    let miner = std::thread::spawn(move || mine_stream([pa, pb], until));

    // The faults, paced from the start of the load.
    let at = |secs: u64| {
        let when = started + Duration::from_secs(secs);
        std::thread::sleep(when.saturating_duration_since(Instant::now()));
    };
    at(8);
    redis.kill();
    at(11);
    redis.restart();
    at(18);
    b.kill9();
    at(21);
    b.spawn();
    at(30);
    redis.kill();
    at(33);
    redis.restart();
    let last_fault = started.elapsed();
    let converged_after_faults = wait_converged(pa, pb, CONVERGE_TIMEOUT);

    let tally = miner.join().expect("mine stream");
    let (wa, wb) = (finish_wrk(wrk_a), finish_wrk(wrk_b));
    let converged_at_end = wait_converged(pa, pb, CONVERGE_TIMEOUT);
    let final_tip = tip(pa);

    println!(
        "load: {}s; last fault done at {:.1}s; converged {:?} after it; at the end {:?} after the load stopped; tip {:?}",
        LOAD.as_secs(),
        last_fault.as_secs_f64(),
        converged_after_faults,
        converged_at_end,
        final_tip
    );
    println!(
        "mine requests: {} ok, {} unreachable (peer down), others {:?}",
        tally.ok, tally.unreachable, tally.other
    );
    for (name, run) in [("a", &wa), ("b (killed once)", &wb)] {
        println!(
            "wrk {name}: {} | {} | latency {} {} | statuses {:?} | {}",
            run.line("Requests/sec"),
            run.line("Transfer/sec"),
            run.line("50%"),
            run.line("99%"),
            run.statuses,
            run.line("Socket errors"),
        );
    }

    let panics: Vec<String> = a.panics().into_iter().chain(b.panics()).collect();
    assert!(panics.is_empty(), "a node panicked:\n{}", panics.join("\n"));
    assert!(a.still_running(), "node a died under load");
    assert!(b.still_running(), "node b died after its restart");
    for (name, run) in [("a", &wa), ("b", &wb)] {
        assert!(
            run.count(|c| c == 200) > 0,
            "wrk on {name} got no answer: {}",
            run.output
        );
        assert_eq!(
            run.count(|c| !(200..300).contains(&c)),
            0,
            "wrk on {name}: GET answers that are not 2xx: {:?}\n{}",
            run.statuses,
            run.output
        );
    }
    assert!(
        !tally.other.iter().any(|c| *c >= 500),
        "mine requests answered 5xx: {:?}",
        tally.other
    );
    assert!(tally.ok > 0, "no mine request succeeded: {tally:?}");
    assert!(
        converged_after_faults.is_some(),
        "the nodes did not reach one tip within {CONVERGE_TIMEOUT:?} of the last fault"
    );
    assert!(
        converged_at_end.is_some(),
        "the nodes did not reach one tip after the load stopped"
    );
    // The chain both serve is valid under the strict rules.
    let (code, body) = http_get(pa, "/api/blocks").expect("GET /api/blocks");
    assert_eq!(code, 200);
    let blocks = parse_chain(&body).expect("a chain");
    assert!(blocks.len() > 1, "nothing was mined");
    check_chain(&blocks, RuleSet::Strict, now_ms()).expect("the served chain is valid");

    drop(a);
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}
