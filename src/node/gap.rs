//! The hand-off between block announcements and the range fetch: a peer announced a
//! block whose parent this node does not hold, so the blocks between must be fetched
//! from that peer over HTTP (in pages) before fork choice can weigh its chain.
//!
//! Why a channel of small requests: the announcement listener must stay cheap (Redis
//! drops a subscriber that reads slowly), while filling a gap takes HTTP round trips
//! and validation. The listener only sends a [`GapRequest`]; one task does the fetching,
//! and a full channel drops the request (a later announcement asks again).

use tokio::sync::mpsc;

/// How many gap requests may wait; more are dropped (the next announcement repeats them).
pub const GAP_QUEUE: usize = 16;

/// A peer's tip that this node cannot attach to its chain without more blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapRequest {
    /// The announcer's HTTP base address (`http://host:port`), where the range lives.
    pub peer: String,
    /// The announced tip's height (its `block_no`).
    pub height: u64,
    /// The announced tip's hash (hex), to check the fetched range ends where announced.
    pub tip_hash: String,
}

#[cfg(test)]
impl GapRequest {
    /// A request naming `peer` at `height`, with no tip hash (the unit tests' own).
    pub(crate) fn naming(peer: &str, height: u64) -> GapRequest {
        GapRequest {
            peer: peer.to_owned(),
            height,
            tip_hash: String::new(),
        }
    }
}

/// The sending side, held by whoever reads announcements.
pub type GapSender = mpsc::Sender<GapRequest>;

/// The receiving side, held by the one task that fills gaps.
pub type GapReceiver = mpsc::Receiver<GapRequest>;

/// A new gap queue.
pub fn gap_queue() -> (GapSender, GapReceiver) {
    mpsc::channel(GAP_QUEUE)
}
