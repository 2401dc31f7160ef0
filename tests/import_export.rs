//! `minichain import` and `minichain export` end to end: a 20,000-block chain file
//! imported into a data directory is served by a node started on it, byte for byte,
//! and exported back to the same bytes; bad input and occupied stores get clear
//! errors and exit codes, and leave the store as it was.
//!
//! Run with `cargo test --test import_export`.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::process::{node_command, start_listening};
use minichain::chain::block::{parse_chain, write_chain};
use minichain::chain::json::Dialect;
use minichain::chain::validate::now_ms;
use minichain::chain::{Block, Difficulty, Json};
use minichain::miner::reference::mine_reference;
use minichain::miner::synthetic::synthetic_chain;

fn minichain(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_minichain"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .expect("runs minichain")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The synthetic chain, then blocks whose data a re-rendering would change: Python
/// tokens, number spellings, a repeated key, non-ASCII text.
fn chain(n: usize) -> Vec<Block> {
    let mut blocks = synthetic_chain(n);
    for i in 0..3 {
        let prev = blocks.last().expect("genesis").clone();
        let data = Json::parse(&format!(
            r#"{{"x": [Infinity, -Infinity, 1.50, 1e400, 123456789012345678901234567890], "k": "a", "k": "ü {i} 😀"}}"#
        ))
        .expect("literal");
        let d = prev.difficulty.bits().saturating_sub(1).max(1);
        blocks.push(mine_reference(&prev, data, now_ms(), Difficulty::new(d)));
    }
    blocks
}

fn api_body(blocks: &[Block]) -> Vec<u8> {
    let mut out = b"{\"chain\":".to_vec();
    write_chain(blocks, Dialect::Compact, &mut out);
    out.push(b'}');
    out
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// Import (a Redis-message file) -> a node serves exactly that chain, with its length
/// in Content-Length, pages included -> a block is mined on it -> export gives back
/// the bytes the node served; the exported file imports into a new directory and
/// exports to the same bytes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_serve_export_round_trip() {
    let work = tempfile::tempdir().expect("temp dir");
    let blocks = chain(20_000);
    let file = work.path().join("chain.json");
    let mut message = Vec::new();
    write_chain(&blocks, Dialect::Python, &mut message);
    std::fs::write(&file, &message).expect("write the chain file");
    let dir = work.path().join("data");
    let out = minichain(&["import", &file.to_string_lossy()], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(&format!(
            "imported {} blocks, tip {}",
            blocks.len(),
            blocks[blocks.len() - 1].hash
        )),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("blocks/s"),
        "{}",
        text(&out.stderr)
    );

    let node = start_listening(node_command(&dir, None));
    let client = client();
    let response = client
        .get(format!("{}/api/blocks", node.base))
        .send()
        .await
        .expect("GET");
    let length = response.headers().get("content-length").cloned();
    let served = response.bytes().await.expect("body");
    assert_eq!(
        served.as_ref(),
        api_body(&blocks).as_slice(),
        "the node serves the imported chain"
    );
    assert_eq!(
        length.and_then(|l| l.to_str().ok()?.parse::<usize>().ok()),
        Some(served.len())
    );
    let page = client
        .get(format!("{}/api/blocks?from=19999&limit=3", node.base))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("page");
    // Not serde_json: it refuses the `1e999` the chain's Infinity is written as.
    let prefix = format!(
        r#"{{"from":19999,"limit":3,"total":{},"chain":"#,
        blocks.len()
    );
    let items = page
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or_else(|| panic!("a page: {}", &page[..page.len().min(200)]));
    let mut expected = Vec::new();
    write_chain(&blocks[19_999..20_002], Dialect::Compact, &mut expected);
    assert_eq!(items.as_bytes(), expected.as_slice());
    let mined = client
        .post(format!("{}/api/mineblock", node.base))
        .header("content-type", "application/json")
        .body(r#"{"data": "after the import"}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(mined.status(), 200);
    let after = mined.bytes().await.expect("body");
    assert_eq!(
        parse_chain(&text(&after)).expect("chain").len(),
        blocks.len() + 1
    );
    assert!(node.terminate().success());

    let exported = work.path().join("exported.json");
    let out = minichain(&["export", &exported.to_string_lossy()], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bytes = std::fs::read(&exported).expect("exported file");
    assert_eq!(bytes, after.as_ref(), "export writes what the node served");
    let python = work.path().join("exported.py.json");
    let out = minichain(
        &["export", "--dialect", "python", &python.to_string_lossy()],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut longer = blocks.clone();
    longer.push(
        parse_chain(&text(&after))
            .expect("chain")
            .pop()
            .expect("the mined block"),
    );
    let mut expected = Vec::new();
    write_chain(&longer, Dialect::Python, &mut expected);
    assert_eq!(std::fs::read(&python).expect("file"), expected);

    let again = work.path().join("again");
    let out = minichain(&["import", &exported.to_string_lossy()], &again);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let round = work.path().join("round.json");
    let out = minichain(&["export", &round.to_string_lossy()], &again);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&round).expect("file"), bytes);
}

/// An invalid chain exits 1 naming the block, malformed input exits 2 with its
/// position, a store holding a chain is replaced only with --replace, and one a node
/// holds is refused; none of them changes the store.
#[test]
fn bad_input_and_occupied_stores_are_refused() {
    let work = tempfile::tempdir().expect("temp dir");
    let dir = work.path().join("data");
    let out = minichain(&["import", "--synthetic", "300"], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("imported 300 blocks"),
        "{}",
        text(&out.stdout)
    );
    let exported = work.path().join("before.json");
    assert!(
        minichain(&["export", &exported.to_string_lossy()], &dir)
            .status
            .success()
    );
    let before = std::fs::read(&exported).expect("file");

    let mut forged = synthetic_chain(400);
    forged[250].nonce = minichain::chain::Nonce::from(7u128);
    let mut bytes = Vec::new();
    write_chain(&forged, Dialect::Python, &mut bytes);
    let file = work.path().join("forged.json");
    std::fs::write(&file, &bytes).expect("write");
    let out = minichain(&["import", "--replace", &file.to_string_lossy()], &dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("invalid at block 250: hash"),
        "{}",
        text(&out.stderr)
    );

    std::fs::write(&file, &bytes[..bytes.len() / 2]).expect("write");
    let out = minichain(&["import", "--replace", &file.to_string_lossy()], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("line 1, column"),
        "{}",
        text(&out.stderr)
    );

    let out = minichain(&["import", "--synthetic", "500"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("already holds 300 blocks: pass --replace"),
        "{}",
        text(&out.stderr)
    );

    let node = start_listening(node_command(&dir, None));
    let out = minichain(&["import", "--replace", "--synthetic", "500"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("in use by another process"),
        "{}",
        text(&out.stderr)
    );
    assert!(node.terminate().success());

    assert!(
        minichain(&["export", &exported.to_string_lossy()], &dir)
            .status
            .success()
    );
    assert_eq!(
        std::fs::read(&exported).expect("file"),
        before,
        "the store is unchanged"
    );
    let out = minichain(&["import", "--replace", "--synthetic", "500"], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        minichain(&["export", &exported.to_string_lossy()], &dir)
            .status
            .success()
    );
    let mut expected = b"{\"chain\":".to_vec();
    write_chain(&synthetic_chain(500), Dialect::Compact, &mut expected);
    expected.push(b'}');
    assert_eq!(std::fs::read(&exported).expect("file"), expected);
    let out = minichain(&["export", "-"], &work.path().join("nothing"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("holds no store"),
        "{}",
        text(&out.stderr)
    );
}

/// An import that fails part-way (here the file-size limit, as a full disk would) exits
/// 2 with the cause and leaves no half-built store behind to hold the disk's space.
#[cfg(target_os = "linux")]
#[test]
fn a_failed_import_leaves_no_temporary_store() {
    let work = tempfile::tempdir().expect("temp dir");
    let dir = work.path().join("data");
    // Files of at most 512 KiB (bash counts in KiB); SIGXFSZ ignored, so a write past
    // it fails with EFBIG instead of killing the process.
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 512; exec "$0" import --synthetic 50000 --data-dir "$1""#)
        .arg(env!("CARGO_BIN_EXE_minichain"))
        .arg(&dir)
        .output()
        .expect("runs bash");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("too large"),
        "{}",
        text(&out.stderr)
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .expect("the data directory")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    assert!(
        !left.iter().any(|name| name == "chain.redb.new"),
        "left behind: {left:?}"
    );
}

/// Export never writes over a store: not its own data directory's, not another's (a
/// running node's), not through a symbolic or a hard link, not as its standard output,
/// and it plants no file through a link to where a store would be; the stores still
/// open and export afterwards.
#[test]
fn export_refuses_to_write_over_a_store() {
    let work = tempfile::tempdir().expect("temp dir");
    let dir = work.path().join("data");
    let other = work.path().join("other");
    for d in [&dir, &other] {
        let out = minichain(&["import", "--synthetic", "50"], d);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let own = dir.join(minichain::store::FILE_NAME);
    let theirs = other.join(minichain::store::FILE_NAME);
    let link = work.path().join("looks-like-json.json");
    std::os::unix::fs::symlink(&theirs, &link).expect("symlink");
    let hard = work.path().join("backup.json");
    std::fs::hard_link(&own, &hard).expect("hard link");
    let node = start_listening(node_command(&other, None));
    for target in [&own, &theirs, &link, &hard] {
        let out = minichain(&["export", &target.to_string_lossy()], &dir);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("would destroy it"),
            "{}",
            text(&out.stderr)
        );
    }
    assert!(node.terminate().success());
    // A link to where a store would be, in a directory without one: no file planted.
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let dangling = work.path().join("dangling.json");
    std::os::unix::fs::symlink(empty.join(minichain::store::FILE_NAME), &dangling)
        .expect("symlink");
    let out = minichain(&["export", &dangling.to_string_lossy()], &dir);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_dir(&empty).expect("read dir").count(), 0);
    // Standard output opened on a store (`1<>chain.redb`): refused too.
    let store_rw = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&own)
        .expect("open the store");
    let out = Command::new(env!("CARGO_BIN_EXE_minichain"))
        .args(["export", "-", "--data-dir"])
        .arg(&dir)
        .stdout(store_rw)
        .output()
        .expect("runs minichain");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("standard output is a store"),
        "{}",
        text(&out.stderr)
    );
    let mut expected = b"{\"chain\":".to_vec();
    write_chain(&synthetic_chain(50), Dialect::Compact, &mut expected);
    expected.push(b'}');
    for d in [&dir, &other] {
        let exported = work.path().join("after.json");
        let out = minichain(&["export", &exported.to_string_lossy()], d);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(std::fs::read(&exported).expect("file"), expected);
    }
}

/// Makes a store file one this process may only read, for as long as it lives: its mode
/// read-only, and for root (whom modes do not stop) the immutable attribute as well.
struct ReadOnlyFile<'a>(&'a Path);

impl<'a> ReadOnlyFile<'a> {
    fn new(path: &'a Path) -> Self {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444)).expect("chmod");
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| text(&out.stdout).trim() == "0");
        if root {
            let set = Command::new("chattr")
                .arg("+i")
                .arg(path)
                .status()
                .expect("chattr (e2fsprogs) runs");
            assert!(set.success(), "chattr +i {}", path.display());
        }
        let writable = std::fs::OpenOptions::new().write(true).open(path);
        assert!(writable.is_err(), "{} is still writable", path.display());
        ReadOnlyFile(path)
    }
}

