//! Attempts per second of each available mining kernel on one thread, side by side with
//! a chained `compress256` loop (`baseline_compress_per_s`) measured in the same run, and
//! their ratio. Three rounds; compare within a round (the machine's load drifts).
//!
//! Run with `cargo bench --bench kernels` (set `KERNEL_BENCH_MS` to change the
//! per-measurement time, default 1000).

use std::time::Duration;

use minichain::miner::kernel::{
    available_kernels, baseline_compress_per_s, fastest_kernel, measure_attempts_per_s,
};

fn main() {
    let duration_ms = std::env::var("KERNEL_BENCH_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(1000);
    let duration = Duration::from_millis(duration_ms);
    for round in 1..=3 {
        let baseline_per_s = baseline_compress_per_s(duration);
        println!(
            "round {round}: baseline chained compress256 {:.2} M/s",
            baseline_per_s / 1e6
        );
        for kind in available_kernels() {
            let attempts_per_s = measure_attempts_per_s(kind, duration);
            println!(
                "  {:<9} {:>7.2} M attempts/s   ratio {:.3}",
                kind.name(),
                attempts_per_s / 1e6,
                attempts_per_s / baseline_per_s
            );
        }
    }
    println!("fastest_kernel(): {}", fastest_kernel());
}
