//! The request-direction decision: findings → risk → policy → action.
//!
//! This is the only request-side layer that blocks. Guard failures and
//! policy errors follow the route's `on_error`: by default they block (fail
//! closed), and they are always counted and logged. A policy allows only
//! when its decision says so explicitly.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Request, StatusCode};
use menshen_classifiers::{Conversation, Finding, OnError, Span, Vault, VaultKey};
use menshen_policies::{
    Action, CaseId, Decision, Direction, FindingSummary, GuardFailureFact, PolicyContext,
    PolicyInput, Release, RequestFingerprint, ReviewQueue, EXPIRY_REVIEWER,
};
use tower::{Layer, Service};

use super::decode::DecodedReq;
use super::{Exchange, ExchangeHandle, Guards, ReviewOutcome, ReviewRef, Shared};
use crate::api;
use crate::config::FailMode;
use crate::error::{BoxError, Reject, RejectKind};

/// Adds [`Decide`].
#[derive(Clone, Debug)]
pub struct DecideLayer {
    shared: Arc<Shared>,
}

impl DecideLayer {
    /// A new layer.
    pub fn new(shared: Arc<Shared>) -> Self {
        DecideLayer { shared }
    }
}

impl<S> Layer<S> for DecideLayer {
    type Service = Decide<S>;
    fn layer(&self, inner: S) -> Decide<S> {
        Decide {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Decide<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// Groups findings for the policy: counts and entity types, never raw text.
pub fn summarize(findings: &[Finding], conv: Option<&Conversation>) -> Vec<FindingSummary> {
    match conv {
        Some(c) => menshen_policies::summarize_findings_in(findings, c),
        None => menshen_policies::summarize_findings(findings),
    }
}

/// Builds the policy input for an exchange.
pub fn policy_input(
    ex: &Exchange,
    conv: &Conversation,
    http: Option<&http::request::Parts>,
    direction: Direction,
    findings: &[Finding],
    guards: &Guards,
) -> PolicyInput {
    let mut input = PolicyInput {
        version: 1,
        ..PolicyInput::default()
    };
    if !guards.engine.reads_request_facts() {
        input.findings = summarize(findings, Some(conv));
        input.risk = guards.scorer.score(findings);
        input.context.stream = ex.stream;
        input.context.direction = direction;
        return input;
    }
    if let Some(parts) = http {
        let facts = &mut input.attributes.request.http;
        facts.method = parts.method.to_string();
        facts.path = parts.uri.path().to_owned();
        facts.host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        for name in [
            "content-type",
            "user-agent",
            "anthropic-version",
            "openai-organization",
        ] {
            if let Some(v) = parts.headers.get(name).and_then(|v| v.to_str().ok()) {
                facts.headers.insert(name.to_owned(), v.to_owned());
            }
        }
        facts.size = ex.body_size;
        input.llm.path = facts.path.clone();
    }
    input.llm.api = ex.api.map_or("", api::Api::as_str).to_owned();
    input.llm.model = ex.model.clone();
    input.llm.route = ex.route.clone().unwrap_or_default();
    input.llm.tenant = ex.tenant.clone();
    input.llm.user = ex.user.clone().unwrap_or_default();
    for m in &conv.messages {
        let role = m.role.as_str().to_owned();
        let c = input.llm.message_counts.entry(role.clone()).or_insert(0);
        *c = c.saturating_add(1);
        let bytes: u64 = m
            .parts
            .iter()
            .map(|p| match p {
                menshen_classifiers::Part::Text { text }
                | menshen_classifiers::Part::Reasoning { text }
                | menshen_classifiers::Part::ToolResult { text, .. }
                | menshen_classifiers::Part::Document { text } => text.len() as u64,
                menshen_classifiers::Part::ToolCall { arguments, .. } => arguments.len() as u64,
                menshen_classifiers::Part::Image { .. } => {
                    input.llm.opaque_parts = input.llm.opaque_parts.saturating_add(1);
                    0
                }
            })
            .sum();
        let b = input.llm.message_bytes.entry(role).or_insert(0);
        *b = b.saturating_add(bytes);
    }
    input.llm.has_untrusted_content = conv.has_untrusted();
    input.findings = summarize(findings, Some(conv));
    input.risk = guards.scorer.score(findings);
    let failures = match direction {
        Direction::Request => &ex.failures,
        Direction::Response => &ex.output_failures,
    };
    input.guard_failures = failures
        .iter()
        .map(GuardFailureFact::from_failure)
        .collect();
    input.context = PolicyContext {
        time: now_rfc3339(),
        stream: ex.stream,
        direction,
    };
    input
}

/// Current UTC time, RFC 3339.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Runs the policy, applying `on_error` to failures.
pub(crate) fn run_policy(
    shared: &Shared,
    input: &PolicyInput,
    on_error: FailMode,
) -> Result<(Decision, String), Reject> {
    let (result, version) = shared.guards.engine.evaluate(input);
    match result {
        Ok(d) => Ok((d, version)),
        Err(e) => {
            shared.metrics.policy_error();
            tracing::error!(error = %e, policy.version = %version, "policy evaluation failed");
            match on_error {
                FailMode::Block => Err(Reject::new(
                    RejectKind::GuardUnavailable,
                    "policy_error",
                    "the policy could not decide; failing closed",
                )),
                FailMode::Allow => {
                    let mut d = Decision::allow();
                    d.reasons.push("policy_error_fail_open".to_owned());
                    Ok((d, version))
                }
            }
        }
    }
}

/// Turns a blocking decision into the client-facing rejection.
pub(crate) fn refusal(d: &Decision) -> Reject {
    let message = d
        .message
        .clone()
        .unwrap_or_else(|| "request blocked by policy".to_owned());
    let r = match d.action {
        Action::Review => Reject::new(RejectKind::HeldForReview, "held_for_review", message),
        _ => Reject::new(RejectKind::Blocked, "blocked_by_policy", message),
    };
    with_decision_status(r, d)
}

/// `r` with the HTTP status the decision names, if it names a valid one.
pub(crate) fn with_decision_status(r: Reject, d: &Decision) -> Reject {
    match d.status.and_then(|s| StatusCode::from_u16(s).ok()) {
        Some(s) => r.with_status(s),
        None => r,
    }
}

/// Replaces the spans of findings whose entity type (or detector id) the
/// decision lists with `[TYPE]` placeholders, right to left so earlier spans
/// stay valid. Returns whether anything changed.
pub fn redact_conversation(
    conv: &mut Conversation,
    findings: &[Finding],
    ops: &BTreeMap<String, String>,
) -> bool {
    let mut by_loc: BTreeMap<_, Vec<(Span, String)>> = BTreeMap::new();
    for f in findings {
        let key = f.entity.clone().unwrap_or_else(|| f.detector.clone());
        if !(ops.contains_key(&key) || ops.contains_key("*")) {
            continue;
        }
        if let (Some(loc), Some(span)) = (f.location, f.span) {
            by_loc
                .entry(loc)
                .or_default()
                .push((span, key.to_ascii_uppercase()));
        }
    }
    let mut changed = false;
    for (loc, mut spans) in by_loc {
        let Some(text) = conv.text_at_mut(loc) else {
            continue;
        };
        spans.sort_by(|a, b| b.0.start.cmp(&a.0.start).then(b.0.end.cmp(&a.0.end)));
        let mut floor = usize::MAX;
        for (span, label) in spans {
            // Skip overlaps with a span already replaced to the right.
            if span.end > floor
                || span.end > text.len()
                || !text.is_char_boundary(span.start)
                || !text.is_char_boundary(span.end)
            {
                continue;
            }
            text.replace_range(span.start..span.end, &format!("[{label}]"));
            floor = span.start;
            changed = true;
        }
    }
    changed
}

/// Longest payload text kept for the audit log, in bytes.
const AUDIT_PAYLOAD_CAP: usize = 64 * 1024;

/// The conversation's text with every PII/secret finding masked, for the
/// audit payload. Raw personal data never reaches the log this way, whatever
/// the policy decided for the upstream.
pub fn audit_text(conv: &Conversation, findings: &[Finding]) -> String {
    let ops: BTreeMap<String, String> = findings
        .iter()
        .filter_map(|f| f.entity.clone())
        .map(|e| (e, "mask".to_owned()))
        .collect();
    // Copy the conversation only when there is something to mask in it.
    let copy;
    let masked = if ops.is_empty() {
        conv
    } else {
        let mut m = conv.clone();
        redact_conversation(&mut m, findings, &ops);
        copy = m;
        &copy
    };
    let wanted: usize = masked
        .segments()
        .map(|s| {
            s.text
                .len()
                .saturating_add(s.role.as_str().len())
                .saturating_add(3)
        })
        .sum();
    let mut out = String::with_capacity(wanted.min(AUDIT_PAYLOAD_CAP.saturating_add(32)));
    for seg in masked.segments() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(seg.role.as_str());
        out.push_str(": ");
        out.push_str(seg.text);
        if out.len() > AUDIT_PAYLOAD_CAP {
            let cut = (0..=AUDIT_PAYLOAD_CAP)
                .rev()
                .find(|i| out.is_char_boundary(*i))
                .unwrap_or(0);
            out.truncate(cut);
            out.push_str(" …[truncated]");
            break;
        }
    }
    out
}

/// The pseudonym vault of a request, for restoring originals in the response.
/// Lives only in memory, for the request's lifetime.
#[derive(Clone)]
pub(crate) struct VaultExt(pub(crate) Arc<Vault>);

impl std::fmt::Debug for VaultExt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VaultExt(..)")
    }
}

