//! Slow and greedy clients against a real node over real sockets: a half-sent header
//! is dropped after the header timeout, a trickling body after the body timeout, a
//! client that stops reading after the write timeout,
//! connections past the cap wait while the node serves, idle connections on the last
//! slots are dropped soon, uploads past the shared body
//! budget get 503, the mining queue refuses past its byte budget, mining requests take
//! at most a quarter of the connections, and the node's memory stays bounded under a
//! flood of large mining requests.
//!
//! Durations here only bound the tests; what is checked is behaviour. The figures the
//! tests print (time to drop, peak RSS) go to `--nocapture`.
//!
//! Run with `cargo test --test node_slow_clients`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use common::node::{TestNode, config, wait_until};
use common::raw_http::{
    Ending, NodeProcess, closed_within, connect, connect_from, ending, head, post,
    read_until_closed, send, zeros_request,
};
use minichain::chain::Difficulty;
use minichain::node::NodeConfig;

/// A lone node with short client timeouts and a block that never comes.
fn slow_config() -> NodeConfig {
    NodeConfig {
        header_timeout: Duration::from_millis(400),
        body_timeout: Duration::from_millis(800),
        fixed_difficulty: Some(Difficulty::new(60)),
        ..config(None)
    }
}

/// Bounds each wait of a test (far above the node's timeouts).
const PATIENCE: Duration = Duration::from_secs(20);

/// A connection that sends half a request head is closed by the node after the header
/// timeout, and so is one that sends nothing, and one idle after a request; the node
/// answers others meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_header_is_dropped_after_the_header_timeout() {
    let node = TestNode::start(slow_config()).await;
    let addr = node.handle.addr();

    let started = Instant::now();
    let mut half = connect(addr).await;
    assert!(send(&mut half, b"GET /api/blocks HTTP/1.1\r\nHost: no").await);
    let mut silent = connect(addr).await;
    let mut idle = connect(addr).await;
    assert!(send(&mut idle, &head("GET", "/healthz", "")).await);
    assert_eq!(ending(&mut idle, PATIENCE).await, Ending::Answered(200));
    // Others are served while the slow ones hang.
    assert_eq!(node.get("/healthz").await.0, 200);

    for (name, stream) in [
        ("half header", &mut half),
        ("no bytes", &mut silent),
        ("idle keep-alive", &mut idle),
    ] {
        assert!(closed_within(stream, PATIENCE).await, "{name} still open");
    }
    eprintln!(
        "half header dropped after {:?} (header timeout 400ms)",
        started.elapsed()
    );
    assert_eq!(node.get("/healthz").await.0, 200);
    node.stop().await;
}

