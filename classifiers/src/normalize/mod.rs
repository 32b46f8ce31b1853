//! Normalization: the views of a text that rules are matched against.
//!
//! Attackers hide instructions from naive matchers: full-width Latin from a
//! Chinese input method, Cyrillic look-alikes, zero-width characters between
//! letters, Unicode tag characters ("ASCII smuggling"), spaced-out letters
//! (`i g n o r e`), leetspeak (`1gn0r3`), and payloads wrapped in base64, hex,
//! URL-encoding or rot13. [`Normalizer::normalize`] turns one text into a set
//! of [`View`]s, in one linear pass plus one decoding pass:
//!
//! - the primary view: compatibility decomposition (NFKD, so full-width forms,
//!   ligatures and mathematical alphanumerics fold to ASCII) with combining
//!   marks dropped (so diacritics cannot split a word), lowercasing, folding of
//!   Cyrillic/Greek confusables onto Latin, removal of zero-width and bidi
//!   controls, decoding of tag characters, collapsed letter spacing and
//!   leetspeak digits inside words;
//! - one view per embedded base64 / hex (plain, `0x`-prefixed or
//!   space-separated bytes) / URL-encoded segment that decodes to
//!   plausible text, normalized the same way and decoded again recursively up
//!   to [`NormalizeConfig::max_depth`];
//! - a rot13 view of the primary text, and of each decoded view, when
//!   rot13-encoded trigger words appear in it (rot13 has no alphabet of its
//!   own to spot it by);
//! - a reversed view of each stretch under a right-to-left override
//!   (U+202E), which renders in the reverse of its logical order.
//!
//! Every view maps its spans back to byte spans of the *original* text on char
//! boundaries: matches in the primary view map precisely through an offset map
//! of runs; matches in a decoded view map to the whole encoded segment.
//!
//! Only matching ever sees these views; nothing here changes what is sent
//! upstream.

mod decode;

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use unicode_normalization::char::{decompose_compatible, is_combining_mark};

use crate::Span;

/// What the normalizer does. The defaults suit injection and keyword rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizeConfig {
    /// Fold leetspeak digits and symbols (`0→o`, `1→i`, `3→e`, `4→a`, `5→s`,
    /// `7→t`, `@→a`, `$→s`) when they touch a letter.
    pub leetspeak: bool,
    /// Join runs of three or more single characters separated by the same
    /// gap (one space, dot, dash, underscore or star, or two spaces:
    /// `i g n o r e` → `ignore`); a wider gap between such runs is a word
    /// break (`i.g.n.o.r.e a.l.l` → `ignore all`).
    pub collapse_spacing: bool,
    /// Fold Cyrillic and Greek look-alike letters onto Latin ones.
    pub fold_confusables: bool,
    /// Decode embedded base64, hex and URL-encoded segments, and rot13.
    pub decode: bool,
    /// How many levels of encoding are undone (base64 inside base64 inside
    /// base64 is 3). Depth does not raise the worst-case cost: every level
    /// decodes out of the same `max_decoded_bytes` and `max_views`, and each
    /// decoded byte is folded and searched once, so total work stays linear
    /// in the input plus the decoding budget.
    pub max_depth: u8,
    /// Shortest base64 or hex run, in bytes, worth decoding.
    pub min_encoded_len: usize,
    /// Most decoded bytes produced per normalized text, across all views;
    /// bounds the work an input full of encoded-looking runs can cause.
    pub max_decoded_bytes: usize,
    /// Most decoded views per normalized text.
    pub max_views: usize,
}

impl Default for NormalizeConfig {
    fn default() -> Self {
        NormalizeConfig {
            leetspeak: true,
            collapse_spacing: true,
            fold_confusables: true,
            decode: true,
            max_depth: 3,
            min_encoded_len: 16,
            max_decoded_bytes: 1 << 20,
            max_views: 32,
        }
    }
}

/// How a view was derived from the original text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ViewKind {
    /// The normalized original.
    Normalized,
    /// A decoded base64 segment.
    Base64,
    /// A decoded hex segment (plain hex digits or `\xNN` escapes).
    Hex,
    /// A decoded URL-encoded (`%NN`) segment.
    Url,
    /// The rot13 of the normalized original or of a decoded view.
    Rot13,
    /// A stretch after a right-to-left override (U+202E), which renders
    /// reversed, in the order a reader sees it.
    Reversed,
}

impl ViewKind {
    /// Stable lowercase name for evidence strings and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ViewKind::Normalized => "normalized",
            ViewKind::Base64 => "base64",
            ViewKind::Hex => "hex",
            ViewKind::Url => "url",
            ViewKind::Rot13 => "rot13",
            ViewKind::Reversed => "reversed",
        }
    }
}

/// Counts of what normalization changed: obfuscation is itself a signal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NormalizeStats {
    /// Zero-width, bidi-control and other invisible characters removed
    /// (variation selectors are removed but not counted: emoji use them).
    pub invisible: usize,
    /// Unicode tag characters (U+E0000..U+E007F), decoded to ASCII.
    pub tag_chars: usize,
    /// Cyrillic/Greek look-alikes folded onto Latin letters.
    pub confusables: usize,
    /// Leetspeak characters folded.
    pub leet: usize,
    /// Separators dropped by spacing collapse.
    pub collapsed: usize,
    /// Encoded segments decoded into views.
    pub decoded_segments: usize,
}

/// One normalized view of a text.
#[derive(Debug, Clone)]
pub struct View {
    kind: ViewKind,
    depth: u8,
    text: String,
    map: OffsetMap,
}

/// All views of one text; the first is always the primary normalized view.
#[derive(Debug, Clone)]
pub struct Normalized {
    views: Vec<View>,
    stats: NormalizeStats,
}

/// Turns texts into normalized views. Cheap to clone and share; two
/// normalizers that compare equal produce the same views.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalizer {
    config: NormalizeConfig,
}

/// How positions in a view map back to the original text.
#[derive(Debug, Clone)]
enum OffsetMap {
    /// The view is the original text, byte for byte.
    Identity,
    /// Sorted runs covering the view.
    Runs { runs: Vec<Run>, orig_len: usize },
    /// Every position maps to this span of the original (decoded segments).
    Whole(Span),
}

/// A stretch of the view and the original bytes it came from. An identity
/// run copies chars of equal UTF-8 length, so every char boundary inside it
/// corresponds; an atomic run is one original char (or group) that became
/// different bytes, and only its ends correspond.
#[derive(Debug, Clone, Copy)]
struct Run {
    norm: u32,
    orig: u32,
    orig_end: u32,
    identity: bool,
}

