//! Prometheus metrics, exposed on `/metrics`.
//!
//! Labels never carry prompt text, keys or tenant-supplied free text: only
//! fixed vocabularies (api, decision, guard id, error kind, status class).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// A label set of `N` labels. Values from fixed vocabularies are borrowed
/// `'static` strings, so counting a request builds its key on the stack
/// without allocating; only runtime names (detector ids, workers) are owned.
type Labels<const N: usize> = [(&'static str, Cow<'static, str>); N];

const STATUS_CLASSES: [&str; 6] = ["0xx", "1xx", "2xx", "3xx", "4xx", "5xx"];

/// `"2xx"` and the like, without formatting.
fn status_class(status: u16) -> Cow<'static, str> {
    match STATUS_CLASSES.get(usize::from(status / 100)) {
        Some(c) => Cow::Borrowed(c),
        None => Cow::Owned(format!("{}xx", status / 100)),
    }
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~26 s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
}

/// All proxy metrics. Cheap to clone (everything is `Arc` inside).
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<Labels<2>, Counter>,
    decisions: Family<Labels<2>, Counter>,
    errors: Family<Labels<1>, Counter>,
    guard_latency: Family<Labels<1>, Histogram, fn() -> Histogram>,
    /// The guard stages' series, looked up once: a stream observes one per
    /// scanned window, and a family lookup hashes and locks each time.
    guard_stages: [(&'static str, Histogram); 4],
    guard_failures: Family<Labels<2>, Counter>,
    upstream_latency: Family<Labels<1>, Histogram, fn() -> Histogram>,
    /// Upstream latency histograms by upstream name, so that observing one
    /// needs no owned label key (the names are config, not `'static`).
    upstream_by_name: Arc<parking_lot::RwLock<HashMap<String, Histogram>>>,
    request_latency: Family<Labels<1>, Histogram, fn() -> Histogram>,
    unscanned_bytes: Counter<u64, AtomicU64>,
    open_connections: Gauge,
    worker_connections: Family<Labels<1>, Gauge>,
    inflight: Gauge,
    audit_failures: Counter,
    policy_errors: Counter,
    telemetry_exported: Counter,
    telemetry_dropped: Family<Labels<1>, Counter>,
    review_upkeep: Family<Labels<1>, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric in a fresh registry.
    pub fn new() -> Self {
        let mut r = Registry::default();
        let requests = Family::default();
        r.register(
            "menshen_requests",
            "Requests by API and HTTP status class",
            requests.clone(),
        );
        let decisions = Family::default();
        r.register(
            "menshen_decisions",
            "Decisions by direction and action",
            decisions.clone(),
        );
        let errors = Family::default();
        r.register(
            "menshen_errors",
            "Error responses by stable reason code",
            errors.clone(),
        );
        let guard_latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        r.register(
            "menshen_guard_latency_seconds",
            "Time spent in each guard stage",
            guard_latency.clone(),
        );
        let guard_stages = ["input", "decision", "output", "output_stream"].map(|stage| {
            (
                stage,
                guard_latency
                    .get_or_create(&[("guard", Cow::Borrowed(stage))])
                    .clone(),
            )
        });
        let guard_failures = Family::default();
        r.register(
            "menshen_guard_failures",
            "Guard errors and timeouts by guard and kind",
            guard_failures.clone(),
        );
        let upstream_latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        r.register(
            "menshen_upstream_latency_seconds",
            "Time to upstream response headers",
            upstream_latency.clone(),
        );
        let request_latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        r.register(
            "menshen_request_latency_seconds",
            "Time from request to response headers, by API",
            request_latency.clone(),
        );
        let unscanned_bytes = Counter::<u64, AtomicU64>::default();
        r.register(
            "menshen_unscanned_response_bytes",
            "Response bytes delivered to clients without output scanning; stays 0 unless config allows it",
            unscanned_bytes.clone(),
        );
        let open_connections = Gauge::default();
        r.register(
            "menshen_open_connections",
            "Client connections open now",
            open_connections.clone(),
        );
        let worker_connections = Family::default();
        r.register(
            "menshen_worker_connections",
            "Client connections open now, by request-serving thread (a connection stays on one)",
            worker_connections.clone(),
        );
        let inflight = Gauge::default();
        r.register(
            "menshen_inflight_requests",
            "Proxied requests being handled now, streamed response bodies included",
            inflight.clone(),
        );
        let audit_failures = Counter::default();
        r.register(
            "menshen_audit_failures",
            "Audit records that could not be written",
            audit_failures.clone(),
        );
        let policy_errors = Counter::default();
        r.register(
            "menshen_policy_errors",
            "Policy evaluations that failed or returned malformed decisions",
            policy_errors.clone(),
        );
        let telemetry_exported = Counter::default();
        r.register(
            "menshen_telemetry_spans_exported",
            "Trace spans accepted by the OTLP collector",
            telemetry_exported.clone(),
        );
        let telemetry_dropped = Family::default();
        r.register(
            "menshen_telemetry_spans_dropped",
            "Trace spans dropped, by reason (queue_full, export_failed)",
            telemetry_dropped.clone(),
        );
        let review_upkeep = Family::default();
        r.register(
            "menshen_review_upkeep",
            "Review queue upkeep: cases closed as expired, decided cases deleted past retention, outcomes audited late after a failed audit write, failed passes (event)",
            review_upkeep.clone(),
        );
        Metrics {
            registry: Arc::new(r),
            requests,
            decisions,
            errors,
            guard_latency,
            guard_stages,
            guard_failures,
            upstream_latency,
            upstream_by_name: Arc::default(),
            request_latency,
            unscanned_bytes,
            open_connections,
            worker_connections,
            inflight,
            audit_failures,
            policy_errors,
            telemetry_exported,
            telemetry_dropped,
            review_upkeep,
        }
    }

    /// Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Counts a finished request.
    pub fn request(&self, api: &'static str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&[
                ("api", Cow::Borrowed(api)),
                ("status", status_class(status)),
            ])
            .inc();
        self.request_latency
            .get_or_create(&[("api", Cow::Borrowed(api))])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a decision.
    pub fn decision(&self, direction: &'static str, action: &'static str) {
        self.decisions
            .get_or_create(&[
                ("direction", Cow::Borrowed(direction)),
                ("action", Cow::Borrowed(action)),
            ])
            .inc();
    }

    /// Counts an error response.
    pub fn error(&self, code: &'static str) {
        self.errors
            .get_or_create(&[("code", Cow::Borrowed(code))])
            .inc();
    }

    /// Observes a guard stage's latency.
    pub fn guard_latency(&self, guard: &'static str, elapsed: Duration) {
        match self.guard_stages.iter().find(|(stage, _)| *stage == guard) {
            Some((_, h)) => h.observe(elapsed.as_secs_f64()),
            None => self
                .guard_latency
                .get_or_create(&[("guard", Cow::Borrowed(guard))])
                .observe(elapsed.as_secs_f64()),
        }
    }

    /// Counts a guard failure.
    pub fn guard_failure(&self, guard: &str, kind: &'static str) {
        self.guard_failures
            .get_or_create(&[
                ("guard", Cow::Owned(guard.to_owned())),
                ("kind", Cow::Borrowed(kind)),
            ])
            .inc();
    }

    /// Observes upstream time to headers.
    pub fn upstream_latency(&self, upstream: &str, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(h) = self.upstream_by_name.read().get(upstream) {
            h.observe(secs);
            return;
        }
        let h = self
            .upstream_latency
            .get_or_create(&[("upstream", Cow::Owned(upstream.to_owned()))])
            .clone();
        h.observe(secs);
        self.upstream_by_name.write().insert(upstream.to_owned(), h);
    }

    /// Counts response bytes delivered unscanned.
    pub fn unscanned(&self, bytes: u64) {
        self.unscanned_bytes.inc_by(bytes);
    }

    /// Bytes delivered unscanned so far.
    pub fn unscanned_total(&self) -> u64 {
        self.unscanned_bytes.get()
    }

    /// Connection opened.
    pub fn connection_opened(&self) {
        self.open_connections.inc();
    }

    /// Connection closed.
    pub fn connection_closed(&self) {
        self.open_connections.dec();
    }

    /// A connection was handed to request-serving thread `worker` (`+1`)
    /// or ended there (`-1`).
    pub fn worker_connection(&self, worker: usize, delta: i64) {
        self.worker_connections
            .get_or_create(&[("worker", Cow::Owned(worker.to_string()))])
            .inc_by(delta);
    }

    /// Counts a proxied request as in flight until the guard is dropped
    /// (after its response body ends or the client goes away).
    pub fn inflight_guard(&self) -> InflightGuard {
        self.inflight.inc();
        InflightGuard(self.inflight.clone())
    }

    /// Proxied requests in flight now.
    pub fn inflight(&self) -> i64 {
        self.inflight.get()
    }

    /// Spans the collector accepted.
    pub fn telemetry_exported(&self, spans: u64) {
        self.telemetry_exported.inc_by(spans);
    }

    /// Spans dropped before reaching the collector; `reason` is
    /// `queue_full` or `export_failed`.
    pub fn telemetry_dropped(&self, reason: &'static str, spans: u64) {
        self.telemetry_dropped
            .get_or_create(&[("reason", Cow::Borrowed(reason))])
            .inc_by(spans);
    }

    /// Audit write failed.
    pub fn audit_failure(&self) {
        self.audit_failures.inc();
    }

    /// Policy failed.
    pub fn policy_error(&self) {
        self.policy_errors.inc();
    }

    /// `n` review cases `event` (`expired`, `purged`, `audited_late`,
    /// `mark_failed`), or a failed upkeep
    /// pass (`failed`, n = 1).
    pub fn review_upkeep(&self, event: &'static str, n: u64) {
        if n > 0 {
            self.review_upkeep
                .get_or_create(&[("event", Cow::Borrowed(event))])
                .inc_by(n);
        }
    }
}

