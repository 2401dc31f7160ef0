//! Block announcements between minichain nodes: each new tip travels as its new
//! block(s), height, cumulative work and the announcer's HTTP address, on a channel of
//! minichain's own ([`ANNOUNCE_CHANNEL`]) and appended to the block log (a Redis
//! Stream, [`stream_log`](super::stream_log)), in a message of a few hundred bytes
//! whatever the chain's length. The original's whole-chain messages on `BLOCKCHAIN`
//! cost O(chain) per block to every peer and stop working past Redis's pub/sub buffer
//! (issue 13); between minichain nodes they are no longer needed (see
//! [`seed_compat`](super::seed_compat) for Python peers).
//!
//! - [`message`]: the wire format, bounded and checked.
//! - [`publisher`]: watches the chain and announces each tip it did not hear from a
//!   peer (log first, then the channel).
//! - [`receiver`]: applies announced blocks that extend our tip through the writer
//!   (only the new blocks are validated), hands a tip whose parent we lack to the range
//!   fetch as a [`GapRequest`](super::gap::GapRequest), and records where in the log
//!   it has read.
//!
//! Why a receiver task apart from the Redis listener: Redis drops a subscriber that
//! reads slowly, so the listener only checks the size and queues the bytes.

pub mod message;
pub mod publisher;
pub mod receiver;

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

pub use self::message::{Announcement, StreamId};
pub use self::receiver::{AnnounceSender, Incoming};

/// The channel minichain nodes announce blocks on.
pub const ANNOUNCE_CHANNEL: &str = "minichain:blocks";

/// How many recently announced tips a node remembers.
const KNOWN_TIPS: usize = 1024;

/// Who this node is on the announcement channel.
#[derive(Debug, Clone)]
pub struct Identity {
    /// A random id, new each start: a node ignores announcements with its own.
    pub node: String,
    /// Our HTTP base address (`http://host:port`), where peers fetch missing blocks.
    pub peer: String,
}

impl Identity {
    /// A fresh identity for a node reachable at `peer`.
    pub fn new(peer: String) -> Identity {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        Identity {
            node: format!("{:016x}", hasher.finish()),
            peer,
        }
    }
}

/// Tips that minichain nodes (this one included) announced lately. The publisher does
/// not announce a tip again that a peer announced (the network has it), and
/// [`seed_compat`](super::seed_compat) tells a minichain node's whole-chain message on
/// `BLOCKCHAIN` from a Python node's by its tip.
#[derive(Debug, Default)]
pub struct KnownTips {
    tips: Mutex<(VecDeque<String>, HashSet<String>)>,
    added: Notify,
}

impl KnownTips {
    /// Remembers `hash` (the oldest is forgotten past the capacity).
    pub fn insert(&self, hash: &str) {
        {
            let mut guard = self.tips.lock().unwrap_or_else(PoisonError::into_inner);
            let (order, set) = &mut *guard;
            if set.contains(hash) {
                return;
            }
            if order.len() == KNOWN_TIPS
                && let Some(old) = order.pop_front()
            {
                set.remove(&old);
            }
            order.push_back(hash.to_owned());
            set.insert(hash.to_owned());
        }
        self.added.notify_waiters();
    }

    /// Whether `hash` was announced lately.
    pub fn contains(&self, hash: &str) -> bool {
        self.tips
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .contains(hash)
    }

    /// Waits until `hash` is known, at most `timeout`; whether it is.
    pub async fn wait_for(&self, hash: &str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let added = self.added.notified();
            tokio::pin!(added);
            added.as_mut().enable();
            if self.contains(hash) {
                return true;
            }
            if tokio::time::timeout_at(deadline, added).await.is_err() {
                return self.contains(hash);
            }
        }
    }
}

/// The announcement counters, read by `/api/status` and `/metrics`.
#[derive(Debug, Default)]
pub struct AnnounceStats {
    published: AtomicU64,
    published_bytes: AtomicU64,
    publish_errors: AtomicU64,
    logged: AtomicU64,
    received: AtomicU64,
    own: AtomicU64,
    applied: AtomicU64,
    gaps: AtomicU64,
    gaps_dropped: AtomicU64,
    gaps_logged: AtomicU64,
    deferred: AtomicU64,
    log_read: AtomicU64,
    catch_ups: AtomicU64,
    position: Mutex<Option<StreamId>>,
}

