//! The normalizer / de-obfuscator: never panics, output growth is bounded,
//! and every span of every view maps back to a span of the original text
//! that lies on its char boundaries.
//!
//! Input layout: byte 0 picks the configuration (each folding step on or
//! off, decoding depth), the rest is the text (lossily decoded as UTF-8).
#![no_main]

use libfuzzer_sys::fuzz_target;
use menshen_classifiers::normalize::{NormalizeConfig, Normalizer};
use menshen_classifiers::Span;

/// NFKD of one char is at most 18 chars (U+FDFA), each at most 4 bytes
/// after lowercasing and folding: a fixed factor per input byte.
const MAX_GROWTH: usize = 24;

fuzz_target!(|data: &[u8]| {
    let [sel, rest @ ..] = data else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let config = NormalizeConfig {
        leetspeak: sel & 1 == 0,
        collapse_spacing: sel & 2 == 0,
        fold_confusables: sel & 4 == 0,
        decode: sel & 8 == 0,
        max_depth: (sel >> 4) % 4,
        min_encoded_len: if sel & 64 == 0 { 16 } else { 8 },
        ..NormalizeConfig::default()
    };
    let normalizer = Normalizer::new(config.clone());
    let n = normalizer.normalize(&text);
    let views = n.views();
    assert!(!views.is_empty(), "no primary view");
    // Primary + decoded views (+1 for the off-by-one the cap allows) + rot13.
    assert!(views.len() <= config.max_views + 3, "{} views", views.len());
    let total: usize = views.iter().map(|v| v.text().len()).sum();
    assert!(
        total <= MAX_GROWTH * text.len() * views.len() + 64,
        "{} bytes of views for {} bytes of text",
        total,
        text.len()
    );
    for view in views {
        let vt = view.text();
        let bounds: Vec<usize> = vt
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(vt.len()))
            .collect();
        // Every single-char span, plus spans between scattered boundaries.
        let mut spans: Vec<Span> = bounds.windows(2).map(|w| Span::new(w[0], w[1])).collect();
        let step = (bounds.len() / 7).max(1);
        for (i, &s) in bounds.iter().enumerate().step_by(step) {
            for &e in bounds.iter().skip(i).step_by(step) {
                spans.push(Span::new(s, e));
            }
        }
        for span in spans {
            let o = view.to_original(span);
            assert!(
                o.start <= o.end && o.end <= text.len(),
                "{:?} view span {span:?} maps to {o:?}, text is {} bytes",
                view.kind(),
                text.len()
            );
            assert!(
                text.is_char_boundary(o.start) && text.is_char_boundary(o.end),
                "{:?} view span {span:?} maps to {o:?}, off a char boundary",
                view.kind()
            );
        }
    }
    // Phrases fold like texts, so they never grow without bound either.
    let phrase = normalizer.normalize_phrase(&text);
    assert!(phrase.len() <= MAX_GROWTH * text.len() + 64);
});
