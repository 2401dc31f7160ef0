//! The miner's helper threads and the board where the searching thread posts each
//! epoch's work for them.
//!
//! Why not a thread pool call per epoch: a block at difficulty 8 to 12 takes a few to
//! tens of microseconds of hashing, while waking parked workers, handing each a closure
//! and waiting for all of them to return costs as much again per block, and more on a
//! busy machine, where a woken thread may wait a whole time slice for a core. So the
//! thread that calls [`Miner::mine`](super::Miner::mine) hashes too (it is worker 0),
//! the helpers stay on their cores between blocks, and nothing waits on anyone:
//!
//! - the searching thread posts a new [`EpochWork`] with [`Board::post`], which bumps
//!   the board's generation, and goes on hashing its own share;
//! - a helper spins on the generation for [`IDLE_SPIN`] after its work ends, and parks
//!   only past that, so back-to-back blocks never park it;
//! - a helper leaves its work at the next slice when the generation moves (a new epoch
//!   or a new job), the epoch's stop flag is set (a hit) or the token is cancelled.
//!
//! A helper's panic is caught, noted on the work, and raised again on the searching
//! thread (so the node's coordinator sees it as before), and the helper mines on.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::CancelToken;
use super::kernel::{PreparedJob, SearchEnd};
use super::progress::Progress;

/// How long an idle helper spins on the board before it parks: far longer than the gap
/// between two blocks mined back to back (a few microseconds), short enough that an idle
/// node's miner is parked almost all the time.
pub(crate) const IDLE_SPIN: Duration = Duration::from_micros(200);

/// Looks at the board without yielding before an idle helper starts yielding its core
/// between looks: about a microsecond, the gap between two blocks on an idle machine.
const PURE_SPINS: u32 = 1_000;

/// No hit reported yet in [`EpochWork::hit`].
const NO_HIT: u64 = u64::MAX;

/// One epoch's work as every worker shares it: the prepared kernel job, how the counters
/// are shared out, and what ends it.
///
/// The counters are striped: worker `w` of `n` searches slices `w, w + n, w + 2n, ...`
/// of [`EpochWork::slice`] counters each, so no two workers ever try the same counter
/// and no counter is shared between them (nothing to claim, no cache line bouncing).
#[derive(Debug)]
pub(crate) struct EpochWork {
    /// The kernel job, which every worker searches (it is read-only).
    pub(crate) job: PreparedJob,
    /// Counters per slice: one kernel call between two looks at the stop conditions.
    pub(crate) slice: u64,
    /// Workers sharing the counters (the stripe count).
    pub(crate) workers: u64,
    /// The job's token.
    pub(crate) cancel: CancelToken,
    /// Set by the first worker with a hit (or a panic): every worker leaves.
    stop: AtomicBool,
    /// The smallest hit reported, or [`NO_HIT`].
    hit: AtomicU64,
    /// A helper panicked on this work.
    panicked: AtomicBool,
}

/// Why a worker left an epoch's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leave {
    /// It found a hit, or another worker did ([`EpochWork::hit`] says which).
    Stopped,
    /// The token was cancelled.
    Cancelled,
    /// The board moved on to newer work (helpers), or the deadline passed (worker 0).
    Superseded,
    /// Its stripe of counters ran out.
    Exhausted,
}

impl EpochWork {
    pub(crate) fn new(job: PreparedJob, slice: u64, workers: usize, cancel: CancelToken) -> Self {
        EpochWork {
            job,
            slice: slice.max(1),
            workers: (workers as u64).max(1),
            cancel,
            stop: AtomicBool::new(false),
            hit: AtomicU64::new(NO_HIT),
            panicked: AtomicBool::new(false),
        }
    }

    /// The smallest hit reported, if any.
    pub(crate) fn hit(&self) -> Option<u64> {
        let hit = self.hit.load(Ordering::Acquire);
        (hit != NO_HIT).then_some(hit)
    }

    /// Whether a helper panicked on this work.
    pub(crate) fn panicked(&self) -> bool {
        self.panicked.load(Ordering::Acquire)
    }

    /// Worker `worker`'s share: its stripe, slice by slice, with `search` on each, until
    /// a hit (its own or another's), a cancel, `superseded` says so (checked before each
    /// slice), or its stripe runs out. `search` gets the epoch's stop flag, which a hit
    /// raises, and is expected to give up within a batch once it is set. `record` hears
    /// the attempts of each slice (up to and including a hit), so that the counters lag
    /// the work by one slice at most and the attempts a worker makes after a cancel count
    /// as made.
    pub(crate) fn work(
        &self,
        worker: usize,
        mut search: impl FnMut(u64, u64, &AtomicBool) -> SearchEnd,
        mut record: impl FnMut(u64),
        mut superseded: impl FnMut() -> bool,
    ) -> Leave {
        let limit = self.job.counter_limit();
        let stride = self.slice.saturating_mul(self.workers);
        let mut start = self.slice.saturating_mul(worker as u64);
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Leave::Stopped;
            }
            if self.cancel.is_cancelled() {
                return Leave::Cancelled;
            }
            if superseded() {
                return Leave::Superseded;
            }
            if start >= limit {
                return Leave::Exhausted;
            }
            let count = self.slice.min(limit - start);
            let end = search(start, count, &self.stop);
            record(end.tried(start, start + count));
            match end {
                SearchEnd::Hit(hit) => {
                    self.hit.fetch_min(hit, Ordering::AcqRel);
                    self.stop.store(true, Ordering::Release);
                    return Leave::Stopped;
                }
                SearchEnd::Stopped(_) => return Leave::Stopped,
                SearchEnd::Exhausted => {}
            }
            start = match start.checked_add(stride) {
                Some(next) => next,
                None => return Leave::Exhausted,
            };
        }
    }

    fn fail(&self) {
        self.panicked.store(true, Ordering::Release);
        self.stop.store(true, Ordering::Release);
    }
}

