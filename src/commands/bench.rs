//! `minichain bench`: how fast this machine mines, in one run and side by side with a
//! plain SHA-256 baseline, so that numbers from different machines (or different loads)
//! are compared as ratios, never as raw rates.
//!
//! It measures, each for `--secs`:
//! 1. the baseline: `sha2::compress256` in a chained loop on one thread;
//! 2. the parallel miner's attempts per second at each thread count (1 always included),
//!    at a difficulty no hash meets, so every attempt runs and epochs restart as in real
//!    mining; from these, the per-core ratio to the baseline and the scaling;
//! 3. every available kernel on one thread;
//! 4. blocks mined back to back at each difficulty (`fixed_difficulty`), with the
//!    effective attempts per second, which includes every per-block and per-epoch cost;
//! 5. cancel latency: many cancels with all workers busy, from `cancel()` to `mine`
//!    returning.
//!
//! 1 to 4 run in three interleaved rounds of a third of `--secs` each, and each rate
//! keeps its best round: load from other processes only ever slows a measurement down,
//! and the peak and the per-difficulty rates are then compared like with like.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use clap::Args;
use minichain::chain::{Block, Difficulty, DifficultyPolicy, Json, genesis};
use minichain::miner::kernel::{available_kernels, baseline_compress_per_s, fastest_kernel};
use minichain::miner::{CancelToken, KernelKind, MineJob, MineOutcome, Miner, MinerConfig};
use serde::Serialize;

use super::mine::{format_rate, with_live_rate};

/// Measure the miner: a `compress256` baseline, attempts per second by thread count and
/// by kernel, blocks per second by difficulty, and cancel latency, all in one run.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Thread counts to measure, comma-separated (default: 1 and the number of CPUs).
    /// 1 is always measured: it is the reference for the per-core ratio and the scaling.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    threads: Vec<usize>,
    /// Seconds per measurement: the baseline, each thread count and each kernel (each
    /// over three interleaved rounds), each difficulty, the cancel latency.
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    secs: f64,
    /// Difficulties (leading zero bits) for the blocks-by-difficulty table,
    /// comma-separated.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_values_t = [8u32, 12, 16, 20, 24]
    )]
    difficulties: Vec<u32>,
    /// Print one JSON object on stdout instead of tables.
    #[arg(long)]
    json: bool,
    /// Kernel for the thread, difficulty and cancel measurements: portable, sha-ni, avx2
    /// or avx512 (default: the fastest here, picked by a short calibration).
    #[arg(long, value_name = "NAME")]
    kernel: Option<KernelKind>,
}

/// What `minichain bench --json` prints: one object, these keys exactly.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// Chained `sha2::compress256` calls per second on one thread: the yardstick (best
    /// of three rounds, as are `threads` and `kernels`).
    pub baseline_compress_per_s: f64,
    /// The miner's attempts per second at each thread count, smallest first.
    pub threads: Vec<ThreadRate>,
    /// Attempts per second per thread at one thread, over the baseline: how much more
    /// than a plain compression loop one core mines.
    pub ratio_per_core: f64,
    /// Attempts per second at the largest thread count over one thread.
    pub scaling: f64,
    /// Blocks mined back to back at each difficulty, largest thread count.
    pub by_difficulty: Vec<DifficultyRate>,
    /// Median cancel latency, µs, from `cancel()` to `mine` returning, all workers busy.
    pub cancel_p50_us: f64,
    /// 99th-percentile cancel latency, µs.
    pub cancel_p99_us: f64,
    /// The kernel used for `threads`, `by_difficulty` and the cancel latency.
    pub kernel: String,
    /// Every kernel this CPU runs, one thread each.
    pub kernels: Vec<KernelRate>,
}

/// One row of [`BenchReport::threads`].
#[derive(Debug, Serialize)]
pub struct ThreadRate {
    /// Worker threads.
    pub n: usize,
    /// Attempts per second, all threads together.
    pub attempts_per_s: f64,
}

