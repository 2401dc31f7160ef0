//! What became of a chain from the network: where it came from ([`Source`]), the
//! [`Verdict`], and when refused, the [`Rejection`] with its counted reason
//! ([`REASONS`]); and [`SyncStats`], the counters `/api/status` reads.
//!
//! The taxonomy is shared by the queue (which refuses oversized messages and a full
//! backlog itself) and by the examination (which refuses everything else), so it
//! depends on neither.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::chain::json::{JsonError, JsonErrorKind};
use crate::chain::{ForkChoice, ValidationError};
use crate::clip::{MESSAGE_CHARS, clip_to};
use crate::node::config::{INTAKE_QUEUE, fork_choice_name};

/// Where a chain came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The `BLOCKCHAIN` channel: a bare JSON array, Python's dialect.
    Redis,
    /// The root node's `GET /api/blocks`: `{"chain": [...]}`.
    Root,
    /// Pushed with `POST /api/chain`: `{"chain": [...]}` or a bare array, in either
    /// dialect (a `GET /api/blocks` body from any node, or a Redis message).
    Http,
    /// A block announcement from another minichain node (live, or read back from the
    /// block log): only its new blocks travel (see [`crate::node::announce`]).
    Announce,
}

/// Why a chain from the network was not adopted.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// Larger than the message size limit.
    #[error("message of {len} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A pushed chain that, written as a Redis message, would be larger than the
    /// limit: no peer could take it.
    #[error(
        "as a Redis message (Python's dialect) the chain takes {len} bytes, over the limit of {limit} bytes, so no peer could take it"
    )]
    TooLargeToPublish {
        /// Its message's size.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Not UTF-8 text.
    #[error("message is not UTF-8")]
    NotUtf8,
    /// Not JSON that a Python node reads.
    #[error("message is not JSON: {0}")]
    NotJson(JsonError),
    /// Nested deeper than the parser allows.
    #[error("message is nested too deeply: {0}")]
    TooDeep(JsonError),
    /// JSON, but not a chain (not an array, a block of the wrong shape, ...).
    #[error("message is not a chain: {0}")]
    NotAChain(String),
    /// JSON on the channel that is not an array (a `{"chain": [...]}` body, a
    /// scalar): only a bare array is a message there, though `POST /api/chain` takes
    /// the same bytes.
    #[error("message is not a chain: {0}")]
    NotAnArray(String),
    /// A chain that breaks a rule.
    #[error("chain is invalid: {0}")]
    Invalid(ValidationError),
    /// A chain holding NaN, which no valid JSON can carry, so it could be neither
    /// served nor published without changing its hashes.
    #[error("chain holds NaN in block {0}'s data, which no valid JSON can carry")]
    Nan(usize),
    /// Valid, but our chain is at least as good.
    #[error("chain of {len} blocks is not preferred to ours ({ours} blocks) by the {rule} rule")]
    NotPreferred {
        /// Its length.
        len: usize,
        /// Ours.
        ours: usize,
        /// The fork-choice rule's name.
        rule: &'static str,
        /// Whether ours is strictly better: the sender lacks our chain, so we answer
        /// by publishing it.
        ours_better: bool,
    },
    /// Valid and preferred, but the store could not write it, so it was not adopted.
    #[error("the chain could not be stored (see store.last_error in /api/status)")]
    NotStored,
    /// The intake queue was full.
    #[error("dropped: {INTAKE_QUEUE} messages already wait for validation")]
    Backlog,
    /// The very bytes of a message refused a moment ago, dropped on their digest
    /// without being parsed again.
    #[error("replayed: these bytes were refused before ({first})")]
    Replayed {
        /// The first refusal's reason, which decides the HTTP status.
        reason: &'static str,
        /// The first refusal, in words (already clipped).
        first: String,
    },
}

/// The counted kinds of [`Rejection`], as `/api/status` names them.
pub const REASONS: [&str; 11] = [
    "too_large",
    "not_utf8",
    "not_json",
    "too_deep",
    "not_a_chain",
    "invalid",
    "nan",
    "not_preferred",
    "backlog",
    "not_stored",
    "replayed",
];

impl Rejection {
    /// Index into [`REASONS`].
    fn reason_index(&self) -> usize {
        match self {
            Rejection::TooLarge { .. } | Rejection::TooLargeToPublish { .. } => 0,
            Rejection::NotUtf8 => 1,
            Rejection::NotJson(_) => 2,
            Rejection::TooDeep(_) => 3,
            Rejection::NotAChain(_) | Rejection::NotAnArray(_) => 4,
            Rejection::Invalid(_) => 5,
            Rejection::Nan(_) => 6,
            Rejection::NotPreferred { .. } => 7,
            Rejection::Backlog => 8,
            Rejection::NotStored => 9,
            Rejection::Replayed { .. } => 10,
        }
    }

