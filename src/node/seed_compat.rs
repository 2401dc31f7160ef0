//! Whole chains on `BLOCKCHAIN` for the original's Python nodes (`--seed-compat
//! on|off|auto`), within a size limit.
//!
//! Minichain nodes sync through announcements and the block log; a Python node knows
//! only whole chains on `BLOCKCHAIN`. So a node publishes whole chains there only
//! - `on`: always; `off`: never; `auto` (the default): while a Python peer has been
//!   seen lately, i.e. a whole chain on `BLOCKCHAIN` whose tip no minichain node
//!   announced (a minichain node announces every tip before it publishes it there:
//!   [`KnownTips`]);
//! - and only while the message fits under `--seed-compat-max-bytes` (default 4 MiB:
//!   Redis disconnects a pub/sub client whose pending output passes 32 MB at once, or
//!   8 MB for a minute, with its default `client-output-buffer-limit pubsub 32mb 8mb
//!   60`; issue 13 saw a 33 MB chain make 24 reconnects in 5 s). Past it the node stops,
//!   says so once in the log and counts each message withheld; it goes on reading and
//!   adopting whole chains from Python nodes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::announce::KnownTips;

/// Default cap on a whole-chain message this node publishes.
pub const DEFAULT_SEED_COMPAT_MAX_BYTES: usize = 4 * 1024 * 1024;

/// How long after the last message from a Python peer `auto` keeps publishing.
pub const PYTHON_PEER_WINDOW: Duration = Duration::from_secs(600);

/// Fewest bytes a block after genesis takes in a message (two 64-digit hashes and the
/// keys): a chain longer than the limit allows by this is refused before it is written.
const MIN_BLOCK_MESSAGE_BYTES: usize = 200;

/// Longest wait for our tip's announcement before its whole chain goes on `BLOCKCHAIN`
/// (so peers can tell it from a Python node's).
pub const ANNOUNCED_FIRST_WAIT: Duration = Duration::from_secs(1);

/// `--seed-compat`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedCompatMode {
    /// Always publish whole chains (under the limit).
    On,
    /// Never publish whole chains.
    Off,
    /// Publish whole chains while a Python peer has been seen lately.
    Auto,
}

impl SeedCompatMode {
    /// The mode's name, as the flag spells it.
    pub fn name(self) -> &'static str {
        match self {
            SeedCompatMode::On => "on",
            SeedCompatMode::Off => "off",
            SeedCompatMode::Auto => "auto",
        }
    }
}

/// The decision and its counters (shared by the listener, which reports Python
/// peers, and the publisher, which asks).
#[derive(Debug)]
pub struct SeedCompat {
    mode: SeedCompatMode,
    max_bytes: usize,
    known: Arc<KnownTips>,
    python_seen: Mutex<Option<Instant>>,
    python_messages: AtomicU64,
    over_limit: AtomicBool,
    withheld_over_limit: AtomicU64,
    withheld_no_python: AtomicU64,
}

impl SeedCompat {
    /// The setting, with `known` the tips minichain nodes announced.
    pub fn new(mode: SeedCompatMode, max_bytes: usize, known: Arc<KnownTips>) -> SeedCompat {
        SeedCompat {
            mode,
            max_bytes,
            known,
            python_seen: Mutex::new(None),
            python_messages: AtomicU64::new(0),
            over_limit: AtomicBool::new(false),
            withheld_over_limit: AtomicU64::new(0),
            withheld_no_python: AtomicU64::new(0),
        }
    }

    /// The tips minichain nodes announced.
    pub fn known(&self) -> &Arc<KnownTips> {
        &self.known
    }

    /// Looks at a message on `BLOCKCHAIN` (cheaply: the listener calls it): a chain
    /// whose tip no minichain node announced is a Python peer's.
    pub fn observe(&self, payload: &[u8]) {
        let Some(tip) = tip_hash(payload) else {
            return;
        };
        if self.known.contains(tip) {
            return;
        }
        self.python_messages.fetch_add(1, Ordering::Relaxed);
        let mut seen = self
            .python_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if seen.is_none() && self.mode == SeedCompatMode::Auto {
            tracing::info!(
                "seed-compat: a Python peer is on BLOCKCHAIN; publishing whole chains for it"
            );
        }
        *seen = Some(Instant::now());
    }

    /// Whether whole chains go out now (the mode, and in `auto` a recent Python peer).
    pub fn active(&self) -> bool {
        match self.mode {
            SeedCompatMode::On => true,
            SeedCompatMode::Off => false,
            SeedCompatMode::Auto => self
                .python_seen_ago()
                .is_some_and(|ago| ago < PYTHON_PEER_WINDOW),
        }
    }

