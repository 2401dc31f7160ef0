//! The parallel search: epochs of at most 100 ms, each with a fresh timestamp (and so
//! a fresh difficulty from the policy) and its own template variant, shared out among
//! the miner's workers in stripes (see [`super::crew`]): the calling thread is worker 0,
//! the crew's helpers the others.
//!
//! Why no (timestamp, nonce) pair is tried twice:
//! - within an epoch, worker `w` of `n` tries slices `w, w + n, w + 2n, ...` only
//!   (see [`super::crew`]), so workers never share a counter;
//! - across epochs on one tip, each epoch's template has its own variant, and distinct
//!   variants give nonces with distinct head digits (see [`super::layout`]), so no two
//!   epochs share a nonce, even when the clock has not moved between them (a chain
//!   starts again at variant 0 on each new tip, whose preimages differ anyway: a new
//!   block number and previous hash).
//!
//! Why cancellation is quick: worker 0 looks at the token before each slice of at most
//! [`SLICE`] attempts (tens of microseconds of work on any kernel), and then posts "no
//! job", which the helpers' kernels see within a batch of lanes.
//!
//! Why a block at a low difficulty costs little beyond its hashing: the kernels look at
//! the epoch's stop signal between batches of lanes, so a hit stops every other worker
//! within a batch (a fraction of a microsecond), whatever the slice; worker 0 hands the
//! job to the helpers as a few words (no lock, no allocation), takes the found block's
//! hash from the template (one compression) and returns while the helpers spin for the
//! next job instead of parking; and no one waits for anyone at an epoch's end: worker 0
//! posts the next epoch and the helpers move to it within a batch.
//!
//! Why a chain ([`Miner::mine_chain`]) is cheaper per block than `mine` in a loop: the
//! next block's job depends on the found block only through its hash, so worker 0
//! posts it as soon as the hit is checked and builds the found block, hands it over and
//! comes back while the helpers already hash the next one. The epoch posted that way
//! keeps its 100 ms from its timestamp: a slow `on_block` eats into it, and one slower
//! than an epoch has it planned again with a fresh timestamp.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use super::crew::Leave;
use super::kernel::JobParts;
#[cfg(doc)]
use super::kernel::SLICE;
use super::layout::MiningTemplate;
use super::{CancelToken, MineJob, MineOutcome, Miner};
use crate::chain::block::{MAX_NONCE_DIGITS, fmt_u64};
use crate::chain::hash::{block_hash, write_preimage_prefix};
use crate::chain::pow::MAX_MEETABLE_DIFFICULTY;
use crate::chain::validate::{coarse_now_ms, now_ms};
use crate::chain::{Block, BlockHash, Difficulty, Nonce, next_difficulty};

/// How long one timestamp is used before the clock is read again (the original reads
/// it on every attempt; 100 ms keeps timestamps honest at a negligible cost).
pub(crate) const EPOCH: Duration = Duration::from_millis(100);

/// Worker 0 reads the clock for the epoch's deadline once per this many slices.
const DEADLINE_EVERY: u32 = 8;

/// How often an epoch with nothing to search (an unmeetable difficulty) looks at the
/// cancel token.
const IDLE_POLL: Duration = Duration::from_millis(1);

/// Runs the search for `job` on `miner`'s workers until a block is found or `cancel`
/// fires.
pub(crate) fn run(miner: &Miner, job: &MineJob, cancel: &CancelToken) -> MineOutcome {
    let mut found = None;
    // A hit stops the helpers already; a search left for any other reason (a cancel,
    // a panic) is taken back, which they see within a batch.
    let take_back = TakeBack(miner);
    search(miner, job, cancel, Found::Return(&mut found));
    match found {
        Some(block) => {
            std::mem::forget(take_back);
            MineOutcome::Found(block)
        }
        None => MineOutcome::Cancelled,
    }
}

/// Posts "no job" when dropped, on every way out of a search that may leave a job
/// posted, a panic included: the helpers must not hash on for no one.
struct TakeBack<'m>(&'m Miner);

impl Drop for TakeBack<'_> {
    fn drop(&mut self) {
        self.0.crew.post(None);
    }
}

