//! Runs the input detectors over the whole decoded conversation.
//!
//! This layer only annotates: findings and guard failures go into the
//! [`Exchange`](super::Exchange); the decision layer acts on them.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::Request;
use tower::{Layer, Service};

use super::decode::DecodedReq;
use super::{ExchangeHandle, Shared};
use crate::error::BoxError;

/// Adds [`InputGuard`].
#[derive(Clone, Debug)]
pub struct InputGuardLayer {
    shared: Arc<Shared>,
}

impl InputGuardLayer {
    /// A new layer.
    pub fn new(shared: Arc<Shared>) -> Self {
        InputGuardLayer { shared }
    }
}

impl<S> Layer<S> for InputGuardLayer {
    type Service = InputGuard<S>;
    fn layer(&self, inner: S) -> InputGuard<S> {
        InputGuard {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// How it works is told in the docs of its module, `proxy/src/stack/input.rs`.
#[derive(Clone, Debug)]
pub struct InputGuard<S> {
    inner: S,
    shared: Arc<Shared>,
}

// === impl InputGuard ===

impl<S> Service<Request<Bytes>> for InputGuard<S>
where
    S: Service<Request<Bytes>, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let decoded = req.extensions().get::<DecodedReq>().cloned();
            let handle = req.extensions().get::<ExchangeHandle>().cloned();
            if let (Some(DecodedReq(d)), Some(h)) = (decoded, handle) {
                let started = Instant::now();
                let report = shared.guards.input.scan(&d.conversation).await;
                shared.metrics.guard_latency("input", started.elapsed());
                for f in &report.failures {
                    shared.metrics.guard_failure(&f.detector, f.kind.as_str());
                }
                h.with(|ex| {
                    ex.findings = report.findings;
                    ex.failures = report.failures;
                });
            }
            inner.call(req).await
        })
    }
}
