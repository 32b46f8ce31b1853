//! Output guards: the upstream's answer is scanned before the client sees it.
//!
//! - A whole (non-streaming) response is buffered under a cap, decoded, scanned,
//!   decided on (direction `response`) and then released, redacted, or replaced
//!   by an error. A response that cannot be scanned (too large, malformed) is
//!   not delivered.
//! - An SSE stream is parsed event by event; text deltas are scanned
//!   incrementally. Only as many bytes as a match could still span are held
//!   back ([`Pipeline::max_match_bytes`]); the rest is released at once. A
//!   block mid-stream ends the stream with an error event in the API's own
//!   format and drops the upstream body, which cancels the upstream request.
//!   A client that goes away cancels the upstream the same way.
//! - An Ollama NDJSON stream goes the same way, one JSON line per event
//!   ([`crate::ndjson`]), and is written back as lines.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use menshen_classifiers::images;
use menshen_classifiers::markdown::FenceTracker;
use menshen_classifiers::{
    Conversation, Finding, Message, Restorer, Role, Segment, Span, Vault, VaultKey,
};
use menshen_policies::{Action, Decision, Direction};
use tokio::sync::mpsc;
use tower::{Layer, Service};

use super::decide::{
    apply_redaction, audit_text, policy_input, refusal, run_policy, with_decision_status, VaultExt,
};
use super::{Exchange, ExchangeHandle, ProxyBody, Shared};
use crate::api::{self, Api, DecodeLimits};
use crate::config::FailMode;
use crate::error::{BoxError, Reject, RejectKind};
use crate::sse::{SseEvent, SseParser};

/// Adds [`OutputGuard`].
#[derive(Clone, Debug)]
pub struct OutputGuardLayer {
    shared: Arc<Shared>,
}

impl OutputGuardLayer {
    /// A new layer.
    pub fn new(shared: Arc<Shared>) -> Self {
        OutputGuardLayer { shared }
    }
}

impl<S> Layer<S> for OutputGuardLayer {
    type Service = OutputGuard<S>;
    fn layer(&self, inner: S) -> OutputGuard<S> {
        OutputGuard {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// How it works is told in the docs of its module, `proxy/src/stack/output.rs`.
#[derive(Clone, Debug)]
pub struct OutputGuard<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// How a streamed answer is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// `text/event-stream`: OpenAI and Anthropic.
    Sse,
    /// `application/x-ndjson`, one JSON object per line: Ollama's native API.
    Ndjson,
}

/// The stream framing of a response, or `None` for a whole body.
fn stream_framing(api: Api, resp: &Response<ProxyBody>) -> Option<Framing> {
    let ct = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())?
        .trim_start();
    let is = |media: &str| {
        ct.get(..media.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(media))
    };
    if is("text/event-stream") {
        Some(Framing::Sse)
    } else if api.is_ollama() && (is("application/x-ndjson") || is("application/jsonl")) {
        Some(Framing::Ndjson)
    } else {
        None
    }
}

// === impl OutputGuard ===

impl<S> Service<Request<Bytes>> for OutputGuard<S>
where
    S: Service<Request<Bytes>, Response = Response<ProxyBody>, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<ProxyBody>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<ProxyBody>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let handle = req.extensions().get::<ExchangeHandle>().cloned();
            let vault = req.extensions().get::<VaultExt>().map(|v| Arc::clone(&v.0));
            let resp = inner.call(req).await?;
            let Some(handle) = handle else {
                return Ok(resp);
            };
            let (guarded, api) = handle.with(|ex| (ex.guarded, ex.api));
            let (true, Some(api)) = (guarded, api) else {
                return Ok(resp);
            };
            if !resp.status().is_success() {
                // Upstream errors carry no model output; pass them through.
                return Ok(resp);
            }
            if super::decode::is_encoded(resp.headers()) {
                // Asked for `identity` (see `SendOptions`); a server that
                // compresses anyway sends bytes no guard can read.
                tracing::warn!(
                    content_encoding = ?resp.headers().get(http::header::CONTENT_ENCODING),
                    "upstream compressed a response it was asked not to"
                );
                return Err(Box::new(Reject::new(
                    RejectKind::BadUpstreamResponse,
                    "upstream_encoded_response",
                    "the upstream compressed its response although asked not to; it cannot \
                     be scanned and was withheld",
                )) as BoxError);
            }
            if let Some(framing) = stream_framing(api, &resp) {
                Ok(stream_response(shared, handle, api, framing, resp, vault))
            } else {
                whole_response(shared, handle, api, resp, vault)
                    .await
                    .map_err(|r| -> BoxError { Box::new(r) })
            }
        })
    }
}

