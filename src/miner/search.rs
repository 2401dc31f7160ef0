//! The parallel search: epochs of at most 100 ms, each with a fresh timestamp (and so
//! a fresh difficulty from the policy) and its own template variant, split across the
//! pool's workers in chunks of counters claimed from one shared counter.
//!
//! Why no (timestamp, nonce) pair is tried twice:
//! - within an epoch, chunk `i` is the counters `i * CHUNK .. (i + 1) * CHUNK`, and each
//!   index is handed out once by a `fetch_add` ([`EpochShared::claim`]);
//! - across epochs of one job, each epoch's template has its own variant, and distinct
//!   variants give nonces with distinct head digits (see [`super::layout`]), so no two
//!   epochs share a nonce, even when the clock has not moved between them.
//!
//! Why cancellation is quick: every worker checks the token every [`CANCEL_STRIDE`]
//! attempts (tens of microseconds of work on any kernel), and the epoch's deadline and
//! the "someone found it" flag before each chunk of [`CHUNK`] attempts.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::layout::MiningTemplate;
use super::{CancelToken, MineJob, MineOutcome, Miner};
use crate::chain::data::RawJson;
use crate::chain::hash::{block_hash, write_preimage_prefix};
use crate::chain::pow::MAX_MEETABLE_DIFFICULTY;
use crate::chain::validate::now_ms;
use crate::chain::{Block, Difficulty, Nonce, next_difficulty};

/// Attempts per chunk: at 25 to 60 million attempts per second per core (the portable
/// kernel to SHA-NI), a chunk takes 0.15 to 0.35 ms, which bounds cancel latency well
/// under a millisecond on every kernel; the per-chunk bookkeeping (one shared
/// `fetch_add`, a clock read) stays under 0.1% of the work.
pub(crate) const CHUNK: u64 = 1 << 13;

/// Attempts between two looks at the cancel token inside a chunk: 20 to 40 µs of
/// work, so a cancelled worker stops that soon, for one relaxed load per slice.
pub(crate) const CANCEL_STRIDE: u64 = 1 << 10;

/// How long one timestamp is used before the clock is read again (the original reads
/// it on every attempt; 100 ms keeps timestamps honest at a negligible cost).
pub(crate) const EPOCH: Duration = Duration::from_millis(100);

/// How often an epoch with nothing to search (an unmeetable difficulty) looks at the
/// cancel token.
const IDLE_POLL: Duration = Duration::from_millis(1);

/// Runs the search for `job` on `miner`'s pool until a block is found or `cancel` fires.
pub(crate) fn run(miner: &Miner, job: &MineJob, cancel: &CancelToken) -> MineOutcome {
    let mut planner = EpochPlanner::new(job);
    loop {
        if cancel.is_cancelled() {
            return MineOutcome::Cancelled;
        }
        let epoch = planner.next_epoch(now_ms());
        miner
            .progress
            .start_epoch(epoch.timestamp, epoch.difficulty.bits());
        let deadline = Instant::now() + EPOCH;
        let Some(template) = &epoch.template else {
            wait_out_epoch(deadline, cancel);
            continue;
        };
        if let Some(counter) = search_epoch(miner, template, epoch.difficulty, deadline, cancel) {
            match epoch.verified_block(counter) {
                Some(block) => {
                    miner.progress.block_found();
                    return MineOutcome::Found(block);
                }
                // A kernel bug; the rest of this epoch is given up, the search goes on.
                None => debug_assert!(false, "kernel {} reported a false hit", miner.kernel),
            }
        }
    }
}

/// Plans a job's epochs: the preimage prefix for each timestamp, the difficulty from the
/// policy, and a variant never used before in this job.
#[derive(Debug)]
struct EpochPlanner<'a> {
    job: &'a MineJob,
    block_no: u64,
    /// The job's data as blocks hold it, its `str()` rendered once per job.
    data: RawJson,
    prefix: Vec<u8>,
    next_variant: u64,
}

/// One epoch: what every attempt in it shares.
#[derive(Debug)]
struct Epoch<'a> {
    job: &'a MineJob,
    block_no: u64,
    data: RawJson,
    timestamp: u64,
    difficulty: Difficulty,
    /// `None` when there is nothing to search: a difficulty no hash meets, or (after
    /// about 10^30 epochs) no variant left.
    template: Option<MiningTemplate>,
}

