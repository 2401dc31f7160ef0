//! The `minichain` binary end to end: exit codes, output lines and error messages of
//! `hash`, `validate` and `mine`, on the vector files and on bad input.
//!
//! Run with `cargo test --test cli`.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::vectors_dir;
use minichain::chain::block::parse_chain;
use minichain::chain::validate::now_ms;
use minichain::chain::{Block, RuleSet, ValidChain, block_hash, genesis};

fn minichain(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_minichain"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run minichain");
    let mut pipe = child.stdin.take().expect("stdin");
    match pipe.write_all(stdin.as_bytes()) {
        // A command refused before it reads its input (a bad flag) may be gone already.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {}
        written => written.expect("write stdin"),
    }
    drop(pipe);
    child.wait_with_output().expect("wait")
}

/// `bench` at its shortest (0.05 s a measurement, one thread) at `difficulties`,
/// then `more`: what the tests that look at its output, not its figures, run.
fn tiny_bench<'a>(difficulties: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "bench",
        "--secs",
        "0.05",
        "--threads",
        "1",
        "--difficulties",
        difficulties,
    ];
    args.extend_from_slice(more);
    args
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn chain_path(name: &str) -> String {
    vectors_dir()
        .join("chains")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// A valid chain: exit 0 and the one summary line.
#[test]
fn validate_valid_chain() {
    let o = minichain(&["validate", &chain_path("valid.json")], "");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("valid: 30 blocks, tip 000007e4a0c8"),
        "{out}"
    );
    assert!(out.trim_end().ends_with(", work 10485768"), "{out}");
}

/// An invalid chain: exit 1, `invalid at block I: <rule>: <detail>`; `--rules seed`
/// accepts what only minichain's strict rules reject.
#[test]
fn validate_invalid_chain_names_block_and_rule() {
    let o = minichain(&["validate", &chain_path("difficulty_jump.json")], "");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with("invalid at block 29: difficulty-step: "),
        "{}",
        stdout(&o)
    );
    let o = minichain(&["validate", &chain_path("seed_accepts_no_pow.json")], "");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with("invalid at block 30: pow: "),
        "{}",
        stdout(&o)
    );
    let o = minichain(
        &[
            "validate",
            "--rules",
            "seed",
            &chain_path("seed_accepts_no_pow.json"),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

/// Standard input and the `{"chain": [...]}` wrapper work too.
#[test]
fn validate_reads_stdin_and_wrapped_chain() {
    let text = std::fs::read_to_string(chain_path("valid.json")).expect("read");
    let o = minichain(&["validate", "-"], &format!("{{\"chain\": {text}}}"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// Unreadable or malformed input: exit 2 and one line naming the position.
#[test]
fn validate_bad_input_exits_2_with_position() {
    let o = minichain(&["validate", "-"], "[\n  {\"block_no\": 0,,}]");
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("line 2, column 18"), "{err}");
    let o = minichain(&["validate", "/nonexistent/chain.json"], "");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read /nonexistent/chain.json"),
        "{}",
        stderr(&o)
    );
    let o = minichain(&["validate", "-"], "[{\"block_no\": \"0\"}]");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("block 0: field \"block_no\": expected"),
        "{}",
        stderr(&o)
    );
    let o = minichain(&["validate", "--rules", "loose", "-"], "[]");
    assert_eq!(o.status.code(), Some(2));
}

/// `hash` prints one hash per block and `--preimage` the exact preimage.
#[test]
fn hash_prints_hashes_and_preimages() {
    let text = std::fs::read_to_string(chain_path("valid.json")).expect("read");
    let blocks = parse_chain(&text).expect("parse");
    let o = minichain(&["hash"], &text);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), blocks.len());
    // Genesis's hash is a constant, not the hash of its fields; the others recompute.
    assert_eq!(lines[5], blocks[5].hash);
    let o = minichain(
        &["hash", "--preimage"],
        r#"{"block_no": 1, "timestamp": 5, "prev_hash": "p", "data": {"k": [1.50, null]}, "nonce": 7, "difficulty": 3}"#,
    );
    assert_eq!(stdout(&o), "\"15{'k': [1.5, None]}p73\"\n");
    let o = minichain(&["hash"], "{\"block_no\": 1}");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing field"), "{}", stderr(&o));
}

