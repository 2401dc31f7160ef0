//! The HTTP API: the original's two endpoints, byte-compatible, and minichain's own
//! (single blocks, pages, status, health, pushing a chain), each failing with
//! `{"error": "..."}` and a status code that says what went wrong.
//!
//! Every handler reads a [`Snapshot`] and never waits for the writer or the miner
//! (except `POST /api/mineblock`, which waits for its own block on a queue, and
//! `POST /api/chain`, which waits for its chain's verdict from the intake). The
//! `GET /api/blocks` body is written from the snapshot's blocks as it is sent, with its
//! exact `Content-Length` ([`ChainBody`](super::chain_json::ChainBody)).
//!
//! The two POST handlers read their bodies through [`BodyBudget`]: a size limit, a
//! byte budget shared by every connection, and a total time to send the body.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use tokio::sync::watch;
use tower_http::timeout::TimeoutLayer;

use super::address_count::ClientAddress;
use super::body_budget::{BodyBudget, BodyError};
use super::config::{MAX_PAGE, fork_choice_name};
use super::events::{self, EventBus, StreamRefused};
use super::intake::{IntakeSender, Rejection, SyncStats, Verdict};
use super::job_slot::RestartTiming;
use super::metrics::{self, NodeMetrics};
use super::mining::{MineError, MiningHandle};
use super::mining_request::{BadMiningRequest, mining_data};
use super::server::ConnectionCount;
use super::state::Snapshot;
use crate::chain::json::Dialect;
pub use crate::chain::minable::MAX_DATA_DEPTH;
use crate::chain::{DifficultyPolicy, validate::now_ms};
use crate::chain::{ForkChoice, next_difficulty};
use crate::clip::{MESSAGE_CHARS, clip, clip_to};

/// How long a GET may take before it gets 408 (none comes near; this bounds a stuck
/// client's hold on a worker).
const GET_TIMEOUT: Duration = Duration::from_secs(10);

/// Mining requests larger than this are checked on the blocking pool: reading a
/// megabyte of JSON takes milliseconds, which the async workers owe to other clients.
const INLINE_CHECK_BYTES: usize = 64 * 1024;

/// Runs `work` on the blocking pool once one of `turns` is free (one per core: work
/// too long for the async workers, which owe their time to other clients). The turn
/// goes with the work: a client that leaves does not stop it, so its turn lasts as
/// long. `what` names the work in the error a panic in it becomes.
async fn off_the_workers<T: Send + 'static>(
    turns: &Arc<tokio::sync::Semaphore>,
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let turn = Arc::clone(turns)
        .acquire_owned()
        .await
        .map_err(|_| ApiError::Unavailable("the node is shutting down".into()))?;
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        work()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("{what} failed: {e}")))
}

/// What every handler shares; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The current chain.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// The mining queue.
    pub mining: MiningHandle,
    /// Sync message counters.
    pub sync: Arc<SyncStats>,
    /// Redis connection state.
    pub redis: Arc<super::sync::RedisStats>,
    /// The start-up sync's progress and the gap fills.
    pub range: Arc<super::gap_fill::RangeStats>,
    /// The fork-choice rule.
    pub fork_choice: ForkChoice,
    /// The difficulty policy (for the next block's difficulty in the status).
    pub policy: DifficultyPolicy,
    /// The request body limit.
    pub max_body_bytes: usize,
    /// Where pushed chains go to be validated (its size limit is the Redis message
    /// limit, which `POST /api/chain` shares).
    pub intake: IntakeSender,
    /// How the store fares.
    pub store: Arc<super::state::StoreHealth>,
    /// The byte budget and time limit of request bodies (mining requests read theirs
    /// under the whole of it).
    pub bodies: BodyBudget,
    /// The same budget as pushed chains see it: at most
    /// [`UPLOAD_SHARE`](super::body_budget::UPLOAD_SHARE) of it, so that uploads that
    /// only declare large bodies cannot starve mining requests.
    pub uploads: BodyBudget,
    /// Open client connections.
    pub connections: ConnectionCount,
    /// Host names beside `localhost` and IP addresses under which a web page may
    /// change the node ([`same_site_writes`]).
    pub allowed_hosts: Arc<[String]>,
    /// Turns for checking large mining requests on the blocking pool (one per core).
    pub large_checks: Arc<tokio::sync::Semaphore>,
    /// Turns for writing large answers on the blocking pool (one per core): a page of
    /// headers over large data, a block with large data. Apart from `large_checks`, so
    /// that a flood of such GETs does not hold up mining requests.
    pub large_writes: Arc<tokio::sync::Semaphore>,
    /// Places for mining requests, held from before the body is read until the answer
    /// ([`AppState::max_mining_requests`] of them). Why a cap of their own: a request
    /// waits for its block holding its connection, which no timeout ends (at a high
    /// difficulty, for hours), so enough of them would take every slot and leave none
    /// for the reads and the health check; the event streams have half the slots for the
    /// same reason, so from four connections up a quarter is always left to requests
    /// that end soon (below four, the one mining place may take the last slot).
    pub mining_places: Arc<tokio::sync::Semaphore>,
    /// How many places `mining_places` has.
    pub max_mining_requests: usize,
    /// Live events (`GET /api/events`).
    pub events: EventBus,
    /// This node's metrics registry (`GET /metrics`).
    pub metrics: Arc<NodeMetrics>,
}

