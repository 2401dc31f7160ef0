//! Mining: the plain reference miner and the fast parallel one.
//!
//! - [`Miner::mine`]: proof of work over all cores (the calling thread and the miner's
//!   own helper threads, see `crew`), one SHA-256 compression per attempt ([`layout`] +
//!   [`kernel`]), timestamps refreshed every 100 ms as the original does, cancellable
//!   within a millisecond ([`CancelToken`]).
//! - [`reference`](mod@reference): the single-threaded oracle; [`synthetic`]: long
//!   valid chains for benchmarks and tests.
//! - [`progress`]: lock-free attempt counters for hash rates.
//! - [`bench`](mod@bench): the benchmark engine behind `minichain bench` and the
//!   criterion benches (rates against a `compress256` baseline, blocks by difficulty,
//!   cancel latency).

pub mod bench;
mod cache_line;
pub mod cancel;
mod crew;
pub mod kernel;
pub mod layout;
pub mod progress;
pub mod reference;
mod search;
pub mod synthetic;

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, PoisonError};

pub use cancel::CancelToken;
pub use kernel::KernelKind;
pub use progress::{EpochStatus, Progress, RateMeter};

use crate::chain::{Block, Difficulty, DifficultyPolicy, RawJson};

/// What to mine: a block with `data` on top of `prev`.
#[derive(Debug, Clone)]
pub struct MineJob {
    /// The tip to mine on.
    pub prev: Block,
    /// The new block's data, as blocks hold it (its Python `str()` already rendered).
    pub data: RawJson,
    /// How the difficulty follows the clock.
    pub policy: DifficultyPolicy,
    /// Pin the difficulty instead of following the policy.
    pub fixed_difficulty: Option<Difficulty>,
}

/// How a search ended.
#[derive(Debug, Clone, PartialEq)]
pub enum MineOutcome {
    /// A block whose hash meets its difficulty (its hash computed from the template's
    /// midstate, which is SHA-256 of its preimage; debug builds re-check it against the
    /// reference hash).
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
    /// More threads than [`MAX_THREADS`].
    #[error("the miner takes at most {MAX_THREADS} threads, got {0}")]
    TooManyThreads(usize),
    /// The requested kernel does not run on this CPU.
    #[error("kernel {0} is not available on this CPU")]
    KernelUnavailable(KernelKind),
    /// The OS refused a helper thread.
    #[error("cannot start a mining thread: {0}")]
    Thread(std::io::Error),
}

/// The most worker threads a [`Miner`] takes. Far more than any machine has cores,
/// and far fewer than the OS's limits on threads and memory maps, which a larger
/// count can run into: a helper that cannot set itself up would otherwise leave the
/// search waiting for it.
pub const MAX_THREADS: usize = 1024;

/// The worker count when none is asked for: one per CPU, at most [`MAX_THREADS`].
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| usize::from(n).min(MAX_THREADS))
}

/// How to build a [`Miner`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MinerConfig {
    /// Worker threads; `None` means [`default_threads`].
    pub threads: Option<usize>,
    /// Kernel; `None` means the fastest here, picked by a short calibration (with a
    /// narrower one level with it at low difficulties, see [`Miner::kernel_for`]).
    pub kernel: Option<KernelKind>,
}

/// The parallel miner: its own helper threads (never tokio's workers), a kernel, and
/// progress counters. The thread calling [`Miner::mine`] is worker 0; `threads - 1`
/// helpers are the others.
#[derive(Debug)]
pub struct Miner {
    crew: crew::Crew,
    /// Held by the thread in [`Miner::mine`], the crew's only poster.
    searching: Mutex<()>,
    threads: usize,
    kernels: kernel::MiningKernels,
    progress: Arc<Progress>,
}