/// One row of [`BenchReport::by_difficulty`].
#[derive(Debug, Serialize)]
pub struct DifficultyRate {
    /// Leading zero bits required.
    pub difficulty: u32,
    /// Blocks found in the three rounds together (`--secs` in all).
    pub blocks: u64,
    /// Seconds per block over the three rounds; `null` when no block was found.
    pub secs_per_block: Option<f64>,
    /// Attempts made over a round's wall time, per-block costs included (best round,
    /// as for `threads`, so that the two compare like with like).
    pub attempts_per_s: f64,
}

/// One row of [`BenchReport::kernels`].
#[derive(Debug, Serialize)]
pub struct KernelRate {
    /// The kernel's name (`--kernel` spelling).
    pub name: String,
    /// Attempts per second on one thread.
    pub attempts_per_s: f64,
}

/// The flags, checked and completed once.
#[derive(Debug)]
struct BenchPlan {
    threads: Vec<usize>,
    slice: Duration,
    difficulties: Vec<u32>,
    kernel: KernelKind,
    kernel_from_flag: bool,
}

impl BenchPlan {
    fn from_args(args: &BenchArgs) -> anyhow::Result<BenchPlan> {
        ensure!(
            args.secs.is_finite() && args.secs > 0.0 && args.secs <= 3600.0,
            "--secs must be a positive number of seconds (at most 3600), got {}",
            args.secs
        );
        ensure!(
            args.threads.iter().all(|&n| n > 0),
            "--threads must list thread counts of at least 1"
        );
        ensure!(
            args.difficulties.iter().all(|&d| d <= 256),
            "--difficulties must be at most 256 (a SHA-256 hash has 256 bits)"
        );
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let mut threads = if args.threads.is_empty() {
            vec![cpus]
        } else {
            args.threads.clone()
        };
        threads.push(1);
        threads.sort_unstable();
        threads.dedup();
        if let Some(kind) = args.kernel {
            ensure!(
                kind.is_available(),
                "kernel {kind} is not available on this CPU"
            );
        }
        Ok(BenchPlan {
            threads,
            slice: Duration::from_secs_f64(args.secs),
            difficulties: args.difficulties.clone(),
            kernel: args.kernel.unwrap_or_else(fastest_kernel),
            kernel_from_flag: args.kernel.is_some(),
        })
    }

    fn largest_threads(&self) -> usize {
        self.threads.last().copied().unwrap_or(1)
    }
}

