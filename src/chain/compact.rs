//! [`ChainBlocks`]: the blocks of a valid chain in a compact form that clones in
//! (almost) constant time, so a node can hold a million blocks in a few hundred
//! megabytes and add one without copying the chain.
//!
//! Why this shape:
//! - **What validity makes redundant is not kept.** In a valid chain every `hash` is
//!   the 64 lowercase hex digits of a SHA-256 (the hash rule compares exactly that
//!   text), so it is kept as its 32 bytes; every `prev_hash` is the previous block's
//!   `hash` (the link rule), or genesis's `"0x0000"`, so it is not kept at all. The
//!   `data` text (as it arrived) and the nonce digits are kept side by side in one
//!   string per chunk, not one allocation each; Python's `str()` of `data` (needed
//!   only to hash a block, which happened when it was validated) is not kept.
//!   About 72 bytes plus the `data` text per block, against about 600 for a
//!   [`Block`].
//! - **Chunks shared between versions.** Blocks are kept in chunks of [`CHUNK`]; full
//!   chunks are immutable and shared (`Arc`) by every clone, so cloning a chain to
//!   add a block copies a pointer per full chunk and the last, partial chunk only.
//! - **Serialized sizes without serializing.** Each full chunk notes, once, how many
//!   bytes its blocks take in each JSON dialect, so the exact length of the whole
//!   chain's JSON (an HTTP `Content-Length`, a message size limit) is a sum over
//!   chunks, and the JSON itself can be written piece by piece as it is sent.

use std::sync::{Arc, OnceLock};

use super::block::{Block, Nonce, fmt_u64, write_block_fields};
use super::data::{RawJson, compact_preview, write_raw_text};
use super::json::{Dialect, write_separator, write_string};
use super::pow::{Difficulty, Work};

/// Blocks per chunk: small enough that copying the partial chunk on each new block is
/// cheap, large enough that the list of chunks stays short.
pub const CHUNK: usize = 512;

/// One block's fixed-size fields; its nonce digits and `data` text follow each other
/// in its chunk's `text` from `start`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    block_no: u64,
    timestamp: u64,
    start: u64,
    hash: [u8; 32],
    difficulty: u32,
    data_len: u32,
    nonce_len: u8,
}

/// How many bytes blocks take as JSON, each block alone (no separators).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonLens {
    /// In [`Dialect::Compact`] (HTTP).
    pub compact: u64,
    /// In [`Dialect::Python`] (the Redis channel).
    pub python: u64,
}

impl JsonLens {
    fn add(self, other: JsonLens) -> JsonLens {
        JsonLens {
            compact: self.compact + other.compact,
            python: self.python + other.python,
        }
    }

    /// The length of a whole chain of `blocks` blocks written in `dialect`: the
    /// brackets and separators around the blocks (`[a,b]` or `[a, b]`).
    pub fn chain_len(self, blocks: usize, dialect: Dialect) -> u64 {
        let separators = blocks.saturating_sub(1) as u64;
        match dialect {
            Dialect::Compact => self.compact + separators + 2,
            Dialect::Python => self.python + 2 * separators + 2,
        }
    }
}

/// Up to [`CHUNK`] blocks.
#[derive(Debug, Clone, Default)]
struct Chunk {
    entries: Vec<Entry>,
    text: String,
    /// The blocks' cumulative work.
    work: Work,
    /// The blocks' JSON sizes, noted when first asked for (a full chunk never changes,
    /// so it is noted once for every version of the chain that shares it).
    lens: OnceLock<Measured>,
}

/// What measuring a chunk's JSON notes: the sizes, and which blocks' `data` text is
/// already written as each dialect writes it (then it is copied, not re-written).
#[derive(Debug, Clone, Default)]
struct Measured {
    lens: JsonLens,
    /// Bit `i`: block `i`'s text is its compact JSON.
    compact_verbatim: [u64; CHUNK / 64],
    /// Bit `i`: block `i`'s text is its Python-dialect JSON.
    python_verbatim: [u64; CHUNK / 64],
}

impl Measured {
    fn verbatim(&self, i: usize, dialect: Dialect) -> bool {
        let bits = match dialect {
            Dialect::Compact => &self.compact_verbatim,
            Dialect::Python => &self.python_verbatim,
        };
        bits[i / 64] & (1 << (i % 64)) != 0
    }
}

