//! Chain validation (fork choice is in [`super::fork_choice`]).
//!
//! Two rule sets:
//! - [`RuleSet::Seed`]: the original's four checks (genesis, links, hash recompute,
//!   difficulty moves by at most one). It accepts a block whose hash does not meet its
//!   difficulty, so a chain of any length can be forged with no work at all.
//! - [`RuleSet::Strict`] (minichain's default): those four plus: the hash meets its
//!   difficulty, `block_no` equals the index, difficulty ≥ 1, and no timestamp more
//!   than two hours ahead of the local clock.
//!
//! Hashes are recomputed in parallel on rayon's pool: hashing dominates validation.

use std::fmt;

use rayon::prelude::*;

use super::block::{Block, genesis};
use super::compact::ChainBlocks;
use super::hash::{BatchHasher, BlockHasher};
use super::pow::{BlockHash, Work};
use crate::clip::clipped;

/// How far ahead of the local clock a block's timestamp may be (as Bitcoin's
/// `MAX_FUTURE_BLOCK_TIME`): two hours.
pub const MAX_FUTURE_MS: u64 = 2 * 60 * 60 * 1000;

/// Which checks a chain must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuleSet {
    /// minichain's rules: the original's four plus proof of work, block numbers,
    /// difficulty ≥ 1 and no far-future timestamps.
    #[default]
    Strict,
    /// The original's four rules only.
    Seed,
}

/// A rule a block broke, with what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// The chain has no blocks at all.
    Empty,
    /// Block 0 differs from the hard-coded genesis in this field.
    Genesis(&'static str),
    /// `prev_hash` is not the previous block's `hash`.
    Link {
        /// The previous block's hash.
        expected: String,
        /// This block's `prev_hash`.
        found: String,
    },
    /// The block's fields do not hash to its `hash`.
    Hash {
        /// What the fields hash to.
        computed: BlockHash,
        /// What the block claims.
        claimed: String,
    },
    /// Difficulty moved by more than one from the previous block.
    DifficultyStep {
        /// The previous block's difficulty.
        prev: u32,
        /// This block's.
        this: u32,
    },
    /// (strict) The hash has fewer leading zero bits than the difficulty.
    ProofOfWork {
        /// Leading zero bits of the hash.
        bits: u32,
        /// The block's difficulty.
        difficulty: u32,
    },
    /// (strict) `block_no` is not the block's index.
    BlockNumber {
        /// The index.
        expected: u64,
        /// The field.
        found: u64,
    },
    /// (strict) Difficulty 0.
    MinDifficulty,
    /// (strict) Timestamp more than [`MAX_FUTURE_MS`] ahead of the local clock.
    FutureTimestamp {
        /// The block's timestamp, ms.
        timestamp: u64,
        /// The latest allowed, ms.
        limit: u64,
    },
}

impl Rule {
    /// The rule's short name, as `minichain validate` prints it.
    pub fn name(&self) -> &'static str {
        match self {
            Rule::Empty => "empty",
            Rule::Genesis(_) => "genesis",
            Rule::Link { .. } => "link",
            Rule::Hash { .. } => "hash",
            Rule::DifficultyStep { .. } => "difficulty-step",
            Rule::ProofOfWork { .. } => "pow",
            Rule::BlockNumber { .. } => "block-no",
            Rule::MinDifficulty => "min-difficulty",
            Rule::FutureTimestamp { .. } => "future-timestamp",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.name())?;
        match self {
            Rule::Empty => write!(f, "a chain holds at least the genesis block"),
            Rule::Genesis(field) => write!(f, "field {field} differs from the genesis block"),
            Rule::Link { expected, found } => {
                write!(
                    f,
                    "prev_hash {found:?} is not the previous block's hash {expected:?}"
                )
            }
            Rule::Hash { computed, claimed } => {
                write!(
                    f,
                    "fields hash to {computed}, but the block claims {claimed:?}"
                )
            }
            Rule::DifficultyStep { prev, this } => {
                write!(f, "difficulty moves from {prev} to {this}, more than 1")
            }
            Rule::ProofOfWork { bits, difficulty } => {
                write!(
                    f,
                    "hash has {bits} leading zero bits, difficulty {difficulty} needs more"
                )
            }
            Rule::BlockNumber { expected, found } => {
                write!(f, "block_no is {found}, expected {expected}")
            }
            Rule::MinDifficulty => write!(f, "difficulty 0 is below the minimum of 1"),
            Rule::FutureTimestamp { timestamp, limit } => write!(
                f,
                "timestamp {timestamp} is more than 2 hours ahead of the local clock (limit {limit})"
            ),
        }
    }
}

