//! The parallel search: epochs of at most 100 ms, each with a fresh timestamp (and so
//! a fresh difficulty from the policy), split across the pool's workers in chunks of
//! counters taken from one shared counter, so that no (timestamp, nonce) pair is tried
//! twice and every worker checks the cancel flag every few thousand attempts.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::layout::MiningTemplate;
use super::{CancelToken, MineJob, MineOutcome, Miner};
use crate::chain::hash::{block_hash, write_preimage_prefix};
use crate::chain::validate::now_ms;
use crate::chain::{Block, Difficulty, Nonce, next_difficulty};

/// Attempts per chunk: at tens of millions of attempts per second per core, a chunk
/// takes a fraction of a millisecond, which bounds cancel latency.
pub(crate) const CHUNK: u64 = 1 << 14;

/// How long one timestamp is used before the clock is read again (the original reads
/// it on every attempt; 100 ms keeps timestamps honest at a negligible cost).
pub(crate) const EPOCH: Duration = Duration::from_millis(100);

/// Runs the search for `job` on `miner`'s pool.
pub(crate) fn run(miner: &Miner, job: &MineJob, cancel: &CancelToken) -> MineOutcome {
    let mut prefix = Vec::new();
    // Variants are never reused within a job: each template gets its own nonce space.
    let mut variant = 0u64;
    loop {
        if cancel.is_cancelled() {
            return MineOutcome::Cancelled;
        }
        let timestamp = now_ms();
        let difficulty = job.fixed_difficulty.unwrap_or_else(|| {
            next_difficulty(
                job.prev.difficulty,
                job.prev.timestamp,
                timestamp,
                &job.policy,
            )
        });
        prefix.clear();
        let block_no = job.prev.block_no + 1;
        write_preimage_prefix(block_no, timestamp, &job.data, &job.prev.hash, &mut prefix);
        let suffix = difficulty.0.to_string();
        let template = match MiningTemplate::new(&prefix, suffix.as_bytes(), variant) {
            Ok(t) => t,
            // The layout cannot fail for a sane variant; skip to the next one if it does.
            Err(_) => {
                variant += 1;
                continue;
            }
        };
        variant += 1;
        let deadline = Instant::now() + EPOCH;
        match search_epoch(miner, &template, difficulty, deadline, cancel) {
            Some(counter) => {
                let block = Block {
                    block_no,
                    timestamp,
                    prev_hash: job.prev.hash.clone(),
                    data: job.data.clone(),
                    hash: String::new(),
                    nonce: match Nonce::from_digits(&template.nonce_string(counter)) {
                        Ok(n) => n,
                        Err(_) => continue,
                    },
                    difficulty,
                };
                // Every hit is re-verified by the reference hash before it is returned.
                let hash = block_hash(&block);
                if difficulty.is_met_by(&hash) {
                    return MineOutcome::Found(Block {
                        hash: hash.to_hex(),
                        ..block
                    });
                }
                debug_assert!(false, "kernel {} reported a false hit", miner.kernel);
            }
            None if cancel.is_cancelled() => return MineOutcome::Cancelled,
            None => {}
        }
    }
}

/// Searches one template until a hit, the deadline, exhaustion or a cancel.
fn search_epoch(
    miner: &Miner,
    template: &MiningTemplate,
    difficulty: Difficulty,
    deadline: Instant,
    cancel: &CancelToken,
) -> Option<u64> {
    let next_chunk = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let limit = template.counter_limit();
    let progress = &miner.progress;
    let kernel = miner.kernel;
    // `broadcast` runs the closure once on every worker of the pool, at the same time.
    let found = miner.pool.broadcast(|ctx| {
        let worker = ctx.index();
        let mut job = kernel.try_prepare(template, difficulty.0).ok()?;
        loop {
            if stop.load(Ordering::Relaxed) || cancel.is_cancelled() || Instant::now() >= deadline {
                return None;
            }
            let start = next_chunk
                .fetch_add(1, Ordering::Relaxed)
                .saturating_mul(CHUNK);
            if start >= limit {
                return None;
            }
            let count = CHUNK.min(limit - start);
            let found = job.search(start, count);
            progress.add(worker, count);
            if found.is_some() {
                stop.store(true, Ordering::Relaxed);
                return found;
            }
        }
    });
    found.into_iter().flatten().min()
}
