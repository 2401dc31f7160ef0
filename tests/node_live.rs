//! What a person watching a node sees, over real HTTP from a real node: the live
//! events stream (`GET /api/events`), stale work counted on a restart, and the
//! Prometheus metrics (`GET /metrics`) read by a real exposition-format parser.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::node::{TestNode, body, config, extend};
use minichain::chain::{Difficulty, genesis};
use tokio::sync::mpsc;

/// One Server-Sent Event: its name and its JSON data.
#[derive(Debug)]
struct Sse {
    name: String,
    data: serde_json::Value,
}

/// Opens `GET /api/events` and forwards each event on the returned channel; the
/// channel closes when the stream ends (the task's result says whether it ended
/// cleanly).
async fn open_events(
    base: &str,
) -> (
    mpsc::UnboundedReceiver<Sse>,
    tokio::task::JoinHandle<Result<(), String>>,
) {
    // No overall timeout: the stream lasts as long as the node.
    let client = reqwest::Client::new();
    let mut response = client
        .get(format!("{base}/api/events"))
        .send()
        .await
        .expect("GET /api/events");
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        let mut buffer = String::new();
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => return Ok(()),
                Err(err) => return Err(err.to_string()),
            };
            buffer.push_str(std::str::from_utf8(&chunk).map_err(|e| e.to_string())?);
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                let mut name = None;
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        name = Some(value.trim().to_owned());
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                // Comments (keep-alives) have no name.
                if let Some(name) = name {
                    let data = serde_json::from_str(&data).map_err(|e| format!("{e}: {data}"))?;
                    let _ = tx.send(Sse { name, data });
                }
            }
        }
    });
    (rx, reader)
}

