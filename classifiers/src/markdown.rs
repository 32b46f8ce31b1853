//! Where the code is in a markdown answer: fenced blocks and inline code
//! spans.
//!
//! Markup inside code is shown, not rendered, by every markdown renderer, so
//! a `<script>` in a fenced HTML example is an answer to a coding question
//! and the same tag in prose is an attack on whoever renders the answer.
//! Detectors of unsafe output (`rules.output`) skip code ranges.
//!
//! Fences follow CommonMark closely enough for that decision: a line of at
//! least three backticks or tildes, indented by at most three spaces, opens
//! a block (a backtick fence's info string has no backtick) that a line of
//! the same character, at least as long and followed by nothing but spaces,
//! closes; an unclosed block runs to the end of the text. Inline code is a
//! run of backticks closed by a run of the same length in the same
//! paragraph. A stream is scanned in windows: [`FenceTracker`] follows the
//! text that leaves the window, and [`code_ranges`] takes the fence that is
//! open where the window starts.

/// An open code fence: its character (`` ` `` or `~`) and run length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fence {
    marker: u8,
    len: usize,
}

/// Longest line prefix [`FenceTracker`] keeps: enough for indentation, the
/// marker run and a short info string.
const LINE_KEEP: usize = 64;

/// Follows the fence state of text fed in pieces.
#[derive(Debug, Clone, Default)]
pub struct FenceTracker {
    open: Option<Fence>,
    /// The start of the current (unfinished) line.
    line: Vec<u8>,
    /// Whether the current line is longer than what `line` keeps.
    long: bool,
}

impl FenceTracker {
    /// Reads `text`, which continues what was fed before.
    pub fn feed(&mut self, text: &str) {
        for piece in text.as_bytes().split_inclusive(|&b| b == b'\n') {
            let (body, ends) = match piece.split_last() {
                Some((b'\n', body)) => (body, true),
                _ => (piece, false),
            };
            let room = LINE_KEEP.saturating_sub(self.line.len());
            self.line
                .extend_from_slice(body.get(..room.min(body.len())).unwrap_or(body));
            self.long |= body.len() > room;
            if ends {
                // A closing fence must be wholly kept to be recognised; an
                // opening one needs only its start.
                self.open = step(self.open, &self.line, self.long);
                self.line.clear();
                self.long = false;
            }
        }
    }

    /// The fence open at the end of what was fed (complete lines only).
    pub fn open(&self) -> Option<Fence> {
        self.open
    }
}

/// The fence state after one line.
fn step(open: Option<Fence>, line: &[u8], truncated: bool) -> Option<Fence> {
    match open {
        Some(f) if !truncated && closes(line, f) => None,
        Some(f) => Some(f),
        None => opens(line),
    }
}

/// The marker run at the start of a line (after at most three spaces):
/// its character, length and what follows it.
fn marker_run(line: &[u8]) -> Option<(u8, usize, &[u8])> {
    let indent = line.iter().take_while(|&&b| b == b' ').count();
    if indent > 3 {
        return None;
    }
    let rest = line.get(indent..)?;
    let marker = *rest.first()?;
    if marker != b'`' && marker != b'~' {
        return None;
    }
    let len = rest.iter().take_while(|&&b| b == marker).count();
    (len >= 3).then(|| (marker, len, rest.get(len..).unwrap_or(&[])))
}

fn opens(line: &[u8]) -> Option<Fence> {
    let (marker, len, info) = marker_run(line)?;
    if marker == b'`' && info.contains(&b'`') {
        return None;
    }
    Some(Fence { marker, len })
}

fn closes(line: &[u8], f: Fence) -> bool {
    marker_run(line).is_some_and(|(marker, len, rest)| {
        marker == f.marker && len >= f.len && rest.iter().all(|b| b.is_ascii_whitespace())
    })
}

/// Byte ranges of `text` that are code, in order: fenced blocks (opening
/// line through closing line, or to the end when unclosed) and inline code
/// spans outside them. `open` is the fence open where `text` starts (a
/// stream window's), which makes everything up to its closing line code.
pub fn code_ranges(text: &str, open: Option<Fence>) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut fence = open;
    let mut block_start = 0usize;
    let mut prose_start = 0usize;
    let mut pos = 0usize;
    while pos < bytes.len() {
        let rest = bytes.get(pos..).unwrap_or(&[]);
        let line_len = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let line = rest.get(..line_len).unwrap_or(rest);
        let next = pos
            .saturating_add(line_len)
            .saturating_add(1)
            .min(bytes.len());
        // The same transition the tracker makes, on a whole line.
        let after = step(fence, line, false);
        match (fence, after) {
            (Some(_), None) => {
                out.push((block_start, next));
                prose_start = next;
            }
            (None, Some(_)) => {
                inline_spans(bytes, prose_start, pos, &mut out);
                block_start = pos;
            }
            _ => {}
        }
        fence = after;
        pos = next;
    }
    if fence.is_some() {
        out.push((block_start, bytes.len()));
    } else {
        inline_spans(bytes, prose_start, bytes.len(), &mut out);
    }
    out
}

