//! The fuzz targets' bodies: each takes raw bytes, drives one part of minichain that
//! reads input from the network, and panics when a property fails.
//!
//! Why a plain module: the same functions run under libFuzzer (`fuzz/fuzz_targets/*`)
//! and, in CI, over the committed corpus and every past finding
//! (`tests/fuzz_corpus.rs` includes this file), so the harness is compiled and
//! exercised by `cargo test` and a finding replays without a fuzzer.
//!
//! The targets:
//! - [`chain_json`]: JSON (`Json`, `RawJson`), Python's `str()` and chain reading and
//!   writing: never a panic, and what is written reads back to the same value.
//! - [`validate`]: `check_chain` on whatever parses as a chain: never a panic, one
//!   verdict however it is reached, and a verdict that survives a write/read trip;
//!   relinked and rehashed, the chain reaches the rules after the hash check.
//! - [`examine`]: the intake's examination of a sync message against a snapshot:
//!   never a panic, a stable answer, and every candidate it hands on is valid and
//!   preferred.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use minichain::chain::block::{parse_blocks_lenient, parse_chain, write_chain};
use minichain::chain::hash::preimage_string;
use minichain::chain::json::{Dialect, JsonErrorKind, JsonStr};
use minichain::chain::pyrepr::{write_repr, write_str};
use minichain::chain::validate::{Rule, check_chain};
use minichain::chain::{
    Block, ChainWeight, ForkChoice, Json, RawJson, RuleSet, ValidChain, block_hash,
};
use minichain::node::intake::{Examined, Source, examine as examine_message};
use minichain::node::state::Snapshot;

/// The clock [`validate`] judges timestamps by: fixed, so that a verdict is a
/// function of the input alone (2027-01-15, after every vector's timestamps).
pub const VALIDATE_NOW_MS: u64 = 1_800_000_000_000;

/// The message size limit [`examine`] passes (the node's default order of size).
const EXAMINE_MAX_BYTES: usize = 16 << 20;

/// The original's 30-block chain (`tests/vectors/chains/valid.json`): the snapshots
/// [`examine`] compares messages with are its prefixes.
const VALID_CHAIN: &str = include_str!("../../tests/vectors/chains/valid.json");

/// Chain JSON, data JSON and `str()`: parses `data` as a value and as a chain and
/// checks that every writer's output reads back to what was read.
pub fn chain_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    json_value_round_trip(text);
    chain_round_trip(text);
    // The lenient reader (`minichain hash`) must not panic either.
    if let Ok(blocks) = parse_blocks_lenient(text) {
        for block in &blocks {
            let _ = preimage_string(block);
        }
    }
}

/// `Json` and `RawJson` agree on what is JSON, on how it is written and on its `str()`;
/// what either writes reads back to the same value (Python's non-finite tokens change
/// spelling but not their `str()`, except NaN, which becomes `null`).
fn json_value_round_trip(text: &str) {
    let tree = Json::parse(text);
    let raw = RawJson::parse(text);
    // A bare string holding a lone surrogate: Python reads it (so the tree does) but
    // cannot hash it, so RawJson (what blocks hold) refuses it, and str() says so.
    if let Ok(Json::String(JsonStr::Surrogates(w))) = &tree {
        let want = JsonErrorKind::LoneSurrogate(w.first_surrogate());
        assert_eq!(raw.err().map(|e| e.kind), Some(want.clone()));
        assert_eq!(
            write_str(tree.as_ref().expect("read"), &mut Vec::new()),
            Err(want)
        );
        return;
    }
    assert_eq!(
        tree.is_ok(),
        raw.is_ok(),
        "Json and RawJson disagree on whether this is JSON: {:?} / {:?}",
        tree.as_ref().err(),
        raw.as_ref().err()
    );
    let (Ok(tree), Ok(raw)) = (tree, raw) else {
        return;
    };
    let mut python_str = Vec::new();
    write_str(&tree, &mut python_str).expect("not a bare string with a lone surrogate");
    assert_eq!(
        raw.python_str().as_bytes(),
        python_str.as_slice(),
        "RawJson's str() differs from the tree's"
    );
    let mut repr = Vec::new();
    write_repr(&tree, &mut repr);
    assert!(std::str::from_utf8(&repr).is_ok(), "repr() is not UTF-8");
    assert_eq!(raw.has_nan(), tree.has_nan());
    assert_eq!(raw.has_nonfinite(), tree.has_nonfinite());
    for dialect in [Dialect::Compact, Dialect::Python] {
        let mut from_tree = Vec::new();
        tree.write(dialect, &mut from_tree);
        let mut from_raw = Vec::new();
        raw.write(dialect, &mut from_raw);
        assert_eq!(
            from_tree, from_raw,
            "RawJson writes other text than the tree"
        );
        let written = std::str::from_utf8(&from_tree).expect("the writer emits UTF-8");
        let back = Json::parse(written).unwrap_or_else(|e| {
            panic!("written JSON does not read back: {e}: {written:?}");
        });
        if tree.has_nonfinite() {
            if !tree.has_nan() {
                let mut back_str = Vec::new();
                write_str(&back, &mut back_str).expect("a number");
                assert_eq!(back_str, python_str, "1e999 changed str() of an infinity");
            }
        } else {
            assert_eq!(back, tree, "parse(write(x)) != x in {dialect:?}");
        }
        if dialect == Dialect::Python {
            assert!(written.is_ascii(), "Python's dialect escapes non-ASCII");
        }
    }
    // The text a tree keeps every literal of reads back to the same tree.
    let kept = RawJson::from_tree(&tree).expect("a parsed tree is shallow enough");
    assert_eq!(kept.python_str(), raw.python_str());
    assert_eq!(kept.to_json(), tree);
}

