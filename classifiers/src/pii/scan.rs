//! The PII scanner: one multi-pattern regex pass proposes candidates, then
//! validators and context decide.
//!
//! Candidate patterns are deliberately loose (a "numeric run" is any digits
//! joined by single separators); the validators carry the precision. All
//! patterns live in one `regex_automata::meta::Regex`, searched left to right
//! with leftmost-first semantics, so the text is scanned once whatever the
//! number of recognisers and the cost stays linear: no pattern has nested
//! unbounded repetition, and every candidate is post-processed in time
//! bounded by its own length (numeric runs are segmented in windows of at
//! most [`MAX_GROUPS`] digit groups).

use std::net::Ipv6Addr;
use std::str::FromStr;

use regex_automata::meta::Regex;
use regex_automata::Input;

use super::context::{adjustment, ContextIndex, Hit};
use super::entity::{EntitySet, PiiEntity};
use super::validate;
use crate::Span;

/// The most digit groups one entity can span ("+1 (555) 010-0100 x12").
const MAX_GROUPS: usize = 8;

/// What a candidate pattern proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    UrlCredentials,
    Email,
    Iban,
    Id18,
    MoId,
    AlnumId,
    CnPlate,
    MacOther,
    HexColon,
    DateText,
    Number,
}

/// Patterns in priority order: at one start position the first that matches
/// wins, so the specific shapes come before the generic numeric run.
const PATTERNS: &[(Kind, &str)] = &[
    (
        Kind::UrlCredentials,
        r#"(?i)(?-u:\b)[a-z][a-z0-9+.\-]{1,15}://[^\s/?#@:"'<>\[\]]+:[^\s/?#@"'<>\[\]]+@[^\s/?#"'<>]+"#,
    ),
    (
        Kind::Email,
        r"(?-u:\b)[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?-u:\b)",
    ),
    (
        Kind::Iban,
        r"(?i)(?-u:\b)[a-z]{2}\d{2}(?: ?[a-z0-9]{4}){2,7}(?: ?[a-z0-9]{1,4})?(?-u:\b)",
    ),
    (
        Kind::Id18,
        r"(?-u:\b)[0-9A-HJ-NP-RTUW-Y]{2}\d{6}[0-9A-HJ-NP-RTUW-Y]{9}[0-9A-HJ-NP-RTUW-Yx](?-u:\b)",
    ),
    (Kind::MoId, r"(?-u:\b)[1578]\d{6}\(\d\)"),
    (
        Kind::AlnumId,
        r"(?-u:\b)[A-Z]{1,2}\d{6,9}(?:\([0-9A]\)|A?(?-u:\b))",
    ),
    (
        Kind::CnPlate,
        r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-HJ-NP-Z][·•]?(?:[A-HJ-NP-Z0-9]{5,6}(?-u:\b)|[A-HJ-NP-Z0-9]{4}[挂学警港澳])",
    ),
    (
        Kind::MacOther,
        r"(?-u:\b)(?:[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})(?-u:\b)",
    ),
    (
        Kind::HexColon,
        // Bounded: an IPv6 text form is at most 45 characters.
        r"(?:(?-u:\b)[0-9A-Fa-f]{1,4}|:):[0-9A-Fa-f:.]{0,40}[0-9A-Fa-f]",
    ),
    (
        Kind::DateText,
        r"(?i)(?-u:\b)(?:[a-z]{3,9}\.?\s\d{1,2}(?:st|nd|rd|th)?,?\s\d{4}|\d{1,2}(?:st|nd|rd|th)?\s[a-z]{3,9}\.?,?\s\d{4})(?-u:\b)|\d{4}\s?年\s?\d{1,2}\s?月\s?\d{1,2}\s?[日号]",
    ),
    (
        Kind::Number,
        // At least five digits: every entity read from a numeric run has
        // more, and bare short numbers ("2024", "12") are most of the
        // numbers in prose, so this keeps candidates rare.
        r"(?:\+|\(\+?)?(?-u:\b)\d(?:\d|[ \-./]\(?\d|\)[ \-.]?\d|\(\d){4,}\)?",
    ),
];