/// The output under construction: text plus runs.
struct Out {
    text: String,
    runs: Vec<Run>,
    /// The original offset at which the current identity run would continue.
    ident_next: Option<usize>,
    /// Whether the last char written is an ASCII letter (leetspeak context).
    last_alpha: bool,
}

// === impl Normalizer ===

impl Normalizer {
    /// A normalizer with the given settings.
    pub fn new(config: NormalizeConfig) -> Self {
        Normalizer { config }
    }

    /// The settings.
    pub fn config(&self) -> &NormalizeConfig {
        &self.config
    }

    /// Normalizes `text` into all its views.
    pub fn normalize(&self, text: &str) -> Normalized {
        let mut stats = NormalizeStats::default();
        let primary = self.primary_view(text, &mut stats);
        let mut views = vec![primary];
        if self.config.decode {
            let mut budget = self.config.max_decoded_bytes;
            self.decode_views(text, None, 0, &mut views, &mut stats, &mut budget);
            self.rot13_views(&mut views);
            // The fold counted any override as invisible: ordinary text
            // without one is never searched for it.
            if stats.invisible > 0 {
                self.reversed_views(text, &mut views, &mut budget);
            }
        }
        Normalized { views, stats }
    }

    /// The primary normalized form of a phrase or keyword, so that list
    /// entries are folded exactly like the text they are matched against.
    pub fn normalize_phrase(&self, phrase: &str) -> String {
        let mut stats = NormalizeStats::default();
        self.primary_view(phrase, &mut stats).text
    }

    fn primary_view(&self, text: &str, stats: &mut NormalizeStats) -> View {
        if u32::try_from(text.len()).is_err() {
            // Offsets are stored as u32; a text this large (over 4 GiB) is far
            // beyond any body cap, so it is matched as written.
            return View {
                kind: ViewKind::Normalized,
                depth: 0,
                text: text.to_owned(),
                map: OffsetMap::Identity,
            };
        }
        let (text_out, runs) = self.fold(text, stats);
        View {
            kind: ViewKind::Normalized,
            depth: 0,
            text: text_out,
            map: OffsetMap::Runs {
                runs,
                orig_len: text.len(),
            },
        }
    }

    /// The one pass over the text. Linear: every lookahead and lookbehind is
    /// bounded by a constant number of chars.
    fn fold(&self, text: &str, stats: &mut NormalizeStats) -> (String, Vec<Run>) {
        let cfg = &self.config;
        let bytes = text.as_bytes();
        let mut out = Out {
            text: String::with_capacity(text.len()),
            runs: Vec::with_capacity(8),
            ident_next: None,
            last_alpha: false,
        };
        let mut scratch = String::with_capacity(16);
        let mut prev1: Option<char> = None;
        let mut prev2: Option<char> = None;
        let mut spaced = false;
        let mut spacing = Spacing::default();
        let mut i = 0usize;
        // Where the last verbatim stretch stopped: the char there needs the
        // per-char path, and a stretch tried there again would stop at once.
        let mut stopped = usize::MAX;
        while i < bytes.len() {
            // Fastest path, outside spaced-out text: the longest stretch of
            // ASCII and Han characters that folding leaves as they are (bar
            // ASCII case) is found in one byte scan and copied in bulk.
            debug_assert!(
                spaced
                    || i != stopped
                    || verbatim_stretch(text, i, prev1, prev2, out.last_alpha, cfg) == i
            );
            if !spaced && i != stopped {
                let end = verbatim_stretch(text, i, prev1, prev2, out.last_alpha, cfg);
                stopped = end;
                if end > i {
                    let Some(run) = text.get(i..end) else {
                        break;
                    };
                    out.ident_str(i, run);
                    let mut tail = run.chars().rev();
                    match (tail.next(), tail.next()) {
                        (Some(last), Some(before)) => {
                            prev1 = Some(last);
                            prev2 = Some(before);
                        }
                        (Some(last), None) => {
                            prev2 = prev1;
                            prev1 = Some(last);
                        }
                        _ => {}
                    }
                    i = end;
                    continue;
                }
            }
            // Fast path: a run of ASCII bytes that need no context (letters,
            // most punctuation) is copied and lowercased in bulk.
            let run_end = plain_ascii_run(bytes, i);
            if run_end > i {
                let Some(run) = text.get(i..run_end) else {
                    break;
                };
                if cfg.collapse_spacing && spaced && breaks_spacing(run, prev1) {
                    spaced = false;
                }
                out.ident_str(i, run);
                let mut tail = run.chars().rev();
                match (tail.next(), tail.next()) {
                    (Some(last), Some(before)) => {
                        prev1 = Some(last);
                        prev2 = Some(before);
                    }
                    (Some(last), None) => {
                        prev2 = prev1;
                        prev1 = Some(last);
                    }
                    _ => {}
                }
                i = run_end;
                continue;
            }
            let Some(c) = text.get(i..).and_then(|s| s.chars().next()) else {
                break;
            };
            let len = c.len_utf8();
            let next = i.saturating_add(len);
            if cfg.collapse_spacing {
                if is_token(c) && prev1.is_some_and(is_token) {
                    spaced = false;
                }
                if is_separator(c) && prev1.is_some_and(is_token) && prev2.is_none_or(is_separator)
                {
                    if let Some((end, p2, p1)) = spacing_step(
                        text,
                        i,
                        (prev1, prev2),
                        (&mut spaced, &mut spacing),
                        &mut out,
                        stats,
                    ) {
                        prev2 = p2;
                        prev1 = Some(p1);
                        i = end;
                        continue;
                    }
                }
            }
            let start = i;
            i = next;
            // From here on `i` is the current char's start again.
            let i = start;
            prev2 = prev1;
            prev1 = Some(c);
            if c.is_ascii() {
                let mut o = c.to_ascii_lowercase();
                if cfg.leetspeak {
                    if let Some(l) = leet(o) {
                        let next_alpha = bytes.get(next).is_some_and(u8::is_ascii_alphabetic);
                        if out.last_alpha || next_alpha {
                            o = l;
                            stats.leet = stats.leet.saturating_add(1);
                        }
                    }
                }
                out.ident(i, o);
                continue;
            }
            let cp = u32::from(c);
            if is_invisible(cp) {
                if !is_variation_selector(cp) {
                    stats.invisible = stats.invisible.saturating_add(1);
                }
                continue;
            }
            if (0xE0000..=0xE007F).contains(&cp) {
                stats.tag_chars = stats.tag_chars.saturating_add(1);
                scratch.clear();
                if let Some(a) = cp
                    .checked_sub(0xE0000)
                    .and_then(char::from_u32)
                    .filter(|a| a.is_ascii_graphic() || *a == ' ')
                {
                    scratch.push(a.to_ascii_lowercase());
                }
                out.atomic(i, next, &scratch);
                continue;
            }
            if is_cjk_or_hangul(cp) {
                out.ident(i, c);
                continue;
            }
            scratch.clear();
            let mut folded = 0usize;
            let fold_conf = cfg.fold_confusables;
            decompose_compatible(c, |d| {
                if is_combining_mark(d) {
                    return;
                }
                for l in d.to_lowercase() {
                    let f = if fold_conf { confusable(l) } else { None };
                    match f {
                        Some(f) => {
                            folded = folded.saturating_add(1);
                            scratch.push(f);
                        }
                        None => scratch.push(l),
                    }
                }
            });
            stats.confusables = stats.confusables.saturating_add(folded);
            let mut it = scratch.chars();
            match (it.next(), it.next()) {
                (Some(one), None) if one.len_utf8() == len => out.ident(i, one),
                _ => out.atomic(i, next, &scratch),
            }
        }
        (out.text, out.runs)
    }