/// Inline code spans in `bytes[from..to]`: a backtick run closed by the next
/// run of the same length before a blank line. A run that is never closed
/// is literal backticks.
///
/// Linear: the text is cut at blank lines, and within a paragraph each run
/// is paired with the next run of its length from one table, instead of a
/// forward search per run (runs of many different lengths made that
/// quadratic).
fn inline_spans(bytes: &[u8], from: usize, to: usize, out: &mut Vec<(usize, usize)>) {
    let mut start = from;
    for k in from..to {
        if bytes.get(k) == Some(&b'\n') && bytes.get(k.saturating_add(1)) == Some(&b'\n') {
            paragraph_spans(bytes, start, k, out);
            start = k.saturating_add(1);
        }
    }
    paragraph_spans(bytes, start, to, out);
}

/// Most backtick runs in one paragraph whose inline code spans are
/// worked out. A paragraph with more is no prose anyone writes; it is read
/// as having no inline code, so that its markup still counts (failing
/// toward detection) and the run table stays small whatever the input.
const MAX_RUNS: usize = 1 << 16;

/// [`inline_spans`] within one paragraph.
fn paragraph_spans(bytes: &[u8], from: usize, to: usize, out: &mut Vec<(usize, usize)>) {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut i = from;
    while i < to {
        if bytes.get(i) == Some(&b'`') {
            let n = bytes
                .get(i..to)
                .map_or(1, |s| s.iter().take_while(|&&b| b == b'`').count());
            if runs.len() >= MAX_RUNS {
                return;
            }
            runs.push((i, n));
            i = i.saturating_add(n);
        } else {
            i = i.saturating_add(1);
        }
    }
    if runs.len() < 2 {
        return;
    }
    // The next run of the same length, for every run.
    let mut next = vec![usize::MAX; runs.len()];
    let mut last: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    for (j, &(_, n)) in runs.iter().enumerate().rev() {
        if let (Some(&later), Some(slot)) = (last.get(&n), next.get_mut(j)) {
            *slot = later;
        }
        last.insert(n, j);
    }
    let mut j = 0usize;
    while let Some(&(open, _)) = runs.get(j) {
        match next.get(j).and_then(|&c| runs.get(c).map(|r| (c, r))) {
            Some((c, &(close, n))) => {
                out.push((open, close.saturating_add(n)));
                j = c.saturating_add(1);
            }
            None => j = j.saturating_add(1),
        }
    }
}

