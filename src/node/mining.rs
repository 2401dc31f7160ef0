//! The mining queue: `POST /api/mineblock` requests wait in order, one coordinator
//! thread mines them one block each on the miner's rayon pool, and a longer chain
//! cancels the running search, which restarts on the new tip with the same data.
//!
//! Why a plain thread: [`Miner::mine`] blocks until a block is found or the search is
//! cancelled, and tokio's workers must stay free to answer GETs meanwhile. The
//! coordinator thread only waits; the miner's own pool does the hashing.
//!
//! Cancellation goes through [`JobSlot`], which holds the tip to mine on: the
//! coordinator reads it and registers its [`CancelToken`] under one lock; the chain
//! writer, on each change and before it publishes the change to readers, sets the new
//! tip and cancels the token if the tip moved. Reading the tip and registering under
//! the same lock closes the race where the tip moves between the two.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};

use super::config::NodeConfig;
use super::state::{ChainWriter, CommitError, IntakeTimings};
use crate::chain::{Block, Difficulty, DifficultyPolicy, Json};
use crate::miner::{
    CancelToken, MineJob, MineOutcome, Miner, MinerConfig, MinerError, Progress, RateMeter,
};

/// Most requests waiting to be mined; more get 503 rather than an unbounded queue.
pub const MAX_QUEUE: usize = 1024;

#[derive(Debug)]
struct SlotState {
    /// The chain's tip: what the next search mines on. The writer sets it on every
    /// change, before it serializes the new chain's bodies, so a restart never waits
    /// for them.
    tip: Block,
    /// The tip hash the running search mines on, and its token.
    job: Option<(String, CancelToken)>,
    /// Searches begun so far: the writer waits for this to move after a cancel.
    begun: u64,
    /// A cancel caused by an adopted chain, not yet followed by a restart.
    pending: Option<(IntakeTimings, Instant)>,
    shutting_down: bool,
}

/// Where the running search registers, so that a new tip or shutdown can cancel it,
/// and where the next search finds the tip to mine on.
#[derive(Debug)]
pub struct JobSlot {
    state: Mutex<SlotState>,
}

/// How often [`JobSlot::wait_for_restart`] looks.
const RESTART_POLL: Duration = Duration::from_micros(20);

/// A search about to start: the tip it mines on and its token.
struct JobStart {
    prev: Block,
    token: CancelToken,
    restart: Option<(IntakeTimings, Instant)>,
}