/// What the board holds: the latest work and its generation.
#[derive(Debug, Default)]
struct Slot {
    generation: u64,
    work: Option<Arc<EpochWork>>,
    sleeping: usize,
    shutdown: bool,
}

/// Where the searching thread posts work and the helpers pick it up.
#[derive(Debug, Default)]
struct Board {
    /// A copy of [`Slot::generation`] the helpers spin on without the lock.
    generation: AtomicU64,
    slot: Mutex<Slot>,
    wake: Condvar,
}

impl Board {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        // Nothing panics while holding the lock; a poisoned one is still consistent.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Posts `work` (none: stop and wait) and wakes parked helpers; returns its
    /// generation.
    ///
    /// The generation the spinning helpers watch is published only after the lock is
    /// released, so that a helper which sees it takes the lock uncontended (and never
    /// sleeps on it) and finds the new work there; the previous work is dropped outside
    /// the lock too.
    fn post(&self, work: Option<Arc<EpochWork>>) -> u64 {
        let (generation, previous) = {
            let mut slot = self.lock();
            slot.generation += 1;
            let previous = std::mem::replace(&mut slot.work, work);
            if slot.sleeping > 0 {
                self.wake.notify_all();
            }
            (slot.generation, previous)
        };
        self.generation.store(generation, Ordering::Release);
        drop(previous);
        generation
    }

    /// Waits for a generation after `seen`: spins for [`IDLE_SPIN`], then parks. Returns
    /// the newest generation and its work, or `None` at shutdown.
    ///
    /// Past the first [`PURE_SPINS`] looks it yields the core between looks: on a busy
    /// machine the thread that will post (worker 0) may be waiting for this very core.
    fn next_after(&self, seen: u64) -> Option<(u64, Option<Arc<EpochWork>>)> {
        let spin_until = Instant::now() + IDLE_SPIN;
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == seen {
            spins = spins.saturating_add(1);
            if spins < PURE_SPINS {
                std::hint::spin_loop();
            } else if Instant::now() >= spin_until {
                break;
            } else {
                std::thread::yield_now();
            }
        }
        let mut slot = self.lock();
        slot.sleeping += 1;
        while slot.generation == seen && !slot.shutdown {
            slot = self.wake.wait(slot).unwrap_or_else(PoisonError::into_inner);
        }
        slot.sleeping -= 1;
        (!slot.shutdown).then(|| (slot.generation, slot.work.clone()))
    }
}

/// The helper threads (one fewer than the miner's workers: the searching thread is
/// worker 0) and their board.
#[derive(Debug)]
pub(crate) struct Crew {
    board: Arc<Board>,
    helpers: Vec<JoinHandle<()>>,
}

impl Crew {
    /// Starts `workers - 1` helpers, numbered 1 up, counting their attempts in
    /// `progress`.
    pub(crate) fn start(workers: usize, progress: &Arc<Progress>) -> std::io::Result<Crew> {
        let board = Arc::new(Board::default());
        let mut crew = Crew {
            board: Arc::clone(&board),
            helpers: Vec::with_capacity(workers.saturating_sub(1)),
        };
        for worker in 1..workers {
            let board = Arc::clone(&board);
            let progress = Arc::clone(progress);
            let helper = std::thread::Builder::new()
                .name(format!("miner-{worker}"))
                .spawn(move || help(&board, worker, &progress))?;
            // On an error above, dropping `crew` stops the helpers already started.
            crew.helpers.push(helper);
        }
        Ok(crew)
    }

    /// Posts `work` for the helpers (none: they stop and wait); returns its generation.
    pub(crate) fn post(&self, work: Option<Arc<EpochWork>>) -> u64 {
        self.board.post(work)
    }
}

impl Drop for Crew {
    fn drop(&mut self) {
        {
            let mut slot = self.board.lock();
            slot.shutdown = true;
            slot.work = None;
            slot.generation += 1;
            self.board
                .generation
                .store(slot.generation, Ordering::Release);
            self.board.wake.notify_all();
        }
        for helper in self.helpers.drain(..) {
            // A helper catches its panics, so it ends cleanly.
            let _ = helper.join();
        }
    }
}