impl axum::extract::FromRef<AppState> for EventBus {
    fn from_ref(state: &AppState) -> EventBus {
        state.events.clone()
    }
}

impl axum::extract::FromRef<AppState> for Arc<NodeMetrics> {
    fn from_ref(state: &AppState) -> Arc<NodeMetrics> {
        Arc::clone(&state.metrics)
    }
}

impl AppState {
    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshots.borrow())
    }
}

/// Builds the router over `state` (tests call it without a socket), with `pages` (the
/// explorer and the API description, which live in modules of their own) behind the
/// same layers: counted in the metrics, guarded by [`same_site_writes`] and
/// [`security_headers`].
pub fn router(state: AppState, pages: Router<AppState>) -> Router {
    let limit = state.max_body_bytes;
    let reads = Router::new()
        .route("/api/blocks", get(get_blocks))
        .route("/api/blocks/{n}", get(get_block))
        .route("/api/headers", get(get_headers))
        .route("/api/status", get(get_status))
        .route("/healthz", get(healthz))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            GET_TIMEOUT,
        ));
    // No timeout on mining: a block takes as long as the proof of work takes.
    let writes = Router::new().route("/api/mineblock", post(mine_block));
    // A pushed chain may be as large as a Redis message, not just a request body
    // (push_chain reads its body with that limit).
    let pushes = Router::new().route("/api/chain", post(push_chain));
    // No timeout on the event stream: it lasts until the reader or the node goes.
    let live = Router::new()
        .route("/api/events", get(event_stream))
        .route("/metrics", get(metrics::render));
    let tracked = axum::middleware::from_fn_with_state(Arc::clone(&state.metrics), metrics::track);
    reads
        .merge(writes)
        .merge(pushes)
        .merge(live)
        .merge(pages)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.allowed_hosts),
            same_site_writes,
        ))
        .layer(axum::middleware::map_response(security_headers))
        .layer(tracked)
        // The POST handlers read through the body budget; this bounds any extractor
        // a later route might use.
        .layer(DefaultBodyLimit::max(limit))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                // The default span logs the whole URI, which the client chooses.
                |request: &axum::http::Request<_>| {
                    tracing::debug_span!(
                        "request",
                        method = %clip(request.method().as_str()),
                        uri = %clip(&request.uri().to_string()),
                    )
                },
            ),
        )
        .with_state(state)
}

/// Middleware: refuses a request that changes something (any method but GET, HEAD and
/// OPTIONS) when it comes from a web page of another site: its `Origin` header names
/// another host than the one the request was sent to (or is `null`, a sandboxed page);
/// or from a page served under a host name that is not `localhost`, an IP address or
/// one of `allowed` (`--allow-host`).
///
/// Why: a browser lets any page send a "simple" POST (`text/plain`, or no type at all)
/// to `localhost:8000` without asking, and the node would mine a block or weigh a chain
/// for it: a review's page from another port put a block on the chain. Browsers always
/// send `Origin` on such a request; API clients (curl, Python, other nodes) send none,
/// so they are not affected, and the explorer's own requests are same-site. The host
/// names: a site can point its own name at 127.0.0.1 once its page has loaded (DNS
/// rebinding), and its page's requests are then same-site to a local node; a name the
/// node was not told it has is refused.
pub async fn same_site_writes(
    axum::extract::State(allowed): axum::extract::State<Arc<[String]>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe && let Some(origin) = request.headers().get(header::ORIGIN) {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .unwrap_or("");
        let same = origin.to_str().is_ok_and(|origin| {
            origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .is_some_and(|origin_host| {
                    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
                })
        });
        if !same {
            return ApiError::Forbidden(format!(
                "a request from a web page of another site ({}) may not change this node",
                clip(&String::from_utf8_lossy(origin.as_bytes()))
            ))
            .into_response();
        }
        if !host_takes_page_writes(host, &allowed) {
            return ApiError::Forbidden(format!(
                "a web page under the name {} may not change this node (start it with \
                 --allow-host for a name it really has)",
                clip(host)
            ))
            .into_response();
        }
    }
    next.run(request).await
}

/// Whether a web page served under `host` (a `Host` header: a name or an IP address,
/// with or without a port) may change the node: `localhost` and names under it, IPv4
/// and IPv6 addresses, and the names in `allowed`, matched without regard to case.
fn host_takes_page_writes(host: &str, allowed: &[String]) -> bool {
    if host.starts_with('[') {
        // An IPv6 address, as a Host header writes one.
        return host
            .split_once(']')
            .is_some_and(|(address, _)| address[1..].parse::<std::net::Ipv6Addr>().is_ok());
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    name.parse::<std::net::Ipv4Addr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || name
            .len()
            .checked_sub(".localhost".len())
            .is_some_and(|at| {
                name.is_char_boundary(at) && name[at..].eq_ignore_ascii_case(".localhost")
            })
        || allowed
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(name))
}

