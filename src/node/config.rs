//! The node's settings, validated once: the CLI's flags become a [`NodeConfig`], and the
//! node never looks at raw flags again.

use std::path::PathBuf;
use std::time::Duration;

use crate::chain::{Difficulty, DifficultyPolicy, ForkChoice};
use crate::miner::kernel::KernelKind;
pub use crate::node::gap_fill::GapLimits;
pub use crate::node::range_fetch::MAX_PAGE;
pub use crate::node::seed_compat::{DEFAULT_SEED_COMPAT_MAX_BYTES, SeedCompatMode};
pub use crate::node::stream_log::DEFAULT_LOG_MAX_LEN;

/// The Redis channel the original's nodes publish whole chains on.
pub const CHANNEL: &str = "BLOCKCHAIN";

/// Default cap on one Redis message or start-up chain: Redis drops a pub/sub client
/// whose unsent output reaches 32 MB, so a larger chain could not travel anyway.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

/// Default cap on a request body: a block's data travels in one `POST /api/mineblock`,
/// and 1 MiB is far more than any honest block holds.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Default least time between two answers with the same tip to peers that publish a
/// worse chain.
pub const DEFAULT_ANSWER_INTERVAL: Duration = Duration::from_secs(2);

/// Default longest random delay before such an answer.
pub const DEFAULT_ANSWER_DELAY_MAX: Duration = Duration::from_millis(500);
/// Default time a client has to send a request's head (line and headers), and the
/// longest a keep-alive connection may sit idle between requests: a client that sends
/// half a header is dropped after this.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Default time an answer's write may wait on a client that does not read: a client
/// that stops reading (a zero TCP window) would otherwise hold its connection, and the
/// snapshot it reads, for good. Any progress starts the clock again, so a slow reader
/// of a long chain is not cut.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Default time a client has to send a whole request body (a total, not per chunk, so
/// a body that trickles a byte at a time is cut too): 32 MiB at 1 MB/s fits.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Default cap on open client connections; past it, new connections wait in the
/// listen backlog until one closes.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Default [`NodeConfig::max_connections_per_ip`]: far more than a browser (six per
/// host) or a peer uses, and a sixteenth of [`DEFAULT_MAX_CONNECTIONS`], so one client
/// cannot take the slots however it paces its connections.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 64;

/// Default [`NodeConfig::max_streams_per_ip`]: the most event streams one client
/// address may hold open at once (a few browser tabs' worth). The streams' own cap is
/// shared by every client, and without this one client could take all of it; behind a
/// reverse proxy every client has the proxy's address, so it is a setting.
pub const DEFAULT_MAX_STREAMS_PER_IP: usize = 8;

/// Default cap on the bytes of request bodies being held at once across all
/// connections (read, or reserved by their declared length): a few hundred slow
/// uploads hold at most this, not gigabytes.
pub const DEFAULT_BODY_BUDGET_BYTES: usize = 128 * 1024 * 1024;

/// Default cap on the bytes of data the mining queue holds (each request's text and
/// its rendered `str()`).
pub const DEFAULT_MINING_QUEUE_BYTES: usize = 64 * 1024 * 1024;

/// Messages waiting for the intake's validation; more are dropped (and counted), since
/// each one holds a whole chain and a later one supersedes an earlier one anyway.
pub const INTAKE_QUEUE: usize = 8;

