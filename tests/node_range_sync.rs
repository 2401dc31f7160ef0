//! The range sync between real nodes over real HTTP, each on a data directory of its
//! own and no shared Redis: an empty node copies a long chain from its root in pages
//! and reports its progress; a node killed mid-sync resumes from its store's tip; a
//! fork 50 blocks deep resolves to the chain with more work, through a gap request and
//! through the start-up sync; a root that does not page still gives its whole chain; a
//! peer that answers junk page after page is dropped at the gap fill's progress
//! deadline, and a peer whose fill failed is backed off (its error body unshown).
//!
//! Run with `cargo test --test node_range_sync`.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::node::{TestNode, body, config, wait_until};
use common::process::start_listening;
use minichain::chain::block::parse_chain;
use minichain::chain::{Difficulty, genesis};
use minichain::miner::kernel::KernelKind;
use minichain::miner::reference::mine_reference;
use minichain::miner::synthetic::synthetic_chain;
use minichain::node::gap::GapRequest;
use minichain::node::gap_fill::{COMMIT_EVERY, GapLimits};
use minichain::node::range_fetch::MAX_PAGE;

/// Longest wait for a sync (a bound for a stuck test, not a speed check: debug builds
/// validating two long chains at once on a loaded machine take a while).
const WAIT: Duration = Duration::from_secs(600);

/// Blocks in the long chain (genesis included): two batches and a part.
const LONG: usize = 2 * COMMIT_EVERY + 1_001;

/// A node on `data` (or a fresh temporary directory) with `root`, the portable kernel
/// (no calibration) and mined blocks pinned at `difficulty`.
async fn node(
    root: Option<String>,
    data: Option<&std::path::Path>,
    difficulty: Option<u32>,
) -> TestNode {
    let mut cfg = config(None);
    cfg.root = root;
    cfg.kernel = Some(KernelKind::Portable);
    cfg.data_dir = data.map(std::path::Path::to_owned);
    cfg.fixed_difficulty = difficulty.map(Difficulty::new);
    TestNode::start(cfg).await
}

/// A root serving the synthetic chain of `n` blocks (pushed to it whole).
async fn root_with(n: usize) -> TestNode {
    let root = node(None, None, None).await;
    // The root validates the whole chain before it answers: no 30 s client limit.
    let response = reqwest::Client::builder()
        .timeout(WAIT)
        .build()
        .expect("client")
        .post(format!("{}/api/chain", root.url()))
        .body(body(&synthetic_chain(n)))
        .send()
        .await
        .expect("POST /api/chain");
    let code = response.status().as_u16();
    let answer = response.text().await.expect("answer");
    assert_eq!(code, 200, "{answer}");
    assert_eq!(root.len().await, n);
    root
}

async fn startup(node: &TestNode) -> serde_json::Value {
    node.status().await["sync"]["startup"].clone()
}

async fn tip(node: &TestNode) -> String {
    node.status().await["tip_hash"]
        .as_str()
        .expect("tip")
        .to_owned()
}

/// An empty node copies a chain of more than 20,000 blocks from its root in pages, and
/// `/api/status` says how far it got: done, every block fetched once and adopted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_node_syncs_a_long_chain_from_its_root_in_pages() {
    let root = root_with(LONG).await;
    let joiner = node(Some(root.url()), None, None).await;
    wait_until("the joiner's start-up sync ends", WAIT, || async {
        let state = startup(&joiner).await["state"].clone();
        state == "done" || state == "failed"
    })
    .await;
    let progress = startup(&joiner).await;
    assert_eq!(progress["state"], "done", "{progress}");
    assert_eq!(progress["started_height"], 1, "{progress}");
    assert_eq!(progress["fetched"], LONG - 1, "{progress}");
    assert_eq!(progress["adopted"], LONG - 1, "{progress}");
    assert_eq!(progress["target"], LONG, "{progress}");
    assert_eq!(progress["peer"], root.url(), "{progress}");
    assert_eq!(
        joiner.get("/api/blocks").await.2,
        root.get("/api/blocks").await.2
    );
    // The root's own status: no start-up sync.
    assert_eq!(startup(&root).await["state"], "off");
    // The OpenAPI description has exactly the fields served.
    let spec: serde_json::Value =
        serde_json::from_str(&joiner.get("/api/openapi.json").await.2).expect("JSON");
    let described: std::collections::BTreeSet<&String> =
        spec["components"]["schemas"]["FillStatus"]["properties"]
            .as_object()
            .expect("FillStatus is described")
            .keys()
            .collect();
    let served: std::collections::BTreeSet<&String> =
        progress.as_object().expect("object").keys().collect();
    assert_eq!(described, served);
    joiner.stop().await;
    root.stop().await;
}

