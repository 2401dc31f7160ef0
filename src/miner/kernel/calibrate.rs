//! Picks the fastest kernel on this machine, once per process.
//!
//! The kernels' order changes with the CPU, and their gaps with where the nonce's digits
//! sit in the final block (a vector kernel skips the schedule words that do not depend on
//! them; SHA-NI computes them all). An earlier calibration (4 ms wall-clock windows, one
//! template, best of four) picked a kernel 5–10 % slower than the best; what it did wrong,
//! and the answer here:
//!
//! - **Wall-clock windows of 4 ms**, shorter than a scheduler time slice: one preemption
//!   by another process halved a kernel's rate, and under sustained load best-of-four did
//!   not recover it (on 2 busy cores its rates for one kernel ranged from 16 to 55 M/s, and
//!   five runs picked three different kernels, AVX2 once). This was the cause. Each kernel
//!   is now timed by the calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID` on Linux),
//!   which a preemption does not advance: over five runs on the same busy machine the
//!   leader's rate stayed within about 1 % and the pick never changed.
//! - **One template**: the gaps between kernels move by several per cent with the digits'
//!   position, so the rates are now the mean over templates whose digits start where the
//!   layout puts real blocks' digits, each measured for as long as its share of them
//!   (`DIGIT_OFFSETS`: half the time at byte 43).
//! - **Cold first measurements** (digit tables built, clocks ramping): one warm-up window
//!   per kernel is thrown away, and every kernel keeps its best of [`ROUNDS`] rounds, run
//!   in a different kernel order each round.
//! - **Calls unlike the miner's**: calls of up to 16,384 counters, while the miner
//!   searches slices of 1,024, of which the three-stream kernel's 48 lanes hashed 1,056
//!   (its last batch mostly thrown away); on an Intel Xeon (Emerald Rapids) it measured
//!   level with the two-stream kernel here and was picked in 9 runs of 12, yet mined 3 to
//!   5 % slower. Each call is now one miner's `SLICE`, starting where the miner's do,
//!   and the slice is a multiple of every kernel's lanes.
//! - **Positions weighted unlike real blocks'**: four templates with equal time, the
//!   digits at bytes 27, 39, 43 and 44, while about half of all blocks have them at 43
//!   and one in 64 at 44. On the Xeon, avx512x3 ran 2 to 3 % ahead of avx512x2 at byte
//!   43 and 1 to 2 % over all prefix lengths, yet calibrated level, and the tie went to
//!   the narrower kernel: 97.4 % of the best in one `bench` run.
//!
//! - **A neighbour on the core's sibling, which no clock shows**: a calibration that runs
//!   while another virtual machine loads the sibling hyperthread measures the kernels
//!   under that load for all its rounds (such spells last seconds). On a 2-core AMD EPYC
//!   (Zen 4, family 25 model 17), 36 calibrations a few seconds apart: on a quiet core
//!   (SHA-NI near 60 M/s) avx512x3 led avx512x2 by 1.8-3.9 %, under load (SHA-NI near
//!   38 M/s) the two came out about level (-3 to +2.5 %, one +7 %), and 3 of the 36
//!   picked avx512x2 (a `bench` run with such a pick measured it at 97.5 % of
//!   avx512x3, its whole lead lost). Load on the sibling takes issue slots, so it
//!   narrows the lead that a kernel's extra interleaved streams give on a quiet core
//!   (they hide the dependency chain's latency) and keeps the cost of extra
//!   instructions: a wider kernel's standing against a narrower one is at least as good
//!   on a quiet core as under load. So the fastest is the kernel with the largest batch
//!   among those within [`FASTEST_WITHIN`] of the highest rate: at worst that much
//!   slower on a quiet core, where the strict highest rate measured under load gave up
//!   the whole lead.
//! - **A margin narrower than the load's swing**: that margin was 1.5 % at first. On
//!   another 2-core Zen 4 (the same family and model), in a long loaded spell (SHA-NI at
//!   36-42 M/s in the calibration against 57-58 in quiet `bench` runs the same hour),
//!   avx512x3 came out 2.0-3.1 % below avx512x2 in 7 of 20 calibrations, and each of
//!   those picked avx512x2; a `bench` run whose calibration did so measured it, once the
//!   core was quiet, at 94.7 % of avx512x3 (70.9 against 74.9 M/s). The margin cannot
//!   simply cover the whole swing: on the Xeon the VM calls family 6 model 167, avx512x2
//!   led at the peak in every `bench` run of two sessions (by 0.5 % in one's figures,
//!   3.6 % in the other's), and a margin past its lead would give that lead up. So the
//!   margin is 2.5 %: under load on the Zen 4 it would have picked avx512x2 in 2 of the
//!   20 (avx512x3 3.0 and 3.1 % below), and where the narrower truly leads it gives up
//!   at most 2.5 %. Which way a near-tie truly goes cannot be told from one
//!   calibration's rates: the sibling's load does not show in them.
//!
//! Kernels below [`KEEP_WITHIN`] of the leader after [`PRUNE_AFTER`] rounds stop being
//! measured, so the time goes to telling the close ones apart.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{KernelKind, PreparedJob, SLICE, available_kernels};
use crate::miner::layout::MiningTemplate;

