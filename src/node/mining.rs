//! The mining queue: `POST /api/mineblock` requests wait in order, one coordinator
//! thread mines them one block each on the miner's rayon pool, and a longer chain
//! cancels the running search, which restarts on the new tip with the same data.
//!
//! Why a plain thread: [`Miner::mine`] blocks until a block is found or the search is
//! cancelled, and tokio's workers must stay free to answer GETs meanwhile. The
//! coordinator thread hashes as the miner's worker 0, the miner's helper threads are
//! the others; all of them run at the lowered mining priority.
//!
//! Cancellation goes through [`JobSlot`] (in [`super::job_slot`]), which holds the tip
//! to mine on: the coordinator reads it and registers its
//! [`CancelToken`] under one lock; the chain writer, on each
//! change and before it publishes the change to readers, sets the new tip and cancels
//! the token if the tip moved.
//!
//! The queue is bounded twice: by count ([`MAX_QUEUE`]) and by the bytes its data holds
//! ([`NodeConfig::mining_queue_bytes`]). A request waits as [`RawJson`] (the checked
//! text and its rendered `str()`), not as a tree: a tree of `[0,0,...]` costs some 20
//! times its text. Only the request being mined becomes a tree, for the miner.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use super::config::NodeConfig;
use super::job_slot::{IntakeTimings, JobSlot, JobStart, RestartTiming};
use super::state::{ChainWriter, CommitError, Snapshot, StoreHealth};
use crate::chain::{Difficulty, DifficultyPolicy, RawJson};
use crate::miner::{
    CancelToken, MineJob, MineOutcome, Miner, MinerConfig, MinerError, Progress, RateMeter,
};

/// Most requests waiting to be mined; more get 503 rather than an unbounded queue.
pub const MAX_QUEUE: usize = 1024;

/// Counters of the mining queue, read by `/api/status`.
#[derive(Debug, Default)]
pub struct MiningStats {
    queue_len: AtomicUsize,
    queue_bytes: AtomicUsize,
    blocks_mined: AtomicU64,
    restarts: AtomicU64,
    hash_rate_bits: AtomicU64,
    last_restart: Mutex<Option<RestartTiming>>,
    stale_attempts: AtomicU64,
    restart_latency_us: AtomicU64,
    withdrawn: AtomicU64,
}

impl MiningStats {
    /// Requests waiting, the one being mined included.
    pub fn queue_len(&self) -> usize {
        self.queue_len.load(Ordering::Relaxed)
    }

    /// Bytes of data the waiting requests hold (see [`queued_bytes`]).
    pub fn queue_bytes(&self) -> usize {
        self.queue_bytes.load(Ordering::Relaxed)
    }

    /// Requests taken out of the queue before their turn because their clients went.
    pub fn withdrawn(&self) -> u64 {
        self.withdrawn.load(Ordering::Relaxed)
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

    /// Stale work since start: attempts spent on jobs whose tip had been replaced,
    /// between the writer's cancel and each worker's stop.
    pub fn stale_attempts(&self) -> u64 {
        self.stale_attempts.load(Ordering::Relaxed)
    }

    /// The sum of every restart's latency (message received to new search), µs: with
    /// [`MiningStats::restarts`], the mean restart latency.
    pub fn restart_latency_us_total(&self) -> u64 {
        self.restart_latency_us.load(Ordering::Relaxed)
    }

    fn record_restart(&self, intake: IntakeTimings, cancelled_at: Instant, stale: Option<u64>) {
        let mut timing = RestartTiming::until_now(intake, cancelled_at);
        timing.stale_attempts = stale.unwrap_or(0);
        self.restart_latency_us
            .fetch_add(timing.received_to_restart_us, Ordering::Relaxed);
        *self
            .last_restart
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(timing);
    }
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
    /// The data already queued holds as many bytes as the queue takes.
    #[error(
        "the mining queue is full: its requests hold {queued} bytes of data and it takes at most {limit}; try again later"
    )]
    QueueBytesFull {
        /// Bytes queued when this request came.
        queued: usize,
        /// [`NodeConfig::mining_queue_bytes`].
        limit: usize,
    },
    /// The store fails to take writes (after a disk error redb takes none until the
    /// node restarts): a block mined now could not be kept, so none is mined.
    #[error(
        "the node's store is failing to take writes (see /healthz and the node's log); \
         no block is mined until the node restarts on a working disk"
    )]
    StoreFailing,
    /// The request's client went away, and its search was stopped (no one reads this).
    #[error("the client went away")]
    ClientGone,
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
    Thread(std::io::Error),
    /// The mining thread panicked while it built the miner (a bug; the panic's message
    /// is in the log).
    #[error("the mining thread panicked while starting")]
    Panicked,
}

