//! The node: the original's HTTP API (and more) on axum, Redis sync with the original's
//! network, and a mining queue whose searches restart when a longer chain arrives.
//!
//! - [`config`]: [`NodeConfig`], the validated settings.
//! - [`state`]: the one writer (which commits each change to the
//!   [`store`](crate::store) before it shows it), the snapshots readers take.
//! - [`chain_json`]: the whole chain's JSON written as it is sent or compared.
//! - [`intake`]: chains from the network → validated candidates or counted rejections.
//! - [`mining`]: the request queue and the coordinator thread over the miner.
//! - [`mining_request`]: a mining request's body → its `data` as checked text.
//! - [`job_slot`]: where the running search registers, so the writer can cancel it on a
//!   new tip; the restart's timings.
//! - [`sync`]: Redis subscribe / publish / reconnect.
//! - [`startup_sync`]: the start-up sync from the root, in pages, resumable.
//! - [`gap_fill`]: a peer's chain from where it leaves ours, checked incrementally
//!   and adopted by fork choice (gap requests and the start-up sync);
//!   [`range_fetch`]: its HTTP page client.
//! - [`announce`]: block announcements between minichain nodes (a few hundred bytes
//!   per block, whatever the chain's length); [`stream_log`]: the same in a Redis
//!   Stream, read back from the stored position at start and after a reconnect;
//!   [`seed_compat`]: whole chains on `BLOCKCHAIN` for Python peers, under a limit.
//! - [`answer`]: answers to peers with a worse chain, bounded against amplification.
//! - [`http`]: [`router`](http::router), the handlers and [`ApiError`](http::ApiError).
//! - [`address_count`]: what each client address holds open, for caps per address.
//! - [`server`]: the accept loop: header-read timeout, connection cap, graceful drain.
//! - [`body_budget`]: request bodies under a size limit, a shared byte budget and a
//!   total read time.
//! - [`gap`]: announced tips this node cannot attach yet, handed to the range fetch;
//!   [`gap_backoff`]: peers whose gap fill failed, left alone for a while, and peers
//!   whose fills brought blocks, whose requests go first ([`gap_line`]).
//! - [`critical`]: the parts that must run as long as the node does (the writer, the
//!   coordinator, the server, the tasks), and the failure when one stops early.
//! - [`events`]: live events (`GET /api/events`); [`metrics`]: `GET /metrics`;
//!   [`openapi`]: `GET /api/openapi.json`; [`explorer`]: the page at `/`.
//!
//! Data flows one way: HTTP/Redis → intake (validate) → writer (fork choice) →
//! snapshot → cache/publish, and the writer cancels a search on a stale tip.

pub mod address_count;
pub mod announce;
pub mod answer;
pub mod api_docs;
pub mod body_budget;
pub mod chain_json;
pub mod config;
pub mod critical;
pub mod events;
pub mod explorer;
pub mod gap;
pub mod gap_backoff;
pub mod gap_fill;
pub mod gap_line;
pub mod http;
pub mod intake;
pub mod job_slot;
pub mod metrics;
pub mod mining;
pub mod mining_request;
pub mod openapi;
pub mod range_fetch;
pub mod seed_compat;
pub mod server;
pub mod startup_sync;
pub mod state;
pub mod stream_log;
pub mod sync;
pub mod write_timeout;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use config::NodeConfig;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use self::body_budget::BodyBudget;
use self::http::AppState;
use self::intake::SyncStats;
use self::job_slot::JobSlot;
use self::mining::MiningHandle;
use self::server::ConnectionCount;
use self::state::{Persistence, Snapshot, StoreHealth};
use self::sync::{RedisSettings, RedisStats};
use crate::chain::{Difficulty, ValidChain};
use crate::store::{ChainStore, StoreError};

/// How long shutdown waits for open connections and threads before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The least time the background threads get to stop once the connections are done
/// with, even when they used all of [`SHUTDOWN_GRACE`].
const THREADS_GRACE: Duration = Duration::from_millis(500);

