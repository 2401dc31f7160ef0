//! The block log: every announcement is also appended to a Redis Stream
//! ([`STREAM_KEY`], trimmed with `MAXLEN ~ N`), so a node that was away reads what it
//! missed from the last entry it handled instead of asking for the chain.
//!
//! Why a stream and a position in the store: pub/sub delivers at most once, so a node
//! that was stopped or disconnected misses announcements; the stream keeps them in
//! order, and [`LogPosition`] (a key in the store's `meta` table) survives a restart.
//! At start and after each reconnect, once subscribed (so nothing published from then
//! on is missed), the reader sends the entries after the position to the
//! [`receiver`](super::announce::receiver), which merges runs of blocks into one
//! validation and one store transaction. A node further behind than the stream holds
//! (its position is older than the oldest entry, or it has none) reads only the newest
//! entry, whose missing parent becomes one [`GapRequest`](super::gap::GapRequest) for
//! the range fetch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, watch};

use super::announce::message::ANNOUNCE_MAX_BYTES;
use super::announce::{AnnounceSender, AnnounceStats, StreamId};
use crate::store::MetaKeys;

/// The Redis Stream the announcements are appended to.
pub const STREAM_KEY: &str = "minichain:blocks:log";

/// The store's `meta` key holding the last log entry handled.
pub const POSITION_KEY: &str = "block_log_position";

/// Default approximate length of the log: at 2 s blocks, more than five hours of
/// blocks (a node away longer fetches its gap over HTTP), a few MB of Redis memory.
pub const DEFAULT_LOG_MAX_LEN: usize = 10_000;

/// Most entries in one page of the log (see [`range`]).
const READ_BATCH: usize = 64;

/// The most bytes of entries one page of the log brings (its first entry comes whatever
/// its size, up to [`ANNOUNCE_MAX_BYTES`]): the receiver applies what a catch-up
/// gathers at 16 MiB, so a larger page would gain nothing.
pub const PAGE_MAX_BYTES: usize = 16 * 1024 * 1024;

/// How many times a catch-up reads up to the newest entry it sees (looking again once
/// it gets there): enough for what was appended while it read, bounded against a
/// writer that appends as fast as it reads.
const CATCH_UP_ROUNDS: usize = 3;

/// Longest wait for Redis during a catch-up.
const TIMEOUT: Duration = Duration::from_secs(5);

/// How far in the log this node has handled entries; kept in the store when there is
/// one (see [`crate::store::meta`]).
#[derive(Debug)]
pub struct LogPosition {
    current: Mutex<Option<StreamId>>,
    keys: Option<MetaKeys>,
}

impl LogPosition {
    /// The position saved in the store (blocking: call off the async workers), or none.
    pub fn load(keys: Option<MetaKeys>) -> LogPosition {
        let saved = keys.as_ref().and_then(|keys| match keys.get(POSITION_KEY) {
            Ok(value) => value
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| StreamId::parse(&text)),
            Err(err) => {
                tracing::warn!(%err, "block log: cannot read the saved position; starting without");
                None
            }
        });
        LogPosition {
            current: Mutex::new(saved),
            keys,
        }
    }

    /// The last entry handled.
    pub fn get(&self) -> Option<StreamId> {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the position back to `id`: the log was started again and its ids lag the
    /// saved one (blocking: writes the store).
    pub fn restart_at(&self, id: StreamId) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(id);
        self.save(id);
    }

    /// Moves the position to `id` if it is further (blocking: writes the store).
    pub fn advance(&self, id: StreamId) {
        {
            let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
            if current.is_some_and(|c| c >= id) {
                return;
            }
            *current = Some(id);
        }
        self.save(id);
    }

    /// Writes `id` to the store, when there is one (blocking).
    fn save(&self, id: StreamId) {
        if let Some(keys) = &self.keys
            && let Err(err) = keys.put(POSITION_KEY, id.to_string().as_bytes())
        {
            tracing::warn!(%err, "block log: cannot save the position");
        }
    }
}

