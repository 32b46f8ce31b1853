//! Per-request state shared by the layers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use menshen_classifiers::{Finding, GuardFailure, RiskReport};
use menshen_policies::Decision;
use parking_lot::Mutex;

use crate::api::Api;

/// What the stack learned about one request. Layers fill it in as the
/// request passes; the respond layer reads it for headers, logs and audit.
/// Holds no raw prompt text.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Request id (`x-request-id`).
    pub request_id: String,
    /// When the request arrived.
    pub started: Instant,
    /// Tenant of the client key.
    pub tenant: String,
    /// Route name.
    pub route: Option<String>,
    /// Route's index.
    pub route_index: Option<usize>,
    /// Upstream index.
    pub upstream: Option<usize>,
    /// API surface.
    pub api: Option<Api>,
    /// Whether the guards run (false for passthrough paths).
    pub guarded: bool,
    /// Client asked for a stream.
    pub stream: bool,
    /// Model requested.
    pub model: String,
    /// End-user id the client sent, if any.
    pub user: Option<String>,
    /// Request body size.
    pub body_size: u64,
    /// Input findings.
    pub findings: Vec<Finding>,
    /// Input guard failures.
    pub failures: Vec<GuardFailure>,
    /// Input risk.
    pub risk: RiskReport,
    /// Request-direction decision.
    pub decision: Option<Decision>,
    /// Response-direction findings.
    pub output_findings: Vec<Finding>,
    /// Response-direction guard failures.
    pub output_failures: Vec<GuardFailure>,
    /// Response-direction risk.
    pub output_risk: RiskReport,
    /// Response-direction decision.
    pub output_decision: Option<Decision>,
    /// Policy version hash in force.
    pub policy_version: String,
    /// Upstream HTTP status.
    pub upstream_status: Option<u16>,
    /// Upstream time to headers, ms.
    pub upstream_ms: Option<u64>,
    /// The review case this record is about: the case a held request
    /// opened, a reviewer's decision on it, or a resubmission naming it.
    pub review_case: Option<ReviewRef>,
    /// Reason code when the request was rejected.
    pub reject_code: Option<&'static str>,
    /// The prompt with every PII/secret finding masked, for the audit payload.
    pub audit_prompt: Option<String>,
    /// The response with every PII/secret finding masked, for the audit payload.
    pub audit_response: Option<String>,
    /// Highest numbered mask per label that redacting the request issued,
    /// so that the answer's masks continue after them.
    pub masks_issued: BTreeMap<String, u32>,
}

impl Exchange {
    /// A fresh exchange.
    pub fn new(request_id: String) -> Self {
        Exchange {
            request_id,
            started: Instant::now(),
            tenant: "default".to_owned(),
            route: None,
            route_index: None,
            upstream: None,
            api: None,
            guarded: false,
            stream: false,
            model: String::new(),
            user: None,
            body_size: 0,
            findings: Vec::new(),
            failures: Vec::new(),
            risk: RiskReport::default(),
            decision: None,
            output_findings: Vec::new(),
            output_failures: Vec::new(),
            output_risk: RiskReport::default(),
            output_decision: None,
            policy_version: String::new(),
            upstream_status: None,
            upstream_ms: None,
            review_case: None,
            reject_code: None,
            audit_prompt: None,
            audit_response: None,
            masks_issued: BTreeMap::new(),
        }
    }
}

/// Shared handle to the request's [`Exchange`], stored in request extensions.
/// Locks are held only for short, non-async updates.
#[derive(Debug, Clone)]
pub struct ExchangeHandle(Arc<Mutex<Exchange>>);

impl ExchangeHandle {
    /// Wraps an exchange.
    pub fn new(ex: Exchange) -> Self {
        ExchangeHandle(Arc::new(Mutex::new(ex)))
    }

    /// Runs `f` with the exchange locked.
    pub fn with<R>(&self, f: impl FnOnce(&mut Exchange) -> R) -> R {
        f(&mut self.0.lock())
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> Exchange {
        self.0.lock().clone()
    }
}

/// The review case an exchange record is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewRef {
    /// The case id (what `x-menshen-review-case` carries).
    pub case_id: String,
    /// What happened to the case in this record; `None` on the request
    /// that opened it (or that found it still pending).
    pub outcome: Option<ReviewOutcome>,
}

impl ReviewRef {
    /// A held request's case.
    pub fn held(case_id: impl ToString) -> Self {
        ReviewRef {
            case_id: case_id.to_string(),
            outcome: None,
        }
    }

    /// A record of `outcome` for the case.
    pub fn outcome(case_id: impl ToString, outcome: ReviewOutcome) -> Self {
        ReviewRef {
            case_id: case_id.to_string(),
            outcome: Some(outcome),
        }
    }
}

/// What an audit record says happened to a review case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewOutcome {
    /// A reviewer approved it.
    Approved,
    /// A reviewer rejected it, or a resubmission named a rejected case.
    Rejected,
    /// No reviewer decided within `policy.review_expire_hours`: closed, and
    /// a resubmission naming it is refused.
    Expired,
    /// The resubmission an approval released.
    Released,
    /// A resubmission of an approval already used.
    Reused,
}

impl ReviewOutcome {
    /// The name in audit records (`review.outcome`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewOutcome::Approved => "approved",
            ReviewOutcome::Rejected => "rejected",
            ReviewOutcome::Expired => "expired",
            ReviewOutcome::Released => "released",
            ReviewOutcome::Reused => "reused",
        }
    }
}
