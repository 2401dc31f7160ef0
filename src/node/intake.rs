//! The intake: chains that arrive from the network (Redis messages, the root's
//! `GET /api/blocks`, `POST /api/chain`) become validated [`Candidate`]s for the
//! writer, or a counted, logged [`Rejection`].
//!
//! Why a queue and a blocking task: the Redis listener must never stall (Redis drops a
//! subscriber whose unread output grows past its limit), so it only checks the size
//! and hands the bytes over. One intake task takes them in order and parses and
//! validates each on tokio's blocking pool (validation hashes every block).
//!
//! Two shortcuts keep the common case fast:
//! - a chain's preferability is estimated from its parsed blocks (length, or the sum of
//!   2^difficulty) *before* validation, so a shorter chain costs no hashing;
//! - a Redis message whose text starts with our own message (the usual case: a peer
//!   mined one more block on our chain) has only its new blocks parsed and validated.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use super::state::{AdoptOutcome, Candidate, ChainWriter, IntakeTimings, Snapshot};
use crate::chain::block::parse_chain;
use crate::chain::json::{Dialect, JsonError, JsonErrorKind};
use crate::chain::validate::now_ms;
use crate::chain::{Block, ForkChoice, RuleSet, ValidChain, ValidationError, Work};

/// Messages waiting for validation; more are dropped (and counted), since each one
/// holds a whole chain and a later one supersedes an earlier one anyway.
pub const INTAKE_QUEUE: usize = 8;

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
    /// The intake queue was full.
    #[error("dropped: {INTAKE_QUEUE} messages already wait for validation")]
    Backlog,
}

/// The counted kinds of [`Rejection`], as `/api/status` names them.
pub const REASONS: [&str; 9] = [
    "too_large",
    "not_utf8",
    "not_json",
    "too_deep",
    "not_a_chain",
    "invalid",
    "nan",
    "not_preferred",
    "backlog",
];

impl Rejection {
    /// Index into [`REASONS`].
    fn reason_index(&self) -> usize {
        match self {
            Rejection::TooLarge { .. } | Rejection::TooLargeToPublish { .. } => 0,
            Rejection::NotUtf8 => 1,
            Rejection::NotJson(_) => 2,
            Rejection::TooDeep(_) => 3,
            Rejection::NotAChain(_) => 4,
            Rejection::Invalid(_) => 5,
            Rejection::Nan(_) => 6,
            Rejection::NotPreferred { .. } => 7,
            Rejection::Backlog => 8,
        }
    }

    /// The reason's name in `/api/status`.
    pub fn reason(&self) -> &'static str {
        REASONS[self.reason_index()]
    }

    /// Classifies `parse_chain`'s error on `text`: the chain reader stops at the first
    /// token a chain cannot hold, so whether `text` is JSON at all (`{"chain": 5}` is,
    /// `{"chain": [` is not) takes a second, general parse, paid only on failure, whose
    /// own error then says what is wrong with the JSON.
    fn from_chain_error(text: &str, err: JsonError) -> Rejection {
        if matches!(err.kind, JsonErrorKind::TooDeep) {
            return Rejection::TooDeep(err);
        }
        match crate::chain::Json::parse(text) {
            Ok(_) => Rejection::NotAChain(err.to_string()),
            Err(general) => Rejection::from_json(general),
        }
    }

    fn from_json(err: JsonError) -> Rejection {
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

    /// Counts and logs a verdict.
    pub fn record(&self, source: Source, verdict: &Verdict) {
        match verdict {
            Verdict::Adopted => {
                self.accepted.fetch_add(1, Ordering::Relaxed);
            }
            Verdict::Current => {
                self.current.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(?source, "received our own chain");
            }
            Verdict::Rejected(rejection) => {
                self.rejected[rejection.reason_index()].fetch_add(1, Ordering::Relaxed);
                let text = rejection.to_string();
                if matches!(rejection, Rejection::NotPreferred { .. }) {
                    tracing::debug!(?source, reason = rejection.reason(), "{text}");
                } else {
                    tracing::warn!(
                        ?source,
                        reason = rejection.reason(),
                        "rejected a chain: {text}"
                    );
                }
                *self
                    .last_rejection
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(text);
            }
        }
    }
}

