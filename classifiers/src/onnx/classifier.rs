//! A model-backed [`Detector`]: tokenizer + manifest + worker pool.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

use super::config::{not_found_or_invalid, ModelManifest, ModelPaths, PoolConfig};
use super::error::{OnnxError, OnnxErrorKind};
use super::pool::{InferencePool, WindowScores};
use super::runtime::OnnxRuntime;
use crate::{Category, Detector, Finding, ScanFuture, Segment, Span, Trust};

/// An ONNX text classifier (`onnx.injection`, `onnx.harm`, ...).
///
/// Built once at start-up; clones of the `Arc` share the sessions and queue.
#[derive(Debug)]
pub struct OnnxClassifier {
    manifest: Arc<ModelManifest>,
    pool: InferencePool,
    score_idx: usize,
    /// Non-score output columns that carry categories.
    category_cols: Vec<(usize, String, Vec<Category>)>,
    /// Categories when no category column applies.
    default_categories: Vec<Category>,
    /// Mask agent-harness reminder blocks before classifying (see
    /// [`super::harness`]).
    mask_reminders: bool,
}

/// The outcome of classifying one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// Calibrated score of the text: the maximum over its windows.
    pub score: f32,
    /// Byte span of the window that scored highest.
    pub span: Span,
    /// All output columns of that window, by name.
    pub outputs: Vec<(String, f32)>,
    /// How many windows the text was split into.
    pub windows: usize,
}

impl OnnxClassifier {
    /// Loads `paths` (manifest, tokenizer, model) and starts its worker pool.
    ///
    /// # Errors
    /// [`OnnxErrorKind::ModelNotFound`] / [`OnnxErrorKind::ModelInvalid`]
    /// naming the file (including a sha256 mismatch with the manifest), or
    /// [`OnnxErrorKind::Config`].
    pub fn load(
        runtime: &OnnxRuntime,
        paths: &ModelPaths,
        pool: PoolConfig,
    ) -> Result<Self, OnnxError> {
        let manifest = ModelManifest::load(&paths.dir)?;
        let model_bytes =
            std::fs::read(&paths.model).map_err(|e| not_found_or_invalid(&paths.model, &e))?;
        check_sha256(&paths.model, &model_bytes, manifest.model_sha256.as_deref())?;
        drop(model_bytes);
        let tokenizer_bytes = std::fs::read(&paths.tokenizer)
            .map_err(|e| not_found_or_invalid(&paths.tokenizer, &e))?;
        check_sha256(
            &paths.tokenizer,
            &tokenizer_bytes,
            manifest.tokenizer_sha256.as_deref(),
        )?;
        let tokenizer = Tokenizer::from_bytes(&tokenizer_bytes).map_err(|e| {
            OnnxError::at(OnnxErrorKind::ModelInvalid, &paths.tokenizer, e.to_string())
        })?;
        let score_idx = manifest.score_index();
        let mut category_cols = Vec::new();
        for (i, name) in manifest.outputs.iter().enumerate() {
            if i == score_idx {
                continue;
            }
            if let Some(ids) = manifest.categories.get(name) {
                category_cols.push((
                    i,
                    name.clone(),
                    ids.iter().cloned().map(Category::new).collect(),
                ));
            }
        }
        let default_categories = manifest
            .categories
            .get(&manifest.score_output)
            .map(|ids| ids.iter().cloned().map(Category::new).collect())
            .unwrap_or_default();
        let manifest = Arc::new(manifest);
        let pool = InferencePool::start(
            runtime,
            &paths.model,
            Arc::new(tokenizer),
            Arc::clone(&manifest),
            pool,
        )?;
        Ok(OnnxClassifier {
            manifest,
            pool,
            score_idx,
            category_cols,
            default_categories,
            mask_reminders: true,
        })
    }

    /// Whether `<system-reminder>` blocks that an agent harness adds are
    /// masked before classifying (default on; see [`super::harness`]).
    #[must_use]
    pub fn with_reminders_masked(mut self, on: bool) -> Self {
        self.mask_reminders = on;
        self
    }

    /// The model's manifest.
    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    /// The worker pool (for its settings and load).
    pub fn pool(&self) -> &InferencePool {
        &self.pool
    }