/// `mine` mines a valid block on genesis, or on a chain file's tip.
#[test]
fn mine_on_genesis_and_on_a_chain() {
    let o = minichain(&["mine", "--data", r#"{"tx": [1, 2]}"#], "");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let block = Block::parse(stdout(&o).trim()).expect("a block");
    assert_eq!(block.block_no, 1);
    assert!(block_hash(&block).matches_hex(&block.hash));
    assert!(block.difficulty.is_met_by(&block_hash(&block)));
    assert_eq!(block.data.to_compact_string(), r#"{"tx":[1,2]}"#);

    let o = minichain(
        &[
            "mine",
            "--chain",
            &chain_path("valid.json"),
            "--difficulty",
            "6",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let block = Block::parse(stdout(&o).trim()).expect("a block");
    assert_eq!((block.block_no, block.difficulty.bits()), (30, 6));
    assert_eq!(
        block.prev_hash,
        "000007e4a0c80440e94a1f768d06fb7fac2415965dbc0016510c7bf95a936316"
    );
    assert!(block.difficulty.is_met_by(&block_hash(&block)));
}

/// `mine --blocks N` prints N blocks, one JSON line each, every one on the one before:
/// with the difficulty following the chain they extend genesis into a chain valid under
/// the strict rules; `--blocks 0` is refused.
#[test]
fn mine_blocks_prints_a_chain() {
    let o = minichain(&["mine", "--blocks", "4", "--data", r#""line""#], "");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut chain = vec![genesis()];
    for line in stdout(&o).lines() {
        chain.push(Block::parse(line).expect("each line is a block"));
    }
    assert_eq!(chain.len(), 5, "{}", stdout(&o));
    let numbers: Vec<u64> = chain.iter().map(|b| b.block_no).collect();
    assert_eq!(numbers, [0, 1, 2, 3, 4]);
    ValidChain::validate(chain, RuleSet::Strict, now_ms()).expect("a valid chain");

    let o = minichain(&["mine", "--blocks", "0"], "");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--blocks"), "{}", stderr(&o));
}

/// `mine` refuses what Python nodes cannot take, and bad flags, with exit 2.
#[test]
fn mine_refuses_bad_data() {
    for (data, needle) in [
        ("NaN", "NaN or an infinite"),
        ("[1E400]", "NaN or an infinite"),
        ("{bad", "--data is not JSON"),
        ("\"\\ud800\"", "lone surrogate"),
    ] {
        let o = minichain(&["mine", "--data", data], "");
        assert_eq!(o.status.code(), Some(2), "{data}");
        assert!(stderr(&o).contains(needle), "{data}: {}", stderr(&o));
    }
    let o = minichain(&["mine", "--chain", &chain_path("bad_hash.json")], "");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("invalid at block 29: hash"),
        "{}",
        stderr(&o)
    );
}

/// `mine` refuses data nested 510 levels deep, as the node's `POST /api/mineblock`
/// does (a chain holding it would be nested past the 512 levels every node reads),
/// with the node's words and exit 2; 509 levels are mined.
#[test]
fn mine_refuses_data_the_node_refuses() {
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let o = minichain(&["mine", "--data", &nested(510)], "");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("data is nested 510 levels deep; at most 509"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));

    let o = minichain(&["mine", "--data", &nested(509), "--difficulty", "1"], "");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let block = Block::parse(stdout(&o).trim()).expect("a block");
    assert_eq!(block.data.to_compact_string(), nested(509));
}

/// `bench`'s text tables: the baseline, the per-core ratio, every kernel, and a row per
/// difficulty (smallest first and once each, however they were asked for) with its
/// time per block in a unit and its shares of the peak measured beside it, which the
/// row names.
#[test]
fn bench_tables_show_each_difficulty_against_the_peak_beside_it() {
    let o = minichain(&tiny_bench("3,2,3", &[]), "");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for text in [
        "chained sha2::compress256",
        "per-core ratio",
        "portable",
        "cancel latency",
    ] {
        assert!(out.contains(text), "no {text:?} in\n{out}");
    }
    // How far apart the rounds came out, whichever way this run went.
    let spread_line = |l: &str| {
        l.starts_with("rounds agreed within ") || l.starts_with("rounds disagreed by up to ")
    };
    assert!(
        out.lines().any(spread_line),
        "no line on the rounds in\n{out}"
    );
    let header = out
        .lines()
        .position(|line| line.starts_with("difficulty  blocks"))
        .unwrap_or_else(|| panic!("no difficulty table in\n{out}"));
    assert!(
        out.lines()
            .nth(header)
            .is_some_and(|h| h.contains("peak beside"))
    );
    let rows: Vec<&str> = out
        .lines()
        .skip(header + 1)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(rows.len(), 2, "one row per difficulty:\n{out}");
    for (line, difficulty) in rows.into_iter().zip(["2", "3"]) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells.first(), Some(&difficulty), "{line}");
        assert!(
            matches!(cells.get(3), Some(&("µs" | "ms" | "s"))),
            "time per block with its unit: {line}"
        );
        // The share of the peak, then the peak beside the row, a positive rate.
        assert!(cells.iter().any(|c| c.ends_with('%')), "{line}");
        assert!(line.trim_end().ends_with("H/s"), "{line}");
        assert!(!line.contains(" 0.00 H/s"), "{line}");
    }
}

/// `bench --plot FILE.svg` writes a well-formed SVG (read by Python's XML parser) that
/// names every kernel the run measured, and `--json` still prints the report.
#[test]
fn bench_plot_writes_an_svg_naming_the_kernels() {
    let dir = std::env::temp_dir().join(format!("minichain-cli-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let svg = dir.join("bench.svg");
    let svg_arg = svg.to_string_lossy().into_owned();
    let o = minichain(&tiny_bench("2,4", &["--json", "--plot", &svg_arg]), "");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("--json report");
    let spread = report["round_spread"].as_f64().expect("round_spread");
    assert!((0.0..=1.0).contains(&spread), "round_spread {spread}");
    assert!(report["round_spread_of"].is_string(), "{report}");
    let kernels: Vec<String> = report["kernels"]
        .as_array()
        .expect("kernels")
        .iter()
        .map(|k| k["name"].as_str().expect("name").to_owned())
        .collect();
    // Each difficulty row carries both rates and the peak measured beside it; at
    // difficulties 2 and 4 every round finds blocks, so the blocks' rate is positive and
    // the attempts made are not below it by much (they include every attempt that found
    // a block).
    for row in report["by_difficulty"].as_array().expect("by_difficulty") {
        let made = row["attempts_per_s"].as_f64().expect("attempts_per_s");
        let found = row["block_attempts_per_s"]
            .as_f64()
            .expect("block_attempts_per_s");
        let peak = row["peak_attempts_per_s"]
            .as_f64()
            .expect("peak_attempts_per_s");
        assert!(found > 0.0 && made > 0.5 * found, "{row}");
        assert!(peak > 0.0, "{row}");
    }
    let check = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as ET; \
             root = ET.parse(sys.argv[1]).getroot(); \
             print(root.tag); \
             print('\\n'.join(t.text or '' for t in root.iter() if t.tag.endswith('text')))",
            &svg_arg,
        ])
        .output()
        .expect("run python3");
    std::fs::remove_dir_all(&dir).ok();
    assert!(check.status.success(), "{}", stderr(&check));
    let texts = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(
        texts.starts_with("{http://www.w3.org/2000/svg}svg"),
        "{texts}"
    );
    assert!(texts.contains("difficulty (leading zero bits)"), "{texts}");
    for kernel in &kernels {
        assert!(
            texts.lines().any(|l| l.trim() == kernel),
            "no {kernel} label in {texts}"
        );
    }
}

/// `validate --json`: one JSON object for programs, with the same exit codes.
#[test]
fn validate_json_for_programs() {
    let o = minichain(&["validate", "--json", &chain_path("valid.json")], "");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let answer: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(answer["valid"], true);
    assert_eq!(answer["blocks"], 30);
    assert_eq!(answer["work"], "10485768");
    assert!(
        answer["tip"]
            .as_str()
            .is_some_and(|t| t.starts_with("000007e4a0c8"))
    );
    let o = minichain(
        &["validate", "--json", &chain_path("difficulty_jump.json")],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    let answer: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(answer["valid"], false);
    assert_eq!(answer["index"], 29);
    assert_eq!(answer["rule"], "difficulty-step");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("invalid at block 29: difficulty-step: ")),
        "{answer}"
    );
    // Input that cannot be read or parsed: an object too, exit 2.
    for (args, stdin, says) in [
        (
            &["validate", "--json", "/no/such/chain.json"][..],
            "",
            "cannot read",
        ),
        (
            &["validate", "--json", "-"][..],
            "[{",
            "unexpected end of input",
        ),
    ] {
        let o = minichain(args, stdin);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let answer: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
        assert_eq!(answer["valid"], false, "{answer}");
        assert!(
            answer["index"].is_null() && answer["rule"].is_null(),
            "{answer}"
        );
        assert!(
            answer["error"].as_str().is_some_and(|e| e.contains(says)),
            "{args:?}: {answer}"
        );
    }
}

/// Piped, `mine` writes no terminal control characters (no `\r` redraws, no escape
/// codes): only the block on stdout, and plain lines (if any) on stderr.
#[test]
fn mine_piped_writes_plain_lines() {
    let o = minichain(&["mine", "--data", "\"piped\"", "--threads", "1"], "");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for (name, text) in [("stdout", stdout(&o)), ("stderr", stderr(&o))] {
        assert!(
            !text.contains('\r') && !text.contains('\x1b'),
            "{name} holds terminal control characters: {text:?}"
        );
    }
    let block: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("the block as JSON");
    assert_eq!(block["data"], "piped");
}

/// Zero or nonsensical counts are refused up front with one line and exit 2, never
/// run: `mine --difficulty 0` (no node takes such a block: the strict rules want at
/// least 1), `--threads` above the miner's cap (so many threads that the OS refuses some
/// of them: a panic and a hang), `import --synthetic 0` (a chain holds at least genesis).
#[test]
fn counts_out_of_range_are_refused() {
    let data = tempfile::tempdir().expect("a temporary data directory");
    let dir = data.path().to_string_lossy().into_owned();
    for (args, expected) in [
        (
            &["mine", "--difficulty", "0"][..],
            "--difficulty must be between 1 and 256",
        ),
        (
            &["mine", "--threads", "1025", "--difficulty", "1"][..],
            "--threads must be at most 1024, got 1025",
        ),
        (
            &[
                "bench",
                "--threads",
                "1,1025",
                "--secs",
                "0.05",
                "--difficulties",
                "1",
            ][..],
            "--threads must list thread counts of at most 1024, got 1025",
        ),
        (
            &["bench", "--secs", "1e-300", "--difficulties", "1"][..],
            "--secs must be between 0.001 and 3600 seconds, got 1e-300",
        ),
        (
            &["import", "--synthetic", "0", "--data-dir", &dir][..],
            "invalid value '0' for '--synthetic <N>'",
        ),
        // Peers fetch each other over plain HTTP: an https address could never be
        // fetched.
        (
            &[
                "node",
                "--advertise",
                "https://node.example",
                "--data-dir",
                &dir,
            ][..],
            "--advertise must be an http:// address",
        ),
        (
            &["node", "--root", "https://node.example", "--data-dir", &dir][..],
            "--root must be an http:// address",
        ),
    ] {
        let o = minichain(args, "");
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(expected), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?}: {}", stdout(&o));
    }
    assert!(
        !data.path().join("chain.redb").exists(),
        "nothing was imported"
    );
}

/// `bench --plot` into a folder that does not exist is refused before the run, not
/// after it with the whole run's report lost.
#[test]
fn bench_plot_to_an_unwritable_path_is_refused_before_the_run() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let svg = dir.path().join("missing").join("bench.svg");
    let svg_arg = svg.to_string_lossy().into_owned();
    let o = minichain(&tiny_bench("1", &["--plot", &svg_arg]), "");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("cannot write --plot {svg_arg}")),
        "{}",
        stderr(&o)
    );
}