impl Miner {
    /// Starts the helper threads and picks the kernel. The helpers inherit the calling
    /// thread's priority (the node builds its miner on a lowered one).
    ///
    /// # Errors
    /// [`MinerError`] for zero threads or more than [`MAX_THREADS`], an unavailable
    /// kernel, or a helper thread that fails to start.
    pub fn new(config: MinerConfig) -> Result<Miner, MinerError> {
        let threads = config.threads.unwrap_or_else(default_threads);
        if threads == 0 {
            return Err(MinerError::NoThreads);
        }
        if threads > MAX_THREADS {
            return Err(MinerError::TooManyThreads(threads));
        }
        if let Some(k) = config.kernel
            && !k.is_available()
        {
            return Err(MinerError::KernelUnavailable(k));
        }
        let kernels = kernel::MiningKernels::settle(config.kernel);
        let progress = Arc::new(Progress::new(threads));
        let crew = crew::Crew::start(threads, &progress).map_err(MinerError::Thread)?;
        Ok(Miner {
            crew,
            searching: Mutex::new(()),
            threads,
            kernels,
            progress,
        })
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The kernel in use (at difficulties above
    /// [`LOW_DIFFICULTY_MAX`](kernel::calibrate::LOW_DIFFICULTY_MAX); see
    /// [`Miner::kernel_for`]).
    pub fn kernel(&self) -> KernelKind {
        self.kernels.fastest
    }

    /// The kernel a block at `difficulty` is mined on: up to
    /// [`LOW_DIFFICULTY_MAX`](kernel::calibrate::LOW_DIFFICULTY_MAX), the calibration's
    /// low-difficulty kernel (a narrower one when it runs about level with the fastest),
    /// else the fastest; the one kernel asked for when [`MinerConfig::kernel`] names one.
    pub fn kernel_for(&self, difficulty: u32) -> KernelKind {
        self.kernels.for_difficulty(difficulty)
    }

    /// Lock-free counters of this miner's attempts.
    pub fn progress(&self) -> Arc<Progress> {
        Arc::clone(&self.progress)
    }

    /// Mines `job` on all workers until a block is found or `cancel` fires. Blocks the
    /// calling thread, which hashes as worker 0 (call it from a plain thread, never from
    /// an async task). [`Progress::is_mining`] holds while it runs and is cleared on
    /// every way out, a panic in a worker included (a helper's panic is raised again
    /// here; the node catches those and mines on).
    ///
    /// One search at a time: a second thread calling `mine` on the same miner waits for
    /// the first to return (the helpers take their work from one searching thread).
    pub fn mine(&self, job: &MineJob, cancel: &CancelToken) -> MineOutcome {
        // A search that panicked left nothing half-done that the next one reads.
        let _one_at_a_time = self
            .searching
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let _mining = self.progress.mining();
        search::run(self, job, cancel)
    }

    /// Mines blocks back to back, each on the one before (the first on `job.prev`), all
    /// with `job`'s data, policy and pinned difficulty, handing each to `on_block` as it
    /// is found, until `on_block` breaks or `cancel` fires. Returns how many blocks were
    /// found. Blocks the calling thread like [`Miner::mine`], and waits for a search
    /// already running the same way.
    ///
    /// Why not [`Miner::mine`] in a loop: here the next block's first epoch is posted
    /// to the helpers as soon as a hit is checked, before the found block is built and
    /// before `on_block` runs, so the helpers hash on while the calling thread builds,
    /// hands over and comes back. At low difficulties, where a block is a few
    /// microseconds of hashing, that is a good part of each block's cost. The price: the
    /// helpers hash a block that no one asks for after the last one (they leave within
    /// a batch of lanes once this returns), and those attempts count in [`Progress`].
    ///
    /// `on_block` runs on the calling thread while the helpers mine the next block: a
    /// slow one costs that block worker 0's share, and the next block's epoch its time
    /// (one slower than an epoch has the next block planned again with a fresh
    /// timestamp). It must not call this miner: the search holds it until it returns.
    pub fn mine_chain(
        &self,
        job: &MineJob,
        cancel: &CancelToken,
        mut on_block: impl FnMut(Block) -> ControlFlow<()>,
    ) -> u64 {
        let _one_at_a_time = self
            .searching
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let _mining = self.progress.mining();
        search::run_chain(self, job, cancel, &mut on_block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::miner::kernel::calibrate::LOW_DIFFICULTY_MAX;

    /// A kernel asked for is used at every difficulty; without one, the calibration's
    /// low-difficulty kernel up to `LOW_DIFFICULTY_MAX` and its fastest above.
    #[test]
    fn kernel_by_difficulty() {
        let forced = Miner::new(MinerConfig {
            threads: Some(1),
            kernel: Some(KernelKind::Portable),
        })
        .expect("a portable miner starts");
        for difficulty in [0, LOW_DIFFICULTY_MAX, LOW_DIFFICULTY_MAX + 1, 256] {
            assert_eq!(forced.kernel_for(difficulty), KernelKind::Portable);
        }
        let calibrated = Miner::new(MinerConfig {
            threads: Some(1),
            kernel: None,
        })
        .expect("a calibrated miner starts");
        let kernels = kernel::MiningKernels::settle(None);
        assert_eq!(calibrated.kernel(), kernels.fastest);
        assert_eq!(
            calibrated.kernel_for(LOW_DIFFICULTY_MAX),
            kernels.low_difficulty
        );
        assert_eq!(
            calibrated.kernel_for(LOW_DIFFICULTY_MAX + 1),
            kernels.fastest
        );
    }
}
