//! The job slot: where the running search registers, so that a new tip or shutdown
//! can cancel it, and where the next search finds the tip to mine on; with the
//! timings of a restart that an adopted chain caused.
//!
//! Why a file of its own: the chain writer (which sets the tip and cancels) and the
//! mining coordinator (which begins and ends searches) both hold the slot, and neither
//! should depend on the other to reach it. It depends on nothing else in the node.
//!
//! Reading the tip and registering the search's [`CancelToken`] happen under one lock
//! ([`JobSlot::begin`]), which closes the race where the tip moves between the two.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::chain::Block;
use crate::miner::{CancelToken, Progress};

/// When a chain from the network reached each step of the intake, to break a restart's
/// latency down by step.
#[derive(Debug, Clone, Copy)]
pub struct IntakeTimings {
    /// When its message arrived.
    pub received_at: Instant,
    /// When the intake began examining it (after the queue and the thread hop).
    pub started_at: Instant,
    /// Parsing and validating it.
    pub validate_time: Duration,
    /// When it was ready for the writer.
    pub examined_at: Instant,
}

/// How long the last restart took, for `/api/status` and the restart benchmark, with
/// its steps: `received_to_restart_us` = `queue_us` + `validate_us` + `handoff_us` +
/// `cancel_to_restart_us`. (The new chain's bodies are serialized after the restart.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RestartTiming {
    /// From the longer chain's message arriving to the search running on its tip.
    pub received_to_restart_us: u64,
    /// From the message's arrival to the intake taking it up (queue, thread hop).
    pub queue_us: u64,
    /// Parsing and validating the chain.
    pub validate_us: u64,
    /// From the intake handing it over to the writer cancelling the search (the thread
    /// hop and the fork-choice decision).
    pub handoff_us: u64,
    /// From the cancel to the new search: the old one winding down.
    pub cancel_to_restart_us: u64,
    /// When the new search started, µs since the Unix epoch (to compare with a
    /// client's clock on the same machine).
    pub restarted_at_unix_us: u64,
    /// Stale work: attempts the old search's workers made on the replaced tip, from
    /// the writer's cancel to each worker's stop (0 when no miner counts attempts).
    /// Workers count their attempts a slice (128 to 1024 counters, smaller at low
    /// difficulty) at a time, so the slice each worker was in at the cancel counts
    /// whole: precise to a slice per worker.
    pub stale_attempts: u64,
}

impl RestartTiming {
    /// The timing of a restart happening now, caused by a chain that went through the
    /// intake as `intake` says, whose adoption cancelled the old search at
    /// `cancelled_at`.
    pub fn until_now(intake: IntakeTimings, cancelled_at: Instant) -> RestartTiming {
        let now = Instant::now();
        RestartTiming {
            received_to_restart_us: micros(now.duration_since(intake.received_at)),
            queue_us: micros(intake.started_at.duration_since(intake.received_at)),
            validate_us: micros(intake.validate_time),
            handoff_us: micros(cancelled_at.duration_since(intake.examined_at)),
            cancel_to_restart_us: micros(now.duration_since(cancelled_at)),
            restarted_at_unix_us: unix_us(),
            stale_attempts: 0,
        }
    }
}

/// Whole microseconds, saturating (a `u64` of µs lasts half a million years).
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Microseconds since the Unix epoch; 0 for a clock set before it (the field is for
/// humans comparing clocks, and such a clock has no answer to compare).
fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, micros)
}

#[derive(Debug)]
struct SlotState {
    /// The chain's tip: what the next search mines on. The writer sets it on every
    /// change, before it serializes the new chain's bodies, so a restart never waits
    /// for them.
    tip: Block,
    /// The tip hash the running search mines on, and its token.
    job: Option<(String, CancelToken)>,
    /// Searches begun so far: the writer waits for this to move after a cancel.
    begun: u64,
    /// A cancel caused by an adopted chain, not yet followed by a restart.
    pending: Option<(IntakeTimings, Instant)>,
    /// The miner's attempt count when a running search was cancelled for a new tip,
    /// not yet followed by a restart: the next [`JobSlot::begin`] turns it into the
    /// stale work of that search.
    stale_from: Option<u64>,
    /// The last tips set, newest last, with whether this node mined them: what the
    /// live events tell a reader about a new tip's source.
    recent_tips: VecDeque<(String, TipSource)>,
    shutting_down: bool,
}