/// A chain's bytes on their way to validation.
#[derive(Debug)]
pub struct RawMessage {
    /// The text.
    pub bytes: Bytes,
    /// Where it came from.
    pub source: Source,
    /// When it arrived (for the restart latency).
    pub received_at: Instant,
    /// Who wants to know the verdict (the start-up sync), if anyone.
    pub reply: Option<oneshot::Sender<Verdict>>,
}

/// The producers' handle on the intake queue.
#[derive(Debug, Clone)]
pub struct IntakeSender {
    tx: mpsc::Sender<RawMessage>,
    stats: Arc<SyncStats>,
    max_bytes: usize,
}

impl IntakeSender {
    /// Queues a message without waiting: an oversized message or a full queue is
    /// counted and dropped here, so the caller (the Redis listener) never stalls.
    pub fn offer(&self, message: RawMessage) {
        if message.bytes.len() > self.max_bytes {
            let rejection = Rejection::TooLarge {
                len: message.bytes.len(),
                limit: self.max_bytes,
            };
            self.refuse(message, rejection);
            return;
        }
        if let Err(err) = self.tx.try_send(message) {
            match err {
                mpsc::error::TrySendError::Full(message) => {
                    self.refuse(message, Rejection::Backlog)
                }
                mpsc::error::TrySendError::Closed(_) => {}
            }
        }
    }

    /// Copies a Redis payload into the queue, unless it is over the size limit (then
    /// only counted: an oversized payload is never copied).
    pub fn offer_payload(&self, payload: &[u8], source: Source, received_at: Instant) {
        if payload.len() > self.max_bytes {
            let verdict = Verdict::Rejected(Rejection::TooLarge {
                len: payload.len(),
                limit: self.max_bytes,
            });
            self.stats.record(source, &verdict);
            return;
        }
        self.offer(RawMessage {
            bytes: Bytes::copy_from_slice(payload),
            source,
            received_at,
            reply: None,
        });
    }

    /// Queues a message and waits for its verdict. The start-up sync waits for room
    /// in the queue; a pushed chain ([`Source::Http`]) does not: with the queue full it
    /// is refused as a backlog (503), so pushes can neither crowd out the Redis
    /// listener nor pile up bodies in memory. `None` when the node is shutting down
    /// (or the chain's validation failed on a bug).
    pub async fn submit(&self, bytes: Bytes, source: Source) -> Option<Verdict> {
        let (reply, rx) = oneshot::channel();
        let message = RawMessage {
            bytes,
            source,
            received_at: Instant::now(),
            reply: Some(reply),
        };
        if message.bytes.len() > self.max_bytes {
            let rejection = Rejection::TooLarge {
                len: message.bytes.len(),
                limit: self.max_bytes,
            };
            self.refuse(message, rejection);
        } else if source == Source::Http {
            self.offer(message);
        } else {
            self.tx.send(message).await.ok()?;
        }
        rx.await.ok()
    }

    fn refuse(&self, message: RawMessage, rejection: Rejection) {
        let verdict = Verdict::Rejected(rejection);
        self.stats.record(message.source, &verdict);
        if let Some(reply) = message.reply {
            let _ = reply.send(verdict);
        }
    }