/// What the log reader needs.
#[derive(Debug)]
pub struct LogReader {
    /// The Redis client.
    pub client: redis::Client,
    /// Where entries go.
    pub sender: AnnounceSender,
    /// Where reading resumes.
    pub position: Arc<LogPosition>,
    /// Set while a catch-up runs (the receiver clears it at the end marker).
    pub catching_up: Arc<AtomicBool>,
    /// Counters.
    pub stats: Arc<AnnounceStats>,
}

/// Catches up once each time `subscribed` is notified (the subscriber is
/// (re)subscribed); runs until shutdown.
pub async fn run(reader: LogReader, subscribed: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = subscribed.notified() => {}
            _ = shutdown.changed() => return,
        }
        reader.catching_up.store(true, Ordering::Relaxed);
        reader.stats.note_catch_up();
        match catch_up(&reader).await {
            Ok(0) => tracing::debug!("block log: nothing to catch up"),
            Ok(entries) => tracing::info!(entries, "block log: caught up"),
            Err(err) => {
                tracing::warn!(%err, "block log: catch-up failed (the next reconnect retries)")
            }
        }
        if !reader.sender.catch_up_done().await {
            return;
        }
    }
}

/// Sends the entries after the position (or only the newest, when the position is
/// older than the log or missing); how many.
async fn catch_up(reader: &LogReader) -> redis::RedisResult<usize> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT));
    let mut conn = reader
        .client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    // The oldest entry's id, whatever it holds: a stranger's entry first in the log
    // must not pass for an empty log.
    let Some(oldest) = edge(&mut conn, Edge::Oldest).await? else {
        return Ok(0);
    };
    // A position past the newest entry means the log was started again (a Redis that
    // lost its data, whose new ids may lag the old ones): nothing after it would be
    // read until the new ids passed it, so it counts as no position.
    let Some(newest) = edge(&mut conn, Edge::Newest).await? else {
        return Ok(0);
    };
    let mut position = reader.position.get();
    if let Some(from) = position
        && from > newest
    {
        tracing::info!(
            position = %from,
            newest = %newest,
            "block log: the saved position is past the newest entry (the log was started \
             again); reading its newest announcement"
        );
        let restarted = Arc::clone(&reader.position);
        // Written to the store off the async workers.
        let _ = tokio::task::spawn_blocking(move || restarted.restart_at(newest)).await;
        position = None;
    }
    let Some(mut from) = position.filter(|&from| from >= oldest) else {
        // Further behind than the log holds (or new, or the log is new): only the
        // newest announcement, whose missing parent sends us to the range fetch.
        // (A page of the newest, for the case that the very newest is a stranger's.)
        let newest = range(&mut conn, "XREVRANGE", "+", "-", READ_BATCH).await?;
        let Some((id, entry)) = newest.into_iter().find_map(|(id, item)| match item {
            LogItem::Entry(entry) => Some((id, entry)),
            LogItem::TooLarge(len) => {
                reader.sender.reject_too_large(len);
                None
            }
            LogItem::Stranger => None,
        }) else {
            return Ok(0);
        };
        let sent = usize::from(reader.sender.send_logged(id, entry).await);
        return Ok(sent);
    };
    // Up to the newest entry when the catch-up began, then up to the newest again, a
    // few times at most: what came meanwhile came on the channel too (subscribed before
    // this began) unless the receiver's queue, full of log entries, dropped it, and a
    // writer adding entries as fast as they are read must not keep the catch-up (and
    // the blocks it gathers) going for ever.
    let mut newest = newest;
    let mut sent = 0;
    for round in 0..CATCH_UP_ROUNDS {
        if round > 0 {
            match edge(&mut conn, Edge::Newest).await? {
                Some(id) if id > from => newest = id,
                _ => break,
            }
        }
        let end = newest.to_string();
        while from < newest {
            let start = format!("({from}");
            let entries = range(&mut conn, "XRANGE", &start, &end, READ_BATCH).await?;
            // Pages end by what the log held, not by what could be used: a stranger's
            // entry in a page must neither end the catch-up nor be read again. A page
            // may end early by its bytes, so only an empty one, or the newest entry,
            // ends a round.
            if entries.is_empty() {
                break;
            }
            for (id, item) in entries {
                from = id;
                match item {
                    LogItem::Entry(entry) => {
                        if !reader.sender.send_logged(id, entry).await {
                            return Ok(sent);
                        }
                        sent += 1;
                    }
                    LogItem::TooLarge(len) => reader.sender.reject_too_large(len),
                    LogItem::Stranger => {}
                }
            }
        }
    }
    Ok(sent)
}

