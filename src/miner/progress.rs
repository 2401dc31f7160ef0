//! Attempt counters the workers bump and anyone may read without a lock.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// One counter per worker, each on its own cache line so that workers never contend.
#[repr(align(128))]
#[derive(Debug, Default)]
struct PaddedCounter(AtomicU64);

/// Progress of a [`Miner`](super::Miner): attempts per worker, and whether a job runs.
#[derive(Debug)]
pub struct Progress {
    workers: Vec<PaddedCounter>,
    mining: AtomicBool,
}

impl Progress {
    pub(crate) fn new(workers: usize) -> Self {
        Progress {
            workers: (0..workers).map(|_| PaddedCounter::default()).collect(),
            mining: AtomicBool::new(false),
        }
    }

    pub(crate) fn add(&self, worker: usize, attempts: u64) {
        if let Some(c) = self.workers.get(worker) {
            c.0.fetch_add(attempts, Ordering::Relaxed);
        }
    }

    pub(crate) fn set_mining(&self, on: bool) {
        self.mining.store(on, Ordering::Relaxed);
    }

    /// Attempts made by every worker since the miner was built.
    pub fn total_attempts(&self) -> u64 {
        self.workers
            .iter()
            .map(|c| c.0.load(Ordering::Relaxed))
            .sum()
    }

    /// Attempts made by each worker.
    pub fn per_worker_attempts(&self) -> Vec<u64> {
        self.workers
            .iter()
            .map(|c| c.0.load(Ordering::Relaxed))
            .collect()
    }

    /// Whether a search is running now.
    pub fn is_mining(&self) -> bool {
        self.mining.load(Ordering::Relaxed)
    }
}

/// Turns successive reads of [`Progress::total_attempts`] into a rate.
#[derive(Debug, Clone, Copy)]
pub struct RateMeter {
    at: Instant,
    attempts: u64,
}

impl RateMeter {
    /// A meter starting now from `attempts`.
    pub fn new(attempts: u64) -> Self {
        RateMeter {
            at: Instant::now(),
            attempts,
        }
    }

    /// Attempts per second since the last call (or since `new`), and restart from here.
    pub fn rate(&mut self, attempts: u64) -> f64 {
        let now = Instant::now();
        let secs = now.duration_since(self.at).as_secs_f64();
        let delta = attempts.saturating_sub(self.attempts);
        self.at = now;
        self.attempts = attempts;
        if secs > 0.0 { delta as f64 / secs } else { 0.0 }
    }
}