/// Mines block after block on `job`, each on the last, handing each to `on_block`,
/// until it breaks or `cancel` fires; returns the blocks found.
pub(crate) fn run_chain(
    miner: &Miner,
    job: &MineJob,
    cancel: &CancelToken,
    on_block: &mut dyn FnMut(Block) -> ControlFlow<()>,
) -> u64 {
    // The next block's epoch is posted before `on_block` sees a block: it is taken
    // back on the way out, whichever way that is.
    let _take_back = TakeBack(miner);
    search(miner, job, cancel, Found::Chain(on_block))
}

/// What the search does with a block it finds.
enum Found<'f> {
    /// Puts it here and ends: the helpers are stopped by the hit and wait.
    Return(&'f mut Option<Block>),
    /// Posts the next block's first epoch (on the found one) to the helpers, then hands
    /// the found block over, and goes on unless told to stop.
    Chain(&'f mut dyn FnMut(Block) -> ControlFlow<()>),
}

/// An epoch whose job is posted: its generation, the parts worker 0 prepares, and how
/// long it has left (all of [`EPOCH`] but for one posted before a slow `on_block`).
struct Posted {
    epoch: Epoch,
    generation: u64,
    parts: Option<JobParts>,
    budget: Duration,
}

/// Plans the epoch at `timestamp` and posts it to the helpers.
fn post_next(miner: &Miner, planner: &mut EpochPlanner<'_>, timestamp: u64) -> Posted {
    let epoch = planner.next_epoch(timestamp);
    let parts = epoch.template.as_ref().map(|template| {
        let bits = epoch.difficulty.bits();
        JobParts::new(miner.kernel_for(bits), template, bits)
    });
    let generation = miner.crew.post(parts.as_ref());
    Posted {
        epoch,
        generation,
        parts,
        budget: EPOCH,
    }
}

/// The search proper: returns the blocks found, on the way out of a cancel, a
/// [`Found::Return`] or a [`Found::Chain`] that breaks.
fn search(miner: &Miner, job: &MineJob, cancel: &CancelToken, mut found: Found<'_>) -> u64 {
    let mut planner = EpochPlanner::new(job);
    let mut blocks = 0u64;
    // The epoch posted with the last block found, when chaining.
    let mut posted: Option<Posted> = None;
    loop {
        if cancel.is_cancelled() {
            return blocks;
        }
        // The helpers get the job first and prepare their copies while worker 0
        // prepares its own, so their hashing starts one preparation sooner.
        let Posted {
            epoch,
            generation,
            parts,
            budget,
        } = match posted.take() {
            Some(posted) => posted,
            None => post_next(miner, &mut planner, now_ms()),
        };
        let prepared = parts.map(|parts| {
            parts
                .prepare()
                .expect("the miner's kernel was checked available when it was built")
        });
        miner
            .progress
            .start_epoch(epoch.timestamp, epoch.difficulty.bits());
        let Some(prepared) = prepared else {
            wait_out_epoch(Instant::now() + budget, cancel);
            continue;
        };
        let progress = &miner.progress;
        let mut looks = 0u32;
        // The deadline is set at the first look (after DEADLINE_EVERY slices, well under
        // a millisecond in): most blocks at low difficulties end before that and never
        // read the clock for it.
        let mut deadline = None;
        let leave = miner.crew.search(
            generation,
            &prepared,
            cancel,
            |attempts| progress.add(0, attempts),
            || {
                looks = looks.wrapping_add(1);
                looks.is_multiple_of(DEADLINE_EVERY) && {
                    let now = Instant::now();
                    now >= *deadline.get_or_insert(now + budget)
                }
            },
        );
        let own_hit = match leave {
            Leave::Hit(counter) => Some(counter),
            Leave::Cancelled => return blocks,
            // Worker 0's stripe ran out (about 10^9 / workers counters in under 100 ms):
            // the helpers may still search theirs until the deadline.
            Leave::Exhausted => {
                wait_for_hit(
                    miner,
                    generation,
                    deadline.unwrap_or_else(|| Instant::now() + budget),
                    cancel,
                );
                None
            }
            // A helper's hit, or the deadline (a helper's hit may have come meanwhile).
            Leave::Stopped | Leave::Superseded => None,
        };
        if miner.crew.take_panic() {
            panic!("a mining helper thread panicked (see its message above)");
        }
        // Returning, worker 0 stops the helpers at once with its own hit (a chain stops
        // them with the next post instead).
        if let (Some(counter), Found::Return(_)) = (own_hit, &found) {
            miner.crew.stop_with_hit(generation, counter);
        }
        // Worker 0's own hit first: the helpers' may not be on the board yet, and
        // either is a block.
        let Some(counter) = own_hit.or_else(|| miner.crew.hit(generation)) else {
            continue;
        };
        let Some(hit) = planner.check_hit(&epoch, counter) else {
            // A kernel bug; the rest of this epoch is given up, the search goes on.
            debug_assert!(
                false,
                "kernel {} reported a false hit",
                miner.kernel_for(epoch.difficulty.bits())
            );
            continue;
        };
        blocks += 1;
        miner.progress.block_found();
        let on_block = match &mut found {
            Found::Return(slot) => {
                **slot = Some(planner.block(&epoch, hit, planner.tip.clone()));
                return blocks;
            }
            Found::Chain(on_block) => on_block,
        };
        // Chaining: the helpers start on the next block before this one is built (the
        // post also ends this block's search for them).
        let on = planner.advance(&epoch, &hit);
        let next = post_next(miner, &mut planner, now_ms());
        let block = planner.block(&epoch, hit, on);
        if on_block(block).is_break() {
            return blocks;
        }
        // The posted epoch's time counts from its timestamp: what `on_block` took is
        // gone from it, and after a whole epoch the next is planned afresh. The coarse
        // clock (a few ns against tens, every block) lags by a tick at most, so the
        // budget may run that much long.
        let spent = Duration::from_millis(coarse_now_ms().saturating_sub(next.epoch.timestamp));
        posted = EPOCH
            .checked_sub(spent)
            .map(|budget| Posted { budget, ..next });
    }
}

/// Waits, after worker 0's stripe ran out, for a helper's hit (or panic), the deadline or
/// a cancel.
fn wait_for_hit(miner: &Miner, generation: u64, deadline: Instant, cancel: &CancelToken) {
    while !miner.crew.is_stopped(generation) && !cancel.is_cancelled() && Instant::now() < deadline
    {
        std::thread::sleep(IDLE_POLL);
    }
}

/// Plans a job's epochs: the preimage prefix for each timestamp, the difficulty from the
/// policy, and a variant never used before on the same tip. When chaining, the tip moves
/// to each block found ([`EpochPlanner::advance`]).
#[derive(Debug)]
struct EpochPlanner<'a> {
    job: &'a MineJob,
    tip: Tip<'a>,
    prefix: Vec<u8>,
    next_variant: u64,
}

