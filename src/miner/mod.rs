//! Mining: the plain reference miner and the fast parallel one.
//!
//! - [`Miner::mine`]: proof of work over all cores on a dedicated rayon pool, one SHA-256
//!   compression per attempt ([`layout`] + [`kernel`]), timestamps refreshed every
//!   100 ms as the original does, cancellable within a millisecond ([`CancelToken`]).
//! - [`reference`](mod@reference): the single-threaded oracle; [`synthetic`]: long
//!   valid chains for benchmarks and tests.
//! - [`progress`]: lock-free attempt counters for hash rates.
//! - [`bench`](mod@bench): the benchmark engine behind `minichain bench` and the
//!   criterion benches (rates against a `compress256` baseline, blocks by difficulty,
//!   cancel latency).

pub mod bench;
pub mod cancel;
pub mod kernel;
pub mod layout;
pub mod progress;
pub mod reference;
mod search;
pub mod synthetic;

use std::sync::Arc;

pub use cancel::CancelToken;
pub use kernel::KernelKind;
pub use progress::{EpochStatus, Progress, RateMeter};

use crate::chain::{Block, Difficulty, DifficultyPolicy, Json};

/// What to mine: a block with `data` on top of `prev`.
#[derive(Debug, Clone)]
pub struct MineJob {
    /// The tip to mine on.
    pub prev: Block,
    /// The new block's data.
    pub data: Json,
    /// How the difficulty follows the clock.
    pub policy: DifficultyPolicy,
    /// Pin the difficulty instead of following the policy.
    pub fixed_difficulty: Option<Difficulty>,
}

/// How a search ended.
#[derive(Debug, Clone, PartialEq)]
pub enum MineOutcome {
    /// A block whose hash meets its difficulty (re-verified by the reference hash).
    Found(Block),
    /// The token was cancelled first.
    Cancelled,
}

/// Why a miner cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum MinerError {
    /// The thread count is zero.
    #[error("the miner needs at least one thread")]
    NoThreads,
    /// The requested kernel does not run on this CPU.
    #[error("kernel {0} is not available on this CPU")]
    KernelUnavailable(KernelKind),
    /// rayon could not start the pool.
    #[error("cannot start the mining thread pool: {0}")]
    Pool(#[from] rayon::ThreadPoolBuildError),
}

/// How to build a [`Miner`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MinerConfig {
    /// Worker threads; `None` means one per CPU.
    pub threads: Option<usize>,
    /// Kernel; `None` means the fastest here, picked by a short calibration.
    pub kernel: Option<KernelKind>,
}

/// The parallel miner: a dedicated rayon pool (never tokio's workers), a kernel, and
/// progress counters.
#[derive(Debug)]
pub struct Miner {
    pool: rayon::ThreadPool,
    threads: usize,
    kernel: KernelKind,
    progress: Arc<Progress>,
}

impl Miner {
    /// Builds the pool and picks the kernel.
    ///
    /// # Errors
    /// [`MinerError`] for zero threads, an unavailable kernel, or a pool that fails to
    /// start.
    pub fn new(config: MinerConfig) -> Result<Miner, MinerError> {
        let threads = config
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
        if threads == 0 {
            return Err(MinerError::NoThreads);
        }
        let kernel = match config.kernel {
            Some(k) if !k.is_available() => return Err(MinerError::KernelUnavailable(k)),
            Some(k) => k,
            None => kernel::fastest_kernel(),
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("miner-{i}"))
            .build()?;
        Ok(Miner {
            pool,
            threads,
            kernel,
            progress: Arc::new(Progress::new(threads)),
        })
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The kernel in use.
    pub fn kernel(&self) -> KernelKind {
        self.kernel
    }

    /// Lock-free counters of this miner's attempts.
    pub fn progress(&self) -> Arc<Progress> {
        Arc::clone(&self.progress)
    }

    /// Mines `job` on all workers until a block is found or `cancel` fires. Blocks the
    /// calling thread (call it from a plain thread, never from an async task).
    /// [`Progress::is_mining`] holds while it runs and is cleared on every way out,
    /// a panic in a worker included (the node catches those and mines on).
    pub fn mine(&self, job: &MineJob, cancel: &CancelToken) -> MineOutcome {
        let _mining = self.progress.mining();
        search::run(self, job, cancel)
    }
}
