//! What a detector reports.

use serde::{Deserialize, Serialize};

use crate::{Category, Location};

/// A byte range `[start, end)` into a segment's text, always on char boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from byte offsets.
    pub const fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// Length in bytes.
    pub const fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// Whether the span is empty.
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// One thing a detector noticed. Findings only *annotate*: whether anything is
/// blocked is decided later by the policy.
///
/// A finding never carries the raw matched text: `evidence` is a short string
/// that is safe to log (a rule id, an entity type, a masked excerpt).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Detector id, e.g. `rules.injection`, `pii`, `onnx.injection`, `phrases`.
    pub detector: String,
    /// Rule or pattern id inside the detector, when it has rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Versioned category id.
    pub category: Category,
    /// Confidence in `0.0..=1.0`.
    pub score: f32,
    /// Entity type for PII and secrets (`EMAIL`, `CREDIT_CARD`, `CN_RESIDENT_ID`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// Which segment of the conversation; filled in by the pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Byte span inside that segment's text; `None` for whole-segment verdicts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
    /// Short, log-safe description of what matched.
    #[serde(default)]
    pub evidence: String,
}

impl Finding {
    /// A finding with the required fields; the rest default to empty.
    pub fn new(detector: impl Into<String>, category: Category, score: f32) -> Self {
        Finding {
            detector: detector.into(),
            rule: None,
            category,
            score: score.clamp(0.0, 1.0),
            entity: None,
            location: None,
            span: None,
            evidence: String::new(),
        }
    }

    /// Sets the rule id.
    pub fn with_rule(mut self, rule: impl Into<String>) -> Self {
        self.rule = Some(rule.into());
        self
    }

    /// Sets the entity type.
    pub fn with_entity(mut self, entity: impl Into<String>) -> Self {
        self.entity = Some(entity.into());
        self
    }

    /// Sets the byte span.
    pub fn with_span(mut self, span: Span) -> Self {
        self.span = Some(span);
        self
    }

    /// Sets the log-safe evidence string.
    pub fn with_evidence(mut self, evidence: impl Into<String>) -> Self {
        self.evidence = evidence.into();
        self
    }
}

/// Converts a byte span of `text` into Unicode code point offsets
/// `(char_start, char_end)`. Offsets past the end clamp to the text's length.
pub fn char_offsets(text: &str, span: Span) -> (usize, usize) {
    let mut start = None;
    let mut count = 0usize;
    for (i, (b, _)) in text.char_indices().enumerate() {
        if start.is_none() && b >= span.start {
            start = Some(i);
        }
        if b >= span.end {
            return (start.unwrap_or(i), i);
        }
        count = i.saturating_add(1);
    }
    (start.unwrap_or(count), count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_offsets_count_code_points() {
        let t = "身份证 abc";
        // "身份证" is 9 bytes, 3 chars.
        assert_eq!(char_offsets(t, Span::new(0, 9)), (0, 3));
        assert_eq!(char_offsets(t, Span::new(10, 13)), (4, 7));
        assert_eq!(char_offsets(t, Span::new(13, 13)), (7, 7));
    }

    #[test]
    fn score_is_clamped() {
        assert_eq!(Finding::new("x", Category::new("c"), 3.0).score, 1.0);
    }
}
