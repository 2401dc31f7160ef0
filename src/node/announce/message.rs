//! An announcement on the wire: a one-line JSON header (who, where, which tip, how
//! much work) and the new blocks as a JSON array, compact dialect:
//!
//! ```text
//! {"v":1,"node":"3f2a…","peer":"http://10.0.0.5:8000","height":1204,"work":"98304","hash":"00ab…"}
//! [{"block_no":1204,…}]
//! ```
//!
//! On the channel the entry is preceded by one more line, the id of the same entry in
//! the block log (empty when the announcement was not logged), so a receiver knows how
//! far in the log it has read. Everything here is hostile input: sizes are bounded
//! before anything is parsed, strings are checked for shape and clipped in errors.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::chain::block::parse_chain;
use crate::chain::json::Dialect;
use crate::chain::{Block, Work};
use crate::clip::clip;
use crate::node::intake::Rejection;

/// The version this node writes and reads.
pub const VERSION: u32 = 1;

/// Largest announcement read or written: a block's data may be as large as a mining
/// request (1 MiB by default) and more when escaped; an announcement whose tip does not
/// fit is sent with no blocks (receivers fetch them over HTTP).
pub const ANNOUNCE_MAX_BYTES: usize = 4 * 1024 * 1024;

/// Longest header line.
pub const HEADER_MAX_BYTES: usize = 1024;

/// Most blocks one announcement carries (the tip and the blocks before it that are new
/// since the last announcement); a longer change is fetched over HTTP.
pub const ANNOUNCED_BLOCKS_MAX: usize = 16;

/// Bytes of blocks an announcement carries before the tip: older new blocks are added
/// only while the message stays under this (the tip alone may take more).
pub const EXTRA_BLOCKS_BUDGET: usize = 16 * 1024;

/// Longest node id and peer address.
const NAME_MAX: usize = 256;

/// A block log entry id, `ms-seq`, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// Reads `ms-seq`; `None` for anything else.
    pub fn parse(text: &str) -> Option<StreamId> {
        let (ms, seq) = text.split_once('-')?;
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(seq) {
            return None;
        }
        Some(StreamId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// The header line.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    v: u32,
    node: String,
    peer: String,
    height: u64,
    work: String,
    hash: String,
}

/// A decoded announcement: a peer's new tip and the blocks that lead to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    /// The announcing node's id (random per process): a node ignores its own.
    pub node: String,
    /// The announcer's HTTP base address, where the blocks before these can be fetched.
    pub peer: String,
    /// The tip's height (`block_no`).
    pub height: u64,
    /// The announcer's chain's cumulative work, as it claims (checked only when its
    /// blocks are validated).
    pub work: Work,
    /// The tip's hash.
    pub hash: String,
    /// The new blocks, consecutive, ending with the tip (may be empty: tip only).
    pub blocks: Vec<Block>,
}

/// Writes an announcement of the tip of `blocks` (the chain's new blocks, oldest
/// first, tip last), carrying as many of them as the size limits allow.
pub fn encode(node: &str, peer: &str, work: Work, blocks: &[Block]) -> Option<Vec<u8>> {
    let tip = blocks.last()?;
    let header = Header {
        v: VERSION,
        node: node.to_owned(),
        peer: peer.to_owned(),
        height: tip.block_no,
        work: work.to_string(),
        hash: tip.hash.clone(),
    };
    let mut out = serde_json::to_vec(&header).ok()?;
    out.push(b'\n');
    // The blocks, newest first, while they fit; then written oldest first.
    let mut written: Vec<Vec<u8>> = Vec::new();
    let mut total = 0;
    for (i, block) in blocks.iter().rev().take(ANNOUNCED_BLOCKS_MAX).enumerate() {
        let mut one = Vec::new();
        block.write(Dialect::Compact, &mut one);
        let limit = if i == 0 {
            ANNOUNCE_MAX_BYTES - HEADER_MAX_BYTES - 64
        } else {
            EXTRA_BLOCKS_BUDGET
        };
        if total + one.len() + 1 > limit {
            break;
        }
        total += one.len() + 1;
        written.push(one);
    }
    out.push(b'[');
    for (i, one) in written.iter().rev().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(one);
    }
    out.push(b']');
    Some(out)
}

