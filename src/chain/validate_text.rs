//! Validation of a whole chain straight from its text, building no blocks: the fast
//! path of `minichain validate`.
//!
//! [`parse_chain`](super::block::parse_chain) then
//! [`ValidChain::validate`](super::ValidChain::validate) build a [`Block`](super::Block)
//! per block (five allocations each, and Python's `str()` of its data kept for later),
//! which is most of the time of checking a long chain once. Here every block is read in
//! place, its preimage written into a reused buffer, and the preimages hashed sixteen at a
//! time ([`super::hash_many`]: AVX-512 lanes where the CPU has them), in parallel over parts of
//! the text.
//!
//! The check only ever answers "valid, with this length, tip and work", or "not decided
//! here" ([`None`]): it reads a subset of what the full reader accepts (the seven keys
//! in the original's order, strings without escapes, canonical integers), and any
//! block that breaks a rule, any shape it does not take, any doubt, gives `None`, for
//! the caller to run the full reader and validator, which words the error. So the
//! verdicts cannot differ: a chain is accepted here only if the full path accepts it,
//! with the same rules, in the same order of checks that matter for validity.

use rayon::prelude::*;

use super::block::{GENESIS_HASH, MAX_NONCE_DIGITS};
use super::data::RawJson;
use super::hash_many::Batch;
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
            let range = PartRange {
                from: if k == 0 { 0 } else { starts[k] },
                start: starts[k],
                stop: starts.get(k + 1).copied(),
            };
            check_part(text, range, k == 0, rules, limit)
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
        tip_hash: std::str::from_utf8(chain.last.hash).ok()?.to_owned(),
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
    prev_hash: &'a [u8],
    hash: &'a [u8],
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

/// Where a part lies in the text: its bytes from `from` (0 for the first part, whose
/// bytes hold the opening `[`) to `stop`; its blocks from `start` to the comma before
/// `stop` (the next part's start), or with no `stop` through the closing `]` and to
/// the end of the text.
#[derive(Debug, Clone, Copy)]
struct PartRange {
    from: usize,
    start: usize,
    stop: Option<usize>,
}

/// Reads and checks the blocks of one part. The part holding block 0 checks it
/// against genesis.
///
/// No UTF-8 pass: every byte this reads is ASCII that it checks (syntax, digits,
/// plain strings) or text it checks as UTF-8 (a hash that is not hex digits), and a
/// value left to the full reader is read from the part as text, checked once.
fn check_part(
    text: &[u8],
    range: PartRange,
    has_genesis: bool,
    rules: RuleSet,
    timestamp_limit: u64,
) -> Option<Part<'_>> {
    let mut c = Cursor {
        b: text,
        pos: range.start,
    };
    let mut scratch = Scratch {
        range,
        part_text: None,
        plain: PlainScratch::default(),
    };
    let mut hashes = PendingHashes::new(rules);
    let mut work = WorkSum::default();
    let mut blocks = 0usize;
    let mut first: Option<Edge<'_>> = None;
    let mut last: Option<Edge<'_>> = None;
    loop {
        c.skip_ws();
        let block = read_block(&mut c, &mut scratch, hashes.batch.slot())?;
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
            if rules == RuleSet::Strict {
                check_strict_fields(&block, timestamp_limit)?;
            }
            finish_preimage(&block, hashes.batch.slot());
            hashes.push(&block);
            if hashes.batch.is_full() {
                hashes.check()?;
            }
        }
        work.add(block.difficulty);
        blocks += 1;
        first.get_or_insert(edge);
        last = Some(edge);
        c.skip_ws();
        if c.eat(b']') {
            if range.stop.is_some() {
                return None;
            }
            break;
        }
        c.literal(b",")?;
        c.skip_ws();
        if let Some(stop) = range.stop
            && c.pos >= stop
        {
            if c.pos > stop {
                return None;
            }
            break;
        }
    }
    hashes.check()?;
    Some(Part {
        first: first?,
        last: last?,
        blocks,
        work: work.total(),
        end: c.pos,
    })
}

/// Σ 2^difficulty over a part's blocks: difficulties below 64 summed in a `u128`
/// (a part has far fewer than 2^64 blocks), the rest added as [`Work`].
#[derive(Default)]
struct WorkSum {
    small: u128,
    large: Work,
}