/// Middleware: headers that keep browsers from reading the node's answers as anything
/// but what they are (`nosniff`) and from framing its page in another site's
/// (`frame-ancestors`, `X-Frame-Options`); the page itself may load only its own
/// script, style and API (`default-src 'self'`), so no injected markup could run.
pub async fn security_headers(mut response: Response) -> Response {
    use axum::http::HeaderValue;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"),
    );
    response
}

/// `GET /api/events`: the node's events as Server-Sent Events (see [`events::stream`]),
/// or 503 while the most streams the node serves at once are open (see
/// [`EventBus::new`] for why they have a cap of their own), or while the client's
/// address holds its share of them ([`EventBus::max_per_address`]).
#[utoipa::path(get, path = "/api/events", tag = "live",
    responses(
        (status = 200, content_type = "text/event-stream",
            description = "Server-Sent Events: `block` (BlockEvent), `mining` (MiningEvent), `reorg` (ReorgEvent), `restart` (RestartEvent), `rejected` (RejectedEvent); `data:` is the event's JSON"),
        (status = 503, description = "As many event streams are open as the node serves at once, or as one client address may hold", body = super::api_docs::ErrorDoc)))]
pub async fn event_stream(
    State(bus): State<EventBus>,
    client: Option<axum::Extension<ClientAddress>>,
) -> Response {
    let reader = match bus.reader(client.map(|axum::Extension(ClientAddress(ip))| ip)) {
        Ok(reader) => reader,
        // The connection goes with the refusal: kept open, idle, it would hold its slot
        // until the idle timeout, and a flood of refused streams would fill the rest.
        Err(StreamRefused::AllOpen) => {
            return closing(ApiError::Unavailable(format!(
                "{} event streams are open, the most this node serves at once; try again later",
                bus.max_readers()
            )));
        }
        Err(StreamRefused::AddressShare) => {
            tracing::debug!("refused an event stream: its address holds its share");
            return closing(ApiError::Unavailable(format!(
                "{} event streams are open from this address, the most one address may hold; \
                 close one first",
                bus.max_per_address()
            )));
        }
    };
    events::stream(&bus, reader).into_response()
}

/// `refusal` as an answer that closes the connection after it (`Connection: close`).
fn closing(refusal: ApiError) -> Response {
    let mut refused = refusal.into_response();
    refused.headers_mut().insert(
        header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    refused
}

/// The answer to a request whose body was refused before it was read whole (over the
/// limit, over the budget, too slow, broken), with the connection closed after it: the
/// rest of the body may still be on its way, and a client that sent the next request
/// on the same connection would have it read as garbage or cut off.
fn body_refused(err: BodyError) -> Response {
    closing(ApiError::from(err))
}

/// A path or query the router's extractors refused (invalid UTF-8 after decoding, say)
/// as our 400, `{"error": ...}` with the text cut, rather than their plain-text one.
fn bad_request(text: &str) -> ApiError {
    ApiError::BadRequest(clip(text).into_owned())
}

/// An API failure: a status code and `{"error": "..."}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A malformed path or query (400).
    #[error("{0}")]
    BadRequest(String),
    /// No such block or route (404).
    #[error("{0}")]
    NotFound(String),
    /// A method the route does not take (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A request a web page of another site made (403): see [`same_site_writes`].
    #[error("{0}")]
    Forbidden(String),
    /// A chain that loses to ours by the fork-choice rule (409).
    #[error("{0}")]
    Conflict(String),
    /// A body over the limit (413).
    #[error("request body is over the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// A pushed chain too large to publish to peers (413).
    #[error("{0}")]
    TooLargeToPublish(String),
    /// A body that did not arrive in time (408).
    #[error("{0}")]
    RequestTimeout(String),
    /// A body that is not a mining request a Python node could take (422).
    #[error("{0}")]
    Unprocessable(String),
    /// The node cannot take the request now (503).
    #[error("{0}")]
    Unavailable(String),
    /// A bug (500).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) | ApiError::TooLargeToPublish(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let text = self.to_string();
        let body = serde_json::json!({ "error": clip_to(&text, MESSAGE_CHARS) });
        (self.status(), axum::Json(body)).into_response()
    }
}

impl From<MineError> for ApiError {
    fn from(err: MineError) -> ApiError {
        match err {
            MineError::ShuttingDown
            | MineError::QueueFull
            | MineError::QueueBytesFull { .. }
            | MineError::StoreFailing
            | MineError::ClientGone => ApiError::Unavailable(err.to_string()),
            MineError::Failed(why) => ApiError::Internal(why),
        }
    }
}

impl From<BadMiningRequest> for ApiError {
    fn from(err: BadMiningRequest) -> ApiError {
        ApiError::Unprocessable(err.0)
    }
}

