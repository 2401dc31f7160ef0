//! The node's chain: one writer thread owns it, readers take a snapshot.
//!
//! Why this shape:
//! - **One writer.** Mined blocks and adopted chains all go through one thread, in
//!   order, so the fork-choice decision and the swap are one step and two updates can
//!   never interleave. It is a plain thread because its work (cloning and extending a
//!   chain, serializing it) is CPU work that must not sit on a tokio worker.
//! - **Snapshots.** Each change publishes an immutable [`Snapshot`] through a
//!   `tokio::sync::watch` channel. A reader clones the `Arc` (a few nanoseconds under
//!   the channel's lock, never while the writer works) and then reads at leisure.
//! - **Durable before visible.** With a store, the writer commits each change to disk
//!   (one transaction, fsync) before it restarts the miner, installs the snapshot or
//!   answers: a `POST /api/mineblock` answer means the block survives a crash. A change
//!   the store refuses is not installed either, so memory and disk never disagree.
//! - **No whole-chain JSON kept.** The chain's blocks are compact and shared between
//!   snapshots ([`ChainBlocks`](crate::chain::compact::ChainBlocks)), so a new block
//!   costs no copy of the chain; `GET /api/blocks`'s body is written from them as it
//!   is sent ([`super::chain_json`]), with its length known beforehand (measured once
//!   per full chunk, at start on a thread of its own so a restarted node listens at
//!   once). The Redis message is written only when a publish needs it whole; incoming
//!   messages are compared with it piece by piece.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use super::chain_json::{ChainBody, Cursor, Form, matches};
use super::job_slot::{IntakeTimings, JobSlot};
use crate::chain::validate::now_ms;
use crate::chain::{Block, ForkChoice, RuleSet, ValidChain, ValidationError};
use crate::store::{ChainStore, StoreError};

/// One version of the chain. Its whole-chain JSON (`GET /api/blocks`'s body, the
/// Redis message) is not held: it is written from the compact blocks when it is sent
/// ([`super::chain_json`]), and compared with incoming messages piece by piece.
#[derive(Debug)]
pub struct Snapshot {
    chain: ValidChain,
    /// The message, written only when a caller needs it whole (a publish).
    message: OnceLock<Bytes>,
    /// The body's and message's lengths, noted when first asked for.
    lens: OnceLock<(u64, u64)>,
    /// Async callers of [`Snapshot::measure`] wait here for the one blocking thread
    /// that measures.
    measuring: Measuring,
    version: u64,
}

/// The one measurement off the async workers that all async callers share.
#[derive(Debug, Default)]
struct Measuring {
    /// A blocking thread was asked to measure.
    started: AtomicBool,
    /// Told when that thread is done (or has failed).
    done: Notify,
    /// Measurements handed to the blocking pool (tests check there is one).
    #[cfg(test)]
    spawned: std::sync::atomic::AtomicUsize,
    /// Held by a test to keep the measurement from finishing while callers come.
    #[cfg(test)]
    held: tokio::sync::Mutex<()>,
}

/// The chain a snapshot holds, for readers that need only the chain (the streamed
/// body in [`chain_json`](super::chain_json), which so does not depend on this module).
impl AsRef<ValidChain> for Snapshot {
    fn as_ref(&self) -> &ValidChain {
        self.chain()
    }
}

impl Snapshot {
    /// The snapshot of `chain`: nothing is serialized yet.
    pub fn of_chain(chain: ValidChain) -> Snapshot {
        Snapshot {
            chain,
            message: OnceLock::new(),
            lens: OnceLock::new(),
            measuring: Measuring::default(),
            version: 0,
        }
    }

    /// The chain.
    pub fn chain(&self) -> &ValidChain {
        &self.chain
    }

    fn lens(&self) -> (u64, u64) {
        *self
            .lens
            .get_or_init(|| (Form::Body.len(&self.chain), Form::Message.len(&self.chain)))
    }

