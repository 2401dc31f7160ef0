//! `minichain node`: run a node (HTTP API, Redis sync, mining) until SIGINT/SIGTERM.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use minichain::chain::pow::MAX_MEETABLE_DIFFICULTY;
use minichain::chain::{Difficulty, DifficultyPolicy, ForkChoice};
use minichain::miner::kernel::KernelKind;
use minichain::node::{self, NodeConfig, config};

// The route is written `/api/blocks/N`, not with braces around n: clap's help turns
// that brace form into a line break.
/// Run a node: the original's HTTP API (`GET /api/blocks`, `POST /api/mineblock`) plus
/// `/api/blocks/N`, pages, `/api/status` and `/healthz`; sync over Redis with the
/// original's Python nodes; mine on every core. Stops cleanly on Ctrl-C or SIGTERM.
/// Logs go to stderr; set the level with RUST_LOG (e.g. `RUST_LOG=minichain=debug`).
#[derive(Args, Debug)]
pub struct NodeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, value_name = "PORT", default_value_t = 8000)]
    port: u16,
    /// Redis server whose BLOCKCHAIN channel the network shares, or `none` to run
    /// alone. If Redis is down the node still serves and mines, and reconnects.
    #[arg(
        long,
        value_name = "URL|none",
        default_value = "redis://127.0.0.1:6379"
    )]
    redis: String,
    /// Node to copy the chain from at start (`GET {root}/api/blocks`, plain http://),
    /// or `none`. A root that is this node itself is skipped; an unreachable one is
    /// only logged.
    #[arg(long, value_name = "URL|none", default_value = "http://127.0.0.1:8000")]
    root: String,
    /// Mining threads (default: one per CPU).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// SHA-256 kernel: portable, sha-ni, avx2, avx512, avx512x2 or avx512x3 (default: the fastest here,
    /// picked by a short calibration at start).
    #[arg(long, value_name = "NAME")]
    kernel: Option<KernelKind>,
    /// Which chain wins: `work` (most cumulative work, minichain's default) or
    /// `length` (strictly longer, the original's rule).
    #[arg(long, value_enum, default_value_t = ForkChoiceArg::Work)]
    fork_choice: ForkChoiceArg,
    /// Target block time in milliseconds: a block mined faster raises the difficulty
    /// by one, a slower one lowers it.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    mine_rate_ms: u64,
    /// Largest Redis message (or root chain) read, in bytes; larger ones are dropped
    /// and counted.
    #[arg(long, value_name = "BYTES", default_value_t = config::DEFAULT_MAX_MESSAGE_BYTES)]
    max_message_bytes: usize,
    /// Largest request body, in bytes; larger ones get 413.
    #[arg(long, value_name = "BYTES", default_value_t = config::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Time a client has to send a request's head, in milliseconds; also the longest a
    /// keep-alive connection may stay idle. Then the node closes the connection. A
    /// connection accepted while fewer than a quarter of --max-connections are free
    /// gets at most 1 s.
    #[arg(long, value_name = "MS", default_value_t = config::DEFAULT_HEADER_TIMEOUT.as_millis() as u64)]
    header_timeout_ms: u64,
    /// Longest a write to a client may wait without progress (a client that stops
    /// reading), in milliseconds; then the node closes the connection. While fewer
    /// than a quarter of --max-connections are free, at most 2 s, for every connection.
    #[arg(long, value_name = "MS", default_value_t = config::DEFAULT_WRITE_TIMEOUT.as_millis() as u64)]
    write_timeout_ms: u64,
    /// Time a client has to send a whole request body, in milliseconds; then 408.
    #[arg(long, value_name = "MS", default_value_t = config::DEFAULT_BODY_TIMEOUT.as_millis() as u64)]
    body_timeout_ms: u64,
    /// Most client connections open at once; more wait until one closes. Event streams
    /// (GET /api/events) may hold half of them, rounded down, and mining requests
    /// (POST /api/mineblock, each open until its block is mined) a quarter, rounded
    /// down but at least one; past either, a new one gets 503. From 4 up, a quarter is
    /// always left to other requests.
    #[arg(long, value_name = "N", default_value_t = config::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Most client connections open at once from one address (an IPv4 address, or an
    /// IPv6 /64); past that a new one gets 503 (a reset if it is still sending) and is
    /// closed, so that one client cannot hold every connection. Raise it behind a
    /// reverse proxy, whose connections all come from one address.
    #[arg(long, value_name = "N", default_value_t = config::DEFAULT_MAX_CONNECTIONS_PER_IP)]
    max_connections_per_ip: usize,
    /// Most event streams (GET /api/events) open at once from one address; past that a
    /// new one gets 503. Raise it behind a reverse proxy, like --max-connections-per-ip.
    #[arg(long, value_name = "N", default_value_t = config::DEFAULT_MAX_STREAMS_PER_IP)]
    max_streams_per_ip: usize,
    /// A host name under which web pages may change this node (mine, push a chain),
    /// beside localhost, IP addresses and the --host name; repeat for several. A page
    /// served under any other name gets 403 on a write: that stops a site whose name an
    /// attacker points at 127.0.0.1 (DNS rebinding) from using a browser to drive a
    /// local node. Clients that send no Origin (curl, scripts, peers) are not affected.
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_host: Vec<String>,
    /// Most bytes of request bodies the node holds at once, over all connections; a
    /// body that would take more gets 503. Pushed chains (POST /api/chain) may hold
    /// three quarters of it, so the rest is always there for mining requests.
    #[arg(long, value_name = "BYTES", default_value_t = config::DEFAULT_BODY_BUDGET_BYTES)]
    body_budget_bytes: usize,
    /// Most bytes of data waiting in the mining queue; a mining request that would
    /// take more gets 503.
    #[arg(long, value_name = "BYTES", default_value_t = config::DEFAULT_MINING_QUEUE_BYTES)]
    mining_queue_bytes: usize,
    /// How long the start-up sync waits for the root, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    root_timeout_ms: u64,
    /// Longest wait between Redis reconnect attempts, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    redis_backoff_max_ms: u64,
    /// Niceness of the mining threads (Linux; 0 to leave them as they are): above 0,
    /// HTTP requests preempt mining.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10,
        allow_negative_numbers = true
    )]
    miner_nice: i32,
    /// Where the node keeps its chain (created if missing), or `none` to keep nothing
    /// and start from genesis each time. A restarted node serves the stored chain at
    /// once; each mined block is on disk before its POST answers. Default:
    /// $XDG_DATA_HOME/minichain, else ~/.local/share/minichain (the platform's data
    /// directory elsewhere). Two nodes cannot share one.
    #[arg(long, value_name = "DIR|none")]
    data_dir: Option<PathBuf>,
    /// Whole chains on the BLOCKCHAIN channel for the original's Python nodes: `on`,
    /// `off`, or `auto` (while a Python node has been seen there in the last 10
    /// minutes). Minichain nodes sync through block announcements either way, and
    /// whole chains from Python nodes are always read.
    #[arg(long, value_enum, default_value_t = SeedCompatArg::Auto)]
    seed_compat: SeedCompatArg,
    /// Largest whole-chain message published on BLOCKCHAIN, in bytes; a longer chain
    /// is not published there (logged once, counted in /api/status).
    #[arg(long, value_name = "BYTES", default_value_t = config::DEFAULT_SEED_COMPAT_MAX_BYTES)]
    seed_compat_max_bytes: usize,
    /// Approximate number of announcements kept in the block log (a Redis Stream) that
    /// a node that was away catches up from; 0 keeps none.
    #[arg(long, value_name = "N", default_value_t = config::DEFAULT_LOG_MAX_LEN)]
    block_log_len: usize,
    /// HTTP address announced to peers, where they fetch blocks they lack (default:
    /// http://HOST:PORT as bound, 127.0.0.1 for 0.0.0.0). Plain http:// only: nodes
    /// fetch from each other without TLS.
    #[arg(long, value_name = "URL")]
    advertise: Option<String>,
    /// Pin the difficulty of mined blocks (benchmarks only: a network follows the
    /// mine rate).
    #[arg(long, value_name = "D", hide = true)]
    difficulty: Option<u32>,
}

