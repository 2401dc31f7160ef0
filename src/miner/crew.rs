//! The miner's helper threads and the board where the searching thread posts each
//! epoch's job for them.
//!
//! Why not a thread pool call per epoch: a block at difficulty 8 to 12 takes a few to
//! tens of microseconds of hashing, while waking parked workers, handing each a closure
//! and waiting for all of them to return costs as much again per block, and more on a
//! busy machine, where a woken thread may wait a whole time slice for a core. So the
//! thread that calls [`Miner::mine`](super::Miner::mine) hashes too (it is worker 0),
//! the helpers stay on their cores between blocks, and nothing waits on anyone.
//!
//! Why the board is a handful of atomics and not a shared allocation: at difficulty 8 a
//! block is about 1.6 µs of hashing on two cores, and every cache line one core writes
//! and the other then reads or writes costs about 0.1 µs on the critical path. So:
//!
//! - [`Crew::post`] writes the job as plain words ([`JobParts`]) under a sequence
//!   number (a seqlock: the number is odd while the words change), with plain stores
//!   only: the searching thread never waits for a lock, an allocation or another core's
//!   cache line. Each helper reads the words and prepares its own copy of the job.
//! - `live` holds the generation being searched; a hit (or a new post) changes it, and
//!   the kernels look at it between batches of lanes ([`StopSignal`]), so every worker
//!   leaves within a batch.
//! - a hit is written into `live` itself, with the generation and the stop: worker 0
//!   learns of a helper's hit and reads its counter in the one cache line it has to
//!   fetch anyway (a line crossing cores costs about 0.2 µs on this project's VMs,
//!   and a helper finds about half the blocks).
//! - an idle helper spins on the sequence number for [`IDLE_SPIN`], then parks; the
//!   poster wakes parked helpers, and a parked helper also looks again on its own after
//!   [`PARK_POLL`], then less and less often, so a wake-up that crosses its going to
//!   sleep costs it a little time, and an idle miner's helpers hardly ever wake.
//!
//! A helper's panic is caught, noted on the board, and raised again on the searching
//! thread (so the node's coordinator sees it as before), and the helper mines on.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::CancelToken;
use super::cache_line::CacheLine;
use super::kernel::{JobParts, PreparedJob, SLICE, SearchEnd, StopSignal};
use super::progress::Progress;

/// How long an idle helper spins on the board before it parks: far longer than the gap
/// between two blocks mined back to back (a few microseconds), short enough that an idle
/// node's miner is parked almost all the time.
pub(crate) const IDLE_SPIN: Duration = Duration::from_micros(200);

/// Looks at the board without yielding before an idle helper starts yielding its core
/// between looks: about ten microseconds, several gaps between two blocks.
const PURE_SPINS: u32 = 1_000;

/// How long a parked helper first waits before it looks at the board unwoken; each
/// further wait doubles, up to [`PARK_POLL_MAX`]. The poster wakes parked helpers, but
/// it does not order its post against a helper going to sleep at that very moment (that
/// would cost every post a full fence), so a helper must look again on its own: soon at
/// first, rarely once the miner has been idle a while.
const PARK_POLL: Duration = Duration::from_millis(1);

/// The longest a parked helper waits unwoken between two looks at the board.
const PARK_POLL_MAX: Duration = Duration::from_millis(100);

/// Set in `live` once its generation's search has ended (a hit or a helper's panic).
const STOPPED: u64 = 1 << 63;

/// The bits of `live` that hold the generation (its low 32 bits): a generation is
/// told from the one 2^32 posts earlier by the sequence number, which is full width.
const GENERATION_BITS: u64 = 0xffff_ffff;

/// Where a hit's counter, plus one, sits in `live` (zero: none; counters are below
/// 10^9 < 2^31 - 1).
const HIT_SHIFT: u32 = 32;

/// The posted job: the sequence number, the live word and the job's words, in two
/// adjacent cache lines, so that a helper picking up a post fetches two lines, not three.
#[derive(Debug, Default)]
struct Posted {
    /// Twice the generation; odd while the words are being written.
    seq: AtomicU64,
    /// The generation being searched (its [`GENERATION_BITS`]), with [`STOPPED`] and
    /// the hit's counter (see [`HIT_SHIFT`]) added once it has ended. Beside `seq`: every
    /// post writes both, and a helper reads both once it has seen the post.
    live: AtomicU64,
    /// [`JobParts::to_words`], or all zero for "no job: stop and wait".
    words: [AtomicU64; JobParts::WORDS],
}

