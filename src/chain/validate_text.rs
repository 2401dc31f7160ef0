//! Validation of a whole chain straight from its text, building no blocks: the fast
//! path of `minichain validate`.
//!
//! [`parse_chain`](super::block::parse_chain) then
//! [`ValidChain::validate`](super::ValidChain::validate) build a [`Block`](super::Block)
//! per block (five allocations each, and Python's `str()` of its data kept for later),
//! which is most of the time of checking a long chain once. Here every block is read in
//! place, its preimage written into one reused buffer and hashed at once, in parallel
//! over parts of the text.
//!
//! The check only ever answers "valid, with this length, tip and work", or "not decided
//! here" ([`None`]): it reads a subset of what the full reader accepts (the seven keys
//! in the original's order, strings without escapes, canonical integers), and any
//! block that breaks a rule, any shape it does not take, any doubt, gives `None`, for
//! the caller to run the full reader and validator, which words the error. So the
//! verdicts cannot differ: a chain is accepted here only if the full path accepts it,
//! with the same rules, in the same order of checks that matter for validity.

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::block::{GENESIS_HASH, MAX_NONCE_DIGITS};
use super::data::RawJson;
use super::json::Parser;
use super::plain_str::{PlainScratch, write_plain_str};
use super::pow::{BlockHash, Difficulty, Work};
use super::validate::{MAX_FUTURE_MS, RuleSet};

/// What a valid chain's text adds up to: what `minichain validate` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    /// Number of blocks, genesis included.
    pub blocks: usize,
    /// The last block's hash.
    pub tip_hash: String,
    /// Cumulative work, as [`ValidChain::work`](super::ValidChain::work).
    pub work: Work,
}

/// Checks the chain in `text` (a JSON array of blocks, or `{"chain": [...]}`) under
/// `rules` with `now_ms` as the local clock, without building blocks.
///
/// `Some` only when [`parse_chain`](super::block::parse_chain) reads the text and
/// [`ValidChain::validate`](super::ValidChain::validate) accepts the blocks: the summary
/// is then what that chain would give. `None` when the text is invalid, malformed, not
/// UTF-8, or of a shape this reader leaves to the full one: run the full path to learn
/// which (and to word the error).
pub fn validate_chain_text(text: &[u8], rules: RuleSet, now_ms: u64) -> Option<ChainSummary> {
    let (body_start, wrapped) = chain_prefix(text)?;
    let starts = part_starts(text, body_start)?;
    let limit = now_ms.saturating_add(MAX_FUTURE_MS);
    let parts: Vec<Option<Part<'_>>> = (0..starts.len())
        .into_par_iter()
        .map(|k| {
            let from = if k == 0 { 0 } else { starts[k] };
            let to = starts.get(k + 1).copied().unwrap_or(text.len());
            // Every cut is at an ASCII `{`, so each part is UTF-8 on its own exactly
            // when the whole text is.
            let part = std::str::from_utf8(&text[from..to]).ok()?;
            let stop = starts.get(k + 1).map(|&s| s - from);
            check_part(part, starts[k] - from, stop, k == 0, rules, limit).map(|mut p| {
                p.end += from;
                p
            })
        })
        .collect();
    let mut parts = parts.into_iter();
    let mut chain = parts.next()??;
    for part in parts {
        let part = part?;
        join(&chain.last, &part.first, chain.blocks, rules)?;
        chain.blocks += part.blocks;
        chain.work = chain.work.saturating_add(part.work);
        chain.last = part.last;
        chain.end = part.end;
    }
    chain_suffix(text, chain.end, wrapped)?;
    Some(ChainSummary {
        blocks: chain.blocks,
        tip_hash: chain.last.hash.to_owned(),
        work: chain.work,
    })
}

/// Below this size a chain is checked as one part.
const PART_MIN_BYTES: usize = 1 << 19;

/// Parts per thread: a few, so that a thread slowed by other work is caught up by the
/// others.
const PARTS_PER_THREAD: usize = 4;

/// Where the blocks start (after the opening `[`), and whether the array is wrapped in
/// `{"chain": ...}`.
fn chain_prefix(text: &[u8]) -> Option<(usize, bool)> {
    let mut c = Cursor { b: text, pos: 0 };
    c.skip_ws();
    let wrapped = c.eat(b'{');
    if wrapped {
        c.skip_ws();
        c.literal(b"\"chain\"")?;
        c.skip_ws();
        c.literal(b":")?;
        c.skip_ws();
    }
    c.literal(b"[")?;
    Some((c.pos, wrapped))
}