impl Chunk {
    fn with_capacity() -> Chunk {
        Chunk {
            entries: Vec::with_capacity(CHUNK),
            ..Chunk::default()
        }
    }

    fn truncate(&mut self, len: usize) {
        if len >= self.entries.len() {
            return;
        }
        let start = self.entries[len].start;
        self.entries.truncate(len);
        self.text
            .truncate(usize::try_from(start).expect("text offsets fit in memory"));
        self.work = self
            .entries
            .iter()
            .map(|e| Difficulty::new(e.difficulty).work())
            .sum();
        self.lens = OnceLock::new();
    }
}

/// A view of one block of a [`ChainBlocks`], borrowed from it: everything a block
/// holds, without building one.
#[derive(Debug, Clone, Copy)]
pub struct BlockView<'a> {
    /// Height.
    pub block_no: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// The previous block's hash; `None` for genesis (whose `prev_hash` is `"0x0000"`).
    pub prev: Option<&'a [u8; 32]>,
    /// The block's hash.
    pub hash: &'a [u8; 32],
    /// The `data` text as it arrived.
    pub data: &'a str,
    /// The nonce's decimal digits.
    pub nonce: &'a str,
    /// The difficulty.
    pub difficulty: Difficulty,
    /// Whether `data` is already written as [`Dialect::Compact`], and as
    /// [`Dialect::Python`], writes it (known once its chunk was measured).
    verbatim: (bool, bool),
}

impl BlockView<'_> {
    /// The hash as 64 lowercase hex digits.
    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash)
    }

    /// The `prev_hash` field's text.
    pub fn prev_hash(&self) -> String {
        self.prev.map_or_else(|| "0x0000".to_owned(), hex::encode)
    }

    /// Appends the block as JSON, exactly as [`Block::write`] writes the same block.
    pub fn write(&self, dialect: Dialect, out: &mut Vec<u8>) {
        let verbatim = match dialect {
            Dialect::Compact => self.verbatim.0,
            Dialect::Python => self.verbatim.1,
        };
        self.write_with(dialect, out, verbatim);
    }

    /// Writes the block, copying `data` as it is when `verbatim` (known to come out
    /// so), else re-writing it; returns whether it came out as its text.
    fn write_with(&self, dialect: Dialect, out: &mut Vec<u8>, verbatim: bool) -> bool {
        let mut prev = [0u8; 64];
        let prev_hash = match self.prev {
            Some(bytes) => hex_str(bytes, &mut prev),
            None => "0x0000",
        };
        let mut hash = [0u8; 64];
        let mut same = verbatim;
        write_block_fields(
            dialect,
            out,
            self.block_no,
            self.timestamp,
            prev_hash,
            |out| {
                if verbatim {
                    out.extend_from_slice(self.data.as_bytes());
                } else {
                    let at = out.len();
                    write_raw_text(self.data, dialect, out);
                    same = &out[at..] == self.data.as_bytes();
                }
            },
            hex_str(self.hash, &mut hash),
            self.nonce,
            self.difficulty,
        );
        same
    }

    /// Appends the block's header as compact JSON: its fields but `data`, which is
    /// given by its first `preview_chars` characters as the block's JSON writes it
    /// (`data_preview`, a string) and whether it has more (`data_clipped`). A list of
    /// blocks to look over costs this much per block however large the data.
    pub fn write_header(&self, preview_chars: usize, out: &mut Vec<u8>) {
        let (preview, clipped) = compact_preview(self.data, self.verbatim.0, preview_chars);
        let mut digits = [0u8; 20];
        out.extend_from_slice(b"{\"block_no\":");
        out.extend_from_slice(fmt_u64(&mut digits, self.block_no));
        out.extend_from_slice(b",\"timestamp\":");
        out.extend_from_slice(fmt_u64(&mut digits, self.timestamp));
        out.extend_from_slice(b",\"prev_hash\":");
        write_string(&self.prev_hash(), Dialect::Compact, out);
        out.extend_from_slice(b",\"hash\":");
        let mut hash = [0u8; 64];
        write_string(hex_str(self.hash, &mut hash), Dialect::Compact, out);
        out.extend_from_slice(b",\"nonce\":");
        out.extend_from_slice(self.nonce.as_bytes());
        out.extend_from_slice(b",\"difficulty\":");
        out.extend_from_slice(fmt_u64(&mut digits, u64::from(self.difficulty.bits())));
        out.extend_from_slice(b",\"data_preview\":");
        write_string(&preview, Dialect::Compact, out);
        out.extend_from_slice(if clipped {
            b",\"data_clipped\":true}"
        } else {
            b",\"data_clipped\":false}"
        });
    }

    /// The block itself (its `data` parsed again, and its `str()` rendered).
    pub fn to_block(&self) -> Block {
        Block {
            block_no: self.block_no,
            timestamp: self.timestamp,
            prev_hash: self.prev_hash(),
            data: RawJson::parse(self.data)
                .expect("the data of a block of a valid chain was checked as JSON"),
            hash: self.hash_hex(),
            nonce: Nonce::from_digits(self.nonce)
                .expect("the nonce of a block of a valid chain was checked as digits"),
            difficulty: self.difficulty,
        }
    }

    /// Whether `block` is this block with its `data` spelled the same (what a store
    /// record holds).
    pub fn same_record(&self, block: &Block) -> bool {
        let mut hash = [0u8; 64];
        block.block_no == self.block_no
            && block.timestamp == self.timestamp
            && block.hash == hex_str(self.hash, &mut hash)
            && block.data.as_str() == self.data
            && block.nonce.as_str() == self.nonce
            && block.difficulty == self.difficulty
            && block.prev_hash == self.prev_hash()
    }
}

