//! The guard seam: one trait every detector implements.

use std::fmt;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::{Finding, Segment};

/// The future a detector returns.
pub type ScanFuture<'a> = BoxFuture<'a, Result<Vec<Finding>, DetectorError>>;

/// A detector: reads one [`Segment`] and annotates it with findings.
///
/// Detectors never block or rewrite anything themselves; the policy decides.
/// The trait is async so that model-backed detectors can queue work on a
/// batching worker pool; rule detectors return a ready future.
pub trait Detector: Send + Sync + fmt::Debug {
    /// Stable id used in findings, config, metrics and audit records.
    fn id(&self) -> &str;

    /// Scans one segment. Spans in the returned findings are byte offsets into
    /// `segment.text`.
    fn scan<'a>(&'a self, segment: Segment<'a>) -> ScanFuture<'a>;

    /// The longest text, in bytes, that one finding can cover, if bounded.
    /// Streaming output guards hold back this many bytes before releasing text,
    /// so a match split across chunks is still seen whole. `None` means the
    /// detector needs the whole text (the stream is scanned on completion of
    /// each window instead).
    fn max_match_bytes(&self) -> Option<usize> {
        None
    }

    /// Whether results depend only on the segment's text, kind and trust, so
    /// that the pipeline may cache them by content hash.
    fn cacheable(&self) -> bool {
        true
    }

    /// Whether the pipeline should also read consecutive segments of the same
    /// role, trust and kind as one text, so that a phrase split over two
    /// messages ("ignore all" / "previous instructions") is still seen.
    /// Only detectors with a bounded [`Detector::max_match_bytes`] take part:
    /// the pipeline scans a window of that many bytes on each side of every
    /// boundary, not whole conversations again. Off by default because
    /// joining is wrong for some detectors: two unrelated numbers in two
    /// messages would read as one card or phone number.
    fn joins_segments(&self) -> bool {
        false
    }
}

/// What to do when a guard fails (error or timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Fail closed: treat the failure as a reason to block.
    #[default]
    Block,
    /// Fail open: log and count the failure, let the request continue.
    Allow,
}

/// Why a detector failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DetectorErrorKind {
    /// It did not answer within its timeout.
    Timeout,
    /// Its queue is full (backpressure).
    Overloaded,
    /// A resource it needs (model, runtime) is missing or broken.
    Unavailable,
    /// It failed on this input.
    Failed,
}

impl DetectorErrorKind {
    /// Stable snake_case code for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DetectorErrorKind::Timeout => "timeout",
            DetectorErrorKind::Overloaded => "overloaded",
            DetectorErrorKind::Unavailable => "unavailable",
            DetectorErrorKind::Failed => "failed",
        }
    }
}

/// A detector failure.
#[derive(Debug, thiserror::Error)]
#[error("detector {detector} failed ({}): {message}", kind.as_str())]
pub struct DetectorError {
    detector: String,
    kind: DetectorErrorKind,
    message: String,
}

impl DetectorError {
    /// A new error for detector `detector`.
    pub fn new(
        detector: impl Into<String>,
        kind: DetectorErrorKind,
        message: impl Into<String>,
    ) -> Self {
        DetectorError {
            detector: detector.into(),
            kind,
            message: message.into(),
        }
    }

    /// What kind of failure.
    pub fn kind(&self) -> DetectorErrorKind {
        self.kind
    }

    /// Which detector.
    pub fn detector(&self) -> &str {
        &self.detector
    }
}
