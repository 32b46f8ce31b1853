//! The built-in decision engine: block at a risk threshold.

use crate::{Action, Decision, DecisionEngine, PolicyError, PolicyInput};

/// Blocks when a category's risk reaches `block_at`, unless every finding in
/// it names an entity type (PII, secrets): those are redacted instead, with
/// operator `config` (the proxy's configured operator per entity type). Used when no Rego bundle is configured.
#[derive(Debug, Clone)]
pub struct ThresholdEngine {
    block_at: u8,
    version: String,
}

impl ThresholdEngine {
    /// A threshold engine; `block_at` is a risk score 0..=100.
    pub fn new(block_at: u8) -> Self {
        ThresholdEngine {
            block_at,
            version: format!("builtin-threshold-{block_at}"),
        }
    }
}

impl DecisionEngine for ThresholdEngine {
    fn decide(&self, input: &PolicyInput) -> Result<Decision, PolicyError> {
        // Categories made only of entity findings (PII, secrets) are handled
        // by redaction, not by blocking: the value can be cut out and the
        // request still served.
        let redactable = |category: &str| {
            let mut any = false;
            for f in input.findings.iter().filter(|f| f.category == category) {
                any = true;
                if f.entity_types.is_empty() {
                    return false;
                }
            }
            any
        };
        let blocking: Vec<String> = input
            .risk
            .categories
            .iter()
            .filter(|(c, s)| **s >= self.block_at && !redactable(c.as_str()))
            .map(|(c, _)| c.to_string())
            .collect();
        if !blocking.is_empty() {
            let mut d = Decision::block("risk_threshold");
            d.reasons.extend(blocking);
            return Ok(d);
        }
        let mut d = Decision::allow();
        for f in &input.findings {
            for e in &f.entity_types {
                d.redact.insert(e.clone(), "config".to_owned());
            }
        }
        if !d.redact.is_empty() {
            d.action = Action::Redact;
            d.reasons.push("sensitive_entities".to_owned());
        }
        Ok(d)
    }

    fn version(&self) -> &str {
        &self.version
    }
}
