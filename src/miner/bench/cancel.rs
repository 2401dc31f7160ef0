//! Cancel latency: from `CancelToken::cancel` to `Miner::mine` returning, with every
//! worker busy at a difficulty no hash meets. One way of measuring it, shared by
//! `minichain bench` and the criterion bench.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::rates::pinned_job;
use crate::chain::{Difficulty, genesis};
use crate::miner::{CancelToken, MineOutcome, Miner};

/// The fewest cancels `minichain bench` measures, however short the slice (unless they
/// run past [`MAX_CANCEL_TIME`]).
pub const MIN_CANCELS: usize = 100;

/// The longest `minichain bench` spends on cancels beyond its slice: 100 cancels take
/// about a quarter of a second when the workers have a core each, but with many more
/// workers than cores each cancel waits for every worker to be scheduled (64 workers on
/// 2 cores: 0.15 s a cancel), and the run must still end in about the time asked for.
pub const MAX_CANCEL_TIME: Duration = Duration::from_secs(3);

/// How many cancels [`cancel_latencies`] measures: at least `min_cancels`, and as many
/// more as fit in `min_time`, but none started after `max_time` (one at least).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancelQuota {
    /// The fewest cancels.
    pub min_cancels: usize,
    /// Cancels go on until this much time has passed (and `min_cancels` are done).
    pub min_time: Duration,
    /// No cancel starts after this much time, `min_cancels` or not (one always runs).
    pub max_time: Duration,
}

impl CancelQuota {
    /// `minichain bench`'s quota: at least [`MIN_CANCELS`], as many as fit in `slice`,
    /// and none started past `slice` or [`MAX_CANCEL_TIME`], whichever is longer.
    pub fn for_slice(slice: Duration) -> Self {
        CancelQuota {
            min_cancels: MIN_CANCELS,
            min_time: slice,
            max_time: slice.max(MAX_CANCEL_TIME),
        }
    }

    /// Exactly `cancels` cancels, however long they take (criterion's iterations).
    pub fn exactly(cancels: usize) -> Self {
        CancelQuota {
            min_cancels: cancels,
            min_time: Duration::ZERO,
            max_time: Duration::MAX,
        }
    }

    /// Whether another cancel is due after `done` of them in `elapsed`.
    fn wants_more(&self, done: usize, elapsed: Duration) -> bool {
        let short = done < self.min_cancels || elapsed < self.min_time;
        short && (done == 0 || elapsed < self.max_time)
    }
}

/// Cancel latencies, from `cancel()` to `mine` returning, with every worker busy at a
/// difficulty no hash meets, as many as `quota` asks, in the order measured.
///
/// This thread mines; a canceller thread waits until the search runs, lets it run a
/// pseudo-random 1 to 3 ms (so cancels land anywhere in a chunk), notes the time and
/// cancels.
pub fn cancel_latencies(miner: &Miner, quota: CancelQuota) -> Vec<Duration> {
    let job = pinned_job(genesis(), Difficulty::new(256));
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
        while quota.wants_more(latencies.len(), started.elapsed()) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::miner::{KernelKind, MinerConfig};

    /// An exact quota gives exactly that many latencies, each well under a second.
    #[test]
    fn exact_quota_measures_that_many() {
        let miner = Miner::new(MinerConfig {
            threads: Some(1),
            kernel: Some(KernelKind::Portable),
        })
        .expect("a one-thread portable miner starts");
        let latencies = cancel_latencies(&miner, CancelQuota::exactly(3));
        assert_eq!(latencies.len(), 3);
        assert!(latencies.iter().all(|l| *l < Duration::from_secs(1)));
        assert!(cancel_latencies(&miner, CancelQuota::exactly(0)).is_empty());
    }

    /// The bench's quota stops starting cancels past its time limit, with 100 not yet
    /// done, but always measures one; below it, it wants the fewest and the time.
    #[test]
    fn the_bench_quota_is_bounded_in_time() {
        let quota = CancelQuota::for_slice(Duration::from_millis(10));
        assert_eq!(quota.max_time, MAX_CANCEL_TIME);
        assert!(quota.wants_more(0, Duration::from_secs(60)), "one at least");
        assert!(quota.wants_more(5, Duration::from_secs(1)));
        assert!(!quota.wants_more(5, MAX_CANCEL_TIME));
        assert!(quota.wants_more(MIN_CANCELS - 1, Duration::from_millis(20)));
        assert!(!quota.wants_more(MIN_CANCELS, Duration::from_millis(20)));
        assert!(quota.wants_more(MIN_CANCELS, Duration::from_millis(5)));
        let long = CancelQuota::for_slice(Duration::from_secs(10));
        assert!(
            long.wants_more(MIN_CANCELS, Duration::from_secs(9)),
            "the slice is kept"
        );
        assert!(!CancelQuota::exactly(3).wants_more(3, Duration::ZERO));
        assert!(CancelQuota::exactly(3).wants_more(2, Duration::from_secs(3600)));
    }
}
