//! Hostile inputs, one row each: malformed JSON, wrong types for each field, huge
//! numbers, deep nesting, 100 MB bodies and messages, each invalid chain of
//! `tests/vectors/chains/`, forks, another genesis, NaN and lone surrogates, 4301-digit
//! integers, missing and extra keys, non-array messages, replays, megabyte-long keys
//! and strings, and a 100,000-block chain whose last block claims an absurd
//! difficulty. One node process and one Redis serve every row.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minichain::chain::block::write_chain;
use minichain::chain::json::Dialect;
use minichain::chain::validate::now_ms;
use minichain::chain::{Block, Json, genesis};
use minichain::miner::reference::mine_reference;
use minichain::miner::synthetic::synthetic_chain;

use crate::common::node::{body, message, wait_until};
use crate::common::redis::RedisServer;
use crate::common::vectors_dir;

/// Longest wait for one row's verdict (the 100,000-block chain on a debug build).
const WAIT: Duration = Duration::from_secs(60);

/// Longest error body accepted: error text is cut to 1000 characters.
const MAX_ERROR_BODY: usize = 1500;

/// Longest log line accepted.
const MAX_LOG_LINE: usize = 4096;

/// 100 MB: over every limit (32 MiB messages, 1 MiB request bodies).
const HUGE: usize = 100 * 1000 * 1000;

const MB: usize = 1 << 20;

/// A `minichain node` process, killed on drop, whose stderr is drained and measured.
struct NodeProcess {
    child: Child,
    base: String,
    log: Arc<Mutex<LogStats>>,
    /// The node's own data directory, removed with it (never the user's default).
    _data: tempfile::TempDir,
}

#[derive(Debug, Default)]
struct LogStats {
    lines: usize,
    longest: usize,
}