/// Where the low digits start in each calibration template's final block, with the
/// share of the measuring time it gets, as real blocks' digits fall: the layout puts them
/// at byte 43 (the fast digits filling word 12) for 31 of the 64 prefix lengths mod 64,
/// at 44 for one, and at one of 11, 15, ..., 39 (filling word 4, 5, ..., 11) for four
/// each; bytes 15, 23, 31 and 39 stand for those eight.
const DIGIT_OFFSETS: [(usize, u32); 5] = [(43, 4), (15, 1), (23, 1), (31, 1), (39, 1)];
/// Thread CPU time per kernel and round for each unit of an offset's share (8 units).
const WINDOW: Duration = Duration::from_micros(750);
/// Rounds; each kernel keeps its best.
pub const ROUNDS: usize = 5;
/// Rounds after which kernels far behind stop being measured.
pub const PRUNE_AFTER: usize = 2;
/// The share of the leader's rate a kernel needs to stay measured after [`PRUNE_AFTER`].
pub const KEEP_WITHIN: f64 = 0.85;
/// The highest difficulty at which the miner mines on [`MiningKernels::low_difficulty`]:
/// there a block is a few batches of the wide kernels, and every worker hashes up to a
/// batch past another's hit. On the Xeon (Emerald Rapids), with avx512x3 2 % ahead of
/// avx512x2 at the peak, blocks back to back gave 77.7-79.1 M attempts/s on avx512x3
/// against 80.0-81.1 on avx512x2 at difficulty 8, level at 10, and avx512x3 0.6 % ahead
/// at 12.
pub const LOW_DIFFICULTY_MAX: u32 = 9;
/// How close to the highest rate a kernel with a larger batch must come to be named the
/// fastest (see the module docs: a near-tie is mostly a measurement under a neighbour's
/// load, which hides the wider kernel's lead and has put the wider up to 3.1 % behind;
/// yet on one Xeon the narrower led in every `bench` run of two sessions, by 0.5-3.6 %,
/// which a wider margin would give up).
pub const FASTEST_WITHIN: f64 = 0.025;
/// How close to the highest rate a kernel with a smaller batch must come to be the
/// low-difficulty kernel: below the gain of a narrower batch at difficulty 8. On a Zen 4
/// (2 threads, 2 s each, four pairs in turn) avx512x2 mined 88.8, 93.9, 89.4 and 88.7 M
/// attempts/s of blocks against 86.9, 89.3, 86.2 and 90.0 on avx512x3, whose peak was
/// 3.7-6.1 % higher in the same runs: the narrower batch gained 4-12 % (8 % on average).
/// At 3 %, 9 of 12 quiet calibrations there (avx512x3 2.3-4.2 % ahead) put difficulty 8
/// on avx512x3.
pub const LOW_DIFFICULTY_WITHIN: f64 = 0.05;
/// Search calls between two reads of the thread clock at first; each next stretch doubles
/// them while it took under an eighth of the window, up to [`MAX_CALLS`]. Every call is
/// one [`SLICE`] of counters starting at a multiple of it, as the miner's calls are (a
/// kernel whose lanes do not divide the call pays for it here as it would mining).
/// Reading the thread clock is a system call (near 1 µs under a hypervisor): read after
/// every call, it would cost the fastest kernels several per cent more than the slowest,
/// while an unoptimised build, a hundred times slower, must still finish a window in
/// about its time.
const FIRST_CALLS: u64 = 1;
/// The most search calls between two clock reads: about 0.4 ms of the fastest kernels.
const MAX_CALLS: u64 = 16;