    /// Whether the lengths are known yet ([`Snapshot::body_len`] and
    /// [`Snapshot::message_len`] then cost nothing): async code measures them off its
    /// workers when they are not.
    pub fn is_measured(&self) -> bool {
        self.lens.get().is_some()
    }

    /// Measures the lengths off the async workers, unless they are known: the first
    /// caller hands the measurement to one blocking thread, and every caller, that one
    /// included, waits for it without holding a thread. A burst of requests for a long
    /// chain just loaded or adopted (a second or more at a million blocks) so takes one
    /// blocking thread, not one each, all waiting on the same measurement, while the
    /// pool's threads are needed elsewhere (a mining request's data, pages fetched from
    /// peers). A caller that gives up waiting leaves the measurement running for the
    /// others.
    ///
    /// # Errors
    /// [`MeasureError`], with the lengths still unknown, when called outside a tokio
    /// runtime, or when the measurement failed twice while this caller waited (its
    /// thread panicked, a bug, or the runtime is shutting down and never ran it).
    pub async fn measure(self: &Arc<Self>) -> Result<(), MeasureError> {
        // Known already, as for every request but the first few on a snapshot: no
        // lock taken (registering a waiter takes the notifier's).
        if self.is_measured() {
            return Ok(());
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| MeasureError)?;
        let measuring = &self.measuring;
        // A measurement that failed lets the next caller start another: one that came
        // just then may have been told of the failure while its own one runs, so it
        // waits once more.
        for _ in 0..2 {
            let done = measuring.done.notified();
            tokio::pin!(done);
            // Registered before the check: a notice sent after it is not missed.
            done.as_mut().enable();
            if self.is_measured() {
                return Ok(());
            }
            if !measuring.started.swap(true, Ordering::AcqRel) {
                #[cfg(test)]
                measuring.spawned.fetch_add(1, Ordering::Relaxed);
                // Dropping the handle does not stop the thread: it measures for
                // whoever waits. The guard tells them however it ends, a panic or a
                // task never run (a runtime shutting down) included, so no waiter is
                // left behind.
                let guard = Measurer(Arc::clone(self));
                drop(runtime.spawn_blocking(move || {
                    #[cfg(test)]
                    let _held = guard.0.measuring.held.blocking_lock();
                    guard.0.body_len()
                }));
            }
            done.await;
            if self.is_measured() {
                return Ok(());
            }
        }
        Err(MeasureError)
    }

    /// How many measurements [`Snapshot::measure`] handed to the blocking pool.
    #[cfg(test)]
    fn measurements_spawned(&self) -> usize {
        self.measuring.spawned.load(Ordering::Relaxed)
    }

    /// The length of `GET /api/blocks`'s body (the first call per snapshot sums the
    /// chain's chunks; full chunks are measured once for all snapshots).
    pub fn body_len(&self) -> u64 {
        self.lens().0
    }

    /// `GET /api/blocks`'s body: `{"chain":[...]}`, compact, as the original answers,
    /// streamed with its length.
    pub fn body(self: &Arc<Self>) -> ChainBody<Snapshot> {
        ChainBody::new(Arc::clone(self), self.body_len())
    }

    /// The whole body in one buffer (for tests and small chains: a long chain's body
    /// is streamed by [`Snapshot::body`]).
    pub fn body_bytes(&self) -> Bytes {
        whole(&self.chain, Form::Body)
    }

    /// Whether `bytes` is exactly our body (stops at the length, or the first
    /// difference).
    pub fn is_body(&self, bytes: &[u8]) -> bool {
        bytes.len() as u64 == self.body_len() && matches(&self.chain, Form::Body, bytes, 0)
    }

    /// The Redis message's length, without writing it (for a size limit).
    pub fn message_len(&self) -> u64 {
        self.lens().1
    }

