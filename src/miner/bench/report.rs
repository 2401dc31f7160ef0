//! The typed results of a benchmark run: what `minichain bench` prints, as tables or as
//! one JSON object whose keys are these fields exactly.

use serde::Serialize;

/// A whole run's results: one object, serialized as `minichain bench --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    /// Chained `sha2::compress256` calls per second on one thread: the yardstick (best
    /// of the [`ROUNDS`](super::plan::ROUNDS) rounds, as are `threads` and `kernels`).
    pub baseline_compress_per_s: f64,
    /// The miner's attempts per second at each thread count, smallest first.
    pub threads: Vec<ThreadRate>,
    /// Attempts per second per thread at one thread, over the baseline: how much more
    /// than a plain compression loop one core mines.
    pub ratio_per_core: f64,
    /// Attempts per second at the largest thread count over one thread.
    pub scaling: f64,
    /// The widest spread between the rounds of any best-of-rounds measurement (the
    /// baseline, `threads`, `kernels`): slowest over fastest, subtracted from one.
    /// Above [`NOISY_SPREAD`](super::stats::NOISY_SPREAD) the machine was busy during
    /// the run: the best round is kept, but a busy spell over every round of a
    /// measurement would go unseen, so such a run's figures want a second run.
    pub round_spread: f64,
    /// The measurement `round_spread` comes from, as the tables name it (`baseline`,
    /// `2 threads`, `kernel sha-ni`).
    pub round_spread_of: String,
    /// Blocks mined back to back at each difficulty, largest thread count.
    pub by_difficulty: Vec<DifficultyRate>,
    /// Median cancel latency, µs, from `cancel()` to `mine` returning, all workers busy.
    pub cancel_p50_us: f64,
    /// 99th-percentile cancel latency, µs.
    pub cancel_p99_us: f64,
    /// How many cancels the latencies are taken over: shown in the tables, kept out of
    /// the JSON so that its keys stay as they are.
    #[serde(skip)]
    pub cancels: usize,
    /// The kernel used for `threads`, `by_difficulty` and the cancel latency.
    pub kernel: String,
    /// The kernel `by_difficulty` used at difficulties up to
    /// [`LOW_DIFFICULTY_MAX`](crate::miner::kernel::calibrate::LOW_DIFFICULTY_MAX).
    pub low_difficulty_kernel: String,
    /// Every kernel this CPU runs, one thread each.
    pub kernels: Vec<KernelRate>,
}

/// One row of [`BenchReport::threads`]: the miner's rate at one thread count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreadRate {
    /// Worker threads.
    pub n: usize,
    /// Attempts per second, all threads together.
    pub attempts_per_s: f64,
}

/// One row of [`BenchReport::by_difficulty`]: blocks mined back to back at one
/// difficulty.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DifficultyRate {
    /// Leading zero bits required.
    pub difficulty: u32,
    /// Blocks found in all the rounds together (the seconds per measurement in all).
    pub blocks: u64,
    /// Seconds per block over all the rounds; `null` when no block was found.
    pub secs_per_block: Option<f64>,
    /// Attempts made per second of mining, per-block costs included, over all the
    /// rounds' slices of this row.
    pub attempts_per_s: f64,
    /// Blocks found per second times 2^difficulty, the attempts a block takes on
    /// average (0 without a block): the work the blocks stand for. Below
    /// `attempts_per_s` by the attempts no block can come of, such as the rest of a
    /// batch in flight when another worker's hit lands; noisy where the rounds find few
    /// blocks.
    pub block_attempts_per_s: f64,
    /// The peak (this miner at a difficulty no hash meets) measured beside this row: the
    /// mean of a window just before and one just after each of its slices. The row's
    /// shares of the peak are taken against it rather than against `threads`, whose
    /// rounds ran seconds earlier: a shared machine's speed drifts by several per cent
    /// over seconds, and against a rate from seconds away that drift would read as
    /// per-block cost, or as a share above 100 %. Means on both sides, not best rounds,
    /// so that the two compare like with like.
    pub peak_attempts_per_s: f64,
}

/// One row of [`BenchReport::kernels`]: one kernel's rate on one thread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelRate {
    /// The kernel's name (`--kernel` spelling).
    pub name: String,
    /// Attempts per second on one thread.
    pub attempts_per_s: f64,
}
