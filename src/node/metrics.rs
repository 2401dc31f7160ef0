//! `GET /metrics`: the node's counters in the Prometheus text format (0.0.4).
//!
//! Why `prometheus-client` with a [`Registry`] per node: no global recorder, so two
//! nodes in one process (the tests run many) keep their own numbers. Most values are
//! counters the node keeps anyway (atomics in the miner, the mining queue, the sync
//! and Redis stats): a [`Collector`] reads them at scrape time, so nothing on the
//! mining or restart path does any work for the metrics. Only the HTTP layer records
//! here, per request: a counter and a latency histogram by route, method and status.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use super::intake::SyncStats;
use super::mining::MiningStats;
use super::state::Snapshot;
use super::sync::RedisStats;
use crate::miner::Progress;

/// What the collector reads at scrape time.
#[derive(Debug, Clone)]
pub struct MetricSources {
    /// The chain.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// The miner's attempt counters.
    pub progress: Arc<Progress>,
    /// The mining queue's counters.
    pub mining: Arc<MiningStats>,
    /// Sync message counters.
    pub sync: Arc<SyncStats>,
    /// Redis link counters.
    pub redis: Arc<RedisStats>,
}

/// The labels of an HTTP request's metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route's pattern (`/api/blocks/:n`), or `unmatched`: never the raw path,
    /// which a client could use to grow the label set without bound. Parameters are
    /// written `:n`, not `{n}`: braces are valid in a label value, but some parsers
    /// of the format (the `prometheus-parse` crate) drop such lines.
    pub route: String,
    /// The method: one of the standard ones, or `other` (hyper takes any token as a
    /// method, and each new label would be a series kept for good).
    pub method: &'static str,
    /// The status code.
    pub status: u16,
}

/// Request latency buckets, seconds: 100 µs to about 100 s (mining waits).
fn latency_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.0001, 4.0, 11)
}

/// One node's registry and the HTTP metrics it records.
#[derive(Debug)]
pub struct NodeMetrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

impl NodeMetrics {
    /// A registry over `sources`.
    pub fn new(sources: MetricSources) -> NodeMetrics {
        let mut registry = Registry::with_prefix("minichain");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(latency_buckets()));
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency (to the response head), by route, method and status",
            latency.clone(),
        );
        registry.register_collector(Box::new(NodeCollector(sources)));
        NodeMetrics {
            registry,
            requests,
            latency,
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        // Writing to a String cannot fail; an encoder error would be a bug in it.
        if let Err(err) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::error!(%err, "metrics did not encode");
        }
        out
    }

    fn record(&self, labels: RouteLabels, seconds: f64) {
        self.latency.get_or_create(&labels).observe(seconds);
        self.requests.get_or_create(&labels).inc();
    }
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "live",
    responses((status = 200, content_type = "text/plain; version=0.0.4; charset=utf-8", body = String,
        description = "The node's metrics in the Prometheus text format")))]
pub async fn render(State(metrics): State<Arc<NodeMetrics>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}

/// Middleware: counts and times every request by its route's pattern.
pub async fn track(
    State(metrics): State<Arc<NodeMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| route_label(p.as_str()));
    let method = method_label(request.method());
    let response = next.run(request).await;
    metrics.record(
        RouteLabels {
            route,
            method,
            status: response.status().as_u16(),
        },
        started.elapsed().as_secs_f64(),
    );
    response
}

/// A method as a label: the standard methods by name, any other token `other`, so a
/// client cannot grow the label set.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    let standard = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::PATCH, "PATCH"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    standard
        .iter()
        .find(|(known, _)| known == method)
        .map_or("other", |&(_, label)| label)
}

/// `/api/blocks/{n}` → `/api/blocks/:n`.
fn route_label(pattern: &str) -> String {
    pattern.replace('{', ":").replace('}', "")
}

#[derive(Debug)]
struct NodeCollector(MetricSources);

