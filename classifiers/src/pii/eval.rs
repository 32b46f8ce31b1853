//! Span-level evaluation of PII detection on labelled data.
//!
//! The shared data sets use JSON Lines with `{"text", "spans": [{"start",
//! "end", "type"}]}`, offsets in Unicode code points, `end` exclusive. Each set
//! has its own type vocabulary; a mapping function turns it into ours, and
//! types it cannot map are counted separately (they are real PII we do not
//! claim to detect, such as person names, and are reported, not hidden).
//!
//! Metrics per entity type: precision, recall and F1 under exact match (same
//! type, same start and end) and overlap match (same type, spans intersect).
//! Benign sets give a false-positive rate: the share of rows with any
//! finding.
//!
//! ```
//! use menshen_classifiers::pii::eval::{span_metrics, SpanRow, GoldSpan};
//!
//! let rows = vec![SpanRow {
//!     text: "mail me: a@b.io".into(),
//!     gold: vec![GoldSpan { start: 9, end: 15, entity: "EMAIL".into() }],
//!     unmapped: 0,
//! }];
//! let report = span_metrics(&rows, |_t| vec![(9, 15, "EMAIL".to_owned())]);
//! assert_eq!(report.entity("EMAIL").unwrap().f1_exact(), 1.0);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::io::BufRead;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::PiiDetector;
use crate::char_offsets;

/// A labelled span in code points, with an entity name in our vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoldSpan {
    /// First code point.
    pub start: usize,
    /// One past the last code point.
    pub end: usize,
    /// Our entity name (`EMAIL`, `PHONE`, ...).
    pub entity: String,
}

/// One labelled row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanRow {
    /// The text.
    pub text: String,
    /// Gold spans whose type maps onto ours.
    pub gold: Vec<GoldSpan>,
    /// Gold spans whose type has no counterpart in our vocabulary.
    pub unmapped: usize,
}

/// Reading a data file failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The file could not be read.
    #[error("reading line {line}: {source}")]
    Io {
        /// 1-based line number.
        line: usize,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a valid row.
    #[error("parsing line {line}: {source}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Deserialize)]
struct RawRow {
    text: String,
    #[serde(default)]
    spans: Vec<RawSpan>,
}

#[derive(Deserialize)]
struct RawSpan {
    start: usize,
    end: usize,
    #[serde(rename = "type")]
    kind: String,
}

/// Maps Presidio's generated-data vocabulary onto ours. `DATE_TIME` maps to
/// `DATE_OF_BIRTH` only loosely (it also labels meeting days and
/// timestamps), so it is kept under its own name for honest reporting.
pub fn presidio_type(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "CREDIT_CARD" => "CREDIT_CARD",
        "EMAIL_ADDRESS" => "EMAIL",
        "IBAN_CODE" => "IBAN",
        "IP_ADDRESS" => "IP_ADDRESS",
        "PHONE_NUMBER" => "PHONE",
        "US_SSN" => "US_SSN",
        "DATE_TIME" => "DATE_TIME",
        _ => return None,
    })
}

/// Weibo NER labels person, place and organisation names only; none of them
/// is a structured identifier we detect, so nothing maps.
pub fn weibo_type(_kind: &str) -> Option<&'static str> {
    None
}

/// How our entity names are compared against a data set's: mainland and
/// international phones are both `PHONE`; birth dates are scored against
/// `DATE_TIME`.
pub fn canonical(entity: &str) -> &str {
    match entity {
        "CN_PHONE" => "PHONE",
        "DATE_OF_BIRTH" => "DATE_TIME",
        other => other,
    }
}

