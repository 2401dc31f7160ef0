//! Bytes published per mined block against the chain's length (issue 13's figure):
//! for each length, a node (in-process, on a `redis-server` of its own, with
//! `--seed-compat on` and its default limit) takes a valid chain of that length over
//! HTTP, then mines blocks one by one while a subscriber of this program counts the
//! bytes on `minichain:blocks` (announcements) and on `BLOCKCHAIN` (whole chains for
//! Python peers, withheld past the limit), side by side in one run; the last column is
//! what the original protocol sends per block (the whole chain's message).
//!
//! Run with `cargo run --release --example announce_bytes -- 1000,10000,100000,1000000 20`
//! (needs `redis-server` on the PATH).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use minichain::chain::Difficulty;
use minichain::chain::block::write_chain;
use minichain::chain::json::Dialect;
use minichain::miner::kernel::KernelKind;
use minichain::miner::synthetic::synthetic_chain;
use minichain::node::config::SeedCompatMode;
use minichain::node::{self, NodeConfig};

#[path = "../tests/common/redis.rs"]
mod redis_server;

use redis_server::RedisServer;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Bytes and messages seen on one channel.
#[derive(Default)]
struct Tally {
    bytes: AtomicU64,
    messages: AtomicU64,
}

async fn tally(url: &str, channel: &'static str) -> Result<Arc<Tally>> {
    let mut pubsub = redis::Client::open(url)?.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    let tally = Arc::new(Tally::default());
    let counts = Arc::clone(&tally);
    tokio::spawn(async move {
        let mut stream = pubsub.into_on_message();
        while let Some(message) = stream.next().await {
            counts
                .bytes
                .fetch_add(message.get_payload_bytes().len() as u64, Ordering::Relaxed);
            counts.messages.fetch_add(1, Ordering::Relaxed);
        }
    });
    Ok(tally)
}

async fn measure(length: usize, mined: u64) -> Result<()> {
    let redis = RedisServer::start();
    let config = NodeConfig {
        port: 0,
        redis_url: Some(redis.url()),
        root: None,
        threads: Some(1),
        kernel: Some(KernelKind::Portable),
        fixed_difficulty: Some(Difficulty::new(2)),
        max_message_bytes: 512 * 1024 * 1024,
        // A million-block chain's body (about 350 MB) is past the default budget of
        // request bodies held at once (128 MiB): the push would be cut off.
        body_budget_bytes: 512 * 1024 * 1024,
        seed_compat: SeedCompatMode::On,
        data_dir: None,
        ..NodeConfig::default()
    };
    let node = node::start(config).await?;
    let base = format!("http://{}", node.addr());
    let client = reqwest::Client::new();
    let chain = synthetic_chain(length);
    let mut whole = Vec::new();
    write_chain(&chain, Dialect::Python, &mut whole);
    let mut body = b"{\"chain\":".to_vec();
    write_chain(&chain, Dialect::Compact, &mut body);
    body.push(b'}');
    let pushed = client
        .post(format!("{base}/api/chain"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    if !pushed.status().is_success() {
        return Err(format!("push refused: {}", pushed.text().await?).into());
    }
    // Let the push's own announcement and publish pass before counting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let announced = tally(&redis.url(), "minichain:blocks").await?;
    let whole_chains = tally(&redis.url(), "BLOCKCHAIN").await?;
    for i in 0..mined {
        let answer = client
            .post(format!("{base}/api/mineblock"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"data": {{"n": {i}}}}}"#))
            .send()
            .await?;
        if !answer.status().is_success() {
            return Err(format!("mining failed: {}", answer.text().await?).into());
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let per_block = |t: &Tally| t.bytes.load(Ordering::Relaxed) / mined;
    let announce = per_block(&announced);
    println!(
        "{length:>8} blocks | announcements {announce:>5} B/block ({} msgs) | BLOCKCHAIN (seed-compat on, limit 4 MiB) {:>9} B/block ({} msgs) | original protocol {:>9} B/block | original / announcement {:>7.0}x",
        announced.messages.load(Ordering::Relaxed),
        per_block(&whole_chains),
        whole_chains.messages.load(Ordering::Relaxed),
        whole.len(),
        whole.len() as f64 / announce.max(1) as f64,
    );
    node.shutdown().await?;
    Ok(())
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let lengths: Vec<usize> = args
        .next()
        .unwrap_or_else(|| "1000,10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let mined: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        for length in lengths {
            measure(length, mined).await?;
        }
        Ok(())
    })
}