impl From<BodyError> for ApiError {
    fn from(err: BodyError) -> ApiError {
        match err {
            BodyError::TooLarge(limit) => ApiError::PayloadTooLarge(limit),
            BodyError::Busy { .. } => ApiError::Unavailable(err.to_string()),
            BodyError::TimedOut(_) => ApiError::RequestTimeout(err.to_string()),
            BodyError::Read(_) => ApiError::BadRequest(err.to_string()),
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> ApiError {
        let why = rejection.to_string();
        if let Rejection::TooLarge { limit, .. } = rejection {
            return ApiError::PayloadTooLarge(limit);
        }
        // A replay is answered as its first refusal was.
        match rejection.status_reason() {
            "too_large" => ApiError::TooLargeToPublish(why),
            "not_utf8" | "not_json" | "too_deep" => ApiError::BadRequest(why),
            "not_preferred" => ApiError::Conflict(why),
            "backlog" => ApiError::Unavailable(why),
            "not_stored" => ApiError::Internal(why),
            _ => ApiError::Unprocessable(why),
        }
    }
}

/// The whole chain as the original answers it, streamed with its length.
///
/// The length is measured first, off the async workers when this snapshot's is not
/// known yet (a node just started on a long stored chain, or a chain just adopted,
/// before the publisher measured it): for a million blocks that is a second or more,
/// and on a worker it would stall every connection that worker serves, the health
/// check included. Requests that come while it runs wait for the same one
/// ([`Snapshot::measure`](super::state::Snapshot::measure)).
async fn chain_body(snapshot: Arc<super::state::Snapshot>) -> Result<Response, ApiError> {
    snapshot
        .measure()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        axum::body::Body::new(snapshot.body()),
    )
        .into_response())
}

fn json_bytes(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `GET /api/blocks`: the whole chain from the cache, or a page with `from`/`limit`.
#[utoipa::path(get, path = "/api/blocks", tag = "chain",
    params(
        ("from" = Option<u64>, Query, description = "First block of a page (with or without `limit`)"),
        ("limit" = Option<u64>, Query, description = "Blocks in a page, 1 to 1000 (default 100)"),
    ),
    responses(
        (status = 200, description = "The chain, or a page of it (then with `from`, `limit`, `total`)", body = super::api_docs::ChainDoc),
        (status = 400, description = "A malformed `from` or `limit`", body = super::api_docs::ErrorDoc),
        (status = 404, description = "`from` past the end of the chain", body = super::api_docs::ErrorDoc),
    ))]
pub async fn get_blocks(
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| bad_request(&rejection.body_text()))?;
    let snapshot = state.snapshot();
    if !query.contains_key("from") && !query.contains_key("limit") {
        return chain_body(snapshot).await;
    }
    let total = snapshot.chain().blocks().len();
    let (start, end, limit) = page_of(&query, total)?;
    let head = format!("{{\"from\":{start},\"limit\":{limit},\"total\":{total},\"chain\":");
    // Streamed, not built: a page of large blocks would cost a gigabyte (see PageBody).
    let body = super::chain_json::PageBody::new(snapshot, head.into_bytes(), start..end);
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        axum::body::Body::new(body),
    )
        .into_response())
}

/// The blocks a page asks for (`from`, default 0; `limit`, 1 to [`MAX_PAGE`], default
/// 100) of a chain of `total`: `start..end` and the limit asked.
fn page_of(query: &HashMap<String, String>, total: usize) -> Result<(usize, usize, u64), ApiError> {
    let from = parse_param(query, "from")?.unwrap_or(0);
    let limit = parse_param(query, "limit")?.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE as u64 {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_PAGE}, found {limit}"
        )));
    }
    if from > total as u64 {
        return Err(ApiError::NotFound(format!(
            "from={from} is past the end of the chain ({total} blocks)"
        )));
    }
    let start = usize::try_from(from).unwrap_or(total);
    let end = start
        .saturating_add(usize::try_from(limit).unwrap_or(MAX_PAGE))
        .min(total);
    Ok((start, end, limit))
}

/// The characters of each block's `data` that `GET /api/headers` shows.
pub const PREVIEW_CHARS: usize = 160;

/// `GET /api/headers`: a page of blocks without their data, each with the first
/// [`PREVIEW_CHARS`] characters of it: what a list of blocks shows, at a few hundred
/// bytes a block where a page of the blocks themselves carries their whole data (tens
/// of megabytes for a page of large blocks).
#[utoipa::path(get, path = "/api/headers", tag = "chain",
    params(
        ("from" = Option<u64>, Query, description = "First block of the page (default 0)"),
        ("limit" = Option<u64>, Query, description = "Blocks in the page, 1 to 1000 (default 100)"),
    ),
    responses(
        (status = 200, description = "The page's headers, with `from`, `limit`, `total`", body = super::api_docs::HeadersDoc),
        (status = 400, description = "A malformed `from` or `limit`", body = super::api_docs::ErrorDoc),
        (status = 404, description = "`from` past the end of the chain", body = super::api_docs::ErrorDoc),
    ))]