impl<'a> EpochPlanner<'a> {
    fn new(job: &'a MineJob) -> Self {
        EpochPlanner {
            job,
            block_no: job.prev.block_no + 1,
            data: RawJson::from(&job.data),
            prefix: Vec::with_capacity(256),
            next_variant: 0,
        }
    }

    /// The epoch starting at `timestamp`, with the difficulty the policy gives it.
    fn next_epoch(&mut self, timestamp: u64) -> Epoch<'a> {
        let job = self.job;
        let difficulty = job.fixed_difficulty.unwrap_or_else(|| {
            next_difficulty(
                job.prev.difficulty,
                job.prev.timestamp,
                timestamp,
                &job.policy,
            )
        });
        self.prefix.clear();
        write_preimage_prefix(
            self.block_no,
            timestamp,
            &self.data,
            &job.prev.hash,
            &mut self.prefix,
        );
        // Each epoch takes a new variant even when it searches nothing, so variants are
        // never reused within a job.
        let variant = self.next_variant;
        self.next_variant += 1;
        let template = (difficulty.bits() <= MAX_MEETABLE_DIFFICULTY)
            .then(|| {
                let suffix = difficulty.bits().to_string();
                MiningTemplate::new(&self.prefix, suffix.as_bytes(), variant).ok()
            })
            .flatten();
        Epoch {
            job,
            block_no: self.block_no,
            data: self.data.clone(),
            timestamp,
            difficulty,
            template,
        }
    }
}

impl Epoch<'_> {
    /// The block for `counter`, if the reference hash confirms it meets the difficulty.
    fn verified_block(&self, counter: u64) -> Option<Block> {
        let template = self.template.as_ref()?;
        if counter >= template.counter_limit() {
            return None;
        }
        let nonce = Nonce::from_digits(&template.nonce_string(counter)).ok()?;
        let mut block = Block {
            block_no: self.block_no,
            timestamp: self.timestamp,
            prev_hash: self.job.prev.hash.clone(),
            data: self.data.clone(),
            hash: String::new(),
            nonce,
            difficulty: self.difficulty,
        };
        let hash = block_hash(&block);
        self.difficulty.is_met_by(&hash).then(|| {
            block.hash = hash.to_hex();
            block
        })
    }
}

/// Sleeps through an epoch that has nothing to search, waking often for the token.
fn wait_out_epoch(deadline: Instant, cancel: &CancelToken) {
    while !cancel.is_cancelled() && Instant::now() < deadline {
        std::thread::sleep(IDLE_POLL);
    }
}

/// What the workers of one epoch share: the chunk counter, the stop flag, the deadline.
#[derive(Debug)]
struct EpochShared<'a> {
    next_chunk: AtomicU64,
    stop: AtomicBool,
    limit: u64,
    deadline: Instant,
    cancel: &'a CancelToken,
}

impl<'a> EpochShared<'a> {
    fn new(limit: u64, deadline: Instant, cancel: &'a CancelToken) -> Self {
        EpochShared {
            next_chunk: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            limit,
            deadline,
            cancel,
        }
    }

    /// The next chunk, `(start, count)`, or `None` when the epoch is over: a hit, a
    /// cancel, the deadline, or every counter handed out. Each chunk index is handed out
    /// once, so chunks never overlap.
    fn claim(&self) -> Option<(u64, u64)> {
        if self.stop.load(Ordering::Relaxed)
            || self.cancel.is_cancelled()
            || Instant::now() >= self.deadline
        {
            return None;
        }
        let index = self.next_chunk.fetch_add(1, Ordering::Relaxed);
        let start = index.checked_mul(CHUNK)?;
        (start < self.limit).then(|| (start, CHUNK.min(self.limit - start)))
    }

    /// One worker's share of the epoch: claims chunks and runs `search` on each until the
    /// epoch is over; `record` hears how many attempts each slice took (so the
    /// counters lag the work by one slice at most, and the attempts a worker makes
    /// after a cancel, the stale work, are counted to the slice). Returns the worker's
    /// hit, if any, and tells the others to stop.
    ///
    /// A chunk is searched in slices of [`CANCEL_STRIDE`] with a look at the cancel
    /// token between them, so a cancel waits for a slice, not a whole chunk. Only a
    /// cancel cuts a chunk short: a hit elsewhere must not, since a claimed chunk
    /// searched whole is what makes the smallest hit the first one in counter order.
    fn work(
        &self,
        mut search: impl FnMut(u64, u64) -> Option<u64>,
        mut record: impl FnMut(u64),
    ) -> Option<u64> {
        while let Some((start, count)) = self.claim() {
            let end = start + count;
            let mut at = start;
            while at < end {
                if self.cancel.is_cancelled() {
                    return None;
                }
                let slice = CANCEL_STRIDE.min(end - at);
                if let Some(hit) = search(at, slice) {
                    record(hit.saturating_sub(at) + 1);
                    self.stop.store(true, Ordering::Relaxed);
                    return Some(hit);
                }
                record(slice);
                at += slice;
            }
        }
        None
    }
}