/// One entity found, before it becomes a [`crate::Finding`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Detection {
    pub(crate) entity: PiiEntity,
    pub(crate) span: Span,
    pub(crate) score: f32,
    /// Log-safe note on how it was validated.
    pub(crate) evidence: &'static str,
}

/// A validated hypothesis: an entity, its base score and why.
#[derive(Debug, Clone, Copy)]
struct Hyp {
    entity: PiiEntity,
    base: f32,
    evidence: &'static str,
}

const fn hyp(entity: PiiEntity, base: f32, evidence: &'static str) -> Hyp {
    Hyp {
        entity,
        base,
        evidence,
    }
}

/// The compiled scanner.
#[derive(Debug)]
pub(crate) struct Scanner {
    regex: Regex,
    context: ContextIndex,
}

/// Why the scanner could not be built (a bug in the built-in patterns).
#[derive(Debug, thiserror::Error)]
pub enum ScannerBuildError {
    /// The candidate regex did not compile.
    #[error("pii candidate patterns: {0}")]
    Regex(#[from] Box<regex_automata::meta::BuildError>),
    /// The context automaton did not build.
    #[error("pii context words: {0}")]
    Context(#[from] aho_corasick::BuildError),
}

/// Per-scan state: lazily computed context hits.
struct Ctx<'t> {
    text: &'t str,
    hits: Option<Vec<Hit>>,
    index: &'t ContextIndex,
    enabled: EntitySet,
    min_score: f32,
    out: Vec<Detection>,
}

impl Ctx<'_> {
    /// The best hypothesis for `span` after context, if it clears the bar.
    fn best(&mut self, span: Span, hyps: &[Hyp]) -> Option<Detection> {
        let mut best: Option<Detection> = None;
        for h in hyps {
            if !self.enabled.contains(h.entity) {
                continue;
            }
            let hits = self.hits.get_or_insert_with(|| self.index.hits(self.text));
            let score = (h.base + adjustment(hits, span, h.entity)).clamp(0.0, 1.0);
            if score >= self.min_score && best.as_ref().is_none_or(|b| score > b.score) {
                best = Some(Detection {
                    entity: h.entity,
                    span,
                    score,
                    evidence: h.evidence,
                });
            }
        }
        best
    }

    fn emit(&mut self, span: Span, hyps: &[Hyp]) -> bool {
        match self.best(span, hyps) {
            Some(d) => {
                self.out.push(d);
                true
            }
            None => false,
        }
    }
}

impl Scanner {
    pub(crate) fn new() -> Result<Self, ScannerBuildError> {
        let pats: Vec<&str> = PATTERNS.iter().map(|(_, p)| *p).collect();
        let regex = Regex::new_many(&pats).map_err(Box::new)?;
        Ok(Scanner {
            regex,
            context: ContextIndex::new()?,
        })
    }

    /// Every entity in `text` scoring at least `min_score`, in order,
    /// non-overlapping.
    pub(crate) fn scan(&self, text: &str, enabled: EntitySet, min_score: f32) -> Vec<Detection> {
        let mut ctx = Ctx {
            text,
            hits: None,
            index: &self.context,
            enabled,
            min_score,
            out: Vec::new(),
        };
        let mut pos = 0usize;
        while pos < text.len() {
            let input = Input::new(text).range(pos..);
            let Some(m) = self.regex.search(&input) else {
                break;
            };
            let kind = PATTERNS
                .get(m.pattern().as_usize())
                .map_or(Kind::Number, |(k, _)| *k);
            let span = Span::new(m.start(), m.end());
            let handled = self.candidate(&mut ctx, kind, span);
            // Resume where the candidate's handler stopped: a failed specific
            // candidate ("3 and 4111" is no date) hands its text back to the
            // numeric run, which may end early. Always make progress.
            pos = handled.max(m.start().saturating_add(1));
            while pos < text.len() && !text.is_char_boundary(pos) {
                pos = pos.saturating_add(1);
            }
        }
        ctx.out
    }

