//! Versioned category ids shared by detectors, policies and the audit log.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A versioned category id such as `OWASP-LLM-2025:LLM01`, `GBT45654:A.1.3`
/// or `MLC:S1`.
///
/// Ids carry their taxonomy and its version so that a policy written against
/// one edition of a standard keeps its meaning when the next edition renumbers
/// things; the audit log records the id verbatim.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Category(Cow<'static, str>);

impl Category {
    /// OWASP LLM Top 10 2025, LLM01: prompt injection (direct, indirect, jailbreak).
    pub const PROMPT_INJECTION: Category = Category::from_static("OWASP-LLM-2025:LLM01");
    /// OWASP LLM Top 10 2025, LLM02: sensitive information disclosure (PII, secrets).
    pub const SENSITIVE_INFO: Category = Category::from_static("OWASP-LLM-2025:LLM02");
    /// OWASP LLM Top 10 2025, LLM05: improper output handling.
    pub const IMPROPER_OUTPUT: Category = Category::from_static("OWASP-LLM-2025:LLM05");
    /// OWASP LLM Top 10 2025, LLM07: system prompt leakage.
    pub const SYSTEM_PROMPT_LEAKAGE: Category = Category::from_static("OWASP-LLM-2025:LLM07");

    /// A category from a `'static` id, usable in `const` items.
    pub const fn from_static(id: &'static str) -> Self {
        Category(Cow::Borrowed(id))
    }

    /// A category from any id string (rule packs and config files).
    pub fn new(id: impl Into<String>) -> Self {
        Category(Cow::Owned(id.into()))
    }

    /// The full id, e.g. `OWASP-LLM-2025:LLM01`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The taxonomy part before the first `:` (e.g. `OWASP-LLM-2025`), or the
    /// whole id when it has none.
    pub fn taxonomy(&self) -> &str {
        self.0.split_once(':').map_or(&self.0, |(t, _)| t)
    }
}

impl fmt::Debug for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taxonomy_is_the_prefix() {
        assert_eq!(Category::PROMPT_INJECTION.taxonomy(), "OWASP-LLM-2025");
        assert_eq!(Category::new("plain").taxonomy(), "plain");
    }
}
