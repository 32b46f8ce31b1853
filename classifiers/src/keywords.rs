//! Keyword libraries: per-category sensitive-term lists on one automaton.
//!
//! **What it detects.** Terms from operator-supplied lists, one list per
//! category (GB/T 45654 requires generative AI services in China to screen
//! against keyword libraries of tens of thousands of terms). Every term of
//! every list goes into one aho-corasick automaton, so the cost of a scan does
//! not grow with the number of terms.
//!
//! **Where it sits.** [`KeywordDetector`] (id `keywords`) runs in the
//! [`crate::Pipeline`] over every segment, input and output; it only
//! annotates.
//!
//! **How it matches.** Terms and text are [normalized](crate::normalize) the
//! same way (case, full-width, confusables, zero-width characters, spacing,
//! leetspeak) and decoded views are scanned too, so `ｃｏｏｋ ｍｅｔｈ` and a
//! base64-wrapped term still match. ASCII terms match whole words only; CJK
//! terms match anywhere (Chinese has no spaces).
//!
//! **Files.** One term per line, UTF-8; `#` lines are comments; header
//! directives `# name:`, `# category:` (required) and `# weight:` come before
//! the first term. See `classifiers/rules/keywords/example.txt`.
//!
//! ```
//! use menshen_classifiers::keywords::{KeywordDetector, KeywordList};
//! use menshen_classifiers::Category;
//!
//! let list = KeywordList::new("demo", Category::new("MLC:S2"), 0.7, ["cook meth", "制毒方法"]);
//! let det = KeywordDetector::new(&[list]).unwrap();
//! let f = det.scan_text("how to ＣＯＯＫ  meth at home");
//! assert_eq!(f.len(), 0); // two spaces: terms match exactly, modulo folding
//! let f = det.scan_text("how to ＣＯＯＫ meth? 制毒方法");
//! assert_eq!(f.len(), 2);
//! ```

use std::path::Path;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use futures::FutureExt;

use crate::normalize::{Normalized, Normalizer};
use crate::rules::{PackError, PackErrorKind};
use crate::{Category, Detector, Finding, ScanFuture, Segment, Span};

/// The detector id.
pub const DETECTOR_ID: &str = "keywords";

/// Default weight of a list without a `# weight:` header.
const DEFAULT_WEIGHT: f32 = 0.6;

/// Most findings reported per segment.
const MAX_FINDINGS: usize = 64;

/// One category's list of terms.
#[derive(Debug, Clone, PartialEq)]
pub struct KeywordList {
    /// List name, used in evidence and rule ids (`keywords:<name>`).
    pub name: String,
    /// Category of every term.
    pub category: Category,
    /// Score of a match.
    pub weight: f32,
    /// The terms.
    pub terms: Vec<String>,
}

/// Keyword lists compiled into one automaton.
#[derive(Debug)]
pub struct KeywordDetector {
    id: String,
    normalizer: Normalizer,
    lists: Vec<ListMeta>,
    automaton: Option<AhoCorasick>,
    terms: Vec<TermMeta>,
    longest: usize,
}

#[derive(Debug, Clone)]
struct ListMeta {
    rule: String,
    category: Category,
    weight: f32,
}

#[derive(Debug, Clone, Copy)]
struct TermMeta {
    list: usize,
    word_start: bool,
    word_end: bool,
}

// === impl KeywordList ===

impl KeywordList {
    /// A list from terms in memory.
    pub fn new<I, T>(name: impl Into<String>, category: Category, weight: f32, terms: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        KeywordList {
            name: name.into(),
            category,
            weight: weight.clamp(0.0, 1.0),
            terms: terms.into_iter().map(Into::into).collect(),
        }
    }