/// `--seed-compat`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SeedCompatArg {
    /// Always publish whole chains (under the size limit).
    On,
    /// Never.
    Off,
    /// While a Python node has been seen lately.
    Auto,
}

/// `--fork-choice`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ForkChoiceArg {
    /// Most cumulative work.
    Work,
    /// Strictly longer.
    Length,
}

impl NodeArgs {
    /// Checks the flags and turns them into a [`NodeConfig`].
    fn to_config(&self) -> anyhow::Result<NodeConfig> {
        super::check_threads(self.threads)?;
        if self
            .difficulty
            .is_some_and(|d| d == 0 || d > MAX_MEETABLE_DIFFICULTY)
        {
            bail!(
                "--difficulty must be between 1 and {MAX_MEETABLE_DIFFICULTY} (a SHA-256 hash has 256 bits)"
            );
        }
        // Peers fetch each other over plain HTTP (no TLS client is built in).
        if let Some(url) = &self.advertise
            && !url.starts_with("http://")
        {
            bail!("--advertise must be an http:// address (peers fetch over plain HTTP)");
        }
        if self.root.starts_with("https://") {
            bail!("--root must be an http:// address (this node fetches over plain HTTP)");
        }
        if self.max_message_bytes == 0 || self.max_body_bytes == 0 {
            bail!("--max-message-bytes and --max-body-bytes must be above 0");
        }
        if self.header_timeout_ms == 0 || self.body_timeout_ms == 0 || self.write_timeout_ms == 0 {
            bail!("--header-timeout-ms, --body-timeout-ms and --write-timeout-ms must be above 0");
        }
        if self.max_connections == 0
            || self.max_connections_per_ip == 0
            || self.max_streams_per_ip == 0
            || self.body_budget_bytes == 0
            || self.mining_queue_bytes == 0
        {
            bail!(
                "--max-connections, --max-connections-per-ip, --max-streams-per-ip, \
                 --body-budget-bytes and --mining-queue-bytes must be above 0"
            );
        }
        if let Some(bad) = self
            .allow_host
            .iter()
            .find(|name| name.is_empty() || name.contains([':', '/', '[', ']']))
        {
            bail!(
                "--allow-host takes a host name, without a scheme or port: not {:?}",
                minichain::clip::clip(bad)
            );
        }
        let optional = |s: &str| (!s.eq_ignore_ascii_case("none")).then(|| s.to_owned());
        let data_dir = match &self.data_dir {
            Some(dir) if dir.as_os_str().eq_ignore_ascii_case("none") => None,
            Some(dir) => Some(dir.clone()),
            None => Some(default_data_dir()?),
        };
        Ok(NodeConfig {
            host: self.host.clone(),
            port: self.port,
            redis_url: optional(&self.redis),
            root: optional(&self.root),
            threads: self.threads,
            kernel: self.kernel,
            fork_choice: match self.fork_choice {
                ForkChoiceArg::Work => ForkChoice::Work,
                ForkChoiceArg::Length => ForkChoice::Length,
            },
            policy: DifficultyPolicy {
                mine_rate_ms: self.mine_rate_ms,
                ..DifficultyPolicy::default()
            },
            fixed_difficulty: self.difficulty.map(Difficulty::new),
            max_message_bytes: self.max_message_bytes,
            max_body_bytes: self.max_body_bytes,
            header_timeout: Duration::from_millis(self.header_timeout_ms),
            body_timeout: Duration::from_millis(self.body_timeout_ms),
            write_timeout: Duration::from_millis(self.write_timeout_ms),
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            max_streams_per_ip: self.max_streams_per_ip,
            allowed_hosts: self.allow_host.clone(),
            body_budget_bytes: self.body_budget_bytes,
            mining_queue_bytes: self.mining_queue_bytes,
            root_timeout: Duration::from_millis(self.root_timeout_ms),
            redis_backoff_max: Duration::from_millis(self.redis_backoff_max_ms.max(1)),
            miner_nice: self.miner_nice,
            data_dir,
            seed_compat: match self.seed_compat {
                SeedCompatArg::On => config::SeedCompatMode::On,
                SeedCompatArg::Off => config::SeedCompatMode::Off,
                SeedCompatArg::Auto => config::SeedCompatMode::Auto,
            },
            seed_compat_max_bytes: self.seed_compat_max_bytes,
            block_log_len: self.block_log_len,
            advertise: self.advertise.clone(),
            ..NodeConfig::default()
        })
    }
}

