//! Difficulty adjustment: one step toward the target block time.

use super::pow::Difficulty;

/// The original's block time (its `MINING_RATE`), in milliseconds.
pub const DEFAULT_MINE_RATE_MS: u64 = 2000;

/// Which adjustment rule to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PolicyKind {
    /// The original's rule exactly: a block on a difficulty ≤ 1 keeps it, for good.
    Seed,
    /// minichain's default: the same rule, but it climbs back from 1 and never goes
    /// below 1 (a step the original's validator accepts).
    #[default]
    Minichain,
}

/// The adjustment rule and the target block time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DifficultyPolicy {
    /// The rule.
    pub kind: PolicyKind,
    /// Target time between blocks, ms.
    pub mine_rate_ms: u64,
}

impl Default for DifficultyPolicy {
    fn default() -> Self {
        DifficultyPolicy {
            kind: PolicyKind::Minichain,
            mine_rate_ms: DEFAULT_MINE_RATE_MS,
        }
    }
}

/// The difficulty of a block stamped `timestamp_ms` on a parent with `prev_difficulty`
/// stamped `prev_timestamp_ms`: one less when the block came slower than the mine
/// rate, one more otherwise.
pub fn next_difficulty(
    prev_difficulty: Difficulty,
    prev_timestamp_ms: u64,
    timestamp_ms: u64,
    policy: &DifficultyPolicy,
) -> Difficulty {
    let d = prev_difficulty.bits();
    let elapsed = i128::from(timestamp_ms) - i128::from(prev_timestamp_ms);
    let slow = elapsed > i128::from(policy.mine_rate_ms);
    Difficulty::new(match policy.kind {
        PolicyKind::Seed if d <= 1 => d,
        PolicyKind::Seed if slow => d - 1,
        PolicyKind::Minichain if slow => d.saturating_sub(1).max(1),
        _ => d.saturating_add(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(kind: PolicyKind, d: u32, elapsed: u64) -> u32 {
        let policy = DifficultyPolicy {
            kind,
            mine_rate_ms: 2000,
        };
        next_difficulty(Difficulty::new(d), 1000, 1000 + elapsed, &policy).bits()
    }

    #[test]
    fn seed_rule_is_the_originals() {
        assert_eq!(next(PolicyKind::Seed, 4, 2000), 5);
        assert_eq!(next(PolicyKind::Seed, 4, 2001), 3);
        assert_eq!(next(PolicyKind::Seed, 1, 0), 1);
        assert_eq!(next(PolicyKind::Seed, 0, 0), 0);
        assert_eq!(next(PolicyKind::Seed, 2, 5000), 1);
    }

    #[test]
    fn minichain_rule_climbs_back_and_floors_at_one() {
        assert_eq!(next(PolicyKind::Minichain, 1, 0), 2);
        assert_eq!(next(PolicyKind::Minichain, 0, 0), 1);
        assert_eq!(next(PolicyKind::Minichain, 1, 9000), 1);
        assert_eq!(next(PolicyKind::Minichain, 0, 9000), 1);
        assert_eq!(next(PolicyKind::Minichain, 7, 9000), 6);
    }

    #[test]
    fn clock_going_backwards_counts_as_fast() {
        let policy = DifficultyPolicy::default();
        assert_eq!(
            next_difficulty(Difficulty::new(5), 10_000, 1_000, &policy),
            Difficulty::new(6)
        );
    }
}