    /// The Redis message: the bare array in Python's `json.dumps` dialect. Written on
    /// the first call and kept with the snapshot (a caller that comes while another
    /// writes it waits for it), so an async caller should take it off the async
    /// workers when it may be unwritten, and a caller that only compares should use
    /// [`Snapshot::is_message`].
    pub fn message(&self) -> &Bytes {
        self.message
            .get_or_init(|| whole(&self.chain, Form::Message))
    }

    /// Whether [`Snapshot::message`] is written already (answers at once).
    pub fn message_written(&self) -> bool {
        self.message.get().is_some()
    }

    /// Whether `bytes` is exactly our message: compared with the written message when
    /// there is one, else piece by piece (nothing is kept).
    pub fn is_message(&self, bytes: &[u8]) -> bool {
        match self.message.get() {
            Some(message) => bytes == message.as_ref(),
            None => {
                bytes.len() as u64 == self.message_len()
                    && matches(&self.chain, Form::Message, bytes, 0)
            }
        }
    }

    /// When `text` is our message with blocks appended, the appended part:
    /// `, {...}, {...}]` after its leading `,`.
    pub fn message_extension_tail<'a>(&self, text: &'a str) -> Option<&'a str> {
        // Our message without its closing `]`.
        let open = usize::try_from(self.message_len()).ok()?.checked_sub(1)?;
        if text.len() <= open + 1 {
            return None;
        }
        let prefix = text.as_bytes().get(..open)?;
        let same = match self.message.get() {
            Some(message) => message.starts_with(prefix),
            None => matches(&self.chain, Form::Message, prefix, 1),
        };
        if !same {
            return None;
        }
        // `prefix` is valid UTF-8 ending in `}`, so this is a character boundary.
        text.get(open..)?.trim_start().strip_prefix(',')
    }

    /// Counts changes since start (0 is the genesis chain).
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// The chain's lengths could not be measured off the async workers (see
/// [`Snapshot::measure`]).
#[derive(Debug, thiserror::Error)]
#[error("measuring the chain failed")]
pub struct MeasureError;

/// The measurement [`Snapshot::measure`] hands to a blocking thread: when it is dropped,
/// measured or not, it wakes the waiters, and if the lengths are still unknown (a
/// panic, or a task the runtime never ran) lets the next caller start again.
struct Measurer(Arc<Snapshot>);

impl Drop for Measurer {
    fn drop(&mut self) {
        let measuring = &self.0.measuring;
        if !self.0.is_measured() {
            measuring.started.store(false, Ordering::Release);
        }
        measuring.done.notify_waiters();
    }
}

/// `form` of `chain` in one buffer.
fn whole(chain: &ValidChain, form: Form) -> Bytes {
    let len = usize::try_from(form.len(chain)).unwrap_or(0);
    let mut out = Vec::with_capacity(len);
    let mut cursor = Cursor::default();
    cursor.fill(chain, form, &mut out, usize::MAX);
    out.into()
}

/// A validated chain on its way to the writer, with timings for `/api/status`.
///
/// Its bodies are not serialized yet: the writer first restarts the miner on its tip
/// (which needs only the tip), then serializes them.
#[derive(Debug)]
pub struct Candidate {
    /// The chain.
    pub chain: ValidChain,
    /// How long each step before the writer took.
    pub timings: IntakeTimings,
}

impl Candidate {
    /// The chain's snapshot (nothing is serialized: see [`Snapshot`]).
    pub fn into_snapshot(self) -> Snapshot {
        Snapshot::of_chain(self.chain)
    }
}

/// What the writer did with a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdoptOutcome {
    /// It replaced our chain.
    Adopted,
    /// Our chain is at least as good by the fork-choice rule.
    NotPreferred,
    /// It was preferred, but the store could not write it, so it was not adopted
    /// (the error is in [`StoreHealth`] and the log).
    NotStored,
}

