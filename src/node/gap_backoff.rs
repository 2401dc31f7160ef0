//! What gap fills remember per peer: after a fill from a peer fails, gap requests that
//! name that peer are skipped for a while, doubling on each further failure, and after
//! one that brought nothing, for [`GAP_FRUITLESS_WAIT`] ([`PeerBackoff`]); after a fill
//! from a peer brings blocks, its requests go first ([`HelpfulPeers`]).
//!
//! Why: a gap request comes from an announcement anyone may publish, naming any peer
//! and claiming any work. The gap filler is one task working one request at a time,
//! and each failed fill may have taken up to its progress deadline
//! ([`GAP_PROGRESS_TIMEOUT`](super::gap_fill::GAP_PROGRESS_TIMEOUT)). Without a
//! backoff, a peer that fails every fill could be named again and again and keep the
//! filler (and its bounded queue) to itself; with it, requests naming that peer are
//! dropped at once and honest ones get their turn. A fill that succeeds (or adopts any
//! block) clears the peer's record.
//!
//! Peers are keyed by their origin (scheme, host and port, as [`peer_key`] writes it),
//! so that spelling the same address another way (a path, a trailing slash, upper
//! case) does not dodge the backoff. The map holds at most [`BACKOFF_PEERS`] peers;
//! past that, the one whose last failure is oldest is forgotten.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::clip::clipped;

/// First wait after a failed fill: long enough that a burst of announcements naming
/// the same failing peer (a node announces each block it mines) costs one fill, short
/// enough that a peer that failed once by accident (a restart, a dropped connection)
/// is asked again within a block or two.
pub const GAP_BACKOFF_FIRST: Duration = Duration::from_secs(30);

/// Wait after a fill that ended well but brought nothing (our chain was as good as the
/// peer's): an announcement naming any peer and claiming any work costs one nothing
/// to send, and without a wait each such message would cost that peer a fill's
/// requests at once, from every node that heard it. Short, so that an honest peer
/// whose announcement lost a race is asked again soon; not counted as a failure.
pub const GAP_FRUITLESS_WAIT: Duration = Duration::from_secs(2);

/// Longest wait: the wait doubles on each further failure up to this, so a peer that
/// keeps failing costs at most one fill (a progress deadline at most) an hour.
pub const GAP_BACKOFF_MAX: Duration = Duration::from_secs(60 * 60);

/// Most peers remembered: a few hundred peers' keys (clipped URLs) are a few tens of
/// kilobytes, and an attacker naming more peers than this only makes the oldest of
/// its own failures be forgotten.
pub const BACKOFF_PEERS: usize = 256;

/// One peer's record.
#[derive(Debug, Clone, Copy)]
struct Record {
    /// Failures since the last fill that brought blocks (a fill that brought nothing
    /// neither counts nor clears them).
    failures: u32,
    /// When the record was last set (by a failure or a fill that brought nothing): the
    /// oldest is forgotten first.
    set_at: Instant,
    /// Until when requests naming the peer are skipped.
    until: Instant,
}

/// Peers whose last gap fill failed or brought nothing, and until when they are left
/// alone.
#[derive(Debug)]
pub struct PeerBackoff {
    first: Duration,
    max: Duration,
    peers: HashMap<String, Record>,
}

impl PeerBackoff {
    /// An empty map whose waits start at `first` and double up to `max`.
    pub fn new(first: Duration, max: Duration) -> PeerBackoff {
        PeerBackoff {
            first,
            max: max.max(first),
            peers: HashMap::new(),
        }
    }

    /// How much longer requests naming `key` are skipped at `now`; `None` when they
    /// are not.
    pub fn waiting(&self, key: &str, now: Instant) -> Option<Duration> {
        let until = self.peers.get(key)?.until;
        (until > now).then(|| until - now)
    }

    /// Records a failed fill from `key` at `now`; returns the wait it sets: the first
    /// wait, doubled for each failure in a row before it, at most the longest wait.
    pub fn failed(&mut self, key: &str, now: Instant) -> Duration {
        let failures = self
            .peers
            .get(key)
            .map_or(0, |r| r.failures)
            .saturating_add(1);
        let doublings = failures - 1;
        let wait = 2u32
            .checked_pow(doublings)
            .and_then(|factor| self.first.checked_mul(factor))
            .map_or(self.max, |wait| wait.min(self.max));
        self.insert(key, failures, now, wait);
        wait
    }

