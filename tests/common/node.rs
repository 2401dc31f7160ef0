//! In-process nodes on 127.0.0.1:0 with real HTTP, and the helpers tests use to talk
//! to them, build chains, and wait for things without sleeping blindly.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use minichain::chain::block::{parse_chain, write_chain};
use minichain::chain::json::Dialect;
use minichain::chain::validate::now_ms;
use minichain::chain::{Block, Difficulty, Json, genesis};
use minichain::miner::reference::mine_reference;
use minichain::node::{self, NodeConfig, NodeHandle};

use super::redis::RedisServer;

/// A test node's settings: one mining thread, no root, fast Redis reconnects.
pub fn config(redis: Option<&RedisServer>) -> NodeConfig {
    NodeConfig {
        host: "127.0.0.1".into(),
        port: 0,
        redis_url: redis.map(RedisServer::url),
        root: None,
        threads: Some(1),
        redis_backoff_max: Duration::from_millis(100),
        redis_ping_interval: Duration::from_millis(500),
        root_timeout: Duration::from_secs(2),
        miner_nice: 0,
        ..NodeConfig::default()
    }
}

/// A running node and an HTTP client for it.
pub struct TestNode {
    pub handle: NodeHandle,
    pub client: reqwest::Client,
    pub base: String,
    /// The node's own data directory when the test gave none (removed on drop).
    pub data: Option<tempfile::TempDir>,
}

impl TestNode {
    /// Starts a node with `config`; a config without a data directory gets a fresh
    /// temporary one of its own, removed when the node is dropped.
    pub async fn start(mut config: NodeConfig) -> TestNode {
        let data = match config.data_dir {
            Some(_) => None,
            None => {
                let dir = tempfile::tempdir().expect("a temporary data directory");
                config.data_dir = Some(dir.path().to_owned());
                Some(dir)
            }
        };
        // The node closes a connection idle for its header timeout; the client drops
        // its idle ones well before, so that it never sends on one being closed.
        let idle = config.header_timeout / 4;
        let handle = node::start(config).await.expect("node starts");
        let base = format!("http://{}", handle.addr());
        let client = reqwest::Client::builder()
            .pool_idle_timeout(idle)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        TestNode {
            handle,
            client,
            base,
            data,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.base.clone()
    }

    /// GETs `path`: status, content type and body.
    pub async fn get(&self, path: &str) -> (u16, String, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, content_type, response.text().await.expect("body"))
    }

    /// POSTs `body` to `/api/mineblock`: status and body.
    pub async fn mine(&self, body: &str) -> (u16, String) {
        post(&self.client, &self.base, body).await
    }

    /// POSTs `body` to `/api/chain`: status and body.
    pub async fn push(&self, body: impl Into<Vec<u8>>) -> (u16, String) {
        let response = self
            .client
            .post(format!("{}/api/chain", self.base))
            .header("content-type", "application/json")
            .body(body.into())
            .send()
            .await
            .expect("POST /api/chain");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// `/api/status` as JSON.
    pub async fn status(&self) -> serde_json::Value {
        let (code, _, body) = self.get("/api/status").await;
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).expect("status is JSON")
    }

    /// A number in `/api/status` at `path` (panics naming the path when there is none).
    pub async fn stat(&self, path: &[&str]) -> u64 {
        let status = self.status().await;
        let mut value = &status;
        for key in path {
            value = &value[*key];
        }
        value
            .as_u64()
            .unwrap_or_else(|| panic!("no number at {path:?} in {status}"))
    }

    /// The chain `GET /api/blocks` serves.
    pub async fn chain(&self) -> Vec<Block> {
        let (code, _, body) = self.get("/api/blocks").await;
        assert_eq!(code, 200, "{body}");
        parse_chain(&body).expect("a chain")
    }

    /// The served chain's length.
    pub async fn len(&self) -> usize {
        self.status().await["length"].as_u64().expect("length") as usize
    }

    /// Stops the node gracefully, after checking that every part it needs still ran (no thread
    /// ended and no task panicked before the shutdown).
    pub async fn stop(self) {
        // The watcher notes a task's panic when it next runs: let it.
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        let stopped = futures_util::FutureExt::now_or_never(self.handle.part_stopped());
        assert_eq!(
            stopped, None,
            "a part of the node stopped before its shutdown"
        );
        self.handle.shutdown().await.expect("clean shutdown");
    }
}

/// POSTs `body` to `{base}/api/mineblock`.
pub async fn post(client: &reqwest::Client, base: &str, body: &str) -> (u16, String) {
    let response = client
        .post(format!("{base}/api/mineblock"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// Polls `check` every few milliseconds until it holds; panics with `what` after
/// `timeout`. Sleeps here only pace the polling; the assertion is the condition.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `chain` extended by `n` blocks of difficulty 3 (cheap to mine, valid under the
/// strict rules), data `"{tag} i"`.
pub fn extend(chain: &[Block], n: usize, tag: &str) -> Vec<Block> {
    let mut blocks = chain.to_vec();
    for i in 0..n {
        let prev = blocks.last().cloned().unwrap_or_else(genesis);
        let data = Json::String(format!("{tag} {i}").into());
        let difficulty = Difficulty::new(prev.difficulty.bits().saturating_sub(1).max(3));
        blocks.push(mine_reference(&prev, data, now_ms(), difficulty));
    }
    blocks
}

/// A chain as `GET /api/blocks` serves it: `{"chain":[...]}`, compact.
pub fn body(chain: &[Block]) -> Vec<u8> {
    let mut out = b"{\"chain\":".to_vec();
    write_chain(chain, Dialect::Compact, &mut out);
    out.push(b'}');
    out
}

/// A chain as a Redis message: the bare array in Python's dialect.
pub fn message(chain: &[Block]) -> Vec<u8> {
    let mut out = Vec::new();
    write_chain(chain, Dialect::Python, &mut out);
    out
}
