//! Takes announcements (live from the channel, or read back from the block log) and
//! does the cheapest thing that brings our chain to the announced tip:
//!
//! - **a tip we hold** (at its height): nothing (`current`);
//! - **blocks that extend our tip**: only they are validated (the chain's
//!   [`extend`](crate::chain::ValidChain::extend): links, rules, hashes of the new
//!   blocks) and the result offered to the writer, which applies fork choice. Runs of
//!   announcements that extend each other (a catch-up from the log) are merged into one
//!   candidate: one validation and one store transaction for the lot;
//! - **a tip whose parent we lack**, claiming a better chain: a
//!   [`GapRequest`] for the range fetch (deduplicated, dropped on a full queue);
//! - **a worse tip**: the announcer lacks our chain, so the publisher re-announces ours
//!   (rate-limited), and the announcer fetches what it lacks.
//!
//! Verdicts are counted in [`SyncStats`] under the source `announce`, like any chain
//! message; the rest in [`AnnounceStats`]. The position in the log advances past each
//! entry handled, and is kept in the store ([`LogPosition`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};

use super::message::{self, ANNOUNCE_MAX_BYTES, Announcement, StreamId};
use super::{AnnounceStats, KnownTips, bump};
use crate::chain::validate::now_ms;
use crate::chain::{Block, ChainWeight, ForkChoice, RuleSet, ValidChain};
use crate::node::gap::{GapRequest, GapSender};
use crate::node::intake::examine::{check_nan, check_preferred};
use crate::node::intake::{Rejection, Source, SyncStats, Verdict};
use crate::node::job_slot::IntakeTimings;
use crate::node::state::{AdoptOutcome, Candidate, ChainWriter, Snapshot, WriterStopped};
use crate::node::stream_log::LogPosition;

/// Announcements waiting for the receiver; past it live ones are dropped (counted as
/// `backlog`: the log still holds them).
pub const RECEIVER_QUEUE: usize = 1024;

/// Bytes of announcements waiting for the receiver: past it, as past
/// [`RECEIVER_QUEUE`], live ones are dropped (and the log reader waits). A count alone
/// would let a burst of the largest announcements (4 MiB each) hold gigabytes.
pub const RECEIVER_QUEUE_BYTES: usize = 64 * 1024 * 1024;

/// Most announcements handled in one pass (merged when they extend each other).
const BATCH_MAX: usize = 256;

/// Most blocks gathered across wake-ups during a catch-up before they are applied.
const CARRY_MAX: usize = 4096;

/// Most bytes of announcements gathered before they are applied, during a catch-up or
/// within one pass: blocks are held unvalidated until then, and a count alone would let
/// a log of the largest announcements (4 MiB each) hold gigabytes (a review's log of
/// 375 MiB of fake entries took a node to 808 MB).
const CARRY_MAX_BYTES: usize = 16 * 1024 * 1024;

/// Most live announcements set aside during a catch-up (the newest are kept).
const DEFERRED_MAX: usize = 16;

/// Least time between two gap requests for the same tip.
const GAP_REPEAT: Duration = Duration::from_secs(2);

/// One thing for the receiver.
#[derive(Debug)]
pub enum Incoming {
    /// A message from the channel: the log id line, then the entry.
    Live {
        /// The message.
        bytes: Bytes,
        /// When it arrived.
        received_at: Instant,
        /// Its share of [`RECEIVER_QUEUE_BYTES`], given back when it is handled.
        _queued: OwnedSemaphorePermit,
    },
    /// An entry read back from the block log.
    Logged {
        /// Its id.
        id: StreamId,
        /// The entry.
        bytes: Bytes,
        /// Its share of [`RECEIVER_QUEUE_BYTES`], given back when it is handled.
        _queued: OwnedSemaphorePermit,
    },
    /// The catch-up that began has sent every entry it read.
    CatchUpDone,
}

/// The producers' handle (the Redis listener, the log reader).
#[derive(Debug, Clone)]
pub struct AnnounceSender {
    tx: mpsc::Sender<Incoming>,
    /// The bytes still free in the queue, [`RECEIVER_QUEUE_BYTES`] at most.
    queue_bytes: Arc<Semaphore>,
    sync: Arc<SyncStats>,
    known: Arc<KnownTips>,
}