pub async fn get_headers(
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| bad_request(&rejection.body_text()))?;
    let snapshot = state.snapshot();
    let total = snapshot.chain().blocks().len();
    let (start, end, limit) = page_of(&query, total)?;
    // Measured, the chain knows which blocks' data is compact already: their previews
    // are sliced, not walked.
    snapshot
        .measure()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let data_bytes: usize = (start..end)
        .filter_map(|i| snapshot.chain().blocks().get(i))
        .map(|block| block.data.len())
        .sum();
    let build = move || {
        let blocks = snapshot.chain().blocks();
        let mut out =
            format!("{{\"from\":{start},\"limit\":{limit},\"total\":{total},\"headers\":[")
                .into_bytes();
        for (i, block) in (start..end).filter_map(|i| blocks.get(i)).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            block.write_header(PREVIEW_CHARS, &mut out);
        }
        out.extend_from_slice(b"]}");
        out
    };
    // A preview walks its data no further than the preview, but a long string among
    // the first values is read whole: a page whose data is large is built off the async
    // workers, one per core at a time (turns of their own, not the mining checks').
    let body = if data_bytes <= INLINE_CHECK_BYTES {
        build()
    } else {
        off_the_workers(&state.large_writes, "building the headers", build).await?
    };
    Ok(json_bytes(body.into()))
}

fn parse_param(query: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    match query.get(name) {
        None => Ok(None),
        Some(text) => text.parse::<u64>().map(Some).map_err(|_| {
            ApiError::BadRequest(format!(
                "{name} must be a non-negative integer, found {:?}",
                clip(text)
            ))
        }),
    }
}

/// `GET /api/blocks/{n}`: one block.
#[utoipa::path(get, path = "/api/blocks/{n}", tag = "chain",
    params(("n" = u64, Path, description = "The block's number (0 is genesis)")),
    responses(
        (status = 200, description = "The block", body = super::api_docs::BlockDoc),
        (status = 400, description = "`n` is not a non-negative integer", body = super::api_docs::ErrorDoc),
        (status = 404, description = "No such block", body = super::api_docs::ErrorDoc),
    ))]
pub async fn get_block(
    State(state): State<AppState>,
    n: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(n) = n.map_err(|rejection| bad_request(&rejection.body_text()))?;
    let index: u64 = n.parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "block number must be a non-negative integer, found {:?}",
            clip(&n)
        ))
    })?;
    let snapshot = state.snapshot();
    let blocks = snapshot.chain().blocks();
    let (i, block) = usize::try_from(index)
        .ok()
        .and_then(|i| Some((i, blocks.get(i)?)))
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no block {index}: the chain has {} blocks (0 to {})",
                blocks.len(),
                blocks.len() - 1
            ))
        })?;
    if block.data.len() <= INLINE_CHECK_BYTES {
        let mut out = Vec::with_capacity(512);
        block.write(Dialect::Compact, &mut out);
        return Ok(json_bytes(out.into()));
    }
    // A block from a peer may hold tens of megabytes of data written in another
    // dialect: writing it takes milliseconds, which the async workers owe to other
    // clients. Off them, one per core at a time.
    let out = off_the_workers(&state.large_writes, "writing the block", move || {
        let mut out = Vec::new();
        snapshot
            .chain()
            .blocks()
            .get(i)
            .expect("the block was found in this snapshot above")
            .write(Dialect::Compact, &mut out);
        out
    })
    .await?;
    Ok(json_bytes(out.into()))
}

/// `/api/status`'s body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Status {
    /// The tip's `block_no`.
    pub height: u64,
    /// Blocks, genesis included.
    pub length: usize,
    /// The tip's hash.
    pub tip_hash: String,
    /// The tip's difficulty.
    pub difficulty: u32,
    /// The difficulty a block mined now would get (unless pinned).
    pub next_difficulty: u32,
    /// Cumulative work (sum of 2^difficulty), in decimal.
    pub work: String,
    /// `work` or `length`.
    pub fork_choice: &'static str,
    /// Chain changes since start.
    pub version: u64,
    /// The miner.
    pub mining: MiningStatus,
    /// The Redis link.
    pub redis: RedisStatus,
    /// Chains received from the network.
    pub sync: SyncStatus,
    /// The chain on disk.
    pub store: StoreStatus,
    /// Client connections and the bodies being read.
    pub http: HttpStatus,
}

/// The store's part of [`Status`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StoreStatus {
    /// The data directory, or null when the node keeps nothing on disk.
    pub data_dir: Option<String>,
    /// `ok`, `failing` (the last write failed: changes are refused until one works),
    /// or `off`.
    pub state: &'static str,
    /// The last write error since start, if any.
    pub last_error: Option<String>,
}

/// The HTTP server's part of [`Status`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HttpStatus {
    /// Client connections open (this request's included).
    pub connections: usize,
    /// The cap on open connections.
    pub max_connections: usize,
    /// The cap on open connections from one client address (an IPv4 address, an IPv6
    /// /64).
    pub max_connections_per_ip: usize,
    /// Connections refused (503, closed) because their address had its share open.
    pub refused_per_ip: u64,
    /// The cap on event streams open from one client address.
    pub max_streams_per_ip: usize,
    /// Event streams refused (503) because their address held its share.
    pub refused_streams_per_ip: u64,
    /// The cap on mining requests open at once (a quarter of the connections, at least
    /// one).
    pub max_mining_requests: usize,
    /// Bytes of request bodies held now, of [`HttpStatus::body_budget_bytes`].
    pub body_bytes: usize,
    /// The cap on bytes of request bodies held at once.
    pub body_budget_bytes: usize,
}