/// Runs `minichain bench`.
pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let plan = BenchPlan::from_args(args)?;
    let kernels = available_kernels();
    let thread_miners = plan
        .threads
        .iter()
        .map(|&n| new_miner(n, plan.kernel))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let kernel_miners = kernels
        .iter()
        .map(|&kind| new_miner(1, kind))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let per_round = 1 + thread_miners.len() + kernel_miners.len();
    let mut steps = Steps::new(ROUNDS * (per_round + plan.difficulties.len()) + 1);

    // Interleaved rounds, best of each: other load on the machine only ever slows a
    // measurement down, and interleaving keeps the baseline and the miner side by side.
    let sub_slice = plan.slice / ROUNDS as u32;
    let mut baseline = 0.0f64;
    let mut thread_rates = vec![0.0f64; thread_miners.len()];
    let mut kernel_rates = vec![0.0f64; kernel_miners.len()];
    for round in 1..=ROUNDS {
        steps.next(&format!(
            "round {round}/{ROUNDS}: baseline compress256, 1 thread"
        ));
        baseline = baseline.max(baseline_compress_per_s(sub_slice));
        for (miner, best) in thread_miners.iter().zip(&mut thread_rates) {
            let what = format!("{} threads, {}", miner.threads(), miner.kernel());
            let label = steps.next(&format!("round {round}/{ROUNDS}: {what}"));
            let rate = with_live_rate(&miner.progress(), &label, || {
                peak_attempts_per_s(miner, sub_slice)
            });
            *best = best.max(rate);
        }
        for (miner, best) in kernel_miners.iter().zip(&mut kernel_rates) {
            let what = format!("kernel {}, 1 thread", miner.kernel());
            let label = steps.next(&format!("round {round}/{ROUNDS}: {what}"));
            let rate = with_live_rate(&miner.progress(), &label, || {
                peak_attempts_per_s(miner, sub_slice)
            });
            *best = best.max(rate);
        }
    }
    let baseline_compress_per_s = baseline;
    let threads: Vec<ThreadRate> = plan
        .threads
        .iter()
        .zip(thread_rates)
        .map(|(&n, attempts_per_s)| ThreadRate { n, attempts_per_s })
        .collect();
    let kernel_rates: Vec<KernelRate> = kernels
        .iter()
        .zip(kernel_rates)
        .map(|(kind, attempts_per_s)| KernelRate {
            name: kind.name().to_owned(),
            attempts_per_s,
        })
        .collect();
    drop((thread_miners, kernel_miners));

    let miner = new_miner(plan.largest_threads(), plan.kernel)?;
    let mut slices = vec![BlockSlice::default(); plan.difficulties.len()];
    for round in 1..=ROUNDS {
        for (&difficulty, total) in plan.difficulties.iter().zip(&mut slices) {
            let what = format!("blocks at difficulty {difficulty}");
            let label = steps.next(&format!("round {round}/{ROUNDS}: {what}"));
            let slice = with_live_rate(&miner.progress(), &label, || {
                mine_blocks_for(&miner, Difficulty(difficulty), sub_slice)
            });
            total.add(slice);
        }
    }
    let by_difficulty: Vec<DifficultyRate> = plan
        .difficulties
        .iter()
        .zip(slices)
        .map(|(&difficulty, total)| total.rate(difficulty))
        .collect();

    let label = steps.next("cancel latency");
    let mut latencies = with_live_rate(&miner.progress(), &label, || {
        cancel_latencies(&miner, plan.slice)
    });
    latencies.sort_unstable();
    steps.finish();

    let rate_at = |n: usize| {
        threads
            .iter()
            .find(|t| t.n == n)
            .map_or(0.0, |t| t.attempts_per_s)
    };
    let one_thread = rate_at(1);
    let largest = rate_at(plan.largest_threads());
    let report = BenchReport {
        baseline_compress_per_s,
        ratio_per_core: ratio(one_thread, baseline_compress_per_s),
        scaling: ratio(largest, one_thread),
        threads,
        by_difficulty,
        cancel_p50_us: percentile(&latencies, 50.0).as_secs_f64() * 1e6,
        cancel_p99_us: percentile(&latencies, 99.0).as_secs_f64() * 1e6,
        kernel: plan.kernel.name().to_owned(),
        kernels: kernel_rates,
    };
    if args.json {
        let text = serde_json::to_string_pretty(&report).context("cannot write the report")?;
        println!("{text}");
    } else {
        print_tables(&report, &plan, latencies.len());
    }
    Ok(ExitCode::SUCCESS)
}

fn new_miner(threads: usize, kernel: KernelKind) -> anyhow::Result<Miner> {
    Miner::new(MinerConfig {
        threads: Some(threads),
        kernel: Some(kernel),
    })
    .with_context(|| format!("cannot start a {threads}-thread miner with kernel {kernel}"))
}

/// A job on `prev` at a pinned difficulty.
fn bench_job(prev: Block, difficulty: Difficulty) -> MineJob {
    MineJob {
        prev,
        data: Json::String("minichain bench".into()),
        policy: DifficultyPolicy::default(),
        fixed_difficulty: Some(difficulty),
    }
}

