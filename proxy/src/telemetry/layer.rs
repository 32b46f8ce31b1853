//! The tower side of tracing: [`TraceLayer`] wraps the whole stack (one
//! server span per exchange, emitted when the client's response body ends
//! or is dropped), and [`MarkLayer`]s between the guard layers note when
//! each phase starts and ends, so the phases become child spans without the
//! guard layers knowing about tracing.
//!
//! Nothing here reads message text into a span: request parameters and
//! response metadata are read through [`genai`](super::genai)'s narrow
//! structs, and the rest comes from the [`Exchange`](crate::stack::Exchange),
//! which holds no raw text for spans to copy.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::future::{BoxFuture, Either};
use http::header::{HeaderValue, CONTENT_TYPE, HOST};
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use parking_lot::Mutex;
use tower::{Layer, Service};

use super::context::{self, Parent};
use super::genai::{RequestFacts, ResponseFacts, ResponseReader};
use super::span::{AttrValue, SpanData, SpanKind};
use crate::api::Api;
use crate::config::UpstreamAddr;
use crate::error::BoxError;
use crate::stack::{Exchange, ExchangeHandle, ProxyBody, Shared};

/// A phase boundary in the stack, marked by a [`MarkLayer`] placed just
/// above the layer that starts the phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Above the input guards: the request is decoded.
    Input,
    /// Above the request-direction decision: input guards are done.
    Decision,
    /// Above the output guards: the decision allowed the request.
    Output,
    /// Above the forwarder: the upstream call starts here, and `traceparent`
    /// is set to the upstream span.
    Upstream,
}

/// Per-exchange trace state, in request extensions while the exchange is sampled.
#[derive(Debug, Clone)]
pub(crate) struct Timeline(Arc<Mutex<TraceState>>);

#[derive(Debug)]
struct TraceState {
    trace_id: [u8; 16],
    server_span: [u8; 8],
    upstream_span: [u8; 8],
    parent: Option<Parent>,
    base: Instant,
    base_unix_nanos: u64,
    method: String,
    path: String,
    host: Option<String>,
    handle: Option<ExchangeHandle>,
    input_start: Option<Instant>,
    policy_start: Option<Instant>,
    policy_end: Option<Instant>,
    output_start: Option<Instant>,
    output_end: Option<Instant>,
    upstream_start: Option<Instant>,
    upstream_end: Option<Instant>,
    upstream_failed: bool,
    upstream_stream: bool,
    request: RequestFacts,
    response: ResponseFacts,
    status: u16,
    request_id: Option<String>,
    decision: Option<String>,
}

impl Timeline {
    fn with<R>(&self, f: impl FnOnce(&mut TraceState) -> R) -> R {
        f(&mut self.0.lock())
    }
}

/// Adds [`Trace`]; a no-op when telemetry is off.
#[derive(Clone, Debug)]
pub struct TraceLayer {
    shared: Arc<Shared>,
}