/// A body that trickles in (a byte now and then, each well within any per-chunk
/// timeout) is cut with 408 when its total time runs out, and its budget returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_body_is_cut_after_the_body_timeout() {
    let node = TestNode::start(slow_config()).await;
    let mut stream = connect(node.handle.addr()).await;
    let mut request = head(
        "POST",
        "/api/mineblock",
        "Content-Type: application/json\r\nContent-Length: 1000\r\n",
    );
    request.extend_from_slice(b"{\"data\": \"");
    assert!(send(&mut stream, &request).await);
    let (mut read, mut write) = stream.into_split();
    // The trickle would last 10 s; the node cuts it at 0.8 s.
    let trickle = tokio::spawn(async move {
        for _ in 0..200 {
            if tokio::io::AsyncWriteExt::write_all(&mut write, b"x")
                .await
                .is_err()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut answer = Vec::new();
    let read_all = tokio::io::AsyncReadExt::read_to_end(&mut read, &mut answer);
    // The node answers 408, then closes (the connection's body was never finished).
    let closed = tokio::time::timeout(PATIENCE, read_all).await;
    assert!(closed.is_ok(), "the node kept the connection open");
    trickle.abort();
    assert_eq!(common::raw_http::status_of(&answer), Some(408));
    wait_until("the budget returns", PATIENCE, || async {
        node.status().await["http"]["body_bytes"] == 0
    })
    .await;
    assert_eq!(node.status().await["mining"]["queue"], 0);
    node.stop().await;
}

/// Past the connection cap, new connections wait: the node keeps serving the
/// connections it has, and once the slow ones are dropped (header timeout) it answers
/// the waiting ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_and_are_served() {
    let node = TestNode::start(NodeConfig {
        max_connections: 8,
        header_timeout: Duration::from_secs(2),
        ..slow_config()
    })
    .await;
    let addr = node.handle.addr();
    let mut kept = connect(addr).await;
    assert!(send(&mut kept, &head("GET", "/healthz", "")).await);
    assert_eq!(ending(&mut kept, PATIENCE).await, Ending::Answered(200));
    let mut slow = Vec::new();
    for _ in 0..7 {
        let mut stream = connect(addr).await;
        assert!(send(&mut stream, b"GET /api/blocks HTTP/1.1\r\n").await);
        slow.push(stream);
    }
    // The kernel completes the handshake; the node does not take the connection until
    // a slot frees.
    let mut waiting = connect(addr).await;
    assert!(send(&mut waiting, &head("GET", "/healthz", "")).await);
    // The cap is reached, and the connection the node has is still served.
    assert!(send(&mut kept, &head("GET", "/api/status", "")).await);
    assert_eq!(ending(&mut kept, PATIENCE).await, Ending::Answered(200));
    assert_eq!(ending(&mut waiting, PATIENCE).await, Ending::Answered(200));
    for stream in &mut slow {
        assert!(closed_within(stream, PATIENCE).await);
    }
    let status = node.status().await;
    assert_eq!(status["http"]["max_connections"], 8);
    assert!(
        status["http"]["connections"].as_u64() <= Some(8),
        "{status}"
    );
    node.stop().await;
}

/// Event streams take at most half the connections (none ends by a timeout: they are
/// open for as long as their clients like): past that, a new stream gets 503 at once,
/// with the JSON error, and other requests are still served; once a stream's client
/// goes, its place is free again. Before, streams could hold every slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_take_at_most_half_the_connections() {
    let node = TestNode::start(NodeConfig {
        max_connections: 8,
        ..slow_config()
    })
    .await;
    let addr = node.handle.addr();
    let open_stream = || async {
        let mut stream = connect(addr).await;
        assert!(send(&mut stream, &head("GET", "/api/events", "")).await);
        let ending = ending(&mut stream, PATIENCE).await;
        (stream, ending)
    };
    let mut streams = Vec::new();
    for _ in 0..4 {
        let (stream, ending) = open_stream().await;
        assert_eq!(ending, Ending::Answered(200));
        streams.push(stream);
    }
    // Refused, and the connection goes with the refusal (kept open and idle, it would
    // hold a slot until the idle timeout).
    let mut refused = connect(addr).await;
    assert!(send(&mut refused, &head("GET", "/api/events", "")).await);
    let mut answer = Vec::new();
    let read_all = refused.read_to_end(&mut answer);
    assert!(
        tokio::time::timeout(PATIENCE, read_all).await.is_ok(),
        "the node kept a refused stream's connection open"
    );
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 503"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    let (code, _, body) = node.get("/api/events").await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("event streams are open"), "{body}");
    assert_eq!(node.get("/healthz").await.0, 200);
    assert_eq!(node.get("/api/status").await.0, 200);

    drop(streams.pop());
    let started = Instant::now();
    let mut again = None;
    while again.is_none() {
        assert!(
            started.elapsed() < 2 * PATIENCE,
            "the place never came back"
        );
        match open_stream().await {
            (stream, Ending::Answered(200)) => again = Some(stream),
            (_, Ending::Answered(503)) => tokio::time::sleep(Duration::from_millis(50)).await,
            (_, other) => panic!("a new stream ended {other:?}"),
        }
    }
    println!(
        "a closed stream's place came back in {:?}",
        started.elapsed()
    );
    node.stop().await;
}

