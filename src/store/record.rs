//! The records the store keeps, and their binary encoding: one version byte, then
//! postcard (serde) of the record's fields.
//!
//! The version byte comes first so that a later minichain can change a record's
//! layout and still read the old one, and so that this one refuses, by name, a record
//! it does not know instead of misreading it. A block's `data` is kept as its JSON
//! text and read back with the same parser that read it from the network, so the
//! block hashes as it did (the text, not a re-rendering, is what goes into the
//! preimage via Python's `str()`).

use serde::{Deserialize, Serialize};

use crate::chain::block::{Block, Nonce, NonceError};
use crate::chain::compact::BlockView;
use crate::chain::json::JsonError;
use crate::chain::{Difficulty, RawJson, ValidChain};

/// The version byte of the block and tip records this minichain writes.
pub const RECORD_VERSION: u8 = 1;

/// Why a stored record cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Zero bytes: not even a version byte.
    #[error("empty record")]
    Empty,
    /// A version byte this minichain does not know.
    #[error("unknown record version {0} (this minichain reads version {RECORD_VERSION})")]
    Version(u8),
    /// The bytes after the version byte are not the record's fields.
    #[error("undecodable record: {0}")]
    Decode(postcard::Error),
    /// Bytes left over after the record's fields.
    #[error("{0} stray bytes after the record")]
    Trailing(usize),
    /// The block's `data` text is not JSON a Python node reads.
    #[error("block data is not JSON: {0}")]
    Data(JsonError),
    /// The block's nonce is not canonical decimal digits.
    #[error("{0}")]
    Nonce(NonceError),
}

/// A block's fields as stored (version 1), borrowed from the block or the record.
#[derive(Debug, Serialize, Deserialize)]
struct BlockV1<'a> {
    block_no: u64,
    timestamp: u64,
    prev_hash: &'a str,
    data: &'a str,
    hash: &'a str,
    nonce: &'a str,
    difficulty: u32,
}

/// The tip record (version 1): what the blocks must add up to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TipRecord {
    /// Blocks in the stored chain, genesis included.
    pub len: u64,
    /// The last block's hash.
    pub tip_hash: String,
    /// Cumulative work (sum of 2^difficulty), in decimal as `/api/status` shows it.
    pub work: String,
}

impl TipRecord {
    /// The tip record of `chain`.
    pub fn of(chain: &ValidChain) -> TipRecord {
        TipRecord {
            len: chain.len() as u64,
            tip_hash: chain.tip().hash.clone(),
            work: chain.work().to_string(),
        }
    }
}

/// The record of `block`: the version byte, then its fields.
pub fn encode_block(block: &Block) -> Vec<u8> {
    let fields = BlockV1 {
        block_no: block.block_no,
        timestamp: block.timestamp,
        prev_hash: &block.prev_hash,
        data: block.data.as_str(),
        hash: &block.hash,
        nonce: block.nonce.as_str(),
        difficulty: block.difficulty.bits(),
    };
    let mut out = Vec::with_capacity(64 + block.data.as_str().len() + 2 * 64);
    out.push(RECORD_VERSION);
    postcard::to_extend(&fields, out).expect("postcard writes these fields to a Vec without fail")
}

/// The record of a block of a compact chain (the same bytes as [`encode_block`] of the
/// same block).
pub fn encode_view(block: &BlockView<'_>) -> Vec<u8> {
    let prev_hash = block.prev_hash();
    let hash = block.hash_hex();
    let fields = BlockV1 {
        block_no: block.block_no,
        timestamp: block.timestamp,
        prev_hash: &prev_hash,
        data: block.data,
        hash: &hash,
        nonce: block.nonce,
        difficulty: block.difficulty.bits(),
    };
    let mut out = Vec::with_capacity(64 + block.data.len() + 2 * 64);
    out.push(RECORD_VERSION);
    postcard::to_extend(&fields, out).expect("postcard writes these fields to a Vec without fail")
}

