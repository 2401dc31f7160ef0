//! Mines blocks back to back at one difficulty and prints the effective rate against the
//! peak, two ways in turn: [`Miner::mine_chain`] (the next block posted to the helpers
//! before the found one is handed over) and [`Miner::mine`] called in a loop (each call
//! plans its first epoch afresh). It is the loop to profile when the per-block cost is
//! in question.
//!
//! `cargo run --release --example block_overhead -- [DIFFICULTY] [SECS] [THREADS] [KERNEL] [ROUNDS] [WAYS]`
//! (defaults 8, 3, all CPUs, calibrated (also `auto` or empty), 1, `both`): each round
//! mines SECS one way, then SECS the other; WAYS `chain` or `loop` mines only that way.
//! Under `perf record` it shows where a block's time goes beside its hashing (with WAYS
//! set, for that way alone).

use std::time::{Duration, Instant};

use minichain::chain::{Difficulty, genesis};
use minichain::miner::bench::{cancel_after, mine_blocks_for, peak_attempts_per_s, pinned_job};
use minichain::miner::{CancelToken, KernelKind, MineOutcome, Miner, MinerConfig};

// The binary's allocator, so that the per-block allocations cost what they cost there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How a slice mines its blocks.
#[derive(Debug, Clone, Copy)]
enum Way {
    Chain,
    Loop,
}

/// Mines block after block from genesis for `secs` the given way: blocks, seconds and
/// each worker's attempts.
fn mine_for(miner: &Miner, difficulty: Difficulty, secs: f64, way: Way) -> (u64, f64, Vec<u64>) {
    let slice = Duration::from_secs_f64(secs);
    let before = miner.progress().per_worker_attempts();
    let (blocks, secs) = match way {
        // What `minichain bench` measures.
        Way::Chain => {
            let mined = mine_blocks_for(miner, difficulty, slice);
            (mined.blocks, mined.secs)
        }
        Way::Loop => {
            let token = CancelToken::new();
            let started = Instant::now();
            let blocks = cancel_after(slice, &token, || {
                let mut job = pinned_job(genesis(), difficulty);
                let mut blocks = 0;
                while let MineOutcome::Found(block) = miner.mine(&job, &token) {
                    blocks += 1;
                    job.prev = block;
                }
                blocks
            });
            (blocks, started.elapsed().as_secs_f64())
        }
    };
    let after = miner.progress().per_worker_attempts();
    let attempts = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    (blocks, secs, attempts)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let difficulty: u32 = args.first().map_or(Ok(8), |s| s.parse())?;
    let secs: f64 = args.get(1).map_or(Ok(3.0), |s| s.parse())?;
    let threads: Option<usize> = args.get(2).map(|s| s.parse()).transpose()?;
    let kernel: Option<KernelKind> = args
        .get(3)
        .filter(|s| !matches!(s.as_str(), "" | "auto"))
        .map(|s| s.parse())
        .transpose()?;
    let rounds: u32 = args.get(4).map_or(Ok(1), |s| s.parse())?;
    let ways: &[Way] = match args.get(5).map_or("both", String::as_str) {
        "both" => &[Way::Chain, Way::Loop],
        "chain" => &[Way::Chain],
        "loop" => &[Way::Loop],
        other => anyhow::bail!("WAYS is both, chain or loop, not {other:?}"),
    };
    let miner = Miner::new(MinerConfig { threads, kernel })?;
    let peak = peak_attempts_per_s(&miner, Duration::from_secs_f64(0.5));
    println!(
        "kernel {} (at difficulty {difficulty}: {}), threads {}, peak {:.1} M/s",
        miner.kernel(),
        miner.kernel_for(difficulty),
        miner.threads(),
        peak / 1e6
    );
    for round in 1..=rounds {
        for &way in ways {
            let (blocks, secs, attempts) = mine_for(&miner, Difficulty::new(difficulty), secs, way);
            let per_block = secs / blocks.max(1) as f64;
            let effective = (1u64 << difficulty) as f64 / per_block;
            let per_worker: Vec<String> = attempts
                .iter()
                .map(|a| format!("{:.1}", *a as f64 / blocks.max(1) as f64))
                .collect();
            println!(
                "round {round} {way:?}: {blocks} blocks, {:.3} µs/block, effective {:.1} M/s = {:.1}% of peak; counted {:.1} M/s; attempts per block by worker: {}",
                per_block * 1e6,
                effective / 1e6,
                100.0 * effective / peak,
                attempts.iter().sum::<u64>() as f64 / secs / 1e6,
                per_worker.join(", "),
            );
        }
    }
    Ok(())
}
