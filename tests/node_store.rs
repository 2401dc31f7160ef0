//! The node's store from outside: a restarted node serves exactly the chain it served
//! before (byte for byte), a damaged store stops the node with a message that says so
//! (never a wrong chain served), a second node on the same directory is refused, and
//! every vector block's data survives the record codec on a real redb file.
//!
//! Run with `cargo test --test node_store`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::node::body;
use common::process::{NodeProcess, Started, node_command, start, start_listening};
use common::{int_field, items, read_vector_json, str_field};
use minichain::chain::block::{Nonce, parse_chain};
use minichain::chain::validate::now_ms;
use minichain::chain::{Block, Difficulty, Json, RawJson, block_hash};
use minichain::miner::reference::mine_reference;
use minichain::store::{BLOCKS, FILE_NAME, META, TIP_KEY, TipRecord, record};
use redb::{Database, ReadableDatabase, ReadableTable};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

async fn get(client: &reqwest::Client, node: &NodeProcess, path: &str) -> String {
    let response = client
        .get(format!("{}{path}", node.base))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.expect("body")
}

async fn post(client: &reqwest::Client, node: &NodeProcess, path: &str, body: Vec<u8>) -> String {
    let response = client
        .post(format!("{}{path}", node.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST");
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(status, 200, "{path}: {text}");
    text
}

/// Fills a store in `dir`: mined blocks, then a pushed chain whose data holds
/// Infinity, a big integer, unicode and a repeated key, then more mined blocks.
/// Returns `GET /api/blocks`'s body.
async fn fill(client: &reqwest::Client, node: &NodeProcess) -> String {
    for i in 0..3 {
        post(
            client,
            node,
            "/api/mineblock",
            format!(r#"{{"data": ["é😀", {i}]}}"#).into_bytes(),
        )
        .await;
    }
    let served = parse_chain(&get(client, node, "/api/blocks").await).expect("chain");
    let mut chain = served.clone();
    for i in 0..4 {
        let prev = chain.last().expect("genesis").clone();
        let data = Json::parse(&format!(
            r#"{{"x": [Infinity, -Infinity, 1.50, 1e400, 123456789012345678901234567890], "k": "a", "k": "ü {i}"}}"#
        ))
        .expect("literal");
        let d = prev.difficulty.bits().saturating_sub(1).max(1);
        chain.push(mine_reference(&prev, data, now_ms(), Difficulty::new(d)));
    }
    let answer = post(client, node, "/api/chain", body(&chain)).await;
    assert!(answer.contains("adopted"), "{answer}");
    post(
        client,
        node,
        "/api/mineblock",
        br#"{"data": {"after": "the push"}}"#.to_vec(),
    )
    .await;
    get(client, node, "/api/blocks").await
}

/// A restart, after SIGKILL or after a clean stop, serves the same bytes at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_serves_the_same_chain_byte_for_byte() {
    let data = tempfile::tempdir().expect("temp dir");
    let client = client();
    let node = start_listening(node_command(data.path(), None));
    let before = fill(&client, &node).await;
    let status: serde_json::Value =
        serde_json::from_str(&get(&client, &node, "/api/status").await).expect("JSON");
    assert_eq!(status["store"]["state"], "ok", "{status}");
    assert_eq!(
        status["store"]["data_dir"],
        data.path().display().to_string(),
        "{status}"
    );
    node.kill9();

    let node = start_listening(node_command(data.path(), None));
    assert_eq!(get(&client, &node, "/api/blocks").await, before);
    let length = parse_chain(&before).expect("chain").len();
    let status: serde_json::Value =
        serde_json::from_str(&get(&client, &node, "/api/status").await).expect("JSON");
    assert_eq!(status["length"], length, "{status}");
    assert!(
        node.log()
            .contains("chain read from the store and validated")
    );
    assert!(node.terminate().success());

    let node = start_listening(node_command(data.path(), None));
    assert_eq!(get(&client, &node, "/api/blocks").await, before);
    assert!(node.terminate().success());
}

/// A second node on the same data directory is refused with a message saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_node_on_the_same_directory_is_refused() {
    let data = tempfile::tempdir().expect("temp dir");
    let node = start_listening(node_command(data.path(), None));
    match start(node_command(data.path(), None)) {
        Started::Exited(status, log) => {
            assert!(!status.success());
            assert!(log.contains("in use by another process"), "{log}");
        }
        Started::Listening(other) => {
            other.kill9();
            panic!("a second node started on the same data directory");
        }
    }
    assert!(node.terminate().success());
}

/// A store made by a real node: genesis, mined blocks, a pushed chain.
async fn good_store(dir: &Path) {
    let client = client();
    let node = start_listening(node_command(dir, None));
    fill(&client, &node).await;
    assert!(node.terminate().success());
}

/// Starts a node on `dir`, which must refuse to start, saying `expect`.
fn assert_refused(dir: &Path, what: &str, expect: &[&str]) {
    match start(node_command(dir, None)) {
        Started::Exited(status, log) => {
            assert!(!status.success(), "{what}: exit status {status}");
            assert!(
                log.contains("error: the store") && expect.iter().all(|e| log.contains(e)),
                "{what}: the message should say {expect:?}:\n{log}"
            );
        }
        Started::Listening(node) => {
            node.kill9();
            panic!("{what}: the node started on a damaged store");
        }
    }
}

/// Applies `damage` to a copy of a good store's file and checks the node refuses it.
fn refuses(good: &Path, what: &str, expect: &[&str], damage: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(FILE_NAME);
    std::fs::copy(good.join(FILE_NAME), &file).expect("copy the store");
    damage(&file);
    assert_refused(dir.path(), what, expect);
}

fn rewrite_block(file: &Path, index: u64, edit: impl FnOnce(Vec<u8>) -> Option<Vec<u8>>) {
    let db = Database::open(file).expect("open with redb");
    let txn = db.begin_write().expect("write");
    {
        let mut table = txn.open_table(BLOCKS).expect("blocks");
        let old = table
            .get(index)
            .expect("read")
            .expect("block exists")
            .value()
            .to_vec();
        match edit(old) {
            Some(new) => table.insert(index, new.as_slice()).expect("insert"),
            None => table.remove(index).expect("remove"),
        };
    }
    txn.commit().expect("commit");
}

/// Every kind of damage stops the node with a message; none is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_store_stops_the_node_with_a_message() {
    let good = tempfile::tempdir().expect("temp dir");
    good_store(good.path()).await;

    refuses(
        good.path(),
        "unknown version byte",
        &["damaged", "block 2", "unknown record version 9"],
        |f| {
            rewrite_block(f, 2, |mut r| {
                r[0] = 9;
                Some(r)
            })
        },
    );
    refuses(
        good.path(),
        "undecodable record",
        &["damaged", "block 3", "undecodable"],
        |f| rewrite_block(f, 3, |r| Some(r[..r.len() / 2].to_vec())),
    );
    refuses(
        good.path(),
        "altered data",
        &["damaged", "invalid at block 4", "hash"],
        |f| {
            rewrite_block(f, 4, |r| {
                let mut block = record::decode_block(&r).expect("a good record");
                block.data = RawJson::parse(r#""forged""#).expect("JSON");
                Some(record::encode_block(&block))
            })
        },
    );
    refuses(
        good.path(),
        "missing block",
        &["damaged", "block 6 is stored where block 5 should be"],
        |f| rewrite_block(f, 5, |_| None),
    );
    refuses(
        good.path(),
        "tip record disagrees",
        &["damaged", "the tip record says 3 blocks"],
        |f| {
            let db = Database::open(f).expect("open with redb");
            let txn = db.begin_write().expect("write");
            {
                let mut meta = txn.open_table(META).expect("meta");
                let tip = TipRecord {
                    len: 3,
                    tip_hash: "00".repeat(32),
                    work: "1".into(),
                };
                meta.insert(TIP_KEY, record::encode_tip(&tip).as_slice())
                    .expect("insert");
            }
            txn.commit().expect("commit");
        },
    );
    refuses(
        good.path(),
        "tip record of an unknown version",
        &["damaged", "tip record", "unknown record version 2"],
        |f| {
            let db = Database::open(f).expect("open with redb");
            let txn = db.begin_write().expect("write");
            {
                let mut meta = txn.open_table(META).expect("meta");
                let mut tip = meta
                    .get(TIP_KEY)
                    .expect("read")
                    .expect("tip")
                    .value()
                    .to_vec();
                tip[0] = 2;
                meta.insert(TIP_KEY, tip.as_slice()).expect("insert");
            }
            txn.commit().expect("commit");
        },
    );
    refuses(good.path(), "truncated file", &["/chain.redb"], |f| {
        let len = std::fs::metadata(f).expect("size").len();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(f)
            .expect("open");
        file.set_len(len / 2).expect("truncate");
    });
    refuses(
        good.path(),
        "empty file",
        &["damaged", "the file is empty"],
        |f| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(f)
                .expect("open")
                .set_len(0)
                .expect("truncate");
        },
    );
    refuses(
        good.path(),
        "overwritten header",
        &["cannot be opened"],
        |f| {
            let mut bytes = std::fs::read(f).expect("read");
            bytes[..64].fill(0xA5);
            std::fs::write(f, bytes).expect("write");
        },
    );
    // The good store itself still starts.
    let node = start_listening(node_command(good.path(), None));
    assert!(node.terminate().success());
}