impl NodeProcess {
    fn start(redis_url: &str) -> NodeProcess {
        let data = tempfile::tempdir().expect("a temporary data directory");
        let mut command = Command::new(env!("CARGO_BIN_EXE_minichain"));
        command
            .args([
                "node", "--port", "0", "--redis", redis_url, "--root", "none",
            ])
            .arg("--data-dir")
            .arg(data.path())
            .args(["--threads", "1", "--miner-nice", "0"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let (child, addr, lines) = crate::common::process::spawn_until_listening(&mut command);
        let log = Arc::new(Mutex::new(LogStats::default()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut stats = sink.lock().expect("log stats");
                stats.lines += 1;
                stats.longest = stats.longest.max(line.len());
            }
        });
        NodeProcess {
            child,
            base: format!("http://{addr}"),
            log,
            _data: data,
        }
    }

    /// Peak resident set size (VmHWM), in kB.
    fn peak_rss_kb(&self) -> u64 {
        crate::common::process::status_kb(self.child.id(), "VmHWM")
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a row sends.
enum Action {
    /// `POST /api/chain`.
    Push(Arc<Vec<u8>>),
    /// `POST /api/mineblock`.
    Mine(Vec<u8>),
    /// `GET` a path.
    Get(String),
    /// `POST` this many bytes to a path.
    PostHuge(&'static str, usize),
    /// `PUBLISH BLOCKCHAIN`.
    Publish(Arc<Vec<u8>>),
}

/// What a row must get.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// This status; the reason counted once more (if named); the body names `names`.
    Status(u16, Option<&'static str>, &'static str),
    /// This status, or the connection closed before the node read the whole body.
    StatusOrClosed(u16),
    /// The message counted under this reason.
    Counted(&'static str),
}

struct Row {
    name: &'static str,
    input: String,
    action: Action,
    expect: Expect,
}

fn row(name: &'static str, input: impl Into<String>, action: Action, expect: Expect) -> Row {
    Row {
        name,
        input: input.into(),
        action,
        expect,
    }
}

fn push(bytes: Vec<u8>) -> Action {
    Action::Push(Arc::new(bytes))
}

fn publish(bytes: Vec<u8>) -> Action {
    Action::Publish(Arc::new(bytes))
}

fn status(code: u16, reason: &'static str) -> Expect {
    Expect::Status(code, Some(reason), "")
}

/// A block's seven fields as JSON texts, written in the original's order; rows
/// replace one and leave the rest valid.
#[derive(Clone)]
struct Fields {
    block_no: String,
    timestamp: String,
    prev_hash: String,
    data: String,
    hash: String,
    nonce: String,
    difficulty: String,
    extra: &'static str,
    drop_nonce: bool,
}

impl Fields {
    fn of(block: &Block) -> Fields {
        Fields {
            block_no: block.block_no.to_string(),
            timestamp: block.timestamp.to_string(),
            prev_hash: format!("{:?}", block.prev_hash),
            data: block.data.to_string(),
            hash: format!("{:?}", block.hash),
            nonce: block.nonce.to_string(),
            difficulty: block.difficulty.to_string(),
            extra: "",
            drop_nonce: false,
        }
    }

    fn text(&self) -> String {
        let nonce = if self.drop_nonce {
            String::new()
        } else {
            format!(", \"nonce\": {}", self.nonce)
        };
        format!(
            "{{\"block_no\": {}, \"timestamp\": {}, \"prev_hash\": {}, \"data\": {}, \"hash\": {}{nonce}, \"difficulty\": {}{}}}",
            self.block_no,
            self.timestamp,
            self.prev_hash,
            self.data,
            self.hash,
            self.difficulty,
            self.extra
        )
    }
}

/// The Redis message of `chain` with one more block written from `fields`.
fn with_block(chain: &[Block], fields: &Fields) -> Vec<u8> {
    let mut out = message(chain);
    out.pop();
    out.extend_from_slice(b", ");
    out.extend_from_slice(fields.text().as_bytes());
    out.push(b']');
    out
}

/// A valid next block on `prev` (same difficulty: always a legal step).
fn next_block(prev: &Block, data: &str) -> Block {
    mine_reference(prev, Json::String(data.into()), now_ms(), prev.difficulty)
}

/// Genesis, then `n - 1` blocks whose links, numbers, difficulty steps and claimed
/// hashes pass every text rule but whose hashes were never computed (they are
/// made up), the last claiming difficulty 4,000,000,000: the chain costs no mining to
/// make and must be refused without hashing.
fn bogus_chain_text(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * 260);
    out.push(b'[');
    genesis().write(Dialect::Python, &mut out);
    let mut prev_hash = genesis().hash;
    let mut prev_difficulty = 4u64;
    for i in 1..n {
        let difficulty = if i == n - 1 {
            4_000_000_000
        } else if prev_difficulty > 2 {
            prev_difficulty - 1
        } else {
            3 - prev_difficulty
        };
        let hash = format!("0{i:063x}");
        out.extend_from_slice(
            format!(
                ", {{\"block_no\": {i}, \"timestamp\": {}, \"prev_hash\": \"{prev_hash}\", \"data\": \"bogus {i}\", \"hash\": \"{hash}\", \"nonce\": {i}, \"difficulty\": {difficulty}}}",
                1_764_000_000_000u64 + i as u64 * 1000
            )
            .as_bytes(),
        );
        prev_hash = hash;
        prev_difficulty = difficulty;
    }
    out.push(b']');
    out
}

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(vectors_dir().join("chains").join(name)).expect("a vector chain")
}

/// The rows, in the order they run.
fn rows(ours: &[Block]) -> Vec<Row> {
    let tip = ours.last().expect("a tip");
    let next = next_block(tip, "next");
    let good = Fields::of(&next);
    let with = |change: &dyn Fn(&mut Fields)| {
        let mut fields = good.clone();
        change(&mut fields);
        with_block(ours, &fields)
    };
    let big_key = |c: char| format!("[{{\"{}\": 0}}]", c.to_string().repeat(MB)).into_bytes();
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let bogus = Arc::new(bogus_chain_text(100_000));
    let fork = {
        let cut = 150;
        let mut fork = ours[..cut].to_vec();
        for i in 0..20 {
            let prev = fork.last().expect("a tip").clone();
            fork.push(next_block(&prev, &format!("fork {i}")));
        }
        fork
    };
    let other_genesis = String::from_utf8(message(ours))
        .expect("utf8")
        .replacen("\"timestamp\": 1000,", "\"timestamp\": 1001,", 1)
        .into_bytes();
    let mut other_genesis_longer = other_genesis;
    other_genesis_longer.pop();
    other_genesis_longer.extend_from_slice(b", ");
    other_genesis_longer.extend_from_slice(good.text().as_bytes());
    other_genesis_longer.push(b']');

    vec![
        // Malformed, or not a chain.
        row(
            "not_json",
            "{\"chain\": [",
            push(b"{\"chain\": [".to_vec()),
            status(400, "not_json"),
        ),
        row(
            "not_utf8",
            "[\\xff\\xfe]",
            push(b"[\xff\xfe]".to_vec()),
            status(400, "not_utf8"),
        ),
        row(
            "empty_body",
            "(0 bytes)",
            push(Vec::new()),
            status(400, "not_json"),
        ),
        row(
            "trailing_garbage",
            "[] []",
            push(b"[] []".to_vec()),
            status(400, "not_json"),
        ),
        // No chain at all (not even genesis), not one that loses to ours.
        row(
            "empty_array",
            "[]",
            push(b"[]".to_vec()),
            status(422, "not_a_chain"),
        ),
        row(
            "object_not_chain",
            "{\"blocks\": []}",
            push(b"{\"blocks\": []}".to_vec()),
            status(422, "not_a_chain"),
        ),
        row(
            "scalar_string",
            "\"chain\"",
            push(b"\"chain\"".to_vec()),
            status(422, "not_a_chain"),
        ),
        row(
            "array_of_numbers",
            "[1, 2]",
            push(b"[1, 2]".to_vec()),
            status(422, "not_a_chain"),
        ),
        row(
            "nested_600",
            "[[[...600...]]]",
            push(deep(600).into_bytes()),
            status(400, "too_deep"),
        ),
        // Wrong type or value for each field.
        row(
            "block_no_string",
            "\"block_no\": \"300\"",
            push(with(&|f| f.block_no = format!("\"{}\"", f.block_no))),
            status(422, "not_a_chain"),
        ),
        row(
            "block_no_2pow64",
            "\"block_no\": 18446744073709551616",
            push(with(&|f| f.block_no = "18446744073709551616".into())),
            status(422, "not_a_chain"),
        ),
        row(
            "timestamp_float",
            "\"timestamp\": 1.5",
            push(with(&|f| f.timestamp = "1.5".into())),
            status(422, "not_a_chain"),
        ),
        row(
            "timestamp_huge_float",
            "\"timestamp\": 1e999999",
            push(with(&|f| f.timestamp = "1e999999".into())),
            status(422, "not_a_chain"),
        ),
        row(
            "prev_hash_number",
            "\"prev_hash\": 12345",
            push(with(&|f| f.prev_hash = "12345".into())),
            status(422, "not_a_chain"),
        ),
        row(
            "hash_null",
            "\"hash\": null",
            push(with(&|f| f.hash = "null".into())),
            status(422, "not_a_chain"),
        ),
        row(
            "nonce_negative",
            "\"nonce\": -1",
            push(with(&|f| f.nonce = "-1".into())),
            status(422, "not_a_chain"),
        ),
        row(
            "nonce_41_digits",
            "\"nonce\": 1e40 spelled out",
            push(with(&|f| f.nonce = format!("1{}", "0".repeat(40)))),
            status(422, "not_a_chain"),
        ),
        row(
            "difficulty_2pow32",
            "\"difficulty\": 4294967296",
            push(with(&|f| f.difficulty = "4294967296".into())),
            status(422, "not_a_chain"),
        ),
        row(
            "difficulty_4301_digits",
            "\"difficulty\": 4301 digits",
            push(with(&|f| f.difficulty = "9".repeat(4301))),
            status(400, "not_json"),
        ),
        row(
            "data_4301_digits",
            "\"data\": 4301 digits",
            push(with(&|f| f.data = "9".repeat(4301))),
            status(400, "not_json"),
        ),
        row(
            "data_lone_surrogate",
            "\"data\": \"\\ud800\"",
            push(with(&|f| f.data = "\"\\ud800\"".into())),
            // JSON Python reads, but no block: Python cannot hash a bare lone surrogate.
            status(422, "not_a_chain"),
        ),
        row(
            "data_nested_600",
            "\"data\": 600 levels",
            push(with(&|f| f.data = deep(600))),
            status(400, "too_deep"),
        ),
        row(
            "data_nan",
            "\"data\": [NaN]",
            push(with(&|f| f.data = "[NaN]".into())),
            status(422, "nan"),
        ),
        row(
            "missing_nonce",
            "a block without \"nonce\"",
            push(with(&|f| f.drop_nonce = true)),
            status(422, "not_a_chain"),
        ),
        row(
            "extra_key",
            "a block with \"miner\": \"x\"",
            push(with(&|f| f.extra = ", \"miner\": \"x\"")),
            status(422, "not_a_chain"),
        ),
        // Megabyte strings: short errors.
        row(
            "key_1mb",
            "[{\"<1 MiB key>\": 0}]",
            push(big_key('k')),
            status(422, "not_a_chain"),
        ),
        row(
            "key_1mb_replayed",
            "the same bytes again",
            push(big_key('k')),
            Expect::Status(422, Some("replayed"), "replayed"),
        ),
        row(
            "prev_hash_1mb",
            "\"prev_hash\": 1 MiB string",
            push(with(&|f| f.prev_hash = format!("\"{}\"", "p".repeat(MB)))),
            Expect::Status(422, Some("invalid"), "link"),
        ),
        row(
            "unknown_key_1mb_in_block",
            "{..., \"<1 MiB key>\": 1}",
            push(with(&|f| {
                f.extra = Box::leak(format!(", \"{}\": 1", "u".repeat(MB)).into_boxed_str())
            })),
            status(422, "not_a_chain"),
        ),
        // Each invalid chain of the vectors.
        row(
            "vector_bad_genesis",
            "tests/vectors/chains/bad_genesis.json",
            push(vector("bad_genesis.json")),
            Expect::Status(422, Some("invalid"), "genesis"),
        ),
        row(
            "vector_bad_hash",
            "tests/vectors/chains/bad_hash.json",
            push(vector("bad_hash.json")),
            Expect::Status(422, Some("invalid"), "hash"),
        ),
        row(
            "vector_broken_link",
            "tests/vectors/chains/broken_link.json",
            push(vector("broken_link.json")),
            Expect::Status(422, Some("invalid"), "link"),
        ),
        row(
            "vector_difficulty_jump",
            "tests/vectors/chains/difficulty_jump.json",
            push(vector("difficulty_jump.json")),
            Expect::Status(422, Some("invalid"), "difficulty-step"),
        ),
        row(
            "vector_no_pow",
            "tests/vectors/chains/seed_accepts_no_pow.json",
            push(vector("seed_accepts_no_pow.json")),
            Expect::Status(422, Some("invalid"), "pow"),
        ),
        row(
            "vector_bad_block_no",
            "tests/vectors/chains/seed_accepts_bad_block_no.json",
            push(vector("seed_accepts_bad_block_no.json")),
            Expect::Status(422, Some("invalid"), "block-no"),
        ),
        row(
            "vector_future_timestamp",
            "tests/vectors/chains/seed_accepts_future_timestamp.json",
            push(vector("seed_accepts_future_timestamp.json")),
            Expect::Status(422, Some("invalid"), "future-timestamp"),
        ),
        // Forks and other chains.
        row(
            "other_genesis_longer",
            "ours + 1 block, genesis timestamp 1001",
            push(other_genesis_longer),
            Expect::Status(422, Some("invalid"), "genesis"),
        ),
        row(
            "fork_less_work",
            "ours[..150] + 20 other blocks",
            push(body(&fork)),
            status(409, "not_preferred"),
        ),
        row(
            "stale_prefix",
            "ours[..10]",
            push(body(&ours[..10])),
            status(409, "not_preferred"),
        ),
        row(
            "bogus_100k_last_difficulty",
            "100,000 blocks, the last claiming difficulty 4e9",
            Action::Push(Arc::clone(&bogus)),
            Expect::Status(422, Some("invalid"), "block 99999: difficulty-step"),
        ),
        row(
            "bogus_100k_replayed",
            "the same 100,000 blocks again",
            Action::Push(Arc::clone(&bogus)),
            Expect::Status(422, Some("replayed"), "difficulty-step"),
        ),
        // Over the limits.
        row(
            "chain_body_100mb",
            "POST /api/chain, 100 MB",
            Action::PostHuge("/api/chain", HUGE),
            Expect::StatusOrClosed(413),
        ),
        row(
            "mine_body_100mb",
            "POST /api/mineblock, 100 MB",
            Action::PostHuge("/api/mineblock", HUGE),
            Expect::StatusOrClosed(413),
        ),
        // Data to mine that a Python node cannot take.
        row(
            "mine_nan",
            "{\"data\": NaN}",
            Action::Mine(b"{\"data\": NaN}".to_vec()),
            Expect::Status(422, None, "NaN"),
        ),
        row(
            "mine_infinity",
            "{\"data\": [Infinity]}",
            Action::Mine(b"{\"data\": [Infinity]}".to_vec()),
            Expect::Status(422, None, "infinite"),
        ),
        row(
            "mine_lone_surrogate",
            "{\"data\": \"\\udc00\"}",
            Action::Mine(b"{\"data\": \"\\udc00\"}".to_vec()),
            Expect::Status(422, None, "surrogate"),
        ),
        row(
            "mine_4301_digits",
            "{\"data\": 4301 digits}",
            Action::Mine(format!("{{\"data\": {}}}", "7".repeat(4301)).into_bytes()),
            Expect::Status(422, None, "4300"),
        ),
        row(
            "mine_not_object",
            "[1]",
            Action::Mine(b"[1]".to_vec()),
            Expect::Status(422, None, "object"),
        ),
        row(
            "mine_malformed",
            "{\"data\": ",
            Action::Mine(b"{\"data\": ".to_vec()),
            Expect::Status(422, None, "JSON"),
        ),
        // Long paths and queries.
        row(
            "get_block_10k_chars",
            "GET /api/blocks/<10,000 x>",
            Action::Get(format!("/api/blocks/{}", "x".repeat(10_000))),
            Expect::Status(400, None, "bytes)"),
        ),
        row(
            "get_path_10k_chars",
            "GET /<10,000 y>",
            Action::Get(format!("/{}", "y".repeat(10_000))),
            Expect::Status(404, None, "bytes)"),
        ),
        row(
            "get_query_10k_chars",
            "GET /api/blocks?from=<10,000 z>",
            Action::Get(format!("/api/blocks?from={}", "z".repeat(10_000))),
            Expect::Status(400, None, "bytes)"),
        ),
        // The same over Redis.
        row(
            "redis_genesis_only",
            "[genesis] (176 bytes)",
            publish(message(&[genesis()])),
            Expect::Counted("not_preferred"),
        ),
        row(
            "redis_not_json",
            "this is not json",
            publish(b"this is not json".to_vec()),
            Expect::Counted("not_json"),
        ),
        row(
            "redis_not_utf8",
            "[\\xff]",
            publish(b"[\xff]".to_vec()),
            Expect::Counted("not_utf8"),
        ),
        row(
            "redis_object",
            "{\"chain\": [...ours...]} (not the channel's form)",
            publish(body(ours)),
            Expect::Counted("not_a_chain"),
        ),
        row(
            "body_refused_on_redis_pushed_over_http",
            "the same {\"chain\": [...ours...]} over HTTP: no replay",
            push(body(ours)),
            Expect::Status(200, None, "current"),
        ),
        row(
            "redis_scalar",
            "42",
            publish(b"42".to_vec()),
            Expect::Counted("not_a_chain"),
        ),
        // Spelled apart from the pushed `[]`, whose refusal is remembered (a replay).
        row(
            "redis_empty_array",
            "[ ]",
            publish(b"[ ]".to_vec()),
            Expect::Counted("not_a_chain"),
        ),
        row(
            "redis_nested_600",
            "[[[...600...]]]",
            publish(format!(" {}", deep(600)).into_bytes()),
            Expect::Counted("too_deep"),
        ),
        row(
            "redis_lone_surrogate",
            "ours + a block with \"data\": \"\\ud834\"",
            publish(with(&|f| f.data = "\"\\ud834\"".into())),
            Expect::Counted("not_a_chain"),
        ),
        row(
            "redis_nan",
            "ours + a block with \"data\": [1, NaN]",
            publish(with(&|f| f.data = "[1, NaN]".into())),
            Expect::Counted("nan"),
        ),
        row(
            "redis_key_1mb",
            "[{\"<1 MiB key>\": 0}]",
            publish(big_key('r')),
            Expect::Counted("not_a_chain"),
        ),
        row(
            "redis_key_1mb_replayed",
            "the same bytes again",
            publish(big_key('r')),
            Expect::Counted("replayed"),
        ),
        row(
            "redis_key_1mb_from_http_replayed",
            "the bytes refused over HTTP",
            publish(big_key('k')),
            Expect::Counted("replayed"),
        ),
        row(
            "redis_bogus_100k_replayed",
            "the 100,000 blocks refused over HTTP",
            Action::Publish(Arc::clone(&bogus)),
            Expect::Counted("replayed"),
        ),
        row(
            "redis_message_100mb",
            "100 MB message",
            Action::Publish(Arc::new(vec![b' '; HUGE])),
            Expect::Counted("too_large"),
        ),
    ]
}

/// Rejections by reason, from `/api/status` (whose `last_rejection` must be short).
async fn rejected(client: &reqwest::Client, base: &str) -> BTreeMap<String, u64> {
    let status: serde_json::Value = client
        .get(format!("{base}/api/status"))
        .send()
        .await
        .expect("GET /api/status")
        .json()
        .await
        .expect("status JSON");
    let last = status["sync"]["last_rejection"]
        .as_str()
        .unwrap_or_default();
    assert!(
        last.chars().count() <= 1000,
        "a {} character last_rejection",
        last.chars().count()
    );
    status["sync"]["rejected"]
        .as_object()
        .expect("rejected")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("a count")))
        .collect()
}