/// Why a node cannot start (or stop cleanly).
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The listen address is taken or not ours.
    #[error("cannot listen on {addr}: {cause}")]
    Bind {
        /// What we tried.
        addr: String,
        /// Why it failed (in the message, so not also a `source` that `{:#}` repeats).
        cause: std::io::Error,
    },
    /// The Redis URL does not parse.
    #[error("invalid Redis URL {url:?}: {cause}")]
    RedisUrl {
        /// The URL.
        url: String,
        /// Why (in the message, so not also a `source` that `{:#}` repeats).
        cause: redis::RedisError,
    },
    /// The miner could not start.
    #[error(transparent)]
    Mining(#[from] mining::MiningSetupError),
    /// The store cannot be opened, or is damaged.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A thread could not start.
    #[error("cannot start the chain writer: {0}")]
    Thread(std::io::Error),
    /// The HTTP server failed.
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
    /// A part the node needs stopped while it ran (see [`critical`]).
    #[error(transparent)]
    PartStopped(#[from] critical::PartsStopped),
}

/// A running node. Dropping it without [`NodeHandle::shutdown`] leaves its tasks
/// running until the runtime ends.
#[derive(Debug)]
pub struct NodeHandle {
    addr: SocketAddr,
    state: AppState,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    parts: critical::PartsWatch,
    gaps: gap::GapSender,
}

impl NodeHandle {
    /// The address the HTTP server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The current chain.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.state.snapshots.borrow())
    }

    /// The mining queue (tests and benchmarks pin the difficulty through it).
    pub fn mining(&self) -> &MiningHandle {
        &self.state.mining
    }

    /// Pins (or unpins) the difficulty of the next search.
    pub fn pin_difficulty(&self, difficulty: Option<Difficulty>) {
        self.state.mining.pin_difficulty(difficulty);
    }

    /// Where a reader of block announcements reports a tip this node cannot attach
    /// (its parent is missing): the node fetches the range from the announcer.
    pub fn gaps(&self) -> gap::GapSender {
        self.gaps.clone()
    }

    /// A router over this node's state, for requests without a socket.
    pub fn router(&self) -> axum::Router {
        http::router(
            self.state.clone(),
            openapi::routes().merge(explorer::routes()),
        )
    }

    /// Resolves once a part the node needs (the chain writer, the mining coordinator,
    /// the HTTP server, a task) has stopped before shutdown, naming it; never while
    /// they all run. See [`critical`].
    pub async fn part_stopped(&self) -> critical::PartsStopped {
        self.parts.stopped(|| self.server.is_finished()).await
    }

    /// Stops the node: stops accepting, cancels mining (queued requests get 503),
    /// closes the Redis tasks, and waits for connections and threads to finish.
    ///
    /// # Errors
    /// [`NodeError::Serve`] when the HTTP server failed.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        let NodeHandle {
            state,
            shutdown,
            server,
            parts,
            gaps,
            ..
        } = self;
        drop(gaps);
        tracing::info!("shutting down");
        state.mining.shut_down();
        let _ = shutdown.send(true);
        drop(state);
        // One grace for the whole stop: connections left open past it hold handles on
        // the threads too, so the threads get only what remains of it.
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        let served = match tokio::time::timeout_at(deadline, server).await {
            Ok(Ok(result)) => result.map_err(NodeError::Serve),
            Ok(Err(join)) => Err(NodeError::Serve(std::io::Error::other(join))),
            Err(_) => {
                tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; leaving them");
                Ok(())
            }
        };
        let threads = parts.stop_tasks();
        // The threads end once every handle on them is gone (the server's state was
        // the last); joining them off the runtime.
        let joined = tokio::task::spawn_blocking(move || {
            for (name, thread) in threads {
                if thread.join().is_err() {
                    tracing::error!(thread = name, "a node thread had panicked (see above)");
                }
            }
        });
        // At least a moment for the threads, which stop at once unless a connection left
        // open holds them (the chain writer finishes the commit it is in first).
        let deadline = deadline.max(tokio::time::Instant::now() + THREADS_GRACE);
        if tokio::time::timeout_at(deadline, joined).await.is_err() {
            tracing::warn!(
                "background threads did not stop within the shutdown grace (connections left \
                 open hold them); leaving them"
            );
        }
        tracing::info!("stopped");
        served
    }
}

