//! Live events: what the node does, as it does it, for `GET /api/events`
//! (Server-Sent Events) and the explorer page.
//!
//! Why this shape: the producers must never wait for a reader. Events go through a
//! `tokio::sync::broadcast` channel, whose sender never blocks; a reader that falls
//! more than [`EVENT_BUFFER`] events behind is told it lagged, and its stream is
//! closed (it may reconnect). Each event is serialized once, whatever the readers.
//!
//! The events come from three watchers that read what the node keeps anyway, so no
//! hot path (the chain writer, the restart, the workers) does any work for them:
//! - the chain watcher follows the snapshots: `block` for each new tip (with its
//!   source from the [`JobSlot`]), and `reorg` when the new chain does not extend the
//!   old tip;
//! - the ticker, twice a second: `mining` while a search runs (attempts, rates per
//!   thread), `restart` when the restart counter moved (latency, stale work), and
//!   `rejected` for each rejection reason whose count moved.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, watch};
use tokio::task::JoinHandle;

use super::address_count::{AddressCounts, AddressSlot};
use super::intake::SyncStats;
use super::job_slot::{JobSlot, RestartTiming, TipSource};
use super::mining::MiningStats;
use super::state::Snapshot;
use crate::chain::ValidChain;
use crate::miner::Progress;

/// Events a reader may fall behind by before its stream is closed.
pub const EVENT_BUFFER: usize = 256;

/// How often the ticker samples the miner and the counters.
pub const TICK: Duration = Duration::from_millis(500);

/// A new tip.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BlockEvent {
    /// The tip's `block_no`.
    pub height: u64,
    /// The tip's hash.
    pub hash: String,
    /// The tip's difficulty.
    pub difficulty: u32,
    /// The tip's timestamp, ms since the Unix epoch.
    pub timestamp: u64,
    /// `mined` (this node) or `peer` (an adopted chain).
    pub source: &'static str,
}

/// The miner's progress, about twice a second while a search runs.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MiningEvent {
    /// Attempts since the miner was built, every thread.
    pub attempts: u64,
    /// Attempts per second since the last event, every thread.
    pub attempts_per_sec: f64,
    /// Attempts per second since the last event, per thread.
    pub per_thread: Vec<f64>,
    /// The difficulty of the block being searched.
    pub difficulty: u32,
    /// The search's number since start.
    pub job_id: u64,
}

/// A tip replaced by one that does not extend it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReorgEvent {
    /// The old tip's height.
    pub old_height: u64,
    /// The old tip's hash.
    pub old_tip: String,
    /// The new tip's height.
    pub new_height: u64,
    /// The new tip's hash.
    pub new_tip: String,
    /// Blocks of the old chain no longer on the new one.
    pub depth: u64,
}

/// Chains from the network refused since the last event, for one reason.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RejectedEvent {
    /// The reason's short name (as in `/api/status`).
    pub reason: &'static str,
    /// How many since the last event for this reason.
    pub count: u64,
    /// All so far for this reason.
    pub total: u64,
    /// The last refusal's words (any reason).
    pub last: Option<String>,
}

/// A search restarted on a new tip.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RestartEvent {
    /// Restarts since start.
    pub restarts: u64,
    /// The last restart's timing and stale work.
    pub last: Option<RestartTiming>,
    /// Stale attempts since start.
    pub stale_attempts_total: u64,
}

/// One event on the wire: its SSE name and its JSON, serialized once.
#[derive(Debug, Clone)]
pub struct WireEvent {
    /// `block`, `mining`, `reorg`, `rejected` or `restart`.
    pub name: &'static str,
    /// The JSON data.
    pub data: Arc<str>,
}

/// The sending side of the events: cheap to clone, never blocks. It also counts the
/// open streams against their cap ([`EventBus::reader`]).
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<WireEvent>,
    shutdown: watch::Receiver<bool>,
    readers: Arc<Semaphore>,
    max_readers: usize,
    per_address: Arc<AddressCounts>,
}

/// A place among a bus's open streams (and its address's share, when the request
/// came with one), held for as long as its stream is open.
#[derive(Debug)]
pub struct EventReader(
    #[allow(dead_code)] OwnedSemaphorePermit,
    #[allow(dead_code)] Option<AddressSlot>,
);

/// Why a stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRefused {
    /// As many streams are open as the node serves at once.
    AllOpen,
    /// The client's address holds its share ([`EventBus::max_per_address`]).
    AddressShare,
}