/// Why a chain is invalid: the first (lowest-index) block that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid at block {index}: {rule}")]
pub struct ValidationError {
    /// Index of the offending block in the chain.
    pub index: usize,
    /// The rule it breaks.
    pub rule: Rule,
}

/// A chain that passed validation. Only [`ValidChain::validate`] (and the genesis
/// constructor) build one, so an unchecked chain can never replace ours.
///
/// The blocks are kept compact and shared between clones ([`ChainBlocks`]): cloning
/// a chain to add a block does not copy it. The tip is also kept whole, as a
/// [`Block`], for the miner and the next block's checks.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidChain {
    blocks: ChainBlocks,
    tip: Box<Block>,
    work: Work,
}

impl ValidChain {
    /// The chain holding only the genesis block.
    pub fn genesis() -> ValidChain {
        let g = genesis();
        let mut blocks = ChainBlocks::default();
        blocks.push(&g);
        ValidChain {
            work: g.difficulty.work(),
            blocks,
            tip: Box::new(g),
        }
    }

    /// Validates `blocks` under `rules`, with `now_ms` as the local clock.
    ///
    /// # Errors
    /// The lowest-index [`ValidationError`].
    pub fn validate(
        blocks: Vec<Block>,
        rules: RuleSet,
        now_ms: u64,
    ) -> Result<ValidChain, ValidationError> {
        check_chain(&blocks, rules, now_ms)?;
        let work = blocks.iter().map(|b| b.difficulty.work()).sum();
        let mut compact = ChainBlocks::default();
        for block in &blocks {
            compact.push(block);
        }
        let tip = blocks
            .into_iter()
            .next_back()
            .expect("check_chain refuses an empty chain");
        Ok(ValidChain {
            blocks: compact,
            tip: Box::new(tip),
            work,
        })
    }

    /// Appends `block` after checking it against the tip under `rules`.
    ///
    /// # Errors
    /// The [`ValidationError`] for the new block's index; the chain is unchanged.
    pub fn push(
        &mut self,
        block: Block,
        rules: RuleSet,
        now_ms: u64,
    ) -> Result<(), ValidationError> {
        let index = self.blocks.len();
        let prev = self.tip();
        check_block(&mut BlockHasher::new(), prev, &block, index, rules, now_ms)
            .map_err(|rule| ValidationError { index, rule })?;
        self.work = self.work.saturating_add(block.difficulty.work());
        self.blocks.push(&block);
        *self.tip = block;
        Ok(())
    }

    /// Appends `blocks` after checking them against the tip and each other under
    /// `rules`: the text rules over all of them first, then their hashes in parallel,
    /// as [`check_chain`] does (so a long forged tail costs no hashing either).
    ///
    /// # Errors
    /// The [`ValidationError`] (with the index in the whole chain); the chain is
    /// unchanged.
    pub fn extend(
        &mut self,
        blocks: Vec<Block>,
        rules: RuleSet,
        now_ms: u64,
    ) -> Result<(), ValidationError> {
        check_tail(self.tip(), self.blocks.len(), &blocks, rules, now_ms)?;
        self.append_checked(&blocks);
        if let Some(last) = blocks.into_iter().next_back() {
            *self.tip = last;
        }
        Ok(())
    }

    /// [`ValidChain::extend`] from borrowed blocks (the tip is copied): for a caller
    /// that, when a block fails, tries again with the blocks before it.
    ///
    /// # Errors
    /// As [`ValidChain::extend`]; the chain is unchanged.
    pub fn extend_from(
        &mut self,
        blocks: &[Block],
        rules: RuleSet,
        now_ms: u64,
    ) -> Result<(), ValidationError> {
        check_tail(self.tip(), self.blocks.len(), blocks, rules, now_ms)?;
        self.append_checked(blocks);
        if let Some(last) = blocks.last() {
            *self.tip = last.clone();
        }
        Ok(())
    }

    /// Appends blocks [`check_tail`] passed (the tip is the caller's to set).
    fn append_checked(&mut self, blocks: &[Block]) {
        for block in blocks {
            self.work = self.work.saturating_add(block.difficulty.work());
            self.blocks.push(block);
        }
    }

