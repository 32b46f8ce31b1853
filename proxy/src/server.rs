//! The listener: accepts connections under a limit, serves HTTP/1.1 and
//! HTTP/2 (auto-detected) with header timeouts, answers the operational
//! endpoints (`/healthz`, `/readyz`, `/metrics`) and hands everything else to
//! the guard stack. Shuts down gracefully: in-flight requests finish.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
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

/// What serving a connection needs on one runtime: the guard stack, hyper's
/// connection builder, and the graceful-shutdown watcher for the
/// connections it started.
struct Connections {
    svc: ProxyService,
    shared: Arc<Shared>,
    ready: Readiness,
    builder: auto::Builder<TokioExecutor>,
    graceful: GracefulShutdown,
}

impl Connections {
    fn new(shared: Arc<Shared>, ready: Readiness) -> Self {
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
        Connections {
            svc: stack::build(Arc::clone(&shared)),
            shared,
            ready,
            builder,
            graceful: GracefulShutdown::new(),
        }
    }

    /// Serves `stream` on a task of the current runtime; `permit` (its slot
    /// under the connection limit) and `on_close` are released when it ends.
    fn spawn(
        &self,
        stream: tokio::net::TcpStream,
        peer: std::net::SocketAddr,
        permit: OwnedSemaphorePermit,
        on_close: impl FnOnce() + Send + 'static,
    ) {
        let svc = self.svc.clone();
        let shared = Arc::clone(&self.shared);
        let ready = self.ready.clone();
        let hyper_svc = hyper::service::service_fn(move |req| {
            route(req, svc.clone(), Arc::clone(&shared), ready.clone())
        });
        let conn = self
            .builder
            .serve_connection(TokioIo::new(stream), hyper_svc);
        let conn = self.graceful.watch(conn.into_owned());
        let metrics = self.shared.metrics.clone();
        tokio::spawn(async move {
            metrics.connection_opened();
            if let Err(e) = conn.await {
                tracing::debug!(peer = %peer, error = %e, "connection ended with error");
            }
            metrics.connection_closed();
            drop(permit);
            on_close();
        });
    }

    /// Asks every connection to finish its in-flight requests and waits for
    /// them, at most `drain`.
    async fn drain(self, drain: Duration) {
        tokio::select! {
            () = self.graceful.shutdown() => tracing::debug!("connections drained"),
            () = tokio::time::sleep(drain) => tracing::warn!("drain timed out; closing remaining connections"),
        }
    }
}

/// Period of [`anchor_timer_wheel`]: shorter than every default per-request
/// timeout (header read 10 s, body 30 s, upstream 120 s, guards 2 s).
const TIMER_ANCHOR: Duration = Duration::from_secs(1);

/// Keeps a timer pending on a request worker's runtime that always expires
/// within [`TIMER_ANCHOR`].
///
/// Tokio wakes a runtime's driver (an eventfd write, then an extra
/// `epoll_wait` round) whenever a timer is registered that expires before
/// the driver's next planned wake-up, even from the runtime's own thread.
/// With no earlier timer pending, each request's timeouts (hyper's header
/// read timer, the body and upstream timeouts) did exactly that: one
/// syscall and one driver turn per request at low concurrency (`strace`:
/// 7 syscalls per proxied request instead of 6). With this timer pending,
/// those registrations expire later than the planned wake-up and stay
/// silent; the cost is one wake-up per second per idle worker.
async fn anchor_timer_wheel() {
    let mut tick = tokio::time::interval(TIMER_ANCHOR);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

/// Accepts connections until `shutdown` resolves and hands each one under
/// the connection limit to `dispatch` along with `state`, which it owns
/// meanwhile (the future stays `Send` without `state` being `Sync`) and
/// returns at the end; one over the limit gets a 503.
async fn accept_loop<S>(
    listener: &TcpListener,
    shared: &Shared,
    shutdown: impl Future<Output = ()>,
    mut state: S,
    dispatch: impl Fn(&mut S, tokio::net::TcpStream, std::net::SocketAddr, OwnedSemaphorePermit),
) -> S {
    let limit = Arc::new(Semaphore::new(shared.settings.max_connections));
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
        dispatch(&mut state, stream, peer, permit);
    }
    state
}

/// Serves on `listener` until `shutdown` resolves, then drains connections
/// (for at most `drain`). Every connection is served on the calling
/// runtime; [`serve_workers`] is the layout the `menshen` binary uses.
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
    let conns = Connections::new(Arc::clone(&shared), ready.clone());
    ready.set(true);
    let conns = accept_loop(
        &listener,
        &shared,
        shutdown,
        conns,
        |conns, stream, peer, permit| {
            conns.spawn(stream, peer, permit, || {});
        },
    )
    .await;
    ready.set(false);
    tracing::info!("shutting down: draining connections");
    conns.drain(drain).await;
    tracing::info!("connections drained");
    Ok(())
}