/// `bytes` as lowercase hex in `buf`.
fn hex_str<'b>(bytes: &[u8; 32], buf: &'b mut [u8; 64]) -> &'b str {
    hex::encode_to_slice(bytes, buf).expect("32 bytes fill exactly 64 hex digits");
    std::str::from_utf8(buf).expect("hex digits are ASCII")
}

/// The blocks of a valid chain, compact and shared between clones (see the module
/// doc). Only [`ValidChain`](super::ValidChain) builds one, from validated blocks.
#[derive(Debug, Clone, Default)]
pub struct ChainBlocks {
    full: Vec<Arc<Chunk>>,
    /// The partial chunk: shared too until a clone changes it.
    tail: Arc<Chunk>,
}

impl ChainBlocks {
    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.full.len() * CHUNK + self.tail.entries.len()
    }

    /// Whether there are no blocks (a valid chain always has genesis).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a block of a valid chain: its hash is 64 lowercase hex digits and its
    /// `prev_hash` the previous block's hash (neither is checked again here).
    ///
    /// # Panics
    /// When the hash is not 64 hex digits: the caller appends only validated blocks.
    pub(crate) fn push(&mut self, block: &Block) {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(&block.hash, &mut hash)
            .expect("a validated block's hash is 64 hex digits (genesis's too)");
        let tail = Arc::make_mut(&mut self.tail);
        let nonce = block.nonce.as_str();
        let data = block.data.as_str();
        tail.entries.push(Entry {
            block_no: block.block_no,
            timestamp: block.timestamp,
            start: tail.text.len() as u64,
            hash,
            difficulty: block.difficulty.bits(),
            data_len: u32::try_from(data.len()).expect("a block's data is under 4 GiB"),
            nonce_len: u8::try_from(nonce.len()).expect("a nonce has at most 40 digits"),
        });
        tail.text.push_str(nonce);
        tail.text.push_str(data);
        tail.work = tail.work.saturating_add(block.difficulty.work());
        tail.lens = OnceLock::new();
        if tail.entries.len() == CHUNK {
            let mut full = std::mem::replace(tail, Chunk::with_capacity());
            full.text.shrink_to_fit();
            self.full.push(Arc::new(full));
        }
    }

    /// Keeps the first `len` blocks.
    pub(crate) fn truncate(&mut self, len: usize) {
        if len >= self.len() {
            return;
        }
        let chunk = len / CHUNK;
        if chunk < self.full.len() {
            let mut tail = Chunk::clone(&self.full[chunk]);
            tail.entries.reserve(CHUNK - tail.entries.len());
            self.full.truncate(chunk);
            self.tail = Arc::new(tail);
        }
        Arc::make_mut(&mut self.tail).truncate(len % CHUNK);
    }

    fn chunk_of(&self, i: usize) -> Option<&Chunk> {
        match self.full.get(i / CHUNK) {
            Some(chunk) => Some(chunk),
            None if i / CHUNK == self.full.len() => Some(&self.tail),
            None => None,
        }
    }

    /// The hash of block `i`.
    pub fn hash(&self, i: usize) -> Option<&[u8; 32]> {
        Some(&self.chunk_of(i)?.entries.get(i % CHUNK)?.hash)
    }

    /// Block `i`.
    pub fn get(&self, i: usize) -> Option<BlockView<'_>> {
        let chunk = self.chunk_of(i)?;
        let (entry, text) = (chunk.entries.get(i % CHUNK)?, &chunk.text);
        let verbatim = chunk.lens.get().map_or((false, false), |m| {
            (
                m.verbatim(i % CHUNK, Dialect::Compact),
                m.verbatim(i % CHUNK, Dialect::Python),
            )
        });
        let prev = match i.checked_sub(1) {
            Some(p) => Some(self.hash(p)?),
            None => None,
        };
        let start = usize::try_from(entry.start).expect("text offsets fit in memory");
        let data_start = start + usize::from(entry.nonce_len);
        Some(BlockView {
            block_no: entry.block_no,
            timestamp: entry.timestamp,
            prev,
            hash: &entry.hash,
            nonce: &text[start..data_start],
            data: &text[data_start..data_start + entry.data_len as usize],
            difficulty: Difficulty::new(entry.difficulty),
            verbatim,
        })
    }

    /// The blocks from `from` on, in order.
    pub fn iter_from(&self, from: usize) -> impl Iterator<Item = BlockView<'_>> + '_ {
        (from..self.len()).map_while(|i| self.get(i))
    }

    /// Every block, in order.
    pub fn iter(&self) -> impl Iterator<Item = BlockView<'_>> + '_ {
        self.iter_from(0)
    }

    /// The blocks as [`Block`]s (for tests and small chains: each one is rebuilt).
    pub fn to_blocks(&self) -> Vec<Block> {
        self.iter().map(|b| b.to_block()).collect()
    }

    /// The cumulative work of all the blocks (a sum over chunks).
    pub fn work(&self) -> Work {
        self.full
            .iter()
            .map(|c| c.work)
            .chain(std::iter::once(self.tail.work))
            .sum()
    }

    /// The blocks' JSON sizes, each block alone: noted once per full chunk, computed
    /// for the partial one.
    pub fn json_lens(&self) -> JsonLens {
        use rayon::prelude::*;
        (0..self.full.len() + 1)
            .into_par_iter()
            .with_min_len(16)
            .map(|k| self.chunk_lens(k))
            .reduce(JsonLens::default, JsonLens::add)
    }

    fn chunk_lens(&self, k: usize) -> JsonLens {
        let measure = || {
            let mut scratch = Vec::with_capacity(1024);
            let mut measured = Measured::default();
            let range = k * CHUNK..self.len().min((k + 1) * CHUNK);
            for (j, view) in range.map_while(|i| self.get(i)).enumerate() {
                for dialect in [Dialect::Compact, Dialect::Python] {
                    scratch.clear();
                    let same = view.write_with(dialect, &mut scratch, false);
                    let (len, bits) = match dialect {
                        Dialect::Compact => {
                            (&mut measured.lens.compact, &mut measured.compact_verbatim)
                        }
                        Dialect::Python => {
                            (&mut measured.lens.python, &mut measured.python_verbatim)
                        }
                    };
                    *len += scratch.len() as u64;
                    if same {
                        bits[j / 64] |= 1 << (j % 64);
                    }
                }
            }
            measured
        };
        match self.full.get(k) {
            Some(chunk) => chunk.lens.get_or_init(measure).lens,
            None => self.tail.lens.get_or_init(measure).lens,
        }
    }

    /// Appends blocks `range` as JSON array items in `dialect`, each after a separator
    /// but block `first_without_separator`.
    pub fn write_items(
        &self,
        range: std::ops::Range<usize>,
        dialect: Dialect,
        first_without_separator: usize,
        out: &mut Vec<u8>,
    ) {
        for i in range {
            let Some(view) = self.get(i) else { break };
            if i != first_without_separator {
                write_separator(b',', dialect, out);
            }
            view.write(dialect, out);
        }
    }

    /// Appends blocks `range` as a JSON array in `dialect` (as
    /// [`write_chain`](super::block::write_chain) writes the same blocks).
    pub fn write_array(&self, range: std::ops::Range<usize>, dialect: Dialect, out: &mut Vec<u8>) {
        out.push(b'[');
        let first = range.start;
        self.write_items(range, dialect, first, out);
        out.push(b']');
    }

    /// How many leading blocks `self` and `other` store alike (equal fields, `data`
    /// spelled the same). Chunks the two share are skipped unread.
    pub fn common_records(&self, other: &ChainBlocks) -> usize {
        let mut i = 0;
        for (a, b) in self.full.iter().zip(&other.full) {
            if !Arc::ptr_eq(a, b) {
                break;
            }
            i += CHUNK;
        }
        while let (Some(a), Some(b)) = (self.get(i), other.get(i)) {
            let same = a.hash == b.hash
                && a.data == b.data
                && a.nonce == b.nonce
                && a.block_no == b.block_no
                && a.timestamp == b.timestamp
                && a.difficulty == b.difficulty;
            if !same {
                break;
            }
            i += 1;
        }
        i
    }

    /// Whether these are exactly `blocks` (as [`Block`]'s equality has it: `data`
    /// compared by value).
    pub fn equals_blocks(&self, blocks: &[Block]) -> bool {
        blocks.len() == self.len()
            && blocks.iter().zip(self.iter()).all(|(block, view)| {
                let mut hash = [0u8; 64];
                block.hash == hex_str(view.hash, &mut hash)
                    && block.block_no == view.block_no
                    && block.timestamp == view.timestamp
                    && block.nonce.as_str() == view.nonce
                    && block.difficulty == view.difficulty
                    && block.prev_hash == view.prev_hash()
                    && (block.data.as_str() == view.data || block.data == view.to_block().data)
            })
    }
}

