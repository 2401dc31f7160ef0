//! The whole benchmark run: the measurements of [`rates`](super::rates),
//! [`difficulty`](super::difficulty) and [`cancel`](super::cancel) in their order and
//! rounds, step by step, gathered into a [`BenchReport`]. An [`Observer`] sees each
//! step as it runs, for a progress line; the measuring never depends on it.

use std::fmt;

use thiserror::Error;

use super::cancel::{CancelQuota, cancel_latencies};
use super::difficulty::{BlockSlice, mine_blocks_beside_peak};
use super::plan::{BenchPlan, ROUNDS};
use super::rates::{baseline_compress_per_s, peak_attempts_per_s};
use super::report::{BenchReport, DifficultyRate, KernelRate, ThreadRate};
use super::stats::{percentile, ratio, spread};
use crate::chain::Difficulty;
use crate::miner::kernel::{MiningKernels, available_kernels};
use crate::miner::{KernelKind, Miner, MinerConfig, MinerError, Progress};

/// Why a benchmark run stopped.
#[derive(Debug, Error)]
pub enum BenchError {
    /// A miner for one of the measurements would not start.
    #[error("cannot start a {threads}-thread miner with kernel {kernel}")]
    StartMiner {
        /// Its worker threads.
        threads: usize,
        /// Its kernel.
        kernel: KernelKind,
        /// Why it would not start.
        #[source]
        source: MinerError,
    },
}

/// What one step of a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// The chained `compress256` baseline, one thread.
    Baseline,
    /// The miner's peak rate at a thread count, with the plan's kernel.
    Threads {
        /// Worker threads.
        threads: usize,
        /// The plan's kernel.
        kernel: KernelKind,
    },
    /// One kernel's peak rate, one thread.
    Kernel(KernelKind),
    /// Blocks mined back to back at a difficulty, with the peak measured beside them.
    Difficulty(u32),
    /// The cancel latencies.
    CancelLatency,
}

/// One step of a run, as it begins: which it is of how many, and what it measures.
/// Displays as the progress line's text, e.g. `round 1/6: 2 threads, sha-ni`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// This step's number, from 1.
    pub index: usize,
    /// The run's steps in all.
    pub total: usize,
    /// The round (from 1, of [`ROUNDS`]) for the rates; `None` for the cancel latency.
    pub round: Option<usize>,
    /// What the step measures.
    pub kind: StepKind,
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepKind::Baseline => f.write_str("baseline compress256, 1 thread"),
            StepKind::Threads { threads, kernel } => write!(f, "{threads} threads, {kernel}"),
            StepKind::Kernel(kernel) => write!(f, "kernel {kernel}, 1 thread"),
            StepKind::Difficulty(difficulty) => {
                write!(f, "blocks at difficulty {difficulty}, peak beside")
            }
            StepKind::CancelLatency => f.write_str("cancel latency"),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.round {
            Some(round) => write!(f, "round {round}/{ROUNDS}: {}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

/// Sees each step of [`run`] as it runs: `minichain bench` shows a progress line and a
/// live hash rate; the criterion benches and tests need nothing ([`Quiet`]).
pub trait Observer {
    /// Runs `work`, the measurement of `step`, and returns what it returns. `progress`
    /// is the measured miner's counters (none for the baseline, which has no miner).
    /// Anything done here beside `work` runs during the measurement, so keep it light.
    fn step<T>(&mut self, step: &Step, progress: Option<&Progress>, work: impl FnOnce() -> T) -> T;
}

/// An [`Observer`] that only runs each step.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Observer for Quiet {
    fn step<T>(&mut self, _: &Step, _: Option<&Progress>, work: impl FnOnce() -> T) -> T {
        work()
    }
}

/// Numbers the steps and hands each to the observer.
struct Steps<'o, O> {
    done: usize,
    total: usize,
    observer: &'o mut O,
}

impl<O: Observer> Steps<'_, O> {
    fn run<T>(
        &mut self,
        round: Option<usize>,
        kind: StepKind,
        progress: Option<&Progress>,
        work: impl FnOnce() -> T,
    ) -> T {
        self.done += 1;
        let step = Step {
            index: self.done,
            total: self.total,
            round,
            kind,
        };
        self.observer.step(&step, progress, work)
    }
}

