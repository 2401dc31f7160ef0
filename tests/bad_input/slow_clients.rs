//! Slow and greedy HTTP clients, one table row each: a name, what the client does, and
//! what it must get (a status, or its connection closed). Every row runs on a fresh
//! lone node with short client timeouts and a block that never comes; after the row
//! the node must still answer and its chain must be unchanged.

use std::time::Duration;

use minichain::chain::Difficulty;
use minichain::node::NodeConfig;
use tokio::io::AsyncWriteExt;

use crate::common::node::{TestNode, config};
use crate::common::raw_http::{
    Ending, closed_within, connect, ending, head, post, send, zeros_request,
};

const MIB: usize = 1024 * 1024;

/// Bounds each wait (far above the node's timeouts below).
const PATIENCE: Duration = Duration::from_secs(20);

/// What the client does.
enum Input {
    /// One connection sends these bytes, then nothing.
    Raw(Vec<u8>),
    /// One connection sends this head, then one body byte every `every`.
    Trickle { head: Vec<u8>, every: Duration },
    /// One connection sends this head, then a chunked body of `total` bytes as fast as
    /// the node takes it.
    Chunked { head: Vec<u8>, total: usize },
    /// `n` connections each send these bytes, then nothing.
    Many { n: usize, bytes: Vec<u8> },
}

/// What the client must get.
#[derive(Debug)]
enum Expect {
    /// The (first) connection gets this status.
    Answer(u16),
    /// The connection is closed without an answer.
    Closed,
    /// The connection gets this status, and is then closed while idle.
    AnswerThenClosed(u16),
    /// Every connection is closed without an answer.
    AllClosed,
    /// Every connection gets this status.
    AllAnswered(u16),
    /// At least one connection gets this status, and none gets another (the rest wait).
    SomeGet(u16),
}

struct Row {
    name: &'static str,
    input: Input,
    expect: Expect,
    /// Changes to the node's settings for this row.
    tweak: fn(NodeConfig) -> NodeConfig,
}

fn same(config: NodeConfig) -> NodeConfig {
    config
}

/// The catalog's node: 300 ms for a head, 600 ms for a body, a 64 MiB body budget, a
/// 4 MiB mining queue, a block that never comes, and no cap per client address below
/// the connection cap (every row's clients share 127.0.0.1, and the rows are about the
/// other limits).
fn node_config() -> NodeConfig {
    NodeConfig {
        max_connections_per_ip: usize::MAX,
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(600),
        body_budget_bytes: 64 * MIB,
        mining_queue_bytes: 4 * MIB,
        fixed_difficulty: Some(Difficulty::new(60)),
        ..config(None)
    }
}

fn post_head(path: &str, length: usize) -> Vec<u8> {
    head(
        "POST",
        path,
        &format!("Content-Type: application/json\r\nContent-Length: {length}\r\n"),
    )
}

fn with_body(mut head: Vec<u8>, body: &[u8]) -> Vec<u8> {
    head.extend_from_slice(body);
    head
}