/// The permits for an entry of `len` bytes (a larger entry than the whole budget takes
/// all of it rather than waiting for ever).
fn permits_for(len: usize) -> u32 {
    u32::try_from(len.clamp(1, RECEIVER_QUEUE_BYTES)).expect("the budget fits in u32")
}

impl AnnounceSender {
    /// Queues a channel message without waiting (the listener must not stall): an
    /// oversized one or a full queue is counted and dropped.
    pub fn offer_live(&self, payload: &[u8]) {
        if payload.len() > ANNOUNCE_MAX_BYTES + 64 {
            self.reject_too_large(payload.len());
            return;
        }
        // Known at once, before a whole chain with this tip can follow on BLOCKCHAIN
        // (the receiver checks the announcement itself later).
        if let Some(hash) = message::header_hash(payload) {
            self.known.insert(hash);
        }
        let backlog = || {
            self.sync
                .record(Source::Announce, &Verdict::Rejected(Rejection::Backlog));
        };
        let Ok(queued) =
            Arc::clone(&self.queue_bytes).try_acquire_many_owned(permits_for(payload.len()))
        else {
            backlog();
            return;
        };
        let incoming = Incoming::Live {
            bytes: Bytes::copy_from_slice(payload),
            received_at: Instant::now(),
            _queued: queued,
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(incoming) {
            backlog();
        }
    }

    /// Counts an announcement of `len` bytes, over [`ANNOUNCE_MAX_BYTES`], as refused
    /// unread (a channel message, or a log entry left in Redis).
    pub fn reject_too_large(&self, len: usize) {
        let verdict = Verdict::Rejected(Rejection::TooLarge {
            len,
            limit: ANNOUNCE_MAX_BYTES,
        });
        self.sync.record(Source::Announce, &verdict);
    }

    /// Queues an entry read from the log, waiting for room; false once the receiver
    /// has stopped.
    pub async fn send_logged(&self, id: StreamId, bytes: Bytes) -> bool {
        let Ok(queued) = Arc::clone(&self.queue_bytes)
            .acquire_many_owned(permits_for(bytes.len()))
            .await
        else {
            return false;
        };
        self.tx
            .send(Incoming::Logged {
                id,
                bytes,
                _queued: queued,
            })
            .await
            .is_ok()
    }

    /// Marks the end of a catch-up's entries.
    pub async fn catch_up_done(&self) -> bool {
        self.tx.send(Incoming::CatchUpDone).await.is_ok()
    }
}

/// Everything the receiver works with.
#[derive(Debug)]
pub struct ReceiverParts {
    /// Our chain.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// Where candidates go.
    pub writer: ChainWriter,
    /// The sync verdict counters.
    pub sync: Arc<SyncStats>,
    /// The announcement counters.
    pub stats: Arc<AnnounceStats>,
    /// Tips minichain nodes announced.
    pub known: Arc<KnownTips>,
    /// Our node id (our own announcements are ignored).
    pub node: String,
    /// Which chain wins.
    pub fork_choice: ForkChoice,
    /// Where tips whose parent we lack go.
    pub gaps: GapSender,
    /// Asks the publisher to announce our tip again.
    pub reannounce: Arc<Notify>,
    /// How far in the log we have read.
    pub position: Arc<LogPosition>,
    /// Set by the log reader while a catch-up runs.
    pub catching_up: Arc<AtomicBool>,
}

/// Starts the receiver; it stops when every [`AnnounceSender`] is dropped or the
/// writer stops.
pub fn spawn(parts: ReceiverParts) -> (AnnounceSender, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel(RECEIVER_QUEUE);
    let sender = AnnounceSender {
        tx,
        queue_bytes: Arc::new(Semaphore::new(RECEIVER_QUEUE_BYTES)),
        sync: Arc::clone(&parts.sync),
        known: Arc::clone(&parts.known),
    };
    let worker = Arc::new(Worker {
        parts,
        last_gap: Mutex::new(None),
        deferred: Mutex::new(VecDeque::new()),
        carried: Mutex::new((Run::default(), None)),
    });
    let task = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < BATCH_MAX {
                match rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let worker = Arc::clone(&worker);
            match tokio::task::spawn_blocking(move || worker.process(batch)).await {
                Ok(Ok(())) => {}
                Ok(Err(WriterStopped)) => return,
                Err(err) => tracing::error!(%err, "announcement handling panicked"),
            }
        }
    });
    (sender, task)
}