/// Mining requests, each open until its block is mined (here never), take at most a
/// quarter of the connections: past that a new one gets 503 with its connection
/// closed, reads are still served, and a place comes back when a client leaves.
/// Before, waiting requests could hold every slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mining_requests_take_at_most_a_quarter_of_the_connections() {
    let node = TestNode::start(NodeConfig {
        max_connections: 8,
        ..slow_config()
    })
    .await;
    let addr = node.handle.addr();
    let request = post("/api/mineblock", br#"{"data": "never mined"}"#);
    let mut waiting = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(addr).await;
        assert!(send(&mut stream, &request).await);
        assert_eq!(
            ending(&mut stream, Duration::from_millis(500)).await,
            Ending::Open
        );
        waiting.push(stream);
    }
    wait_until("two requests queued", PATIENCE, || async {
        node.status().await["mining"]["queue"] == 2
    })
    .await;
    let mut refused = connect(addr).await;
    assert!(send(&mut refused, &request).await);
    let answer = read_until_closed(&mut refused, PATIENCE).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("mining requests are open"), "{answer}");
    let status = node.status().await;
    assert_eq!(status["http"]["max_mining_requests"], 2, "{status}");
    assert_eq!(status["mining"]["queue"], 2, "{status}");
    assert_eq!(node.get("/healthz").await.0, 200);
    assert_eq!(node.get("/api/blocks").await.0, 200);

    drop(waiting.pop());
    wait_until("a request withdrawn", PATIENCE, || async {
        let status = node.status().await;
        status["mining"]["queue"] == 1 && status["mining"]["withdrawn"] == 1
    })
    .await;
    let mut again = connect(addr).await;
    assert!(send(&mut again, &request).await);
    assert_eq!(
        ending(&mut again, Duration::from_millis(500)).await,
        Ending::Open
    );
    wait_until("the new request queued", PATIENCE, || async {
        node.status().await["mining"]["queue"] == 2
    })
    .await;
    node.stop().await;
}

/// Idle connections cannot hold the last slots for a whole header timeout: one
/// accepted while fewer than a quarter of the slots are free gets the short one. With
/// event streams on half the slots and idle keep-alive connections on the rest, a new
/// request waits only until the idle connections accepted last are dropped, while
/// those accepted with slots to spare are kept. Before, it waited the whole timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_cannot_hold_the_last_slots() {
    let node = TestNode::start(NodeConfig {
        max_connections: 8,
        // Longer than PATIENCE: a request that waited for it would fail the test.
        header_timeout: 2 * PATIENCE,
        ..slow_config()
    })
    .await;
    let addr = node.handle.addr();
    // A connection the node has answered once on `path` (so it has taken it).
    let answered = |path: &'static str| async move {
        let mut stream = connect(addr).await;
        assert!(send(&mut stream, &head("GET", path, "")).await);
        assert_eq!(ending(&mut stream, PATIENCE).await, Ending::Answered(200));
        stream
    };
    let mut streams = Vec::new();
    for _ in 0..4 {
        streams.push(answered("/api/events").await);
    }
    // Each idle connection is answered once (so the node has taken it, in this order),
    // then sends nothing: 3, 2, 1 and 0 slots are left free as they are taken.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(answered("/healthz").await);
    }
    let started = Instant::now();
    let mut waiting = connect(addr).await;
    assert!(send(&mut waiting, &head("GET", "/healthz", "")).await);
    assert_eq!(ending(&mut waiting, PATIENCE).await, Ending::Answered(200));
    println!(
        "a request behind idle connections on the last slots waited {:?}",
        started.elapsed()
    );
    for stream in &mut idle[..2] {
        assert!(!closed_within(stream, Duration::from_millis(50)).await);
    }
    for stream in &mut idle[2..] {
        assert!(closed_within(stream, PATIENCE).await);
    }
    drop(streams);
    node.stop().await;
}

/// Shutdown drains: it closes idle connections at once and waits for a half-sent
/// head only until its header timeout, so it ends with slow clients connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_with_slow_clients_connected() {
    let node = TestNode::start(slow_config()).await;
    let addr = node.handle.addr();
    let mut half = connect(addr).await;
    assert!(send(&mut half, b"POST /api/mineblock HTTP/1.1\r\nHost: n").await);
    let mut silent = connect(addr).await;
    let mut trickle = connect(addr).await;
    assert!(send(&mut trickle, &post_head_only("/api/chain", 1000)).await);
    wait_until("the node holds the three", PATIENCE, || async {
        node.status().await["http"]["connections"].as_u64() >= Some(3)
    })
    .await;
    node.stop().await;
    for stream in [&mut half, &mut silent, &mut trickle] {
        assert!(closed_within(stream, PATIENCE).await);
    }
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// Reads an answer's status line and headers (to its blank line).
async fn response_head(stream: &mut tokio::net::TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed before the answer's head: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn post_head_only(path: &str, length: usize) -> Vec<u8> {
    head(
        "POST",
        path,
        &format!("Content-Type: application/json\r\nContent-Length: {length}\r\n"),
    )
}