fn chunked_head(path: &str) -> Vec<u8> {
    head(
        "POST",
        path,
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
    )
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "half a request line and header",
            input: Input::Raw(b"GET /api/blocks HTTP/1.1\r\nHost: no".to_vec()),
            expect: Expect::Closed,
            tweak: same,
        },
        Row {
            name: "a connection that sends nothing",
            input: Input::Raw(Vec::new()),
            expect: Expect::Closed,
            tweak: same,
        },
        Row {
            name: "headers without the closing blank line",
            input: Input::Raw(b"GET /healthz HTTP/1.1\r\nHost: node\r\n".to_vec()),
            expect: Expect::Closed,
            tweak: same,
        },
        Row {
            name: "keep-alive connection idle after its answer",
            input: Input::Raw(head("GET", "/healthz", "")),
            expect: Expect::AnswerThenClosed(200),
            tweak: same,
        },
        Row {
            name: "mining body trickling a byte every 50 ms",
            input: Input::Trickle {
                head: with_body(post_head("/api/mineblock", 1000), b"{\"data\": \""),
                every: Duration::from_millis(50),
            },
            expect: Expect::Answer(408),
            tweak: same,
        },
        Row {
            name: "chain body trickling a byte every 50 ms",
            input: Input::Trickle {
                head: with_body(post_head("/api/chain", 100_000), b"{\"chain\": ["),
                every: Duration::from_millis(50),
            },
            expect: Expect::Answer(408),
            tweak: same,
        },
        Row {
            name: "chain with 100 MB declared and a tiny body",
            input: Input::Raw(with_body(post_head("/api/chain", 100 * 1000 * 1000), b"{}")),
            expect: Expect::Answer(413),
            tweak: same,
        },
        Row {
            name: "mining request with 100 MB declared and a tiny body",
            input: Input::Raw(with_body(
                post_head("/api/mineblock", 100 * 1000 * 1000),
                b"{}",
            )),
            expect: Expect::Answer(413),
            tweak: same,
        },
        Row {
            name: "chunked 100 MB chain body",
            input: Input::Chunked {
                head: chunked_head("/api/chain"),
                total: 100 * 1000 * 1000,
            },
            expect: Expect::Answer(413),
            tweak: same,
        },
        Row {
            name: "chunked 2 MiB mining body",
            input: Input::Chunked {
                head: chunked_head("/api/mineblock"),
                total: 2 * MIB,
            },
            expect: Expect::Answer(413),
            tweak: same,
        },
        Row {
            name: "chain declared 30 MiB, body never sent (expects 100-continue)",
            input: Input::Raw(head(
                "POST",
                "/api/chain",
                &format!(
                    "Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n",
                    30 * MIB
                ),
            )),
            expect: Expect::Answer(408),
            tweak: same,
        },
        Row {
            name: "GET declaring a 1 MiB body it never sends",
            input: Input::Raw(head(
                "GET",
                "/api/blocks",
                &format!("Content-Length: {MIB}\r\n"),
            )),
            expect: Expect::Answer(200),
            tweak: same,
        },
        Row {
            name: "a 1 MiB header",
            input: Input::Raw(head(
                "GET",
                "/healthz",
                &format!("X-Big: {}\r\n", "a".repeat(MIB)),
            )),
            expect: Expect::Answer(431),
            tweak: same,
        },
        Row {
            name: "200 connections each stalling after 40 kB of header",
            input: Input::Many {
                n: 200,
                bytes: format!("GET /healthz HTTP/1.1\r\nX-Pad: {}", "a".repeat(40_000))
                    .into_bytes(),
            },
            expect: Expect::AllAnswered(431),
            tweak: same,
        },
        Row {
            name: "200 connections each stalling after 20 kB of header",
            input: Input::Many {
                n: 200,
                bytes: format!("GET /healthz HTTP/1.1\r\nX-Pad: {}", "a".repeat(20_000))
                    .into_bytes(),
            },
            expect: Expect::AllClosed,
            tweak: same,
        },
        Row {
            name: "2,000 idle connections past a cap of 1,024",
            input: Input::Many {
                n: 2000,
                bytes: Vec::new(),
            },
            expect: Expect::AllClosed,
            tweak: same,
        },
        Row {
            name: "4 concurrent chain uploads declaring 30 MiB each (budget 64 MiB)",
            input: Input::Many {
                n: 4,
                bytes: with_body(post_head("/api/chain", 30 * MIB), b"{\"chain\": ["),
            },
            expect: Expect::SomeGet(503),
            tweak: |c| NodeConfig {
                body_timeout: Duration::from_secs(10),
                ..c
            },
        },
        Row {
            name: "200 concurrent 1 MiB mining bodies (budget 64 MiB)",
            input: Input::Many {
                n: 200,
                bytes: post_head("/api/mineblock", MIB),
            },
            expect: Expect::SomeGet(503),
            tweak: |c| NodeConfig {
                body_timeout: Duration::from_secs(10),
                ..c
            },
        },
        Row {
            name: "mining queue flood by count: 1,100 small requests",
            input: Input::Many {
                n: 1100,
                bytes: post("/api/mineblock", b"{\"data\": 1}"),
            },
            expect: Expect::SomeGet(503),
            tweak: |c| NodeConfig {
                max_connections: 2048,
                ..c
            },
        },
        Row {
            name: "mining queue flood by bytes: 12 requests of 500 kB",
            input: Input::Many {
                n: 12,
                bytes: post("/api/mineblock", &zeros_request(500_000)),
            },
            expect: Expect::SomeGet(503),
            tweak: same,
        },
    ]
}

/// Lets this process (the test and its in-process node) open a few thousand sockets.
fn raise_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    let want = limit.maximum.map_or(8192, |max| max.min(8192));
    if limit.current.is_some_and(|current| current < want) {
        limit.current = Some(want);
        setrlimit(Resource::Nofile, limit).expect("raise the open-file limit to 8192");
    }
}

