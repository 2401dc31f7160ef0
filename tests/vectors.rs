//! The original's own test vectors, read from `tests/vectors/`:
//! every hash case, every mined block and every chain file with its verdict.
//!
//! Run with `cargo test --test vectors`.

mod common;

use common::{int_field, items, read_vector_json, str_field, vectors_dir};
use minichain::chain::block::parse_chain;
use minichain::chain::data::RawJson;
use minichain::chain::hash::{preimage_string, write_preimage};
use minichain::chain::validate::{check_chain, now_ms};
use minichain::chain::{
    Block, Difficulty, DifficultyPolicy, Json, Nonce, PolicyKind, RuleSet, ValidChain, block_hash,
    next_difficulty,
};

/// A block from a vector case: the seven fields, with `data` read from `data_json`
/// where present (the exact text a node receives; `data` itself cannot carry NaN or
/// infinities).
fn block_from_case(case: &Json) -> Block {
    let data = match case.get("data_json").and_then(Json::as_str) {
        Some(text) => RawJson::parse(text).unwrap_or_else(|e| panic!("data_json {text:?}: {e}")),
        None => RawJson::from(case.get("data").expect("data")),
    };
    Block {
        block_no: int_field(case, "block_no")
            .parse()
            .expect("block_no fits u64"),
        timestamp: int_field(case, "timestamp")
            .parse()
            .expect("timestamp fits u64"),
        prev_hash: str_field(case, "prev_hash").to_owned(),
        data,
        hash: case
            .get("hash")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned(),
        nonce: Nonce::from_digits(&int_field(case, "nonce")).expect("nonce"),
        difficulty: Difficulty::new(int_field(case, "difficulty").parse().expect("difficulty")),
    }
}

/// Every case of `seed_hash_vectors.json`: the preimage, hash and leading zero bits.
#[test]
fn seed_hash_vectors_match_preimage_and_hash() {
    let cases = read_vector_json("seed_hash_vectors.json");
    assert!(items(&cases).len() >= 70);
    for case in items(&cases) {
        let name = str_field(case, "name");
        let block = block_from_case(case);
        assert_eq!(
            preimage_string(&block),
            str_field(case, "preimage"),
            "preimage of {name}"
        );
        let hash = block_hash(&block);
        assert_eq!(hash.to_hex(), str_field(case, "hash"), "hash of {name}");
        let bits: u32 = int_field(case, "leading_zero_bits").parse().expect("bits");
        assert_eq!(hash.leading_zero_bits(), bits, "bits of {name}");
        // Where strict JSON can carry the value, the file's `data` reads the same way.
        if case.get("data_nonfinite").is_none() {
            let mut from_data = block.clone();
            from_data.data = RawJson::from(case.get("data").expect("data"));
            let mut a = Vec::new();
            let mut b = Vec::new();
            write_preimage(&block, &mut a);
            write_preimage(&from_data, &mut b);
            assert_eq!(a, b, "data and data_json disagree for {name}");
        }
    }
}

/// Writing a vector's data and reading it back never changes its hash, and the text
/// written is always strict JSON (Python's NaN/Infinity tokens never leave minichain),
/// NaN aside (see `Json::write`).
#[test]
fn rewritten_data_keeps_its_hash() {
    let cases = read_vector_json("seed_hash_vectors.json");
    for case in items(&cases) {
        let block = block_from_case(case);
        if block.data.has_nan() {
            continue;
        }
        let text = block.to_json_string();
        assert!(
            !text.contains("Infinity") && !text.contains("NaN"),
            "{text}"
        );
        let back = Block::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(block_hash(&back), block_hash(&block), "{text}");
    }
}

