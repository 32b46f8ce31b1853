//! The listener: accepts connections under a limit, serves HTTP/1.1 and
//! HTTP/2 (auto-detected) with header timeouts, answers the operational
//! endpoints (`/healthz`, `/readyz`, `/metrics`) and hands everything else to
//! the guard stack. Shuts down gracefully: in-flight requests finish.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::metrics::InflightGuard;

use crate::stack::{self, full, ProxyBody, ProxyService, Shared};

/// A running proxy's handle for readiness.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks ready or not.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    /// Whether ready.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

fn plain(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<bytes::Bytes>,
) -> Response<ProxyBody> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

async fn route(
    req: Request<Incoming>,
    svc: ProxyService,
    shared: Arc<Shared>,
    ready: Readiness,
) -> Result<Response<ProxyBody>, Infallible> {
    match req.uri().path() {
        "/healthz" => Ok(plain(StatusCode::OK, "text/plain", "ok\n")),
        "/readyz" => Ok(if !ready.get() {
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "shutting down\n",
            )
        } else if shared.audit.as_ref().is_some_and(|a| !a.accepting()) {
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "audit log cannot be written\n",
            )
        } else {
            plain(StatusCode::OK, "text/plain", "ready\n")
        }),
        "/metrics" => Ok(plain(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            with_audit_stats(with_policy_stats(shared.metrics.encode(), &shared), &shared),
        )),
        _ => {
            let guard = shared.metrics.inflight_guard();
            let resp = svc.oneshot(req).await?;
            Ok(resp.map(|inner| {
                Tracked {
                    inner,
                    _guard: guard,
                }
                .boxed_unsync()
            }))
        }
    }
}

/// Answers a connection over the limit with 503 and closes it, without
/// reading its request (at most one second spent on it).
async fn refuse_connection(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const BODY: &str = r#"{"error":{"message":"too many connections; retry later","type":"server_error","code":"too_many_connections"}}"#;
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(reply.as_bytes()).await;
        let _ = stream.shutdown().await;
        // Drain what the client sent, so closing does not reset the
        // connection before it has read the answer.
        let mut buf = [0u8; 4096];
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// Appends the Rego policy set's reload figures (sampled now).
fn with_policy_stats(mut text: String, shared: &Shared) -> String {
    use std::fmt::Write as _;
    let crate::policy::PolicyEngine::Rego(set) = &shared.guards.engine else {
        return text;
    };
    let st = set.stats();
    let eof = text.rfind("# EOF").unwrap_or(text.len());
    let tail = text.split_off(eof);
    let _ = write!(
        text,
        "# HELP menshen_policy_reloads Policy bundles swapped in by a reload.\n# TYPE menshen_policy_reloads counter\nmenshen_policy_reloads_total {}\n\
         # HELP menshen_policy_reload_failures Reloads that failed (the previous bundle kept serving).\n# TYPE menshen_policy_reload_failures counter\nmenshen_policy_reload_failures_total {}\n\
         # HELP menshen_policy_reload_errors Bundles whose last reload failed and that still serve their previous version.\n# TYPE menshen_policy_reload_errors gauge\nmenshen_policy_reload_errors {}\n",
        st.reloads,
        st.reload_failures,
        set.errors().len()
    );
    text.push_str(&tail);
    text
}

/// Appends the audit writer's own figures (sampled now) to the exposition.
fn with_audit_stats(mut text: String, shared: &Shared) -> String {
    use std::fmt::Write as _;
    let Some(st) = shared.audit.as_ref().and_then(|a| a.stats()) else {
        return text;
    };
    let eof = text.rfind("# EOF").unwrap_or(text.len());
    let tail = text.split_off(eof);
    let mut add = |name: &str, kind: &str, help: &str, value: u64| {
        let sample = if kind == "counter" {
            format!("{name}_total")
        } else {
            name.to_owned()
        };
        let _ = write!(
            text,
            "# HELP {name} {help}.\n# TYPE {name} {kind}\n{sample} {value}\n"
        );
    };
    add(
        "menshen_audit_writable",
        "gauge",
        "1 while audit commits succeed, 0 while the log cannot be written",
        u64::from(st.writable),
    );
    add(
        "menshen_audit_held_records",
        "gauge",
        "Async audit records kept in memory until the log is writable again",
        st.held,
    );
    add(
        "menshen_audit_queue_depth",
        "gauge",
        "Audit records waiting for the writer",
        st.queue_depth,
    );
    add(
        "menshen_audit_appended",
        "counter",
        "Audit records committed",
        st.appended,
    );
    add(
        "menshen_audit_commit_failed",
        "counter",
        "Audit records whose commit failed and that were not retried",
        st.failed,
    );
    add(
        "menshen_audit_refused",
        "counter",
        "Audit appends refused (queue full or log not writable, fail-closed)",
        st.rejected_full,
    );
    text.push_str(&tail);
    text
}

/// A response body that keeps its request in `menshen_inflight_requests`
/// until hyper drops it (the body ended, or the client went away).
struct Tracked {
    inner: ProxyBody,
    _guard: InflightGuard,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = crate::error::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves on `listener` until `shutdown` resolves, then drains connections
/// (for at most `drain`).
///
/// # Errors
/// Only if accepting fails fatally.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    ready: Readiness,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> std::io::Result<()> {
    let svc = stack::build(Arc::clone(&shared));
    let limit = Arc::new(Semaphore::new(shared.settings.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.settings.header_timeout)
        .max_headers(shared.settings.max_headers)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    ready.set(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors and similar: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // Over the connection limit: a short 503 and close, rather than a
        // connection left waiting in the backlog.
        let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
            shared.metrics.error("too_many_connections");
            tracing::warn!(peer = %peer, limit = shared.settings.max_connections, "connection refused: limit reached");
            tokio::spawn(refuse_connection(stream));
            continue;
        };
        let svc = svc.clone();
        let shared2 = Arc::clone(&shared);
        let ready2 = ready.clone();
        let hyper_svc = hyper::service::service_fn(move |req| {
            route(req, svc.clone(), Arc::clone(&shared2), ready2.clone())
        });
        let conn = builder.serve_connection(TokioIo::new(stream), hyper_svc);
        let conn = graceful.watch(conn.into_owned());
        let metrics = shared.metrics.clone();
        tokio::spawn(async move {
            metrics.connection_opened();
            if let Err(e) = conn.await {
                tracing::debug!(peer = %peer, error = %e, "connection ended with error");
            }
            metrics.connection_closed();
            drop(permit);
        });
    }
    ready.set(false);
    tracing::info!("shutting down: draining connections");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(drain) => tracing::warn!("drain timed out; closing remaining connections"),
    }
    Ok(())
}
