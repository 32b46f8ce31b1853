//! The SSE parser, and the NDJSON line splitter of Ollama's streams, fed the
//! same bytes whole and in arbitrary chunks: the events, the failure and the
//! unterminated tail never depend on where the chunks were cut; every event
//! writes back to bytes that parse to it; and the per-API stream readers
//! never panic on what the parsers yield.
//!
//! Input layout: byte 0 picks the event size cap (large, or 1..=128 bytes
//! to exercise the cap), byte 1 the number of cuts, then two bytes per cut,
//! then the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use menshen_proxy::api::{Api, StreamEvent};
use menshen_proxy::ndjson::{self, NdjsonParser};
use menshen_proxy::sse::{SseEvent, SseParser};

struct Run {
    events: Vec<SseEvent>,
    failed: bool,
    tail: Option<SseEvent>,
}

/// The two stream splitters, as the checks below drive them.
trait Splitter {
    /// Feeds a chunk; `false` once the splitter has failed.
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> bool;
    /// The unterminated tail at the end of the stream.
    fn tail(self) -> Option<SseEvent>;
}

impl Splitter for SseParser {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> bool {
        self.push_into(chunk, out).is_ok()
    }
    fn tail(mut self) -> Option<SseEvent> {
        self.finish()
    }
}

impl Splitter for NdjsonParser {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> bool {
        self.push_into(chunk, out).is_ok()
    }
    /// A failed splitter's `finish` is an error: no tail.
    fn tail(mut self) -> Option<SseEvent> {
        self.finish().ok().flatten()
    }
}

/// Feeds `stream` to `p` cut at `cuts`, stopping at the first failure.
fn run(mut p: impl Splitter, stream: &[u8], cuts: &[usize]) -> Run {
    let mut events = Vec::new();
    let mut failed = false;
    let mut prev = 0;
    for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
        let chunk = stream.get(prev..cut).unwrap_or_default();
        prev = cut;
        if !p.feed(chunk, &mut events) {
            failed = true;
            break;
        }
    }
    Run {
        events,
        failed,
        tail: p.tail(),
    }
}

/// Every stream reader, on one event: rewriting every fragment reads back
/// as the new text, and JSON stays JSON.
fn rewrite_everywhere(event: &SseEvent) {
    let was_json = event
        .data
        .as_deref()
        .is_some_and(|d| serde_json::from_str::<serde_json::Value>(d).is_ok());
    for api in Api::ALL {
        let Ok(mut ev) = StreamEvent::parse(api, event.clone()) else {
            continue;
        };
        let n = ev.fragments().len();
        let mut wanted = Vec::with_capacity(n);
        for i in 0..n {
            // A JSON-valued fragment (Ollama tool-call arguments) takes JSON.
            let new = if ev.fragments()[i].is_json_value() {
                "[\"X\"]"
            } else {
                "[X]"
            };
            let _ = ev.delta_only(i, new);
            ev.set_text(i, new)
                .expect("every fragment can be rewritten");
            wanted.push(new);
        }
        let out = ev.to_sse();
        if was_json {
            let d = out.data.as_deref().expect("JSON data stays");
            assert!(
                serde_json::from_str::<serde_json::Value>(d).is_ok(),
                "{api}: rewritten data is not JSON"
            );
        }
        // Read back, every fragment carries the new text and nothing
        // of the old one (spliced or re-serialised alike).
        let back = StreamEvent::parse(api, out).expect("a rewritten event reads back");
        assert_eq!(back.fragments().len(), n, "{api}: fragments changed");
        assert!(
            back.fragments()
                .iter()
                .zip(&wanted)
                .all(|(f, w)| f.text == *w),
            "{api}: a fragment kept its old text"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let [sel, ncuts, rest @ ..] = data else {
        return;
    };
    let limit = if *sel < 128 {
        1 << 20
    } else {
        usize::from(*sel - 127)
    };
    let ncuts = usize::from(*ncuts % 16);
    let Some((cut_bytes, stream)) = rest.split_at_checked(ncuts * 2) else {
        return;
    };
    let mut cuts: Vec<usize> = cut_bytes
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (stream.len() + 1))
        .collect();
    cuts.sort_unstable();

    let whole = run(SseParser::new(limit), stream, &[]);
    let chunked = run(SseParser::new(limit), stream, &cuts);
    assert_eq!(whole.events, chunked.events, "events depend on chunking");
    assert_eq!(whole.failed, chunked.failed, "failure depends on chunking");
    assert_eq!(whole.tail, chunked.tail, "tail depends on chunking");
    // Byte-at-a-time is the most hostile chunking of all.
    if stream.len() <= 512 {
        let every: Vec<usize> = (1..stream.len()).collect();
        let bytewise = run(SseParser::new(limit), stream, &every);
        assert_eq!(whole.events, bytewise.events, "events depend on chunking");
        assert_eq!(whole.failed, bytewise.failed);
        assert_eq!(whole.tail, bytewise.tail);
    }

    for event in whole.events.iter().chain(whole.tail.iter()) {
        let bytes = event.to_bytes();
        let mut p = SseParser::new(bytes.len() + 1);
        let back = p.push(&bytes).expect("an event fits its own size");
        assert_eq!(back, vec![event.clone()], "write/parse round trip");
        rewrite_everywhere(event);
    }

    // The same bytes as NDJSON lines.
    let whole = run(NdjsonParser::new(limit), stream, &[]);
    let chunked = run(NdjsonParser::new(limit), stream, &cuts);
    assert_eq!(whole.events, chunked.events, "lines depend on chunking");
    assert_eq!(whole.failed, chunked.failed, "failure depends on chunking");
    assert_eq!(whole.tail, chunked.tail, "tail depends on chunking");
    for event in whole.events.iter().chain(whole.tail.iter()) {
        let mut bytes = Vec::new();
        ndjson::write_line(event, &mut bytes);
        let mut p = NdjsonParser::new(bytes.len() + 1);
        let back = p.push(&bytes).expect("a line fits its own size");
        assert_eq!(back, vec![event.clone()], "line write/parse round trip");
        rewrite_everywhere(event);
    }
});