/// Runs one row; the outcome as the table prints it.
async fn run(client: &reqwest::Client, base: &str, redis: &RedisServer, row: &Row) -> String {
    let before = rejected(client, base).await;
    let response = match &row.action {
        Action::Push(bytes) => client
            .post(format!("{base}/api/chain"))
            .body(bytes.as_ref().clone())
            .send()
            .await
            .map_err(|e| e.to_string()),
        Action::Mine(bytes) => client
            .post(format!("{base}/api/mineblock"))
            .body(bytes.clone())
            .send()
            .await
            .map_err(|e| e.to_string()),
        Action::Get(path) => client
            .get(format!("{base}{path}"))
            .send()
            .await
            .map_err(|e| e.to_string()),
        Action::PostHuge(path, len) => client
            .post(format!("{base}{path}"))
            .body(vec![b' '; *len])
            .send()
            .await
            .map_err(|e| e.to_string()),
        Action::Publish(bytes) => {
            redis.publish(bytes.as_ref());
            let Expect::Counted(reason) = row.expect else {
                panic!("{}: a published row expects a counted reason", row.name)
            };
            wait_until(
                &format!("{}: counted as {reason}", row.name),
                WAIT,
                || async {
                    let after = rejected(client, base).await;
                    after[reason] == before[reason] + 1
                },
            )
            .await;
            return format!("counted {reason}");
        }
    };
    let outcome = match response {
        Ok(response) => {
            let code = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            Ok((code, text))
        }
        Err(err) => Err(err),
    };
    match (row.expect, outcome) {
        (Expect::StatusOrClosed(want), Ok((code, text))) => {
            assert_eq!(code, want, "{}: {text}", row.name);
            assert!(text.len() <= MAX_ERROR_BODY, "{}: long body", row.name);
            format!("{code} ({} B body)", text.len())
        }
        (Expect::StatusOrClosed(_), Err(err)) => {
            format!("closed before the whole body was read ({})", short(&err))
        }
        (Expect::Status(want, reason, names), Ok((code, text))) => {
            assert_eq!(code, want, "{}: {}", row.name, short(&text));
            assert!(
                text.len() <= MAX_ERROR_BODY,
                "{}: a {} byte error body",
                row.name,
                text.len()
            );
            assert!(
                text.contains(names),
                "{}: {text} does not name {names:?}",
                row.name
            );
            let after = rejected(client, base).await;
            match reason {
                Some(reason) => {
                    assert_eq!(
                        after[reason],
                        before[reason] + 1,
                        "{}: not counted as {reason}",
                        row.name
                    );
                    format!("{code} {reason} ({} B body)", text.len())
                }
                None => {
                    assert_eq!(after, before, "{}: counted", row.name);
                    format!("{code} ({} B body)", text.len())
                }
            }
        }
        (expect, Err(err)) => panic!("{}: expected {expect:?}, got {err}", row.name),
        (Expect::Counted(_), Ok(_)) => unreachable!("published rows return above"),
    }
}

