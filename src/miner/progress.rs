//! Attempt counters the workers bump and anyone may read without a lock: the CLI's live
//! hash rate now, the node's status, metrics and live events later.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering, fence};
use std::time::Instant;

use super::cache_line::CacheLine;

/// Progress of a [`Miner`](super::Miner): attempts per worker, whether a job runs, and
/// the epoch being searched (its timestamp and difficulty), all plain atomics.
///
/// Readers see each value on its own (a reader may see a new timestamp with the previous
/// difficulty for an instant); that is fine for rates and status lines.
#[derive(Debug)]
pub struct Progress {
    /// One counter per worker, each on its own cache line so that workers never contend.
    workers: Vec<CacheLine<AtomicU64>>,
    mining: AtomicBool,
    /// Twice the epochs started, plus one while an epoch's values change.
    epoch_seq: AtomicU64,
    epoch_timestamp_ms: AtomicU64,
    epoch_difficulty: AtomicU32,
    blocks_found: AtomicU64,
}

impl Progress {
    pub(crate) fn new(workers: usize) -> Self {
        Progress {
            workers: (0..workers).map(|_| CacheLine::default()).collect(),
            mining: AtomicBool::new(false),
            epoch_seq: AtomicU64::new(0),
            epoch_timestamp_ms: AtomicU64::new(0),
            epoch_difficulty: AtomicU32::new(0),
            blocks_found: AtomicU64::new(0),
        }
    }

    /// Adds `attempts` to `worker`'s counter (an out-of-range worker is ignored).
    ///
    /// Each worker's counter has one writer, that worker's thread (worker 0 is the one
    /// thread in `Miner::mine`), so a load and a store do: no locked instruction, which
    /// would wait for the worker's pending stores to other cores' cache lines.
    pub(crate) fn add(&self, worker: usize, attempts: u64) {
        if let Some(c) = self.workers.get(worker) {
            let before = c.0.load(Ordering::Relaxed);
            c.0.store(before.wrapping_add(attempts), Ordering::Relaxed);
        }
    }

    /// Marks a search as running until the returned guard is dropped: on every way
    /// out of the search, a panic unwinding through it included, so that
    /// [`Progress::is_mining`] never reports a search that has ended.
    pub(crate) fn mining(&self) -> MiningFlag<'_> {
        self.mining.store(true, Ordering::Relaxed);
        MiningFlag { progress: self }
    }

    /// Records the start of an epoch: the timestamp and difficulty every attempt in it
    /// uses. A sequence lock (the search thread is the only writer): the sequence is odd
    /// while the two values change, so [`Progress::epoch`] never pairs one epoch's
    /// timestamp with another's difficulty.
    pub(crate) fn start_epoch(&self, timestamp_ms: u64, difficulty: u32) {
        let seq = self.epoch_seq.load(Ordering::Relaxed);
        self.epoch_seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.epoch_timestamp_ms
            .store(timestamp_ms, Ordering::Relaxed);
        self.epoch_difficulty.store(difficulty, Ordering::Relaxed);
        self.epoch_seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// Counts a block found (only the searching thread writes it; see [`Self::add`]).
    pub(crate) fn block_found(&self) {
        let before = self.blocks_found.load(Ordering::Relaxed);
        self.blocks_found
            .store(before.wrapping_add(1), Ordering::Relaxed);
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

    /// Epochs started since the miner was built: each has a fresh timestamp and a
    /// difficulty re-evaluated from the policy.
    pub fn epochs(&self) -> u64 {
        self.epoch_seq.load(Ordering::Acquire) / 2
    }

    /// The latest epoch: its number, timestamp and difficulty, read consistently
    /// without a lock, so a node can show what it mines at.
    pub fn epoch(&self) -> EpochStatus {
        loop {
            let before = self.epoch_seq.load(Ordering::Acquire);
            let timestamp_ms = self.epoch_timestamp_ms.load(Ordering::Relaxed);
            let difficulty = self.epoch_difficulty.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            let after = self.epoch_seq.load(Ordering::Relaxed);
            if before == after && before.is_multiple_of(2) {
                return EpochStatus {
                    number: before / 2,
                    timestamp_ms,
                    difficulty,
                };
            }
            std::hint::spin_loop();
        }
    }

    /// Blocks this miner has found (and returned) since it was built.
    pub fn blocks_found(&self) -> u64 {
        self.blocks_found.load(Ordering::Relaxed)
    }
}

/// Holds [`Progress::is_mining`] true while it lives (see [`Progress::mining`]).
#[derive(Debug)]
#[must_use = "the flag is cleared when the guard is dropped"]
pub(crate) struct MiningFlag<'a> {
    progress: &'a Progress,
}

impl Drop for MiningFlag<'_> {
    fn drop(&mut self) {
        self.progress.mining.store(false, Ordering::Relaxed);
    }
}

/// A consistent snapshot of the epoch being searched (see [`Progress::epoch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochStatus {
    /// How many epochs had started (this one included); 0 before the first.
    pub number: u64,
    /// The epoch's block timestamp, ms since the Unix epoch (0 before the first).
    pub timestamp_ms: u64,
    /// The epoch's difficulty, leading zero bits (0 before the first).
    pub difficulty: u32,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Counters add up per worker; an out-of-range worker index is ignored.
    #[test]
    fn counters_add_per_worker() {
        let progress = Progress::new(2);
        progress.add(0, 5);
        progress.add(1, 7);
        progress.add(9, 100);
        assert_eq!(progress.per_worker_attempts(), vec![5, 7]);
        assert_eq!(progress.total_attempts(), 12);
    }

    /// The mining flag is set while its guard lives and cleared when it is dropped,
    /// also when a panic unwinds through the search holding it.
    #[test]
    fn the_mining_flag_clears_on_every_exit() {
        let progress = Progress::new(1);
        {
            let _flag = progress.mining();
            assert!(progress.is_mining());
        }
        assert!(!progress.is_mining());
        let unwound = std::panic::catch_unwind(|| {
            let _flag = progress.mining();
            assert!(progress.is_mining());
            panic!("a search that fails");
        });
        assert!(unwound.is_err());
        assert!(!progress.is_mining(), "a panic left the flag set");
    }

    /// An epoch's timestamp and difficulty are readable once its count is.
    #[test]
    fn epochs_record_timestamp_and_difficulty() {
        let progress = Progress::new(1);
        assert_eq!(progress.epochs(), 0);
        progress.start_epoch(1_700_000_000_000, 19);
        assert_eq!(progress.epochs(), 1);
        let epoch = progress.epoch();
        assert_eq!(
            epoch,
            EpochStatus {
                number: 1,
                timestamp_ms: 1_700_000_000_000,
                difficulty: 19
            }
        );
    }
}