/// A body budget of 4 MiB, and time enough to send a body that the tests need not hurry.
fn small_budget_config() -> NodeConfig {
    NodeConfig {
        body_budget_bytes: 4 * 1024 * 1024,
        body_timeout: Duration::from_secs(30),
        ..slow_config()
    }
}

/// Uploads whose declared bodies do not fit in what is left of the shared budget get
/// 503 at once, without a byte buffered; when the holders go, the budget returns and
/// the node takes uploads again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_past_the_body_budget_get_503() {
    let mib = 1024 * 1024;
    let node = TestNode::start(small_budget_config()).await;
    let addr = node.handle.addr();
    let upload = |n: usize| {
        head(
            "POST",
            "/api/chain",
            &format!("Content-Type: application/json\r\nContent-Length: {n}\r\n"),
        )
    };
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(addr).await;
        assert!(send(&mut stream, &upload(3 * mib / 2)).await);
        assert!(send(&mut stream, b"{\"chain\": [").await);
        holders.push(stream);
    }
    wait_until("two uploads hold 3 MiB", PATIENCE, || async {
        node.status().await["http"]["body_bytes"] == 3 * mib
    })
    .await;
    let mut refused = Vec::new();
    for _ in 0..4 {
        let mut stream = connect(addr).await;
        assert!(send(&mut stream, &upload(3 * mib / 2)).await);
        refused.push(stream);
    }
    for stream in &mut refused {
        assert_eq!(ending(stream, PATIENCE).await, Ending::Answered(503));
    }
    drop(holders);
    wait_until("the budget returns", PATIENCE, || async {
        node.status().await["http"]["body_bytes"] == 0
    })
    .await;
    let chain = common::node::body(&node.chain().await);
    let (code, body) = node.push(chain).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("current"), "{body}");
    assert_eq!(node.len().await, 1);
    node.stop().await;
}

/// Pushed chains draw on at most three quarters of the body budget: uploads that only
/// declare large bodies are refused past that share, and a mining request still finds
/// room while they wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_uploads_cannot_starve_mining_requests() {
    let mib = 1024 * 1024;
    let node = TestNode::start(NodeConfig {
        fixed_difficulty: Some(Difficulty::new(4)),
        ..small_budget_config()
    })
    .await;
    let addr = node.handle.addr();
    let mut holder = connect(addr).await;
    assert!(send(&mut holder, &post_head_only("/api/chain", 2 * mib)).await);
    wait_until("an upload holds 2 MiB", PATIENCE, || async {
        node.status().await["http"]["body_bytes"] == 2 * mib
    })
    .await;
    let mut second = connect(addr).await;
    assert!(send(&mut second, &post_head_only("/api/chain", 2 * mib)).await);
    // Refused, and told to close: its body may still be on the way, so a client must
    // not send its next request on this connection.
    let answer = response_head(&mut second).await.to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 503"), "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
    assert!(closed_within(&mut second, PATIENCE).await);
    let (code, body) = node.mine(r#"{"data": "mined beside the uploads"}"#).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(node.len().await, 2);
    drop(holder);
    node.stop().await;
}

/// The mining queue takes requests until their data fills its byte budget; past it,
/// 503 saying so, while the count limit is far away; the queued requests hold none of
/// the upload budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mining_queue_refuses_past_its_byte_budget() {
    let node = TestNode::start(NodeConfig {
        mining_queue_bytes: 3 * 1024 * 1024,
        ..slow_config()
    })
    .await;
    let addr = node.handle.addr();
    let request = post("/api/mineblock", &zeros_request(500_000));
    let mut queued = Vec::new();
    let mut answers = Vec::new();
    for _ in 0..6 {
        let mut stream = connect(addr).await;
        assert!(send(&mut stream, &request).await);
        match ending(&mut stream, Duration::from_millis(1500)).await {
            Ending::Open => queued.push(stream),
            other => answers.push(other),
        }
    }
    let status = node.status().await;
    let queue = status["mining"]["queue"].as_u64().expect("queue");
    assert!((1..6).contains(&queue), "{status}");
    assert_eq!(queue as usize, queued.len(), "{status}");
    assert!(status["mining"]["queue_bytes"].as_u64() <= Some(3 * 1024 * 1024));
    // Queued, a request holds its data's text, not its body: the bodies' shares of the
    // upload budget went back once each was checked (before, a large one's share was
    // held for its whole wait, and a few such requests took the whole budget).
    assert_eq!(status["http"]["body_bytes"], 0, "{status}");
    assert!(!answers.is_empty());
    assert!(
        answers.iter().all(|a| *a == Ending::Answered(503)),
        "{answers:?}"
    );
    // The refusal says why.
    let body = String::from_utf8(request.clone()).expect("ASCII");
    let body = &body[body.find("\r\n\r\n").expect("head") + 4..];
    let (code, text) = node.mine(body).await;
    assert_eq!(code, 503);
    assert!(text.contains("mining queue is full"), "{text}");
    assert_eq!(node.len().await, 1);
    node.stop().await;
}

