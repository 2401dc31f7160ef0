//! Blocks by difficulty: blocks mined back to back, each on the last, for a time
//! slice, with the effective attempts per second (every per-block and per-epoch cost
//! included).

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use super::rates::{cancel_after, pinned_job};
use super::report::DifficultyRate;
use crate::chain::{Difficulty, genesis};
use crate::miner::{CancelToken, Miner};

/// Blocks mined back to back over one or more time slices: what [`mine_blocks_for`]
/// measures, summed over rounds with [`BlockSlice::add`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BlockSlice {
    /// Blocks found.
    pub blocks: u64,
    /// Seconds mined.
    pub secs: f64,
    /// The best attempts per second of any one slice.
    pub best_attempts_per_s: f64,
}

impl BlockSlice {
    /// Adds another slice's blocks and seconds, keeping the better rate.
    pub fn add(&mut self, other: BlockSlice) {
        self.blocks += other.blocks;
        self.secs += other.secs;
        self.best_attempts_per_s = self.best_attempts_per_s.max(other.best_attempts_per_s);
    }

    /// The report row for `difficulty`: seconds per block (none without a block) and
    /// the best rate.
    pub fn rate(self, difficulty: u32) -> DifficultyRate {
        DifficultyRate {
            difficulty,
            blocks: self.blocks,
            secs_per_block: (self.blocks > 0).then(|| self.secs / self.blocks as f64),
            attempts_per_s: self.best_attempts_per_s,
        }
    }
}

/// Mines blocks back to back with [`Miner::mine_chain`], each on the last, starting on
/// genesis, at `difficulty` for `slice`.
pub fn mine_blocks_for(miner: &Miner, difficulty: Difficulty, slice: Duration) -> BlockSlice {
    let token = CancelToken::new();
    let progress = miner.progress();
    let before = progress.total_attempts();
    let started = Instant::now();
    let blocks = cancel_after(slice, &token, || {
        // One job, each block on the last: what mining a chain at this difficulty
        // yields, every per-block cost included.
        let job = pinned_job(genesis(), difficulty);
        miner.mine_chain(&job, &token, |_| ControlFlow::Continue(()))
    });
    let secs = started.elapsed().as_secs_f64();
    BlockSlice {
        blocks,
        secs,
        best_attempts_per_s: (progress.total_attempts() - before) as f64 / secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rounds add up blocks and seconds and keep the best rate; no block, no s/block.
    #[test]
    fn slices_add_up() {
        let mut total = BlockSlice::default();
        assert_eq!(total.rate(8).secs_per_block, None);
        total.add(BlockSlice {
            blocks: 2,
            secs: 1.0,
            best_attempts_per_s: 5.0,
        });
        total.add(BlockSlice {
            blocks: 2,
            secs: 1.0,
            best_attempts_per_s: 3.0,
        });
        let row = total.rate(8);
        assert_eq!(row.blocks, 4);
        assert_eq!(row.secs_per_block, Some(0.5));
        assert_eq!(row.attempts_per_s, 5.0);
    }
}