    fn decode_views(
        &self,
        text: &str,
        origin: Option<Span>,
        depth: u8,
        views: &mut Vec<View>,
        stats: &mut NormalizeStats,
        budget: &mut usize,
    ) {
        if depth >= self.config.max_depth {
            return;
        }
        let found = decode::find_encoded(text, self.config.min_encoded_len, budget);
        for enc in found {
            if views.len() > self.config.max_views {
                return;
            }
            // Nested segments all point at the outermost encoded span: that is
            // the text the client actually sent.
            let span = origin.unwrap_or(enc.span);
            stats.decoded_segments = stats.decoded_segments.saturating_add(1);
            let mut inner = NormalizeStats::default();
            let (t, _) = self.fold(&enc.text, &mut inner);
            let child_depth = depth.saturating_add(1);
            views.push(View {
                kind: enc.kind,
                depth: child_depth,
                text: t,
                map: OffsetMap::Whole(span),
            });
            self.decode_views(&enc.text, Some(span), child_depth, views, stats, budget);
        }
    }

    /// Rot13 views of the primary view and of each decoded view that shows
    /// rot13-encoded trigger words (base64 of rot13 is a common wrapping).
    /// Each costs at most its view's length, so together they cost at most
    /// the text plus the decoding budget.
    fn rot13_views(&self, views: &mut Vec<View>) {
        let Some(ac) = rot13_canaries() else {
            return;
        };
        let count = views.len();
        for k in 0..count {
            let Some(v) = views.get(k) else {
                break;
            };
            // Decoded views count against `max_views` and `max_depth`; the
            // primary's rot13 view is always allowed.
            let decoded = k > 0;
            if decoded && (views.len() > self.config.max_views || v.depth >= self.config.max_depth)
            {
                continue;
            }
            if !ac.is_match(v.text.as_str()) {
                continue;
            }
            let view = View {
                kind: ViewKind::Rot13,
                depth: v.depth.saturating_add(1),
                text: v.text.chars().map(rot13).collect(),
                map: v.map.clone(),
            };
            views.push(view);
        }
    }

    /// One view per stretch of `text` under a right-to-left override
    /// (U+202E up to the pop U+202C, an isolate's end U+2069, a line break,
    /// another override or the end): the stretch reversed and folded, which
    /// is what a reader sees while the model reads the logical order. Only
    /// called when the fold removed an invisible char; the stretches do not
    /// overlap, so the cost is linear, and they draw on the decoding budget.
    fn reversed_views(&self, text: &str, views: &mut Vec<View>, budget: &mut usize) {
        const RLO: char = '\u{202E}';
        let mut from = 0usize;
        while let Some(at) = text.get(from..).and_then(|t| t.find(RLO)) {
            let start = from.saturating_add(at);
            let body = start.saturating_add(RLO.len_utf8());
            let end = text
                .get(body..)
                .and_then(|t| t.find(['\u{202C}', '\u{2069}', '\n', '\r', RLO]))
                .map_or(text.len(), |k| body.saturating_add(k));
            from = end;
            if views.len() > self.config.max_views || *budget == 0 {
                return;
            }
            // A stretch longer than what is left of the budget is cut to it.
            let mut cut = end.min(body.saturating_add(*budget));
            while !text.is_char_boundary(cut) {
                cut = cut.saturating_sub(1);
            }
            let Some(stretch) = text.get(body..cut) else {
                continue;
            };
            *budget = budget.saturating_sub(stretch.len());
            let reversed: String = stretch.chars().rev().collect();
            let mut inner = NormalizeStats::default();
            let (t, _) = self.fold(&reversed, &mut inner);
            if t.trim().is_empty() {
                continue;
            }
            views.push(View {
                kind: ViewKind::Reversed,
                depth: 1,
                text: t,
                map: OffsetMap::Whole(Span::new(start, end)),
            });
        }
    }
}

// === impl Normalized ===

impl Normalized {
    /// All views, primary first.
    pub fn views(&self) -> &[View] {
        &self.views
    }

    /// The primary normalized view.
    pub fn primary(&self) -> Option<&View> {
        self.views.first()
    }

    /// What normalization changed.
    pub fn stats(&self) -> &NormalizeStats {
        &self.stats
    }
}

// === impl View ===

impl View {
    /// How this view was derived.
    pub fn kind(&self) -> ViewKind {
        self.kind
    }

    /// Decoding depth: 0 for the primary view.
    pub fn depth(&self) -> u8 {
        self.depth
    }

    /// The normalized text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the view's spans map to one whole encoded segment rather than
    /// precisely.
    pub fn is_decoded(&self) -> bool {
        matches!(self.map, OffsetMap::Whole(_))
    }

    /// Maps a byte span of this view (on its char boundaries) to a byte span
    /// of the original text, on the original's char boundaries.
    pub fn to_original(&self, span: Span) -> Span {
        match &self.map {
            OffsetMap::Identity => span,
            OffsetMap::Whole(s) => *s,
            OffsetMap::Runs { runs, orig_len } => {
                let start = map_start(runs, span.start).min(*orig_len);
                let end = match span.end.checked_sub(1) {
                    Some(last) if span.end > span.start => map_end(runs, last, span.end),
                    _ => start,
                };
                Span::new(start, end.clamp(start, *orig_len))
            }
        }
    }
}

