//! Criterion: the miner's hash rate by thread count and by difficulty, with
//! `Throughput::Elements` = attempts, so criterion reports attempts per second.
//!
//! - `hash_rate/threads`: the fastest kernel searching a fixed chunk of counters per
//!   thread at a difficulty no hash meets (every attempt runs), at the thread counts
//!   `minichain bench` measures by default (1 and every CPU); attempts are exact.
//! - `hash_rate/difficulty`: one thread searching a fixed chunk at each difficulty,
//!   resuming after every hit, so exactly the chunk is tried and the cost of hits (the
//!   full check, the restart) shows at low difficulties; attempts are exact.
//! - `hash_rate/mine_block`: `Miner::mine` end to end on every CPU, one block per
//!   iteration, on the benchmark engine's job (`miner::bench::pinned_job`); its
//!   elements are the *expected* attempts per block (2^difficulty), so the rate
//!   includes every per-block and per-epoch cost.
//!
//! Run with `cargo bench --bench hash_rate` (about a minute on 2 cores).

use std::hint::black_box;
use std::sync::Mutex;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use minichain::chain::{Difficulty, genesis};
use minichain::miner::bench::{pinned_job, thread_counts};
use minichain::miner::kernel::{PreparedJob, fastest_kernel};
use minichain::miner::layout::MiningTemplate;
use minichain::miner::{CancelToken, MineOutcome, Miner, MinerConfig};

/// Counters per thread per iteration: about a millisecond of work.
const CHUNK: u64 = 1 << 16;

/// A template shaped like a real block's: block number, 13-digit timestamp, short data,
/// a 64-digit previous hash, and a 2-digit difficulty.
fn template() -> MiningTemplate {
    MiningTemplate::new(
        b"421764000000123hello world0000abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        b"20",
        0,
    )
    .expect("a valid template")
}

fn by_threads(c: &mut Criterion) {
    let kernel = fastest_kernel();
    let template = template();
    let mut group = c.benchmark_group("hash_rate/threads");
    for threads in thread_counts(&[]) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool");
        // One prepared job per worker; each lock is taken once per iteration, uncontended.
        let jobs: Vec<Mutex<PreparedJob>> = (0..threads)
            .map(|_| Mutex::new(kernel.prepare(&template, 256)))
            .collect();
        group.throughput(Throughput::Elements(threads as u64 * CHUNK));
        group.bench_with_input(
            BenchmarkId::new(kernel.name(), threads),
            &threads,
            |b, _| {
                b.iter(|| {
                    pool.broadcast(|ctx| {
                        let worker = ctx.index();
                        let job = jobs[worker].lock().expect("no panics");
                        black_box(job.search(black_box(worker as u64 * CHUNK), CHUNK))
                    })
                });
            },
        );
    }
    group.finish();
}

/// Tries exactly `start..start + CHUNK`, resuming after each hit; returns the hits.
fn search_whole_chunk(job: &mut PreparedJob, start: u64) -> u32 {
    let end = start + CHUNK;
    let mut from = start;
    let mut hits = 0;
    while let Some(hit) = job.search(from, end - from) {
        hits += 1;
        from = hit + 1;
    }
    hits
}

fn by_difficulty(c: &mut Criterion) {
    let kernel = fastest_kernel();
    let template = template();
    let mut group = c.benchmark_group("hash_rate/difficulty");
    group.throughput(Throughput::Elements(CHUNK));
    for difficulty in [8u32, 12, 16, 20, 24, 32] {
        let mut job = kernel.prepare(&template, difficulty);
        let mut start = 0;
        group.bench_with_input(
            BenchmarkId::new(kernel.name(), difficulty),
            &difficulty,
            |b, _| {
                b.iter(|| {
                    // A new chunk each time, so hits fall differently per iteration.
                    start = (start + CHUNK) % (job.counter_limit() - CHUNK);
                    black_box(search_whole_chunk(&mut job, black_box(start)))
                });
            },
        );
    }
    group.finish();
}

fn mine_block(c: &mut Criterion) {
    let miner = Miner::new(MinerConfig::default()).expect("the miner starts");
    let mut group = c.benchmark_group("hash_rate/mine_block");
    for difficulty in [12u32, 16, 20] {
        let job = pinned_job(genesis(), Difficulty::new(difficulty));
        group.throughput(Throughput::Elements(1 << difficulty));
        group.bench_with_input(
            BenchmarkId::new(
                format!("{}-{}-threads", miner.kernel(), miner.threads()),
                difficulty,
            ),
            &difficulty,
            |b, _| {
                b.iter(|| {
                    let outcome = miner.mine(black_box(&job), &CancelToken::new());
                    assert!(matches!(outcome, MineOutcome::Found(_)));
                    outcome
                });
            },
        );
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = by_threads, by_difficulty, mine_block
}
criterion_main!(benches);