fn on_error(shared: &Shared, ex: &Exchange) -> FailMode {
    ex.route_index
        .and_then(|i| shared.settings.routes.get(i))
        .map_or(FailMode::Block, |r| r.on_error)
}

/// Decides on output findings. No findings and no failed guard: allow
/// without asking the policy.
fn decide_output(
    shared: &Shared,
    handle: &ExchangeHandle,
    conv: &Conversation,
    findings: &[Finding],
) -> Result<Decision, Reject> {
    // A guard that failed open leaves findings out; the policy is told so
    // (`input.guard_failures`) rather than shown an empty, clean-looking scan.
    if findings.is_empty() && handle.with(|e| e.output_failures.is_empty()) {
        return Ok(Decision::allow());
    }
    let (input, on_error) = handle.with(|ex| {
        let input = policy_input(
            ex,
            conv,
            None,
            Direction::Response,
            findings,
            &shared.guards,
        );
        (input, on_error(shared, ex))
    });
    let risk = input.risk.clone();
    let (decision, version) = run_policy(shared, &input, on_error)?;
    handle.with(|e| e.policy_version = version);
    shared
        .metrics
        .decision("response", decision.action.as_str());
    handle.with(|e| {
        e.output_findings.extend(findings.iter().cloned());
        if risk.score >= e.output_risk.score {
            e.output_risk = risk;
        }
        e.output_decision = Some(decision.clone());
    });
    Ok(decision)
}

async fn audit_response(shared: &Shared, handle: &ExchangeHandle) -> Result<(), Reject> {
    if let Some(audit) = &shared.audit {
        let written = handle.with(|ex| audit.record(ex, Direction::Response));
        if let Err(e) = written.await {
            shared.metrics.audit_failure();
            tracing::error!(error = %e, "audit record for response not written");
            return Err(Reject::new(
                RejectKind::AuditUnavailable,
                "audit_unavailable",
                "the audit log is unavailable; response withheld",
            ));
        }
    }
    Ok(())
}

