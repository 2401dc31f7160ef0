//! Block announcements, the block log and seed-compat over a real `redis-server` (one
//! per test) between real nodes with their own data directories: two nodes stay in
//! sync through announcements alone (nothing on `BLOCKCHAIN`), a node stopped while
//! its peer mines 1,000 blocks catches up from the log at restart (no whole chain, no
//! range fetch), Python peers still get whole chains (`auto`), and a chain whose
//! message is over the limit is not published, so no subscriber is dropped for its
//! output buffer.
//!
//! Run with `cargo test --test node_announce` (needs `redis-server` and `python3`).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::node::{TestNode, body, config, extend, message, wait_until};
use common::process::{node_command, python, python_reads_back, start_listening, status_kb};
use common::redis::RedisServer;
use futures_util::StreamExt;
use minichain::chain::block::parse_chain;
use minichain::chain::{Difficulty, genesis};
use minichain::miner::kernel::KernelKind;
use minichain::node::NodeConfig;
use minichain::node::config::SeedCompatMode;

const WAIT: Duration = Duration::from_secs(60);

/// A test node on `redis` with the given seed-compat mode, mining at a pinned low
/// difficulty (so a thousand blocks take seconds) with the portable kernel (no
/// calibration at each start).
fn net_config(redis: &RedisServer, seed_compat: SeedCompatMode) -> NodeConfig {
    NodeConfig {
        seed_compat,
        fixed_difficulty: Some(Difficulty::new(4)),
        kernel: Some(KernelKind::Portable),
        ..config(Some(redis))
    }
}

/// A block log entry as `XRANGE` answers it: the id and the field-value pairs.
type LogEntry = (String, Vec<(String, Vec<u8>)>);

/// A node's `not_a_chain` and `invalid` rejection counts.
async fn rejected(node: &TestNode) -> (u64, u64) {
    (
        node.stat(&["sync", "rejected", "not_a_chain"]).await,
        node.stat(&["sync", "rejected", "invalid"]).await,
    )
}

/// Appends someone else's entry to the block log: a field other than `a`.
async fn add_strangers_entry(conn: &mut redis::aio::MultiplexedConnection) {
    let _: String = redis::cmd("XADD")
        .arg("minichain:blocks:log")
        .arg("*")
        .arg("b")
        .arg("a stranger's entry")
        .query_async(conn)
        .await
        .expect("XADD");
}