/// Bounds the flood below: a debug build reads a megabyte of JSON in about half a
/// second, and the 40 share a small machine with the miner.
const FLOOD_PATIENCE: Duration = Duration::from_secs(80);

/// 40 requests of 1 MB `[0,0,...]` queued behind a block that never comes: the node
/// keeps their text, not their trees, and refuses past its byte budget, so its peak
/// RSS stays far below the ~900 MB that trees took.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rss_stays_bounded_under_a_mining_flood() {
    let node = NodeProcess::start(&[]);
    let before = node.memory_kb("VmRSS");
    let request = post("/api/mineblock", &zeros_request(1_000_000));
    let mut streams = Vec::new();
    for _ in 0..40 {
        let mut stream = connect(node.addr).await;
        assert!(send(&mut stream, &request).await);
        streams.push(stream);
    }
    let refused = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            let refused = Arc::clone(&refused);
            tokio::spawn(async move {
                let got = ending(&mut stream, FLOOD_PATIENCE).await;
                assert_eq!(got, Ending::Answered(503), "only refusals answer");
                refused.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    // Every request is either queued (its block never comes) or refused.
    let client = reqwest::Client::new();
    let queued = AtomicUsize::new(0);
    wait_until("all 40 are queued or refused", FLOOD_PATIENCE, || async {
        let status: serde_json::Value = client
            .get(format!("{}/api/status", node.base()))
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("JSON");
        let now = status["mining"]["queue"].as_u64().expect("queue") as usize;
        queued.store(now, Ordering::Relaxed);
        now + refused.load(Ordering::Relaxed) == 40
    })
    .await;
    let (queued, refused) = (queued.into_inner(), refused.load(Ordering::Relaxed));
    assert!(
        queued > 0 && refused > 0,
        "{queued} queued, {refused} refused"
    );
    let (rss, peak) = (node.memory_kb("VmRSS"), node.memory_kb("VmHWM"));
    eprintln!(
        "40 x 1 MB mining flood: {queued} queued, {refused} refused; RSS {before} kB before, {rss} kB after, peak {peak} kB"
    );
    assert!(peak < 300 * 1024, "peak RSS {peak} kB");
    for reader in readers {
        reader.abort();
    }
}

/// Mines a chain of about 5 MB (six blocks of 900 KB of data): more than the kernel's
/// buffers on both sides of a connection hold.
async fn mine_a_long_chain(node: &TestNode) {
    let data = "x".repeat(900_000);
    for _ in 0..6 {
        let (code, answer) = node.mine(&format!(r#"{{"data": "{data}"}}"#)).await;
        assert_eq!(code, 200, "{}", &answer[..answer.len().min(200)]);
    }
}

/// A client with a small receive buffer that asks for the chain and reads nothing.
async fn ask_for_the_chain_and_stall(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("a small receive buffer");
    let mut stalled = socket.connect(addr).await.expect("connect");
    assert!(send(&mut stalled, &head("GET", "/api/blocks", "")).await);
    stalled
}

/// Reads what the node sends until it closes the connection: the bytes read; panics
/// with `kept` when the connection is still open after PATIENCE.
async fn bytes_until_closed(stream: &mut tokio::net::TcpStream, kept: &str) -> usize {
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got += n,
            Err(_) => panic!("{kept}"),
        }
    }
}

/// A client that asks for the chain and stops reading is cut after the write timeout:
/// its connection no longer counts, it never gets the whole answer, and the node
/// serves others meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_after_the_write_timeout() {
    let node = TestNode::start(NodeConfig {
        write_timeout: Duration::from_millis(500),
        // The genesis block's: every block mined at once, and each a valid step.
        fixed_difficulty: Some(Difficulty::new(4)),
        ..config(None)
    })
    .await;
    mine_a_long_chain(&node).await;
    let (code, _, whole) = node.get("/api/blocks").await;
    assert_eq!(code, 200);

    let mut stalled = ask_for_the_chain_and_stall(node.handle.addr()).await;
    // Well past the write timeout: the node has given up on it by now (a node that
    // had not would send the rest once the test reads, and keep the connection).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(node.get("/healthz").await.0, 200);

    // What the kernel held is still delivered, then the end: never the whole chain.
    let got = bytes_until_closed(&mut stalled, "the cut connection did not end").await;
    println!("stalled client got {got} of {} bytes", whole.len());
    assert!(got < whole.len(), "{got} bytes: the whole answer went out");
    node.stop().await;
}

