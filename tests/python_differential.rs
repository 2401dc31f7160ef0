//! Differential test of the preimage renderer against CPython itself: thousands of
//! generated JSON texts, each rendered by minichain's `str()` and by
//! `str(json.loads(text))` in one long-running `python3` process, compared byte for
//! byte.
//!
//! The local `python3` may be older than Python 3.13 (whose Unicode 15.1 tables
//! minichain follows): characters whose printability differs between the two are kept
//! out of the generated strings, and the test checks that every such difference is a
//! character newly assigned after the local Python's Unicode version.
//!
//! Run with `cargo test --test python_differential` (needs `python3` on PATH).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use minichain::chain::Json;
use minichain::chain::data::{RawJson, write_raw_str};
use minichain::chain::json::{Dialect, write_string};
use minichain::chain::pyrepr::{is_printable, write_str};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

const CASES: usize = 8000;

/// Reads `str(json.loads(line))` for each JSON-string-encoded line; the first output
/// line lists the code points the local Python finds printable, as ranges.
const PYTHON: &str = r#"
import json, sys
out = sys.stdout
ranges, start = [], None
for cp in range(0x110001):
    p = cp < 0x110000 and chr(cp).isprintable()
    if p and start is None: start = cp
    elif not p and start is not None: ranges.append((start, cp - 1)); start = None
out.write(json.dumps(ranges) + "\n"); out.flush()
for line in sys.stdin:
    text = json.loads(line)
    try:
        r = str(json.loads(text))
        r.encode("utf-8")  # what hashing the preimage does: fails on a bare lone surrogate
        out.write(json.dumps(r, ensure_ascii=True) + "\n")
    except Exception as e:
        out.write(json.dumps("ERROR " + type(e).__name__) + "\n")
    out.flush()
"#;

/// Characters strings are drawn from: every class the renderer treats differently.
fn char_strategy(excluded: &'static HashSet<u32>) -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range(' ', '~'),
        2 => prop::sample::select(vec!['\'', '"', '\\', '\n', '\r', '\t', '\u{0}', '\u{7f}', '\u{1f}', '\u{a0}', '\u{ad}', '\u{2028}', '\u{200b}', '\u{feff}', 'é', '中', '😀', '\u{f0000}', '\u{e000}', '\u{1d173}']),
        2 => proptest::char::range('\u{80}', '\u{ffff}'),
        1 => proptest::char::range('\u{10000}', '\u{10ffff}'),
    ]
    .prop_map(move |c| if excluded.contains(&u32::from(c)) { '?' } else { c })
}

fn string_strategy(excluded: &'static HashSet<u32>) -> impl Strategy<Value = String> {
    prop::collection::vec(char_strategy(excluded), 0..12).prop_map(|cs| cs.into_iter().collect())
}

/// Number literals in many spellings: integers of any size, floats near every
/// repr boundary, exponents that overflow or underflow, Python's tokens.
fn number_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        "-?[1-9][0-9]{18,60}".prop_map(|s| s),
        Just("-0".to_owned()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        (-30i32..30, 1u32..99999, 0u32..9)
            .prop_map(|(e, m, z)| format!("{m}.{}E{e:+}", "0".repeat(z as usize))),
        (1u64..99999999, -330i32..330).prop_map(|(m, e)| format!("{m}e{e}")),
        "-?(0|[1-9][0-9]{0,5})\\.[0-9]{1,20}".prop_map(|s| s),
        prop::sample::select(vec![
            "NaN",
            "Infinity",
            "-Infinity",
            "1E400",
            "-1e999",
            "1e-400",
            "0.0",
            "-0.0"
        ])
        .prop_map(str::to_owned),
    ]
}

