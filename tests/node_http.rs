//! The node's HTTP API on a lone node (no Redis): the original's two endpoints byte for
//! byte, every new endpoint and error status, the mining queue, GETs while mining, and
//! graceful shutdown.
//!
//! Run with `cargo test --test node_http`.

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::node::{TestNode, body, config, extend, message, post, wait_until};
use minichain::chain::block::{GENESIS_HASH, parse_chain};
use minichain::chain::validate::now_ms;
use minichain::chain::{Difficulty, Json, RuleSet, ValidChain, genesis};
use minichain::node::NodeConfig;
use tower::ServiceExt;

fn error_of(body: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field: {body}"))
        .to_owned()
}

/// `GET /api/blocks` and `POST /api/mineblock` answer as the original does: compact
/// `{"chain":[...]}`, application/json, data kept as sent, missing data mines `""`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn original_api_is_byte_compatible() {
    let node = TestNode::start(config(None)).await;
    let (code, content_type, body) = node.get("/api/blocks").await;
    assert_eq!((code, content_type.as_str()), (200, "application/json"));
    let mut expected = b"{\"chain\":[".to_vec();
    genesis().write(minichain::chain::json::Dialect::Compact, &mut expected);
    expected.extend_from_slice(b"]}");
    assert_eq!(body.as_bytes(), expected.as_slice());
    assert!(body.contains(GENESIS_HASH));

    let (code, body) = node
        .mine(r#"{"data": {"tx": [1, 2.50, "é"], "k": null}}"#)
        .await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body.starts_with(
            r#"{"chain":[{"block_no":0,"timestamp":1000,"prev_hash":"0x0000","data":[],"hash":""#
        ),
        "{body}"
    );
    assert!(
        body.contains(r#""data":{"tx":[1,2.50,"é"],"k":null}"#),
        "{body}"
    );
    let (code, body) = node.mine("{}").await;
    assert_eq!(code, 200, "{body}");
    let blocks = parse_chain(&body).expect("chain");
    assert_eq!(blocks.len(), 3);
    assert_eq!(blocks[2].data, Json::String("".into()));
    ValidChain::validate(blocks.clone(), RuleSet::Strict, now_ms()).expect("a valid chain");
    // The cache serves the same chain the POST answered.
    assert_eq!(node.get("/api/blocks").await.2, body);
    node.stop().await;
}

/// The text of `field`'s value in a block or header written by the node: from after
/// `"field":` to the next `,"` (for the fields beside `data`, which hold no `,"`).
fn field_text<'b>(object: &'b str, field: &str) -> &'b str {
    let key = format!("\"{field}\":");
    let at = object
        .find(&key)
        .unwrap_or_else(|| panic!("no {field} in {object}"))
        + key.len();
    let rest = &object[at..];
    let end = rest.find(",\"").unwrap_or_else(|| rest.len() - 1);
    &rest[..end]
}

