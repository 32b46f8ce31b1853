//! The admin API, on its own listener and with its own key (never a client
//! key): the human review queue and the policy status.
//!
//! ```text
//! GET  /admin/reviews[?status=pending|approved|rejected&tenant=T&limit=N]
//! GET  /admin/reviews/{id}
//! POST /admin/reviews/{id}/approve   {"reviewer": "...", "note": "..."}
//! POST /admin/reviews/{id}/reject    {"reviewer": "...", "note": "..."}
//! GET  /admin/policy                 version, last reload errors, counters
//! POST /admin/policy/reload
//! ```
//!
//! Every request needs `Authorization: Bearer <admin key>` (compared as
//! SHA-256 digests). Review outcomes are written to the audit log.
//! [`review_upkeep`] closes cases nobody decided in time and deletes old
//! decided ones (`menshen serve` runs it every ten minutes).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use menshen_policies::{
    Case, CaseFilter, CaseId, CaseStatus, Direction, ReviewQueue, EXPIRY_REVIEWER,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use crate::error::BoxError;
use crate::policy::PolicyEngine;
use crate::stack::{full, Exchange, ProxyBody, ReviewOutcome, ReviewRef, Shared};

/// Serializes `body` straight to text: through a `serde_json::Value` an
/// `f32` score would widen (`0.9` printed as `0.8999999761581421`).
fn reply(status: StatusCode, body: impl serde::Serialize) -> Response<ProxyBody> {
    let text = serde_json::to_string(&body).unwrap_or_else(|_| "{}".to_owned());
    let mut r = Response::new(full(text));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<ProxyBody> {
    reply(status, json!({"error": {"code": code, "message": message}}))
}

/// `GET /admin/reviews`.
#[derive(serde::Serialize)]
struct CaseList {
    cases: Vec<menshen_policies::Case>,
}

fn authorized(req: &Request<Incoming>, key_digest: &[u8; 32]) -> bool {
    let Some(presented) = crate::stack::presented_key(req) else {
        return false;
    };
    let d: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    // Digests compared in constant time.
    crate::stack::digest_eq(&d, key_digest)
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    key_digest: Arc<[u8; 32]>,
) -> Result<Response<ProxyBody>, Infallible> {
    if !authorized(&req, &key_digest) {
        return Ok(error(
            StatusCode::UNAUTHORIZED,
            "invalid_admin_key",
            "missing or wrong admin key",
        ));
    }
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let method = req.method().clone();
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let resp = match (method, parts.as_slice()) {
        (Method::GET, ["admin", "policy"]) => policy_status(&shared),
        (Method::POST, ["admin", "policy", "reload"]) => {
            shared.guards.engine.reload();
            policy_status(&shared)
        }
        (Method::GET, ["admin", "reviews"]) => list_reviews(&shared, &query),
        (Method::GET, ["admin", "reviews", id]) => get_review(&shared, id),
        (Method::POST, ["admin", "reviews", id, verdict @ ("approve" | "reject")]) => {
            let body = match Limited::new(req.into_body(), 64 * 1024).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => Bytes::new(),
            };
            decide_review(&shared, id, verdict, &body).await
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "unknown_admin_path",
            "no such admin endpoint",
        ),
    };
    Ok(resp)
}

fn policy_status(shared: &Shared) -> Response<ProxyBody> {
    match &shared.guards.engine {
        PolicyEngine::Threshold(_) => reply(
            StatusCode::OK,
            json!({"engine": "threshold", "version": shared.guards.engine.version()}),
        ),
        PolicyEngine::Rego(set) => reply(
            StatusCode::OK,
            json!({
                "engine": "rego",
                "version": set.version(),
                "versions": set.versions().into_iter().map(|(k, v)| json!({"key": k, "version": v})).collect::<Vec<_>>(),
                "last_error": set.last_error(),
                "errors": set.errors(),
                "stats": set.stats(),
                "shadow_diffs": set.shadow_diffs(),
            }),
        ),
    }
}

fn parse_status(s: &str) -> Option<CaseStatus> {
    match s {
        "pending" => Some(CaseStatus::Pending),
        "approved" => Some(CaseStatus::Approved),
        "rejected" => Some(CaseStatus::Rejected),
        _ => None,
    }
}

fn list_reviews(shared: &Shared, query: &str) -> Response<ProxyBody> {
    let Some(queue) = &shared.guards.review else {
        return error(
            StatusCode::NOT_FOUND,
            "review_disabled",
            "no review queue is configured",
        );
    };
    let mut filter = CaseFilter::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "status" => match parse_status(v) {
                Some(s) => filter.status = Some(s),
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "invalid_status",
                        "status must be pending, approved or rejected",
                    )
                }
            },
            "tenant" => filter.tenant = Some(v.to_owned()),
            "limit" => filter.limit = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    match queue.list(&filter) {
        Ok(cases) => reply(StatusCode::OK, CaseList { cases }),
        Err(e) => {
            tracing::error!(error = %e, "review queue list failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "review_unavailable",
                "the review queue is unavailable",
            )
        }
    }
}

