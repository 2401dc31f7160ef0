//! Answers to peers that lack our chain, bounded so that they cannot be used to
//! amplify traffic.
//!
//! The original publishes its whole chain whenever it receives a worse one: a
//! 163-byte message holding only genesis makes every node on the channel publish its
//! whole chain, N nodes times the chain's size per message. The behaviour is worth
//! keeping (pub/sub delivers at most once, so a peer that was away needs our chain),
//! but here a node answers
//! - at most once per interval **per tip**;
//! - after a random delay (jitter), so that the nodes of a network do not all answer
//!   at once;
//! - and not at all when, during that delay, another node published the same chain
//!   (the listener shows the answerer every message on the channel:
//!   [`observe`](Answerer::observe)), or
//!   claimed the answer first: before publishing, a node claims the tip in Redis with
//!   `SET BLOCKCHAIN:answered:<tip> NX PX <interval>`, so among minichain nodes
//!   exactly one answers per interval even when their delays end together.
//!
//! So a flood of worse chains costs the network at most one whole-chain message per
//! interval and tip, whoever sends it and however many nodes listen.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use super::config::CHANNEL;
use super::state::Snapshot;

/// Longest wait for the claim in Redis; past it the node answers anyway (an answer
/// too many is better than a peer left without our chain).
const CLAIM_TIMEOUT: Duration = Duration::from_secs(2);

/// How many answers were sent and withheld (read by `/api/status` through the Redis
/// counters).
#[derive(Debug, Default)]
pub struct AnswerStats {
    sent: AtomicU64,
    withheld: AtomicU64,
}

impl AnswerStats {
    /// Answers sent to peers with a worse chain.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Answers not sent: our tip went out within the interval, another node answered
    /// or claimed it first, or one was already scheduled.
    pub fn withheld(&self) -> u64 {
        self.withheld.load(Ordering::Relaxed)
    }
}

/// Decides when the node answers a worse chain with its own (see the module doc).
#[derive(Debug)]
pub struct Answerer {
    state: Mutex<AnswerState>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    publish: Arc<Notify>,
    claims: Option<redis::Client>,
    stats: Arc<AnswerStats>,
    interval: Duration,
    delay_max: Duration,
    seed_compat: Option<Arc<super::seed_compat::SeedCompat>>,
}

#[derive(Debug, Default)]
struct AnswerState {
    /// The tip last answered with (by us, or by another node while our answer
    /// waited) and when.
    last: Option<(String, Instant)>,
    /// The answer waiting for its delay: its tip and its number.
    pending: Option<(String, u64)>,
    /// Numbers the pending answers.
    generation: u64,
}

impl Answerer {
    /// An answerer that asks `publish` to send our chain; `claims` is the Redis the
    /// answers are claimed in (`None`: no claim, only the observation).
    pub fn new(
        snapshots: watch::Receiver<Arc<Snapshot>>,
        publish: Arc<Notify>,
        claims: Option<redis::Client>,
        stats: Arc<AnswerStats>,
        interval: Duration,
        delay_max: Duration,
    ) -> Answerer {
        Answerer {
            state: Mutex::new(AnswerState::default()),
            snapshots,
            publish,
            claims,
            stats,
            interval,
            delay_max,
            seed_compat: None,
        }
    }

    /// Answers only while `seed_compat` publishes whole chains (answers are whole
    /// chains on `BLOCKCHAIN`); the others are counted as withheld.
    pub fn with_seed_compat(
        mut self,
        seed_compat: Arc<super::seed_compat::SeedCompat>,
    ) -> Answerer {
        self.seed_compat = Some(seed_compat);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AnswerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn tip(&self) -> String {
        self.snapshots.borrow().chain().tip().hash.clone()
    }

    /// A peer sent a chain worse than ours: schedules an answer with our chain unless
    /// one with our tip was made within the interval (by us, or by another node while
    /// ours waited) or one is already scheduled. Call from the runtime (it spawns the
    /// delayed answer).
    pub fn request(self: &Arc<Self>) {
        if self.seed_compat.as_ref().is_some_and(|c| !c.active()) {
            self.stats.withheld.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let tip = self.tip();
        let generation = {
            let mut state = self.lock();
            let recent = state
                .last
                .as_ref()
                .is_some_and(|(t, at)| *t == tip && at.elapsed() < self.interval);
            let scheduled = state.pending.as_ref().is_some_and(|(t, _)| *t == tip);
            if recent || scheduled {
                self.stats.withheld.fetch_add(1, Ordering::Relaxed);
                return;
            }
            state.generation += 1;
            let generation = state.generation;
            state.pending = Some((tip.clone(), generation));
            generation
        };
        let delay = random_delay(self.delay_max);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            this.fire(tip, generation).await;
        });
    }

