//! Output-side redaction of a streamed response.
//!
//! The model may emit PII or secrets of its own (or reconstruct them), and a
//! value can straddle SSE chunks. [`StreamRedactor`] buffers a hold-back
//! window of [`OutputScanner::holdback`] bytes: text is released only once no
//! match could still extend into it, and a finding that touches the release
//! point pulls the point back to the finding's start (so a PEM key whose END
//! line has not arrived yet is held whole, without an 8 KB window for every
//! stream). A short tail of already-released text is kept as context so
//! context words ("SSN:") still count across the boundary.

use std::fmt;
use std::sync::Arc;

use super::{Redactor, Vault};
use crate::pii::{self, PiiDetector};
use crate::secrets::SecretsDetector;
use crate::{Finding, Span};

/// Released text kept for context words, in bytes.
const CONTEXT_BYTES: usize = 64;
/// Slack added to the longest match so after-context ("(office)") is seen.
const AFTER_CONTEXT: usize = 64;
/// Minimum text released at once: amortises rescans of the window when the
/// model sends one token per chunk.
const MIN_RELEASE: usize = 64;

/// The detectors run on output text. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct OutputScanner {
    pii: Option<Arc<PiiDetector>>,
    secrets: Option<Arc<SecretsDetector>>,
}

impl OutputScanner {
    /// A scanner over the given detectors (either may be absent).
    pub fn new(pii: Option<Arc<PiiDetector>>, secrets: Option<Arc<SecretsDetector>>) -> Self {
        OutputScanner { pii, secrets }
    }

    /// All PII and secrets findings in `text`.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        if let Some(p) = &self.pii {
            out.extend(p.scan_text(text));
        }
        if let Some(s) = &self.secrets {
            out.extend(s.scan_text(text));
        }
        out
    }

    /// How many bytes a stream holds back: the longest PII match plus room
    /// for trailing context words. Longer secrets (PEM blocks) are held by
    /// the straddling rule instead.
    pub fn holdback(&self) -> usize {
        pii::MAX_MATCH_BYTES.saturating_add(AFTER_CONTEXT)
    }
}

/// Redacts a stream of text chunks. See the module docs.
pub struct StreamRedactor {
    scanner: OutputScanner,
    redactor: Arc<Redactor>,
    /// Text not yet released.
    pending: String,
    /// Tail of released original text, for context only.
    context: String,
}

impl fmt::Debug for StreamRedactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamRedactor")
            .field("pending_bytes", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl StreamRedactor {
    /// A redactor for one stream.
    pub fn new(scanner: OutputScanner, redactor: Arc<Redactor>) -> Self {
        StreamRedactor {
            scanner,
            redactor,
            pending: String::new(),
            context: String::new(),
        }
    }

    /// Bytes currently held back.
    pub fn held(&self) -> usize {
        self.pending.len()
    }

    /// Feeds one chunk; returns the redacted text that is safe to release.
    pub fn push(&mut self, chunk: &str, vault: &mut Vault) -> String {
        self.pending.push_str(chunk);
        let hold = self.scanner.holdback();
        if self.pending.len() < hold.saturating_add(MIN_RELEASE) {
            return String::new();
        }
        let mut cut = floor_boundary(&self.pending, self.pending.len().saturating_sub(hold));
        let findings = self.findings();
        for f in &findings {
            if let Some(s) = f.span {
                if s.start < cut && s.end > cut {
                    cut = s.start;
                }
            }
        }
        self.release(cut, &findings, vault)
    }

    /// Ends the stream: redacts and releases everything held.
    pub fn finish(mut self, vault: &mut Vault) -> String {
        let findings = self.findings();
        let len = self.pending.len();
        self.release(len, &findings, vault)
    }

    /// Findings over context + pending, shifted to `pending` offsets and
    /// clipped to it.
    fn findings(&self) -> Vec<Finding> {
        let ctx_len = self.context.len();
        let text = format!("{}{}", self.context, self.pending);
        self.scanner
            .scan(&text)
            .into_iter()
            .filter_map(|mut f| {
                let s = f.span?;
                if s.end <= ctx_len {
                    return None;
                }
                let start = s.start.max(ctx_len).saturating_sub(ctx_len);
                f.span = Some(Span::new(start, s.end.saturating_sub(ctx_len)));
                Some(f)
            })
            .collect()
    }

    fn release(&mut self, cut: usize, findings: &[Finding], vault: &mut Vault) -> String {
        let cut = floor_boundary(&self.pending, cut);
        let rest = self.pending.split_off(cut);
        let ready = std::mem::replace(&mut self.pending, rest);
        let inside: Vec<Finding> = findings
            .iter()
            .filter(|f| f.span.is_some_and(|s| s.end <= cut))
            .cloned()
            .collect();
        let out = self.redactor.redact(&ready, &inside, vault);
        self.context.push_str(&ready);
        let drop = floor_boundary(
            &self.context,
            self.context.len().saturating_sub(CONTEXT_BYTES),
        );
        self.context.drain(..drop);
        out
    }
}

/// The largest char boundary of `s` at or below `i`.
fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while i > 0 && !s.is_char_boundary(i) {
        i = i.saturating_sub(1);
    }
    i
}
