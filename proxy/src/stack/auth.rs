//! Client authentication: a proxy-issued key maps to a tenant.
//!
//! Keys are stored as SHA-256 digests; the presented key is hashed and the
//! digest looked up, so no comparison ever touches the clear key and timing
//! reveals nothing useful about it. With no `[[clients]]` configured the
//! proxy runs in open mode and every request is tenant `default`.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{self, Either, Ready};
use http::Request;
use sha2::{Digest, Sha256};
use tower::{Layer, Service};

use super::{ExchangeHandle, Shared};
use crate::error::{BoxError, Reject, RejectKind};

/// Adds [`Auth`].
#[derive(Clone, Debug)]
pub struct AuthLayer {
    shared: Arc<Shared>,
}

impl AuthLayer {
    /// A new layer.
    pub fn new(shared: Arc<Shared>) -> Self {
        AuthLayer { shared }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Auth<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// The key a client presents: `Authorization: Bearer <key>` or `x-api-key: <key>`.
pub(crate) fn presented_key<B>(req: &Request<B>) -> Option<&str> {
    let h = req.headers();
    if let Some(v) = h
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if let Some(k) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
        {
            return Some(k.trim());
        }
    }
    h.get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

// === impl Auth ===

impl<S, B> Service<Request<B>> for Auth<S>
where
    S: Service<Request<B>, Error = BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Either<S::Future, Ready<Result<S::Response, BoxError>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let clients = &self.shared.settings.clients;
        let tenant = if clients.is_empty() {
            Some("default".to_owned())
        } else {
            presented_key(&req).and_then(|k| {
                let digest: [u8; 32] = Sha256::digest(k.as_bytes()).into();
                clients.get(&digest).cloned()
            })
        };
        match tenant {
            Some(t) => {
                if let Some(h) = req.extensions().get::<ExchangeHandle>() {
                    h.with(|ex| ex.tenant = t);
                }
                Either::Left(self.inner.call(req))
            }
            None => Either::Right(future::ready(Err(Reject::new(
                RejectKind::Unauthorized,
                "invalid_client_key",
                "missing or unknown client key",
            )
            .into()))),
        }
    }
}