/// Reads events until one named `name` (any for `any`) satisfies `check`: its name
/// and data; panics after a minute.
async fn next_event(
    events: &mut mpsc::UnboundedReceiver<Sse>,
    name: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> (String, serde_json::Value) {
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(event) = events.recv().await {
            if (name == "any" || event.name == name) && check(&event.data) {
                return Some((event.name, event.data));
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(data)) => data,
        Ok(None) => panic!("the event stream ended before a {name} event"),
        Err(_) => panic!("no {name} event within a minute"),
    }
}

/// The samples of a `/metrics` scrape, parsed by `prometheus-parse`: name (with its
/// labels, sorted, in braces) → value.
async fn scrape(node: &TestNode) -> HashMap<String, f64> {
    let (code, content_type, text) = node.get("/metrics").await;
    assert_eq!(code, 200, "{text}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("valid exposition format");
    // The parser skips lines it cannot read: every sample line must have been read.
    let sample_lines = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    let histogram_lines = text
        .lines()
        .filter(|l| l.contains("_bucket{") || l.contains("_sum{") || l.contains("_count{"))
        .count();
    let histograms = parsed
        .samples
        .iter()
        .filter(|s| matches!(s.value, prometheus_parse::Value::Histogram(_)))
        .count();
    assert!(
        parsed.samples.len() - histograms + histogram_lines >= sample_lines,
        "the parser dropped sample lines:\n{text}"
    );
    let mut samples = HashMap::new();
    for sample in parsed.samples {
        let value = match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(_) | prometheus_parse::Value::Summary(_) => {
                continue;
            }
        };
        let mut labels: Vec<String> = sample
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        labels.sort();
        let key = if labels.is_empty() {
            sample.metric
        } else {
            format!("{}{{{}}}", sample.metric, labels.join(","))
        };
        samples.insert(key, value);
    }
    samples
}

/// A reader of `GET /api/events` sees the miner's progress while a block is searched
/// at a high difficulty, the peer's tip when a longer chain is pushed (which restarts
/// the search and counts its stale work, in the event, `/api/status` and the
/// metrics), then the block mined on that tip; and its stream ends when the node
/// shuts down.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_show_mining_restarts_and_blocks_and_end_on_shutdown() {
    let node = TestNode::start(config(None)).await;
    // Far beyond reach: the search runs until the pushed chain restarts it.
    node.handle.pin_difficulty(Some(Difficulty::new(60)));
    let (mut events, reader) = open_events(&node.url()).await;

    let mine = {
        let client = node.client.clone();
        let base = node.url();
        tokio::spawn(async move { common::node::post(&client, &base, r#"{"data": "live"}"#).await })
    };
    let (_, mining) = next_event(&mut events, "mining", |d| d["attempts"].as_u64() > Some(0)).await;
    assert_eq!(mining["difficulty"], 60);
    assert_eq!(mining["per_thread"].as_array().map(Vec::len), Some(1));
    assert!(mining["attempts_per_sec"].as_f64() > Some(0.0), "{mining}");
    assert!(mining["job_id"].as_u64() >= Some(1));

    // The next search (on the pushed tip) finds its block at once.
    node.handle.pin_difficulty(Some(Difficulty::new(3)));
    let pushed = extend(&[genesis()], 2, "peer");
    let (code, answer) = node.push(body(&pushed)).await;
    assert_eq!(code, 200, "{answer}");

    // The restart event comes from a sampler, so it may follow the blocks: take the
    // three in any order.
    let (mut peer, mut mined, mut restart) = (None, None, None);
    while peer.is_none() || mined.is_none() || restart.is_none() {
        let event = next_event(&mut events, "any", |_| true).await;
        match (event.0.as_str(), event.1["height"].as_u64()) {
            ("block", Some(2)) => peer = Some(event.1),
            ("block", Some(3)) => mined = Some(event.1),
            ("restart", _) => restart = Some(event.1),
            _ => {}
        }
    }
    let (peer, mined, restart) = (
        peer.unwrap_or_default(),
        mined.unwrap_or_default(),
        restart.unwrap_or_default(),
    );
    assert_eq!(peer["source"], "peer");
    assert_eq!(peer["hash"], pushed[2].hash.as_str());
    assert_eq!(mined["source"], "mined");
    assert_eq!(restart["restarts"], 1);
    // The cancelled search's last slice is stale work: usually some attempts, none if
    // the cancel came between two slices (job_slot's unit test counts it exactly).
    let stale = restart["last"]["stale_attempts"].as_u64().expect("a count");
    assert_eq!(restart["stale_attempts_total"].as_u64(), Some(stale));
    let (code, chain) = mine.await.expect("the request task");
    assert_eq!(code, 200, "{chain}");

    let status = node.status().await;
    assert_eq!(status["mining"]["stale_attempts"].as_u64(), Some(stale));
    assert_eq!(
        status["mining"]["last_restart"]["stale_attempts"].as_u64(),
        Some(stale)
    );
    let metrics = scrape(&node).await;
    assert_eq!(
        metrics["minichain_mining_stale_attempts_total"],
        stale as f64
    );
    assert_eq!(metrics["minichain_mining_restarts_total"], 1.0);

    node.stop().await;
    let ended = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .expect("the stream ends with the node")
        .expect("the reader task");
    assert_eq!(ended, Ok(()), "the stream ends cleanly on shutdown");
}

/// `/metrics` parses as the Prometheus text format, and its values move when a block
/// is mined: height, work, attempts, blocks mined, and the HTTP request counters by
/// route pattern (never by raw path) and method (a made-up method counts as `other`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_parse_and_move_when_a_block_is_mined() {
    let node = TestNode::start(config(None)).await;
    node.handle.pin_difficulty(Some(Difficulty::new(5)));
    let before = scrape(&node).await;
    assert_eq!(before["minichain_chain_height"], 0.0);
    assert_eq!(before["minichain_mining_blocks_mined_total"], 0.0);
    assert_eq!(before["minichain_redis_connected"], 0.0);
    for outcome in ["accepted", "current"] {
        assert_eq!(
            before[&format!("minichain_sync_messages_total{{outcome={outcome}}}")],
            0.0
        );
    }

    let (code, answer) = node.mine(r#"{"data": "metrics"}"#).await;
    assert_eq!(code, 200, "{answer}");
    let (code, _, _) = node.get("/api/blocks/1").await;
    assert_eq!(code, 200);
    let (code, _, _) = node.get("/no/such/path").await;
    assert_eq!(code, 404);
    // Methods no standard names: one `other` label for them all, never their tokens.
    for token in ["FROBNICATE", "XYZZY"] {
        let method = reqwest::Method::from_bytes(token.as_bytes()).expect("a method token");
        let answer = reqwest::Client::new()
            .request(method, format!("{}/api/blocks", node.base))
            .send()
            .await
            .expect("an answer");
        assert_eq!(answer.status().as_u16(), 405);
    }

    let after = scrape(&node).await;
    assert_eq!(after["minichain_chain_height"], 1.0);
    assert_eq!(after["minichain_chain_difficulty"], 5.0);
    assert!(after["minichain_chain_work"] > before["minichain_chain_work"]);
    assert_eq!(after["minichain_mining_blocks_mined_total"], 1.0);
    assert!(after["minichain_mining_attempts_total"] > before["minichain_mining_attempts_total"]);
    assert_eq!(after["minichain_chain_changes_total"], 1.0);
    let requests = |route: &str, method: &str, status: u16| {
        after
            .get(&format!(
                "minichain_http_requests_total{{method={method},route={route},status={status}}}"
            ))
            .copied()
    };
    assert_eq!(requests("/api/mineblock", "POST", 200), Some(1.0));
    assert_eq!(requests("/api/blocks/:n", "GET", 200), Some(1.0));
    assert_eq!(requests("/metrics", "GET", 200), Some(1.0));
    assert_eq!(requests("unmatched", "GET", 404), Some(1.0));
    assert!(after.keys().all(|k| !k.contains("/no/such/path")));
    assert_eq!(requests("/api/blocks", "other", 405), Some(2.0));
    assert!(
        after
            .keys()
            .all(|k| !k.contains("FROBNICATE") && !k.contains("XYZZY"))
    );
    assert!(after.contains_key("minichain_mining_hash_rate"));
    assert!(after.contains_key("minichain_redis_reconnects_total"));
    node.stop().await;
}

/// `/api/openapi.json` describes every route the node serves, and the status it
/// describes has exactly the fields a live `/api/status` answers with (the schema is
/// generated from the same type).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_describes_every_route_and_the_live_status() {
    let node = TestNode::start(config(None)).await;
    let (code, content_type, text) = node.get("/api/openapi.json").await;
    assert_eq!(code, 200);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let spec: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(spec["openapi"], "3.1.0");
    let paths = spec["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/api/blocks", "get"),
        ("/api/blocks/{n}", "get"),
        ("/api/headers", "get"),
        ("/api/mineblock", "post"),
        ("/api/chain", "post"),
        ("/api/status", "get"),
        ("/api/events", "get"),
        ("/metrics", "get"),
        ("/healthz", "get"),
        ("/api/openapi.json", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not described"
        );
        let (code, _, _) = if method == "get" && path != "/api/events" {
            node.get(&path.replace("{n}", "0")).await
        } else {
            (200, String::new(), String::new())
        };
        assert_eq!(code, 200, "{path} is described but not served");
    }
    let schemas = &spec["components"]["schemas"];
    let described: std::collections::BTreeSet<&String> = schemas["Status"]["properties"]
        .as_object()
        .expect("Status has properties")
        .keys()
        .collect();
    let status = node.status().await;
    let served: std::collections::BTreeSet<&String> =
        status.as_object().expect("an object").keys().collect();
    assert_eq!(described, served);
    for event in [
        "BlockEvent",
        "MiningEvent",
        "ReorgEvent",
        "RejectedEvent",
        "RestartEvent",
    ] {
        assert!(schemas.get(event).is_some(), "{event} is not described");
    }
    node.stop().await;
}

/// The explorer page and its assets are served from the binary, and refer to nothing
/// outside the node (no CDN: it works offline).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explorer_page_is_served_from_the_binary() {
    let node = TestNode::start(config(None)).await;
    for (path, kind) in [
        ("/", "text/html"),
        ("/assets/explorer.js", "text/javascript"),
        ("/assets/explorer.css", "text/css"),
    ] {
        let (code, content_type, text) = node.get(path).await;
        assert_eq!(code, 200, "{path}");
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{path} refers outside the node"
        );
    }
    let (_, _, html) = node.get("/").await;
    assert!(html.contains("/assets/explorer.js") && html.contains("<canvas"));
    let (_, _, js) = node.get("/assets/explorer.js").await;
    for api in [
        "/api/events",
        "/api/status",
        "/api/headers?from=",
        "/api/blocks/",
        "/api/mineblock",
    ] {
        assert!(js.contains(api), "the page does not use {api}");
    }
    node.stop().await;
}