/// Runs `work` with `token`, and cancels the token after `slice` (or when `work` ends).
fn cancel_after<T>(slice: Duration, token: &CancelToken, work: impl FnOnce() -> T) -> T {
    let (done_tx, done_rx) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let _ = done_rx.recv_timeout(slice);
            token.cancel();
        });
        let result = work();
        drop(done_tx);
        result
    })
}

/// The miner's attempts per second at a difficulty no hash meets (every attempt runs;
/// epochs still restart every 100 ms as in real mining).
fn peak_attempts_per_s(miner: &Miner, slice: Duration) -> f64 {
    let job = bench_job(genesis(), Difficulty(256));
    let token = CancelToken::new();
    let progress = miner.progress();
    let before = progress.total_attempts();
    let started = Instant::now();
    cancel_after(slice, &token, || miner.mine(&job, &token));
    let secs = started.elapsed().as_secs_f64();
    (progress.total_attempts() - before) as f64 / secs
}

/// Blocks mined back to back over one or more time slices.
#[derive(Debug, Clone, Copy, Default)]
struct BlockSlice {
    blocks: u64,
    secs: f64,
    /// The best attempts per second of any one slice.
    best_attempts_per_s: f64,
}

impl BlockSlice {
    fn add(&mut self, other: BlockSlice) {
        self.blocks += other.blocks;
        self.secs += other.secs;
        self.best_attempts_per_s = self.best_attempts_per_s.max(other.best_attempts_per_s);
    }

    fn rate(self, difficulty: u32) -> DifficultyRate {
        DifficultyRate {
            difficulty,
            blocks: self.blocks,
            secs_per_block: (self.blocks > 0).then(|| self.secs / self.blocks as f64),
            attempts_per_s: self.best_attempts_per_s,
        }
    }
}

/// Mines blocks back to back, each on the last, at `difficulty` for `slice`.
fn mine_blocks_for(miner: &Miner, difficulty: Difficulty, slice: Duration) -> BlockSlice {
    let token = CancelToken::new();
    let progress = miner.progress();
    let before = progress.total_attempts();
    let started = Instant::now();
    let blocks = cancel_after(slice, &token, || {
        let mut prev = genesis();
        let mut blocks = 0u64;
        while let MineOutcome::Found(block) = miner.mine(&bench_job(prev, difficulty), &token) {
            blocks += 1;
            prev = block;
        }
        blocks
    });
    let secs = started.elapsed().as_secs_f64();
    BlockSlice {
        blocks,
        secs,
        best_attempts_per_s: (progress.total_attempts() - before) as f64 / secs,
    }
}

/// Rounds of the baseline, thread, kernel and difficulty measurements, each
/// `--secs / ROUNDS` long.
const ROUNDS: usize = 3;

/// The fewest cancels measured, however short the slice.
const MIN_CANCELS: usize = 100;

/// Cancel latencies, from `cancel()` to `mine` returning, with every worker busy at a
/// difficulty no hash meets: at least [`MIN_CANCELS`], and as many as fit in `slice`.
///
/// This thread mines; a canceller thread waits until the search runs, lets it run a
/// pseudo-random 1 to 3 ms (so cancels land anywhere in a chunk), notes the time and
/// cancels.
fn cancel_latencies(miner: &Miner, slice: Duration) -> Vec<Duration> {
    let job = bench_job(genesis(), Difficulty(256));
    let progress = miner.progress();
    let (token_tx, token_rx) = mpsc::channel::<CancelToken>();
    let (cancelled_tx, cancelled_rx) = mpsc::channel::<Instant>();
    let mut latencies = Vec::new();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut random = 0x9e37_79b9_7f4a_7c15u64;
            for token in token_rx {
                while !progress.is_mining() {
                    std::thread::sleep(Duration::from_micros(50));
                }
                // xorshift64: plenty random for spreading cancels over a chunk.
                random ^= random << 13;
                random ^= random >> 7;
                random ^= random << 17;
                std::thread::sleep(Duration::from_micros(1_000 + random % 2_000));
                let at = Instant::now();
                token.cancel();
                if cancelled_tx.send(at).is_err() {
                    return;
                }
            }
        });
        let started = Instant::now();
        while latencies.len() < MIN_CANCELS || started.elapsed() < slice {
            let token = CancelToken::new();
            if token_tx.send(token.clone()).is_err() {
                break;
            }
            let outcome = miner.mine(&job, &token);
            let returned = Instant::now();
            debug_assert_eq!(outcome, MineOutcome::Cancelled);
            match cancelled_rx.recv() {
                Ok(cancelled) => latencies.push(returned.saturating_duration_since(cancelled)),
                Err(_) => break,
            }
        }
        drop(token_tx);
    });
    latencies
}

