//! Routes the request and decodes its wire format into a `Conversation`.
//!
//! Unknown API paths, wrong methods and content types, malformed JSON,
//! invalid UTF-8 and over-deep nesting are refused here with a clear error;
//! nothing undecodable reaches the guards or the upstream. Passthrough paths
//! (e.g. `/v1/models`) skip the guards by config.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::{self, Either, Ready};
use http::{Method, Request};
use tower::{Layer, Service};

use super::{ExchangeHandle, Shared};
use crate::api::{self, Api, DecodeLimits};
use crate::error::{BoxError, Reject, RejectKind};

/// The decoded request, in request extensions for the layers below.
#[derive(Debug, Clone)]
pub(crate) struct DecodedReq(pub(crate) Arc<api::Decoded>);

/// Adds [`Decode`].
#[derive(Clone, Debug)]
pub struct DecodeLayer {
    shared: Arc<Shared>,
}

impl DecodeLayer {
    /// A new layer.
    pub fn new(shared: Arc<Shared>) -> Self {
        DecodeLayer { shared }
    }
}

impl<S> Layer<S> for DecodeLayer {
    type Service = Decode<S>;
    fn layer(&self, inner: S) -> Decode<S> {
        Decode {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// How it works is told in the docs of its module, `proxy/src/stack/decode.rs`.
#[derive(Clone, Debug)]
pub struct Decode<S> {
    inner: S,
    shared: Arc<Shared>,
}

fn is_json(req: &Request<Bytes>, api: Api) -> bool {
    match req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        // Many SDKs and curl users omit it; the body is still parsed strictly.
        None => true,
        Some(ct) => {
            let mime = ct.split(';').next().unwrap_or("").trim();
            let plus_json = mime
                .len()
                .checked_sub(5)
                .and_then(|i| mime.get(i..))
                .is_some_and(|tail| tail.eq_ignore_ascii_case("+json"));
            // Ollama ignores the header, and its documentation's examples
            // are `curl -d`, which labels the JSON as a form.
            let ollama_form =
                api.is_ollama() && mime.eq_ignore_ascii_case("application/x-www-form-urlencoded");
            mime.eq_ignore_ascii_case("application/json") || plus_json || ollama_form
        }
    }
}

/// Whether `path` could mean another path to the upstream than to the
/// proxy: a `.` or `..` segment (also with path parameters, `..;x`), a
/// percent-encoded `.`, `/` or `\`, or a backslash. Routes, passthrough prefixes and the API are chosen on the
/// path as written, and an upstream (or a load balancer before it) that
/// resolves `/v1/models/../chat/completions` would run a chat completion
/// the proxy took for a passthrough path: unscanned. Double slashes are
/// kept (a base URL with a trailing slash makes them, and no server turns
/// them into another API).
pub(crate) fn is_ambiguous_path(path: &str) -> bool {
    let encoded_separator = path.as_bytes().windows(3).any(|w| match w {
        [b'%', b'2', c] => matches!(c.to_ascii_lowercase(), b'e' | b'f'),
        [b'%', b'5', c] => c.eq_ignore_ascii_case(&b'c'),
        _ => false,
    });
    encoded_separator
        || path.contains('\\')
        || path.split('/').any(|seg| {
            // `..;x` is `..` to servers that strip path parameters (Tomcat, Jetty).
            let name = seg.split(';').next().unwrap_or(seg);
            name == "." || name == ".."
        })
}

/// Whether the passthrough entry `prefix` covers `path`: the path itself,
/// or a path below it that is not a guarded API surface. A prefix never
/// carries a guarded surface past the guards (`/v1/models` does not pass
/// `/v1/models/chat/completions`, which an upstream routing on the path's
/// end would serve as a chat completion); only an entry naming a guarded
/// path exactly turns its guards off, as the operator wrote it.
pub(crate) fn passes_through(path: &str, prefix: &str, guarded: bool) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || (rest.starts_with('/') && !guarded))
}

