//! Answers to worse chains, bounded against amplification: three real nodes on one
//! real `redis-server` (started by the test on a free port), holding a 2,000-block
//! chain, each receive ten messages holding only genesis (under 200 bytes each). The
//! original answers each one with its whole chain from every node (N × 10 whole
//! chains); here the nodes together answer at most once per interval and tip: one
//! node publishes after its random delay, the others see that publish (or the claim)
//! and withhold theirs. A raw Redis subscriber counts the whole-chain messages.
//!
//! Run with `cargo test --test sync_answers` (needs `redis-server` on the PATH).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::node::{TestNode, body, config, message, wait_until};
use common::redis::RedisServer;
use minichain::chain::genesis;
use minichain::miner::synthetic::synthetic_chain;
use minichain::node::config::SeedCompatMode;

const WAIT: Duration = Duration::from_secs(30);

/// Counts messages on BLOCKCHAIN larger than `min_bytes` until `stop` is set.
fn count_messages(
    url: String,
    min_bytes: usize,
    count: Arc<AtomicU64>,
    ready: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut conn = redis::Client::open(url)
            .and_then(|c| c.get_connection())
            .expect("connect the raw subscriber");
        let mut pubsub = conn.as_pubsub();
        pubsub.subscribe("BLOCKCHAIN").expect("subscribe");
        pubsub
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        ready.store(true, Ordering::SeqCst);
        while !stop.load(Ordering::SeqCst) {
            if let Ok(message) = pubsub.get_message() {
                let payload: Vec<u8> = message.get_payload().expect("bytes");
                if payload.len() > min_bytes {
                    count.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    })
}

async fn answers(node: &TestNode) -> (u64, u64) {
    let status = node.status().await;
    (
        status["redis"]["answers"].as_u64().expect("answers"),
        status["redis"]["answers_withheld"]
            .as_u64()
            .expect("answers_withheld"),
    )
}

/// Ten genesis-only messages to three nodes holding a 2,000-block chain bring back
/// exactly one whole-chain answer within the interval, from one node; every other
/// request is withheld.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_genesis_messages_bring_one_answer_per_interval() {
    let redis = RedisServer::start();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let mut cfg = config(Some(&redis));
        // The whole experiment falls within one interval, so "at most one answer per
        // interval" is "one answer" whatever the machine's speed.
        cfg.answer_interval = Duration::from_secs(120);
        cfg.answer_delay_max = Duration::from_millis(500);
        // Whole chains on BLOCKCHAIN are what this test is about (minichain nodes
        // alone would sync by announcements and publish none).
        cfg.seed_compat = SeedCompatMode::On;
        nodes.push(TestNode::start(cfg).await);
    }
    wait_until("three nodes subscribe", WAIT, || async {
        redis.subscribers() == 3
    })
    .await;
    let chain = synthetic_chain(2000);
    let whole = message(&chain);
    // One node takes the chain over HTTP and publishes it; the others adopt it.
    let (code, text) = nodes[0].push(body(&chain)).await;
    assert_eq!(code, 200, "{text}");
    for node in &nodes {
        wait_until("every node holds the chain", WAIT, || async {
            node.len().await == 2000
        })
        .await;
    }
    let count = Arc::new(AtomicU64::new(0));
    let ready = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let counter = count_messages(
        redis.url(),
        whole.len() / 2,
        Arc::clone(&count),
        Arc::clone(&ready),
        Arc::clone(&stop),
    );
    wait_until("the raw subscriber listens", WAIT, || async {
        ready.load(Ordering::SeqCst) && redis.subscribers() == 4
    })
    .await;
    let mut before = Vec::new();
    for node in &nodes {
        before.push(answers(node).await);
    }
    let worse = message(&[genesis()]);
    for _ in 0..10 {
        assert_eq!(redis.publish(&worse), 4);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every node has decided on each of its ten requests: answered, or withheld.
    for (node, (sent0, held0)) in nodes.iter().zip(&before) {
        wait_until("each node decided on ten requests", WAIT, || async {
            let (sent, held) = answers(node).await;
            sent - sent0 + held - held0 == 10
        })
        .await;
    }
    let mut sent_total = 0;
    let mut table = Vec::new();
    for (i, (node, (sent0, held0))) in nodes.iter().zip(&before).enumerate() {
        let (sent, held) = answers(node).await;
        sent_total += sent - sent0;
        table.push(format!(
            "node {i}: answered {}, withheld {}",
            sent - sent0,
            held - held0
        ));
        assert_eq!(node.len().await, 2000);
    }
    wait_until("the answer reaches the subscriber", WAIT, || async {
        count.load(Ordering::SeqCst) >= sent_total
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    counter.join().expect("subscriber thread");
    let seen = count.load(Ordering::SeqCst);
    println!(
        "ten {}-byte genesis messages, three nodes, a {}-byte chain: {seen} whole-chain message(s) on the channel; {}",
        worse.len(),
        whole.len(),
        table.join("; ")
    );
    assert_eq!(sent_total, 1, "{table:?}");
    assert_eq!(seen, 1, "whole-chain messages on the channel");
    for node in nodes {
        node.stop().await;
    }
}
