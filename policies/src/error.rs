//! Errors of the policy crate.
//!
//! Every error carries structured fields (file, line, the offending key), not
//! preformatted prose, so the admin API can show *where* a bundle is broken
//! and callers can branch on the variant rather than on message text.

use std::fmt;
use std::path::PathBuf;

/// Why a policy could not be loaded, compiled or evaluated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy ran but returned something that is not a valid decision
    /// (including an undefined `data.menshen.decision`).
    #[error("policy returned a malformed decision: {reason}")]
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// Evaluation failed (a runtime error in Rego, a timeout, a conflict).
    #[error("policy evaluation failed: {reason}")]
    Evaluation {
        /// Engine message.
        reason: String,
    },
    /// A bundle file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bundle's layout or a data document is invalid (bad `data.json`,
    /// bad `.manifest`, a package outside the manifest's roots).
    #[error("invalid bundle file {file}: {reason}")]
    Bundle {
        /// Path of the offending file, relative to the bundle root.
        file: String,
        /// What was wrong.
        reason: String,
    },
    /// A Rego module failed to parse or compile.
    #[error("{0}")]
    Compile(SourceError),
    /// The bundle compiled but its own Rego tests failed, so it was not
    /// put into service.
    #[error("{failed} of {total} policy tests failed (first: {first})")]
    TestsFailed {
        /// Number of failing or erroring tests.
        failed: usize,
        /// Number of tests run.
        total: usize,
        /// Name of the first failing test.
        first: String,
    },
}

impl PolicyError {
    /// Where in the bundle the error is, when known: `(file, line)`.
    pub fn location(&self) -> Option<(&str, u32)> {
        match self {
            PolicyError::Compile(e) => Some((e.file.as_str(), e.line)),
            PolicyError::Bundle { file, .. } => Some((file.as_str(), 0)),
            _ => None,
        }
    }
}

/// A Rego error pinned to a place in a source file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceError {
    /// File, as named inside the bundle (relative path).
    pub file: String,
    /// 1-based line; 0 when the engine did not say.
    pub line: u32,
    /// 1-based column; 0 when the engine did not say.
    pub col: u32,
    /// The engine's message, without the source excerpt.
    pub message: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

// === impl SourceError ===

impl SourceError {
    /// Extracts file, line, column and message from a regorus error.
    ///
    /// regorus renders errors as `--> file:line:col`, a source excerpt and a
    /// final `error: message` line; this is the only place that reads that
    /// format, and it falls back to the whole text when the shape differs.
    pub(crate) fn from_engine(err: &dyn fmt::Display, fallback_file: &str) -> Self {
        let text = err.to_string();
        let mut file = fallback_file.to_owned();
        let mut line = 0;
        let mut col = 0;
        if let Some(loc) = text
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("--> "))
        {
            let mut parts = loc.rsplitn(3, ':');
            let c = parts.next().and_then(|s| s.trim().parse().ok());
            let l = parts.next().and_then(|s| s.trim().parse().ok());
            if let (Some(c), Some(l), Some(f)) = (c, l, parts.next()) {
                file = f.to_owned();
                line = l;
                col = c;
            }
        }
        let message = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| {
                let l = l.trim();
                l.strip_prefix("error: ").unwrap_or(l).to_owned()
            })
            .unwrap_or_default();
        SourceError {
            file,
            line,
            col,
            message,
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn parses_regorus_error_shape() {
        let text = "\n--> menshen/decision.rego:12:5\n   |\n12 |     x := \n   |     ^\nerror: unexpected token";
        let e = SourceError::from_engine(&text, "?");
        assert_eq!(e.file, "menshen/decision.rego");
        assert_eq!((e.line, e.col), (12, 5));
        assert_eq!(e.message, "unexpected token");
    }

    #[test]
    fn falls_back_to_whole_text() {
        let e = SourceError::from_engine(&"something odd", "a.rego");
        assert_eq!(e.file, "a.rego");
        assert_eq!(e.line, 0);
        assert_eq!(e.message, "something odd");
    }
}