    /// The chain's first `len` blocks (at least genesis): a fork point, or the prefix
    /// a suffix is checked against. Costs the blocks dropped from the last chunk.
    pub fn truncated(&self, len: usize) -> ValidChain {
        let len = len.max(1);
        if len >= self.len() {
            return self.clone();
        }
        let mut blocks = self.blocks.clone();
        blocks.truncate(len);
        let tip = blocks
            .get(len - 1)
            .expect("a truncated chain keeps at least genesis")
            .to_block();
        ValidChain {
            work: blocks.work(),
            blocks,
            tip: Box::new(tip),
        }
    }

    /// The cumulative work of the first `len` blocks (all of them when `len` is
    /// larger): a sum over whole chunks and the blocks of one partial chunk, so a
    /// fork point costs O(chain / chunk), not a walk over every block.
    pub fn work_of_prefix(&self, len: usize) -> Work {
        if len >= self.len() {
            return self.work;
        }
        let mut blocks = self.blocks.clone();
        blocks.truncate(len);
        blocks.work()
    }

    /// This chain's blocks up to `suffix`'s parent, followed by `suffix`: a fork (or
    /// an extension, when the parent is the tip) validated in O(suffix), since the
    /// suffix was checked against that very parent and the prefix is valid already.
    /// The prefix's full chunks are shared, not copied.
    ///
    /// # Errors
    /// [`SuffixMismatch`] when this chain does not hold the suffix's parent at its
    /// index (the chain changed since the suffix was checked, or it forks elsewhere).
    pub fn with_suffix(&self, suffix: ValidSuffix) -> Result<ValidChain, SuffixMismatch> {
        let keep = suffix.parent_index + 1;
        let holds_parent = self
            .blocks
            .get(suffix.parent_index)
            .is_some_and(|b| b.same_record(&suffix.parent));
        if !holds_parent {
            return Err(SuffixMismatch {
                index: suffix.parent_index,
                hash: clipped(&suffix.parent.hash),
            });
        }
        let mut blocks = self.blocks.clone();
        blocks.truncate(keep);
        let work = blocks.work().saturating_add(suffix.work);
        for block in &suffix.blocks {
            blocks.push(block);
        }
        let tip = suffix
            .blocks
            .into_iter()
            .next_back()
            .unwrap_or(suffix.parent);
        Ok(ValidChain {
            blocks,
            tip: Box::new(tip),
            work,
        })
    }

    /// The blocks, genesis first, in their compact form.
    pub fn blocks(&self) -> &ChainBlocks {
        &self.blocks
    }

    /// The last block.
    pub fn tip(&self) -> &Block {
        &self.tip
    }

    /// Number of blocks, genesis included.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Always false: a valid chain holds at least genesis.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Cumulative work: the sum of 2^difficulty over all blocks.
    pub fn work(&self) -> Work {
        self.work
    }

    /// The blocks as [`Block`]s, giving up the proof of validity (each is rebuilt
    /// from the compact form: for tests and small chains).
    pub fn into_blocks(self) -> Vec<Block> {
        self.blocks.to_blocks()
    }
}

/// A [`ValidSuffix`] that does not follow the chain it was offered to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the suffix follows block {index} ({hash}), which the chain does not hold there")]
pub struct SuffixMismatch {
    /// The parent's index.
    pub index: usize,
    /// The parent's hash (clipped).
    pub hash: String,
}

/// Blocks checked against the block they follow, not yet part of a chain: the unit of
/// incremental validation. A node that fetches a peer's chain from a fork point checks
/// only the fetched blocks, page by page as they arrive (O(suffix), never O(chain)),
/// and [`ValidChain::with_suffix`] joins them to its own prefix after checking that
/// the prefix ends in the same parent.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSuffix {
    parent: Block,
    parent_index: usize,
    blocks: Vec<Block>,
    work: Work,
    rules: RuleSet,
}

impl ValidSuffix {
    /// An empty suffix after `parent`, block `parent_index` of a chain, whose blocks
    /// will be checked under `rules`.
    pub fn after(parent: &Block, parent_index: usize, rules: RuleSet) -> ValidSuffix {
        ValidSuffix {
            parent: parent.clone(),
            parent_index,
            blocks: Vec::new(),
            work: Work::ZERO,
            rules,
        }
    }