impl WorkSum {
    fn add(&mut self, difficulty: u32) {
        if difficulty < 64 {
            self.small += 1u128 << difficulty;
        } else {
            self.large = self
                .large
                .saturating_add(Difficulty::new(difficulty).work());
        }
    }

    /// The sum as [`Work`]: the small sum added bit by bit.
    fn total(&self) -> Work {
        (0..128)
            .filter(|bit| self.small >> bit & 1 == 1)
            .map(|bit| Difficulty::new(bit).work())
            .fold(self.large, Work::saturating_add)
    }
}

/// Space reused from block to block of a part.
struct Scratch<'a> {
    range: PartRange,
    /// The part as text, checked as UTF-8 the first time a value needs the full
    /// reader.
    part_text: Option<&'a str>,
    plain: PlainScratch,
}

/// A block's fields as they stand in the text; its data's `str()` sits in the
/// preimage buffer, after the block number and timestamp.
struct TextBlock<'a> {
    block_no: u64,
    timestamp: u64,
    prev_hash: &'a [u8],
    data: &'a [u8],
    hash: &'a [u8],
    nonce: &'a [u8],
    difficulty: u32,
    /// `difficulty` as written (canonical, so as Python's `str()` writes it).
    difficulty_text: &'a [u8],
}

/// Reads one block object with the seven keys in the original's order, starting its
/// preimage in `buf`.
fn read_block<'a>(
    c: &mut Cursor<'a>,
    scratch: &mut Scratch<'a>,
    buf: &mut Vec<u8>,
) -> Option<TextBlock<'a>> {
    c.literal(b"{")?;
    c.key(b"\"block_no\"")?;
    let (block_no, block_no_text) = c.integer(u64::MAX)?;
    c.next_key(b"\"timestamp\"")?;
    let (timestamp, timestamp_text) = c.integer(u64::MAX)?;
    c.next_key(b"\"prev_hash\"")?;
    let prev_hash = c.plain_string()?;
    c.next_key(b"\"data\"")?;
    buf.clear();
    buf.extend_from_slice(block_no_text);
    buf.extend_from_slice(timestamp_text);
    let data_start = c.pos;
    match write_plain_str(c.b, data_start, buf, &mut scratch.plain) {
        Some(end) => c.pos = end,
        None => {
            // Not in the plain form: the full reader renders it (or finds it is not
            // JSON), from the part's text.
            buf.truncate(block_no_text.len() + timestamp_text.len());
            let from = scratch.range.from;
            let part = match scratch.part_text {
                Some(part) => part,
                None => {
                    let to = scratch.range.stop.unwrap_or(c.b.len());
                    *scratch
                        .part_text
                        .insert(std::str::from_utf8(&c.b[from..to]).ok()?)
                }
            };
            let mut p = Parser::at(part, data_start - from);
            let raw = RawJson::read(&mut p).ok()?;
            buf.extend_from_slice(raw.python_str().as_bytes());
            c.pos = from + p.offset();
        }
    }
    let data = &c.b[data_start..c.pos];
    c.next_key(b"\"hash\"")?;
    let hash = c.plain_string()?;
    c.next_key(b"\"nonce\"")?;
    let nonce = c.digits(MAX_NONCE_DIGITS)?;
    c.next_key(b"\"difficulty\"")?;
    let (difficulty, difficulty_text) = c.integer(u64::from(u32::MAX))?;
    c.skip_ws();
    c.literal(b"}")?;
    Some(TextBlock {
        block_no,
        timestamp,
        prev_hash,
        data,
        hash,
        nonce,
        difficulty: u32::try_from(difficulty).ok()?,
        difficulty_text,
    })
}

/// Block 0 is the hard-coded genesis, field by field (its data written `[]`).
fn check_genesis(block: &TextBlock<'_>) -> Option<()> {
    let g = super::block::genesis();
    let same = block.block_no == g.block_no
        && block.timestamp == g.timestamp
        && block.prev_hash == g.prev_hash.as_bytes()
        && block.data == b"[]"
        && block.hash == GENESIS_HASH.as_bytes()
        && block.nonce == g.nonce.as_str().as_bytes()
        && block.difficulty == g.difficulty.bits();
    same.then_some(())
}