/// After the closing `]`: whitespace, the wrapper's `}`, whitespace, the end.
fn chain_suffix(text: &[u8], end: usize, wrapped: bool) -> Option<()> {
    let mut c = Cursor { b: text, pos: end };
    c.skip_ws();
    if wrapped {
        c.literal(b"}")?;
        c.skip_ws();
    }
    (c.pos == text.len()).then_some(())
}

/// Cuts the text after `body_start` into parts at guessed block starts: the first
/// `{"block_no"` after each even cut, preceded by a comma. A guess can be wrong (the
/// text may sit inside a string); [`check_part`] then finds that part `k - 1` does not
/// end exactly where part `k` starts, and the whole check gives up. Part 0 starts at a
/// true block start, so by induction every accepted part does.
fn part_starts(text: &[u8], body_start: usize) -> Option<Vec<usize>> {
    let threads = rayon::current_num_threads();
    let parts = (threads * PARTS_PER_THREAD).min(text.len() / PART_MIN_BYTES);
    let mut starts = vec![body_start];
    let finder = memchr::memmem::Finder::new(b"{\"block_no\"");
    for i in 1..parts.max(1) {
        let last = starts[starts.len() - 1];
        let from = (text.len() / parts * i).max(last + 1);
        let Some(found) = text.get(from..).and_then(|rest| finder.find(rest)) else {
            break;
        };
        let pos = from + found;
        let before = text[..pos].trim_ascii_end();
        if before.last() != Some(&b',') {
            return None;
        }
        starts.push(pos);
    }
    Some(starts)
}

/// One block's fields that its neighbours are checked against.
#[derive(Debug, Clone, Copy)]
struct Edge<'a> {
    block_no: u64,
    prev_hash: &'a str,
    hash: &'a str,
    difficulty: u32,
}

/// A run of consecutive blocks, checked among themselves.
struct Part<'a> {
    first: Edge<'a>,
    last: Edge<'a>,
    blocks: usize,
    work: Work,
    /// Offset after what the part read: the closing `]` of the last part.
    end: usize,
}

/// Checks that part `next` follows a run of `before` blocks ending with `last`: the
/// link and difficulty step of `next`'s first block and, under strict rules, its
/// `block_no` (its index in the whole chain).
fn join(last: &Edge<'_>, next: &Edge<'_>, before: usize, rules: RuleSet) -> Option<()> {
    let numbered = rules == RuleSet::Seed || next.block_no == before as u64;
    (linked(last, next) && numbered).then_some(())
}

/// The original's two rules between neighbours: `next` names `last`'s hash, and the
/// difficulty moves by at most one.
fn linked(last: &Edge<'_>, next: &Edge<'_>) -> bool {
    next.prev_hash == last.hash && next.difficulty.abs_diff(last.difficulty) <= 1
}

/// Reads and checks the blocks of one part: from offset `start` of `text` to the
/// comma before `stop` (the next part's start), or without `stop` through the closing
/// `]`. The part holding block 0 checks it against genesis.
fn check_part<'a>(
    text: &'a str,
    start: usize,
    stop: Option<usize>,
    has_genesis: bool,
    rules: RuleSet,
    timestamp_limit: u64,
) -> Option<Part<'a>> {
    let mut c = Cursor {
        b: text.as_bytes(),
        pos: start,
    };
    let mut preimage = Preimage::default();
    let mut work = Work::ZERO;
    let mut blocks = 0usize;
    let mut first: Option<Edge<'a>> = None;
    let mut last: Option<Edge<'a>> = None;
    loop {
        c.skip_ws();
        let block = read_block(&mut c, text, &mut preimage)?;
        let edge = Edge {
            block_no: block.block_no,
            prev_hash: block.prev_hash,
            hash: block.hash,
            difficulty: block.difficulty,
        };
        if has_genesis && blocks == 0 {
            check_genesis(&block)?;
        } else {
            if let Some(prev) = &last {
                let numbered =
                    rules == RuleSet::Seed || Some(block.block_no) == prev.block_no.checked_add(1);
                if !(linked(prev, &edge) && numbered) {
                    return None;
                }
            }
            check_block(&block, &mut preimage, rules, timestamp_limit)?;
        }
        work = work.saturating_add(Difficulty::new(block.difficulty).work());
        blocks += 1;
        first.get_or_insert(edge);
        last = Some(edge);
        c.skip_ws();
        if c.eat(b']') {
            if stop.is_some() {
                return None;
            }
            break;
        }
        c.literal(b",")?;
        c.skip_ws();
        if let Some(stop) = stop
            && c.pos >= stop
        {
            if c.pos > stop {
                return None;
            }
            break;
        }
    }
    Some(Part {
        first: first?,
        last: last?,
        blocks,
        work,
        end: c.pos,
    })
}