/// What mining on a block needs of it: the policy's inputs and its hash for the
/// preimage.
#[derive(Debug, Clone)]
struct Tip<'a> {
    block_no: u64,
    timestamp: u64,
    difficulty: Difficulty,
    hash: TipHash<'a>,
}

/// A tip's hash: the job's `prev.hash`, or a block just found, with its hex digits for
/// the preimage (kept off the allocator until the block is built, after the next job
/// is posted).
#[derive(Debug, Clone)]
enum TipHash<'a> {
    Given(&'a str),
    Found { hash: BlockHash, hex: [u8; 64] },
}

impl TipHash<'_> {
    fn as_bytes(&self) -> &[u8] {
        match self {
            TipHash::Given(hash) => hash.as_bytes(),
            TipHash::Found { hex, .. } => hex,
        }
    }

    /// The hash as a block's `prev_hash` field.
    fn into_string(self) -> String {
        match self {
            TipHash::Given(hash) => hash.to_owned(),
            TipHash::Found { hash, .. } => hash.to_hex(),
        }
    }
}

/// One epoch: what every attempt in it shares.
#[derive(Debug)]
struct Epoch {
    timestamp: u64,
    difficulty: Difficulty,
    /// `None` when there is nothing to search: a difficulty no hash meets, or (after
    /// about 10^30 epochs) no variant left.
    template: Option<MiningTemplate>,
}

/// A counter whose hash meets its epoch's difficulty.
#[derive(Debug)]
struct Hit {
    counter: u64,
    hash: BlockHash,
}