    /// Checks `blocks` as the continuation of this suffix (after its last block, or
    /// its parent while empty) and appends them: the text rules over all of them
    /// first, then their hashes in parallel, as [`ValidChain::extend`] does.
    ///
    /// # Errors
    /// The [`ValidationError`], with the block's index in the whole chain; the suffix
    /// is unchanged.
    pub fn extend(&mut self, blocks: Vec<Block>, now_ms: u64) -> Result<(), ValidationError> {
        let prev = self.blocks.last().unwrap_or(&self.parent);
        check_tail(prev, self.next_index(), &blocks, self.rules, now_ms)?;
        for block in blocks {
            self.work = self.work.saturating_add(block.difficulty.work());
            self.blocks.push(block);
        }
        Ok(())
    }

    /// The block the suffix follows.
    pub fn parent(&self) -> &Block {
        &self.parent
    }

    /// The parent's index in its chain.
    pub fn parent_index(&self) -> usize {
        self.parent_index
    }

    /// The checked blocks.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The last checked block, or the parent while empty.
    pub fn last(&self) -> &Block {
        self.blocks.last().unwrap_or(&self.parent)
    }

    /// The index (in the whole chain) the next block must have.
    pub fn next_index(&self) -> usize {
        self.parent_index + 1 + self.blocks.len()
    }

    /// Number of checked blocks.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether no block is checked yet.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The checked blocks' work (sum of 2^difficulty).
    pub fn work(&self) -> Work {
        self.work
    }
}

/// Checks `blocks` as blocks `base..` of a chain whose block `base - 1` is `prev`:
/// every text rule over all of them, then their hashes in parallel (so a long forged
/// tail costs no hashing when any of its blocks breaks a text rule).
fn check_tail(
    prev: &Block,
    base: usize,
    blocks: &[Block],
    rules: RuleSet,
    now_ms: u64,
) -> Result<(), ValidationError> {
    let mut prev = prev;
    for (i, block) in blocks.iter().enumerate() {
        check_fields(prev, block, base + i, rules, now_ms).map_err(|rule| ValidationError {
            index: base + i,
            rule,
        })?;
        prev = block;
    }
    // Runs of 256 blocks per job, as when each block was a job of its own with at
    // least 256 to a thread; each run hashes sixteen at a time.
    const RUN: usize = 256;
    let failure = blocks
        .par_chunks(RUN)
        .enumerate()
        .map_init(BatchHasher::new, |hasher, (run, chunk)| {
            hasher.check_each(chunk, |i, computed| {
                check_computed(&chunk[i], computed).map_err(|rule| ValidationError {
                    index: base + run * RUN + i,
                    rule,
                })
            })
        })
        .find_map_first(Result::err);
    failure.map_or(Ok(()), Err)
}

/// Checks a whole chain in two passes: first every rule that reads only the blocks'
/// fields (links, difficulty steps, block numbers, the claimed hash against the
/// claimed difficulty, timestamps), serially and for almost nothing; only a chain that
/// passes them all has its hashes recomputed, in parallel. So a forged chain is
/// refused before any hashing when any of its blocks breaks a text rule (a chain of a
/// hundred thousand blocks with one absurd difficulty at its end costs no SHA-256).
///
/// # Errors
/// The lowest-index [`ValidationError`] of the first pass that finds one: a block
/// breaking a text rule is named before a lower block with a wrong hash.
pub fn check_chain(blocks: &[Block], rules: RuleSet, now_ms: u64) -> Result<(), ValidationError> {
    let Some(first) = blocks.first() else {
        return Err(ValidationError {
            index: 0,
            rule: Rule::Empty,
        });
    };
    check_genesis(first).map_err(|rule| ValidationError { index: 0, rule })?;
    check_tail(first, 1, &blocks[1..], rules, now_ms)
}

/// Block 0 must equal the hard-coded genesis, field by field.
fn check_genesis(block: &Block) -> Result<(), Rule> {
    let g = genesis();
    let differs = [
        ("block_no", block.block_no != g.block_no),
        ("timestamp", block.timestamp != g.timestamp),
        ("prev_hash", block.prev_hash != g.prev_hash),
        ("data", block.data != g.data),
        ("hash", block.hash != g.hash),
        ("nonce", block.nonce != g.nonce),
        ("difficulty", block.difficulty != g.difficulty),
    ];
    match differs.iter().find(|(_, d)| *d) {
        Some((field, _)) => Err(Rule::Genesis(field)),
        None => Ok(()),
    }
}