/// Whether `pos` lies inside one of `ranges` (sorted, as [`code_ranges`]
/// returns them).
pub fn in_code(ranges: &[(usize, usize)], pos: usize) -> bool {
    let k = ranges.partition_point(|&(_, end)| end <= pos);
    ranges.get(k).is_some_and(|&(start, _)| start <= pos)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(text: &str, open: Option<Fence>) -> Vec<&str> {
        code_ranges(text, open)
            .into_iter()
            .map(|(a, b)| &text[a..b])
            .collect()
    }

    #[test]
    fn fenced_blocks_and_inline_spans() {
        let t = "Use `<b>` here.\n```html\n<script>x()</script>\n```\nthen <script>\n";
        assert_eq!(
            code(t, None),
            ["`<b>`", "```html\n<script>x()</script>\n```\n"]
        );
        let r = code_ranges(t, None);
        assert!(in_code(&r, t.find("<script>x").unwrap()));
        assert!(!in_code(&r, t.rfind("<script>").unwrap()));
        // Tildes, a longer closing run, indentation, an unclosed block.
        assert_eq!(
            code("a\n  ~~~~\nx\n~~~~~  \nb", None),
            ["  ~~~~\nx\n~~~~~  \n"]
        );
        assert_eq!(code("a\n```\nx\n``\ny", None), ["```\nx\n``\ny"]);
        // Four spaces of indent, or a backtick in the info string: no fence.
        assert!(code("    ```\nx", None).is_empty());
        assert!(code("``` a`b\nx", None).is_empty());
        // A lone backtick, and a span that a blank line ends.
        assert!(code("it`s fine", None).is_empty());
        assert!(code("`a\n\nb`", None).is_empty());
        assert_eq!(code("``a ` b`` c", None), ["``a ` b``"]);
    }

    #[test]
    fn a_window_that_starts_inside_a_fence() {
        let mut t = FenceTracker::default();
        t.feed("Here:\n``");
        assert_eq!(t.open(), None);
        t.feed("`js\nlet a = 1;\n");
        let open = t.open();
        assert!(open.is_some());
        let window = "<script>\n```\n<script>";
        assert_eq!(code(window, open), ["<script>\n```\n"]);
        t.feed(window);
        assert_eq!(t.open(), None);
        // A long line is kept in part: an opening fence still counts, a
        // closing one does not (it would need all of the line).
        let mut t = FenceTracker::default();
        t.feed(&format!("```{}\n", "x".repeat(200)));
        assert!(t.open().is_some());
        t.feed(&format!("```{}\n", " ".repeat(200)));
        assert!(t.open().is_some());
    }

    /// The first, direct implementation: a forward search from every run.
    fn inline_spans_reference(bytes: &[u8], from: usize, to: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let run_at = |i: usize| bytes[i..to].iter().take_while(|&&b| b == b'`').count();
        let mut i = from;
        while i < to {
            if bytes[i] != b'`' {
                i += 1;
                continue;
            }
            let n = run_at(i);
            let mut j = i + n;
            let mut closed = None;
            while j < to {
                match bytes[j] {
                    b'`' => {
                        let m = run_at(j);
                        if m == n {
                            closed = Some(j + m);
                            break;
                        }
                        j += m;
                    }
                    b'\n' if bytes.get(j + 1) == Some(&b'\n') => break,
                    _ => j += 1,
                }
            }
            match closed {
                Some(end) => {
                    out.push((i, end));
                    i = end;
                }
                None => i += n,
            }
        }
        out
    }

    #[test]
    fn a_paragraph_of_too_many_runs_has_no_inline_code() {
        let many = "`a` ".repeat(MAX_RUNS / 2);
        assert_eq!(code_ranges(&many, None).len(), MAX_RUNS / 2);
        let more = format!("{many}`b`");
        assert!(code_ranges(&more, None).is_empty());
        // Only that paragraph: the next one still has its spans.
        assert_eq!(code_ranges(&format!("{more}\n\n`c`"), None).len(), 1);
    }

    #[test]
    fn runs_of_every_length_close_nothing() {
        // Runs of lengths 1..=600, none closed (the cost case is in the
        // rules_scan bench, output_adversarial/backtick_runs).
        let text: String = (1..=600).map(|n| "`".repeat(n) + "x").collect();
        assert!(code_ranges(&text, None).is_empty());
        let closed = format!("{text}{}", "`".repeat(300));
        let r = code_ranges(&closed, None);
        assert_eq!(r.len(), 1);
        assert_eq!(
            &closed[r[0].0..r[0].0 + 301],
            format!("{}x", "`".repeat(300))
        );
    }

    proptest! {
        #[test]
        fn inline_spans_match_the_direct_search(text in "(`|``|```|a|\n| ){0,80}") {
            let b = text.as_bytes();
            let mut out = Vec::new();
            inline_spans(b, 0, b.len(), &mut out);
            prop_assert_eq!(out, inline_spans_reference(b, 0, b.len()));
        }

        /// The tracker's state does not depend on how the text is cut into
        /// pieces, and it is open exactly when `code_ranges` of the same
        /// (complete) lines has an unclosed block: one that a further line
        /// of prose would still be inside.
        #[test]
        fn tracker_agrees_with_code_ranges(
            text in "(```|~~~|`|x|<| |\n){0,60}",
            cut in 0usize..120,
        ) {
            let cut = cut.min(text.len());
            let mut t = FenceTracker::default();
            t.feed(&text[..cut]);
            t.feed(&text[cut..]);
            let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
            let mut whole = FenceTracker::default();
            whole.feed(complete);
            prop_assert_eq!(t.open(), whole.open());
            let probe = format!("{complete}x");
            let ranges = code_ranges(&probe, None);
            prop_assert_eq!(t.open().is_some(), in_code(&ranges, probe.len() - 1));
            // A window that starts inside the tracked fence reads the rest
            // of the text as the whole text does.
            let rest = &text[complete.len()..];
            let whole_ranges = code_ranges(&text, None);
            let window = code_ranges(rest, t.open());
            for (i, _) in rest.char_indices().filter(|_| t.open().is_some()) {
                prop_assert_eq!(
                    in_code(&window, i),
                    in_code(&whole_ranges, complete.len() + i),
                    "at {}", i
                );
            }
            for w in whole_ranges.windows(2) {
                prop_assert!(w[0].1 <= w[1].0);
            }
        }
    }
}