/// A stable id for a conversation: its tenant and first message. Every turn
/// of a chat re-sends the first message, so the same value gets the same
/// pseudonym across turns, while other conversations cannot link them.
pub fn conversation_id(tenant: &str, conv: &Conversation) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(tenant.as_bytes());
    h.update([0]);
    if let Some(first) = conv.segments().next() {
        h.update(first.text.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The pseudonym vault for a conversation of `tenant`: keyed by the
/// server secret and [`conversation_id`], so every turn gets the same
/// placeholders.
pub fn conversation_vault(guards: &Guards, tenant: &str, conv: &Conversation) -> Vault {
    Vault::new(VaultKey::derive(
        &guards.vault_secret,
        &conversation_id(tenant, conv),
    ))
}

/// Redacts, in place, the entity findings the decision lists (`"*"`: all),
/// with the configured operators overridden by the decision's. Returns
/// whether any text changed.
pub(crate) fn apply_redaction(
    guards: &Guards,
    conv: &mut Conversation,
    findings: &[Finding],
    ops: &BTreeMap<String, String>,
    vault: &mut Vault,
) -> Result<bool, Reject> {
    let all = ops.contains_key("*");
    // The decision says what to redact; it says how unless the config does.
    let overrides: BTreeMap<String, String> = ops
        .iter()
        .filter(|_| guards.policy_operators)
        .filter(|(k, v)| *k != "*" && crate::config::OPERATORS.contains(&v.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let custom;
    let redactor: &menshen_classifiers::Redactor = if overrides.is_empty() {
        &guards.redactor
    } else {
        custom = crate::app::build_redactor(&guards.redaction, &overrides).map_err(|e| {
            Reject::new(
                RejectKind::GuardUnavailable,
                "redaction_failed",
                e.to_string(),
            )
        })?;
        &custom
    };
    let mut by_loc: BTreeMap<_, Vec<Finding>> = BTreeMap::new();
    for f in findings {
        let Some(entity) = &f.entity else { continue };
        if !(all || ops.contains_key(entity)) {
            continue;
        }
        if let Some(loc) = f.location {
            by_loc.entry(loc).or_default().push(f.clone());
        }
    }
    let mut changed = false;
    for (loc, fs) in by_loc {
        let Some(text) = conv.text_at_mut(loc) else {
            continue;
        };
        let out = redactor.redact(text, &fs, vault);
        if out != *text {
            *text = out;
            changed = true;
        }
    }
    // Findings without an entity (e.g. a phrase the policy wants cut) are
    // masked by detector id.
    let rest: Vec<Finding> = findings
        .iter()
        .filter(|f| f.entity.is_none())
        .cloned()
        .collect();
    if !rest.is_empty() && redact_conversation(conv, &rest, ops) {
        changed = true;
    }
    Ok(changed)
}

/// Stores a review case (redacted content, findings, decision) and returns
/// its id. Without a review queue the request cannot be held, so it fails
/// closed. The SQLite write runs off the serving thread.
async fn hold_for_review(
    shared: &Shared,
    handle: &ExchangeHandle,
    conv: &Conversation,
    ex: &Exchange,
    decision: &Decision,
    input: &PolicyInput,
    fingerprint: RequestFingerprint,
) -> Result<String, Reject> {
    let queue = Arc::clone(review_queue(shared)?);
    let policy_version = handle.with(|e| e.policy_version.clone());
    let case = menshen_policies::NewCase {
        redacted_content: audit_text(conv, &ex.findings),
        findings: input.findings.clone(),
        decision: Some(decision.clone()),
        tenant: ex.tenant.clone(),
        route: ex.route.clone().unwrap_or_default(),
        subject: ex.user.clone().unwrap_or_default(),
        request_id: ex.request_id.clone(),
        policy_version,
        fingerprint: Some(fingerprint),
    };
    match tokio::task::spawn_blocking(move || queue.create(case)).await {
        Ok(Ok(id)) => Ok(id.to_string()),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "review case not stored");
            Err(review_queue_failed())
        }
        Err(_) => Err(review_queue_failed()),
    }
}

/// The review queue, or the refusal a `review` decision gets without one:
/// the request cannot be held, so it fails closed.
fn review_queue(shared: &Shared) -> Result<&Arc<ReviewQueue>, Reject> {
    shared.guards.review.as_ref().ok_or_else(|| {
        Reject::new(
            RejectKind::GuardUnavailable,
            "review_unavailable",
            "the policy asked for human review but no review queue is configured",
        )
    })
}

fn review_queue_failed() -> Reject {
    Reject::new(
        RejectKind::GuardUnavailable,
        "review_unavailable",
        "the review queue is unavailable",
    )
}

/// What a held request is: tenant, route, method, path and the body exactly
/// as the client sent it. A resubmission must match all of it to be
/// released by the approval.
fn request_fingerprint(
    queue: &ReviewQueue,
    ex: &Exchange,
    parts: &http::request::Parts,
    body: &[u8],
) -> RequestFingerprint {
    queue.fingerprint(&[
        ex.tenant.as_bytes(),
        ex.route.as_deref().unwrap_or_default().as_bytes(),
        parts.method.as_str().as_bytes(),
        parts.uri.path().as_bytes(),
        body,
    ])
}

/// A request the policy holds for review again, resubmitted naming case
/// `case`: released once when a reviewer approved that case for this very
/// request (the decision becomes `allow`, or `redact` when the policy's
/// decision names operators, with the reason `released_by_review`); held
/// again, under the same case, while it is pending; refused otherwise.
/// The approval covers what the reviewer saw: a policy that now blocks the
/// request still blocks it (this is only reached for `review`).
async fn release_after_review(
    shared: &Shared,
    handle: &ExchangeHandle,
    parts: &http::request::Parts,
    body: &Bytes,
    case: &str,
    decision: Decision,
) -> Result<Decision, Reject> {
    // Every refusal is recorded as a block naming why, then the policy's
    // own reasons.
    let refused = |reason: &str, r: Reject| {
        let mut d = Decision::block(reason);
        d.reasons.extend(decision.reasons.iter().cloned());
        handle.with(|e| e.decision = Some(d));
        Err(r)
    };
    let queue = match review_queue(shared) {
        Ok(q) => Arc::clone(q),
        Err(r) => return refused("review_unavailable", r),
    };
    let mismatch = || {
        Reject::new(
            RejectKind::Blocked,
            "review_case_mismatch",
            "the review case named in x-menshen-review-case does not hold this request",
        )
    };
    let Ok(id) = case.trim().parse::<CaseId>() else {
        return refused("review_case_mismatch", mismatch());
    };
    let ex = handle.snapshot();
    let fingerprint = request_fingerprint(&queue, &ex, parts, body);
    let route = ex.route.clone().unwrap_or_default();
    let (tenant, request_id) = (ex.tenant.clone(), ex.request_id.clone());
    let lookup_id = id.clone();
    let found = tokio::task::spawn_blocking(move || {
        queue.release(&lookup_id, &fingerprint, &tenant, &route, &request_id)
    })
    .await;
    let release = match found {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "review case not read");
            return refused("review_unavailable", review_queue_failed());
        }
        Err(_) => return refused("review_unavailable", review_queue_failed()),
    };
    match release {
        Release::Released(_) => {
            handle.with(|e| e.review_case = Some(ReviewRef::outcome(&id, ReviewOutcome::Released)));
            let mut reasons = vec!["released_by_review".to_owned()];
            reasons.extend(decision.reasons);
            Ok(Decision {
                action: if decision.redact.is_empty() {
                    Action::Allow
                } else {
                    Action::Redact
                },
                reasons,
                status: None,
                message: None,
                ..decision
            })
        }
        Release::Pending => {
            handle.with(|e| {
                e.review_case = Some(ReviewRef::held(&id));
                e.decision = Some(decision.clone());
            });
            Err(refusal(&decision))
        }
        Release::Rejected(outcome) if outcome.reviewer == EXPIRY_REVIEWER => {
            handle.with(|e| e.review_case = Some(ReviewRef::outcome(&id, ReviewOutcome::Expired)));
            refused(
                "review_expired",
                Reject::new(
                    RejectKind::Blocked,
                    "review_expired",
                    "no reviewer decided on this case in time; send the request without \
                     x-menshen-review-case to open a new one",
                ),
            )
        }
        Release::Rejected(_) => {
            handle.with(|e| e.review_case = Some(ReviewRef::outcome(&id, ReviewOutcome::Rejected)));
            refused(
                "review_rejected",
                Reject::new(
                    RejectKind::Blocked,
                    "review_rejected",
                    "a reviewer rejected this request",
                ),
            )
        }
        Release::AlreadyReleased { .. } => {
            handle.with(|e| e.review_case = Some(ReviewRef::outcome(&id, ReviewOutcome::Reused)));
            refused(
                "review_case_used",
                Reject::new(
                    RejectKind::Blocked,
                    "review_case_used",
                    "this approval already released its request; each approval releases one",
                )
                .with_status(StatusCode::CONFLICT),
            )
        }
        Release::NotForThisRequest => refused("review_case_mismatch", mismatch()),
    }
}