// === impl Out ===

impl Out {
    /// Writes `c`, which stands for the original char at `orig` of the same
    /// UTF-8 length.
    fn ident(&mut self, orig: usize, c: char) {
        if self.ident_next != Some(orig) {
            self.runs.push(Run {
                norm: to_u32(self.text.len()),
                orig: to_u32(orig),
                orig_end: to_u32(orig),
                identity: true,
            });
        }
        self.text.push(c);
        self.ident_next = Some(orig.saturating_add(c.len_utf8()));
        self.last_alpha = c.is_ascii_alphabetic();
    }

    /// Writes `s` with its ASCII lowercased, which stands for the same bytes
    /// at `orig`: ASCII runs, and chars that fold to themselves.
    fn ident_str(&mut self, orig: usize, s: &str) {
        if self.ident_next != Some(orig) {
            self.runs.push(Run {
                norm: to_u32(self.text.len()),
                orig: to_u32(orig),
                orig_end: to_u32(orig),
                identity: true,
            });
        }
        let start = self.text.len();
        self.text.push_str(s);
        if let Some(tail) = self.text.get_mut(start..) {
            tail.make_ascii_lowercase();
        }
        self.ident_next = Some(orig.saturating_add(s.len()));
        self.last_alpha = s
            .bytes()
            .next_back()
            .is_some_and(|b| b.is_ascii_alphabetic());
    }

    /// Writes `s` (possibly empty) for the original bytes `start..end`.
    fn atomic(&mut self, start: usize, end: usize, s: &str) {
        self.ident_next = None;
        if s.is_empty() {
            return;
        }
        self.runs.push(Run {
            norm: to_u32(self.text.len()),
            orig: to_u32(start),
            orig_end: to_u32(end),
            identity: false,
        });
        self.text.push_str(s);
        self.last_alpha = s
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphabetic());
    }
}

fn to_u32(x: usize) -> u32 {
    // Callers check the text fits in u32 before folding it.
    u32::try_from(x).unwrap_or(u32::MAX)
}

fn run_at(runs: &[Run], pos: usize) -> Option<&Run> {
    let idx = runs.partition_point(|r| r.norm as usize <= pos);
    idx.checked_sub(1).and_then(|i| runs.get(i))
}

fn map_start(runs: &[Run], pos: usize) -> usize {
    match run_at(runs, pos) {
        Some(r) if r.identity => {
            (r.orig as usize).saturating_add(pos.saturating_sub(r.norm as usize))
        }
        Some(r) => r.orig as usize,
        None => 0,
    }
}

fn map_end(runs: &[Run], last: usize, end: usize) -> usize {
    match run_at(runs, last) {
        Some(r) if r.identity => {
            (r.orig as usize).saturating_add(end.saturating_sub(r.norm as usize))
        }
        Some(r) => r.orig_end as usize,
        None => 0,
    }
}

/// ASCII bytes whose folding needs no context: everything but separators,
/// leetspeak candidates and non-ASCII.
const fn is_plain_ascii(b: u8) -> bool {
    b.is_ascii()
        && !matches!(
            b,
            b' ' | b'.'
                | b'-'
                | b'_'
                | b'*'
                | b'0'
                | b'1'
                | b'3'
                | b'4'
                | b'5'
                | b'7'
                | b'@'
                | b'$'
        )
}

/// End of the run of plain ASCII bytes starting at `i` (`i` when none).
fn plain_ascii_run(bytes: &[u8], i: usize) -> usize {
    let mut j = i;
    while bytes.get(j).is_some_and(|b| is_plain_ascii(*b)) {
        j = j.saturating_add(1);
    }
    j
}

const ALPHA: u8 = 1;
const TOKEN: u8 = 2;
const SEP: u8 = 4;
const LEET: u8 = 8;

/// Per ASCII byte: letter, token (letter or digit), separator, leetspeak.
static ASCII_CLASS: [u8; 128] = ascii_classes();

#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)] // const fn, index < 128
const fn ascii_classes() -> [u8; 128] {
    let mut t = [0u8; 128];
    let mut i = 0usize;
    while i < 128 {
        let b = i as u8;
        let mut c = 0u8;
        if b.is_ascii_alphabetic() {
            c |= ALPHA | TOKEN;
        }
        if b.is_ascii_digit() {
            c |= TOKEN;
        }
        if matches!(b, b' ' | b'.' | b'-' | b'_' | b'*') {
            c |= SEP;
        }
        if matches!(b, b'0' | b'1' | b'3' | b'4' | b'5' | b'7' | b'@' | b'$') {
            c |= LEET;
        }
        t[i] = c;
        i += 1;
    }
    t
}

/// End of the stretch starting at `i` that folding copies verbatim (ASCII
/// lowercased) when not inside spaced-out text: ASCII letters and
/// punctuation, separators that cannot start a collapse (the char before
/// them is not a lone token, or a word follows them: [`word_follows`]),
/// leetspeak characters that touch no letter, and Han ideographs. Stops
/// before anything that needs the per-char path, so the result is exactly
/// what that path would produce.
///
/// Eight ASCII bytes at a time where it can ([`ascii_block`]): prose is
/// mostly ASCII, and a byte at a time the scan mispredicted a branch at
/// nearly every word end. Anything else (non-ASCII, the last few bytes)
/// takes the exact per-char step, one char or plain run, and the block scan
/// resumes after it.
fn verbatim_stretch(
    text: &str,
    i: usize,
    prev1: Option<char>,
    prev2: Option<char>,
    last_alpha: bool,
    cfg: &NormalizeConfig,
) -> usize {
    let bytes = text.as_bytes();
    let mut st = StretchState {
        p1_tok: prev1.is_some_and(is_token),
        p1_none_or_sep: prev1.is_none_or(is_separator),
        p2_none_or_sep: prev2.is_none_or(is_separator),
        written_alpha: last_alpha,
    };
    let mut j = i;
    loop {
        let block = bytes
            .get(j..j.saturating_add(8))
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes);
        if let Some(w) = block.filter(|w| w & HI == 0) {
            let after = bytes.get(j.saturating_add(8)..).unwrap_or(&[]);
            match ascii_block(w, &mut st, after, cfg) {
                Some(k) => return j.saturating_add(k),
                None => {
                    j = j.saturating_add(8);
                    continue;
                }
            }
        }
        match stretch_step(text, j, &mut st, cfg) {
            Some(next) => j = next,
            None => return j,
        }
    }
}