fn gauge<V: prometheus_client::encoding::EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: V,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for NodeCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        let snapshot = Arc::clone(&s.snapshots.borrow());
        let chain = snapshot.chain();
        let tip = chain.tip();
        gauge(&mut e, "chain_height", "The tip's block_no", tip.block_no)?;
        gauge(
            &mut e,
            "chain_difficulty",
            "The tip's difficulty (leading zero bits)",
            tip.difficulty.bits(),
        )?;
        // Work is a 256-bit sum; as a float it keeps its magnitude, which is what a
        // graph needs.
        let work: f64 = chain.work().to_string().parse().unwrap_or(f64::INFINITY);
        gauge(
            &mut e,
            "chain_work",
            "Cumulative work of the chain (sum of 2^difficulty)",
            work,
        )?;
        counter(
            &mut e,
            "chain_changes",
            "Chain changes since start",
            snapshot.version(),
        )?;
        gauge(
            &mut e,
            "mining_active",
            "1 while a search runs",
            u64::from(s.progress.is_mining()),
        )?;
        gauge(
            &mut e,
            "mining_hash_rate",
            "Attempts per second over the last second",
            s.mining.hash_rate(),
        )?;
        counter(
            &mut e,
            "mining_attempts",
            "Attempts since start, every thread",
            s.progress.total_attempts(),
        )?;
        counter(
            &mut e,
            "mining_blocks_mined",
            "Blocks mined and added to the chain",
            s.mining.blocks_mined(),
        )?;
        counter(
            &mut e,
            "mining_stale_attempts",
            "Attempts spent on a job after its tip was replaced",
            s.mining.stale_attempts(),
        )?;
        counter(
            &mut e,
            "mining_restarts",
            "Searches restarted on a new tip from the network",
            s.mining.restarts(),
        )?;
        let latency_sum = s.mining.restart_latency_us_total() as f64 / 1e6;
        let latency = ConstCounter::new(latency_sum);
        latency.encode(e.encode_descriptor(
            "mining_restart_latency_seconds",
            "Sum of restart latencies (message received to new search); divide by restarts for the mean",
            None,
            latency.metric_type(),
        )?)?;
        let last = s
            .mining
            .last_restart()
            .map_or(0.0, |t| t.received_to_restart_us as f64 / 1e6);
        gauge(
            &mut e,
            "mining_last_restart_latency_seconds",
            "The last restart's latency",
            last,
        )?;
        gauge(
            &mut e,
            "mining_queue",
            "Mining requests waiting, the running one included",
            s.mining.queue_len() as u64,
        )?;

        let sync = ConstCounter::new(0u64);
        let mut family = e.encode_descriptor(
            "sync_messages",
            "Chains received from the network, by outcome (accepted, current, or the rejection reason)",
            None,
            sync.metric_type(),
        )?;
        let mut outcomes = vec![
            ("accepted", s.sync.accepted()),
            ("current", s.sync.current()),
        ];
        outcomes.extend(s.sync.rejected());
        for (outcome, count) in outcomes {
            let labels = [("outcome", outcome)];
            ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
        }
        counter(
            &mut e,
            "redis_reconnects",
            "Redis resubscriptions after a lost connection",
            s.redis.reconnects(),
        )?;
        gauge(
            &mut e,
            "redis_connected",
            "1 while the Redis subscription is up",
            u64::from(s.redis.connected()),
        )?;
        counter(
            &mut e,
            "redis_published",
            "Chains published to Redis",
            s.redis.published(),
        )?;
        counter(
            &mut e,
            "redis_publish_errors",
            "Publishes to Redis that failed",
            s.redis.publish_errors(),
        )?;
        let announce = s.redis.announce();
        counter(
            &mut e,
            "announce_published",
            "Block announcements of our tips sent",
            announce.published(),
        )?;
        counter(
            &mut e,
            "announce_published_bytes",
            "Bytes of the block announcements sent",
            announce.published_bytes(),
        )?;
        counter(
            &mut e,
            "announce_received",
            "Block announcements received from peers (live or from the block log)",
            announce.received(),
        )?;
        counter(
            &mut e,
            "announce_applied",
            "Block announcements whose blocks extended our chain",
            announce.applied(),
        )?;
        counter(
            &mut e,
            "announce_gap_requests",
            "Announced tips whose parent we lack, handed to the range fetch",
            announce.gaps(),
        )?;
        counter(
            &mut e,
            "announce_log_read",
            "Entries read back from the block log",
            announce.log_read(),
        )?;
        if let Some(compat) = s.redis.seed_compat() {
            gauge(
                &mut e,
                "seed_compat_active",
                "1 while whole chains are published on BLOCKCHAIN for Python peers",
                u64::from(compat.active()),
            )?;
            counter(
                &mut e,
                "seed_compat_withheld_over_limit",
                "Whole-chain publishes withheld because the message was over the limit",
                compat.withheld_over_limit(),
            )?;
        }
        Ok(())
    }
}