/// Where a new tip came from, as the chain writer told the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TipSource {
    /// This node mined it.
    Mined,
    /// A chain adopted from a peer (Redis, `POST /api/chain`, the start-up sync).
    Peer,
}

impl TipSource {
    /// `mined` or `peer`.
    pub fn name(self) -> &'static str {
        match self {
            TipSource::Mined => "mined",
            TipSource::Peer => "peer",
        }
    }
}

/// How many recent tips the slot remembers the source of.
const RECENT_TIPS: usize = 32;

/// Where the running search registers, so that a new tip or shutdown can cancel it,
/// and where the next search finds the tip to mine on.
#[derive(Debug)]
pub struct JobSlot {
    state: Mutex<SlotState>,
    /// The miner's attempt counters, once it is built: read (atomics only) at a cancel
    /// and at the next begin to count stale work.
    attempts: OnceLock<Arc<Progress>>,
}

/// How often [`JobSlot::wait_for_restart`] looks.
const RESTART_POLL: Duration = Duration::from_micros(20);

/// A search about to start: the tip it mines on, its token, what caused the restart
/// (if an adopted chain did), and the registration that ends when it is dropped.
#[derive(Debug)]
pub struct JobStart<'a> {
    /// The tip to mine on.
    pub prev: Block,
    /// The token the slot cancels when the tip moves or the node shuts down.
    pub token: CancelToken,
    /// The adopted chain's way through the intake and when the old search was
    /// cancelled, when this search restarts because of it.
    pub restart: Option<(IntakeTimings, Instant)>,
    /// Attempts the previous search made after the writer cancelled it for a new tip
    /// (stale work), when this search follows such a cancel.
    pub stale_attempts: Option<u64>,
    /// The registration: the search counts as running until this is dropped.
    pub running: RunningJob<'a>,
}

/// Ends the search's registration in its [`JobSlot`] when dropped, on every way out
/// (a panic in the search included), so that a finished search is never taken for a
/// running one (the writer would cancel it and wait for a restart that never comes).
#[derive(Debug)]
#[must_use = "the search counts as running until this is dropped"]
pub struct RunningJob<'a> {
    slot: &'a JobSlot,
}

impl Drop for RunningJob<'_> {
    fn drop(&mut self) {
        self.slot.end();
    }
}

impl JobSlot {
    /// A slot whose first search mines on `tip`.
    pub fn new(tip: &Block) -> JobSlot {
        JobSlot {
            state: Mutex::new(SlotState {
                tip: tip.clone(),
                job: None,
                begun: 0,
                pending: None,
                stale_from: None,
                recent_tips: VecDeque::with_capacity(RECENT_TIPS),
                shutting_down: false,
            }),
            attempts: OnceLock::new(),
        }
    }

    /// Gives the slot the miner's attempt counters, to count stale work (the node does
    /// once the miner is built; a second call is ignored).
    pub fn count_attempts_of(&self, progress: Arc<Progress>) {
        let _ = self.attempts.set(progress);
    }

    fn attempts_now(&self) -> Option<u64> {
        self.attempts.get().map(|p| p.total_attempts())
    }

    /// The last tips the writer set (up to 32), oldest first, with their sources.
    pub fn recent_tips(&self) -> Vec<(String, TipSource)> {
        self.lock().recent_tips.iter().cloned().collect()
    }