/// Starts a node and returns once it listens (the start-up sync runs in the
/// background).
///
/// # Errors
/// [`NodeError`] when the address cannot be bound, the Redis URL is invalid, or the
/// miner or a thread cannot start.
pub async fn start(config: NodeConfig) -> Result<NodeHandle, NodeError> {
    // The stored chain first: a damaged store stops the node before it listens.
    let (initial, persistence) = open_store(config.data_dir.clone()).await?;
    let started = std::time::Instant::now();
    let addr_text = format!("{}:{}", config.host, config.port);
    let listener = tokio::net::TcpListener::bind(&addr_text)
        .await
        .map_err(|cause| NodeError::Bind {
            addr: addr_text.clone(),
            cause,
        })?;
    let addr = listener.local_addr().map_err(|cause| NodeError::Bind {
        addr: addr_text,
        cause,
    })?;
    let redis_client = match &config.redis_url {
        Some(url) => {
            Some(
                redis::Client::open(url.as_str()).map_err(|cause| NodeError::RedisUrl {
                    url: url.clone(),
                    cause,
                })?,
            )
        }
        None => None,
    };

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let meta_keys = persistence.store.as_ref().map(ChainStore::meta_keys);
    let log_position = Arc::new(
        tokio::task::spawn_blocking(move || stream_log::LogPosition::load(meta_keys))
            .await
            .map_err(|join| NodeError::Thread(std::io::Error::other(join)))?,
    );
    let store_health = Arc::clone(&persistence.health);
    let jobs = Arc::new(JobSlot::new(initial.tip()));
    let publish = Arc::new(Notify::new());
    let (writer, snapshots, writer_thread) = state::spawn_writer(
        initial,
        config.fork_choice,
        Arc::clone(&jobs),
        Arc::clone(&publish),
        persistence,
    )
    .map_err(NodeError::Thread)?;
    let bodies_ms = started.elapsed().as_millis() as u64;
    let (mining, mining_thread) =
        mining::spawn_miner(&config, writer.clone(), jobs, Arc::clone(&store_health))?;
    let sync_stats = Arc::new(SyncStats::default());
    let known_tips = Arc::new(announce::KnownTips::default());
    let announce_stats = Arc::new(announce::AnnounceStats::default());
    let seed_compat = Arc::new(seed_compat::SeedCompat::new(
        config.seed_compat,
        config.seed_compat_max_bytes,
        Arc::clone(&known_tips),
    ));
    let redis_stats = Arc::new(RedisStats::with_network(
        Arc::clone(&announce_stats),
        Arc::clone(&seed_compat),
    ));
    let announce_writer = writer.clone();
    let answers = Arc::new(
        answer::Answerer::new(
            snapshots.clone(),
            Arc::clone(&publish),
            redis_client.clone(),
            Arc::clone(redis_stats.answers()),
            config.answer_interval,
            config.answer_delay_max,
        )
        .with_seed_compat(Arc::clone(&seed_compat)),
    );
    let range_stats = Arc::new(gap_fill::RangeStats::new(match &config.root {
        Some(root) if sync::is_self(root, addr) => "skipped",
        Some(_) => "searching",
        None => "off",
    }));
    let range_sync = gap_fill::RangeSync {
        snapshots: snapshots.clone(),
        writer: writer.clone(),
        fork_choice: config.fork_choice,
        timeout: config.root_timeout,
        max_bytes: config.max_message_bytes,
        stats: Arc::clone(&range_stats),
        gap_limits: config.gap_limits,
    };
    let (intake, intake_task) = intake::spawn_intake(
        snapshots.clone(),
        writer,
        Arc::clone(&sync_stats),
        Arc::clone(&publish),
        Arc::clone(&answers),
        config.fork_choice,
        config.max_message_bytes,
    );

    let mut tasks: critical::NamedTasks = vec![("intake", intake_task)];
    {
        let mining = mining.clone();
        let shutdown = shutdown_rx.clone();
        tasks.push((
            "hash-rate meter",
            tokio::spawn(async move { mining.meter_hash_rate(shutdown).await }),
        ));
    }
    // Announced tips whose parent we lack go to the range fetch (gap fill).
    let (gaps, gap_requests) = gap::gap_queue();
    let gap_tx = gaps.clone();
    if let Some(client) = redis_client {
        let settings = RedisSettings {
            client,
            backoff_max: config.redis_backoff_max,
            ping_interval: config.redis_ping_interval,
        };
        let identity = announce::Identity::new(advertised(&config, addr));
        let reannounce = Arc::new(Notify::new());
        let catching_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let subscribed = Arc::new(Notify::new());
        // The same news for the block announcer: tell our tip again.
        let subscribed_again = Arc::new(Notify::new());
        let (announcements, receiver_task) =
            announce::receiver::spawn(announce::receiver::ReceiverParts {
                snapshots: snapshots.clone(),
                writer: announce_writer,
                sync: Arc::clone(&sync_stats),
                stats: Arc::clone(&announce_stats),
                known: Arc::clone(&known_tips),
                node: identity.node.clone(),
                fork_choice: config.fork_choice,
                gaps: gap_tx,
                reannounce: Arc::clone(&reannounce),
                position: Arc::clone(&log_position),
                catching_up: Arc::clone(&catching_up),
            });
        tasks.push(("announcement receiver", receiver_task));
        tasks.push((
            "block log reader",
            tokio::spawn(stream_log::run(
                stream_log::LogReader {
                    client: settings.client.clone(),
                    sender: announcements.clone(),
                    position: log_position,
                    catching_up,
                    stats: Arc::clone(&announce_stats),
                },
                Arc::clone(&subscribed),
                shutdown_rx.clone(),
            )),
        ));
        tasks.push((
            "block announcer",
            tokio::spawn(announce::publisher::run(
                announce::publisher::PublisherSettings {
                    client: settings.client.clone(),
                    identity,
                    log_max_len: config.block_log_len,
                },
                snapshots.clone(),
                Arc::clone(&known_tips),
                Arc::clone(&announce_stats),
                reannounce,
                Arc::clone(&subscribed_again),
                shutdown_rx.clone(),
            )),
        ));
        tasks.push((
            "Redis subscriber",
            tokio::spawn(sync::subscribe_loop(
                settings.clone(),
                intake.clone(),
                answers,
                Arc::clone(&publish),
                Arc::clone(&redis_stats),
                sync::SubscriberLinks {
                    announcements,
                    seed_compat: Arc::clone(&seed_compat),
                    subscribed,
                    tell_tip: subscribed_again,
                },
                shutdown_rx.clone(),
            )),
        ));
        tasks.push((
            "Redis publisher",
            tokio::spawn(sync::publish_loop(
                settings,
                snapshots.clone(),
                Arc::clone(&publish),
                Arc::clone(&redis_stats),
                seed_compat,
                shutdown_rx.clone(),
            )),
        ));
    } else {
        drop((gap_tx, announce_writer));
    }
    match &config.root {
        Some(root) if sync::is_self(root, addr) => {
            tracing::info!(%root, "start-up sync skipped: the root is this node");
        }
        Some(root) => {
            tasks.push((
                "start-up sync",
                tokio::spawn(startup_sync::run(
                    root.clone(),
                    range_sync.clone(),
                    intake.clone(),
                    Arc::clone(&publish),
                )),
            ));
        }
        None => {}
    }
    tasks.push((
        "gap filler",
        tokio::spawn(gap_fill::run(gap_requests, range_sync)),
    ));

    // Event streams may take half the connections, never all of them.
    let events = events::EventBus::new(
        shutdown_rx.clone(),
        config.max_connections / 2,
        config.max_streams_per_ip,
    );
    tasks.extend(
        events::spawn_watchers(
            &events,
            events::EventSources {
                snapshots: snapshots.clone(),
                jobs: mining.jobs(),
                progress: mining.progress(),
                mining: mining.shared_stats(),
                sync: Arc::clone(&sync_stats),
            },
        )
        .into_iter()
        .map(|task| ("event watcher", task)),
    );
    let metrics = Arc::new(metrics::NodeMetrics::new(metrics::MetricSources {
        snapshots: snapshots.clone(),
        progress: mining.progress(),
        mining: mining.shared_stats(),
        sync: Arc::clone(&sync_stats),
        redis: Arc::clone(&redis_stats),
    }));
    let bodies = BodyBudget::new(config.body_budget_bytes, config.body_timeout);
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    // A quarter of the connections (at least one; clamped as the connection count
    // clamps its own), beside the event streams' half.
    let max_mining_requests =
        (config.max_connections / 4).clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
    let state = AppState {
        events,
        metrics,
        snapshots,
        mining,
        sync: sync_stats,
        redis: redis_stats,
        range: range_stats,
        fork_choice: config.fork_choice,
        policy: config.policy,
        max_body_bytes: config.max_body_bytes,
        intake: intake.clone(),
        store: store_health,
        uploads: bodies.capped(),
        bodies,
        connections: ConnectionCount::new(config.max_connections, config.max_connections_per_ip),
        allowed_hosts: config.page_write_hosts().into(),
        large_checks: Arc::new(tokio::sync::Semaphore::new(cores)),
        large_writes: Arc::new(tokio::sync::Semaphore::new(cores)),
        mining_places: Arc::new(tokio::sync::Semaphore::new(max_mining_requests)),
        max_mining_requests,
    };
    let app = http::router(state.clone(), openapi::routes().merge(explorer::routes()));
    let server = tokio::spawn(server::serve(
        listener,
        app,
        server::Timeouts {
            header: config.header_timeout,
            write: config.write_timeout,
        },
        state.connections.clone(),
        shutdown_rx,
    ));
    tracing::debug!(
        bodies_ms,
        ms = started.elapsed().as_millis() as u64,
        "from the stored chain to listening (snapshot bodies, then the miner)"
    );
    tracing::info!(%addr, fork_choice = config.fork_choice_name(), threads = state.mining.threads(), kernel = state.mining.kernel(), "node listening");
    Ok(NodeHandle {
        addr,
        state,
        shutdown: shutdown_tx,
        server,
        parts: critical::PartsWatch::new(
            vec![
                ("chain writer", writer_thread),
                ("mining coordinator", mining_thread),
            ],
            tasks,
        ),
        gaps,
    })
}

