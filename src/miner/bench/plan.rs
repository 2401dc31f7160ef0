//! What a benchmark run measures: the caller's wishes ([`BenchConfig`]) checked and
//! completed once ([`BenchPlan`]), so that the run itself cannot fail on them.

use std::time::Duration;

use thiserror::Error;

use crate::chain::pow::MAX_MEETABLE_DIFFICULTY;
use crate::miner::kernel::MiningKernels;
use crate::miner::{KernelKind, MAX_THREADS, default_threads};

/// Rounds of the baseline, thread, kernel and difficulty measurements, each a sixth of
/// the seconds per measurement: the baseline, thread and kernel rates keep their best
/// round. Load from others only slows a measurement down, so more rounds give more
/// chances of a quiet one: on a shared 2-core AMD EPYC Zen 3, five runs of six rounds
/// against three, in turn, read the 1-thread rate higher in four pairs (2.04-2.34x the
/// baseline against 1.75-2.34x) in the same total time.
pub const ROUNDS: usize = 6;

/// The longest measurement a plan accepts, in seconds: an hour.
const MAX_SECS: f64 = 3600.0;

/// The shortest time per measurement: a millisecond, six rounds of about 170 µs. Below
/// it a round is a few batches or none (1e-300 s made every rate of a run zero).
const MIN_SECS: f64 = 0.001;

/// What the caller asks to measure, unchecked: the `minichain bench` flags as values.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    /// Thread counts to measure (empty: the number of CPUs); 1 is always added, as the
    /// reference for the per-core ratio and the scaling.
    pub threads: Vec<usize>,
    /// Seconds per measurement: the baseline, each thread count and each kernel (each
    /// over [`ROUNDS`] interleaved rounds), each difficulty, the cancel latency.
    pub secs: f64,
    /// Difficulties (leading zero bits) for the blocks-by-difficulty measurement (the
    /// plan measures them smallest first, each once).
    pub difficulties: Vec<u32>,
    /// Kernel for the thread, difficulty and cancel measurements (`None`: the fastest
    /// here, picked by a short calibration).
    pub kernel: Option<KernelKind>,
}

impl Default for BenchConfig {
    /// The `minichain bench` defaults: the CPU count, one second, difficulties 8 to 24
    /// in steps of 4, the fastest kernel.
    fn default() -> Self {
        BenchConfig {
            threads: Vec::new(),
            secs: 1.0,
            difficulties: vec![8, 12, 16, 20, 24],
            kernel: None,
        }
    }
}

/// Why a [`BenchConfig`] cannot be run.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum BenchPlanError {
    /// The seconds per measurement are not between a millisecond and an hour.
    #[error("seconds per measurement must be between 0.001 and 3600, got {0:?}")]
    Secs(f64),
    /// A thread count is zero.
    #[error("thread counts must be at least 1")]
    ZeroThreads,
    /// A thread count above [`MAX_THREADS`].
    #[error("thread counts must be at most {MAX_THREADS}, got {0}")]
    TooManyThreads(usize),
    /// A difficulty above 256 bits, which no SHA-256 hash can meet.
    #[error("difficulty {0} is above {MAX_MEETABLE_DIFFICULTY} (a SHA-256 hash has 256 bits)")]
    Difficulty(u32),
    /// The requested kernel does not run on this CPU.
    #[error("kernel {0} is not available on this CPU")]
    KernelUnavailable(KernelKind),
}

/// A checked [`BenchConfig`]: sorted thread counts with 1 among them, the time per
/// measurement, and the kernel settled (calibrated here when none was asked for).
#[derive(Debug, Clone, PartialEq)]
pub struct BenchPlan {
    threads: Vec<usize>,
    slice: Duration,
    difficulties: Vec<u32>,
    /// The kernel asked for, if one was.
    requested: Option<KernelKind>,
    kernels: MiningKernels,
}

impl BenchPlan {
    /// Checks `config` and completes it; picks the fastest kernel (a calibration of
    /// about 64 ms, once per process) when the config names none.
    ///
    /// # Errors
    ///
    /// [`BenchPlanError`] for seconds that are not positive or above an hour, a zero
    /// thread count or one above [`MAX_THREADS`], a difficulty above 256, or a kernel
    /// this CPU cannot run.
    pub fn new(config: &BenchConfig) -> Result<BenchPlan, BenchPlanError> {
        if !(config.secs.is_finite() && (MIN_SECS..=MAX_SECS).contains(&config.secs)) {
            return Err(BenchPlanError::Secs(config.secs));
        }
        if config.threads.contains(&0) {
            return Err(BenchPlanError::ZeroThreads);
        }
        if let Some(&n) = config.threads.iter().find(|&&n| n > MAX_THREADS) {
            return Err(BenchPlanError::TooManyThreads(n));
        }
        if let Some(&difficulty) = config
            .difficulties
            .iter()
            .find(|&&d| d > MAX_MEETABLE_DIFFICULTY)
        {
            return Err(BenchPlanError::Difficulty(difficulty));
        }
        let threads = thread_counts(&config.threads);
        if let Some(kind) = config.kernel
            && !kind.is_available()
        {
            return Err(BenchPlanError::KernelUnavailable(kind));
        }
        Ok(BenchPlan {
            threads,
            slice: Duration::from_secs_f64(config.secs),
            difficulties: sorted_once(&config.difficulties),
            requested: config.kernel,
            kernels: MiningKernels::settle(config.kernel),
        })
    }