/// A node process killed (SIGKILL) after its first batch is stored starts again from
/// its store's tip, not from genesis: it fetches only the blocks it lacks, and its log
/// shows the progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_sync_resumes_from_its_store() {
    let root = root_with(LONG).await;
    let data = tempfile::tempdir().expect("temp dir");
    let command = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_minichain"));
        command
            .args(["node", "--port", "0", "--redis", "none", "--threads", "1"])
            .args(["--kernel", "portable", "--miner-nice", "0"])
            .args(["--root", &root.url()])
            .arg("--data-dir")
            .arg(data.path())
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        command
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let status = |base: String| {
        let client = client.clone();
        async move {
            let text = client
                .get(format!("{base}/api/status"))
                .send()
                .await
                .expect("GET /api/status")
                .text()
                .await
                .expect("body");
            serde_json::from_str::<serde_json::Value>(&text).expect("JSON")
        }
    };
    let first = start_listening(command());
    wait_until("the first batch is adopted", WAIT, || async {
        status(first.base.clone()).await["sync"]["startup"]["adopted"]
            .as_u64()
            .is_some_and(|n| n > 0)
    })
    .await;
    first.kill9();

    let second = start_listening(command());
    wait_until("the restarted node's sync ends", WAIT, || async {
        let state = status(second.base.clone()).await["sync"]["startup"]["state"].clone();
        state == "done" || state == "failed"
    })
    .await;
    let after = status(second.base.clone()).await;
    let progress = &after["sync"]["startup"];
    assert_eq!(progress["state"], "done", "{after}");
    let resumed = progress["started_height"].as_u64().expect("started_height");
    // It restarted on what it had stored (at least the first batch), short of the end
    // (the kill came right after the first batch, a whole batch before the last).
    assert!(
        resumed > COMMIT_EVERY as u64 && resumed < LONG as u64,
        "{after}"
    );
    assert_eq!(progress["fetched"], LONG as u64 - resumed, "{after}");
    assert_eq!(after["length"], LONG, "{after}");
    assert_eq!(after["tip_hash"], tip(&root).await);
    let log = second.log();
    assert!(
        log.contains("start-up sync: adopted blocks up to"),
        "progress in the log:\n{log}"
    );
    assert!(second.terminate().success());
    root.stop().await;
}

