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

/// How it works is told in the docs of its module, `proxy/src/stack/auth.rs`.
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

/// Compares two digests in constant time: every byte is looked at, and no
/// branch depends on where they differ.
pub(crate) fn digest_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The tenant whose stored key digest matches the presented key. The key is
/// hashed, then compared with every stored digest in constant time (no
/// early exit, no ordered lookup), so timing tells nothing about the stored
/// digests or which of them was close.
pub(crate) fn tenant_for<'a>(
    clients: &'a std::collections::BTreeMap<[u8; 32], String>,
    presented: &str,
) -> Option<&'a String> {
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let mut found = None;
    for (stored, tenant) in clients {
        if digest_eq(stored, &digest) {
            found = Some(tenant);
        }
    }
    found
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
        if clients.is_empty() {
            // Open mode: every exchange already starts as tenant `default`.
            return Either::Left(self.inner.call(req));
        }
        let tenant = presented_key(&req).and_then(|k| tenant_for(clients, k).cloned());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_matched_by_digest_in_constant_time() {
        let mut clients = std::collections::BTreeMap::new();
        for (key, tenant) in [("key-a", "a"), ("key-b", "b"), ("key-c", "c")] {
            let d: [u8; 32] = Sha256::digest(key.as_bytes()).into();
            clients.insert(d, tenant.to_owned());
        }
        assert_eq!(tenant_for(&clients, "key-b").map(String::as_str), Some("b"));
        assert_eq!(tenant_for(&clients, "key-c").map(String::as_str), Some("c"));
        assert_eq!(tenant_for(&clients, "key-"), None);
        assert_eq!(tenant_for(&clients, ""), None);
        // Stored as digests: the clear key is nowhere in the table.
        assert!(clients.keys().all(|d| !d.windows(5).any(|w| w == b"key-a")));

        let a = [7u8; 32];
        let mut b = a;
        assert!(digest_eq(&a, &b));
        for i in [0, 15, 31] {
            b = a;
            b[i] ^= 0x80;
            assert!(!digest_eq(&a, &b), "a difference at byte {i} is seen");
        }
    }
}