/// The miner's part of [`Status`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MiningStatus {
    /// Whether a search runs now.
    pub active: bool,
    /// Attempts per second over the last second.
    pub hash_rate: f64,
    /// Requests waiting, the one being mined included.
    pub queue: usize,
    /// Bytes of data the waiting requests hold.
    pub queue_bytes: usize,
    /// Mining threads.
    pub threads: usize,
    /// SHA-256 kernel.
    pub kernel: &'static str,
    /// Blocks mined since start.
    pub blocks_mined: u64,
    /// Requests taken out of the queue before their turn because their clients went
    /// (each cancels its request).
    pub withdrawn: u64,
    /// Searches restarted on a new tip.
    pub restarts: u64,
    /// Stale work since start: attempts spent on jobs after their tip was replaced
    /// (from the writer's cancel to each worker's stop); the last restart's share is
    /// in `last_restart.stale_attempts`.
    pub stale_attempts: u64,
    /// The pinned difficulty (benchmarks), if any.
    pub pinned_difficulty: Option<u32>,
    /// The last restart's latency.
    pub last_restart: Option<RestartTiming>,
}

/// The Redis part of [`Status`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RedisStatus {
    /// Whether the node uses Redis.
    pub enabled: bool,
    /// Whether the subscription is up.
    pub connected: bool,
    /// Resubscriptions after a lost connection.
    pub reconnects: u64,
    /// Chains published.
    pub published: u64,
    /// Publishes that failed.
    pub publish_errors: u64,
    /// Answers sent to peers that published a worse chain.
    pub answers: u64,
    /// Answers withheld (our tip went out within the interval, or another node
    /// answered first).
    pub answers_withheld: u64,
    /// Block announcements (`minichain:blocks`) and the block log.
    pub announcements: super::announce::AnnounceStatus,
    /// Whole chains on `BLOCKCHAIN` for Python peers (null without Redis).
    pub seed_compat: Option<super::seed_compat::SeedCompatStatus>,
}

/// The sync part of [`Status`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SyncStatus {
    /// Chains adopted.
    pub accepted: u64,
    /// Messages that were exactly our chain (our own, echoed).
    pub current: u64,
    /// Refused messages by reason.
    #[schema(value_type = std::collections::BTreeMap<String, u64>)]
    pub rejected: std::collections::BTreeMap<&'static str, u64>,
    /// The last refusal's reason, in words.
    pub last_rejection: Option<String>,
    /// The latest chain messages from peers (Redis, the root, pushes), newest first,
    /// each with its outcome.
    pub recent: Vec<super::intake::RecentMessage>,
    /// The start-up sync from the root, in pages: state and progress.
    pub startup: super::gap_fill::FillStatus,
    /// Ranges fetched for announced tips whose parent we lacked.
    pub gap_fill: super::gap_fill::GapFillStatus,
}

/// Assembles `/api/status` from the snapshot and the counters.
pub fn status(state: &AppState) -> Status {
    let snapshot = state.snapshot();
    let chain = snapshot.chain();
    let tip = chain.tip();
    let mining = &state.mining;
    let stats = mining.stats();
    Status {
        height: tip.block_no,
        length: chain.len(),
        tip_hash: tip.hash.clone(),
        difficulty: tip.difficulty.bits(),
        next_difficulty: mining
            .pinned_difficulty()
            .unwrap_or_else(|| {
                next_difficulty(tip.difficulty, tip.timestamp, now_ms(), &state.policy)
            })
            .bits(),
        work: chain.work().to_string(),
        fork_choice: fork_choice_name(state.fork_choice),
        version: snapshot.version(),
        mining: MiningStatus {
            active: mining.is_mining(),
            hash_rate: stats.hash_rate(),
            queue: stats.queue_len(),
            queue_bytes: stats.queue_bytes(),
            threads: mining.threads(),
            kernel: mining.kernel(),
            blocks_mined: stats.blocks_mined(),
            withdrawn: stats.withdrawn(),
            restarts: stats.restarts(),
            stale_attempts: stats.stale_attempts(),
            pinned_difficulty: mining.pinned_difficulty().map(|d| d.bits()),
            last_restart: stats.last_restart(),
        },
        redis: RedisStatus {
            enabled: state.redis.enabled(),
            connected: state.redis.connected(),
            reconnects: state.redis.reconnects(),
            published: state.redis.published(),
            publish_errors: state.redis.publish_errors(),
            answers: state.redis.answers().sent(),
            answers_withheld: state.redis.answers().withheld(),
            announcements: state.redis.announce().status(),
            seed_compat: state.redis.seed_compat().map(|c| c.status()),
        },
        sync: SyncStatus {
            accepted: state.sync.accepted(),
            current: state.sync.current(),
            rejected: state.sync.rejected(),
            last_rejection: state.sync.last_rejection(),
            recent: state.sync.recent(),
            startup: state.range.startup.status(),
            gap_fill: state.range.gap_status(),
        },
        store: StoreStatus {
            data_dir: state.store.data_dir().map(|d| d.display().to_string()),
            state: state.store.state(),
            last_error: state.store.last_error(),
        },
        http: HttpStatus {
            connections: state.connections.open(),
            max_connections: state.connections.max(),
            max_connections_per_ip: state.connections.max_per_address(),
            refused_per_ip: state.connections.refused_per_address(),
            max_streams_per_ip: state.events.max_per_address(),
            refused_streams_per_ip: state.events.refused_per_address(),
            max_mining_requests: state.max_mining_requests,
            body_bytes: state.bodies.budget() - state.bodies.available(),
            body_budget_bytes: state.bodies.budget(),
        },
    }
}