/// Every block the original mined: its hash recomputes, meets its difficulty, and the
/// difficulty is what the original's (seed) policy gives for its timestamp.
#[test]
fn seed_mined_blocks_verify() {
    let cases = read_vector_json("seed_mined_blocks.json");
    assert!(items(&cases).len() >= 19);
    let seed = DifficultyPolicy {
        kind: PolicyKind::Seed,
        mine_rate_ms: 2000,
    };
    for case in items(&cases) {
        let name = str_field(case, "name");
        let block = block_from_case(case);
        let prev = block_from_case(case.get("prev_block").expect("prev_block"));
        let hash = block_hash(&block);
        assert!(hash.matches_hex(&block.hash), "hash of {name}");
        assert!(block.difficulty.is_met_by(&hash), "pow of {name}");
        let bits: u32 = int_field(case, "leading_zero_bits").parse().expect("bits");
        assert_eq!(hash.leading_zero_bits(), bits, "bits of {name}");
        assert_eq!(block.prev_hash, prev.hash, "link of {name}");
        let want = next_difficulty(prev.difficulty, prev.timestamp, block.timestamp, &seed);
        assert_eq!(block.difficulty, want, "difficulty of {name}");
    }
}

/// The verdicts table of `chains/README.md`: file name → whether the original accepts.
fn readme_verdicts() -> Vec<(String, bool)> {
    let readme =
        std::fs::read_to_string(vectors_dir().join("chains/README.md")).expect("chains/README.md");
    readme
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let file = cells.get(1)?;
            if !file.ends_with(".json") {
                return None;
            }
            let verdict = cells.get(cells.len().checked_sub(2)?)?.trim_matches('*');
            Some((file.to_string(), verdict == "yes"))
        })
        .collect()
}

/// Every chain file: the original's verdict under the seed rules, and under strict
/// rules the right block and the right rule named.
#[test]
fn chain_files_get_the_right_verdict_and_rule() {
    let verdicts = readme_verdicts();
    let files: Vec<String> = std::fs::read_dir(vectors_dir().join("chains"))
        .expect("chains dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(
        files.len(),
        verdicts.len(),
        "every chain file has a verdict in the README"
    );
    for (file, original_accepts) in &verdicts {
        let text =
            std::fs::read_to_string(vectors_dir().join("chains").join(file)).expect("chain file");
        let blocks = parse_chain(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let last = blocks.len() - 1;
        let seed = check_chain(&blocks, RuleSet::Seed, now_ms());
        assert_eq!(
            seed.is_ok(),
            *original_accepts,
            "seed verdict for {file}: {seed:?}"
        );
        let strict = check_chain(&blocks, RuleSet::Strict, now_ms()).err();
        let expected = match file.as_str() {
            "valid.json" => None,
            "bad_genesis.json" => Some((0, "genesis")),
            "broken_link.json" => Some((last, "link")),
            "bad_hash.json" => Some((last, "hash")),
            "difficulty_jump.json" => Some((last, "difficulty-step")),
            "seed_accepts_no_pow.json" => Some((last, "pow")),
            "seed_accepts_bad_block_no.json" => Some((last, "block-no")),
            "seed_accepts_future_timestamp.json" => Some((last, "future-timestamp")),
            other => panic!("a chain file this test does not know: {other}"),
        };
        assert_eq!(
            strict.as_ref().map(|e| (e.index, e.rule.name())),
            expected,
            "strict verdict for {file}"
        );
        if let Some((index, rule)) = expected
            && !original_accepts
        {
            let seed_err = seed.expect_err("seed rejects");
            assert_eq!(
                (seed_err.index, seed_err.rule.name()),
                (index, rule),
                "seed rule for {file}"
            );
        }
    }
}

/// `valid.json` becomes a [`ValidChain`] whose work is the sum of 2^difficulty.
#[test]
fn valid_chain_work_is_the_sum_of_powers() {
    let text =
        std::fs::read_to_string(vectors_dir().join("chains/valid.json")).expect("valid.json");
    let blocks = parse_chain(&text).expect("parse");
    let expected: u128 = blocks.iter().map(|b| 1u128 << b.difficulty.bits()).sum();
    let chain = ValidChain::validate(blocks, RuleSet::Strict, now_ms()).expect("valid");
    assert_eq!(chain.work().to_string(), expected.to_string());
}