impl<'a> EpochPlanner<'a> {
    fn new(job: &'a MineJob) -> Self {
        EpochPlanner {
            job,
            tip: Tip {
                block_no: job.prev.block_no,
                timestamp: job.prev.timestamp,
                difficulty: job.prev.difficulty,
                hash: TipHash::Given(&job.prev.hash),
            },
            prefix: Vec::with_capacity(256),
            next_variant: 0,
        }
    }

    /// The epoch starting at `timestamp`, with the difficulty the policy gives it.
    fn next_epoch(&mut self, timestamp: u64) -> Epoch {
        let job = self.job;
        let tip = &self.tip;
        let difficulty = job.fixed_difficulty.unwrap_or_else(|| {
            next_difficulty(tip.difficulty, tip.timestamp, timestamp, &job.policy)
        });
        self.prefix.clear();
        write_preimage_prefix(
            tip.block_no + 1,
            timestamp,
            &job.data,
            tip.hash.as_bytes(),
            &mut self.prefix,
        );
        // Each epoch takes a new variant even when it searches nothing, so variants are
        // never reused on one tip.
        let variant = self.next_variant;
        self.next_variant += 1;
        let template = (difficulty.bits() <= MAX_MEETABLE_DIFFICULTY)
            .then(|| {
                let mut digits = [0u8; 20];
                let suffix = fmt_u64(&mut digits, u64::from(difficulty.bits()));
                MiningTemplate::new(&self.prefix, suffix, variant).ok()
            })
            .flatten();
        Epoch {
            timestamp,
            difficulty,
            template,
        }
    }

    /// `counter` in `epoch` as a hit, if its hash meets the difficulty.
    ///
    /// The hash is the template's: one compression of the final block from the
    /// midstate, which the layout's tests prove equal to SHA-256 of the block's whole
    /// preimage. Debug builds (every test) check it against the reference hash too, in
    /// [`EpochPlanner::block`].
    fn check_hit(&self, epoch: &Epoch, counter: u64) -> Option<Hit> {
        let template = epoch.template.as_ref()?;
        if counter >= template.counter_limit() {
            return None;
        }
        let hash = template.hash(counter);
        epoch
            .difficulty
            .is_met_by(&hash)
            .then_some(Hit { counter, hash })
    }

    /// Moves the tip to the block that `hit` made in `epoch` (an epoch of the tip it
    /// replaces): the next epochs mine on it, from variant 0. Returns the replaced tip,
    /// the one the found block is on.
    fn advance(&mut self, epoch: &Epoch, hit: &Hit) -> Tip<'a> {
        let found = Tip {
            block_no: self.tip.block_no + 1,
            timestamp: epoch.timestamp,
            difficulty: epoch.difficulty,
            hash: TipHash::Found {
                hash: hit.hash,
                hex: hit.hash.hex_digits(),
            },
        };
        self.next_variant = 0;
        std::mem::replace(&mut self.tip, found)
    }

    /// The block that `hit` made in `epoch`, an epoch planned on `on`.
    fn block(&self, epoch: &Epoch, hit: Hit, on: Tip<'_>) -> Block {
        let template = epoch
            .template
            .as_ref()
            .expect("a hit comes from an epoch with a template");
        let mut digits = [0u8; MAX_NONCE_DIGITS];
        let nonce = Nonce::from_digits(template.nonce_str(hit.counter, &mut digits))
            .expect("a template's nonces are canonical and at most MAX_NONCE_DIGITS digits");
        let block = Block {
            block_no: on.block_no + 1,
            timestamp: epoch.timestamp,
            prev_hash: on.hash.into_string(),
            data: self.job.data.clone(),
            hash: hit.hash.to_hex(),
            nonce,
            difficulty: epoch.difficulty,
        };
        debug_assert!(
            block_hash(&block).matches_hex(&block.hash),
            "the template's hash is the block's reference hash"
        );
        block
    }
}

