//! The benchmark engine behind `minichain bench` and the criterion benches: how fast
//! this machine mines, side by side with a plain SHA-256 baseline, so that numbers from
//! different machines (or different loads) are compared as ratios, never as raw rates.
//!
//! [`run`] measures, each for the plan's seconds per measurement:
//! 1. the baseline: `sha2::compress256` in a chained loop on one thread
//!    ([`baseline_compress_per_s`]);
//! 2. the parallel miner's attempts per second at each thread count (1 always included),
//!    at a difficulty no hash meets, so every attempt runs and epochs restart as in real
//!    mining ([`peak_attempts_per_s`]); from these, the per-core ratio to the baseline
//!    and the scaling;
//! 3. every available kernel on one thread;
//! 4. blocks mined back to back at each difficulty (`fixed_difficulty`), with the
//!    effective attempts per second, which includes every per-block and per-epoch cost
//!    ([`mine_blocks_for`]), and the peak measured just before and after each slice
//!    ([`mine_blocks_beside_peak`]), the yardstick for that row's share of the peak;
//! 5. cancel latency: many cancels with all workers busy, from `cancel()` to `mine`
//!    returning ([`cancel_latencies`]).
//!
//! 1 to 4 run in [`ROUNDS`] interleaved rounds of a sixth of the time each. The rates
//! of 1 to 3 keep their best round: load from other processes only ever slows a
//! measurement down. A difficulty row is a share of the peak, so it is compared with
//! the peak measured beside it rather than with the thread rows, which ran seconds
//! before (a shared machine's speed drifts by several per cent over seconds), and both
//! are means over the rounds: a best round of either would pick its own lucky spell.
//!
//! The files split the engine by concept: [`plan`] (what to measure), [`report`] (the
//! typed results), [`rates`], [`difficulty`] and [`cancel`] (the measurements), [`stats`]
//! (percentiles and ratios), [`engine`] (the run that ties them together, step by
//! step, with an [`Observer`] to show progress) and [`plot`] (a report drawn as SVG).

pub mod cancel;
pub mod difficulty;
pub mod engine;
pub mod plan;
pub mod plot;
pub mod rates;
pub mod report;
pub mod stats;

pub use cancel::{CancelQuota, MAX_CANCEL_TIME, MIN_CANCELS, cancel_latencies};
pub use difficulty::{BlockSlice, PEAK_BESIDE, mine_blocks_beside_peak, mine_blocks_for};
pub use engine::{BenchError, Observer, Quiet, Step, StepKind, run};
pub use plan::{BenchConfig, BenchPlan, BenchPlanError, ROUNDS, thread_counts};
pub use plot::{
    PlotError, check_target as check_plot_target, check_writable as check_plot_writable, write_svg,
};
pub use rates::{baseline_compress_per_s, cancel_after, peak_attempts_per_s, pinned_job};
pub use report::{BenchReport, DifficultyRate, KernelRate, ThreadRate};
pub use stats::{NOISY_SPREAD, percentile, ratio, spread};