    /// The largest message accepted.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

/// Least time between two answers to peers with a worse chain: bounds how much
/// publishing a flood of short messages can cause.
pub const ANSWER_INTERVAL: Duration = Duration::from_millis(500);

/// Starts the intake task; it ends when every [`IntakeSender`] is dropped.
///
/// A Redis message with a chain strictly worse than ours means its sender lacks our
/// chain (pub/sub delivers at most once: it may have missed our publish while it
/// reconnected, or just started): the intake then asks `publish` to send ours, at
/// most once per [`ANSWER_INTERVAL`]. Equal chains get no answer, so two nodes on
/// equally good forks never answer each other in a loop. A chain adopted from
/// `POST /api/chain` is published too: the rest of the network has not seen it.
pub fn spawn_intake(
    snapshots: watch::Receiver<Arc<Snapshot>>,
    writer: ChainWriter,
    stats: Arc<SyncStats>,
    publish: Arc<Notify>,
    fork_choice: ForkChoice,
    max_bytes: usize,
) -> (IntakeSender, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<RawMessage>(INTAKE_QUEUE);
    let sender = IntakeSender {
        tx,
        stats: Arc::clone(&stats),
        max_bytes,
    };
    let task = tokio::spawn(async move {
        let mut last_answer: Option<Instant> = None;
        while let Some(message) = rx.recv().await {
            let snapshot = Arc::clone(&snapshots.borrow());
            let RawMessage {
                bytes,
                source,
                received_at,
                reply,
            } = message;
            // Examine and offer to the writer from the same blocking thread: one
            // thread hop less between a message and a restarted search.
            let writer = writer.clone();
            let decided = tokio::task::spawn_blocking(move || {
                let examined = examine(
                    &bytes,
                    source,
                    &snapshot,
                    fork_choice,
                    max_bytes,
                    received_at,
                );
                let ours = snapshot.chain().len();
                // Not held while the writer works: the old chain is freed by whoever
                // lets go of it last, and that should not be this thread's wait.
                drop(snapshot);
                match examined {
                    Ok(Examined::Current) => Some(Verdict::Current),
                    Ok(Examined::Candidate(candidate)) => Some({
                        let len = candidate.chain.len();
                        match writer.adopt_blocking(candidate)? {
                            AdoptOutcome::Adopted => Verdict::Adopted,
                            AdoptOutcome::NotPreferred => {
                                Verdict::Rejected(not_preferred(len, ours, fork_choice, false))
                            }
                        }
                    }),
                    Err(rejection) => Some(Verdict::Rejected(rejection)),
                }
            })
            .await;
            let verdict = match decided {
                Ok(Some(verdict)) => verdict,
                // The writer has stopped: the node is shutting down.
                Ok(None) => continue,
                Err(err) => {
                    // A panic in validation is a bug; the intake goes on.
                    tracing::error!(%err, "chain validation panicked");
                    continue;
                }
            };
            stats.record(source, &verdict);
            let sender_lacks_ours = matches!(
                verdict,
                Verdict::Rejected(Rejection::NotPreferred {
                    ours_better: true,
                    ..
                })
            );
            if source == Source::Http && matches!(verdict, Verdict::Adopted) {
                publish.notify_one();
            }
            if source == Source::Redis
                && sender_lacks_ours
                && last_answer.is_none_or(|at| at.elapsed() >= ANSWER_INTERVAL)
            {
                tracing::debug!("a peer published a worse chain: answering with ours");
                last_answer = Some(Instant::now());
                publish.notify_one();
            }
            if let Some(reply) = reply {
                let _ = reply.send(verdict);
            }
        }
    });
    (sender, task)
}

/// The result of examining a message against our snapshot.
#[derive(Debug)]
pub enum Examined {
    /// Exactly our chain.
    Current,
    /// A valid chain the fork-choice rule prefers to the snapshot's.
    Candidate(Candidate),
}

/// Parses and validates `bytes` against `ours` (blocking: call off the runtime).
///
/// # Errors
/// The [`Rejection`] saying why the chain cannot be adopted.
pub fn examine(
    bytes: &[u8],
    source: Source,
    ours: &Arc<Snapshot>,
    fork_choice: ForkChoice,
    max_bytes: usize,
    received_at: Instant,
) -> Result<Examined, Rejection> {
    let started = Instant::now();
    // Our `{"chain": [...]}` body is not a valid message on the channel (see below).
    if bytes == ours.message().as_ref()
        || (source != Source::Redis && bytes == ours.body().as_ref())
    {
        return Ok(Examined::Current);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Rejection::NotUtf8)?;
    if source == Source::Redis && !text.trim_start().starts_with('[') {
        // parse_chain also reads `{"chain": [...]}`, but on the channel only a bare
        // array is the protocol: anything else kills a Python node's listener.
        return Err(match crate::chain::Json::parse(text) {
            Err(err) => Rejection::from_json(err),
            Ok(value) => Rejection::NotAChain(format!(
                "a message on the channel must be a JSON array of blocks, found {}",
                crate::chain::json::describe(&value)
            )),
        });
    }
    let (chain, extends_ours) = match extension_tail(text, ours.message()) {
        Some(tail) => (examine_extension(tail, ours, fork_choice)?, true),
        None => match examine_whole(text, ours, fork_choice)? {
            Some(chain) => (chain, false),
            None => return Ok(Examined::Current),
        },
    };
    if source == Source::Http {
        check_publishable(&chain, max_bytes)?;
    }
    let examined_at = Instant::now();
    Ok(Examined::Candidate(Candidate {
        chain,
        base: extends_ours.then(|| Arc::clone(ours)),
        timings: IntakeTimings {
            received_at,
            started_at: started,
            validate_time: examined_at.duration_since(started),
            examined_at,
        },
    }))
}

/// When `text` is our message with blocks appended, the appended part: `, {...}, {...}]`.
fn extension_tail<'a>(text: &'a str, ours: &[u8]) -> Option<&'a str> {
    // Our message without its closing `]`.
    let open = ours.get(..ours.len().checked_sub(1)?)?;
    if text.len() <= ours.len() || !text.as_bytes().starts_with(open) {
        return None;
    }
    // `open` is valid UTF-8 ending in `}`, so this is a character boundary.
    text.get(open.len()..)?.trim_start().strip_prefix(',')
}