/// Checks block `index` against its parent: the text rules, then the hash.
fn check_block(
    hasher: &mut BlockHasher,
    prev: &Block,
    block: &Block,
    index: usize,
    rules: RuleSet,
    now_ms: u64,
) -> Result<(), Rule> {
    check_fields(prev, block, index, rules, now_ms)?;
    check_hash(hasher, block)
}

/// Every rule that needs no hashing: the original's link and difficulty step, then
/// (strict) the block number, the minimum difficulty, the claimed hash's leading zero
/// bits against the claimed difficulty (once the hash is found to recompute, this is
/// the proof of work), and the timestamp.
fn check_fields(
    prev: &Block,
    block: &Block,
    index: usize,
    rules: RuleSet,
    now_ms: u64,
) -> Result<(), Rule> {
    if block.prev_hash != prev.hash {
        return Err(Rule::Link {
            expected: clipped(&prev.hash),
            found: clipped(&block.prev_hash),
        });
    }
    if block.difficulty.bits().abs_diff(prev.difficulty.bits()) > 1 {
        return Err(Rule::DifficultyStep {
            prev: prev.difficulty.bits(),
            this: block.difficulty.bits(),
        });
    }
    if rules == RuleSet::Seed {
        return Ok(());
    }
    if block.block_no != index as u64 {
        return Err(Rule::BlockNumber {
            expected: index as u64,
            found: block.block_no,
        });
    }
    if block.difficulty.bits() == 0 {
        return Err(Rule::MinDifficulty);
    }
    // A claimed hash that is not 64 hex digits can never recompute: the hash pass
    // names it.
    if let Some(bits) = claimed_zero_bits(&block.hash)
        && bits < block.difficulty.bits()
    {
        return Err(Rule::ProofOfWork {
            bits,
            difficulty: block.difficulty.bits(),
        });
    }
    let limit = now_ms.saturating_add(MAX_FUTURE_MS);
    if block.timestamp > limit {
        return Err(Rule::FutureTimestamp {
            timestamp: block.timestamp,
            limit,
        });
    }
    Ok(())
}

/// The leading zero bits of a claimed hash written as 64 hex digits; `None` for any
/// other text.
fn claimed_zero_bits(hash: &str) -> Option<u32> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hash, &mut bytes).ok()?;
    Some(BlockHash::from_bytes(bytes).leading_zero_bits())
}

/// The original's hash rule: the fields hash to the claimed hash.
fn check_hash(hasher: &mut BlockHasher, block: &Block) -> Result<(), Rule> {
    check_computed(block, hasher.hash(block))
}

/// The original's hash rule, given the hash of the block's fields.
fn check_computed(block: &Block, computed: BlockHash) -> Result<(), Rule> {
    if !computed.matches_hex(&block.hash) {
        return Err(Rule::Hash {
            computed,
            claimed: clipped(&block.hash),
        });
    }
    Ok(())
}

/// Milliseconds since the Unix epoch by the local clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Milliseconds since the Unix epoch by the local clock as of its last tick (behind
/// [`now_ms`] by less than a tick, 1 to 10 ms by the kernel's setting, never ahead of
/// it): a few nanoseconds where [`now_ms`] costs tens, for the miner, which checks a
/// budget of 100 ms after every block (at low difficulties, every couple of
/// microseconds). Not for timestamps.
#[cfg(target_os = "linux")]
pub fn coarse_now_ms() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    let (Ok(secs), Ok(nanos)) = (u64::try_from(now.tv_sec), u64::try_from(now.tv_nsec)) else {
        return now_ms();
    };
    secs.saturating_mul(1000).saturating_add(nanos / 1_000_000)
}