impl JobSlot {
    /// A slot whose first search mines on `tip`.
    pub fn new(tip: &Block) -> JobSlot {
        JobSlot {
            state: Mutex::new(SlotState {
                tip: tip.clone(),
                job: None,
                begun: 0,
                pending: None,
                shutting_down: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        // A panic while holding this lock leaves plain data behind: still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Called by the chain writer on every change, as soon as it has decided on it:
    /// the next search mines on `tip`, and a running search on another tip is
    /// cancelled, remembering `cause` (the adopted chain's way through the intake)
    /// for the restart latency. Returns, when it
    /// cancelled one, the ticket to [`JobSlot::wait_for_restart`] with.
    pub fn on_new_tip(&self, tip: &Block, cause: Option<IntakeTimings>) -> Option<u64> {
        let mut state = self.lock();
        state.tip = tip.clone();
        let stale = state
            .job
            .as_ref()
            .is_some_and(|(hash, _)| *hash != tip.hash);
        if !stale {
            return None;
        }
        if let Some((_, token)) = &state.job {
            token.cancel();
        }
        if let Some(cause) = cause {
            state.pending = Some((cause, Instant::now()));
        }
        Some(state.begun)
    }

    /// Waits (at most `timeout`) until a search begins after the cancel that gave
    /// `ticket` (or the node shuts down). The writer waits here before its own CPU
    /// work (serializing an adopted chain): on a machine with every core mining, that
    /// work would otherwise take the core a winding-down worker needs, and the new
    /// search would start only after it.
    ///
    /// No deadlock with a search that found a block just as it was cancelled: its
    /// coordinator ends the job before it looks at the tip, so either the writer saw
    /// no running search (and does not wait), or the coordinator sees the moved tip
    /// (`JobSlot::tip_moved_from`) and restarts instead of committing to the waiting
    /// writer. The timeout bounds the rest: a miner that failed.
    pub fn wait_for_restart(&self, ticket: u64, timeout: Duration) {
        // Polled, not signalled: a wake-up from the coordinator would tend to put the
        // writer on the coordinator's core, ahead of it, just as it starts the search.
        let deadline = Instant::now() + timeout;
        loop {
            {
                let state = self.lock();
                if state.begun > ticket || state.shutting_down {
                    return;
                }
            }
            if Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(RESTART_POLL);
        }
    }

    /// Whether the tip is no longer `prev_hash` (a block found on it is stale).
    fn tip_moved_from(&self, prev_hash: &str) -> bool {
        self.lock().tip.hash != prev_hash
    }

    /// Cancels the running search and refuses new ones.
    pub fn shut_down(&self) {
        let mut state = self.lock();
        state.shutting_down = true;
        if let Some((_, token)) = &state.job {
            token.cancel();
        }
    }

    /// Registers a search on the current tip; `None` once shutting down.
    fn begin(&self) -> Option<JobStart> {
        let mut state = self.lock();
        if state.shutting_down {
            return None;
        }
        let token = CancelToken::new();
        state.job = Some((state.tip.hash.clone(), token.clone()));
        state.begun += 1;
        Some(JobStart {
            prev: state.tip.clone(),
            token,
            restart: state.pending.take(),
        })
    }

    fn end(&self) {
        self.lock().job = None;
    }
}

/// How long the last restart took, for `/api/status` and the restart benchmark, with
/// its steps: `received_to_restart_us` = `queue_us` + `validate_us` + `handoff_us` +
/// `cancel_to_restart_us`. (The new chain's bodies are serialized after the restart.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RestartTiming {
    /// From the longer chain's message arriving to the search running on its tip.
    pub received_to_restart_us: u64,
    /// From the message's arrival to the intake taking it up (queue, thread hop).
    pub queue_us: u64,
    /// Parsing and validating the chain.
    pub validate_us: u64,
    /// From the intake handing it over to the writer cancelling the search (the thread
    /// hop and the fork-choice decision).
    pub handoff_us: u64,
    /// From the cancel to the new search: the old one winding down.
    pub cancel_to_restart_us: u64,
    /// When the new search started, µs since the Unix epoch (to compare with a
    /// client's clock on the same machine).
    pub restarted_at_unix_us: u64,
}

/// Counters of the mining queue, read by `/api/status`.
#[derive(Debug, Default)]
pub struct MiningStats {
    queue_len: AtomicUsize,
    blocks_mined: AtomicU64,
    restarts: AtomicU64,
    hash_rate_bits: AtomicU64,
    last_restart: Mutex<Option<RestartTiming>>,
}

impl MiningStats {
    /// Requests waiting, the one being mined included.
    pub fn queue_len(&self) -> usize {
        self.queue_len.load(Ordering::Relaxed)
    }

    /// Blocks mined and added to the chain since start.
    pub fn blocks_mined(&self) -> u64 {
        self.blocks_mined.load(Ordering::Relaxed)
    }

    /// Searches restarted on a new tip.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Attempts per second over the last second.
    pub fn hash_rate(&self) -> f64 {
        f64::from_bits(self.hash_rate_bits.load(Ordering::Relaxed))
    }

    /// The last restart's timing.
    pub fn last_restart(&self) -> Option<RestartTiming> {
        *self
            .last_restart
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn record_restart(&self, intake: IntakeTimings, cancelled_at: Instant) {
        let now = Instant::now();
        let timing = RestartTiming {
            received_to_restart_us: micros(now.duration_since(intake.received_at)),
            queue_us: micros(intake.started_at.duration_since(intake.received_at)),
            validate_us: micros(intake.validate_time),
            handoff_us: micros(cancelled_at.duration_since(intake.examined_at)),
            cancel_to_restart_us: micros(now.duration_since(cancelled_at)),
            restarted_at_unix_us: unix_us(),
        };
        *self
            .last_restart
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(timing);
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, micros)
}

/// Why a mining request got no block.
#[derive(Debug, thiserror::Error)]
pub enum MineError {
    /// The node is shutting down.
    #[error("the node is shutting down")]
    ShuttingDown,
    /// Too many requests wait already.
    #[error("{MAX_QUEUE} mining requests are already queued; try again later")]
    QueueFull,
    /// The miner found a block the chain refused (a bug).
    #[error("{0}")]
    Failed(String),
}

/// Why the mining thread cannot start.
#[derive(Debug, thiserror::Error)]
pub enum MiningSetupError {
    /// The miner refused its configuration.
    #[error(transparent)]
    Miner(#[from] MinerError),
    /// The OS refused a thread.
    #[error("cannot start the mining thread: {0}")]
    Thread(#[from] std::io::Error),
}

struct MineRequest {
    data: Json,
    reply: oneshot::Sender<Result<Bytes, MineError>>,
}

/// Sentinel in the pinned-difficulty cell: no pin.
const NO_PIN: u32 = u32::MAX;

/// The HTTP side's handle on the mining queue (cheap to clone).
#[derive(Debug, Clone)]
pub struct MiningHandle {
    tx: mpsc::Sender<MineRequest>,
    stats: Arc<MiningStats>,
    progress: Arc<Progress>,
    jobs: Arc<JobSlot>,
    pinned: Arc<AtomicU32>,
    threads: usize,
    kernel: &'static str,
}

impl std::fmt::Debug for MineRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MineRequest({})", self.data)
    }
}

impl MiningHandle {
    /// Queues `data` and waits for its block; answers the chain body holding it.
    ///
    /// # Errors
    /// [`MineError`] when the queue is full or the node shuts down first.
    pub async fn mine(&self, data: Json) -> Result<Bytes, MineError> {
        let (reply, rx) = oneshot::channel();
        self.stats.queue_len.fetch_add(1, Ordering::Relaxed);
        if let Err(err) = self.tx.try_send(MineRequest { data, reply }) {
            self.stats.queue_len.fetch_sub(1, Ordering::Relaxed);
            return Err(match err {
                mpsc::error::TrySendError::Full(_) => MineError::QueueFull,
                mpsc::error::TrySendError::Closed(_) => MineError::ShuttingDown,
            });
        }
        rx.await.unwrap_or(Err(MineError::ShuttingDown))
    }

    /// The queue's counters.
    pub fn stats(&self) -> &MiningStats {
        &self.stats
    }

    /// Whether a search runs now.
    pub fn is_mining(&self) -> bool {
        self.progress.is_mining()
    }

    /// Mining threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The SHA-256 kernel in use.
    pub fn kernel(&self) -> &'static str {
        self.kernel
    }

    /// The pinned difficulty, if any.
    pub fn pinned_difficulty(&self) -> Option<Difficulty> {
        match self.pinned.load(Ordering::Relaxed) {
            NO_PIN => None,
            d => Some(Difficulty(d)),
        }
    }

    /// Pins (or unpins) the difficulty of the next search (benchmarks and tests: a
    /// search that lasts as long as they need). The running search keeps its own until
    /// it restarts.
    pub fn pin_difficulty(&self, difficulty: Option<Difficulty>) {
        self.pinned.store(
            difficulty.map_or(NO_PIN, |d| d.0.min(NO_PIN - 1)),
            Ordering::Relaxed,
        );
    }

    /// Cancels the running search and answers every queued request with
    /// [`MineError::ShuttingDown`].
    pub fn shut_down(&self) {
        self.jobs.shut_down();
    }

    /// Samples the attempt counters once a second into [`MiningStats::hash_rate`]
    /// until `shutdown` fires.
    pub async fn meter_hash_rate(&self, mut shutdown: watch::Receiver<bool>) {
        let mut meter = RateMeter::new(self.progress.total_attempts());
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let rate = meter.rate(self.progress.total_attempts());
                    self.stats.hash_rate_bits.store(rate.to_bits(), Ordering::Relaxed);
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Builds the miner and starts the coordinator thread.
///
/// # Errors
/// [`MiningSetupError`] when the miner or its thread cannot start.
pub fn spawn_miner(
    config: &NodeConfig,
    writer: ChainWriter,
    jobs: Arc<JobSlot>,
) -> Result<(MiningHandle, JoinHandle<()>), MiningSetupError> {
    let (tx, rx) = mpsc::channel(MAX_QUEUE);
    let stats = Arc::new(MiningStats::default());
    let pinned = Arc::new(AtomicU32::new(
        config
            .fixed_difficulty
            .map_or(NO_PIN, |d| d.0.min(NO_PIN - 1)),
    ));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let miner_config = MinerConfig {
        threads: config.threads,
        kernel: None,
    };
    let nice = config.miner_nice;
    let coordinator = Coordinator {
        writer,
        jobs: Arc::clone(&jobs),
        stats: Arc::clone(&stats),
        pinned: Arc::clone(&pinned),
        policy: config.policy,
    };
    let thread =
        std::thread::Builder::new()
            .name("mining".into())
            .spawn(move || match build_miner(miner_config, nice) {
                Ok(miner) => {
                    let ready = (miner.progress(), miner.threads(), miner.kernel().name());
                    if ready_tx.send(Ok(ready)).is_ok() {
                        coordinator.run(&miner, rx);
                    }
                }
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                }
            })?;
    let (progress, threads, kernel) = match ready_rx.recv() {
        Ok(Ok(ready)) => ready,
        Ok(Err(err)) => return Err(err.into()),
        Err(_) => {
            return Err(std::io::Error::other("the mining thread died while starting").into());
        }
    };
    let handle = MiningHandle {
        tx,
        stats,
        progress,
        jobs,
        pinned,
        threads,
        kernel,
    };
    Ok((handle, thread))
}

/// Builds the miner from a short-lived thread at niceness `nice`: threads inherit
/// their creator's niceness, so every pool worker yields to the HTTP workers, while
/// the coordinator (which must react to a cancel at once) keeps the normal priority.
fn build_miner(config: MinerConfig, nice: i32) -> Result<Miner, MinerError> {
    let builder = std::thread::Builder::new().name("mining-setup".into());
    let built = builder.spawn(move || {
        lower_priority(nice);
        Miner::new(config)
    });
    match built.map(std::thread::JoinHandle::join) {
        Ok(Ok(result)) => result,
        // No thread to lower: build here at normal priority rather than fail.
        Ok(Err(_)) | Err(_) => Miner::new(config),
    }
}

#[cfg(target_os = "linux")]
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    // On Linux the nice value is per thread, and PRIO_PROCESS with no pid means the
    // calling thread.
    if let Err(err) = rustix::process::setpriority_process(None, nice) {
        tracing::warn!(%err, nice, "cannot lower the mining threads' priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_nice: i32) {}

struct Coordinator {
    writer: ChainWriter,
    jobs: Arc<JobSlot>,
    stats: Arc<MiningStats>,
    pinned: Arc<AtomicU32>,
    policy: DifficultyPolicy,
}

impl Coordinator {
    fn run(&self, miner: &Miner, mut rx: mpsc::Receiver<MineRequest>) {
        while let Some(request) = rx.blocking_recv() {
            if request.reply.is_closed() {
                tracing::debug!("mining request dropped: its client went away");
            } else {
                let result = self.mine_one(miner, &request.data);
                let _ = request.reply.send(result);
            }
            self.stats.queue_len.fetch_sub(1, Ordering::Relaxed);
        }
        tracing::debug!("mining coordinator stopped");
    }

    /// Mines one block with `data`, restarting on every new tip, until it is on the
    /// chain.
    fn mine_one(&self, miner: &Miner, data: &Json) -> Result<Bytes, MineError> {
        let mut first = true;
        loop {
            let start = self.jobs.begin().ok_or(MineError::ShuttingDown)?;
            if let Some((cause, cancelled_at)) = start.restart {
                self.stats.restarts.fetch_add(1, Ordering::Relaxed);
                self.stats.record_restart(cause, cancelled_at);
            }
            let prev = start.prev;
            if !std::mem::replace(&mut first, false) {
                tracing::info!(height = prev.block_no + 1, "mining restarts on the new tip");
            }
            let job = MineJob {
                prev,
                data: data.clone(),
                policy: self.policy,
                fixed_difficulty: match self.pinned.load(Ordering::Relaxed) {
                    NO_PIN => None,
                    d => Some(Difficulty(d)),
                },
            };
            // A panic in a mining worker comes back here through the pool; catching it
            // fails this request instead of killing the queue for every later one.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                miner.mine(&job, &start.token)
            }));
            self.jobs.end();
            let Ok(outcome) = outcome else {
                tracing::error!("the miner panicked; the request fails and the queue goes on");
                return Err(MineError::Failed(
                    "the miner failed (see the node's log)".into(),
                ));
            };
            match outcome {
                // Found as the tip moved: stale, and the writer may be waiting for this
                // search to restart.
                MineOutcome::Found(block) if self.jobs.tip_moved_from(&block.prev_hash) => {}
                MineOutcome::Found(block) => match self.writer.commit_mined_blocking(block) {
                    Ok(snapshot) => {
                        self.stats.blocks_mined.fetch_add(1, Ordering::Relaxed);
                        return Ok(snapshot.body().clone());
                    }
                    Err(CommitError::Stale) => continue,
                    Err(CommitError::Closed) => return Err(MineError::ShuttingDown),
                    Err(err @ CommitError::Invalid(_)) => {
                        tracing::error!(%err, "the chain refused a mined block");
                        return Err(MineError::Failed(err.to_string()));
                    }
                },
                MineOutcome::Cancelled => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{Difficulty, genesis};
    use crate::miner::reference::mine_reference;

    fn cause() -> IntakeTimings {
        let now = Instant::now();
        IntakeTimings {
            received_at: now,
            started_at: now,
            validate_time: Duration::ZERO,
            examined_at: now,
        }
    }

    /// A new tip cancels a search on another tip (and only then), and the next search
    /// mines on the new tip, carrying the cause for its restart timing.
    #[test]
    fn a_new_tip_cancels_a_stale_search_and_the_next_begins_on_it() {
        let first = genesis();
        let second = mine_reference(&first, Json::Null, first.timestamp + 1, Difficulty(3));
        let slot = JobSlot::new(&first);
        assert_eq!(slot.on_new_tip(&first, None), None, "no search runs yet");
        let start = slot.begin().expect("not shutting down");
        assert_eq!(start.prev, first);
        assert!(start.restart.is_none());
        assert_eq!(
            slot.on_new_tip(&first, Some(cause())),
            None,
            "same tip: not stale"
        );
        assert!(!start.token.is_cancelled());
        assert_eq!(slot.on_new_tip(&second, Some(cause())), Some(1));
        assert!(start.token.is_cancelled());
        assert!(slot.tip_moved_from(&first.hash));
        assert!(!slot.tip_moved_from(&second.hash));
        slot.end();
        let next = slot.begin().expect("not shutting down");
        assert_eq!(next.prev, second);
        assert!(next.restart.is_some());
        slot.shut_down();
        assert!(next.token.is_cancelled());
        assert!(slot.begin().is_none());
    }

    /// The writer's wait ends once a search began after the cancel, even one that has
    /// already ended again (a block found at once), and at the latest at its timeout.
    #[test]
    fn wait_for_restart_ends_when_a_new_search_began() {
        let first = genesis();
        let second = mine_reference(&first, Json::Null, first.timestamp + 1, Difficulty(3));
        let slot = Arc::new(JobSlot::new(&first));
        let _running = slot.begin().expect("not shutting down");
        let ticket = slot.on_new_tip(&second, Some(cause())).expect("stale");
        let started = Instant::now();
        slot.wait_for_restart(ticket, Duration::from_millis(30));
        assert!(
            started.elapsed() >= Duration::from_millis(30),
            "no restart yet"
        );
        let coordinator = {
            let slot = Arc::clone(&slot);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                slot.end();
                let prev = slot.begin().map(|start| start.prev);
                // Found its block at once: the search is over before the writer looks.
                slot.end();
                prev
            })
        };
        slot.wait_for_restart(ticket, Duration::from_secs(60));
        assert!(slot.lock().begun > ticket);
        assert_eq!(coordinator.join().ok().flatten(), Some(second));
    }
}
