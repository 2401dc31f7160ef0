//! A block's `data` costs memory in proportion to its text, however it is written: a
//! tracking global allocator (this test binary's own) notes the most bytes held at
//! once while a hostile `data` is read and compared, against the size of its text.
//!
//! A [`Json`](minichain::chain::Json) tree costs some thirty times its text, so these
//! fail as soon as a tree of the whole value is built on the way.
//!
//! Run with `cargo test --release --test data_memory`.

use minichain::chain::RawJson;
use minichain::chain::genesis;
use minichain::chain::validate::{RuleSet, check_chain};

#[path = "common/tracking_alloc.rs"]
mod tracking_alloc;

use tracking_alloc::{TrackingAllocator, peak_bytes};

#[global_allocator]
static GLOBAL: TrackingAllocator = TrackingAllocator;

/// `[0,0,...,0]` with `n` items.
fn zeros(n: usize) -> String {
    let mut text = String::with_capacity(2 * n + 2);
    text.push('[');
    for i in 0..n {
        if i > 0 {
            text.push(',');
        }
        text.push('0');
    }
    text.push(']');
    text
}

/// The most a `data` text may cost to read or compare, in multiples of its size: its
/// `str()` is 1.5 times the text here, and buffers grow by doubling.
const MAX_BYTES_PER_TEXT_BYTE: usize = 8;

/// An object that repeats a key is rendered (first place, last value) without a tree:
/// a 4 MB value holds at most a few times 4 MB while read.
#[test]
fn repeated_keys_are_rendered_without_a_tree() {
    let text = format!("{{\"a\": 0, \"b\": 1, \"a\": {}}}", zeros(2_000_000));
    let (peak, raw) = peak_bytes(|| RawJson::parse(&text));
    let raw = raw.expect("JSON");
    assert!(raw.python_str().starts_with("{'a': [0, 0, "));
    assert!(raw.python_str().ends_with("0], 'b': 1}"));
    assert!(
        peak <= MAX_BYTES_PER_TEXT_BYTE * text.len(),
        "reading {} bytes held {peak} bytes at once",
        text.len()
    );
}

/// A block 0 whose `data` is a large value other than `[]` is refused as genesis
/// without building a tree of that value.
#[test]
fn genesis_data_is_compared_without_a_tree() {
    let mut block = genesis();
    let text = zeros(2_000_000);
    block.data = RawJson::parse(&text).expect("JSON");
    let chain = vec![block];
    let (peak, verdict) = peak_bytes(|| check_chain(&chain, RuleSet::Seed, 0));
    assert_eq!(verdict.map_err(|e| e.rule.name()), Err("genesis"));
    assert!(
        peak <= MAX_BYTES_PER_TEXT_BYTE * text.len(),
        "comparing {} bytes held {peak} bytes at once",
        text.len()
    );
}

/// A block field that must hold an integer but holds a large array is refused, and
/// the error names what is there without a tree of it being built: in a chain pushed
/// to the node and in a page a peer answers alike.
#[test]
fn a_non_integer_field_is_described_without_a_tree() {
    let array = zeros(2_000_000);
    let chain = format!(
        r#"[{{"block_no": {array}, "timestamp": 0, "data": [], "prev_hash": "0", "hash": "0", "nonce": 0, "difficulty": 0}}]"#
    );
    let (peak, parsed) = peak_bytes(|| minichain::chain::block::parse_chain(&chain));
    let error = parsed.expect_err("block_no is an array").to_string();
    assert!(error.contains("an array"), "{error}");
    assert!(
        peak <= MAX_BYTES_PER_TEXT_BYTE * chain.len(),
        "reading {} bytes held {peak} bytes at once",
        chain.len()
    );

    let page = bytes::Bytes::from(format!(r#"{{"from": {array}, "total": 1, "blocks": []}}"#));
    let len = page.len();
    let (peak, parsed) = peak_bytes(|| minichain::node::range_fetch::parse_answer(page));
    let error = parsed
        .map(|_| ())
        .expect_err("from is an array")
        .to_string();
    assert!(error.contains("an array"), "{error}");
    assert!(
        peak <= MAX_BYTES_PER_TEXT_BYTE * len,
        "reading {len} bytes held {peak} bytes at once"
    );
}
