//! The line of gap requests waiting for the gap filler while a fill runs.
//!
//! Why a line of its own rather than the channel alone: a fill from a peer not known to
//! help must give way to a request from one that brought blocks before
//! ([`HelpfulPeers`]), so the filler reads the channel while such a fill runs, and what
//! it reads waits here. The line keeps one request per peer (the newer announcement
//! stands), holds [`GAP_QUEUE`] at most (a stranger's request makes way first), and
//! remembers which peers' fills gave way already: each gives way once, so naming a
//! helpful peer again and again cannot keep a stranger's fill from ever ending.

use std::collections::VecDeque;

use super::gap::{GAP_QUEUE, GapRequest};
use super::gap_backoff::{HelpfulPeers, peer_key};

/// A request in line.
#[derive(Debug)]
struct Waiting {
    request: GapRequest,
    /// Its peer's [`peer_key`].
    key: String,
    /// A fill for this peer gave way already: the next one runs to its end.
    gave_way: bool,
}

/// Requests waiting for the gap filler; see the module docs.
#[derive(Debug, Default)]
pub struct GapLine {
    queue: VecDeque<Waiting>,
}

/// A request taken from the line.
#[derive(Debug)]
pub struct Next {
    /// The request.
    pub request: GapRequest,
    /// Whether its fill may give way (it has not yet).
    pub may_give_way: bool,
}

impl GapLine {
    /// Whether no request waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Requests waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Puts a new `request` in line: in place of its peer's (the newer announcement
    /// stands; whether that peer's fill gave way is kept), else at the end. Returns
    /// whether a request was dropped for room (the oldest from a peer not in
    /// `helpful`, or this one when every other is from one).
    pub fn join(&mut self, request: GapRequest, helpful: &HelpfulPeers) -> bool {
        let key = peer_key(&request.peer);
        if let Some(held) = self.queue.iter_mut().find(|held| held.key == key) {
            held.request = request;
            return false;
        }
        self.push(
            Waiting {
                request,
                key,
                gave_way: false,
            },
            helpful,
        )
    }

    /// Puts back `request`, whose fill gave way: unless its peer has a newer request in
    /// line already (which then stands, marked as having given way), at the end.
    /// Returns whether a request was dropped for room.
    pub fn put_back(&mut self, request: GapRequest, helpful: &HelpfulPeers) -> bool {
        let key = peer_key(&request.peer);
        if let Some(held) = self.queue.iter_mut().find(|held| held.key == key) {
            held.gave_way = true;
            return false;
        }
        self.push(
            Waiting {
                request,
                key,
                gave_way: true,
            },
            helpful,
        )
    }

    /// Whether a request from a peer in `helpful` waits.
    pub fn has_helpful(&self, helpful: &HelpfulPeers) -> bool {
        self.queue.iter().any(|held| helpful.contains(&held.key))
    }

    /// The next request: the oldest from a peer in `helpful`, else the oldest.
    pub fn next(&mut self, helpful: &HelpfulPeers) -> Option<Next> {
        let at = self
            .queue
            .iter()
            .position(|held| helpful.contains(&held.key))
            .unwrap_or(0);
        let waiting = self.queue.remove(at)?;
        Some(Next {
            request: waiting.request,
            may_give_way: !waiting.gave_way,
        })
    }

    fn push(&mut self, waiting: Waiting, helpful: &HelpfulPeers) -> bool {
        let mut dropped = false;
        if self.queue.len() >= GAP_QUEUE {
            dropped = true;
            match self
                .queue
                .iter()
                .position(|held| !helpful.contains(&held.key))
            {
                Some(stranger) => {
                    self.queue.remove(stranger);
                }
                None if !helpful.contains(&waiting.key) => return true,
                None => {
                    self.queue.pop_front();
                }
            }
        }
        self.queue.push_back(waiting);
        dropped
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn request(peer: &str, height: u64) -> GapRequest {
        GapRequest::naming(peer, height)
    }

    fn peer(i: usize) -> String {
        format!("http://127.0.0.1:{}", 3000 + i)
    }

    /// The line holds one request per peer (the newer stands) and at most
    /// [`GAP_QUEUE`]; past that a stranger's request makes way, never a helpful peer's,
    /// which also comes out first.
    #[test]
    fn the_line_is_one_per_peer_and_keeps_helpful_peers() {
        let mut helpful = HelpfulPeers::default();
        helpful.helped(&peer_key(&peer(0)), Instant::now());
        let mut line = GapLine::default();
        assert!(!line.join(request(&peer(1), 1), &helpful));
        assert!(!line.join(request(&peer(0), 1), &helpful));
        assert!(!line.join(request(&peer(0), 2), &helpful));
        assert_eq!(line.len(), 2);
        let dropped = (2..GAP_QUEUE + 4)
            .filter(|&i| line.join(request(&peer(i), 1), &helpful))
            .count();
        assert_eq!(dropped, 4);
        assert_eq!(line.len(), GAP_QUEUE);
        assert!(line.has_helpful(&helpful));
        let first = line.next(&helpful).expect("a request");
        assert_eq!((first.request.peer, first.request.height), (peer(0), 2));
        assert!(!line.has_helpful(&helpful));
        let second = line.next(&helpful).expect("a request");
        assert_eq!(
            second.request.peer,
            peer(5),
            "the four oldest strangers made way"
        );
    }

    /// A fill that gave way is put back once: its peer's newer request stands, and
    /// either way the next fill for that peer may not give way again.
    #[test]
    fn a_fill_gives_way_once() {
        let helpful = HelpfulPeers::default();
        let mut line = GapLine::default();
        line.join(request(&peer(1), 7), &helpful);
        line.put_back(request(&peer(1), 5), &helpful);
        line.put_back(request(&peer(2), 5), &helpful);
        line.join(request(&peer(3), 5), &helpful);
        let next = line.next(&helpful).expect("a request");
        assert_eq!(next.request.height, 7, "the newer request stands");
        assert!(!next.may_give_way);
        let next = line.next(&helpful).expect("a request");
        assert_eq!(next.request.peer, peer(2));
        assert!(!next.may_give_way);
        let next = line.next(&helpful).expect("a request");
        assert!(next.may_give_way);
        assert!(line.is_empty());
    }
}