impl Drop for ReadOnlyFile<'_> {
    fn drop(&mut self) {
        // Without the attribute the temporary directory could not be removed.
        let _ = Command::new("chattr").arg("-i").arg(self.0).status();
    }
}

/// A store the user may only read is exported all the same (opened read-only), byte for
/// byte as from a writable one; a read-only store that a killed node left needing a
/// repair is refused with a message that says so, and exports once a node has opened
/// it.
#[test]
fn a_read_only_store_is_exported() {
    let work = tempfile::tempdir().expect("temp dir");
    let dir = work.path().join("data");
    let imported = minichain(&["import", "--synthetic", "300"], &dir);
    assert!(imported.status.success(), "{}", text(&imported.stderr));
    let writable = minichain(&["export", "-"], &dir);
    assert!(writable.status.success(), "{}", text(&writable.stderr));
    {
        let store = dir.join("chain.redb");
        let _read_only = ReadOnlyFile::new(&store);
        let out = minichain(&["export", "-"], &dir);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(out.stdout, writable.stdout, "the same bytes read-only");
    }

    // A node killed while it held the store leaves it needing the repair a writer makes.
    let killed = work.path().join("killed");
    start_listening(node_command(&killed, None)).kill9();
    {
        let store = killed.join("chain.redb");
        let _read_only = ReadOnlyFile::new(&store);
        let out = minichain(&["export", "-"], &killed);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("not closed cleanly"), "{err}");
    }
    let out = minichain(&["export", "-"], &killed);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("{\"chain\":[{\"block_no\":0"));
}