/// `bench --plot` onto a file that is not a picture (a chain someone meant to keep, a
/// node's store) is refused before the run, and the file is left as it was.
#[test]
fn bench_plot_onto_a_file_that_is_no_picture_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let chain = dir.path().join("chain.json");
    std::fs::write(&chain, "[{\"block_no\": 0}]").expect("writes");
    let data = dir.path().join("data");
    let imported = Command::new(env!("CARGO_BIN_EXE_minichain"))
        .args(["import", "--synthetic", "5", "--data-dir"])
        .arg(&data)
        .output()
        .expect("runs minichain");
    assert!(imported.status.success(), "{}", stderr(&imported));
    let store = data.join("chain.redb");
    for target in [&chain, &store] {
        let before = std::fs::read(target).expect("reads");
        let arg = target.to_string_lossy().into_owned();
        let o = minichain(&tiny_bench("1", &["--plot", &arg]), "");
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("is not an SVG picture"),
            "{}",
            stderr(&o)
        );
        assert_eq!(
            std::fs::read(target).expect("reads"),
            before,
            "{arg} changed"
        );
    }
}

/// `bench --plot` to a named pipe is refused before the run: opening it would wait
/// for a reader, and the picture written after the run would wait for another.
#[cfg(target_os = "linux")]
#[test]
fn bench_plot_to_a_pipe_is_refused_before_the_run() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let fifo = dir.path().join("plot.fifo");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success());
    let fifo_arg = fifo.to_string_lossy().into_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_minichain"))
        .args(tiny_bench("1", &["--plot", &fifo_arg]))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start minichain bench");
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().expect("poll the run").is_none() {
        if std::time::Instant::now() > give_up {
            child.kill().expect("kill the run");
            panic!("bench --plot to a pipe hung");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = child.wait_with_output().expect("the run's output");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    assert!(
        stdout(&o).is_empty(),
        "refused before the run: {}",
        stdout(&o)
    );
}

/// While `bench --plot` runs, nothing is at the path yet: a run killed part-way (Ctrl-C)
/// leaves no empty picture behind. Before, the up-front check created the file.
#[cfg(target_os = "linux")]
#[test]
fn bench_plot_leaves_no_file_until_the_picture() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let svg = dir.path().join("bench.svg");
    let mut child = Command::new(env!("CARGO_BIN_EXE_minichain"))
        .args(["bench", "--secs", "60", "--threads", "1", "--plot"])
        .arg(&svg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start minichain bench");
    // The check comes before any measuring: once the run has used half a second of
    // CPU (the start-up calibration alone takes about 0.15 s), it is well past it.
    let stat = format!("/proc/{}/stat", child.id());
    let cpu_ticks = || -> u64 {
        let text = std::fs::read_to_string(&stat).unwrap_or_default();
        // Fields after the command name (in parentheses): utime and stime are the
        // 12th and 13th.
        let rest = text.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        field(11).unwrap_or(0) + field(12).unwrap_or(0)
    };
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while cpu_ticks() < 50 {
        assert!(
            child.try_wait().expect("poll the run").is_none(),
            "the run ended early"
        );
        assert!(
            std::time::Instant::now() < give_up,
            "the run never got going"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let present = svg.exists();
    child.kill().expect("kill the run");
    child.wait().expect("reap the run");
    assert!(
        !present,
        "an empty {} sat there during the run",
        svg.display()
    );
    assert!(!svg.exists(), "the killed run left {}", svg.display());
}

/// A standard output that cannot be written (here a full disk, `/dev/full`; a closed
/// pipe alike) is one line on stderr and exit 2, never a panic.
#[cfg(target_os = "linux")]
#[test]
fn unwritable_stdout_is_an_error_not_a_panic() {
    let valid = chain_path("valid.json");
    let bench = tiny_bench("1", &[]);
    for args in [
        &["validate", valid.as_str()][..],
        &["validate", "--json", valid.as_str()][..],
        &["validate", &chain_path("difficulty_jump.json")][..],
        &bench[..],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let o = Command::new(env!("CARGO_BIN_EXE_minichain"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(full)
            .stderr(Stdio::piped())
            .output()
            .expect("run minichain");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("standard output"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// An input with no end (`/dev/zero`, an endless pipe) or past the input limit is one
/// error line and exit 2, not a run that fills memory: a device or pipe is read up to
/// the limit (lowered here by its environment variable), and a regular file larger than
/// the limit (a sparse one, 4 GiB and a byte) is refused before it is read.
#[cfg(target_os = "linux")]
#[test]
fn endless_or_oversized_input_is_refused() {
    let zero = || std::fs::File::open("/dev/zero").expect("/dev/zero");
    for (args, stdin) in [
        (&["validate", "/dev/zero"][..], Stdio::null()),
        (&["validate", "-"][..], Stdio::from(zero())),
        (&["hash"][..], Stdio::from(zero())),
        (&["mine", "--chain", "-"][..], Stdio::from(zero())),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_minichain"))
            .args(args)
            .env("MINICHAIN_MAX_INPUT_BYTES", "1000000")
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("run minichain");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("more than 1000000 bytes"), "{args:?}: {err}");
    }

    let dir = tempfile::tempdir().expect("a temporary directory");
    let big = dir.path().join("big.json");
    std::fs::File::create(&big)
        .and_then(|file| file.set_len((4 << 30) + 1))
        .expect("a sparse file");
    let big = big.to_string_lossy().into_owned();
    let data = dir.path().join("data").to_string_lossy().into_owned();
    for args in [
        &["import", "--data-dir", data.as_str(), big.as_str()][..],
        &["mine", "--chain", big.as_str()][..],
        // Mapped rather than read, under the same limit.
        &["validate", big.as_str()][..],
    ] {
        let o = minichain(args, "");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("more than 4294967296 bytes"),
            "{args:?}: {err}"
        );
    }
}

/// A file name's control characters (a terminal escape, here) are escaped where an
/// error names the file, not sent to the terminal as they are.
#[test]
fn file_names_in_errors_are_escaped() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let evil = dir.path().join("evil\u{1b}]0;PWNED\u{7}.json");
    std::fs::write(&evil, "[{").expect("writes");
    let evil = evil.to_string_lossy().into_owned();
    for args in [
        &["validate", evil.as_str()][..],
        &["mine", "--chain", evil.as_str()][..],
    ] {
        let o = minichain(args, "");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains('\u{1b}'), "{args:?}: a raw escape in {err:?}");
        assert!(err.contains("evil\\u{1b}]0;PWNED"), "{args:?}: {err:?}");
    }
}
