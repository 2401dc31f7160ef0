//! Sync with the original's network: the Redis `BLOCKCHAIN` channel (subscribe,
//! publish, reconnect). The same subscription carries minichain's block
//! announcements (handed to [`announce`](super::announce)); whole chains are published
//! only as [`seed_compat`](super::seed_compat) allows. (The start-up sync from the
//! root is in [`startup_sync`](super::startup_sync).)
//!
//! Why our own reconnect loop: redis-rs's pub/sub connection never reconnects; when the
//! socket dies its stream just ends, and a half-dead TCP connection can hang with no
//! error at all. So the subscriber pings on a timer, and on any failure reconnects with
//! a doubling backoff, resubscribes, and asks the publisher to republish our chain
//! (pub/sub delivers at most once: whatever was published while we were away is lost,
//! and our peers may have missed our blocks too).
//!
//! The listener stays trivial (size check, copy, hand over): Redis disconnects a
//! subscriber whose unread output passes its buffer limit, so parsing and validation
//! happen in the intake, never here.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::{Notify, watch};

use super::announce::{ANNOUNCE_CHANNEL, AnnounceSender, AnnounceStats};
use super::answer::{AnswerStats, Answerer};
use super::config::CHANNEL;
use super::intake::{IntakeSender, Source};
use super::seed_compat::{ANNOUNCED_FIRST_WAIT, SeedCompat};
use super::state::Snapshot;

/// First wait before reconnecting; it doubles up to the configured maximum.
const INITIAL_BACKOFF: Duration = Duration::from_millis(50);

/// How long a subscription must last for the reconnect backoff to start over: one that
/// Redis (or a proxy, or its output-buffer limit) drops as soon as it is made would
/// otherwise be remade every [`INITIAL_BACKOFF`], each time republishing, telling our
/// tip and reading the block log again.
const STABLE_AFTER: Duration = Duration::from_secs(10);

/// Longest wait for a connection, a subscription or a publish.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// The Redis side's state, read by `/api/status`.
#[derive(Debug, Default)]
pub struct RedisStats {
    enabled: AtomicBool,
    connected: AtomicBool,
    reconnects: AtomicU64,
    published: AtomicU64,
    publish_errors: AtomicU64,
    answers: Arc<AnswerStats>,
    announce: Arc<AnnounceStats>,
    seed_compat: Option<Arc<SeedCompat>>,
}

impl RedisStats {
    /// Whether the node uses Redis at all.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Whether the subscription is up now.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Successful subscriptions after the first.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// Chains published.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// Publishes that failed.
    pub fn publish_errors(&self) -> u64 {
        self.publish_errors.load(Ordering::Relaxed)
    }

    /// The answers to peers with a worse chain (the [`Answerer`] counts them).
    pub fn answers(&self) -> &Arc<AnswerStats> {
        &self.answers
    }

    /// Counters with the announcement side and the seed-compat setting.
    pub fn with_network(announce: Arc<AnnounceStats>, seed_compat: Arc<SeedCompat>) -> RedisStats {
        RedisStats {
            announce,
            seed_compat: Some(seed_compat),
            ..RedisStats::default()
        }
    }

    /// Block announcements sent and received.
    pub fn announce(&self) -> &Arc<AnnounceStats> {
        &self.announce
    }

    /// Whole chains for Python peers, if set up.
    pub fn seed_compat(&self) -> Option<&Arc<SeedCompat>> {
        self.seed_compat.as_ref()
    }
}

/// What the subscriber hands announcements and `BLOCKCHAIN` sightings to.
#[derive(Debug, Clone)]
pub struct SubscriberLinks {
    /// Where messages on the announcement channel go.
    pub announcements: AnnounceSender,
    /// Told of every whole chain on `BLOCKCHAIN` (to spot Python peers).
    pub seed_compat: Arc<SeedCompat>,
    /// Notified after each (re)subscription: the block log is read then.
    pub subscribed: Arc<Notify>,
    /// Notified after each (re)subscription too: the block announcer tells our tip
    /// again then (see [`announce::publisher::run`](super::announce::publisher::run)).
    pub tell_tip: Arc<Notify>,
}

/// The settings the Redis tasks need.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// The client (holds the parsed URL).
    pub client: redis::Client,
    /// Longest backoff between reconnects.
    pub backoff_max: Duration,
    /// How often to ping the subscription.
    pub ping_interval: Duration,
}