impl EventBus {
    /// A bus whose streams end when `shutdown` turns true, with at most `max_readers`
    /// open at once (none: every stream is refused, as on a node with one connection,
    /// which a stream would hold for good).
    ///
    /// Why a cap of their own: a stream stays open for as long as its client likes and
    /// sends only a keep-alive every `KEEP_ALIVE` (15 s), so no timeout ends it, and each
    /// holds one of the server's connection slots: without a cap, that many idle
    /// streams would take every slot and leave no room for any other request. The node
    /// caps them at half its connections, and at most `per_address` (at least one) from
    /// one client address.
    pub fn new(
        shutdown: watch::Receiver<bool>,
        max_readers: usize,
        per_address: usize,
    ) -> EventBus {
        let (tx, _) = broadcast::channel(EVENT_BUFFER);
        // As the connection count clamps its own: a semaphore holds at most this many.
        let max_readers = max_readers.min(Semaphore::MAX_PERMITS);
        EventBus {
            tx,
            shutdown,
            readers: Arc::new(Semaphore::new(max_readers)),
            max_readers,
            per_address: AddressCounts::new(per_address),
        }
    }

    /// The most streams one client address may hold.
    pub fn max_per_address(&self) -> usize {
        self.per_address.max()
    }

    /// Streams refused because their address held its share.
    pub fn refused_per_address(&self) -> u64 {
        self.per_address.refused()
    }

    /// A place for one more stream from `client` (`None`: a request made without a
    /// socket, which has no share to keep), or why not: [`Self::max_readers`] are
    /// open, or the client's address holds [`Self::max_per_address`].
    ///
    /// # Errors
    /// [`StreamRefused`], as above.
    pub fn reader(&self, client: Option<IpAddr>) -> Result<EventReader, StreamRefused> {
        let share = match client {
            Some(address) => Some(
                self.per_address
                    .admit(address)
                    .ok_or(StreamRefused::AddressShare)?,
            ),
            None => None,
        };
        let place = Arc::clone(&self.readers)
            .try_acquire_owned()
            .map_err(|_| StreamRefused::AllOpen)?;
        Ok(EventReader(place, share))
    }

    /// The most streams open at once.
    pub fn max_readers(&self) -> usize {
        self.max_readers
    }

    /// Sends `event` as `name` to every reader (none: dropped).
    pub fn send(&self, name: &'static str, event: &impl Serialize) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        match serde_json::to_string(event) {
            Ok(data) => {
                let _ = self.tx.send(WireEvent {
                    name,
                    data: data.into(),
                });
            }
            Err(err) => tracing::error!(%err, name, "an event did not serialize"),
        }
    }

    /// A new reader.
    pub fn subscribe(&self) -> broadcast::Receiver<WireEvent> {
        self.tx.subscribe()
    }

    /// The shutdown signal the streams end on.
    pub fn shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// Readers now.
    pub fn readers(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// What the watchers read.
#[derive(Debug, Clone)]
pub struct EventSources {
    /// The chain.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// The tips' sources and job ids.
    pub jobs: Arc<JobSlot>,
    /// The miner's counters.
    pub progress: Arc<Progress>,
    /// The mining queue's counters.
    pub mining: Arc<MiningStats>,
    /// The sync counters.
    pub sync: Arc<SyncStats>,
}

/// Starts the chain watcher and the ticker; both end on shutdown.
pub fn spawn_watchers(bus: &EventBus, sources: EventSources) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(watch_chain(bus.clone(), sources.clone())),
        tokio::spawn(tick(bus.clone(), sources)),
    ]
}

