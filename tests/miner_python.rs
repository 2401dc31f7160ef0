//! The original's Python nodes accept every block the parallel miner mines, wide nonces
//! included: a chain mined on every prefix length mod 64 (so the nonce's head digits take
//! every width the layout uses, well past 2^64) goes through `python3`, which hashes each
//! block with the original's `hash_function` (checked first against
//! `seed_mined_blocks.json`, blocks the original itself mined) and applies the original's
//! chain rules plus proof of work.
//!
//! Run with `cargo test --release --test miner_python` (needs `python3` on PATH).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use minichain::chain::block::write_chain;
use minichain::chain::json::Dialect;
use minichain::chain::{Block, Difficulty, DifficultyPolicy, Json, genesis};
use minichain::miner::kernel::available_kernels;
use minichain::miner::{CancelToken, MineJob, MineOutcome, Miner, MinerConfig};

/// The original's hash and rules, in Python. Reads the vectors file named in argv[1]
/// and a chain (JSON array) on stdin; prints a JSON summary.
const PYTHON: &str = r#"
import hashlib, json, sys

def hash_function(block_no, timestamp, data, prev_hash, nonce, difficulty):
    # The original's block hash: SHA-256 of the plain concatenation of str() of each field.
    text = str(block_no) + str(timestamp) + str(data) + str(prev_hash) + str(nonce) + str(difficulty)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

def leading_zero_bits(hex_hash):
    return 256 - int(hex_hash, 16).bit_length()

with open(sys.argv[1]) as f:
    vectors = json.load(f)
for v in vectors:
    got = hash_function(v["block_no"], v["timestamp"], json.loads(v["data_json"]),
                        v["prev_hash"], v["nonce"], v["difficulty"])
    assert got == v["hash"], "hash_function disagrees with the vector " + v["name"]

chain = json.loads(sys.stdin.read())
problems = []
for i in range(1, len(chain)):
    prev, b = chain[i - 1], chain[i]
    if list(b.keys()) != ["block_no", "timestamp", "prev_hash", "data", "hash", "nonce", "difficulty"]:
        problems.append((i, "keys", list(b.keys())))
    if not (type(b["nonce"]) is int and b["nonce"] >= 0):
        problems.append((i, "nonce is not a non-negative int", b["nonce"]))
    if b["prev_hash"] != prev["hash"]:
        problems.append((i, "prev_hash"))
    if hash_function(b["block_no"], b["timestamp"], b["data"], b["prev_hash"], b["nonce"], b["difficulty"]) != b["hash"]:
        problems.append((i, "hash"))
    if abs(b["difficulty"] - prev["difficulty"]) > 1:
        problems.append((i, "difficulty step"))
    if leading_zero_bits(b["hash"]) < b["difficulty"]:
        problems.append((i, "proof of work"))
print(json.dumps({
    "vectors": len(vectors),
    "checked": len(chain) - 1,
    "problems": problems,
    "nonce_digits": sorted({len(str(b["nonce"])) for b in chain[1:]}),
}))
"#;

/// Data values whose `str()` takes every length mod 64, and a few of every JSON kind.
fn data_values() -> Vec<Json> {
    let mut values: Vec<Json> = (0..64)
        .map(|n| Json::String("p".repeat(n).into()))
        .collect();
    for text in [
        r#"{"tx": [1, "two", 3.5], "ok": true, "none": null}"#,
        r#"["é中😀", "it's", "\"q\"", "tab\t"]"#,
        "12345678901234567890123456789",
        "-0.0",
        r#"{"nested": {"deep": [[], {}, [1e-7]]}}"#,
    ] {
        values.push(Json::parse(text).expect("valid JSON"));
    }
    values
}

/// Mines one block per data value on top of the last, with every available kernel in
/// turn on two threads, the difficulty climbing from genesis by one per block to 14.
fn mine_chain() -> Vec<Block> {
    let miners: Vec<Miner> = available_kernels()
        .into_iter()
        .map(|kernel| {
            Miner::new(MinerConfig {
                threads: Some(2),
                kernel: Some(kernel),
            })
            .expect("the miner starts")
        })
        .collect();
    let mut chain = vec![genesis()];
    for (i, data) in data_values().into_iter().enumerate() {
        let prev = chain.last().expect("genesis at least").clone();
        let difficulty = Difficulty::new((prev.difficulty.bits() + 1).min(14));
        let job = MineJob {
            prev,
            data: data.into(),
            policy: DifficultyPolicy::default(),
            fixed_difficulty: Some(difficulty),
        };
        match miners[i % miners.len()].mine(&job, &CancelToken::new()) {
            MineOutcome::Found(block) => chain.push(block),
            MineOutcome::Cancelled => panic!("nothing cancelled this search"),
        }
    }
    chain
}

/// Python's hash of every mined block equals the block's hash, the chain passes the
/// original's rules, and nonces wider than 20 digits are among them.
#[test]
fn python_accepts_blocks_with_our_wide_nonces() {
    let chain = mine_chain();
    let mut text = Vec::new();
    write_chain(&chain, Dialect::Python, &mut text);

    let vectors = common::vectors_dir().join("seed_mined_blocks.json");
    let mut python = Command::new("python3")
        .arg("-c")
        .arg(PYTHON)
        .arg(&vectors)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    python
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(&text)
        .expect("python3 reads the chain");
    let output = python.wait_with_output().expect("python3 finishes");
    assert!(
        output.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary =
        Json::parse(String::from_utf8_lossy(&output.stdout).trim()).expect("python3 prints JSON");
    assert_eq!(
        summary.get("problems").map(|p| p.to_compact_string()),
        Some("[]".to_owned()),
        "{summary}"
    );
    assert_eq!(
        summary.get("checked").map(|p| p.to_compact_string()),
        Some((chain.len() - 1).to_string())
    );
    let widest = chain
        .iter()
        .map(|b| b.nonce.as_str().len())
        .max()
        .unwrap_or(0);
    assert!(widest > 20, "some nonce is wider than u64: {summary}");
}