    /// Whether a publish asked for now may go out, before its message is written:
    /// active, and a chain of `blocks` blocks not certainly over the limit.
    pub fn admit_chain(&self, blocks: usize) -> bool {
        if !self.active() {
            self.withheld_no_python.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let least = blocks
            .saturating_sub(1)
            .saturating_mul(MIN_BLOCK_MESSAGE_BYTES);
        self.admit_len(least)
    }

    /// Whether a written message of `len` bytes fits; past the limit it is withheld,
    /// counted, and the first time said in the log.
    pub fn admit_len(&self, len: usize) -> bool {
        if len <= self.max_bytes {
            if self.over_limit.swap(false, Ordering::Relaxed) {
                tracing::info!(
                    bytes = len,
                    limit = self.max_bytes,
                    "seed-compat: our chain fits in a message again; publishing whole chains"
                );
            }
            return true;
        }
        self.withheld_over_limit.fetch_add(1, Ordering::Relaxed);
        if !self.over_limit.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                bytes = len,
                limit = self.max_bytes,
                "seed-compat: our chain's message is over the limit; no longer publishing whole chains on BLOCKCHAIN (Python peers must sync another way; minichain peers use announcements)"
            );
        }
        false
    }

    fn python_seen_ago(&self) -> Option<Duration> {
        self.python_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map(|at| at.elapsed())
    }

    /// Publishes withheld because the chain's message is over the limit.
    pub fn withheld_over_limit(&self) -> u64 {
        self.withheld_over_limit.load(Ordering::Relaxed)
    }

    /// The `/api/status` view.
    pub fn status(&self) -> SeedCompatStatus {
        SeedCompatStatus {
            mode: self.mode.name(),
            active: self.active(),
            max_bytes: self.max_bytes,
            python_messages: self.python_messages.load(Ordering::Relaxed),
            python_seen_ms_ago: self.python_seen_ago().map(|d| d.as_millis() as u64),
            over_limit: self.over_limit.load(Ordering::Relaxed),
            withheld_over_limit: self.withheld_over_limit(),
            withheld_no_python: self.withheld_no_python.load(Ordering::Relaxed),
        }
    }
}

/// The seed-compat part of `/api/status` (under `redis`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SeedCompatStatus {
    /// `on`, `off` or `auto`.
    pub mode: &'static str,
    /// Whether whole chains are published on `BLOCKCHAIN` now.
    pub active: bool,
    /// The largest whole-chain message published.
    pub max_bytes: usize,
    /// Whole chains on `BLOCKCHAIN` from Python peers (tips no minichain node announced).
    pub python_messages: u64,
    /// How long ago the last one came, if any.
    pub python_seen_ms_ago: Option<u64>,
    /// Whether our chain's message is over the limit now (publishing stopped).
    pub over_limit: bool,
    /// Publishes withheld because the message was over the limit.
    pub withheld_over_limit: u64,
    /// Publishes withheld because seed-compat was off or no Python peer was seen.
    pub withheld_no_python: u64,
}

/// The tip's hash in a whole-chain message, read from its end without parsing: the
/// last block's `"hash": "<64 hex>"` (its last keys are `hash`, `nonce`,
/// `difficulty`). `None` when the message does not look like a chain.
fn tip_hash(payload: &[u8]) -> Option<&str> {
    if payload.first() != Some(&b'[') {
        return None;
    }
    const KEY: &[u8] = b"\"hash\": \"";
    let tail_start = payload.len().saturating_sub(512);
    let tail = &payload[tail_start..];
    let at = tail.windows(KEY.len()).rposition(|w| w == KEY)? + KEY.len();
    let hash = tail.get(at..at + 64)?;
    if !hash.iter().all(u8::is_ascii_hexdigit) || tail.get(at + 64) != Some(&b'"') {
        return None;
    }
    std::str::from_utf8(hash).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::json::Dialect;
    use crate::miner::synthetic::synthetic_chain;

    fn message(n: usize) -> (Vec<u8>, String) {
        let blocks = synthetic_chain(n);
        let mut out = Vec::new();
        crate::chain::block::write_chain(&blocks, Dialect::Python, &mut out);
        (out, blocks[n - 1].hash.clone())
    }

    /// The tip is read from the end of a Python-dialect message; other text gives none.
    #[test]
    fn reads_the_tip_hash_from_the_end() {
        let (text, tip) = message(5);
        assert_eq!(tip_hash(&text), Some(tip.as_str()));
        assert_eq!(tip_hash(b"{\"chain\": []}"), None);
        assert_eq!(tip_hash(b"[1, 2]"), None);
    }

    /// `auto` turns on for a chain whose tip no minichain node announced, not for one
    /// whose tip was announced; `off` never, `on` always. The limit withholds and counts.
    #[test]
    fn auto_follows_python_peers_and_the_limit_holds() {
        let (text, tip) = message(3);
        let known = Arc::new(KnownTips::default());
        let auto = SeedCompat::new(SeedCompatMode::Auto, 1000, Arc::clone(&known));
        assert!(!auto.active());
        known.insert(&tip);
        auto.observe(&text);
        assert!(!auto.active(), "a minichain node's chain");
        let (python, _) = message(4);
        auto.observe(&python);
        assert!(auto.active(), "a Python node's chain");
        assert!(auto.admit_chain(3));
        assert!(!auto.admit_chain(100), "over the limit by its length alone");
        assert!(!auto.admit_len(1001));
        assert_eq!(auto.status().withheld_over_limit, 2);
        assert!(auto.status().over_limit);
        assert!(auto.admit_len(999));
        assert!(!auto.status().over_limit);
        let off = SeedCompat::new(SeedCompatMode::Off, 1000, Arc::clone(&known));
        off.observe(&python);
        assert!(!off.active() && !off.admit_chain(2));
        assert!(SeedCompat::new(SeedCompatMode::On, 1000, known).active());
    }
}
