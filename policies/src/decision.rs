//! The decision type, and the strict check that turns a policy's raw result
//! into one.
//!
//! A policy result is untrusted structured data: a typo in a pack (`"blok"`,
//! a missing upstream for `route`, an unknown redaction operator) must not
//! silently become an allow. [`Decision::from_policy_value`] rejects anything
//! that is not exactly a decision, and the caller then applies the route's
//! `on_error` (fail closed by default).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::PolicyError;

/// Redaction operators a policy may ask for.
pub const REDACTION_OPERATORS: &[&str] = &["mask", "partial", "hash", "drop", "pseudonym"];

/// Longest reason code accepted.
const MAX_REASON_LEN: usize = 128;
/// Longest client-facing message or disclaimer accepted, in characters.
const MAX_MESSAGE_CHARS: usize = 2048;

/// What happens to a request or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Forward unchanged.
    Allow,
    /// Refuse with an error in the API's own format.
    Block,
    /// Forward with the listed entity types redacted.
    Redact,
    /// Hold for human review; not forwarded.
    Review,
    /// Forward to the named upstream.
    Route,
}

impl Action {
    /// Stable lowercase name (header `x-menshen-decision`, audit, metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Block => "block",
            Action::Redact => "redact",
            Action::Review => "review",
            Action::Route => "route",
        }
    }
}

/// A policy's decision (`data.menshen.decision`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// What to do.
    pub action: Action,
    /// Stable snake_case reason codes.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Entity type → redaction operator (`mask`, `partial`, `hash`, `drop`, `pseudonym`).
    #[serde(default)]
    pub redact: BTreeMap<String, String>,
    /// Upstream name for [`Action::Route`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// HTTP status for a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Message shown to the client on refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Text the proxy appends to the model's answer (medical, financial advice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclaimer: Option<String>,
    /// The content itself violates policy (not merely refused for another
    /// reason such as a suspension): counts toward the subject's violation
    /// counters ([`crate::SubjectCounters`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub violation: bool,
    /// How much of this decision's context the audit log keeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogDetail>,
}

/// How much the audit log keeps about a decision (data minimisation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogDetail {
    /// Findings with detector, category, score and entity types.
    Standard,
    /// Only the action, reason codes and policy version: no entity types,
    /// no per-finding detail (GDPR Art. 5(1)(c)).
    Minimal,
}

/// The wire shape of `data.menshen.decision`, with every field checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDecision {
    action: Action,
    #[serde(default)]
    reasons: Vec<String>,
    #[serde(default)]
    redact: BTreeMap<String, String>,
    #[serde(default)]
    route: Option<String>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    disclaimer: Option<String>,
    #[serde(default)]
    violation: bool,
    #[serde(default)]
    log: Option<LogDetail>,
}

impl Decision {
    /// An allow with no reasons.
    pub fn allow() -> Self {
        Decision {
            action: Action::Allow,
            reasons: Vec::new(),
            redact: BTreeMap::new(),
            route: None,
            status: None,
            message: None,
            disclaimer: None,
            violation: false,
            log: None,
        }
    }

