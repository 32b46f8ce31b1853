//! Prometheus metrics, exposed on `/metrics`.
//!
//! Labels never carry prompt text, keys or tenant-supplied free text: only
//! fixed vocabularies (api, decision, guard id, error kind, status class).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

fn latency_histogram() -> Histogram {
    // 50 µs .. ~26 s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
}

/// All proxy metrics. Cheap to clone (everything is `Arc` inside).
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<Labels, Counter>,
    decisions: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    guard_latency: Family<Labels, Histogram, fn() -> Histogram>,
    guard_failures: Family<Labels, Counter>,
    upstream_latency: Family<Labels, Histogram, fn() -> Histogram>,
    request_latency: Family<Labels, Histogram, fn() -> Histogram>,
    unscanned_bytes: Counter<u64, AtomicU64>,
    open_connections: Gauge,
    worker_connections: Family<Labels, Gauge>,
    inflight: Gauge,
    audit_failures: Counter,
    policy_errors: Counter,
    telemetry_exported: Counter,
    telemetry_dropped: Family<Labels, Counter>,
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
        let requests = Family::<Labels, Counter>::default();
        r.register(
            "menshen_requests",
            "Requests by API and HTTP status class",
            requests.clone(),
        );
        let decisions = Family::<Labels, Counter>::default();
        r.register(
            "menshen_decisions",
            "Decisions by direction and action",
            decisions.clone(),
        );
        let errors = Family::<Labels, Counter>::default();
        r.register(
            "menshen_errors",
            "Error responses by stable reason code",
            errors.clone(),
        );
        let guard_latency =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        r.register(
            "menshen_guard_latency_seconds",
            "Time spent in each guard stage",
            guard_latency.clone(),
        );
        let guard_failures = Family::<Labels, Counter>::default();
        r.register(
            "menshen_guard_failures",
            "Guard errors and timeouts by guard and kind",
            guard_failures.clone(),
        );
        let upstream_latency =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        r.register(
            "menshen_upstream_latency_seconds",
            "Time to upstream response headers",
            upstream_latency.clone(),
        );
        let request_latency =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
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
        let worker_connections = Family::<Labels, Gauge>::default();
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
        let telemetry_dropped = Family::<Labels, Counter>::default();
        r.register(
            "menshen_telemetry_spans_dropped",
            "Trace spans dropped, by reason (queue_full, export_failed)",
            telemetry_dropped.clone(),
        );
        Metrics {
            registry: Arc::new(r),
            requests,
            decisions,
            errors,
            guard_latency,
            guard_failures,
            upstream_latency,
            request_latency,
            unscanned_bytes,
            open_connections,
            worker_connections,
            inflight,
            audit_failures,
            policy_errors,
            telemetry_exported,
            telemetry_dropped,
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
    pub fn request(&self, api: &str, status: u16, elapsed: Duration) {
        let class = format!("{}xx", status / 100);
        self.requests
            .get_or_create(&vec![("api", api.to_owned()), ("status", class)])
            .inc();
        self.request_latency
            .get_or_create(&vec![("api", api.to_owned())])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a decision.
    pub fn decision(&self, direction: &str, action: &str) {
        self.decisions
            .get_or_create(&vec![
                ("direction", direction.to_owned()),
                ("action", action.to_owned()),
            ])
            .inc();
    }

    /// Counts an error response.
    pub fn error(&self, code: &str) {
        self.errors
            .get_or_create(&vec![("code", code.to_owned())])
            .inc();
    }

    /// Observes a guard stage's latency.
    pub fn guard_latency(&self, guard: &str, elapsed: Duration) {
        self.guard_latency
            .get_or_create(&vec![("guard", guard.to_owned())])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a guard failure.
    pub fn guard_failure(&self, guard: &str, kind: &str) {
        self.guard_failures
            .get_or_create(&vec![
                ("guard", guard.to_owned()),
                ("kind", kind.to_owned()),
            ])
            .inc();
    }

    /// Observes upstream time to headers.
    pub fn upstream_latency(&self, upstream: &str, elapsed: Duration) {
        self.upstream_latency
            .get_or_create(&vec![("upstream", upstream.to_owned())])
            .observe(elapsed.as_secs_f64());
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
            .get_or_create(&vec![("worker", worker.to_string())])
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
            .get_or_create(&vec![("reason", reason.to_owned())])
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
}
