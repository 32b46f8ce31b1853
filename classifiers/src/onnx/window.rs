//! Splitting a tokenized text into overlapping windows.

use tokenizers::Encoding;

use crate::Span;

/// Token ids of one window and the byte span of text it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenWindow {
    pub(crate) ids: Vec<u32>,
    pub(crate) span: Span,
}

/// Token ranges `[start, end)` of windows of `window` tokens, `stride` apart;
/// the last window ends at the last token. Mirrors `ngram.windows` in
/// `models/ngram.py`, so the figures measured in Python hold here.
pub(crate) fn ranges(n_tokens: usize, window: usize, stride: usize) -> Vec<(usize, usize)> {
    let window = window.max(1);
    let stride = stride.clamp(1, window);
    if n_tokens <= window {
        return vec![(0, n_tokens)];
    }
    let mut out = Vec::new();
    let mut start = 0usize;
    loop {
        let end = start.saturating_add(window).min(n_tokens);
        out.push((start, end));
        if end == n_tokens {
            return out;
        }
        start = start.saturating_add(stride);
    }
}

/// The windows of `enc`; an empty text gives one empty window, so every
/// request still gets a (baseline) score.
pub(crate) fn windows(enc: &Encoding, window: usize, stride: usize) -> Vec<TokenWindow> {
    let ids = enc.get_ids();
    let offsets = enc.get_offsets();
    ranges(ids.len(), window, stride)
        .into_iter()
        .map(|(s, e)| {
            let span = match (
                offsets.get(s),
                e.checked_sub(1).and_then(|l| offsets.get(l)),
            ) {
                (Some(first), Some(last)) if e > s => Span::new(first.0, last.1),
                _ => Span::new(0, 0),
            };
            TokenWindow {
                ids: ids.get(s..e).map(<[u32]>::to_vec).unwrap_or_default(),
                span,
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_text_is_one_window() {
        assert_eq!(ranges(10, 256, 192), vec![(0, 10)]);
        assert_eq!(ranges(0, 256, 192), vec![(0, 0)]);
    }

    #[test]
    fn long_text_windows_overlap_and_end_at_the_last_token() {
        assert_eq!(
            ranges(600, 256, 192),
            vec![(0, 256), (192, 448), (384, 600)]
        );
    }

    proptest! {
        #[test]
        fn windows_cover_every_token(n in 0usize..5000, w in 1usize..600, s in 1usize..600) {
            let r = ranges(n, w, s);
            let s = s.min(w);
            prop_assert_eq!(r.first().map(|x| x.0), Some(0));
            prop_assert_eq!(r.last().map(|x| x.1), Some(n));
            for pair in r.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                prop_assert!(b.0 <= a.1, "gap between windows");
                prop_assert_eq!(b.0 - a.0, s);
            }
            for (a, b) in &r {
                prop_assert!(b - a <= w);
            }
        }
    }
}