/// A block's fields as they stand in the text; its data's `str()` sits in the
/// preimage buffer, after the block number and timestamp.
struct TextBlock<'a> {
    block_no: u64,
    timestamp: u64,
    prev_hash: &'a str,
    data: &'a str,
    hash: &'a str,
    nonce: &'a str,
    difficulty: u32,
    /// `difficulty` as written (canonical, so as Python's `str()` writes it).
    difficulty_text: &'a str,
}

/// Reads one block object with the seven keys in the original's order, starting the
/// preimage in `preimage`'s buffer.
fn read_block<'a>(
    c: &mut Cursor<'a>,
    text: &'a str,
    preimage: &mut Preimage,
) -> Option<TextBlock<'a>> {
    c.literal(b"{")?;
    c.key(b"\"block_no\"")?;
    let block_no_text = c.digits(20)?;
    let block_no = block_no_text.parse().ok()?;
    c.next_key(b"\"timestamp\"")?;
    let timestamp_text = c.digits(20)?;
    let timestamp = timestamp_text.parse().ok()?;
    c.next_key(b"\"prev_hash\"")?;
    let prev_hash = c.plain_string(text)?;
    c.next_key(b"\"data\"")?;
    let buf = &mut preimage.buf;
    buf.clear();
    buf.extend_from_slice(block_no_text.as_bytes());
    buf.extend_from_slice(timestamp_text.as_bytes());
    let data_start = c.pos;
    match write_plain_str(c.b, data_start, buf, &mut preimage.scratch) {
        Some(end) => c.pos = end,
        None => {
            // Not in the plain form: the full reader renders it (or finds it is not
            // JSON).
            buf.truncate(block_no_text.len() + timestamp_text.len());
            let mut p = Parser::at(text, data_start);
            let raw = RawJson::read(&mut p).ok()?;
            buf.extend_from_slice(raw.python_str().as_bytes());
            c.pos = p.offset();
        }
    }
    let data = &text[data_start..c.pos];
    c.next_key(b"\"hash\"")?;
    let hash = c.plain_string(text)?;
    c.next_key(b"\"nonce\"")?;
    let nonce = c.digits(MAX_NONCE_DIGITS)?;
    c.next_key(b"\"difficulty\"")?;
    let difficulty_text = c.digits(10)?;
    let difficulty = difficulty_text.parse().ok()?;
    c.skip_ws();
    c.literal(b"}")?;
    Some(TextBlock {
        block_no,
        timestamp,
        prev_hash,
        data,
        hash,
        nonce,
        difficulty,
        difficulty_text,
    })
}

/// Block 0 is the hard-coded genesis, field by field (its data written `[]`).
fn check_genesis(block: &TextBlock<'_>) -> Option<()> {
    let g = super::block::genesis();
    let same = block.block_no == g.block_no
        && block.timestamp == g.timestamp
        && block.prev_hash == g.prev_hash
        && block.data == "[]"
        && block.hash == GENESIS_HASH
        && block.nonce == g.nonce.as_str()
        && block.difficulty == g.difficulty.bits();
    same.then_some(())
}

/// A block's own rules (its links were checked by the caller): under strict rules the
/// minimum difficulty, the timestamp and the proof of work; under both, that its fields
/// hash to its claimed hash. Finishes the preimage in `preimage`'s buffer.
fn check_block(
    block: &TextBlock<'_>,
    preimage: &mut Preimage,
    rules: RuleSet,
    timestamp_limit: u64,
) -> Option<()> {
    let buf = &mut preimage.buf;
    buf.extend_from_slice(block.prev_hash.as_bytes());
    buf.extend_from_slice(block.nonce.as_bytes());
    buf.extend_from_slice(block.difficulty_text.as_bytes());
    let computed = BlockHash::from_bytes(Sha256::digest(&buf[..]).into());
    if !computed.matches_hex(block.hash) {
        return None;
    }
    if rules == RuleSet::Strict {
        // The claimed hash is the computed one, so its leading zero bits are too.
        let fine = block.difficulty >= 1
            && computed.leading_zero_bits() >= block.difficulty
            && block.timestamp <= timestamp_limit;
        if !fine {
            return None;
        }
    }
    Some(())
}