    /// The thread counts to measure, smallest first, 1 among them.
    pub fn threads(&self) -> &[usize] {
        &self.threads
    }

    /// The largest thread count: the one the difficulty and cancel measurements use.
    pub fn largest_threads(&self) -> usize {
        self.threads.last().copied().unwrap_or(1)
    }

    /// The time per measurement (each rate's rounds together).
    pub fn slice(&self) -> Duration {
        self.slice
    }

    /// The difficulties for the blocks-by-difficulty measurement, smallest first, each
    /// once (the table and the plot's lines run along them).
    pub fn difficulties(&self) -> &[u32] {
        &self.difficulties
    }

    /// The kernel for the thread, difficulty and cancel measurements.
    pub fn kernel(&self) -> KernelKind {
        self.kernels.fastest
    }

    /// The kernel for blocks at difficulties up to
    /// [`LOW_DIFFICULTY_MAX`](crate::miner::kernel::calibrate::LOW_DIFFICULTY_MAX), as the
    /// miner picks it (the kernel asked for, when one was).
    pub fn low_difficulty_kernel(&self) -> KernelKind {
        self.kernels.low_difficulty
    }

    /// The kernel asked for, if one was: what the miners are built with, so that without
    /// one they pick their kernels as a node's miner does.
    pub fn requested_kernel(&self) -> Option<KernelKind> {
        self.requested
    }
}

/// The thread counts measured for `requested` (empty: the number of CPUs, at most
/// [`MAX_THREADS`]): those, with
/// 1 added, smallest first, each once. Shared with the criterion benches, so that both
/// measure the same counts.
pub fn thread_counts(requested: &[usize]) -> Vec<usize> {
    let mut threads = if requested.is_empty() {
        vec![default_threads()]
    } else {
        requested.to_vec()
    };
    threads.push(1);
    threads.sort_unstable();
    threads.dedup();
    threads
}

/// `values` smallest first, each once: a difficulty asked for twice is measured once,
/// and the plot's lines join the rows in the order of their difficulties.
fn sorted_once(values: &[u32]) -> Vec<u32> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BenchConfig {
        BenchConfig {
            kernel: Some(KernelKind::Portable),
            ..BenchConfig::default()
        }
    }

    /// 1 is always measured, counts come sorted and once each.
    #[test]
    fn thread_counts_add_one_sorted_once() {
        assert_eq!(thread_counts(&[4, 2, 4]), vec![1, 2, 4]);
        assert_eq!(thread_counts(&[1]), vec![1]);
        let mut expected = vec![1, default_threads()];
        expected.dedup();
        assert_eq!(thread_counts(&[]), expected);
    }

    /// Each bad value is refused with its own error; a good config is completed.
    #[test]
    fn plans_check_the_config() {
        for secs in [0.0, 1e-300, 0.0009, -1.0, f64::NAN, f64::INFINITY, 3600.5] {
            let bad = BenchConfig { secs, ..config() };
            assert!(matches!(BenchPlan::new(&bad), Err(BenchPlanError::Secs(_))));
        }
        let bad = BenchConfig {
            threads: vec![2, 0],
            ..config()
        };
        assert_eq!(BenchPlan::new(&bad), Err(BenchPlanError::ZeroThreads));
        let bad = BenchConfig {
            difficulties: vec![8, 257],
            ..config()
        };
        assert_eq!(BenchPlan::new(&bad), Err(BenchPlanError::Difficulty(257)));
        for kind in KernelKind::ALL.into_iter().filter(|k| !k.is_available()) {
            let bad = BenchConfig {
                kernel: Some(kind),
                ..config()
            };
            assert_eq!(
                BenchPlan::new(&bad),
                Err(BenchPlanError::KernelUnavailable(kind))
            );
        }
        let plan = BenchPlan::new(&BenchConfig {
            threads: vec![3],
            secs: 0.5,
            ..config()
        })
        .expect("a good config");
        assert_eq!(plan.threads(), [1, 3]);
        assert_eq!(plan.largest_threads(), 3);
        assert_eq!(plan.slice(), Duration::from_millis(500));
        assert_eq!(plan.difficulties(), [8, 12, 16, 20, 24]);
        assert_eq!(plan.kernel(), KernelKind::Portable);
    }

    /// Difficulties come smallest first and once each, whatever order they were given in.
    #[test]
    fn difficulties_are_sorted_once() {
        let plan = BenchPlan::new(&BenchConfig {
            difficulties: vec![8, 1, 4, 4, 20],
            ..config()
        })
        .expect("a good config");
        assert_eq!(plan.difficulties(), [1, 4, 8, 20]);
    }
}