struct Worker {
    parts: ReceiverParts,
    last_gap: Mutex<Option<(String, Instant)>>,
    /// Live announcements set aside during the running catch-up (the newest
    /// [`DEFERRED_MAX`]), looked at again once it is done.
    deferred: Mutex<VecDeque<(Option<StreamId>, Announcement)>>,
    /// During a catch-up, the blocks gathered so far and the log position they reach.
    carried: Mutex<(Run, Option<StreamId>)>,
}

/// Blocks that extend the snapshot `base`, gathered from consecutive announcements.
#[derive(Default)]
struct Run {
    base: Option<Arc<Snapshot>>,
    blocks: Vec<Block>,
    /// Where each merged announcement's blocks end in `blocks`, in order: an
    /// announcement counts as applied only when the blocks kept reach its end.
    ends: Vec<usize>,
    received_at: Option<Instant>,
    /// Bytes of the announcements merged into `blocks` (see [`CARRY_MAX_BYTES`]).
    bytes: usize,
}

enum Step {
    Held,
    Extended,
    NotAttached,
}

impl Worker {
    fn process(&self, batch: Vec<Incoming>) -> Result<(), WriterStopped> {
        let p = &self.parts;
        let (mut run, mut advanced) =
            std::mem::take(&mut *self.carried.lock().unwrap_or_else(PoisonError::into_inner));
        for item in batch {
            let (id, entry, received_at, live) = match item {
                Incoming::CatchUpDone => {
                    self.flush(&mut run)?;
                    p.catching_up.store(false, Ordering::Relaxed);
                    // What came live meanwhile: mostly held or attached by now; a gap
                    // only if the log did not have what leads to it.
                    let deferred = std::mem::take(
                        &mut *self.deferred.lock().unwrap_or_else(PoisonError::into_inner),
                    );
                    for (id, ann) in deferred {
                        let mut step = self.step(&ann, &mut run, Instant::now());
                        if matches!(step, Step::NotAttached) && run.base.is_some() {
                            self.flush(&mut run)?;
                            step = self.step(&ann, &mut run, Instant::now());
                        }
                        match step {
                            Step::Held => p.sync.record(Source::Announce, &Verdict::Current),
                            Step::Extended => {}
                            Step::NotAttached => {
                                self.unattached(&ann, None);
                            }
                        }
                        if let Some(id) = id {
                            advanced = advanced.max(Some(id));
                        }
                    }
                    self.flush(&mut run)?;
                    self.save(&mut advanced);
                    continue;
                }
                Incoming::Logged { id, bytes, .. } => {
                    bump(&p.stats.log_read);
                    (Some(id), bytes, Instant::now(), false)
                }
                Incoming::Live {
                    bytes, received_at, ..
                } => match message::split_log_id(&bytes) {
                    Ok((id, entry)) => (
                        id.filter(|&id| plausible_live_id(id, now_ms())),
                        bytes.slice_ref(entry),
                        received_at,
                        true,
                    ),
                    Err(rejection) => {
                        p.sync
                            .record(Source::Announce, &Verdict::Rejected(rejection));
                        continue;
                    }
                },
            };
            let mut advance = |to: Option<StreamId>| {
                if let Some(to) = to {
                    advanced = advanced.max(Some(to));
                }
            };
            let ann = match message::decode(&entry) {
                Ok(ann) => ann,
                Err(rejection) => {
                    p.sync
                        .record(Source::Announce, &Verdict::Rejected(rejection));
                    // An entry read from the log is behind us either way; a live
                    // message's id is only what its sender wrote, and junk moves nothing.
                    if !live {
                        advance(id);
                    }
                    continue;
                }
            };
            if ann.node == p.node {
                bump(&p.stats.own);
                advance(id);
                continue;
            }
            bump(&p.stats.received);
            p.known.insert(&ann.hash);
            let mut step = self.step(&ann, &mut run, received_at);
            if matches!(step, Step::NotAttached) && run.base.is_some() {
                // Apply what is gathered, then look again from the new tip.
                self.flush(&mut run)?;
                step = self.step(&ann, &mut run, received_at);
            }
            match step {
                Step::Held => p.sync.record(Source::Announce, &Verdict::Current),
                Step::Extended => {
                    run.bytes = run.bytes.saturating_add(entry.len());
                    if run.bytes >= CARRY_MAX_BYTES {
                        // Applied now: what was gathered is checked before more is held.
                        self.flush(&mut run)?;
                    }
                }
                Step::NotAttached => {
                    let live_id = live.then_some(id);
                    if !self.unattached(&ann, live_id) {
                        // Set aside until the catch-up is done.
                        continue;
                    }
                }
            }
            advance(id);
        }
        if p.catching_up.load(Ordering::Relaxed)
            && run.blocks.len() < CARRY_MAX
            && run.bytes < CARRY_MAX_BYTES
        {
            // A catch-up feeds entries as Redis answers: gather them into one
            // candidate (flushed at its end, or when large) rather than one per
            // wake-up. The position moves only once they are applied.
            *self.carried.lock().unwrap_or_else(PoisonError::into_inner) = (run, advanced);
            return Ok(());
        }
        self.flush(&mut run)?;
        self.save(&mut advanced);
        Ok(())
    }

