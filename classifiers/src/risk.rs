//! Risk scoring: findings → one score 0..100 plus per-category scores.
//!
//! Scores combine as a noisy-OR within a category (several independent weak
//! signals add up, but never past 100), and the overall score is the highest
//! category score: one certain jailbreak is not diluted by ten clean
//! categories. Each finding's weighted share is kept in
//! [`RiskReport::contributions`] and rendered by [`RiskReport::explain`], so a
//! reviewer can see why. Weights, a noise floor and the level thresholds come
//! from [`RiskConfig`] (the `[risk]` table of the proxy config), so policies
//! can decide on raw findings, on the score, or on the level.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::{Category, Finding};

/// One finding's share of the risk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// Detector id.
    pub detector: String,
    /// Rule id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Category.
    pub category: Category,
    /// The finding's weighted score in `0.0..=1.0`.
    pub weighted: f32,
}

/// Coarse bands of the overall score, set by [`RiskThresholds`].
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    /// Below `medium`.
    #[default]
    Low,
    /// At or above `medium`, below `high`.
    Medium,
    /// At or above `high`.
    High,
}

/// The risk of a request or response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RiskReport {
    /// Overall score, 0..=100.
    pub score: u8,
    /// Per-category scores, 0..=100.
    pub categories: BTreeMap<Category, u8>,
    /// Band of `score` under the configured thresholds.
    #[serde(default)]
    pub level: RiskLevel,
    /// What contributed, in finding order (findings under the noise floor
    /// or weighted to zero are left out).
    pub contributions: Vec<Contribution>,
}

/// Score bands, 0..=100, `medium <= high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskThresholds {
    /// Lowest score of [`RiskLevel::Medium`].
    #[serde(default = "RiskThresholds::default_medium")]
    pub medium: u8,
    /// Lowest score of [`RiskLevel::High`].
    #[serde(default = "RiskThresholds::default_high")]
    pub high: u8,
}

/// Risk scoring settings, deserialised from the proxy config's `[risk]` table.
///
/// ```toml
/// [risk]
/// min_score = 0.2                       # ignore findings below this confidence
/// detector_weights = { "phrases" = 0.5 }
/// category_weights = { "GBT45654" = 1.0, "OWASP-LLM-2025:LLM02" = 0.8 }
/// thresholds = { medium = 40, high = 70 }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    /// Findings with a confidence below this (0.0..=1.0) are ignored.
    #[serde(default)]
    pub min_score: f32,
    /// Detector id → weight in 0.0..=1.0; unlisted detectors weigh 1.0.
    #[serde(default)]
    pub detector_weights: BTreeMap<String, f32>,
    /// Category id, or taxonomy prefix such as `GBT45654`, → weight in
    /// 0.0..=1.0; the exact id wins over the prefix; unlisted weigh 1.0.
    #[serde(default)]
    pub category_weights: BTreeMap<String, f32>,
    /// Level bands.
    #[serde(default)]
    pub thresholds: RiskThresholds,
}

/// Why a [`RiskConfig`] was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RiskConfigError {
    /// A weight or the noise floor is outside 0.0..=1.0 (or NaN).
    #[error("risk.{key} = {value} is outside 0.0..=1.0")]
    OutOfRange {
        /// The config key, e.g. `detector_weights.pii`.
        key: String,
        /// The value given.
        value: f32,
    },
    /// A threshold is above 100 or `medium > high`.
    #[error("risk.thresholds: medium ({medium}) must be <= high ({high}) <= 100")]
    Thresholds {
        /// Configured medium.
        medium: u8,
        /// Configured high.
        high: u8,
    },
}

/// Turns findings into a [`RiskReport`].
#[derive(Debug, Clone, Default)]
pub struct RiskScorer {
    weights: BTreeMap<String, f32>,
    category_weights: BTreeMap<String, f32>,
    min_score: f32,
    thresholds: RiskThresholds,
}

// === impl RiskThresholds ===

impl RiskThresholds {
    const fn default_medium() -> u8 {
        40
    }

    const fn default_high() -> u8 {
        70
    }

    /// The level of `score`.
    pub fn level(&self, score: u8) -> RiskLevel {
        if score >= self.high {
            RiskLevel::High
        } else if score >= self.medium {
            RiskLevel::Medium
        } else {
            RiskLevel::Low
        }
    }
}

impl Default for RiskThresholds {
    fn default() -> Self {
        RiskThresholds {
            medium: Self::default_medium(),
            high: Self::default_high(),
        }
    }
}

// === impl RiskScorer ===

impl RiskScorer {
    /// A scorer with weight 1.0 for every detector and default thresholds.
    pub fn new() -> Self {
        RiskScorer::default()
    }

