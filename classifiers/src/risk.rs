//! Risk scoring: findings → one score 0..100 plus per-category scores.
//!
//! Scores combine as a noisy-OR within a category (several independent weak
//! signals add up, but never past 100), and the overall score is the highest
//! category score. Each contribution is kept so that a reviewer can see why.

use std::collections::BTreeMap;

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

/// The risk of a request or response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RiskReport {
    /// Overall score, 0..=100.
    pub score: u8,
    /// Per-category scores, 0..=100.
    pub categories: BTreeMap<Category, u8>,
    /// What contributed.
    pub contributions: Vec<Contribution>,
}

/// Weights per detector used by [`RiskScorer`].
#[derive(Debug, Clone, Default)]
pub struct RiskScorer {
    weights: BTreeMap<String, f32>,
}

impl RiskScorer {
    /// A scorer with weight 1.0 for every detector.
    pub fn new() -> Self {
        RiskScorer::default()
    }

    /// Sets the weight (clamped to `0.0..=1.0`) of a detector's findings.
    pub fn with_weight(mut self, detector: impl Into<String>, weight: f32) -> Self {
        self.weights.insert(detector.into(), weight.clamp(0.0, 1.0));
        self
    }

    /// Scores a set of findings.
    pub fn score(&self, findings: &[Finding]) -> RiskReport {
        let mut miss: BTreeMap<Category, f32> = BTreeMap::new();
        let mut contributions = Vec::with_capacity(findings.len());
        for f in findings {
            let w = self.weights.get(&f.detector).copied().unwrap_or(1.0);
            let weighted = (f.score * w).clamp(0.0, 1.0);
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
            contributions,
        }
    }
}

fn to_percent(p: f32) -> u8 {
    // `as` saturates for floats; the clamp keeps NaN-free inputs in range.
    (p.clamp(0.0, 1.0) * 100.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noisy_or_within_category_max_across() {
        let f = |d: &str, c: Category, s| Finding::new(d, c, s);
        let r = RiskScorer::new().score(&[
            f("a", Category::PROMPT_INJECTION, 0.5),
            f("b", Category::PROMPT_INJECTION, 0.5),
            f("c", Category::SENSITIVE_INFO, 0.6),
        ]);
        assert_eq!(r.categories[&Category::PROMPT_INJECTION], 75);
        assert_eq!(r.categories[&Category::SENSITIVE_INFO], 60);
        assert_eq!(r.score, 75);
        assert_eq!(RiskScorer::new().score(&[]).score, 0);
    }
}