    /// Where `ann` stands against our chain and the run gathered so far.
    fn step(&self, ann: &Announcement, run: &mut Run, received_at: Instant) -> Step {
        let snapshot = run
            .base
            .clone()
            .unwrap_or_else(|| Arc::clone(&self.parts.snapshots.borrow()));
        let chain = snapshot.chain();
        let held = usize::try_from(ann.height)
            .ok()
            .and_then(|h| chain.blocks().hash(h))
            .is_some_and(|h| hex::encode(h) == ann.hash)
            || run
                .blocks
                .iter()
                .any(|b| b.block_no == ann.height && b.hash == ann.hash);
        if held {
            return Step::Held;
        }
        let tip = run.blocks.last().unwrap_or(chain.tip());
        let Some(first) = ann
            .blocks
            .iter()
            .position(|b| b.block_no == tip.block_no + 1 && b.prev_hash == tip.hash)
        else {
            return Step::NotAttached;
        };
        if run.base.is_none() {
            run.base = Some(snapshot.clone());
            run.received_at = Some(received_at);
        }
        run.blocks.extend_from_slice(&ann.blocks[first..]);
        run.ends.push(run.blocks.len());
        Step::Extended
    }

    /// Validates the run's blocks on its base and offers the chain to the writer.
    fn flush(&self, run: &mut Run) -> Result<(), WriterStopped> {
        let p = &self.parts;
        let Some(base) = run.base.take() else {
            return Ok(());
        };
        let blocks = std::mem::take(&mut run.blocks);
        let ends = std::mem::take(&mut run.ends);
        run.bytes = 0;
        let received_at = run.received_at.take().unwrap_or_else(Instant::now);
        let started = Instant::now();
        let ours = base.chain().len();
        let examined = longest_valid(p.fork_choice, base.chain(), &blocks);
        let verdict = match examined {
            Ok((chain, invalid)) => {
                // The blocks after the valid ones, from whoever forged them.
                if let Some(invalid) = invalid {
                    p.sync.record(Source::Announce, &Verdict::Rejected(invalid));
                }
                let len = chain.len();
                let examined_at = Instant::now();
                let candidate = Candidate {
                    chain,
                    timings: IntakeTimings {
                        received_at,
                        started_at: started,
                        validate_time: examined_at.duration_since(started),
                        examined_at,
                    },
                };
                match p.writer.adopt_blocking(candidate)? {
                    AdoptOutcome::Adopted => {
                        let kept = len.saturating_sub(ours);
                        let applied = ends.iter().filter(|&&end| end <= kept).count();
                        p.stats.applied.fetch_add(applied as u64, Ordering::Relaxed);
                        Verdict::Adopted
                    }
                    AdoptOutcome::NotPreferred => {
                        Verdict::Rejected(Rejection::not_preferred(len, ours, p.fork_choice, false))
                    }
                    AdoptOutcome::NotStored => Verdict::Rejected(Rejection::NotStored),
                }
            }
            Err(rejection) => Verdict::Rejected(rejection),
        };
        p.sync.record(Source::Announce, &verdict);
        Ok(())
    }

