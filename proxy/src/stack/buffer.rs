//! Buffers the request body under a size cap and a time limit.
//!
//! A declared `content-length` over the cap is refused before any body byte
//! is read; a chunked body is cut off at the cap. A client that sends the body
//! too slowly gets `408` instead of holding a connection and a task forever.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::Request;
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use tower::{Layer, Service};

use super::{ExchangeHandle, Shared};
use crate::error::{BoxError, Reject, RejectKind};

/// Adds [`Buffer`].
#[derive(Clone, Debug)]
pub struct BufferLayer {
    shared: Arc<Shared>,
}

impl BufferLayer {
    /// A new layer.
    pub fn new(shared: Arc<Shared>) -> Self {
        BufferLayer { shared }
    }
}

impl<S> Layer<S> for BufferLayer {
    type Service = Buffer<S>;
    fn layer(&self, inner: S) -> Buffer<S> {
        Buffer {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// How it works is told in the docs of its module, `proxy/src/stack/buffer.rs`.
#[derive(Clone, Debug)]
pub struct Buffer<S> {
    inner: S,
    shared: Arc<Shared>,
}

fn too_large(limit: u64) -> BoxError {
    Reject::new(
        RejectKind::TooLarge,
        "body_too_large",
        format!("request body exceeds the limit of {limit} bytes"),
    )
    .into()
}

// === impl Buffer ===

impl<S, B> Service<Request<B>> for Buffer<S>
where
    S: Service<Request<Bytes>, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let limit = self.shared.settings.max_body_bytes;
        let timeout = self.shared.settings.body_timeout;
        Box::pin(async move {
            let declared = req
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > limit) {
                return Err(too_large(limit));
            }
            let (parts, body) = req.into_parts();
            let cap = usize::try_from(limit).unwrap_or(usize::MAX);
            let collected = tokio::time::timeout(timeout, Limited::new(body, cap).collect()).await;
            let bytes = match collected {
                Err(_) => {
                    return Err(Reject::new(
                        RejectKind::BodyTimeout,
                        "body_timeout",
                        "request body not received in time",
                    )
                    .into())
                }
                Ok(Err(e)) => {
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some()
                    {
                        return Err(too_large(limit));
                    }
                    return Err(Reject::new(
                        RejectKind::BadRequest,
                        "body_read_error",
                        "request body could not be read (connection closed or malformed framing)",
                    )
                    .into());
                }
                Ok(Ok(c)) => c.to_bytes(),
            };
            if let Some(h) = parts.extensions.get::<ExchangeHandle>() {
                h.with(|ex| ex.body_size = bytes.len() as u64);
            }
            inner.call(Request::from_parts(parts, bytes)).await
        })
    }
}