/// Every vector block's data (NaN, Infinity, big integers, unicode, number spellings,
/// repeated keys) goes through the record codec and a real redb file and comes back as
/// the same text, hashing to the vector's hash.
#[test]
fn vector_blocks_round_trip_through_a_real_store() {
    let cases = read_vector_json("seed_hash_vectors.json");
    let blocks: Vec<Block> = items(&cases)
        .iter()
        .map(|case| Block {
            block_no: int_field(case, "block_no").parse().expect("u64"),
            timestamp: int_field(case, "timestamp").parse().expect("u64"),
            prev_hash: str_field(case, "prev_hash").to_owned(),
            data: RawJson::parse(str_field(case, "data_json")).expect("data_json"),
            hash: str_field(case, "hash").to_owned(),
            nonce: Nonce::from_digits(&int_field(case, "nonce")).expect("nonce"),
            difficulty: Difficulty::new(int_field(case, "difficulty").parse().expect("u32")),
        })
        .collect();
    assert!(blocks.len() >= 70);
    assert!(blocks.iter().any(|b| b.data.has_nan()));
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(FILE_NAME);
    {
        let db = Database::create(&path).expect("create");
        let txn = db.begin_write().expect("write");
        {
            let mut table = txn.open_table(BLOCKS).expect("blocks");
            for (i, block) in blocks.iter().enumerate() {
                table
                    .insert(i as u64, record::encode_block(block).as_slice())
                    .expect("insert");
            }
        }
        txn.commit().expect("commit");
    }
    let db = Database::open(&path).expect("reopen");
    let txn = db.begin_read().expect("read");
    let table = txn.open_table(BLOCKS).expect("blocks");
    for (i, block) in blocks.iter().enumerate() {
        let bytes = table
            .get(i as u64)
            .expect("read")
            .expect("stored")
            .value()
            .to_vec();
        assert_eq!(bytes[0], record::RECORD_VERSION);
        let back = record::decode_block(&bytes).expect("decodes");
        assert_eq!(
            back.data.as_str(),
            block.data.as_str(),
            "data text of vector {i}"
        );
        assert_eq!(back.data.python_str(), block.data.python_str());
        assert_eq!(block_hash(&back).to_hex(), block.hash, "hash of vector {i}");
        assert_eq!(back.to_json_string(), block.to_json_string());
    }
}