    /// Searches begun since start: the running (or last) search's job id.
    pub fn jobs_begun(&self) -> u64 {
        self.lock().begun
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        // A panic while holding this lock leaves plain data behind: still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Called by the chain writer on every change, as soon as it has decided on it:
    /// the next search mines on `tip`, and a running search on another tip is
    /// cancelled, remembering `cause` (the adopted chain's way through the intake)
    /// for the restart latency. Returns, when it
    /// cancelled one, the ticket to [`JobSlot::wait_for_restart`] with.
    /// The attempts the cancelled search makes from here on are its stale work,
    /// reported by the next [`JobSlot::begin`] (the attempt count is read with atomics
    /// only, after the cancel).
    pub fn on_new_tip(&self, tip: &Block, cause: Option<IntakeTimings>) -> Option<u64> {
        let mut state = self.lock();
        state.tip = tip.clone();
        let stale = state
            .job
            .as_ref()
            .is_some_and(|(hash, _)| *hash != tip.hash);
        if stale {
            if let Some((_, token)) = &state.job {
                token.cancel();
            }
            if state.stale_from.is_none() {
                state.stale_from = self.attempts_now();
            }
            if let Some(cause) = cause {
                state.pending = Some((cause, Instant::now()));
            }
        }
        if state.recent_tips.len() == RECENT_TIPS {
            state.recent_tips.pop_front();
        }
        let source = if cause.is_some() {
            TipSource::Peer
        } else {
            TipSource::Mined
        };
        state.recent_tips.push_back((tip.hash.clone(), source));
        stale.then_some(state.begun)
    }

    /// Waits (at most `timeout`) until a search begins after the cancel that gave
    /// `ticket` (or the node shuts down). The writer waits here before its own CPU
    /// work (serializing an adopted chain): on a machine with every core mining, that
    /// work would otherwise take the core a winding-down worker needs, and the new
    /// search would start only after it.
    ///
    /// No deadlock with a search that found a block just as it was cancelled: its
    /// coordinator ends the job before it looks at the tip, so either the writer saw
    /// no running search (and does not wait), or the coordinator sees the moved tip
    /// ([`JobSlot::tip_moved_from`]) and restarts instead of committing to the waiting
    /// writer. The timeout bounds the rest: a miner that failed.
    pub fn wait_for_restart(&self, ticket: u64, timeout: Duration) {
        // Polled, not signalled: a wake-up from the coordinator would tend to put the
        // writer on the coordinator's core, ahead of it, just as it starts the search.
        let deadline = Instant::now() + timeout;
        loop {
            {
                let state = self.lock();
                if state.begun > ticket || state.shutting_down {
                    return;
                }
            }
            if Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(RESTART_POLL);
        }
    }

    /// Whether the tip is no longer `prev_hash`: a block found on it is stale (the
    /// coordinator asks after its search ended, before committing the block).
    pub fn tip_moved_from(&self, prev_hash: &str) -> bool {
        self.lock().tip.hash != prev_hash
    }

    /// Cancels the running search and refuses new ones.
    pub fn shut_down(&self) {
        let mut state = self.lock();
        state.shutting_down = true;
        if let Some((_, token)) = &state.job {
            token.cancel();
        }
    }

    /// Registers a search on the current tip (the coordinator, before each search);
    /// `None` once shutting down. The search counts as running until the returned
    /// [`JobStart::running`] is dropped.
    pub fn begin(&self) -> Option<JobStart<'_>> {
        let mut state = self.lock();
        if state.shutting_down {
            return None;
        }
        let token = CancelToken::new();
        state.job = Some((state.tip.hash.clone(), token.clone()));
        state.begun += 1;
        // The previous search has returned, so every worker of it has stopped.
        let stale_attempts = state
            .stale_from
            .take()
            .and_then(|from| Some(self.attempts_now()?.saturating_sub(from)));
        Some(JobStart {
            prev: state.tip.clone(),
            token,
            restart: state.pending.take(),
            stale_attempts,
            running: RunningJob { slot: self },
        })
    }