/// A pushed fork that beats our own block is a `reorg` (old tip, new tip, depth); a
/// refused chain is a `rejected` event with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_show_reorgs_and_rejections() {
    let node = TestNode::start(config(None)).await;
    node.handle.pin_difficulty(Some(Difficulty::new(4)));
    let (code, answer) = node.mine(r#"{"data": "ours"}"#).await;
    assert_eq!(code, 200, "{answer}");
    let ours = node.chain().await;
    let (mut events, _reader) = open_events(&node.url()).await;

    // Three blocks of difficulty 3 (work 3 × 8) beat one of difficulty 4 (work 16).
    let fork = extend(&[genesis()], 3, "fork");
    let (code, answer) = node.push(body(&fork)).await;
    assert_eq!(code, 200, "{answer}");
    let (_, reorg) = next_event(&mut events, "reorg", |_| true).await;
    assert_eq!(reorg["depth"], 1);
    assert_eq!(reorg["old_tip"], ours[1].hash.as_str());
    assert_eq!(reorg["old_height"], 1);
    assert_eq!(reorg["new_tip"], fork[3].hash.as_str());
    assert_eq!(reorg["new_height"], 3);
    let (_, block) = next_event(&mut events, "block", |_| true).await;
    assert_eq!(
        (block["height"].as_u64(), block["source"].as_str()),
        (Some(3), Some("peer"))
    );

    let (code, answer) = node.push(r#"{"chain": 5}"#).await;
    assert_eq!(code, 422, "{answer}");
    let (_, rejected) = next_event(&mut events, "rejected", |_| true).await;
    assert_eq!(rejected["reason"], "not_a_chain");
    assert_eq!(rejected["count"], 1);
    assert!(rejected["last"].as_str().is_some(), "{rejected}");
    node.stop().await;
}