async fn watch_chain(bus: EventBus, sources: EventSources) {
    let mut shutdown = bus.shutdown();
    let mut snapshots = sources.snapshots;
    let mut old = Arc::clone(&snapshots.borrow_and_update());
    loop {
        tokio::select! {
            changed = snapshots.changed() => if changed.is_err() { return },
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let new = Arc::clone(&snapshots.borrow_and_update());
        let (old_chain, new_chain) = (old.chain(), new.chain());
        let tip = new_chain.tip();
        let depth = reorg_depth(old_chain, new_chain);
        if depth > 0 {
            bus.send(
                "reorg",
                &ReorgEvent {
                    old_height: old_chain.tip().block_no,
                    old_tip: old_chain.tip().hash.clone(),
                    new_height: tip.block_no,
                    new_tip: tip.hash.clone(),
                    depth,
                },
            );
        }
        // The watch channel keeps only the latest snapshot: tips set in a quick
        // succession (a pushed chain, then a block mined on it at once) arrive
        // together. Every new block that was a tip gets its event, in order.
        let recent = sources.jobs.recent_tips();
        let first_new = old_chain.len() - depth as usize;
        let added = new_chain.len().saturating_sub(first_new);
        for (i, block) in new_chain.blocks().iter_from(first_new).enumerate() {
            let hash = block.hash_hex();
            let source = recent
                .iter()
                .rev()
                .find(|(tip, _)| *tip == hash)
                .map(|(_, source)| *source);
            let is_tip = i + 1 == added;
            if source.is_none() && !is_tip {
                continue;
            }
            bus.send(
                "block",
                &BlockEvent {
                    height: block.block_no,
                    hash,
                    difficulty: block.difficulty.bits(),
                    timestamp: block.timestamp,
                    source: source.unwrap_or(TipSource::Peer).name(),
                },
            );
        }
        old = new;
    }
}

/// Blocks of `old` not on `new` (0 when `new` extends `old`).
pub fn reorg_depth(old: &ValidChain, new: &ValidChain) -> u64 {
    let (old, new) = (old.blocks(), new.blocks());
    // Walk back from the old tip to the last block both chains share (genesis is).
    let mut i = old.len().min(new.len());
    while i > 0 && old.hash(i - 1) != new.hash(i - 1) {
        i -= 1;
    }
    (old.len() - i) as u64
}

async fn tick(bus: EventBus, sources: EventSources) {
    let mut shutdown = bus.shutdown();
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_at = Instant::now();
    let mut last_workers = sources.progress.per_worker_attempts();
    let mut restarts = sources.mining.restarts();
    let mut rejected: BTreeMap<&'static str, u64> = sources.sync.rejected();
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let now = Instant::now();
        let secs = now.duration_since(last_at).as_secs_f64().max(1e-6);
        let workers = sources.progress.per_worker_attempts();
        let per_thread: Vec<f64> = workers
            .iter()
            .zip(&last_workers)
            .map(|(now, before)| now.saturating_sub(*before) as f64 / secs)
            .collect();
        if sources.progress.is_mining() {
            bus.send(
                "mining",
                &MiningEvent {
                    attempts: workers.iter().sum(),
                    attempts_per_sec: per_thread.iter().sum(),
                    per_thread,
                    difficulty: sources.progress.epoch().difficulty,
                    job_id: sources.jobs.jobs_begun(),
                },
            );
        }
        last_at = now;
        last_workers = workers;

        let now_restarts = sources.mining.restarts();
        if now_restarts != restarts {
            restarts = now_restarts;
            bus.send(
                "restart",
                &RestartEvent {
                    restarts,
                    last: sources.mining.last_restart(),
                    stale_attempts_total: sources.mining.stale_attempts(),
                },
            );
        }

        let now_rejected = sources.sync.rejected();
        let mut last_words = None;
        for (reason, total) in &now_rejected {
            let before = rejected.get(reason).copied().unwrap_or(0);
            if *total > before {
                let last = last_words
                    .get_or_insert_with(|| sources.sync.last_rejection())
                    .clone();
                bus.send(
                    "rejected",
                    &RejectedEvent {
                        reason,
                        count: total - before,
                        total: *total,
                        last,
                    },
                );
            }
        }
        rejected = now_rejected;
    }
}