    /// Classifies one text.
    ///
    /// # Errors
    /// Overload, timeout and inference errors of the pool.
    pub async fn classify(&self, text: &str) -> Result<Classification, OnnxError> {
        let windows = self.pool.score(Arc::from(text)).await?;
        Ok(self.summarize(&windows))
    }

    fn summarize(&self, windows: &[WindowScores]) -> Classification {
        let best = windows.iter().max_by(|a, b| {
            let sa = a.probs.get(self.score_idx).copied().unwrap_or(0.0);
            let sb = b.probs.get(self.score_idx).copied().unwrap_or(0.0);
            sa.total_cmp(&sb)
        });
        match best {
            Some(w) => Classification {
                score: w.probs.get(self.score_idx).copied().unwrap_or(0.0),
                span: w.span,
                outputs: self
                    .manifest
                    .outputs
                    .iter()
                    .cloned()
                    .zip(w.probs.iter().copied())
                    .collect(),
                windows: windows.len(),
            },
            None => Classification {
                score: 0.0,
                span: Span::new(0, 0),
                outputs: Vec::new(),
                windows: 0,
            },
        }
    }

    /// Findings for a classification: none below the report threshold;
    /// otherwise one per category id of each category column that passes
    /// its threshold (the strongest column if none does), all carrying the
    /// text's calibrated score and the span of the deciding window.
    pub fn findings(&self, c: &Classification) -> Vec<Finding> {
        if c.score < self.manifest.report_threshold {
            return Vec::new();
        }
        let prob = |i: usize| c.outputs.get(i).map_or(0.0, |(_, p)| *p);
        let mut chosen: Vec<&(usize, String, Vec<Category>)> = self
            .category_cols
            .iter()
            .filter(|(i, _, _)| prob(*i) >= self.manifest.category_threshold)
            .collect();
        if chosen.is_empty() {
            if let Some(top) = self
                .category_cols
                .iter()
                .max_by(|a, b| prob(a.0).total_cmp(&prob(b.0)))
            {
                chosen.push(top);
            }
        }
        let id = self.manifest.detector_id.as_str();
        let mut out = Vec::new();
        if chosen.is_empty() {
            for cat in &self.default_categories {
                out.push(
                    Finding::new(id, cat.clone(), c.score)
                        .with_rule(self.manifest.score_output.clone())
                        .with_span(c.span)
                        .with_evidence(format!("{}={:.3}", self.manifest.score_output, c.score)),
                );
            }
        } else {
            for (i, name, cats) in chosen {
                for cat in cats {
                    out.push(
                        Finding::new(id, cat.clone(), c.score)
                            .with_rule(name.clone())
                            .with_span(c.span)
                            .with_evidence(format!(
                                "{}={:.3} {name}={:.3}",
                                self.manifest.score_output,
                                c.score,
                                prob(*i)
                            )),
                    );
                }
            }
        }
        out
    }
}

impl Detector for OnnxClassifier {
    fn id(&self) -> &str {
        &self.manifest.detector_id
    }

    fn scan<'a>(&'a self, segment: Segment<'a>) -> ScanFuture<'a> {
        Box::pin(async move {
            let text = if self.mask_reminders {
                super::harness::mask_reminders(segment.text, segment.trust == Trust::Trusted)
            } else {
                std::borrow::Cow::Borrowed(segment.text)
            };
            if text.trim().is_empty() {
                return Ok(Vec::new());
            }
            let c = self
                .classify(&text)
                .await
                .map_err(|e| e.into_detector_error(&self.manifest.detector_id))?;
            Ok(self.findings(&c))
        })
    }
}

/// Refuses a file whose hash differs from the manifest's: a half-copied or
/// swapped model must not silently change what the guard lets through.
fn check_sha256(path: &std::path::Path, bytes: &[u8], want: Option<&str>) -> Result<(), OnnxError> {
    let Some(want) = want else { return Ok(()) };
    let got = hex_sha256(bytes);
    if got.eq_ignore_ascii_case(want) {
        Ok(())
    } else {
        Err(OnnxError::at(
            OnnxErrorKind::ModelInvalid,
            path,
            format!("sha256 {got} does not match the manifest's {want}"),
        ))
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