/// Subscribes to the channel and feeds every message to the intake, reconnecting for
/// as long as the node runs.
pub async fn subscribe_loop(
    settings: RedisSettings,
    intake: IntakeSender,
    answers: Arc<Answerer>,
    publish: Arc<Notify>,
    stats: Arc<RedisStats>,
    links: SubscriberLinks,
    mut shutdown: watch::Receiver<bool>,
) {
    stats.enabled.store(true, Ordering::Relaxed);
    let mut backoff = INITIAL_BACKOFF;
    let mut subscribed_before = false;
    loop {
        let connected = tokio::select! {
            result = connect_subscriber(&settings.client) => result,
            _ = shutdown.changed() => return,
        };
        match connected {
            Ok(pubsub) => {
                stats.connected.store(true, Ordering::Relaxed);
                if subscribed_before {
                    stats.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("redis: resubscribed to {CHANNEL}");
                } else {
                    tracing::info!("redis: subscribed to {CHANNEL}");
                }
                subscribed_before = true;
                let since = tokio::time::Instant::now();
                // Peers may have missed our chain while we were away, and we theirs:
                // the block log has what was announced meanwhile.
                publish.notify_one();
                links.subscribed.notify_one();
                links.tell_tip.notify_one();
                let lost = listen(
                    pubsub,
                    &intake,
                    &links,
                    &answers,
                    settings.ping_interval,
                    &mut shutdown,
                )
                .await;
                stats.connected.store(false, Ordering::Relaxed);
                if since.elapsed() >= STABLE_AFTER {
                    backoff = INITIAL_BACKOFF;
                }
                match lost {
                    Lost::Shutdown => return,
                    Lost::Because(why) => {
                        tracing::warn!("redis: subscription lost ({why}); reconnecting")
                    }
                }
            }
            Err(err) => {
                tracing::warn!(%err, retry_in_ms = backoff.as_millis(), "redis: cannot subscribe")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(settings.backoff_max);
    }
}

async fn connect_subscriber(client: &redis::Client) -> redis::RedisResult<redis::aio::PubSub> {
    let attempt = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&[CHANNEL, ANNOUNCE_CHANNEL]).await?;
        Ok(pubsub)
    };
    match tokio::time::timeout(REDIS_TIMEOUT, attempt).await {
        Ok(result) => result,
        Err(_) => Err(redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "timed out connecting to redis",
        ))),
    }
}

enum Lost {
    Shutdown,
    Because(String),
}

async fn listen(
    pubsub: redis::aio::PubSub,
    intake: &IntakeSender,
    links: &SubscriberLinks,
    answers: &Answerer,
    ping_interval: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Lost {
    let (mut sink, mut stream) = pubsub.split();
    let mut ping = tokio::time::interval(ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(message) => {
                    let channel = message.get_channel_name();
                    if channel == CHANNEL {
                        let payload = message.get_payload_bytes();
                        answers.observe(payload);
                        links.seed_compat.observe(payload);
                        intake.offer_payload(payload, Source::Redis, Instant::now());
                    } else if channel == ANNOUNCE_CHANNEL {
                        links.announcements.offer_live(message.get_payload_bytes());
                    }
                }
                None => return Lost::Because("connection closed".into()),
            },
            _ = ping.tick() => {
                // As long as a connect may take: the pong queues behind whatever Redis
                // is sending us, and a loaded machine (a long chain being checked, a
                // build beside the node) can hold it past a second, which must not cost
                // a resubscription. A dead connection is still found within seconds.
                let patience = ping_interval.max(REDIS_TIMEOUT);
                match tokio::time::timeout(patience, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => return Lost::Because(format!("ping failed: {err}")),
                    Err(_) => return Lost::Because("ping timed out".into()),
                }
            }
            _ = shutdown.changed() => return Lost::Shutdown,
        }
    }
}