/// How often an idle stream carries a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The node's events as Server-Sent Events (`event: block`, `mining`, `reorg`,
/// `rejected`, `restart`; `data:` one JSON object), for `GET /api/events`, holding
/// `reader`'s place until it ends: when the node shuts down, the client goes, or the
/// reader falls [`EVENT_BUFFER`] events behind.
pub fn stream(
    bus: &EventBus,
    reader: EventReader,
) -> axum::response::sse::Sse<
    impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>
    + use<>,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use futures_util::StreamExt;
    let events = wire_stream(bus).map(move |event| {
        let _held = &reader;
        Ok(Event::default().event(event.name).data(&*event.data))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

/// The events a new reader gets, from now until shutdown, or until it lags behind by
/// more than [`EVENT_BUFFER`] events (then it ends: a slow reader never holds the node
/// back, and a reader that wants to catch up reconnects and rereads the state).
pub fn wire_stream(bus: &EventBus) -> impl futures_util::Stream<Item = WireEvent> + use<> {
    futures_util::stream::unfold(
        (bus.subscribe(), bus.shutdown()),
        |(mut events, mut shutdown)| async move {
            let next = tokio::select! {
                next = events.recv() => next,
                _ = shutdown.wait_for(|stop| *stop) => return None,
            };
            match next {
                Ok(event) => Some((event, (events, shutdown))),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "an event reader lagged; its stream is closed");
                    None
                }
                Err(broadcast::error::RecvError::Closed) => None,
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::validate::now_ms;
    use crate::chain::{Difficulty, Json, RuleSet};
    use crate::miner::reference::mine_reference;
    use crate::node::config::DEFAULT_MAX_STREAMS_PER_IP;

    /// A cap past what a semaphore can hold (half of `--max-connections
    /// 18446744073709551615`) is clamped, not a panic at start.
    #[test]
    fn a_huge_cap_is_clamped() {
        let (_stop, shutdown) = watch::channel(false);
        let bus = EventBus::new(shutdown, usize::MAX / 2, usize::MAX);
        assert_eq!(bus.max_readers(), Semaphore::MAX_PERMITS);
    }

    fn extend(chain: &ValidChain, n: usize, tag: &str) -> ValidChain {
        let mut chain = chain.clone();
        for i in 0..n {
            let tip = chain.tip().clone();
            let data = Json::String(format!("{tag}{i}").into());
            let difficulty = Difficulty::new(tip.difficulty.bits().saturating_sub(1).max(3));
            let block = mine_reference(&tip, data, tip.timestamp + 1, difficulty);
            chain.push(block, RuleSet::Strict, now_ms()).expect("valid");
        }
        chain
    }

    /// An extension is no reorg; a fork counts the old blocks it drops.
    #[test]
    fn reorg_depth_counts_dropped_blocks() {
        let base = extend(&ValidChain::genesis(), 2, "a");
        let longer = extend(&base, 2, "b");
        assert_eq!(reorg_depth(&base, &longer), 0);
        let old = extend(&base, 3, "c");
        let fork = extend(&base, 4, "d");
        assert_eq!(reorg_depth(&old, &fork), 3);
        assert_eq!(reorg_depth(&old, &ValidChain::genesis()), 5);
    }

    /// A bus allows as many streams as it was given, and a bus given none refuses all
    /// (a node with one connection, which one stream would hold for good).
    #[test]
    fn readers_are_capped() {
        let (_stop, shutdown) = watch::channel(false);
        let bus = EventBus::new(shutdown.clone(), 2, DEFAULT_MAX_STREAMS_PER_IP);
        let first = bus.reader(None).expect("one");
        let _second = bus.reader(None).expect("two");
        assert_eq!(bus.reader(None).err(), Some(StreamRefused::AllOpen));
        drop(first);
        assert!(bus.reader(None).is_ok(), "a place comes back");
        assert!(
            EventBus::new(shutdown, 0, DEFAULT_MAX_STREAMS_PER_IP)
                .reader(None)
                .is_err()
        );
    }

    /// One address holds at most its share of the streams, while another still gets
    /// one; a stream refused for the cap over all does not keep its address's place.
    #[test]
    fn an_address_holds_at_most_its_share_of_streams() {
        let (_stop, shutdown) = watch::channel(false);
        let (a, b): (IpAddr, IpAddr) = (
            "192.0.2.1".parse().expect("an address"),
            "192.0.2.2".parse().expect("an address"),
        );
        let bus = EventBus::new(
            shutdown.clone(),
            4 * DEFAULT_MAX_STREAMS_PER_IP,
            DEFAULT_MAX_STREAMS_PER_IP,
        );
        let held: Vec<_> = (0..DEFAULT_MAX_STREAMS_PER_IP)
            .map(|_| bus.reader(Some(a)).expect("within the share"))
            .collect();
        assert_eq!(bus.reader(Some(a)).err(), Some(StreamRefused::AddressShare));
        assert!(bus.reader(Some(b)).is_ok());
        drop(held);
        assert!(bus.reader(Some(a)).is_ok(), "the share comes back");

        let full = EventBus::new(shutdown, 1, DEFAULT_MAX_STREAMS_PER_IP);
        let only = full.reader(Some(a)).expect("the one place");
        for _ in 0..2 * DEFAULT_MAX_STREAMS_PER_IP {
            assert_eq!(full.reader(Some(b)).err(), Some(StreamRefused::AllOpen));
        }
        drop(only);
        assert!(
            full.reader(Some(b)).is_ok(),
            "b's refusals kept none of its share"
        );
    }

    /// A reader that falls more than the buffer behind gets its stream closed; a
    /// reader that keeps up gets every event; shutdown ends every stream.
    #[tokio::test]
    async fn lagging_readers_are_dropped_and_shutdown_ends_streams() {
        use futures_util::StreamExt;
        let (stop, shutdown) = watch::channel(false);
        let bus = EventBus::new(shutdown, 4, DEFAULT_MAX_STREAMS_PER_IP);
        let slow = wire_stream(&bus);
        let mut slow = std::pin::pin!(slow);
        // Subscribed at the first poll: poll once with nothing to read.
        assert!(
            tokio::time::timeout(Duration::from_millis(20), slow.next())
                .await
                .is_err()
        );
        for i in 0..EVENT_BUFFER + 10 {
            bus.send("block", &i);
        }
        assert!(slow.next().await.is_none(), "a lagging reader is closed");

        let quick = wire_stream(&bus);
        let mut quick = std::pin::pin!(quick);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), quick.next())
                .await
                .is_err()
        );
        bus.send("mining", &1);
        let event = quick.next().await.expect("an event");
        assert_eq!((event.name, &*event.data), ("mining", "1"));
        stop.send_replace(true);
        assert!(quick.next().await.is_none(), "shutdown ends the stream");
    }
}
