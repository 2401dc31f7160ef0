//! Announces each new tip: appends the announcement to the block log (`XADD ... MAXLEN
//! ~ N`), then publishes it on [`ANNOUNCE_CHANNEL`] with the log entry's id in front.
//!
//! It watches the chain's snapshots rather than being told: a mined block, a chain
//! pushed over HTTP, one adopted from a Python node or filled from a range fetch all
//! change the snapshot. A tip that a peer announced (the receiver marks it known
//! before adopting it) is not announced again: every minichain node on this Redis
//! heard it already. Snapshots that come faster than Redis answers fold into one
//! announcement carrying all their new blocks (up to the message's limits), and a
//! failed announcement is retried every second until Redis takes it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use super::message::{self, ANNOUNCED_BLOCKS_MAX, StreamId};
use super::{ANNOUNCE_CHANNEL, AnnounceStats, Identity, KnownTips, bump};
use crate::chain::Block;
use crate::chain::compact::ChainBlocks;
use crate::node::answer::claim_key;
use crate::node::state::Snapshot;
use crate::node::stream_log::STREAM_KEY;

/// Least time between two re-announcements of the same tip (to peers that announced a
/// worse chain).
const REANNOUNCE_INTERVAL: Duration = Duration::from_secs(2);

/// How often a failed announcement is retried.
const RETRY: Duration = Duration::from_secs(1);

/// How many times our tip is told after each (re)subscription.
const TELLS: u8 = 2;

/// The time between those tellings: past the longest reconnect backoff of a peer with
/// the default settings (5 s), so that peers coming back to a restarted Redis after
/// us hear the second.
const TELL_AGAIN: Duration = Duration::from_secs(6);

/// What the publisher needs.
#[derive(Debug, Clone)]
pub struct PublisherSettings {
    /// The Redis client.
    pub client: redis::Client,
    /// Who we are.
    pub identity: Identity,
    /// The block log's approximate length (`MAXLEN ~`); 0 keeps no log.
    pub log_max_len: usize,
}

/// Runs until shutdown (see the module doc). `reannounce` asks for our tip to be
/// announced again on the channel only (a peer announced a worse chain); `subscribed`
/// says the node's subscription to Redis is (again) up, after which our tip is told
/// on the channel at once and once more `TELL_AGAIN` (6 s) later.
///
/// Why the tip is told after every (re)subscription, each time retried until Redis
/// takes it: blocks mined while Redis was down (or before a restart) were never
/// announced, and a peer learns of them only from an announcement; one lost to a Redis
/// that was still down left a peer behind until the next block (a review's node,
/// restarted while Redis was down, was never caught up to). Told twice because peers
/// come back to a restarted Redis each after its own backoff: the second reaches those
/// that were not yet listening at the first. Not in the log: a peer that reads the log
/// from far behind takes its newest entry, which must be the network's newest tip, not
/// a restarted node's.
pub async fn run(
    settings: PublisherSettings,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    known: Arc<KnownTips>,
    stats: Arc<AnnounceStats>,
    reannounce: Arc<Notify>,
    subscribed: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut announced = Arc::clone(&snapshots.borrow_and_update());
    let mut connection: Option<redis::aio::MultiplexedConnection> = None;
    let mut pending = false;
    let mut last_reannounce: Option<(String, Instant)> = None;
    // Tellings of our tip still to make after the last (re)subscription, and when the
    // next is due.
    let mut tells_left = 0u8;
    let mut tell_at = tokio::time::Instant::now();
    let mut retry = tokio::time::interval(RETRY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            changed = snapshots.changed() => {
                if changed.is_err() {
                    return;
                }
                pending = true;
            }
            () = subscribed.notified() => {
                tells_left = TELLS;
                tell_at = tokio::time::Instant::now();
                continue;
            }
            () = tokio::time::sleep_until(tell_at), if tells_left > 0 => {
                let snapshot = Arc::clone(&snapshots.borrow());
                if snapshot.chain().len() < 2 {
                    tells_left = 0;
                    continue;
                }
                let sent = match tip_entry(&settings, &snapshot) {
                    Some(entry) => send(&settings, &mut connection, &entry, false, &stats).await,
                    None => Ok(()),
                };
                match sent {
                    Ok(()) => {
                        tells_left -= 1;
                        tell_at = tokio::time::Instant::now() + TELL_AGAIN;
                    }
                    Err(()) => {
                        connection = None;
                        tell_at = tokio::time::Instant::now() + RETRY;
                    }
                }
                continue;
            }
            _ = reannounce.notified() => {
                let snapshot = Arc::clone(&snapshots.borrow());
                let tip = snapshot.chain().tip();
                let recent = last_reannounce
                    .as_ref()
                    .is_some_and(|(hash, at)| *hash == tip.hash && at.elapsed() < REANNOUNCE_INTERVAL);
                if recent || snapshot.chain().len() < 2 {
                    continue;
                }
                last_reannounce = Some((tip.hash.clone(), Instant::now()));
                if !claim_reannouncement(&settings, &mut connection, &tip.hash).await {
                    tracing::debug!("another node re-announces our tip: not re-announcing");
                    continue;
                }
                if let Some(entry) = tip_entry(&settings, &snapshot)
                    && send(&settings, &mut connection, &entry, false, &stats).await.is_err()
                {
                    connection = None;
                }
                continue;
            }
            _ = retry.tick(), if pending => {}
            _ = shutdown.changed() => return,
        }
        let snapshot = Arc::clone(&snapshots.borrow_and_update());
        let tip = snapshot.chain().tip();
        if tip.hash == announced.chain().tip().hash || known.contains(&tip.hash) {
            announced = snapshot;
            pending = false;
            continue;
        }
        let blocks = new_blocks(announced.chain().blocks(), snapshot.chain().blocks());
        let Some(entry) = message::encode(
            &settings.identity.node,
            &settings.identity.peer,
            snapshot.chain().work(),
            &blocks,
        ) else {
            pending = false;
            continue;
        };
        match send(&settings, &mut connection, &entry, true, &stats).await {
            Ok(()) => {
                known.insert(&tip.hash);
                announced = snapshot;
                pending = false;
            }
            Err(()) => connection = None,
        }
    }
}

