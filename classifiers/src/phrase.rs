//! A configurable banned-phrase detector on one aho-corasick automaton.
//!
//! The simplest real guard: operators list phrases (one category, one score),
//! matched ASCII-case-insensitively, leftmost-longest, in one pass. Cost does
//! not grow with the number of phrases.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use futures::FutureExt;

use crate::{Category, Detector, Finding, ScanFuture, Segment, Span};

/// Banned-phrase detector.
#[derive(Debug)]
pub struct PhraseListDetector {
    id: String,
    category: Category,
    score: f32,
    automaton: AhoCorasick,
    longest: usize,
}

/// Building the automaton failed (e.g. the phrase list is too large).
#[derive(Debug, thiserror::Error)]
#[error("phrase list {id}: {source}")]
pub struct PhraseListError {
    id: String,
    #[source]
    source: aho_corasick::BuildError,
}

impl PhraseListDetector {
    /// Compiles `phrases` into one automaton. Empty phrases are ignored.
    ///
    /// # Errors
    /// When the automaton cannot be built.
    pub fn new<I, P>(
        id: impl Into<String>,
        category: Category,
        score: f32,
        phrases: I,
    ) -> Result<Self, PhraseListError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<str>,
    {
        let id = id.into();
        let phrases: Vec<String> = phrases
            .into_iter()
            .map(|p| p.as_ref().trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect();
        let longest = phrases.iter().map(String::len).max().unwrap_or(0);
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&phrases)
            .map_err(|source| PhraseListError {
                id: id.clone(),
                source,
            })?;
        Ok(PhraseListDetector {
            id,
            category,
            score: score.clamp(0.0, 1.0),
            automaton,
            longest,
        })
    }

    /// Synchronous scan of a text (used by the async [`Detector::scan`]).
    pub fn scan_text(&self, text: &str) -> Vec<Finding> {
        self.automaton
            .find_iter(text)
            .map(|m| {
                Finding::new(self.id.clone(), self.category.clone(), self.score)
                    .with_rule(format!("phrase:{}", m.pattern().as_usize()))
                    .with_span(Span::new(m.start(), m.end()))
                    .with_evidence(format!("banned phrase #{}", m.pattern().as_usize()))
            })
            .collect()
    }
}

impl Detector for PhraseListDetector {
    fn id(&self) -> &str {
        &self.id
    }

    fn scan<'a>(&'a self, segment: Segment<'a>) -> ScanFuture<'a> {
        std::future::ready(Ok(self.scan_text(segment.text))).boxed()
    }

    fn max_match_bytes(&self) -> Option<usize> {
        Some(self.longest)
    }

    fn joins_segments(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_case_insensitive_phrases_with_spans() {
        let d = PhraseListDetector::new("p", Category::PROMPT_INJECTION, 0.8, ["secret plan", ""])
            .unwrap();
        let f = d.scan_text("the SECRET Plan is");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].span, Some(Span::new(4, 15)));
        assert_eq!(d.max_match_bytes(), Some(11));
        assert!(d.scan_text("nothing here").is_empty());
    }
}
