//! The block hash: SHA-256 of the original's Python-`str()` preimage. The only place
//! that knows how a preimage is laid out.

use sha2::{Digest, Sha256};

use super::block::{Block, fmt_u64};
use super::data::{RawJson, write_raw_str};
use super::hash_many::Batch;
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

/// Hashes runs of blocks a [`Batch`] at a time (sixteen preimages side by side in
/// AVX-512 lanes where the CPU has them), through reused preimage buffers.
#[derive(Debug, Default)]
pub struct BatchHasher {
    batch: Batch,
}

impl BatchHasher {
    /// A hasher with empty buffers.
    pub fn new() -> Self {
        BatchHasher::default()
    }

    /// Calls `check(i, hash of blocks[i])` for each block in order, and stops at the
    /// first error, which it returns. A batch is cut short once its preimages pass
    /// [`BATCH_BYTES`](super::hash_many::BATCH_BYTES).
    ///
    /// # Errors
    /// The first error `check` returns.
    pub fn check_each<E>(
        &mut self,
        blocks: &[Block],
        mut check: impl FnMut(usize, BlockHash) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut from = 0;
        while from < blocks.len() {
            for block in &blocks[from..] {
                let buf = self.batch.slot();
                buf.clear();
                write_preimage(block, buf);
                self.batch.push();
                if self.batch.is_full() {
                    break;
                }
            }
            let digests = self.batch.hash();
            for (i, digest) in digests.iter().enumerate() {
                check(from + i, BlockHash::from_bytes(*digest))?;
            }
            from += digests.len();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::hash_many::BATCH_BYTES;
    use crate::chain::json::Json;
    use crate::chain::pow::Difficulty;
    use crate::miner::reference::mine_reference;

    /// Batches of every size, some cut short by two large preimages (blocks 4 and 13
    /// pass `BATCH_BYTES` together), hash as one block at a time does, in order; the
    /// first error stops the walk.
    #[test]
    fn batches_hash_as_one_block_at_a_time() {
        let mut blocks = vec![crate::chain::genesis()];
        for i in 1..60usize {
            let text = if i % 9 == 4 {
                "y".repeat(BATCH_BYTES / 2)
            } else {
                format!("block {i}")
            };
            let prev = &blocks[i - 1];
            let d = prev.difficulty.bits();
            let difficulty = Difficulty::new(if d > 2 { d - 1 } else { 3 - d });
            let block = mine_reference(
                prev,
                Json::String(text.into()),
                prev.timestamp + 1,
                difficulty,
            );
            blocks.push(block);
        }
        let mut one = BlockHasher::new();
        let mut batch = BatchHasher::new();
        for len in [0, 1, 15, 16, 17, 33, 60] {
            let mut seen = Vec::new();
            let done: Result<(), ()> = batch.check_each(&blocks[..len], |i, hash| {
                seen.push((i, hash));
                Ok(())
            });
            assert_eq!(done, Ok(()));
            let want: Vec<_> = blocks[..len]
                .iter()
                .map(|b| one.hash(b))
                .enumerate()
                .collect();
            assert_eq!(seen, want, "{len}");
        }
        let mut calls = 0;
        let stopped = batch.check_each(&blocks, |i, _| {
            calls += 1;
            if i == 20 { Err(i) } else { Ok(()) }
        });
        assert_eq!((stopped, calls), (Err(20), 21));
    }
}