    /// The reason's name in `/api/status`.
    pub fn reason(&self) -> &'static str {
        REASONS[self.reason_index()]
    }

    /// A valid chain of `len` blocks that the `fork_choice` rule does not prefer to
    /// ours of `ours` blocks; `ours_better` when ours is strictly better (by the
    /// rule's [`Ordering`](std::cmp::Ordering): `Less`, not `Equal`).
    pub(crate) fn not_preferred(
        len: usize,
        ours: usize,
        fork_choice: ForkChoice,
        ours_better: bool,
    ) -> Rejection {
        Rejection::NotPreferred {
            len,
            ours,
            rule: fork_choice_name(fork_choice),
            ours_better,
        }
    }

    /// Classifies `parse_chain`'s error on `text`: the chain reader stops at the first
    /// token a chain cannot hold, so whether `text` is JSON at all (`{"chain": 5}` is,
    /// `{"chain": [` is not) takes a second pass, paid only on failure: a walk of the
    /// grammar that builds nothing, whose own error then says what is wrong with the
    /// JSON.
    pub(crate) fn from_chain_error(text: &str, err: JsonError) -> Rejection {
        if matches!(err.kind, JsonErrorKind::TooDeep) {
            return Rejection::TooDeep(err);
        }
        match crate::chain::json::describe_text(text) {
            Ok(_) => Rejection::NotAChain(err.to_string()),
            Err(general) => Rejection::from_json(general),
        }
    }

    /// Whether the same bytes would be refused the same way whatever our chain and
    /// clock: then a replay of them may be refused on their digest alone. Not a chain
    /// that loses to ours (it says the sender lacks our chain, which we answer), not
    /// a far-future timestamp (it may become valid), not the queue's own refusals.
    pub fn is_final(&self) -> bool {
        match self {
            Rejection::NotUtf8
            | Rejection::NotJson(_)
            | Rejection::TooDeep(_)
            | Rejection::NotAChain(_)
            | Rejection::NotAnArray(_)
            | Rejection::Nan(_) => true,
            Rejection::Invalid(err) => !matches!(
                err.rule,
                crate::chain::validate::Rule::FutureTimestamp { .. }
            ),
            Rejection::TooLarge { .. }
            | Rejection::TooLargeToPublish { .. }
            | Rejection::NotPreferred { .. }
            | Rejection::Backlog
            | Rejection::NotStored
            | Rejection::Replayed { .. } => false,
        }
    }

    /// The reason that decides how the refusal is answered: a replay's first reason,
    /// else its own.
    pub fn status_reason(&self) -> &'static str {
        match self {
            Rejection::Replayed { reason, .. } => reason,
            other => other.reason(),
        }
    }

    /// Classifies a general JSON parse error.
    pub(super) fn from_json(err: JsonError) -> Rejection {
        match err.kind {
            JsonErrorKind::TooDeep => Rejection::TooDeep(err),
            JsonErrorKind::Shape(_) => Rejection::NotAChain(err.to_string()),
            _ => Rejection::NotJson(err),
        }
    }
}

/// What became of one chain from the network.
#[derive(Debug)]
pub enum Verdict {
    /// It replaced our chain.
    Adopted,
    /// It is exactly our chain (our own message coming back, typically).
    Current,
    /// It was refused.
    Rejected(Rejection),
}

/// Counters of sync messages, read by `/api/status`.
#[derive(Debug, Default)]
pub struct SyncStats {
    accepted: AtomicU64,
    current: AtomicU64,
    rejected: [AtomicU64; REASONS.len()],
    last_rejection: Mutex<Option<String>>,
    recent: Mutex<VecDeque<RecentMessage>>,
    warnings: WarnBudget,
}

/// Least time between two `warn` lines about refused messages: a flood of cheap bad
/// messages must not become a flood of writes to the log (each a system call, and a
/// slow reader of the log would stall the listener); the lines left out are counted in
/// the next one, and every refusal is still counted and kept in the recent list.
pub const REJECTION_WARN_EVERY_MS: u64 = 1_000;

/// When the last `warn` line about a refusal was written, and how many were held back
/// since.
#[derive(Debug, Default)]
struct WarnBudget {
    /// Milliseconds since the Unix epoch of the last line, 0 before the first.
    last_ms: AtomicU64,
    held_back: AtomicU64,
}

