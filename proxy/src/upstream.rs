//! The upstream client: pooled HTTP/1.1 and HTTP/2, TLS via rustls with the
//! system roots, and Unix domain sockets for a co-located model server.
//!
//! Retries happen only where they are safe: after a *connect* failure, when
//! the request provably never left. Nothing is retried once any byte of a
//! response has arrived. Upstream API keys are injected here from config, so
//! clients never hold them; the client's own credentials are stripped.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{
    HeaderName, HeaderValue, ACCEPT_ENCODING, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, HOST,
};
use http::uri::PathAndQuery;
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::UnixStream;

use crate::config::{AuthStyle, Upstream, UpstreamAddr};

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;
type UnixClient = Client<UnixConnector, Full<Bytes>>;

/// Why an upstream call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// Could not connect (after retries).
    #[error("cannot connect to upstream {upstream}: {source}")]
    Connect {
        /// Upstream name.
        upstream: String,
        /// Cause.
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// No response headers within the timeout.
    #[error("upstream {upstream} did not answer within {timeout:?}")]
    Timeout {
        /// Upstream name.
        upstream: String,
        /// The limit.
        timeout: Duration,
    },
    /// The connection failed after the request was sent.
    #[error("upstream {upstream} failed: {source}")]
    Protocol {
        /// Upstream name.
        upstream: String,
        /// Cause.
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// The upstream URL could not be combined with the request path.
    #[error("cannot build upstream URI: {0}")]
    Uri(String),
}

enum Transport {
    Http(HttpsClient),
    Unix(UnixClient),
}

struct Target {
    cfg: Upstream,
    headers: Prepared,
    /// One pooled client per lane (see [`set_lane`]).
    lanes: Box<[Transport]>,
}

thread_local! {
    static LANE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Makes the calling thread use upstream connection pool `lane`.
///
/// A pooled connection is driven by a task on the runtime that opened it.
/// When each request-serving thread runs its own single-threaded runtime,
/// sharing one pool would hand thread A a connection whose task lives on
/// thread B, and every request would then cross threads twice (a wake-up
/// each way). A lane per thread keeps a request and its upstream connection
/// on one thread. Threads that never call this (tests, the control runtime)
/// use lane 0, which is correct anywhere, only slower across threads.
pub fn set_lane(lane: usize) {
    LANE.with(|l| l.set(lane));
}

/// Clients for every configured upstream, built once and shared.
#[derive(Clone)]
pub struct UpstreamClients {
    targets: Arc<[Target]>,
}

impl std::fmt::Debug for UpstreamClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClients")
            .field(
                "upstreams",
                &self.targets.iter().map(|t| &t.cfg.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Headers a proxy must not forward (RFC 9110 §7.6.1) plus client credentials.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Client credential headers: stripped unless the client's own key is meant
/// for the upstream (open mode with no injected key).
const CREDENTIALS: &[&str] = &["authorization", "x-api-key", "api-key"];

impl UpstreamClients {
    /// Builds pooled clients for each upstream, `lanes` pools each (one per
    /// request-serving thread; at least one).
    ///
    /// # Errors
    /// When the system TLS roots cannot be loaded.
    pub fn new(upstreams: &[Upstream], lanes: usize) -> io::Result<Self> {
        let lanes = lanes.max(1);
        // Installing the provider twice is an error we can ignore: it means
        // another client in this process already did.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut targets = Vec::with_capacity(upstreams.len());
        for u in upstreams {
            targets.push(Target {
                cfg: u.clone(),
                headers: Prepared::new(u),
                lanes: Self::pools(u, lanes)?,
            });
        }
        Ok(UpstreamClients {
            targets: targets.into(),
        })
    }

    /// `lanes` pooled clients for `u`, sharing one connector (the system
    /// TLS roots are read once per upstream, not once per lane).
    fn pools(u: &Upstream, lanes: usize) -> io::Result<Box<[Transport]>> {
        Ok(match &u.addr {
            UpstreamAddr::Http(_) => {
                let mut http = HttpConnector::new();
                http.enforce_http(false);
                http.set_connect_timeout(Some(u.connect_timeout));
                http.set_nodelay(true);
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_native_roots()?
                    .https_or_http()
                    .enable_http1()
                    .enable_http2()
                    .wrap_connector(http);
                (0..lanes)
                    .map(|_| {
                        Transport::Http(
                            Client::builder(TokioExecutor::new())
                                .pool_idle_timeout(Duration::from_secs(90))
                                .pool_max_idle_per_host(256)
                                .http2_only(u.http2_only)
                                .build(https.clone()),
                        )
                    })
                    .collect()
            }
            UpstreamAddr::Unix(path) => {
                let unix = UnixConnector {
                    path: Arc::new(path.clone()),
                    timeout: u.connect_timeout,
                };
                (0..lanes)
                    .map(|_| {
                        Transport::Unix(
                            Client::builder(TokioExecutor::new())
                                .pool_idle_timeout(Duration::from_secs(90))
                                .http2_only(u.http2_only)
                                .build(unix.clone()),
                        )
                    })
                    .collect()
            }
        })
    }

    /// The upstream's name.
    pub fn name(&self, idx: usize) -> &str {
        self.targets
            .get(idx)
            .map_or("unknown", |t| t.cfg.name.as_str())
    }

    /// Index of the upstream called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.targets.iter().position(|t| t.cfg.name == name)
    }

    /// Sends `parts` + `body` to upstream `idx`, with key injection, timeout
    /// and connect-failure retries.
    ///
    /// # Errors
    /// [`UpstreamError`] on connect failure, timeout or protocol error.
    pub async fn send(
        &self,
        idx: usize,
        parts: &http::request::Parts,
        body: Bytes,
        opts: SendOptions,
    ) -> Result<(Response<Incoming>, Duration), UpstreamError> {
        let target = self
            .targets
            .get(idx)
            .ok_or_else(|| UpstreamError::Uri(format!("no upstream #{idx}")))?;
        let cfg = &target.cfg;
        let uri = target_uri(&cfg.addr, parts.uri.path_and_query())?;
        let timeout = opts.timeout.unwrap_or(cfg.timeout);
        let started = Instant::now();
        let mut attempt = 0u32;
        let transport = &target.lanes[LANE.with(std::cell::Cell::get) % target.lanes.len()];
        loop {
            let req = build_request(cfg, &target.headers, parts, &uri, body.clone(), opts)?;
            let fut = match transport {
                Transport::Http(c) => c.request(req),
                Transport::Unix(c) => c.request(req),
            };
            match tokio::time::timeout(timeout, fut).await {
                Err(_) => {
                    return Err(UpstreamError::Timeout {
                        upstream: cfg.name.clone(),
                        timeout,
                    })
                }
                Ok(Ok(resp)) => return Ok((resp, started.elapsed())),
                Ok(Err(e)) if e.is_connect() && attempt < cfg.retries => {
                    attempt = attempt.saturating_add(1);
                    tracing::warn!(upstream = %cfg.name, attempt, "upstream connect failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50u64.saturating_mul(attempt.into())))
                        .await;
                }
                Ok(Err(e)) if e.is_connect() => {
                    return Err(UpstreamError::Connect {
                        upstream: cfg.name.clone(),
                        source: e,
                    })
                }
                Ok(Err(e)) => {
                    return Err(UpstreamError::Protocol {
                        upstream: cfg.name.clone(),
                        source: e,
                    })
                }
            }
        }
    }
}

/// Header values that depend only on the upstream, built once: the `host`
/// and the injected key (formatting and copying them per request showed up
/// in profiles).
struct Prepared {
    host: Option<HeaderValue>,
    key: Option<(HeaderName, HeaderValue)>,
}

impl Prepared {
    fn new(cfg: &Upstream) -> Self {
        // The authority does not depend on the request path.
        let host = target_uri(&cfg.addr, None)
            .ok()
            .and_then(|uri| uri.authority().map(|a| a.as_str().to_owned()))
            .and_then(|a| HeaderValue::from_str(&a).ok());
        let key = cfg.api_key.as_ref().and_then(|key| {
            let (name, value) = match cfg.auth {
                AuthStyle::Bearer => (AUTHORIZATION, format!("Bearer {key}")),
                AuthStyle::XApiKey => (HeaderName::from_static("x-api-key"), key.clone()),
            };
            let mut v = HeaderValue::from_str(&value).ok()?;
            v.set_sensitive(true);
            Some((name, v))
        });
        Prepared { host, key }
    }
}

fn target_uri(addr: &UpstreamAddr, pq: Option<&PathAndQuery>) -> Result<Uri, UpstreamError> {
    if let UpstreamAddr::Http(base) = addr {
        // The common case, a base URL without a path: reuse the parts as
        // they are instead of formatting and re-parsing a string.
        if let (Some(scheme), Some(authority), "") = (
            base.scheme(),
            base.authority(),
            base.path().trim_end_matches('/'),
        ) {
            let mut parts = http::uri::Parts::default();
            parts.scheme = Some(scheme.clone());
            parts.authority = Some(authority.clone());
            parts.path_and_query = Some(
                pq.cloned()
                    .unwrap_or_else(|| PathAndQuery::from_static("/")),
            );
            return Uri::from_parts(parts).map_err(|e| UpstreamError::Uri(format!("{e}")));
        }
    }
    let pq = pq.map_or("/", PathAndQuery::as_str);
    match addr {
        UpstreamAddr::Http(base) => {
            let base_path = base.path().trim_end_matches('/');
            let scheme = base.scheme_str().unwrap_or("http");
            let authority = base.authority().map_or("", |a| a.as_str());
            format!("{scheme}://{authority}{base_path}{pq}")
                .parse()
                .map_err(|e| UpstreamError::Uri(format!("{e}")))
        }
        UpstreamAddr::Unix(_) => format!("http://localhost{pq}")
            .parse()
            .map_err(|e| UpstreamError::Uri(format!("{e}"))),
    }
}

/// How [`UpstreamClients::send`] sends one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct SendOptions {
    /// Instead of the upstream's own timeout (a route's).
    pub timeout: Option<Duration>,
    /// Forward the client's credential headers (open mode, no injected key).
    pub forward_client_credentials: bool,
    /// Ask for the response uncompressed (`accept-encoding: identity`)
    /// instead of relaying the client's `accept-encoding`: a response that
    /// is scanned must be readable, and OpenAI's and Anthropic's APIs
    /// compress whenever a client (httpx, `requests`, curl --compressed)
    /// says it may. Passthrough paths keep the client's choice.
    pub identity_encoding: bool,
}

fn build_request(
    cfg: &Upstream,
    prepared: &Prepared,
    parts: &http::request::Parts,
    uri: &Uri,
    body: Bytes,
    opts: SendOptions,
) -> Result<Request<Full<Bytes>>, UpstreamError> {
    let strip_credentials = !opts.forward_client_credentials || cfg.api_key.is_some();
    let body_len = body.len() as u64;
    let mut req = Request::builder()
        .method(parts.method.clone())
        .uri(uri.clone())
        .body(Full::new(body))
        .map_err(|e| UpstreamError::Uri(e.to_string()))?;
    let headers = req.headers_mut();
    // Headers named in `Connection` are hop-by-hop too.
    let named: Vec<String> = parts
        .headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    for (name, value) in &parts.headers {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n)
            || (strip_credentials && CREDENTIALS.contains(&n))
            || named.iter().any(|h| h == n)
            || n.starts_with("x-menshen-")
            || (opts.identity_encoding && name == ACCEPT_ENCODING)
        {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    if opts.identity_encoding {
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    }
    // The body is usually the client's, unchanged: forward its length as
    // given, which spares hyper formatting a new header value.
    if let Some(len) = parts.headers.get(CONTENT_LENGTH).filter(|v| {
        v.to_str()
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|n| n == body_len)
    }) {
        headers.insert(CONTENT_LENGTH, len.clone());
    }
    if let Some(host) = &prepared.host {
        headers.insert(HOST, host.clone());
    }
    if let Some((name, value)) = &prepared.key {
        headers.insert(name.clone(), value.clone());
    }
    Ok(req)
}

// === impl UnixConnector ===

/// Connects every request to one Unix domain socket.
#[derive(Clone, Debug)]
pub struct UnixConnector {
    path: Arc<PathBuf>,
    timeout: Duration,
}

impl tower::Service<Uri> for UnixConnector {
    type Response = UnixIo;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<UnixIo>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let path = Arc::clone(&self.path);
        let timeout = self.timeout;
        Box::pin(async move {
            let stream = tokio::time::timeout(timeout, UnixStream::connect(&*path))
                .await
                .map_err(|_| {
                    io::Error::new(io::ErrorKind::TimedOut, "unix socket connect timed out")
                })??;
            Ok(UnixIo(TokioIo::new(stream)))
        })
    }
}

/// A Unix stream usable by hyper's pooled client.
#[derive(Debug)]
pub struct UnixIo(TokioIo<UnixStream>);

impl Connection for UnixIo {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for UnixIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for UnixIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_joins_base_path_and_request_path() {
        let base = UpstreamAddr::Http("https://api.example.com/openai/".parse().unwrap());
        let pq = PathAndQuery::from_static("/v1/chat/completions?x=1");
        assert_eq!(
            target_uri(&base, Some(&pq)).unwrap().to_string(),
            "https://api.example.com/openai/v1/chat/completions?x=1"
        );
        let unix = UpstreamAddr::Unix("/tmp/s.sock".into());
        assert_eq!(
            target_uri(&unix, Some(&pq)).unwrap().to_string(),
            "http://localhost/v1/chat/completions?x=1"
        );
    }

    #[test]
    fn client_credentials_are_replaced_by_the_upstream_key() {
        let cfg = Upstream {
            name: "u".into(),
            addr: UpstreamAddr::Http("http://127.0.0.1:1".parse().unwrap()),
            api_key: Some("sk-upstream".into()),
            auth: AuthStyle::XApiKey,
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            retries: 0,
            http2_only: false,
        };
        let (parts, ()) = Request::builder()
            .uri("/v1/messages")
            .header("authorization", "Bearer client-key")
            .header("x-api-key", "client-key")
            .header("connection", "x-secret-hop")
            .header("x-secret-hop", "1")
            .header("anthropic-version", "2023-06-01")
            .body(())
            .unwrap()
            .into_parts();
        let uri = target_uri(&cfg.addr, parts.uri.path_and_query()).unwrap();
        let open = SendOptions {
            forward_client_credentials: true,
            ..SendOptions::default()
        };
        let req =
            build_request(&cfg, &Prepared::new(&cfg), &parts, &uri, Bytes::new(), open).unwrap();
        let h = req.headers();
        assert!(h.get("authorization").is_none());
        assert_eq!(h.get("x-api-key").unwrap(), "sk-upstream");
        assert!(h.get("x-secret-hop").is_none());
        assert_eq!(h.get("anthropic-version").unwrap(), "2023-06-01");
        assert_eq!(h.get("host").unwrap(), "127.0.0.1:1");
    }

    #[test]
    fn client_content_length_is_kept_only_when_it_matches_the_body() {
        let cfg = Upstream {
            name: "u".into(),
            addr: UpstreamAddr::Http("http://127.0.0.1:1".parse().unwrap()),
            api_key: None,
            auth: AuthStyle::Bearer,
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            retries: 0,
            http2_only: false,
        };
        let (parts, ()) = Request::builder()
            .uri("/v1/chat/completions")
            .header("content-length", "5")
            .body(())
            .unwrap()
            .into_parts();
        let uri = target_uri(&cfg.addr, parts.uri.path_and_query()).unwrap();
        let prepared = Prepared::new(&cfg);
        let same = build_request(
            &cfg,
            &prepared,
            &parts,
            &uri,
            Bytes::from_static(b"hello"),
            SendOptions::default(),
        )
        .unwrap();
        assert_eq!(same.headers().get("content-length").unwrap(), "5");
        // A redacted body has another length: hyper sets the right one.
        let other = build_request(
            &cfg,
            &prepared,
            &parts,
            &uri,
            Bytes::from_static(b"hi"),
            SendOptions::default(),
        )
        .unwrap();
        assert!(other.headers().get("content-length").is_none());
    }
}
