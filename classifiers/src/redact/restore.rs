//! Restoring pseudonyms in model output, whole or streamed.
//!
//! A placeholder can arrive split over two SSE chunks (`"[EMA"` then
//! `"IL_QXJZKMPA]"`). The [`Restorer`] holds back only a tail that could still
//! become a placeholder: from the last `[` when everything after it is in the
//! placeholder alphabet and shorter than the longest placeholder. Everything
//! else is released at once, so latency stays at most one placeholder's
//! length.

use std::fmt;

use super::vault::Vault;

/// Longest placeholder: `[` + 32-char label + `_` + 8-letter token (or a
/// mask number) + `]`, with room to spare.
pub(crate) const MAX_PLACEHOLDER: usize = 48;

fn placeholder_byte(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'
}

/// Appends `original`, JSON-escaped when `json` (the text is the inside of a
/// JSON string).
fn push_original(out: &mut String, original: &str, json: bool) {
    if !json {
        out.push_str(original);
        return;
    }
    // Serialising a `str` cannot fail; on the impossible error nothing is
    // emitted rather than raw, unescaped text.
    if let Ok(quoted) = serde_json::to_string(original) {
        out.push_str(
            quoted
                .strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .unwrap_or(""),
        );
    }
}

/// Replaces every complete placeholder issued by `vault` in `text`.
pub(crate) fn restore_with(vault: &Vault, text: &str, json: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('[') {
        let (before, from) = rest.split_at(i);
        out.push_str(before);
        let tail = from.as_bytes();
        let close = tail
            .iter()
            .take(MAX_PLACEHOLDER)
            .skip(1)
            .position(|b| !placeholder_byte(*b))
            .map(|p| p.saturating_add(1))
            .filter(|&p| tail.get(p) == Some(&b']'));
        match close.and_then(|p| from.get(..=p).map(|ph| (p, ph))) {
            Some((p, ph)) => match vault.original(ph) {
                Some(orig) => {
                    push_original(&mut out, orig, json);
                    rest = from.get(p.saturating_add(1)..).unwrap_or("");
                }
                None => {
                    out.push('[');
                    rest = from.get(1..).unwrap_or("");
                }
            },
            None => {
                out.push('[');
                rest = from.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

/// Restores placeholders in a stream of chunks. Feed chunks with
/// [`Restorer::push`]; call [`Restorer::finish`] at the end of the stream.
pub struct Restorer<'v> {
    vault: &'v Vault,
    pending: String,
    json: bool,
}

impl fmt::Debug for Restorer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Restorer")
            .field("pending_bytes", &self.pending.len())
            .field("json", &self.json)
            .finish_non_exhaustive()
    }
}

impl<'v> Restorer<'v> {
    pub(crate) fn new(vault: &'v Vault, json: bool) -> Self {
        Restorer {
            vault,
            pending: String::new(),
            json,
        }
    }

    /// Feeds one chunk; returns the text that can be released now, restored.
    pub fn push(&mut self, chunk: &str) -> String {
        self.pending.push_str(chunk);
        let hold = self.hold_from();
        let tail = self.pending.split_off(hold);
        let ready = std::mem::replace(&mut self.pending, tail);
        restore_with(self.vault, &ready, self.json)
    }

    /// Ends the stream: releases whatever is held, restored.
    pub fn finish(self) -> String {
        restore_with(self.vault, &self.pending, self.json)
    }

    /// Bytes currently held back.
    pub fn held(&self) -> usize {
        self.pending.len()
    }

    /// Where the possibly-incomplete placeholder tail starts (or the end).
    fn hold_from(&self) -> usize {
        let len = self.pending.len();
        let Some(i) = self.pending.rfind('[') else {
            return len;
        };
        let tail = self
            .pending
            .as_bytes()
            .get(i.saturating_add(1)..)
            .unwrap_or(&[]);
        let could_grow = tail.len() < MAX_PLACEHOLDER && tail.iter().all(|b| placeholder_byte(*b));
        if could_grow {
            i
        } else {
            len
        }
    }
}
