//! Mines blocks back to back at one difficulty for a while and prints the effective
//! rate against the peak: the loop to profile when the per-block cost is in question.
//!
//! `cargo run --release --example block_overhead -- [DIFFICULTY] [SECS] [THREADS] [KERNEL]`
//! (defaults 8, 3, all CPUs, calibrated). Under `perf record` it shows where a block's
//! time goes beside its hashing.

use std::time::Duration;

use minichain::chain::Difficulty;
use minichain::miner::bench::{mine_blocks_for, peak_attempts_per_s};
use minichain::miner::{KernelKind, Miner, MinerConfig};

// The binary's allocator, so that the per-block allocations cost what they cost there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let difficulty: u32 = args.first().map_or(Ok(8), |s| s.parse())?;
    let secs: f64 = args.get(1).map_or(Ok(3.0), |s| s.parse())?;
    let threads: Option<usize> = args.get(2).map(|s| s.parse()).transpose()?;
    let kernel: Option<KernelKind> = args.get(3).map(|s| s.parse()).transpose()?;
    let miner = Miner::new(MinerConfig { threads, kernel })?;
    let peak = peak_attempts_per_s(&miner, Duration::from_secs_f64(0.5));
    let before = miner.progress().per_worker_attempts();
    let slice = mine_blocks_for(
        &miner,
        Difficulty::new(difficulty),
        Duration::from_secs_f64(secs),
    );
    let per_block = slice.secs / slice.blocks.max(1) as f64;
    let effective = (1u64 << difficulty) as f64 / per_block;
    println!(
        "kernel {} threads {} difficulty {difficulty}: {} blocks, {:.2} µs/block, effective {:.1} M/s = {:.1}% of peak {:.1} M/s; counted {:.1} M/s",
        miner.kernel(),
        miner.threads(),
        slice.blocks,
        per_block * 1e6,
        effective / 1e6,
        100.0 * effective / peak,
        peak / 1e6,
        slice.best_attempts_per_s / 1e6,
    );
    let after = miner.progress().per_worker_attempts();
    let per_worker: Vec<String> = after
        .iter()
        .zip(&before)
        .map(|(a, b)| format!("{:.1}", (a - b) as f64 / slice.blocks.max(1) as f64))
        .collect();
    println!("attempts per block by worker: {}", per_worker.join(", "));
    Ok(())
}
