//! The decision engine the proxy runs: Rego bundles through a
//! [`PolicySet`] (per tenant/route selection, shadow mode, hot reload whose
//! failures keep the old bundle serving), or the built-in threshold engine.

use std::sync::Arc;

use menshen_policies::{
    Decision, DecisionEngine, PolicyError, PolicyInput, PolicySet, ThresholdEngine,
};

/// The policy in force.
#[derive(Debug, Clone)]
pub enum PolicyEngine {
    /// Built-in: block at a risk threshold, redact entities.
    Threshold(Arc<ThresholdEngine>),
    /// Rego bundles evaluated in-process by regorus.
    Rego(Arc<PolicySet>),
}

impl PolicyEngine {
    /// Decides, returning the decision (or why not) and the version (content
    /// hash) of the policy that decided.
    pub fn evaluate(&self, input: &PolicyInput) -> (Result<Decision, PolicyError>, String) {
        match self {
            PolicyEngine::Threshold(t) => (t.decide(input), t.version().to_owned()),
            PolicyEngine::Rego(set) => {
                let e = set.evaluate(input);
                if e.shadow_differs == Some(true) {
                    tracing::info!(policy.version = %e.version, "shadow policy decided differently");
                }
                (e.decision, e.version)
            }
        }
    }

    /// Whether the engine reads the request facts of its input (HTTP facts,
    /// model, route, tenant, user, message counts, time). The threshold
    /// engine reads only findings and risk, so for it the proxy skips
    /// building the rest, about twenty allocations per request.
    pub fn reads_request_facts(&self) -> bool {
        match self {
            PolicyEngine::Threshold(_) => false,
            PolicyEngine::Rego(_) => true,
        }
    }

    /// Version of the default policy now.
    pub fn version(&self) -> String {
        match self {
            PolicyEngine::Threshold(t) => t.version().to_owned(),
            PolicyEngine::Rego(set) => set.version(),
        }
    }

    /// Reloads Rego bundles (SIGHUP); a broken bundle keeps the old one serving.
    pub fn reload(&self) {
        if let PolicyEngine::Rego(set) = self {
            let report = set.reload();
            tracing::info!(report = ?report, "policy reload");
        }
    }
}