/// Mines `n` blocks on `node` (at its pinned difficulty).
async fn mine(node: &TestNode, n: usize, tag: &str) {
    for i in 0..n {
        let (code, answer) = node.mine(&format!(r#"{{"data": "{tag} {i}"}}"#)).await;
        assert_eq!(code, 200, "{answer}");
    }
}

/// Two nodes share 21 blocks, then each mines on its own: `a` 50 blocks at difficulty
/// 5, `b` 60 at difficulty 4 (longer, less work). Told of `a`'s tip by a gap request,
/// `b` fetches the 50 blocks from the fork point and switches to `a`'s chain; `a`,
/// told of `b`'s, keeps its own. They diverge again, and `b` restarted with `a` as its
/// root resolves the new fork the same way through its start-up sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_50_blocks_deep_resolves_to_the_chain_with_more_work() {
    let a_dir = tempfile::tempdir().expect("temp dir");
    let b_dir = tempfile::tempdir().expect("temp dir");
    let a = node(None, Some(a_dir.path()), Some(4)).await;
    mine(&a, 20, "shared").await;
    let b = node(Some(a.url()), Some(b_dir.path()), Some(4)).await;
    wait_until("b has the shared blocks", WAIT, || async {
        b.len().await == 21
    })
    .await;

    a.handle.pin_difficulty(Some(Difficulty::new(5)));
    mine(&a, 50, "a").await;
    mine(&b, 60, "b").await;
    assert_ne!(tip(&a).await, tip(&b).await);
    let a_chain = a.get("/api/blocks").await.2;
    b.handle
        .gaps()
        .send(GapRequest {
            peer: a.url(),
            height: 70,
            tip_hash: tip(&a).await,
        })
        .await
        .expect("b takes gap requests");
    wait_until("b's gap fill ends", WAIT, || async {
        let state = b.status().await["sync"]["gap_fill"]["last"]["state"].clone();
        state == "done" || state == "failed"
    })
    .await;
    assert_eq!(b.get("/api/blocks").await.2, a_chain);
    let gap = b.status().await["sync"]["gap_fill"].clone();
    assert_eq!(gap["last"]["state"], "done", "{gap}");
    assert_eq!(gap["requests"], 1, "{gap}");
    assert_eq!(gap["last"]["fetched"], 50, "{gap}");
    assert_eq!(gap["last"]["adopted"], 50, "{gap}");
    // The other way: a keeps its chain (b's fork has less work, though longer), and
    // a request for a tip a holds already is not fetched at all.
    let b_fork = {
        let c_dir = tempfile::tempdir().expect("temp dir");
        let c = node(None, Some(c_dir.path()), Some(4)).await;
        let shared: Vec<_> = parse_chain(&a_chain).expect("chain")[..21].to_vec();
        assert_eq!(c.push(body(&shared)).await.0, 200);
        mine(&c, 60, "c").await;
        c
    };
    a.handle
        .gaps()
        .send(GapRequest {
            peer: b_fork.url(),
            height: 80,
            tip_hash: tip(&b_fork).await,
        })
        .await
        .expect("a takes gap requests");
    a.handle
        .gaps()
        .send(GapRequest {
            peer: b.url(),
            height: 70,
            tip_hash: tip(&a).await,
        })
        .await
        .expect("a takes gap requests");
    wait_until("a has taken both requests", WAIT, || async {
        let gap = a.status().await["sync"]["gap_fill"].clone();
        gap["requests"] == 2 && (gap["last"]["state"] == "done" || gap["last"]["state"] == "failed")
    })
    .await;
    let gap = a.status().await["sync"]["gap_fill"].clone();
    assert_eq!(gap["last"]["state"], "done", "{gap}");
    assert_eq!(gap["already_held"], 1, "{gap}");
    assert_eq!(gap["last"]["adopted"], 0, "{gap}");
    assert_eq!(gap["last"]["fetched"], 60, "{gap}");
    assert_eq!(a.get("/api/blocks").await.2, a_chain);
    b_fork.stop().await;

    // Diverge again; b restarts with a as its root.
    mine(&a, 50, "a again").await;
    mine(&b, 60, "b again").await;
    b.stop().await;
    let b = node(Some(a.url()), Some(b_dir.path()), Some(4)).await;
    wait_until("b's start-up sync ends", WAIT, || async {
        let state = startup(&b).await["state"].clone();
        state == "done" || state == "failed"
    })
    .await;
    let progress = startup(&b).await;
    assert_eq!(progress["state"], "done", "{progress}");
    assert_eq!(progress["started_height"], 131, "{progress}");
    assert_eq!(progress["fetched"], 50, "{progress}");
    assert_eq!(b.get("/api/blocks").await.2, a.get("/api/blocks").await.2);
    a.stop().await;
    b.stop().await;
}

/// A root that does not page (as the original, which answers its whole chain to any
/// `GET /api/blocks`; here Python's own file server, which ignores the query) still
/// gives its whole chain, through the intake as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_that_does_not_page_gives_its_whole_chain() {
    let chain = synthetic_chain(30);
    let mut whole = b"{\"chain\": ".to_vec();
    minichain::chain::block::write_chain(
        &chain,
        minichain::chain::json::Dialect::Python,
        &mut whole,
    );
    whole.push(b'}');
    let server = FileServer::answering(&whole).await;
    let url = server.url.clone();
    let joiner = node(Some(url), None, None).await;
    wait_until("the joiner adopts the root's chain", WAIT, || async {
        joiner.len().await == chain.len()
    })
    .await;
    assert_eq!(joiner.chain().await, chain);
    wait_until("the start-up sync ends", WAIT, || async {
        startup(&joiner).await["state"] == "done"
    })
    .await;
    assert_eq!(joiner.status().await["sync"]["accepted"], 1);
    assert_eq!(genesis(), chain[0]);
    joiner.stop().await;
}