    /// Records a fill from `key` at `now` that ended well but brought nothing: requests
    /// naming it wait `wait` (unless a longer wait set by a failure is still running),
    /// and its failures stay counted as they were.
    pub fn fruitless(&mut self, key: &str, now: Instant, wait: Duration) {
        let failures = self.peers.get(key).map_or(0, |r| r.failures);
        if self.waiting(key, now).is_some_and(|left| left > wait) {
            return;
        }
        self.insert(key, failures, now, wait);
    }

    /// Sets `key`'s record, forgetting the oldest peer first when the map is full.
    fn insert(&mut self, key: &str, failures: u32, now: Instant, wait: Duration) {
        if !self.peers.contains_key(key) && self.peers.len() >= BACKOFF_PEERS {
            let oldest = self
                .peers
                .iter()
                .min_by_key(|(_, record)| record.set_at)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.peers.remove(&oldest);
            }
        }
        let until = now.checked_add(wait).unwrap_or(now);
        self.peers.insert(
            key.to_owned(),
            Record {
                failures,
                set_at: now,
                until,
            },
        );
    }

    /// Forgets `key`'s failures (a fill from it went well).
    pub fn succeeded(&mut self, key: &str) {
        self.peers.remove(key);
    }

    /// Peers remembered.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no peer is remembered.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

/// Most peers remembered as having brought blocks ([`HelpfulPeers`]).
pub const HELPFUL_PEERS: usize = 64;

/// Peers whose gap fill brought blocks this node adopted (the latest
/// [`HELPFUL_PEERS`]): their requests go first, and a fill from any other peer gives way
/// to one of theirs.
///
/// Why: the backoff above stops one name from coming back, but names cost nothing. A
/// peer that answers each page slowly, just inside the deadlines, holds the one gap
/// filler for its progress deadline (two minutes), and one server behind many names (a
/// port or a host name each) could hold it for as long as it liked, while a request
/// from the peer that truly had our next blocks waited behind them. Bringing a block we
/// adopted costs its proof of work on a chain we preferred, which a name does not.
#[derive(Debug, Default)]
pub struct HelpfulPeers {
    /// Each peer's key, with when its fill last brought blocks.
    peers: HashMap<String, Instant>,
}

impl HelpfulPeers {
    /// Whether a fill from `key` brought blocks (and is still remembered).
    pub fn contains(&self, key: &str) -> bool {
        self.peers.contains_key(key)
    }

    /// Records that a fill from `key` brought blocks at `now`; past [`HELPFUL_PEERS`],
    /// the peer that helped least recently is forgotten.
    pub fn helped(&mut self, key: &str, now: Instant) {
        if !self.peers.contains_key(key) && self.peers.len() >= HELPFUL_PEERS {
            let oldest = self
                .peers
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.peers.remove(&oldest);
            }
        }
        self.peers.insert(key.to_owned(), now);
    }

    /// Peers remembered.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no peer is remembered.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

