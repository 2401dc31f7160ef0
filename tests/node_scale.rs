//! Issue 13's big test: two nodes on one real `redis-server`, each on a data directory
//! holding the same 200,000-block chain (made once by `minichain import --synthetic`,
//! then copied), stay in sync while blocks are mined on either, and Redis drops neither
//! node's client: with seed-compat `on`, the whole chain's message (tens of MB, past the
//! limit) is withheld, and only announcements of a few hundred bytes are published.
//!
//! Run with `cargo test --test node_scale` (needs `redis-server`).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::node::{TestNode, config, wait_until};
use common::redis::RedisServer;
use minichain::chain::Difficulty;
use minichain::miner::kernel::KernelKind;
use minichain::node::NodeConfig;
use minichain::node::config::SeedCompatMode;

/// Blocks in the chain both nodes start on (genesis included).
const LONG: usize = 200_000;

/// Longest wait for one block to reach the other node (a bound for a stuck test, not a
/// speed check: a debug build on a loaded machine).
const WAIT: Duration = Duration::from_secs(120);

/// Rounds of mining: each round mines a few blocks on `a`, then a few on `b`.
const ROUNDS: usize = 3;

/// Blocks mined per node per round.
const PER_TURN: usize = 3;

/// Copies the files of `from` (a data directory: flat) into a new directory `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read the data directory") {
        let entry = entry.expect("entry");
        assert!(
            entry.file_type().expect("file type").is_file(),
            "a data directory holds files only: {:?}",
            entry.path()
        );
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

/// A node on `redis` and `data`, mining at a pinned difficulty of 2 (one step from the
/// synthetic chain's tip, so its blocks are valid under the strict rules) with the
/// portable kernel (no calibration), publishing whole chains for Python peers (`on`)
/// so that the over-limit path is the one taken.
fn scale_config(redis: &RedisServer, data: &Path) -> NodeConfig {
    NodeConfig {
        data_dir: Some(data.to_owned()),
        seed_compat: SeedCompatMode::On,
        fixed_difficulty: Some(Difficulty::new(2)),
        kernel: Some(KernelKind::Portable),
        ..config(Some(redis))
    }
}

async fn tip(node: &TestNode) -> String {
    node.status().await["tip_hash"]
        .as_str()
        .expect("tip")
        .to_owned()
}

/// Mines `n` blocks on `from` and waits until `to` holds the same tip.
async fn mine_and_converge(from: &TestNode, to: &TestNode, n: usize, tag: &str) {
    for i in 0..n {
        let (code, answer) = from.mine(&format!(r#"{{"data": "{tag} {i}"}}"#)).await;
        assert_eq!(code, 200, "{}", &answer[..answer.len().min(300)]);
    }
    let want = tip(from).await;
    wait_until("both nodes hold the same tip", WAIT, || async {
        tip(to).await == want
    })
    .await;
}

/// Two nodes on a 200,000-block chain stay in sync while each mines in turn, through
/// announcements (no gap fill, no whole chain), and no Redis client is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_a_200000_block_chain_stay_in_sync_while_both_mine() {
    let work = tempfile::tempdir().expect("temp dir");
    let a_dir = work.path().join("a");
    let b_dir = work.path().join("b");
    let out = Command::new(env!("CARGO_BIN_EXE_minichain"))
        .args(["import", "--synthetic", &LONG.to_string(), "--data-dir"])
        .arg(&a_dir)
        .output()
        .expect("runs minichain import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    copy_dir(&a_dir, &b_dir);

    let redis = RedisServer::start();
    // Each start re-validates the stored chain: both at once, on tasks of their own.
    let starting_a = tokio::spawn(TestNode::start(scale_config(&redis, &a_dir)));
    let starting_b = tokio::spawn(TestNode::start(scale_config(&redis, &b_dir)));
    let a = starting_a.await.expect("a starts");
    let b = starting_b.await.expect("b starts");
    for node in [&a, &b] {
        assert_eq!(node.len().await, LONG);
        wait_until("the node is subscribed", WAIT, || async {
            node.status().await["redis"]["connected"] == true
        })
        .await;
    }
    assert_eq!(tip(&a).await, tip(&b).await);

    for round in 0..ROUNDS {
        mine_and_converge(&a, &b, PER_TURN, &format!("a {round}")).await;
        mine_and_converge(&b, &a, PER_TURN, &format!("b {round}")).await;
    }

    let mined = 2 * ROUNDS * PER_TURN;
    for node in [&a, &b] {
        assert_eq!(node.len().await, LONG + mined);
    }
    assert_eq!(
        a.get(&format!("/api/blocks?from={LONG}&limit={mined}"))
            .await
            .2,
        b.get(&format!("/api/blocks?from={LONG}&limit={mined}"))
            .await
            .2
    );
    for node in [&a, &b] {
        let status = node.status().await;
        assert_eq!(status["redis"]["reconnects"], 0, "{status}");
        assert_eq!(status["redis"]["connected"], true, "{status}");
        let compat = &status["redis"]["seed_compat"];
        assert_eq!(compat["over_limit"], true, "{status}");
        assert!(
            compat["withheld_over_limit"]
                .as_u64()
                .is_some_and(|n| n > 0),
            "{status}"
        );
        assert_eq!(node.stat(&["redis", "published"]).await, 0, "{status}");
        // Every block of the other node's arrived by announcement, none by a fill.
        assert_eq!(
            node.stat(&["redis", "announcements", "gap_requests"]).await,
            0,
            "{status}"
        );
        assert!(node.stat(&["redis", "announcements", "applied"]).await > 0);
    }
    // Both nodes are still subscribed (Redis dropped neither).
    assert_eq!(redis.subscribers(), 2);
    a.stop().await;
    b.stop().await;
}
