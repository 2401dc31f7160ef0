//! Crash safety: a real `minichain node` on a real data directory, with a real Redis,
//! is killed with SIGKILL at random moments while it mines blocks for HTTP requests and
//! adopts better chains pushed to it, then restarted on the same directory, round after
//! round. Each restart must serve a valid chain at once that holds everything the node
//! had acknowledged: the chain of the last answered request, plus at most the effect of
//! the one request still in flight when it died (one more mined block, or the pushed
//! chain it was adopting). Some rounds kill the node while it starts up (reading and
//! checking its store) instead.
//!
//! The kill moments and the operations come from a seeded RNG; the seed is printed
//! (set `MINICHAIN_CRASH_SEED` to replay a run).
//!
//! Run with `cargo test --test node_crash -- --nocapture`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::node::body;
use common::process::{NodeProcess, node_command, start_listening};
use common::redis::RedisServer;
use minichain::chain::block::parse_chain;
use minichain::chain::validate::now_ms;
use minichain::chain::{Block, Difficulty, Json, RuleSet, ValidChain, genesis};
use minichain::miner::reference::mine_reference;

/// Rounds of start, work, SIGKILL.
const ROUNDS: usize = 36;

/// Longest a round's work runs before the kill, in milliseconds.
const MAX_KILL_AFTER_MS: u64 = 400;

/// A request whose answer had not come when the node died.
#[derive(Debug, Clone)]
enum InFlight {
    /// `POST /api/mineblock`.
    Mine,
    /// `POST /api/chain` with this chain (better than the acknowledged one).
    Push(Vec<Block>),
}

/// What the test knows the node has: the chain of its last answered request, and the
/// request in flight, if any.
#[derive(Debug, Clone)]
struct Ledger {
    acked: Vec<Block>,
    in_flight: Option<InFlight>,
}

fn hashes(blocks: &[Block]) -> Vec<&str> {
    blocks.iter().map(|b| b.hash.as_str()).collect()
}

/// Cumulative work (difficulties here stay small).
fn work(blocks: &[Block]) -> u128 {
    blocks.iter().map(|b| 1u128 << b.difficulty.bits()).sum()
}

/// A chain with more work than `acked`: a prefix of it (genesis at least) extended by
/// blocks at the lowest difficulty steps allow, then `extra` more. Its data holds what
/// the store must keep exactly: big integers, Infinity, unicode, repeated keys.
fn better_fork(acked: &[Block], keep: usize, extra: usize, tag: &str) -> Vec<Block> {
    let mut chain = acked[..keep.clamp(1, acked.len())].to_vec();
    let target = work(acked);
    let mut i = 0;
    while work(&chain) <= target || extra > 0 && chain.len() < acked.len().max(keep) + extra {
        let prev = chain.last().expect("genesis at least").clone();
        let data = Json::parse(&format!(
            r#"{{"fork": "{tag} {i} é😀", "big": 123456789012345678901234567890{i}, "inf": [Infinity, -Infinity], "k": 1, "k": 2}}"#
        ))
        .expect("literal JSON");
        let d = prev.difficulty.bits().saturating_sub(1).max(1);
        chain.push(mine_reference(&prev, data, now_ms(), Difficulty::new(d)));
        i += 1;
    }
    chain
}

/// The chain the node serves, checked against what it had acknowledged.
async fn check_restored(
    node: &NodeProcess,
    client: &reqwest::Client,
    ledger: &Ledger,
    round: usize,
) -> Vec<Block> {
    let text = client
        .get(format!("{}/api/blocks", node.base))
        .send()
        .await
        .expect("GET /api/blocks")
        .text()
        .await
        .expect("body");
    let served = parse_chain(&text).expect("the node serves a chain");
    ValidChain::validate(served.clone(), RuleSet::Strict, now_ms())
        .unwrap_or_else(|e| panic!("round {round}: the restored chain is invalid: {e}"));
    let acked = &ledger.acked;
    let same = hashes(&served) == hashes(acked);
    let ok = same
        || match &ledger.in_flight {
            None => false,
            Some(InFlight::Mine) => {
                served.len() == acked.len() + 1 && hashes(&served[..acked.len()]) == hashes(acked)
            }
            Some(InFlight::Push(chain)) => hashes(&served) == hashes(chain),
        };
    assert!(
        ok,
        "round {round}: the restored chain ({} blocks, tip {}) is neither the acknowledged one ({} blocks, tip {}) nor what the request in flight ({:?}) could make of it",
        served.len(),
        served.last().map_or("-", |b| b.hash.as_str()),
        acked.len(),
        acked.last().map_or("-", |b| b.hash.as_str()),
        ledger.in_flight.as_ref().map(|f| match f {
            InFlight::Mine => "mine".to_owned(),
            InFlight::Push(c) => format!("push of {} blocks", c.len()),
        }),
    );
    served
}