    /// An announced tip that neither is ours nor extends it: a gap to fill when it
    /// claims a better chain, a re-announcement of ours when it is worse. False when a
    /// live announcement (`live_id`: `Some` with its log id, if any) was set aside
    /// because a catch-up runs: the log most likely holds what leads to it.
    fn unattached(&self, ann: &Announcement, live_id: Option<Option<StreamId>>) -> bool {
        let p = &self.parts;
        let snapshot = Arc::clone(&p.snapshots.borrow());
        let ours = ChainWeight::of_chain(snapshot.chain());
        match ann.claimed_vs(p.fork_choice, ours) {
            std::cmp::Ordering::Greater => {
                if let Some(id) = live_id
                    && p.catching_up.load(Ordering::Relaxed)
                {
                    bump(&p.stats.deferred);
                    let mut deferred = self.deferred.lock().unwrap_or_else(PoisonError::into_inner);
                    if deferred.len() == DEFERRED_MAX {
                        deferred.pop_front();
                    }
                    deferred.push_back((id, ann.clone()));
                    return false;
                }
                self.request_gap(ann);
            }
            ordering => {
                let ours_better = ordering == std::cmp::Ordering::Less;
                if ours_better {
                    p.reannounce.notify_one();
                }
                let len = usize::try_from(ann.height)
                    .unwrap_or(usize::MAX)
                    .saturating_add(1);
                let rejection = Rejection::not_preferred(
                    len,
                    snapshot.chain().len(),
                    p.fork_choice,
                    ours_better,
                );
                p.sync
                    .record(Source::Announce, &Verdict::Rejected(rejection));
            }
        }
        true
    }

    fn request_gap(&self, ann: &Announcement) {
        let p = &self.parts;
        {
            let mut last = self.last_gap.lock().unwrap_or_else(PoisonError::into_inner);
            if last
                .as_ref()
                .is_some_and(|(hash, at)| *hash == ann.hash && at.elapsed() < GAP_REPEAT)
            {
                return;
            }
            *last = Some((ann.hash.clone(), Instant::now()));
        }
        let request = GapRequest {
            peer: ann.peer.clone(),
            height: ann.height,
            tip_hash: ann.hash.clone(),
        };
        match p.gaps.try_send(request) {
            Ok(()) => bump(&p.stats.gaps),
            Err(_) => bump(&p.stats.gaps_dropped),
        }
    }

    /// Records how far the log has been handled (in memory and in the store).
    fn save(&self, advanced: &mut Option<StreamId>) {
        if let Some(id) = advanced.take() {
            self.parts.position.advance(id);
            *self
                .parts
                .stats
                .position
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = self.parts.position.get();
        }
    }
}

/// How far past this node's clock a live message's log id may be: Redis's clock, which
/// writes the ids, may run ahead of ours (an hour, in a test), but not by a day.
pub const LIVE_ID_AHEAD_MS: u64 = 24 * 3600 * 1000;

/// Whether a live message's log id could have been written by the log: ids are Redis's
/// clock in milliseconds. A live message's first line is whatever its sender wrote
/// (anyone may publish on the channel), and the position saved from it decides where
/// the next catch-up starts. A position past the log's newest entry counts as none
/// there, so a forged id costs a catch-up its entries (it falls back to gap fills)
/// only once the log has passed it; an id no Redis clock could have written is not
/// taken as a position at all.
fn plausible_live_id(id: StreamId, now_ms: u64) -> bool {
    id.ms <= now_ms.saturating_add(LIVE_ID_AHEAD_MS)
}