/// The block a record holds; its `data` is parsed as the network's text is.
///
/// # Errors
/// [`RecordError`] for an unknown version, undecodable bytes, or fields no block can
/// hold.
pub fn decode_block(bytes: &[u8]) -> Result<Block, RecordError> {
    let fields: BlockV1<'_> = decode(bytes)?;
    Ok(Block {
        block_no: fields.block_no,
        timestamp: fields.timestamp,
        prev_hash: fields.prev_hash.to_owned(),
        data: RawJson::parse(fields.data).map_err(RecordError::Data)?,
        hash: fields.hash.to_owned(),
        nonce: Nonce::from_digits(fields.nonce).map_err(RecordError::Nonce)?,
        difficulty: Difficulty::new(fields.difficulty),
    })
}

/// The record of `tip`.
pub fn encode_tip(tip: &TipRecord) -> Vec<u8> {
    let mut out = vec![RECORD_VERSION];
    out = postcard::to_extend(tip, out).expect("postcard writes a tip record to a Vec");
    out
}

/// The tip record `bytes` holds.
///
/// # Errors
/// [`RecordError`] for an unknown version or undecodable bytes.
pub fn decode_tip(bytes: &[u8]) -> Result<TipRecord, RecordError> {
    decode(bytes)
}

/// Checks the version byte and decodes the rest, all of it.
fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, RecordError> {
    let (&version, rest) = bytes.split_first().ok_or(RecordError::Empty)?;
    if version != RECORD_VERSION {
        return Err(RecordError::Version(version));
    }
    let (value, left) = postcard::take_from_bytes(rest).map_err(RecordError::Decode)?;
    if !left.is_empty() {
        return Err(RecordError::Trailing(left.len()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::block::genesis;
    use crate::chain::json::Json;
    use crate::chain::validate::now_ms;
    use crate::chain::{RuleSet, ValidChain};
    use crate::miner::reference::mine_reference;

    #[test]
    fn mined_blocks_round_trip_and_validate() {
        let mut chain = ValidChain::genesis();
        for (i, data) in [
            r#"{"big": 123456789012345678901234567890}"#,
            "\"é 🦀\"",
            "1e999",
        ]
        .iter()
        .enumerate()
        {
            let tip = chain.tip().clone();
            let data = Json::parse(data).expect("literal");
            let block = mine_reference(&tip, data, 2000 + i as u64, Difficulty::new(3));
            chain.push(block, RuleSet::Strict, now_ms()).expect("valid");
        }
        let back: Vec<Block> = chain
            .blocks()
            .to_blocks()
            .iter()
            .map(|b| decode_block(&encode_block(b)).expect("decodes"))
            .collect();
        let again = ValidChain::validate(back, RuleSet::Strict, now_ms()).expect("valid");
        assert_eq!(again, chain);
        for (block, view) in chain.blocks().to_blocks().iter().zip(chain.blocks().iter()) {
            assert_eq!(encode_block(block), encode_view(&view));
        }
        let tip = TipRecord::of(&chain);
        assert_eq!(decode_tip(&encode_tip(&tip)).expect("decodes"), tip);
    }

    #[test]
    fn damaged_records_are_refused() {
        let record = encode_block(&genesis());
        assert!(matches!(decode_block(&[]), Err(RecordError::Empty)));
        let mut wrong = record.clone();
        wrong[0] = 7;
        assert!(matches!(decode_block(&wrong), Err(RecordError::Version(7))));
        assert!(matches!(
            decode_block(&record[..record.len() - 3]),
            Err(RecordError::Decode(_))
        ));
        let mut long = record.clone();
        long.push(0);
        assert!(matches!(decode_block(&long), Err(RecordError::Trailing(1))));
        let mut bad_nonce = genesis();
        bad_nonce.nonce = Nonce::from(5);
        let mut record = encode_block(&bad_nonce);
        let at = record.len() - 2; // the nonce's one digit, before the difficulty byte
        record[at] = b'x';
        assert!(matches!(decode_block(&record), Err(RecordError::Nonce(_))));
    }
}
