//! Gap and fork fill: a peer's chain, read in pages from the point where it leaves
//! ours, validated as it arrives and adopted by fork choice in batches.
//!
//! One procedure, [`RangeSync::fill_from`], serves both callers: [`run`], which takes
//! the [`GapRequest`]s of block announcements whose parent this node lacks, and the
//! start-up sync from the root ([`startup_sync`](super::startup_sync)).
//!
//! How a fill goes:
//! 1. **The fork point.** The peer's blocks are read downwards from the top of the
//!    heights both chains have, in windows that double (16, 32, ... up to a page),
//!    until one holds a block whose hash is ours at the same height: the common
//!    ancestor. The first window also reaches a page forward, so when our tip is on
//!    the peer's chain (a node behind, or one resuming its start-up sync) one request
//!    finds the fork point and brings the first new blocks. Every block read above the
//!    fork point is part of the suffix, so the search wastes less than the fork is
//!    deep; a headers-only route would save only those few blocks' bodies.
//! 2. **The suffix, checked incrementally.** The blocks above the fork point are
//!    checked against our block at the fork point ([`ValidSuffix`]), page by page as
//!    they arrive: O(suffix), whatever our chain's length.
//! 3. **Fork choice in batches.** Every [`COMMIT_EVERY`] blocks, or half the chain
//!    when that is more (and at the peer's tip), if our prefix plus the suffix is preferred to our current chain by the
//!    fork-choice rule, the candidate goes to the chain writer, which decides again
//!    against the chain it holds, stores it in one transaction and installs it. So a
//!    long sync keeps what it applied: a node stopped half-way resumes from its
//!    store's tip. The writer stores a batch while the next pages are fetched and
//!    checked (and the next page travels while one is checked). A fork that is not (yet) preferred is held until it is, or until
//!    the peer's tip, up to [`MAX_PENDING_BLOCKS`].
//!
//! Bounds on what a peer sends: each answer is limited in bytes (the message limit; a
//! page over it is asked again with half as many blocks) and in time; a page must
//! start where asked and hold at least one block; the pending suffix is capped; and
//! when our chain changes under a fill (a mined block, another peer's chain) the fill
//! starts over at most [`MAX_RESTARTS`] times.
//!
//! A gap fill from an announced peer is bounded in time too ([`GapLimits`]): it stops
//! when it has neither found the fork point nor adopted a block for
//! [`GAP_PROGRESS_TIMEOUT`], and after [`GAP_FILL_MAX`] in all, since the bounds above
//! still let a peer that answers each page just in time (one block per page, none of
//! them ever adopted) hold the one gap filler for days. A peer whose fill failed is then
//! left alone for a while ([`gap_backoff`](super::gap_backoff)). The start-up sync from
//! the operator's root has no such deadline: it is the node's own choice of peer, and
//! may copy a long chain.

use std::cmp::Ordering as CmpOrdering;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

use super::gap::{GapReceiver, GapRequest};
use super::gap_backoff::{
    GAP_BACKOFF_FIRST, GAP_BACKOFF_MAX, GAP_FRUITLESS_WAIT, HelpfulPeers, PeerBackoff, peer_key,
};
use super::gap_line::{GapLine, Next};
use super::job_slot::IntakeTimings;
use super::range_fetch::{Answer, FetchError, MAX_PAGE, Page, PageClient, parse_answer};
use super::state::{AdoptOutcome, Candidate, ChainWriter, Snapshot, WriterStopped};
use crate::chain::validate::now_ms;
use crate::chain::{Block, ChainWeight, ForkChoice, RuleSet, ValidSuffix, ValidationError};
use crate::clip::{MESSAGE_CHARS, clip, clip_to};

/// Blocks fetched between two hand-overs to the writer: each hand-over stores the
/// chain and installs a new snapshot (work that grows with the chain), so fewer,
/// larger batches cost less; smaller ones lose less when the node stops.
pub const COMMIT_EVERY: usize = 10_000;

/// Most blocks a fill holds that are not adopted yet (a fork that does not win, or
/// not yet): about 30 MB of ordinary blocks.
pub const MAX_PENDING_BLOCKS: usize = 100_000;

/// Most bytes of answers a fill holds that are not adopted yet.
pub const MAX_PENDING_BYTES: usize = 256 * 1024 * 1024;

/// The first window of the downward search for the fork point; it doubles up to a
/// page.
const FIRST_WINDOW: usize = 16;

/// How often a fill starts over when our chain changed under it.
pub const MAX_RESTARTS: usize = 3;

/// Longest a gap fill goes on without progress (the fork point found, or a batch
/// adopted) before it stops. An honest peer finds the fork point in a few requests and
/// brings a batch at its tip (an announced gap is usually within the first page) or
/// after [`COMMIT_EVERY`] blocks (10 pages; half the chain when that is more, so a
/// gap of hundreds of thousands of blocks on a long chain needs a fast peer): each
/// request is bounded by the page timeout (seconds), so two minutes leaves a slow
/// honest peer a wide margin, while a peer that answers junk or a fork that never
/// wins, one slow page at a time, holds the gap filler for two minutes, not days.
pub const GAP_PROGRESS_TIMEOUT: Duration = Duration::from_secs(2 * 60);

/// Longest a gap fill goes on in all, progress or not: the gap filler takes one
/// request at a time, so this bounds how long any one announcement can keep the
/// others waiting. Thirty minutes is long enough for a gap fill to copy well over a
/// million blocks from a peer serving pages at an ordinary rate; what was adopted
/// stays adopted, and a later announcement resumes from there.
pub const GAP_FILL_MAX: Duration = Duration::from_secs(30 * 60);

