//! Blocks by difficulty: blocks mined back to back, each on the last, for a time
//! slice, with the effective attempts per second (every per-block and per-epoch cost
//! included), two ways: the attempts made, and the attempts the blocks found stand for
//! (2^difficulty each, what a block takes on average); and beside each slice, the
//! miner's peak, the yardstick for the slice's share of it.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use super::rates::{cancel_after, peak_attempts_per_s, pinned_job};
use super::report::DifficultyRate;
use super::stats::ratio;
use crate::chain::{Difficulty, genesis};
use crate::miner::{CancelToken, Miner};

/// Blocks mined back to back over one or more time slices: what [`mine_blocks_for`]
/// measures, summed over rounds with [`BlockSlice::add`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BlockSlice {
    /// Blocks found.
    pub blocks: u64,
    /// Attempts made, per-block costs in their time.
    pub attempts: u64,
    /// Seconds mined.
    pub secs: f64,
}

impl BlockSlice {
    /// Adds another slice's blocks, attempts and seconds.
    pub fn add(&mut self, other: BlockSlice) {
        self.blocks += other.blocks;
        self.attempts += other.attempts;
        self.secs += other.secs;
    }

    /// The report row for `difficulty`: seconds per block (none without a block) and
    /// the rates over all the slices, with the peak measured beside them.
    pub fn rate(self, difficulty: u32, peak_attempts_per_s: f64) -> DifficultyRate {
        DifficultyRate {
            difficulty,
            blocks: self.blocks,
            secs_per_block: (self.blocks > 0).then(|| self.secs / self.blocks as f64),
            attempts_per_s: ratio(self.attempts as f64, self.secs),
            block_attempts_per_s: ratio(self.blocks as f64, self.secs)
                * 2f64.powi(difficulty as i32),
            peak_attempts_per_s,
        }
    }
}

/// The peak windows beside a slice of blocks: one before and one after, each this
/// fraction of the slice (half the slice's time again in all).
pub const PEAK_BESIDE: f64 = 0.25;

/// [`mine_blocks_for`], with the miner's peak measured just before and just after the
/// slice ([`PEAK_BESIDE`] of it each, the two rates averaged): a yardstick for the
/// slice taken within a fraction of a second of it, so that a shared machine's drift
/// over seconds does not read as per-block cost.
pub fn mine_blocks_beside_peak(
    miner: &Miner,
    difficulty: Difficulty,
    slice: Duration,
) -> (BlockSlice, f64) {
    let window = slice.mul_f64(PEAK_BESIDE);
    let before = peak_attempts_per_s(miner, window);
    let blocks = mine_blocks_for(miner, difficulty, slice);
    let after = peak_attempts_per_s(miner, window);
    (blocks, (before + after) / 2.0)
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
        attempts: progress.total_attempts() - before,
        secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rounds add up blocks, attempts and seconds, and the rates are over them all;
    /// no block, no s/block and no block rate; no time, no rate rather than a NaN.
    #[test]
    fn slices_add_up() {
        let mut total = BlockSlice::default();
        assert_eq!(total.rate(8, 0.0).secs_per_block, None);
        assert_eq!(total.rate(8, 0.0).block_attempts_per_s, 0.0);
        assert_eq!(total.rate(8, 0.0).attempts_per_s, 0.0);
        total.add(BlockSlice {
            blocks: 2,
            attempts: 5,
            secs: 1.0,
        });
        total.add(BlockSlice {
            blocks: 3,
            attempts: 3,
            secs: 1.0,
        });
        let row = total.rate(8, 7.0);
        assert_eq!(row.blocks, 5);
        assert_eq!(row.secs_per_block, Some(0.4));
        assert_eq!(row.attempts_per_s, 4.0);
        assert_eq!(row.block_attempts_per_s, 2.5 * 256.0);
        assert_eq!(row.peak_attempts_per_s, 7.0);
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
        let (slice, peak) =
            mine_blocks_beside_peak(&miner, Difficulty::new(4), Duration::from_millis(200));
        assert!(slice.blocks > 100, "{slice:?}");
        assert!(slice.attempts > 0 && slice.secs > 0.0, "{slice:?}");
        assert!(peak > 0.0, "the windows beside the slice made attempts");
        let row = slice.rate(4, peak);
        assert!(
            row.attempts_per_s > 0.5 * row.block_attempts_per_s,
            "attempts made {} against the blocks' {}",
            row.attempts_per_s,
            row.block_attempts_per_s
        );
    }
}