    /// After the delay: answers unless the answer was cancelled, our tip moved, or
    /// another node claimed it.
    async fn fire(&self, tip: String, generation: u64) {
        {
            let mut state = self.lock();
            if state.pending.as_ref() != Some(&(tip.clone(), generation)) {
                return;
            }
            state.pending = None;
        }
        if self.tip() != tip {
            // Our chain changed meanwhile; its own publish (if any) supersedes this.
            return;
        }
        if let Some(client) = &self.claims
            && !self.claim(client, &tip).await
        {
            self.stats.withheld.fetch_add(1, Ordering::Relaxed);
            self.lock().last = Some((tip, Instant::now()));
            tracing::debug!("another node answers with our tip: not answering");
            return;
        }
        self.lock().last = Some((tip, Instant::now()));
        self.stats.sent.fetch_add(1, Ordering::Relaxed);
        tracing::debug!("a peer published a worse chain: answering with ours");
        self.publish.notify_one();
    }

    /// Claims the answer for `tip` in Redis; true when this node got it, or when Redis
    /// cannot say (then the node answers anyway).
    async fn claim(&self, client: &redis::Client, tip: &str) -> bool {
        let attempt = async {
            let mut conn = client.get_multiplexed_async_connection().await?;
            claim_key(
                &mut conn,
                &format!("{CHANNEL}:answered:{tip}"),
                self.interval,
            )
            .await
        };
        match tokio::time::timeout(CLAIM_TIMEOUT, attempt).await {
            Ok(Ok(claimed)) => claimed,
            Ok(Err(err)) => {
                tracing::debug!(%err, "redis: cannot claim the answer; answering anyway");
                true
            }
            Err(_) => true,
        }
    }

    /// A message went by on the channel (called by the listener for each, before the
    /// intake sees it): when it is exactly our chain and an answer with that tip waits
    /// for its delay, another node has just answered, so ours is cancelled and no
    /// answer with the tip follows for an interval. A publish of our chain seen while
    /// no answer waits proves nothing (the peer with the worse chain may have
    /// subscribed after it), so it changes nothing. Costs a length compare, and a byte
    /// compare only for a message of our length.
    pub fn observe(&self, payload: &[u8]) {
        if self.lock().pending.is_none() {
            return;
        }
        let tip = {
            // Not under the channel's lock: the message may still be being written.
            let snapshot = Arc::clone(&self.snapshots.borrow());
            // This runs on the Redis listener's async task: a chain not measured yet
            // (just adopted, a million blocks long, say) is not measured here, and such
            // a message is let by (the answer then goes out: one more at most).
            if !snapshot.message_written() && !snapshot.is_measured() {
                return;
            }
            if !snapshot.is_message(payload) {
                return;
            }
            snapshot.chain().tip().hash.clone()
        };
        let mut state = self.lock();
        if state.pending.as_ref().is_some_and(|(t, _)| *t == tip) {
            state.pending = None;
            state.last = Some((tip, Instant::now()));
            self.stats.withheld.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("another node answered with our tip: cancelled our answer");
        }
    }
}