/// The nearest-rank percentile of sorted `values` (zero for none).
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

fn print_tables(report: &BenchReport, plan: &BenchPlan, cancels: usize) {
    let baseline = report.baseline_compress_per_s;
    let how = if plan.kernel_from_flag {
        "from --kernel"
    } else {
        "fastest by calibration"
    };
    println!(
        "minichain bench: kernel {} ({how}), {} CPUs, {:.1} s per measurement (best of 3 rounds for rates)",
        report.kernel,
        std::thread::available_parallelism().map_or(1, usize::from),
        plan.slice.as_secs_f64()
    );
    println!();
    println!(
        "baseline  chained sha2::compress256, 1 thread: {}",
        format_rate(baseline)
    );
    println!();
    println!("threads  attempts/s      per thread      per thread / baseline");
    for row in &report.threads {
        let per_thread = row.attempts_per_s / row.n as f64;
        println!(
            "{:>7}  {:>14}  {:>14}  {:>6.2}",
            row.n,
            format_rate(row.attempts_per_s),
            format_rate(per_thread),
            ratio(per_thread, baseline)
        );
    }
    println!(
        "per-core ratio {:.2} (target >= 1.9, goal >= 2.4); scaling {} threads over 1: {:.2} (target >= 1.9 on 2 cores)",
        report.ratio_per_core,
        plan.largest_threads(),
        report.scaling
    );
    println!();
    println!("kernel    attempts/s (1 thread)  / baseline");
    for row in &report.kernels {
        println!(
            "{:<9} {:>21}  {:>6.2}",
            row.name,
            format_rate(row.attempts_per_s),
            ratio(row.attempts_per_s, baseline)
        );
    }
    println!();
    let peak = report.threads.last().map_or(0.0, |t| t.attempts_per_s);
    println!(
        "difficulty  blocks  s/block    effective attempts/s  of peak ({} threads)",
        plan.largest_threads()
    );
    for row in &report.by_difficulty {
        let per_block = row
            .secs_per_block
            .map_or_else(|| "-".to_owned(), |s| format!("{s:.6}"));
        println!(
            "{:>10}  {:>6}  {:>9}  {:>20}  {:>6.1}%",
            row.difficulty,
            row.blocks,
            per_block,
            format_rate(row.attempts_per_s),
            100.0 * ratio(row.attempts_per_s, peak)
        );
    }
    println!();
    println!(
        "cancel latency ({} threads busy, {cancels} cancels): p50 {:.0} µs, p99 {:.0} µs (target p99 <= 1000 µs)",
        plan.largest_threads(),
        report.cancel_p50_us,
        report.cancel_p99_us
    );
}

/// The `[i/n] what` progress line on stderr, when stderr is a terminal.
struct Steps {
    done: usize,
    total: usize,
    tty: bool,
}

impl Steps {
    fn new(total: usize) -> Self {
        Steps {
            done: 0,
            total,
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// Shows the next step and returns its label (for the live rate line).
    fn next(&mut self, what: &str) -> String {
        self.done += 1;
        let label = format!("[{}/{}] {what}", self.done, self.total);
        if self.tty {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K{label}");
            let _ = err.flush();
        }
        label
    }

    /// Erases the progress line.
    fn finish(&self) {
        if self.tty {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}
