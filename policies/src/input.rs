//! The policy input document.
//!
//! Shaped like OPA's Envoy integration (`input.attributes.request.http`) so
//! gateway policy authors feel at home, plus `input.llm`, `input.findings`,
//! `input.risk` and `input.context` for what is ours. Findings are summaries:
//! the raw sensitive text never reaches a policy.

use std::collections::BTreeMap;

use menshen_classifiers::RiskReport;
use serde::{Deserialize, Serialize};

/// The whole input document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyInput {
    /// Schema version of this document.
    pub version: u32,
    /// HTTP attributes, Envoy style.
    pub attributes: RequestAttributes,
    /// LLM-level request facts.
    pub llm: LlmRequest,
    /// Finding summaries.
    pub findings: Vec<FindingSummary>,
    /// Risk report.
    pub risk: RiskReport,
    /// When, which direction, streaming or not.
    pub context: PolicyContext,
}

/// `input.attributes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestAttributes {
    /// `input.attributes.request.http`.
    pub request: HttpAttributes,
}

/// `input.attributes.request.http`, wrapped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpAttributes {
    /// The HTTP facts.
    pub http: HttpRequestFacts,
}

/// Method, path, host, selected headers, size.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpRequestFacts {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Host header.
    pub host: String,
    /// Selected, non-credential headers (lowercase names).
    pub headers: BTreeMap<String, String>,
    /// Body size in bytes.
    pub size: u64,
}

/// `input.llm`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LlmRequest {
    /// API surface (`openai.chat`, `openai.completions`, `openai.responses`, `anthropic.messages`).
    pub api: String,
    /// Request path.
    pub path: String,
    /// Model requested.
    pub model: String,
    /// Route name.
    pub route: String,
    /// Tenant of the client key.
    pub tenant: String,
    /// End-user id when the client sends one.
    pub user: String,
    /// Message count per role.
    pub message_counts: BTreeMap<String, u64>,
    /// Text bytes per role.
    pub message_bytes: BTreeMap<String, u64>,
    /// Whether tool results, documents or tool descriptions are present.
    pub has_untrusted_content: bool,
}

/// One finding as a policy sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FindingSummary {
    /// Detector id.
    pub detector: String,
    /// Category id.
    pub category: String,
    /// Highest score among the grouped findings.
    pub score: f32,
    /// How many findings were grouped.
    pub count: u64,
    /// Entity types involved.
    pub entity_types: Vec<String>,
    /// Whether any of them was in untrusted content.
    pub in_untrusted: bool,
}

/// Which way the text travels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Client → model.
    #[default]
    Request,
    /// Model → client.
    Response,
}

/// `input.context`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyContext {
    /// RFC 3339 time of the decision.
    pub time: String,
    /// Streaming response requested.
    pub stream: bool,
    /// Direction.
    pub direction: Direction,
}
