//! Runtime settings and the per-model manifest (`config.json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{OnnxError, OnnxErrorKind};

/// Which execution provider runs the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ExecutionProvider {
    /// ONNX Runtime's CPU provider.
    #[default]
    Cpu,
    /// NVIDIA CUDA; falls back to the CPU (with a warning) when the library
    /// lacks CUDA support or the device cannot be opened.
    Cuda {
        /// CUDA device ordinal.
        #[serde(default)]
        device_id: i32,
    },
}

/// Settings for the shared inference worker pool of one classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolConfig {
    /// Execution provider for the sessions.
    pub provider: ExecutionProvider,
    /// ONNX Runtime intra-op threads per session (1 = one core per worker).
    pub intra_threads: usize,
    /// Worker threads, each owning one session built at start-up.
    pub workers: usize,
    /// A batch is flushed once it holds this many windows.
    pub max_batch: usize,
    /// ... or once the first queued request has waited this long.
    pub max_wait: Duration,
    /// Requests that may wait in the queue; more are refused as overloaded.
    pub queue_capacity: usize,
    /// Per-call deadline, from submission to result.
    pub timeout: Duration,
}

/// Default intra-op threads: one, so that workers scale across cores.
pub const fn default_intra_threads() -> usize {
    1
}
/// Default worker count.
pub const fn default_workers() -> usize {
    1
}
/// Default batch size in windows.
pub const fn default_max_batch() -> usize {
    32
}
/// Default batching wait: short enough to be invisible next to an upstream LLM call.
pub const fn default_max_wait() -> Duration {
    Duration::from_millis(2)
}
/// Default queue capacity in requests.
pub const fn default_queue_capacity() -> usize {
    1024
}
/// Default per-call timeout.
pub const fn default_timeout() -> Duration {
    Duration::from_millis(250)
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            provider: ExecutionProvider::Cpu,
            intra_threads: default_intra_threads(),
            workers: default_workers(),
            max_batch: default_max_batch(),
            max_wait: default_max_wait(),
            queue_capacity: default_queue_capacity(),
            timeout: default_timeout(),
        }
    }
}

impl PoolConfig {
    /// Checks ranges; the error names the offending key.
    ///
    /// # Errors
    /// [`OnnxErrorKind::Config`] when a count is zero.
    pub fn validate(&self) -> Result<(), OnnxError> {
        for (key, v) in [
            ("intra_threads", self.intra_threads),
            ("workers", self.workers),
            ("max_batch", self.max_batch),
            ("queue_capacity", self.queue_capacity),
        ] {
            if v == 0 {
                return Err(OnnxError::new(
                    OnnxErrorKind::Config,
                    format!("{key} must be at least 1"),
                ));
            }
        }
        Ok(())
    }
}

/// `config.json` next to a model: what its outputs mean and how to window.
/// Written by `models/train.py`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelManifest {
    /// Short name (`injection`, `harm`).
    pub name: String,
    /// Detector id used in findings (`onnx.injection`, `onnx.harm`).
    pub detector_id: String,
    /// Tokens per window.
    pub window_tokens: usize,
    /// Tokens between window starts (`< window_tokens` gives overlap).
    pub stride_tokens: usize,
    /// Output column names of the `probs` tensor, in order.
    pub outputs: Vec<String>,
    /// The column that holds the text's calibrated score.
    pub score_output: String,
    /// Scores below this produce no finding.
    pub report_threshold: f32,
    /// Category ids per output column; the score column's list applies when
    /// no other column passes `category_threshold`.
    pub categories: BTreeMap<String, Vec<String>>,
    /// A non-score column at or above this names the finding's categories.
    #[serde(default = "default_category_threshold")]
    pub category_threshold: f32,
    /// sha256 of `model.onnx`, checked at load.
    #[serde(default)]
    pub model_sha256: Option<String>,
    /// sha256 of `tokenizer.json`, checked at load.
    #[serde(default)]
    pub tokenizer_sha256: Option<String>,
    /// Expected scores for fixed inputs (parity tests).
    #[serde(default)]
    pub parity: Vec<ParityCase>,
}

const fn default_category_threshold() -> f32 {
    0.5
}

/// One expected score for a fixed input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParityCase {
    /// Input text.
    pub text: String,
    /// Expected score of the score column.
    pub score: f32,
}

impl ModelManifest {
    /// Reads `dir/config.json`.
    ///
    /// # Errors
    /// [`OnnxErrorKind::ModelNotFound`] or [`OnnxErrorKind::ModelInvalid`], naming the file.
    pub fn load(dir: &Path) -> Result<Self, OnnxError> {
        let path = dir.join("config.json");
        let bytes = std::fs::read(&path).map_err(|e| not_found_or_invalid(&path, &e))?;
        let m: ModelManifest = serde_json::from_slice(&bytes).map_err(|e| {
            OnnxError::at(
                OnnxErrorKind::ModelInvalid,
                &path,
                format!("bad manifest: {e}"),
            )
        })?;
        m.validate(&path)?;
        Ok(m)
    }

    fn validate(&self, path: &Path) -> Result<(), OnnxError> {
        let bad = |msg: &str| OnnxError::at(OnnxErrorKind::ModelInvalid, path, msg.to_string());
        if self.window_tokens == 0 || self.stride_tokens == 0 {
            return Err(bad("window_tokens and stride_tokens must be at least 1"));
        }
        if self.stride_tokens > self.window_tokens {
            return Err(bad(
                "stride_tokens larger than window_tokens would skip text",
            ));
        }
        if !self.outputs.contains(&self.score_output) {
            return Err(bad("score_output is not one of outputs"));
        }
        Ok(())
    }

    /// Index of the score column.
    pub(crate) fn score_index(&self) -> usize {
        self.outputs
            .iter()
            .position(|o| *o == self.score_output)
            .unwrap_or(0)
    }
}

pub(crate) fn not_found_or_invalid(path: &Path, e: &std::io::Error) -> OnnxError {
    if e.kind() == std::io::ErrorKind::NotFound {
        OnnxError::at(OnnxErrorKind::ModelNotFound, path, "file not found")
    } else {
        OnnxError::at(
            OnnxErrorKind::ModelInvalid,
            path,
            format!("cannot read: {e}"),
        )
    }
}

/// Where the model files of one classifier live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPaths {
    /// The `.onnx` file.
    pub model: PathBuf,
    /// The `tokenizer.json` file.
    pub tokenizer: PathBuf,
    /// The directory holding `config.json`.
    pub dir: PathBuf,
}

impl ModelPaths {
    /// The standard layout: `dir/model.onnx`, `dir/tokenizer.json`, `dir/config.json`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        ModelPaths {
            model: dir.join("model.onnx"),
            tokenizer: dir.join("tokenizer.json"),
            dir,
        }
    }
}