impl WarnBudget {
    /// Whether a line may be written at `now_ms`: `Some` with how many were held back
    /// since the last one, or `None` (this one is held back and counted).
    fn admit(&self, now_ms: u64) -> Option<u64> {
        let last = self.last_ms.load(Ordering::Relaxed);
        let too_soon = last != 0 && now_ms.saturating_sub(last) < REJECTION_WARN_EVERY_MS;
        if too_soon
            || self
                .last_ms
                .compare_exchange(last, now_ms.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            self.held_back.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.held_back.swap(0, Ordering::Relaxed))
    }
}

/// How many of the latest chain messages [`SyncStats::recent`] keeps.
pub const RECENT_MESSAGES: usize = 16;

/// One chain message from a peer and what became of it, for the sync view of
/// `/api/status` and the explorer page: which peers speak, how often, and with what.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RecentMessage {
    /// When the verdict was reached, in ms since the Unix epoch.
    pub at_ms: u64,
    /// Where it came from: `redis`, `root`, `http` or `announce`.
    pub source: &'static str,
    /// `adopted`, `current` (our own chain), or the rejection reason.
    pub outcome: &'static str,
    /// The rejection in words (clipped), for a refused message.
    pub detail: Option<String>,
}

impl Source {
    /// The source's name in `/api/status`.
    pub fn name(self) -> &'static str {
        match self {
            Source::Redis => "redis",
            Source::Root => "root",
            Source::Http => "http",
            Source::Announce => "announce",
        }
    }
}

impl SyncStats {
    /// Chains adopted.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Messages identical to our chain.
    pub fn current(&self) -> u64 {
        self.current.load(Ordering::Relaxed)
    }

    /// Rejections by reason (every reason listed, zeros included).
    pub fn rejected(&self) -> BTreeMap<&'static str, u64> {
        REASONS
            .iter()
            .zip(&self.rejected)
            .map(|(name, n)| (*name, n.load(Ordering::Relaxed)))
            .collect()
    }

    /// The last rejection's message.
    pub fn last_rejection(&self) -> Option<String> {
        self.last_rejection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The latest chain messages, newest first (at most [`RECENT_MESSAGES`]).
    pub fn recent(&self) -> Vec<RecentMessage> {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .rev()
            .cloned()
            .collect()
    }

    fn note_recent(&self, source: Source, outcome: &'static str, detail: Option<String>) {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() == RECENT_MESSAGES {
            recent.pop_front();
        }
        recent.push_back(RecentMessage {
            at_ms: crate::chain::validate::now_ms(),
            source: source.name(),
            outcome,
            detail,
        });
    }

    /// Counts and logs a verdict.
    pub fn record(&self, source: Source, verdict: &Verdict) {
        match verdict {
            Verdict::Adopted => {
                self.accepted.fetch_add(1, Ordering::Relaxed);
                self.note_recent(source, "adopted", None);
            }
            Verdict::Current => {
                self.current.fetch_add(1, Ordering::Relaxed);
                self.note_recent(source, "current", None);
                tracing::debug!(?source, "received our own chain");
            }
            Verdict::Rejected(rejection) => {
                self.rejected[rejection.reason_index()].fetch_add(1, Ordering::Relaxed);
                let text = clip_to(&rejection.to_string(), MESSAGE_CHARS).into_owned();
                let warn = !matches!(rejection, Rejection::NotPreferred { .. });
                match warn
                    .then(|| self.warnings.admit(crate::chain::validate::now_ms()))
                    .flatten()
                {
                    Some(held_back) => tracing::warn!(
                        ?source,
                        reason = rejection.reason(),
                        held_back,
                        "rejected a chain: {text}"
                    ),
                    None => tracing::debug!(?source, reason = rejection.reason(), "{text}"),
                }
                self.note_recent(source, rejection.status_reason(), Some(text.clone()));
                *self
                    .last_rejection
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At most one line per [`REJECTION_WARN_EVERY_MS`]; the next line says how many
    /// were held back.
    #[test]
    fn warnings_are_rationed() {
        let budget = WarnBudget::default();
        let start = 1_700_000_000_000;
        assert_eq!(budget.admit(start), Some(0));
        assert_eq!(budget.admit(start + 1), None);
        assert_eq!(budget.admit(start + REJECTION_WARN_EVERY_MS - 1), None);
        assert_eq!(budget.admit(start + REJECTION_WARN_EVERY_MS), Some(2));
        assert_eq!(budget.admit(start + REJECTION_WARN_EVERY_MS), None);
        // A clock that went back holds lines back until it passes the last line again.
        assert_eq!(budget.admit(start), None);
        assert_eq!(budget.admit(start + 5 * REJECTION_WARN_EVERY_MS), Some(2));
    }
}