impl TraceLayer {
    /// A new layer over `shared` (exporting through `shared.telemetry`).
    pub fn new(shared: Arc<Shared>) -> Self {
        TraceLayer { shared }
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;
    fn layer(&self, inner: S) -> Trace<S> {
        Trace {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Samples the exchange (continuing an incoming `traceparent`), and queues
/// its spans when the client's response body ends or is dropped.
#[derive(Clone, Debug)]
pub struct Trace<S> {
    inner: S,
    shared: Arc<Shared>,
}

// === impl Trace ===

impl<S, B> Service<Request<B>> for Trace<S>
where
    S: Service<Request<B>, Response = Response<ProxyBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = Either<S::Future, BoxFuture<'static, Result<Response<ProxyBody>, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let Some(telemetry) = &self.shared.telemetry else {
            return Either::Left(self.inner.call(req));
        };
        let parent = context::parse_traceparent(req.headers());
        // Parent-based sampling: a caller's decision stands; new traces are
        // sampled by ratio on the trace id.
        let (trace_id, sampled) = match &parent {
            Some(p) => (p.trace_id, p.sampled),
            None => {
                let id = context::new_trace_id();
                (id, context::sampled_by_ratio(&id, telemetry.sample_ratio))
            }
        };
        if !sampled {
            return Either::Left(self.inner.call(req));
        }
        let host = req
            .headers()
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .and_then(|h| h.parse::<http::uri::Authority>().ok())
            .map(|a| a.host().to_owned())
            .filter(|h| !h.is_empty() && h.len() <= 255);
        let timeline = Timeline(Arc::new(Mutex::new(TraceState {
            trace_id,
            server_span: context::new_span_id(),
            upstream_span: context::new_span_id(),
            parent,
            base: Instant::now(),
            base_unix_nanos: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            method: req.method().as_str().to_owned(),
            path: req.uri().path().to_owned(),
            host,
            handle: None,
            input_start: None,
            policy_start: None,
            policy_end: None,
            output_start: None,
            output_end: None,
            upstream_start: None,
            upstream_end: None,
            upstream_failed: false,
            upstream_stream: false,
            request: RequestFacts::default(),
            response: ResponseFacts::default(),
            status: 0,
            request_id: None,
            decision: None,
        })));
        req.extensions_mut().insert(timeline.clone());
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        Either::Right(Box::pin(async move {
            let Ok(resp) = inner.call(req).await;
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let (request_id, decision) = (header("x-request-id"), header("x-menshen-decision"));
            timeline.with(|s| {
                s.status = resp.status().as_u16();
                s.request_id = request_id;
                s.decision = decision;
            });
            Ok(resp.map(|body| {
                FinishBody {
                    inner: body,
                    finish: Some((timeline, shared)),
                }
                .boxed_unsync()
            }))
        }))
    }
}

/// The client's response body: when it ends, or is dropped unfinished
/// (the client went away), the exchange's spans are built and queued.
struct FinishBody {
    inner: ProxyBody,
    finish: Option<(Timeline, Arc<Shared>)>,
}

impl FinishBody {
    fn finish(&mut self) {
        if let Some((timeline, shared)) = self.finish.take() {
            if let Some(t) = &shared.telemetry {
                t.exporter.submit(spans(&timeline, &shared, Instant::now()));
            }
        }
    }
}

impl Body for FinishBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.finish();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for FinishBody {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Adds [`Mark`] for one [`Phase`].
#[derive(Clone, Copy, Debug)]
pub struct MarkLayer {
    phase: Phase,
}

impl MarkLayer {
    /// A mark for `phase`.
    pub fn new(phase: Phase) -> Self {
        MarkLayer { phase }
    }
}

impl<S> Layer<S> for MarkLayer {
    type Service = Mark<S>;
    fn layer(&self, inner: S) -> Mark<S> {
        Mark {
            inner,
            phase: self.phase,
        }
    }
}

/// Notes the time a request enters and leaves the layers below it; does
/// nothing for unsampled requests (one extensions lookup).
#[derive(Clone, Debug)]
pub struct Mark<S> {
    inner: S,
    phase: Phase,
}

// === impl Mark ===

impl<S> Service<Request<Bytes>> for Mark<S>
where
    S: Service<Request<Bytes>, Response = Response<ProxyBody>, Error = BoxError>,
{
    type Response = Response<ProxyBody>;
    type Error = BoxError;
    type Future = MarkFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Bytes>) -> Self::Future {
        let timeline = req.extensions().get::<Timeline>().cloned();
        if let Some(tl) = &timeline {
            let now = Instant::now();
            match self.phase {
                Phase::Input => {
                    let handle = req.extensions().get::<ExchangeHandle>().cloned();
                    let facts = RequestFacts::read(req.body());
                    tl.with(|s| {
                        s.input_start = Some(now);
                        s.handle = handle;
                        s.request = facts;
                    });
                }
                Phase::Decision => tl.with(|s| s.policy_start = Some(now)),
                Phase::Output => tl.with(|s| s.output_start = Some(now)),
                Phase::Upstream => {
                    let tp = tl.with(|s| {
                        s.upstream_start = Some(now);
                        context::traceparent(&s.trace_id, &s.upstream_span, true)
                    });
                    if let Ok(v) = HeaderValue::from_str(&tp) {
                        req.headers_mut().insert("traceparent", v);
                    }
                }
            }
        }
        MarkFuture {
            inner: self.inner.call(req),
            timeline,
            phase: self.phase,
        }
    }
}

pin_project_lite::pin_project! {
    /// [`Mark`]'s future: notes when the layers below answered.
    #[derive(Debug)]
    pub struct MarkFuture<F> {
        #[pin]
        inner: F,
        timeline: Option<Timeline>,
        phase: Phase,
    }
}

impl<F> Future for MarkFuture<F>
where
    F: Future<Output = Result<Response<ProxyBody>, BoxError>>,
{
    type Output = Result<Response<ProxyBody>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out,
        };
        let Some(tl) = this.timeline.take() else {
            return Poll::Ready(out);
        };
        let now = Instant::now();
        let out = match *this.phase {
            Phase::Input => out,
            Phase::Decision => {
                tl.with(|s| s.policy_end = Some(now));
                out
            }
            Phase::Output => {
                tl.with(|s| s.output_end = Some(now));
                out
            }
            Phase::Upstream => match out {
                Err(e) => {
                    tl.with(|s| {
                        s.upstream_end = Some(now);
                        s.upstream_failed = true;
                    });
                    Err(e)
                }
                Ok(resp) => {
                    let content_type = resp
                        .headers()
                        .get(CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(|ct| ct.trim_start().to_ascii_lowercase())
                        .unwrap_or_default();
                    let lines = content_type.starts_with("application/x-ndjson");
                    let stream = lines || content_type.starts_with("text/event-stream");
                    tl.with(|s| {
                        s.upstream_end = Some(now);
                        s.upstream_stream = stream;
                    });
                    if resp.status().is_success() {
                        // Same caps as the output guards: bodies past them are
                        // withheld from the client anyway.
                        let reader = if lines {
                            ResponseReader::lines(1024 * 1024)
                        } else {
                            ResponseReader::new(stream, 16 * 1024 * 1024, 1024 * 1024)
                        };
                        Ok(resp.map(|body| {
                            FactsBody {
                                inner: body,
                                reader,
                                facts: ResponseFacts::default(),
                                timeline: Some(tl),
                            }
                            .boxed_unsync()
                        }))
                    } else {
                        Ok(resp)
                    }
                }
            },
        };
        Poll::Ready(out)
    }
}