/// What [`verbatim_stretch`] knows of the last two chars: whether the last
/// is a token, whether each is a separator (or absent), and whether the last
/// char written is an ASCII letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StretchState {
    p1_tok: bool,
    p1_none_or_sep: bool,
    p2_none_or_sep: bool,
    written_alpha: bool,
}

/// One step of [`verbatim_stretch`] at `j`, a byte at a time: a run of plain
/// ASCII or one char. Where it ends, or `None` when the char at `j` needs the
/// per-char path (or the text ends).
fn stretch_step(
    text: &str,
    j: usize,
    st: &mut StretchState,
    cfg: &NormalizeConfig,
) -> Option<usize> {
    let bytes = text.as_bytes();
    let &b = bytes.get(j)?;
    // Bulk: ASCII that is neither separator nor leetspeak needs no check;
    // only its last byte matters to what follows.
    let mut end = j;
    while bytes.get(end).is_some_and(|b| {
        ASCII_CLASS
            .get(usize::from(*b))
            .is_some_and(|c| c & (SEP | LEET) == 0)
    }) {
        end = end.saturating_add(1);
    }
    if end > j {
        let last = end
            .checked_sub(1)
            .and_then(|k| bytes.get(k))
            .and_then(|b| ASCII_CLASS.get(usize::from(*b)))
            .copied()
            .unwrap_or(0);
        st.p2_none_or_sep = if end.saturating_sub(j) >= 2 {
            false
        } else {
            st.p1_none_or_sep
        };
        st.p1_tok = last & TOKEN != 0;
        st.p1_none_or_sep = false;
        st.written_alpha = last & ALPHA != 0;
        return Some(end);
    }
    let (tok, alpha, sep, len) = if b < 0x80 {
        let class = ASCII_CLASS.get(usize::from(b)).copied().unwrap_or(0);
        let alpha = class & ALPHA != 0;
        let sep = class & SEP != 0;
        if sep && cfg.collapse_spacing && st.p1_tok && st.p2_none_or_sep && !word_follows(bytes, j)
        {
            return None;
        }
        if class & LEET != 0 && cfg.leetspeak {
            let next_alpha = bytes
                .get(j.saturating_add(1))
                .is_some_and(u8::is_ascii_alphabetic);
            if st.written_alpha || next_alpha {
                return None;
            }
        }
        (class & TOKEN != 0, alpha, sep, 1usize)
    } else if (0xE4..=0xE9).contains(&b) {
        // A run of Han ideographs, which fold to themselves: only the last
        // two matter to what follows, and all are tokens.
        let end = han_run(bytes, j);
        if end == j {
            return None;
        }
        st.p2_none_or_sep = if end.saturating_sub(j) >= 6 {
            false
        } else {
            st.p1_none_or_sep
        };
        st.p1_tok = true;
        st.p1_none_or_sep = false;
        st.written_alpha = false;
        return Some(end);
    } else {
        return None;
    };
    st.p2_none_or_sep = st.p1_none_or_sep;
    st.p1_tok = tok;
    st.p1_none_or_sep = sep;
    st.written_alpha = alpha;
    Some(j.saturating_add(len))
}

/// End of the run of CJK Unified Ideographs (U+4E00..=U+9FFF, three UTF-8
/// bytes each, lead bytes E4..=E9) that starts at `j` of the UTF-8 text
/// `bytes` (`j` when none).
fn han_run(bytes: &[u8], j: usize) -> usize {
    let mut k = j;
    while let Some(&[b0, b1, b2]) = bytes.get(k..k.saturating_add(3)) {
        let cp = (u32::from(b0 & 0x0F) << 12) | (u32::from(b1 & 0x3F) << 6) | u32::from(b2 & 0x3F);
        if !(0xE4..=0xE9).contains(&b0) || !(0x4E00..=0x9FFF).contains(&cp) {
            break;
        }
        k = k.saturating_add(3);
    }
    k
}

/// Bytes of a `u64` block, little-endian: byte `k` is bits `8k..8k+8`, so a
/// shift left by 8 moves each byte's flag to the next byte.
const LO: u64 = 0x0101_0101_0101_0101;
/// The high bit of every byte: the flag bit of the masks below.
const HI: u64 = 0x8080_8080_8080_8080;
const L7: u64 = 0x7F7F_7F7F_7F7F_7F7F;

/// For a block of ASCII bytes (high bits clear): the high bit set in each
/// byte equal to `c` (an ASCII byte). Exact: no sum carries into the next
/// byte, since each byte of `x + L7` is at most 0x7F + 0x7F.
fn eq_mask(w: u64, c: u8) -> u64 {
    let x = w ^ LO.wrapping_mul(u64::from(c));
    !x.wrapping_add(L7) & HI
}

/// For a block of ASCII bytes: the high bit set in each byte `>= lo`
/// (`1 <= lo <= 0x80`). Exact: each byte of the sum is at most 0x7F + 0x7F.
fn ge_mask(w: u64, lo: u8) -> u64 {
    w.wrapping_add(LO.wrapping_mul(u64::from(0x80u8.wrapping_sub(lo)))) & HI
}

/// The flag (0x80) for byte `k` of a block when `on`.
fn flag(on: bool, k: u32) -> u64 {
    u64::from(on).wrapping_shl(k.wrapping_mul(8).wrapping_add(7))
}

