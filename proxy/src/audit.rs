//! The audit hook: one signed, tamper-evident record per decision, written
//! through `menshen-audit`.
//!
//! Records carry decisions, findings summaries (detector, category, score,
//! entity counts) and the policy version, never raw text: the prompt and
//! response go in as payloads only after every PII/secret finding is masked,
//! and the log keeps them redacted, as HMACs, or not at all, by config.

use std::collections::BTreeMap;
use std::fmt;

use futures::future::BoxFuture;
use futures::FutureExt;
use menshen_audit::{
    AuditRecord, AuditSink, DecisionSummary, FindingSummary, Payloads, ReviewSummary,
    UpstreamSummary,
};
use menshen_classifiers::Finding;
use menshen_policies::Direction;

use crate::error::BoxError;
use crate::stack::{AuditHook, Exchange};

/// Writes [`AuditRecord`]s to an [`AuditSink`].
#[derive(Clone)]
pub struct AuditWriter {
    sink: AuditSink,
}

impl fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditWriter")
            .field("stats", &self.sink.stats())
            .finish()
    }
}

impl AuditWriter {
    /// Wraps a sink.
    pub fn new(sink: AuditSink) -> Self {
        AuditWriter { sink }
    }

    /// Counters for `/metrics`.
    pub fn stats(&self) -> menshen_audit::AuditStats {
        self.sink.stats()
    }
}

fn summaries(findings: &[Finding]) -> Vec<FindingSummary> {
    let mut groups: BTreeMap<(String, String), FindingSummary> = BTreeMap::new();
    for f in findings {
        let g = groups
            .entry((f.detector.clone(), f.category.to_string()))
            .or_insert_with(|| FindingSummary {
                detector: f.detector.clone(),
                category: f.category.to_string(),
                score_milli: 0,
                count: 0,
                entities: BTreeMap::new(),
            });
        g.count = g.count.saturating_add(1);
        // Scores are 0..=1; thousandths keep the canonical encoding integral.
        let milli = (f.score.clamp(0.0, 1.0) * 1000.0).round() as u16;
        g.score_milli = g.score_milli.max(milli);
        if let Some(e) = &f.entity {
            let c = g.entities.entry(e.clone()).or_insert(0);
            *c = c.saturating_add(1);
        }
    }
    groups.into_values().collect()
}

/// Reason code of a record whose text passed although a guard failed on it
/// (the route's `on_error` is fail-open); the failed guards are named next
/// to it as `detector:kind`.
pub const GUARD_FAILED_OPEN: &str = "guard_failed_open";

/// Builds the record for one direction of an exchange.
pub fn record_for(ex: &Exchange, direction: Direction) -> AuditRecord {
    let (decision, findings, risk, failures) = match direction {
        Direction::Request => (&ex.decision, &ex.findings, ex.risk.score, &ex.failures),
        Direction::Response => (
            &ex.output_decision,
            &ex.output_findings,
            ex.output_risk.score,
            &ex.output_failures,
        ),
    };
    let (action, reasons) = match (decision, ex.reject_code) {
        (Some(d), _) => (d.action.as_str().to_owned(), d.reasons.clone()),
        (None, Some(code)) => ("reject".to_owned(), vec![code.to_owned()]),
        (None, None) => ("allow".to_owned(), Vec::new()),
    };
    let mut reasons = reasons;
    if let Some(code) = ex.reject_code {
        if !reasons.iter().any(|r| r == code) {
            reasons.push(code.to_owned());
        }
    }
    // A guard that failed while the route let the text through (fail open)
    // must not look like a clean scan to an auditor: say which guard failed
    // and how. A fail-closed block already names them.
    let mut failed_open = false;
    for f in failures {
        let tag = format!("{}:{}", f.detector, f.kind.as_str());
        if !reasons.contains(&tag) {
            failed_open = true;
            reasons.push(tag);
        }
    }
    if failed_open {
        reasons.push(GUARD_FAILED_OPEN.to_owned());
    }
    let time_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    AuditRecord {
        time_ms: u64::try_from(time_ms).unwrap_or(0),
        request_id: ex.request_id.clone(),
        tenant: ex.tenant.clone(),
        route: ex.route.clone().unwrap_or_default(),
        api: ex.api.map_or("other", crate::api::Api::as_str).to_owned(),
        model: (!ex.model.is_empty()).then(|| ex.model.clone()),
        direction: match direction {
            Direction::Request => menshen_audit::Direction::Request,
            Direction::Response => menshen_audit::Direction::Response,
        },
        decision: DecisionSummary {
            action,
            reasons,
            monitor: false,
        },
        risk_score: risk,
        findings: summaries(findings),
        policy_version: if ex.policy_version.is_empty() {
            "none".to_owned()
        } else {
            ex.policy_version.clone()
        },
        review: ex.review_case.as_ref().map(|c| ReviewSummary {
            case_id: c.case_id.clone(),
            outcome: c.outcome.map(|o| o.as_str().to_owned()),
        }),
        upstream: ex.upstream_ms.map(|ms| UpstreamSummary {
            status: ex.upstream_status,
            latency_ms: ms,
        }),
        payloads: Payloads {
            prompt: match direction {
                Direction::Request => ex.audit_prompt.clone(),
                Direction::Response => None,
            },
            response: match direction {
                Direction::Request => None,
                Direction::Response => ex.audit_response.clone(),
            },
        },
    }
}

impl AuditHook for AuditWriter {
    fn record(
        &self,
        exchange: &Exchange,
        direction: Direction,
    ) -> BoxFuture<'static, Result<(), BoxError>> {
        let sink = self.sink.clone();
        let rec = record_for(exchange, direction);
        async move { sink.append(rec).await.map(|_| ()).map_err(BoxError::from) }.boxed()
    }

    fn accepting(&self) -> bool {
        self.sink.accepting()
    }

    fn stats(&self) -> Option<menshen_audit::AuditStats> {
        Some(self.sink.stats())
    }
}