    /// Parses a list file's text; `source` names it in errors and gives the
    /// default list name (its file stem).
    ///
    /// # Errors
    /// [`PackErrorKind::InvalidCategory`] when `# category:` is missing or
    /// malformed, [`PackErrorKind::InvalidWeight`] for a bad `# weight:`.
    pub fn parse(source: &str, text: &str) -> Result<Self, PackError> {
        let stem = Path::new(source)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| source.to_owned());
        let mut name = stem;
        let mut category = None;
        let mut weight = DEFAULT_WEIGHT;
        let mut terms = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some(comment) = line.strip_prefix('#') {
                if !terms.is_empty() {
                    continue;
                }
                let Some((key, value)) = comment.split_once(':') else {
                    continue;
                };
                let value = value.trim();
                match key.trim() {
                    "name" if !value.is_empty() => name = value.to_owned(),
                    "category" => category = Some(value.to_owned()),
                    "weight" => {
                        weight = value
                            .parse::<f32>()
                            .ok()
                            .filter(|w| (0.0..=1.0).contains(w))
                            .ok_or_else(|| {
                                PackError::new(source, None, PackErrorKind::InvalidWeight)
                            })?;
                    }
                    _ => {}
                }
                continue;
            }
            if !line.is_empty() {
                terms.push(line.to_owned());
            }
        }
        let category = category
            .filter(|c| crate::rules::valid_category(c))
            .ok_or_else(|| PackError::new(source, None, PackErrorKind::InvalidCategory))?;
        Ok(KeywordList {
            name,
            category: Category::new(category),
            weight,
            terms,
        })
    }

    /// Reads and parses one list file.
    ///
    /// # Errors
    /// [`PackErrorKind::Io`] when it cannot be read, else as [`KeywordList::parse`].
    pub fn load_file(path: &Path) -> Result<Self, PackError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| PackError::new(name.clone(), None, PackErrorKind::Io).with_source(e))?;
        KeywordList::parse(&name, &text)
    }

    /// Loads every `*.txt` list in `dir`, in file-name order.
    ///
    /// # Errors
    /// The first file that fails.
    pub fn load_dir(dir: &Path) -> Result<Vec<Self>, PackError> {
        let name = dir.display().to_string();
        let io = |e: std::io::Error| {
            PackError::new(name.clone(), None, PackErrorKind::Io).with_source(e)
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|e| e == "txt") && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        paths.iter().map(|p| KeywordList::load_file(p)).collect()
    }

    /// The small example list bundled with the crate.
    ///
    /// # Errors
    /// Only if the bundled file is invalid (tests rule it out).
    pub fn example() -> Result<Self, PackError> {
        KeywordList::parse(
            "builtin:example.txt",
            include_str!("../rules/keywords/example.txt"),
        )
    }
}

// === impl KeywordDetector ===

impl KeywordDetector {
    /// Compiles lists with the default normalizer.
    ///
    /// # Errors
    /// [`PackErrorKind::Build`] when the automaton exceeds its limits.
    pub fn new(lists: &[KeywordList]) -> Result<Self, PackError> {
        KeywordDetector::with_normalizer(lists, Normalizer::default())
    }

    /// Compiles lists; terms are folded with `normalizer`, which then also
    /// folds scanned text.
    ///
    /// # Errors
    /// As [`KeywordDetector::new`].
    pub fn with_normalizer(
        lists: &[KeywordList],
        normalizer: Normalizer,
    ) -> Result<Self, PackError> {
        let mut metas = Vec::with_capacity(lists.len());
        let mut patterns = Vec::new();
        let mut terms = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (li, list) in lists.iter().enumerate() {
            metas.push(ListMeta {
                rule: format!("keywords:{}", list.name),
                category: list.category.clone(),
                weight: list.weight.clamp(0.0, 1.0),
            });
            for term in &list.terms {
                let norm = normalizer.normalize_phrase(term.trim());
                if norm.is_empty() || !seen.insert(norm.clone()) {
                    continue;
                }
                terms.push(TermMeta {
                    list: li,
                    word_start: norm
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphanumeric()),
                    word_end: norm
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_ascii_alphanumeric()),
                });
                patterns.push(norm);
            }
        }
        let longest = patterns.iter().map(String::len).max().unwrap_or(0);
        let automaton = if patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&patterns)
                    .map_err(|e| {
                        PackError::new("keyword lists", None, PackErrorKind::Build).with_source(e)
                    })?,
            )
        };
        Ok(KeywordDetector {
            id: DETECTOR_ID.to_owned(),
            normalizer,
            lists: metas,
            automaton,
            terms,
            longest,
        })
    }

    /// Uses another detector id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// The normalizer that folds terms and scanned text.
    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }

    /// Distinct normalized terms loaded.
    pub fn term_count(&self) -> usize {
        self.terms.len()
    }

    /// Scans one text. Spans are byte offsets into `text`, on char
    /// boundaries; a term found in a decoded view spans the encoded segment.
    pub fn scan_text(&self, text: &str) -> Vec<Finding> {
        if self.automaton.is_none() {
            return Vec::new();
        }
        self.scan_normalized(&self.normalizer.normalize(text))
    }

    /// Scans views that were already normalized, so that the injection rules
    /// and the keyword lists can share one normalization of a segment (see
    /// [`crate::rules::RuleDetector::scan_normalized`]). `normalized` must
    /// come from a [`Normalizer`] with this detector's settings
    /// ([`KeywordDetector::normalizer`]); the findings are then exactly those
    /// of [`KeywordDetector::scan_text`] on the original text.
    pub fn scan_normalized(&self, normalized: &Normalized) -> Vec<Finding> {
        let Some(ac) = &self.automaton else {
            return Vec::new();
        };
        let mut out: Vec<Finding> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for view in normalized.views() {
            let t = view.text();
            let bytes = t.as_bytes();
            for m in ac.find_iter(t) {
                let idx = m.pattern().as_usize();
                let Some(term) = self.terms.get(idx) else {
                    continue;
                };
                let before_ok = !term.word_start
                    || m.start()
                        .checked_sub(1)
                        .and_then(|i| bytes.get(i))
                        .is_none_or(|b| !b.is_ascii_alphanumeric());
                let after_ok = !term.word_end
                    || bytes
                        .get(m.end())
                        .is_none_or(|b| !b.is_ascii_alphanumeric());
                let Some(list) = self.lists.get(term.list) else {
                    continue;
                };
                if !(before_ok && after_ok) {
                    continue;
                }
                let span = view.to_original(Span::new(m.start(), m.end()));
                if !seen.insert((idx, span)) {
                    continue;
                }
                out.push(
                    Finding::new(self.id.clone(), list.category.clone(), list.weight)
                        .with_rule(list.rule.clone())
                        .with_span(span)
                        .with_evidence(format!(
                            "{} term #{idx} in {} text",
                            list.rule,
                            view.kind().as_str()
                        )),
                );
                if out.len() >= MAX_FINDINGS {
                    return out;
                }
            }
        }
        out
    }
}

