//! Evaluation of a [`Pipeline`] on labelled data.
//!
//! Reads the classification JSON Lines format of the shared data sets
//! (`{"text", "label", "lang", ...}`), scans every row as one conversation
//! segment and reports, per label, how many rows were flagged, with
//! precision and recall for attack labels and the false-positive rate for
//! benign ones, plus throughput. `menshen eval --data FILE.jsonl` is this
//! function and the report's `Display`.
//!
//! "Flagged" means: some finding (optionally only in the given categories)
//! scores at least the threshold ([`Scoring::AnyFinding`], the policy-free
//! rules-only view), or the risk score reaches it ([`Scoring::Risk`]).
//!
//! Build the pipeline with `cache_capacity(0)` when measuring throughput:
//! data sets repeat texts and the verdict cache would flatter the figure.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use menshen_classifiers::eval::{evaluate, load_jsonl, EvalConfig};
//! use menshen_classifiers::{rules::RuleDetector, Pipeline};
//!
//! let rows = load_jsonl("data.jsonl".as_ref())?;
//! let pipeline = Pipeline::builder()
//!     .detector(Arc::new(RuleDetector::builtin()?))
//!     .cache_capacity(0)
//!     .build();
//! let report = evaluate(&pipeline, &rows, &EvalConfig::default()).await;
//! println!("{report}");
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::{Category, Finding, Location, Pipeline, RiskScorer, Role, Segment, SegmentKind, Trust};

/// One labelled row. Unknown fields are ignored; rows without a label (span
/// data) are kept with `label = None` and skipped by [`evaluate`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LabeledRow {
    /// The prompt text.
    pub text: String,
    /// Its label (`benign`, `injection`, `jailbreak`, ...).
    #[serde(default)]
    pub label: Option<String>,
    /// Language code, when given.
    #[serde(default)]
    pub lang: Option<String>,
}

/// How rows are presented to the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowAs {
    /// A trusted user message.
    #[default]
    UserText,
    /// An untrusted retrieved document (for indirect-injection sets).
    Document,
}

/// What makes a row "flagged".
#[derive(Debug, Clone, Default)]
pub enum Scoring {
    /// Any single finding with score at least the threshold.
    #[default]
    AnyFinding,
    /// The risk score (0..=100) over all the row's findings, divided by 100,
    /// at least the threshold.
    Risk(RiskScorer),
}

/// What a label counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LabelRole {
    /// Should be flagged: recall and precision are reported.
    Positive,
    /// Should not be flagged: the false-positive rate is reported.
    Negative,
    /// Neither (safety probes, red-team openers): only the flag rate.
    Neutral,
}

/// Evaluation settings.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// Score threshold in `0.0..=1.0`.
    pub threshold: f32,
    /// Only findings in these categories count; empty means all.
    pub categories: Vec<Category>,
    /// Labels that should not be flagged.
    pub negative_labels: Vec<String>,
    /// Labels reported without precision/recall.
    pub neutral_labels: Vec<String>,
    /// How rows are presented.
    pub row_as: RowAs,
    /// What makes a row flagged.
    pub scoring: Scoring,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            threshold: 0.5,
            categories: Vec::new(),
            negative_labels: vec!["benign".to_owned()],
            neutral_labels: vec!["safety_probe".to_owned(), "redteam_attempt".to_owned()],
            row_as: RowAs::UserText,
            scoring: Scoring::AnyFinding,
        }
    }
}

/// Figures for one label.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelStats {
    /// The label.
    pub label: String,
    /// What it counts as.
    pub role: LabelRole,
    /// Rows with this label.
    pub rows: usize,
    /// Of those, flagged.
    pub flagged: usize,
    /// Positive labels: flagged rows of this label over those plus flagged
    /// negative rows of the same set. `None` when nothing was flagged.
    pub precision: Option<f64>,
    /// Positive labels: flagged / rows.
    pub recall: Option<f64>,
    /// Negative labels: flagged / rows.
    pub false_positive_rate: Option<f64>,
}

/// The result of an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// Labelled rows scanned.
    pub rows: usize,
    /// Per label, positives first.
    pub labels: Vec<LabelStats>,
    /// Text bytes scanned.
    pub bytes: usize,
    /// Wall time spent scanning.
    pub elapsed: Duration,
    /// Rows where a guard failed (counted as flagged only if it fails closed).
    pub guard_failures: usize,
    /// Rules that flagged negative rows, most frequent first: where false
    /// positives come from.
    pub false_positive_rules: Vec<(String, usize)>,
    /// Rules that flagged positive rows, most frequent first.
    pub true_positive_rules: Vec<(String, usize)>,
}