/// What a calibration measured: each kernel's attempts per second of its thread's CPU
/// time (the mean over the templates, best round), and the kernels to mine on.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// Each kernel measured, with its rate (the best round it ran).
    pub rates: Vec<(KernelKind, f64)>,
    /// The kernels to mine on: the one with the largest batch within [`FASTEST_WITHIN`]
    /// of the highest rate, and for difficulties up to [`LOW_DIFFICULTY_MAX`] the one
    /// with the smallest batch within [`LOW_DIFFICULTY_WITHIN`] of it.
    pub kernels: MiningKernels,
}

/// The kernels a miner mines on: the fastest, and the one for blocks at difficulties up
/// to [`LOW_DIFFICULTY_MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MiningKernels {
    /// The kernel above [`LOW_DIFFICULTY_MAX`]: a calibration names the widest within
    /// [`FASTEST_WITHIN`] of the highest rate.
    pub fastest: KernelKind,
    /// The kernel up to [`LOW_DIFFICULTY_MAX`]: a calibration names the narrowest within
    /// [`LOW_DIFFICULTY_WITHIN`] of the highest rate.
    pub low_difficulty: KernelKind,
}

impl MiningKernels {
    /// `requested` at every difficulty, or, when none is, the process's calibration
    /// ([`calibrate`] over every available kernel, run on the first call only, about
    /// 0.15 s of CPU, and remembered).
    pub fn settle(requested: Option<KernelKind>) -> MiningKernels {
        static CALIBRATED: OnceLock<MiningKernels> = OnceLock::new();
        match requested {
            Some(kind) => MiningKernels {
                fastest: kind,
                low_difficulty: kind,
            },
            None => *CALIBRATED.get_or_init(|| calibrate(&available_kernels()).kernels),
        }
    }

    /// The kernel a block at `difficulty` is mined on.
    pub fn for_difficulty(&self, difficulty: u32) -> KernelKind {
        if difficulty <= LOW_DIFFICULTY_MAX {
            self.low_difficulty
        } else {
            self.fastest
        }
    }
}

/// The fastest kernel available here (see [`MiningKernels::settle`]).
pub fn fastest_kernel() -> KernelKind {
    MiningKernels::settle(None).fastest
}

/// Measures `kinds` (each available on this CPU) on the calling thread as the module
/// docs say, and names the fastest (the widest close to the highest rate, see the
/// module docs) and the kernel for low difficulties (portable for both when `kinds` is
/// empty).
///
/// # Panics
///
/// When a kernel in `kinds` is not available on this CPU.
pub fn calibrate(kinds: &[KernelKind]) -> Calibration {
    let templates: Vec<MiningTemplate> =
        DIGIT_OFFSETS.iter().map(|&(at, _)| template(at)).collect();
    let mut jobs: Vec<Vec<PreparedJob>> = kinds
        .iter()
        .map(|kind| templates.iter().map(|t| kind.prepare(t, 256)).collect())
        .collect();
    let mut counter = 0;
    for kernel_jobs in &mut jobs {
        if let Some(job) = kernel_jobs.first_mut() {
            run_for(job, &mut counter, WINDOW);
        }
    }
    let mut best = vec![0.0f64; kinds.len()];
    let mut contending = vec![true; kinds.len()];
    for round in 0..ROUNDS {
        // Kernels take turns template by template, so that a burst of load from outside
        // the thread (another virtual machine on the core's sibling, which thread CPU
        // time does not see) falls on all of them alike.
        let mut attempts = vec![0u64; kinds.len()];
        let mut spent = vec![Duration::ZERO; kinds.len()];
        for (t, &(_, share)) in DIGIT_OFFSETS.iter().enumerate() {
            for step in 0..kinds.len() {
                let k = (step + round + t) % kinds.len();
                if !contending[k] {
                    continue;
                }
                let (done, took) = run_for(&mut jobs[k][t], &mut counter, WINDOW * share);
                attempts[k] += done;
                spent[k] += took;
            }
        }
        for (k, rate) in best.iter_mut().enumerate() {
            if contending[k] {
                let this_round = attempts[k] as f64 / spent[k].as_secs_f64().max(1e-9);
                *rate = rate.max(this_round);
            }
        }
        if round + 1 == PRUNE_AFTER {
            let lead = best.iter().copied().fold(0.0, f64::max);
            for (keep, &rate) in contending.iter_mut().zip(&best) {
                *keep = rate >= KEEP_WITHIN * lead;
            }
        }
    }
    Calibration {
        kernels: MiningKernels {
            fastest: pick(kinds, &best, FASTEST_WITHIN, Prefer::Wider),
            low_difficulty: pick(kinds, &best, LOW_DIFFICULTY_WITHIN, Prefer::Narrower),
        },
        rates: kinds.iter().copied().zip(best).collect(),
    }
}

