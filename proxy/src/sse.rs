//! Incremental Server-Sent Events parsing and writing.
//!
//! Upstream streams arrive as arbitrary byte chunks: an event, a line, even a
//! UTF-8 character may be split across chunks. [`SseParser`] buffers only the
//! event in progress and yields each complete event as soon as its blank line
//! arrives, so output guards see text deltas with no added latency beyond the
//! event itself. [`SseEvent::write_to`] serialises an event back.
//!
//! The parser follows the WHATWG `text/event-stream` rules (line endings `\n`,
//! `\r\n` and `\r`; one optional space after the colon; multi-line `data`
//! joined with `\n`; `id` containing NUL ignored; non-numeric `retry`
//! ignored; a leading BOM stripped), with two deliberate differences, because
//! this is a proxy and not a browser:
//!
//! - comment lines are kept on the event (and a block holding only comments
//!   is yielded), so keep-alive pings reach the client;
//! - a block with `event`/`id`/`retry` but no `data` is yielded too (a
//!   browser drops it); a block of only unknown fields is not.
//!
//! A cap on the size of one event bounds memory: an upstream that never sends
//! a blank line cannot make the proxy buffer without limit.
//!
//! ```
//! use menshen_proxy::sse::{SseParser, SseEvent};
//!
//! let mut parser = SseParser::new(64 * 1024);
//! let mut events = parser.push(b"event: ping\ndata: {\"a\"").unwrap();
//! assert!(events.is_empty());
//! events = parser.push(b":1}\n\n").unwrap();
//! assert_eq!(events[0].event.as_deref(), Some("ping"));
//! assert_eq!(events[0].data.as_deref(), Some("{\"a\":1}"));
//! assert_eq!(events[0].to_bytes(), b"event: ping\ndata: {\"a\":1}\n\n");
//! ```

use std::borrow::Cow;
use std::mem;

/// One Server-Sent Event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// Comment lines (without the leading `:`), in order.
    pub comments: Vec<String>,
    /// The `event:` field (the event type), if present.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`; `None` when the block had no `data` field.
    pub data: Option<String>,
    /// The `id:` field, if present.
    pub id: Option<String>,
    /// The `retry:` field in milliseconds, if present and numeric.
    pub retry: Option<u64>,
}

/// Why the parser gave up on a stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    /// One event grew past the configured cap before its terminating blank line.
    #[error("server-sent event exceeds {limit} bytes")]
    EventTooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// A line of a newline-delimited JSON stream is not UTF-8
    /// ([`NdjsonParser`](crate::ndjson::NdjsonParser); SSE lines are read
    /// lossily, as browsers do).
    #[error("stream line is not valid UTF-8")]
    InvalidUtf8,
}

/// An incremental `text/event-stream` parser.
///
/// Feed it chunks with [`push`](Self::push); it returns every event completed
/// by that chunk. The result is the same for any split of the same bytes.
/// After an error the parser stays failed: the stream cannot be trusted.
#[derive(Debug)]
pub struct SseParser {
    max_event_bytes: usize,
    /// Bytes of the line in progress (may end inside a UTF-8 character).
    line: Vec<u8>,
    /// The last byte seen was `\r`, so a following `\n` belongs to the same line ending.
    after_cr: bool,
    /// Still at the very start of the stream (a BOM may follow).
    at_start: bool,
    /// Bytes of a possible BOM seen so far at the start of the stream.
    bom_seen: usize,
    /// The event in progress.
    pending: SseEvent,
    /// Whether a comment or a known field has been added to `pending`.
    pending_any: bool,
    /// Bytes consumed by the event in progress, counted against the cap.
    pending_bytes: usize,
    failed: Option<SseError>,
}

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

// === impl SseEvent ===

impl SseEvent {
    /// An event with only a `data` field.
    pub fn data(data: impl Into<String>) -> Self {
        SseEvent {
            data: Some(data.into()),
            ..SseEvent::default()
        }
    }