/// Claims the re-announcement of `tip` among the nodes on this Redis for
/// [`REANNOUNCE_INTERVAL`] (`SET minichain:blocks:reannounced:<tip> NX PX ...`): true
/// when this node got it, or when Redis cannot say (the announcement then fails or goes
/// out as it would have). Why: every node on the best tip hears the same worse
/// announcement, so without a claim one forged message makes each of them re-announce,
/// N messages for one; with it, one node does, as with answers on `BLOCKCHAIN`.
async fn claim_reannouncement(
    settings: &PublisherSettings,
    connection: &mut Option<redis::aio::MultiplexedConnection>,
    tip: &str,
) -> bool {
    let Some(conn) = crate::node::sync::ensure_connection(&settings.client, connection).await
    else {
        return true;
    };
    let key = format!("{ANNOUNCE_CHANNEL}:reannounced:{tip}");
    claim_key(conn, &key, REANNOUNCE_INTERVAL)
        .await
        .unwrap_or(true)
}

/// An announcement of `snapshot`'s tip alone (telling where we stand, not what is new).
fn tip_entry(settings: &PublisherSettings, snapshot: &Snapshot) -> Option<Vec<u8>> {
    message::encode(
        &settings.identity.node,
        &settings.identity.peer,
        snapshot.chain().work(),
        &[snapshot.chain().tip().clone()],
    )
}

/// The blocks of `new` that `old` lacks at the same height, the newest
/// [`ANNOUNCED_BLOCKS_MAX`] at most; at least the tip.
pub fn new_blocks(old: &ChainBlocks, new: &ChainBlocks) -> Vec<Block> {
    let mut start = new.len();
    while start > 0 && new.len() - start < ANNOUNCED_BLOCKS_MAX {
        let i = start - 1;
        if old.hash(i).is_some_and(|h| new.hash(i) == Some(h)) {
            break;
        }
        start = i;
    }
    new.iter_from(start.min(new.len().saturating_sub(1)))
        .map(|b| b.to_block())
        .collect()
}

/// Appends `entry` to the log (when `log` and the log is kept), then publishes it with
/// the entry's id; counts the outcome.
async fn send(
    settings: &PublisherSettings,
    connection: &mut Option<redis::aio::MultiplexedConnection>,
    entry: &[u8],
    log: bool,
    stats: &AnnounceStats,
) -> Result<(), ()> {
    let Some(conn) = crate::node::sync::ensure_connection(&settings.client, connection).await
    else {
        bump(&stats.publish_errors);
        return Err(());
    };
    let mut id = None;
    if log && settings.log_max_len > 0 {
        let added = redis::cmd("XADD")
            .arg(STREAM_KEY)
            .arg("MAXLEN")
            .arg("~")
            .arg(settings.log_max_len)
            .arg("*")
            .arg("a")
            .arg(entry)
            .query_async::<String>(conn)
            .await;
        match added {
            Ok(text) => {
                bump(&stats.logged);
                id = StreamId::parse(&text);
            }
            // Announced all the same, without a log id: a Redis that refuses the log
            // (out of memory under `noeviction`, a read-only replica, another value at
            // the log's key) still carries live announcements, and peers without the
            // entry in their catch-up are no worse off than without a log.
            Err(err) => {
                tracing::warn!(%err, "redis: appending to the block log failed; announcing without it");
                bump(&stats.publish_errors);
            }
        }
    }
    let message = message::with_log_id(id, entry);
    match redis::cmd("PUBLISH")
        .arg(ANNOUNCE_CHANNEL)
        .arg(&message)
        .query_async::<i64>(conn)
        .await
    {
        Ok(receivers) => {
            bump(&stats.published);
            stats
                .published_bytes
                .fetch_add(message.len() as u64, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(receivers, bytes = message.len(), "redis: announced our tip");
            Ok(())
        }
        Err(err) => {
            tracing::warn!(%err, "redis: announcing failed");
            bump(&stats.publish_errors);
            Err(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::miner::synthetic::synthetic_chain;

    /// Only the blocks that differ travel: one after a mined block, the fork's blocks
    /// after a reorganization, never more than the limit, always the tip.
    #[test]
    fn new_blocks_are_the_suffix_that_differs() {
        let compact = |blocks: &[Block]| {
            let mut c = ChainBlocks::default();
            for b in blocks {
                c.push(b);
            }
            c
        };
        let chain = synthetic_chain(40);
        let all = compact(&chain);
        assert_eq!(new_blocks(&compact(&chain[..39]), &all).len(), 1);
        assert_eq!(new_blocks(&compact(&chain[..35]), &all).len(), 5);
        assert_eq!(
            new_blocks(&compact(&chain[..1]), &all).len(),
            ANNOUNCED_BLOCKS_MAX
        );
        assert_eq!(new_blocks(&all, &all).len(), 1, "the tip at least");
        let mut fork = chain[..30].to_vec();
        fork[29].hash = "f".repeat(64);
        assert_eq!(new_blocks(&compact(&fork), &compact(&chain[..32])).len(), 3);
    }
}
