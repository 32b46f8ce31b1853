//! The outermost layer: request ids, error responses, decision headers,
//! the per-request log line, metrics, and the request-direction audit record.
//!
//! Below this layer errors are boxed; above it they are `Infallible`. Every
//! error becomes the API's own error shape with a stable code, and every
//! response carries `x-request-id`, `x-menshen-decision` and `x-menshen-risk`.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use menshen_policies::{Action, Direction};
use tower::{Layer, Service};

use super::{full, Exchange, ExchangeHandle, ProxyBody, Shared};
use crate::api::{self, Api};
use crate::error::{find_reject, BoxError, Reject, RejectKind};

/// Adds [`Respond`].
#[derive(Clone, Debug)]
pub struct RespondLayer {
    shared: Arc<Shared>,
}

impl RespondLayer {
    /// A new layer.
    pub fn new(shared: Arc<Shared>) -> Self {
        RespondLayer { shared }
    }
}

impl<S> Layer<S> for RespondLayer {
    type Service = Respond<S>;
    fn layer(&self, inner: S) -> Respond<S> {
        Respond {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// How it works is told in the docs of its module, `proxy/src/stack/respond.rs`.
#[derive(Clone, Debug)]
pub struct Respond<S> {
    inner: S,
    shared: Arc<Shared>,
}

// === impl Respond ===

impl<S, B> Service<Request<B>> for Respond<S>
where
    S: Service<Request<B>, Response = Response<ProxyBody>, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<ProxyBody>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The inner layers are always ready; an error here would resurface in `call`.
        self.inner.poll_ready(cx).map(|_| Ok(()))
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        let handle = ExchangeHandle::new(Exchange::new(request_id(&req)));
        req.extensions_mut().insert(handle.clone());
        // A request refused before decoding has no API yet: errors answer in
        // the format its path names.
        let path_api = Api::from_path(req.uri().path());
        Box::pin(async move {
            // An audit log that cannot take the record refuses the request
            // before anything is forwarded (sync mode, or on_full = fail_closed).
            let result = match &shared.audit {
                Some(audit) if !audit.accepting() => Err(Reject::new(
                    RejectKind::AuditUnavailable,
                    "audit_unavailable",
                    "the audit log is unavailable; request not served",
                )
                .into()),
                _ => inner.call(req).await,
            };
            let mut resp = match result {
                Ok(resp) => resp,
                Err(err) => {
                    let request_id = handle.with(|ex| ex.request_id.clone());
                    let reject = match find_reject(err.as_ref()) {
                        Some(r) => r.clone(),
                        None => {
                            tracing::error!(request.id = %request_id, error = %err, "internal error");
                            Reject::new(
                                RejectKind::UpstreamUnavailable,
                                "internal_error",
                                "internal error",
                            )
                            .with_status(StatusCode::INTERNAL_SERVER_ERROR)
                        }
                    };
                    handle.with(|ex| ex.reject_code = Some(reject.code()));
                    shared.metrics.error(reject.code());
                    let api = handle.with(|ex| ex.api).or(path_api);
                    error_response(api, &reject, &request_id, &handle)
                }
            };
            // The request-direction record: written for every guarded request
            // that reached a decision, and for every rejection, built under
            // the exchange's lock like everything else that reads it.
            if let Some(audit) = &shared.audit {
                let pending = handle.with(|ex| {
                    (ex.guarded || ex.reject_code.is_some())
                        .then(|| (audit.record(ex, Direction::Request), ex.api))
                });
                if let Some((written, api)) = pending {
                    if let Err(e) = written.await {
                        let request_id = handle.with(|ex| ex.request_id.clone());
                        shared.metrics.audit_failure();
                        tracing::error!(request.id = %request_id, error = %e, "audit record not written");
                        let reject = Reject::new(
                            RejectKind::AuditUnavailable,
                            "audit_unavailable",
                            "the audit log is unavailable; request not served",
                        );
                        shared.metrics.error(reject.code());
                        let api = api.or(path_api);
                        resp = error_response(api, &reject, &request_id, &handle);
                    }
                }
            }
            let (api_label, started) = handle.with(|ex| {
                decorate(&mut resp, ex);
                let api_label = ex.api.map_or("other", Api::as_str);
                let decision = ex.decision.as_ref().map_or("none", |d| d.action.as_str());
                tracing::info!(
                    request.id = %ex.request_id,
                    tenant = %ex.tenant,
                    route = ex.route.as_deref().unwrap_or("-"),
                    api = api_label,
                    status = resp.status().as_u16(),
                    verdict = decision,
                    risk.score = ex.risk.score,
                    findings = ex.findings.len(),
                    reject.code = ex.reject_code.unwrap_or("-"),
                    upstream.status = ex.upstream_status.unwrap_or(0),
                    latency.ms = ex.started.elapsed().as_secs_f64() * 1000.0,
                    "request"
                );
                (api_label, ex.started)
            });
            shared
                .metrics
                .request(api_label, resp.status().as_u16(), started.elapsed());
            Ok(resp)
        })
    }
}

fn request_id<B>(req: &Request<B>) -> String {
    // Accept a caller's id only if it is short and plain, so it cannot smuggle
    // text into logs or headers.
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

fn error_response(
    api: Option<Api>,
    reject: &Reject,
    request_id: &str,
    handle: &ExchangeHandle,
) -> Response<ProxyBody> {
    let _ = handle;
    let body = api::error_body(
        api,
        reject.status(),
        reject.code(),
        reject.message(),
        request_id,
    );
    let mut resp = Response::new(full(body));
    *resp.status_mut() = reject.status();
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

// Header names as constants: inserting by `&'static str` copies the name
// into a fresh allocation for every response.
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_MENSHEN_DECISION: HeaderName = HeaderName::from_static("x-menshen-decision");
const X_MENSHEN_RISK: HeaderName = HeaderName::from_static("x-menshen-risk");
const X_MENSHEN_POLICY_VERSION: HeaderName = HeaderName::from_static("x-menshen-policy-version");
/// Names a review case: sent with a held request, and sent back by a
/// client resubmitting it after approval (see `decide`).
pub(crate) const X_MENSHEN_REVIEW_CASE: HeaderName =
    HeaderName::from_static("x-menshen-review-case");

fn decorate(resp: &mut Response<ProxyBody>, ex: &Exchange) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&ex.request_id) {
        h.insert(X_REQUEST_ID, v);
    }
    // The answer's decision when it is the stricter one: a client whose
    // answer was withheld or redacted must not read "allow".
    let severity = |a: Action| match a {
        Action::Allow | Action::Route => 0,
        Action::Redact => 1,
        Action::Review => 2,
        Action::Block => 3,
    };
    let decided = match (&ex.decision, &ex.output_decision) {
        (Some(i), Some(o)) if severity(o.action) > severity(i.action) => Some(o),
        (Some(i), _) => Some(i),
        (None, o) => o.as_ref(),
    };
    let decision = match (decided, ex.reject_code) {
        (Some(d), _) => d.action.as_str(),
        (None, Some(_)) => "reject",
        (None, None) if ex.guarded => "allow",
        (None, None) => "passthrough",
    };
    h.insert(X_MENSHEN_DECISION, HeaderValue::from_static(decision));
    // The higher of the request's and the answer's risk (a whole answer is
    // scored before these headers go out; a stream's is not). A clean
    // exchange scores 0: no need to format it.
    let risk = match ex.risk.score.max(ex.output_risk.score) {
        0 => HeaderValue::from_static("0"),
        n => HeaderValue::from(u16::from(n)),
    };
    h.insert(X_MENSHEN_RISK, risk);
    if !ex.policy_version.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&ex.policy_version) {
            h.insert(X_MENSHEN_POLICY_VERSION, v);
        }
    }
    if let Some(case) = &ex.review_case {
        // The case id alone (the outcome is the audit record's), so the
        // header always reads the same way to a client that sends it back.
        if let Ok(v) = HeaderValue::from_str(&case.case_id) {
            h.insert(X_MENSHEN_REVIEW_CASE, v);
        }
    }
}