/// The time bounds of gap fills from announced peers, and the backoff after one fails
/// (see the module doc and [`gap_backoff`](super::gap_backoff)). The defaults are the
/// constants; tests set short ones, so that they need not wait minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GapLimits {
    /// Longest time without progress ([`GAP_PROGRESS_TIMEOUT`]).
    pub progress: Duration,
    /// Longest time in all ([`GAP_FILL_MAX`]).
    pub total: Duration,
    /// First wait before a peer whose fill failed is asked again
    /// ([`GAP_BACKOFF_FIRST`]); it doubles on each further failure.
    pub backoff_first: Duration,
    /// Longest such wait ([`GAP_BACKOFF_MAX`]).
    pub backoff_max: Duration,
    /// Wait before a peer whose fill brought nothing is asked again
    /// ([`GAP_FRUITLESS_WAIT`]).
    pub fruitless_wait: Duration,
}

impl Default for GapLimits {
    fn default() -> Self {
        GapLimits {
            progress: GAP_PROGRESS_TIMEOUT,
            total: GAP_FILL_MAX,
            backoff_first: GAP_BACKOFF_FIRST,
            backoff_max: GAP_BACKOFF_MAX,
            fruitless_wait: GAP_FRUITLESS_WAIT,
        }
    }
}

/// Why a fill stopped without reaching the peer's tip.
#[derive(Debug, thiserror::Error)]
pub enum FillError {
    /// A page could not be had.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The peer's chain breaks a rule.
    #[error("the peer's chain is invalid: {0}")]
    Invalid(ValidationError),
    /// The peer's chain holds NaN, which no valid JSON carries.
    #[error("the peer's block {0} holds NaN in its data")]
    Nan(u64),
    /// The peer's answers contradict each other or the request.
    #[error("the peer's answers do not add up: {0}")]
    Inconsistent(String),
    /// The peer's chain does not start with our genesis.
    #[error("the peer's chain does not share our genesis block")]
    OtherGenesis,
    /// More is pending than the bounds allow.
    #[error(
        "the peer's fork from block {fork} is not preferred after {pending} blocks ({bytes} bytes): over the limit of {MAX_PENDING_BLOCKS} blocks or {MAX_PENDING_BYTES} bytes held"
    )]
    TooMuchPending {
        /// The fork point.
        fork: usize,
        /// Blocks held.
        pending: usize,
        /// Their answers' bytes.
        bytes: usize,
    },
    /// Our chain kept changing under the fill.
    #[error("our chain changed under the fill {MAX_RESTARTS} times")]
    Unsettled,
    /// A gap fill found no fork point and adopted no block for this long.
    #[error("no progress from the peer in {0:?}: no fork point found and no block adopted")]
    NoProgress(Duration),
    /// A gap fill ran this long in all (what it adopted stays adopted).
    #[error("the fill ran past its limit of {0:?}")]
    TooLong(Duration),
    /// The store refused the chain.
    #[error("the chain could not be stored (see store.last_error in /api/status)")]
    NotStored,
    /// The node is shutting down.
    #[error("the node is shutting down")]
    Stopped,
}

/// How a fill ended.
#[derive(Debug)]
pub enum FillOutcome {
    /// Our chain reached the peer's tip (as the peer last reported it), or got as far
    /// as its blocks win; `adopted` blocks of it were new to us.
    Adopted {
        /// Blocks adopted that we did not hold.
        adopted: u64,
    },
    /// Our chain is at least as good (or is the peer's already).
    Kept,
    /// The peer does not serve pages: its whole chain, for the intake.
    WholeChain(Bytes),
}

/// A fill's progress, for the log and `/api/status`.
#[derive(Debug, Default)]
pub struct FillProgress {
    state: Mutex<&'static str>,
    peer: Mutex<Option<String>>,
    started_height: AtomicU64,
    fetched: AtomicU64,
    adopted: AtomicU64,
    /// Batches handed to the writer (adopted or on their way).
    handed_over: AtomicU64,
    target: AtomicU64,
    last_error: Mutex<Option<String>>,
    started: Mutex<Option<Instant>>,
    /// When the fill last found the fork point or adopted a batch (or began).
    progressed: Mutex<Option<Instant>>,
    elapsed_ms: AtomicU64,
}

/// A [`FillProgress`] as `/api/status` shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct FillStatus {
    /// `off` (no root), `skipped` (the root is this node), `searching` (for the fork
    /// point), `fetching`, `done`, `failed`, or `gave_way` (a gap fill set aside for a
    /// peer that brought blocks before).
    pub state: &'static str,
    /// The peer (clipped).
    pub peer: Option<String>,
    /// Our chain's length when the fill began (a restarted node resumes from its
    /// store's tip: this is where).
    pub started_height: u64,
    /// Blocks fetched above the fork point.
    pub fetched: u64,
    /// Of them, blocks adopted.
    pub adopted: u64,
    /// The peer's chain length, as it last said.
    pub target: u64,
    /// Milliseconds since the fill began (until it ended).
    pub elapsed_ms: u64,
    /// Why the last fill stopped short, if it did.
    pub last_error: Option<String>,
}

impl FillProgress {
    /// A progress in `state` (before any fill: `off`, `skipped`, ...).
    pub fn new(state: &'static str) -> FillProgress {
        let progress = FillProgress::default();
        progress.set_state(state);
        progress
    }