/// A Python file server whose `/api/blocks` answers `body` whatever the query.
struct FileServer {
    child: std::process::Child,
    url: String,
    _site: tempfile::TempDir,
}

impl FileServer {
    async fn answering(body: &[u8]) -> FileServer {
        let site = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(site.path().join("api")).expect("mkdir");
        std::fs::write(site.path().join("api/blocks"), body).expect("write");
        let port = common::redis::free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(site.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 runs (scripts/test installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let probe = reqwest::Client::new();
        wait_until("the file server listens", WAIT, || async {
            probe.get(format!("{url}/api/blocks")).send().await.is_ok()
        })
        .await;
        FileServer {
            child,
            url,
            _site: site,
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Hostile peers get a failed fill with the reason, and the node's chain is unchanged:
/// a page that does not start where asked, a peer address that is not an http URL, an
/// unreachable peer. (A forged block in a page is refused by the suffix check, whose
/// unit tests are in `chain::validate`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_fail_the_fill_and_change_nothing() {
    let target = node(None, None, Some(4)).await;
    mine(&target, 3, "ours").await;
    let before = target.get("/api/blocks").await.2;
    let chain = synthetic_chain(40);
    // The same page for every query: right for `from=0`, wrong for the rest.
    let page = |blocks: &[minichain::chain::Block], total: usize| {
        let mut out =
            format!("{{\"from\":0,\"limit\":1000,\"total\":{total},\"chain\":").into_bytes();
        minichain::chain::block::write_chain(
            blocks,
            minichain::chain::json::Dialect::Compact,
            &mut out,
        );
        out.push(b'}');
        out
    };
    let stuck = FileServer::answering(&page(&chain[..1], chain.len())).await;
    let dead = format!("http://127.0.0.1:{}", common::redis::free_port());
    // A query or fragment would turn the page request into another GET on that host.
    let elsewhere = format!(
        "http://127.0.0.1:{}/admin?drop=all#",
        common::redis::free_port()
    );
    let cases = [
        (stuck.url.clone(), "do not add up"),
        ("file:///etc/passwd".to_owned(), "not an http:// URL"),
        (dead, "no answer from the peer"),
        (elsewhere, "without query, fragment or user info"),
    ];
    for (i, (peer, why)) in cases.into_iter().enumerate() {
        target
            .handle
            .gaps()
            .send(GapRequest {
                peer,
                height: 39,
                tip_hash: chain[39].hash.clone(),
            })
            .await
            .expect("the node takes gap requests");
        wait_until("the fill fails", WAIT, || async {
            target.status().await["sync"]["gap_fill"]["failed"] == i as u64 + 1
        })
        .await;
        let gap = target.status().await["sync"]["gap_fill"].clone();
        let error = gap["last"]["last_error"].as_str().unwrap_or_default();
        assert!(error.contains(why), "{why}: {gap}");
        assert_eq!(gap["last"]["state"], "failed", "{gap}");
    }
    assert_eq!(target.get("/api/blocks").await.2, before);
    target.stop().await;
}

/// What a [`FakePeer`] answers to `GET /api/blocks`.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Genesis for `from=0`, then one junk block per page, each after a pause, of a
    /// chain it says is 9,999,999 blocks long: a page never times out, never matches
    /// our chain, and there is always one more.
    Junk,
    /// 500, with text that must not reach the status or the log.
    Secret,
    /// As [`Behaviour::Junk`] but at once, each junk block holding [`HEAVY_BYTES`] of
    /// data: pages under the size limit that add up without end.
    Heavy,
}

/// The data in each of a [`Behaviour::Heavy`] peer's junk blocks.
const HEAVY_BYTES: usize = 8 << 20;

/// Text a [`Behaviour::Secret`] peer answers with.
const SECRET: &str = "SECRET internal text: token=hunter2";

/// A hostile peer over real HTTP on 127.0.0.1:0 (axum), counting the requests it gets.
struct FakePeer {
    url: String,
    hits: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl FakePeer {
    async fn start(behaviour: Behaviour) -> FakePeer {
        let hits = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&hits);
        let app = axum::Router::new().route(
            "/api/blocks",
            axum::routing::get(
                move |axum::extract::Query(query): axum::extract::Query<
                    HashMap<String, String>,
                >| {
                    let counted = Arc::clone(&counted);
                    async move {
                        counted.fetch_add(1, Ordering::Relaxed);
                        let from: u64 = query.get("from").and_then(|f| f.parse().ok()).unwrap_or(0);
                        match behaviour {
                            Behaviour::Secret => (
                                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                                SECRET.to_owned(),
                            ),
                            Behaviour::Junk | Behaviour::Heavy => {
                                let heavy = matches!(behaviour, Behaviour::Heavy);
                                let block = if from == 0 {
                                    genesis()
                                } else {
                                    if !heavy {
                                        // Well under the node's page timeout: pages keep
                                        // coming.
                                        tokio::time::sleep(Duration::from_millis(100)).await;
                                    }
                                    let mut junk = synthetic_chain(2)[1].clone();
                                    junk.block_no = from;
                                    junk.hash = format!("{from:064x}");
                                    if heavy {
                                        junk.data = minichain::chain::Json::String(
                                            "x".repeat(HEAVY_BYTES).into(),
                                        )
                                        .into();
                                    }
                                    junk
                                };
                                let mut out = format!(
                                    "{{\"from\":{from},\"limit\":1,\"total\":9999999,\"chain\":"
                                )
                                .into_bytes();
                                minichain::chain::block::write_chain(
                                    &[block],
                                    minichain::chain::json::Dialect::Compact,
                                    &mut out,
                                );
                                out.push(b'}');
                                (
                                    axum::http::StatusCode::OK,
                                    String::from_utf8(out).expect("JSON is UTF-8"),
                                )
                            }
                        }
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the fake peer serves");
        });
        FakePeer { url, hits, task }
    }

    fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A node with no root, mining at difficulty 4, whose gap fills have `limits`.
async fn node_with(limits: GapLimits) -> TestNode {
    let mut cfg = config(None);
    cfg.root = None;
    cfg.kernel = Some(KernelKind::Portable);
    cfg.fixed_difficulty = Some(Difficulty::new(4));
    cfg.gap_limits = limits;
    TestNode::start(cfg).await
}

async fn gap_request(node: &TestNode, peer: String, height: u64, tip_hash: String) {
    node.handle
        .gaps()
        .send(GapRequest {
            peer,
            height,
            tip_hash,
        })
        .await
        .expect("the node takes gap requests");
}

/// A peer that answers genesis and then one junk block per page, each well within the
/// page timeout, holds a gap fill only until its progress deadline (2 s here): the
/// fill stops with "no progress" rather than reading a thousand junk pages, and the
/// gap filler then fills an honest gap from another peer; the node serves throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_progresses_is_dropped_at_the_deadline() {
    let target = node_with(GapLimits {
        progress: Duration::from_secs(2),
        ..GapLimits::default()
    })
    .await;
    let junk = FakePeer::start(Behaviour::Junk).await;
    gap_request(&target, junk.url.clone(), 9_999_998, format!("{:064x}", 1)).await;
    wait_until("the junk fill fails", WAIT, || async {
        target.status().await["sync"]["gap_fill"]["failed"] == 1
    })
    .await;
    let gap = target.status().await["sync"]["gap_fill"].clone();
    let error = gap["last"]["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("no progress from the peer"), "{gap}");
    assert_eq!(gap["last"]["state"], "failed", "{gap}");
    // It was answered (no page timed out): only the deadline ended the fill (without
    // it, the search would have read a thousand junk pages, then failed as invalid).
    assert!(junk.hits() >= 2, "{} pages", junk.hits());
    assert_eq!(target.len().await, 1);

    // The gap filler is free: an honest peer's gap is filled.
    let source = node_with(GapLimits::default()).await;
    let chain = synthetic_chain(30);
    assert_eq!(source.push(body(&chain)).await.0, 200);
    gap_request(&target, source.url(), 29, chain[29].hash.clone()).await;
    wait_until("the honest fill ends", WAIT, || async {
        let gap = target.status().await["sync"]["gap_fill"].clone();
        gap["requests"] == 2 && (gap["last"]["state"] == "done" || gap["failed"] == 2)
    })
    .await;
    let gap = target.status().await["sync"]["gap_fill"].clone();
    assert_eq!(gap["last"]["state"], "done", "{gap}");
    assert_eq!(gap["last"]["adopted"], 29, "{gap}");
    assert_eq!(gap["failed"], 1, "{gap}");
    assert_eq!(target.chain().await, chain);
    source.stop().await;
    target.stop().await;
}

/// A peer whose pages are each under the size limit but add up without end (one junk
/// block of 8 MiB a page) is read only up to the fill's limit of bytes: the fork
/// search stops at about 256 MiB of pages, not the thousand-block window it asked for
/// (8 GB), and the fill fails. The node's chain is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_pages_add_up_without_end_is_dropped_at_the_byte_limit() {
    use minichain::node::gap_fill::MAX_PENDING_BYTES;
    let target = node_with(GapLimits::default()).await;
    let heavy = FakePeer::start(Behaviour::Heavy).await;
    gap_request(&target, heavy.url.clone(), 9_999_998, format!("{:064x}", 1)).await;
    wait_until("the heavy fill fails", WAIT, || async {
        target.status().await["sync"]["gap_fill"]["failed"] == 1
    })
    .await;
    let gap = target.status().await["sync"]["gap_fill"].clone();
    let error = gap["last"]["last_error"].as_str().unwrap_or_default();
    // The search stops reading at the limit with genesis matched, so what it read is
    // checked, and the junk fails: refused as invalid, not read on.
    assert!(
        error.contains("is invalid") || error.contains("bytes held"),
        "{gap}"
    );
    // Genesis, then pages until the limit, then at most one more.
    let most = 2 + MAX_PENDING_BYTES.div_ceil(HEAVY_BYTES) as u64;
    assert!(
        heavy.hits() <= most,
        "{} pages, at most {most}",
        heavy.hits()
    );
    assert_eq!(target.len().await, 1);
    target.stop().await;
}

/// A fill from a peer that answers 500 fails with the status only (the peer's text is
/// in neither the status nor the error); a second request naming that peer, spelled
/// another way, is skipped without a request to it (counted in `backed_off`), while a
/// request naming another peer is still filled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_peer_is_backed_off() {
    // A backoff of an hour: the second request surely comes within it.
    let target = node_with(GapLimits {
        backoff_first: Duration::from_secs(3600),
        ..GapLimits::default()
    })
    .await;
    let secret = FakePeer::start(Behaviour::Secret).await;
    let chain = synthetic_chain(10);
    gap_request(&target, secret.url.clone(), 9, chain[9].hash.clone()).await;
    wait_until("the fill fails", WAIT, || async {
        target.status().await["sync"]["gap_fill"]["failed"] == 1
    })
    .await;
    let status = target.status().await;
    let gap = status["sync"]["gap_fill"].clone();
    let error = gap["last"]["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("the peer answered 500"), "{gap}");
    assert!(!status.to_string().contains("SECRET"), "{status}");
    assert_eq!(secret.hits(), 1);
    assert_eq!(gap["backed_off"], 0, "{gap}");

    // The same peer (another spelling of it): skipped, not asked.
    let again = format!("{}/some/prefix/", secret.url);
    gap_request(&target, again, 9, chain[9].hash.clone()).await;
    // Another peer: filled.
    let source = node_with(GapLimits::default()).await;
    assert_eq!(source.push(body(&chain)).await.0, 200);
    gap_request(&target, source.url(), 9, chain[9].hash.clone()).await;
    wait_until("the third request is done", WAIT, || async {
        let gap = target.status().await["sync"]["gap_fill"].clone();
        gap["requests"] == 3 && gap["last"]["state"] == "done"
    })
    .await;
    let gap = target.status().await["sync"]["gap_fill"].clone();
    assert_eq!(gap["backed_off"], 1, "{gap}");
    assert_eq!(gap["failed"], 1, "{gap}");
    assert_eq!(secret.hits(), 1, "the backed-off peer was not asked again");
    assert_eq!(target.chain().await, chain);
    source.stop().await;
    target.stop().await;
}

/// A fill that brings nothing (the peer's chain is ours) puts its peer off for a short
/// while: an announcement claiming more than a peer has costs nothing to send, and each
/// must not make this node fetch from that peer at once. Before, every such request
/// was filled, one after another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_that_brings_nothing_puts_its_peer_off() {
    // A wait of an hour: the second request surely comes within it.
    let target = node_with(GapLimits {
        fruitless_wait: Duration::from_secs(3600),
        ..GapLimits::default()
    })
    .await;
    let source = node_with(GapLimits::default()).await;
    let chain = synthetic_chain(10);
    assert_eq!(source.push(body(&chain)).await.0, 200);
    assert_eq!(target.push(body(&chain)).await.0, 200);
    // A tip the peer does not have, claimed twice.
    let claimed = "ab".repeat(32);
    gap_request(&target, source.url(), 20, claimed.clone()).await;
    wait_until("the first fill ends", WAIT, || async {
        let gap = target.status().await["sync"]["gap_fill"].clone();
        gap["requests"] == 1 && gap["last"]["state"] == "done"
    })
    .await;
    gap_request(&target, source.url(), 21, claimed).await;
    wait_until("the second request is put off", WAIT, || async {
        target.status().await["sync"]["gap_fill"]["backed_off"] == 1
    })
    .await;
    let gap = target.status().await["sync"]["gap_fill"].clone();
    assert_eq!(gap["requests"], 2, "{gap}");
    assert_eq!(gap["fruitless"], 1, "{gap}");
    assert_eq!(gap["failed"], 0, "{gap}");
    assert_eq!(target.chain().await, chain);
    source.stop().await;
    target.stop().await;
}

/// A request put off for its peer's back-off is filled once the back-off ends, not
/// dropped: the peer, which failed the first fill, is asked again by itself, with no
/// new request. Before, a peer that came back on the same address after a failed fill
/// was never asked again until it announced another tip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_put_off_by_the_back_off_is_filled_when_it_ends() {
    let target = node_with(GapLimits {
        backoff_first: Duration::from_secs(1),
        ..GapLimits::default()
    })
    .await;
    let failing = FakePeer::start(Behaviour::Secret).await;
    let chain = synthetic_chain(10);
    gap_request(&target, failing.url.clone(), 9, chain[9].hash.clone()).await;
    wait_until("the fill fails", WAIT, || async {
        target.status().await["sync"]["gap_fill"]["failed"] == 1
    })
    .await;
    assert_eq!(failing.hits(), 1);
    // Within the back-off: put off, then filled (and here failed again) when it ends.
    gap_request(&target, failing.url.clone(), 9, chain[9].hash.clone()).await;
    wait_until("the put-off request is filled", WAIT, || async {
        target.status().await["sync"]["gap_fill"]["failed"] == 2
    })
    .await;
    let gap = target.status().await["sync"]["gap_fill"].clone();
    assert_eq!(gap["backed_off"], 1, "{gap}");
    assert_eq!(gap["requests"], 2, "{gap}");
    assert_eq!(failing.hits(), 2, "the peer was asked again");
    target.stop().await;
}

/// A node (the first) whose gap fill from another (the second, which then holds the
/// synthetic chain of 30 blocks) brought it 29 blocks: the second is a peer that
/// brought blocks, whose requests go first.
async fn helped_once() -> (TestNode, TestNode) {
    let target = node_with(GapLimits::default()).await;
    let helper = node_with(GapLimits::default()).await;
    let chain = synthetic_chain(30);
    assert_eq!(helper.push(body(&chain)).await.0, 200);
    gap_request(&target, helper.url(), 29, chain[29].hash.clone()).await;
    wait_until("the helper's fill brings 29 blocks", WAIT, || async {
        target.len().await == 30
    })
    .await;
    (target, helper)
}

/// A request from a peer whose fill brought blocks goes first: while a stranger's fill
/// runs (a peer that answers one junk page at a time, each within the deadlines, so that
/// only the two-minute progress deadline would end it) and two more strangers wait, the
/// peer that brought our blocks before announces more, and its fill runs at once: the
/// stranger's fill gives way (it is taken up again after). Before, the request waited
/// behind all three strangers, two minutes each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_brought_blocks_goes_before_strangers() {
    let (target, source) = helped_once().await;
    let chain = synthetic_chain(40);

    let mut strangers = Vec::new();
    for _ in 0..3 {
        strangers.push(FakePeer::start(Behaviour::Junk).await);
    }
    for stranger in &strangers {
        gap_request(
            &target,
            stranger.url.clone(),
            9_999_998,
            format!("{:064x}", 1),
        )
        .await;
    }
    wait_until("the first stranger's fill runs", WAIT, || async {
        target.status().await["sync"]["gap_fill"]["last"]["peer"] == strangers[0].url.as_str()
            && strangers[0].hits() >= 2
    })
    .await;

    assert_eq!(source.push(body(&chain)).await.0, 200);
    gap_request(&target, source.url(), 39, chain[39].hash.clone()).await;
    // A bound for a stuck test only: the fill takes a fraction of a second, and the
    // strangers' fills would end at their deadlines after two minutes each.
    wait_until(
        "the helpful peer's fill brings 10 blocks",
        Duration::from_secs(90),
        || async { target.len().await == 40 },
    )
    .await;
    let gap = target.status().await["sync"]["gap_fill"].clone();
    assert_eq!(
        gap["failed"], 0,
        "no stranger's fill ran to its end first: {gap}"
    );
    assert_eq!(gap["gave_way"], 1, "{gap}");
    assert_eq!(target.chain().await, chain);
    source.stop().await;
    target.stop().await;
}

/// A stranger's fill that has handed a batch to the writer (its blocks won our fork
/// choice) runs to its end: a helpful peer's request that comes meanwhile waits its
/// turn. Before, the fill gave way with a batch still being stored, whose blocks it
/// never counted, and its peer was not marked as one that brought blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_that_brought_blocks_does_not_give_way() {
    let (target, helper) = helped_once().await;
    let chain = synthetic_chain(30);
    // The helper forks off on its own, so that it has a tip to announce that the
    // stranger's longer chain will not hold.
    let mut fork = chain.clone();
    for i in 0..3 {
        let prev = fork.last().expect("a chain").clone();
        let step = Difficulty::new(3 - prev.difficulty.bits().clamp(1, 2));
        let data = minichain::chain::Json::String(format!("the helper's fork {i}").into());
        let block = mine_reference(&prev, data, prev.timestamp + 1000, step);
        fork.push(block);
    }
    let (code, answer) = helper.push(body(&fork)).await;
    assert_eq!(code, 200, "{answer}");

    let stranger = root_with(LONG).await;
    let long = synthetic_chain(LONG);
    gap_request(
        &target,
        stranger.url(),
        LONG as u64 - 1,
        long[LONG - 1].hash.clone(),
    )
    .await;
    // Two pages past the first batch: the fill fetches the next page only once it has
    // handed that batch over.
    wait_until(
        "the stranger's first batch is handed over",
        WAIT,
        || async {
            target.status().await["sync"]["gap_fill"]["last"]["fetched"]
                .as_u64()
                .is_some_and(|fetched| fetched >= (COMMIT_EVERY + 2 * MAX_PAGE) as u64)
        },
    )
    .await;
    gap_request(&target, helper.url(), 32, fork[32].hash.clone()).await;
    wait_until("the stranger's chain is ours", WAIT, || async {
        target.len().await == LONG
    })
    .await;
    wait_until("the helper's request is taken", WAIT, || async {
        target.status().await["sync"]["gap_fill"]["requests"] == 3
            && target.status().await["sync"]["gap_fill"]["last"]["state"] != "searching"
    })
    .await;
    let gap = target.status().await["sync"]["gap_fill"].clone();
    assert_eq!(gap["gave_way"], 0, "{gap}");
    assert_eq!(target.chain().await, long);
    stranger.stop().await;
    helper.stop().await;
    target.stop().await;
}
