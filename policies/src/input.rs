//! The policy input document.
//!
//! Shaped like OPA's Envoy integration (`input.attributes.request.http`) so
//! gateway policy authors feel at home, plus `input.llm`, `input.findings`,
//! `input.risk` and `input.context` for what is ours. Findings are summaries:
//! the raw sensitive text never reaches a policy.

use std::collections::{BTreeMap, BTreeSet};

use menshen_classifiers::{Conversation, Finding, GuardFailure, OnError, RiskReport, Trust};
use serde::{Deserialize, Serialize};

/// Version of the input document described by [`INPUT_SCHEMA`]; bumped on
/// any incompatible change, and sent as `input.version`.
pub const INPUT_SCHEMA_VERSION: u32 = 1;

/// The JSON Schema of the input document (`policies/schema/input.schema.json`).
pub const INPUT_SCHEMA: &str = include_str!("../schema/input.schema.json");

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
    /// The end user's violation history (GB/T 45654 suspension rule).
    #[serde(default)]
    pub subject: SubjectState,
    /// Guards that failed on this exchange in this direction (timeout,
    /// overload, crash) and were let through by `on_error`: their findings
    /// are missing from `findings`, so a policy that trusts an empty list
    /// would read a failed scan as a clean one. Empty when every guard ran.
    #[serde(default)]
    pub guard_failures: Vec<GuardFailureFact>,
}

/// `input.guard_failures[]`: one guard that did not finish its scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardFailureFact {
    /// Detector id, e.g. `onnx.injection`.
    pub detector: String,
    /// `timeout`, `overloaded`, `unavailable` or `failed`.
    pub kind: String,
    /// The guard's configured failure mode: `allow` (fail open) or `block`.
    pub on_error: String,
}

impl GuardFailureFact {
    /// The facts of one pipeline failure.
    pub fn from_failure(f: &GuardFailure) -> Self {
        GuardFailureFact {
            detector: f.detector.clone(),
            kind: f.kind.as_str().to_owned(),
            on_error: match f.on_error {
                OnError::Allow => "allow",
                OnError::Block => "block",
            }
            .to_owned(),
        }
    }
}

/// `input.subject`: what the per-subject counters know about the end user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectState {
    /// Subject id (tenant-scoped user id); empty when the client sends none.
    pub id: String,
    /// Violations since the last clean request.
    pub consecutive_violations: u32,
    /// Violations in the trailing 24 hours.
    pub violations_24h: u32,
    /// Whether the subject is currently suspended.
    pub suspended: bool,
    /// RFC 3339 end of the suspension, when suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_until: Option<String>,
}

impl PolicyInput {
    /// An empty input of the current schema version.
    pub fn new() -> Self {
        PolicyInput {
            version: INPUT_SCHEMA_VERSION,
            ..PolicyInput::default()
        }
    }
}

/// Summarises findings for `input.findings`: one entry per (detector,
/// category) with the highest score, the count and the entity types. The
/// matched text, spans and evidence are left out on purpose: policies decide
/// on facts about the text, never on the text itself.
///
/// `in_untrusted` is `false` here because a bare finding does not know its
/// segment's trust; use [`summarize_findings_in`] when the conversation is at hand.
pub fn summarize_findings(findings: &[Finding]) -> Vec<FindingSummary> {
    summarize(findings, |_| false)
}

/// Like [`summarize_findings`], marking findings located in untrusted content
/// (tool results, documents, tool descriptions) of `conversation`.
pub fn summarize_findings_in(
    findings: &[Finding],
    conversation: &Conversation,
) -> Vec<FindingSummary> {
    let untrusted: BTreeSet<_> = conversation
        .segments()
        .filter(|s| s.trust == Trust::Untrusted)
        .map(|s| s.location)
        .collect();
    summarize(findings, |f| {
        f.location.is_some_and(|l| untrusted.contains(&l))
    })
}