/// [`verbatim_stretch`] over eight ASCII bytes `w` (high bits clear), with
/// exactly the per-byte rules: the stretch stops at a separator after a lone
/// token (one whose char before is a separator or absent) when collapsing
/// spacing, unless a word of two ASCII alphanumerics follows it (see
/// [`word_follows`]), and at a leetspeak char after or before a letter;
/// `after` is the text after the block. Returns the offset of the first stop
/// in the block, or `None` after carrying the state over all eight bytes:
/// after ASCII, it is a function of the last two.
fn ascii_block(
    w: u64,
    st: &mut StretchState,
    after: &[u8],
    cfg: &NormalizeConfig,
) -> Option<usize> {
    // Most blocks of prose hold neither a lone token between separators nor
    // a leetspeak char: cheap supersets of both (any byte in 0x20..=0x2F or
    // `_` for a separator, a digit below 8, `@` or `$` for leetspeak; not
    // `?`, `:` or `8`, common in prompts) clear them, and only then is the
    // state taken from the last two bytes.
    // A block that fails them gets the exact masks below.
    let sepish = (ge_mask(w, 0x20) & !ge_mask(w, 0x30)) | eq_mask(w, b'_');
    let lone = sepish
        & ((sepish ^ HI).wrapping_shl(8) | flag(st.p1_tok, 0))
        & (sepish.wrapping_shl(16) | flag(st.p2_none_or_sep, 0) | flag(st.p1_none_or_sep, 1));
    let leetish = (ge_mask(w, 0x30) & !ge_mask(w, 0x38)) | eq_mask(w, b'@') | eq_mask(w, b'$');
    if (lone == 0 || !cfg.collapse_spacing) && (leetish == 0 || !cfg.leetspeak) {
        let class = |k: u32| {
            let b = w.wrapping_shr(k.wrapping_mul(8)) & 0x7F;
            ASCII_CLASS
                .get(usize::try_from(b).unwrap_or(0))
                .copied()
                .unwrap_or(0)
        };
        let (last, before) = (class(7), class(6));
        st.p1_tok = last & TOKEN != 0;
        st.p1_none_or_sep = last & SEP != 0;
        st.p2_none_or_sep = before & SEP != 0;
        st.written_alpha = last & ALPHA != 0;
        return None;
    }
    exact_ascii_block(w, st, after, cfg)
}

/// [`ascii_block`] with exact masks.
fn exact_ascii_block(
    w: u64,
    st: &mut StretchState,
    after: &[u8],
    cfg: &NormalizeConfig,
) -> Option<usize> {
    let next = |k: usize, f: fn(&u8) -> bool| after.get(k).is_some_and(f);
    let lower = w | LO.wrapping_mul(0x20);
    // b'{' is b'z' + 1, b':' is b'9' + 1.
    let alpha = ge_mask(lower, b'a') & !ge_mask(lower, b'{');
    let digit = ge_mask(w, b'0') & !ge_mask(w, b':');
    let tok = alpha | digit;
    let sep = eq_mask(w, b' ')
        | eq_mask(w, b'.')
        | eq_mask(w, b'-')
        | eq_mask(w, b'_')
        | eq_mask(w, b'*');
    let mut stop = 0u64;
    if cfg.collapse_spacing {
        let prev_tok = tok.wrapping_shl(8) | flag(st.p1_tok, 0);
        let prev2_sep =
            sep.wrapping_shl(16) | flag(st.p2_none_or_sep, 0) | flag(st.p1_none_or_sep, 1);
        // A word (two ASCII alphanumerics) right after the separator.
        let word_next = (tok.wrapping_shr(8) | flag(next(0, u8::is_ascii_alphanumeric), 7))
            & (tok.wrapping_shr(16)
                | flag(next(0, u8::is_ascii_alphanumeric), 6)
                | flag(next(1, u8::is_ascii_alphanumeric), 7));
        stop |= sep & prev_tok & prev2_sep & !word_next;
    }
    if cfg.leetspeak {
        // Leet digits are 0, 1, 3, 4, 5 and 7.
        let not_leet_digit =
            eq_mask(w, b'2') | eq_mask(w, b'6') | eq_mask(w, b'8') | eq_mask(w, b'9');
        let leet = (digit & !not_leet_digit) | eq_mask(w, b'@') | eq_mask(w, b'$');
        let near_alpha = alpha.wrapping_shl(8)
            | flag(st.written_alpha, 0)
            | alpha.wrapping_shr(8)
            | flag(next(0, u8::is_ascii_alphabetic), 7);
        stop |= leet & near_alpha;
    }
    if stop != 0 {
        return usize::try_from(stop.trailing_zeros().wrapping_shr(3)).ok();
    }
    let last = |m: u64, k: u32| m.wrapping_shr(k.wrapping_mul(8).wrapping_add(7)) & 1 != 0;
    st.p1_tok = last(tok, 7);
    st.p1_none_or_sep = last(sep, 7);
    st.p2_none_or_sep = last(sep, 6);
    st.written_alpha = last(alpha, 7);
    None
}

/// The byte-at-a-time [`verbatim_stretch`], kept as the reference that the
/// block scan is tested against.
#[cfg(test)]
fn verbatim_stretch_bytewise(
    text: &str,
    i: usize,
    prev1: Option<char>,
    prev2: Option<char>,
    last_alpha: bool,
    cfg: &NormalizeConfig,
) -> usize {
    let bytes = text.as_bytes();
    // Facts about the last two chars seen: whether the last is a token, and
    // whether each is a separator (or absent).
    let mut p1_tok = prev1.is_some_and(is_token);
    let mut p1_none_or_sep = prev1.is_none_or(is_separator);
    let mut p2_none_or_sep = prev2.is_none_or(is_separator);
    let mut written_alpha = last_alpha;
    let mut j = i;
    while let Some(&b) = bytes.get(j) {
        // Bulk: ASCII that is neither separator nor leetspeak needs no check;
        // only its last byte matters to what follows.
        let plain_start = j;
        while bytes.get(j).is_some_and(|b| {
            ASCII_CLASS
                .get(usize::from(*b))
                .is_some_and(|c| c & (SEP | LEET) == 0)
        }) {
            j = j.saturating_add(1);
        }
        if j > plain_start {
            let last = j
                .checked_sub(1)
                .and_then(|k| bytes.get(k))
                .and_then(|b| ASCII_CLASS.get(usize::from(*b)))
                .copied()
                .unwrap_or(0);
            p2_none_or_sep = if j.saturating_sub(plain_start) >= 2 {
                false
            } else {
                p1_none_or_sep
            };
            p1_tok = last & TOKEN != 0;
            p1_none_or_sep = false;
            written_alpha = last & ALPHA != 0;
            continue;
        }
        let (tok, alpha, sep, len) = if b < 0x80 {
            let class = ASCII_CLASS.get(usize::from(b)).copied().unwrap_or(0);
            let alpha = class & ALPHA != 0;
            let sep = class & SEP != 0;
            if sep && cfg.collapse_spacing && p1_tok && p2_none_or_sep && !word_follows(bytes, j) {
                break;
            }
            if class & LEET != 0 && cfg.leetspeak {
                let next_alpha = bytes
                    .get(j.saturating_add(1))
                    .is_some_and(u8::is_ascii_alphabetic);
                if written_alpha || next_alpha {
                    break;
                }
            }
            (class & TOKEN != 0, alpha, sep, 1usize)
        } else if (0xE4..=0xE9).contains(&b) {
            // U+4E00..=U+9FFF (CJK Unified Ideographs) encode as E4..E9 lead bytes.
            let cp = text
                .get(j..)
                .and_then(|s| s.chars().next())
                .map_or(0, u32::from);
            if !(0x4E00..=0x9FFF).contains(&cp) {
                break;
            }
            (true, false, false, 3usize)
        } else {
            break;
        };
        p2_none_or_sep = p1_none_or_sep;
        p1_tok = tok;
        p1_none_or_sep = sep;
        written_alpha = alpha;
        j = j.saturating_add(len);
    }
    j
}

