//! Decisions for Menshen.
//!
//! The decision step is the only place that blocks. It reads a
//! [`PolicyInput`] (request attributes, findings, risk, context; never raw
//! sensitive text) and returns a [`Decision`]. The built-in
//! [`ThresholdEngine`] decides on the risk score alone; Rego policy packs
//! evaluated with `regorus` plug into the same [`DecisionEngine`] trait.
//!
//! ```
//! use menshen_policies::{DecisionEngine, ThresholdEngine, PolicyInput, Action};
//! let engine = ThresholdEngine::new(70);
//! let mut input = PolicyInput::default();
//! input.risk.score = 90;
//! assert_eq!(engine.decide(&input).unwrap().action, Action::Block);
//! ```

mod decision;
mod input;
mod threshold;

pub use decision::{Action, Decision};
pub use input::{
    Direction, FindingSummary, HttpAttributes, LlmRequest, PolicyContext, PolicyInput,
    RequestAttributes,
};
pub use threshold::ThresholdEngine;

use std::fmt;

/// Why a policy could not decide.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy ran but returned something that is not a valid decision.
    #[error("policy returned a malformed decision: {reason}")]
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// Evaluation failed.
    #[error("policy evaluation failed: {reason}")]
    Evaluation {
        /// Engine message.
        reason: String,
    },
}

/// Anything that turns a policy input into a decision.
pub trait DecisionEngine: Send + Sync + fmt::Debug {
    /// Decides.
    ///
    /// # Errors
    /// When the policy cannot produce a well-formed decision; callers then
    /// apply the route's `on_error` (fail closed by default).
    fn decide(&self, input: &PolicyInput) -> Result<Decision, PolicyError>;

    /// Content hash of the policy in force, recorded with every decision.
    fn version(&self) -> &str;
}