/// The channel's form of an entry: the log id line, then the entry.
pub fn with_log_id(id: Option<StreamId>, entry: &[u8]) -> Vec<u8> {
    let mut out = id.map(|id| id.to_string()).unwrap_or_default().into_bytes();
    out.push(b'\n');
    out.extend_from_slice(entry);
    out
}

/// Splits a channel message into its log id (if any) and the entry.
///
/// # Errors
/// [`Rejection::NotAChain`] when the first line is neither empty nor an entry id.
pub fn split_log_id(message: &[u8]) -> Result<(Option<StreamId>, &[u8]), Rejection> {
    let newline = message
        .iter()
        .take(64)
        .position(|&b| b == b'\n')
        .ok_or_else(|| malformed("no log id line"))?;
    let (line, rest) = message.split_at(newline);
    if line.is_empty() {
        return Ok((None, &rest[1..]));
    }
    let id = std::str::from_utf8(line)
        .ok()
        .and_then(StreamId::parse)
        .ok_or_else(|| malformed("the first line is not a log entry id"))?;
    Ok((Some(id), &rest[1..]))
}

/// The announced tip's hash, read from a channel message's header without parsing
/// it (the listener calls this, so that the tip is known before a whole chain with
/// it can follow on `BLOCKCHAIN`); `None` when it is not where this node writes it.
pub fn header_hash(message: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"hash\":\"";
    let head = &message[..message.len().min(HEADER_MAX_BYTES + 64)];
    let at = head.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let hash = head.get(at..at + 64)?;
    if !hash.iter().all(u8::is_ascii_hexdigit) || head.get(at + 64) != Some(&b'"') {
        return None;
    }
    std::str::from_utf8(hash).ok()
}

fn malformed(why: &str) -> Rejection {
    Rejection::NotAChain(format!("announcement: {why}"))
}

/// Reads an announcement, checking its shape: sizes, the header's fields, and blocks
/// that are consecutive and end at the announced tip. Validation of the blocks (hashes,
/// proof of work, their link to our chain) is the receiver's.
///
/// # Errors
/// The [`Rejection`] (counted like a chain message's): `too_large`, `not_utf8`,
/// `not_json`, `too_deep` or `not_a_chain`.
pub fn decode(entry: &[u8]) -> Result<Announcement, Rejection> {
    if entry.len() > ANNOUNCE_MAX_BYTES {
        return Err(Rejection::TooLarge {
            len: entry.len(),
            limit: ANNOUNCE_MAX_BYTES,
        });
    }
    let text = std::str::from_utf8(entry).map_err(|_| Rejection::NotUtf8)?;
    let (header_text, blocks_text) = text
        .split_once('\n')
        .ok_or_else(|| malformed("no header line"))?;
    if header_text.len() > HEADER_MAX_BYTES {
        return Err(malformed("header line over 1024 bytes"));
    }
    let header: Header = serde_json::from_str(header_text)
        .map_err(|err| malformed(&format!("header: {}", clip(&err.to_string()))))?;
    if header.v != VERSION {
        return Err(malformed(&format!(
            "version {} (this node reads {VERSION})",
            header.v
        )));
    }
    check_name("node", &header.node)?;
    check_name("peer", &header.peer)?;
    // An https peer's blocks are still taken (a node behind a TLS proxy); only a gap
    // fill from it fails, at once (the page client has no TLS and refuses it).
    if !(header.peer.starts_with("http://") || header.peer.starts_with("https://")) {
        return Err(malformed(&format!(
            "peer {:?} is not an http(s) address",
            clip(&header.peer)
        )));
    }
    if header.hash.len() != 64 || !header.hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed(&format!(
            "hash {:?} is not 64 hex digits",
            clip(&header.hash)
        )));
    }
    let work = Work::parse_decimal(&header.work).ok_or_else(|| {
        malformed(&format!(
            "work {:?} is not a decimal number",
            clip(&header.work)
        ))
    })?;
    let blocks_text = blocks_text.trim();
    let blocks = if blocks_text == "[]" {
        Vec::new()
    } else {
        parse_chain(blocks_text).map_err(|err| Rejection::from_chain_error(blocks_text, err))?
    };
    if blocks.len() > ANNOUNCED_BLOCKS_MAX {
        return Err(malformed(&format!(
            "{} blocks, over the limit of {ANNOUNCED_BLOCKS_MAX}",
            blocks.len()
        )));
    }
    for pair in blocks.windows(2) {
        if pair[1].prev_hash != pair[0].hash
            || pair[0].block_no.checked_add(1) != Some(pair[1].block_no)
        {
            return Err(malformed("its blocks are not consecutive"));
        }
    }
    if let Some(tip) = blocks.last()
        && (tip.hash != header.hash || tip.block_no != header.height)
    {
        return Err(malformed("its last block is not the announced tip"));
    }
    Ok(Announcement {
        node: header.node,
        peer: header.peer,
        height: header.height,
        work,
        hash: header.hash,
        blocks,
    })
}