    /// A scorer from validated config.
    ///
    /// # Errors
    /// When a weight or the floor is outside 0.0..=1.0, or the thresholds are
    /// out of order; the error names the key.
    pub fn from_config(config: &RiskConfig) -> Result<Self, RiskConfigError> {
        let check = |key: String, value: f32| {
            if (0.0..=1.0).contains(&value) {
                Ok(())
            } else {
                Err(RiskConfigError::OutOfRange { key, value })
            }
        };
        check("min_score".to_owned(), config.min_score)?;
        for (k, v) in &config.detector_weights {
            check(format!("detector_weights.{k}"), *v)?;
        }
        for (k, v) in &config.category_weights {
            check(format!("category_weights.{k}"), *v)?;
        }
        let t = config.thresholds;
        if t.medium > t.high || t.high > 100 {
            return Err(RiskConfigError::Thresholds {
                medium: t.medium,
                high: t.high,
            });
        }
        Ok(RiskScorer {
            weights: config.detector_weights.clone(),
            category_weights: config.category_weights.clone(),
            min_score: config.min_score,
            thresholds: t,
        })
    }

    /// Sets the weight (clamped to `0.0..=1.0`) of a detector's findings.
    pub fn with_weight(mut self, detector: impl Into<String>, weight: f32) -> Self {
        self.weights.insert(detector.into(), clamp_unit(weight));
        self
    }

    /// Sets the weight (clamped to `0.0..=1.0`) of a category id or taxonomy.
    pub fn with_category_weight(mut self, category: impl Into<String>, weight: f32) -> Self {
        self.category_weights
            .insert(category.into(), clamp_unit(weight));
        self
    }

    fn category_weight(&self, c: &Category) -> f32 {
        self.category_weights
            .get(c.as_str())
            .or_else(|| self.category_weights.get(c.taxonomy()))
            .copied()
            .unwrap_or(1.0)
    }

    /// Scores a set of findings.
    pub fn score(&self, findings: &[Finding]) -> RiskReport {
        let mut miss: BTreeMap<Category, f32> = BTreeMap::new();
        let mut contributions = Vec::with_capacity(findings.len());
        for f in findings {
            if f.score.is_nan() || f.score < self.min_score {
                continue;
            }
            let w = self.weights.get(&f.detector).copied().unwrap_or(1.0);
            let weighted = clamp_unit(f.score * w * self.category_weight(&f.category));
            if weighted <= 0.0 {
                continue;
            }
            let m = miss.entry(f.category.clone()).or_insert(1.0);
            *m *= 1.0 - weighted;
            contributions.push(Contribution {
                detector: f.detector.clone(),
                rule: f.rule.clone(),
                category: f.category.clone(),
                weighted,
            });
        }
        let categories: BTreeMap<Category, u8> = miss
            .into_iter()
            .map(|(c, m)| (c, to_percent(1.0 - m)))
            .collect();
        let score = categories.values().copied().max().unwrap_or(0);
        RiskReport {
            score,
            categories,
            level: self.thresholds.level(score),
            contributions,
        }
    }
}

// === impl RiskReport ===

impl RiskReport {
    /// A one-line, log-safe explanation, highest category first:
    /// `score 75 (medium): OWASP-LLM-2025:LLM01 75 [rules.injection/ignore-prev 0.50, onnx 0.50]`.
    pub fn explain(&self) -> String {
        let level = match self.level {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        };
        let mut out = format!("score {} ({level})", self.score);
        let mut cats: Vec<(&Category, u8)> = self.categories.iter().map(|(c, s)| (c, *s)).collect();
        cats.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        for (i, (cat, s)) in cats.into_iter().enumerate() {
            out.push_str(if i == 0 { ": " } else { "; " });
            let _ = write!(out, "{cat} {s} [");
            let parts: Vec<String> = self
                .contributions
                .iter()
                .filter(|c| &c.category == cat)
                .map(|c| match &c.rule {
                    Some(r) => format!("{}/{r} {:.2}", c.detector, c.weighted),
                    None => format!("{} {:.2}", c.detector, c.weighted),
                })
                .collect();
            out.push_str(&parts.join(", "));
            out.push(']');
        }
        out
    }
}

fn clamp_unit(x: f32) -> f32 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