    /// Validates a policy's raw result into a decision.
    ///
    /// Rules: an object with only the documented keys; `action` one of the
    /// five actions; `reasons` short codes without whitespace; `redact`
    /// operators from [`REDACTION_OPERATORS`] and non-empty for `redact`;
    /// `route` present exactly when the action is `route`; `status` a 4xx or
    /// 5xx code and only on `block` or `review`; bounded message lengths.
    ///
    /// # Errors
    /// [`PolicyError::Malformed`] naming the first problem found.
    pub fn from_policy_value(value: serde_json::Value) -> Result<Decision, PolicyError> {
        let malformed = |reason: String| PolicyError::Malformed { reason };
        if value.is_null() {
            return Err(malformed("data.menshen.decision is undefined".to_owned()));
        }
        if !value.is_object() {
            return Err(malformed(format!("expected an object, got {value}")));
        }
        let raw: RawDecision =
            serde_json::from_value(value).map_err(|e| malformed(e.to_string()))?;
        for r in &raw.reasons {
            if r.is_empty()
                || r.len() > MAX_REASON_LEN
                || r.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(malformed(format!("invalid reason code {r:?}")));
            }
        }
        for (entity, op) in &raw.redact {
            if entity.is_empty() || !REDACTION_OPERATORS.contains(&op.as_str()) {
                return Err(malformed(format!("invalid redaction {entity:?} -> {op:?}")));
            }
        }
        if raw.action == Action::Redact && raw.redact.is_empty() {
            return Err(malformed("action redact without entity types".to_owned()));
        }
        match (&raw.action, &raw.route) {
            (Action::Route, None) => {
                return Err(malformed("action route without an upstream".to_owned()))
            }
            (Action::Route, Some(r)) if r.trim().is_empty() => {
                return Err(malformed("action route with an empty upstream".to_owned()))
            }
            (Action::Route, Some(_)) | (_, None) => {}
            (a, Some(_)) => {
                return Err(malformed(format!("route given with action {}", a.as_str())))
            }
        }
        if let Some(status) = raw.status {
            if !(400..=599).contains(&status) {
                return Err(malformed(format!(
                    "status {status} is not a 4xx or 5xx code"
                )));
            }
            if !matches!(raw.action, Action::Block | Action::Review) {
                return Err(malformed(format!(
                    "status given with action {}",
                    raw.action.as_str()
                )));
            }
        }
        for (name, text) in [("message", &raw.message), ("disclaimer", &raw.disclaimer)] {
            if text
                .as_ref()
                .is_some_and(|t| t.chars().count() > MAX_MESSAGE_CHARS)
            {
                return Err(malformed(format!(
                    "{name} longer than {MAX_MESSAGE_CHARS} characters"
                )));
            }
        }
        Ok(Decision {
            action: raw.action,
            reasons: raw.reasons,
            redact: raw.redact,
            route: raw.route,
            status: raw.status,
            message: raw.message,
            disclaimer: raw.disclaimer,
            violation: raw.violation,
            log: raw.log,
        })
    }

    /// A block with one reason.
    pub fn block(reason: impl Into<String>) -> Self {
        Decision {
            action: Action::Block,
            reasons: vec![reason.into()],
            ..Decision::allow()
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_a_full_decision() {
        let d = Decision::from_policy_value(json!({
            "action": "redact", "reasons": ["pii", "GBT45654:A.4.6"],
            "redact": {"EMAIL": "mask"}, "log": "minimal"
        }))
        .unwrap();
        assert_eq!(d.action, Action::Redact);
        assert_eq!(d.redact["EMAIL"], "mask");
        assert_eq!(d.log, Some(LogDetail::Minimal));
    }

    #[test]
    fn rejects_malformed_results() {
        let bad = [
            json!(null),
            json!(true),
            json!({"action": "blok"}),
            json!({"action": "allow", "extra": 1}),
            json!({"action": "allow", "reasons": ["has space"]}),
            json!({"action": "redact"}),
            json!({"action": "redact", "redact": {"EMAIL": "shred"}}),
            json!({"action": "route"}),
            json!({"action": "allow", "route": "small"}),
            json!({"action": "block", "status": 200}),
            json!({"action": "allow", "status": 403}),
            json!({"action": "allow", "reasons": "pii"}),
        ];
        for v in bad {
            let e = Decision::from_policy_value(v.clone());
            assert!(
                matches!(e, Err(PolicyError::Malformed { .. })),
                "{v} gave {e:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_json_never_panics(s in ".{0,64}") {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&s) {
                let _ = Decision::from_policy_value(v);
            }
        }

        #[test]
        fn valid_decisions_round_trip(
            action in proptest::sample::select(vec!["allow", "block", "review"]),
            reasons in proptest::collection::vec("[a-z_]{1,20}", 0..4),
        ) {
            let v = json!({"action": action, "reasons": reasons});
            let d = Decision::from_policy_value(v).unwrap();
            let back = Decision::from_policy_value(serde_json::to_value(&d).unwrap()).unwrap();
            proptest::prop_assert_eq!(d, back);
        }
    }
}