/// Reading a data file failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The file could not be read.
    #[error("reading {file}")]
    Io {
        /// The file.
        file: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a valid row.
    #[error("{file}:{line}: invalid row")]
    Row {
        /// The file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
}

/// Reads a JSON Lines file of rows.
///
/// # Errors
/// [`EvalError::Io`] when the file cannot be read, [`EvalError::Row`] naming
/// the line that does not parse.
pub fn load_jsonl(path: &Path) -> Result<Vec<LabeledRow>, EvalError> {
    let file = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|source| EvalError::Io {
        file: file.clone(),
        source,
    })?;
    parse_jsonl(std::io::BufReader::new(f), &file)
}

/// Parses JSON Lines rows from a reader; `file` names it in errors. Blank
/// lines are skipped.
///
/// # Errors
/// As [`load_jsonl`].
pub fn parse_jsonl(reader: impl BufRead, file: &str) -> Result<Vec<LabeledRow>, EvalError> {
    let mut rows = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|source| EvalError::Io {
            file: file.to_owned(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let row = serde_json::from_str(&line).map_err(|source| EvalError::Row {
            file: file.to_owned(),
            line: i.saturating_add(1),
            source,
        })?;
        rows.push(row);
    }
    Ok(rows)
}

/// Scans every labelled row with `pipeline` and computes the figures.
pub async fn evaluate(pipeline: &Pipeline, rows: &[LabeledRow], config: &EvalConfig) -> EvalReport {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut fp_rules: HashMap<String, usize> = HashMap::new();
    let mut tp_rules: HashMap<String, usize> = HashMap::new();
    let mut bytes = 0usize;
    let mut elapsed = Duration::ZERO;
    let mut guard_failures = 0usize;
    let mut scanned = 0usize;
    for row in rows {
        let Some(label) = row.label.as_deref() else {
            continue;
        };
        let segment = match config.row_as {
            RowAs::UserText => Segment::user_text(&row.text),
            RowAs::Document => Segment {
                location: Location::Part {
                    message: 0,
                    part: 0,
                },
                role: Role::User,
                trust: Trust::Untrusted,
                kind: SegmentKind::Document,
                text: &row.text,
                fence: None,
                image_labels: None,
            },
        };
        let start = Instant::now();
        let report = pipeline.scan_segments(&[segment]).await;
        elapsed = elapsed.saturating_add(start.elapsed());
        bytes = bytes.saturating_add(row.text.len());
        scanned = scanned.saturating_add(1);
        if !report.failures.is_empty() {
            guard_failures = guard_failures.saturating_add(1);
        }
        let counted: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| config.categories.is_empty() || config.categories.contains(&f.category))
            .collect();
        let flagged = report.must_block_on_failure()
            || match &config.scoring {
                Scoring::AnyFinding => counted.iter().any(|f| f.score >= config.threshold),
                Scoring::Risk(scorer) => {
                    let owned: Vec<Finding> = counted.iter().map(|f| (*f).clone()).collect();
                    f32::from(scorer.score(&owned).score) / 100.0 >= config.threshold
                }
            };
        let entry = counts.entry(label.to_owned()).or_insert((0, 0));
        entry.0 = entry.0.saturating_add(1);
        if flagged {
            entry.1 = entry.1.saturating_add(1);
            let tally = match role_of(config, label) {
                LabelRole::Negative => &mut fp_rules,
                LabelRole::Positive => &mut tp_rules,
                LabelRole::Neutral => continue,
            };
            let mut seen: Vec<&str> = Vec::new();
            for f in counted.iter().filter(|f| f.score >= config.threshold) {
                let r = f.rule.as_deref().unwrap_or(f.detector.as_str());
                if !seen.contains(&r) {
                    seen.push(r);
                    let c = tally.entry(r.to_owned()).or_insert(0);
                    *c = c.saturating_add(1);
                }
            }
        }
    }
    let negative_flagged: usize = counts
        .iter()
        .filter(|(l, _)| role_of(config, l) == LabelRole::Negative)
        .map(|(_, (_, f))| *f)
        .sum();
    let mut labels: Vec<LabelStats> = counts
        .into_iter()
        .map(|(label, (n, flagged))| {
            let role = role_of(config, &label);
            let rate = ratio(flagged, n);
            LabelStats {
                precision: (role == LabelRole::Positive)
                    .then(|| ratio(flagged, flagged.saturating_add(negative_flagged)))
                    .flatten(),
                recall: (role == LabelRole::Positive).then_some(rate).flatten(),
                false_positive_rate: (role == LabelRole::Negative).then_some(rate).flatten(),
                label,
                role,
                rows: n,
                flagged,
            }
        })
        .collect();
    labels.sort_by(|a, b| a.role.cmp(&b.role).then_with(|| a.label.cmp(&b.label)));
    EvalReport {
        rows: scanned,
        labels,
        bytes,
        elapsed,
        guard_failures,
        false_positive_rules: sorted(fp_rules),
        true_positive_rules: sorted(tp_rules),
    }
}

fn role_of(config: &EvalConfig, label: &str) -> LabelRole {
    if config.negative_labels.iter().any(|l| l == label) {
        LabelRole::Negative
    } else if config.neutral_labels.iter().any(|l| l == label) {
        LabelRole::Neutral
    } else {
        LabelRole::Positive
    }
}

