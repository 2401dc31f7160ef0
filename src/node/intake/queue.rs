//! The intake queue: producers (the Redis listener, the start-up sync, `POST
//! /api/chain`) hand a chain's bytes over through an [`IntakeSender`] without waiting,
//! and one task ([`spawn_intake`]) takes them in order, examines each on tokio's
//! blocking pool and offers the survivors to the chain writer.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};

use super::examine::{Examined, examine};
use super::replay::{RefusedDigests, digest};
use super::verdict::{Rejection, Source, SyncStats, Verdict};
use crate::chain::ForkChoice;
use crate::node::answer::Answerer;
use crate::node::body_budget::ReadBody;
use crate::node::config::INTAKE_QUEUE;
use crate::node::state::{AdoptOutcome, ChainWriter, Snapshot, WriterStopped};

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
    /// A pushed chain's place among the queue's [`HTTP_SHARE`], held until its verdict
    /// (not while its client waits: a client that goes must not free the place of a
    /// chain still queued).
    pub slot: Option<OwnedSemaphorePermit>,
    /// A pushed chain's body with its share of the upload budget, held until its
    /// verdict for the same reason: the intake holds the bytes until then.
    pub body: Option<ReadBody>,
}

/// How many pushed chains (`POST /api/chain`) the intake holds at once, queued or being
/// examined: half its queue, so that pushes, which anyone can send as fast as they
/// like, always leave room for the chains that arrive over Redis.
pub const HTTP_SHARE: usize = INTAKE_QUEUE / 2;