/// Reads span rows from JSON Lines, mapping types with `map`.
///
/// # Errors
/// On an unreadable or malformed line.
pub fn load_span_rows<R: BufRead>(
    reader: R,
    map: impl Fn(&str) -> Option<&'static str>,
) -> Result<Vec<SpanRow>, EvalError> {
    let mut rows = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line_no = i.saturating_add(1);
        let line = line.map_err(|source| EvalError::Io {
            line: line_no,
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let raw: RawRow = serde_json::from_str(&line).map_err(|source| EvalError::Parse {
            line: line_no,
            source,
        })?;
        let mut gold = Vec::new();
        let mut unmapped = 0usize;
        for s in raw.spans {
            match map(&s.kind) {
                Some(e) => gold.push(GoldSpan {
                    start: s.start,
                    end: s.end,
                    entity: e.to_owned(),
                }),
                None => unmapped = unmapped.saturating_add(1),
            }
        }
        rows.push(SpanRow {
            text: raw.text,
            gold,
            unmapped,
        });
    }
    Ok(rows)
}

/// Reads the `text` field of every row (benign classification sets).
///
/// # Errors
/// On an unreadable or malformed line.
pub fn load_texts<R: BufRead>(reader: R) -> Result<Vec<String>, EvalError> {
    Ok(load_span_rows(reader, |_| None)?
        .into_iter()
        .map(|r| r.text)
        .collect())
}

/// Counts for one entity type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntityMetrics {
    /// Gold spans.
    pub gold: usize,
    /// Predicted spans.
    pub predicted: usize,
    /// Predictions with an identical gold span.
    pub exact_tp: usize,
    /// Predictions that overlap a gold span of the same type.
    pub overlap_pred_tp: usize,
    /// Gold spans overlapped by a prediction of the same type.
    pub overlap_gold_tp: usize,
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

impl EntityMetrics {
    /// Exact-match precision.
    pub fn precision_exact(&self) -> f64 {
        ratio(self.exact_tp, self.predicted)
    }
    /// Exact-match recall.
    pub fn recall_exact(&self) -> f64 {
        ratio(self.exact_tp, self.gold)
    }
    /// Exact-match F1.
    pub fn f1_exact(&self) -> f64 {
        f1(self.precision_exact(), self.recall_exact())
    }
    /// Overlap-match precision.
    pub fn precision_overlap(&self) -> f64 {
        ratio(self.overlap_pred_tp, self.predicted)
    }
    /// Overlap-match recall.
    pub fn recall_overlap(&self) -> f64 {
        ratio(self.overlap_gold_tp, self.gold)
    }
    /// Overlap-match F1.
    pub fn f1_overlap(&self) -> f64 {
        f1(self.precision_overlap(), self.recall_overlap())
    }
}

/// The result of [`span_metrics`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanReport {
    /// Per entity type (canonical names).
    pub per_entity: BTreeMap<String, EntityMetrics>,
    /// Rows scored.
    pub rows: usize,
    /// Gold spans whose type did not map.
    pub unmapped_gold: usize,
    /// Bytes of text scanned.
    pub bytes: usize,
    /// Time spent in the predictor.
    pub elapsed: Duration,
}

impl SpanReport {
    /// Metrics of one entity type.
    pub fn entity(&self, name: &str) -> Option<&EntityMetrics> {
        self.per_entity.get(name)
    }

    /// Micro-averaged metrics over the given entity types.
    pub fn micro(&self, names: &[&str]) -> EntityMetrics {
        let mut m = EntityMetrics::default();
        for e in names.iter().filter_map(|n| self.per_entity.get(*n)) {
            m.gold = m.gold.saturating_add(e.gold);
            m.predicted = m.predicted.saturating_add(e.predicted);
            m.exact_tp = m.exact_tp.saturating_add(e.exact_tp);
            m.overlap_pred_tp = m.overlap_pred_tp.saturating_add(e.overlap_pred_tp);
            m.overlap_gold_tp = m.overlap_gold_tp.saturating_add(e.overlap_gold_tp);
        }
        m
    }

    /// Predictor throughput in MB/s.
    pub fn throughput_mb_s(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs == 0.0 {
            0.0
        } else {
            self.bytes as f64 / secs / 1e6
        }
    }
}

impl fmt::Display for SpanReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<16} {:>5} {:>5} | {:>6} {:>6} {:>6} | {:>6} {:>6} {:>6}",
            "entity", "gold", "pred", "P(ex)", "R(ex)", "F1(ex)", "P(ov)", "R(ov)", "F1(ov)"
        )?;
        for (name, m) in &self.per_entity {
            writeln!(
                f,
                "{:<16} {:>5} {:>5} | {:>6.3} {:>6.3} {:>6.3} | {:>6.3} {:>6.3} {:>6.3}",
                name,
                m.gold,
                m.predicted,
                m.precision_exact(),
                m.recall_exact(),
                m.f1_exact(),
                m.precision_overlap(),
                m.recall_overlap(),
                m.f1_overlap()
            )?;
        }
        write!(
            f,
            "rows {}, unmapped gold spans {}, {:.1} MB/s",
            self.rows,
            self.unmapped_gold,
            self.throughput_mb_s()
        )
    }
}

/// Scores `predict` (text → `(char_start, char_end, entity)` triples) against
/// the gold spans of `rows`.
pub fn span_metrics<F>(rows: &[SpanRow], mut predict: F) -> SpanReport
where
    F: FnMut(&str) -> Vec<(usize, usize, String)>,
{
    let mut report = SpanReport::default();
    for row in rows {
        let t0 = Instant::now();
        let preds = predict(&row.text);
        report.elapsed = report.elapsed.saturating_add(t0.elapsed());
        report.rows = report.rows.saturating_add(1);
        report.bytes = report.bytes.saturating_add(row.text.len());
        report.unmapped_gold = report.unmapped_gold.saturating_add(row.unmapped);
        let overlaps = |a: (usize, usize), b: (usize, usize)| a.0 < b.1 && b.0 < a.1;
        for g in &row.gold {
            let m = report.per_entity.entry(g.entity.clone()).or_default();
            m.gold = m.gold.saturating_add(1);
            if preds
                .iter()
                .any(|p| canonical(&p.2) == g.entity && overlaps((p.0, p.1), (g.start, g.end)))
            {
                m.overlap_gold_tp = m.overlap_gold_tp.saturating_add(1);
            }
        }
        for p in &preds {
            let name = canonical(&p.2);
            let m = report.per_entity.entry(name.to_owned()).or_default();
            m.predicted = m.predicted.saturating_add(1);
            let same = row.gold.iter().filter(|g| g.entity == name);
            let mut exact = false;
            let mut over = false;
            for g in same {
                exact |= g.start == p.0 && g.end == p.1;
                over |= overlaps((p.0, p.1), (g.start, g.end));
            }
            if exact {
                m.exact_tp = m.exact_tp.saturating_add(1);
            }
            if over {
                m.overlap_pred_tp = m.overlap_pred_tp.saturating_add(1);
            }
        }
    }
    report
}