#[allow(clippy::cast_precision_loss)] // counts far below 2^52
fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn sorted(m: HashMap<String, usize>) -> Vec<(String, usize)> {
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

// === impl EvalReport ===

impl EvalReport {
    /// Scanned megabytes (10^6 bytes) per second of scanning wall time.
    #[allow(clippy::cast_precision_loss)] // byte counts far below 2^52
    pub fn throughput_mb_s(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.bytes as f64 / 1e6 / secs
        } else {
            0.0
        }
    }

    /// The stats of one label.
    pub fn label(&self, label: &str) -> Option<&LabelStats> {
        self.labels.iter().find(|l| l.label == label)
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct =
            |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", v * 100.0));
        writeln!(
            f,
            "{:<20} {:>6} {:>8} {:>10} {:>8} {:>8}",
            "label", "rows", "flagged", "precision", "recall", "FPR"
        )?;
        for l in &self.labels {
            let name = match l.role {
                LabelRole::Neutral => format!("{} (neutral)", l.label),
                _ => l.label.clone(),
            };
            writeln!(
                f,
                "{:<20} {:>6} {:>8} {:>10} {:>8} {:>8}",
                name,
                l.rows,
                l.flagged,
                pct(l.precision),
                pct(l.recall),
                pct(l.false_positive_rate)
            )?;
        }
        write!(
            f,
            "{} rows, {} bytes in {:.3} s: {:.1} MB/s",
            self.rows,
            self.bytes,
            self.elapsed.as_secs_f64(),
            self.throughput_mb_s()
        )?;
        if self.guard_failures > 0 {
            write!(f, ", {} rows with guard failures", self.guard_failures)?;
        }
        if !self.false_positive_rules.is_empty() {
            write!(f, "\nfalse positives by rule:")?;
            for (r, n) in self.false_positive_rules.iter().take(8) {
                write!(f, " {r}={n}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)] // tests may index and add freely
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::PhraseListDetector;

    fn rows(spec: &[(&str, &str)]) -> Vec<LabeledRow> {
        spec.iter()
            .map(|(t, l)| LabeledRow {
                text: (*t).to_owned(),
                label: Some((*l).to_owned()),
                lang: None,
            })
            .collect()
    }

    #[tokio::test]
    async fn computes_precision_recall_and_fpr_per_label() {
        let det = PhraseListDetector::new("p", Category::PROMPT_INJECTION, 0.9, ["evil"]).unwrap();
        let pipeline = Pipeline::builder()
            .detector(Arc::new(det))
            .cache_capacity(0)
            .build();
        let data = rows(&[
            ("evil one", "injection"),
            ("evil two", "injection"),
            ("nice", "injection"),
            ("nice", "benign"),
            ("evil but benign", "benign"),
            ("fine", "benign"),
            ("fine", "benign"),
            ("evil probe", "safety_probe"),
        ]);
        let r = evaluate(&pipeline, &data, &EvalConfig::default()).await;
        let inj = r.label("injection").unwrap();
        assert_eq!((inj.rows, inj.flagged), (3, 2));
        assert_eq!(inj.recall, Some(2.0 / 3.0));
        assert_eq!(inj.precision, Some(2.0 / 3.0));
        let ben = r.label("benign").unwrap();
        assert_eq!(ben.false_positive_rate, Some(0.25));
        assert_eq!(ben.recall, None);
        let probe = r.label("safety_probe").unwrap();
        assert_eq!((probe.role, probe.flagged), (LabelRole::Neutral, 1));
        assert_eq!(r.rows, 8);
        assert_eq!(r.false_positive_rules, vec![("phrase:0".to_owned(), 1)]);
        let table = r.to_string();
        assert!(table.contains("injection"), "{table}");

        let strict = EvalConfig {
            threshold: 0.95,
            ..EvalConfig::default()
        };
        let r = evaluate(&pipeline, &data, &strict).await;
        assert_eq!(r.label("injection").unwrap().flagged, 0);
        let other = EvalConfig {
            categories: vec![Category::SENSITIVE_INFO],
            ..EvalConfig::default()
        };
        assert_eq!(
            evaluate(&pipeline, &data, &other)
                .await
                .label("benign")
                .unwrap()
                .flagged,
            0
        );
    }

    #[test]
    fn parse_errors_name_the_line() {
        let data = "{\"text\":\"a\",\"label\":\"benign\",\"extra\":1}\n\n{\"text\":\n";
        let err = parse_jsonl(data.as_bytes(), "f.jsonl").unwrap_err();
        assert!(matches!(err, EvalError::Row { line: 3, .. }), "{err:?}");
        let ok = parse_jsonl(&data.as_bytes()[..40], "f.jsonl").unwrap();
        assert_eq!(ok[0].label.as_deref(), Some("benign"));
    }
}
