//! The block hash: SHA-256 of the original's Python-`str()` preimage. The only place
//! that knows how a preimage is laid out.

use sha2::{Digest, Sha256};

use super::block::{Block, fmt_u64};
use super::data::{RawJson, write_raw_str};
use super::pow::BlockHash;

/// Appends the part of the preimage before the nonce:
/// `str(block_no) + str(timestamp) + str(data) + prev_hash`.
///
/// The miner absorbs this once per job; the nonce and `str(difficulty)` follow it.
/// `prev_hash` is the previous block's `hash` field as bytes (the miner holds a hash it
/// just found as hex digits, not as a `String`).
pub fn write_preimage_prefix(
    block_no: u64,
    timestamp: u64,
    data: &RawJson,
    prev_hash: &[u8],
    out: &mut Vec<u8>,
) {
    let mut digits = [0u8; 20];
    out.extend_from_slice(fmt_u64(&mut digits, block_no));
    out.extend_from_slice(fmt_u64(&mut digits, timestamp));
    write_raw_str(data, out);
    out.extend_from_slice(prev_hash);
}

/// Appends a block's whole preimage: the prefix, `str(nonce)`, `str(difficulty)`.
pub fn write_preimage(block: &Block, out: &mut Vec<u8>) {
    write_preimage_prefix(
        block.block_no,
        block.timestamp,
        &block.data,
        block.prev_hash.as_bytes(),
        out,
    );
    out.extend_from_slice(block.nonce.as_str().as_bytes());
    let mut digits = [0u8; 20];
    out.extend_from_slice(fmt_u64(&mut digits, u64::from(block.difficulty.bits())));
}

/// A block's preimage as text (what `minichain hash --preimage` prints).
pub fn preimage_string(block: &Block) -> String {
    let mut out = Vec::new();
    write_preimage(block, &mut out);
    String::from_utf8(out).expect("the preimage is built from strs and ASCII digits")
}

/// SHA-256 of a byte string, as a [`BlockHash`].
pub fn sha256(bytes: &[u8]) -> BlockHash {
    BlockHash::from_bytes(Sha256::digest(bytes).into())
}

/// Hashes blocks through one reusable preimage buffer (no allocation per block once
/// the buffer has grown).
#[derive(Debug, Default)]
pub struct BlockHasher {
    buf: Vec<u8>,
}

impl BlockHasher {
    /// A hasher with an empty buffer.
    pub fn new() -> Self {
        BlockHasher::default()
    }

    /// The hash of `block`'s own fields (its `hash` field is ignored).
    pub fn hash(&mut self, block: &Block) -> BlockHash {
        self.buf.clear();
        write_preimage(block, &mut self.buf);
        sha256(&self.buf)
    }
}

/// The hash of `block`'s own fields.
pub fn block_hash(block: &Block) -> BlockHash {
    BlockHasher::new().hash(block)
}
