//! Catch-up of a node that was away, side by side in one run: node A mines N blocks
//! while node B (which had read the block log before it stopped) is down; then B
//! restarts and catches up from the log, and a fresh node C (no position: further
//! behind than the log, so it asks for the range; in this build the stand-in fetches
//! the announcer's whole chain) starts. Prints the time each took from start to
//! holding A's tip, the blocks per second, and their ratio.
//!
//! Run with `cargo run --release --example catch_up_rate -- 1000 [PREFIX]` (needs
//! `redis-server` on the PATH); with PREFIX, A first takes a valid chain of PREFIX
//! blocks over HTTP (B too, before it stops), so the N blocks are missed at the end of
//! a long chain.

use std::time::{Duration, Instant};

use minichain::chain::Difficulty;
use minichain::miner::kernel::KernelKind;
use minichain::node::config::SeedCompatMode;
use minichain::node::{self, NodeConfig, NodeHandle};

#[path = "../tests/common/redis.rs"]
mod redis_server;

use redis_server::RedisServer;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn config(redis: &RedisServer, data_dir: Option<&std::path::Path>, difficulty: u32) -> NodeConfig {
    NodeConfig {
        port: 0,
        redis_url: Some(redis.url()),
        root: None,
        threads: Some(1),
        kernel: Some(KernelKind::Portable),
        fixed_difficulty: Some(Difficulty::new(difficulty)),
        seed_compat: SeedCompatMode::Off,
        redis_backoff_max: Duration::from_millis(100),
        data_dir: data_dir.map(std::path::Path::to_owned),
        ..NodeConfig::default()
    }
}

async fn wait_len(node: &NodeHandle, len: usize, timeout: Duration) -> Result<Duration> {
    let started = Instant::now();
    while node.snapshot().chain().len() < len {
        if started.elapsed() > timeout {
            return Err(format!("no tip after {timeout:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(started.elapsed())
}

async fn run(blocks: usize, prefix: usize) -> Result<()> {
    let redis = RedisServer::start();
    let b_dir = tempfile::tempdir()?;
    let c_dir = tempfile::tempdir()?;
    // The synthetic chain ends at difficulty 1 or 2; genesis has 4.
    let d = if prefix > 1 { 2 } else { 4 };
    let a = node::start(config(&redis, None, d)).await?;
    let b = node::start(config(&redis, Some(b_dir.path()), d)).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = reqwest::Client::new();
    if prefix > 1 {
        let mut body = b"{\"chain\":".to_vec();
        minichain::chain::block::write_chain(
            &minichain::miner::synthetic::synthetic_chain(prefix),
            minichain::chain::json::Dialect::Compact,
            &mut body,
        );
        body.push(b'}');
        client
            .post(format!("http://{}/api/chain", a.addr()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?
            .error_for_status()?;
        wait_len(&b, prefix, Duration::from_secs(120)).await?;
    }
    let mine = |i: usize| {
        client
            .post(format!("http://{}/api/mineblock", a.addr()))
            .header("content-type", "application/json")
            .body(format!(r#"{{"data": {{"n": {i}}}}}"#))
            .send()
    };
    mine(0).await?.error_for_status()?;
    wait_len(&b, prefix.max(1) + 1, Duration::from_secs(10)).await?;
    b.shutdown().await?;
    for i in 1..=blocks {
        mine(i).await?.error_for_status()?;
    }
    let target = a.snapshot().chain().len();
    let b = node::start(config(&redis, Some(b_dir.path()), d)).await?;
    let from_log = wait_len(&b, target, Duration::from_secs(300)).await?;
    let c = node::start(config(&redis, Some(c_dir.path()), d)).await?;
    let whole = wait_len(&c, target, Duration::from_secs(300)).await?;
    let rate = |d: Duration| blocks as f64 / d.as_secs_f64();
    println!(
        "{blocks} blocks behind (chain of {target}): from the block log {:.1} ms ({:.0} blocks/s) | fresh node, whole chain from the announcer {:.1} ms ({:.0} blocks/s) | log / whole speed {:.2}x",
        from_log.as_secs_f64() * 1e3,
        rate(from_log),
        whole.as_secs_f64() * 1e3,
        rate(whole),
        whole.as_secs_f64() / from_log.as_secs_f64(),
    );
    for node in [a, b, c] {
        node.shutdown().await?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(arg(1, 1000), arg(2, 0)))
}