/// The preimage of the block being read, in a buffer reused from block to block, and
/// the plain lane's scratch space.
#[derive(Default)]
struct Preimage {
    buf: Vec<u8>,
    scratch: PlainScratch,
}

/// A position in the text of a part, with readers for the narrow forms accepted here.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.b.get(self.pos) == Some(&byte);
        self.pos += usize::from(found);
        found
    }

    /// Consumes exactly `lit`.
    fn literal(&mut self, lit: &[u8]) -> Option<()> {
        let found = self.b.get(self.pos..)?.starts_with(lit);
        self.pos += lit.len();
        found.then_some(())
    }

    /// Whitespace, the key `quoted` (as its exact bytes), whitespace, `:`, whitespace.
    fn key(&mut self, quoted: &[u8]) -> Option<()> {
        self.skip_ws();
        self.literal(quoted)?;
        self.skip_ws();
        self.literal(b":")?;
        self.skip_ws();
        Some(())
    }

    /// The comma after a member, then the next member's key.
    fn next_key(&mut self, quoted: &[u8]) -> Option<()> {
        self.skip_ws();
        self.literal(b",")?;
        self.key(quoted)
    }

    /// A non-negative integer in canonical decimal (no sign, no leading zero) of at
    /// most `max` digits, as its text.
    fn digits(&mut self, max: usize) -> Option<&'a str> {
        let start = self.pos;
        let rest = self.b.get(start..)?;
        let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > max || (n > 1 && rest[0] == b'0') {
            return None;
        }
        self.pos += n;
        // ASCII digits are UTF-8.
        std::str::from_utf8(&rest[..n]).ok()
    }

    /// A string with no escapes and no control characters, as its content.
    fn plain_string(&mut self, text: &'a str) -> Option<&'a str> {
        self.literal(b"\"")?;
        let start = self.pos;
        // The usual hash: 64 hex digits and the closing quote, checked in one sweep
        // that the compiler vectorizes.
        if let Some(hash) = self.b.get(start..start + 65)
            && hash[64] == b'"'
            && hash[..64].iter().fold(true, |ok, &b| {
                ok & (b.is_ascii_digit() | matches!(b, b'a'..=b'f'))
            })
        {
            self.pos = start + 65;
            return text.get(start..start + 64);
        }
        let len = memchr::memchr2(b'"', b'\\', self.b.get(start..)?)?;
        let end = start + len;
        if self.b[end] != b'"' || self.b[start..end].iter().any(|&b| b < 0x20) {
            return None;
        }
        self.pos = end + 1;
        text.get(start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::block::{parse_chain, write_chain};
    use crate::chain::json::Dialect;
    use crate::chain::validate::now_ms;
    use crate::chain::{Block, ValidChain};

    /// What the full path says of `text`: the summary of a valid chain, or `None`.
    fn full_path(text: &[u8], rules: RuleSet, now: u64) -> Option<ChainSummary> {
        let text = std::str::from_utf8(text).ok()?;
        let chain = ValidChain::validate(parse_chain(text).ok()?, rules, now).ok()?;
        Some(ChainSummary {
            blocks: chain.len(),
            tip_hash: chain.tip().hash.clone(),
            work: chain.work(),
        })
    }

    fn text_of(blocks: &[Block], dialect: Dialect) -> Vec<u8> {
        let mut out = Vec::new();
        write_chain(blocks, dialect, &mut out);
        out
    }

    /// A valid chain is decided here, in both dialects, bare or wrapped, and agrees
    /// with the full path.
    #[test]
    fn valid_chains_are_decided_here() {
        let blocks = crate::miner::synthetic::synthetic_chain(300);
        let now = now_ms();
        for dialect in [Dialect::Python, Dialect::Compact] {
            let bare = text_of(&blocks, dialect);
            let mut wrapped = b" {\"chain\" :\n".to_vec();
            wrapped.extend_from_slice(&bare);
            wrapped.extend_from_slice(b"}\n");
            for text in [bare, wrapped] {
                for rules in [RuleSet::Strict, RuleSet::Seed] {
                    let fast = validate_chain_text(&text, rules, now);
                    assert!(fast.is_some(), "{dialect:?} {rules:?}");
                    assert_eq!(fast, full_path(&text, rules, now));
                }
            }
        }
    }
}