/// An export stopped halfway (here by a file-size limit, as a full disk or Ctrl-C
/// would) leaves the file it was replacing as it was, and no part file; a named pipe
/// gets the chain as it is written, its reader there first (not waited on forever for
/// a look at its header).
#[test]
fn an_export_replaces_a_file_whole_or_not_at_all() {
    let work = tempfile::tempdir().expect("temp dir");
    let dir = work.path().join("data");
    let imported = minichain(&["import", "--synthetic", "2000"], &dir);
    assert!(imported.status.success(), "{}", text(&imported.stderr));
    let precious = work.path().join("precious.json");
    let old = "[\"the old export\"]".repeat(30_000);
    std::fs::write(&precious, &old).expect("writes");
    // A limit of 100 KiB on written files, its signal ignored so that the write fails
    // with EFBIG and the export ends with an error (both kept across exec).
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -f 100; trap '' XFSZ; exec \"$0\" export \"$1\" --data-dir \"$2\"")
        .arg(env!("CARGO_BIN_EXE_minichain"))
        .arg(&precious)
        .arg(&dir)
        .output()
        .expect("runs sh");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(&precious).expect("reads"),
        old,
        "the old file was changed"
    );
    let names: Vec<_> = std::fs::read_dir(work.path())
        .expect("lists")
        .map(|entry| entry.expect("an entry").file_name())
        .collect();
    assert_eq!(names.len(), 2, "a part file was left: {names:?}");

    let whole = minichain(&["export", &precious.to_string_lossy()], &dir);
    assert!(whole.status.success(), "{}", text(&whole.stderr));
    let exported = std::fs::read(&precious).expect("reads");
    assert!(exported.len() > 100 * 1024 && exported.starts_with(b"{\"chain\":"));

    let pipe = work.path().join("pipe");
    let made = Command::new("mkfifo")
        .arg(&pipe)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let reader = {
        let pipe = pipe.clone();
        std::thread::spawn(move || std::fs::read(&pipe).expect("reads the pipe"))
    };
    let piped = minichain(&["export", &pipe.to_string_lossy()], &dir);
    assert!(piped.status.success(), "{}", text(&piped.stderr));
    assert_eq!(reader.join().expect("the reader ends"), exported);
}