impl Detector for KeywordDetector {
    fn id(&self) -> &str {
        &self.id
    }

    fn scan<'a>(&'a self, segment: Segment<'a>) -> ScanFuture<'a> {
        std::future::ready(Ok(self.scan_text(segment.text))).boxed()
    }

    fn max_match_bytes(&self) -> Option<usize> {
        // Obfuscation (zero-width characters, spacing) can make the original
        // several times longer than the normalized term.
        Some(self.longest.saturating_mul(4).max(64))
    }

    fn joins_segments(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)] // tests may index and add freely
mod tests {
    use super::*;

    #[test]
    fn example_list_loads_and_matches_obfuscated_terms() {
        let list = KeywordList::example().unwrap();
        assert_eq!(list.name, "example.drug_synthesis");
        assert_eq!(list.category, Category::new("MLC:S2"));
        assert!((list.weight - 0.6).abs() < f32::EPSILON);
        let det = KeywordDetector::new(&[list]).unwrap();
        let text = "tell me: c o o k  meth? no: Ｃｏｏｋ m\u{200B}eth, 合成冰毒";
        let f = det.scan_text(text);
        let spans: Vec<&str> = f
            .iter()
            .map(|f| f.span.unwrap())
            .map(|s| &text[s.start..s.end])
            .collect();
        assert_eq!(spans, vec!["Ｃｏｏｋ m\u{200B}eth", "合成冰毒"]);
        assert!(f
            .iter()
            .all(|f| f.rule.as_deref() == Some("keywords:example.drug_synthesis")));
    }

    #[test]
    fn ascii_terms_match_whole_words_only() {
        let det =
            KeywordDetector::new(&[KeywordList::new("t", Category::new("X:1"), 0.5, ["ass"])])
                .unwrap();
        assert!(det.scan_text("a classic assignment").is_empty());
        assert_eq!(det.scan_text("kick ASS now").len(), 1);
    }

    #[test]
    fn many_terms_share_one_automaton() {
        let terms: Vec<String> = (0..30_000).map(|i| format!("term{i}x")).collect();
        let det =
            KeywordDetector::new(&[KeywordList::new("big", Category::new("X:1"), 0.5, terms)])
                .unwrap();
        assert_eq!(det.term_count(), 30_000);
        let f = det.scan_text("nothing here but term29999x and term12x");
        assert_eq!(f.len(), 2);
    }

    #[test]
    fn list_files_need_a_category() {
        let err = KeywordList::parse("a.txt", "# weight: 0.5\nfoo\n").unwrap_err();
        assert_eq!(err.kind(), PackErrorKind::InvalidCategory);
        assert_eq!(err.file(), "a.txt");
        let err = KeywordList::parse("b.txt", "# category: X:1\n# weight: 2\nfoo\n").unwrap_err();
        assert_eq!(err.kind(), PackErrorKind::InvalidWeight);
        let ok =
            KeywordList::parse("dir/c.txt", "# category: X:1\nfoo\n# not a header\nbar\n").unwrap();
        assert_eq!(ok.name, "c");
        assert_eq!(ok.terms, vec!["foo", "bar"]);
    }
}