// The sequence number, the live word and the words share one 128-byte `CacheLine`.
const _: () = assert!(size_of::<Posted>() <= 128);

/// What the searching thread and the helpers share.
#[derive(Debug)]
struct Board {
    posted: CacheLine<Posted>,
    /// A helper panicked since worker 0 last looked.
    panicked: AtomicBool,
    /// Parked helpers, and what parks them.
    sleeping: AtomicUsize,
    shutdown: AtomicBool,
    park: Mutex<()>,
    wake: Condvar,
}

/// The stop signal of one generation: raised once `live` moves from it (a hit, a new
/// post, a panic).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Live<'a> {
    live: &'a AtomicU64,
    /// The generation's [`GENERATION_BITS`]: what `live` holds while it runs.
    running: u64,
}

impl StopSignal for Live<'_> {
    #[inline]
    fn is_raised(&self) -> bool {
        self.live.load(Ordering::Relaxed) != self.running
    }
}

/// Why a worker left an epoch's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leave {
    /// It found a hit on this counter, not yet reported on the board: a helper reports
    /// it at once, worker 0 decides (see [`Crew::search`]).
    Hit(u64),
    /// Another worker found a hit, a helper panicked, or the epoch was superseded.
    Stopped,
    /// The token was cancelled.
    Cancelled,
    /// The deadline passed (worker 0).
    Superseded,
    /// Its stripe of counters ran out.
    Exhausted,
}

