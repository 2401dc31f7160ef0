//! A small timing client for running nodes (loopback only): loads a chain through
//! Redis, then times how fast a mined block reaches another node and how fast a
//! published longer chain restarts a node's running search.
//!
//! Start the nodes first (release build), e.g.
//! `minichain node --port 8001 --redis redis://127.0.0.1:6390 --root none --mine-rate-ms 1`, then:
//!
//! - `cargo run --release --example node_timing -- load redis://127.0.0.1:6390 1000`
//!   publishes a valid 1000-block chain (the nodes adopt it);
//! - `cargo run --release --example node_timing -- propagation http://127.0.0.1:8001 http://127.0.0.1:8002 200`
//!   mines on the first node and waits until the second serves the block (from the
//!   POST's answer to the second node's `/api/status` showing it);
//! - `cargo run --release --example node_timing -- restart http://127.0.0.1:8001 redis://127.0.0.1:6390 200 extend|full`
//!   keeps a search running (start that node with `--difficulty 60`), publishes a chain
//!   one block longer (`extend`) or a whole new longer chain (`full`), and reads the
//!   restart's timing from `/api/status`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use minichain::chain::block::{Block, genesis, parse_chain, write_chain};
use minichain::chain::json::Dialect;
use minichain::chain::validate::now_ms;
use minichain::chain::{Difficulty, Json};
use minichain::miner::reference::mine_reference;
use minichain::miner::synthetic::synthetic_chain;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .ok_or_else(|| format!("missing argument {i}; see the file's doc"))
    };
    match args.first().map(String::as_str) {
        Some("load") => load(
            &arg(1)?,
            arg(2)?.parse()?,
            args.get(3).map(|a| a.parse()).transpose()?,
        ),
        Some("propagation") => runtime.block_on(propagation(&arg(1)?, &arg(2)?, arg(3)?.parse()?)),
        Some("restart") => {
            runtime.block_on(restart(&arg(1)?, &arg(2)?, arg(3)?.parse()?, &arg(4)?))
        }
        _ => Err("usage: node_timing load|propagation|restart ... (see the file's doc)".into()),
    }
}

fn publish(redis_url: &str, blocks: &[Block]) -> Result<i64> {
    let mut message = Vec::new();
    write_chain(blocks, Dialect::Python, &mut message);
    let mut conn = redis::Client::open(redis_url)?.get_connection()?;
    Ok(redis::cmd("PUBLISH")
        .arg("BLOCKCHAIN")
        .arg(message)
        .query(&mut conn)?)
}

/// Publishes a valid `n`-block chain: the benchmark chain of `synthetic_chain`, or one
/// whose `GET /api/blocks` body is about `body_bytes` long (279000 is the size the
/// original's figures were measured with).
fn load(redis_url: &str, n: usize, body_bytes: Option<usize>) -> Result<()> {
    let blocks = match body_bytes {
        None => synthetic_chain(n),
        Some(bytes) => sized_chain(n, bytes),
    };
    let mut body = b"{\"chain\":".to_vec();
    write_chain(&blocks, Dialect::Compact, &mut body);
    body.push(b'}');
    let receivers = publish(redis_url, &blocks)?;
    println!(
        "published {n} blocks ({} bytes as GET /api/blocks) to {receivers} nodes",
        body.len()
    );
    Ok(())
}

async fn status(client: &reqwest::Client, base: &str) -> Result<serde_json::Value> {
    Ok(client
        .get(format!("{base}/api/status"))
        .send()
        .await?
        .json()
        .await?)
}

