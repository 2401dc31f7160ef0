//! Each kernel's attempts per second of thread CPU time against the chained
//! `compress256` baseline, measured side by side on one core, with the nonce's inner
//! digits at several byte positions of the final block (the gaps between kernels move
//! with it). Calls are 1,024 counters, as the miner makes them; each figure is the best of
//! five 20 ms slices of CPU time, the kernels taking turns within each round.
//!
//! `cargo run --release --example kernel_positions -- [ROUNDS]` (default 5). Linux only
//! (it reads `CLOCK_THREAD_CPUTIME_ID`, which a preemption does not advance).

use std::time::Duration;

use minichain::miner::kernel::{KernelKind, available_kernels};
use minichain::miner::layout::MiningTemplate;
use sha2::block_api::compress256;

/// Where the low digits start in the final block (the inner digits, which the vector
/// kernels vary lane by lane, begin five bytes later).
const DIGITS_AT: [usize; 5] = [0, 4, 15, 26, 37];
const SLICE: Duration = Duration::from_millis(20);
const CALL: u64 = 1 << 10;

fn thread_time() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// A template whose low digits start at byte `at` of the final block.
fn template(at: usize) -> MiningTemplate {
    // The first prefix length whose layout puts the digits there.
    for len in 0..200usize {
        let prefix: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        let template = MiningTemplate::new(&prefix, b"20", 0).expect("valid template");
        if template.digits_at() == at {
            return template;
        }
    }
    panic!("no prefix puts the digits at byte {at}");
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

fn kernel_rate(kind: KernelKind, template: &MiningTemplate) -> f64 {
    let job = kind.prepare(template, 256);
    let started = thread_time();
    let mut counter = 0u64;
    let mut n = 0u64;
    loop {
        for _ in 0..16 {
            std::hint::black_box(job.search(counter, CALL));
            counter = (counter + CALL) % 900_000_000;
            n += CALL;
        }
        let spent = thread_time() - started;
        if spent >= SLICE {
            return n as f64 / spent.as_secs_f64();
        }
    }
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(5, |s| s.parse().expect("ROUNDS is a number"));
    let kinds: Vec<KernelKind> = available_kernels()
        .into_iter()
        .filter(|&k| k != KernelKind::Portable)
        .collect();
    print!("{:>9} {:>9}", "digits at", "baseline");
    for kind in &kinds {
        print!(" {:>18}", kind.name());
    }
    println!("   (M attempts per CPU-second, ratio to the baseline)");
    for at in DIGITS_AT {
        let template = template(at);
        let mut baseline = 0.0f64;
        let mut best = vec![0.0f64; kinds.len()];
        for _ in 0..rounds {
            baseline = baseline.max(baseline_rate());
            for (rate, &kind) in best.iter_mut().zip(&kinds) {
                *rate = rate.max(kernel_rate(kind, &template));
            }
        }
        print!("{at:>9} {:>9.2}", baseline / 1e6);
        for rate in &best {
            print!(" {:>9.2} ({:>5.2}x)", rate / 1e6, rate / baseline);
        }
        println!();
    }
}