/// One client address holds at most its share of the connections: past it, a new
/// connection from that address gets 503 with the JSON error and is closed at once,
/// while another address is still served, and `/api/status` counts the refusal.
/// Before, one address could take every slot (slow readers each held to their write
/// timeout, say) and leave everyone else waiting in the backlog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_at_most_its_share_of_the_connections() {
    let node = TestNode::start(NodeConfig {
        max_connections: 8,
        max_connections_per_ip: 4,
        // The held connections stay open for the whole test.
        header_timeout: 2 * PATIENCE,
        ..slow_config()
    })
    .await;
    let addr = node.handle.addr();
    // Four connections from 127.0.0.1 that the node has taken (each answered once).
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = connect(addr).await;
        assert!(send(&mut stream, &head("GET", "/healthz", "")).await);
        assert_eq!(ending(&mut stream, PATIENCE).await, Ending::Answered(200));
        held.push(stream);
    }
    // A fifth from the same address is refused at once, before it sends a byte.
    let answer = read_until_closed(&mut connect(addr).await, PATIENCE).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains(r#"{"error":"too many connections from this address: at most 4 at once"}"#),
        "{answer}"
    );
    // Another address is served, slots being free.
    let mut other = connect_from("127.0.0.2", addr).await;
    assert!(
        send(
            &mut other,
            &head("GET", "/api/status", "Connection: close\r\n")
        )
        .await
    );
    let status = read_until_closed(&mut other, PATIENCE).await;
    assert_eq!(common::raw_http::status_of(status.as_bytes()), Some(200));
    let body = &status[status.find("\r\n\r\n").expect("a head") + 4..];
    let status: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(status["http"]["max_connections_per_ip"], 4, "{status}");
    assert_eq!(status["http"]["refused_per_ip"], 1, "{status}");
    // Once one of the four goes, the address has room again.
    drop(held.pop());
    wait_until("127.0.0.1 has room again", PATIENCE, || async {
        let mut stream = connect(addr).await;
        send(&mut stream, &head("GET", "/healthz", "")).await
            && ending(&mut stream, PATIENCE).await == Ending::Answered(200)
    })
    .await;
    drop(held);
    node.stop().await;
}

/// One client address holds at most its share of the event streams: past it, a new
/// stream from that address gets 503 (and its connection is closed) while another
/// address still gets one. Before, one client could take every stream the node serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_at_most_its_share_of_the_event_streams() {
    let share = 3;
    let node = TestNode::start(NodeConfig {
        // Room for four addresses' shares of streams, and every connection below.
        max_connections: 8 * share,
        max_streams_per_ip: share,
        ..slow_config()
    })
    .await;
    let addr = node.handle.addr();
    let mut streams = Vec::new();
    for _ in 0..share {
        let mut stream = connect(addr).await;
        assert!(send(&mut stream, &head("GET", "/api/events", "")).await);
        assert_eq!(ending(&mut stream, PATIENCE).await, Ending::Answered(200));
        streams.push(stream);
    }
    let mut refused = connect(addr).await;
    assert!(send(&mut refused, &head("GET", "/api/events", "")).await);
    let answer = read_until_closed(&mut refused, PATIENCE).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("from this address"), "{answer}");
    let mut other = connect_from("127.0.0.2", addr).await;
    assert!(send(&mut other, &head("GET", "/api/events", "")).await);
    assert_eq!(ending(&mut other, PATIENCE).await, Ending::Answered(200));
    let status = node.status().await;
    assert_eq!(status["http"]["max_streams_per_ip"], share, "{status}");
    assert_eq!(status["http"]["refused_streams_per_ip"], 1, "{status}");
    drop(streams);
    node.stop().await;
}