    /// Validates one candidate; returns the offset scanning resumes from.
    fn candidate(&self, ctx: &mut Ctx<'_>, kind: Kind, span: Span) -> usize {
        let text = ctx.text;
        let Some(s) = text.get(span.start..span.end) else {
            return span.end;
        };
        match kind {
            Kind::UrlCredentials => {
                if let Some(sp) = url_userinfo(s) {
                    let sp = Span::new(
                        span.start.saturating_add(sp.start),
                        span.start.saturating_add(sp.end),
                    );
                    ctx.emit(
                        sp,
                        &[hyp(
                            PiiEntity::UrlCredentials,
                            0.9,
                            "url userinfo with password",
                        )],
                    );
                }
                span.end
            }
            Kind::Email => {
                // "https://user@host" is a URL's user name, not a mailbox.
                let in_url = text.get(..span.start).is_some_and(|p| p.ends_with("://"));
                if !in_url && email_ok(s) {
                    ctx.emit(span, &[hyp(PiiEntity::Email, 0.85, "email syntax")]);
                }
                span.end
            }
            Kind::Iban => {
                // The optional trailing group may have swallowed a following
                // word ("... 7654 32 is"): retry without trailing groups.
                let mut cur = s;
                loop {
                    if validate::iban(cur) {
                        let sp = Span::new(span.start, span.start.saturating_add(cur.len()));
                        ctx.emit(sp, &[hyp(PiiEntity::Iban, 0.85, "iban mod-97")]);
                        return sp.end;
                    }
                    match cur.rfind(' ') {
                        Some(i) => cur = cur.get(..i).unwrap_or(""),
                        None => break,
                    }
                }
                self.fallback_number(ctx, span)
            }
            Kind::Id18 => {
                let upper = s.to_ascii_uppercase();
                if let Some(r) = validate::cn_resident_id(&upper) {
                    if r.structure {
                        let h = if r.checksum {
                            hyp(PiiEntity::CnResidentId, 0.95, "gb11643 checksum ok")
                        } else {
                            hyp(PiiEntity::CnResidentId, 0.3, "gb11643 checksum failed")
                        };
                        if ctx.emit(span, &[h]) {
                            return span.end;
                        }
                    }
                }
                if s.bytes().any(|b| b.is_ascii_uppercase()) {
                    let h = if validate::cn_uscc(s) {
                        hyp(PiiEntity::CnUscc, 0.9, "gb32100 checksum ok")
                    } else {
                        hyp(PiiEntity::CnUscc, 0.1, "gb32100 checksum failed")
                    };
                    ctx.emit(span, &[h]);
                    return span.end;
                }
                if validate::cn_uscc(s)
                    && ctx.emit(span, &[hyp(PiiEntity::CnUscc, 0.6, "gb32100 checksum ok")])
                {
                    return span.end;
                }
                self.fallback_number(ctx, span)
            }
            Kind::MoId => {
                ctx.emit(span, &[hyp(PiiEntity::MoId, 0.35, "macau id shape")]);
                span.end
            }
            Kind::AlnumId => {
                ctx.emit(span, &alnum_id(s));
                span.end
            }
            Kind::CnPlate => {
                let tail: String = s
                    .chars()
                    .skip(1)
                    .filter(|c| c.is_ascii_alphanumeric())
                    .collect();
                let serial = tail.get(1..).unwrap_or("");
                let digits = serial.bytes().filter(u8::is_ascii_digit).count();
                let ok = match serial.len() {
                    5 => digits >= 3,
                    6 => serial.starts_with(['D', 'F']) || serial.ends_with(['D', 'F']),
                    4 => true,
                    _ => false,
                };
                if ok {
                    ctx.emit(span, &[hyp(PiiEntity::CnPlate, 0.6, "plate shape")]);
                }
                span.end
            }
            Kind::MacOther => {
                if s.bytes().any(|b| b.is_ascii_alphabetic()) || s.contains('.') {
                    ctx.emit(span, &[hyp(PiiEntity::MacAddress, 0.65, "mac shape")]);
                    span.end
                } else {
                    self.fallback_number(ctx, span)
                }
            }
            Kind::HexColon => {
                if let Some(h) = hex_colon(s) {
                    ctx.emit(span, &[h]);
                }
                span.end
            }
            Kind::DateText => {
                if text_date_ok(s) {
                    ctx.emit(span, &[hyp(PiiEntity::DateOfBirth, 0.1, "calendar date")]);
                    span.end
                } else {
                    // "12 apples 2024" is not a date; give the digits a chance.
                    self.fallback_number(ctx, span)
                }
            }
            Kind::Number => {
                number_run(ctx, span);
                span.end
            }
        }
    }

