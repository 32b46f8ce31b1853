//! OpenTelemetry traces following the GenAI semantic conventions, exported
//! over OTLP/HTTP with the protocol's JSON encoding.
//!
//! Off unless `[telemetry]` (or `OTEL_EXPORTER_OTLP_*`) names a collector;
//! see [`crate::config::TelemetrySettings`].
//!
//! Each sampled exchange becomes one trace fragment:
//!
//! ```text
//! chat {model}            SERVER  the whole exchange, until the client's body ends
//! ├─ menshen.input_guards INTERNAL detectors over the request
//! ├─ menshen.policy       INTERNAL risk → policy → decision
//! ├─ menshen.upstream     CLIENT   to response headers; its id goes upstream in `traceparent`
//! └─ menshen.output_guards INTERNAL body scan (whole) or the stream's life (SSE)
//! ```
//!
//! The server span carries `gen_ai.*` (operation, provider, request model
//! and parameters, response id/model/finish reasons, token usage), HTTP
//! attributes, and `menshen.*` (decision, risk, categories, tenant, route,
//! request id, policy version). An incoming W3C `traceparent` is continued
//! (its sampled flag decides); otherwise `sample_ratio` does.
//!
//! Spans never hold prompt or response text, client keys, or collector
//! credentials: attributes are computed values, and the wire readers in
//! the `genai` module deserialize only metadata fields.
//!
//! Why a small exporter instead of the `opentelemetry` crates: the proxy
//! needs one signal (traces), one transport (OTLP/HTTP JSON) and one batch
//! policy; this is ~500 lines over the hyper client the proxy already has,
//! where the SDK and `opentelemetry-otlp` bring their own runtime
//! abstractions, `reqwest` or `tonic`, and protobuf codegen to a 2-core
//! build.

mod context;
mod export;
pub(crate) mod genai;
mod layer;
mod span;

pub use export::TelemetryError;
pub use layer::{Mark, MarkFuture, MarkLayer, Phase, Trace, TraceLayer};

use crate::config::TelemetrySettings;
use crate::metrics::Metrics;

/// The running trace exporter, shared by the stack.
#[derive(Debug, Clone)]
pub struct Telemetry {
    exporter: export::Exporter,
    sample_ratio: f64,
}

impl Telemetry {
    /// Starts the export task on the current Tokio runtime.
    ///
    /// # Errors
    /// Outside a runtime, or when an `https` collector's TLS roots cannot
    /// be loaded.
    pub fn start(settings: &TelemetrySettings, metrics: Metrics) -> Result<Self, TelemetryError> {
        Ok(Telemetry {
            exporter: export::Exporter::start(settings, metrics)?,
            sample_ratio: settings.sample_ratio,
        })
    }

    /// Exports every span queued so far, waiting at most `timeout`. Call it
    /// after the server has drained, so the last exchanges are not lost.
    pub async fn flush(&self, timeout: std::time::Duration) {
        self.exporter.flush(timeout).await;
    }
}
