//! The reference miner: single-threaded, plain and obviously correct, the oracle the
//! fast miner is checked against. It mines as the original's `Block.mine_block` does.

use crate::chain::hash::BlockHasher;
use crate::chain::{Block, Difficulty, DifficultyPolicy, Json, Nonce, next_difficulty};

/// Mines a block on `prev` exactly as the original does: nonce from 1 upward, the
/// clock re-read on every attempt and the difficulty re-derived from the policy (so it
/// drops by one once the mine rate has passed), unless `fixed` pins it.
pub fn mine_like_original(
    prev: &Block,
    data: Json,
    policy: &DifficultyPolicy,
    fixed: Option<Difficulty>,
    mut clock_ms: impl FnMut() -> u64,
) -> Block {
    let mut hasher = BlockHasher::new();
    let mut block = Block {
        block_no: prev.block_no + 1,
        timestamp: 0,
        prev_hash: prev.hash.clone(),
        data: data.into(),
        hash: String::new(),
        nonce: Nonce::from(0),
        difficulty: Difficulty::new(0),
    };
    let mut nonce: u128 = 0;
    loop {
        nonce += 1;
        block.nonce = Nonce::from(nonce);
        block.timestamp = clock_ms();
        block.difficulty = fixed.unwrap_or_else(|| {
            next_difficulty(prev.difficulty, prev.timestamp, block.timestamp, policy)
        });
        let hash = hasher.hash(&block);
        if block.difficulty.is_met_by(&hash) {
            block.hash = hash.to_hex();
            return block;
        }
    }
}

/// Mines a block on `prev` with a fixed timestamp and difficulty (tests and vectors).
pub fn mine_reference(prev: &Block, data: Json, timestamp: u64, difficulty: Difficulty) -> Block {
    mine_like_original(
        prev,
        data,
        &DifficultyPolicy::default(),
        Some(difficulty),
        || timestamp,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{PolicyKind, block_hash, genesis};

    #[test]
    fn first_block_on_genesis_gets_difficulty_3_and_meets_it() {
        let policy = DifficultyPolicy {
            kind: PolicyKind::Seed,
            mine_rate_ms: 2000,
        };
        let now = crate::chain::validate::now_ms();
        let b = mine_like_original(&genesis(), Json::String("x".into()), &policy, None, || now);
        assert_eq!(b.difficulty, Difficulty::new(3));
        assert_eq!(b.block_no, 1);
        let h = block_hash(&b);
        assert!(h.matches_hex(&b.hash) && h.leading_zero_bits() >= 3);
    }

    #[test]
    fn nonce_starts_at_one_and_is_the_first_hit() {
        let g = genesis();
        let b = mine_reference(&g, Json::Null, 5000, Difficulty::new(6));
        let n: u128 = b.nonce.as_str().parse().unwrap_or(0);
        assert!(n >= 1);
        for earlier in 1..n {
            let mut c = b.clone();
            c.nonce = Nonce::from(earlier);
            assert!(!c.difficulty.is_met_by(&block_hash(&c)));
        }
    }
}