/// `--data-dir`'s default: the user's data directory (XDG on Linux) + `minichain`, the
/// same wherever the node is started from.
pub(crate) fn default_data_dir() -> anyhow::Result<PathBuf> {
    let base = dirs::data_dir().context(
        "no data directory for this user (set HOME or XDG_DATA_HOME): pass --data-dir DIR, or --data-dir none",
    )?;
    Ok(base.join("minichain"))
}

/// Runs `minichain node` until SIGINT or SIGTERM; exit 0 after a clean stop.
pub fn run(args: &NodeArgs) -> anyhow::Result<ExitCode> {
    let config = args.to_config()?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("node")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        // Handlers go in before the node starts: a signal that came before its first
        // poll would otherwise kill the process the default way.
        let signals = Signals::install().context("cannot listen for SIGINT/SIGTERM")?;
        node::run(config, signals.first()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// SIGINT (Ctrl-C) and SIGTERM listeners, installed up front.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers (inside the runtime).
    fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Completes on the first SIGINT or SIGTERM.
    async fn first(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => tracing::info!("SIGINT received"),
            _ = self.terminate.recv() => tracing::info!("SIGTERM received"),
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            match tokio::signal::ctrl_c().await {
                Ok(()) => tracing::info!("Ctrl-C received"),
                // No way to hear Ctrl-C: run until killed rather than stop at once.
                Err(_) => std::future::pending::<()>().await,
            }
        }
    }
}
