//! The decision type.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
        }
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
