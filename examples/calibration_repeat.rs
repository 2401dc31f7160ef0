//! Runs the start-up kernel calibration N times in one process and prints each run's
//! rates and picks (the fastest, and the kernel for low difficulties), to see how often
//! it picks a kernel that is not the fastest.
//!
//! `cargo run --release --example calibration_repeat -- [N]` (default 10).

use minichain::miner::kernel::{available_kernels, calibrate::calibrate};

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let kinds = available_kernels();
    for run in 0..runs {
        let started = std::time::Instant::now();
        let calibration = calibrate(&kinds);
        let rates: Vec<String> = calibration
            .rates
            .iter()
            .map(|(kind, rate)| format!("{kind} {:.2}", rate / 1e6))
            .collect();
        println!(
            "run {run}: picked {} (low difficulty: {}) in {:.0} ms: {}",
            calibration.kernels.fastest,
            calibration.kernels.low_difficulty,
            started.elapsed().as_secs_f64() * 1e3,
            rates.join(", ")
        );
    }
}
