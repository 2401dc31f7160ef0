//! The memory of refused messages: the SHA-256 digest of each message refused for a
//! reason that no later state can change ([`Rejection::is_final`]), kept for
//! [`REPLAY_TTL`] in a set of at most [`REPLAY_CAPACITY`] entries (the oldest leaves
//! first), so that the same bytes sent again are refused for the price of one hash of
//! their text, without being parsed or validated again.
//!
//! Why a digest of the bytes: a replayed chain is the same bytes, and SHA-256 leaves
//! no way to make a good chain collide with a remembered bad one.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::verdict::{Rejection, Source};

/// How long a refused message is remembered.
pub const REPLAY_TTL: Duration = Duration::from_secs(10 * 60);

/// How many refused messages are remembered at most.
pub const REPLAY_CAPACITY: usize = 4096;

/// A message's digest.
pub type MessageDigest = [u8; 32];

/// The digest of a message's bytes.
pub fn digest(bytes: &[u8]) -> MessageDigest {
    Sha256::digest(bytes).into()
}

/// What is remembered of a refusal.
#[derive(Debug, Clone)]
struct Refused {
    reason: &'static str,
    text: String,
    at: Instant,
    /// Refused only because it came over Redis (see [`Rejection::NotAnArray`]).
    redis_only: bool,
}

/// Refused messages by digest; time- and size-bounded.
#[derive(Debug, Default)]
pub struct RefusedDigests {
    entries: HashMap<MessageDigest, Refused>,
    order: VecDeque<(MessageDigest, Instant)>,
}

impl RefusedDigests {
    /// The refusal to repeat when `digest` was refused within [`REPLAY_TTL`] of `now`
    /// for a reason that holds for a message from `source`.
    pub fn replayed(
        &mut self,
        digest: &MessageDigest,
        source: Source,
        now: Instant,
    ) -> Option<Rejection> {
        self.expire(now);
        self.entries
            .get(digest)
            .filter(|first| !first.redis_only || source == Source::Redis)
            .map(|first| Rejection::Replayed {
                reason: first.reason,
                first: first.text.clone(),
            })
    }

    /// Remembers a refusal of the message with `digest`, when it is final.
    pub fn remember(&mut self, digest: MessageDigest, rejection: &Rejection, now: Instant) {
        if !rejection.is_final() {
            return;
        }
        self.expire(now);
        while self.order.len() >= REPLAY_CAPACITY {
            if let Some((old, at)) = self.order.pop_front() {
                self.forget(&old, at);
            }
        }
        let text =
            crate::clip::clip_to(&rejection.to_string(), crate::clip::MESSAGE_CHARS).into_owned();
        let refused = Refused {
            reason: rejection.reason(),
            text,
            at: now,
            redis_only: matches!(rejection, Rejection::NotAnArray(_)),
        };
        // A digest remembered again (refused on the channel, then over HTTP) gets a
        // new place in the order: its entry leaves with that place, so every entry
        // is bounded by the TTL and the capacity.
        self.entries.insert(digest, refused);
        self.order.push_back((digest, now));
    }

    /// Forgets `digest` if `at` is when it was last remembered (an older place in the
    /// order is stale: the entry went on with a newer one).
    fn forget(&mut self, digest: &MessageDigest, at: Instant) {
        if self.entries.get(digest).is_some_and(|entry| entry.at == at) {
            self.entries.remove(digest);
        }
    }

    /// Messages remembered now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(old, at)) = self.order.front() {
            if now.duration_since(at) < REPLAY_TTL {
                break;
            }
            self.order.pop_front();
            self.forget(&old, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A final refusal is remembered and repeated; a loss to our chain is not; entries
    /// expire after the TTL and the oldest leave first past the capacity.
    #[test]
    fn remembers_final_refusals_only() {
        let mut memory = RefusedDigests::default();
        let now = Instant::now();
        let bad = digest(b"[1]");
        memory.remember(bad, &Rejection::NotAChain("x".into()), now);
        let lost = digest(b"[genesis]");
        memory.remember(
            lost,
            &Rejection::NotPreferred {
                len: 1,
                ours: 2,
                rule: "work",
                ours_better: true,
            },
            now,
        );
        let replay = memory
            .replayed(&bad, Source::Http, now)
            .expect("remembered");
        assert_eq!(replay.reason(), "replayed");
        assert_eq!(replay.status_reason(), "not_a_chain");
        assert!(memory.replayed(&lost, Source::Redis, now).is_none());
        assert!(
            memory
                .replayed(&bad, Source::Http, now + REPLAY_TTL)
                .is_none()
        );
        // A body refused on the channel only for not being a bare array may still be
        // pushed over HTTP.
        let body = digest(b"{\"chain\": []}");
        memory.remember(body, &Rejection::NotAnArray("x".into()), now);
        assert!(memory.replayed(&body, Source::Http, now).is_none());
        assert!(memory.replayed(&body, Source::Redis, now).is_some());
        memory.expire(now + REPLAY_TTL);
        assert!(memory.is_empty());
        for i in 0..REPLAY_CAPACITY + 10 {
            memory.remember(
                digest(&i.to_le_bytes()),
                &Rejection::NotUtf8,
                now + REPLAY_TTL,
            );
        }
        assert_eq!(memory.len(), REPLAY_CAPACITY);
        assert!(
            memory
                .replayed(
                    &digest(&0usize.to_le_bytes()),
                    Source::Redis,
                    now + REPLAY_TTL
                )
                .is_none()
        );
    }

    /// A digest remembered a second time (refused on the channel for not being a bare
    /// array, then over HTTP for another reason) still leaves after the TTL of its
    /// second refusal, and stays until then.
    #[test]
    fn a_digest_remembered_twice_still_expires() {
        let mut memory = RefusedDigests::default();
        let start = Instant::now();
        let body = digest(b"{\"x\": 1}");
        memory.remember(body, &Rejection::NotAnArray("x".into()), start);
        let later = start + Duration::from_secs(1);
        memory.remember(body, &Rejection::NotAChain("x".into()), later);
        assert_eq!(memory.len(), 1);
        let first_ttl = start + REPLAY_TTL;
        assert!(
            memory.replayed(&body, Source::Http, first_ttl).is_some(),
            "kept until the TTL of its second refusal"
        );
        memory.expire(later + REPLAY_TTL);
        assert!(memory.is_empty(), "gone after it");
    }
}