/// [`now_ms`], where no coarse clock is known.
#[cfg(not(target_os = "linux"))]
pub fn coarse_now_ms() -> u64 {
    now_ms()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::chain::Difficulty;
    use crate::chain::json::Json;
    use crate::miner::reference::mine_reference;

    /// A strict-valid chain on genesis with these difficulties, mined by the reference
    /// miner (shared by the fork-choice tests).
    pub(crate) fn chain_of(difficulties: &[u32]) -> ValidChain {
        mined_chain(difficulties.iter().map(|&d| (Json::String("x".into()), d)))
    }

    /// A strict-valid chain on genesis with a block for each `(data, difficulty)`, one
    /// millisecond apart, mined by the reference miner (shared by the node's tests).
    pub(crate) fn mined_chain(blocks: impl IntoIterator<Item = (Json, u32)>) -> ValidChain {
        let mut chain = ValidChain::genesis();
        for (data, d) in blocks {
            let tip = chain.tip().clone();
            let block = mine_reference(&tip, data, tip.timestamp + 1, Difficulty::new(d));
            chain
                .push(block, RuleSet::Strict, now_ms())
                .expect("the reference miner's block extends the chain");
        }
        chain
    }

    /// The coarse clock is the same clock, never ahead of the fine one and behind it by
    /// no more than a tick (bounded here by a whole second, which no kernel's tick
    /// nears).
    #[test]
    fn coarse_clock_trails_the_fine_one() {
        for _ in 0..1000 {
            let before = now_ms();
            let coarse = coarse_now_ms();
            let after = now_ms();
            assert!(coarse <= after, "coarse {coarse} ahead of {after}");
            assert!(
                coarse + 1000 >= before,
                "coarse {coarse} far behind {before}"
            );
        }
    }

    #[test]
    fn empty_chain_is_invalid() {
        let err = ValidChain::validate(Vec::new(), RuleSet::Seed, 0).err();
        assert_eq!(err.map(|e| e.rule), Some(Rule::Empty));
    }

    #[test]
    fn push_rejects_a_bad_block_and_keeps_the_chain() {
        let mut chain = chain_of(&[3]);
        let mut bad = chain.tip().clone();
        bad.block_no = 2;
        bad.prev_hash = chain.tip().hash.clone();
        let err = chain.push(bad, RuleSet::Strict, now_ms()).err();
        assert_eq!(err.map(|e| (e.index, e.rule.name())), Some((2, "hash")));
        assert_eq!(chain.len(), 2);
    }

    #[test]
    fn strict_rules_catch_what_seed_allows() {
        let mut chain = chain_of(&[3]).into_blocks();
        let tip = chain[1].clone();
        let far = now_ms() + MAX_FUTURE_MS + 60_000;
        let mut b = mine_reference(&tip, Json::Null, far, Difficulty::new(4));
        chain.push(b.clone());
        assert!(check_chain(&chain, RuleSet::Seed, now_ms()).is_ok());
        let err = check_chain(&chain, RuleSet::Strict, now_ms()).err();
        assert_eq!(
            err.map(|e| (e.index, e.rule.name())),
            Some((2, "future-timestamp"))
        );
        chain.pop();
        b = mine_reference(&tip, Json::Null, tip.timestamp + 1, Difficulty::new(2));
        b.block_no = 7;
        b.hash = crate::chain::block_hash(&b).to_hex();
        chain.push(b);
        let err = check_chain(&chain, RuleSet::Strict, now_ms()).err();
        assert_eq!(err.map(|e| e.rule.name()), Some("block-no"));
    }

    /// A chain whose every block claims a wrong hash, with an absurd difficulty on its
    /// last block, is refused for the difficulty step: the text rules ran over the
    /// whole chain before any hash was recomputed (a hash pass first would have named
    /// block 1's hash).
    #[test]
    fn text_rules_run_before_any_hashing() {
        let mut blocks = crate::miner::synthetic::synthetic_chain(2000);
        for block in &mut blocks[1..] {
            block.nonce = crate::chain::Nonce::from(7u128);
        }
        let last = blocks.len() - 1;
        blocks[last].difficulty = Difficulty::new(4_000_000_000);
        for rules in [RuleSet::Strict, RuleSet::Seed] {
            let err = check_chain(&blocks, rules, now_ms()).err();
            assert_eq!(
                err.map(|e| (e.index, e.rule.name())),
                Some((last, "difficulty-step"))
            );
        }
        let mut chain = ValidChain::genesis();
        let err = chain
            .extend(blocks[1..].to_vec(), RuleSet::Strict, now_ms())
            .err();
        assert_eq!(
            err.map(|e| (e.index, e.rule.name())),
            Some((last, "difficulty-step"))
        );
        assert_eq!(chain.len(), 1);
    }

    /// The hash pass names the lowest block whose fields do not hash to its claim,
    /// wherever it sits: in any slot of a batch of sixteen, in a run after the first,
    /// and with a lower bad block in a later batch of the same run left unnamed.
    #[test]
    fn the_lowest_wrong_hash_is_named_across_batches_and_runs() {
        let blocks = crate::miner::synthetic::synthetic_chain(700);
        // A nonce that no longer hashes to the claim, keeping every text rule.
        let forge = |block: &mut Block| {
            let nonce: u128 = block.nonce.as_str().parse().expect("a decimal nonce");
            block.nonce = crate::chain::Nonce::from(nonce + 1);
        };
        for bad in [1, 15, 16, 17, 255, 256, 300, 699] {
            let mut forged = blocks.clone();
            forge(&mut forged[bad]);
            if bad + 40 < forged.len() {
                forge(&mut forged[bad + 40]);
            }
            for rules in [RuleSet::Strict, RuleSet::Seed] {
                let err = check_chain(&forged, rules, now_ms()).err();
                assert_eq!(err.map(|e| (e.index, e.rule.name())), Some((bad, "hash")));
            }
        }
        assert_eq!(check_chain(&blocks, RuleSet::Strict, now_ms()), Ok(()));
    }

    /// A claimed hash with fewer leading zero bits than its difficulty is refused by
    /// the proof-of-work rule without hashing; a valid tail extends the chain.
    #[test]
    fn claimed_hash_against_claimed_difficulty() {
        let blocks = crate::miner::synthetic::synthetic_chain(50);
        let mut chain = ValidChain::genesis();
        chain
            .extend(blocks[1..].to_vec(), RuleSet::Strict, now_ms())
            .expect("valid tail");
        assert_eq!(chain.len(), 50);
        let mut forged = blocks.clone();
        forged[10].hash = format!("f{}", &forged[10].hash[1..]);
        forged[20].nonce = crate::chain::Nonce::from(1u128);
        let err = check_chain(&forged, RuleSet::Strict, now_ms()).err();
        assert_eq!(err.map(|e| (e.index, e.rule.name())), Some((10, "pow")));
    }

    /// A fork checked as a suffix from its fork point gives the chain a whole
    /// validation gives, with the same work; a bad block in the suffix is named by
    /// its index in the whole chain; a suffix does not join a chain that lacks its
    /// parent.
    #[test]
    fn a_suffix_from_the_fork_point_equals_the_whole_fork() {
        let ours = chain_of(&[3, 3, 4, 3]);
        let theirs = {
            let mut blocks = ours.blocks().to_blocks()[..3].to_vec();
            for d in [4, 5, 4] {
                let tip = blocks[blocks.len() - 1].clone();
                let data = Json::String("theirs".into());
                blocks.push(mine_reference(
                    &tip,
                    data,
                    tip.timestamp + 2,
                    Difficulty::new(d),
                ));
            }
            ValidChain::validate(blocks, RuleSet::Strict, now_ms()).expect("valid fork")
        };
        let mut suffix = ValidSuffix::after(&ours.blocks().to_blocks()[2], 2, RuleSet::Strict);
        suffix
            .extend(theirs.blocks().to_blocks()[3..4].to_vec(), now_ms())
            .expect("first page");
        suffix
            .extend(theirs.blocks().to_blocks()[4..].to_vec(), now_ms())
            .expect("second page");
        assert_eq!(suffix.next_index(), theirs.len());
        let joined = ours.with_suffix(suffix.clone()).expect("joins");
        assert_eq!(joined, theirs);
        assert_eq!(joined.work(), theirs.work());
        assert_eq!(ours.work_of_prefix(3), chain_of(&[3, 3]).work());
        assert_eq!(ours.work_of_prefix(1), ValidChain::genesis().work());
        assert_eq!(ours.work_of_prefix(99), ours.work());
        // A forged block in a page: refused with its index, the suffix unchanged.
        let mut forged = ValidSuffix::after(&ours.blocks().to_blocks()[2], 2, RuleSet::Strict);
        let mut page = theirs.blocks().to_blocks()[3..].to_vec();
        page[1].nonce = crate::chain::Nonce::from(5u128);
        let err = forged.extend(page, now_ms()).err();
        assert_eq!(err.map(|e| (e.index, e.rule.name())), Some((4, "hash")));
        assert!(forged.is_empty());
        // A chain that does not hold the parent at its index.
        let other = chain_of(&[4, 4, 4]);
        let err = other.with_suffix(suffix).err();
        assert_eq!(err.map(|e| e.index), Some(2));
    }
}