/// A chain that reads is written in both dialects and read back to the same blocks
/// with the same hashes (data holding NaN aside: it is written as `null`).
fn chain_round_trip(text: &str) {
    let Ok(blocks) = parse_chain(text) else {
        return;
    };
    // What reads as a chain is JSON.
    assert!(Json::parse(text).is_ok(), "a chain that is not JSON");
    let has_nan = blocks.iter().any(|b| b.data.has_nan());
    for dialect in [Dialect::Compact, Dialect::Python] {
        let mut out = Vec::new();
        write_chain(&blocks, dialect, &mut out);
        let written = std::str::from_utf8(&out).expect("the writer emits UTF-8");
        let back = parse_chain(written).unwrap_or_else(|e| {
            panic!("a written chain does not read back: {e}");
        });
        assert_eq!(back.len(), blocks.len());
        if has_nan {
            continue;
        }
        for (a, b) in blocks.iter().zip(&back) {
            assert_eq!(
                preimage_string(a),
                preimage_string(b),
                "a block's preimage changed on a write/read trip"
            );
            assert_eq!(block_hash(a), block_hash(b));
            if !a.data.has_nonfinite() {
                assert_eq!(a, b, "parse(write(block)) != block");
            }
        }
        // Written again, it is the same text: writing is a fixed point.
        let mut again = Vec::new();
        write_chain(&back, dialect, &mut again);
        assert_eq!(again, out, "writing a chain read back changed its text");
    }
    let wrapped = format!("{{\"chain\": {text}}}");
    if text.trim_start().starts_with('[') {
        let unwrapped = parse_chain(&wrapped).map(|b| b.len()).ok();
        assert_eq!(
            unwrapped,
            Some(blocks.len()),
            "{{\"chain\": ...}} reads the same"
        );
    }
}

/// Validation: whatever parses as a chain is checked under both rule sets without a
/// panic; the verdict is the same when asked twice, block by block
/// ([`ValidChain::push`]) as for the whole chain, and after a write/read trip.
pub fn validate(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(blocks) = parse_chain(text) else {
        return;
    };
    let strict = check_chain(&blocks, RuleSet::Strict, VALIDATE_NOW_MS);
    let seed = check_chain(&blocks, RuleSet::Seed, VALIDATE_NOW_MS);
    assert_eq!(
        strict,
        check_chain(&blocks, RuleSet::Strict, VALIDATE_NOW_MS),
        "the strict verdict changed when asked again"
    );
    if strict.is_ok() {
        assert!(seed.is_ok(), "strict accepts what seed refuses: {seed:?}");
    }
    // The clock's extremes must not overflow.
    let _ = check_chain(&blocks, RuleSet::Strict, 0);
    let _ = check_chain(&blocks, RuleSet::Strict, u64::MAX);
    let _ = ChainWeight::of_blocks(&blocks);
    for rules in [RuleSet::Strict, RuleSet::Seed] {
        let whole = check_chain(&blocks, rules, VALIDATE_NOW_MS);
        let stepwise = push_one_by_one(&blocks, rules);
        assert_eq!(
            whole.as_ref().err(),
            stepwise.as_ref().err(),
            "whole-chain and block-by-block validation disagree"
        );
        if let Ok(chain) = stepwise {
            assert_eq!(
                chain.work(),
                blocks.iter().map(|b| b.difficulty.work()).sum(),
                "pushed work differs from the sum"
            );
        }
    }
    if !blocks.iter().any(|b| b.data.has_nan()) {
        let mut out = Vec::new();
        write_chain(&blocks, Dialect::Python, &mut out);
        let back = parse_chain(std::str::from_utf8(&out).expect("UTF-8")).expect("reads back");
        assert_eq!(
            strict,
            check_chain(&back, RuleSet::Strict, VALIDATE_NOW_MS),
            "the verdict changed on a write/read trip"
        );
    }
    relinked(blocks);
}