/// Searches one template on every worker until a hit, the deadline, exhaustion or a
/// cancel; returns the smallest hit any worker found.
fn search_epoch(
    miner: &Miner,
    template: &MiningTemplate,
    difficulty: Difficulty,
    deadline: Instant,
    cancel: &CancelToken,
) -> Option<u64> {
    let shared = EpochShared::new(template.counter_limit(), deadline, cancel);
    let progress = &miner.progress;
    let kernel = miner.kernel;
    // `broadcast` runs the closure once on every worker of the pool, at the same time,
    // and returns when all are done: the pool is free for the next epoch or job.
    let hits = miner.pool.broadcast(|ctx| {
        let worker = ctx.index();
        // Per-job work (constant rounds, digit tables) once per worker and epoch.
        let mut job = kernel.try_prepare(template, difficulty.bits()).ok()?;
        shared.work(
            |start, count| job.search(start, count),
            |attempts| progress.add(worker, attempts),
        )
    });
    hits.into_iter().flatten().min()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Mutex;

    use super::*;
    use crate::chain::{DifficultyPolicy, Json, genesis};

    fn job_on(prev: Block, data: &str, fixed: Option<u32>) -> MineJob {
        MineJob {
            prev,
            data: Json::String(data.into()),
            policy: DifficultyPolicy::default(),
            fixed_difficulty: fixed.map(Difficulty::new),
        }
    }

    fn far_deadline() -> Instant {
        Instant::now() + Duration::from_secs(3600)
    }

    /// Four workers claiming chunks of one epoch get disjoint ranges that, together,
    /// cover every counter exactly once.
    #[test]
    fn chunks_are_disjoint_and_cover_the_template() {
        let cancel = CancelToken::new();
        let limit = 37 * CHUNK + 123;
        let shared = EpochShared::new(limit, far_deadline(), &cancel);
        let claimed = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    let hit = shared.work(
                        |start, count| {
                            mine.push(start..start + count);
                            None
                        },
                        |_| {},
                    );
                    assert_eq!(hit, None);
                    claimed.lock().expect("no panics").extend(mine);
                });
            }
        });
        let mut ranges = claimed.into_inner().expect("no panics");
        ranges.sort_by_key(|r| r.start);
        let mut next = 0;
        for range in ranges {
            assert_eq!(range.start, next, "gap or overlap at {next}");
            next = range.end;
        }
        assert_eq!(next, limit);
    }

    /// A hit stops every worker, and the smallest hit is the one in the first chunk that
    /// holds one (chunks are handed out in order, and a claimed chunk is searched whole).
    #[test]
    fn a_hit_stops_every_worker() {
        let cancel = CancelToken::new();
        let shared = EpochShared::new(1_000 * CHUNK, far_deadline(), &cancel);
        let hits = Mutex::new(Vec::new());
        let attempts = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    let hit = shared.work(
                        |start, _| (start >= 5 * CHUNK).then_some(start + 7),
                        |n| {
                            attempts.fetch_add(n, Ordering::Relaxed);
                        },
                    );
                    hits.lock().expect("no panics").push(hit);
                });
            }
        });
        let hits = hits.into_inner().expect("no panics");
        assert_eq!(hits.iter().flatten().min(), Some(&(5 * CHUNK + 7)));
        assert!(attempts.load(Ordering::Relaxed) < 1_000 * CHUNK);
    }

    /// A cancelled token ends the epoch before any chunk is claimed.
    #[test]
    fn a_cancelled_token_claims_nothing() {
        let cancel = CancelToken::new();
        cancel.cancel();
        let shared = EpochShared::new(10 * CHUNK, far_deadline(), &cancel);
        let mut searched = 0;
        let hit = shared.work(
            |_, _| {
                searched += 1;
                None
            },
            |_| {},
        );
        assert_eq!((hit, searched), (None, 0));
    }

    /// A cancel during a chunk stops it at the next slice, counting only the attempts
    /// made; a chunk with no cancel is searched whole, slice after slice.
    #[test]
    fn a_cancel_cuts_the_running_chunk_short() {
        const { assert!(CHUNK > 2 * CANCEL_STRIDE) };
        let cancel = CancelToken::new();
        let shared = EpochShared::new(10 * CHUNK, far_deadline(), &cancel);
        let mut slices = Vec::new();
        let mut recorded = 0;
        let hit = shared.work(
            |start, count| {
                slices.push((start, count));
                if start >= CHUNK + CANCEL_STRIDE {
                    cancel.cancel();
                }
                None
            },
            |n| recorded += n,
        );
        assert_eq!(hit, None);
        let per_chunk = CHUNK / CANCEL_STRIDE;
        assert_eq!(slices.len() as u64, per_chunk + 2, "{slices:?}");
        assert!(slices.iter().all(|&(_, count)| count == CANCEL_STRIDE));
        assert_eq!(slices[1], (CANCEL_STRIDE, CANCEL_STRIDE));
        assert_eq!(recorded, CHUNK + 2 * CANCEL_STRIDE);
    }

    /// A past deadline ends the epoch too.
    #[test]
    fn a_past_deadline_claims_nothing() {
        let cancel = CancelToken::new();
        let shared = EpochShared::new(10 * CHUNK, Instant::now(), &cancel);
        assert_eq!(shared.claim(), None);
    }

    /// Epochs of one job never share a nonce, even when the clock is stuck and the
    /// difficulty's width changes between epochs, for prefixes of every length mod 64:
    /// their head digits (all but the varying low digits) are pairwise distinct.
    #[test]
    fn epochs_never_reuse_a_nonce() {
        for data_len in 0..64 {
            let mut prev = genesis();
            prev.difficulty = Difficulty::new(10);
            prev.timestamp = 1_700_000_000_000;
            let job = job_on(prev.clone(), &"d".repeat(data_len), None);
            let mut planner = EpochPlanner::new(&job);
            let mut heads = HashSet::new();
            for i in 0..300u64 {
                // Alternate a fast timestamp (difficulty 11) and a slow one (9).
                let timestamp = prev.timestamp + if i % 2 == 0 { 10 } else { 5_000 };
                let epoch = planner.next_epoch(timestamp);
                let template = epoch.template.expect("meetable difficulty");
                let nonce = template.nonce_string(0);
                let head = nonce[..nonce.len() - template.digits_len()].to_owned();
                assert!(heads.insert(head), "head reused at epoch {i}");
            }
        }
    }

    /// The difficulty of each epoch follows the policy for its timestamp, unless pinned.
    #[test]
    fn epoch_difficulty_follows_the_policy() {
        let mut prev = genesis();
        prev.difficulty = Difficulty::new(10);
        prev.timestamp = 1_700_000_000_000;
        let job = job_on(prev.clone(), "x", None);
        let mut planner = EpochPlanner::new(&job);
        assert_eq!(
            planner.next_epoch(prev.timestamp + 100).difficulty,
            Difficulty::new(11)
        );
        assert_eq!(
            planner.next_epoch(prev.timestamp + 2_001).difficulty,
            Difficulty::new(9)
        );
        let pinned = job_on(prev.clone(), "x", Some(4));
        let mut planner = EpochPlanner::new(&pinned);
        assert_eq!(
            planner.next_epoch(prev.timestamp + 2_001).difficulty,
            Difficulty::new(4)
        );
    }

    /// A counter is returned as a block only when the reference hash confirms it; a
    /// difficulty no hash meets has no template at all.
    #[test]
    fn hits_are_reverified_by_the_reference_hash() {
        let job = job_on(genesis(), "x", Some(0));
        let epoch = EpochPlanner::new(&job).next_epoch(1_700_000_000_000);
        let block = epoch
            .verified_block(12)
            .expect("difficulty 0 is always met");
        assert!(block_hash(&block).matches_hex(&block.hash));
        assert_eq!(epoch.verified_block(u64::MAX), None);

        let hard = job_on(genesis(), "x", Some(256));
        let epoch = EpochPlanner::new(&hard).next_epoch(1_700_000_000_000);
        assert_eq!(epoch.verified_block(12), None);

        let impossible = job_on(genesis(), "x", Some(257));
        let epoch = EpochPlanner::new(&impossible).next_epoch(1_700_000_000_000);
        assert!(epoch.template.is_none());
    }
}