/// Claims `key` among the nodes on one Redis for `ttl` (at least a millisecond):
/// `SET key 1 NX PX ttl`, true when this node set it, false when another node holds it.
/// How the nodes of a network leave one of them to answer (here) or to re-announce
/// (the announcement publisher) for each tip.
///
/// # Errors
/// Redis's, when it could not say.
pub(crate) async fn claim_key(
    conn: &mut redis::aio::MultiplexedConnection,
    key: &str,
    ttl: Duration,
) -> redis::RedisResult<bool> {
    let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    let set: Option<String> = redis::cmd("SET")
        .arg(key)
        .arg(1)
        .arg("NX")
        .arg("PX")
        .arg(millis)
        .query_async(conn)
        .await?;
    Ok(set.is_some())
}

/// A random duration in `[0, max]`, from std's randomly keyed hasher (jitter needs no
/// more than that).
fn random_delay(max: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let max_micros = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(random % max_micros.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::chain::ValidChain;

    fn answerer(snapshot: &Arc<Snapshot>) -> (Arc<Answerer>, Arc<AnswerStats>, Arc<Notify>) {
        let (tx, rx) = watch::channel(Arc::clone(snapshot));
        // The sender may go: the receiver keeps the last value.
        drop(tx);
        let publish = Arc::new(Notify::new());
        let stats = Arc::new(AnswerStats::default());
        let answers = Answerer::new(
            rx,
            Arc::clone(&publish),
            None,
            Arc::clone(&stats),
            Duration::from_secs(600),
            Duration::from_millis(20),
        );
        (Arc::new(answers), stats, publish)
    }

    async fn wait_sent(stats: &AnswerStats, n: u64) {
        for _ in 0..1000 {
            if stats.sent() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no answer sent");
    }

    /// One answer per interval and tip: the first request is answered (after its
    /// delay), the next ones within the interval are withheld.
    #[tokio::test]
    async fn one_answer_per_interval_and_tip() {
        let snapshot = Arc::new(Snapshot::of_chain(ValidChain::genesis()));
        let (answers, stats, publish) = answerer(&snapshot);
        answers.request();
        answers.request();
        wait_sent(&stats, 1).await;
        publish.notified().await;
        answers.request();
        assert_eq!((stats.sent(), stats.withheld()), (1, 2));
    }

    /// Our chain seen on the channel while an answer waits (another node answered)
    /// cancels it; seen while none waits, it changes nothing.
    #[tokio::test]
    async fn a_publish_seen_during_the_delay_cancels_the_answer() {
        let snapshot = Arc::new(Snapshot::of_chain(ValidChain::genesis()));
        let (answers, stats, _publish) = answerer(&snapshot);
        answers.observe(snapshot.message());
        answers.observe(b"[another chain]");
        assert_eq!(stats.withheld(), 0);
        // Both calls run before the delayed answer's task can start.
        answers.request();
        answers.observe(snapshot.message());
        assert_eq!(stats.withheld(), 1);
        answers.request();
        assert_eq!(stats.withheld(), 2, "answered by another node: withheld");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(stats.sent(), 0);
    }

    /// A chain whose lengths are not measured yet is not measured by a message going
    /// by (that runs on the Redis listener's async task, and a long chain takes a
    /// second or more): the message is let by, and the answer is not cancelled.
    #[tokio::test]
    async fn an_unmeasured_chain_is_not_measured_by_a_passing_message() {
        let chain = crate::miner::synthetic::synthetic_valid_chain(100);
        let written = Snapshot::of_chain(chain.clone()).message().clone();
        let snapshot = Arc::new(Snapshot::of_chain(chain));
        let (answers, stats, _publish) = answerer(&snapshot);
        answers.request();
        answers.observe(&written);
        assert!(!snapshot.is_measured(), "measured on the listener's task");
        assert_eq!(stats.withheld(), 0);
        // Once measured (the publisher does it off the async workers), it is compared.
        snapshot.message_len();
        answers.observe(&written);
        assert_eq!(stats.withheld(), 1);
    }

    /// The delay stays within its bound and varies.
    #[test]
    fn delays_are_bounded_and_vary() {
        let max = Duration::from_millis(500);
        let delays: Vec<Duration> = (0..50).map(|_| random_delay(max)).collect();
        assert!(delays.iter().all(|d| *d <= max));
        assert!(delays.iter().any(|d| *d != delays[0]));
        assert_eq!(random_delay(Duration::ZERO), Duration::ZERO);
    }
}