/// `GET /api/status`.
#[utoipa::path(get, path = "/api/status", tag = "node",
    responses((status = 200, description = "The node's state", body = Status)))]
pub async fn get_status(State(state): State<AppState>) -> axum::Json<Status> {
    axum::Json(status(&state))
}

/// `GET /healthz`: 200 while the node is up and can keep what it adopts, 503 while
/// its store fails to take writes.
///
/// Why a failing store is not healthy: after a write error (a full disk, say) the store
/// refuses every later write until the node restarts, so the node would run on with
/// blocks it cannot keep; a supervisor that watches this restarts it.
#[utoipa::path(get, path = "/healthz", tag = "node",
    responses(
        (status = 200, description = "The node is up", body = super::api_docs::HealthDoc),
        (status = 503, description = "The node's store fails to take writes (see /api/status); a restart reopens it", body = super::api_docs::ErrorDoc)))]
pub async fn healthz(State(state): State<AppState>) -> Response {
    if state.store.is_failing() {
        let why = state.store.last_error().unwrap_or_default();
        return ApiError::Unavailable(format!("the store fails to take writes: {}", clip(&why)))
            .into_response();
    }
    json_bytes(Bytes::from_static(b"{\"status\":\"ok\"}"))
}

/// `POST /api/mineblock`: mines one block with the body's `data` (missing: `""`) and
/// answers the chain holding it.
#[utoipa::path(post, path = "/api/mineblock", tag = "chain",
    request_body(content = super::api_docs::MineRequestDoc, description = "`data`: any JSON a Python node can take (missing: `\"\"`)"),
    responses(
        (status = 200, description = "The chain holding the new block", body = super::api_docs::ChainDoc),
        (status = 400, description = "The body could not be read", body = super::api_docs::ErrorDoc),
        (status = 408, description = "The body did not arrive in time", body = super::api_docs::ErrorDoc),
        (status = 413, description = "The body is over the limit", body = super::api_docs::ErrorDoc),
        (status = 422, description = "Not a mining request a Python node could take", body = super::api_docs::ErrorDoc),
        (status = 500, description = "The miner failed (a bug), or the store could not keep the block", body = super::api_docs::ErrorDoc),
        (status = 503, description = "The queue is full, a quarter of the connections are mining requests already, the store fails to take writes, or the node shuts down", body = super::api_docs::ErrorDoc),
    ))]
pub async fn mine_block(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // Closed with the refusal, as a refused stream is: the body may still be coming.
    let Ok(_place) = Arc::clone(&state.mining_places).try_acquire_owned() else {
        return Ok(closing(ApiError::Unavailable(format!(
            "{} mining requests are open, the most this node takes at once; try again later",
            state.max_mining_requests
        ))));
    };
    let body = match state
        .bodies
        .read(&headers, body, state.max_body_bytes)
        .await
    {
        Ok(body) => body,
        Err(err) => return Ok(body_refused(err)),
    };
    // The body (and its share of the budget) goes before the wait: the queue holds
    // only the data's text.
    let data = if body.bytes.len() <= INLINE_CHECK_BYTES {
        let data = mining_data(&body.bytes);
        drop(body);
        data?
    } else {
        // At most one check per core at a time: each holds a few times its body while
        // it reads, and the rest wait holding only their bodies (in the budget).
        off_the_workers(
            &state.large_checks,
            "checking the mining request",
            move || {
                // The whole body, its share of the budget with it (a closure would take
                // only the field it names): given back when the check ends, whether or
                // not the client is still there, and before the wait for the block.
                let body = body;
                mining_data(&body.bytes)
            },
        )
        .await??
    };
    let snapshot = state.mining.mine(data).await?;
    chain_body(snapshot).await
}

/// `POST /api/chain`'s answer when the chain is ours now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PushAnswer {
    /// `adopted` (it replaced our chain) or `current` (it already was our chain).
    #[schema(value_type = String)]
    pub result: &'static str,
    /// Blocks in our chain now, genesis included.
    pub length: usize,
    /// Our tip's hash now.
    pub tip_hash: String,
}