/// A helper's life: pick up the newest work, search its stripe, repeat.
fn help(board: &Board, worker: usize, progress: &Progress) {
    let mut seen = 0;
    while let Some((generation, work)) = board.next_after(seen) {
        seen = generation;
        let Some(work) = work else { continue };
        let searched = std::panic::catch_unwind(AssertUnwindSafe(|| {
            work.work(
                worker,
                |start, count, stop| work.job.search_until(start, count, stop),
                |attempts| progress.add(worker, attempts),
                || board.generation.load(Ordering::Relaxed) != generation,
            )
        }));
        if searched.is_err() {
            work.fail();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::miner::KernelKind;
    use crate::miner::layout::MiningTemplate;

    fn work(slice: u64, workers: usize, cancel: &CancelToken) -> EpochWork {
        let template = MiningTemplate::new(b"prefix", b"20", 0).expect("a valid template");
        let job = KernelKind::Portable.prepare(&template, 256);
        EpochWork::new(job, slice, workers, cancel.clone())
    }

    /// Workers' stripes are disjoint, and together they cover every counter in order:
    /// no counter is tried twice in an epoch.
    #[test]
    fn stripes_are_disjoint_and_cover_the_counters() {
        let cancel = CancelToken::new();
        let work = work(1 << 20, 3, &cancel);
        let mut seen = HashSet::new();
        let mut total = 0;
        for worker in 0..3 {
            let leave = work.work(
                worker,
                |start, count, _| {
                    assert!(seen.insert(start), "slice {start} twice");
                    assert_eq!(start % (1 << 20), 0);
                    assert_eq!(start / (1 << 20) % 3, worker as u64);
                    total += count;
                    SearchEnd::Exhausted
                },
                |_| {},
                || false,
            );
            assert_eq!(leave, Leave::Exhausted);
        }
        assert_eq!(total, work.job.counter_limit());
    }

    /// A hit raises the stop flag that every worker's search looks at, ends the others'
    /// shares before their next slice, and the smallest reported hit is kept; the
    /// attempts recorded stop at the hit.
    #[test]
    fn a_hit_stops_the_others() {
        let cancel = CancelToken::new();
        let work = work(100, 2, &cancel);
        let mut recorded = 0;
        let leave = work.work(
            1,
            |start, _, stop| {
                assert!(!stop.load(Ordering::Relaxed));
                if start == 300 {
                    SearchEnd::Hit(342)
                } else {
                    SearchEnd::Exhausted
                }
            },
            |n| recorded += n,
            || false,
        );
        assert_eq!(
            (leave, recorded, work.hit()),
            (Leave::Stopped, 100 + 43, Some(342))
        );
        let mut searched = 0;
        let leave = work.work(
            0,
            |_, _, _| {
                searched += 1;
                SearchEnd::Exhausted
            },
            |_| {},
            || false,
        );
        assert_eq!((leave, searched), (Leave::Stopped, 0));
    }

    /// A search that gave up on the stop flag (another worker's hit) ends the share, and
    /// only the attempts it made are recorded.
    #[test]
    fn a_stopped_search_ends_the_share() {
        let cancel = CancelToken::new();
        let work = work(100, 1, &cancel);
        let mut recorded = 0;
        let mut slices = 0;
        let leave = work.work(
            0,
            |start, _, _| {
                slices += 1;
                if start == 200 {
                    SearchEnd::Stopped(232)
                } else {
                    SearchEnd::Exhausted
                }
            },
            |n| recorded += n,
            || false,
        );
        assert_eq!(
            (leave, recorded, slices, work.hit()),
            (Leave::Stopped, 232, 3, None)
        );
    }

    /// A cancel or newer work ends a worker's share before its next slice.
    #[test]
    fn a_cancel_or_newer_work_ends_the_share() {
        let cancel = CancelToken::new();
        let first = work(100, 1, &cancel);
        let mut slices = 0;
        let leave = first.work(
            0,
            |_, _, _| {
                slices += 1;
                if slices == 3 {
                    cancel.cancel();
                }
                SearchEnd::Exhausted
            },
            |_| {},
            || false,
        );
        assert_eq!((leave, slices), (Leave::Cancelled, 3));

        let cancel = CancelToken::new();
        let work = work(100, 1, &cancel);
        let mut looks = 0;
        let leave = work.work(
            0,
            |_, _, _| SearchEnd::Exhausted,
            |_| {},
            || {
                looks += 1;
                looks > 2
            },
        );
        assert_eq!((leave, looks), (Leave::Superseded, 3));
    }

    /// Helpers pick up posted work (worker 0, the caller, is not among them), and
    /// dropping the crew stops and joins them.
    #[test]
    fn helpers_take_posted_work() {
        let progress = Arc::new(Progress::new(3));
        let crew = Crew::start(3, &progress).expect("helpers start");
        let cancel = CancelToken::new();
        let work = Arc::new(work(1024, 3, &cancel));
        crew.post(Some(Arc::clone(&work)));
        while progress.per_worker_attempts()[1..].contains(&0) {
            std::thread::yield_now();
        }
        assert_eq!(
            progress.per_worker_attempts()[0],
            0,
            "worker 0 is the caller"
        );
        crew.post(None);
        cancel.cancel();
        drop(crew);
    }
}