/// Reads a page of the log without letting its size reach us unbounded: up to `count`
/// entries of `XRANGE` (or `XREVRANGE`) `start end`, read one by one inside Redis by
/// [`PAGE_SCRIPT`] (so the script never holds more than one entry beyond the page),
/// which answers in `XRANGE`'s shape but stops before the entry that would take the
/// page past [`PAGE_MAX_BYTES`] (the first entry always comes), and answers an entry
/// whose `a` field is over [`ANNOUNCE_MAX_BYTES`] with its length alone (an `n` field).
///
/// Why in Redis: anyone who can write to Redis can write the log, and a plain `XRANGE`
/// reply is read whole before a byte of it can be looked at: 64 entries of 512 MB (the
/// largest string Redis keeps) would be 32 GB in this process.
async fn range(
    conn: &mut redis::aio::MultiplexedConnection,
    command: &str,
    start: &str,
    end: &str,
    count: usize,
) -> redis::RedisResult<Vec<(StreamId, LogItem)>> {
    page(conn, command, start, end, count, ANNOUNCE_MAX_BYTES).await
}

/// The log's oldest or newest entry's id, whatever the entry holds, without its value
/// (the script is told that no entry may hold a byte, so an announcement comes back as
/// its length alone): a catch-up looks at both ends before it reads, and again after
/// each round.
async fn edge(
    conn: &mut redis::aio::MultiplexedConnection,
    edge: Edge,
) -> redis::RedisResult<Option<StreamId>> {
    let (command, start, end) = match edge {
        Edge::Oldest => ("XRANGE", "-", "+"),
        Edge::Newest => ("XREVRANGE", "+", "-"),
    };
    let found = page(conn, command, start, end, 1, 0).await?;
    Ok(found.first().map(|&(id, _)| id))
}

/// An end of the log ([`edge`]).
#[derive(Debug, Clone, Copy)]
enum Edge {
    Oldest,
    Newest,
}

/// [`PAGE_SCRIPT`] on `start end COUNT count`, an entry's value coming whole only up to
/// `largest` bytes.
async fn page(
    conn: &mut redis::aio::MultiplexedConnection,
    command: &str,
    start: &str,
    end: &str,
    count: usize,
    largest: usize,
) -> redis::RedisResult<Vec<(StreamId, LogItem)>> {
    let reply: redis::Value = PAGE_SCRIPT
        .key(STREAM_KEY)
        .arg(command)
        .arg(start)
        .arg(end)
        .arg(count)
        .arg(PAGE_MAX_BYTES)
        .arg(largest)
        .invoke_async(conn)
        .await?;
    Ok(entries(reply))
}

/// The Lua run by [`page`]: `KEYS[1]` the log; `ARGV` the command, start, end, count,
/// the page's byte budget and an entry's largest size.
static PAGE_SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
local command, key, from, to = ARGV[1], KEYS[1], ARGV[2], ARGV[3]
local count = tonumber(ARGV[4])
local budget = tonumber(ARGV[5])
local largest = tonumber(ARGV[6])
local page = {}
local used = 0
while #page < count do
  local item = redis.call(command, key, from, to, 'COUNT', 1)[1]
  if item == nil then
    break
  end
  local fields = item[2]
  local value = nil
  for i = 1, #fields - 1, 2 do
    if fields[i] == 'a' then
      value = fields[i + 1]
      break
    end
  end
  if value == nil then
    page[#page + 1] = {item[1], {}}
  elseif #value > largest then
    page[#page + 1] = {item[1], {'n', tostring(#value)}}
  else
    if #page > 0 and used + #value > budget then
      break
    end
    used = used + #value
    page[#page + 1] = {item[1], {'a', value}}
  end
  from = '(' .. item[1]
end
return page
",
    )
});