/// A connection of the test's own to `redis` (to read or write the block log).
async fn connect(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

async fn wait_connected(node: &TestNode) {
    wait_until("the node is subscribed", WAIT, || async {
        node.status().await["redis"]["connected"] == true
    })
    .await;
}

/// Counts the messages on a channel, from a subscription of the test's own.
struct ChannelCount {
    messages: Arc<AtomicU64>,
    payloads: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ChannelCount {
    async fn start(redis: &RedisServer, channel: &'static str) -> ChannelCount {
        let client = redis::Client::open(redis.url()).expect("client");
        let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
        pubsub.subscribe(channel).await.expect("subscribe");
        let messages = Arc::new(AtomicU64::new(0));
        let payloads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let task = {
            let messages = Arc::clone(&messages);
            let payloads = Arc::clone(&payloads);
            tokio::spawn(async move {
                let mut stream = pubsub.into_on_message();
                while let Some(message) = stream.next().await {
                    messages.fetch_add(1, Ordering::Relaxed);
                    payloads
                        .lock()
                        .expect("lock")
                        .push(message.get_payload_bytes().to_vec());
                }
            })
        };
        ChannelCount {
            messages,
            payloads,
            task,
        }
    }

    fn count(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }
}

impl Drop for ChannelCount {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Blocks mined on either of two nodes (seed-compat off) reach the other through
/// announcements alone: no message on `BLOCKCHAIN`, each announcement a few hundred
/// bytes, every block applied without a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_stay_in_sync_through_announcements_alone() {
    let redis = RedisServer::start();
    let blockchain = ChannelCount::start(&redis, "BLOCKCHAIN").await;
    let announcements = ChannelCount::start(&redis, "minichain:blocks").await;
    let a = TestNode::start(net_config(&redis, SeedCompatMode::Off)).await;
    let b = TestNode::start(net_config(&redis, SeedCompatMode::Off)).await;
    wait_connected(&a).await;
    wait_connected(&b).await;
    for round in 0..5 {
        assert_eq!(a.mine(&format!(r#"{{"data": "a {round}"}}"#)).await.0, 200);
        let want = a.len().await;
        wait_until("b has a's block", WAIT, || async { b.len().await == want }).await;
        assert_eq!(b.mine(&format!(r#"{{"data": "b {round}"}}"#)).await.0, 200);
        let want = b.len().await;
        wait_until("a has b's block", WAIT, || async { a.len().await == want }).await;
    }
    assert_eq!(a.get("/api/blocks").await.2, b.get("/api/blocks").await.2);
    assert_eq!(a.len().await, 11);
    for node in [&a, &b] {
        assert_eq!(node.stat(&["redis", "announcements", "published"]).await, 5);
        assert_eq!(node.stat(&["redis", "announcements", "applied"]).await, 5);
        assert_eq!(
            node.stat(&["redis", "announcements", "gap_requests"]).await,
            0
        );
        assert_eq!(node.stat(&["sync", "accepted"]).await, 5);
        assert_eq!(node.stat(&["redis", "published"]).await, 0);
        let status = node.status().await;
        assert_eq!(status["redis"]["seed_compat"]["mode"], "off", "{status}");
        assert_eq!(status["redis"]["seed_compat"]["active"], false, "{status}");
    }
    assert_eq!(blockchain.count(), 0, "no whole chain on BLOCKCHAIN");
    wait_until("the test saw 10 announcements", WAIT, || async {
        announcements.count() == 10
    })
    .await;
    let largest = announcements
        .payloads
        .lock()
        .expect("lock")
        .iter()
        .map(Vec::len)
        .max()
        .expect("some");
    assert!(largest < 800, "an announcement of {largest} bytes");
    a.stop().await;
    b.stop().await;
}

/// A node stopped while its peer mines 1,000 blocks reads them from the block log at
/// restart, from the position kept in its store, past an entry of another shape in the
/// log: no gap request (no range fetch), no whole chain on `BLOCKCHAIN`, and the runs
/// merged into few adoptions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_away_for_1000_blocks_catches_up_from_the_log() {
    let redis = RedisServer::start();
    let blockchain = ChannelCount::start(&redis, "BLOCKCHAIN").await;
    let a = TestNode::start(net_config(&redis, SeedCompatMode::Off)).await;
    let b_dir = tempfile::tempdir().expect("temp dir");
    let b_config = || NodeConfig {
        data_dir: Some(b_dir.path().to_owned()),
        ..net_config(&redis, SeedCompatMode::Off)
    };
    let b = TestNode::start(b_config()).await;
    wait_connected(&a).await;
    wait_connected(&b).await;
    for i in 0..2 {
        assert_eq!(a.mine(&format!(r#"{{"data": {i}}}"#)).await.0, 200);
    }
    wait_until("b has a's first blocks", WAIT, || async {
        b.len().await == 3
    })
    .await;
    // The position moves just after the blocks are applied: wait for it to reach the
    // log's end, so that the restart resumes exactly there.
    let mut conn = connect(&redis).await;
    let newest: Vec<LogEntry> = redis::cmd("XREVRANGE")
        .arg("minichain:blocks:log")
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut conn)
        .await
        .expect("XREVRANGE");
    let newest = newest.first().expect("an entry").0.clone();
    wait_until("b's position is the log's end", WAIT, || async {
        b.status().await["redis"]["announcements"]["log_position"] == newest.as_str()
    })
    .await;
    b.stop().await;

    for i in 0..1000 {
        let (code, answer) = a.mine(&format!(r#"{{"data": {{"away": {i}}}}}"#)).await;
        assert_eq!(code, 200, "{answer}");
        if i == 10 {
            // Someone else's entry in the log, without the `a` field: skipped, but it
            // must neither end the catch-up (a page of 64 holding 63 usable entries is
            // not the log's end) nor be read again.
            add_strangers_entry(&mut conn).await;
        }
    }
    assert_eq!(a.len().await, 1003);

    let b = TestNode::start(b_config()).await;
    assert_eq!(b.len().await, 3, "b restarted from its store");
    wait_until("b caught up", Duration::from_secs(300), || async {
        b.len().await == 1003
    })
    .await;
    assert_eq!(a.get("/api/blocks").await.2, b.get("/api/blocks").await.2);
    // Every entry logged after the position b had reached, and nothing else, was
    // read back (a's announcer folds blocks mined faster than Redis answers into one
    // entry, so there are up to 1000 entries).
    let logged = a.stat(&["redis", "announcements", "logged"]).await;
    let read = b.stat(&["redis", "announcements", "log_read"]).await;
    assert!(
        read > 100 && (1..=2).contains(&(logged - read)),
        "a logged {logged} entries, b read {read}"
    );
    assert_eq!(b.stat(&["redis", "announcements", "applied"]).await, read);
    assert!(b.stat(&["redis", "announcements", "catch_ups"]).await >= 1);
    assert_eq!(b.stat(&["redis", "announcements", "gap_requests"]).await, 0);
    let adoptions = b.stat(&["sync", "accepted"]).await;
    assert!(
        (1..100).contains(&adoptions),
        "{adoptions} adoptions for 1000 blocks: runs are merged"
    );
    assert_eq!(blockchain.count(), 0, "no whole chain on BLOCKCHAIN");
    a.stop().await;
    b.stop().await;
}

/// An honest block and a forged child of it, announced by different nodes back to back
/// (so usually merged into one run): the honest block is adopted and only the forged
/// one refused. Before, the run was checked all or nothing, and the forger's block cost
/// the honest one too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_announcement_costs_only_its_own_blocks() {
    use minichain::chain::{RuleSet, ValidChain};
    use minichain::miner::synthetic::synthetic_chain;
    use minichain::node::announce::ANNOUNCE_CHANNEL;
    use minichain::node::announce::message::{encode, with_log_id};

    let redis = RedisServer::start();
    let b = TestNode::start(net_config(&redis, SeedCompatMode::Off)).await;
    wait_connected(&b).await;
    let blocks = synthetic_chain(3);
    let work = |n: usize| {
        ValidChain::validate(blocks[..n].to_vec(), RuleSet::Strict, u64::MAX / 2)
            .expect("a valid chain")
            .work()
    };
    let honest = encode("honest", "http://127.0.0.1:1", work(2), &blocks[1..2]).expect("fits");
    let mut forged = blocks[2].clone();
    forged.hash = "f".repeat(64);
    let forged = encode("forger", "http://127.0.0.1:1", work(3), &[forged]).expect("fits");
    let mut conn = connect(&redis).await;
    let _: () = redis::pipe()
        .cmd("PUBLISH")
        .arg(ANNOUNCE_CHANNEL)
        .arg(with_log_id(None, &honest))
        .ignore()
        .cmd("PUBLISH")
        .arg(ANNOUNCE_CHANNEL)
        .arg(with_log_id(None, &forged))
        .ignore()
        .query_async(&mut conn)
        .await
        .expect("PUBLISH");
    wait_until("the forged block is refused", WAIT, || async {
        rejected(&b).await.1 >= 1
    })
    .await;
    wait_until("the honest block is adopted", WAIT, || async {
        b.len().await == 2
    })
    .await;
    let chain = parse_chain(&b.get("/api/blocks").await.2).expect("a chain");
    assert_eq!(chain.last(), blocks.get(1));
    assert_eq!(
        b.stat(&["redis", "announcements", "applied"]).await,
        1,
        "only the honest announcement counts as applied"
    );
    b.stop().await;
}

/// Live messages whose first line names a log id (anyone may publish on the channel)
/// move the saved log position nowhere when they are junk, or when the id is one no
/// Redis clock could have written (here, millennia ahead): the position decides where
/// the next catch-up starts. The valid announcement's block is still adopted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_log_id_does_not_move_the_log_position() {
    use minichain::chain::{RuleSet, ValidChain};
    use minichain::miner::synthetic::synthetic_chain;
    use minichain::node::announce::ANNOUNCE_CHANNEL;
    use minichain::node::announce::message::{StreamId, encode, with_log_id};

    let redis = RedisServer::start();
    let b = TestNode::start(net_config(&redis, SeedCompatMode::Off)).await;
    wait_connected(&b).await;
    let blocks = synthetic_chain(2);
    let work = ValidChain::validate(blocks.clone(), RuleSet::Strict, u64::MAX / 2)
        .expect("a valid chain")
        .work();
    let valid = encode("stranger", "http://127.0.0.1:1", work, &blocks[1..]).expect("fits");
    let future = StreamId {
        ms: u64::MAX / 2,
        seq: 0,
    };
    let mut junk = format!("{}-0\n", u64::MAX).into_bytes();
    junk.extend_from_slice(b"not an announcement");
    let mut conn = connect(&redis).await;
    let _: () = redis::pipe()
        .cmd("PUBLISH")
        .arg(ANNOUNCE_CHANNEL)
        .arg(junk)
        .ignore()
        .cmd("PUBLISH")
        .arg(ANNOUNCE_CHANNEL)
        .arg(with_log_id(Some(future), &valid))
        .ignore()
        .query_async(&mut conn)
        .await
        .expect("PUBLISH");
    wait_until(
        "the junk is refused and the block adopted",
        WAIT,
        || async { rejected(&b).await.0 >= 1 && b.len().await == 2 },
    )
    .await;
    // One more message, refused, after them: the receiver takes messages in order and
    // saves a position at the end of each batch, so once this one is counted, any
    // position the forged ones would have moved is saved.
    let _: i64 = redis::cmd("PUBLISH")
        .arg(ANNOUNCE_CHANNEL)
        .arg(with_log_id(None, b"after them"))
        .query_async(&mut conn)
        .await
        .expect("PUBLISH");
    wait_until("the last message is refused", WAIT, || async {
        rejected(&b).await.0 >= 2
    })
    .await;
    let position = b.status().await["redis"]["announcements"]["log_position"].clone();
    assert!(position.is_null(), "the position moved to {position}");
    b.stop().await;
}

/// With `auto`, two minichain nodes publish no whole chain until a Python peer speaks
/// on `BLOCKCHAIN` (a chain written by Python's `json.dumps`, whose tip no minichain
/// node announced); both adopt it, and from then on a block mined on one reaches the
/// other by announcement and the Python peer by a whole chain that Python's `json`
/// reads back unchanged. The minichain node's whole chain does not count as a Python
/// peer (its tip was announced first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_peers_still_sync_both_ways_in_auto() {
    let redis = RedisServer::start();
    let blockchain = ChannelCount::start(&redis, "BLOCKCHAIN").await;
    let a = TestNode::start(net_config(&redis, SeedCompatMode::Auto)).await;
    let b = TestNode::start(net_config(&redis, SeedCompatMode::Auto)).await;
    wait_connected(&a).await;
    wait_connected(&b).await;
    assert_eq!(a.mine(r#"{"data": "before python"}"#).await.0, 200);
    wait_until("b has a's block", WAIT, || async { b.len().await == 2 }).await;
    assert_eq!(
        blockchain.count(),
        0,
        "no Python peer yet: nothing on BLOCKCHAIN"
    );

    let python_chain = extend(&[genesis()], 4, "python");
    let written = python(
        "import json, sys; sys.stdout.write(json.dumps(json.load(sys.stdin)['chain']))",
        &body(&python_chain),
    );
    assert_eq!(written.as_bytes(), message(&python_chain).as_slice());
    assert_eq!(redis.publish(written.as_bytes()), 3);
    for node in [&a, &b] {
        wait_until("the Python chain is adopted", WAIT, || async {
            node.len().await == 5
        })
        .await;
        let status = node.status().await;
        assert_eq!(status["redis"]["seed_compat"]["active"], true, "{status}");
        assert_eq!(
            status["redis"]["seed_compat"]["python_messages"], 1,
            "{status}"
        );
    }
    let before = blockchain.count();
    assert_eq!(
        a.mine(r#"{"data": {"from": "minichain", "é": [1.5, null]}}"#)
            .await
            .0,
        200
    );
    wait_until("b has it by announcement", WAIT, || async {
        b.len().await == 6
    })
    .await;
    wait_until("a whole chain of 6 blocks on BLOCKCHAIN", WAIT, || async {
        blockchain
            .payloads
            .lock()
            .expect("lock")
            .iter()
            .any(|p| parse_chain(&String::from_utf8_lossy(p)).map(|c| c.len()) == Ok(6))
    })
    .await;
    let ours = blockchain
        .payloads
        .lock()
        .expect("lock")
        .iter()
        .find(|p| parse_chain(&String::from_utf8_lossy(p)).map(|c| c.len()) == Ok(6))
        .cloned()
        .expect("found");
    let checked = python_reads_back(&ours);
    assert_eq!(checked.trim(), "6 minichain");
    assert!(blockchain.count() > before);
    // Our own whole chains did not count as a Python peer's.
    for node in [&a, &b] {
        assert_eq!(
            node.stat(&["redis", "seed_compat", "python_messages"])
                .await,
            1
        );
    }
    a.stop().await;
    b.stop().await;
}

/// A chain whose whole-chain message is over the seed-compat limit is not published
/// (said once, counted), so Redis, whose pub/sub buffer limit is set below that
/// message, drops no subscriber; the peer hears of the tip by announcement and asks
/// for the range. The control at the end shows the limit is real: the same chain
/// published by hand gets the subscribers dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_subscriber_is_dropped_for_a_chain_over_the_limit() {
    let redis = RedisServer::start();
    let mut conn = connect(&redis).await;
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("pubsub 65536 32768 60")
        .query_async(&mut conn)
        .await
        .expect("CONFIG SET");
    let limit = NodeConfig {
        seed_compat_max_bytes: 32 * 1024,
        ..net_config(&redis, SeedCompatMode::On)
    };
    let a = TestNode::start(limit.clone()).await;
    let b = TestNode::start(limit).await;
    wait_connected(&a).await;
    wait_connected(&b).await;
    let long = extend(&[genesis()], 600, "long");
    assert!(message(&long).len() > 128 * 1024);
    let (code, answer) = a.push(body(&long)).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(a.mine(r#"{"data": "on the long chain"}"#).await.0, 200);
    wait_until(
        "b hears of the tip and asks for the range",
        WAIT,
        || async { b.stat(&["redis", "announcements", "gap_requests"]).await >= 1 },
    )
    .await;
    let status = a.status().await;
    assert_eq!(
        status["redis"]["seed_compat"]["over_limit"], true,
        "{status}"
    );
    assert!(
        status["redis"]["seed_compat"]["withheld_over_limit"].as_u64() >= Some(2),
        "{status}"
    );
    for node in [&a, &b] {
        assert_eq!(node.stat(&["redis", "reconnects"]).await, 0);
    }
    // The control: the message a node would have sent drops its subscribers.
    redis.publish(message(&long));
    wait_until("redis dropped b's subscription", WAIT, || async {
        b.stat(&["redis", "reconnects"]).await >= 1
    })
    .await;
    a.stop().await;
    b.stop().await;
}

/// A node away longer than the block log holds (its position is older than the oldest
/// entry) reads only the newest announcement (past a newer entry of someone else's) and
/// asks for the range (a gap request); it then holds its peer's chain. Hostile announcements on the channel are counted, not
/// fatal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_further_behind_than_the_log_asks_for_the_range() {
    let redis = RedisServer::start();
    let short_log = || NodeConfig {
        block_log_len: 10,
        ..net_config(&redis, SeedCompatMode::Off)
    };
    let a = TestNode::start(short_log()).await;
    let b_dir = tempfile::tempdir().expect("temp dir");
    let b_config = || NodeConfig {
        data_dir: Some(b_dir.path().to_owned()),
        ..short_log()
    };
    let b = TestNode::start(b_config()).await;
    wait_connected(&a).await;
    wait_connected(&b).await;
    assert_eq!(a.mine(r#"{"data": "first"}"#).await.0, 200);
    wait_until("b has a's first block", WAIT, || async {
        b.len().await == 2
    })
    .await;
    b.stop().await;
    // `MAXLEN ~ 10` trims whole nodes of the stream (100 entries each by default):
    // after 300 entries the first ones are gone.
    for i in 0..300 {
        assert_eq!(a.mine(&format!(r#"{{"data": {i}}}"#)).await.0, 200);
    }
    let mut conn = connect(&redis).await;
    let kept: u64 = redis::cmd("XLEN")
        .arg("minichain:blocks:log")
        .query_async(&mut conn)
        .await
        .expect("XLEN");
    assert!((10..300).contains(&kept), "the log keeps {kept} entries");
    // The newest entry is a stranger's: b looks past it for the newest announcement.
    add_strangers_entry(&mut conn).await;

    let b = TestNode::start(b_config()).await;
    wait_until("b holds a's chain", WAIT, || async { b.len().await == 302 }).await;
    assert_eq!(b.stat(&["redis", "announcements", "log_read"]).await, 1);
    assert!(b.stat(&["redis", "announcements", "gap_requests"]).await >= 1);

    // Hostile announcements: counted by reason, the node keeps working.
    let before = rejected(&b).await;
    let chain = b.chain().await;
    let mut forged = extend(&chain, 1, "forged");
    forged[302].data = minichain::chain::Json::String("changed".into()).into();
    let header = format!(
        "{{\"v\":1,\"node\":\"x\",\"peer\":\"http://127.0.0.1:1\",\"height\":302,\"work\":\"1\",\"hash\":\"{}\"}}",
        forged[302].hash
    );
    let mut forged_blocks = Vec::new();
    minichain::chain::block::write_chain(
        &forged[302..],
        minichain::chain::json::Dialect::Compact,
        &mut forged_blocks,
    );
    let forged_message = format!("\n{header}\n{}", String::from_utf8_lossy(&forged_blocks));
    for payload in [
        b"garbage".to_vec(),
        b"\n{\"v\":1}\n[]".to_vec(),
        forged_message.into_bytes(),
    ] {
        let _: i64 = redis::cmd("PUBLISH")
            .arg("minichain:blocks")
            .arg(payload)
            .query_async(&mut conn)
            .await
            .expect("PUBLISH");
    }
    wait_until("the three are counted", WAIT, || async {
        let now = rejected(&b).await;
        now.0 == before.0 + 2 && now.1 == before.1 + 1
    })
    .await;
    assert_eq!(b.len().await, 302);
    assert_eq!(b.mine(r#"{"data": "still mining"}"#).await.0, 200);
    a.stop().await;
    b.stop().await;
}

/// A catch-up over large blocks applies them as their bytes add up (16 MiB at most held
/// unvalidated), not all at its end: 24 blocks of about 900 kB, read back from the log,
/// arrive in more than one adoption. Before, a catch-up held up to 4,096 entries of
/// any size (a review's log of fake entries took a node to 808 MB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_over_large_blocks_applies_them_as_they_add_up() {
    let redis = RedisServer::start();
    let a = TestNode::start(net_config(&redis, SeedCompatMode::Off)).await;
    let b_dir = tempfile::tempdir().expect("temp dir");
    let b_config = || NodeConfig {
        data_dir: Some(b_dir.path().to_owned()),
        ..net_config(&redis, SeedCompatMode::Off)
    };
    let b = TestNode::start(b_config()).await;
    wait_connected(&a).await;
    wait_connected(&b).await;
    assert_eq!(a.mine(r#"{"data": "first"}"#).await.0, 200);
    wait_until("b has a's first block", WAIT, || async {
        b.len().await == 2
    })
    .await;
    let first_adoptions = b.stat(&["sync", "accepted"]).await;
    // Let b's position reach the log's end, then stop it.
    let logged = a.stat(&["redis", "announcements", "logged"]).await;
    wait_until("b read the log's end", WAIT, || async {
        b.stat(&["redis", "announcements", "log_read"]).await
            + b.stat(&["redis", "announcements", "received"]).await
            >= logged
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.stop().await;

    let large = "x".repeat(900_000);
    for i in 0..24 {
        let (code, answer) = a.mine(&format!(r#"{{"data": "{i} {large}"}}"#)).await;
        assert_eq!(code, 200, "{answer}");
    }
    assert_eq!(a.len().await, 26);

    let b = TestNode::start(b_config()).await;
    assert_eq!(b.len().await, 2, "b restarted from its store");
    wait_until("b caught up", Duration::from_secs(120), || async {
        b.len().await == 26
    })
    .await;
    assert_eq!(a.get("/api/blocks").await.2, b.get("/api/blocks").await.2);
    assert_eq!(b.stat(&["redis", "announcements", "gap_requests"]).await, 0);
    let adoptions = b.stat(&["sync", "accepted"]).await;
    assert!(
        adoptions >= 2,
        "{adoptions} adoptions (and {first_adoptions} before the restart) for 21 MB of blocks"
    );
    a.stop().await;
    b.stop().await;
}

/// A chain of a few large blocks passes the per-block estimate of its message, and is
/// then withheld by its message's length, measured, not written: before, the whole
/// message was written (and kept with the chain) only to be withheld, at every new tip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_limit_is_withheld_unwritten() {
    let redis = RedisServer::start();
    let a = TestNode::start(NodeConfig {
        seed_compat_max_bytes: 32 * 1024,
        ..net_config(&redis, SeedCompatMode::On)
    })
    .await;
    wait_connected(&a).await;
    let large = "y".repeat(20_000);
    for i in 0..3 {
        let (code, answer) = a.mine(&format!(r#"{{"data": "{i} {large}"}}"#)).await;
        assert_eq!(code, 200, "{answer}");
    }
    wait_until("the message is withheld", WAIT, || async {
        a.stat(&["redis", "seed_compat", "withheld_over_limit"])
            .await
            >= 1
    })
    .await;
    assert_eq!(a.len().await, 4);
    assert!(
        !a.handle.snapshot().message_written(),
        "the withheld message was written"
    );
    a.stop().await;
}

/// A node restarted while Redis is down, holding blocks it mined meanwhile, tells its
/// tip once Redis is back (and again a little later, for peers that come back after
/// it): its peer catches up without anyone mining again. Before, the start-up
/// announcement went out once, into a Redis that was down, and the peer stayed behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_while_redis_is_down_tells_its_tip_when_it_returns() {
    let mut redis = RedisServer::start();
    let a_dir = tempfile::tempdir().expect("temp dir");
    let a_config = |redis: &RedisServer| NodeConfig {
        data_dir: Some(a_dir.path().to_owned()),
        ..net_config(redis, SeedCompatMode::Off)
    };
    let a = TestNode::start(a_config(&redis)).await;
    let b = TestNode::start(net_config(&redis, SeedCompatMode::Off)).await;
    wait_connected(&a).await;
    wait_connected(&b).await;
    assert_eq!(a.mine(r#"{"data": "before"}"#).await.0, 200);
    wait_until("b has a's first block", WAIT, || async {
        b.len().await == 2
    })
    .await;
    redis.kill();
    for i in 0..3 {
        assert_eq!(
            a.mine(&format!(r#"{{"data": "while down {i}"}}"#)).await.0,
            200
        );
    }
    a.stop().await;
    let a = TestNode::start(a_config(&redis)).await;
    assert_eq!(a.len().await, 5, "a restarted from its store");
    redis.restart();
    wait_until("b catches up with a", WAIT, || async { b.len().await == 5 }).await;
    assert_eq!(a.get("/api/blocks").await.2, b.get("/api/blocks").await.2);
    a.stop().await;
    b.stop().await;
}

/// A saved log position past the newest entry (the log started again: a Redis that lost
/// its data, whose new ids lag the old) counts as none: the catch-up reads the newest
/// announcement and the position moves back to it. Before, the catch-up read nothing
/// (every entry was "before" the position) until the new ids passed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_past_a_restarted_log_counts_as_none() {
    let redis = RedisServer::start();
    let mut conn = connect(&redis).await;
    let a = TestNode::start(net_config(&redis, SeedCompatMode::Off)).await;
    let b_dir = tempfile::tempdir().expect("temp dir");
    let b_config = || NodeConfig {
        data_dir: Some(b_dir.path().to_owned()),
        ..net_config(&redis, SeedCompatMode::Off)
    };
    let b = TestNode::start(b_config()).await;
    wait_connected(&a).await;
    wait_connected(&b).await;
    // An entry an hour ahead: every id Redis gives after it is later still, as if its
    // clock had been an hour ahead.
    let ahead = format!("{}-0", minichain::chain::validate::now_ms() + 3_600_000);
    let _: String = redis::cmd("XADD")
        .arg("minichain:blocks:log")
        .arg(&ahead)
        .arg("b")
        .arg("a stranger's entry")
        .query_async(&mut conn)
        .await
        .expect("XADD");
    assert_eq!(a.mine(r#"{"data": "ahead"}"#).await.0, 200);
    wait_until("b has a's block and a position past it", WAIT, || async {
        b.len().await == 2
            && b.status().await["redis"]["announcements"]["log_position"]
                .as_str()
                .is_some_and(|p| p > ahead.as_str())
    })
    .await;
    let stale = b.status().await["redis"]["announcements"]["log_position"].clone();
    b.stop().await;
    // The log starts again; a mines on.
    let _: i64 = redis::cmd("DEL")
        .arg("minichain:blocks:log")
        .query_async(&mut conn)
        .await
        .expect("DEL");
    for i in 0..3 {
        assert_eq!(a.mine(&format!(r#"{{"data": "after {i}"}}"#)).await.0, 200);
    }
    let b = TestNode::start(b_config()).await;
    wait_until("b catches up", WAIT, || async { b.len().await == 5 }).await;
    wait_until("b's catch-up read the newest entry", WAIT, || async {
        b.stat(&["redis", "announcements", "log_read"]).await >= 1
    })
    .await;
    let position = b.status().await["redis"]["announcements"]["log_position"].clone();
    assert!(
        position.as_str() < stale.as_str(),
        "the position moved back: {position} (was {stale})"
    );
    a.stop().await;
    b.stop().await;
}

/// A Redis that refuses the block log's appends (here another value sits at its key, as
/// a read-only replica or an out-of-memory `noeviction` Redis would refuse them too)
/// still carries the announcements: the peer gets each block live, and the failed
/// append is counted once per block, not retried every second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_go_out_when_the_log_refuses_appends() {
    let redis = RedisServer::start();
    let mut conn = connect(&redis).await;
    let _: () = redis::cmd("SET")
        .arg("minichain:blocks:log")
        .arg("not a stream")
        .query_async(&mut conn)
        .await
        .expect("SET");
    let a = TestNode::start(net_config(&redis, SeedCompatMode::Off)).await;
    let b = TestNode::start(net_config(&redis, SeedCompatMode::Off)).await;
    wait_connected(&a).await;
    wait_connected(&b).await;
    for round in 0..2 {
        assert_eq!(a.mine(&format!(r#"{{"data": "a {round}"}}"#)).await.0, 200);
        let want = a.len().await;
        wait_until("b has a's block", WAIT, || async { b.len().await == want }).await;
    }
    assert_eq!(b.get("/api/blocks").await.2, a.get("/api/blocks").await.2);
    let published = ["redis", "announcements", "published"];
    let errors = ["redis", "announcements", "publish_errors"];
    assert_eq!(a.stat(&published).await, 2);
    assert_eq!(a.stat(&["redis", "announcements", "logged"]).await, 0);
    assert_eq!(b.stat(&["redis", "announcements", "applied"]).await, 2);
    assert_eq!(b.stat(&["redis", "announcements", "gap_requests"]).await, 0);
    // Nothing left to retry: the count stays at one per block.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(a.stat(&errors).await, 2);
    assert_eq!(a.stat(&published).await, 2);
    a.stop().await;
    b.stop().await;
}

/// One forged announcement of a worse tip, heard by three nodes on the same best tip,
/// is answered by one re-announcement, not three: the nodes claim it in Redis first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worse_announcement_is_answered_once_among_nodes() {
    use minichain::chain::{RuleSet, ValidChain};
    use minichain::miner::synthetic::synthetic_chain;
    use minichain::node::announce::ANNOUNCE_CHANNEL;
    use minichain::node::announce::message::{encode, with_log_id};

    let redis = RedisServer::start();
    let nodes = [
        TestNode::start(net_config(&redis, SeedCompatMode::Off)).await,
        TestNode::start(net_config(&redis, SeedCompatMode::Off)).await,
        TestNode::start(net_config(&redis, SeedCompatMode::Off)).await,
    ];
    for node in &nodes {
        wait_connected(node).await;
    }
    for round in 0..2 {
        assert_eq!(
            nodes[0].mine(&format!(r#"{{"data": "{round}"}}"#)).await.0,
            200
        );
    }
    for node in &nodes[1..] {
        wait_until("the peers have the chain", WAIT, || async {
            node.len().await == 3
        })
        .await;
    }
    let announcements = ChannelCount::start(&redis, ANNOUNCE_CHANNEL).await;
    // Another node's block 1 (not ours), claiming the work of genesis alone: worse.
    let other = synthetic_chain(2);
    let genesis_work = ValidChain::validate(other[..1].to_vec(), RuleSet::Strict, u64::MAX / 2)
        .expect("genesis")
        .work();
    let worse = encode("stranger", "http://127.0.0.1:1", genesis_work, &other[1..2]).expect("fits");
    let mut conn = connect(&redis).await;
    let _: i64 = redis::cmd("PUBLISH")
        .arg(ANNOUNCE_CHANNEL)
        .arg(with_log_id(None, &worse))
        .query_async(&mut conn)
        .await
        .expect("PUBLISH");
    wait_until("a node re-announces its tip", WAIT, || async {
        announcements.count() >= 2
    })
    .await;
    // Time for the other two to have re-announced, were they going to.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        announcements.count(),
        2,
        "the forged message and one answer"
    );
    for node in nodes {
        node.stop().await;
    }
}

/// A block log of large entries is read a bounded page at a time: 40 entries of 4 MiB
/// (the largest an announcement may be) and, newest, 4 of 16 MiB (over it), 224 MiB in
/// all, cost a node that reads the log's newest page a few tens of MB at most (the page
/// is cut by its bytes inside Redis, and the oversized entries are counted, not read),
/// where a plain `XREVRANGE ... COUNT 64` brought the whole 224 MiB into the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_of_large_entries_is_read_in_bounded_pages() {
    const MIB: usize = 1024 * 1024;
    let redis = RedisServer::start();
    let mut conn = connect(&redis).await;
    for (count, size) in [(40, 4 * MIB), (4, 16 * MIB)] {
        let entry = vec![b'x'; size];
        for _ in 0..count {
            let _: String = redis::cmd("XADD")
                .arg("minichain:blocks:log")
                .arg("*")
                .arg("a")
                .arg(&entry)
                .query_async(&mut conn)
                .await
                .expect("XADD");
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let node = start_listening(node_command(dir.path(), Some(&redis.url())));
    let client = reqwest::Client::new();
    let stat = |path: &'static [&'static str]| {
        let client = client.clone();
        let url = format!("{}/api/status", node.base);
        async move {
            let status: serde_json::Value = client
                .get(url)
                .send()
                .await
                .expect("GET /api/status")
                .json()
                .await
                .expect("status is JSON");
            path.iter()
                .fold(&status, |value, key| &value[*key])
                .as_u64()
                .unwrap_or(0)
        }
    };
    wait_until("the node read the log's newest page", WAIT, || async {
        stat(&["redis", "announcements", "log_read"]).await >= 1
    })
    .await;
    let peak_kb = status_kb(node.child.id(), "VmHWM");
    assert!(
        peak_kb < 112 * 1024,
        "the node's memory peaked at {} MiB reading a page of the log",
        peak_kb / 1024
    );
    assert_eq!(
        stat(&["sync", "rejected", "too_large"]).await,
        4,
        "the four oversized entries are counted as too large"
    );
    node.kill9();
}
