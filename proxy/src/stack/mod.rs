//! The tower stack, outermost first:
//!
//! ```text
//! Respond     request id · errors → API-shaped JSON · x-menshen-* headers · audit · metrics
//! Auth        client key → tenant
//! Buffer      body cap + body timeout → Request<Bytes>
//! Decode      route · API · wire format → Conversation
//! InputGuard  detectors over the whole conversation → findings
//! Decision    risk → policy → allow | block | redact | review | route  (the only layer that blocks)
//! OutputGuard response (whole or SSE stream) → detectors → decision → client
//! Forward     pooled upstream client
//! ```
//!
//! Detection layers only annotate the shared [`Exchange`]; only the decision
//! layers (request and response direction) reject.

mod auth;
mod buffer;
pub mod decide;
mod decode;
pub(crate) use decode::is_ambiguous_path;
mod exchange;
mod forward;
mod input;
mod output;
mod respond;
mod shared;
pub mod thinking;

pub(crate) use auth::{digest_eq, presented_key};
pub use auth::{Auth, AuthLayer};
pub use buffer::{Buffer, BufferLayer};
pub use decide::{Decide, DecideLayer};
pub use decode::{Decode, DecodeLayer};
pub use exchange::{Exchange, ExchangeHandle, ReviewOutcome, ReviewRef};
pub use forward::Forward;
pub use input::{InputGuard, InputGuardLayer};
pub use output::{OutputGuard, OutputGuardLayer};
pub use respond::{Respond, RespondLayer};
pub use shared::{AuditHook, Guards, Shared};

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tower::util::BoxCloneService;
use tower::ServiceBuilder;

use crate::error::BoxError;

/// The response body type of the whole stack.
pub type ProxyBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// A body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The assembled stack, ready to serve hyper requests.
pub type ProxyService =
    BoxCloneService<Request<hyper::body::Incoming>, Response<ProxyBody>, Infallible>;

/// Assembles the stack over `shared`. The trace layer and phase marks
/// ([`crate::telemetry`]) pass requests straight through unless a trace is
/// sampled.
pub fn build(shared: Arc<Shared>) -> ProxyService {
    use crate::telemetry::{MarkLayer, Phase, TraceLayer};
    let svc = ServiceBuilder::new()
        .layer(TraceLayer::new(Arc::clone(&shared)))
        .layer(RespondLayer::new(Arc::clone(&shared)))
        .layer(AuthLayer::new(Arc::clone(&shared)))
        .layer(BufferLayer::new(Arc::clone(&shared)))
        .layer(DecodeLayer::new(Arc::clone(&shared)))
        .layer(MarkLayer::new(Phase::Input))
        .layer(InputGuardLayer::new(Arc::clone(&shared)))
        .layer(MarkLayer::new(Phase::Decision))
        .layer(DecideLayer::new(Arc::clone(&shared)))
        .layer(MarkLayer::new(Phase::Output))
        .layer(OutputGuardLayer::new(Arc::clone(&shared)))
        .layer(MarkLayer::new(Phase::Upstream))
        .service(Forward::new(shared));
    BoxCloneService::new(svc)
}