/// A store that stops taking writes (here the file-size limit, as a full disk would):
/// the block that could not be kept is a 500 with the cause, `/api/status` says the
/// store is failing, and `/healthz` answers 503, so a supervisor restarts the node
/// (before, it kept answering 200 while no block could be stored).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_fails_to_write_makes_the_node_unhealthy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let inner = node_command(dir.path(), None);
    // Files of at most 2 MiB (bash counts in KiB); SIGXFSZ ignored, so a write past it
    // fails with EFBIG instead of killing the node.
    let mut command = std::process::Command::new("bash");
    command
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 2048; exec "$@""#)
        .arg("bash")
        .arg(inner.get_program())
        .args(inner.get_args())
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let node = start_listening(command);
    let client = client();
    let health = |client: &reqwest::Client| {
        let url = format!("{}/healthz", node.base);
        let client = client.clone();
        async move {
            let response = client.get(url).send().await.expect("GET /healthz");
            (
                response.status().as_u16(),
                response.text().await.expect("body"),
            )
        }
    };
    assert_eq!(health(&client).await.0, 200);
    let data = "x".repeat(100 * 1024);
    let mut failed = None;
    for i in 0..200 {
        let response = client
            .post(format!("{}/api/mineblock", node.base))
            .header("content-type", "application/json")
            .body(format!(r#"{{"data": "{i} {data}"}}"#))
            .send()
            .await
            .expect("POST");
        if response.status() != 200 {
            failed = Some((
                response.status().as_u16(),
                response.text().await.expect("body"),
            ));
            break;
        }
    }
    let (code, text) = failed.expect("a write fails within 20 MB of blocks");
    assert_eq!(code, 500, "{text}");
    let status: serde_json::Value =
        serde_json::from_str(&get(&client, &node, "/api/status").await).expect("JSON");
    assert_eq!(status["store"]["state"], "failing", "{status}");
    let (code, text) = health(&client).await;
    assert_eq!(code, 503, "{text}");
    assert!(text.contains("the store fails to take writes"), "{text}");
    // Later requests are refused before any work: a block mined now could not be kept.
    let mined_before = status["mining"]["blocks_mined"].clone();
    let response = client
        .post(format!("{}/api/mineblock", node.base))
        .header("content-type", "application/json")
        .body(r#"{"data": "after the failure"}"#)
        .send()
        .await
        .expect("POST");
    let code = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert_eq!(code, 503, "{text}");
    assert!(text.contains("failing to take writes"), "{text}");
    let status: serde_json::Value =
        serde_json::from_str(&get(&client, &node, "/api/status").await).expect("JSON");
    assert_eq!(status["mining"]["blocks_mined"], mined_before, "{status}");
    node.kill9();
}