/// `base` extended by the longest valid prefix of `blocks` (a run gathered after its
/// tip), if that is preferred to `base`, with why the rest was cut, if it was: a run
/// merges many senders' announcements, and one that forged a block must not cost the
/// others theirs. A failure cuts the run at the failing block and the rest is checked
/// again: at most three checks (the text rules stop at the first failure, the hashes at
/// the lowest bad one), so a forger costs this node at most twice the work it would have
/// anyway.
fn longest_valid(
    fork_choice: ForkChoice,
    base: &ValidChain,
    blocks: &[Block],
) -> Result<(ValidChain, Option<Rejection>), Rejection> {
    let ours = base.len();
    let (mut keep, mut invalid) = match check_nan(blocks, ours) {
        Ok(()) => (blocks.len(), None),
        Err(rejection @ Rejection::Nan(at)) => (at - ours, Some(rejection)),
        Err(rejection) => return Err(rejection),
    };
    loop {
        let kept = &blocks[..keep];
        let preferred = check_preferred(
            fork_choice,
            base,
            ChainWeight::of_chain(base).extended_by(kept),
        );
        if let Err(rejection) = preferred {
            // Nothing kept, or too little to be preferred: the cut's reason first.
            return Err(invalid.unwrap_or(rejection));
        }
        let mut chain = base.clone();
        match chain.extend_from(kept, RuleSet::Strict, now_ms()) {
            Ok(()) => return Ok((chain, invalid)),
            Err(err) => {
                keep = err.index.saturating_sub(ours).min(keep.saturating_sub(1));
                invalid = Some(Rejection::Invalid(err));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A live id up to a day past our clock is taken as a position; one further ahead
    /// (anyone may publish any first line) is not.
    #[test]
    fn live_ids_far_in_the_future_are_not_positions() {
        let now = 1_800_000_000_000;
        let id = |ms| StreamId { ms, seq: 0 };
        assert!(plausible_live_id(id(now - 5_000), now));
        assert!(plausible_live_id(id(now + LIVE_ID_AHEAD_MS), now));
        assert!(!plausible_live_id(id(now + LIVE_ID_AHEAD_MS + 1), now));
        assert!(!plausible_live_id(id(u64::MAX), now));
        assert!(plausible_live_id(id(5), u64::MAX));
    }

    /// Live announcements are dropped as `backlog` once the queued bytes reach
    /// [`RECEIVER_QUEUE_BYTES`], long before the count limit, and room comes back as
    /// the queued ones are handled.
    #[test]
    fn the_queue_is_bounded_in_bytes() {
        let (tx, mut rx) = mpsc::channel(RECEIVER_QUEUE);
        let sender = AnnounceSender {
            tx,
            queue_bytes: Arc::new(Semaphore::new(RECEIVER_QUEUE_BYTES)),
            sync: Arc::new(SyncStats::default()),
            known: Arc::new(KnownTips::default()),
        };
        let largest = vec![b'x'; ANNOUNCE_MAX_BYTES];
        let fit = RECEIVER_QUEUE_BYTES / ANNOUNCE_MAX_BYTES;
        for _ in 0..fit + 3 {
            sender.offer_live(&largest);
        }
        let backlog = || sender.sync.rejected().get("backlog").copied().unwrap_or(0);
        assert_eq!(backlog(), 3);
        let mut queued = 0;
        while rx.try_recv().is_ok() {
            queued += 1;
        }
        assert_eq!(queued, fit, "the handled ones gave their bytes back");
        sender.offer_live(&largest);
        assert_eq!(backlog(), 3);
        assert!(rx.try_recv().is_ok());
    }

    /// A run with a forged block keeps the valid blocks before it (a forged hash, then a
    /// broken link: each cut where it fails), a run forged from its first block keeps
    /// nothing, and a wholly valid run is kept whole.
    #[test]
    fn a_forged_block_costs_only_itself_and_what_follows() {
        use crate::miner::synthetic::synthetic_chain;
        let honest = synthetic_chain(12);
        let base = ValidChain::validate(honest[..3].to_vec(), RuleSet::Strict, now_ms())
            .expect("a valid chain");
        let run = &honest[3..];
        let (whole, cut) = longest_valid(ForkChoice::Work, &base, run).expect("valid run");
        assert_eq!((whole.len(), cut.is_none()), (12, true));

        let mut forged = run.to_vec();
        forged[4].nonce = crate::chain::Nonce::from(7u128);
        let (kept, cut) = longest_valid(ForkChoice::Work, &base, &forged).expect("prefix");
        assert_eq!(kept.len(), 7, "blocks 3 to 6 kept");
        assert_eq!(kept.tip(), &honest[6]);
        assert!(
            matches!(cut, Some(Rejection::Invalid(ref e)) if e.index == 7),
            "{cut:?}"
        );

        let mut relinked = run.to_vec();
        relinked[6].prev_hash = "0".repeat(64);
        let (kept, cut) = longest_valid(ForkChoice::Work, &base, &relinked).expect("prefix");
        assert_eq!(kept.len(), 9);
        assert!(matches!(cut, Some(Rejection::Invalid(ref e)) if e.index == 9));

        let mut first = run.to_vec();
        first[0].nonce = crate::chain::Nonce::from(7u128);
        let rejected = longest_valid(ForkChoice::Work, &base, &first);
        assert!(
            matches!(rejected, Err(Rejection::Invalid(ref e)) if e.index == 3),
            "{rejected:?}"
        );
    }
}