/// Whether a plain run contains a multi-char token (two alphanumerics in a
/// row, counting the char before the run), which ends spaced-out text.
fn breaks_spacing(run: &str, prev1: Option<char>) -> bool {
    let mut prev_tok = prev1.is_some_and(is_token);
    for b in run.bytes() {
        let tok = b.is_ascii_alphanumeric();
        if tok && prev_tok {
            return true;
        }
        prev_tok = tok;
    }
    false
}

/// Chars that can make up a spaced-out word.
fn is_token(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric()
    } else {
        // Han ideographs are letters, and the punctuation that Chinese and
        // typographic English put between them is not: skip the table
        // lookup (a binary search per call) for both.
        let cp = u32::from(c);
        (0x4E00..=0x9FFF).contains(&cp) || (!is_common_punctuation(cp) && c.is_alphanumeric())
    }
}

/// General punctuation (curly quotes, dashes, ellipsis), CJK punctuation and
/// full-width ASCII punctuation: none of it is alphanumeric (the test
/// `common_punctuation_is_not_alphanumeric` checks every code point).
fn is_common_punctuation(cp: u32) -> bool {
    matches!(
        cp,
        0x2000..=0x206F
            | 0x3000..=0x3004
            | 0x3008..=0x3020
            | 0xFF01..=0xFF0F
            | 0xFF1A..=0xFF20
            | 0xFF3B..=0xFF40
            | 0xFF5B..=0xFF65
    )
}

/// Separators that spaced-out words use.
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '.' | '-' | '_' | '*')
}

/// Whether the two bytes after the separator at `pos` are ASCII
/// alphanumerics: then the separator does not start spaced-out text
/// (`a word`), whatever came before it. [`spacing_gap`] rejects this case
/// first, so the verbatim stretch need not stop there: after the articles
/// and pronouns of prose (`a`, `I`), stopping cost more than the rest of
/// the fold.
fn word_follows(bytes: &[u8], pos: usize) -> bool {
    let at = |k: usize| {
        bytes
            .get(pos.saturating_add(k))
            .is_some_and(u8::is_ascii_alphanumeric)
    };
    at(1) && at(2)
}

fn char_at(text: &str, pos: usize) -> Option<char> {
    text.get(pos..).and_then(|s| s.chars().next())
}

/// The gaps of spaced-out text (`i g n o r e  a l l`), read only while
/// inside it (the fold's `spaced` flag; entering resets them).
///
/// Spaced-out words are joined by dropping the gap between their letters,
/// but a wider gap between two groups (a space where the letters are joined
/// by dots or dashes, or more spaces than between letters) is a word break:
/// it becomes one space, so `I.g.n.o.r.e a.l.l` reads `ignore all` and
/// word-bounded rules still see two words.
#[derive(Debug, Clone, Copy, Default)]
struct Spacing {
    /// The gap between the letters of the current word; `None` right after a
    /// word break, until the next word's first gap sets it (each word may use
    /// its own separator: `i-g-n-o-r-e a_l_l`).
    unit: Option<Gap>,
    /// The gap of the last word break.
    brk: Option<Gap>,
}

/// One to three separator bytes between two single chars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Gap {
    bytes: [u8; 3],
    len: u8,
}

/// What to do with a gap inside spaced-out text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GapAction {
    /// Between letters of one word: dropped.
    Drop,
    /// Between words: one space.
    Break,
}

// === impl Gap ===

impl Gap {
    /// The gap starting at byte `pos`: its separators, when there are one to
    /// three of them (a longer run is layout, not spacing).
    fn at(bytes: &[u8], pos: usize) -> Option<Gap> {
        let mut g = Gap {
            bytes: [0; 3],
            len: 0,
        };
        let mut j = pos;
        while let Some(&b) = bytes.get(j).filter(|b| is_separator(char::from(**b))) {
            *g.bytes.get_mut(usize::from(g.len))? = b;
            g.len = g.len.saturating_add(1);
            j = j.saturating_add(1);
        }
        (g.len > 0).then_some(g)
    }