/// Whether `headers` declare a body content coding other than `identity`
/// (gzip, deflate, br, zstd, ...): one whose bytes are not the JSON text.
pub(crate) fn is_encoded(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .any(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
}

impl<S> Decode<S> {
    fn prepare(&self, req: &mut Request<Bytes>) -> Result<(), Reject> {
        let settings = &self.shared.settings;
        let handle = req
            .extensions()
            .get::<ExchangeHandle>()
            .cloned()
            .ok_or_else(|| {
                Reject::new(
                    RejectKind::BadRequest,
                    "internal_error",
                    "missing request state",
                )
            })?;
        let path = req.uri().path();
        if is_ambiguous_path(path) {
            return Err(Reject::new(
                RejectKind::BadRequest,
                "invalid_path",
                "the request path has dot segments, encoded separators or backslashes, which \
                 servers resolve differently; send the canonical path",
            ));
        }
        let (route_index, route) = handle
            .with(|ex| {
                settings.routes.iter().enumerate().find(|(_, r)| {
                    path.starts_with(&r.path_prefix)
                        && (r.tenants.is_empty() || r.tenants.contains(&ex.tenant))
                })
            })
            .ok_or_else(|| {
                Reject::new(
                    RejectKind::NotFound,
                    "no_route",
                    "no route serves this path",
                )
            })?;
        handle.with(|ex| {
            ex.route = Some(route.name.clone());
            ex.route_index = Some(route_index);
            ex.upstream = Some(route.upstream);
        });
        let api = Api::from_path(path);
        if route
            .passthrough
            .iter()
            .any(|p| passes_through(path, p, api.is_some()))
        {
            return Ok(());
        }
        let api = api.ok_or_else(|| {
            Reject::new(
                RejectKind::NotFound,
                "unknown_api_path",
                "this path is neither a guarded LLM API nor configured to pass through",
            )
        })?;
        handle.with(|ex| ex.api = Some(api));
        if req.method() != Method::POST {
            return Err(Reject::new(
                RejectKind::MethodNotAllowed,
                "method_not_allowed",
                "this API accepts POST only",
            ));
        }
        if !is_json(req, api) {
            return Err(Reject::new(
                RejectKind::UnsupportedMediaType,
                "unsupported_content_type",
                "request body must be application/json",
            ));
        }
        if is_encoded(req.headers()) {
            // Compressed bytes would otherwise fail as "invalid UTF-8",
            // which sends a client looking in the wrong place.
            return Err(Reject::new(
                RejectKind::UnsupportedMediaType,
                "unsupported_content_encoding",
                "request bodies are scanned and must not be compressed; send them without \
                 content-encoding",
            ));
        }
        let limits = DecodeLimits::new(settings.max_json_depth);
        let decoded = api::decode_request_bytes(api, req.body().clone(), &limits)
            .map_err(|e| Reject::new(RejectKind::BadRequest, e.code(), e.to_string()))?;
        if decoded.meta.logprobs && !settings.allow_logprobs {
            return Err(Reject::new(
                RejectKind::BadRequest,
                "logprobs_not_scanned",
                "log probabilities repeat the answer's tokens where the output guards cannot \
                 redact them; ask without logprobs/top_logprobs (an operator can allow them \
                 with server.allow_logprobs)",
            ));
        }
        if decoded.meta.audio_output && !settings.allow_audio_output {
            return Err(Reject::new(
                RejectKind::BadRequest,
                "audio_output_not_scanned",
                "a spoken answer cannot be read by the output guards; ask for text only \
                 (an operator can allow audio with server.allow_audio_output)",
            ));
        }
        handle.with(|ex| {
            ex.guarded = true;
            ex.stream = decoded.meta.stream;
            ex.model = decoded.meta.model.clone().unwrap_or_default();
            ex.user = decoded.meta.user.clone();
        });
        req.extensions_mut().insert(DecodedReq(Arc::new(decoded)));
        Ok(())
    }
}

// === impl Decode ===

impl<S> Service<Request<Bytes>> for Decode<S>
where
    S: Service<Request<Bytes>, Error = BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Either<S::Future, Ready<Result<S::Response, BoxError>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Bytes>) -> Self::Future {
        match self.prepare(&mut req) {
            Ok(()) => Either::Left(self.inner.call(req)),
            Err(r) => Either::Right(future::ready(Err(r.into()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{is_ambiguous_path, passes_through};
    use crate::api::Api;

    #[test]
    fn a_passthrough_prefix_never_covers_a_guarded_surface() {
        let passes =
            |path: &str, prefix: &str| passes_through(path, prefix, Api::from_path(path).is_some());
        assert!(passes("/v1/models", "/v1/models"));
        assert!(passes("/v1/models/gpt-4o", "/v1/models"));
        assert!(passes("/api/tags", "/api/tags"));
        assert!(!passes("/v1/modelsx", "/v1/models"));
        // Below a passthrough prefix, a guarded surface is still guarded.
        assert!(!passes("/v1/models/chat/completions", "/v1/models"));
        assert!(!passes("/v1/embeddings/v1/messages", "/v1/embeddings"));
        assert!(!passes("/api/show/api/chat", "/api/show"));
        assert!(!passes("/v1/chat/completions", "/v1"));
        // Named exactly, it is the operator's choice.
        assert!(passes("/v1/chat/completions", "/v1/chat/completions"));
    }

    #[test]
    fn paths_that_servers_resolve_differently_are_ambiguous() {
        for p in [
            "/v1/models/../chat/completions",
            "/v1/models/./x",
            "/v1/models/..",
            "/v1/models%2F..%2Fchat/completions",
            "/v1/models/%2e%2e/chat/completions",
            "/v1/models/%2E%2E/chat/completions",
            "/v1/models\\..\\chat",
            "/v1/models/%5c",
            "/v1/models/..;/chat/completions",
            "/v1/models/.;x/y",
        ] {
            assert!(is_ambiguous_path(p), "{p}");
        }
        for p in [
            "/v1/chat/completions",
            "//v1/chat/completions",
            "/v1/models/gpt-4.1",
            "/v1/models/..hidden",
            "/v1/files/file-%20x",
            "/",
        ] {
            assert!(!is_ambiguous_path(p), "{p}");
        }
    }
}