    /// An event with an `event` type and a `data` field.
    pub fn named(event: impl Into<String>, data: impl Into<String>) -> Self {
        SseEvent {
            event: Some(event.into()),
            data: Some(data.into()),
            ..SseEvent::default()
        }
    }

    /// Appends the wire form of this event, ending with the blank line.
    ///
    /// Line breaks inside a value are written as separate lines (`data`) or
    /// replaced by spaces (the single-line fields `event` and `id`, and
    /// comments), so the output always parses back to one event.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        for comment in &self.comments {
            for line in split_lines(comment) {
                out.push(b':');
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
            }
        }
        if let Some(event) = &self.event {
            write_single_line_field(out, "event", event);
        }
        if let Some(id) = &self.id {
            write_single_line_field(out, "id", id);
        }
        if let Some(retry) = self.retry {
            out.extend_from_slice(b"retry: ");
            out.extend_from_slice(retry.to_string().as_bytes());
            out.push(b'\n');
        }
        if let Some(data) = &self.data {
            for line in split_lines(data) {
                write_field(out, "data", line);
            }
        }
        out.push(b'\n');
    }

    /// The wire form of this event.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.as_ref().map_or(16, |d| d.len() + 16));
        self.write_to(&mut out);
        out
    }
}

/// Writes `name: value`, keeping the value's leading space (one extra space
/// is stripped by readers, so a value starting with a space needs it).
fn write_field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    if value.is_empty() {
        out.push(b':');
    } else {
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
    }
    out.push(b'\n');
}

fn write_single_line_field(out: &mut Vec<u8>, name: &str, value: &str) {
    if value.contains(['\r', '\n']) {
        write_field(out, name, &value.replace(['\r', '\n'], " "));
    } else {
        write_field(out, name, value);
    }
}

/// Splits on `\r\n`, `\r` or `\n`; an empty string is one empty line.
fn split_lines(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let s = rest?;
        match s.find(['\r', '\n']) {
            Some(i) => {
                let (line, tail) = s.split_at(i);
                let skip = if tail.starts_with("\r\n") { 2 } else { 1 };
                rest = tail.get(skip..);
                Some(line)
            }
            None => {
                rest = None;
                Some(s)
            }
        }
    })
}

// === impl SseParser ===

impl SseParser {
    /// A parser that fails once a single event exceeds `max_event_bytes`
    /// (counting its raw bytes, line endings included).
    pub fn new(max_event_bytes: usize) -> Self {
        SseParser {
            max_event_bytes,
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            bom_seen: 0,
            pending: SseEvent::default(),
            pending_any: false,
            pending_bytes: 0,
            failed: None,
        }
    }