/// The HTTP base address announced to peers: the configured one, else the bound
/// address (loopback for an unspecified host).
fn advertised(config: &NodeConfig, addr: SocketAddr) -> String {
    if let Some(url) = &config.advertise {
        return url.trim_end_matches('/').to_owned();
    }
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        }
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Opens the store in `data_dir` (reading and checking its chain, off the async
/// workers), or starts from genesis with no store.
async fn open_store(data_dir: Option<PathBuf>) -> Result<(ValidChain, Persistence), NodeError> {
    let health = Arc::new(StoreHealth::new(data_dir.clone()));
    let Some(dir) = data_dir else {
        let persistence = Persistence {
            store: None,
            health,
        };
        return Ok((ValidChain::genesis(), persistence));
    };
    let started = std::time::Instant::now();
    let path = dir.join(crate::store::FILE_NAME);
    // ChainStore::open catches its own panics: a join error is a cancelled task.
    let (store, chain) = tokio::task::spawn_blocking(move || ChainStore::open(&dir))
        .await
        .map_err(|join| StoreError::Panicked {
            path,
            message: join.to_string(),
        })??;
    tracing::info!(
        path = %store.path().display(),
        blocks = chain.len(),
        hash = %chain.tip().hash,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "chain read from the store and validated"
    );
    let persistence = Persistence {
        store: Some(store),
        health,
    };
    Ok((chain, persistence))
}

/// Runs a node until `shutdown` completes, or until a part it needs stops (see
/// [`critical`]), then stops it gracefully.
///
/// # Errors
/// [`NodeError`] when the node cannot start or its server fails;
/// [`NodeError::PartStopped`] when a part stopped before `shutdown` completed.
pub async fn run(config: NodeConfig, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
    let node = start(config).await?;
    let stopped = tokio::select! {
        () = shutdown => None,
        stopped = node.part_stopped() => Some(stopped),
    };
    if let Some(stopped) = &stopped {
        tracing::error!(parts = ?stopped.parts, "a part of the node stopped; shutting down");
    }
    // The server's own error, when it has one, says more than its name.
    node.shutdown().await?;
    match stopped {
        Some(stopped) => Err(NodeError::PartStopped(stopped)),
        None => Ok(()),
    }
}