/// The chain with every block after genesis linked to its parent and its `hash`
/// recomputed: a mutated field then reaches the rules after the hash check. The seed
/// rules can only refuse it for genesis or a difficulty step, and the strict rules
/// agree whether asked whole or block by block.
fn relinked(mut blocks: Vec<Block>) {
    for i in 1..blocks.len() {
        blocks[i].prev_hash = blocks[i - 1].hash.clone();
        blocks[i].hash = block_hash(&blocks[i]).to_hex();
    }
    if let Err(err) = check_chain(&blocks, RuleSet::Seed, VALIDATE_NOW_MS) {
        assert!(
            matches!(
                err.rule,
                Rule::Empty | Rule::Genesis(_) | Rule::DifficultyStep { .. }
            ),
            "a relinked, rehashed chain broke {err}"
        );
    }
    let strict = check_chain(&blocks, RuleSet::Strict, VALIDATE_NOW_MS);
    assert_eq!(
        strict.as_ref().err(),
        push_one_by_one(&blocks, RuleSet::Strict).as_ref().err(),
        "whole-chain and block-by-block validation disagree on a relinked chain"
    );
}

/// Validates `blocks` as [`ValidChain::push`] does, one block at a time after genesis.
fn push_one_by_one(
    blocks: &[Block],
    rules: RuleSet,
) -> Result<ValidChain, minichain::chain::ValidationError> {
    let Some(first) = blocks.first() else {
        return ValidChain::validate(Vec::new(), rules, VALIDATE_NOW_MS);
    };
    let mut chain = ValidChain::validate(vec![first.clone()], rules, VALIDATE_NOW_MS)?;
    for block in &blocks[1..] {
        chain.push(block.clone(), rules, VALIDATE_NOW_MS)?;
    }
    Ok(chain)
}

/// The snapshots [`examine`] picks from: genesis, and prefixes of the original's
/// valid chain (so that messages extending ours take the extension path).
fn snapshots() -> &'static [Arc<Snapshot>] {
    static SNAPSHOTS: OnceLock<Vec<Arc<Snapshot>>> = OnceLock::new();
    SNAPSHOTS.get_or_init(|| {
        let blocks = parse_chain(VALID_CHAIN).expect("the vector chain parses");
        [1, 2, 10, blocks.len()]
            .into_iter()
            .map(|n| {
                let chain = ValidChain::validate(
                    blocks[..n].to_vec(),
                    RuleSet::Strict,
                    minichain::chain::validate::now_ms(),
                )
                .expect("the vector chain is valid");
                Arc::new(Snapshot::of_chain(chain))
            })
            .collect()
    })
}

/// The intake's examination of a sync message. The first byte picks the source (bits
/// 0-1), the fork-choice rule (bit 2) and our snapshot (bits 3-4); the rest is the
/// message. Properties: no panic; the same answer twice; a candidate is a valid chain
/// the rule prefers to ours, and one that extends ours starts with our blocks.
pub fn examine(data: &[u8]) {
    let Some((&selector, message)) = data.split_first() else {
        return;
    };
    let source = match selector & 3 {
        0 | 3 => Source::Redis,
        1 => Source::Root,
        _ => Source::Http,
    };
    let fork_choice = if selector & 4 == 0 {
        ForkChoice::Work
    } else {
        ForkChoice::Length
    };
    let all = snapshots();
    let ours = &all[usize::from(selector >> 3) % all.len()];
    let run = || {
        examine_message(
            message,
            source,
            ours,
            fork_choice,
            EXAMINE_MAX_BYTES,
            Instant::now(),
        )
    };
    let first = run();
    let second = run();
    match (&first, &second) {
        (Ok(Examined::Current), Ok(Examined::Current)) => {}
        (Ok(Examined::Candidate(a)), Ok(Examined::Candidate(b))) => {
            assert_eq!(
                a.chain.blocks(),
                b.chain.blocks(),
                "two different candidates"
            );
        }
        (Err(a), Err(b)) => assert_eq!(a.reason(), b.reason(), "the reason changed"),
        _ => panic!("examine answered two ways: {first:?} / {second:?}"),
    }
    if let Ok(Examined::Candidate(candidate)) = first {
        let blocks = candidate.chain.blocks().to_blocks();
        assert!(
            check_chain(
                &blocks,
                RuleSet::Strict,
                minichain::chain::validate::now_ms()
            )
            .is_ok(),
            "examine handed on an invalid chain"
        );
        assert!(
            fork_choice.prefers(ours.chain(), &candidate.chain),
            "examine handed on a chain the rule does not prefer"
        );
        assert!(
            !blocks.iter().any(|b| b.data.has_nan()),
            "examine handed on a chain holding NaN"
        );
        let extends_ours = std::str::from_utf8(message)
            .is_ok_and(|text| ours.message_extension_tail(text).is_some());
        if extends_ours {
            assert!(
                blocks.starts_with(&ours.chain().blocks().to_blocks()),
                "an extension that does not start with its base"
            );
        }
        let snapshot = candidate.into_snapshot();
        // The snapshot's message reads back as its chain.
        let text = std::str::from_utf8(snapshot.message()).expect("UTF-8");
        let back = parse_chain(text).expect("a snapshot's message parses");
        assert!(
            snapshot.chain().blocks().equals_blocks(&back),
            "the message does not read back as the chain"
        );
    }
}