/// The chain writer has stopped (the node is shutting down), so a chain offered to it
/// got no decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the chain writer has stopped (the node is shutting down)")]
pub struct WriterStopped;

/// Why a mined block was not added.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The tip moved while the block was mined (a longer chain came): mine again.
    #[error("the chain tip moved while the block was mined")]
    Stale,
    /// The block broke a rule (a miner bug: it is re-verified before it is returned).
    #[error("mined block rejected: {0}")]
    Invalid(#[from] ValidationError),
    /// The store could not write the block, so it was not added.
    #[error("the block could not be stored: {0}")]
    Store(StoreError),
    /// The writer has stopped (the node is shutting down).
    #[error("the node is shutting down")]
    Closed,
}

/// What `/api/status` shows of the store: where it is, and whether writes succeed.
#[derive(Debug, Default)]
pub struct StoreHealth {
    data_dir: Option<PathBuf>,
    failing: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl StoreHealth {
    /// The health of a store in `data_dir` (`None`: the node keeps nothing on disk).
    pub fn new(data_dir: Option<PathBuf>) -> StoreHealth {
        StoreHealth {
            data_dir,
            ..StoreHealth::default()
        }
    }

    /// The data directory, if the node keeps its chain.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    /// Whether the last write to the store failed (a node without a store never fails).
    pub fn is_failing(&self) -> bool {
        self.data_dir.is_some() && self.failing.load(Ordering::Relaxed)
    }

    /// `off` (no store), `ok`, or `failing` (the last write failed).
    pub fn state(&self) -> &'static str {
        match (&self.data_dir, self.is_failing()) {
            (None, _) => "off",
            (Some(_), false) => "ok",
            (Some(_), true) => "failing",
        }
    }

    /// The last write error, if any write failed since start.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn record(&self, result: &Result<(), StoreError>) {
        self.failing.store(result.is_err(), Ordering::Relaxed);
        if let Err(err) = result {
            tracing::error!(%err, "the store refused a change; it is not installed");
            *self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(err.to_string());
        }
    }
}

/// Longest the writer waits for a cancelled search to restart on an adopted chain
/// before serializing it (it takes well under a millisecond; this bounds a miner that
/// failed).
const RESTART_WAIT: Duration = Duration::from_millis(5);

enum WriteCommand {
    Mined {
        block: Block,
        reply: oneshot::Sender<Result<Arc<Snapshot>, CommitError>>,
    },
    Adopt {
        candidate: Box<Candidate>,
        reply: oneshot::Sender<AdoptOutcome>,
    },
}

/// The handle every producer of chain changes holds; the writer thread stops when the
/// last handle is dropped.
#[derive(Debug, Clone)]
pub struct ChainWriter {
    tx: mpsc::Sender<WriteCommand>,
}

impl std::fmt::Debug for WriteCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteCommand::Mined { block, .. } => write!(f, "Mined(#{})", block.block_no),
            WriteCommand::Adopt { candidate, .. } => {
                write!(f, "Adopt({} blocks)", candidate.chain.len())
            }
        }
    }
}

impl ChainWriter {
    /// Adds a block the miner found on the tip (blocking: called from the mining thread).
    ///
    /// # Errors
    /// [`CommitError::Stale`] when the tip moved meanwhile.
    pub fn commit_mined_blocking(&self, block: Block) -> Result<Arc<Snapshot>, CommitError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .blocking_send(WriteCommand::Mined { block, reply })
            .map_err(|_| CommitError::Closed)?;
        rx.blocking_recv().map_err(|_| CommitError::Closed)?
    }

    /// Offers a validated chain (blocking: called from the intake's blocking task);
    /// the writer adopts it if the fork-choice rule prefers it to the chain it holds at
    /// that moment.
    ///
    /// # Errors
    /// [`WriterStopped`] when the writer has stopped (the node is shutting down).
    pub fn adopt_blocking(&self, candidate: Candidate) -> Result<AdoptOutcome, WriterStopped> {
        let (reply, rx) = oneshot::channel();
        let command = WriteCommand::Adopt {
            candidate: Box::new(candidate),
            reply,
        };
        self.tx.blocking_send(command).map_err(|_| WriterStopped)?;
        rx.blocking_recv().map_err(|_| WriterStopped)
    }
}

