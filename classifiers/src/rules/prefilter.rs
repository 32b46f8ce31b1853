//! The literal prefilter: which regex rules can match, and where.
//!
//! At load time every rule regex is analysed for literals that any match must
//! contain. All those literals (and every pack phrase) go into one
//! aho-corasick automaton; a scan runs that automaton once over a view, and
//! a regex runs only where one of its literals occurred:
//!
//! - [`Gate::Prefix`]: every match *starts* with one of the literals (found
//!   with `regex-syntax`'s prefix extractor), so the regex is run anchored at
//!   each literal hit and gives up as soon as its DFA dies, usually within a
//!   few bytes;
//! - [`Gate::Inner`]: every match *contains* one of the literals (a
//!   necessary-factor analysis of the syntax tree). When every match also
//!   starts with one of a few literals that are too common to gate on ("do",
//!   "when"), those are looked for in the few bytes before each hit and the
//!   regex runs anchored at each; otherwise it runs unanchored over a
//!   bounded window around each hit;
//! - [`Gate::Always`]: no usable literal; the regex runs over the whole view.
//!   No bundled rule is in this state (a test checks).
//!
//! Clean text therefore costs one automaton pass whatever the number of
//! rules, and a text full of trigger words is bounded too: a rule with many
//! hits in one view is run once over the whole view instead (see
//! `RuleDetector::scan_view`), so the cost stays linear.

use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Class, Hir, HirKind};

/// How a regex rule is gated by the literal automaton.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Gate {
    /// Every match starts with one of these literals.
    Prefix(Vec<Vec<u8>>),
    /// Every match contains one of the first literals and, when the second
    /// set is there, starts with one of its literals (too common in prose to
    /// gate on, but enough to find where a match around an inner hit can
    /// start).
    Inner(Vec<Vec<u8>>, Option<Vec<Vec<u8>>>),
    /// No usable literal.
    Always,
}

/// Shortest prefix literal worth gating on. Prefix hits are cheap to confirm
/// (an anchored search that usually dies within a few bytes), so short words
/// are fine.
const MIN_PREFIX_LEN: usize = 2;

/// Prefixes at least this long (and not common words) are rare enough in
/// prose to gate on.
const GOOD_PREFIX_LEN: usize = 4;

/// Shortest inner literal worth gating on: confirming one costs a window.
const MIN_INNER_LEN: usize = 3;

/// Longest gate literal kept, in bytes (two Han characters, or a word).
const MAX_LITERAL_LEN: usize = 7;

/// Most literals per rule.
const MAX_GATE_LITERALS: usize = 400;

/// Largest class expanded into single-char literals in the factor analysis.
const MAX_CLASS_CHARS: usize = 4;

/// Analyses one rule pattern (regex syntax as the `regex` crate parses it).
pub(super) fn analyse(pattern: &str) -> Gate {
    let Ok(hir) = regex_syntax::Parser::new().parse(pattern) else {
        return Gate::Always;
    };
    let prefix = prefixes(&hir);
    let inner = factors(&hir).and_then(|mut v| {
        v.sort();
        v.dedup();
        let usable = !v.is_empty()
            && v.len() <= MAX_GATE_LITERALS
            && v.iter().all(|l| l.len() >= MIN_INNER_LEN);
        usable.then_some(v)
    });
    // An inner literal costs a window search per hit, a prefix literal one
    // anchored search that usually dies within a few bytes: gate on a rare
    // prefix, else on a rare inner literal, else on any prefix.
    let rare_prefix = prefix
        .as_ref()
        .is_some_and(|p| !has_common(p) && shortest(p) >= GOOD_PREFIX_LEN);
    match (prefix, inner) {
        (Some(p), _) if rare_prefix => Gate::Prefix(trim(p)),
        (p, Some(n)) if !has_common(&n) => Gate::Inner(trim(n), p),
        (Some(p), _) => Gate::Prefix(trim(p)),
        (None, Some(n)) => Gate::Inner(trim(n), None),
        (None, None) => Gate::Always,
    }
}