/// Holds one request in `menshen_inflight_requests`.
#[derive(Debug)]
pub struct InflightGuard(Gauge);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_names_and_labels() {
        let m = Metrics::new();
        m.request("openai.chat", 200, Duration::from_millis(3));
        m.decision("request", "block");
        m.unscanned(0);
        let text = m.encode();
        assert!(
            text.contains("menshen_requests_total{api=\"openai.chat\",status=\"2xx\"} 1"),
            "{text}"
        );
        assert!(text.contains("menshen_decisions_total{direction=\"request\",action=\"block\"} 1"));
        assert!(text.contains("menshen_unscanned_response_bytes_total 0"));
    }

    #[test]
    fn guard_latency_counts_land_in_their_stage_series() {
        let m = Metrics::new();
        m.guard_latency("output_stream", Duration::from_micros(50));
        m.guard_latency("output_stream", Duration::from_micros(70));
        m.guard_latency("input", Duration::from_micros(10));
        m.guard_latency("other", Duration::from_micros(10));
        let text = m.encode();
        for (stage, n) in [
            ("output_stream", 2),
            ("input", 1),
            ("other", 1),
            ("decision", 0),
        ] {
            let line = format!("menshen_guard_latency_seconds_count{{guard=\"{stage}\"}} {n}");
            assert!(text.contains(&line), "{line} in {text}");
        }
    }
}