/// The producers' handle on the intake queue.
#[derive(Debug, Clone)]
pub struct IntakeSender {
    tx: mpsc::Sender<RawMessage>,
    stats: Arc<SyncStats>,
    max_bytes: usize,
    http_slots: Arc<Semaphore>,
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
            slot: None,
            body: None,
        });
    }

    /// Queues a message and waits for its verdict. The start-up sync waits for room
    /// in the queue; a pushed chain ([`Source::Http`]) does not: past its
    /// [`HTTP_SHARE`] of the queue, or with the queue full, it is refused as a backlog
    /// (503), so pushes can neither crowd out the Redis listener nor pile up bodies in
    /// memory. `None` when the node is shutting down (or the chain's validation failed
    /// on a bug).
    pub async fn submit(&self, bytes: Bytes, source: Source) -> Option<Verdict> {
        self.submit_holding(bytes, source, None).await
    }

    /// [`Self::submit`] for a pushed chain's body (`POST /api/chain`): its share of the
    /// upload budget is held until the verdict, however soon its client goes.
    pub async fn submit_pushed(&self, body: ReadBody) -> Option<Verdict> {
        self.submit_holding(body.bytes.clone(), Source::Http, Some(body))
            .await
    }

    async fn submit_holding(
        &self,
        bytes: Bytes,
        source: Source,
        body: Option<ReadBody>,
    ) -> Option<Verdict> {
        let (reply, rx) = oneshot::channel();
        let mut message = RawMessage {
            bytes,
            source,
            received_at: Instant::now(),
            reply: Some(reply),
            slot: None,
            body,
        };
        if message.bytes.len() > self.max_bytes {
            let rejection = Rejection::TooLarge {
                len: message.bytes.len(),
                limit: self.max_bytes,
            };
            self.refuse(message, rejection);
        } else if source == Source::Http {
            match Arc::clone(&self.http_slots).try_acquire_owned() {
                Ok(slot) => {
                    message.slot = Some(slot);
                    self.offer(message);
                }
                Err(_) => self.refuse(message, Rejection::Backlog),
            }
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

/// Starts the intake task; it ends when every [`IntakeSender`] is dropped.
///
/// A Redis message with a chain strictly worse than ours means its sender lacks our
/// chain (pub/sub delivers at most once: it may have missed our publish while it
/// reconnected, or just started): the intake then asks `answers` for an answer,
/// which it bounds (see [`Answerer`]). Equal chains get no answer, so two nodes on
/// equally good forks never answer each other in a loop. A chain adopted from
/// `POST /api/chain` is published at once: the rest of the network has not seen it.
///
/// A message refused for a reason no later state can change is remembered by its
/// digest ([`RefusedDigests`]); the same bytes again are refused as `replayed`
/// after one hash of their text, not parsed or validated again.
pub fn spawn_intake(
    snapshots: watch::Receiver<Arc<Snapshot>>,
    writer: ChainWriter,
    stats: Arc<SyncStats>,
    publish: Arc<Notify>,
    answers: Arc<Answerer>,
    fork_choice: ForkChoice,
    max_bytes: usize,
) -> (IntakeSender, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<RawMessage>(INTAKE_QUEUE);
    let sender = IntakeSender {
        tx,
        stats: Arc::clone(&stats),
        max_bytes,
        http_slots: Arc::new(Semaphore::new(HTTP_SHARE)),
    };
    let refused = Arc::new(Mutex::new(RefusedDigests::default()));
    let task = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            let snapshot = Arc::clone(&snapshots.borrow());
            // A pushed chain's slot is given back once its verdict is in.
            let RawMessage {
                bytes,
                source,
                received_at,
                reply,
                slot: _slot,
                body: _body,
            } = message;
            // Examine and offer to the writer from the same blocking thread: one
            // thread hop less between a message and a restarted search.
            let writer = writer.clone();
            let refused = Arc::clone(&refused);
            let decided = tokio::task::spawn_blocking(move || {
                // Our own chain coming back (the usual message) costs no digest.
                let digest = (!snapshot.is_message(&bytes)).then(|| digest(&bytes));
                let lock = || refused.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(digest) = &digest
                    && let Some(replayed) = lock().replayed(digest, source, Instant::now())
                {
                    return Ok(Verdict::Rejected(replayed));
                }
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
                    Ok(Examined::Current) => Ok(Verdict::Current),
                    Ok(Examined::Candidate(candidate)) => {
                        let len = candidate.chain.len();
                        Ok(match writer.adopt_blocking(candidate)? {
                            AdoptOutcome::Adopted => Verdict::Adopted,
                            AdoptOutcome::NotPreferred => Verdict::Rejected(
                                Rejection::not_preferred(len, ours, fork_choice, false),
                            ),
                            AdoptOutcome::NotStored => Verdict::Rejected(Rejection::NotStored),
                        })
                    }
                    Err(rejection) => {
                        if let Some(digest) = digest {
                            lock().remember(digest, &rejection, Instant::now());
                        }
                        Ok(Verdict::Rejected(rejection))
                    }
                }
            })
            .await;
            let verdict = match decided {
                Ok(Ok(verdict)) => verdict,
                // The writer has stopped: the node is shutting down.
                Ok(Err(WriterStopped)) => continue,
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
            if source == Source::Redis && sender_lacks_ours {
                answers.request();
            }
            if let Some(reply) = reply {
                let _ = reply.send(verdict);
            }
        }
    });
    (sender, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A pushed chain never waits for room in the queue: with the queue full it is
    /// refused as a backlog at once, so pushes cannot crowd out the Redis listener.
    #[tokio::test]
    async fn a_push_to_a_full_queue_is_refused_at_once() {
        let (tx, _rx) = mpsc::channel(1);
        let sender = sender(tx);
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

    fn sender(tx: mpsc::Sender<RawMessage>) -> IntakeSender {
        IntakeSender {
            tx,
            stats: Arc::new(SyncStats::default()),
            max_bytes: 1024,
            http_slots: Arc::new(Semaphore::new(HTTP_SHARE)),
        }
    }

    /// Pushed chains hold at most [`HTTP_SHARE`] places until their verdicts: the next
    /// push is refused as a backlog while the queue still has room, a Redis message
    /// still gets in, and a place comes back once a pushed chain is dealt with (not
    /// when its client stops waiting).
    #[tokio::test]
    async fn pushes_leave_room_for_redis() {
        let (tx, mut rx) = mpsc::channel(INTAKE_QUEUE);
        let sender = sender(tx);
        let push = || sender.submit(Bytes::from_static(b"[]"), Source::Http);
        for _ in 0..HTTP_SHARE {
            // Given up at once: the message stays queued, and holds its place.
            let waiting = tokio::time::timeout(Duration::from_millis(1), push()).await;
            assert!(waiting.is_err(), "no verdict without an intake");
        }
        assert_eq!(sender.tx.capacity(), INTAKE_QUEUE - HTTP_SHARE);
        let verdict = tokio::time::timeout(Duration::from_secs(60), push())
            .await
            .expect("no wait for room");
        assert!(
            matches!(verdict, Some(Verdict::Rejected(Rejection::Backlog))),
            "{verdict:?}"
        );
        sender.offer_payload(b"[]", Source::Redis, Instant::now());
        assert_eq!(sender.tx.capacity(), INTAKE_QUEUE - HTTP_SHARE - 1);
        assert_eq!(sender.stats.rejected()["backlog"], 1);
        drop(rx.recv().await.expect("a pushed chain"));
        assert_eq!(sender.http_slots.available_permits(), 1);
    }

    /// A pushed chain's body keeps its share of the upload budget while the intake
    /// holds it, however soon its client goes, and gives it back with the message.
    /// Before, the share went with the client's request while the bytes stayed queued.
    #[tokio::test]
    async fn a_pushed_body_holds_its_budget_until_its_verdict() {
        let (tx, mut rx) = mpsc::channel(INTAKE_QUEUE);
        let sender = sender(tx);
        let budget = crate::node::body_budget::BodyBudget::new(4096, Duration::from_secs(60));
        let body = budget
            .read(
                &axum::http::HeaderMap::new(),
                axum::body::Body::from(vec![b' '; 1000]),
                4096,
            )
            .await
            .expect("within the budget");
        assert_eq!(budget.available(), 4096 - 1000);
        // The client goes at once: its wait is dropped, the message stays queued.
        let waiting = tokio::time::timeout(Duration::from_millis(1), sender.submit_pushed(body));
        assert!(waiting.await.is_err(), "no verdict without an intake");
        assert_eq!(
            budget.available(),
            4096 - 1000,
            "the queued body holds its share"
        );
        drop(rx.recv().await.expect("the pushed chain"));
        assert_eq!(budget.available(), 4096);
    }
}
