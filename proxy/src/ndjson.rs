//! Incremental newline-delimited JSON (`application/x-ndjson`), the stream
//! format of Ollama's native API.
//!
//! Each line is one JSON value. [`NdjsonParser`] yields every complete line
//! as an [`SseEvent`] whose `data` is the line, so that the output guards'
//! stream path (which reads an event's `data`) serves both formats;
//! [`write_line`] writes one back as a line. Blank lines are skipped; a line
//! may end in `\n` or `\r\n` (trailing blanks are dropped); a cap on one line bounds memory, as
//! [`SseParser`](crate::sse::SseParser)'s cap on one event does.
//!
//! ```
//! use menshen_proxy::ndjson::NdjsonParser;
//!
//! let mut parser = NdjsonParser::new(64 * 1024);
//! assert!(parser.push(b"{\"response\":\"Hel").unwrap().is_empty());
//! let lines = parser.push(b"lo\"}\n{\"done\":true}\n").unwrap();
//! assert_eq!(lines[0].data.as_deref(), Some("{\"response\":\"Hello\"}"));
//! assert_eq!(lines.len(), 2);
//! ```

use crate::sse::{SseError, SseEvent};

/// An incremental NDJSON line splitter.
///
/// The result is the same for any split of the same bytes. After an error
/// the parser stays failed.
#[derive(Debug)]
pub struct NdjsonParser {
    max_line_bytes: usize,
    /// Bytes of the line in progress (may end inside a UTF-8 character).
    line: Vec<u8>,
    failed: Option<SseError>,
}

impl NdjsonParser {
    /// A parser that fails once a single line exceeds `max_line_bytes`.
    pub fn new(max_line_bytes: usize) -> Self {
        NdjsonParser {
            max_line_bytes,
            line: Vec::new(),
            failed: None,
        }
    }

    /// Feeds a chunk and returns the lines it completed, in order.
    ///
    /// # Errors
    /// [`SseError::EventTooLarge`] when the line in progress exceeds the
    /// cap, and [`SseError::InvalidUtf8`] for a line that is not UTF-8;
    /// lines completed earlier in the same chunk are discarded with it (use
    /// [`push_into`](Self::push_into) to keep them).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut out = Vec::new();
        self.push_into(bytes, &mut out)?;
        Ok(out)
    }

    /// Feeds a chunk, appending completed lines to `out`.
    ///
    /// # Errors
    /// As for [`push`](Self::push); lines completed before the failure are
    /// already in `out`.
    pub fn push_into(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        while !bytes.is_empty() {
            let (piece, rest, ended) = match memchr::memchr(b'\n', bytes) {
                Some(i) => (
                    bytes.get(..i).unwrap_or_default(),
                    bytes.get(i.saturating_add(1)..).unwrap_or_default(),
                    true,
                ),
                None => (bytes, &[][..], false),
            };
            if self.line.len().saturating_add(piece.len()) > self.max_line_bytes {
                return Err(self.fail(SseError::EventTooLarge {
                    limit: self.max_line_bytes,
                }));
            }
            self.line.extend_from_slice(piece);
            bytes = rest;
            if ended {
                if let Some(ev) = self.end_line()? {
                    out.push(ev);
                }
            }
        }
        Ok(())
    }

    /// Ends the stream and returns a final line that had no line ending.
    ///
    /// # Errors
    /// [`SseError::InvalidUtf8`] when that line is not UTF-8.
    pub fn finish(&mut self) -> Result<Option<SseEvent>, SseError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        self.end_line()
    }

    fn end_line(&mut self) -> Result<Option<SseEvent>, SseError> {
        let mut raw = std::mem::take(&mut self.line);
        // `\r\n` line endings, and any whitespace JSON allows after a
        // value: a line is written back without it.
        while raw
            .last()
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r'))
        {
            raw.pop();
        }
        if raw.is_empty() {
            return Ok(None);
        }
        match String::from_utf8(raw) {
            Ok(line) => Ok(Some(SseEvent::data(line))),
            Err(_) => Err(self.fail(SseError::InvalidUtf8)),
        }
    }

    fn fail(&mut self, err: SseError) -> SseError {
        self.failed = Some(err.clone());
        self.line = Vec::new();
        err
    }
}

/// Appends `event`'s data as one line (a JSON value has no raw line break,
/// so a line never splits).
pub fn write_line(event: &SseEvent, out: &mut Vec<u8>) {
    if let Some(data) = &event.data {
        out.extend_from_slice(data.as_bytes());
        out.push(b'\n');
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lines(events: &[SseEvent]) -> Vec<&str> {
        events.iter().filter_map(|e| e.data.as_deref()).collect()
    }

    #[test]
    fn splits_lines_and_skips_blank_ones() {
        let mut p = NdjsonParser::new(1024);
        let evs = p.push(b"{\"a\":1}\r\n\n  \n{\"b\":2}\n{\"c\"").unwrap();
        assert_eq!(lines(&evs), ["{\"a\":1}", "{\"b\":2}"]);
        assert_eq!(p.finish().unwrap().unwrap().data.as_deref(), Some("{\"c\""));
        // Trailing blanks go, so a line writes back to what it read.
        let evs = p.push(b"{\"d\":4} \t\r\r\n").unwrap();
        assert_eq!(lines(&evs), ["{\"d\":4}"]);
    }

    #[test]
    fn overlong_line_fails_and_stays_failed() {
        let mut p = NdjsonParser::new(8);
        assert!(p.push(b"{\"a\":1}\n").is_ok());
        assert_eq!(
            p.push(b"{\"abcdefgh\":1}"),
            Err(SseError::EventTooLarge { limit: 8 })
        );
        assert!(p.push(b"\n").is_err());
        assert!(p.finish().is_err());
    }

    #[test]
    fn invalid_utf8_line_is_an_error() {
        let mut p = NdjsonParser::new(64);
        assert_eq!(p.push(b"{\"a\":\"\xff\"}\n"), Err(SseError::InvalidUtf8));
    }

    #[test]
    fn written_lines_parse_back() {
        let mut out = Vec::new();
        write_line(&SseEvent::data("{\"x\":\"a\\nb\"}"), &mut out);
        write_line(&SseEvent::default(), &mut out);
        assert_eq!(out, b"{\"x\":\"a\\nb\"}\n");
    }

    proptest! {
        #[test]
        fn any_chunking_yields_the_same_lines(
            values in proptest::collection::vec("[a-z\u{4e00}-\u{4e10} ]{0,12}", 0..8),
            cuts in proptest::collection::vec(0usize..200, 0..6),
        ) {
            let mut bytes = Vec::new();
            for v in &values {
                bytes.extend_from_slice(serde_json::json!({"t": v}).to_string().as_bytes());
                bytes.extend_from_slice(b"\n");
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut p = NdjsonParser::new(1 << 16);
            let mut got = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([bytes.len()]) {
                got.extend(p.push(&bytes[at..c]).unwrap());
                at = c;
            }
            prop_assert!(p.finish().unwrap().is_none());
            let want: Vec<String> = values.iter().map(|v| serde_json::json!({"t": v}).to_string()).collect();
            prop_assert_eq!(lines(&got), want.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
}