/// The end user a suspension rule counts against: tenant plus the user id
/// the client sent (none: no per-subject state).
fn subject_key(ex: &Exchange) -> Option<String> {
    ex.user
        .as_ref()
        .filter(|u| !u.is_empty())
        .map(|u| format!("{}:{u}", ex.tenant))
}

fn guard_failure_blocks(ex: &Exchange, route_on_error: FailMode) -> bool {
    route_on_error == FailMode::Block && ex.failures.iter().any(|f| f.on_error == OnError::Block)
}

// === impl Decide ===

impl<S> Service<Request<Bytes>> for Decide<S>
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
            let (Some(DecodedReq(decoded)), Some(handle)) = (
                req.extensions().get::<DecodedReq>().cloned(),
                req.extensions().get::<ExchangeHandle>().cloned(),
            ) else {
                return inner.call(req).await;
            };
            let started = std::time::Instant::now();
            let (mut parts, body) = req.into_parts();
            // Everything the decision needs from the exchange, read under
            // one lock instead of copying the whole exchange.
            let (on_error, mut input, subject, audit_prompt, failure_reasons) = handle.with(|ex| {
                let on_error = ex
                    .route_index
                    .and_then(|i| shared.settings.routes.get(i))
                    .map_or(FailMode::Block, |r| r.on_error);
                let input = policy_input(
                    ex,
                    &decoded.conversation,
                    Some(&parts),
                    Direction::Request,
                    &ex.findings,
                    &shared.guards,
                );
                let audit_prompt = shared
                    .audit
                    .is_some()
                    .then(|| audit_text(&decoded.conversation, &ex.findings));
                let failure_reasons = guard_failure_blocks(ex, on_error).then(|| {
                    ex.failures
                        .iter()
                        .map(|f| format!("{}:{}", f.detector, f.kind.as_str()))
                        .collect::<Vec<_>>()
                });
                (
                    on_error,
                    input,
                    subject_key(ex),
                    audit_prompt,
                    failure_reasons,
                )
            });
            // The subject's violation history (suspension rules): a subject
            // known clean is answered from memory; otherwise from SQLite, off
            // the async workers.
            if let (Some(counters), Some(subject)) =
                (shared.guards.counters.clone(), subject.clone())
            {
                let now = time::OffsetDateTime::now_utc();
                let state = match counters.cached_state(&subject, now) {
                    Some(s) => Ok(Ok(s)),
                    None => {
                        tokio::task::spawn_blocking(move || counters.state(&subject, now)).await
                    }
                };
                match state {
                    Ok(Ok(s)) => input.subject = s,
                    _ => tracing::warn!("subject counters unavailable; deciding without history"),
                }
            }
            handle.with(|e| {
                e.risk = input.risk.clone();
                e.audit_prompt = audit_prompt;
            });
            if let Some(reasons) = failure_reasons {
                let mut d = Decision::block("guard_unavailable");
                d.reasons.extend(reasons);
                handle.with(|e| e.decision = Some(d));
                shared.metrics.decision("request", "block");
                return Err(Reject::new(
                    RejectKind::GuardUnavailable,
                    "guard_unavailable",
                    "a required guard is unavailable; failing closed",
                )
                .into());
            }
            let decision = match run_policy(&shared, &input, on_error) {
                Ok((d, version)) => {
                    handle.with(|e| e.policy_version = version);
                    d
                }
                Err(r) => {
                    handle.with(|e| e.decision = Some(Decision::block("policy_error")));
                    return Err(r.into());
                }
            };
            // A held request resubmitted after review: released by its
            // approval, or held or refused again.
            let decision = match parts.headers.get(&super::respond::X_MENSHEN_REVIEW_CASE) {
                Some(case) if decision.action == Action::Review => {
                    let case = case.to_str().unwrap_or_default().to_owned();
                    match release_after_review(&shared, &handle, &parts, &body, &case, decision)
                        .await
                    {
                        Ok(d) => d,
                        Err(r) => {
                            let action = handle.with(|e| e.decision.as_ref().map(|d| d.action));
                            let action = action.map_or("block", Action::as_str);
                            shared.metrics.decision("request", action);
                            return Err(r.into());
                        }
                    }
                }
                _ => decision,
            };
            shared.metrics.guard_latency("decision", started.elapsed());
            shared.metrics.decision("request", decision.action.as_str());
            if let (Some(counters), Some(subject)) = (shared.guards.counters.clone(), subject) {
                // A clean request from a subject known clean changes nothing
                // stored: no trip to SQLite.
                let now = time::OffsetDateTime::now_utc();
                if !counters.observe_is_noop(&subject, &decision, now) {
                    let d = decision.clone();
                    let observed =
                        tokio::task::spawn_blocking(move || counters.observe(&subject, &d, now))
                            .await;
                    if !matches!(observed, Ok(Ok(_))) {
                        tracing::error!("subject counters not updated");
                    }
                }
            }
            handle.with(|e| e.decision = Some(decision.clone()));
            let mut body = body;
            match decision.action {
                Action::Review => {
                    let ex = handle.snapshot();
                    let fingerprint =
                        request_fingerprint(review_queue(&shared)?, &ex, &parts, &body);
                    let case = hold_for_review(
                        &shared,
                        &handle,
                        &decoded.conversation,
                        &ex,
                        &decision,
                        &input,
                        fingerprint,
                    )
                    .await?;
                    handle.with(|e| e.review_case = Some(ReviewRef::held(case)));
                    return Err(refusal(&decision).into());
                }
                Action::Block => return Err(refusal(&decision).into()),
                Action::Allow => {}
                Action::Redact => {
                    let (tenant, findings) =
                        handle.with(|e| (e.tenant.clone(), e.findings.clone()));
                    let mut conv = decoded.conversation.clone();
                    let mut vault =
                        conversation_vault(&shared.guards, &tenant, &decoded.conversation);
                    let changed = apply_redaction(
                        &shared.guards,
                        &mut conv,
                        &findings,
                        &decision.redact,
                        &mut vault,
                    )?;
                    let masks = vault.mask_numbers();
                    if !masks.is_empty() {
                        handle.with(|e| e.masks_issued = masks);
                    }
                    if !vault.is_empty() {
                        parts.extensions.insert(VaultExt(Arc::new(vault)));
                    }
                    if changed {
                        let bytes = decoded.reencode(&conv).map_err(|e| {
                            Reject::new(
                                RejectKind::GuardUnavailable,
                                "redaction_failed",
                                e.to_string(),
                            )
                        })?;
                        if let Some(bytes) = bytes {
                            body = Bytes::from(bytes);
                        }
                    }
                }
                Action::Route => {
                    let target = decision
                        .route
                        .as_deref()
                        .and_then(|n| shared.upstreams.index_of(n))
                        .ok_or_else(|| {
                            Reject::new(
                                RejectKind::GuardUnavailable,
                                "unknown_route_target",
                                "the policy routed to an upstream that is not configured",
                            )
                        })?;
                    handle.with(|e| e.upstream = Some(target));
                }
            }
            // Thinking blocks the output guards changed go back upstream
            // as the model wrote them, or their signatures fail.
            if decoded.api.is_anthropic() {
                if let Some(b) = super::thinking::restore_request(&shared.thinking, &body) {
                    body = Bytes::from(b);
                }
            }
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}