/// Sleeps through an epoch that has nothing to search, waking often for the token.
fn wait_out_epoch(deadline: Instant, cancel: &CancelToken) {
    while !cancel.is_cancelled() && Instant::now() < deadline {
        std::thread::sleep(IDLE_POLL);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::chain::{DifficultyPolicy, Json, RawJson, genesis};

    fn job_on(prev: Block, data: &str, fixed: Option<u32>) -> MineJob {
        MineJob {
            prev,
            data: RawJson::from(Json::String(data.into())),
            policy: DifficultyPolicy::default(),
            fixed_difficulty: fixed.map(Difficulty::new),
        }
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

    /// A counter is returned as a block only when its hash meets the difficulty, and the
    /// block's hash is its reference hash; a
    /// difficulty no hash meets has no template at all.
    #[test]
    fn hits_are_reverified_by_the_reference_hash() {
        let job = job_on(genesis(), "x", Some(0));
        let mut planner = EpochPlanner::new(&job);
        let epoch = planner.next_epoch(1_700_000_000_000);
        let hit = planner
            .check_hit(&epoch, 12)
            .expect("difficulty 0 is always met");
        let block = planner.block(&epoch, hit, planner.tip.clone());
        assert!(block_hash(&block).matches_hex(&block.hash));
        assert_eq!(block.block_no, 1);
        assert_eq!(block.prev_hash, genesis().hash);
        assert!(planner.check_hit(&epoch, u64::MAX).is_none());

        let hard = job_on(genesis(), "x", Some(256));
        let mut planner = EpochPlanner::new(&hard);
        let epoch = planner.next_epoch(1_700_000_000_000);
        assert!(planner.check_hit(&epoch, 12).is_none());

        let impossible = job_on(genesis(), "x", Some(257));
        let epoch = EpochPlanner::new(&impossible).next_epoch(1_700_000_000_000);
        assert!(epoch.template.is_none());
    }

    /// A chain posts each next block before handing the found one over, and takes the
    /// last such post back on the way out: the helpers are left with no job, as after
    /// [`Miner::mine`].
    #[test]
    fn a_chain_leaves_no_job_posted() {
        let miner = miner(2);
        let job = job_on(genesis(), "chain", Some(4));
        let mut posted_while_handed_over = Vec::new();
        let blocks = miner.mine_chain(&job, &CancelToken::new(), |block| {
            posted_while_handed_over.push(miner.crew.posted().is_some());
            if block.block_no == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!(blocks, 3);
        assert_eq!(
            posted_while_handed_over, [true; 3],
            "next block posted first"
        );
        assert!(miner.crew.posted().is_none(), "the last post is taken back");
    }

    fn miner(threads: usize) -> Miner {
        Miner::new(crate::miner::MinerConfig {
            threads: Some(threads),
            kernel: None,
        })
        .expect("a miner starts")
    }

    /// Worker 0's own hit (the only worker here) ends its generation when `mine`
    /// returns the block, so nothing is left running.
    #[test]
    fn mine_ends_the_generation_of_its_own_hit() {
        let miner = miner(1);
        for _ in 0..3 {
            let outcome = miner.mine(&job_on(genesis(), "own", Some(6)), &CancelToken::new());
            assert!(matches!(outcome, MineOutcome::Found(_)));
            assert!(miner.crew.is_stopped(miner.crew.last_generation()));
        }
    }

    /// A panic in `on_block` leaves no job posted: the helpers do not hash on the next
    /// block for no one.
    #[test]
    fn a_panicking_on_block_leaves_no_job_posted() {
        let miner = miner(2);
        let job = job_on(genesis(), "panics", Some(4));
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            miner.mine_chain(&job, &CancelToken::new(), |_| panic!("on_block fails"))
        }));
        assert!(unwound.is_err());
        assert!(miner.crew.posted().is_none());
        assert!(!miner.progress.is_mining());
    }

    /// An `on_block` slower than an epoch has the next block planned again: its
    /// timestamp is read after the callback, not before it.
    #[test]
    fn a_slow_on_block_gets_the_next_block_a_fresh_timestamp() {
        let miner = miner(2);
        let job = job_on(genesis(), "slow", Some(4));
        let mut returned_at = 0;
        let mut timestamps = Vec::new();
        miner.mine_chain(&job, &CancelToken::new(), |block| {
            timestamps.push(block.timestamp);
            if timestamps.len() == 2 {
                return ControlFlow::Break(());
            }
            std::thread::sleep(EPOCH + Duration::from_millis(20));
            returned_at = now_ms();
            ControlFlow::Continue(())
        });
        assert!(
            timestamps[1] >= returned_at,
            "block 2 stamped {} before on_block returned at {returned_at}",
            timestamps[1]
        );
    }
}