/// JSON texts: nested arrays and objects (with repeated keys), written with random
/// whitespace, escapes and raw characters.
fn json_text_strategy(excluded: &'static HashSet<u32>) -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        number_strategy(),
        (string_strategy(excluded), any::<bool>()).prop_map(|(s, ascii)| encode_string(&s, ascii)),
        surrogate_literal(excluded),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..6), any::<bool>()).prop_map(
                |(items, spaced)| {
                    let sep = if spaced { ", " } else { "," };
                    format!("[{}]", items.join(sep))
                }
            ),
            (
                prop::collection::vec(
                    (
                        prop_oneof![
                            3 => (string_strategy(excluded), any::<bool>())
                                .prop_map(|(k, ascii)| encode_string(&k, ascii)),
                            1 => Just("\"a\"".to_owned()),
                            1 => Just("\"\\ud800\"".to_owned()),
                            1 => surrogate_literal(excluded),
                        ],
                        inner
                    ),
                    0..6
                ),
                any::<bool>()
            )
                .prop_map(|(members, ascii)| {
                    let body: Vec<String> = members
                        .iter()
                        .map(|(k, v)| format!("{}: {v}", reencode(k, ascii)))
                        .collect();
                    format!("{{ {} }}", body.join(" ,"))
                }),
        ]
    })
}

/// A key literal, with its non-ASCII escaped when `ascii` (lone-surrogate escapes stay).
fn reencode(literal: &str, ascii: bool) -> String {
    if !ascii || literal.contains("\\u") {
        return literal.to_owned();
    }
    let s: String = serde_json::from_str(literal).expect("a key literal");
    encode_string(&s, true)
}

/// A JSON string literal holding a lone surrogate escape (`\ud800`..`\udfff`, in
/// either case) between two runs of generated text: Python keeps it in the string.
fn surrogate_literal(excluded: &'static HashSet<u32>) -> impl Strategy<Value = String> {
    (
        string_strategy(excluded),
        string_strategy(excluded),
        0xd800u32..=0xdfff,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(a, b, unit, upper, ascii)| {
            let (a, b) = (encode_string(&a, ascii), encode_string(&b, ascii));
            let escape = if upper {
                format!("\\u{unit:04X}")
            } else {
                format!("\\u{unit:04x}")
            };
            format!("{}{escape}{}", &a[..a.len() - 1], &b[1..])
        })
}

/// A JSON string literal: `ascii` escapes all non-ASCII (as Python's `json.dumps` does).
fn encode_string(s: &str, ascii: bool) -> String {
    let mut out = Vec::new();
    write_string(
        s,
        if ascii {
            Dialect::Python
        } else {
            Dialect::Compact
        },
        &mut out,
    );
    String::from_utf8(out).expect("utf-8")
}

/// minichain's `str()` of a JSON text, rendered both ways it can be: from the tree
/// ([`Json`]) and straight from the text ([`RawJson`], as blocks hash their data).
/// They must agree before either is compared with Python.
fn minichain_str(text: &str) -> String {
    let tree = match Json::parse(text) {
        Ok(v) => {
            let mut out = Vec::new();
            if let Err(e) = write_str(&v, &mut out) {
                // A bare string holding a lone surrogate: no UTF-8 str(), and RawJson
                // (what blocks hold) refuses it.
                let raw = RawJson::parse(text).err().map(|e| e.kind);
                assert_eq!(raw, Some(e.clone()), "{text:?}");
                return format!("PARSE ERROR {e}");
            }
            String::from_utf8(out).expect("utf-8")
        }
        Err(e) => return format!("PARSE ERROR {e}"),
    };
    let raw = RawJson::parse(text).expect("RawJson reads what Json reads");
    let mut out = Vec::new();
    write_raw_str(&raw, &mut out);
    let streamed = String::from_utf8(out).expect("utf-8");
    assert_eq!(
        streamed, tree,
        "streamed and tree renderings differ for {text:?}"
    );
    tree
}

/// `python3 -c script` with its standard input and output piped: the child, a writer
/// to it and a line reader from it.
fn spawn_python(script: &str) -> (Child, ChildStdin, BufReader<ChildStdout>) {
    let mut python = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 must be on PATH (scripts/test installs it)");
    let stdin = python.stdin.take().expect("stdin");
    let stdout = BufReader::new(python.stdout.take().expect("stdout"));
    (python, stdin, stdout)
}