#[cfg(test)]
mod tests {
    use menshen_classifiers::{Category, Location, Message, Part, Role};

    use super::*;

    fn conv() -> Conversation {
        let text = |t: &str| Part::Text { text: t.to_owned() };
        Conversation {
            messages: vec![
                Message {
                    role: Role::System,
                    parts: vec![text("be brief")],
                },
                Message {
                    role: Role::User,
                    parts: vec![text("mail a@b.co please")],
                },
            ],
            tools: Vec::new(),
        }
    }

    #[test]
    fn audit_text_masks_entities_and_copies_nothing_else() {
        let c = conv();
        assert_eq!(
            audit_text(&c, &[]),
            "system: be brief\nuser: mail a@b.co please"
        );
        // A finding without an entity (a phrase) is not masked for the log.
        let mut phrase = Finding::new("phrase", Category::PROMPT_INJECTION, 0.9);
        phrase.location = Some(Location::Part {
            message: 1,
            part: 0,
        });
        phrase.span = Some(Span::new(0, 4));
        assert_eq!(
            audit_text(&c, std::slice::from_ref(&phrase)),
            "system: be brief\nuser: mail a@b.co please"
        );
        let mut email = Finding::new("pii", Category::SENSITIVE_INFO, 1.0);
        email.entity = Some("EMAIL".to_owned());
        email.location = Some(Location::Part {
            message: 1,
            part: 0,
        });
        email.span = Some(Span::new(5, 11));
        assert_eq!(
            audit_text(&c, &[phrase, email]),
            "system: be brief\nuser: mail [EMAIL] please"
        );
    }
}