/// False positives on a benign set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FpReport {
    /// Rows scanned.
    pub rows: usize,
    /// Rows with at least one finding.
    pub flagged: usize,
    /// Findings per entity type.
    pub per_entity: BTreeMap<String, usize>,
    /// Bytes scanned.
    pub bytes: usize,
    /// Time spent in the predictor.
    pub elapsed: Duration,
}

impl FpReport {
    /// Share of rows with any finding.
    pub fn rate(&self) -> f64 {
        ratio(self.flagged, self.rows)
    }
}

impl fmt::Display for FpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rows {:>5}  flagged {:>4}  FPR {:.4}  ",
            self.rows,
            self.flagged,
            self.rate()
        )?;
        let per: Vec<String> = self
            .per_entity
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        write!(f, "[{}]", per.join(", "))
    }
}

/// Counts rows of benign `texts` on which `predict` finds anything.
pub fn false_positive_rate<F>(texts: &[String], mut predict: F) -> FpReport
where
    F: FnMut(&str) -> Vec<(usize, usize, String)>,
{
    let mut r = FpReport::default();
    for t in texts {
        let t0 = Instant::now();
        let preds = predict(t);
        r.elapsed = r.elapsed.saturating_add(t0.elapsed());
        r.rows = r.rows.saturating_add(1);
        r.bytes = r.bytes.saturating_add(t.len());
        if !preds.is_empty() {
            r.flagged = r.flagged.saturating_add(1);
        }
        for p in preds {
            let c = r.per_entity.entry(p.2).or_default();
            *c = c.saturating_add(1);
        }
    }
    r
}

/// A predictor for [`span_metrics`] from the PII detector: code-point spans
/// and entity names.
pub fn predictor(det: &PiiDetector) -> impl FnMut(&str) -> Vec<(usize, usize, String)> + '_ {
    move |text| {
        det.entities(text)
            .into_iter()
            .map(|(span, e)| {
                let (s, e2) = char_offsets(text, span);
                (s, e2, e.as_str().to_owned())
            })
            .collect()
    }
}

/// The structured entity types the ≥ 0.95 F1 target applies to.
pub const STRUCTURED: &[&str] = &["CREDIT_CARD", "EMAIL", "IBAN", "IP_ADDRESS", "US_SSN"];

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_overlap_are_counted_separately() {
        let rows = vec![SpanRow {
            text: "0123456789".into(),
            gold: vec![
                GoldSpan {
                    start: 0,
                    end: 4,
                    entity: "PHONE".into(),
                },
                GoldSpan {
                    start: 6,
                    end: 9,
                    entity: "EMAIL".into(),
                },
            ],
            unmapped: 1,
        }];
        let r = span_metrics(&rows, |_| {
            vec![
                (0, 3, "CN_PHONE".to_owned()),
                (6, 9, "EMAIL".to_owned()),
                (9, 10, "IBAN".to_owned()),
            ]
        });
        let p = r.entity("PHONE").unwrap();
        assert_eq!(
            (p.exact_tp, p.overlap_pred_tp, p.overlap_gold_tp),
            (0, 1, 1)
        );
        assert_eq!(r.entity("EMAIL").unwrap().f1_exact(), 1.0);
        assert_eq!(r.entity("IBAN").unwrap().precision_overlap(), 0.0);
        assert_eq!(r.unmapped_gold, 1);
        let micro = r.micro(&["PHONE", "EMAIL"]);
        assert_eq!((micro.gold, micro.predicted, micro.exact_tp), (2, 2, 1));
    }

    #[test]
    fn loads_rows_and_maps_types() {
        let data = r#"{"text":"x","spans":[{"start":0,"end":1,"type":"EMAIL_ADDRESS"},{"start":0,"end":1,"type":"PERSON"}]}

{"text":"y","spans":[]}"#;
        let rows = load_span_rows(data.as_bytes(), presidio_type).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].gold[0].entity, "EMAIL");
        assert_eq!(rows[0].unmapped, 1);
        assert!(load_span_rows("{oops".as_bytes(), presidio_type).is_err());
    }
}