/// A node of eight connection slots, with write and header timeouts longer than
/// PATIENCE (a connection that waited for either would fail the test) and a chain of
/// 5.4 MB (more than the kernel's buffers hold for a client that does not read).
async fn eight_slots_and_a_long_chain() -> TestNode {
    let node = TestNode::start(NodeConfig {
        max_connections: 8,
        write_timeout: 2 * PATIENCE,
        header_timeout: 2 * PATIENCE,
        // The genesis block's: every block mined at once, and each a valid step.
        fixed_difficulty: Some(Difficulty::new(4)),
        ..config(None)
    })
    .await;
    mine_a_long_chain(&node).await;
    node
}

/// Six of the eight slots held: five connections the node has taken, then idle, and
/// an event stream last. With the test client's pooled one, if it kept it, and one
/// more, at most one slot is left. The stream holds its slot whatever the timeouts:
/// an idle connection accepted short of slots is closed after a second, which would
/// give the slots back.
async fn six_slots_held(addr: std::net::SocketAddr) -> Vec<tokio::net::TcpStream> {
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut stream = connect(addr).await;
        assert!(send(&mut stream, &head("GET", "/healthz", "")).await);
        assert_eq!(ending(&mut stream, PATIENCE).await, Ending::Answered(200));
        held.push(stream);
    }
    let mut stream = connect(addr).await;
    assert!(send(&mut stream, &head("GET", "/api/events", "")).await);
    let mut first = [0u8; 12];
    tokio::time::timeout(PATIENCE, stream.read_exact(&mut first))
        .await
        .expect("the stream answers")
        .expect("the stream's head");
    assert_eq!(&first, b"HTTP/1.1 200", "the event stream opens");
    held.push(stream);
    held
}

/// Waits six seconds (the short write timeout and a look at the slots, with room to
/// spare), then reads `stalled` to its end: what the kernel held is delivered, then
/// the end. A connection still open after the wait would take up its answer again and
/// send the whole of it, so the byte count bounds the cut at these few seconds,
/// against the configured write timeout; `kept` is the failure when it stays open.
async fn assert_cut_soon(stalled: &mut tokio::net::TcpStream, kept: &str) {
    tokio::time::sleep(Duration::from_secs(6)).await;
    let got = bytes_until_closed(stalled, kept).await;
    println!("the stalled client got {got} bytes");
    assert!(got < 5_000_000, "{got} bytes: the whole answer went out");
}

/// A connection accepted while fewer than a quarter of the slots are free gets the
/// short write timeout: a client there that asks for the chain and stops reading is
/// cut within seconds, not after the configured write timeout (longer than this test
/// waits). Before, it held one of the last slots that whole time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_on_the_last_slots_is_cut_soon() {
    let node = eight_slots_and_a_long_chain().await;
    let addr = node.handle.addr();
    let held = six_slots_held(addr).await;
    // Accepted short of slots.
    let mut stalled = ask_for_the_chain_and_stall(addr).await;
    assert_cut_soon(
        &mut stalled,
        "the stalled connection on the last slots was kept",
    )
    .await;
    drop(held);
    node.stop().await;
}

/// A client that asked for the chain and stopped reading while the slots were plenty
/// gets the short write timeout once they run short: it is cut within seconds of the
/// last slots going, not after the configured write timeout (longer than this test
/// waits). Before, only connections accepted short of slots got the short one, so this
/// client held its slot the whole configured time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_from_before_the_slots_ran_short_is_cut_soon() {
    let node = eight_slots_and_a_long_chain().await;
    let addr = node.handle.addr();
    // Accepted with most slots free: the configured write timeout.
    let mut stalled = ask_for_the_chain_and_stall(addr).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held = six_slots_held(addr).await;
    assert_cut_soon(
        &mut stalled,
        "the stalled connection from before the slots ran short was kept",
    )
    .await;
    drop(held);
    node.stop().await;
}