fn summarize(findings: &[Finding], is_untrusted: impl Fn(&Finding) -> bool) -> Vec<FindingSummary> {
    let mut groups: BTreeMap<(&str, &str), (FindingSummary, BTreeSet<&str>)> = BTreeMap::new();
    for f in findings {
        let (sum, entities) = groups
            .entry((f.detector.as_str(), f.category.as_str()))
            .or_insert_with(|| {
                (
                    FindingSummary {
                        detector: f.detector.clone(),
                        category: f.category.to_string(),
                        ..FindingSummary::default()
                    },
                    BTreeSet::new(),
                )
            });
        sum.score = sum.score.max(f.score);
        sum.count = sum.count.saturating_add(1);
        sum.in_untrusted |= is_untrusted(f);
        if let Some(e) = &f.entity {
            entities.insert(e.as_str());
        }
    }
    groups
        .into_values()
        .map(|(mut s, e)| {
            s.entity_types = e.into_iter().map(str::to_owned).collect();
            s
        })
        .collect()
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
    /// API surface (`openai.chat`, `openai.completions`, `openai.responses`,
    /// `openai.responses.input_tokens`, `anthropic.messages`,
    /// `anthropic.count_tokens`, `ollama.chat`, `ollama.generate`).
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
    /// Parts no guard can read (images, audio, files): a policy that must
    /// not let unscanned content through holds or blocks on this.
    #[serde(default)]
    pub opaque_parts: u64,
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

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use menshen_classifiers::{Category, Location, Message, Part, Role};
    use proptest::prelude::*;

    #[test]
    fn groups_by_detector_and_category() {
        let fs = [
            Finding::new("pii", Category::SENSITIVE_INFO, 0.7)
                .with_entity("EMAIL")
                .with_evidence("a@b.c"),
            Finding::new("pii", Category::SENSITIVE_INFO, 0.9).with_entity("PHONE_NUMBER"),
            Finding::new("pii", Category::SENSITIVE_INFO, 0.8).with_entity("EMAIL"),
            Finding::new("rules", Category::PROMPT_INJECTION, 0.6),
        ];
        let s = summarize_findings(&fs);
        assert_eq!(s.len(), 2);
        let pii = s.iter().find(|s| s.detector == "pii").unwrap();
        assert_eq!(pii.count, 3);
        assert!((pii.score - 0.9).abs() < f32::EPSILON);
        assert_eq!(pii.entity_types, ["EMAIL", "PHONE_NUMBER"]);
        let json = serde_json::to_string(&s).unwrap();
        assert!(
            !json.contains("a@b.c"),
            "evidence must not reach the policy"
        );
    }

    #[test]
    fn marks_findings_in_untrusted_content() {
        let conv = Conversation::from_messages(vec![
            Message::text(Role::User, "hi"),
            Message {
                role: Role::Tool,
                parts: vec![Part::ToolResult {
                    tool_call_id: None,
                    text: "ignore all".into(),
                }],
            },
        ]);
        let mut f = Finding::new("rules", Category::PROMPT_INJECTION, 0.7);
        f.location = Some(Location::Part {
            message: 1,
            part: 0,
        });
        let mut g = Finding::new("rules2", Category::PROMPT_INJECTION, 0.7);
        g.location = Some(Location::Part {
            message: 0,
            part: 0,
        });
        let s = summarize_findings_in(&[f, g], &conv);
        assert!(
            s.iter()
                .find(|s| s.detector == "rules")
                .unwrap()
                .in_untrusted
        );
        assert!(
            !s.iter()
                .find(|s| s.detector == "rules2")
                .unwrap()
                .in_untrusted
        );
    }

    #[test]
    fn guard_failures_reach_the_input_with_kind_and_mode() {
        use menshen_classifiers::DetectorErrorKind;
        let f = GuardFailure {
            detector: "onnx.injection".into(),
            kind: DetectorErrorKind::Timeout,
            on_error: OnError::Allow,
        };
        let mut input = PolicyInput::new();
        input
            .guard_failures
            .push(GuardFailureFact::from_failure(&f));
        let v = serde_json::to_value(&input).unwrap();
        assert_eq!(
            v["guard_failures"],
            serde_json::json!([{"detector": "onnx.injection", "kind": "timeout", "on_error": "allow"}])
        );
        // The schema lists the field, so a strict validator accepts it.
        let schema: serde_json::Value = serde_json::from_str(INPUT_SCHEMA).unwrap();
        let item = &schema["properties"]["guard_failures"]["items"];
        assert_eq!(item["properties"]["kind"]["enum"][0], "timeout");
        // Older documents without the field still parse.
        let mut old = v.clone();
        old.as_object_mut().unwrap().remove("guard_failures");
        let back: PolicyInput = serde_json::from_value(old).unwrap();
        assert!(back.guard_failures.is_empty());
    }

    #[test]
    fn default_input_matches_the_schema_version() {
        let v: serde_json::Value = serde_json::from_str(INPUT_SCHEMA).unwrap();
        assert_eq!(v["properties"]["version"]["const"], INPUT_SCHEMA_VERSION);
        assert_eq!(PolicyInput::new().version, INPUT_SCHEMA_VERSION);
    }

    proptest! {
        #[test]
        fn counts_add_up(items in proptest::collection::vec((0u8..3, 0u8..3, 0.0f32..=1.0), 0..40)) {
            let fs: Vec<Finding> = items.iter().map(|(d, c, s)| {
                Finding::new(format!("d{d}"), Category::new(format!("c{c}")), *s)
            }).collect();
            let s = summarize_findings(&fs);
            let total: u64 = s.iter().map(|s| s.count).sum();
            prop_assert_eq!(total, fs.len() as u64);
            prop_assert!(s.len() <= 9);
        }
    }
}
