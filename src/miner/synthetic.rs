//! Synthetic valid chains for benchmarks and tests: every block carries an object
//! `data`, timestamps one second apart, and difficulties that settle at 1–2 so that
//! a 100,000-block chain mines in seconds.

use super::reference::mine_reference;
use crate::chain::block::{Block, genesis};
use crate::chain::json::{Json, Number};
use crate::chain::pow::Difficulty;

/// A chain of `n` blocks (genesis included) that is valid under the strict rules.
pub fn synthetic_chain(n: usize) -> Vec<Block> {
    synthetic_blocks(n).collect()
}

/// [`synthetic_chain`] validated, for the tests that need it as a chain.
#[cfg(test)]
pub(crate) fn synthetic_valid_chain(n: usize) -> crate::chain::ValidChain {
    crate::chain::ValidChain::validate(
        synthetic_chain(n),
        crate::chain::RuleSet::Strict,
        crate::chain::validate::now_ms(),
    )
    .expect("the synthetic chain is valid under the strict rules")
}

/// The blocks of [`synthetic_chain`], one at a time (a million-block chain need not be
/// held as blocks: `minichain import --synthetic` validates and stores it as it goes).
pub fn synthetic_blocks(n: usize) -> impl Iterator<Item = Block> {
    let mut prev: Option<Block> = None;
    (0..n.max(1)).map(move |i| {
        let block = match &prev {
            None => genesis(),
            Some(prev) => {
                // Down from genesis's 4 to 2, then alternate 1, 2: each step is one.
                let d = prev.difficulty.bits();
                let difficulty = Difficulty::new(if d > 2 { d - 1 } else { 3 - d });
                let timestamp = 1_764_000_000_000 + i as u64 * 1000;
                mine_reference(prev, synthetic_data(i), timestamp, difficulty)
            }
        };
        prev = Some(block.clone());
        block
    })
}

/// The data of block `i`: a small transaction-like object (about 150 bytes of JSON).
fn synthetic_data(i: usize) -> Json {
    let s = |text: String| Json::String(text.into());
    let num = |text: String| {
        Json::Number(Number::from_literal(&text).unwrap_or_else(|| Number::from_u128(0)))
    };
    let tx = Json::Object(vec![
        ("from".into(), s(format!("alice{i}"))),
        ("to".into(), s("bob".into())),
        ("amount".into(), num(format!("{}.5", i % 1000))),
    ]);
    Json::Object(vec![
        ("tx".into(), Json::Array(vec![tx])),
        (
            "memo".into(),
            s(format!("block {i} of the benchmark chain")),
        ),
        ("seq".into(), num(i.to_string())),
    ])
}
