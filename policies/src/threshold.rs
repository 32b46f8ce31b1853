//! The built-in decision engine: block at a risk threshold.

use crate::{Action, Decision, DecisionEngine, PolicyError, PolicyInput};

/// Blocks when `input.risk.score >= block_at`; redacts (mask) any entity types
/// found otherwise. Used when no Rego bundle is configured.
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
        if input.risk.score >= self.block_at {
            let mut d = Decision::block("risk_threshold");
            d.reasons.extend(
                input
                    .risk
                    .categories
                    .iter()
                    .filter(|(_, s)| **s >= self.block_at)
                    .map(|(c, _)| c.to_string()),
            );
            return Ok(d);
        }
        let mut d = Decision::allow();
        for f in &input.findings {
            for e in &f.entity_types {
                d.redact.insert(e.clone(), "mask".to_owned());
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