async fn run(row: &Row) {
    let node = TestNode::start((row.tweak)(node_config())).await;
    let addr = node.handle.addr();
    let before = node.chain().await;
    match &row.input {
        Input::Raw(bytes) => {
            let mut stream = connect(addr).await;
            assert!(send(&mut stream, bytes).await, "{}: send", row.name);
            let got = ending(&mut stream, PATIENCE).await;
            match row.expect {
                Expect::Answer(code) => assert_eq!(got, Ending::Answered(code), "{}", row.name),
                Expect::Closed => assert_eq!(got, Ending::Closed, "{}", row.name),
                Expect::AnswerThenClosed(code) => {
                    assert_eq!(got, Ending::Answered(code), "{}", row.name);
                    assert!(closed_within(&mut stream, PATIENCE).await, "{}", row.name);
                }
                ref other => panic!("{}: {other:?} does not fit one connection", row.name),
            }
        }
        Input::Trickle { head, every } => {
            let mut stream = connect(addr).await;
            assert!(send(&mut stream, head).await, "{}: send", row.name);
            let (mut read, mut write) = stream.into_split();
            let every = *every;
            let trickle = tokio::spawn(async move {
                while write.write_all(b"0").await.is_ok() {
                    tokio::time::sleep(every).await;
                }
            });
            let got = crate::common::raw_http::ending_of(&mut read, PATIENCE).await;
            trickle.abort();
            let Expect::Answer(code) = row.expect else {
                panic!("{}: a trickle expects an answer", row.name)
            };
            assert_eq!(got, Ending::Answered(code), "{}", row.name);
        }
        Input::Chunked { head, total } => {
            let mut stream = connect(addr).await;
            assert!(send(&mut stream, head).await, "{}: send", row.name);
            let (mut read, mut write) = stream.into_split();
            let total = *total;
            let flood = tokio::spawn(async move {
                let chunk = vec![b' '; 64 * 1024];
                let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
                frame.extend_from_slice(&chunk);
                frame.extend_from_slice(b"\r\n");
                let mut sent = 0;
                while sent < total && write.write_all(&frame).await.is_ok() {
                    sent += chunk.len();
                }
                sent
            });
            let got = crate::common::raw_http::ending_of(&mut read, PATIENCE).await;
            let sent = flood.await.expect("the sender ends");
            let Expect::Answer(code) = row.expect else {
                panic!("{}: a chunked body expects an answer", row.name)
            };
            assert_eq!(got, Ending::Answered(code), "{}", row.name);
            // Socket buffers take a few MB whatever the node does; past them, the
            // sender stops when the node stops reading.
            if total > 16 * MIB {
                assert!(
                    sent < total,
                    "{}: the node read all {total} bytes",
                    row.name
                );
            }
        }
        Input::Many { n, bytes } => {
            let mut streams = Vec::with_capacity(*n);
            for _ in 0..*n {
                let mut stream = connect(addr).await;
                assert!(send(&mut stream, bytes).await, "{}: send", row.name);
                streams.push(stream);
            }
            match row.expect {
                Expect::AllClosed => {
                    for stream in &mut streams {
                        assert_eq!(
                            ending(stream, PATIENCE).await,
                            Ending::Closed,
                            "{}",
                            row.name
                        );
                    }
                }
                Expect::AllAnswered(code) => {
                    for stream in &mut streams {
                        let got = ending(stream, PATIENCE).await;
                        assert_eq!(got, Ending::Answered(code), "{}", row.name);
                    }
                }
                Expect::SomeGet(code) => {
                    let waits = streams.into_iter().map(|mut stream| {
                        tokio::spawn(async move {
                            (ending(&mut stream, Duration::from_secs(3)).await, stream)
                        })
                    });
                    let endings = futures_util::future::join_all(waits).await;
                    let mut got = 0;
                    for result in &endings {
                        match &result.as_ref().expect("the reader ends").0 {
                            Ending::Answered(c) if *c == code => got += 1,
                            // A waiting holder whose body timed out meanwhile.
                            Ending::Answered(408) | Ending::Open => {}
                            other => panic!("{}: unexpected {other:?}", row.name),
                        }
                    }
                    assert!(got > 0, "{}: none got {code}", row.name);
                    eprintln!("{}: {got} of {n} got {code}", row.name);
                }
                ref other => panic!("{}: {other:?} does not fit many connections", row.name),
            }
        }
    }
    // The node still serves, and nothing reached the chain.
    assert_eq!(node.get("/healthz").await.0, 200, "{}", row.name);
    assert_eq!(
        node.chain().await,
        before,
        "{}: the chain changed",
        row.name
    );
    node.stop().await;
}

/// Every row of the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_greedy_clients() {
    raise_file_limit();
    let rows = rows();
    assert!(rows.len() >= 10);
    for row in &rows {
        eprintln!("row: {}", row.name);
        run(row).await;
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let peak = status.lines().find(|l| l.starts_with("VmHWM"));
        eprintln!("peak RSS of this process (test and node): {peak:?}");
    }
}