/// Adds one to a counter.
fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl AnnounceStats {
    /// Announcements sent on the channel.
    pub fn published(&self) -> u64 {
        read(&self.published)
    }

    /// Bytes of the announcements sent (the benchmark divides by blocks).
    pub fn published_bytes(&self) -> u64 {
        read(&self.published_bytes)
    }

    /// Announcements (or log appends) that failed.
    pub fn publish_errors(&self) -> u64 {
        read(&self.publish_errors)
    }

    /// Announcements appended to the block log.
    pub fn logged(&self) -> u64 {
        read(&self.logged)
    }

    /// Announcements received from peers (live and from the log).
    pub fn received(&self) -> u64 {
        read(&self.received)
    }

    /// Announcements whose blocks were adopted.
    pub fn applied(&self) -> u64 {
        read(&self.applied)
    }

    /// Gap requests handed to the range fetch.
    pub fn gaps(&self) -> u64 {
        read(&self.gaps)
    }

    /// Gap requests dropped because the queue was full.
    pub fn gaps_dropped(&self) -> u64 {
        read(&self.gaps_dropped)
    }

    /// Entries read back from the block log.
    pub fn log_read(&self) -> u64 {
        read(&self.log_read)
    }

    /// Catch-ups from the block log (at start and after each reconnect).
    pub fn catch_ups(&self) -> u64 {
        read(&self.catch_ups)
    }

    /// Counts a catch-up begun.
    pub fn note_catch_up(&self) {
        bump(&self.catch_ups);
    }

    /// The last log entry applied.
    pub fn position(&self) -> Option<StreamId> {
        *self.position.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `/api/status` view.
    pub fn status(&self) -> AnnounceStatus {
        AnnounceStatus {
            published: self.published(),
            published_bytes: self.published_bytes(),
            publish_errors: self.publish_errors(),
            logged: self.logged(),
            received: self.received(),
            own: read(&self.own),
            applied: self.applied(),
            gap_requests: self.gaps(),
            gap_requests_dropped: self.gaps_dropped(),
            gap_whole_fetches: read(&self.gaps_logged),
            deferred: read(&self.deferred),
            log_read: self.log_read(),
            catch_ups: self.catch_ups(),
            log_position: self.position().map(|id| id.to_string()),
        }
    }
}

/// The announcements' part of `/api/status` (under `redis`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AnnounceStatus {
    /// Announcements of our new tips sent on `minichain:blocks`.
    pub published: u64,
    /// Their bytes in total.
    pub published_bytes: u64,
    /// Announcements or log appends that failed (a failed announcement is retried; one
    /// whose append failed is announced without a log id).
    pub publish_errors: u64,
    /// Announcements appended to the block log (`minichain:blocks:log`).
    pub logged: u64,
    /// Announcements received from peers, live or read from the log.
    pub received: u64,
    /// Our own announcements coming back (ignored).
    pub own: u64,
    /// Announcements whose blocks extended our chain.
    pub applied: u64,
    /// Announced tips whose parent we lack, handed to the range fetch.
    pub gap_requests: u64,
    /// Gap requests dropped on a full queue (a later announcement asks again).
    pub gap_requests_dropped: u64,
    /// Gap requests served by fetching the announcer's whole chain (the stand-in
    /// until the range fetch is wired).
    pub gap_whole_fetches: u64,
    /// Live announcements set aside during a catch-up (looked at again after it).
    pub deferred: u64,
    /// Entries read back from the block log.
    pub log_read: u64,
    /// Catch-ups from the block log (at start and after each reconnect).
    pub catch_ups: u64,
    /// The last log entry applied (kept in the store across restarts).
    pub log_position: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known tips are remembered up to the capacity, oldest forgotten first, and a
    /// waiter wakes when its tip is added.
    #[tokio::test]
    async fn known_tips_remember_and_wake() {
        let known = std::sync::Arc::new(KnownTips::default());
        for i in 0..KNOWN_TIPS + 1 {
            known.insert(&i.to_string());
        }
        assert!(!known.contains("0"));
        assert!(known.contains("1"));
        assert!(known.contains(&KNOWN_TIPS.to_string()));
        assert!(!known.wait_for("late", Duration::from_millis(10)).await);
        let waiter = {
            let known = std::sync::Arc::clone(&known);
            tokio::spawn(async move { known.wait_for("late", Duration::from_secs(60)).await })
        };
        tokio::task::yield_now().await;
        known.insert("late");
        assert!(waiter.await.expect("joins"));
    }
}