async fn whole_response(
    shared: Arc<Shared>,
    handle: ExchangeHandle,
    api: Api,
    resp: Response<ProxyBody>,
    vault: Option<Arc<Vault>>,
) -> Result<Response<ProxyBody>, Reject> {
    let (mut parts, body) = resp.into_parts();
    let cap = usize::try_from(shared.settings.max_response_bytes).unwrap_or(usize::MAX);
    let bytes = match collect_limited(body, cap).await {
        Ok(b) => b,
        Err(e) => {
            return Err(if e.is_none() {
                Reject::new(
                    RejectKind::BadUpstreamResponse,
                    "upstream_response_too_large",
                    "the upstream response exceeds the scanning limit and was withheld",
                )
            } else {
                Reject::new(
                    RejectKind::UpstreamUnavailable,
                    "upstream_body_error",
                    "the upstream connection failed while sending the response",
                )
            });
        }
    };
    let limits = DecodeLimits::new(shared.settings.max_json_depth.max(128));
    let decoded = api::decode_response_bytes(api, bytes.clone(), &limits).map_err(|e| {
        tracing::warn!(error = %e, "upstream response not decodable");
        Reject::new(
            RejectKind::BadUpstreamResponse,
            "upstream_malformed_response",
            "the upstream response could not be parsed for scanning and was withheld",
        )
    })?;
    let started = std::time::Instant::now();
    let report = shared.guards.output.scan(&decoded.conversation).await;
    shared.metrics.guard_latency("output", started.elapsed());
    for f in &report.failures {
        shared.metrics.guard_failure(&f.detector, f.kind.as_str());
    }
    if !report.failures.is_empty() {
        handle.with(|e| e.output_failures.clone_from(&report.failures));
    }
    if report.must_block_on_failure() && handle.with(|ex| on_error(&shared, ex)) == FailMode::Block
    {
        return Err(Reject::new(
            RejectKind::GuardUnavailable,
            "output_guard_unavailable",
            "a required output guard is unavailable; response withheld",
        ));
    }
    if shared.audit.is_some() {
        let t = audit_text(&decoded.conversation, &report.findings);
        handle.with(|e| e.audit_response = Some(t));
    }
    let decision = decide_output(&shared, &handle, &decoded.conversation, &report.findings)?;
    let mut out = bytes.clone();
    // Copied only when something may edit it (a redaction, a vault to
    // restore from); an allowed answer is forwarded as received.
    let mut edited: Option<Conversation> = None;
    let mut changed = false;
    match decision.action {
        Action::Block | Action::Review => {
            audit_response(&shared, &handle).await?;
            return Err(answer_refusal(&decision));
        }
        Action::Redact => {
            let mut scratch = answer_vault(&handle);
            let conv = edited.insert(decoded.conversation.clone());
            changed |= apply_redaction(
                &shared.guards,
                conv,
                &report.findings,
                &decision.redact,
                &mut scratch,
            )?;
        }
        Action::Allow | Action::Route => {}
    }
    // Put back what the request's pseudonyms stood for.
    if let Some(v) = &vault {
        let conv = edited.get_or_insert_with(|| decoded.conversation.clone());
        let locs: Vec<_> = conv.segments().map(|s| (s.location, s.kind)).collect();
        for (loc, kind) in locs {
            if let Some(t) = conv.text_at_mut(loc) {
                let restored = if kind == menshen_classifiers::SegmentKind::ToolArguments {
                    v.restore_json(t)
                } else {
                    v.restore(t)
                };
                if restored != *t {
                    *t = restored;
                    changed = true;
                }
            }
        }
    }
    if let (true, Some(conv)) = (changed, &edited) {
        if let Some(b) = decoded.reencode(conv).map_err(|e| {
            Reject::new(
                RejectKind::BadUpstreamResponse,
                "redaction_failed",
                e.to_string(),
            )
        })? {
            out = Bytes::from(b);
            if api == Api::AnthropicMessages {
                super::thinking::record_response(&shared.thinking, &bytes, &out);
            }
        }
    }
    if let Some(b) = api::without_token_context(api, &out) {
        out = Bytes::from(b);
    }
    audit_response(&shared, &handle).await?;
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(out.len()));
    Ok(Response::from_parts(parts, super::full(out)))
}