    /// Feeds a chunk and returns the events it completed, in order.
    ///
    /// # Errors
    /// [`SseError::EventTooLarge`] when the event in progress exceeds the
    /// cap; events completed earlier in the same chunk are discarded with it
    /// (use [`push_into`](Self::push_into) to keep them).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut out = Vec::new();
        self.push_into(bytes, &mut out)?;
        Ok(out)
    }

    /// Feeds a chunk, appending completed events to `out`.
    ///
    /// # Errors
    /// [`SseError::EventTooLarge`] as for [`push`](Self::push); events
    /// completed before the failure are already in `out`.
    pub fn push_into(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.at_start {
            bytes = self.skip_bom(bytes);
        }
        while !bytes.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if let Some(rest) = bytes.strip_prefix(b"\n") {
                    // The `\n` of a split `\r\n` ends a line already counted.
                    bytes = rest;
                    continue;
                }
            }
            match memchr::memchr2(b'\n', b'\r', bytes) {
                Some(i) => {
                    let (line, rest) = bytes.split_at(i);
                    self.count(line.len().saturating_add(1))?;
                    self.line.extend_from_slice(line);
                    if rest.first() == Some(&b'\r') {
                        self.after_cr = true;
                    }
                    bytes = rest.get(1..).unwrap_or_default();
                    if let Some(event) = self.end_line() {
                        out.push(event);
                    }
                }
                None => {
                    self.count(bytes.len())?;
                    self.line.extend_from_slice(bytes);
                    bytes = &[];
                }
            }
        }
        Ok(())
    }

    /// Ends the stream and returns the event in progress, if any.
    ///
    /// By the SSE rules an event not terminated by a blank line is discarded;
    /// the caller decides whether to do that or to use it (some servers omit
    /// the final blank line).
    pub fn finish(&mut self) -> Option<SseEvent> {
        if self.failed.is_some() {
            return None;
        }
        if !self.line.is_empty() {
            // A final line without a line ending still counts as a line.
            if let Some(event) = self.end_line() {
                return Some(event);
            }
        }
        self.take_pending()
    }

    /// Bytes buffered for the event in progress.
    pub fn buffered_bytes(&self) -> usize {
        self.pending_bytes
    }

    fn skip_bom<'b>(&mut self, mut bytes: &'b [u8]) -> &'b [u8] {
        while self.at_start {
            let Some((&b, rest)) = bytes.split_first() else {
                return bytes;
            };
            if BOM.get(self.bom_seen) == Some(&b) {
                self.bom_seen = self.bom_seen.saturating_add(1);
                bytes = rest;
                if self.bom_seen == BOM.len() {
                    self.at_start = false;
                }
            } else {
                // Not a BOM after all: the bytes held back are ordinary content.
                self.at_start = false;
                let held = BOM.get(..self.bom_seen).unwrap_or_default();
                self.line.extend_from_slice(held);
                self.pending_bytes = self.pending_bytes.saturating_add(held.len());
            }
        }
        bytes
    }

    fn count(&mut self, n: usize) -> Result<(), SseError> {
        self.at_start = false;
        self.pending_bytes = self.pending_bytes.saturating_add(n);
        if self.pending_bytes > self.max_event_bytes {
            let err = SseError::EventTooLarge {
                limit: self.max_event_bytes,
            };
            self.failed = Some(err.clone());
            self.line = Vec::new();
            self.pending = SseEvent::default();
            return Err(err);
        }
        Ok(())
    }

    /// Processes the completed line in `self.line`; a blank line dispatches.
    fn end_line(&mut self) -> Option<SseEvent> {
        let raw = mem::take(&mut self.line);
        if raw.is_empty() {
            return self.take_pending();
        }
        // Lossy decoding is what the SSE spec prescribes for invalid UTF-8.
        // Valid lines (all but a broken upstream's) take the standard
        // library's word-at-a-time check; `from_utf8_lossy` walks its
        // chunks a byte at a time, which was 5% of a streamed answer's CPU.
        let line = match std::str::from_utf8(&raw) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(&raw),
        };
        if let Some(comment) = line.strip_prefix(':') {
            self.pending.comments.push(comment.to_owned());
            self.pending_any = true;
            return None;
        }
        let (name, value) = match line.split_once(':') {
            Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match name {
            "event" => self.pending.event = Some(value.to_owned()),
            "data" => match &mut self.pending.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.pending.data = Some(value.to_owned()),
            },
            "id" if !value.contains('\0') => self.pending.id = Some(value.to_owned()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                // An absurdly long digit string is as good as ignored.
                match value.parse() {
                    Ok(ms) => self.pending.retry = Some(ms),
                    Err(_) => return None,
                }
            }
            // Ignored fields do not make a block an event: it would have
            // nothing to forward.
            _ => return None,
        }
        self.pending_any = true;
        None
    }

    fn take_pending(&mut self) -> Option<SseEvent> {
        self.pending_bytes = 0;
        if !mem::take(&mut self.pending_any) {
            return None;
        }
        Some(mem::take(&mut self.pending))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(bytes: &[u8]) -> Vec<SseEvent> {
        let mut p = SseParser::new(1 << 20);
        p.push(bytes).unwrap()
    }

    #[test]
    fn parses_openai_style_stream() {
        let events = parse_all(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n",
        );
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0].data.as_deref(),
            Some("{\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}")
        );
        assert_eq!(events[1].data.as_deref(), Some("[DONE]"));
        assert_eq!(events[1].event, None);
    }

    #[test]
    fn handles_all_line_endings() {
        for sep in ["\n", "\r\n", "\r"] {
            let text = format!("event: a{sep}data: x{sep}data: y{sep}{sep}data: z{sep}{sep}");
            let events = parse_all(text.as_bytes());
            assert_eq!(events.len(), 2, "separator {sep:?}");
            assert_eq!(events[0].event.as_deref(), Some("a"));
            assert_eq!(events[0].data.as_deref(), Some("x\ny"));
            assert_eq!(events[1].data.as_deref(), Some("z"));
        }
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_ending() {
        let mut p = SseParser::new(1024);
        assert!(p.push(b"data: a\r").unwrap().is_empty());
        // The `\n` completes the `\r\n` of the previous line; it is not a blank line.
        assert!(p.push(b"\n").unwrap().is_empty());
        let events = p.push(b"\r\n").unwrap();
        assert_eq!(events, vec![SseEvent::data("a")]);
    }

    #[test]
    fn keeps_comments_id_and_retry() {
        let events = parse_all(b": keep-alive\n\nid: 7\nretry: 1500\nretry: x\ndata\n\n");
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].comments, vec![" keep-alive".to_owned()]);
        assert_eq!(events[0].data, None);
        assert_eq!(events[1].id.as_deref(), Some("7"));
        assert_eq!(events[1].retry, Some(1500));
        assert_eq!(events[1].data.as_deref(), Some(""));
    }

    #[test]
    fn ignores_id_with_nul_and_unknown_fields() {
        let events = parse_all(b"id: a\0b\nfoo: bar\ndata:no-space\n\n");
        assert_eq!(events[0].id, None);
        assert_eq!(events[0].data.as_deref(), Some("no-space"));
    }

    #[test]
    fn strips_only_one_space_after_colon() {
        let events = parse_all(b"data:  two\n\n");
        assert_eq!(events[0].data.as_deref(), Some(" two"));
        let bytes = events[0].to_bytes();
        assert_eq!(parse_all(&bytes), events);
    }

    #[test]
    fn strips_leading_bom_even_when_split() {
        let mut p = SseParser::new(1024);
        assert!(p.push(&[0xEF]).unwrap().is_empty());
        assert!(p.push(&[0xBB, 0xBF]).unwrap().is_empty());
        let events = p.push(b"data: x\n\n").unwrap();
        assert_eq!(events, vec![SseEvent::data("x")]);
    }

    #[test]
    fn partial_bom_is_content() {
        // `\u{FFFD}d` is an unknown field, ignored; the BOM check ate nothing else.
        let events = parse_all(b"\xEFd\ndata: x\n\n");
        assert_eq!(events, vec![SseEvent::data("x")]);
    }

    #[test]
    fn invalid_utf8_in_a_line_is_replaced_not_dropped() {
        let events = parse_all(b"data: a\xFFb\xE4\xBD\n\n");
        assert_eq!(events, vec![SseEvent::data("a\u{FFFD}b\u{FFFD}")]);
    }

    #[test]
    fn blocks_of_ignored_fields_are_not_events() {
        assert!(parse_all(b"foo: bar\nretry: x\n\n").is_empty());
    }

    #[test]
    fn utf8_split_inside_a_character() {
        let text = "data: 你好 👋\n\n".as_bytes();
        let mut p = SseParser::new(1024);
        let mut events = Vec::new();
        for b in text {
            events.extend(p.push(std::slice::from_ref(b)).unwrap());
        }
        assert_eq!(events, vec![SseEvent::data("你好 👋")]);
    }

    #[test]
    fn oversized_event_is_an_error_and_poisons_the_parser() {
        let mut p = SseParser::new(16);
        assert_eq!(p.push(b"data: ok\n\n").unwrap().len(), 1);
        let err = p.push(b"data: 0123456789abcdef").unwrap_err();
        assert_eq!(err, SseError::EventTooLarge { limit: 16 });
        assert!(p.push(b"\n\n").is_err());
        assert_eq!(p.finish(), None);
    }

    #[test]
    fn push_into_keeps_events_before_the_failure() {
        let mut p = SseParser::new(12);
        let mut out = Vec::new();
        let err = p.push_into(b"data: a\n\ndata: 0123456789\n\n", &mut out);
        assert!(err.is_err());
        assert_eq!(out, vec![SseEvent::data("a")]);
    }

    #[test]
    fn limit_is_per_event_not_per_stream() {
        let mut p = SseParser::new(12);
        for _ in 0..100 {
            assert_eq!(p.push(b"data: abc\n\n").unwrap().len(), 1);
        }
    }

    #[test]
    fn finish_returns_unterminated_event() {
        let mut p = SseParser::new(1024);
        assert!(p.push(b"data: [DONE]").unwrap().is_empty());
        assert_eq!(p.finish(), Some(SseEvent::data("[DONE]")));
        assert_eq!(p.finish(), None);
    }

    #[test]
    fn writer_splits_multiline_data_and_flattens_single_line_fields() {
        let ev = SseEvent {
            comments: vec!["c".into()],
            event: Some("a\nb".into()),
            data: Some("x\r\ny\rz\n".into()),
            id: Some("1".into()),
            retry: Some(5),
        };
        assert_eq!(
            ev.to_bytes(),
            b":c\nevent: a b\nid: 1\nretry: 5\ndata: x\ndata: y\ndata: z\ndata:\n\n"
        );
        let back = parse_all(&ev.to_bytes());
        assert_eq!(back[0].data.as_deref(), Some("x\ny\nz\n"));
    }

    fn arb_event() -> impl Strategy<Value = SseEvent> {
        let line = "[^\r\n]{0,12}";
        (
            proptest::collection::vec(line, 0..2),
            proptest::option::of(line),
            proptest::option::of(proptest::collection::vec(line, 1..4)),
            proptest::option::of("[^\r\n\0]{0,6}"),
            proptest::option::of(any::<u32>()),
        )
            .prop_map(|(comments, event, data, id, retry)| SseEvent {
                comments,
                event,
                data: data.map(|lines| lines.join("\n")),
                id,
                retry: retry.map(u64::from),
            })
            .prop_filter("a block must have at least one line", |e| {
                !e.comments.is_empty()
                    || e.event.is_some()
                    || e.data.is_some()
                    || e.id.is_some()
                    || e.retry.is_some()
            })
    }

    /// Writes events with a chosen line ending, as a real upstream might.
    fn write_with(events: &[SseEvent], eol: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for e in events {
            out.extend_from_slice(&e.to_bytes());
        }
        String::from_utf8(out)
            .unwrap()
            .replace('\n', eol)
            .into_bytes()
    }

    proptest! {
        #[test]
        fn any_chunking_yields_the_same_events(
            events in proptest::collection::vec(arb_event(), 0..6),
            eol in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let bytes = write_with(&events, eol);
            let whole = parse_all(&bytes);
            prop_assert_eq!(&whole, &events);

            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut p = SseParser::new(1 << 20);
            let mut got = Vec::new();
            let mut prev = 0;
            for point in points.into_iter().chain(std::iter::once(bytes.len())) {
                got.extend(p.push(&bytes[prev..point]).unwrap());
                prev = point;
            }
            prop_assert_eq!(got, whole);
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..512),
            cut in any::<prop::sample::Index>(),
            limit in 1usize..256,
        ) {
            let mut p = SseParser::new(limit);
            let at = cut.index(bytes.len() + 1);
            let mut events = Vec::new();
            if p.push_into(&bytes[..at], &mut events).is_ok() {
                let _ = p.push_into(&bytes[at..], &mut events);
            }
            let _ = p.finish();
            for e in &events {
                // Anything parsed writes back to something that parses to it.
                let again = parse_all(&e.to_bytes());
                prop_assert_eq!(again.len(), 1);
                prop_assert_eq!(&again[0].data, &e.data);
            }
        }
    }
}