    fn seps(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// A gap that can join the letters of a word: one separator, or two
    /// spaces.
    fn joins_letters(&self) -> bool {
        self.len == 1 || self.seps() == b"  "
    }

    /// Whether this gap separates words spaced out with `unit`: it has a
    /// space where the unit has none, or repeats the unit's separator more
    /// often.
    fn wider_than(&self, unit: Gap) -> bool {
        let has_space = |g: &Gap| g.seps().contains(&b' ');
        if has_space(self) && !has_space(&unit) {
            return true;
        }
        let u = unit.bytes.first().copied();
        self.len > unit.len && self.seps().iter().all(|b| Some(*b) == u)
    }

    /// The last separator, and the one before it if the gap has two or more.
    fn last_two(&self) -> (Option<u8>, u8) {
        let s = self.seps();
        let last = s.last().copied().unwrap_or(b' ');
        let before = s.len().checked_sub(2).and_then(|k| s.get(k)).copied();
        (before, last)
    }
}

/// The spacing step for the separator at byte `i`, after a token: when the
/// gap there joins or breaks spaced-out words, writes it (nothing, or one
/// space) and returns where it ends and the new last two chars. Out of line:
/// prose seldom gets here, and inlined into the fold it slowed the hot loop.
#[inline(never)]
fn spacing_step(
    text: &str,
    i: usize,
    (prev1, prev2): (Option<char>, Option<char>),
    (spaced, spacing): (&mut bool, &mut Spacing),
    out: &mut Out,
    stats: &mut NormalizeStats,
) -> Option<(usize, Option<char>, char)> {
    let (gap, action) = spacing_gap(text, i, prev1, prev2, *spaced, spacing)?;
    let gap_end = i.saturating_add(usize::from(gap.len));
    let dropped = match action {
        GapAction::Drop => {
            if !*spaced {
                *spaced = true;
                spacing.brk = None;
            }
            spacing.unit = Some(gap);
            gap.len
        }
        GapAction::Break => {
            spacing.unit = None;
            spacing.brk = Some(gap);
            if text.as_bytes().get(i) == Some(&b' ') {
                out.ident(i, ' ');
            } else {
                out.atomic(i, gap_end, " ");
            }
            gap.len.saturating_sub(1)
        }
    };
    stats.collapsed = stats.collapsed.saturating_add(usize::from(dropped));
    let (before, last) = gap.last_two();
    Some((gap_end, before.map(char::from).or(prev1), char::from(last)))
}

/// What to do with the gap starting at byte `pos` (a separator), given the
/// two chars before it: `None` when it is not inside spaced-out text and
/// stays as written. Spaced-out text is entered only when three single
/// chars in a row are joined by the same gap, so `a b` and `e.g.` stay
/// intact. Looks at most a dozen bytes ahead.
fn spacing_gap(
    text: &str,
    pos: usize,
    prev1: Option<char>,
    prev2: Option<char>,
    spaced: bool,
    sp: &Spacing,
) -> Option<(Gap, GapAction)> {
    let t1_single = prev1.is_some_and(is_token) && prev2.is_none_or(is_separator);
    if !t1_single {
        return None;
    }
    let bytes = text.as_bytes();
    // Prose (`a word`): one separator, then a token of two ASCII
    // alphanumerics, is never spacing; rejected without measuring the gap.
    if word_follows(bytes, pos) {
        return None;
    }
    let gap = Gap::at(bytes, pos)?;
    let t2_pos = pos.saturating_add(usize::from(gap.len));
    let t2 = char_at(text, t2_pos).filter(|c| is_token(*c))?;
    let after_pos = t2_pos.saturating_add(t2.len_utf8());
    if !char_at(text, after_pos).is_none_or(is_separator) {
        return None;
    }
    if spaced {
        if sp.unit == Some(gap) {
            return Some((gap, GapAction::Drop));
        }
        if sp.brk == Some(gap) {
            return Some((gap, GapAction::Break));
        }
        return match sp.unit {
            Some(unit) if gap.wider_than(unit) => Some((gap, GapAction::Break)),
            None if gap.joins_letters() => Some((gap, GapAction::Drop)),
            _ => None,
        };
    }
    if !gap.joins_letters() || Gap::at(bytes, after_pos) != Some(gap) {
        return None;
    }
    let t3_pos = after_pos.saturating_add(usize::from(gap.len));
    let t3 = char_at(text, t3_pos).filter(|c| is_token(*c))?;
    char_at(text, t3_pos.saturating_add(t3.len_utf8()))
        .is_none_or(is_separator)
        .then_some((gap, GapAction::Drop))
}

fn leet(c: char) -> Option<char> {
    Some(match c {
        '0' => 'o',
        '1' => 'i',
        '3' => 'e',
        '4' => 'a',
        '5' => 's',
        '7' => 't',
        '@' => 'a',
        '$' => 's',
        _ => return None,
    })
}

/// Zero-width, bidi controls, soft hyphen, invisible operators, variation
/// selectors: none of them changes what a reader sees in a word.
fn is_invisible(cp: u32) -> bool {
    matches!(cp,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3 | 0xE0100..=0xE01EF)
}

/// Invisible characters with everyday uses that are removed but not counted
/// as obfuscation: variation selectors, and the zero-width (non-)joiners of
/// emoji sequences and Persian/Indic text.
fn is_variation_selector(cp: u32) -> bool {
    matches!(cp, 0x180B..=0x180D | 0x180F | 0x200C | 0x200D | 0xFE00..=0xFE0F | 0xE0100..=0xE01EF)
}

/// Scripts whose chars never change under our folding; skipping the
/// decomposition keeps Chinese text on the fast path (NFKD would also split
/// Hangul syllables into jamo, which no rule wants).
fn is_cjk_or_hangul(cp: u32) -> bool {
    matches!(cp, 0x3040..=0x9FFF | 0xAC00..=0xD7A3 | 0x20000..=0x3134F)
}

/// Lowercase Cyrillic and Greek letters that render like Latin ones.
fn confusable(c: char) -> Option<char> {
    Some(match c {
        'а' => 'a',
        'в' => 'b',
        'с' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'ё' | 'є' | 'ε' => 'e',
        'һ' | 'н' => 'h',
        'і' | 'ї' | 'ι' | 'ӏ' => 'i',
        'ј' | 'ϳ' => 'j',
        'к' | 'κ' => 'k',
        'м' => 'm',
        'п' | 'η' => 'n',
        'о' | 'ο' | 'σ' => 'o',
        'р' | 'ρ' => 'p',
        'ԛ' => 'q',
        'г' => 'r',
        'ѕ' => 's',
        'т' | 'τ' => 't',
        'υ' | 'μ' => 'u',
        'ѵ' | 'ν' => 'v',
        'ԝ' | 'ω' => 'w',
        'х' | 'χ' => 'x',
        'у' | 'γ' => 'y',
        'ɑ' | 'α' => 'a',
        'ɡ' => 'g',
        'ı' => 'i',
        _ => return None,
    })
}

fn rot13(c: char) -> char {
    match c {
        'a'..='m' | 'A'..='M' => char::from_u32(u32::from(c).wrapping_add(13)).unwrap_or(c),
        'n'..='z' | 'N'..='Z' => char::from_u32(u32::from(c).wrapping_sub(13)).unwrap_or(c),
        _ => c,
    }
}

/// Rot13 forms of words that only an attack would encode; seeing one is
/// what makes the whole text worth a rot13 view.
fn rot13_canaries() -> Option<&'static AhoCorasick> {
    static AC: OnceLock<Option<AhoCorasick>> = OnceLock::new();
    AC.get_or_init(|| {
        let words = [
            "ignore",
            "instructions",
            "previous",
            "disregard",
            "system prompt",
            "jailbreak",
            "password",
            "reveal",
            "forget",
            "override",
            "restrictions",
            "unfiltered",
        ];
        let encoded: Vec<String> = words
            .iter()
            .map(|w| w.chars().map(rot13).collect())
            .collect();
        AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&encoded)
            .ok()
    })
    .as_ref()
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
// tests may index and add freely
mod tests;