/// Mines and pushes, one request at a time, recording each answer, until aborted.
async fn work_loop(
    base: String,
    client: reqwest::Client,
    ledger: Arc<Mutex<Ledger>>,
    seed: u64,
    round: usize,
) {
    let mut rng = fastrand::Rng::with_seed(seed);
    for op in 0.. {
        let acked = ledger.lock().expect("ledger").acked.clone();
        if rng.u8(0..10) < 7 {
            ledger.lock().expect("ledger").in_flight = Some(InFlight::Mine);
            let Ok(response) = client
                .post(format!("{base}/api/mineblock"))
                .header("content-type", "application/json")
                .body(format!(
                    r#"{{"data": {{"round": {round}, "op": {op}, "s": "ü ✓"}}}}"#
                ))
                .send()
                .await
            else {
                return;
            };
            let status = response.status().as_u16();
            let Ok(text) = response.text().await else {
                return;
            };
            assert_eq!(status, 200, "mineblock: {text}");
            let chain = parse_chain(&text).expect("the answer is the chain");
            let mut ledger = ledger.lock().expect("ledger");
            ledger.acked = chain;
            ledger.in_flight = None;
        } else {
            let keep = rng.usize(1..=acked.len());
            let extra = if rng.u8(0..4) == 0 {
                rng.usize(100..300)
            } else {
                rng.usize(0..5)
            };
            let chain = better_fork(&acked, keep, extra, &format!("r{round} op{op}"));
            ledger.lock().expect("ledger").in_flight = Some(InFlight::Push(chain.clone()));
            let Ok(response) = client
                .post(format!("{base}/api/chain"))
                .header("content-type", "application/json")
                .body(body(&chain))
                .send()
                .await
            else {
                return;
            };
            let status = response.status().as_u16();
            let Ok(text) = response.text().await else {
                return;
            };
            assert_eq!(status, 200, "push of a better chain: {text}");
            let mut ledger = ledger.lock().expect("ledger");
            ledger.acked = chain;
            ledger.in_flight = None;
        }
    }
}

/// SIGKILL at random moments, restart on the same directory, every acknowledged block
/// still there, every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_sigkill_at_random_moments() {
    let seed = std::env::var("MINICHAIN_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(now_ms);
    println!("node_crash seed: {seed} (MINICHAIN_CRASH_SEED={seed} replays it)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let redis = RedisServer::start();
    let url = redis.url();
    let data = tempfile::tempdir().expect("a temporary data directory");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut ledger = Ledger {
        acked: vec![genesis()],
        in_flight: None,
    };
    let (mut startup_kills, mut answered) = (0, 0);
    for round in 0..ROUNDS {
        // One round in six dies while it starts: reading and checking the store.
        if rng.u8(0..6) == 0 {
            let mut child = node_command(data.path(), Some(&url))
                .spawn()
                .expect("start minichain node");
            std::thread::sleep(Duration::from_millis(rng.u64(0..150)));
            let _ = child.kill();
            let _ = child.wait();
            startup_kills += 1;
        }
        let node = start_listening(node_command(data.path(), Some(&url)));
        let served = check_restored(&node, &client, &ledger, round).await;
        ledger = Ledger {
            acked: served,
            in_flight: None,
        };
        let before = ledger.acked.len();
        let shared = Arc::new(Mutex::new(ledger.clone()));
        let worker = tokio::spawn(work_loop(
            node.base.clone(),
            client.clone(),
            Arc::clone(&shared),
            rng.u64(..),
            round,
        ));
        tokio::time::sleep(Duration::from_millis(rng.u64(1..MAX_KILL_AFTER_MS))).await;
        node.kill9();
        worker.abort();
        // An assertion that failed in the work loop fails the test.
        if let Err(err) = worker.await
            && err.is_panic()
        {
            std::panic::resume_unwind(err.into_panic());
        }
        ledger = shared.lock().expect("ledger").clone();
        answered += usize::from(ledger.acked.len() != before);
    }
    // A last start checks the last round; then a clean stop.
    let node = start_listening(node_command(data.path(), Some(&url)));
    let served = check_restored(&node, &client, &ledger, ROUNDS).await;
    let status = node.terminate();
    assert!(status.success(), "clean stop: {status}");
    println!(
        "node_crash: {ROUNDS} rounds ({startup_kills} also killed during start-up, {answered} changed the chain), final chain {} blocks",
        served.len()
    );
    // The data directory holds the store and nothing half-made.
    let names: Vec<String> = std::fs::read_dir(data.path())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["chain.redb"]);
}