/// A miner of `threads` on `kernel` (none: the calibrated kernels, as a node's miner).
fn new_miner(threads: usize, kernel: Option<KernelKind>) -> Result<Miner, BenchError> {
    Miner::new(MinerConfig {
        threads: Some(threads),
        kernel,
    })
    .map_err(|source| BenchError::StartMiner {
        threads,
        kernel: MiningKernels::settle(kernel).fastest,
        source,
    })
}

/// Runs every measurement of `plan` (see [the module](super)) and gathers the report;
/// `observer` sees each step.
///
/// # Errors
///
/// [`BenchError::StartMiner`] when a miner will not start (its thread pool, say).
pub fn run(plan: &BenchPlan, observer: &mut impl Observer) -> Result<BenchReport, BenchError> {
    let kernels = available_kernels();
    let kernel_miners = kernels
        .iter()
        .map(|&kind| new_miner(1, Some(kind)))
        .collect::<Result<Vec<_>, _>>()?;
    let per_round = 1 + plan.threads().len() + kernel_miners.len();
    let mut steps = Steps {
        done: 0,
        total: ROUNDS * (per_round + plan.difficulties().len()) + 1,
        observer,
    };

    // Interleaved rounds, best of each: other load on the machine only ever slows a
    // measurement down, and interleaving keeps the baseline and the miner side by side.
    // Every round's rate is kept until the end, for the spread between rounds.
    let sub_slice = plan.slice() / ROUNDS as u32;
    let mut baseline = Vec::with_capacity(ROUNDS);
    let mut thread_rounds = vec![Vec::with_capacity(ROUNDS); plan.threads().len()];
    let mut kernel_rounds = vec![Vec::with_capacity(ROUNDS); kernel_miners.len()];
    for round in 1..=ROUNDS {
        baseline.push(steps.run(Some(round), StepKind::Baseline, None, || {
            baseline_compress_per_s(sub_slice)
        }));
        // Each thread count's miner lives for its own measurement only: a list of large
        // counts must not have all their threads started at once (the counts are
        // bounded one by one, not in sum).
        for (&threads, rounds) in plan.threads().iter().zip(&mut thread_rounds) {
            let miner = new_miner(threads, plan.requested_kernel())?;
            let kind = StepKind::Threads {
                threads: miner.threads(),
                kernel: miner.kernel(),
            };
            rounds.push(steps.run(Some(round), kind, Some(&miner.progress()), || {
                peak_attempts_per_s(&miner, sub_slice)
            }));
        }
        for (miner, rounds) in kernel_miners.iter().zip(&mut kernel_rounds) {
            let kind = StepKind::Kernel(miner.kernel());
            rounds.push(steps.run(Some(round), kind, Some(&miner.progress()), || {
                peak_attempts_per_s(miner, sub_slice)
            }));
        }
    }
    let best = |rounds: &[f64]| rounds.iter().copied().fold(0.0, f64::max);
    // The widest spread of any measurement, named as the progress line names it.
    let (round_spread, round_spread_of) = plan
        .threads()
        .iter()
        .zip(&thread_rounds)
        .map(|(n, rounds)| (spread(rounds), format!("{n} threads")))
        .chain(
            kernels
                .iter()
                .zip(&kernel_rounds)
                .map(|(kind, rounds)| (spread(rounds), format!("kernel {kind}"))),
        )
        .fold((spread(&baseline), "baseline".to_owned()), |widest, row| {
            if row.0 > widest.0 { row } else { widest }
        });
    let baseline_compress_per_s = best(&baseline);
    let threads: Vec<ThreadRate> = plan
        .threads()
        .iter()
        .zip(&thread_rounds)
        .map(|(&n, rounds)| ThreadRate {
            n,
            attempts_per_s: best(rounds),
        })
        .collect();
    let kernel_rates: Vec<KernelRate> = kernels
        .iter()
        .zip(&kernel_rounds)
        .map(|(kind, rounds)| KernelRate {
            name: kind.name().to_owned(),
            attempts_per_s: best(rounds),
        })
        .collect();
    drop(kernel_miners);

    let miner = new_miner(plan.largest_threads(), plan.requested_kernel())?;
    let progress = miner.progress();
    let mut slices = vec![BlockSlice::default(); plan.difficulties().len()];
    // The peaks beside each row, summed over the rounds (equal windows: their mean).
    let mut peaks_beside = vec![0.0f64; plan.difficulties().len()];
    for round in 1..=ROUNDS {
        let rows = plan.difficulties().iter().zip(&mut slices);
        for ((&difficulty, total), peaks) in rows.zip(&mut peaks_beside) {
            let kind = StepKind::Difficulty(difficulty);
            let (slice, peak) = steps.run(Some(round), kind, Some(&progress), || {
                mine_blocks_beside_peak(&miner, Difficulty::new(difficulty), sub_slice)
            });
            total.add(slice);
            *peaks += peak;
        }
    }
    let by_difficulty: Vec<DifficultyRate> = plan
        .difficulties()
        .iter()
        .zip(slices)
        .zip(peaks_beside)
        .map(|((&difficulty, total), peaks)| total.rate(difficulty, peaks / ROUNDS as f64))
        .collect();

    let mut latencies = steps.run(None, StepKind::CancelLatency, Some(&progress), || {
        cancel_latencies(&miner, CancelQuota::for_slice(plan.slice()))
    });
    latencies.sort_unstable();

    let rate_at = |n: usize| {
        threads
            .iter()
            .find(|t| t.n == n)
            .map_or(0.0, |t| t.attempts_per_s)
    };
    let one_thread = rate_at(1);
    let largest = rate_at(plan.largest_threads());
    Ok(BenchReport {
        baseline_compress_per_s,
        ratio_per_core: ratio(one_thread, baseline_compress_per_s),
        scaling: ratio(largest, one_thread),
        round_spread,
        round_spread_of,
        threads,
        by_difficulty,
        cancel_p50_us: percentile(&latencies, 50.0).as_secs_f64() * 1e6,
        cancel_p99_us: percentile(&latencies, 99.0).as_secs_f64() * 1e6,
        cancels: latencies.len(),
        kernel: plan.kernel().name().to_owned(),
        low_difficulty_kernel: plan.low_difficulty_kernel().name().to_owned(),
        kernels: kernel_rates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::miner::bench::cancel::MIN_CANCELS;
    use crate::miner::bench::plan::BenchConfig;

    /// Counts the steps and notes their text.
    #[derive(Default)]
    struct Recorder {
        steps: Vec<Step>,
    }

    impl Observer for Recorder {
        fn step<T>(&mut self, step: &Step, _: Option<&Progress>, work: impl FnOnce() -> T) -> T {
            self.steps.push(*step);
            work()
        }
    }

    /// A tiny run: every row is there, the steps are numbered 1 to the total in the
    /// interleaved order, and the cancel latency is last.
    #[test]
    fn tiny_run_reports_every_row() {
        let plan = BenchPlan::new(&BenchConfig {
            threads: vec![1],
            secs: 0.003,
            difficulties: vec![1],
            kernel: Some(KernelKind::Portable),
        })
        .expect("a good config");
        let mut recorder = Recorder::default();
        let report = run(&plan, &mut recorder).expect("a one-thread portable miner starts");
        let kernels = available_kernels().len();
        assert_eq!(report.threads.len(), 1);
        assert_eq!(report.threads[0].n, 1);
        assert_eq!(report.kernels.len(), kernels);
        assert_eq!(report.by_difficulty.len(), 1);
        assert_eq!(report.by_difficulty[0].difficulty, 1);
        assert_eq!(report.kernel, "portable");
        assert!(report.cancels >= MIN_CANCELS);
        assert!(report.cancel_p50_us <= report.cancel_p99_us);
        assert!((0.0..=1.0).contains(&report.round_spread));
        let of = report.round_spread_of.as_str();
        let named = of == "baseline"
            || of == "1 threads"
            || report
                .kernels
                .iter()
                .any(|k| of == format!("kernel {}", k.name));
        assert!(named, "{of:?} names no measured row");

        let total = ROUNDS * (1 + 1 + kernels + 1) + 1;
        assert_eq!(recorder.steps.len(), total);
        for (i, step) in recorder.steps.iter().enumerate() {
            assert_eq!((step.index, step.total), (i + 1, total));
        }
        assert_eq!(
            recorder.steps[0].to_string(),
            "round 1/6: baseline compress256, 1 thread"
        );
        assert_eq!(
            recorder.steps[1].to_string(),
            "round 1/6: 1 threads, portable"
        );
        assert_eq!(
            recorder.steps[total - 2].to_string(),
            "round 6/6: blocks at difficulty 1, peak beside"
        );
        assert_eq!(recorder.steps[total - 1].to_string(), "cancel latency");
    }
}