    /// Re-reads the text at `span.start` as a numeric run when a more specific
    /// candidate failed validation.
    fn fallback_number(&self, ctx: &mut Ctx<'_>, span: Span) -> usize {
        let number_pid = PATTERNS.len().saturating_sub(1);
        let input =
            Input::new(ctx.text)
                .range(span.start..)
                .anchored(regex_automata::Anchored::Pattern(
                    regex_automata::PatternID::new(number_pid).unwrap_or_default(),
                ));
        match self.regex.search(&input) {
            Some(m) => {
                number_run(ctx, Span::new(m.start(), m.end()));
                m.end()
            }
            // Not a numeric run either: rescan right after its first byte so
            // nothing inside the failed candidate is skipped.
            None => span.start.saturating_add(1),
        }
    }
}

/// The `user:password` part of a URL with credentials, relative to `s`.
fn url_userinfo(s: &str) -> Option<Span> {
    let start = s.find("://")?.checked_add(3)?;
    let rest = s.get(start..)?;
    let at = rest.rfind('@')?;
    let info = rest.get(..at)?;
    let (user, pass) = info.split_once(':')?;
    if user.is_empty() || pass.is_empty() {
        return None;
    }
    Some(Span::new(start, start.checked_add(at)?))
}

fn email_ok(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && domain.len() <= 255
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !s.contains("..")
        && domain.contains('.')
}

fn alnum_id(s: &str) -> Vec<Hyp> {
    let letters_len = s.bytes().take_while(u8::is_ascii_uppercase).count();
    let letters = s.get(..letters_len).unwrap_or("");
    let rest = s.get(letters_len..).unwrap_or("");
    let (digits, check) = match rest.find('(') {
        Some(i) => (
            rest.get(..i).unwrap_or(""),
            rest.get(i..).and_then(|c| c.chars().nth(1)),
        ),
        None => match rest.strip_suffix('A') {
            Some(d) => (d, Some('A')),
            None => (rest, None),
        },
    };
    let mut hyps = Vec::with_capacity(3);
    let paren = rest.contains('(');
    // Hong Kong: letters + 6 digits + check (in brackets, or as a 7th char).
    let hk = match (digits.len(), check) {
        (6, Some(c)) => Some((digits, c)),
        (7, None) => digits.get(..6).zip(digits.chars().last()),
        _ => None,
    };
    if let Some((d6, c)) = hk {
        if validate::hk_id(letters, d6, c) {
            let base = if paren { 0.85 } else { 0.55 };
            hyps.push(hyp(PiiEntity::HkId, base, "hkid check digit ok"));
        }
    }
    if letters_len == 1 && digits.len() == 9 && check.is_none() && validate::tw_id(s) {
        hyps.push(hyp(PiiEntity::TwId, 0.85, "taiwan id checksum ok"));
    }
    if !paren {
        let cn = (s.len() == 9 && (s.starts_with('E') || s.starts_with('G')))
            && s.bytes().skip(2).all(|b| b.is_ascii_digit());
        let base = if cn { 0.25 } else { 0.1 };
        hyps.push(hyp(PiiEntity::Passport, base, "passport shape"));
    }
    hyps
}

fn hex_colon(s: &str) -> Option<Hyp> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Some(hyp(PiiEntity::MacAddress, 0.7, "mac shape"));
    }
    let ip = Ipv6Addr::from_str(s).ok()?;
    if ip.is_unspecified() || ip.is_loopback() {
        return Some(hyp(PiiEntity::IpAddress, 0.3, "ipv6 special"));
    }
    // "::" compression lets short strings like "a::b" parse; require some
    // substance before calling it an address.
    let hex = s.bytes().filter(u8::is_ascii_hexdigit).count();
    let base = if parts.len() >= 4 && hex >= 8 {
        0.8
    } else {
        0.35
    };
    Some(hyp(PiiEntity::IpAddress, base, "ipv6 parse"))
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    if n.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| m.starts_with(&n) && (n.len() == 3 || n.len() == m.len() || n == "sept"))
        .and_then(|i| u32::try_from(i).ok())
        .map(|i| i.saturating_add(1))
}