/// Equal when the blocks are (`data` by value, as [`Block`]'s equality has it).
impl PartialEq for ChainBlocks {
    fn eq(&self, other: &ChainBlocks) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let common = self.common_records(other);
        common == self.len()
            || self
                .iter_from(common)
                .zip(other.iter_from(common))
                .all(|(a, b)| a.to_block() == b.to_block())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::block::write_chain;
    use crate::miner::synthetic::synthetic_chain;

    fn of(blocks: &[Block]) -> ChainBlocks {
        let mut chain = ChainBlocks::default();
        for block in blocks {
            chain.push(block);
        }
        chain
    }

    /// Views write, rebuild and measure exactly what the blocks do, across chunk
    /// boundaries, after truncation too; clones share full chunks.
    #[test]
    fn views_are_the_blocks() {
        let blocks = synthetic_chain(3 * CHUNK + 17);
        let mut chain = of(&blocks);
        assert_eq!(chain.len(), blocks.len());
        assert_eq!(chain.to_blocks(), blocks);
        assert!(chain.equals_blocks(&blocks));
        for dialect in [Dialect::Compact, Dialect::Python] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            write_chain(&blocks, dialect, &mut a);
            chain.write_array(0..chain.len(), dialect, &mut b);
            assert_eq!(a, b);
            let lens = chain.json_lens();
            assert_eq!(
                chain.json_lens().chain_len(chain.len(), dialect),
                a.len() as u64
            );
            assert_eq!(lens, chain.json_lens());
            // Measured, the chunks copy verbatim text: still the same bytes.
            let mut c = Vec::new();
            chain.write_array(0..chain.len(), dialect, &mut c);
            assert_eq!(a, c);
        }
        let work: Work = blocks.iter().map(|b| b.difficulty.work()).sum();
        assert_eq!(chain.work(), work);
        let copy = chain.clone();
        assert_eq!(copy.common_records(&chain), chain.len());
        assert!(Arc::ptr_eq(&copy.full[0], &chain.full[0]));
        for len in [3 * CHUNK + 5, 2 * CHUNK, CHUNK + 1, 1] {
            chain.truncate(len);
            assert_eq!(chain.to_blocks(), blocks[..len]);
            let work: Work = blocks[..len].iter().map(|b| b.difficulty.work()).sum();
            assert_eq!(chain.work(), work, "{len}");
            let mut a = Vec::new();
            write_chain(&blocks[..len], Dialect::Python, &mut a);
            assert_eq!(
                chain.json_lens().chain_len(len, Dialect::Python),
                a.len() as u64
            );
        }
        assert_eq!(copy.common_records(&chain), 1);
        assert_ne!(copy, chain);
        chain.push(&blocks[1]);
        assert_eq!(copy.common_records(&chain), 2);
    }
}