/// Publishes our chain whenever asked (after a mined block, at start, after each
/// resubscribe); requests that come while one publish runs fold into the next. Only
/// while `seed_compat` says so (a Python peer needs whole chains) and the message fits
/// under its limit; then after our tip's announcement, so that minichain peers can
/// tell our message from a Python node's.
pub async fn publish_loop(
    settings: RedisSettings,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    publish: Arc<Notify>,
    stats: Arc<RedisStats>,
    seed_compat: Arc<SeedCompat>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connection: Option<redis::aio::MultiplexedConnection> = None;
    loop {
        tokio::select! {
            _ = publish.notified() => {}
            _ = shutdown.changed() => return,
        }
        let snapshot = Arc::clone(&snapshots.borrow());
        if !seed_compat.admit_chain(snapshot.chain().len()) {
            continue;
        }
        if snapshot.chain().len() > 1 {
            seed_compat
                .known()
                .wait_for(&snapshot.chain().tip().hash, ANNOUNCED_FIRST_WAIT)
                .await;
        }
        // The message's length first (summed, not written, and off the async workers
        // when not yet known): a chain of a few large blocks passes the per-block
        // estimate above, and writing its message only to withhold it would cost a
        // copy of the whole chain, kept with the snapshot.
        let len = if snapshot.message_written() {
            snapshot.message().len() as u64
        } else {
            match snapshot.measure().await {
                Ok(()) => snapshot.message_len(),
                Err(err) => {
                    tracing::error!(%err, "measuring the chain message failed; not published");
                    continue;
                }
            }
        };
        if !seed_compat.admit_len(usize::try_from(len).unwrap_or(usize::MAX)) {
            continue;
        }
        // A restarted node writes its first message off the start-up path: wait for it
        // off the async workers.
        let message = if snapshot.message_written() {
            snapshot.message().clone()
        } else {
            match tokio::task::spawn_blocking(move || snapshot.message().clone()).await {
                Ok(message) => message,
                Err(err) => {
                    tracing::error!(%err, "writing the chain message failed; not published");
                    continue;
                }
            }
        };
        // One retry on a fresh connection; if Redis is down, the subscriber's
        // reconnect asks for a republish anyway.
        for _ in 0..2 {
            let Some(conn) = ensure_connection(&settings.client, &mut connection).await else {
                stats.publish_errors.fetch_add(1, Ordering::Relaxed);
                break;
            };
            let mut command = redis::cmd("PUBLISH");
            command.arg(CHANNEL).arg(message.as_ref());
            let publish = command.query_async::<i64>(conn);
            match tokio::time::timeout(REDIS_TIMEOUT, publish).await {
                Ok(Ok(receivers)) => {
                    stats.published.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(
                        receivers,
                        bytes = message.len(),
                        "redis: published our chain"
                    );
                    break;
                }
                Ok(Err(err)) => tracing::warn!(%err, "redis: publish failed"),
                Err(_) => tracing::warn!("redis: publish timed out"),
            }
            stats.publish_errors.fetch_add(1, Ordering::Relaxed);
            connection = None;
        }
    }
}

/// The publishing connection, opened (with timeouts) when there is none; `None` when
/// Redis cannot be reached.
pub(crate) async fn ensure_connection<'a>(
    client: &redis::Client,
    connection: &'a mut Option<redis::aio::MultiplexedConnection>,
) -> Option<&'a mut redis::aio::MultiplexedConnection> {
    if connection.is_none() {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT));
        match client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(conn) => *connection = Some(conn),
            Err(err) => {
                tracing::debug!(%err, "redis: cannot connect to publish");
                return None;
            }
        }
    }
    connection.as_mut()
}

/// Whether `root` names this node itself (it then skips the start-up sync).
pub fn is_self(root: &str, bound: SocketAddr) -> bool {
    let Ok(url) = reqwest::Url::parse(root) else {
        return false;
    };
    if url.port_or_known_default() != Some(bound.port()) {
        return false;
    }
    let Some(host) = url.host_str() else {
        return false;
    };
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(ip) => same_host(ip, bound.ip()),
        Err(_) => host.eq_ignore_ascii_case("localhost") && bound_is_local(bound.ip()),
    }
}

fn bound_is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified()
}

fn same_host(root: IpAddr, bound: IpAddr) -> bool {
    root == bound
        || (bound.is_unspecified() && root.is_loopback())
        || (root.is_loopback() && bound.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A root on our own port and a loopback host is ourselves; other ports are not.
    #[test]
    fn recognizes_itself() {
        let bound: SocketAddr = "127.0.0.1:8000".parse().expect("addr");
        assert!(is_self("http://127.0.0.1:8000", bound));
        assert!(is_self("http://localhost:8000/", bound));
        assert!(!is_self("http://127.0.0.1:8001", bound));
        assert!(!is_self("http://10.0.0.1:8000", bound));
        assert!(!is_self("not a url", bound));
        let any: SocketAddr = "0.0.0.0:80".parse().expect("addr");
        assert!(is_self("http://127.0.0.1", any));
    }
}
