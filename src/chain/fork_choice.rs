//! Fork choice: which of two chains a node keeps.
//!
//! The rule lives in one function, [`ForkChoice::compare`], over a chain's
//! [`ChainWeight`] (its length and cumulative work). Everything that decides or
//! estimates preference calls it: [`ForkChoice::prefers`] on two valid chains (the
//! node's writer), and the node's intake on a chain it has parsed but not yet
//! validated (a cheap pre-check that spares the hashing of a chain that would lose
//! anyway). So the estimate and the decision cannot drift apart.

use std::cmp::Ordering;

use super::block::Block;
use super::pow::Work;
use super::validate::ValidChain;

/// Which of two valid chains a node keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForkChoice {
    /// minichain's default: the chain with more cumulative work (sum of
    /// 2^difficulty); on equal work the current chain stays. A longer chain of easy
    /// blocks cannot displace a shorter chain that cost more to make.
    #[default]
    Work,
    /// The original's rule: a strictly longer chain wins, whatever its blocks cost.
    Length,
}

/// What fork choice looks at in a chain: its length and its cumulative work, so a
/// chain can be weighed before it is validated (or even assembled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainWeight {
    /// Blocks, genesis included.
    pub len: usize,
    /// Sum of 2^difficulty over the blocks (saturating, as [`ValidChain::work`]).
    pub work: Work,
}

impl ChainWeight {
    /// A valid chain's weight (no work: the chain keeps its sum).
    pub fn of_chain(chain: &ValidChain) -> ChainWeight {
        ChainWeight {
            len: chain.len(),
            work: chain.work(),
        }
    }

    /// The weight `blocks` would have as a chain: the same sum [`ValidChain`] keeps,
    /// taken before validation.
    pub fn of_blocks(blocks: &[Block]) -> ChainWeight {
        ChainWeight {
            len: blocks.len(),
            work: blocks.iter().map(|b| b.difficulty.work()).sum(),
        }
    }

    /// The weight of this chain with `blocks` appended (work added as
    /// [`ValidChain::push`] adds it).
    pub fn extended_by(self, blocks: &[Block]) -> ChainWeight {
        let tail = ChainWeight::of_blocks(blocks);
        ChainWeight {
            len: self.len + tail.len,
            work: self.work.saturating_add(tail.work),
        }
    }
}

impl ForkChoice {
    /// The rule: how `candidate` compares with `current`. `Greater` means the
    /// candidate replaces the current chain; `Equal` keeps the current one (a tie
    /// never switches); `Less` means the current chain is strictly better.
    pub fn compare(self, current: ChainWeight, candidate: ChainWeight) -> Ordering {
        match self {
            ForkChoice::Work => candidate.work.cmp(&current.work),
            ForkChoice::Length => candidate.len.cmp(&current.len),
        }
    }

    /// Whether `candidate` should replace `current`.
    pub fn prefers(self, current: &ValidChain, candidate: &ValidChain) -> bool {
        self.compare(
            ChainWeight::of_chain(current),
            ChainWeight::of_chain(candidate),
        ) == Ordering::Greater
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Work;
    use crate::chain::validate::tests::chain_of;

    #[test]
    fn fork_choice_by_work_and_by_length() {
        let long_easy = chain_of(&[3, 2, 1, 1]);
        let short_hard = chain_of(&[3, 4, 5]);
        assert_eq!(long_easy.len(), 5);
        assert_eq!(short_hard.len(), 4);
        assert!(ForkChoice::Work.prefers(&long_easy, &short_hard));
        assert!(!ForkChoice::Work.prefers(&short_hard, &long_easy));
        assert!(ForkChoice::Length.prefers(&short_hard, &long_easy));
        assert!(!ForkChoice::Length.prefers(&long_easy, &short_hard));
        // Equal work: the current chain stays.
        assert!(!ForkChoice::Work.prefers(&short_hard, &short_hard.clone()));
    }

    /// A chain weighed from its blocks, whole or as an extension, weighs what the
    /// valid chain built from them weighs, so the estimate and the decision agree.
    #[test]
    fn weights_from_blocks_equal_the_valid_chains() {
        let short = chain_of(&[3, 4]);
        let long = chain_of(&[3, 4, 5, 4]);
        assert_eq!(
            ChainWeight::of_blocks(&long.clone().into_blocks()),
            ChainWeight::of_chain(&long)
        );
        assert_eq!(
            ChainWeight::of_chain(&short).extended_by(&long.clone().into_blocks()[short.len()..]),
            ChainWeight::of_chain(&long)
        );
        let nothing = ChainWeight::of_chain(&short).extended_by(&[]);
        assert_eq!(nothing, ChainWeight::of_chain(&short));
        for rule in [ForkChoice::Work, ForkChoice::Length] {
            let ours = ChainWeight::of_chain(&short);
            assert_eq!(rule.compare(ours, nothing), Ordering::Equal);
            assert_eq!(
                rule.compare(ours, ChainWeight::of_chain(&long)),
                Ordering::Greater
            );
            assert_eq!(
                rule.compare(ChainWeight::of_chain(&long), ours),
                Ordering::Less
            );
        }
        assert!(ChainWeight::of_blocks(&[]).work == Work::ZERO);
    }
}
