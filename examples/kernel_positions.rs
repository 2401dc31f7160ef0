//! Each kernel's attempts per second of thread CPU time against the chained
//! `compress256` baseline, measured side by side on one core, with the nonce's low digits
//! at several byte positions of the final block (the gaps between kernels, and each
//! kernel's rate, move with it), and a last row over templates for every prefix length
//! mod 64, as real blocks spread them. Calls are 1,536 counters, as the miner makes them;
//! each figure is the best of ROUNDS rounds of 20 ms of CPU time, every row and kernel
//! taking a turn in each round.
//!
//! `cargo run --release --example kernel_positions -- [ROUNDS [POSITIONS]]` (default 5
//! rounds at bytes 11, 23, 35, 39, 43 and 44; POSITIONS is a comma-separated list of
//! offsets that some sample template gets from the layout: 11, 15, ..., 43 and 44).
//! Linux only (it reads `CLOCK_THREAD_CPUTIME_ID`, which a preemption does not advance).

use std::time::Duration;

use minichain::miner::kernel::{KernelKind, PreparedJob, available_kernels};
use minichain::miner::layout::MiningTemplate;
use sha2::block_api::compress256;

/// Where the low digits start in the final block, by default.
const DIGITS_AT: [usize; 6] = [11, 23, 35, 39, 43, 44];
const SLICE: Duration = Duration::from_millis(20);
const CALL: u64 = 3 << 9;

fn thread_time() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// A template whose low digits start at byte `at` of the final block.
fn template(at: usize) -> MiningTemplate {
    MiningTemplate::sample_at(at)
        .unwrap_or_else(|| panic!("no prefix puts the digits at byte {at}"))
}

fn baseline_rate() -> f64 {
    let mut state = [0x6a09_e667u32; 8];
    let block = [0x5au8; 64];
    let started = thread_time();
    let mut n = 0u64;
    loop {
        for _ in 0..4096 {
            compress256(
                &mut state,
                core::slice::from_ref(std::hint::black_box(&block)),
            );
        }
        n += 4096;
        let spent = thread_time() - started;
        if spent >= SLICE {
            std::hint::black_box(state);
            return n as f64 / spent.as_secs_f64();
        }
    }
}

/// Attempts per CPU-second over `jobs`, each searched for an equal share of the slice.
fn kernel_rate(jobs: &[PreparedJob]) -> f64 {
    let share = SLICE / jobs.len() as u32;
    let (mut attempts, mut spent) = (0u64, Duration::ZERO);
    for job in jobs {
        let started = thread_time();
        let mut counter = 0u64;
        loop {
            std::hint::black_box(job.search(counter, CALL));
            counter += CALL;
            attempts += CALL;
            let took = thread_time() - started;
            if took >= share {
                spent += took;
                break;
            }
        }
    }
    attempts as f64 / spent.as_secs_f64()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args
        .next()
        .map_or(5, |s| s.parse().expect("ROUNDS is a number"));
    let positions: Vec<usize> = match args.next() {
        Some(list) => list
            .split(',')
            .map(|s| {
                s.parse()
                    .expect("POSITIONS are byte offsets, comma-separated")
            })
            .collect(),
        None => DIGITS_AT.to_vec(),
    };
    let kinds: Vec<KernelKind> = available_kernels()
        .into_iter()
        .filter(|&k| k != KernelKind::Portable)
        .collect();
    let mut rows: Vec<(String, Vec<MiningTemplate>)> = positions
        .iter()
        .map(|&at| (at.to_string(), vec![template(at)]))
        .collect();
    rows.push((
        "every len".into(),
        (0..64).map(MiningTemplate::sample).collect(),
    ));
    let jobs: Vec<Vec<Vec<PreparedJob>>> = rows
        .iter()
        .map(|(_, templates)| {
            kinds
                .iter()
                .map(|kind| templates.iter().map(|t| kind.prepare(t, 256)).collect())
                .collect()
        })
        .collect();
    // Rounds outermost: every row and kernel gets a turn in each round, so that a slow
    // spell on a shared machine slows all of them alike rather than one row.
    let mut baseline = vec![0.0f64; rows.len()];
    let mut best = vec![vec![0.0f64; kinds.len()]; rows.len()];
    for _ in 0..rounds {
        for ((row_jobs, base), rates) in jobs.iter().zip(&mut baseline).zip(&mut best) {
            *base = base.max(baseline_rate());
            for (rate, kernel_jobs) in rates.iter_mut().zip(row_jobs) {
                *rate = rate.max(kernel_rate(kernel_jobs));
            }
        }
    }
    print!("{:>9} {:>9}", "digits at", "baseline");
    for kind in &kinds {
        print!(" {:>18}", kind.name());
    }
    println!("   (M attempts per CPU-second, ratio to the baseline)");
    for (((label, _), base), rates) in rows.iter().zip(&baseline).zip(&best) {
        print!("{label:>9} {:>9.2}", base / 1e6);
        for rate in rates {
            print!(" {:>9.2} ({:>5.2}x)", rate / 1e6, rate / base);
        }
        println!();
    }
}