/// Cuts literals to their first [`MAX_LITERAL_LEN`] bytes (on a char
/// boundary) and dedups them. A prefix of a literal that starts every match
/// also starts every match, and a piece of a literal that every match
/// contains is also contained, so the gate stays sound; the automaton stays
/// small enough to live in cache.
fn trim(v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = v
        .into_iter()
        .map(|mut l| {
            if l.len() > MAX_LITERAL_LEN {
                let mut end = MAX_LITERAL_LEN;
                // Back up to a UTF-8 char start (never below one char).
                while end > 1 && l.get(end).is_some_and(|b| (0x80..0xC0).contains(b)) {
                    end = end.saturating_sub(1);
                }
                l.truncate(end);
            }
            l
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn shortest(v: &[Vec<u8>]) -> usize {
    v.iter().map(Vec::len).min().unwrap_or(0)
}

/// Words so frequent in prompts that gating a window search on them would
/// cost more than it saves.
const COMMON: &[&str] = &[
    "a", "about", "after", "all", "an", "and", "answer", "any", "are", "as", "at", "be", "before",
    "but", "by", "can", "content", "data", "do", "does", "don't", "end", "for", "from", "get",
    "give", "has", "have", "human", "if", "in", "input", "is", "it", "list", "make", "message",
    "mode", "more", "my", "no", "not", "note", "of", "on", "once", "or", "output", "person",
    "reply", "respond", "safety", "say", "show", "so", "that", "the", "this", "to", "use", "user",
    "was", "what", "when", "while", "will", "with", "write", "you", "your", "作为", "你是", "回复",
    "回答", "安全", "模式", "法律", "道德", "以", "用", "问题", "将", "已",
];

fn has_common(v: &[Vec<u8>]) -> bool {
    v.iter()
        .any(|l| COMMON.iter().any(|c| c.as_bytes() == l.as_slice()))
}

/// The prefix literals of every match, when finite and all long enough.
fn prefixes(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    let mut ex = Extractor::new();
    ex.kind(ExtractKind::Prefix)
        .limit_total(MAX_GATE_LITERALS)
        .limit_class(MAX_CLASS_CHARS);
    let seq = ex.extract(hir);
    let lits = seq.literals()?;
    let mut v: Vec<Vec<u8>> = lits.iter().map(|l| l.as_bytes().to_vec()).collect();
    v.sort();
    v.dedup();
    let usable = !v.is_empty()
        && v.len() <= MAX_GATE_LITERALS
        && v.iter().all(|l| l.len() >= MIN_PREFIX_LEN);
    usable.then_some(v)
}

/// A set of literals such that every match of `hir` contains at least one of
/// them, or `None` when the analysis finds none (e.g. the node can match the
/// empty string).
fn factors(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    match hir.kind() {
        HirKind::Literal(lit) => Some(vec![lit.0.to_vec()]),
        HirKind::Class(class) => class_literals(class),
        HirKind::Capture(cap) => factors(&cap.sub),
        HirKind::Repetition(rep) if rep.min >= 1 => factors(&rep.sub),
        HirKind::Concat(subs) => subs.iter().filter_map(factors).max_by_key(|v| quality(v)),
        HirKind::Alternation(subs) => {
            let mut all = Vec::new();
            for s in subs {
                all.extend(factors(s)?);
            }
            Some(all)
        }
        _ => None,
    }
}

/// No common word first, then a longer shortest literal (capped: past a few
/// bytes every literal is rare), then fewer literals.
fn quality(v: &[Vec<u8>]) -> (bool, usize, std::cmp::Reverse<usize>) {
    (
        !has_common(v),
        shortest(v).min(6),
        std::cmp::Reverse(v.len()),
    )
}

fn class_literals(class: &Class) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    match class {
        Class::Unicode(c) => {
            for r in c.iter() {
                for ch in r.start()..=r.end() {
                    if out.len() >= MAX_CLASS_CHARS {
                        return None;
                    }
                    out.push(ch.to_string().into_bytes());
                }
            }
        }
        Class::Bytes(c) => {
            for r in c.iter() {
                for b in r.start()..=r.end() {
                    if out.len() >= MAX_CLASS_CHARS {
                        return None;
                    }
                    out.push(vec![b]);
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn lits(v: &[&str]) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = v.iter().map(|s| s.as_bytes().to_vec()).collect();
        v.sort();
        v
    }

    #[test]
    fn prefix_inner_and_always() {
        assert_eq!(
            analyse(r"(?:ignore|forget)\s+previous"),
            Gate::Prefix(lits(&["forget", "ignore"]))
        );
        assert_eq!(
            analyse(r"(?:^|\n)\s*(?:system|admin)\s*:"),
            Gate::Inner(lits(&["admin", "system"]), None)
        );
        // "the" starts every match but is too common to gate on; the rare
        // inner word gates, and the prefixes say where a match can start.
        assert_eq!(
            analyse(r"(?:the|an)\s+(?:jailbroken|unfiltered)\s+model"),
            Gate::Inner(lits(&["jailbro", "unfilte"]), Some(lits(&["an", "the"])))
        );
        assert_eq!(analyse(r"a\s*b"), Gate::Always);
        assert_eq!(analyse(r"(?:x)?"), Gate::Always);
    }
}