/// Everything a node needs to start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Address to listen on (a host name or IP).
    pub host: String,
    /// Port to listen on; 0 picks a free one (tests).
    pub port: u16,
    /// Redis URL, or `None` to run without the network (a lone node).
    pub redis_url: Option<String>,
    /// The root node asked for its chain at start-up, or `None` to skip.
    pub root: Option<String>,
    /// Mining threads; `None` means one per CPU.
    pub threads: Option<usize>,
    /// SHA-256 kernel; `None` picks the fastest by a short calibration at start (which
    /// an unoptimized build takes seconds over: tests that restart nodes name one).
    pub kernel: Option<KernelKind>,
    /// Which of two valid chains wins.
    pub fork_choice: ForkChoice,
    /// How the difficulty follows the clock.
    pub policy: DifficultyPolicy,
    /// Pins the difficulty of mined blocks (benchmarks and tests); `None` follows the
    /// policy, as a real network must.
    pub fixed_difficulty: Option<Difficulty>,
    /// Largest Redis message (or start-up chain) read; larger ones are dropped.
    pub max_message_bytes: usize,
    /// Largest request body; larger ones get 413.
    pub max_body_bytes: usize,
    /// Time to send a request's head, and the longest idle time between requests on a
    /// keep-alive connection; then the connection is closed.
    pub header_timeout: Duration,
    /// Time to send a whole request body; then 408 and the connection is closed.
    pub body_timeout: Duration,
    /// Longest a write to a client may wait with no progress (a client that does not
    /// read); then the connection is closed.
    pub write_timeout: Duration,
    /// Most client connections open at once; more wait to be accepted.
    pub max_connections: usize,
    /// Most client connections open at once from one client address (an IPv4 address,
    /// an IPv6 /64); past that a new one gets 503 and is closed.
    pub max_connections_per_ip: usize,
    /// Most event streams open at once from one client address; past that a new one
    /// gets 503.
    pub max_streams_per_ip: usize,
    /// Host names (beside `localhost`, IP addresses and [`NodeConfig::host`]) under
    /// which a web page may change this node: see
    /// [`same_site_writes`](super::http::same_site_writes).
    pub allowed_hosts: Vec<String>,
    /// Most bytes of request bodies held at once, over all connections; a body that
    /// would take more gets 503.
    pub body_budget_bytes: usize,
    /// Most bytes of data waiting in the mining queue; a request that would take more
    /// gets 503.
    pub mining_queue_bytes: usize,
    /// How long the start-up sync waits for the root.
    pub root_timeout: Duration,
    /// Longest wait between two Redis reconnect attempts (the backoff doubles up to it).
    pub redis_backoff_max: Duration,
    /// How often the subscriber pings Redis to find a half-dead connection.
    pub redis_ping_interval: Duration,
    /// Least time between two answers with the same tip to peers that publish a
    /// worse chain (see [`Answerer`](super::answer::Answerer)).
    pub answer_interval: Duration,
    /// Longest random delay before such an answer.
    pub answer_delay_max: Duration,
    /// Niceness of the mining threads (Linux): above 0 lets the HTTP workers preempt the
    /// miner, so GETs answer promptly while every core mines.
    pub miner_nice: i32,
    /// Where the chain is kept (see [`crate::store`]), or `None` to keep nothing and
    /// start from genesis, as the original does. The CLI fills in a default directory.
    pub data_dir: Option<PathBuf>,
    /// When whole chains go on `BLOCKCHAIN` for Python peers (see
    /// [`seed_compat`](super::seed_compat)).
    pub seed_compat: SeedCompatMode,
    /// Largest whole-chain message published on `BLOCKCHAIN`; past it none is.
    pub seed_compat_max_bytes: usize,
    /// Approximate length of the block log (Redis Stream); 0 keeps none.
    pub block_log_len: usize,
    /// The HTTP base address announced to peers (where they fetch missing blocks);
    /// `None`: `http://` + the bound address (127.0.0.1 for an unspecified host).
    pub advertise: Option<String>,
    /// Time bounds of gap fills from announced peers and the backoff after a failed
    /// one (the constants in [`gap_fill`](super::gap_fill); tests shorten them).
    pub gap_limits: GapLimits,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            host: "127.0.0.1".into(),
            port: 8000,
            redis_url: Some("redis://127.0.0.1:6379".into()),
            root: Some("http://127.0.0.1:8000".into()),
            threads: None,
            kernel: None,
            fork_choice: ForkChoice::Work,
            policy: DifficultyPolicy::default(),
            fixed_difficulty: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            max_streams_per_ip: DEFAULT_MAX_STREAMS_PER_IP,
            allowed_hosts: Vec::new(),
            body_budget_bytes: DEFAULT_BODY_BUDGET_BYTES,
            mining_queue_bytes: DEFAULT_MINING_QUEUE_BYTES,
            root_timeout: Duration::from_secs(5),
            redis_backoff_max: Duration::from_secs(5),
            redis_ping_interval: Duration::from_secs(5),
            answer_interval: DEFAULT_ANSWER_INTERVAL,
            answer_delay_max: DEFAULT_ANSWER_DELAY_MAX,
            miner_nice: 10,
            data_dir: None,
            seed_compat: SeedCompatMode::Auto,
            seed_compat_max_bytes: DEFAULT_SEED_COMPAT_MAX_BYTES,
            block_log_len: DEFAULT_LOG_MAX_LEN,
            advertise: None,
            gap_limits: GapLimits::default(),
        }
    }
}

impl NodeConfig {
    /// The host names, beside `localhost` and IP addresses, under which a web page may
    /// change the node: [`NodeConfig::allowed_hosts`] and the name it listens on
    /// ([`NodeConfig::host`]), which it surely has.
    pub fn page_write_hosts(&self) -> Vec<String> {
        let mut hosts = self.allowed_hosts.clone();
        hosts.push(self.host.clone());
        hosts
    }

    /// The fork-choice rule's name as `/api/status` and `--fork-choice` spell it.
    pub fn fork_choice_name(&self) -> &'static str {
        fork_choice_name(self.fork_choice)
    }
}

/// `work` or `length`.
pub fn fork_choice_name(choice: ForkChoice) -> &'static str {
    match choice {
        ForkChoice::Work => "work",
        ForkChoice::Length => "length",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages may write under the names given and under the name the node listens on.
    #[test]
    fn page_write_hosts_add_the_listening_name() {
        let config = NodeConfig {
            host: "miner.lan".into(),
            allowed_hosts: vec!["explorer.lan".into()],
            ..NodeConfig::default()
        };
        assert_eq!(config.page_write_hosts(), ["explorer.lan", "miner.lan"]);
    }
}