/// A node id or address: printable ASCII, not empty, bounded.
fn check_name(what: &str, value: &str) -> Result<(), Rejection> {
    if value.is_empty() || value.len() > NAME_MAX || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(malformed(&format!(
            "{what} {:?} is not a short printable name",
            clip(value)
        )));
    }
    Ok(())
}

impl Announcement {
    /// How the announced chain compares with a chain of `len` blocks and `work` (by the
    /// claimed weight): `Greater` means the announcer claims a better chain.
    pub fn claimed_vs(
        &self,
        fork_choice: crate::chain::ForkChoice,
        ours: crate::chain::ChainWeight,
    ) -> Ordering {
        let claimed = crate::chain::ChainWeight {
            len: usize::try_from(self.height)
                .unwrap_or(usize::MAX)
                .saturating_add(1),
            work: self.work,
        };
        fork_choice.compare(ours, claimed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::ValidChain;

    fn chain(n: usize) -> ValidChain {
        crate::miner::synthetic::synthetic_valid_chain(n)
    }

    /// What is written reads back; the log id line round-trips.
    #[test]
    fn round_trip() {
        let chain = chain(6);
        let bytes = encode(
            "n1",
            "http://127.0.0.1:8000",
            chain.work(),
            &chain.blocks().to_blocks()[3..],
        )
        .expect("encodes");
        let ann = decode(&bytes).expect("decodes");
        assert_eq!(ann.blocks, chain.blocks().to_blocks()[3..]);
        assert_eq!(ann.height, 5);
        assert_eq!(ann.work, chain.work());
        assert_eq!(ann.hash, chain.tip().hash);
        assert_eq!(
            (ann.node.as_str(), ann.peer.as_str()),
            ("n1", "http://127.0.0.1:8000")
        );
        let id = StreamId { ms: 17, seq: 2 };
        let live = with_log_id(Some(id), &bytes);
        assert_eq!(header_hash(&live), Some(chain.tip().hash.as_str()));
        assert_eq!(header_hash(b"\n{\"hash\":\"12\"}"), None);
        assert_eq!(
            split_log_id(&live).expect("splits"),
            (Some(id), bytes.as_slice())
        );
        let bare = with_log_id(None, &bytes);
        assert_eq!(
            split_log_id(&bare).expect("splits"),
            (None, bytes.as_slice())
        );
        assert!(StreamId::parse("1-2") < StreamId::parse("2-0"));
        assert!(StreamId::parse("1-10") > StreamId::parse("1-9"));
        assert_eq!(StreamId::parse("1-x"), None);
    }

    /// At most [`ANNOUNCED_BLOCKS_MAX`] blocks travel, the newest, whatever the chain's
    /// length: the message's size does not grow with the chain.
    #[test]
    fn size_is_bounded_by_the_new_blocks_not_the_chain() {
        let long = chain(200);
        let one = encode(
            "n",
            "http://h:1",
            long.work(),
            &long.blocks().to_blocks()[199..],
        )
        .expect("encodes");
        let many =
            encode("n", "http://h:1", long.work(), &long.blocks().to_blocks()).expect("encodes");
        let ann = decode(&many).expect("decodes");
        assert!(ann.blocks.len() <= ANNOUNCED_BLOCKS_MAX);
        assert_eq!(ann.blocks.last(), long.blocks().to_blocks().last());
        assert!(one.len() < 600, "{} bytes", one.len());
        assert!(
            many.len() <= EXTRA_BLOCKS_BUDGET + one.len(),
            "{} bytes",
            many.len()
        );
    }

    /// Each kind of malformed announcement is refused with its reason.
    #[test]
    fn hostile_announcements_are_refused() {
        let chain = chain(4);
        let good = String::from_utf8(
            encode(
                "n",
                "http://h:1",
                chain.work(),
                &chain.blocks().to_blocks()[2..],
            )
            .expect("encodes"),
        )
        .expect("utf8");
        let reason = |text: &str| {
            decode(text.as_bytes())
                .map(|_| "ok")
                .unwrap_or_else(|r| r.reason())
        };
        assert_eq!(reason(&good), "ok");
        assert_eq!(reason("no newline"), "not_a_chain");
        assert_eq!(reason(&good.replace("\"v\":1", "\"v\":2")), "not_a_chain");
        assert_eq!(
            reason(&good.replace("http://h:1", "ftp://h:1")),
            "not_a_chain"
        );
        // An https peer's announcement is read (its blocks count); only a gap fill
        // from it is refused.
        assert_eq!(reason(&good.replace("http://h:1", "https://h:1")), "ok");
        assert_eq!(
            reason(&good.replace("http://h:1", "http://h 1")),
            "not_a_chain"
        );
        assert_eq!(
            reason(&good.replacen("\"work\":\"", "\"work\":\"x", 1)),
            "not_a_chain"
        );
        let (header, blocks) = good.split_once('\n').expect("two lines");
        assert_eq!(reason(&format!("{header}\n[{{")), "not_json");
        // Blocks that do not end at the announced tip, or skip one.
        let first_only = String::from_utf8(
            encode(
                "n",
                "http://h:1",
                chain.work(),
                &chain.blocks().to_blocks()[2..3],
            )
            .expect("encodes"),
        )
        .expect("utf8");
        let (_, first_blocks) = first_only.split_once('\n').expect("two lines");
        assert_eq!(reason(&format!("{header}\n{first_blocks}")), "not_a_chain");
        let mut gapped = Vec::new();
        crate::chain::block::write_chain(
            &[
                chain.blocks().to_blocks()[1].clone(),
                chain.blocks().to_blocks()[3].clone(),
            ],
            Dialect::Compact,
            &mut gapped,
        );
        let gapped = String::from_utf8(gapped).expect("utf8");
        assert_eq!(reason(&format!("{header}\n{gapped}")), "not_a_chain");
        // A block numbered u64::MAX before another: refused, with no overflow.
        let mut last_number = chain.blocks().to_blocks()[2..].to_vec();
        last_number[0].block_no = u64::MAX;
        let mut wrapped = Vec::new();
        crate::chain::block::write_chain(&last_number, Dialect::Compact, &mut wrapped);
        let wrapped = String::from_utf8(wrapped).expect("utf8");
        assert_eq!(reason(&format!("{header}\n{wrapped}")), "not_a_chain");
        assert_eq!(reason(&format!("{header}\n[]")), "ok");
        assert_eq!(reason(&format!("{header}\n{blocks}\u{0}")), "not_json");
        let huge = vec![b' '; ANNOUNCE_MAX_BYTES + 1];
        assert_eq!(decode(&huge).map(|_| ()).unwrap_err().reason(), "too_large");
        assert!(split_log_id(b"nonsense-id\n{}").is_err());
        assert!(split_log_id(b"no line at all").is_err());
    }
}