/// `POST /api/chain`: offers a chain (`{"chain": [...]}` as `GET /api/blocks` answers,
/// or a bare array as Redis carries) to the node, which validates it and adopts it
/// by the fork-choice rule, exactly as a chain from Redis: a running search restarts
/// on it, and the node publishes it to its Redis peers. A chain that is valid but not
/// preferred gets 409; an invalid one 422; one that is not JSON 400.
#[utoipa::path(post, path = "/api/chain", tag = "chain",
    request_body(content = super::api_docs::ChainDoc, description = "`{\"chain\": [...]}` or a bare array of blocks"),
    responses(
        (status = 200, description = "The chain is ours now", body = PushAnswer),
        (status = 400, description = "Not JSON, not UTF-8, or nested too deeply", body = super::api_docs::ErrorDoc),
        (status = 408, description = "The body did not arrive in time", body = super::api_docs::ErrorDoc),
        (status = 409, description = "Ours is at least as good by the fork-choice rule", body = super::api_docs::ErrorDoc),
        (status = 413, description = "Over the message limit", body = super::api_docs::ErrorDoc),
        (status = 422, description = "Not a valid chain", body = super::api_docs::ErrorDoc),
        (status = 503, description = "The intake is busy or the node shuts down", body = super::api_docs::ErrorDoc),
    ))]
pub async fn push_chain(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // The body keeps its share of the budget until the verdict, in the intake's hands:
    // a client that goes does not free the share of bytes still held there.
    let body = match state
        .uploads
        .read(&headers, body, state.intake.max_bytes())
        .await
    {
        Ok(body) => body,
        Err(err) => return Ok(body_refused(err)),
    };
    let verdict = state
        .intake
        .submit_pushed(body)
        .await
        .ok_or_else(|| {
            ApiError::Unavailable(
                "the node could not take the chain: it is shutting down, or validation failed on a bug (see its log)".into(),
            )
        })?;
    let result = match verdict {
        Verdict::Adopted => "adopted",
        Verdict::Current => "current",
        Verdict::Rejected(rejection) => return Err(rejection.into()),
    };
    let snapshot = state.snapshot();
    let answer = PushAnswer {
        result,
        length: snapshot.chain().len(),
        tip_hash: snapshot.chain().tip().hash.clone(),
    };
    Ok(axum::Json(answer).into_response())
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!(
        "no route for {} {}",
        clip(method.as_str()),
        clip(uri.path())
    ))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{} is not allowed on {}",
        clip(method.as_str()),
        clip(uri.path())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain whose length is not measured yet is measured off the async thread: on a
    /// one-thread runtime, a task spawned before the request runs while the request
    /// waits for the length (measured on the thread itself, it could not run until the
    /// whole answer was ready), and the answer carries the measured length.
    #[tokio::test(flavor = "current_thread")]
    async fn the_chain_is_measured_off_the_async_thread() {
        let chain = crate::miner::synthetic::synthetic_valid_chain(2_000);
        let snapshot = Arc::new(super::super::state::Snapshot::of_chain(chain));
        assert!(!snapshot.is_measured());
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let other = {
            let ran = Arc::clone(&ran);
            tokio::spawn(async move { ran.store(true, std::sync::atomic::Ordering::SeqCst) })
        };
        let response = chain_body(Arc::clone(&snapshot))
            .await
            .expect("the chain's answer");
        assert!(
            ran.load(std::sync::atomic::Ordering::SeqCst),
            "the other task waited for the measurement"
        );
        assert!(snapshot.is_measured());
        assert_eq!(
            axum::body::HttpBody::size_hint(response.body()).exact(),
            Some(snapshot.body_len())
        );
        other.await.expect("the other task ends");
    }

    /// Each error variant maps to its status.
    #[test]
    fn error_statuses() {
        assert_eq!(ApiError::BadRequest(String::new()).status(), 400);
        assert_eq!(ApiError::NotFound(String::new()).status(), 404);
        assert_eq!(ApiError::MethodNotAllowed(String::new()).status(), 405);
        assert_eq!(ApiError::Conflict(String::new()).status(), 409);
        assert_eq!(ApiError::PayloadTooLarge(1).status(), 413);
        assert_eq!(ApiError::Unprocessable(String::new()).status(), 422);
        assert_eq!(ApiError::Unavailable(String::new()).status(), 503);
        assert_eq!(ApiError::Internal(String::new()).status(), 500);
    }

    /// Pages under localhost, an IP address or an allowed name may write; under any
    /// other name (a rebound one), or a malformed host, not.
    #[test]
    fn page_writes_by_host_name() {
        let allowed: Vec<String> = vec!["Node.Example".into()];
        for host in [
            "localhost",
            "LOCALHOST:8000",
            "app.localhost:8000",
            "127.0.0.1",
            "127.0.0.1:8000",
            "10.1.2.3:80",
            "[::1]:8000",
            "[fe80::1]",
            "node.example:8000",
            "node.example.",
            "é.localhost",
        ] {
            assert!(host_takes_page_writes(host, &allowed), "{host}");
        }
        for host in [
            "",
            "evil.example:8000",
            "localhost.evil.example",
            "evillocalhost",
            "127.0.0.1.evil.example",
            "other.node.example",
            "[::1",
            "[not-an-address]:80",
            "node.example:80x",
            "é.local",
        ] {
            assert!(!host_takes_page_writes(host, &allowed), "{host}");
        }
        assert!(!host_takes_page_writes("node.example", &[]));
    }
}