/// Generated JSON renders exactly as CPython's `str(json.loads(text))`.
#[test]
fn renderer_matches_cpython() {
    let (mut python, mut stdin, mut stdout) = spawn_python(PYTHON);

    // Printability: local Python versus minichain's Unicode 15.1 table.
    let mut line = String::new();
    stdout.read_line(&mut line).expect("ranges");
    let ranges: Vec<(u32, u32)> = serde_json::from_str(&line).expect("ranges json");
    let mut py_printable = vec![false; 0x110000];
    for (a, b) in ranges {
        for cp in a..=b {
            py_printable[cp as usize] = true;
        }
    }
    let mut differ = HashSet::new();
    for cp in 0..0x110000u32 {
        if let Some(c) = char::from_u32(cp)
            && is_printable(c) != py_printable[cp as usize]
        {
            // Only characters assigned after the local Python's Unicode version
            // may differ: printable for us, unassigned (Cn) for it.
            assert!(
                is_printable(c),
                "U+{cp:04X}: python finds it printable, minichain does not"
            );
            differ.insert(cp);
        }
    }
    let excluded: &'static HashSet<u32> = Box::leak(Box::new(differ));

    let mut runner = TestRunner::new(Config::default());
    let strategy = json_text_strategy(excluded);
    let texts: Vec<String> = (0..CASES)
        .map(|_| strategy.new_tree(&mut runner).expect("generate").current())
        .collect();
    let writer = std::thread::spawn({
        let texts = texts.clone();
        move || {
            for t in &texts {
                writeln!(stdin, "{}", serde_json::to_string(t).expect("encode"))
                    .expect("write to python");
            }
        }
    });
    let mut mismatches = Vec::new();
    for text in &texts {
        line.clear();
        stdout.read_line(&mut line).expect("python answer");
        let expected: String = serde_json::from_str(&line).expect("python json");
        let ours = minichain_str(text);
        if expected.starts_with("ERROR ") {
            // Python refuses it (e.g. an int over 4300 digits); so must we.
            assert!(
                ours.starts_with("PARSE ERROR"),
                "python refused {text:?} ({expected}), minichain gave {ours:?}"
            );
        } else if ours != expected {
            mismatches.push(format!(
                "{text:?}\n  python:    {expected:?}\n  minichain: {ours:?}"
            ));
        }
    }
    writer.join().expect("writer");
    let _ = python.wait();
    assert!(
        mismatches.is_empty(),
        "{} of {CASES} differ:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Hashes a chain's blocks as the original does, from the chain's JSON text, one
/// chain per input line: for each block, its recomputed hash (or the error), whether it
/// equals the block's `hash` field, `str(data)` (ASCII-escaped), and whether the
/// original's HTTP layer could write the data (`ensure_ascii=False` then UTF-8).
const PYTHON_CHAIN: &str = r#"
import hashlib, json, sys
for line in sys.stdin:
    chain = json.loads(json.loads(line))
    rows = []
    for b in chain:
        fields = (b["block_no"], b["timestamp"], b["data"], b["prev_hash"], b["nonce"], b["difficulty"])
        try:
            h = hashlib.sha256("".join(str(f) for f in fields).encode("utf-8")).hexdigest()
        except Exception as e:
            h = "ERROR " + type(e).__name__
        try:
            json.dumps(b["data"], ensure_ascii=False).encode("utf-8")
            http = "ok"
        except Exception as e:
            http = "ERROR " + type(e).__name__
        rows.append([h, h == b["hash"], str(b["data"]).encode("unicode_escape").decode("ascii"), http])
    print(json.dumps(rows), flush=True)
"#;

/// Blocks whose data holds lone surrogates (in arrays, nested objects, keys, repeated
/// keys, beside other escapes) hash as CPython hashes them; the chain validates, and
/// each JSON dialect minichain serves writes it so that CPython reads back the same
/// data and hash and minichain reads back the same chain. A bare string holding one
/// cannot be hashed by CPython, and minichain refuses it; none of them is minable.
#[test]
fn lone_surrogate_blocks_hash_as_cpython() {
    use minichain::chain::block::{parse_chain, write_chain};
    use minichain::chain::validate::now_ms;
    use minichain::chain::{
        MinableError, RuleSet, ValidChain, check_minable, check_minable_raw, genesis,
    };
    use minichain::miner::reference::mine_reference;

    let datas = [
        r#"["\ud800", {"\udc00": 1}]"#,
        r#"["a\n'b\ud800\u00e9\u00a0\"", "x"]"#,
        r#"{"\ud800": 1, "\udbff": 2, "\ud800": 3}"#,
        r#"{"k": {"deep": ["\udfff\ud800", {"\uDABC": [null, 1.50, "it's \ud800"]}]}}"#,
        r#"["\ud83d\ude00\ud83d", "\t\\\ud834", "\u2028\udc80"]"#,
        r#"{"a": {"\ud800x": 1, "\ud800y": 2, "\ud800x": [3]}, "b": "\ud801"}"#,
    ];
    let mut blocks = vec![genesis()];
    for (i, text) in datas.iter().enumerate() {
        let data = Json::parse(text).expect("Python reads it");
        assert!(
            matches!(check_minable(&data), Err(MinableError::LoneSurrogate(_))),
            "{text}"
        );
        let raw = RawJson::parse(text).expect("readable inside a container");
        assert!(matches!(
            check_minable_raw(&raw),
            Err(MinableError::LoneSurrogate(_))
        ));
        let prev = blocks.last().expect("genesis");
        let block = mine_reference(prev, data, now_ms() - 60_000 + i as u64, prev.difficulty);
        blocks.push(block);
    }
    ValidChain::validate(blocks.clone(), RuleSet::Strict, now_ms()).expect("valid chain");

    let (mut python, mut stdin, mut stdout) = spawn_python(PYTHON_CHAIN);
    let mut ask = |chain_text: &str| -> Vec<(String, bool, String, String)> {
        writeln!(
            stdin,
            "{}",
            serde_json::to_string(chain_text).expect("encode")
        )
        .expect("write");
        stdin.flush().expect("flush");
        let mut line = String::new();
        stdout.read_line(&mut line).expect("python answer");
        serde_json::from_str(&line).expect("python json")
    };
    for dialect in [Dialect::Compact, Dialect::Python] {
        let mut out = Vec::new();
        write_chain(&blocks, dialect, &mut out);
        let text = String::from_utf8(out).expect("UTF-8");
        // Written as escapes, never raw (WTF-8) bytes or replacement characters.
        assert!(
            text.contains(r"\ud800") && !text.contains('\u{fffd}'),
            "{dialect:?}"
        );
        let read = parse_chain(&text).expect("minichain reads what it writes");
        assert_eq!(read, blocks, "{dialect:?}");
        let mut again = Vec::new();
        write_chain(&read, dialect, &mut again);
        assert_eq!(again, text.as_bytes(), "{dialect:?}");
        let rows = ask(&text);
        assert_eq!(rows.len(), blocks.len());
        // Block 0 is the original's genesis, whose `hash` is a constant, not a hash.
        for (i, (hash, matches, python_str, http)) in rows.iter().enumerate().skip(1) {
            assert_eq!(hash, &blocks[i].hash, "block {i} ({dialect:?})");
            assert!(matches, "block {i}");
            // The original's HTTP layer cannot write this data: why it is not mined.
            assert_eq!(http, "ERROR UnicodeEncodeError", "block {i}");
            assert!(python_str.contains(r"\\ud"), "block {i}: {python_str}");
        }
    }

    // A bare string holding a lone surrogate: CPython cannot hash the block, and
    // minichain refuses it (never a block, never mined).
    let mut chain = String::from_utf8({
        let mut out = Vec::new();
        write_chain(&blocks[..1], Dialect::Compact, &mut out);
        out
    })
    .expect("UTF-8");
    let bare = format!(
        r#",{{"block_no":1,"timestamp":1700000000000,"data":"\ud800","prev_hash":"{}","hash":"0","nonce":"0","difficulty":3}}]"#,
        blocks[0].hash
    );
    chain.truncate(chain.len() - 1);
    chain.push_str(&bare);
    let rows = ask(&chain);
    assert_eq!(rows[1].0, "ERROR UnicodeEncodeError");
    let err = parse_chain(&chain).expect_err("refused");
    assert!(err.to_string().contains(r"lone surrogate \ud800"), "{err}");
    assert!(RawJson::parse(r#""\udc00""#).is_err());
    let bare = Json::parse(r#""\udc00""#).expect("Python reads it");
    assert_eq!(
        check_minable(&bare),
        Err(MinableError::LoneSurrogate(0xdc00))
    );
    drop(stdin);
    let _ = python.wait();
}