/// Which batch [`pick`] prefers among kernels close to the highest rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prefer {
    /// The largest batch: the fastest kernel, whose near-tie hides a wider kernel's lead.
    Wider,
    /// The smallest batch: the low-difficulty kernel, which hashes less past a hit.
    Narrower,
}

/// From each kernel's `rates`, the one with the batch `prefer` names among those within
/// `within` (a share) of the highest rate (the higher rate, then the earlier kernel, on a
/// tie of batches); portable when `kinds` is empty.
fn pick(kinds: &[KernelKind], rates: &[f64], within: f64, prefer: Prefer) -> KernelKind {
    let lead = rates.iter().copied().fold(0.0, f64::max);
    let rank = |kind: KernelKind, rate: f64| {
        let batch = kind.batch() as f64;
        let batch = match prefer {
            Prefer::Wider => -batch,
            Prefer::Narrower => batch,
        };
        (batch, -rate)
    };
    kinds
        .iter()
        .zip(rates)
        .filter(|&(_, &rate)| rate >= (1.0 - within) * lead)
        .fold(
            None::<(KernelKind, f64)>,
            |chosen, (&kind, &rate)| match chosen {
                Some((held, held_rate)) if rank(held, held_rate) <= rank(kind, rate) => chosen,
                _ => Some((kind, rate)),
            },
        )
        .map_or(KernelKind::Portable, |(kind, _)| kind)
}

/// A template whose low digits start at byte `at` of its final block.
///
/// # Panics
///
/// When no prefix length puts them there (every offset in [`DIGIT_OFFSETS`] has one).
fn template(at: usize) -> MiningTemplate {
    MiningTemplate::sample_at(at)
        .expect("some prefix length puts the digits at each calibration offset")
}

/// Searches `job` from `counter` (a multiple of [`SLICE`]) on, one slice per call, at an
/// unreachable difficulty, until the thread has run for `window`; returns the attempts
/// and the thread time they took.
fn run_for(job: &mut PreparedJob, counter: &mut u64, window: Duration) -> (u64, Duration) {
    let started = thread_time();
    let mut attempts = 0;
    let mut calls = FIRST_CALLS;
    let mut before = Duration::ZERO;
    loop {
        for _ in 0..calls {
            std::hint::black_box(job.search(*counter, SLICE));
            attempts += SLICE;
            *counter = next_slice(*counter, job);
        }
        let spent = thread_time().saturating_sub(started);
        if spent >= window {
            return (attempts, spent);
        }
        if (spent - before) * 8 < window {
            calls = (calls * 2).min(MAX_CALLS);
        }
        before = spent;
    }
}

/// The slice after the one at `counter`, or the first when that would pass `job`'s
/// counter limit.
fn next_slice(counter: u64, job: &PreparedJob) -> u64 {
    let next = counter + SLICE;
    if next + SLICE > job.counter_limit() {
        0
    } else {
        next
    }
}

/// The calling thread's CPU time (Linux), which stands still while the thread waits for
/// a core; elsewhere, wall time since the first call.
fn thread_time() -> Duration {
    #[cfg(target_os = "linux")]
    {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(
            u64::try_from(now.tv_sec).unwrap_or(0),
            u32::try_from(now.tv_nsec).unwrap_or(0),
        )
    }
    #[cfg(not(target_os = "linux"))]
    {
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed()
    }
}

