//! Nodes syncing over a real `redis-server` (one per test, on a free port) and over
//! HTTP: mines on either node spread, a joining node copies its root, a longer chain
//! cancels a running search, bad messages are counted and survived, and Redis going
//! away and coming back is survived too.
//!
//! Run with `cargo test --test node_sync` (needs `redis-server` on the PATH).

mod common;

use std::time::Duration;

use common::node::{TestNode, body, config, extend, message, post, wait_until};
use common::process::{python, python_reads_back};
use common::redis::RedisServer;
use minichain::chain::block::parse_chain;
use minichain::chain::validate::now_ms;
use minichain::chain::{Difficulty, Json, genesis};
use minichain::miner::reference::mine_reference;

const WAIT: Duration = Duration::from_secs(10);

async fn rejected(node: &TestNode, reason: &str) -> u64 {
    node.status().await["sync"]["rejected"][reason]
        .as_u64()
        .unwrap_or_else(|| panic!("no reason {reason}"))
}

async fn wait_connected(node: &TestNode) {
    wait_until("the node is subscribed", WAIT, || async {
        node.status().await["redis"]["connected"] == true
    })
    .await;
}

/// A block mined on either of two nodes is served by the other (by announcement).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_sync_after_a_mine_on_either() {
    let redis = RedisServer::start();
    let a = TestNode::start(config(Some(&redis))).await;
    let b = TestNode::start(config(Some(&redis))).await;
    wait_until("both nodes subscribe", WAIT, || async {
        redis.subscribers() == 2
    })
    .await;
    assert_eq!(a.mine(r#"{"data": "from a"}"#).await.0, 200);
    wait_until("b serves a's block", WAIT, || async { b.len().await == 2 }).await;
    assert_eq!(b.mine(r#"{"data": "from b"}"#).await.0, 200);
    wait_until("a serves b's block", WAIT, || async { a.len().await == 3 }).await;
    assert_eq!(a.get("/api/blocks").await.2, b.get("/api/blocks").await.2);
    let status = a.status().await;
    assert_eq!(status["sync"]["accepted"], 1);
    // Between minichain nodes blocks travel as announcements; with no Python peer
    // seen (seed-compat auto), no whole chain goes on BLOCKCHAIN.
    assert!(status["redis"]["announcements"]["published"].as_u64() >= Some(1));
    assert_eq!(status["redis"]["published"], 0, "{status}");
    a.stop().await;
    b.stop().await;
}

/// A third node started with `--root` at an existing node copies its chain over HTTP
/// at start-up, then follows Redis like the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_node_syncs_from_its_root() {
    let redis = RedisServer::start();
    let a = TestNode::start(config(Some(&redis))).await;
    for i in 0..3 {
        assert_eq!(a.mine(&format!(r#"{{"data": {i}}}"#)).await.0, 200);
    }
    // The joiner uses another Redis (none here): only the root can give it the chain.
    let mut cfg = config(None);
    cfg.root = Some(a.url());
    let c = TestNode::start(cfg).await;
    wait_until("c serves a's chain", WAIT, || async { c.len().await == 4 }).await;
    assert_eq!(c.get("/api/blocks").await.2, a.get("/api/blocks").await.2);
    wait_until("c's start-up sync ends", WAIT, || async {
        c.status().await["sync"]["startup"]["state"] == "done"
    })
    .await;
    assert_eq!(c.status().await["sync"]["startup"]["adopted"], 3);
    // An unreachable root is not fatal.
    let mut cfg = config(None);
    cfg.root = Some(format!("http://127.0.0.1:{}", common::redis::free_port()));
    let d = TestNode::start(cfg).await;
    assert_eq!(d.mine("{}").await.0, 200);
    a.stop().await;
    c.stop().await;
    d.stop().await;
}

/// A longer chain published while a search runs cancels it; the search restarts on
/// the new tip with the same data and the POST returns a chain with its block on top
/// of the new tip.
///
/// The first search is pinned at difficulty 40 (it would run for hours); the pin is
/// lifted before the longer chain arrives, so the restarted search follows the policy
/// from the new tip (difficulty 3 ± 1) and finishes at once. Only a restart can end
/// this POST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_longer_chain_restarts_the_running_search() {
    let redis = RedisServer::start();
    let mut cfg = config(Some(&redis));
    cfg.fixed_difficulty = Some(Difficulty::new(40));
    let node = TestNode::start(cfg).await;
    wait_connected(&node).await;
    let client = node.client.clone();
    let base = node.url();
    let pending =
        tokio::spawn(async move { post(&client, &base, r#"{"data": {"mine": "this"}}"#).await });
    wait_until("the search runs", WAIT, || async {
        node.status().await["mining"]["active"] == true
    })
    .await;
    node.handle.pin_difficulty(None);
    let remote = extend(&[genesis()], 3, "remote");
    assert_eq!(redis.publish(message(&remote)), 1);
    let (code, body) = tokio::time::timeout(WAIT, pending)
        .await
        .expect("POST answers")
        .expect("task");
    assert_eq!(code, 200, "{body}");
    let chain = parse_chain(&body).expect("chain");
    assert_eq!(chain.len(), 5);
    assert_eq!(
        &chain[..4],
        remote.as_slice(),
        "the new tip is the remote chain's"
    );
    assert_eq!(
        chain[4].data,
        Json::parse(r#"{"mine": "this"}"#).expect("json")
    );
    assert_eq!(chain[4].prev_hash, remote[3].hash);
    let status = node.status().await;
    assert_eq!(status["mining"]["restarts"], 1);
    let restart = &status["mining"]["last_restart"];
    let us = |key: &str| {
        restart[key]
            .as_u64()
            .unwrap_or_else(|| panic!("no {key} in {restart}"))
    };
    // The steps add up to the whole (each is rounded down to a microsecond).
    let steps = [
        "queue_us",
        "validate_us",
        "handoff_us",
        "cancel_to_restart_us",
    ];
    let sum: u64 = steps.iter().map(|step| us(step)).sum();
    let total = us("received_to_restart_us");
    assert!(sum <= total && total - sum <= 4, "{restart}");
    node.stop().await;
}

/// A longer chain pushed with `POST /api/chain` does what one from Redis does: the
/// running search restarts on it (the mining POST returns its block on the pushed
/// tip), and the node publishes it, so its Redis peers get it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_pushed_over_http_restarts_the_search_and_reaches_peers() {
    let redis = RedisServer::start();
    let mut cfg = config(Some(&redis));
    cfg.fixed_difficulty = Some(Difficulty::new(40));
    let a = TestNode::start(cfg).await;
    let b = TestNode::start(config(Some(&redis))).await;
    wait_until("both nodes subscribe", WAIT, || async {
        redis.subscribers() == 2
    })
    .await;
    let client = a.client.clone();
    let base = a.url();
    let pending = tokio::spawn(async move { post(&client, &base, r#"{"data": "pushed"}"#).await });
    wait_until("the search runs", WAIT, || async {
        a.status().await["mining"]["active"] == true
    })
    .await;
    a.handle.pin_difficulty(None);
    let remote = extend(&[genesis()], 3, "over http");
    let (code, answer) = a.push(body(&remote)).await;
    assert_eq!(code, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(answer["result"], "adopted");
    let (code, mined) = tokio::time::timeout(WAIT, pending)
        .await
        .expect("the mining POST answers")
        .expect("task");
    assert_eq!(code, 200, "{mined}");
    let mined = parse_chain(&mined).expect("chain");
    assert_eq!(&mined[..4], remote.as_slice());
    assert_eq!(mined[4].data, Json::String("pushed".into()));
    assert_eq!(a.status().await["mining"]["restarts"], 1);
    wait_until(
        "b gets the pushed chain and a's block on it",
        WAIT,
        || async { b.len().await == 5 },
    )
    .await;
    assert_eq!(b.chain().await, mined);
    a.stop().await;
    b.stop().await;
}

/// Each kind of bad message is logged, counted by reason, and leaves the node serving
/// and syncing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_are_counted_and_survived() {
    let redis = RedisServer::start();
    let mut cfg = config(Some(&redis));
    cfg.max_message_bytes = 64 * 1024;
    let node = TestNode::start(cfg).await;
    wait_connected(&node).await;
    assert_eq!(node.mine(r#"{"data": 1}"#).await.0, 200);
    assert_eq!(node.mine(r#"{"data": 2}"#).await.0, 200);
    let ours = node.chain().await;

    let mut forged = extend(&ours, 1, "forged");
    forged[3].data = Json::String("changed after mining".into()).into();
    let wrong_types = message(&extend(&ours, 1, "x"))
        .iter()
        .map(|&b| b as char)
        .collect::<String>()
        .replacen("\"block_no\": 3", "\"block_no\": \"3\"", 1);
    let nan_chain = {
        let prev = ours[2].clone();
        let block = mine_reference(
            &prev,
            Json::parse("[NaN]").expect("python json"),
            now_ms(),
            Difficulty::new(3),
        );
        let mut chain = ours.clone();
        chain.push(block);
        chain
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not_json", b"this is not json".to_vec()),
        ("not_a_chain", br#"{"chain": "a JSON object"}"#.to_vec()),
        ("not_a_chain", wrong_types.into_bytes()),
        ("invalid", message(&forged)),
        ("not_preferred", message(&ours[..2])),
        (
            "too_deep",
            format!("[{{\"data\": {}", "[".repeat(10_000)).into_bytes(),
        ),
        ("too_large", vec![b' '; 64 * 1024 + 1]),
        // Written as Python writes it: our writer refuses to spell NaN.
        (
            "nan",
            String::from_utf8(message(&nan_chain))
                .expect("utf8")
                .replace("\"data\": [null]", "\"data\": [NaN]")
                .into_bytes(),
        ),
        ("not_utf8", b"[\xff]".to_vec()),
    ];
    for (reason, payload) in cases {
        let before = rejected(&node, reason).await;
        assert_eq!(redis.publish(&payload), 1);
        wait_until(&format!("a {reason} message is counted"), WAIT, || async {
            rejected(&node, reason).await == before + 1
        })
        .await;
        let (code, _, _) = node.get("/healthz").await;
        assert_eq!(code, 200);
    }
    let status = node.status().await;
    assert!(status["sync"]["last_rejection"].as_str().is_some());
    assert_eq!(status["redis"]["connected"], true);
    assert_eq!(node.len().await, 3, "no bad message changed the chain");
    // Still syncing: a valid longer chain is adopted.
    let longer = extend(&ours, 2, "good");
    redis.publish(message(&longer));
    wait_until("the longer chain is adopted", WAIT, || async {
        node.len().await == 5
    })
    .await;
    assert_eq!(node.chain().await, longer);
    node.stop().await;
}

/// Redis killed and restarted: both nodes keep serving and mining meanwhile,
/// reconnect, resubscribe and republish, so a block mined during the outage reaches
/// the other node, and sync goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_resumes_after_redis_restarts() {
    let mut redis = RedisServer::start();
    let a = TestNode::start(config(Some(&redis))).await;
    let b = TestNode::start(config(Some(&redis))).await;
    wait_until("both nodes subscribe", WAIT, || async {
        redis.subscribers() == 2
    })
    .await;
    redis.kill();
    wait_until("both see redis gone", WAIT, || async {
        a.status().await["redis"]["connected"] == false
            && b.status().await["redis"]["connected"] == false
    })
    .await;
    assert_eq!(a.mine(r#"{"data": "during the outage"}"#).await.0, 200);
    assert_eq!(b.len().await, 1);
    redis.restart();
    wait_until("b gets a's block through a's republish", WAIT, || async {
        b.len().await == 2
    })
    .await;
    assert!(a.status().await["redis"]["reconnects"].as_u64() >= Some(1));
    assert_eq!(b.mine(r#"{"data": "after"}"#).await.0, 200);
    wait_until("a gets b's block", WAIT, || async { a.len().await == 3 }).await;
    a.stop().await;
    b.stop().await;
}

/// A subscription that Redis drops as soon as it is made (here the test kills the
/// node's subscriber connection every 50 ms for 3 s) is not remade at once each time:
/// the backoff starts over only after a subscription that lasted, so a flapping link
/// is retried at the backoff's pace (50 ms doubling to `redis_backoff_max`, 1 s here:
/// six or seven tries in 3 s), not every 50 ms. A slower machine only makes it fewer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_subscription_backs_off() {
    let redis = RedisServer::start();
    let node = TestNode::start(minichain::node::NodeConfig {
        redis_backoff_max: Duration::from_secs(1),
        ..config(Some(&redis))
    })
    .await;
    wait_connected(&node).await;
    let mut conn = redis::Client::open(redis.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let flapping = std::time::Instant::now();
    while flapping.elapsed() < Duration::from_secs(3) {
        let _: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(&mut conn)
            .await
            .expect("CLIENT KILL");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reconnects = node.stat(&["redis", "reconnects"]).await;
    assert!(
        (2..=8).contains(&reconnects),
        "{reconnects} resubscriptions while killed every 50 ms for 3 s"
    );
    // Left alone, it subscribes again and syncs.
    wait_connected(&node).await;
    node.stop().await;
}

/// Redis down at start: the node serves and mines, and connects once Redis is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_at_start_is_survived() {
    let mut redis = RedisServer::unstarted();
    let node = TestNode::start(config(Some(&redis))).await;
    assert_eq!(node.mine("{}").await.0, 200);
    assert_eq!(node.status().await["redis"]["connected"], false);
    redis.restart();
    wait_connected(&node).await;
    let longer = extend(&node.chain().await, 1, "after start");
    redis.publish(message(&longer));
    wait_until("the node syncs", WAIT, || async { node.len().await == 3 }).await;
    node.stop().await;
}

/// A peer that publishes a worse chain (it just started, or missed our publish while
/// it reconnected) gets ours in answer; an equal chain gets no answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worse_chain_is_answered_with_ours() {
    let redis = RedisServer::start();
    let node = TestNode::start(config(Some(&redis))).await;
    wait_connected(&node).await;
    assert_eq!(node.mine(r#"{"data": "ours"}"#).await.0, 200);
    let ours = message(&node.chain().await);
    let listener = {
        let url = redis.url();
        let ours = ours.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = redis::Client::open(url)?.get_connection()?;
            let mut pubsub = conn.as_pubsub();
            pubsub.subscribe("BLOCKCHAIN")?;
            pubsub.set_read_timeout(Some(Duration::from_secs(10)))?;
            loop {
                let payload: Vec<u8> = pubsub.get_message()?.get_payload()?;
                if payload == ours {
                    return Ok::<_, redis::RedisError>(());
                }
            }
        })
    };
    wait_until("the test listens", WAIT, || async {
        redis.subscribers() >= 2 || listener.is_finished()
    })
    .await;
    // Answers are rate-limited (the node may just have answered its own stale echo),
    // so the worse chain is published again until the answer comes.
    wait_until("our chain comes back in answer", WAIT, || async {
        if !listener.is_finished() {
            redis.publish(message(&[genesis()]));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        listener.is_finished()
    })
    .await;
    listener
        .await
        .expect("task")
        .expect("our chain is published in answer");
    node.stop().await;
}

/// Both directions with Python's own `json` module: a chain made by the original
/// (`valid.json` from the vectors), written by `json.dumps` as a Python node publishes
/// it, syncs; and what the node publishes after mining on it is exactly what
/// `json.dumps(json.loads(message))` gives back, so a Python node reads it unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_written_messages_sync_both_ways() {
    let redis = RedisServer::start();
    let node = TestNode::start(config(Some(&redis))).await;
    wait_connected(&node).await;
    let path = common::vectors_dir().join("chains/valid.json");
    let vector = std::fs::read(&path).expect("valid.json");
    let published = python(
        "import json, sys; sys.stdout.write(json.dumps(json.load(sys.stdin)))",
        &vector,
    );
    assert!(published.starts_with(r#"[{"block_no": 0, "timestamp": 1000, "#));
    let expected = parse_chain(std::str::from_utf8(&vector).expect("UTF-8")).expect("chain");
    assert_eq!(redis.publish(published.as_bytes()), 1);
    wait_until("the Python-written chain is adopted", WAIT, || async {
        node.len().await == expected.len()
    })
    .await;
    assert_eq!(node.chain().await, expected);

    let listener = {
        let url = redis.url();
        let want = expected.len() + 1;
        tokio::task::spawn_blocking(move || {
            let mut conn = redis::Client::open(url)?.get_connection()?;
            let mut pubsub = conn.as_pubsub();
            pubsub.subscribe("BLOCKCHAIN")?;
            pubsub.set_read_timeout(Some(Duration::from_secs(60)))?;
            loop {
                let payload: Vec<u8> = pubsub.get_message()?.get_payload()?;
                let blocks = parse_chain(&String::from_utf8_lossy(&payload)).map(|c| c.len());
                if blocks == Ok(want) {
                    return Ok::<_, redis::RedisError>(payload);
                }
            }
        })
    };
    wait_until("the test listens", WAIT, || async {
        redis.subscribers() >= 2
    })
    .await;
    assert_eq!(
        node.mine(r#"{"data": {"from": "minichain", "é": [1.5, null]}}"#)
            .await
            .0,
        200
    );
    let ours = listener
        .await
        .expect("task")
        .expect("our chain is published");
    let checked = python_reads_back(&ours);
    assert_eq!(checked.trim(), format!("{} minichain", expected.len() + 1));
    node.stop().await;
}