/// What the writer persists to: the store (holding `initial`, the chain it was read
/// back as) and the health it reports; `store: None` keeps nothing.
#[derive(Debug)]
pub struct Persistence {
    /// The open store, or `None`.
    pub store: Option<ChainStore>,
    /// Where `/api/status` reads how the store fares.
    pub health: Arc<StoreHealth>,
}

/// Starts the writer thread on `initial` (which `persistence`'s store holds already);
/// returns its handle, the snapshot receiver readers clone, and the thread.
///
/// # Errors
/// The OS error when the thread cannot start.
pub fn spawn_writer(
    initial: ValidChain,
    fork_choice: ForkChoice,
    jobs: Arc<JobSlot>,
    publish: Arc<Notify>,
    persistence: Persistence,
) -> std::io::Result<(ChainWriter, watch::Receiver<Arc<Snapshot>>, JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel(64);
    let initial = Arc::new(Snapshot::of_chain(initial));
    // The chain's JSON lengths (for Content-Length and message limits) are measured
    // off the start-up path, so a restarted node with a long chain listens at once;
    // whoever needs them first meanwhile waits for them.
    let pending = Arc::clone(&initial);
    if let Err(err) = std::thread::Builder::new()
        .name("chain-lengths".into())
        .spawn(move || {
            pending.body_len();
        })
    {
        tracing::debug!(%err, "no thread for the chain's lengths: measured when first needed");
    }
    let (snapshots, readers) = watch::channel(initial);
    let writer = Writer {
        snapshots,
        fork_choice,
        jobs,
        publish,
        persistence,
        version: 0,
    };
    let thread = std::thread::Builder::new()
        .name("chain-writer".into())
        .spawn(move || writer.run(rx))?;
    Ok((ChainWriter { tx }, readers, thread))
}