    /// Ends the running search's registration ([`RunningJob`]'s drop).
    fn end(&self) {
        self.lock().job = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{Difficulty, Json, genesis};
    use crate::miner::reference::mine_reference;
    use std::sync::Arc;

    fn cause() -> IntakeTimings {
        let now = Instant::now();
        IntakeTimings {
            received_at: now,
            started_at: now,
            validate_time: Duration::ZERO,
            examined_at: now,
        }
    }

    /// A new tip cancels a search on another tip (and only then), and the next search
    /// mines on the new tip, carrying the cause for its restart timing.
    #[test]
    fn a_new_tip_cancels_a_stale_search_and_the_next_begins_on_it() {
        let first = genesis();
        let second = mine_reference(&first, Json::Null, first.timestamp + 1, Difficulty::new(3));
        let slot = JobSlot::new(&first);
        assert_eq!(slot.on_new_tip(&first, None), None, "no search runs yet");
        let start = slot.begin().expect("not shutting down");
        assert_eq!(start.prev, first);
        assert!(start.restart.is_none());
        assert_eq!(
            slot.on_new_tip(&first, Some(cause())),
            None,
            "same tip: not stale"
        );
        assert!(!start.token.is_cancelled());
        assert_eq!(slot.on_new_tip(&second, Some(cause())), Some(1));
        assert!(start.token.is_cancelled());
        assert!(slot.tip_moved_from(&first.hash));
        assert!(!slot.tip_moved_from(&second.hash));
        drop(start.running);
        let next = slot.begin().expect("not shutting down");
        assert_eq!(next.prev, second);
        assert!(next.restart.is_some());
        slot.shut_down();
        assert!(next.token.is_cancelled());
        assert!(slot.begin().is_none());
    }

    /// The attempts a cancelled search makes after its cancel are its stale work,
    /// handed to the next search's start; a search that was not cancelled has none.
    #[test]
    fn attempts_after_a_cancel_are_counted_as_stale() {
        let first = genesis();
        let second = mine_reference(&first, Json::Null, first.timestamp + 1, Difficulty::new(3));
        let slot = JobSlot::new(&first);
        let progress = Arc::new(crate::miner::progress::Progress::new(2));
        slot.count_attempts_of(Arc::clone(&progress));
        let start = slot.begin().expect("not shutting down");
        progress.add(0, 1000);
        assert_eq!(slot.on_new_tip(&second, Some(cause())), Some(1));
        progress.add(0, 96);
        progress.add(1, 27);
        drop(start.running);
        let next = slot.begin().expect("not shutting down");
        assert_eq!(next.stale_attempts, Some(123));
        drop(next.running);
        assert_eq!(
            slot.begin().expect("not shutting down").stale_attempts,
            None
        );
    }

    /// Dropping the registration ends it even when a panic unwinds through it: the
    /// slot then has no running search to cancel, and a new tip asks for no wait.
    #[test]
    fn a_panicking_search_still_ends_its_registration() {
        let first = genesis();
        let second = mine_reference(&first, Json::Null, first.timestamp + 1, Difficulty::new(3));
        let slot = JobSlot::new(&first);
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _start = slot.begin().expect("not shutting down");
            panic!("a search that fails");
        }));
        assert!(unwound.is_err());
        assert!(slot.lock().job.is_none());
        assert_eq!(slot.on_new_tip(&second, Some(cause())), None);
    }

    /// The writer's wait ends once a search began after the cancel, even one that has
    /// already ended again (a block found at once), and at the latest at its timeout.
    #[test]
    fn wait_for_restart_ends_when_a_new_search_began() {
        let first = genesis();
        let second = mine_reference(&first, Json::Null, first.timestamp + 1, Difficulty::new(3));
        let slot = Arc::new(JobSlot::new(&first));
        let running = slot.begin().expect("not shutting down");
        let ticket = slot.on_new_tip(&second, Some(cause())).expect("stale");
        let started = Instant::now();
        slot.wait_for_restart(ticket, Duration::from_millis(30));
        assert!(
            started.elapsed() >= Duration::from_millis(30),
            "no restart yet"
        );
        let coordinator = {
            let slot = Arc::clone(&slot);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                slot.end();
                // Found its block at once: the search is over before the writer looks.
                slot.begin().map(|start| start.prev)
            })
        };
        slot.wait_for_restart(ticket, Duration::from_secs(60));
        assert!(slot.lock().begun > ticket);
        assert_eq!(coordinator.join().ok().flatten(), Some(second));
        drop(running);
    }
}