fn to_percent(p: f32) -> u8 {
    // `as` saturates for floats; the clamp keeps NaN-free inputs in range.
    (clamp_unit(p) * 100.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(d: &str, c: Category, s: f32) -> Finding {
        Finding::new(d, c, s)
    }

    #[test]
    fn noisy_or_within_category_max_across() {
        let r = RiskScorer::new().score(&[
            f("a", Category::PROMPT_INJECTION, 0.5),
            f("b", Category::PROMPT_INJECTION, 0.5),
            f("c", Category::SENSITIVE_INFO, 0.6),
        ]);
        assert_eq!(r.categories[&Category::PROMPT_INJECTION], 75);
        assert_eq!(r.categories[&Category::SENSITIVE_INFO], 60);
        assert_eq!(r.score, 75);
        assert_eq!(r.level, RiskLevel::High);
        assert_eq!(RiskScorer::new().score(&[]).score, 0);
        assert_eq!(RiskScorer::new().score(&[]).level, RiskLevel::Low);
    }

    #[test]
    fn config_weights_floor_and_thresholds_apply() {
        let cfg: RiskConfig = serde_json::from_value(serde_json::json!({
            "min_score": 0.3,
            "detector_weights": {"phrases": 0.5},
            "category_weights": {"GBT45654": 0.8, "GBT45654:A.1.1": 1.0},
            "thresholds": {"medium": 30, "high": 90}
        }))
        .unwrap();
        let s = RiskScorer::from_config(&cfg).unwrap();
        let r = s.score(&[
            f("phrases", Category::PROMPT_INJECTION, 0.8),    // 0.4
            f("rules", Category::new("GBT45654:A.2.5"), 0.5), // 0.4 by prefix
            f("rules", Category::new("GBT45654:A.1.1"), 0.5), // exact wins: 0.5
            f("rules", Category::SENSITIVE_INFO, 0.2),        // under the floor
        ]);
        assert_eq!(r.categories[&Category::PROMPT_INJECTION], 40);
        assert_eq!(r.categories[&Category::new("GBT45654:A.2.5")], 40);
        assert_eq!(r.categories[&Category::new("GBT45654:A.1.1")], 50);
        assert!(!r.categories.contains_key(&Category::SENSITIVE_INFO));
        assert_eq!(r.score, 50);
        assert_eq!(r.level, RiskLevel::Medium);
        assert_eq!(r.contributions.len(), 3);
    }

    #[test]
    fn bad_config_names_the_key() {
        let mut cfg = RiskConfig::default();
        cfg.detector_weights.insert("pii".into(), 1.5);
        let e = RiskScorer::from_config(&cfg).unwrap_err();
        assert!(e.to_string().contains("detector_weights.pii"), "{e}");
        let cfg = RiskConfig {
            thresholds: RiskThresholds {
                medium: 80,
                high: 50,
            },
            ..RiskConfig::default()
        };
        assert!(matches!(
            RiskScorer::from_config(&cfg),
            Err(RiskConfigError::Thresholds { .. })
        ));
        let toml_like = serde_json::json!({"weights": {}});
        assert!(
            serde_json::from_value::<RiskConfig>(toml_like).is_err(),
            "unknown keys rejected"
        );
    }

    #[test]
    fn explanation_lists_contributors_highest_first() {
        let r = RiskScorer::new().score(&[
            f("pii", Category::SENSITIVE_INFO, 0.3),
            f("rules", Category::PROMPT_INJECTION, 0.9).with_rule("ignore-prev"),
        ]);
        let e = r.explain();
        assert!(
            e.starts_with("score 90 (high): OWASP-LLM-2025:LLM01 90 [rules/ignore-prev 0.90]"),
            "{e}"
        );
        assert!(e.ends_with("OWASP-LLM-2025:LLM02 30 [pii 0.30]"), "{e}");
    }

    proptest! {
        #[test]
        fn scores_stay_in_range_and_max_is_overall(
            items in proptest::collection::vec((0u8..4, 0u8..4, proptest::num::f32::ANY), 0..30),
            w in proptest::num::f32::ANY,
        ) {
            let fs: Vec<Finding> = items.iter().map(|(d, c, s)| {
                let mut x = Finding::new(format!("d{d}"), Category::new(format!("c{c}")), 0.0);
                x.score = *s; // bypass the constructor's clamp: NaN, inf, negatives
                x
            }).collect();
            let r = RiskScorer::new().with_weight("d0", w).score(&fs);
            prop_assert!(r.score <= 100);
            prop_assert!(r.categories.values().all(|s| *s <= 100));
            prop_assert_eq!(r.score, r.categories.values().copied().max().unwrap_or(0));
            prop_assert!(r.contributions.iter().all(|c| (0.0..=1.0).contains(&c.weighted)));
        }

        #[test]
        fn adding_a_finding_never_lowers_the_score(
            base in proptest::collection::vec(0.0f32..=1.0, 0..10),
            extra in 0.0f32..=1.0,
        ) {
            let mk = |s: &f32| Finding::new("d", Category::PROMPT_INJECTION, *s);
            let fs: Vec<Finding> = base.iter().map(mk).collect();
            let before = RiskScorer::new().score(&fs).score;
            let mut more = fs.clone();
            more.push(mk(&extra));
            prop_assert!(RiskScorer::new().score(&more).score >= before);
        }
    }
}