fn short(text: &str) -> String {
    minichain::clip::clip(text).into_owned()
}

fn expected(expect: Expect) -> String {
    match expect {
        Expect::Status(code, Some(reason), "") => format!("{code} {reason}"),
        Expect::Status(code, Some(reason), names) => format!("{code} {reason} ({names})"),
        Expect::Status(code, None, names) => format!("{code} ({names})"),
        Expect::StatusOrClosed(code) => format!("{code} or closed"),
        Expect::Counted(reason) => format!("counted {reason}"),
    }
}

/// Every row against one node on one Redis; then the chain is unchanged, the node
/// serves and syncs, the status and the log lines are short, and the table prints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_are_refused_and_survived() {
    let redis = RedisServer::start();
    {
        // Let Redis deliver a 100 MB message (its default drops a subscriber past
        // 32 MB), so the node's own limit is what refuses it.
        let mut conn = redis::Client::open(redis.url())
            .and_then(|c| c.get_connection())
            .expect("connect");
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("client-output-buffer-limit")
            .arg("pubsub 512mb 512mb 60")
            .query(&mut conn)
            .expect("CONFIG SET");
    }
    let node = NodeProcess::start(&redis.url());
    let base = node.base.clone();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    wait_until("the node subscribes", WAIT, || async {
        redis.subscribers() == 1
    })
    .await;
    let ours = synthetic_chain(300);
    let adopted = client
        .post(format!("{base}/api/chain"))
        .body(body(&ours))
        .send()
        .await
        .expect("push our chain");
    assert_eq!(adopted.status().as_u16(), 200);
    let served = || async {
        client
            .get(format!("{base}/api/blocks"))
            .send()
            .await
            .expect("GET /api/blocks")
            .bytes()
            .await
            .expect("body")
    };
    let chain_before = served().await;

    let rows = rows(&ours);
    assert!(rows.len() >= 30, "{} rows", rows.len());
    let mut table = Vec::new();
    for row in &rows {
        let outcome = run(&client, &base, &redis, row).await;
        let health = client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .map(|r| r.status().as_u16());
        assert_eq!(
            health.ok(),
            Some(200),
            "{}: the node stopped serving",
            row.name
        );
        table.push((row.name, short(&row.input), expected(row.expect), outcome));
    }

    assert_eq!(served().await, chain_before, "no row changed the chain");
    let status: serde_json::Value = client
        .get(format!("{base}/api/status"))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("status JSON");
    let status_text = status.to_string();
    let last = status["sync"]["last_rejection"]
        .as_str()
        .unwrap_or_default();
    assert!(last.chars().count() <= 1000, "last_rejection: {last}");
    assert!(
        status_text.len() < 8192,
        "a {} byte status",
        status_text.len()
    );
    assert_eq!(status["redis"]["connected"], true);
    let peak_kb = node.peak_rss_kb();
    let longest_log = node.log.lock().expect("log").longest;
    assert!(longest_log <= MAX_LOG_LINE, "a {longest_log} byte log line");
    // Still syncing: one more valid block is adopted.
    let mut longer = ours.clone();
    longer.push(next_block(ours.last().expect("tip"), "after the rows"));
    redis.publish(message(&longer));
    wait_until("a valid longer chain is still adopted", WAIT, || async {
        served().await.len() > chain_before.len()
    })
    .await;

    println!("\n| # | name | input | expected | outcome |\n|---|---|---|---|---|");
    for (i, (name, input, want, got)) in table.iter().enumerate() {
        println!(
            "| {} | {name} | {} | {want} | {got} |",
            i + 1,
            input.replace('|', "\\|")
        );
    }
    let log = node.log.lock().expect("log");
    println!(
        "\n{} rows; chain unchanged ({} bytes); node still serving and syncing; peak RSS (VmHWM) {} MB; /api/status {} bytes, last_rejection {} chars; {} log lines, the longest {} bytes",
        table.len(),
        chain_before.len(),
        peak_kb / 1024,
        status_text.len(),
        last.chars().count(),
        log.lines,
        log.longest
    );
}

#[test]
fn bogus_chain_is_well_formed() {
    let text = bogus_chain_text(10);
    let blocks = minichain::chain::block::parse_chain(std::str::from_utf8(&text).expect("utf8"))
        .expect("a chain");
    assert_eq!(blocks.len(), 10);
    let mut out = Vec::new();
    write_chain(&blocks, Dialect::Python, &mut out);
    assert_eq!(out, text);
}