fn text_date_ok(s: &str) -> bool {
    if s.contains('年') {
        let nums: Vec<u32> = s
            .split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.parse().ok())
            .collect();
        return matches!(nums.as_slice(), [y, m, d] if validate::calendar_date(*y, *m, *d));
    }
    let words: Vec<&str> = s
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let num = |w: &str| -> Option<u32> {
        w.trim_end_matches(|c: char| c.is_ascii_alphabetic())
            .parse()
            .ok()
    };
    match words.as_slice() {
        [a, b, y] => {
            let (m, d) = match month_number(a) {
                Some(m) => (Some(m), num(b)),
                None => (month_number(b), num(a)),
            };
            match (m, d, num(y)) {
                (Some(m), Some(d), Some(y)) => validate::calendar_date(y, m, d),
                _ => false,
            }
        }
        _ => false,
    }
}

/// One digit group of a numeric run, as byte offsets into the text.
#[derive(Debug, Clone, Copy)]
struct Group {
    start: usize,
    end: usize,
}

/// Segments a numeric run into groups and, left to right, emits the longest
/// run of groups that validates as some entity.
fn number_run(ctx: &mut Ctx<'_>, span: Span) {
    let text = ctx.text;
    let Some(run) = text.get(span.start..span.end) else {
        return;
    };
    // A run glued to letters ("A1234567b", "123abc") is a code, not a number.
    let next = text.as_bytes().get(span.end).copied();
    let ext = extension_len(text.get(span.end..).unwrap_or(""));
    if ext.is_none() && next.is_some_and(|b| b.is_ascii_alphabetic()) {
        return;
    }
    // Arithmetic and score tables ("70-66-66-71=273") are not identifiers.
    let prev = span
        .start
        .checked_sub(1)
        .and_then(|i| text.as_bytes().get(i))
        .copied();
    if next == Some(b'=') || prev == Some(b'=') {
        return;
    }
    let mut groups = Vec::new();
    let mut cur: Option<usize> = None;
    for (i, b) in run.bytes().enumerate() {
        let at = span.start.saturating_add(i);
        match (b.is_ascii_digit(), cur) {
            (true, None) => cur = Some(at),
            (false, Some(s)) => {
                groups.push(Group { start: s, end: at });
                cur = None;
            }
            _ => {}
        }
    }
    if let Some(s) = cur {
        groups.push(Group {
            start: s,
            end: span.end,
        });
    }
    let plus = run.starts_with('+') || run.starts_with("(+");
    if card_shaped_luhn_failure(text, &groups) {
        // A mistyped card number: its pieces are not accounts or phones.
        return;
    }
    let mut i = 0usize;
    while i < groups.len() {
        let hi = i.saturating_add(MAX_GROUPS).min(groups.len());
        let mut matched = None;
        for j in (i..hi).rev() {
            let Some(gs) = groups.get(i..=j) else {
                continue;
            };
            if !worth_classifying(text, gs) {
                continue;
            }
            let (Some(first), Some(last)) = (gs.first(), gs.last()) else {
                continue;
            };
            // Include a leading "+" / "(" and a closing ")" that belong to the run.
            let mut start = first.start;
            if i == 0 {
                start = span.start;
            }
            let mut end = last.end;
            if text.as_bytes().get(end) == Some(&b')')
                && text.get(start..end).is_some_and(|t| t.contains('('))
            {
                end = end.saturating_add(1);
            }
            let hyps = classify(text, gs, plus && i == 0);
            if hyps.is_empty() {
                continue;
            }
            // A phone number's extension ("x1234") is part of it.
            if j.saturating_add(1) == groups.len()
                && hyps
                    .iter()
                    .any(|h| matches!(h.entity, PiiEntity::Phone | PiiEntity::CnPhone))
            {
                if let Some(n) = ext {
                    end = span.end.saturating_add(n).max(end);
                }
            }
            if ctx.emit(Span::new(start, end), &hyps) {
                matched = Some(j);
                break;
            }
        }
        i = match matched {
            Some(j) => j.saturating_add(1),
            None => i.saturating_add(1),
        };
    }
}