/// Attempts per second of `kind` on the calling thread, measured for about `duration`
/// of wall time on a fixed template at an unreachable difficulty (so every attempt runs).
///
/// # Panics
///
/// When the kernel is not available on this CPU.
pub fn measure_attempts_per_s(kind: KernelKind, duration: Duration) -> f64 {
    let job = kind.prepare(&template(DIGIT_OFFSETS[0].0), 256);
    let mut counter = 0;
    let mut attempts: u64 = 0;
    let started = Instant::now();
    loop {
        std::hint::black_box(job.search(counter, SLICE));
        attempts += SLICE;
        counter = next_slice(counter, &job);
        let elapsed = started.elapsed();
        if elapsed >= duration {
            return attempts as f64 / elapsed.as_secs_f64();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The templates put the digits where the docs say, and a calibration measures each
    /// kernel asked for, and names the two kernels by their margins and batches.
    #[test]
    fn calibration_names_kernels_by_their_margins() {
        for (at, _) in DIGIT_OFFSETS {
            assert_eq!(template(at).digits_at(), at);
        }
        let kinds = available_kernels();
        let calibration = calibrate(&kinds);
        assert_eq!(
            calibration.rates.iter().map(|r| r.0).collect::<Vec<_>>(),
            kinds
        );
        assert!(calibration.rates.iter().all(|&(_, rate)| rate > 0.0));
        let top = calibration.rates.iter().map(|r| r.1).fold(0.0, f64::max);
        let rate_of = |kind: KernelKind| {
            calibration
                .rates
                .iter()
                .find(|r| r.0 == kind)
                .expect("the picks are among those measured")
                .1
        };
        let close = |share: f64| {
            calibration
                .rates
                .iter()
                .filter(move |r| r.1 >= (1.0 - share) * top)
        };
        let fastest = calibration.kernels.fastest;
        assert!(rate_of(fastest) >= (1.0 - FASTEST_WITHIN) * top);
        assert!(close(FASTEST_WITHIN).all(|r| r.0.batch() <= fastest.batch()));
        let low = calibration.kernels.low_difficulty;
        assert!(rate_of(low) >= (1.0 - LOW_DIFFICULTY_WITHIN) * top);
        assert!(close(LOW_DIFFICULTY_WITHIN).all(|r| r.0.batch() >= low.batch()));
        assert_eq!(calibrate(&[]).kernels.fastest, KernelKind::Portable);
    }

    /// The fastest is the widest kernel close to the highest rate, the low-difficulty
    /// kernel the narrowest within its margin; a clear lead wins both; equal batches go
    /// to the higher rate, then the earlier kernel.
    #[test]
    fn pick_prefers_the_wider_or_narrower_of_close_kernels() {
        use KernelKind::{Avx512, Avx512x2, Avx512x3, ShaNi};
        let kinds = [ShaNi, Avx512, Avx512x2, Avx512x3];
        let fastest = |rates: &[f64]| pick(&kinds, rates, FASTEST_WITHIN, Prefer::Wider);
        let low = |rates: &[f64]| pick(&kinds, rates, LOW_DIFFICULTY_WITHIN, Prefer::Narrower);
        // Level (as under a neighbour's load): the wider for the peak, the narrower for
        // low difficulties.
        let rates = [30.0, 58.0, 67.0, 66.5];
        assert_eq!(fastest(&rates), Avx512x3);
        assert_eq!(low(&rates), Avx512x2);
        // Level within the load's usual swing (the narrower 2 % ahead): still the wider.
        let rates = [30.0, 58.0, 67.0, 65.7];
        assert_eq!(fastest(&rates), Avx512x3);
        // The narrower clearly ahead: it is the fastest.
        let rates = [30.0, 58.0, 67.0, 65.0];
        assert_eq!(fastest(&rates), Avx512x2);
        // The wider clearly ahead: the wide kernel for both.
        let rates = [30.0, 58.0, 60.0, 70.0];
        assert_eq!(fastest(&rates), Avx512x3);
        assert_eq!(low(&rates), Avx512x3);
        // Equal batches and rates: the earlier kernel. A wider kernel within the margin
        // wins over a narrower one at the highest rate.
        assert_eq!(
            pick(&[Avx512x2, Avx512x2], &[1.0, 1.0], 0.0, Prefer::Wider),
            Avx512x2
        );
        assert_eq!(
            pick(
                &[Avx512, Avx512x2, Avx512x2],
                &[1.0, 0.99, 1.0],
                0.02,
                Prefer::Wider
            ),
            Avx512x2
        );
        assert_eq!(
            pick(&[], &[], LOW_DIFFICULTY_WITHIN, Prefer::Narrower),
            KernelKind::Portable
        );
    }
}