/// An entry of the log as a page brings it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LogItem {
    /// An announcement (its `a` field).
    Entry(Bytes),
    /// An `a` field over [`ANNOUNCE_MAX_BYTES`], left in Redis: its length.
    TooLarge(usize),
    /// Someone else's entry (no `a` field): skipped, but counted and passed.
    Stranger,
}

/// The entries of a page ([`range`]), `[[id, [field, value, ...]], ...]`: each id with
/// its `a` field, the length in its `n` field, or neither. An item with no stream id
/// (which Redis never sends) is left out.
fn entries(reply: redis::Value) -> Vec<(StreamId, LogItem)> {
    let redis::Value::Array(items) = reply else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let redis::Value::Array(mut pair) = item else {
                return None;
            };
            if pair.len() != 2 {
                return None;
            }
            let fields = pair.pop()?;
            let id = match pair.pop()? {
                redis::Value::BulkString(bytes) => {
                    StreamId::parse(std::str::from_utf8(&bytes).ok()?)?
                }
                redis::Value::SimpleString(text) => StreamId::parse(&text)?,
                _ => return None,
            };
            let redis::Value::Array(fields) = fields else {
                return Some((id, LogItem::Stranger));
            };
            let mut fields = fields.into_iter();
            while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
                let (redis::Value::BulkString(name), redis::Value::BulkString(value)) =
                    (name, value)
                else {
                    continue;
                };
                match name.as_slice() {
                    b"a" => return Some((id, LogItem::Entry(Bytes::from(value)))),
                    b"n" => {
                        let len = std::str::from_utf8(&value)
                            .ok()
                            .and_then(|text| text.parse().ok())
                            .unwrap_or(usize::MAX);
                        return Some((id, LogItem::TooLarge(len)));
                    }
                    _ => {}
                }
            }
            Some((id, LogItem::Stranger))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The position only moves forward and survives a reopen of the store.
    #[test]
    fn position_moves_forward_and_is_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let (store, _) = crate::store::ChainStore::open(dir.path()).expect("opens");
            let position = LogPosition::load(Some(store.meta_keys()));
            assert_eq!(position.get(), None);
            position.advance(StreamId { ms: 5, seq: 1 });
            position.advance(StreamId { ms: 4, seq: 9 });
            assert_eq!(position.get(), Some(StreamId { ms: 5, seq: 1 }));
        }
        // Closed without a later durable commit: a non-durable key may be lost, but a
        // reopen must not fail; after a durable commit it is there (see store::meta).
        let (store, _) = crate::store::ChainStore::open(dir.path()).expect("reopens");
        let position = LogPosition::load(Some(store.meta_keys()));
        assert!(
            position
                .get()
                .is_none_or(|id| id == StreamId { ms: 5, seq: 1 })
        );
    }

    /// Replies of the expected shape give their entries, or an oversized entry's length;
    /// an entry of another shape keeps its id (a page is passed whole) without a value;
    /// an item with no id is left out.
    #[test]
    fn reads_entries_and_skips_strangers() {
        use redis::Value::{Array, BulkString, Int};
        let reply = Array(vec![
            Array(vec![
                BulkString(b"1-0".to_vec()),
                Array(vec![BulkString(b"a".to_vec()), BulkString(b"x".to_vec())]),
            ]),
            Array(vec![BulkString(b"bad".to_vec()), Array(vec![])]),
            Array(vec![
                BulkString(b"2-0".to_vec()),
                Array(vec![BulkString(b"b".to_vec()), BulkString(b"y".to_vec())]),
            ]),
            Int(3),
            Array(vec![
                BulkString(b"3-0".to_vec()),
                Array(vec![
                    BulkString(b"n".to_vec()),
                    BulkString(b"9000000".to_vec()),
                ]),
            ]),
        ]);
        assert_eq!(
            entries(reply),
            vec![
                (
                    StreamId { ms: 1, seq: 0 },
                    LogItem::Entry(Bytes::from_static(b"x"))
                ),
                (StreamId { ms: 2, seq: 0 }, LogItem::Stranger),
                (StreamId { ms: 3, seq: 0 }, LogItem::TooLarge(9_000_000)),
            ]
        );
    }
}