/// A request-serving thread: its own single-threaded runtime, stack and
/// upstream lane, fed accepted connections over a channel.
struct Worker {
    tx: mpsc::UnboundedSender<(
        std::net::TcpStream,
        std::net::SocketAddr,
        OwnedSemaphorePermit,
    )>,
    /// Connections it serves now (the dispatcher picks the least loaded).
    open: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<()>,
}

/// Serves on `listener` with `shared.settings.workers` request-serving
/// threads until `shutdown` resolves, then drains them (for at most
/// `drain`).
///
/// Thread per core, no work stealing: each worker runs a current-thread
/// runtime, so a request, the hyper tasks of its client connection and of
/// its pooled upstream connection (see [`crate::upstream::set_lane`]) all
/// run on one thread and wake each other without crossing threads. On a
/// work-stealing runtime they ping-ponged between threads on every request
/// (futex and eventfd wake-ups measured at about two each per request).
/// The calling runtime only accepts: each connection goes, for its whole
/// life, to the worker serving the fewest connections at that moment.
/// Background work (audit writer, telemetry export, policy reloads) stays
/// on the calling runtime and its own threads.
///
/// # Errors
/// If a worker thread or its runtime cannot be started.
pub async fn serve_workers(
    listener: TcpListener,
    shared: Arc<Shared>,
    ready: Readiness,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> std::io::Result<()> {
    let n = shared.settings.workers.max(1);
    let mut workers = Vec::with_capacity(n);
    for lane in 0..n {
        let (tx, mut rx) = mpsc::unbounded_channel::<(
            std::net::TcpStream,
            std::net::SocketAddr,
            OwnedSemaphorePermit,
        )>();
        let open = Arc::new(AtomicUsize::new(0));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (shared, ready, open2) = (Arc::clone(&shared), ready.clone(), Arc::clone(&open));
        let thread = std::thread::Builder::new()
            .name(format!("menshen-worker-{lane}"))
            .spawn(move || {
                crate::upstream::set_lane(lane);
                rt.block_on(async move {
                    let metrics = shared.metrics.clone();
                    let conns = Connections::new(shared, ready);
                    tokio::spawn(anchor_timer_wheel());
                    while let Some((stream, peer, permit)) = rx.recv().await {
                        metrics.worker_connection(lane, 1);
                        let (open, metrics) = (Arc::clone(&open2), metrics.clone());
                        let closed = move || {
                            open.fetch_sub(1, Ordering::Relaxed);
                            metrics.worker_connection(lane, -1);
                        };
                        match tokio::net::TcpStream::from_std(stream) {
                            Ok(s) => conns.spawn(s, peer, permit, closed),
                            Err(e) => {
                                closed();
                                tracing::warn!(peer = %peer, error = %e, "cannot serve an accepted connection");
                            }
                        }
                    }
                    conns.drain(drain).await;
                });
            })?;
        workers.push(Worker { tx, open, thread });
    }
    ready.set(true);
    let workers = accept_loop(&listener, &shared, shutdown, workers, |workers, stream, peer, permit| {
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(peer = %peer, error = %e, "cannot hand over an accepted connection");
                return;
            }
        };
        let mut item = (stream, peer, permit);
        // The least loaded live worker; a worker whose thread is gone is
        // marked full and the connection goes to the next one.
        while let Some(w) = workers
            .iter()
            .filter(|w| w.open.load(Ordering::Relaxed) != usize::MAX)
            .min_by_key(|w| w.open.load(Ordering::Relaxed))
        {
            w.open.fetch_add(1, Ordering::Relaxed);
            match w.tx.send(item) {
                Ok(()) => return,
                Err(mpsc::error::SendError(back)) => {
                    w.open.store(usize::MAX, Ordering::Relaxed);
                    tracing::error!("a request worker stopped; its share goes to the others");
                    item = back;
                }
            }
        }
        tracing::error!(peer = %item.1, "no request worker left; connection closed");
    })
    .await;
    ready.set(false);
    tracing::info!(workers = n, "shutting down: draining connections");
    let threads: Vec<_> = workers
        .into_iter()
        .map(|w| {
            drop(w.tx);
            w.thread
        })
        .collect();
    // Joining blocks; do it off the runtime so background tasks keep running
    // (the audit writer must still take the drained requests' records).
    let joined = tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .map(std::thread::JoinHandle::join)
            .filter(Result::is_err)
            .count()
            == 0
    })
    .await
    .unwrap_or(false);
    if joined {
        tracing::info!("all connections drained");
    } else {
        tracing::error!("a request worker panicked");
    }
    Ok(())
}