/// The upstream's body on its way to the output guards: response metadata
/// is read as it passes and stored when the body ends or is dropped.
struct FactsBody {
    inner: ProxyBody,
    reader: ResponseReader,
    facts: ResponseFacts,
    timeline: Option<Timeline>,
}

impl FactsBody {
    fn store(&mut self) {
        if let Some(tl) = self.timeline.take() {
            self.reader.finish(&mut self.facts);
            let facts = std::mem::take(&mut self.facts);
            tl.with(|s| s.response = facts);
        }
    }
}

impl Body for FactsBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.reader.push(data, &mut this.facts);
                }
            }
            Poll::Ready(None) => this.store(),
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for FactsBody {
    fn drop(&mut self) {
        // A stream cut short still reports what it said so far; a partial
        // JSON body reads as nothing.
        self.store();
    }
}

// === spans ===

fn operation(api: Api) -> &'static str {
    match api {
        Api::OpenAiCompletions | Api::OllamaGenerate => "text_completion",
        Api::OpenAiChat | Api::OpenAiResponses | Api::AnthropicMessages | Api::OllamaChat => "chat",
        Api::AnthropicCountTokens | Api::OpenAiResponsesInputTokens => "count_tokens",
    }
}

fn provider(api: Api) -> &'static str {
    if api.is_anthropic() {
        "anthropic"
    } else if api.is_ollama() {
        "ollama"
    } else {
        "openai"
    }
}

/// The decision as the `x-menshen-decision` header states it.
fn decision(ex: &Exchange) -> &'static str {
    match (&ex.decision, ex.reject_code) {
        (Some(d), _) => d.action.as_str(),
        (None, Some(_)) => "reject",
        (None, None) if ex.guarded => "allow",
        (None, None) => "passthrough",
    }
}

