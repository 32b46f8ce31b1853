//! The OTLP/HTTP exporter: a bounded queue drained by one background task
//! that batches spans and POSTs them as JSON.
//!
//! The request path only ever calls [`Exporter::submit`], which never
//! waits: a full queue drops the span and counts it. An export that fails
//! (collector down, non-2xx, timeout) drops its batch, counts it, and logs
//! at most once a minute, naming the endpoint and the error only.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Request, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{mpsc, oneshot};

use super::span::{encode_request, SpanData};
use crate::config::TelemetrySettings;
use crate::metrics::Metrics;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// How often an export failure may be logged.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The system TLS roots for an `https` collector could not be loaded.
    #[error("telemetry: TLS roots: {0}")]
    Tls(#[source] std::io::Error),
    /// Started outside a Tokio runtime, so the export task has nowhere to run.
    #[error("telemetry: no Tokio runtime to run the exporter on")]
    NoRuntime,
}

/// Why one export failed (logged, never returned to a client).
#[derive(Debug, thiserror::Error)]
enum ExportError {
    #[error("request: {0}")]
    Request(#[from] hyper_util::client::legacy::Error),
    #[error("collector answered HTTP {0}")]
    Status(u16),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("building the request: {0}")]
    Build(#[from] http::Error),
}

/// Sends spans to the export task.
#[derive(Debug, Clone)]
pub(crate) struct Exporter {
    tx: mpsc::Sender<SpanData>,
    flush: mpsc::Sender<oneshot::Sender<()>>,
    metrics: Metrics,
}

impl Exporter {
    /// Starts the export task on the current runtime.
    pub(crate) fn start(
        settings: &TelemetrySettings,
        metrics: Metrics,
    ) -> Result<Exporter, TelemetryError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| TelemetryError::NoRuntime)?;
        // Installing the provider twice is an error we can ignore: it means
        // another client in this process already did.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(settings.timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(TelemetryError::Tls)?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client: HttpsClient = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(https);
        let (tx, rx) = mpsc::channel(settings.queue_capacity);
        let (flush, flush_rx) = mpsc::channel(1);
        let task = Task {
            rx,
            flush_rx,
            client,
            settings: settings.clone(),
            metrics: metrics.clone(),
            last_logged: None,
            suppressed: 0,
        };
        runtime.spawn(task.run());
        tracing::info!(
            endpoint = %settings.traces_url,
            service.name = %settings.service_name,
            sample_ratio = settings.sample_ratio,
            "exporting traces over OTLP/HTTP"
        );
        Ok(Exporter { tx, flush, metrics })
    }

    /// Exports everything queued so far; resolves when that export is done
    /// or `timeout` has passed (shutdown uses it so the last spans are not lost).
    pub(crate) async fn flush(&self, timeout: Duration) {
        let (ack, done) = oneshot::channel();
        let _ = tokio::time::timeout(timeout, async {
            if self.flush.send(ack).await.is_ok() {
                let _ = done.await;
            }
        })
        .await;
    }

    /// Queues spans for export without waiting; what does not fit is
    /// dropped and counted.
    pub(crate) fn submit(&self, spans: Vec<SpanData>) {
        let mut dropped = 0u64;
        for s in spans {
            if self.tx.try_send(s).is_err() {
                dropped = dropped.saturating_add(1);
            }
        }
        if dropped > 0 {
            self.metrics.telemetry_dropped("queue_full", dropped);
        }
    }
}

struct Task {
    rx: mpsc::Receiver<SpanData>,
    flush_rx: mpsc::Receiver<oneshot::Sender<()>>,
    client: HttpsClient,
    settings: TelemetrySettings,
    metrics: Metrics,
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl Task {
    async fn run(mut self) {
        let mut batch = Vec::with_capacity(self.settings.batch_size);
        let mut tick = tokio::time::interval(self.settings.flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                span = self.rx.recv() => match span {
                    Some(s) => {
                        batch.push(s);
                        if batch.len() >= self.settings.batch_size {
                            self.flush(&mut batch).await;
                        }
                    }
                    None => {
                        // Every sender is gone: the proxy is shutting down.
                        self.flush(&mut batch).await;
                        return;
                    }
                },
                _ = tick.tick() => self.flush(&mut batch).await,
                Some(ack) = self.flush_rx.recv() => {
                    while let Ok(s) = self.rx.try_recv() {
                        batch.push(s);
                        if batch.len() >= self.settings.batch_size {
                            self.flush(&mut batch).await;
                        }
                    }
                    self.flush(&mut batch).await;
                    let _ = ack.send(());
                }
            }
        }
    }

    async fn flush(&mut self, batch: &mut Vec<SpanData>) {
        if batch.is_empty() {
            return;
        }
        let spans = std::mem::take(batch);
        let n = spans.len() as u64;
        let body = encode_request(&self.settings.service_name, &spans);
        match self.send(body).await {
            Ok(()) => self.metrics.telemetry_exported(n),
            Err(e) => {
                self.metrics.telemetry_dropped("export_failed", n);
                let now = Instant::now();
                if self
                    .last_logged
                    .is_none_or(|t| now.duration_since(t) >= LOG_EVERY)
                {
                    tracing::warn!(
                        endpoint = %self.settings.traces_url,
                        error = %e,
                        spans.dropped = n,
                        failures.suppressed = self.suppressed,
                        "trace export failed; spans dropped (logged at most once a minute)"
                    );
                    self.last_logged = Some(now);
                    self.suppressed = 0;
                } else {
                    self.suppressed = self.suppressed.saturating_add(1);
                }
            }
        }
    }

    async fn send(&self, body: Vec<u8>) -> Result<(), ExportError> {
        let mut req = Request::post(Uri::clone(&self.settings.traces_url))
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(Full::new(Bytes::from(body)))?;
        for (name, value) in &self.settings.headers {
            req.headers_mut().insert(name.clone(), value.clone());
        }
        let timeout = self.settings.timeout;
        let resp = tokio::time::timeout(timeout, self.client.request(req))
            .await
            .map_err(|_| ExportError::Timeout(timeout))??;
        let status = resp.status();
        // Drain the (small) answer so the connection can be reused.
        let _ =
            tokio::time::timeout(timeout, http_body_util::BodyExt::collect(resp.into_body())).await;
        if status.is_success() {
            Ok(())
        } else {
            Err(ExportError::Status(status.as_u16()))
        }
    }
}