fn get_review(shared: &Shared, id: &str) -> Response<ProxyBody> {
    let Some(queue) = &shared.guards.review else {
        return error(
            StatusCode::NOT_FOUND,
            "review_disabled",
            "no review queue is configured",
        );
    };
    let Ok(id) = id.parse::<CaseId>() else {
        return error(StatusCode::BAD_REQUEST, "invalid_case_id", "not a case id");
    };
    match queue.get(&id) {
        Ok(Some(case)) => reply(StatusCode::OK, case),
        Ok(None) => error(StatusCode::NOT_FOUND, "unknown_case", "no such case"),
        Err(e) => {
            tracing::error!(error = %e, "review queue get failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "review_unavailable",
                "the review queue is unavailable",
            )
        }
    }
}

async fn decide_review(
    shared: &Shared,
    id: &str,
    verdict: &str,
    body: &[u8],
) -> Response<ProxyBody> {
    let Some(queue) = &shared.guards.review else {
        return error(
            StatusCode::NOT_FOUND,
            "review_disabled",
            "no review queue is configured",
        );
    };
    let Ok(id) = id.parse::<CaseId>() else {
        return error(StatusCode::BAD_REQUEST, "invalid_case_id", "not a case id");
    };
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let reviewer = v.get("reviewer").and_then(Value::as_str).unwrap_or("");
    if reviewer.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "reviewer_required",
            "the body must name the reviewer: {\"reviewer\": \"...\"}",
        );
    }
    let note = v.get("note").and_then(Value::as_str).unwrap_or("");
    let case = match queue.get(&id) {
        Ok(Some(c)) => c,
        Ok(None) => return error(StatusCode::NOT_FOUND, "unknown_case", "no such case"),
        Err(_) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "review_unavailable",
                "the review queue is unavailable",
            )
        }
    };
    let result = if verdict == "approve" {
        queue.approve(&id, reviewer, note)
    } else {
        queue.reject(&id, reviewer, note)
    };
    let outcome = match result {
        Ok(o) => o,
        Err(e @ menshen_policies::StoreError::AlreadyDecided { .. }) => {
            return error(StatusCode::CONFLICT, "review_not_recorded", &e.to_string())
        }
        Err(e @ menshen_policies::StoreError::NotFound { .. }) => {
            return error(StatusCode::NOT_FOUND, "unknown_case", &e.to_string())
        }
        Err(e @ menshen_policies::StoreError::Invalid { .. }) => {
            return error(
                StatusCode::BAD_REQUEST,
                "review_not_recorded",
                &e.to_string(),
            )
        }
        // The queue's database failed (a full or read-only disk): nothing
        // was decided, and the same call may succeed later.
        Err(e) => {
            tracing::error!(error = %e, review.case = %id, "review decision not stored");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "review_unavailable",
                "the review queue could not store the decision; nothing was decided, retry",
            );
        }
    };
    let recorded = if outcome.status == CaseStatus::Approved {
        ReviewOutcome::Approved
    } else {
        ReviewOutcome::Rejected
    };
    if audit_review_outcome(shared, &case, recorded).await.is_err() {
        // The decision stands (a second call would be a conflict); the
        // review upkeep writes the record once the audit log takes it.
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            "the outcome is stored but its audit record could not be written yet; it is \
             written again by the review upkeep until it succeeds",
        );
    }
    mark_audited(shared, queue, &case.id);
    reply(StatusCode::OK, outcome)
}

/// Writes what happened to `case` to the audit log, as part of the record
/// of the request it held (same request id, tenant, route and decision).
/// A failure is logged and counted (`menshen_audit_failures_total`).
async fn audit_review_outcome(
    shared: &Shared,
    case: &Case,
    outcome: ReviewOutcome,
) -> Result<(), BoxError> {
    let Some(audit) = &shared.audit else {
        return Ok(());
    };
    let mut ex = Exchange::new(case.request_id.clone());
    ex.tenant = case.tenant.clone();
    ex.route = Some(case.route.clone());
    ex.policy_version = case.policy_version.clone();
    ex.review_case = Some(ReviewRef::outcome(&case.id, outcome));
    ex.decision = Some(case.decision.clone());
    audit.record(&ex, Direction::Request).await.inspect_err(|e| {
        shared.metrics.audit_failure();
        tracing::error!(error = %e, review.case = %case.id, review.outcome = outcome.as_str(), "review outcome not audited");
    })
}

/// Notes that a case's outcome is in the audit log. A failure here only
/// means the outcome is written once more by the next upkeep.
fn mark_audited(shared: &Shared, queue: &ReviewQueue, id: &CaseId) {
    if let Err(e) = queue.mark_audited(id) {
        shared.metrics.review_upkeep("mark_failed", 1);
        tracing::warn!(error = %e, review.case = %id, "review outcome audited but not marked; it will be audited again");
    }
}