fn examine_extension(
    tail: &str,
    ours: &Snapshot,
    fork_choice: ForkChoice,
) -> Result<ValidChain, Rejection> {
    let mut tail_text = String::with_capacity(tail.len() + 1);
    tail_text.push('[');
    tail_text.push_str(tail);
    let blocks =
        parse_chain(&tail_text).map_err(|err| Rejection::from_chain_error(&tail_text, err))?;
    let current = ours.chain();
    check_nan(&blocks, current.len())?;
    let tail_work: Work = blocks.iter().map(|b| b.difficulty.work()).sum();
    let len = current.len() + blocks.len();
    let preferred = match fork_choice {
        ForkChoice::Length => !blocks.is_empty(),
        ForkChoice::Work => tail_work > Work::ZERO,
    };
    if !preferred {
        return Err(not_preferred(len, current.len(), fork_choice, false));
    }
    let mut chain = current.clone();
    let now = now_ms();
    for block in blocks {
        chain
            .push(block, RuleSet::Strict, now)
            .map_err(Rejection::Invalid)?;
    }
    Ok(chain)
}

/// Parses and validates a whole chain; `None` when it is ours, written differently
/// (another dialect, spacing, or wrapped in `{"chain": ...}`).
fn examine_whole(
    text: &str,
    ours: &Snapshot,
    fork_choice: ForkChoice,
) -> Result<Option<ValidChain>, Rejection> {
    let blocks = parse_chain(text).map_err(|err| Rejection::from_chain_error(text, err))?;
    let current = ours.chain();
    if blocks.as_slice() == current.blocks() {
        return Ok(None);
    }
    // Cheap estimate first: a chain that would lose even if valid costs no hashing.
    let ordering = match fork_choice {
        ForkChoice::Length => blocks.len().cmp(&current.len()),
        ForkChoice::Work => blocks
            .iter()
            .map(|b| b.difficulty.work())
            .sum::<Work>()
            .cmp(&current.work()),
    };
    if ordering != std::cmp::Ordering::Greater {
        let ours_better = ordering == std::cmp::Ordering::Less;
        return Err(not_preferred(
            blocks.len(),
            current.len(),
            fork_choice,
            ours_better,
        ));
    }
    check_nan(&blocks, 0)?;
    ValidChain::validate(blocks, RuleSet::Strict, now_ms())
        .map(Some)
        .map_err(Rejection::Invalid)
}

/// Refuses a pushed chain whose Redis message (Python's dialect: wider separators,
/// non-ASCII escaped) would be over `max_bytes`, the limit every node reads: it could
/// be adopted here but never reach a peer. (Pushes are rare; the trial serialization
/// costs about a millisecond per thousand blocks.)
fn check_publishable(chain: &ValidChain, max_bytes: usize) -> Result<(), Rejection> {
    let mut message = Vec::new();
    crate::chain::block::write_chain(chain.blocks(), Dialect::Python, &mut message);
    if message.len() > max_bytes {
        return Err(Rejection::TooLargeToPublish {
            len: message.len(),
            limit: max_bytes,
        });
    }
    Ok(())
}

fn check_nan(blocks: &[Block], first_index: usize) -> Result<(), Rejection> {
    match blocks.iter().position(|b| b.data.has_nan()) {
        Some(i) => Err(Rejection::Nan(first_index + i)),
        None => Ok(()),
    }
}

