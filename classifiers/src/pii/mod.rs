//! PII recognizers: validated, context-aware, English and Chinese.
//!
//! What it detects: see [`PiiEntity`] (email, phones, payment cards with Luhn
//! and IIN ranges including UnionPay, IBAN with mod-97, US SSN validity
//! rules, IPv4/IPv6, MAC, URLs with credentials, dates of birth and passports
//! with context, and a Chinese pack: GB 11643 resident IDs, GB 32100 unified
//! social credit codes, mainland mobile and landline numbers, Hong Kong,
//! Macau and Taiwan IDs, licence plates, bank accounts).
//!
//! How: one multi-pattern regex pass proposes loose candidates; validators
//! (checksums, calendar dates, numbering-plan rules) assign a base score;
//! context words within a short window (one aho-corasick pass, English and
//! Chinese) raise or lower it, as Presidio's context enhancement does. A
//! checksum failure lowers confidence rather than hiding an obvious ID: a
//! resident ID with a bad check digit next to "身份证" is still reported.
//! Findings below [`PiiConfig::min_score`] are dropped. Cost is linear in the
//! text. Spellings that hide a value from the recognizers are read too, with
//! spans on the original: full-width forms and invisible characters (an
//! NFKC view), and URL encoding (`jane%40example.com`, `c=4111+1111…`: each
//! token with escapes, decoded), the form data takes in a tracking link or
//! in an image URL an injected answer uses to send it away.
//!
//! Where it sits: an input guard (and, through
//! [`crate::redact::StreamRedactor`], an output guard). It only annotates:
//! findings carry detector id `pii`, category `OWASP-LLM-2025:LLM02`, the
//! entity name, a byte span and a log-safe evidence string, never the value.
//! It cannot fail at scan time.
//!
//! ```
//! use menshen_classifiers::pii::{PiiConfig, PiiDetector};
//!
//! let pii = PiiDetector::new(PiiConfig::default()).unwrap();
//! let f = pii.scan_text("身份证号 11010519491231002X, card 4111 1111 1111 1111");
//! let kinds: Vec<_> = f.iter().filter_map(|f| f.entity.as_deref()).collect();
//! assert_eq!(kinds, ["CN_RESIDENT_ID", "CREDIT_CARD"]);
//! ```

mod context;
mod entity;
pub mod eval;
mod scan;
mod validate;

#[cfg(test)]
mod tests;

use futures::FutureExt;

pub use entity::PiiEntity;
pub use scan::ScannerBuildError;

use crate::normalize::{NormalizeConfig, Normalizer};
use crate::{Category, Detector, Finding, ScanFuture, Segment, Span};
use entity::EntitySet;

/// Shannon entropy, shared with the secrets detector.
pub(crate) use validate::entropy as validate_entropy;

/// Detector id used in findings.
pub const DETECTOR_ID: &str = "pii";

/// The longest span one PII finding can cover, in bytes. Streaming output
/// guards hold back this much text; a URL with credentials is the longest
/// realistic entity.
pub const MAX_MATCH_BYTES: usize = 512;

/// Settings of the PII detector.
#[derive(Debug, Clone, PartialEq)]
pub struct PiiConfig {
    /// Findings scoring below this (after context) are dropped; `0.0..=1.0`.
    pub min_score: f32,
    /// Entities to report; `None` means all.
    pub entities: Option<Vec<PiiEntity>>,
}

impl PiiConfig {
    /// The default threshold: a bare validated structure passes, a bare
    /// number that merely has a phone-like shape does not.
    pub const DEFAULT_MIN_SCORE: f32 = 0.5;

    /// Sets the threshold.
    pub fn with_min_score(mut self, min_score: f32) -> Self {
        self.min_score = min_score.clamp(0.0, 1.0);
        self
    }

    /// Restricts detection to `entities`.
    pub fn with_entities(mut self, entities: impl IntoIterator<Item = PiiEntity>) -> Self {
        self.entities = Some(entities.into_iter().collect());
        self
    }
}

impl Default for PiiConfig {
    fn default() -> Self {
        PiiConfig {
            min_score: Self::DEFAULT_MIN_SCORE,
            entities: None,
        }
    }
}

/// The PII detector (id `pii`).
#[derive(Debug)]
pub struct PiiDetector {
    scanner: scan::Scanner,
    enabled: EntitySet,
    min_score: f32,
}

impl PiiDetector {
    /// Compiles the recognizers.
    ///
    /// # Errors
    /// Only if the built-in patterns fail to compile (a bug, caught by tests).
    pub fn new(config: PiiConfig) -> Result<Self, ScannerBuildError> {
        let enabled = match &config.entities {
            Some(list) => EntitySet::of(list),
            None => EntitySet::of(&PiiEntity::ALL),
        };
        Ok(PiiDetector {
            scanner: scan::Scanner::new()?,
            enabled,
            min_score: config.min_score.clamp(0.0, 1.0),
        })
    }