/// `GET /api/headers` lists blocks as `GET /api/blocks/{n}` writes them, but with the
/// first 160 characters of `data` (as that block's JSON writes it, cut at a character)
/// in place of `data`; its pages are bounded and refused as the blocks' pages are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_list_blocks_with_a_preview_of_their_data() {
    let node = TestNode::start(config(None)).await;
    let big = "é".repeat(20_000);
    for data in [
        "\"a\"".to_owned(),
        // Spaces as sent: the preview is of the block's compact JSON.
        "{\"k\": [1,   2.50], \"n\": null}".to_owned(),
        format!("\"{big}\""),
        // Long and not compact as sent: its preview is walked, and stops early.
        format!("[{}1]", "1,  ".repeat(20_000)),
    ] {
        let (code, body) = node.mine(&format!(r#"{{"data": {data}}}"#)).await;
        assert_eq!(code, 200, "{body}");
    }
    let (code, content_type, body) = node.get("/api/headers?from=0&limit=10").await;
    assert_eq!((code, content_type.as_str()), (200, "application/json"));
    let page: serde_json::Value = serde_json::from_str(&body).expect("headers JSON");
    assert_eq!(
        (
            page["from"].as_u64(),
            page["limit"].as_u64(),
            page["total"].as_u64()
        ),
        (Some(0), Some(10), Some(5))
    );
    let headers = page["headers"].as_array().expect("a headers array");
    assert_eq!(headers.len(), 5);
    // The large blocks' data is 40 and 80 KB; their headers are a few hundred bytes.
    assert!(body.len() < 3_500, "{} bytes", body.len());
    let texts: Vec<&str> = body.split("{\"block_no\":").skip(1).collect();
    for (n, header) in headers.iter().enumerate() {
        let (_, _, block) = node.get(&format!("/api/blocks/{n}")).await;
        for field in [
            "block_no",
            "timestamp",
            "prev_hash",
            "hash",
            "nonce",
            "difficulty",
        ] {
            let from_header = if field == "block_no" {
                texts[n].split(',').next().expect("a number")
            } else {
                field_text(texts[n], field)
            };
            let from_block = field_text(&block, field);
            assert_eq!(from_header, from_block, "block {n}'s {field}");
        }
        // `data` runs to the `hash` that follows it (the test's data holds no `"hash"`).
        let data = &block[block.find(r#""data":"#).expect("data") + 7
            ..block.find(r#","hash":""#).expect("hash")];
        let want: String = data.chars().take(160).collect();
        assert_eq!(
            header["data_preview"].as_str(),
            Some(want.as_str()),
            "block {n}"
        );
        assert_eq!(
            header["data_clipped"].as_bool(),
            Some(data.chars().count() > 160),
            "block {n}"
        );
    }
    assert_eq!(headers[2]["data_preview"], r#"{"k":[1,2.50],"n":null}"#);
    assert_eq!(headers[3]["data_clipped"], true);
    assert_eq!(
        headers[3]["data_preview"]
            .as_str()
            .map(|p| p.chars().count()),
        Some(160)
    );
    assert_eq!(headers[4]["data_clipped"], true);
    // The large blocks (written off the async workers) are the blocks the pages hold.
    for n in [3, 4] {
        let (_, _, block) = node.get(&format!("/api/blocks/{n}")).await;
        let (_, _, page) = node.get(&format!("/api/blocks?from={n}&limit=1")).await;
        assert!(
            block.len() > 40_000 && page.contains(&block),
            "block {n}: {} bytes",
            block.len()
        );
    }
    assert_eq!(
        headers[4]["data_preview"].as_str(),
        Some(format!("[{}1,1", "1,".repeat(78)).as_str())
    );
    let (code, _, body) = node.get("/api/headers?from=3").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(r#""headers":[{"block_no":3,"#), "{body}");
    for (query, status) in [
        ("from=x", 400),
        ("limit=0", 400),
        ("limit=1001", 400),
        ("from=6", 404),
        ("from=1&limit=-2", 400),
    ] {
        let (code, _, body) = node.get(&format!("/api/headers?{query}")).await;
        assert_eq!(code, status, "{query}: {body}");
        assert!(!error_of(&body).is_empty());
    }
    node.stop().await;
}

/// Every new endpoint, and each error status with its `{"error": ...}` body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_endpoints_and_error_statuses() {
    let mut cfg = config(None);
    cfg.max_body_bytes = 8192;
    let node = TestNode::start(cfg).await;
    for data in ["\"a\"", "2", "[3]"] {
        assert_eq!(node.mine(&format!(r#"{{"data": {data}}}"#)).await.0, 200);
    }
    // Single blocks.
    let (code, content_type, body) = node.get("/api/blocks/0").await;
    assert_eq!((code, content_type.as_str()), (200, "application/json"));
    assert_eq!(body, genesis().to_json_string());
    let (code, _, body) = node.get("/api/blocks/2").await;
    assert_eq!(code, 200);
    assert!(
        body.contains(r#""block_no":2"#) && body.contains(r#""data":2"#),
        "{body}"
    );
    let (code, _, body) = node.get("/api/blocks/4").await;
    assert_eq!(code, 404);
    assert!(error_of(&body).contains("no block 4"), "{body}");
    let (code, _, body) = node.get("/api/blocks/-1").await;
    assert_eq!(code, 400);
    assert!(error_of(&body).contains("non-negative integer"));
    // A path that is not UTF-8 once decoded: 400 with the JSON error too, as every other
    // bad request (not the router's plain text). (A query is decoded lossily, so
    // `?from=%ff` was always refused by the number check.)
    for path in ["/api/blocks/%ff", "/api/blocks?from=%ff"] {
        let (code, content_type, body) = node.get(path).await;
        assert_eq!(
            (code, content_type.as_str()),
            (400, "application/json"),
            "{path}: {body}"
        );
        assert!(!error_of(&body).is_empty(), "{path}: {body}");
    }
    // Pages.
    let (code, _, body) = node.get("/api/blocks?from=1&limit=2").await;
    assert_eq!(code, 200);
    let page: serde_json::Value = serde_json::from_str(&body).expect("page JSON");
    assert_eq!(
        (
            page["from"].as_u64(),
            page["limit"].as_u64(),
            page["total"].as_u64()
        ),
        (Some(1), Some(2), Some(4))
    );
    // Heights only: `serde_json::Value` reads a nonce wider than 64 bits as a float, so
    // the blocks cannot be parsed back from it (the whole-chain test below parses them).
    let heights: Vec<_> = page["chain"]
        .as_array()
        .expect("a chain array")
        .iter()
        .map(|b| b["block_no"].as_u64())
        .collect();
    assert_eq!(heights, vec![Some(1), Some(2)]);
    let (code, _, body) = node.get("/api/blocks?from=3").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(r#""block_no":3"#));
    assert_eq!(node.get("/api/blocks?from=4").await.0, 200);
    for (query, status) in [
        ("from=x", 400),
        ("limit=0", 400),
        ("limit=1001", 400),
        ("from=5", 404),
        ("from=1&limit=-2", 400),
    ] {
        let (code, _, body) = node.get(&format!("/api/blocks?{query}")).await;
        assert_eq!(code, status, "{query}: {body}");
        assert!(!error_of(&body).is_empty());
    }
    // Status and health.
    let status = node.status().await;
    assert_eq!(status["height"], 3);
    assert_eq!(status["length"], 4);
    assert_eq!(status["fork_choice"], "work");
    assert_eq!(
        status["tip_hash"].as_str(),
        Some(node.chain().await[3].hash.as_str())
    );
    assert!(status["difficulty"].as_u64().is_some() && status["work"].as_str().is_some());
    assert_eq!(status["mining"]["active"], false);
    assert_eq!(status["mining"]["queue"], 0);
    assert_eq!(status["mining"]["blocks_mined"], 3);
    assert!(status["mining"]["hash_rate"].as_f64().is_some());
    assert_eq!(status["redis"]["enabled"], false);
    assert_eq!(status["redis"]["connected"], false);
    assert_eq!(status["sync"]["rejected"]["not_json"], 0);
    let (code, _, body) = node.get("/healthz").await;
    assert_eq!((code, body.as_str()), (200, r#"{"status":"ok"}"#));
    // Unknown routes and methods.
    let (code, _, body) = node.get("/api/nothing").await;
    assert_eq!(code, 404);
    assert!(error_of(&body).contains("/api/nothing"));
    let (code, _, body) = node.get("/api/mineblock").await;
    assert_eq!(code, 405);
    assert!(error_of(&body).contains("GET"));
    // Bodies: too large (413), and what a Python node cannot take (422).
    let (code, body) = node
        .mine(&format!(r#"{{"data": "{}"}}"#, "x".repeat(9000)))
        .await;
    assert_eq!(code, 413, "{body}");
    assert!(error_of(&body).contains("8192"));
    for (data, why) in [
        ("NaN", "NaN"),
        ("1E400", "infinite"),
        ("[Infinity]", "infinite"),
        (r#""\ud800""#, "surrogate"),
        (&"7".repeat(4301), "4300"),
    ] {
        let (code, body) = node.mine(&format!(r#"{{"data": {data}}}"#)).await;
        let shown = &data[..data.len().min(20)];
        assert_eq!(code, 422, "{shown}: {body}");
        assert!(error_of(&body).contains(why), "{shown}: {body}");
    }
    for bad in ["", "not json", "[1]", "\"data\""] {
        let (code, body) = node.mine(bad).await;
        assert_eq!(code, 422, "{bad:?}: {body}");
    }
    assert_eq!(node.len().await, 4, "refused requests mine nothing");
    node.stop().await;
}

/// `POST /api/chain` on a lone node: each verdict has its status and is counted like
/// a Redis message; the body may be `{"chain": [...]}` or a bare array in either
/// dialect, and it may be as large as a Redis message (not just a mining request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_chains_get_a_status_per_verdict() {
    let mut cfg = config(None);
    cfg.max_body_bytes = 1024;
    cfg.max_message_bytes = 64 * 1024;
    let node = TestNode::start(cfg).await;
    assert_eq!(node.mine(r#"{"data": "ours"}"#).await.0, 200);
    let ours = node.chain().await;
    let answer = |text: &str| -> serde_json::Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };

    // Our own chain, in any form: 200, current.
    let mut pretty_python = b"{\"chain\": ".to_vec();
    pretty_python.extend_from_slice(&message(&ours));
    pretty_python.extend_from_slice(b"}\n");
    let mut compact_array = Vec::new();
    minichain::chain::block::write_chain(
        &ours,
        minichain::chain::json::Dialect::Compact,
        &mut compact_array,
    );
    for same in [body(&ours), message(&ours), pretty_python, compact_array] {
        let (code, text) = node.push(same).await;
        assert_eq!(code, 200, "{text}");
        assert_eq!(answer(&text)["result"], "current");
    }
    // An empty array is no chain at all (422), not one that loses to ours (409).
    let (code, text) = node.push(b"[]".to_vec()).await;
    assert_eq!(code, 422, "{text}");
    assert!(error_of(&text).contains("genesis"), "{text}");
    // A longer chain (bigger than a mining request may be), as a bare Python-dialect
    // array: adopted.
    let longer = extend(&ours, 8, &"long data ".repeat(20));
    assert!(message(&longer).len() > 1024);
    let (code, text) = node.push(message(&longer)).await;
    assert_eq!(code, 200, "{text}");
    let text = answer(&text);
    assert_eq!(text["result"], "adopted");
    assert_eq!(text["length"], 10);
    assert_eq!(text["tip_hash"].as_str(), Some(longer[9].hash.as_str()));
    assert_eq!(node.chain().await, longer);

    let mut forged = extend(&longer, 1, "forged");
    forged[10].data = Json::String("changed after mining".into()).into();
    let mut cases: Vec<(&str, u16, Vec<u8>)> = vec![
        ("not_preferred", 409, body(&ours)),
        ("invalid", 422, body(&forged)),
        ("not_a_chain", 422, br#"{"chain": 5}"#.to_vec()),
        ("not_a_chain", 422, b"[1, 2]".to_vec()),
        ("not_json", 400, b"{\"chain\": [".to_vec()),
        ("not_utf8", 400, b"[\xff]".to_vec()),
        ("too_deep", 400, "[".repeat(10_000).into_bytes()),
        ("too_large", 413, vec![b' '; 64 * 1024 + 1]),
    ];
    // Under the limit as sent (compact UTF-8), over it as a Redis message (every `é`
    // escaped as `\u00e9`): no peer could take it.
    let wide = extend(&longer, 12, &"é".repeat(1200));
    assert!(body(&wide).len() < 64 * 1024 && message(&wide).len() > 64 * 1024);
    cases.push(("too_large", 413, body(&wide)));
    for (reason, status, payload) in cases {
        let before = node.status().await["sync"]["rejected"][reason].as_u64();
        let (code, text) = node.push(payload).await;
        assert_eq!(code, status, "{reason}: {text}");
        assert!(!error_of(&text).is_empty(), "{reason}");
        let after = node.status().await["sync"]["rejected"][reason].as_u64();
        if code == 413 && !text.contains("dialect") {
            // axum refuses an oversized body before the intake sees it.
            assert_eq!(after, before, "{reason}");
        } else {
            assert_eq!(after, before.map(|n| n + 1), "{reason} is counted");
        }
    }
    let status = node.status().await;
    assert_eq!(status["sync"]["accepted"], 1);
    assert_eq!(status["sync"]["current"], 4);
    // The latest messages, newest first, each with its source and outcome: the last
    // push (too large as a Redis message) leads, the adoption is among them.
    let recent = status["sync"]["recent"].as_array().expect("sync.recent");
    assert!(!recent.is_empty() && recent.len() <= 16, "{recent:?}");
    assert_eq!(recent[0]["source"], "http");
    assert_eq!(recent[0]["outcome"], "too_large");
    assert!(recent[0]["detail"].as_str().is_some_and(|d| !d.is_empty()));
    assert!(
        recent
            .windows(2)
            .all(|w| w[0]["at_ms"].as_u64() >= w[1]["at_ms"].as_u64())
    );
    assert!(
        recent.iter().any(|m| m["outcome"] == "not_preferred"),
        "{recent:?}"
    );
    assert_eq!(
        node.chain().await,
        longer,
        "no refused push changed the chain"
    );
    node.stop().await;
}

/// The router works without a socket (`oneshot`), as the handlers' unit harness.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_answers_oneshot_requests() {
    let node = TestNode::start(config(None)).await;
    let response = node
        .handle
        .router()
        .oneshot(
            Request::builder()
                .uri("/api/blocks/0")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let response = node
        .handle
        .router()
        .oneshot(
            Request::builder()
                .method("POST")
                .uri("/api/mineblock")
                .body(Body::from(r#"{"data": NaN}"#))
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    node.stop().await;
}

/// The status of a POST to `path` sent to `host` as a web page under `origin` sends it
/// (or, with no `origin`, as an API client does), through the node's router.
async fn post_as(
    node: &TestNode,
    path: &str,
    host: &str,
    origin: Option<&str>,
    body: &'static str,
) -> StatusCode {
    let mut request = Request::builder()
        .method("POST")
        .uri(path)
        .header("host", host)
        .header("content-type", "text/plain");
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let request = request.body(Body::from(body)).expect("request");
    node.handle
        .router()
        .oneshot(request)
        .await
        .expect("response")
        .status()
}

/// A page under a name given with `--allow-host` (`allowed_hosts`) may write, as under
/// localhost or an IP address; any other name still may not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_under_an_allowed_host_name_may_write() {
    let node = TestNode::start(NodeConfig {
        allowed_hosts: vec!["miner.lan".into()],
        ..config(None)
    })
    .await;
    for (host, want) in [
        ("MINER.lan:8000", StatusCode::OK),
        ("other.lan:8000", StatusCode::FORBIDDEN),
    ] {
        let origin = format!("http://{host}");
        let got = post_as(
            &node,
            "/api/mineblock",
            host,
            Some(&origin),
            r#"{"data": "page"}"#,
        )
        .await;
        assert_eq!(got, want, "{host}");
    }
    assert_eq!(node.len().await, 2);
    node.stop().await;
}

/// A write from a web page of another site (its `Origin` another host, or `null`), or
/// from a page under a host name the node was not given (DNS rebinding), is refused
/// with 403 before anything is read; the same request from the node's own page (same
/// host) or from a client that sends no `Origin` (curl, Python, peers) is served.
/// Every answer says `nosniff` and forbids framing, and the explorer's and the API
/// description's requests are counted in the metrics like the API's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_writes_are_refused_and_every_route_is_guarded() {
    let node = TestNode::start(config(None)).await;
    let host = node.base.trim_start_matches("http://").to_owned();
    for origin in ["http://evil.example", "http://127.0.0.1:1", "null"] {
        for path in ["/api/mineblock", "/api/chain"] {
            let status = post_as(&node, path, &host, Some(origin), r#"{"data": "forged"}"#).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} from {origin}");
        }
    }
    assert_eq!(node.len().await, 1, "nothing was mined");
    // A page under a name pointed at this node (DNS rebinding): same-site, but the node
    // was not told it has that name.
    let port = host.rsplit_once(':').map_or("80", |(_, port)| port);
    let rebound = format!("rebound.example:{port}");
    let origin = format!("http://{rebound}");
    let status = post_as(
        &node,
        "/api/mineblock",
        &rebound,
        Some(&origin),
        r#"{"data": "rebound"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(node.len().await, 1, "nothing was mined");
    let same_site = format!("http://{host}");
    let status = post_as(
        &node,
        "/api/mineblock",
        &host,
        Some(&same_site),
        r#"{"data": "own page"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let status = post_as(&node, "/api/mineblock", &host, None, r#"{"data": "curl"}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(node.len().await, 3);

    for path in [
        "/",
        "/assets/explorer.js",
        "/api/openapi.json",
        "/api/status",
    ] {
        let response = node
            .handle
            .router()
            .oneshot(
                Request::builder()
                    .uri(path)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .is_ok_and(|csp| csp.contains("frame-ancestors 'none'")),
            "{path}"
        );
    }
    let (_, _, metrics) = node.get("/metrics").await;
    for route in [
        "route=\"/\"",
        "route=\"/assets/explorer.js\"",
        "route=\"/api/openapi.json\"",
    ] {
        assert!(
            metrics
                .lines()
                .any(|line| line.starts_with("minichain_http_requests_total")
                    && line.contains(route)),
            "{route} not counted:\n{metrics}"
        );
    }
    node.stop().await;
}

/// Data nested as deep as allowed is mined, and the chain holding it still reads back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deepest_data_keeps_the_chain_readable() {
    let node = TestNode::start(config(None)).await;
    let depth = minichain::node::http::MAX_DATA_DEPTH;
    let data = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let (code, body) = node.mine(&format!(r#"{{"data": {data}}}"#)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(node.chain().await.len(), 2);
    let deeper = format!("[{data}]");
    let (code, body) = node.mine(&format!(r#"{{"data": {deeper}}}"#)).await;
    assert_eq!(code, 422, "{body}");
    node.stop().await;
}

/// Concurrent POSTs queue in order and get one block each; each answer holds its
/// own block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posts_get_one_block_each() {
    let node = TestNode::start(config(None)).await;
    let posts = (0..8).map(|i| {
        let client = node.client.clone();
        let base = node.url();
        tokio::spawn(async move {
            (
                i,
                post(&client, &base, &format!(r#"{{"data": {{"post": {i}}}}}"#)).await,
            )
        })
    });
    for handle in posts {
        let (i, (code, body)) = handle.await.expect("task");
        assert_eq!(code, 200, "{body}");
        let blocks = parse_chain(&body).expect("chain");
        let mine = Json::parse(&format!(r#"{{"post": {i}}}"#)).expect("json");
        assert_eq!(
            blocks.iter().filter(|b| b.data == mine).count(),
            1,
            "post {i}'s answer holds its block"
        );
    }
    let chain = node.chain().await;
    assert_eq!(chain.len(), 9);
    for i in 0..8 {
        let mine = Json::parse(&format!(r#"{{"post": {i}}}"#)).expect("json");
        assert_eq!(
            chain.iter().filter(|b| b.data == mine).count(),
            1,
            "post {i} mined once"
        );
    }
    ValidChain::validate(chain, RuleSet::Strict, now_ms()).expect("valid");
    node.stop().await;
}

/// While a block is being mined, GETs answer promptly; shutdown cancels the search and
/// the waiting POST gets 503, and the node stops cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gets_answer_while_mining_and_shutdown_cancels() {
    let mut cfg = config(None);
    cfg.fixed_difficulty = Some(Difficulty::new(60));
    let node = TestNode::start(cfg).await;
    let client = node.client.clone();
    let base = node.url();
    let pending = tokio::spawn(async move { post(&client, &base, r#"{"data": "never"}"#).await });
    let queued = {
        let client = node.client.clone();
        let base = node.url();
        tokio::spawn(async move { post(&client, &base, r#"{"data": "queued"}"#).await })
    };
    wait_until(
        "the node mines with one more request queued",
        Duration::from_secs(10),
        || async {
            let s = node.status().await;
            s["mining"]["active"] == true && s["mining"]["queue"] == 2
        },
    )
    .await;
    let mut slowest = Duration::ZERO;
    for _ in 0..50 {
        let started = Instant::now();
        let (code, _, _) = node.get("/api/blocks").await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(code, 200);
    }
    assert!(
        slowest < Duration::from_millis(500),
        "a GET took {slowest:?} while mining"
    );
    assert_eq!(node.status().await["mining"]["pinned_difficulty"], 60);
    node.stop().await;
    let (code, body) = pending.await.expect("task");
    assert_eq!(code, 503, "{body}");
    assert!(error_of(&body).contains("shutting down"));
    assert_eq!(queued.await.expect("task").0, 503);
}
