//! Blocks by difficulty: blocks mined back to back, each on the last, for a time
//! slice, with the effective attempts per second (every per-block and per-epoch cost
//! included), two ways: the attempts made, and the attempts the blocks found stand for
//! (2^difficulty each, what a block takes on average).

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
    /// The best blocks per second of any one slice.
    pub best_blocks_per_s: f64,
}

impl BlockSlice {
    /// Adds another slice's blocks and seconds, keeping the better rate.
    pub fn add(&mut self, other: BlockSlice) {
        self.blocks += other.blocks;
        self.secs += other.secs;
        self.best_attempts_per_s = self.best_attempts_per_s.max(other.best_attempts_per_s);
        self.best_blocks_per_s = self.best_blocks_per_s.max(other.best_blocks_per_s);
    }

    /// The report row for `difficulty`: seconds per block (none without a block) and
    /// the best rates.
    pub fn rate(self, difficulty: u32) -> DifficultyRate {
        DifficultyRate {
            difficulty,
            blocks: self.blocks,
            secs_per_block: (self.blocks > 0).then(|| self.secs / self.blocks as f64),
            attempts_per_s: self.best_attempts_per_s,
            block_attempts_per_s: self.best_blocks_per_s * 2f64.powi(difficulty as i32),
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
        best_blocks_per_s: blocks as f64 / secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rounds add up blocks and seconds and keep the best rates (each on its own); no
    /// block, no s/block and no block rate.
    #[test]
    fn slices_add_up() {
        let mut total = BlockSlice::default();
        assert_eq!(total.rate(8).secs_per_block, None);
        assert_eq!(total.rate(8).block_attempts_per_s, 0.0);
        total.add(BlockSlice {
            blocks: 2,
            secs: 1.0,
            best_attempts_per_s: 5.0,
            best_blocks_per_s: 2.0,
        });
        total.add(BlockSlice {
            blocks: 3,
            secs: 1.0,
            best_attempts_per_s: 3.0,
            best_blocks_per_s: 3.0,
        });
        let row = total.rate(8);
        assert_eq!(row.blocks, 5);
        assert_eq!(row.secs_per_block, Some(0.4));
        assert_eq!(row.attempts_per_s, 5.0);
        assert_eq!(row.block_attempts_per_s, 3.0 * 256.0);
    }

    /// A real slice at a low difficulty finds blocks, and its attempts made are at
    /// least about what the blocks stand for (every attempt that found a block was
    /// made, and so were those wasted in batches cut short).
    #[test]
    fn a_slice_counts_its_blocks_and_attempts() {
        let miner = Miner::new(crate::miner::MinerConfig {
            threads: Some(2),
            kernel: Some(crate::miner::KernelKind::Portable),
        })
        .expect("the portable kernel runs everywhere");
        let slice = mine_blocks_for(&miner, Difficulty::new(4), Duration::from_millis(200));
        assert!(slice.blocks > 100, "{slice:?}");
        assert!(slice.best_blocks_per_s > 0.0);
        let row = slice.rate(4);
        assert!(
            row.attempts_per_s > 0.5 * row.block_attempts_per_s,
            "attempts made {} against the blocks' {}",
            row.attempts_per_s,
            row.block_attempts_per_s
        );
    }
}