/// Builds the exchange's spans: the server span and one child per phase
/// that ran. Reads the exchange under its lock rather than cloning it (it
/// holds findings and the masked audit payloads, none of which spans need).
fn spans(timeline: &Timeline, shared: &Shared, end: Instant) -> Vec<SpanData> {
    let s = timeline.0.lock();
    match &s.handle {
        Some(h) => h.with(|ex| build(&s, Some(ex), shared, end)),
        None => build(&s, None, shared, end),
    }
}

/// Longest `url.path` kept: the path is client-chosen text.
const MAX_PATH: usize = 256;

fn truncated(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn build(s: &TraceState, ex: Option<&Exchange>, shared: &Shared, end: Instant) -> Vec<SpanData> {
    let at = |t: Instant| {
        s.base_unix_nanos.saturating_add(
            u64::try_from(t.saturating_duration_since(s.base).as_nanos()).unwrap_or(u64::MAX),
        )
    };
    let api = ex.and_then(|e| e.api);
    let model = ex
        .map(|e| e.model.as_str())
        .filter(|m| !m.is_empty() && m.len() <= 256);
    let name = match (api, model) {
        (Some(a), Some(m)) => format!("{} {m}", operation(a)),
        (Some(a), None) => operation(a).to_owned(),
        (None, _) => s.method.clone(),
    };
    let mut root = SpanData {
        trace_id: s.trace_id,
        span_id: s.server_span,
        parent_span_id: s.parent.as_ref().map(|p| p.span_id),
        trace_state: s.parent.as_ref().and_then(|p| p.trace_state.clone()),
        name,
        kind: SpanKind::Server,
        start_unix_nanos: s.base_unix_nanos,
        end_unix_nanos: at(end),
        attributes: Vec::with_capacity(32),
        error: (s.status >= 500).then(|| format!("HTTP {}", s.status)),
    };
    let child =
        |name: &str, kind: SpanKind, span_id: [u8; 8], from: Instant, to: Instant| SpanData {
            trace_id: s.trace_id,
            span_id,
            parent_span_id: Some(s.server_span),
            trace_state: None,
            name: name.to_owned(),
            kind,
            start_unix_nanos: at(from),
            end_unix_nanos: at(to.max(from)),
            attributes: Vec::new(),
            error: None,
        };
    let gen_ai = |span: &mut SpanData| {
        if let Some(a) = api {
            span.str("gen_ai.operation.name", operation(a));
            span.str("gen_ai.provider.name", provider(a));
        }
        if let Some(m) = model {
            span.str("gen_ai.request.model", m);
        }
    };
    root.str("http.request.method", s.method.clone());
    root.str("url.path", truncated(&s.path, MAX_PATH));
    root.int("http.response.status_code", s.status);
    if let Some(h) = &s.host {
        root.str("server.address", h.clone());
    }
    gen_ai(&mut root);
    if api.is_some() {
        if let Some(n) = s.request.max_tokens {
            root.int("gen_ai.request.max_tokens", n);
        }
        if let Some(t) = s.request.temperature {
            root.attributes
                .push(("gen_ai.request.temperature", AttrValue::Double(t)));
        }
        if let Some(p) = s.request.top_p {
            root.attributes
                .push(("gen_ai.request.top_p", AttrValue::Double(p)));
        }
        let r = &s.response;
        if let Some(m) = &r.model {
            root.str("gen_ai.response.model", m.clone());
        }
        if let Some(id) = &r.id {
            root.str("gen_ai.response.id", id.clone());
        }
        if !r.finish_reasons.is_empty() {
            root.attributes.push((
                "gen_ai.response.finish_reasons",
                AttrValue::StrArray(r.finish_reasons.clone()),
            ));
        }
        if let Some(n) = r.input_tokens {
            root.int("gen_ai.usage.input_tokens", n);
        }
        if let Some(n) = r.output_tokens {
            root.int("gen_ai.usage.output_tokens", n);
        }
    }
    let mut out = Vec::with_capacity(5);
    match ex {
        None => {
            // Rejected before decoding (auth, limits): what the headers said.
            if let Some(id) = &s.request_id {
                root.str("menshen.request_id", id.clone());
            }
            if let Some(d) = &s.decision {
                root.str("menshen.decision", d.clone());
            }
        }
        Some(ex) => {
            root.str("menshen.request_id", ex.request_id.clone());
            root.str("menshen.tenant", ex.tenant.clone());
            if let Some(r) = &ex.route {
                root.str("menshen.route", r.clone());
            }
            root.str("menshen.decision", decision(ex));
            root.int("menshen.risk", ex.risk.score);
            let mut categories: Vec<String> = ex
                .findings
                .iter()
                .chain(&ex.output_findings)
                .map(|f| f.category.to_string())
                .collect();
            categories.sort();
            categories.dedup();
            if !categories.is_empty() {
                root.attributes
                    .push(("menshen.categories", AttrValue::StrArray(categories)));
            }
            if !ex.policy_version.is_empty() {
                root.str("menshen.policy_version", ex.policy_version.clone());
            }
            if let Some(d) = &ex.output_decision {
                root.str("menshen.output.decision", d.action.as_str());
                root.int("menshen.output.risk", ex.output_risk.score);
            }
            if ex.guarded {
                root.attributes
                    .push(("menshen.stream", AttrValue::Bool(ex.stream)));
            }
            if let Some(code) = ex.reject_code {
                root.str("error.type", code);
            }
            if ex.guarded {
                if let Some(from) = s.input_start {
                    let to = s.policy_start.unwrap_or(end);
                    let mut c = child(
                        "menshen.input_guards",
                        SpanKind::Internal,
                        context::new_span_id(),
                        from,
                        to,
                    );
                    c.int("menshen.findings", ex.findings.len());
                    c.int("menshen.guard_failures", ex.failures.len());
                    out.push(c);
                }
                if let Some(from) = s.policy_start {
                    let to = s.output_start.or(s.policy_end).unwrap_or(end);
                    let mut c = child(
                        "menshen.policy",
                        SpanKind::Internal,
                        context::new_span_id(),
                        from,
                        to,
                    );
                    c.str("menshen.decision", decision(ex));
                    c.int("menshen.risk", ex.risk.score);
                    if !ex.policy_version.is_empty() {
                        c.str("menshen.policy_version", ex.policy_version.clone());
                    }
                    out.push(c);
                }
            }
        }
    }
    if let Some(from) = s.upstream_start {
        let to = s.upstream_end.unwrap_or(end);
        let mut c = child(
            "menshen.upstream",
            SpanKind::Client,
            s.upstream_span,
            from,
            to,
        );
        gen_ai(&mut c);
        if let Some(idx) = ex.and_then(|e| e.upstream) {
            c.str("menshen.upstream", shared.upstreams.name(idx).to_owned());
            if let Some(UpstreamAddr::Http(uri)) =
                shared.settings.upstreams.get(idx).map(|u| &u.addr)
            {
                if let Some(h) = uri.host() {
                    c.str("server.address", h.to_owned());
                }
                if let Some(p) = uri.port_u16().or(match uri.scheme_str() {
                    Some("https") => Some(443),
                    _ => Some(80),
                }) {
                    c.int("server.port", p);
                }
            }
        }
        match ex.and_then(|e| e.upstream_status) {
            Some(code) => {
                c.int("http.response.status_code", code);
                if code >= 500 {
                    c.error = Some(format!("HTTP {code}"));
                }
            }
            None if s.upstream_failed => c.error = Some("upstream unavailable".to_owned()),
            None => {}
        }
        out.push(c);
        let guarded = ex.is_some_and(|e| e.guarded);
        let ok = ex
            .and_then(|e| e.upstream_status)
            .is_some_and(|c| (200..300).contains(&c));
        if let (true, true, Some(from)) = (guarded, ok, s.upstream_end) {
            // A stream is scanned until it ends; a whole body until the
            // output layer answers.
            let to = if s.upstream_stream {
                end
            } else {
                s.output_end.unwrap_or(end)
            };
            let mut c = child(
                "menshen.output_guards",
                SpanKind::Internal,
                context::new_span_id(),
                from,
                to,
            );
            if let Some(ex) = ex {
                c.int("menshen.findings", ex.output_findings.len());
                if let Some(d) = &ex.output_decision {
                    c.str("menshen.output.decision", d.action.as_str());
                }
            }
            out.push(c);
        }
    }
    out.insert(0, root);
    out
}