fn not_preferred(len: usize, ours: usize, fork_choice: ForkChoice, ours_better: bool) -> Rejection {
    Rejection::NotPreferred {
        len,
        ours,
        rule: super::config::fork_choice_name(fork_choice),
        ours_better,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::json::Dialect;
    use crate::chain::{Difficulty, Json};
    use crate::miner::reference::mine_reference;
    use crate::miner::synthetic::synthetic_chain;

    /// Genesis and `n` more blocks: the synthetic benchmark chain.
    fn chain_of(n: usize) -> ValidChain {
        ValidChain::validate(synthetic_chain(n + 1), RuleSet::Strict, now_ms()).expect("valid")
    }

    fn message(chain: &ValidChain) -> Vec<u8> {
        let mut out = Vec::new();
        crate::chain::block::write_chain(chain.blocks(), Dialect::Python, &mut out);
        out
    }

    fn run(bytes: &[u8], ours: &Arc<Snapshot>) -> Result<Examined, Rejection> {
        examine(
            bytes,
            Source::Redis,
            ours,
            ForkChoice::Work,
            usize::MAX,
            Instant::now(),
        )
    }

    /// A message extending ours takes the fast path and gives the same snapshot as a
    /// full validation.
    #[test]
    fn extension_equals_whole() {
        let long = chain_of(4);
        let mut other = ValidChain::genesis();
        let tip = other.tip().clone();
        let block = mine_reference(&tip, Json::String("other".into()), now_ms(), Difficulty(3));
        other.push(block, RuleSet::Strict, now_ms()).expect("valid");
        let other = Arc::new(Snapshot::of_chain(other));
        let ours = Arc::new(Snapshot::of_chain(
            ValidChain::validate(long.blocks()[..3].to_vec(), RuleSet::Strict, now_ms())
                .expect("valid"),
        ));
        let text = message(&long);
        assert!(
            extension_tail(std::str::from_utf8(&text).expect("utf8"), ours.message()).is_some()
        );
        let Ok(Examined::Candidate(c)) = run(&text, &ours) else {
            panic!("expected a candidate")
        };
        assert!(c.base.is_some(), "an extension keeps its base");
        let snapshot = c.into_snapshot();
        assert_eq!(snapshot.message().as_ref(), text.as_slice());
        assert_eq!(snapshot.body(), Snapshot::of_chain(long).body());
        // A chain that forks from another is validated whole.
        let Ok(Examined::Candidate(c)) = run(&text, &other) else {
            panic!("expected a candidate")
        };
        assert!(c.base.is_none());
        assert_eq!(c.into_snapshot().message().as_ref(), text.as_slice());
    }

    /// Each kind of bad message maps to its reason.
    #[test]
    fn rejections_by_reason() {
        let ours = Arc::new(Snapshot::of_chain(chain_of(2)));
        let reason = |bytes: &[u8]| match run(bytes, &ours) {
            Err(r) => r.reason(),
            Ok(_) => "ok",
        };
        assert_eq!(reason(b"\xff"), "not_utf8");
        assert_eq!(reason(b"[{"), "not_json");
        assert_eq!(reason(b"{\"chain\": []}"), "not_a_chain");
        assert_eq!(reason(b"[1, 2]"), "not_a_chain");
        assert_eq!(
            reason(format!("[{{\"data\": {}", "[".repeat(600)).as_bytes()),
            "too_deep"
        );
        assert_eq!(reason(&message(&chain_of(1))), "not_preferred");
        assert_eq!(reason(ours.message()), "ok");
        // Our own `{"chain": [...]}` body is still no message for the channel.
        assert_eq!(reason(ours.body()), "not_a_chain");
        let mut forged = chain_of(3).into_blocks();
        forged[3].nonce = crate::chain::Nonce::from(0u128);
        let mut text = Vec::new();
        crate::chain::block::write_chain(&forged, Dialect::Python, &mut text);
        assert_eq!(reason(&text), "invalid");
    }

    /// A pushed chain never waits for room in the queue: with the queue full it is
    /// refused as a backlog at once, so pushes cannot crowd out the Redis listener.
    #[tokio::test]
    async fn a_push_to_a_full_queue_is_refused_at_once() {
        let (tx, _rx) = mpsc::channel(1);
        let sender = IntakeSender {
            tx,
            stats: Arc::new(SyncStats::default()),
            max_bytes: 1024,
        };
        sender.offer_payload(b"[]", Source::Redis, Instant::now());
        let verdict = tokio::time::timeout(
            Duration::from_secs(60),
            sender.submit(Bytes::from_static(b"[]"), Source::Http),
        )
        .await
        .expect("no wait for room");
        assert!(
            matches!(verdict, Some(Verdict::Rejected(Rejection::Backlog))),
            "{verdict:?}"
        );
        assert_eq!(sender.stats.rejected()["backlog"], 1);
    }
}