struct Writer {
    snapshots: watch::Sender<Arc<Snapshot>>,
    fork_choice: ForkChoice,
    jobs: Arc<JobSlot>,
    publish: Arc<Notify>,
    persistence: Persistence,
    version: u64,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<WriteCommand>) {
        while let Some(command) = rx.blocking_recv() {
            match command {
                WriteCommand::Mined { block, reply } => {
                    let result = self.commit_mined(block);
                    // The miner may have gone (shutdown): nothing to tell then.
                    let _ = reply.send(result);
                }
                WriteCommand::Adopt { candidate, reply } => {
                    let outcome = self.adopt(*candidate);
                    let _ = reply.send(outcome);
                }
            }
        }
        tracing::debug!("chain writer stopped");
    }

    fn current(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshots.borrow())
    }

    fn commit_mined(&mut self, block: Block) -> Result<Arc<Snapshot>, CommitError> {
        let current = self.current();
        let tip = current.chain.tip();
        if block.prev_hash != tip.hash || block.block_no != tip.block_no + 1 {
            return Err(CommitError::Stale);
        }
        let mut chain = current.chain.clone();
        chain.push(block, RuleSet::Strict, now_ms())?;
        // Durable before anyone hears of it: the POST answers only after this.
        self.persist(|store| store.append(&chain))
            .map_err(CommitError::Store)?;
        self.jobs.on_new_tip(chain.tip(), None);
        drop(current);
        let snapshot = self.install(Snapshot::of_chain(chain));
        // The original publishes after every mined block.
        self.publish.notify_one();
        tracing::info!(
            height = snapshot.chain.tip().block_no,
            difficulty = snapshot.chain.tip().difficulty.bits(),
            hash = %snapshot.chain.tip().hash,
            "mined a block"
        );
        Ok(snapshot)
    }

    fn adopt(&mut self, candidate: Candidate) -> AdoptOutcome {
        let current = self.current();
        if !self.fork_choice.prefers(&current.chain, &candidate.chain) {
            return AdoptOutcome::NotPreferred;
        }
        // Durable before the miner or a reader sees it; one transaction, so a crash
        // leaves the old chain or this one on disk.
        if self
            .persist(|store| store.replace(&current.chain, &candidate.chain))
            .is_err()
        {
            return AdoptOutcome::NotStored;
        }
        // The miner needs only the tip: restart it first, and serialize the bodies (a
        // millisecond for a thousand blocks) once the old search has wound down.
        let tip = candidate.chain.tip();
        if let Some(ticket) = self.jobs.on_new_tip(tip, Some(candidate.timings)) {
            self.jobs.wait_for_restart(ticket, RESTART_WAIT);
        }
        drop(current);
        let snapshot = self.install(candidate.into_snapshot());
        tracing::info!(
            height = snapshot.chain.tip().block_no,
            blocks = snapshot.chain.len(),
            hash = %snapshot.chain.tip().hash,
            "adopted a chain"
        );
        AdoptOutcome::Adopted
    }

    /// Runs `write` on the store (if any) and records how it went.
    fn persist(
        &self,
        write: impl FnOnce(&ChainStore) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let Some(store) = &self.persistence.store else {
            return Ok(());
        };
        let result = write(store);
        self.persistence.health.record(&result);
        result
    }

    /// Publishes `snapshot` to readers (the miner heard of its tip already).
    fn install(&mut self, mut snapshot: Snapshot) -> Arc<Snapshot> {
        self.version += 1;
        snapshot.version = self.version;
        let snapshot = Arc::new(snapshot);
        self.snapshots.send_replace(Arc::clone(&snapshot));
        snapshot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Json;

    /// `n` blocks on genesis, each with non-ASCII data.
    fn chain_of(n: usize) -> ValidChain {
        crate::chain::validate::tests::mined_chain((0..n).map(|i| {
            let data = Json::parse(&format!(r#"{{"i": {i}, "s": "é"}}"#)).expect("literal JSON");
            (data, 3)
        }))
    }

    /// A change the store refuses is neither installed nor handed to the miner: the
    /// mined block's request fails, the adopted chain is refused, and the health says
    /// so (here the store was moved ahead of the writer behind its back, so every write
    /// is out of step).
    #[test]
    fn a_change_the_store_refuses_is_not_installed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, stored) = ChainStore::open(dir.path()).expect("opens");
        store.replace(&stored, &chain_of(2)).expect("replace");
        let health = Arc::new(StoreHealth::new(Some(dir.path().to_owned())));
        let initial = ValidChain::genesis();
        let jobs = Arc::new(JobSlot::new(initial.tip()));
        let persistence = Persistence {
            store: Some(store),
            health: Arc::clone(&health),
        };
        let (writer, snapshots, thread) = spawn_writer(
            initial,
            ForkChoice::Work,
            jobs,
            Arc::new(Notify::new()),
            persistence,
        )
        .expect("writer starts");
        assert_eq!(health.state(), "ok");
        let block = chain_of(1).into_blocks()[1].clone();
        assert!(matches!(
            writer.commit_mined_blocking(block),
            Err(CommitError::Store(StoreError::OutOfStep { .. }))
        ));
        let now = std::time::Instant::now();
        let candidate = Candidate {
            chain: chain_of(3),
            timings: IntakeTimings {
                received_at: now,
                started_at: now,
                validate_time: Duration::ZERO,
                examined_at: now,
            },
        };
        assert_eq!(
            writer.adopt_blocking(candidate),
            Ok(AdoptOutcome::NotStored)
        );
        assert_eq!(snapshots.borrow().chain().len(), 1, "nothing installed");
        assert_eq!(snapshots.borrow().version(), 0);
        assert_eq!(health.state(), "failing");
        assert!(
            health
                .last_error()
                .is_some_and(|e| e.contains("out of step")),
            "{:?}",
            health.last_error()
        );
        drop(writer);
        thread.join().expect("the writer stops");
    }

    /// Callers that come together for a chain whose lengths are unknown share one
    /// blocking thread: the measurement is handed to the pool once, held here until
    /// every caller has come, a caller that gives up leaves it running for the others,
    /// and every caller that waits sees it done.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_share_one_measurement() {
        let snapshot = Arc::new(Snapshot::of_chain(chain_of(300)));
        assert!(!snapshot.is_measured());
        let held = snapshot.measuring.held.lock().await;
        // The first caller gives up after starting the measurement (a client gone).
        let gave_up = tokio::time::timeout(Duration::ZERO, snapshot.measure()).await;
        assert!(gave_up.is_err(), "the measurement is held");
        assert_eq!(
            snapshot.measurements_spawned(),
            1,
            "the first caller started it"
        );
        let callers: Vec<_> = (0..32)
            .map(|_| {
                let snapshot = Arc::clone(&snapshot);
                tokio::spawn(async move { snapshot.measure().await.is_ok() })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            callers.iter().all(|caller| !caller.is_finished()),
            "a caller finished while the measurement was held"
        );
        assert_eq!(
            snapshot.measurements_spawned(),
            1,
            "one blocking thread for all callers"
        );
        drop(held);
        for caller in callers {
            assert!(caller.await.expect("a caller ends"), "measured");
        }
        assert!(snapshot.is_measured());
        assert_eq!(snapshot.measurements_spawned(), 1);
        assert_eq!(snapshot.body_len(), snapshot.body_bytes().len() as u64);
    }

    /// The snapshot's JSON forms are the chain's, as the block writer writes them;
    /// its comparisons and the extension tail agree with them.
    #[test]
    fn snapshot_forms_equal_full_serialization() {
        let long = chain_of(5);
        let full = Snapshot::of_chain(long.clone());
        let blocks = long.clone().into_blocks();
        let mut message = Vec::new();
        crate::chain::block::write_chain(
            &blocks,
            crate::chain::json::Dialect::Python,
            &mut message,
        );
        let mut body = b"{\"chain\":".to_vec();
        crate::chain::block::write_chain(&blocks, crate::chain::json::Dialect::Compact, &mut body);
        body.push(b'}');
        assert_eq!(full.body_bytes().as_ref(), body.as_slice());
        assert_eq!(full.body_len(), body.len() as u64);
        assert_eq!(full.message_len(), message.len() as u64);
        assert!(full.is_message(&message) && full.is_body(&body));
        assert!(!full.is_message(&body) && !full.is_body(&message));
        assert!(!full.message_written());
        assert_eq!(full.message().as_ref(), message.as_slice());
        assert!(full.is_message(&message));
        assert!(
            full.body_bytes()
                .starts_with(b"{\"chain\":[{\"block_no\":0,")
        );
        assert!(full.message().starts_with(b"[{\"block_no\": 0, "));
        assert!(full.message().windows(6).any(|w| w == b"\\u00e9"));
        // A shorter chain's snapshot sees the longer message as its extension, written
        // or not.
        let text = std::str::from_utf8(&message).expect("UTF-8");
        let short = Snapshot::of_chain(long.truncated(3));
        let tail = short.message_extension_tail(text).expect("an extension");
        assert!(tail.trim_start().starts_with("{\"block_no\": 3"), "{tail}");
        let _ = short.message();
        assert_eq!(short.message_extension_tail(text), Some(tail));
        assert_eq!(full.message_extension_tail(text), None);
        let other = Snapshot::of_chain(crate::miner::synthetic::synthetic_valid_chain(3));
        assert_eq!(other.message_extension_tail(text), None);
    }
}
