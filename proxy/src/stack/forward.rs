//! The leaf service: sends the (possibly redacted) request upstream.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Request, Response};
use http_body_util::BodyExt;
use tower::Service;

use super::{ExchangeHandle, ProxyBody, Shared};
use crate::error::{BoxError, Reject, RejectKind};
use crate::upstream::{SendOptions, UpstreamError};

/// Forwards to the upstream chosen by the route (or the policy).
#[derive(Clone, Debug)]
pub struct Forward {
    shared: Arc<Shared>,
}

impl Forward {
    /// A new forwarder.
    pub fn new(shared: Arc<Shared>) -> Self {
        Forward { shared }
    }
}

impl Service<Request<Bytes>> for Forward {
    type Response = Response<ProxyBody>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<ProxyBody>, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let handle = req.extensions().get::<ExchangeHandle>().cloned();
            let (upstream, route_timeout, guarded) = handle
                .as_ref()
                .map(|h| h.with(|ex| (ex.upstream, ex.route_index, ex.guarded)))
                .map_or((None, None, false), |(u, r, g)| {
                    (
                        u,
                        r.and_then(|i| shared.settings.routes.get(i))
                            .and_then(|r| r.timeout),
                        g,
                    )
                });
            let idx = upstream.ok_or_else(|| {
                Reject::new(
                    RejectKind::NotFound,
                    "no_route",
                    "no upstream for this request",
                )
            })?;
            let (parts, body) = req.into_parts();
            let client_version = parts.version;
            let opts = SendOptions {
                timeout: route_timeout,
                forward_client_credentials: shared.settings.clients.is_empty(),
                identity_encoding: guarded,
            };
            let result = shared.upstreams.send(idx, &parts, body, opts).await;
            let (resp, elapsed) = result.map_err(|e| {
                tracing::warn!(upstream = shared.upstreams.name(idx), error = %e, "upstream failed");
                match e {
                    UpstreamError::Timeout { .. } => Reject::new(
                        RejectKind::UpstreamTimeout,
                        "upstream_timeout",
                        "the upstream did not answer in time",
                    ),
                    _ => Reject::new(
                        RejectKind::UpstreamUnavailable,
                        "upstream_unavailable",
                        "the upstream is unreachable or failed",
                    ),
                }
            })?;
            shared
                .metrics
                .upstream_latency(shared.upstreams.name(idx), elapsed);
            if let Some(h) = &handle {
                h.with(|ex| {
                    ex.upstream_status = Some(resp.status().as_u16());
                    ex.upstream_ms = Some(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
                });
            }
            let mut resp = resp;
            strip_hop_by_hop(resp.headers_mut());
            // The protocol version is per connection too: an HTTP/1.0
            // upstream's answer relayed as HTTP/1.0 reached an HTTP/1.1
            // client as `HTTP/1.0 200`, and hyper may not chunk an HTTP/1.0
            // answer, so a stream of unknown length would have to end by
            // closing the client's connection.
            *resp.version_mut() = client_version;
            Ok(resp.map(|b| b.map_err(BoxError::from).boxed_unsync()))
        })
    }
}

/// Hop-by-hop response headers (RFC 9110 §7.6.1), plus `proxy-connection`.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers (RFC 9110 §7.6.1), and those the upstream
/// names in `Connection`, from an upstream response before it is relayed.
///
/// An upstream answer has a handful of headers, so one pass over them finds
/// what to remove; looking each of the eight names up in the map (parsing
/// and hashing every one) cost more than relaying the rest.
fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    // Cloning a value only bumps a reference count; the names in it are
    // removed by `&str`, which needs no owned `HeaderName`.
    let mut values = headers.get_all(http::header::CONNECTION).iter();
    let first = values.next().cloned();
    let more: Vec<http::HeaderValue> = values.cloned().collect();
    for v in first.iter().chain(&more) {
        let Ok(v) = v.to_str() else { continue };
        for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            headers.remove(name);
        }
    }
    while let Some(hop) = headers
        .keys()
        .find_map(|k| HOP_BY_HOP.iter().find(|h| **h == k.as_str()).copied())
    {
        headers.remove(hop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_response_headers_are_not_relayed() {
        let mut h = http::HeaderMap::new();
        h.insert("connection", "keep-alive, x-hop".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("x-hop", "1".parse().unwrap());
        h.insert("content-type", "application/json".parse().unwrap());
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("content-type"));
    }
}