/// Under strict rules, a block's own rules that do not need its hash (its links were
/// checked by the caller): the minimum difficulty and the timestamp.
fn check_strict_fields(block: &TextBlock<'_>, timestamp_limit: u64) -> Option<()> {
    (block.difficulty >= 1 && block.timestamp <= timestamp_limit).then_some(())
}

/// Appends the rest of a block's fields to its preimage (its block number, timestamp
/// and data's `str()` are there from [`read_block`]).
fn finish_preimage(block: &TextBlock<'_>, buf: &mut Vec<u8>) {
    buf.extend_from_slice(block.prev_hash);
    buf.extend_from_slice(block.nonce);
    buf.extend_from_slice(block.difficulty_text);
}

/// Blocks read whose hashes are still to be checked: that their fields hash to their
/// claimed hash, and under strict rules that the hash has the block's difficulty in
/// leading zero bits. Checked a [`Batch`] at a time, so the preimages hash side by side.
struct PendingHashes<'a> {
    /// The waiting blocks' preimages, then the preimage of the block being read (at
    /// [`Batch::slot`]).
    batch: Batch,
    rules: RuleSet,
    /// Each waiting block's claimed hash and difficulty.
    claims: Vec<(&'a [u8], u32)>,
}

impl<'a> PendingHashes<'a> {
    fn new(rules: RuleSet) -> Self {
        Self {
            batch: Batch::new(),
            rules,
            claims: Vec::with_capacity(super::hash_many::LANES),
        }
    }

    /// Adds a block whose preimage is complete in the batch's slot.
    fn push(&mut self, block: &TextBlock<'a>) {
        self.batch.push();
        self.claims.push((block.hash, block.difficulty));
    }

    /// Hashes every waiting block's preimage and checks it against the block's claim;
    /// then none waits.
    fn check(&mut self) -> Option<()> {
        let digests = self.batch.hash();
        for (&(claimed, difficulty), &digest) in self.claims.iter().zip(digests) {
            let computed = BlockHash::from_bytes(digest);
            if claimed != computed.hex_digits() {
                return None;
            }
            // The claimed hash is the computed one, so its leading zero bits are too.
            if self.rules == RuleSet::Strict && computed.leading_zero_bits() < difficulty {
                return None;
            }
        }
        self.claims.clear();
        Some(())
    }
}

/// A position in the text, with readers for the narrow forms accepted here.
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

    /// Consumes exactly `lit` (compared as a fixed-size array: no call).
    fn literal<const N: usize>(&mut self, lit: &[u8; N]) -> Option<()> {
        let found: &[u8; N] = self.b.get(self.pos..self.pos + N)?.try_into().ok()?;
        self.pos += N;
        (found == lit).then_some(())
    }

    /// Whitespace, the key `quoted` (as its exact bytes), whitespace, `:`, whitespace.
    fn key<const N: usize>(&mut self, quoted: &[u8; N]) -> Option<()> {
        self.skip_ws();
        self.literal(quoted)?;
        self.skip_ws();
        self.literal(b":")?;
        self.skip_ws();
        Some(())
    }

    /// The comma after a member, then the next member's key.
    fn next_key<const N: usize>(&mut self, quoted: &[u8; N]) -> Option<()> {
        self.skip_ws();
        self.literal(b",")?;
        self.key(quoted)
    }

    /// A non-negative integer in canonical decimal (no sign, no leading zero) of at
    /// most `max`, with its text.
    fn integer(&mut self, max: u64) -> Option<(u64, &'a [u8])> {
        let start = self.pos;
        let mut value = 0u64;
        while let Some(&b) = self.b.get(self.pos)
            && b.is_ascii_digit()
        {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(b - b'0'))
                .filter(|&v| v <= max)?;
            self.pos += 1;
        }
        let digits = &self.b[start..self.pos];
        canonical(digits).then_some((value, digits))
    }

    /// A non-negative integer in canonical decimal of at most `max` digits, as its
    /// text.
    fn digits(&mut self, max: usize) -> Option<&'a [u8]> {
        let start = self.pos;
        let rest = self.b.get(start..)?;
        let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        self.pos += n;
        (n <= max && canonical(&rest[..n])).then_some(&rest[..n])
    }

    /// A string with no escapes and no control characters, as its content (checked
    /// as UTF-8).
    fn plain_string(&mut self) -> Option<&'a [u8]> {
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
            return Some(&hash[..64]);
        }
        let len = memchr::memchr2(b'"', b'\\', self.b.get(start..)?)?;
        let end = start + len;
        let content = &self.b[start..end];
        if self.b[end] != b'"' || content.iter().any(|&b| b < 0x20) {
            return None;
        }
        std::str::from_utf8(content).ok()?;
        self.pos = end + 1;
        Some(content)
    }
}