/// Collects a body under a cap; `Err(None)` means the cap was hit. (Not
/// `http_body_util::Limited`: its error bound trips the compiler's `Send`
/// inference inside boxed futures, rust#102211.)
async fn collect_limited(mut body: ProxyBody, cap: usize) -> Result<Bytes, Option<BoxError>> {
    // A small answer usually arrives in one frame: keep it as it is and copy
    // only when a second one comes.
    let mut first: Option<Bytes> = None;
    let mut buf = bytes::BytesMut::new();
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(Some)?.into_data() {
            len = len.saturating_add(data.len());
            if len > cap {
                return Err(None);
            }
            match first.take() {
                None if buf.is_empty() => first = Some(data),
                None => buf.extend_from_slice(&data),
                Some(f) => {
                    buf.reserve(f.len().saturating_add(data.len()));
                    buf.extend_from_slice(&f);
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
    Ok(first.unwrap_or_else(|| buf.freeze()))
}

/// Turns a blocking decision on an answer into the client-facing
/// rejection. A `review` of an answer cannot hold it (the client is waiting
/// for this response, and no review case is stored for answers), so the
/// answer is withheld like a block, under a code that says why.
fn answer_refusal(d: &Decision) -> Reject {
    if d.action != Action::Review {
        return refusal(d);
    }
    let message = d.message.clone().unwrap_or_else(|| {
        "the model's answer was withheld: the policy requires human review of it".to_owned()
    });
    with_decision_status(
        Reject::new(RejectKind::Blocked, "withheld_for_review", message),
        d,
    )
}

// === streaming ===

/// Scans a stream's text per channel (choice index / content block) with a
/// hold-back window.
struct StreamScanner {
    holdback: usize,
    /// New text past the hold-back that waits for one scan.
    step: usize,
    channels: BTreeMap<api::DeltaKey, Channel>,
    /// Numbers masks (and keys pseudonyms) across the whole answer, as one
    /// whole response is redacted: a value keeps its placeholder from one
    /// window to the next. Made at the first redaction.
    vault: Option<Vault>,
}

#[derive(Default)]
struct Channel {
    /// Released text kept as left context so a match across the release
    /// boundary is still seen.
    tail: String,
    /// Received, not yet released.
    pending: String,
    /// The markdown fence state of the released text before `tail`, so a
    /// window that starts inside a code block is read as code.
    fence: FenceTracker,
    /// Labels of the reference images seen so far, so that a definition
    /// far below its image is read as an image source.
    image_labels: std::collections::BTreeSet<String>,
}

/// What scanning a channel concluded.
enum Scan {
    /// Release this (possibly redacted) text now.
    Release(String),
    /// Stop the stream.
    Block(Reject),
}

/// The vault that redacts an answer: a key of its own (an answer's
/// pseudonyms are not the request's, so nothing the model said is
/// restored), masks numbered after the request's.
fn answer_vault(handle: &ExchangeHandle) -> Vault {
    let mut v = Vault::new(VaultKey::random());
    handle.with(|e| v.continue_masks(&e.masks_issued));
    v
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl StreamScanner {
    fn new(holdback: usize, step: usize) -> Self {
        StreamScanner {
            holdback,
            step,
            channels: BTreeMap::new(),
            vault: None,
        }
    }

    /// Appends `text` to a channel, scans, and returns what may be released.
    /// With `flush`, everything pending is released (end of the channel).
    async fn push(
        &mut self,
        shared: &Shared,
        handle: &ExchangeHandle,
        key: api::DeltaKey,
        text: &str,
        flush: bool,
    ) -> Scan {
        let ch = self.channels.entry(key).or_default();
        ch.pending.push_str(text);
        // Nothing is released while the pending text fits the hold-back,
        // and past it only once `step` new bytes have come: scanning now
        // would be repeated over the same window at the next event. Text
        // is only ever released by a scan that covered it, and a match is
        // still found before any of it leaves (just at a later event).
        if ch.pending.is_empty()
            || (!flush && ch.pending.len() <= self.holdback.saturating_add(self.step))
        {
            return Scan::Release(String::new());
        }
        let mut window = String::with_capacity(ch.tail.len() + ch.pending.len());
        window.push_str(&ch.tail);
        window.push_str(&ch.pending);
        let boundary = ch.tail.len();
        let seg = Segment {
            location: menshen_classifiers::Location::Part {
                message: 0,
                part: 0,
            },
            role: if key.kind == api::DeltaKind::ToolResult {
                Role::Tool
            } else {
                Role::Assistant
            },
            trust: if key.kind == api::DeltaKind::ToolResult {
                menshen_classifiers::Trust::Untrusted
            } else {
                menshen_classifiers::Trust::Trusted
            },
            kind: match key.kind {
                api::DeltaKind::ToolArguments => menshen_classifiers::SegmentKind::ToolArguments,
                api::DeltaKind::Reasoning => menshen_classifiers::SegmentKind::Reasoning,
                api::DeltaKind::ToolResult => menshen_classifiers::SegmentKind::ToolResult,
                _ => menshen_classifiers::SegmentKind::Text,
            },
            text: &window,
            fence: ch.fence.open(),
            image_labels: (!ch.image_labels.is_empty()).then_some(&ch.image_labels),
        };
        let started = std::time::Instant::now();
        let report = shared.guards.output.scan_segments_once(&[seg]).await;
        shared
            .metrics
            .guard_latency("output_stream", started.elapsed());
        // The labels of this window's reference images, for the windows
        // after it (this one reads its own).
        if window.contains("![") && ch.image_labels.len() < images::MAX_CARRIED_LABELS {
            ch.image_labels.extend(images::image_labels(&window));
            while ch.image_labels.len() > images::MAX_CARRIED_LABELS {
                ch.image_labels.pop_last();
            }
        }
        for f in &report.failures {
            shared.metrics.guard_failure(&f.detector, f.kind.as_str());
        }
        if !report.failures.is_empty() {
            handle.with(|e| {
                for f in &report.failures {
                    if !e.output_failures.contains(f) {
                        e.output_failures.push(f.clone());
                    }
                }
            });
        }
        let ex_on_error = handle.with(|e| on_error(shared, e));
        if report.must_block_on_failure() && ex_on_error == FailMode::Block {
            return Scan::Block(Reject::new(
                RejectKind::GuardUnavailable,
                "output_guard_unavailable",
                "a required output guard is unavailable; stream stopped",
            ));
        }
        if !report.failures.is_empty() && shared.settings.allow_unscanned_output {
            shared.metrics.unscanned(ch.pending.len() as u64);
        }
        // Only findings reaching into the pending text are new; those wholly
        // inside the tail were decided on before.
        let fresh: Vec<Finding> = report
            .findings
            .into_iter()
            .filter(|f| f.span.is_none_or(|s| s.end > boundary))
            .collect();
        if !fresh.is_empty() {
            let conv =
                Conversation::from_messages(vec![Message::text(Role::Assistant, window.clone())]);
            let decision = match decide_output(shared, handle, &conv, &fresh) {
                Ok(d) => d,
                Err(r) => return Scan::Block(r),
            };
            match decision.action {
                Action::Block | Action::Review => return Scan::Block(answer_refusal(&decision)),
                Action::Redact => {
                    // Redact only inside pending text: released text is gone.
                    let shifted: Vec<Finding> = fresh
                        .into_iter()
                        .filter_map(|mut f| {
                            let s = f.span?;
                            if s.start < boundary {
                                return None;
                            }
                            f.span = Some(Span::new(s.start - boundary, s.end - boundary));
                            Some(f)
                        })
                        .collect();
                    let mut c = Conversation::from_messages(vec![Message::text(
                        Role::Assistant,
                        ch.pending.clone(),
                    )]);
                    // The configured operators, as for a whole answer.
                    let vault = self.vault.get_or_insert_with(|| answer_vault(handle));
                    match apply_redaction(&shared.guards, &mut c, &shifted, &decision.redact, vault)
                    {
                        Ok(true) => {
                            if let Some(t) = c.text_at_mut(menshen_classifiers::Location::Part {
                                message: 0,
                                part: 0,
                            }) {
                                ch.pending = std::mem::take(t);
                            }
                        }
                        Ok(false) => {}
                        Err(r) => return Scan::Block(r),
                    }
                }
                Action::Allow | Action::Route => {}
            }
        }
        let cut = if flush {
            ch.pending.len()
        } else {
            floor_char_boundary(&ch.pending, ch.pending.len().saturating_sub(self.holdback))
        };
        let release: String = ch.pending.drain(..cut).collect();
        ch.tail.push_str(&release);
        if ch.tail.len() > self.holdback {
            let start = floor_char_boundary(&ch.tail, ch.tail.len() - self.holdback);
            ch.fence.feed(ch.tail.get(..start).unwrap_or(""));
            ch.tail.drain(..start);
        }
        Scan::Release(release)
    }

    fn pending_keys(&self) -> Vec<api::DeltaKey> {
        self.channels
            .iter()
            .filter(|(_, c)| !c.pending.is_empty())
            .map(|(k, _)| *k)
            .collect()
    }
}

type FrameResult = Result<Frame<Bytes>, BoxError>;

/// Restores pseudonyms in released stream text, per channel, holding back
/// only a possible placeholder prefix split across chunks; `end` flushes it.
fn restore_piece<'v>(
    vault: Option<&'v Vault>,
    restorers: &mut BTreeMap<api::DeltaKey, Restorer<'v>>,
    key: api::DeltaKey,
    text: &str,
    end: bool,
) -> String {
    let Some(v) = vault else {
        return text.to_owned();
    };
    let r = restorers.entry(key).or_insert_with(|| {
        if key.kind == api::DeltaKind::ToolArguments {
            v.json_restorer()
        } else {
            v.restorer()
        }
    });
    let mut out = r.push(text);
    if end {
        if let Some(r) = restorers.remove(&key) {
            out.push_str(&r.finish());
        }
    }
    out
}

/// Masks PII in what a stream delivered and stores it as the response payload.
async fn stream_audit_payload(
    shared: &Shared,
    handle: &ExchangeHandle,
    forwarded: &BTreeMap<api::DeltaKey, String>,
) {
    let mut text = String::new();
    for t in forwarded.values() {
        if text.len() + t.len() > 64 * 1024 {
            break;
        }
        text.push_str(t);
    }
    let conv = Conversation::from_messages(vec![Message::text(Role::Assistant, text)]);
    let report = shared.guards.output.scan(&conv).await;
    let masked = audit_text(&conv, &report.findings);
    handle.with(|e| e.audit_response = Some(masked));
}

fn stream_response(
    shared: Arc<Shared>,
    handle: ExchangeHandle,
    api: Api,
    framing: Framing,
    resp: Response<ProxyBody>,
    vault: Option<Arc<Vault>>,
) -> Response<ProxyBody> {
    let (mut parts, body) = resp.into_parts();
    parts.headers.remove(CONTENT_LENGTH);
    let (tx, rx) = mpsc::channel::<FrameResult>(16);
    tokio::spawn(pump(shared, handle, api, framing, body, tx, vault));
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let body = StreamBody::new(stream).boxed_unsync();
    Response::from_parts(parts, body)
}

async fn send_events(
    tx: &mpsc::Sender<FrameResult>,
    framing: Framing,
    events: &[SseEvent],
) -> bool {
    if events.is_empty() {
        return true;
    }
    let mut buf = Vec::new();
    for e in events {
        match framing {
            Framing::Sse => e.write_to(&mut buf),
            Framing::Ndjson => crate::ndjson::write_line(e, &mut buf),
        }
    }
    tx.send(Ok(Frame::data(Bytes::from(buf)))).await.is_ok()
}

/// Splits upstream bytes into events of either framing (an NDJSON line is
/// an event whose `data` is the line).
enum StreamParser {
    Sse(SseParser),
    Ndjson(crate::ndjson::NdjsonParser),
}

impl StreamParser {
    fn new(framing: Framing, max_event_bytes: usize) -> Self {
        match framing {
            Framing::Sse => StreamParser::Sse(SseParser::new(max_event_bytes)),
            Framing::Ndjson => {
                StreamParser::Ndjson(crate::ndjson::NdjsonParser::new(max_event_bytes))
            }
        }
    }

    fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, crate::sse::SseError> {
        match self {
            StreamParser::Sse(p) => p.push(bytes),
            StreamParser::Ndjson(p) => p.push(bytes),
        }
    }

    /// The unterminated last event, if any; `Err` for one that cannot be
    /// read (a final NDJSON line that is not UTF-8).
    fn finish(&mut self) -> Result<Option<SseEvent>, crate::sse::SseError> {
        match self {
            StreamParser::Sse(p) => Ok(p.finish()),
            StreamParser::Ndjson(p) => p.finish(),
        }
    }
}

/// Stores `ev` as the release template of each `(key, fragment)`: moved in
/// for the last key, copied only when one event carries several keys.
fn keep_templates(
    templates: &mut BTreeMap<api::DeltaKey, (api::StreamEvent, usize)>,
    ev: api::StreamEvent,
    keys: Vec<(api::DeltaKey, usize)>,
) {
    let mut keys = keys.into_iter().peekable();
    while let Some((key, i)) = keys.next() {
        if keys.peek().is_some() {
            templates.insert(key, (ev.clone(), i));
        } else {
            templates.insert(key, (ev, i));
            return;
        }
    }
}

/// Moves the stream from upstream to client through the scanner. Ends when
/// the upstream ends, the client goes away (the upstream body is dropped,
/// cancelling it), or a guard blocks.
async fn pump(
    shared: Arc<Shared>,
    handle: ExchangeHandle,
    api: Api,
    framing: Framing,
    mut body: ProxyBody,
    tx: mpsc::Sender<FrameResult>,
    vault: Option<Arc<Vault>>,
) {
    let vault_ref: Option<&Vault> = vault.as_deref();
    let mut restorers: BTreeMap<api::DeltaKey, Restorer<'_>> = BTreeMap::new();
    let cap = shared.settings.stream_holdback_bytes;
    let holdback = shared
        .guards
        .output
        .max_match_bytes()
        .unwrap_or(cap)
        .min(cap);
    let mut scanner = StreamScanner::new(holdback, shared.settings.stream_scan_step_bytes);
    let mut parser = StreamParser::new(framing, shared.settings.max_sse_event_bytes);
    let mut templates: BTreeMap<api::DeltaKey, (api::StreamEvent, usize)> = BTreeMap::new();
    let mut forwarded: BTreeMap<api::DeltaKey, String> = BTreeMap::new();
    // Anthropic thinking blocks as the upstream wrote them, to put back a
    // changed one on the next turn (see `thinking`).
    let mut thinking =
        (api == Api::AnthropicMessages).then(super::thinking::StreamThinking::default);
    let mut finished = false;
    let outcome: Result<(), Reject> = 'outer: loop {
        let frame = tokio::select! {
            f = body.frame() => f,
            () = tx.closed() => {
                tracing::info!(request.id = %handle.with(|e| e.request_id.clone()), "client went away mid-stream; upstream cancelled");
                break 'outer Ok(());
            }
        };
        let events = match frame {
            None => {
                let last = parser.finish().map_err(|_| {
                    Reject::new(
                        RejectKind::BadUpstreamResponse,
                        "upstream_malformed_stream",
                        "the upstream stream is malformed",
                    )
                });
                if let Some(ev) = match last {
                    Ok(ev) => ev,
                    Err(r) => break 'outer Err(r),
                } {
                    vec![ev]
                } else {
                    break 'outer if finished {
                        Ok(())
                    } else {
                        Err(Reject::new(
                            RejectKind::UpstreamUnavailable,
                            "upstream_stream_truncated",
                            "the upstream stream ended before completion",
                        ))
                    };
                }
            }
            Some(Err(_)) => {
                break 'outer Err(Reject::new(
                    RejectKind::UpstreamUnavailable,
                    "upstream_stream_error",
                    "the upstream connection failed mid-stream",
                ))
            }
            Some(Ok(f)) => match f.into_data() {
                Ok(data) => match parser.push(&data) {
                    Ok(evs) => evs,
                    Err(_) => {
                        break 'outer Err(Reject::new(
                            RejectKind::BadUpstreamResponse,
                            "upstream_malformed_stream",
                            "the upstream stream is malformed",
                        ))
                    }
                },
                Err(_) => continue,
            },
        };
        let mut out = Vec::with_capacity(events.len());
        for sse in events {
            let mut ev = match api::StreamEvent::parse(api, sse) {
                Ok(ev) => ev,
                Err(_) => {
                    let _ = send_events(&tx, framing, &out).await;
                    break 'outer Err(Reject::new(
                        RejectKind::BadUpstreamResponse,
                        "upstream_malformed_stream",
                        "the upstream stream has an event that cannot be scanned",
                    ));
                }
            };
            if let Some(t) = thinking.as_mut() {
                if let Some((index, sig)) = ev.anthropic_signature() {
                    t.signature(index, &sig);
                }
                for f in ev.fragments() {
                    if f.key.kind == api::DeltaKind::Reasoning && !f.snapshot {
                        t.text(f.key.index, &f.text);
                    }
                }
            }
            let boundary = ev.is_boundary();
            if boundary {
                // Release held-back text before the boundary, as deltas of
                // the channel's last delta event: for every channel but one
                // that this event itself carries new delta text for (that
                // text releases it). A snapshot in this event (the Responses
                // API's `output_text.done`, `response.completed`) is no
                // delta: clients build the answer from deltas, so the held
                // tail must arrive as one before the snapshot repeats it.
                let own: Vec<api::DeltaKey> = ev
                    .fragments()
                    .iter()
                    .filter(|f| !f.snapshot)
                    .map(|f| f.key)
                    .collect();
                for key in scanner.pending_keys() {
                    if own.contains(&key) {
                        continue;
                    }
                    match scanner.push(&shared, &handle, key, "", true).await {
                        Scan::Release(text) => {
                            let text = restore_piece(vault_ref, &mut restorers, key, &text, true);
                            if let Some((t, i)) = templates.get(&key) {
                                if let Some(e) = t.delta_only(*i, &text) {
                                    out.push(e);
                                }
                            }
                            forwarded.entry(key).or_default().push_str(&text);
                        }
                        Scan::Block(r) => {
                            let _ = send_events(&tx, framing, &out).await;
                            break 'outer Err(r);
                        }
                    }
                }
            }
            let had_text = ev.fragments().iter().any(|f| !f.text.is_empty());
            // Keys whose latest event this is: kept as the template for
            // releasing held-back text before a boundary (after forwarding,
            // by move, so the event's JSON is not copied per event).
            let mut template_for: Vec<(api::DeltaKey, usize)> = Vec::new();
            let frags: Vec<(api::DeltaKey, String, bool)> = ev
                .fragments()
                .iter()
                .map(|f| (f.key, f.text.clone(), f.snapshot))
                .collect();
            for (i, (key, text, snapshot)) in frags.into_iter().enumerate() {
                let released = if snapshot && forwarded.contains_key(&key) {
                    // A snapshot repeats the key's text: show exactly what was
                    // forwarded, never the raw upstream text.
                    let rest = match scanner.push(&shared, &handle, key, "", true).await {
                        Scan::Release(t) => restore_piece(vault_ref, &mut restorers, key, &t, true),
                        Scan::Block(r) => {
                            let _ = send_events(&tx, framing, &out).await;
                            break 'outer Err(r);
                        }
                    };
                    let f = forwarded.entry(key).or_default();
                    f.push_str(&rest);
                    f.clone()
                } else {
                    match scanner
                        .push(&shared, &handle, key, &text, boundary || snapshot)
                        .await
                    {
                        Scan::Release(t) => {
                            let t = restore_piece(
                                vault_ref,
                                &mut restorers,
                                key,
                                &t,
                                boundary || snapshot,
                            );
                            if !snapshot {
                                template_for.push((key, i));
                                forwarded.entry(key).or_default().push_str(&t);
                            }
                            t
                        }
                        Scan::Block(r) => {
                            let _ = send_events(&tx, framing, &out).await;
                            break 'outer Err(r);
                        }
                    }
                };
                if ev.set_text(i, &released).is_err() {
                    let _ = send_events(&tx, framing, &out).await;
                    break 'outer Err(Reject::new(
                        RejectKind::BadUpstreamResponse,
                        "upstream_malformed_stream",
                        "a stream event could not be rewritten",
                    ));
                }
            }
            // A delta whose text is all held back carries nothing: drop it
            // rather than send empty deltas (role-only chunks had no text).
            let held_entirely = !boundary
                && had_text
                && !ev.fragments().is_empty()
                && ev.fragments().iter().all(|f| f.text.is_empty());
            if held_entirely {
                keep_templates(&mut templates, ev, template_for);
                continue;
            }
            if ev.is_terminal() {
                finished = true;
                if let Some(t) = thinking.take() {
                    t.finish(&shared.thinking, |index| {
                        let key = api::DeltaKey {
                            index,
                            sub: 0,
                            kind: api::DeltaKind::Reasoning,
                        };
                        forwarded.get(&key).cloned()
                    });
                }
                if shared.audit.is_some() {
                    stream_audit_payload(&shared, &handle, &forwarded).await;
                }
                // The response record is committed before the client sees
                // the end of the stream (sync mode semantics).
                if let Err(r) = audit_response(&shared, &handle).await {
                    let _ = send_events(&tx, framing, &out).await;
                    break 'outer Err(r);
                }
            }
            if template_for.is_empty() {
                out.push(ev.into_sse());
            } else {
                out.push(ev.to_sse());
                keep_templates(&mut templates, ev, template_for);
            }
        }
        if !send_events(&tx, framing, &out).await {
            break 'outer Ok(());
        }
    };
    drop(body);
    if let Err(r) = outcome {
        let (request_id, decision_made) = handle.with(|e| {
            e.reject_code = Some(r.code());
            (e.request_id.clone(), e.output_decision.is_some())
        });
        shared.metrics.error(r.code());
        tracing::warn!(request.id = %request_id, reject.code = r.code(), "stream ended with an error event");
        let events = api::stream_error_events(api, r.status(), r.code(), r.message());
        let _ = send_events(&tx, framing, &events).await;
        if !finished && (decision_made || shared.audit.is_some()) {
            let _ = audit_response(&shared, &handle).await;
        }
    }
}