/// A cheap pre-check before [`classify`]: every entity read from a numeric
/// run has 5 to 19 digits, and only dates and dotted quads have one-digit
/// groups after the first. Keeps hostile runs ("1 1 1 1 ...") fast.
fn worth_classifying(text: &str, gs: &[Group]) -> bool {
    let digits: usize = gs
        .iter()
        .map(|g| g.end.saturating_sub(g.start))
        .fold(0usize, usize::saturating_add);
    if !(5..=19).contains(&digits) {
        return false;
    }
    let single_inner = gs
        .iter()
        .skip(1)
        .any(|g| g.end.saturating_sub(g.start) == 1);
    if !single_inner {
        return true;
    }
    gs.windows(2).all(|w| match w {
        [a, b] => matches!(text.get(a.end..b.start), Some("/" | "." | "-")),
        _ => true,
    })
}

/// Whether the groups form a card-network-shaped number (uniform
/// separators, known IIN, 13 to 19 digits) that fails Luhn. UnionPay is
/// exempt: some of its debit cards predate Luhn.
fn card_shaped_luhn_failure(text: &str, gs: &[Group]) -> bool {
    let d: String = gs.iter().filter_map(|g| text.get(g.start..g.end)).collect();
    let uniform = gs
        .windows(3)
        .all(|w| matches!(w, [a, b, c] if text.get(a.end..b.start) == text.get(b.end..c.start)));
    (13..=19).contains(&d.len())
        && uniform
        && validate::card_network(&d).is_some_and(|n| n != validate::CardNetwork::UnionPay)
        && !validate::luhn(&d)
}

/// Length of a phone extension right after a run: "x123", " ext. 123".
fn extension_len(rest: &str) -> Option<usize> {
    let b = rest.as_bytes();
    let mut i = 0usize;
    if b.first() == Some(&b' ') {
        i = 1;
    }
    let tail = rest.get(i..)?;
    let lower = tail.get(..tail.len().min(5))?.to_ascii_lowercase();
    let skip = if lower.starts_with("ext.") {
        4
    } else if lower.starts_with("ext") {
        3
    } else if lower.starts_with('x') {
        1
    } else {
        return None;
    };
    let mut k = i.checked_add(skip)?;
    if b.get(k) == Some(&b' ') {
        k = k.saturating_add(1);
    }
    let digits = b
        .get(k..)?
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if !(1..=6).contains(&digits) {
        return None;
    }
    let end = k.checked_add(digits)?;
    // "x12abc" is not an extension.
    if b.get(end).is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some(end)
}