    fn set_state(&self, state: &'static str) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }

    fn begin(&self, peer: &str, height: usize) {
        self.set_state("searching");
        *self.peer.lock().unwrap_or_else(PoisonError::into_inner) = Some(clip(peer).into_owned());
        self.started_height.store(height as u64, Ordering::Relaxed);
        self.fetched.store(0, Ordering::Relaxed);
        self.adopted.store(0, Ordering::Relaxed);
        self.handed_over.store(0, Ordering::Relaxed);
        self.target.store(0, Ordering::Relaxed);
        self.elapsed_ms.store(0, Ordering::Relaxed);
        let now = Instant::now();
        *self.started.lock().unwrap_or_else(PoisonError::into_inner) = Some(now);
        *self
            .progressed
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(now);
    }

    /// Notes progress: the fork point found, or a batch adopted.
    fn progressed(&self) {
        *self
            .progressed
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    /// When the fill last made progress (or began); `None` before any fill.
    fn last_progress(&self) -> Option<Instant> {
        *self
            .progressed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the fill set aside for another (`gave_way`); it is taken up again later.
    fn gave_way(&self) {
        self.set_state("gave_way");
        self.elapsed_ms
            .store(self.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Marks the fill ended: `done`, or `failed` with `error`.
    pub fn end(&self, error: Option<&str>) {
        self.set_state(if error.is_some() { "failed" } else { "done" });
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            error.map(|e| clip_to(e, MESSAGE_CHARS).into_owned());
        self.elapsed_ms
            .store(self.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn elapsed(&self) -> Duration {
        self.started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map_or(Duration::ZERO, |at| at.elapsed())
    }

    /// Blocks fetched above the fork point so far.
    pub fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    /// Blocks adopted so far.
    pub fn adopted(&self) -> u64 {
        self.adopted.load(Ordering::Relaxed)
    }

    /// Batches handed to the writer so far (adopted, or still being stored).
    pub fn handed_over(&self) -> u64 {
        self.handed_over.load(Ordering::Relaxed)
    }

    /// The status view.
    pub fn status(&self) -> FillStatus {
        let state = *self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let running = matches!(state, "searching" | "fetching");
        FillStatus {
            state,
            peer: self
                .peer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            started_height: self.started_height.load(Ordering::Relaxed),
            fetched: self.fetched(),
            adopted: self.adopted(),
            target: self.target.load(Ordering::Relaxed),
            elapsed_ms: if running {
                self.elapsed().as_millis() as u64
            } else {
                self.elapsed_ms.load(Ordering::Relaxed)
            },
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

/// The range sync's state for `/api/status`: the start-up sync's progress and the
/// gap fills' counters.
#[derive(Debug)]
pub struct RangeStats {
    /// The start-up sync from the root.
    pub startup: FillProgress,
    /// The latest gap fill.
    pub gap: FillProgress,
    gap_requests: AtomicU64,
    gap_held: AtomicU64,
    gap_failed: AtomicU64,
    gap_fruitless: AtomicU64,
    gap_backoff: AtomicU64,
    gap_gave_way: AtomicU64,
    gap_dropped: AtomicU64,
}

impl RangeStats {
    /// Stats whose start-up sync is in `startup_state` (`off` without a root).
    pub fn new(startup_state: &'static str) -> RangeStats {
        RangeStats {
            startup: FillProgress::new(startup_state),
            gap: FillProgress::new("idle"),
            gap_requests: AtomicU64::new(0),
            gap_held: AtomicU64::new(0),
            gap_failed: AtomicU64::new(0),
            gap_fruitless: AtomicU64::new(0),
            gap_backoff: AtomicU64::new(0),
            gap_gave_way: AtomicU64::new(0),
            gap_dropped: AtomicU64::new(0),
        }
    }

    /// The gap fills' view for `/api/status`.
    pub fn gap_status(&self) -> GapFillStatus {
        GapFillStatus {
            requests: self.gap_requests.load(Ordering::Relaxed),
            already_held: self.gap_held.load(Ordering::Relaxed),
            failed: self.gap_failed.load(Ordering::Relaxed),
            fruitless: self.gap_fruitless.load(Ordering::Relaxed),
            backed_off: self.gap_backoff.load(Ordering::Relaxed),
            gave_way: self.gap_gave_way.load(Ordering::Relaxed),
            dropped: self.gap_dropped.load(Ordering::Relaxed),
            last: self.gap.status(),
        }
    }
}

/// The gap fills in `/api/status`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct GapFillStatus {
    /// Gap requests taken (announced tips whose parent we lacked).
    pub requests: u64,
    /// Of them, tips we held by the time their turn came.
    pub already_held: u64,
    /// Of them, fills that stopped short.
    pub failed: u64,
    /// Of them, fills that ended well but brought no block (our chain was as good as
    /// the peer's): its peer then waits a little before it is asked again.
    pub fruitless: u64,
    /// Of them, requests put off because a fill from their peer failed, or brought
    /// nothing, a short while ago (the peer is backed off; see `gap_backoff`).
    pub backed_off: u64,
    /// Fills from a peer not known to help that were set aside for a request from one
    /// that brought blocks before (and taken up again after it).
    pub gave_way: u64,
    /// Requests dropped from the line of those waiting (one per peer, 16 at most;
    /// strangers' first) for room.
    pub dropped: u64,
    /// The latest fill.
    pub last: FillStatus,
}

/// What a fill needs from the node; cheap to clone.
#[derive(Debug, Clone)]
pub struct RangeSync {
    /// The current chain.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// Where candidates go.
    pub writer: ChainWriter,
    /// The rule that weighs them (the writer decides again).
    pub fork_choice: ForkChoice,
    /// Time limit of one page request.
    pub timeout: Duration,
    /// Byte limit of one answer.
    pub max_bytes: usize,
    /// Progress and counters.
    pub stats: Arc<RangeStats>,
    /// Time bounds and backoff of gap fills from announced peers.
    pub gap_limits: GapLimits,
}

/// Blocks of the peer's chain read while looking for the fork point, above it.
struct Search {
    /// The fork point: the highest height where the peer's block is ours.
    fork: usize,
    /// The peer's blocks above it, in order.
    above: Vec<Block>,
    /// Their answers' bytes.
    bytes: usize,
    /// The peer's chain length, as it last said.
    total: u64,
}

impl RangeSync {
    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshots.borrow())
    }

    /// A client for `peer` under this sync's limits.
    ///
    /// # Errors
    /// [`FetchError::BadPeer`] when `peer` is not an http:// base URL.
    pub fn client(&self, peer: &str) -> Result<PageClient, FetchError> {
        PageClient::new(peer, self.timeout, self.max_bytes)
    }

    /// Brings our chain to the peer's, as far as fork choice prefers it (see the
    /// module doc), reporting to `progress` and logging as `what`.
    ///
    /// # Errors
    /// [`FillError`] when the fill stopped short (what was adopted stays adopted).
    pub async fn fill_from(
        &self,
        peer: &PageClient,
        what: &'static str,
        progress: &FillProgress,
    ) -> Result<FillOutcome, FillError> {
        progress.begin(peer.base(), self.snapshot().chain().len());
        let mut adopted = 0;
        for _ in 0..=MAX_RESTARTS {
            match self.fill_once(peer, what, progress, &mut adopted).await? {
                Some(FillOutcome::Kept) if adopted > 0 => {
                    return Ok(FillOutcome::Adopted { adopted });
                }
                Some(outcome) => return Ok(outcome),
                None => tracing::debug!(what, "our chain changed under the fill; again"),
            }
        }
        Err(FillError::Unsettled)
    }

    /// One pass: `None` when our chain changed under it (start over).
    async fn fill_once(
        &self,
        peer: &PageClient,
        what: &'static str,
        progress: &FillProgress,
        adopted: &mut u64,
    ) -> Result<Option<FillOutcome>, FillError> {
        let ours = self.snapshot();
        let search = match self.find_fork(peer, &ours).await? {
            Ok(search) => search,
            Err(whole) => return Ok(Some(FillOutcome::WholeChain(whole))),
        };
        progress.progressed();
        progress.set_state("fetching");
        progress.target.store(search.total, Ordering::Relaxed);
        let mut total = search.total;
        let mut fork = search.fork;
        let mut prefix_work = ours.chain().work_of_prefix(fork + 1);
        let mut pending_bytes = search.bytes;
        let parent = ours
            .chain()
            .blocks()
            .get(fork)
            .expect("the fork point is a block both chains hold")
            .to_block();
        let mut suffix = ValidSuffix::after(&parent, fork, RuleSet::Strict);
        drop(ours);
        progress
            .fetched
            .fetch_add(search.above.len() as u64, Ordering::Relaxed);
        suffix = check(suffix, search.above).await?;
        let mut prefetch: Option<Prefetch> = None;
        // The batch the writer is taking while the next pages are fetched and checked.
        let mut handing: Option<HandOver> = None;
        loop {
            let at_end = suffix.next_index() as u64 >= total;
            // A batch is full at its count, or at the bytes a fill may hold: large
            // blocks are handed over in smaller batches, and a fork that does not win
            // is dropped once it holds that much (a page at a time, a peer's pages
            // could otherwise pile up to a batch of 10,000 blocks of any size).
            let full = suffix.len() >= batch(fork) || pending_bytes >= MAX_PENDING_BYTES;
            if !suffix.is_empty() && (at_end || full) {
                // This batch follows the previous one's tip: that one first.
                if let Some(previous) = handing.take()
                    && !self.handed(previous, peer, what, progress, adopted).await?
                {
                    return Ok(None);
                }
                let weight = ChainWeight {
                    len: suffix.next_index(),
                    work: prefix_work.saturating_add(suffix.work()),
                };
                let current = self.snapshot();
                let preferred = self
                    .fork_choice
                    .compare(ChainWeight::of_chain(current.chain()), weight)
                    == CmpOrdering::Greater;
                if preferred {
                    let tip = suffix.last().clone();
                    progress.handed_over.fetch_add(1, Ordering::Relaxed);
                    handing = Some(HandOver {
                        blocks: suffix.len() as u64,
                        height: weight.len,
                        target: total,
                        started: Instant::now(),
                        task: self.adopt(current, suffix),
                    });
                    fork = weight.len - 1;
                    prefix_work = weight.work;
                    pending_bytes = 0;
                    suffix = ValidSuffix::after(&tip, fork, RuleSet::Strict);
                } else if at_end {
                    return Ok(Some(FillOutcome::Kept));
                } else if suffix.len() >= MAX_PENDING_BLOCKS || pending_bytes >= MAX_PENDING_BYTES {
                    return Err(FillError::TooMuchPending {
                        fork,
                        pending: suffix.len(),
                        bytes: pending_bytes,
                    });
                }
            }
            if suffix.next_index() as u64 >= total {
                if suffix.is_empty() {
                    if let Some(previous) = handing.take()
                        && !self.handed(previous, peer, what, progress, adopted).await?
                    {
                        return Ok(None);
                    }
                    return Ok(Some(if *adopted > 0 {
                        FillOutcome::Adopted { adopted: *adopted }
                    } else {
                        FillOutcome::Kept
                    }));
                }
                continue;
            }
            let from = suffix.next_index() as u64;
            let page = match prefetch.take() {
                Some(ahead) if ahead.from == from => ahead.take().await?,
                _ => self.page(peer, from, MAX_PAGE).await?,
            };
            // The next page travels while this one is checked (and adopted).
            let next = from + page.blocks.len() as u64;
            if next < page.total && !page.blocks.is_empty() {
                prefetch = Some(Prefetch::start(self, peer, next));
            }
            if page.total < from {
                // The peer's chain got shorter (it switched to another fork).
                return Ok(None);
            }
            if page.blocks.is_empty() {
                return Err(FillError::Inconsistent(format!(
                    "an empty page at {from} of a chain of {} blocks",
                    page.total
                )));
            }
            total = page.total;
            progress.target.store(total, Ordering::Relaxed);
            progress
                .fetched
                .fetch_add(page.blocks.len() as u64, Ordering::Relaxed);
            pending_bytes += page.bytes;
            suffix = check(suffix, page.blocks).await?;
        }
    }

    /// Looks for the fork point (see the module doc); `Err(bytes)` when the peer
    /// answers with its whole chain instead of a page.
    async fn find_fork(
        &self,
        peer: &PageClient,
        ours: &Snapshot,
    ) -> Result<Result<Search, Bytes>, FillError> {
        let ours = ours.chain().blocks();
        // The peer's length (and whether it pages at all), from its genesis.
        let first = match self.answer(peer, 0, 1).await? {
            Answer::WholeChain(bytes) => return Ok(Err(bytes)),
            Answer::Page(page) => page,
        };
        let same_genesis = first
            .blocks
            .first()
            .is_some_and(|theirs| ours.get(0).is_some_and(|g| g.same_record(theirs)));
        if !same_genesis {
            return Err(FillError::OtherGenesis);
        }
        let mut total = first.total;
        // Heights below `top` are on both chains.
        let mut top = ours.len().min(usize::try_from(total).unwrap_or(usize::MAX));
        let mut windows: Vec<Vec<Block>> = Vec::new();
        let mut held = 0usize;
        let mut bytes = 0usize;
        let mut width = FIRST_WINDOW;
        let mut first_window = true;
        loop {
            let lo = top.saturating_sub(width);
            // The first window also reaches a page forward.
            let want = if first_window { MAX_PAGE } else { top - lo };
            let budget = MAX_PENDING_BYTES.saturating_sub(bytes);
            let (blocks, got_bytes, now_total) =
                self.range(peer, lo as u64, want, top - lo, budget).await?;
            total = now_total;
            bytes += got_bytes;
            let in_both = blocks.len().min(top - lo);
            if in_both < top - lo {
                // The peer's chain got shorter than it said.
                return Err(FillError::Inconsistent(format!(
                    "blocks {lo}..{top} asked, {} given",
                    blocks.len()
                )));
            }
            let matched = (0..in_both)
                .rev()
                .find(|&k| hash_is(ours.hash(lo + k), &blocks[k].hash));
            if let Some(k) = matched {
                let mut above: Vec<Block> = blocks.into_iter().skip(k + 1).collect();
                for window in windows.into_iter().rev() {
                    above.extend(window);
                }
                return Ok(Ok(Search {
                    fork: lo + k,
                    above,
                    bytes,
                    total,
                }));
            }
            if lo == 0 {
                return Err(FillError::OtherGenesis);
            }
            held += blocks.len();
            if held >= MAX_PENDING_BLOCKS || bytes >= MAX_PENDING_BYTES {
                return Err(FillError::TooMuchPending {
                    fork: lo,
                    pending: held,
                    bytes,
                });
            }
            windows.push(blocks);
            top = lo;
            width = (width * 2).min(MAX_PAGE);
            first_window = false;
        }
    }

    /// Blocks `from..from + count` of the peer's chain (fewer at its end), in as many
    /// pages as their size needs; with the answers' bytes and the peer's length. Once
    /// the answers reach `budget` bytes it stops: with what it has if that is at least
    /// `need` blocks (the rest is fetched later, a page at a time), else with
    /// [`FillError::TooMuchPending`]. A page is bounded in bytes, so at most a page
    /// past the budget is ever held.
    async fn range(
        &self,
        peer: &PageClient,
        from: u64,
        count: usize,
        need: usize,
        budget: usize,
    ) -> Result<(Vec<Block>, usize, u64), FillError> {
        let mut blocks: Vec<Block> = Vec::with_capacity(count.min(MAX_PAGE));
        let mut bytes = 0;
        let mut total;
        loop {
            let at = from + blocks.len() as u64;
            let page = self.page(peer, at, count - blocks.len()).await?;
            total = page.total;
            bytes += page.bytes;
            let more = !page.blocks.is_empty();
            blocks.extend(page.blocks);
            if !more || blocks.len() >= count || from + blocks.len() as u64 >= total {
                return Ok((blocks, bytes, total));
            }
            if bytes >= budget {
                if blocks.len() >= need {
                    return Ok((blocks, bytes, total));
                }
                return Err(FillError::TooMuchPending {
                    fork: usize::try_from(from).unwrap_or(usize::MAX),
                    pending: blocks.len(),
                    bytes,
                });
            }
        }
    }

    /// One page of at most `limit` blocks from `from` (fewer when the answer would be
    /// over the byte limit: then asked again with half as many).
    async fn page(&self, peer: &PageClient, from: u64, limit: usize) -> Result<Page, FillError> {
        match self.answer(peer, from, limit).await? {
            Answer::Page(page) => Ok(page),
            Answer::WholeChain(_) => Err(FillError::Inconsistent(
                "a whole chain where a page was asked for".into(),
            )),
        }
    }

    async fn answer(
        &self,
        peer: &PageClient,
        from: u64,
        limit: usize,
    ) -> Result<Answer, FillError> {
        let mut limit = limit.clamp(1, MAX_PAGE);
        loop {
            match peer.fetch(from, limit).await {
                Ok(bytes) => {
                    let answer = tokio::task::spawn_blocking(move || parse_answer(bytes))
                        .await
                        .map_err(|_| FillError::Stopped)??;
                    if let Answer::Page(page) = &answer {
                        if page.from != from || page.blocks.len() > limit {
                            return Err(FillError::Inconsistent(format!(
                                "asked for {limit} blocks from {from}, got {} from {}",
                                page.blocks.len(),
                                page.from
                            )));
                        }
                        if let Some(i) = page.blocks.iter().position(|b| b.data.has_nan()) {
                            return Err(FillError::Nan(from + i as u64));
                        }
                    }
                    return Ok(answer);
                }
                Err(FetchError::TooLarge(_)) if limit > 1 => limit /= 2,
                Err(err) => return Err(err.into()),
            }
        }
    }

    /// Waits for a hand-over to the writer and counts and logs it; `false` when it
    /// was not adopted because our chain changed (start over).
    async fn handed(
        &self,
        handing: HandOver,
        peer: &PageClient,
        what: &'static str,
        progress: &FillProgress,
        adopted: &mut u64,
    ) -> Result<bool, FillError> {
        let outcome = handing
            .task
            .await
            .map_err(|_| FillError::Stopped)?
            .map_err(|_| FillError::Stopped)?;
        match outcome {
            Some(AdoptOutcome::Adopted) => {}
            None | Some(AdoptOutcome::NotPreferred) => return Ok(false),
            Some(AdoptOutcome::NotStored) => return Err(FillError::NotStored),
        }
        *adopted += handing.blocks;
        progress
            .adopted
            .fetch_add(handing.blocks, Ordering::Relaxed);
        progress.progressed();
        let secs = progress.elapsed().as_secs_f64().max(1e-3);
        tracing::info!(
            peer = %clip(peer.base()),
            height = handing.height,
            target = handing.target,
            blocks_per_s = (progress.adopted() as f64 / secs).round(),
            adopt_ms = handing.started.elapsed().as_millis() as u64,
            "{what}: adopted blocks up to {}",
            handing.height - 1
        );
        Ok(true)
    }

    /// Joins `suffix` to `current`'s chain and hands the candidate to the writer, off
    /// the async workers (the join copies the prefix; the writer waits for the
    /// store); `None` when `current` no longer holds the suffix's parent.
    fn adopt(&self, current: Arc<Snapshot>, suffix: ValidSuffix) -> AdoptTask {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let now = Instant::now();
            let Ok(chain) = current.chain().with_suffix(suffix) else {
                return Ok(None);
            };
            let candidate = Candidate {
                chain,
                timings: IntakeTimings {
                    received_at: now,
                    started_at: now,
                    validate_time: Duration::ZERO,
                    examined_at: Instant::now(),
                },
            };
            writer.adopt_blocking(candidate).map(Some)
        })
    }
}

/// The writer's work on one batch: `None` when our chain no longer held its parent.
type AdoptTask = tokio::task::JoinHandle<Result<Option<AdoptOutcome>, WriterStopped>>;

/// A batch on its way into our chain (the writer stores it while the fill goes on).
struct HandOver {
    blocks: u64,
    height: usize,
    target: u64,
    started: Instant,
    task: AdoptTask,
}

/// Blocks to gather before the next hand-over, the fork point being at `fork`: at least
/// [`COMMIT_EVERY`], and half the chain's length beyond that, so that the hand-overs
/// (whose cost grows with the chain) cost O(chain) in all, not O(chain²/batch); a
/// node stopped mid-sync still keeps two thirds of what it fetched.
fn batch(fork: usize) -> usize {
    COMMIT_EVERY.max(fork / 2)
}

/// The next page, fetched (and parsed) while the current one is checked; aborted when
/// dropped unused (the fill stopped or started over).
struct Prefetch {
    from: u64,
    task: tokio::task::JoinHandle<Result<Page, FillError>>,
}

impl Prefetch {
    fn start(sync: &RangeSync, peer: &PageClient, from: u64) -> Prefetch {
        let (sync, peer) = (sync.clone(), peer.clone());
        let task = tokio::spawn(async move { sync.page(&peer, from, MAX_PAGE).await });
        Prefetch { from, task }
    }

    async fn take(mut self) -> Result<Page, FillError> {
        (&mut self.task).await.map_err(|_| FillError::Stopped)?
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Checks `blocks` as the continuation of `suffix` on the blocking pool (it hashes
/// them).
async fn check(mut suffix: ValidSuffix, blocks: Vec<Block>) -> Result<ValidSuffix, FillError> {
    if blocks.is_empty() {
        return Ok(suffix);
    }
    tokio::task::spawn_blocking(move || {
        suffix
            .extend(blocks, now_ms())
            .map(|()| suffix)
            .map_err(FillError::Invalid)
    })
    .await
    .map_err(|_| FillError::Stopped)?
}

/// The most gap requests set aside for their peers' back-off at once (one per peer).
pub const DEFERRED_GAPS: usize = 16;

/// Sets `request` aside until `at`: in place of the one its peer (`key`) had set aside
/// (the newer announcement stands), or beside the others while there is room, else in
/// place of the one due last.
fn defer(
    deferred: &mut Vec<(Instant, String, GapRequest)>,
    at: Instant,
    key: String,
    request: GapRequest,
) {
    if let Some(slot) = deferred.iter_mut().find(|(_, held, _)| *held == key) {
        *slot = (at, key, request);
    } else if deferred.len() < DEFERRED_GAPS {
        deferred.push((at, key, request));
    } else if let Some(slot) = deferred.iter_mut().max_by_key(|(due, _, _)| *due) {
        *slot = (at, key, request);
    }
}

/// Sleeps until `at` (forever without one: the branch is off then).
async fn sleep_until_due(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Whether `snapshot`'s chain holds `hash` at `height`.
fn holds(snapshot: &Snapshot, height: u64, hash: &str) -> bool {
    usize::try_from(height)
        .ok()
        .is_some_and(|h| hash_is(snapshot.chain().blocks().hash(h), hash))
}

/// Whether a held block's hash (bytes) is the hex `hash` a peer sent.
fn hash_is(held: Option<&[u8; 32]>, hash: &str) -> bool {
    held.is_some_and(|h| hex::encode(h) == hash)
}

/// Fills the gaps announced on `requests`, one at a time, for as long as the node
/// runs (the announcement reader holds the sender): a request whose tip we hold by
/// its turn is skipped, and one naming a peer whose last fill failed, or brought
/// nothing, a short while ago is put off (see [`gap_backoff`](super::gap_backoff)); the
/// others are filled from
/// their peer, each within the time bounds of [`GapLimits`].
///
/// A request skipped for its peer's back-off is not dropped: the newest one per peer is
/// kept aside ([`DEFERRED_GAPS`] at most) and filled when the back-off ends. Before, it
/// was dropped, and a node whose peer had been down (and came back on the same address,
/// announcing once) stayed on its weaker chain until the next block.
///
/// Requests from peers whose fills brought blocks before ([`HelpfulPeers`]) go first,
/// and a fill from any other peer gives way to one (`gave_way` in `/api/status`): it is
/// put back in line ([`GapLine`]) and taken up again after, then without giving way
/// again. Before, any name in an announcement held the filler for up to its progress
/// deadline, one name after another.
pub async fn run(mut requests: GapReceiver, sync: RangeSync) {
    let limits = sync.gap_limits;
    let mut backoff = PeerBackoff::new(limits.backoff_first, limits.backoff_max);
    let mut helpful = HelpfulPeers::default();
    // Requests set aside for their peer's back-off: when each is due, and the request.
    let mut deferred: Vec<(Instant, String, GapRequest)> = Vec::new();
    // Requests read during a fill that may give way, and fills that gave way.
    let mut line = GapLine::default();
    let stats = &sync.stats;
    loop {
        let due = deferred
            .iter()
            .enumerate()
            .min_by_key(|(_, (at, _, _))| *at)
            .map(|(i, (at, _, _))| (i, *at));
        let Next {
            request,
            may_give_way,
        } = match due {
            // A helpful peer's request in line first, then one whose back-off is over.
            _ if line.has_helpful(&helpful) => line.next(&helpful).expect("it holds one"),
            Some((i, at)) if at <= Instant::now() => Next {
                request: deferred.swap_remove(i).2,
                may_give_way: true,
            },
            _ if !line.is_empty() => line.next(&helpful).expect("the line is not empty"),
            _ => tokio::select! {
                request = requests.recv() => match request {
                    Some(request) => {
                        stats.gap_requests.fetch_add(1, Ordering::Relaxed);
                        Next { request, may_give_way: true }
                    }
                    None => return,
                },
                () = sleep_until_due(due.map(|(_, at)| at)), if due.is_some() => {
                    let (i, _) = due.expect("the branch runs only with a due request");
                    Next { request: deferred.swap_remove(i).2, may_give_way: true }
                }
            },
        };
        if holds(&sync.snapshot(), request.height, &request.tip_hash) {
            stats.gap_held.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let key = peer_key(&request.peer);
        if let Some(wait) = backoff.waiting(&key, Instant::now()) {
            stats.gap_backoff.fetch_add(1, Ordering::Relaxed);
            // Debug only: anyone may send such requests, as often as they like.
            tracing::debug!(
                peer = %clip(&request.peer),
                wait_s = wait.as_secs(),
                "gap fill put off: the peer's last fill failed or brought nothing"
            );
            defer(&mut deferred, Instant::now() + wait, key, request);
            continue;
        }
        // Begun here too (not only in the fill), so that a request refused before the
        // fill begins (a bad address) shows its own peer and counts no stale blocks.
        stats
            .gap
            .begin(&request.peer, sync.snapshot().chain().len());
        let result = if helpful.contains(&key) || !may_give_way {
            fill(&sync, &request).await
        } else {
            tokio::select! {
                result = fill(&sync, &request) => result,
                () = gives_way(&mut requests, &mut line, &helpful, &backoff, &sync) => {
                    stats.gap_gave_way.fetch_add(1, Ordering::Relaxed);
                    // Nothing of it was adopted: a fill that handed a batch over does
                    // not give way (see `gives_way`).
                    stats.gap.gave_way();
                    tracing::info!(
                        peer = %clip(&request.peer),
                        "gap fill set aside for a peer that brought blocks before"
                    );
                    if line.put_back(request, &helpful) {
                        stats.gap_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
            }
        };
        // A fill that adopts nothing leaves the peer's place as it was: forged
        // announcements naming a helpful peer must not cost it its place (and each
        // costs one of its fills at most, since a fill gives way only once).
        if stats.gap.adopted() > 0 {
            helpful.helped(&key, Instant::now());
        }
        match &result {
            Ok(outcome) => {
                // A fill that brought nothing was asked for by an announcement that
                // claimed more than the peer has, or lost a race: the peer waits a little
                // before it is asked again, so that such claims, which cost nothing to
                // send, cannot make this node fetch from it at once, again and again.
                if stats.gap.adopted() == 0 {
                    stats.gap_fruitless.fetch_add(1, Ordering::Relaxed);
                    backoff.fruitless(&key, Instant::now(), limits.fruitless_wait);
                } else {
                    backoff.succeeded(&key);
                }
                stats.gap.end(None);
                tracing::info!(
                    peer = %clip(&request.peer),
                    height = request.height,
                    ?outcome,
                    "gap fill done"
                );
            }
            Err(err) => {
                let text = err.to_string();
                stats.gap_failed.fetch_add(1, Ordering::Relaxed);
                stats.gap.end(Some(&text));
                // A fill that adopted blocks brought us a better chain, however it
                // ended: the peer is not to blame.
                let wait = if stats.gap.adopted() > 0 {
                    backoff.succeeded(&key);
                    Duration::ZERO
                } else {
                    backoff.failed(&key, Instant::now())
                };
                tracing::warn!(
                    peer = %clip(&request.peer),
                    height = request.height,
                    backoff_s = wait.as_secs(),
                    "gap fill stopped: {}",
                    clip_to(&text, MESSAGE_CHARS)
                );
            }
        }
    }
}

/// Puts the requests that come during a fill from a peer not known to help in `line`,
/// and resolves once one of them should go first: its peer brought blocks before, is
/// not backed off, and its tip is not ours already. Never resolves once the fill has
/// handed a batch to the writer (its blocks won our fork choice: it is no stranger's
/// stalling, and a batch still being stored would go uncounted, its peer not marked
/// helpful), nor once the channel is closed: the fill then runs to its end.
async fn gives_way(
    requests: &mut GapReceiver,
    line: &mut GapLine,
    helpful: &HelpfulPeers,
    backoff: &PeerBackoff,
    sync: &RangeSync,
) {
    while let Some(request) = requests.recv().await {
        sync.stats.gap_requests.fetch_add(1, Ordering::Relaxed);
        let key = peer_key(&request.peer);
        let first = helpful.contains(&key)
            && sync.stats.gap.handed_over() == 0
            && backoff.waiting(&key, Instant::now()).is_none()
            && !holds(&sync.snapshot(), request.height, &request.tip_hash);
        if line.join(request, helpful) {
            sync.stats.gap_dropped.fetch_add(1, Ordering::Relaxed);
        }
        if first {
            return;
        }
    }
    std::future::pending().await
}

/// One gap fill from the request's peer, stopped by [`deadline`] when it makes no
/// progress or runs too long (dropping the fill cancels its requests; a batch the
/// writer is storing at that moment is stored all the same).
async fn fill(sync: &RangeSync, request: &GapRequest) -> Result<FillOutcome, FillError> {
    let client = sync.client(&request.peer)?;
    let progress = &sync.stats.gap;
    let outcome = tokio::select! {
        // The fill first: it marks its start before the deadline looks.
        biased;
        result = sync.fill_from(&client, "gap fill", progress) => result?,
        stopped = deadline(progress, sync.gap_limits, Instant::now()) => return Err(stopped),
    };
    match outcome {
        // An announcer is a minichain node: it pages.
        FillOutcome::WholeChain(_) => Err(FillError::Inconsistent(
            "the peer does not serve pages".into(),
        )),
        outcome => Ok(outcome),
    }
}

/// Resolves when the fill that began at `began` (reporting to `progress`) has made no
/// progress for `limits.progress`, or has run `limits.total` in all: with the error
/// saying which. Sleeps until the nearer of the two, and looks again on waking (the
/// fill may have progressed meanwhile).
async fn deadline(progress: &FillProgress, limits: GapLimits, began: Instant) -> FillError {
    loop {
        // A progress older than `began` is a previous fill's.
        let last = progress.last_progress().map_or(began, |at| at.max(began));
        let now = Instant::now();
        let idle = now.saturating_duration_since(last);
        let ran = now.saturating_duration_since(began);
        if ran >= limits.total {
            return FillError::TooLong(limits.total);
        }
        if idle >= limits.progress {
            return FillError::NoProgress(limits.progress);
        }
        tokio::time::sleep((limits.progress - idle).min(limits.total - ran)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(peer: &str, height: u64) -> GapRequest {
        GapRequest::naming(peer, height)
    }

    /// One request set aside per peer (the newer stands), at most [`DEFERRED_GAPS`] in
    /// all: past that a new peer's takes the place of the one due last.
    #[test]
    fn requests_put_off_are_one_per_peer_and_bounded() {
        let now = Instant::now();
        let mut deferred = Vec::new();
        let peer = |i: usize| format!("http://127.0.0.1:{}", 1000 + i);
        defer(&mut deferred, now, peer_key(&peer(0)), request(&peer(0), 1));
        defer(&mut deferred, now, peer_key(&peer(0)), request(&peer(0), 2));
        assert_eq!(deferred.len(), 1);
        assert_eq!(deferred[0].2.height, 2, "the newer request stands");
        for i in 1..DEFERRED_GAPS + 5 {
            let at = now + Duration::from_secs(i as u64);
            defer(&mut deferred, at, peer_key(&peer(i)), request(&peer(i), 3));
        }
        assert_eq!(deferred.len(), DEFERRED_GAPS);
        assert!(
            deferred
                .iter()
                .any(|(_, key, _)| *key == peer_key(&peer(0))),
            "the one due first is kept"
        );
    }
}