fn percentiles(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    if samples.is_empty() {
        return;
    }
    println!(
        "{name}: n={} p50={:?} p90={:?} p99={:?} max={:?}",
        samples.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
}

async fn propagation(a: &str, b: &str, trials: usize) -> Result<()> {
    let client = reqwest::Client::new();
    let mut samples = Vec::with_capacity(trials);
    for trial in 0..trials {
        let before = status(&client, b).await?["length"].as_u64().unwrap_or(0);
        let response = client
            .post(format!("{a}/api/mineblock"))
            .body(format!(r#"{{"data": {{"trial": {trial}}}}}"#))
            .send()
            .await?;
        let _ = response.bytes().await?;
        let answered = Instant::now();
        let deadline = answered + Duration::from_secs(5);
        loop {
            if status(&client, b).await?["length"].as_u64().unwrap_or(0) > before {
                samples.push(answered.elapsed());
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("trial {trial}: node B never served the block").into());
            }
        }
    }
    let length = status(&client, b).await?["length"].as_u64().unwrap_or(0);
    println!("chain length at the end: {length}");
    percentiles("mined on A -> served by B", samples);
    Ok(())
}

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A chain of `n` blocks whose compact body is about `body_bytes`: each block's data is
/// `{"seq": i, "memo": "..."}` with the memo padded to fit.
fn sized_chain(n: usize, body_bytes: usize) -> Vec<Block> {
    // A block with this data and no memo takes about 249 bytes in compact JSON.
    let memo_len = (body_bytes / n.max(1)).saturating_sub(249);
    let mut blocks = vec![genesis()];
    let base = now_ms() - n as u64 * 1000;
    for i in 1..n {
        let prev = &blocks[i - 1];
        let d = prev.difficulty.bits();
        let difficulty = Difficulty::new(if d > 2 { d - 1 } else { 3 - d });
        let memo = format!("{i:0>width$}", width = memo_len);
        let data =
            Json::parse(&format!(r#"{{"seq": {i}, "memo": "{memo}"}}"#)).unwrap_or(Json::Null);
        blocks.push(mine_reference(
            prev,
            data,
            base + i as u64 * 1000,
            difficulty,
        ));
    }
    blocks
}

/// A fresh chain of `n` blocks (difficulties 3, 2, 1, 2, 1, ...) tagged with `tag`, so
/// that it shares no block with the node's chain and must be validated whole.
fn fresh_chain(n: usize, tag: usize) -> Vec<Block> {
    let mut blocks = vec![genesis()];
    let base = now_ms() - n as u64;
    for i in 1..n {
        let prev = &blocks[i - 1];
        let d = prev.difficulty.bits();
        let difficulty = Difficulty::new(if d > 2 { d - 1 } else { 3 - d });
        let data = Json::parse(&format!(r#"{{"fork": {tag}, "seq": {i}, "memo": "a competing chain for the restart benchmark"}}"#))
            .unwrap_or(Json::Null);
        blocks.push(mine_reference(prev, data, base + i as u64, difficulty));
    }
    blocks
}

/// How long the restart benchmark leaves the node alone after each publish.
const QUIET: Duration = Duration::from_millis(30);

async fn restart(base: &str, redis_url: &str, trials: usize, mode: &str) -> Result<()> {
    let client = reqwest::Client::new();
    let pending = {
        let (client, base) = (client.clone(), base.to_owned());
        tokio::spawn(async move {
            client
                .post(format!("{base}/api/mineblock"))
                .body(r#"{"data": "pending"}"#)
                .send()
                .await
        })
    };
    let mut conn = redis::Client::open(redis_url)?.get_connection()?;
    let mut end_to_end = Vec::new();
    let mut end_to_end_less_validate = Vec::new();
    let mut delivery = Vec::new();
    // The node's own breakdown of each restart (see `RestartTiming`).
    let steps = [
        "received_to_restart_us",
        "queue_us",
        "validate_us",
        "handoff_us",
        "cancel_to_restart_us",
    ];
    let mut by_step: Vec<Vec<Duration>> = vec![Vec::new(); steps.len()];
    for trial in 0..trials {
        let deadline = Instant::now() + Duration::from_secs(10);
        while status(&client, base).await?["mining"]["active"] != true {
            if Instant::now() > deadline {
                return Err("the node is not mining: start it with --difficulty 60".into());
            }
        }
        let before = status(&client, base).await?["mining"]["restarts"]
            .as_u64()
            .unwrap_or(0);
        let body = client
            .get(format!("{base}/api/blocks"))
            .send()
            .await?
            .text()
            .await?;
        let ours = parse_chain(&body)?;
        let longer = match mode {
            "full" => fresh_chain(ours.len() + 2, trial),
            _ => {
                let tip = ours.last().cloned().unwrap_or_else(genesis);
                let difficulty = Difficulty::new(tip.difficulty.bits().clamp(1, 3));
                let block = mine_reference(
                    &tip,
                    Json::parse(&trial.to_string()).unwrap_or(Json::Null),
                    now_ms(),
                    difficulty,
                );
                let mut chain = ours;
                chain.push(block);
                chain
            }
        };
        let mut message = Vec::new();
        write_chain(&longer, Dialect::Python, &mut message);
        let published_at = unix_us();
        redis::cmd("PUBLISH")
            .arg("BLOCKCHAIN")
            .arg(message)
            .query::<i64>(&mut conn)?;
        // The node timestamps the restart itself, so the client stays off the CPU while
        // it happens (polling during the restart would compete with the node for the
        // cores), then polls gently for the result.
        tokio::time::sleep(QUIET).await;
        loop {
            let s = status(&client, base).await?;
            if s["mining"]["restarts"].as_u64().unwrap_or(0) > before {
                let r = &s["mining"]["last_restart"];
                let us = |k: &str| Duration::from_micros(r[k].as_u64().unwrap_or(0));
                let e2e = Duration::from_micros(
                    r["restarted_at_unix_us"]
                        .as_u64()
                        .unwrap_or(0)
                        .saturating_sub(published_at),
                );
                end_to_end.push(e2e);
                end_to_end_less_validate.push(e2e.saturating_sub(us("validate_us")));
                delivery.push(e2e.saturating_sub(us("received_to_restart_us")));
                for (samples, step) in by_step.iter_mut().zip(steps) {
                    samples.push(us(step));
                }
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("trial {trial}: no restart").into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    pending.abort();
    println!(
        "mode {mode}, chain of about {} blocks",
        status(&client, base).await?["length"]
    );
    percentiles("PUBLISH -> search restarted (end to end)", end_to_end);
    percentiles("  the same less parse + validate", end_to_end_less_validate);
    percentiles("  PUBLISH -> message received by the node", delivery);
    let names = [
        "message received -> search restarted",
        "  1. queued (listener -> intake thread)",
        "  2. parse + validate",
        "  3. hand-off to the writer -> cancel",
        "  4. cancel -> restart (the search winding down)",
    ];
    for (name, samples) in names.into_iter().zip(by_step) {
        percentiles(name, samples);
    }
    Ok(())
}