/// The hypotheses a run of digit groups supports, by structure alone.
fn classify(text: &str, gs: &[Group], plus: bool) -> Vec<Hyp> {
    use PiiEntity as E;
    let mut hyps = Vec::new();
    let d: String = gs.iter().filter_map(|g| text.get(g.start..g.end)).collect();
    let n = d.len();
    let lens: Vec<usize> = gs.iter().map(|g| g.end.saturating_sub(g.start)).collect();
    let seps: Vec<&str> = gs
        .windows(2)
        .filter_map(|w| match w {
            [a, b] => text.get(a.end..b.start),
            _ => None,
        })
        .collect();
    let uniform = seps.windows(2).all(|w| matches!(w, [a, b] if a == b));
    let sep = seps.first().copied().unwrap_or("");
    // Byte-wise: the byte before the first group may sit inside a multi-byte
    // character ("−12"), where a str slice would fail.
    let paren = text
        .as_bytes()
        .get(gs.first().map_or(0, |g| g.start.saturating_sub(1))..gs.last().map_or(0, |g| g.end))
        .is_some_and(|t| t.contains(&b'(') || t.contains(&b')'));
    if paren && !parens_ok(text, gs) {
        // "173.624 (279.42)", "-12 (64-67-70-67=268)": tables, not numbers.
        return hyps;
    }
    let num = |i: usize| -> Option<u32> {
        gs.get(i)
            .and_then(|g| text.get(g.start..g.end))
            .and_then(|s| s.parse().ok())
    };

    // Dotted quad.
    if gs.len() == 4 && seps.iter().all(|s| *s == ".") {
        if let Some(t) = text.get(gs.first().map_or(0, |g| g.start)..gs.last().map_or(0, |g| g.end))
        {
            if validate::ipv4(t) {
                let base = if gs.iter().any(|g| g.end.saturating_sub(g.start) >= 2) {
                    0.6
                } else {
                    0.3
                };
                hyps.push(hyp(E::IpAddress, base, "ipv4 octets"));
                return hyps;
            }
        }
    }
    // Dates (only ever a date of birth with birth context).
    if gs.len() == 3 && uniform && matches!(sep, "/" | "-" | ".") {
        if let (Some(a), Some(b), Some(c)) = (num(0), num(1), num(2)) {
            let ymd = lens.first() == Some(&4) && validate::calendar_date(a, b, c);
            let mdy = lens.get(2) == Some(&4)
                && (validate::calendar_date(c, a, b) || validate::calendar_date(c, b, a));
            if ymd || mdy {
                hyps.push(hyp(E::DateOfBirth, 0.1, "calendar date"));
                return hyps;
            }
        }
    }
    // US SSN.
    if lens == [3, 2, 4] && uniform && matches!(sep, "-" | " ") {
        let part = |i: usize| {
            gs.get(i)
                .and_then(|g| text.get(g.start..g.end))
                .unwrap_or("")
        };
        if validate::us_ssn(part(0), part(1), part(2)) {
            let base = if sep == "-" { 0.6 } else { 0.3 };
            hyps.push(hyp(E::UsSsn, base, "ssn area/group/serial rules"));
            return hyps;
        }
    }
    if gs.len() == 1 && n == 9 {
        if let (Some(a), Some(b), Some(c)) = (d.get(..3), d.get(3..5), d.get(5..)) {
            if validate::us_ssn(a, b, c) {
                hyps.push(hyp(E::UsSsn, 0.1, "ssn rules, no separators"));
            }
        }
        hyps.push(hyp(E::Passport, 0.05, "passport shape"));
    }
    // Payment cards.
    if (13..=19).contains(&n) && uniform && matches!(sep, "" | " " | "-") && !plus && !paren {
        if let Some(net) = validate::card_network(&d) {
            if validate::luhn(&d) {
                hyps.push(hyp(E::CreditCard, 0.9, "luhn ok, known iin"));
                return hyps;
            }
            if net != validate::CardNetwork::UnionPay {
                // A card-shaped number that fails Luhn is a typo or a test
                // value, not an account number. (Some UnionPay debit cards
                // predate Luhn, so those stay account candidates.)
                return hyps;
            }
        }
    }
    // PRC resident id written with spaces ("110101 19900307 1234").
    if n == 18 && gs.len() > 1 {
        if let Some(r) = validate::cn_resident_id(&d) {
            if r.structure {
                let base = if r.checksum { 0.9 } else { 0.25 };
                hyps.push(hyp(E::CnResidentId, base, "gb11643"));
                return hyps;
            }
        }
    }
    // Mainland China phones.
    let cn_rest = if plus && d.starts_with("86") {
        d.get(2..)
    } else if d.starts_with("0086") {
        d.get(4..)
    } else {
        Some(d.as_str())
    };
    if let Some(rest) = cn_rest {
        let b = rest.as_bytes();
        if rest.len() == 11
            && b.first() == Some(&b'1')
            && b.get(1).is_some_and(|c| (b'3'..=b'9').contains(c))
        {
            let grouped_ok = gs.len() == 1 || lens.ends_with(&[4, 4]) || lens.ends_with(&[8]);
            if grouped_ok && uniform || gs.len() <= 2 {
                let base = if rest.len() < n { 0.85 } else { 0.75 };
                hyps.push(hyp(E::CnPhone, base, "cn mobile prefix"));
                return hyps;
            }
        }
        let area = cn_area_len(rest, rest.len() < n);
        if let Some(al) = area {
            let local = rest.len().saturating_sub(al);
            let first_is_area = gs.len() >= 2 && {
                let fl = lens.first().copied().unwrap_or(0);
                let cc = if rest.len() < n {
                    n.saturating_sub(rest.len())
                } else {
                    0
                };
                fl == al || fl == cc
            };
            if (7..=8).contains(&local) {
                let base = if first_is_area { 0.5 } else { 0.2 };
                hyps.push(hyp(E::CnPhone, base, "cn landline area code"));
            }
        }
    }
    // Other phone numbers. Single-digit inner groups ("8 16 32 64") are
    // lists, not phone numbers; an SSN-shaped 3-2-4 run that failed the SSN
    // rules is not a phone either.
    let ssn_shape = lens == [3, 2, 4] && uniform && sep == "-";
    let inner_single = lens.iter().skip(1).any(|l| *l == 1);
    // "2024-01-04 14:56" is a timestamp: a run that starts with a date is
    // never a phone number.
    let date_prefix = gs.len() > 3 && {
        let s3 = seps.get(..2).unwrap_or(&[]);
        matches!(s3, [a, b] if a == b && matches!(*a, "-" | "/" | "."))
            && (lens.first() == Some(&4) || lens.get(2) == Some(&4))
    };
    if (7..=15).contains(&n) && !ssn_shape && !inner_single && !date_prefix {
        let nanp = nanp_ok(&d)
            && matches!(
                lens.as_slice(),
                [10] | [3, 3, 4] | [1, 3, 3, 4] | [3, 7] | [1, 10] | [3, 3, 3, 4]
            );
        let base = if plus || (d.starts_with("00") && gs.len() >= 2) {
            0.65
        } else if nanp && (paren || (gs.len() >= 3 && uniform)) {
            0.6
        } else if gs.len() >= 3
            && (paren || seps.iter().any(|s| s.contains('-') || s.contains('.')))
        {
            0.5
        } else if gs.len() >= 2 && (n >= 10 || paren) {
            0.4
        } else if gs.len() >= 2 || nanp {
            0.3
        } else {
            0.1
        };
        // Money and measurements use "." with a short last group; dates and
        // versions are handled above.
        let decimal = sep == "." && lens.last().is_some_and(|l| *l <= 2) && gs.len() == 2;
        if !decimal && sep != "/" {
            hyps.push(hyp(E::Phone, base, "phone shape"));
        }
    }
    // Bank accounts need context.
    if (12..=19).contains(&n) && (gs.len() == 1 || uniform) && !plus {
        hyps.push(hyp(E::CnBankAccount, 0.15, "account number shape"));
    }
    hyps
}