/// The key a peer address is remembered by: its origin (`http://host:port`, the host
/// in lower case, a default port left out) when it is an http(s) URL, so another
/// spelling of the same peer is the same peer; else the address itself, clipped (a
/// fill from it fails at once anyway).
pub fn peer_key(peer: &str) -> String {
    match reqwest::Url::parse(peer) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
            url.origin().ascii_serialization()
        }
        _ => clipped(peer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: Duration = Duration::from_secs(30);
    const MAX: Duration = Duration::from_secs(3600);

    /// The wait starts at the first wait, doubles on each failure in a row up to the
    /// longest, and ends when it has passed; a success forgets the peer, whose next
    /// failure waits the first wait again. Other peers are not affected.
    #[test]
    fn waits_double_up_to_the_cap_and_reset_on_success() {
        let mut backoff = PeerBackoff::new(FIRST, MAX);
        let t0 = Instant::now();
        assert_eq!(backoff.waiting("http://evil", t0), None);
        assert_eq!(backoff.failed("http://evil", t0), FIRST);
        assert_eq!(backoff.waiting("http://evil", t0), Some(FIRST));
        assert_eq!(
            backoff.waiting("http://evil", t0 + Duration::from_secs(10)),
            Some(Duration::from_secs(20))
        );
        assert_eq!(backoff.waiting("http://evil", t0 + FIRST), None);
        assert_eq!(backoff.waiting("http://honest", t0), None);
        let waits: Vec<u64> = (1..10)
            .map(|_| backoff.failed("http://evil", t0).as_secs())
            .collect();
        assert_eq!(waits, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(backoff.waiting("http://evil", t0), Some(MAX));
        // Many more failures do not overflow.
        for _ in 0..100 {
            backoff.failed("http://evil", t0);
        }
        assert_eq!(backoff.waiting("http://evil", t0), Some(MAX));
        backoff.succeeded("http://evil");
        assert_eq!(backoff.waiting("http://evil", t0), None);
        assert!(backoff.is_empty());
        assert_eq!(backoff.failed("http://evil", t0), FIRST);
    }

    /// A fruitless fill sets a short wait that counts no failure (the next failure
    /// waits the first wait) and does not cut short a failure's longer wait.
    #[test]
    fn a_fruitless_fill_waits_briefly_and_counts_no_failure() {
        let mut backoff = PeerBackoff::new(FIRST, MAX);
        let t0 = Instant::now();
        let brief = Duration::from_secs(2);
        backoff.fruitless("http://peer", t0, brief);
        assert_eq!(backoff.waiting("http://peer", t0), Some(brief));
        assert_eq!(backoff.waiting("http://peer", t0 + brief), None);
        assert_eq!(backoff.failed("http://peer", t0), FIRST);
        backoff.fruitless("http://peer", t0, brief);
        assert_eq!(backoff.waiting("http://peer", t0), Some(FIRST));
        assert_eq!(backoff.failed("http://peer", t0), 2 * FIRST);
        backoff.fruitless("http://peer", t0 + 2 * FIRST, brief);
        assert_eq!(backoff.failed("http://peer", t0 + 2 * FIRST), 4 * FIRST);
    }

    /// The map holds at most [`BACKOFF_PEERS`] peers; a new one past that evicts the
    /// peer whose last failure is oldest, and only that one.
    #[test]
    fn the_map_is_bounded_and_evicts_the_oldest() {
        let mut backoff = PeerBackoff::new(FIRST, MAX);
        let t0 = Instant::now();
        let at = |i: usize| t0 + Duration::from_millis(i as u64);
        for i in 0..BACKOFF_PEERS {
            backoff.failed(&format!("http://peer{i}"), at(i));
        }
        assert_eq!(backoff.len(), BACKOFF_PEERS);
        // Peer 0 fails again: now peer 1's failure is the oldest.
        backoff.failed("http://peer0", at(BACKOFF_PEERS));
        assert_eq!(backoff.len(), BACKOFF_PEERS);
        backoff.failed("http://newcomer", at(BACKOFF_PEERS + 1));
        assert_eq!(backoff.len(), BACKOFF_PEERS);
        let now = at(BACKOFF_PEERS + 2);
        assert_eq!(backoff.waiting("http://peer1", now), None, "evicted");
        assert!(backoff.waiting("http://peer0", now).is_some());
        assert!(backoff.waiting("http://peer2", now).is_some());
        assert!(backoff.waiting("http://newcomer", now).is_some());
    }

    /// Spellings of one peer share a key; other ports, hosts or schemes do not; an
    /// address that is not an http(s) URL is its own (clipped) key.
    #[test]
    fn peers_are_keyed_by_origin() {
        let key = peer_key("http://evil.example:8000");
        for same in [
            "http://evil.example:8000/",
            "http://EVIL.example:8000/some/prefix",
            "http://evil.example:8000/x?y#z",
        ] {
            assert_eq!(peer_key(same), key, "{same}");
        }
        assert_eq!(peer_key("http://evil.example"), "http://evil.example");
        assert_eq!(peer_key("http://evil.example:80/"), "http://evil.example");
        for other in [
            "http://evil.example:8001",
            "https://evil.example:8000",
            "http://other.example:8000",
        ] {
            assert_ne!(peer_key(other), key, "{other}");
        }
        assert_eq!(peer_key("file:///etc/passwd"), "file:///etc/passwd");
        assert!(peer_key(&"x".repeat(10_000)).len() < 200, "clipped");
    }

    /// A helpful peer is remembered; past the bound the one that helped longest ago is
    /// forgotten, and helping again refreshes a peer.
    #[test]
    fn helpful_peers_are_bounded_and_refreshed() {
        let now = Instant::now();
        let mut helpful = HelpfulPeers::default();
        let key = |i: usize| format!("http://127.0.0.1:{}", 2000 + i);
        for i in 0..HELPFUL_PEERS {
            helpful.helped(&key(i), now + Duration::from_secs(i as u64));
        }
        // Peer 0 helps again, so peer 1 is now the one that helped longest ago.
        helpful.helped(&key(0), now + Duration::from_secs(1000));
        helpful.helped(&key(HELPFUL_PEERS), now + Duration::from_secs(1001));
        assert_eq!(helpful.len(), HELPFUL_PEERS);
        assert!(helpful.contains(&key(0)));
        assert!(!helpful.contains(&key(1)));
        assert!(helpful.contains(&key(HELPFUL_PEERS)));
        assert!(!helpful.contains("http://127.0.0.1:1"));
    }
}