/// The requests waiting for the coordinator, in order.
///
/// Why a list under a lock and not a channel: a request whose client goes away while it
/// waits is taken out at once ([`MiningQueue::withdraw`]), its place and its data with
/// it. In a channel it kept both until the coordinator reached it, so clients that sent
/// a request and left could fill the queue, and a live client got 503.
#[derive(Debug, Default)]
struct MiningQueue {
    state: Mutex<QueueState>,
    /// Signalled on each request queued and at shutdown.
    ready: std::sync::Condvar,
}

#[derive(Debug, Default)]
struct QueueState {
    waiting: std::collections::VecDeque<(u64, MineRequest)>,
    /// The id the next request gets.
    next_id: u64,
    /// The node shuts down: nothing more is queued, and the coordinator stops.
    stopped: bool,
}

impl MiningQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `request` behind the others; returns its id (for
    /// [`MiningQueue::withdraw`]).
    fn push(&self, request: MineRequest) -> Result<u64, MineError> {
        let mut state = self.lock();
        if state.stopped {
            return Err(MineError::ShuttingDown);
        }
        if state.waiting.len() >= MAX_QUEUE {
            return Err(MineError::QueueFull);
        }
        let id = state.next_id;
        state.next_id += 1;
        state.waiting.push_back((id, request));
        drop(state);
        self.ready.notify_one();
        Ok(id)
    }

    /// Takes request `id` out if it still waits (its client has gone); whether it did.
    fn withdraw(&self, id: u64) -> bool {
        let mut state = self.lock();
        let Some(at) = state.waiting.iter().position(|(queued, _)| *queued == id) else {
            return false;
        };
        // Dropped after the lock: its count and its data go with it.
        let removed = state.waiting.remove(at);
        drop(state);
        drop(removed);
        true
    }

    /// The next request, waiting for one; `None` once the node shuts down.
    fn next(&self) -> Option<MineRequest> {
        let mut state = self.lock();
        loop {
            if state.stopped {
                return None;
            }
            if let Some((_, request)) = state.waiting.pop_front() {
                return Some(request);
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Refuses new requests, drops the waiting ones (their clients hear "shutting
    /// down") and wakes the coordinator to stop.
    fn stop(&self) {
        let waiting = {
            let mut state = self.lock();
            state.stopped = true;
            std::mem::take(&mut state.waiting)
        };
        drop(waiting);
        self.ready.notify_all();
    }
}

struct MineRequest {
    data: RawJson,
    reply: oneshot::Sender<Result<Arc<Snapshot>, MineError>>,
    /// Where the request's client says it has gone, and the coordinator registers the
    /// search it runs for it.
    client: Arc<ClientLink>,
    /// Counts the request in the queue until it is dropped.
    _queued: Queued,
}

/// The tie between a request's client and the search run for it: a client that goes
/// away (its connection closed, its request timed out) cancels the search, so no block
/// is mined for no one and the next request in the queue starts at once.
///
/// Why: a search at a high difficulty runs for seconds to hours; before this, a client
/// that gave up (and perhaps tried again) still had its block mined, and every later
/// request waited for it.
#[derive(Debug, Default)]
struct ClientLink {
    state: Mutex<LinkState>,
}

#[derive(Debug, Default)]
struct LinkState {
    /// The client has gone.
    gone: bool,
    /// The token of the search running for the request, if one runs.
    search: Option<CancelToken>,
}

impl ClientLink {
    fn lock(&self) -> std::sync::MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The client has gone: cancels the running search, if any.
    fn leave(&self) {
        let mut state = self.lock();
        state.gone = true;
        if let Some(token) = state.search.take() {
            token.cancel();
        }
    }

    /// Registers the search about to run on `token`; `false` (and the token cancelled)
    /// when the client has gone already.
    fn watch(&self, token: &CancelToken) -> bool {
        let mut state = self.lock();
        if state.gone {
            token.cancel();
            return false;
        }
        state.search = Some(token.clone());
        true
    }

    /// The search has ended.
    fn unwatch(&self) {
        self.lock().search = None;
    }

    fn is_gone(&self) -> bool {
        self.lock().gone
    }
}

/// Withdraws request `id` from the queue, or cancels its search, when dropped before
/// the answer came: the HTTP side's future is dropped when its connection closes.
struct LeaveOnDrop<'q> {
    queue: &'q MiningQueue,
    stats: &'q MiningStats,
    id: u64,
    client: Option<Arc<ClientLink>>,
}

impl Drop for LeaveOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            client.leave();
            if self.queue.withdraw(self.id) {
                self.stats.withdrawn.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Counts a request in [`MiningStats::queue_len`] and its bytes in
/// [`MiningStats::queue_bytes`] from when it is queued until it is dropped, on every
/// way out: answered, refused at the door, or dropped unanswered with the queue at
/// shutdown.
struct Queued {
    stats: Arc<MiningStats>,
    bytes: usize,
}

impl Queued {
    /// Counts a request of `bytes`, and says how many bytes were queued before it.
    fn new(stats: &Arc<MiningStats>, bytes: usize) -> (Queued, usize) {
        stats.queue_len.fetch_add(1, Ordering::Relaxed);
        let before = stats.queue_bytes.fetch_add(bytes, Ordering::Relaxed);
        let queued = Queued {
            stats: Arc::clone(stats),
            bytes,
        };
        (queued, before)
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.stats.queue_len.fetch_sub(1, Ordering::Relaxed);
        self.stats
            .queue_bytes
            .fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// What a queued request's data costs: its text, its rendered `str()`, and the
/// request's own bookkeeping.
pub fn queued_bytes(data: &RawJson) -> usize {
    data.as_str().len() + data.python_str().len() + std::mem::size_of::<MineRequest>()
}

/// Sentinel in the pinned-difficulty cell: no pin.
const NO_PIN: u32 = u32::MAX;

/// The HTTP side's handle on the mining queue (cheap to clone).
#[derive(Debug, Clone)]
pub struct MiningHandle {
    queue: Arc<MiningQueue>,
    store: Arc<StoreHealth>,
    stats: Arc<MiningStats>,
    progress: Arc<Progress>,
    jobs: Arc<JobSlot>,
    pinned: Arc<AtomicU32>,
    threads: usize,
    kernel: &'static str,
    max_queue_bytes: usize,
}

impl std::fmt::Debug for MineRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MineRequest({} bytes)", self.data.as_str().len())
    }
}

impl MiningHandle {
    /// Queues `data` and waits for its block; answers the chain body holding it.
    ///
    /// A request that would take the queue's data past
    /// [`NodeConfig::mining_queue_bytes`] is refused, unless the queue is empty (so
    /// that data the body limit lets in can always be mined).
    ///
    /// A client that goes away before the answer (this future dropped) cancels its
    /// request: taken out of the queue's way, or its search stopped (see
    /// `ClientLink`).
    ///
    /// # Errors
    /// [`MineError`] when the queue is full (by count or by bytes), the store fails to
    /// take writes, or the node shuts down first.
    pub async fn mine(&self, data: RawJson) -> Result<Arc<Snapshot>, MineError> {
        if self.store.is_failing() {
            return Err(MineError::StoreFailing);
        }
        let (reply, rx) = oneshot::channel();
        let (queued, before) = Queued::new(&self.stats, queued_bytes(&data));
        if before > 0 && before.saturating_add(queued.bytes) > self.max_queue_bytes {
            // Dropping `queued` takes the request out of the counts again.
            return Err(MineError::QueueBytesFull {
                queued: before,
                limit: self.max_queue_bytes,
            });
        }
        let client = Arc::new(ClientLink::default());
        let request = MineRequest {
            data,
            reply,
            client: Arc::clone(&client),
            _queued: queued,
        };
        // A refused request is dropped in `push`, which takes it out of the count.
        let id = self.queue.push(request)?;
        let mut leave = LeaveOnDrop {
            queue: &self.queue,
            stats: &self.stats,
            id,
            client: Some(client),
        };
        let answer = rx.await.unwrap_or(Err(MineError::ShuttingDown));
        // Answered: nothing to cancel any more.
        leave.client = None;
        answer
    }

    /// The queue's counters.
    pub fn stats(&self) -> &MiningStats {
        &self.stats
    }

    /// The queue's counters, shared (for the metrics and events readers).
    pub fn shared_stats(&self) -> Arc<MiningStats> {
        Arc::clone(&self.stats)
    }

    /// The miner's attempt counters.
    pub fn progress(&self) -> Arc<Progress> {
        Arc::clone(&self.progress)
    }

    /// The job slot (tips and their sources, job ids).
    pub fn jobs(&self) -> Arc<JobSlot> {
        Arc::clone(&self.jobs)
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
            d => Some(Difficulty::new(d)),
        }
    }

    /// Pins (or unpins) the difficulty of the next search (benchmarks and tests: a
    /// search that lasts as long as they need). The running search keeps its own until
    /// it restarts.
    pub fn pin_difficulty(&self, difficulty: Option<Difficulty>) {
        self.pinned.store(
            difficulty.map_or(NO_PIN, |d| d.bits().min(NO_PIN - 1)),
            Ordering::Relaxed,
        );
    }

    /// Cancels the running search and answers every queued request with
    /// [`MineError::ShuttingDown`].
    pub fn shut_down(&self) {
        self.jobs.shut_down();
        // The coordinator stops on this word, even while connections left open hold
        // handles on the queue.
        self.queue.stop();
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
    store: Arc<StoreHealth>,
) -> Result<(MiningHandle, JoinHandle<()>), MiningSetupError> {
    let queue = Arc::new(MiningQueue::default());
    let waiting = Arc::clone(&queue);
    let stats = Arc::new(MiningStats::default());
    let pinned = Arc::new(AtomicU32::new(
        config
            .fixed_difficulty
            .map_or(NO_PIN, |d| d.bits().min(NO_PIN - 1)),
    ));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let miner_config = MinerConfig {
        threads: config.threads,
        kernel: config.kernel,
    };
    let nice = config.miner_nice;
    let coordinator = Coordinator {
        writer,
        store: Arc::clone(&store),
        jobs: Arc::clone(&jobs),
        stats: Arc::clone(&stats),
        pinned: Arc::clone(&pinned),
        policy: config.policy,
    };
    let thread = std::thread::Builder::new()
        .name("mining".into())
        .spawn(move || match build_miner(miner_config, nice) {
            Ok(miner) => {
                let ready = (miner.progress(), miner.threads(), miner.kernel().name());
                if ready_tx.send(Ok(ready)).is_ok() {
                    coordinator.run(&miner, &waiting);
                }
            }
            Err(err) => {
                // The starting side waits on this; it has gone only if it failed.
                let _ = ready_tx.send(Err(err));
            }
        })
        .map_err(MiningSetupError::Thread)?;
    let (progress, threads, kernel) = match ready_rx.recv() {
        Ok(Ok(ready)) => ready,
        Ok(Err(err)) => return Err(err),
        // The thread ended without a word: only a panic does that.
        Err(_) => return Err(MiningSetupError::Panicked),
    };
    jobs.count_attempts_of(Arc::clone(&progress));
    let handle = MiningHandle {
        queue,
        store,
        stats,
        progress,
        jobs,
        pinned,
        threads,
        kernel,
        max_queue_bytes: config.mining_queue_bytes,
    };
    Ok((handle, thread))
}

/// Lowers the calling thread (the coordinator) to niceness `nice` and builds the miner
/// from it: the coordinator hashes as the miner's worker 0, and the helper threads
/// inherit its niceness, so every thread that hashes yields to the HTTP workers. A
/// cancel still stops the search within a slice: the coordinator looks at the token
/// between slices like every worker.
fn build_miner(config: MinerConfig, nice: i32) -> Result<Miner, MiningSetupError> {
    lower_priority(nice);
    Ok(Miner::new(config)?)
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
    store: Arc<StoreHealth>,
    jobs: Arc<JobSlot>,
    stats: Arc<MiningStats>,
    pinned: Arc<AtomicU32>,
    policy: DifficultyPolicy,
}

impl Coordinator {
    fn run(&self, miner: &Miner, queue: &MiningQueue) {
        while let Some(request) = queue.next() {
            if request.reply.is_closed() || request.client.is_gone() {
                tracing::debug!("mining request dropped: its client went away");
            } else {
                let result = self.mine_one(miner, &request.data, &request.client);
                let _ = request.reply.send(result);
            }
            // The request (and its place in the count) goes here.
        }
        tracing::debug!("mining coordinator stopped");
    }

    /// Mines one block with `data`, restarting on every new tip, until it is on the
    /// chain.
    fn mine_one(
        &self,
        miner: &Miner,
        data: &RawJson,
        client: &ClientLink,
    ) -> Result<Arc<Snapshot>, MineError> {
        // Written as the miner always wrote mined data: rendered again from its tree, so
        // the block's text is in the node's own spelling. Once per request, not per
        // restart: the tree of a large `data` costs many times its text.
        let data = RawJson::from(data.to_json());
        let mut first = true;
        loop {
            if self.store.is_failing() {
                return Err(MineError::StoreFailing);
            }
            let JobStart {
                prev,
                token,
                restart,
                stale_attempts,
                running,
            } = self.jobs.begin().ok_or(MineError::ShuttingDown)?;
            if let Some(stale) = stale_attempts {
                self.stats
                    .stale_attempts
                    .fetch_add(stale, Ordering::Relaxed);
            }
            if let Some((cause, cancelled_at)) = restart {
                self.stats.restarts.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .record_restart(cause, cancelled_at, stale_attempts);
            }
            if !std::mem::replace(&mut first, false) {
                tracing::info!(height = prev.block_no + 1, "mining restarts on the new tip");
            }
            let job = MineJob {
                prev,
                data: data.clone(),
                policy: self.policy,
                fixed_difficulty: match self.pinned.load(Ordering::Relaxed) {
                    NO_PIN => None,
                    d => Some(Difficulty::new(d)),
                },
            };
            if !client.watch(&token) {
                return Err(MineError::ClientGone);
            }
            // A panic in a mining worker comes back here through the pool; catching it
            // fails this request instead of killing the queue for every later one.
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| miner.mine(&job, &token)));
            client.unwatch();
            // The search is over: end its registration before looking at the tip.
            drop(running);
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
                        return Ok(snapshot);
                    }
                    Err(CommitError::Stale) => continue,
                    Err(CommitError::Closed) => return Err(MineError::ShuttingDown),
                    Err(err @ CommitError::Store(_)) => {
                        return Err(MineError::Failed(err.to_string()));
                    }
                    Err(err @ CommitError::Invalid(_)) => {
                        tracing::error!(%err, "the chain refused a mined block");
                        return Err(MineError::Failed(err.to_string()));
                    }
                },
                // Cancelled for a new tip (mined again on it), for shutdown (the slot
                // refuses the next search) or because the client went away.
                MineOutcome::Cancelled if client.is_gone() => {
                    tracing::info!("mining stopped: the request's client went away");
                    return Err(MineError::ClientGone);
                }
                MineOutcome::Cancelled => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(stats: &Arc<MiningStats>, text: &str) -> MineRequest {
        let data = RawJson::parse(text).expect("JSON");
        let (queued, _) = Queued::new(stats, queued_bytes(&data));
        MineRequest {
            data,
            reply: oneshot::channel().0,
            client: Arc::new(ClientLink::default()),
            _queued: queued,
        }
    }

    /// Requests come out in order; one withdrawn while it waits is gone at once, its
    /// place and its bytes with it; the queue holds at most `MAX_QUEUE`; once stopped it
    /// takes nothing, drops what waits, and gives the coordinator nothing more.
    #[test]
    fn the_queue_keeps_order_and_lets_a_request_go() {
        let stats = Arc::new(MiningStats::default());
        let queue = MiningQueue::default();
        let ids: Vec<u64> = ["1", "2", "3"]
            .iter()
            .map(|text| queue.push(request(&stats, text)).expect("queued"))
            .collect();
        assert_eq!(stats.queue_len(), 3);
        let bytes = stats.queue_bytes();
        assert!(queue.withdraw(ids[1]));
        assert_eq!(stats.queue_len(), 2);
        assert!(stats.queue_bytes() < bytes);
        assert!(!queue.withdraw(ids[1]), "withdrawn once");
        assert_eq!(stats.queue_len(), 2, "withdrawn once");
        let first = queue.next().expect("a request");
        assert_eq!(first.data.as_str(), "1");
        drop(first);
        assert_eq!(queue.next().expect("a request").data.as_str(), "3");
        assert_eq!(stats.queue_len(), 0);

        for i in 0..MAX_QUEUE {
            queue.push(request(&stats, &i.to_string())).expect("room");
        }
        assert!(matches!(
            queue.push(request(&stats, "0")),
            Err(MineError::QueueFull)
        ));
        assert_eq!(
            stats.queue_len(),
            MAX_QUEUE,
            "the refused one is not counted"
        );
        queue.stop();
        assert_eq!(stats.queue_len(), 0, "dropped at shutdown");
        assert!(queue.next().is_none());
        assert!(matches!(
            queue.push(request(&stats, "0")),
            Err(MineError::ShuttingDown)
        ));
    }
}