impl Board {
    fn new() -> Board {
        Board {
            posted: CacheLine::default(),
            panicked: AtomicBool::new(false),
            sleeping: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            park: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    /// Writes `words` as the next generation (only worker 0 calls this) and returns it.
    ///
    /// `live` moves first: whoever reads the new sequence number then sees the new
    /// generation live, and the old generation's workers leave meanwhile.
    fn post(&self, words: &[u64; JobParts::WORDS]) -> u64 {
        let posted = &self.posted.0;
        let seq = posted.seq.load(Ordering::Relaxed);
        let generation = (seq + 2) / 2;
        posted
            .live
            .store(generation & GENERATION_BITS, Ordering::Release);
        posted.seq.store(seq + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        for (cell, &word) in posted.words.iter().zip(words) {
            cell.store(word, Ordering::Relaxed);
        }
        posted.seq.store(seq + 2, Ordering::Release);
        if self.sleeping.load(Ordering::Relaxed) > 0 {
            let _parked = self.park.lock().unwrap_or_else(PoisonError::into_inner);
            self.wake.notify_all();
        }
        generation
    }

    /// The posted words at sequence number `seq` or later, with their generation; `None`
    /// while a post is being written.
    fn read(&self) -> Option<(u64, [u64; JobParts::WORDS])> {
        let posted = &self.posted.0;
        let before = posted.seq.load(Ordering::Acquire);
        if before % 2 == 1 {
            return None;
        }
        let words = core::array::from_fn(|i| posted.words[i].load(Ordering::Relaxed));
        fence(Ordering::Acquire);
        (posted.seq.load(Ordering::Relaxed) == before).then_some((before / 2, words))
    }

    /// Waits for a post after generation `seen`: spins, then yields, then parks. Returns
    /// it, or `None` at shutdown.
    ///
    /// Past the first [`PURE_SPINS`] looks it yields the core between looks: on a busy
    /// machine the thread that will post (worker 0) may be waiting for this very core.
    fn next_after(&self, seen: u64) -> Option<(u64, [u64; JobParts::WORDS])> {
        let mut spins = 0u32;
        let mut spin_until = None;
        let mut park_for = PARK_POLL;
        loop {
            if self.shutdown.load(Ordering::Acquire) {
                return None;
            }
            if self.posted.0.seq.load(Ordering::Relaxed) != 2 * seen
                && let Some((generation, words)) = self.read()
                && generation != seen
            {
                return Some((generation, words));
            }
            spins = spins.saturating_add(1);
            if spins < PURE_SPINS {
                std::hint::spin_loop();
                continue;
            }
            let until = *spin_until.get_or_insert_with(|| Instant::now() + IDLE_SPIN);
            if Instant::now() < until {
                std::thread::yield_now();
                continue;
            }
            let parked = self.park.lock().unwrap_or_else(PoisonError::into_inner);
            self.sleeping.fetch_add(1, Ordering::SeqCst);
            let unchanged = self.posted.0.seq.load(Ordering::SeqCst) == 2 * seen;
            if unchanged && !self.shutdown.load(Ordering::SeqCst) {
                let _woken = self
                    .wake
                    .wait_timeout(parked, park_for)
                    .unwrap_or_else(PoisonError::into_inner);
                park_for = (park_for * 2).min(PARK_POLL_MAX);
            }
            self.sleeping.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// The stop signal of `generation`.
    fn live(&self, generation: u64) -> Live<'_> {
        Live {
            live: &self.posted.0.live,
            running: generation & GENERATION_BITS,
        }
    }

    /// Ends `generation`'s search with a hit on `counter`, unless it has ended already
    /// (another worker's hit, a new post): the first hit stands.
    fn report_hit(&self, generation: u64, counter: u64) {
        let hit = match counter.checked_add(1) {
            Some(plus_one) if plus_one < STOPPED >> HIT_SHIFT => plus_one << HIT_SHIFT,
            // Counters are below 10^9; a wider one ends the search without a hit.
            _ => 0,
        };
        self.end(generation, hit);
    }

    /// Ends `generation`'s search without a hit (a helper's panic).
    fn stop(&self, generation: u64) {
        self.end(generation, 0);
    }

    /// Ends `generation`'s search with `hit` (already at [`HIT_SHIFT`], or zero), unless
    /// it has ended already: the first outcome stands.
    fn end(&self, generation: u64, hit: u64) {
        let running = generation & GENERATION_BITS;
        // A failure means the generation ended already (a hit, a stop or a new post).
        let _ = self.posted.0.live.compare_exchange(
            running,
            running | STOPPED | hit,
            Ordering::Release,
            Ordering::Relaxed,
        );
    }

    /// The hit that ended `generation`, if one did.
    fn hit(&self, generation: u64) -> Option<u64> {
        let live = self.posted.0.live.load(Ordering::Acquire);
        let ended = (generation & GENERATION_BITS) | STOPPED;
        let hit = (live & !STOPPED) >> HIT_SHIFT;
        (live & (GENERATION_BITS | STOPPED) == ended && hit != 0).then(|| hit - 1)
    }
}

/// Which share of which generation a worker searches.
#[derive(Debug, Clone, Copy)]
struct Stripe {
    /// The worker (0 is the searching thread).
    worker: usize,
    /// How many workers share the counters.
    workers: usize,
    /// The generation searched.
    generation: u64,
    /// The job's counter limit.
    limit: u64,
}

/// Worker `worker`'s share of `generation`: its stripe of `workers` (worker `w` tries
/// slices `w, w + workers, w + 2 * workers, ...` of [`SLICE`] counters, so no two
/// workers ever try the same counter), slice by slice with `search` on each, until a
/// hit (its own, returned unreported, or another's), a new post, `check` says to leave
/// (looked at before each slice), or its stripe runs out. `search` gets the
/// generation's stop signal and is expected to give up within a batch once it is raised. `record` hears the attempts of
/// each slice (up to and including a hit), so that the counters lag the work by one
/// slice at most.
fn share(
    board: &Board,
    Stripe {
        worker,
        workers,
        generation,
        limit,
    }: Stripe,
    mut search: impl FnMut(u64, u64, &Live<'_>) -> SearchEnd,
    mut record: impl FnMut(u64),
    mut check: impl FnMut() -> Option<Leave>,
) -> Leave {
    let signal = board.live(generation);
    let stride = SLICE.saturating_mul(workers.max(1) as u64);
    let mut start = SLICE.saturating_mul(worker as u64);
    loop {
        if signal.is_raised() {
            return Leave::Stopped;
        }
        if let Some(leave) = check() {
            return leave;
        }
        if start >= limit {
            return Leave::Exhausted;
        }
        let count = SLICE.min(limit - start);
        let end = search(start, count, &signal);
        record(end.tried(start, start + count));
        match end {
            SearchEnd::Hit(hit) => return Leave::Hit(hit),
            SearchEnd::Stopped(_) => return Leave::Stopped,
            SearchEnd::Exhausted => {}
        }
        start = match start.checked_add(stride) {
            Some(next) => next,
            None => return Leave::Exhausted,
        };
    }
}

/// The helper threads (one fewer than the miner's workers: the searching thread is
/// worker 0) and their board.
#[derive(Debug)]
pub(crate) struct Crew {
    board: Arc<Board>,
    workers: usize,
    helpers: Vec<JoinHandle<()>>,
}

impl Crew {
    /// Starts `workers - 1` helpers, numbered 1 up, counting their attempts in
    /// `progress`.
    pub(crate) fn start(workers: usize, progress: &Arc<Progress>) -> std::io::Result<Crew> {
        let workers = workers.max(1);
        let board = Arc::new(Board::new());
        let mut crew = Crew {
            board: Arc::clone(&board),
            workers,
            helpers: Vec::with_capacity(workers - 1),
        };
        for worker in 1..workers {
            let board = Arc::clone(&board);
            let progress = Arc::clone(progress);
            let helper = std::thread::Builder::new()
                .name(format!("miner-{worker}"))
                .spawn(move || help(&board, worker, workers, &progress))?;
            // On an error above, dropping `crew` stops the helpers already started.
            crew.helpers.push(helper);
        }
        Ok(crew)
    }

    /// Posts `job` for the helpers (none: they stop and wait); returns its generation.
    pub(crate) fn post(&self, job: Option<&JobParts>) -> u64 {
        let words = job.map_or([0; JobParts::WORDS], JobParts::to_words);
        self.board.post(&words)
    }

    /// Worker 0's share of `generation` (see [`share`]): it searches `job` and leaves on
    /// a cancel of `cancel` or when `deadline_passed` says so, besides a hit.
    ///
    /// Its own hit comes back as [`Leave::Hit`] and is not on the board yet: the caller
    /// either posts the next job, which stops the helpers anyway (a chain), or calls
    /// [`Crew::stop_with_hit`]. Reporting it first would cost a locked write to a cache
    /// line the helpers are reading, about a tenth of a microsecond, before the next job
    /// could be posted.
    pub(crate) fn search(
        &self,
        generation: u64,
        job: &PreparedJob,
        cancel: &CancelToken,
        record: impl FnMut(u64),
        mut deadline_passed: impl FnMut() -> bool,
    ) -> Leave {
        share(
            &self.board,
            Stripe {
                worker: 0,
                workers: self.workers,
                generation,
                limit: job.counter_limit(),
            },
            |start, count, stop| job.search_until(start, count, stop),
            record,
            || {
                if cancel.is_cancelled() {
                    Some(Leave::Cancelled)
                } else if deadline_passed() {
                    Some(Leave::Superseded)
                } else {
                    None
                }
            },
        )
    }

    /// Ends `generation` with worker 0's hit on `counter`, which stops the helpers,
    /// unless it has ended already (a helper's hit stands then; either is a block).
    pub(crate) fn stop_with_hit(&self, generation: u64, counter: u64) {
        self.board.report_hit(generation, counter);
    }

    /// The hit that ended `generation`, if one did (the first reported).
    pub(crate) fn hit(&self, generation: u64) -> Option<u64> {
        self.board.hit(generation)
    }

    /// Whether `generation`'s search has ended (a hit or a helper's panic).
    pub(crate) fn is_stopped(&self, generation: u64) -> bool {
        self.board.live(generation).is_raised()
    }

    /// The generation posted last (tests look at how a search left it).
    #[cfg(test)]
    pub(crate) fn last_generation(&self) -> u64 {
        self.board.posted.0.seq.load(Ordering::Acquire) / 2
    }

    /// The job posted last, `None` for "no job" (tests look at what a search leaves).
    #[cfg(test)]
    pub(crate) fn posted(&self) -> Option<JobParts> {
        self.board
            .read()
            .and_then(|(_, words)| JobParts::from_words(&words))
    }

    /// Whether a helper panicked since the last call (and forgets it).
    pub(crate) fn take_panic(&self) -> bool {
        // A plain load first: the locked swap would wait for this thread's pending
        // stores (a post it just made) to reach the other cores.
        self.board.panicked.load(Ordering::Acquire)
            && self.board.panicked.swap(false, Ordering::AcqRel)
    }
}

impl Drop for Crew {
    fn drop(&mut self) {
        self.board.post(&[0; JobParts::WORDS]);
        self.board.shutdown.store(true, Ordering::SeqCst);
        {
            let _parked = self
                .board
                .park
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.board.wake.notify_all();
        }
        for helper in self.helpers.drain(..) {
            // A helper catches its panics, so it ends cleanly.
            let _ = helper.join();
        }
    }
}

/// A helper's life: pick up the newest post, prepare its own copy of the job, search its
/// stripe, repeat.
fn help(board: &Board, worker: usize, workers: usize, progress: &Progress) {
    let mut seen = 0;
    while let Some((generation, words)) = board.next_after(seen) {
        seen = generation;
        // No job (a stop, or words from a build whose kernels this one lacks): wait.
        let Some(job) = JobParts::from_words(&words).and_then(|parts| parts.prepare().ok()) else {
            continue;
        };
        let searched = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let leave = share(
                board,
                Stripe {
                    worker,
                    workers,
                    generation,
                    limit: job.counter_limit(),
                },
                |start, count, stop| job.search_until(start, count, stop),
                |attempts| progress.add(worker, attempts),
                || None,
            );
            if let Leave::Hit(counter) = leave {
                board.report_hit(generation, counter);
            }
        }));
        if searched.is_err() {
            board.panicked.store(true, Ordering::Release);
            board.stop(generation);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::miner::KernelKind;
    use crate::miner::layout::MiningTemplate;

    /// Worker `worker`'s stripe of `workers` in `generation`, with no counter limit.
    fn open_stripe(worker: usize, workers: usize, generation: u64) -> Stripe {
        Stripe {
            worker,
            workers,
            generation,
            limit: u64::MAX,
        }
    }

    fn job() -> PreparedJob {
        let template = MiningTemplate::new(b"prefix", b"20", 0).expect("a valid template");
        KernelKind::Portable.prepare(&template, 256)
    }

    /// Workers' stripes are disjoint, and together they cover every counter in order:
    /// no counter is tried twice in an epoch.
    #[test]
    fn stripes_are_disjoint_and_cover_the_counters() {
        let board = Board::new();
        let generation = board.post(&job().parts().to_words());
        let limit = 100 * SLICE + 17;
        let mut seen = HashSet::new();
        let mut total = 0;
        for worker in 0..3 {
            let leave = share(
                &board,
                Stripe {
                    worker,
                    workers: 3,
                    generation,
                    limit,
                },
                |start, count, _| {
                    assert!(seen.insert(start), "slice {start} twice");
                    assert_eq!(start % SLICE, 0);
                    assert_eq!(start / SLICE % 3, worker as u64);
                    total += count;
                    SearchEnd::Exhausted
                },
                |_| {},
                || None,
            );
            assert_eq!(leave, Leave::Exhausted);
        }
        assert_eq!(total, limit);
    }

    /// A share returns its own hit; reported, it raises the generation's stop signal,
    /// which ends the others' shares, and the first hit of the generation is kept; the
    /// attempts recorded stop at the hit.
    #[test]
    fn a_hit_stops_the_others() {
        let board = Board::new();
        let generation = board.post(&job().parts().to_words());
        let mut recorded = 0;
        let leave = share(
            &board,
            open_stripe(1, 3, generation),
            |start, _, stop| {
                assert!(!stop.is_raised());
                if start == 4 * SLICE {
                    SearchEnd::Hit(4 * SLICE + 42)
                } else {
                    SearchEnd::Exhausted
                }
            },
            |n| recorded += n,
            || None,
        );
        assert_eq!(
            (leave, recorded, board.hit(generation)),
            (Leave::Hit(4 * SLICE + 42), SLICE + 43, None),
            "a share returns its hit unreported"
        );
        board.report_hit(generation, 4 * SLICE + 42);
        board.report_hit(generation, 7);
        assert_eq!(
            board.hit(generation),
            Some(4 * SLICE + 42),
            "the first hit stands"
        );
        let mut searched = 0;
        let leave = share(
            &board,
            open_stripe(0, 3, generation),
            |_, _, _| {
                searched += 1;
                SearchEnd::Exhausted
            },
            |_| {},
            || None,
        );
        assert_eq!((leave, searched), (Leave::Stopped, 0));
        let next = board.post(&[0; JobParts::WORDS]);
        assert_eq!(board.hit(next), None, "hits belong to their generation");
    }

    /// A hit on counter 0 is a hit; a stop without a hit (a helper's panic) is none,
    /// and no later report changes an ended generation's outcome.
    #[test]
    fn live_word_holds_the_outcome() {
        let board = Board::new();
        let words = job().parts().to_words();
        let first = board.post(&words);
        assert_eq!(board.hit(first), None, "running");
        board.report_hit(first, 0);
        assert!(board.live(first).is_raised());
        assert_eq!(board.hit(first), Some(0));

        let second = board.post(&words);
        assert!(!board.live(second).is_raised());
        board.stop(second);
        assert!(board.live(second).is_raised());
        board.report_hit(second, 5);
        assert_eq!(board.hit(second), None, "the stop stands");
        assert_eq!(board.hit(first), None, "an older generation's hit is gone");

        let third = board.post(&words);
        board.report_hit(third, 999_999_999);
        assert_eq!(board.hit(third), Some(999_999_999));
    }

    /// A search that gave up on the stop signal ends the share, and only the attempts it
    /// made are recorded; a check that says to leave ends it before the next slice.
    #[test]
    fn a_stop_or_a_check_ends_the_share() {
        let board = Board::new();
        let generation = board.post(&job().parts().to_words());
        let mut recorded = 0;
        let leave = share(
            &board,
            open_stripe(0, 1, generation),
            |start, _, _| {
                if start == 2 * SLICE {
                    SearchEnd::Stopped(2 * SLICE + 32)
                } else {
                    SearchEnd::Exhausted
                }
            },
            |n| recorded += n,
            || None,
        );
        assert_eq!((leave, recorded), (Leave::Stopped, 2 * SLICE + 32));

        let mut looks = 0;
        let leave = share(
            &board,
            open_stripe(0, 1, generation),
            |_, _, _| SearchEnd::Exhausted,
            |_| {},
            || {
                looks += 1;
                (looks > 2).then_some(Leave::Cancelled)
            },
        );
        assert_eq!((leave, looks), (Leave::Cancelled, 3));
        board.post(&[0; JobParts::WORDS]);
        assert!(board.live(generation).is_raised(), "a new post supersedes");
    }

    /// A helper's own hit goes on the board at once: with worker 0 not searching, a
    /// job every counter meets ends with a hit in the helper's stripe.
    #[test]
    fn a_helper_reports_its_hit() {
        let progress = Arc::new(Progress::new(2));
        let crew = Crew::start(2, &progress).expect("a helper starts");
        let template = MiningTemplate::new(b"prefix", b"0", 0).expect("a valid template");
        let generation = crew.post(Some(&KernelKind::Portable.prepare(&template, 0).parts()));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !crew.is_stopped(generation) && Instant::now() < deadline {
            std::thread::yield_now();
        }
        let hit = crew.hit(generation).expect("the helper reported its hit");
        assert_eq!(
            hit / SLICE % 2,
            1,
            "counter {hit} is in the helper's stripe"
        );
        crew.post(None);
    }

    /// The posted words read back as they were written, generation by generation.
    #[test]
    fn posts_read_back() {
        let board = Board::new();
        let words = job().parts().to_words();
        let generation = board.post(&words);
        assert_eq!(board.read(), Some((generation, words)));
        assert_eq!(board.next_after(generation - 1), Some((generation, words)));
        let stop = board.post(&[0; JobParts::WORDS]);
        assert_eq!(stop, generation + 1);
        assert_eq!(board.read(), Some((stop, [0; JobParts::WORDS])));
    }

    /// Helpers pick up posted work (worker 0, the caller, is not among them), including
    /// after they parked, and dropping the crew stops and joins them.
    #[test]
    fn helpers_take_posted_work() {
        let progress = Arc::new(Progress::new(3));
        let crew = Crew::start(3, &progress).expect("helpers start");
        // Long enough for the helpers to park first.
        std::thread::sleep(IDLE_SPIN * 10);
        crew.post(Some(&job().parts()));
        while progress.per_worker_attempts()[1..].contains(&0) {
            std::thread::yield_now();
        }
        assert_eq!(
            progress.per_worker_attempts()[0],
            0,
            "worker 0 is the caller"
        );
        crew.post(None);
        drop(crew);
    }
}
