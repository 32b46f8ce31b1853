//! Errors of the ONNX runtime, model loading and inference.

use std::path::{Path, PathBuf};

use crate::{DetectorError, DetectorErrorKind};

/// Why the ONNX path failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OnnxErrorKind {
    /// The ONNX Runtime shared library does not exist at the configured path.
    LibraryNotFound,
    /// The library exists but could not be loaded (wrong file, wrong version,
    /// or a different library was already loaded into this process).
    LibraryInvalid,
    /// A model, tokenizer or manifest file does not exist.
    ModelNotFound,
    /// A model, tokenizer or manifest file exists but is unusable.
    ModelInvalid,
    /// Configuration values are out of range.
    Config,
    /// The inference queue is full.
    Overloaded,
    /// The caller's deadline passed before a result was ready.
    Timeout,
    /// The worker pool is gone (shut down or crashed).
    Closed,
    /// ONNX Runtime failed while running a batch.
    Inference,
}

impl OnnxErrorKind {
    /// Stable snake_case code for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            OnnxErrorKind::LibraryNotFound => "library_not_found",
            OnnxErrorKind::LibraryInvalid => "library_invalid",
            OnnxErrorKind::ModelNotFound => "model_not_found",
            OnnxErrorKind::ModelInvalid => "model_invalid",
            OnnxErrorKind::Config => "config",
            OnnxErrorKind::Overloaded => "overloaded",
            OnnxErrorKind::Timeout => "timeout",
            OnnxErrorKind::Closed => "closed",
            OnnxErrorKind::Inference => "inference",
        }
    }
}

/// An error from the ONNX runtime path. Start-up errors name the offending
/// path so that an operator can fix the deployment from the log line alone.
#[derive(Debug, thiserror::Error)]
#[error("onnx {}: {message}{}", kind.as_str(), path.as_ref().map(|p| format!(" (path: {})", p.display())).unwrap_or_default())]
pub struct OnnxError {
    kind: OnnxErrorKind,
    path: Option<PathBuf>,
    message: String,
}

impl OnnxError {
    pub(crate) fn new(kind: OnnxErrorKind, message: impl Into<String>) -> Self {
        OnnxError {
            kind,
            path: None,
            message: message.into(),
        }
    }

    pub(crate) fn at(kind: OnnxErrorKind, path: &Path, message: impl Into<String>) -> Self {
        OnnxError {
            kind,
            path: Some(path.to_path_buf()),
            message: message.into(),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> OnnxErrorKind {
        self.kind
    }

    /// The file involved, for start-up errors.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Converts to the detector seam's error, keeping the kind that decides
    /// `on_error` handling (overload and timeout stay distinguishable).
    pub fn into_detector_error(self, detector: &str) -> DetectorError {
        let kind = match self.kind {
            OnnxErrorKind::Overloaded => DetectorErrorKind::Overloaded,
            OnnxErrorKind::Timeout => DetectorErrorKind::Timeout,
            OnnxErrorKind::Inference => DetectorErrorKind::Failed,
            _ => DetectorErrorKind::Unavailable,
        };
        DetectorError::new(detector, kind, self.to_string())
    }
}