    /// Scans `text` synchronously. Spans are byte offsets on char boundaries,
    /// in order and non-overlapping.
    pub fn scan_text(&self, text: &str) -> Vec<Finding> {
        let finding = |d: &scan::Detection, span: Span| {
            let name = d.entity.as_str();
            Finding::new(DETECTOR_ID, Category::SENSITIVE_INFO, d.score)
                .with_entity(name)
                .with_rule(name.to_ascii_lowercase())
                .with_span(span)
                .with_evidence(format!("{name}: {}", d.evidence))
        };
        let mut out: Vec<Finding> = self
            .scanner
            .scan(text, self.enabled, self.min_score)
            .iter()
            .map(|d| finding(d, d.span))
            .collect();
        // A finding of a decoded view, mapped back to the text, counts
        // unless a finding of the text as written already covers it.
        let add = |out: &mut Vec<Finding>, d: &scan::Detection, span: Span| {
            let overlaps = out
                .iter()
                .filter_map(|f| f.span)
                .any(|s| s.start < span.end && span.start < s.end);
            if !overlaps && span.start < span.end {
                out.push(finding(d, span));
            }
        };
        let mut views = false;
        if text.contains('%') || (text.contains('+') && text.contains('=')) {
            // URL-encoded values (`jane%40example.com`, `4111%201111…`, a
            // phone as `%2B1%20415…`) hide from the recognizers on the text
            // as written: a tracking link, a form URL, or an image URL an
            // injected answer uses to send data away. Each token with an
            // escape is read decoded too; spans cover the encoded original.
            for (decoded, map) in percent_decoded_tokens(text) {
                for d in self.scanner.scan(&decoded, self.enabled, self.min_score) {
                    if let Some(span) = map.to_original(d.span) {
                        add(&mut out, &d, span);
                    }
                }
            }
            views = true;
        }
        if hides_characters(text) {
            // Full-width forms (`ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ`, `４１１１`) and
            // invisible characters inside a value (`jane\u{200b}@example.com`)
            // defeat the recognizers on the text as written, while the model
            // reads them fine; scan the NFKC, invisible-free view too and map
            // its spans back, so redaction covers the obfuscated original.
            let normalized = Normalizer::new(NormalizeConfig {
                leetspeak: false,
                collapse_spacing: false,
                fold_confusables: false,
                decode: false,
                ..NormalizeConfig::default()
            })
            .normalize(text);
            if let Some(view) = normalized.primary() {
                for d in self.scanner.scan(view.text(), self.enabled, self.min_score) {
                    add(&mut out, &d, view.to_original(d.span));
                }
                views = true;
            }
        }
        if views {
            out.sort_by_key(|f| f.span.map(|s| s.start));
        }
        out
    }

    /// `(span, entity)` pairs only, for evaluation and tests.
    pub fn entities(&self, text: &str) -> Vec<(Span, PiiEntity)> {
        self.scanner
            .scan(text, self.enabled, self.min_score)
            .into_iter()
            .map(|d| (d.span, d.entity))
            .collect()
    }
}

impl Detector for PiiDetector {
    fn id(&self) -> &str {
        DETECTOR_ID
    }

    fn scan<'a>(&'a self, segment: Segment<'a>) -> ScanFuture<'a> {
        std::future::ready(Ok(self.scan_text(segment.text))).boxed()
    }

    fn max_match_bytes(&self) -> Option<usize> {
        Some(MAX_MATCH_BYTES)
    }
}

/// Most tokens decoded per text: a hostile text of escapes costs at most
/// this many extra recognizer passes over short strings.
const MAX_DECODED_TOKENS: usize = 256;

/// Where the bytes of a decoded token came from: `starts[i]..ends[i]` in
/// the original text for decoded byte `i`.
#[cfg_attr(test, derive(Debug, PartialEq))]
struct DecodedMap {
    starts: Vec<usize>,
    ends: Vec<usize>,
}

impl DecodedMap {
    /// The original span of a span of the decoded token.
    fn to_original(&self, span: Span) -> Option<Span> {
        let start = *self.starts.get(span.start)?;
        let end = *self.ends.get(span.end.checked_sub(1)?)?;
        Some(Span::new(start, end))
    }
}