/// Whether `digits` are canonical decimal: at least one, no leading zero.
fn canonical(digits: &[u8]) -> bool {
    !digits.is_empty() && (digits.len() == 1 || digits[0] != b'0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::block::{parse_chain, write_chain};
    use crate::chain::hash_many::BATCH_BYTES;
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

    /// Where each block's nonce digits start in a chain written in the Python dialect.
    fn nonce_offsets(text: &[u8]) -> Vec<usize> {
        let key = b"\"nonce\": ";
        text.windows(key.len())
            .enumerate()
            .filter(|(_, window)| window == key)
            .map(|(at, _)| at + key.len())
            .collect()
    }

    /// `text` with the nonce digit at `at` changed to another, canonical one: the
    /// block still reads, its preimage differs.
    fn other_nonce(text: &[u8], at: usize) -> Vec<u8> {
        let mut edited = text.to_vec();
        edited[at] = if edited[at] == b'9' {
            b'1'
        } else {
            edited[at] + 1
        };
        edited
    }

    fn text_of(blocks: &[Block], dialect: Dialect) -> Vec<u8> {
        let mut out = Vec::new();
        write_chain(blocks, dialect, &mut out);
        out
    }

    /// A block whose fields do not hash to its claim is caught wherever it sits among
    /// the preimages hashed together: in each slot of a full batch of sixteen, and in
    /// the part-filled batch at the chain's end (blocks 33 to 39 of 40).
    #[test]
    fn a_wrong_hash_is_caught_in_every_slot_of_a_batch() {
        let blocks = crate::miner::synthetic::synthetic_chain(40);
        let text = text_of(&blocks, Dialect::Python);
        let now = now_ms();
        let nonces = nonce_offsets(&text);
        assert_eq!(nonces.len(), 40);
        for rules in [RuleSet::Strict, RuleSet::Seed] {
            assert!(validate_chain_text(&text, rules, now).is_some());
            for (block_no, &at) in nonces.iter().enumerate().skip(1) {
                let edited = other_nonce(&text, at);
                assert_eq!(validate_chain_text(&edited, rules, now), None, "{block_no}");
                assert_eq!(full_path(&edited, rules, now), None, "{block_no}");
            }
        }
    }

    /// Blocks whose preimages pass `BATCH_BYTES` are hashed in short batches, and
    /// the verdict is the same: large and small data mixed, valid, then with a wrong
    /// nonce after each large block.
    #[test]
    fn large_preimages_are_checked_in_short_batches() {
        use crate::chain::json::Json;
        use crate::chain::pow::Difficulty;
        use crate::miner::reference::mine_reference;
        let mut blocks = vec![crate::chain::genesis()];
        for i in 1..30usize {
            let text = if i % 7 == 3 {
                "x".repeat(BATCH_BYTES + 1000)
            } else {
                format!("block {i}")
            };
            let prev = &blocks[i - 1];
            let timestamp = prev.timestamp + 1000;
            // Down from genesis's 4 by one a block, then 1 and 2 in turn.
            let d = prev.difficulty.bits();
            let difficulty = Difficulty::new(if d > 2 { d - 1 } else { 3 - d });
            let block = mine_reference(prev, Json::String(text.into()), timestamp, difficulty);
            blocks.push(block);
        }
        let text = text_of(&blocks, Dialect::Python);
        let now = now_ms();
        for rules in [RuleSet::Strict, RuleSet::Seed] {
            let fast = validate_chain_text(&text, rules, now);
            assert!(fast.is_some(), "{rules:?}");
            assert_eq!(fast, full_path(&text, rules, now));
        }
        for (block_no, at) in nonce_offsets(&text)
            .into_iter()
            .enumerate()
            .filter(|(block_no, _)| block_no % 7 == 3 || block_no % 7 == 4)
        {
            let edited = other_nonce(&text, at);
            assert_eq!(
                validate_chain_text(&edited, RuleSet::Seed, now),
                None,
                "{block_no}"
            );
        }
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

    /// Every chain vector, under both rule sets: the same verdict as the full path,
    /// and the valid ones decided here.
    #[test]
    fn chain_vectors_agree_with_the_full_path() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/chains");
        let now = now_ms();
        let mut decided = 0;
        for entry in std::fs::read_dir(dir).expect("tests/vectors/chains") {
            let path = entry.expect("entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read(&path).expect("vector file");
            for rules in [RuleSet::Strict, RuleSet::Seed] {
                let full = full_path(&text, rules, now);
                let fast = validate_chain_text(&text, rules, now);
                assert_eq!(fast, full, "{} {rules:?}", path.display());
                decided += usize::from(fast.is_some());
            }
        }
        // valid.json under both rules, and the three seed_accepts_* under seed rules.
        assert_eq!(decided, 5);
    }

    /// Chains edited at random (one byte replaced, removed or added): whatever this
    /// check accepts, the full path accepts with the same summary.
    #[test]
    fn an_edited_chain_is_never_accepted_alone() {
        let blocks = crate::miner::synthetic::synthetic_chain(40);
        let text = text_of(&blocks, Dialect::Python);
        let now = now_ms();
        let mut rng = fastrand::Rng::with_seed(5);
        let alphabet = b"0123456789abcdef\"{}[],: -.eE'\\tnx\x7f\xc3\xa9";
        let mut accepted = 0;
        for _ in 0..3000 {
            let mut edited = text.clone();
            let at = rng.usize(0..edited.len());
            let byte = alphabet[rng.usize(0..alphabet.len())];
            match rng.u8(0..3) {
                0 => edited[at] = byte,
                1 => {
                    edited.remove(at);
                }
                _ => edited.insert(at, byte),
            }
            for rules in [RuleSet::Strict, RuleSet::Seed] {
                if let Some(fast) = validate_chain_text(&edited, rules, now) {
                    accepted += 1;
                    assert_eq!(
                        Some(fast),
                        full_path(&edited, rules, now),
                        "{}",
                        String::from_utf8_lossy(&edited)
                    );
                }
            }
        }
        // Whitespace edits and the like keep a chain valid: the check was exercised.
        assert!(accepted > 100, "{accepted}");
    }

    /// A chain long enough to be cut into parts, whose data holds `{"block_no"` where
    /// a cut may be guessed: checked on four threads, it agrees with the full path,
    /// and a plain chain of that size is decided here.
    #[test]
    fn parts_agree_with_the_full_path_even_when_cuts_are_wrong() {
        use crate::chain::json::{Json, Number};
        use crate::miner::reference::mine_reference;
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build();
        let Ok(pool) = pool else { panic!("pool") };
        let now = now_ms();
        for tricky in [false, true] {
            let mut blocks = vec![crate::chain::genesis()];
            for i in 1..3000u64 {
                let prev = &blocks[blocks.len() - 1];
                let pad = Json::String(format!("block {i} {}", "pad ".repeat(60)).into());
                let tail = if tricky {
                    let n = Json::Number(Number::from_u128(u128::from(i)));
                    Json::Object(vec![("block_no".into(), n)])
                } else {
                    Json::Null
                };
                let d = Difficulty::new(if prev.difficulty.bits() > 1 {
                    prev.difficulty.bits() - 1
                } else {
                    1
                });
                let data = Json::Array(vec![pad, tail]);
                blocks.push(mine_reference(prev, data, 2_000 + i, d));
            }
            let text = text_of(&blocks, Dialect::Python);
            assert!(text.len() > 2 * PART_MIN_BYTES);
            let fast = pool.install(|| validate_chain_text(&text, RuleSet::Strict, now));
            let full = full_path(&text, RuleSet::Strict, now);
            assert_eq!(full.as_ref().map(|s| s.blocks), Some(3000));
            if tricky {
                assert!(fast.is_none() || fast == full);
            } else {
                assert_eq!(fast, full);
            }
            // A broken link in the last part is found across the cut.
            let mut broken = text.clone();
            let pos = memchr::memmem::rfind(&broken, b"\"prev_hash\": \"").expect("a link") + 14;
            broken[pos] = if broken[pos] == b'0' { b'1' } else { b'0' };
            assert_eq!(
                pool.install(|| validate_chain_text(&broken, RuleSet::Strict, now)),
                None
            );
        }
    }
}