/// The outcome a decided case records.
fn outcome_of(case: &Case) -> Option<ReviewOutcome> {
    match (&case.status, &case.outcome) {
        (CaseStatus::Approved, _) => Some(ReviewOutcome::Approved),
        (CaseStatus::Rejected, Some(o)) if o.reviewer == EXPIRY_REVIEWER => {
            Some(ReviewOutcome::Expired)
        }
        (CaseStatus::Rejected, _) => Some(ReviewOutcome::Rejected),
        (CaseStatus::Pending, _) => None,
    }
}

/// What one pass of [`review_upkeep`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Upkeep {
    /// Pending cases closed as expired.
    pub expired: usize,
    /// Decided cases deleted past retention.
    pub purged: usize,
    /// Outcomes whose audit record failed before and was written now.
    pub audited_late: usize,
}

/// One pass of review-queue upkeep: closes pending cases older than
/// `policy.review_expire_hours` (each recorded in the audit log with the
/// outcome `expired`), writes the outcomes whose audit record failed
/// before, and deletes cases decided more than
/// `policy.review_retention_days` ago whose outcome is in the audit log.
/// Does nothing without a queue.
///
/// # Errors
/// When the queue cannot be read or written (nothing is lost: the next
/// pass tries again).
pub async fn review_upkeep(shared: &Shared) -> Result<Upkeep, BoxError> {
    let Some(queue) = shared.guards.review.clone() else {
        return Ok(Upkeep::default());
    };
    let policy = &shared.settings.policy;
    let (expiry, retention) = (policy.review_expiry, policy.review_retention);
    let now = time::OffsetDateTime::now_utc();
    let q = Arc::clone(&queue);
    let (closed, late) = tokio::task::spawn_blocking(move || {
        let closed = match expiry {
            Some(ttl) => {
                let hours = ttl.as_secs() / 3600;
                q.expire(now - ttl, &format!("expired: no decision within {hours} h"))?
            }
            None => Vec::new(),
        };
        // Outcomes whose audit record failed earlier; not those decided in
        // the last minute (this pass's expiries among them), whose first
        // write may still be under way.
        let late = q.unaudited(now - UPKEEP_AUDIT_GRACE, UPKEEP_AUDIT_BATCH)?;
        Ok::<_, menshen_policies::StoreError>((closed, late))
    })
    .await??;
    for case in &closed {
        // Logged and counted inside; on failure the case stays closed and
        // unmarked, and the next pass writes its record again.
        if audit_review_outcome(shared, case, ReviewOutcome::Expired)
            .await
            .is_ok()
        {
            mark_audited(shared, &queue, &case.id);
        }
    }
    let mut audited_late = 0;
    for case in &late {
        let Some(outcome) = outcome_of(case) else {
            continue;
        };
        if audit_review_outcome(shared, case, outcome).await.is_ok() {
            mark_audited(shared, &queue, &case.id);
            audited_late += 1;
        }
    }
    // After the audit pass: an outcome is deleted only once it is audited.
    let purged = match retention {
        Some(keep) => {
            let q = Arc::clone(&queue);
            tokio::task::spawn_blocking(move || q.purge(now - keep)).await??
        }
        None => 0,
    };
    shared.metrics.review_upkeep("expired", closed.len() as u64);
    shared.metrics.review_upkeep("purged", purged as u64);
    shared
        .metrics
        .review_upkeep("audited_late", audited_late as u64);
    if audited_late > 0 {
        tracing::info!(
            review.audited_late = audited_late,
            "review outcomes whose audit record had failed are now audited"
        );
    }
    Ok(Upkeep {
        expired: closed.len(),
        purged,
        audited_late,
    })
}

/// How many outcomes whose audit failed one upkeep pass writes again.
const UPKEEP_AUDIT_BATCH: usize = 1000;

/// How old a decision must be before the upkeep takes its missing audit
/// record for a failure rather than a write in progress.
const UPKEEP_AUDIT_GRACE: time::Duration = time::Duration::minutes(1);

/// Runs [`review_upkeep`] now and then every `every`, until dropped.
pub async fn review_upkeep_loop(shared: Arc<Shared>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = review_upkeep(&shared).await {
            shared.metrics.review_upkeep("failed", 1);
            tracing::error!(error = %e, "review queue upkeep failed; retrying at the next interval");
        }
    }
}

/// Serves the admin API on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, key: String) {
    let key_digest: Arc<[u8; 32]> = Arc::new(Sha256::digest(key.as_bytes()).into());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = Arc::clone(&shared);
        let key_digest = Arc::clone(&key_digest);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                handle(req, Arc::clone(&shared), Arc::clone(&key_digest))
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