/// Every whitespace-delimited token of `text` with a `%XX` escape (or a
/// query with `+` for spaces), decoded (`%XX` to its byte; `+`, `=`, `&`
/// and `?` to spaces), with the map back to the text. Tokens that do not
/// decode to UTF-8 are skipped.
///
/// Only the tokens around an escape or a `+` are read, found with a SIMD
/// search for each byte: a `%` in prose ("grew 12.5%") makes the caller
/// look for escapes, and reading every token of the text for them cost as
/// much as the recognizers themselves. Each token is read once (the scan
/// back to its start stops where the last one read ended), so the cost
/// stays linear on a text made of escapes.
fn percent_decoded_tokens(text: &str) -> Vec<(String, DecodedMap)> {
    let bytes = text.as_bytes();
    // Valid escapes and plus signs, merged in text order without collecting
    // them (a body of `+` would otherwise cost eight bytes per byte).
    let mut escapes = memchr::memchr_iter(b'%', bytes)
        .filter(|&p| crate::images::percent_escape(bytes, p).is_some())
        .peekable();
    let mut pluses = memchr::memchr_iter(b'+', bytes).peekable();
    let marks = std::iter::from_fn(|| match (escapes.peek(), pluses.peek()) {
        (Some(&e), Some(&p)) if p < e => pluses.next(),
        (Some(_), _) => escapes.next(),
        (None, _) => pluses.next(),
    });
    let mut out = Vec::new();
    // Every token before this offset has been read.
    let mut next = 0usize;
    for p in marks {
        if out.len() >= MAX_DECODED_TOKENS {
            break;
        }
        if p < next {
            continue;
        }
        let before = bytes.get(next..p).unwrap_or(&[]);
        let pos = before
            .iter()
            .rposition(u8::is_ascii_whitespace)
            .map_or(next, |w| next.saturating_add(w).saturating_add(1));
        let token_end = bytes
            .get(p..)
            .and_then(|r| r.iter().position(u8::is_ascii_whitespace))
            .map_or(bytes.len(), |w| p.saturating_add(w));
        next = token_end.saturating_add(1);
        if let Some(decoded) = decode_token(bytes, pos, token_end) {
            out.push(decoded);
        }
    }
    out
}

/// The token `pos..end` of `bytes` decoded as [`percent_decoded_tokens`]
/// says, when it has an escape (or `=` and `+`) and decodes to UTF-8.
fn decode_token(bytes: &[u8], pos: usize, end: usize) -> Option<(String, DecodedMap)> {
    let token = bytes.get(pos..end)?;
    let escaped = (0..token.len()).any(|k| crate::images::percent_escape(token, k).is_some())
        || (token.contains(&b'=') && token.contains(&b'+'));
    if !escaped {
        return None;
    }
    let mut decoded = Vec::with_capacity(token.len());
    let mut map = DecodedMap {
        starts: Vec::with_capacity(token.len()),
        ends: Vec::with_capacity(token.len()),
    };
    let mut j = 0usize;
    while let Some(&b) = token.get(j) {
        let at = pos.saturating_add(j);
        let hex = crate::images::percent_escape(token, j);
        // A query's separators read as spaces, so that a value stands alone
        // as it would in prose (`c=4111…` is otherwise taken for arithmetic).
        let (value, used) = match hex {
            Some(v) => (v, 3usize),
            None if matches!(b, b'+' | b'=' | b'&' | b'?') => (b' ', 1),
            None => (b, 1),
        };
        decoded.push(value);
        map.starts.push(at);
        map.ends.push(at.saturating_add(used));
        j = j.saturating_add(used);
    }
    String::from_utf8(decoded).ok().map(|d| (d, map))
}

/// The token-by-token reading that [`percent_decoded_tokens`] must equal.
#[cfg(test)]
fn percent_decoded_tokens_reference(text: &str) -> Vec<(String, DecodedMap)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() && out.len() < MAX_DECODED_TOKENS {
        let len = bytes.get(pos..).map_or(0, |r| {
            r.iter().take_while(|b| !b.is_ascii_whitespace()).count()
        });
        let token_end = pos.saturating_add(len);
        if let Some(decoded) = decode_token(bytes, pos, token_end) {
            out.push(decoded);
        }
        pos = token_end.saturating_add(1);
    }
    out
}

/// Whether `text` holds characters that can hide a value from the
/// recognizers: full-width letters, digits and `＠＋－．`, and invisible format
/// characters (zero-width, bidi controls, word joiner, BOM, soft hyphen, tag
/// characters). Chinese punctuation (`，：？`) is left out on purpose: it is in
/// almost every Chinese text and hides nothing. Plain ASCII, the common case,
/// is one SIMD pass, and other text only decodes the chars whose UTF-8 lead
/// byte can start one of these (`C2`, `E2`, `EF`, `F3`), found with SIMD
/// byte searches: the rest of a Chinese text is not read a byte at a time.
fn hides_characters(text: &str) -> bool {
    if text.is_ascii() {
        return false;
    }
    let bytes = text.as_bytes();
    let hides_at = |i: usize| {
        text.get(i..)
            .and_then(|s| s.chars().next())
            .is_some_and(hides)
    };
    // Bytes from C0 up are only ever lead bytes, so each hit is a char.
    memchr::memchr3_iter(0xC2, 0xE2, 0xEF, bytes).any(hides_at)
        || memchr::memchr_iter(0xF3, bytes).any(hides_at)
}

fn hides(c: char) -> bool {
    matches!(c,
        '\u{FF10}'..='\u{FF19}' // ０-９
        | '\u{FF20}'..='\u{FF3A}' // ＠Ａ-Ｚ
        | '\u{FF41}'..='\u{FF5A}' // ａ-ｚ
        | '\u{FF0B}' | '\u{FF0D}' | '\u{FF0E}' // ＋－．
        | '\u{00AD}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{FEFF}'
        | '\u{E0000}'..='\u{E007F}')
}
