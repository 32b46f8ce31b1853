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
//! input.risk.categories.insert(menshen_classifiers::Category::PROMPT_INJECTION, 90);
//! assert_eq!(engine.decide(&input).unwrap().action, Action::Block);
//! ```
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod bundle;
mod counters;
mod decision;
mod engine;
mod error;
mod input;
pub mod packs;
mod reads;
mod rego_value;
mod review;
mod set;
mod store;
mod testing;
mod threshold;

pub use bundle::{Bundle, BundleFile, Manifest};
pub use counters::{SubjectCounters, SuspensionRule};
pub use decision::{Action, Decision, LogDetail, REDACTION_OPERATORS};
pub use engine::{eval, RegoEngine, DECISION_RULE, DEFAULT_EVAL_TIMEOUT};
pub use error::{PolicyError, SourceError};
pub use input::{
    summarize_findings, summarize_findings_in, Direction, FindingSummary, GuardFailureFact,
    HttpAttributes, LlmRequest, PolicyContext, PolicyInput, RequestAttributes, SubjectState,
    INPUT_SCHEMA, INPUT_SCHEMA_VERSION,
};
pub use review::{
    Case, CaseFilter, CaseId, CaseStatus, NewCase, Outcome, Release, RequestFingerprint,
    ReviewQueue, EXPIRY_REVIEWER,
};
pub use set::{
    Evaluation, PolicyKey, PolicySet, PolicySource, PolicyStats, ReloadError, ReloadReport,
    ShadowDiff, WatchHandle,
};
pub use store::StoreError;
pub use testing::{run_bundle_tests, run_tests, TestOutcome, TestReport, TestResult};
pub use threshold::ThresholdEngine;

use std::fmt;

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
