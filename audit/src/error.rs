//! The one error type of the audit crate.

use std::fmt;
use std::path::{Path, PathBuf};

/// Boxed cause carried by [`AuditError`].
type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error from the audit log: storage, keys, configuration, the queue, or a
/// verification failure.
///
/// Match on [`AuditError::kind`], never on the message text: the kinds are
/// stable, the messages are for people.
#[derive(Debug, thiserror::Error)]
#[error("audit {kind}: {context}{}", path.as_ref().map(|p| format!(" ({})", p.display())).unwrap_or_default())]
pub struct AuditError {
    kind: AuditErrorKind,
    context: &'static str,
    /// The file involved, when there is one: a start-up error must let an
    /// operator find the file from the log line alone.
    path: Option<PathBuf>,
    #[source]
    source: Option<BoxError>,
}

/// What went wrong, coarsely, so that callers can decide (fail closed, retry,
/// alert) without parsing messages.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditErrorKind {
    /// The database could not be opened, read or written (full disk,
    /// read-only file, corruption).
    Storage,
    /// A signing or HMAC key is missing, unreadable or malformed.
    Key,
    /// The configuration is invalid.
    Config,
    /// The bounded queue is full and the log is configured to fail closed.
    QueueFull,
    /// The writer has stopped (shut down, or halted after a storage error).
    Closed,
    /// A record or note could not be encoded or decoded.
    Encoding,
    /// The stored log is inconsistent with its own tree or checkpoints.
    Integrity,
    /// A file outside the database (key, bundle) could not be read or written.
    Io,
}

// === impl AuditError ===

impl AuditError {
    /// Creates an error of `kind` with a fixed description of what was being
    /// done.
    pub(crate) fn new(kind: AuditErrorKind, context: &'static str) -> Self {
        Self {
            kind,
            context,
            path: None,
            source: None,
        }
    }

    /// Creates an error of `kind` caused by `source`.
    pub(crate) fn with_source(
        kind: AuditErrorKind,
        context: &'static str,
        source: impl Into<BoxError>,
    ) -> Self {
        Self {
            kind,
            context,
            path: None,
            source: Some(source.into()),
        }
    }

    /// Names the file involved.
    pub(crate) fn at(mut self, path: &Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> AuditErrorKind {
        self.kind
    }

    /// The file involved, when the error names one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Shorthand for a storage error from rusqlite.
    pub(crate) fn storage(context: &'static str, source: rusqlite::Error) -> Self {
        Self::with_source(AuditErrorKind::Storage, context, source)
    }

    /// Shorthand for an I/O error on a file outside the database.
    pub(crate) fn io(context: &'static str, source: std::io::Error) -> Self {
        Self::with_source(AuditErrorKind::Io, context, source)
    }
}

// === impl AuditErrorKind ===

impl fmt::Display for AuditErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Storage => "storage error",
            Self::Key => "key error",
            Self::Config => "configuration error",
            Self::QueueFull => "queue full",
            Self::Closed => "log closed",
            Self::Encoding => "encoding error",
            Self::Integrity => "integrity error",
            Self::Io => "i/o error",
        })
    }
}