/// Brackets in a phone number enclose exactly one group, the first or
/// second ("(415) 555-0134", "+1 (415) 555-0134"), and are balanced.
fn parens_ok(text: &str, gs: &[Group]) -> bool {
    let b = text.as_bytes();
    let mut enclosed = None;
    for (k, g) in gs.iter().enumerate() {
        let open = g.start.checked_sub(1).and_then(|i| b.get(i)) == Some(&b'(');
        let close = b.get(g.end) == Some(&b')');
        match (open, close) {
            (true, true) if enclosed.is_none() => enclosed = Some(k),
            (false, false) => {}
            _ => return false,
        }
    }
    enclosed.is_some_and(|k| k <= 1)
}

/// Area-code length of a mainland landline number starting with `0`
/// (or without it after a +86 country code).
fn cn_area_len(d: &str, after_cc: bool) -> Option<usize> {
    let body = if after_cc { d } else { d.strip_prefix('0')? };
    let b = body.as_bytes();
    let extra = usize::from(!after_cc);
    match b.first()? {
        b'1' if b.get(1) == Some(&b'0') => Some(2usize.saturating_add(extra)),
        b'2' => Some(2usize.saturating_add(extra)),
        b'3'..=b'9' => Some(3usize.saturating_add(extra)),
        _ => None,
    }
}

/// North American numbering plan: `[2-9]XX [2-9]XX XXXX`, optionally after a
/// `1` or `001` prefix.
fn nanp_ok(d: &str) -> bool {
    let core = match d.len() {
        10 => d,
        11 => match d.strip_prefix('1') {
            Some(c) => c,
            None => return false,
        },
        13 => match d.strip_prefix("001") {
            Some(c) => c,
            None => return false,
        },
        _ => return false,
    };
    let b = core.as_bytes();
    b.first().is_some_and(|c| (b'2'..=b'9').contains(c))
        && b.get(3).is_some_and(|c| (b'2'..=b'9').contains(c))
}
