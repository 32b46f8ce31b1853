//! The trigger automaton as a compact transition table, and the walk that
//! reports every pattern occurrence in a view.
//!
//! aho-corasick's DFA pads each state's row to a power of two and returns
//! its matches through a general interface; the walk needs one table lookup
//! per byte and nothing else. [`Walker::new`] copies the DFA into a table
//! whose rows are exactly one entry per byte class (the classes are the
//! bytes that no state tells apart, so the table is as small as this
//! automaton allows), whose entries are row offsets (no multiply per byte),
//! and whose match states come last (one comparison says whether a state
//! matches). On prose the walk is bound by the latency of that lookup, each
//! depending on the last, so a smaller table that stays in cache is what
//! pays; see [`Walker::triggers`] for the lockstep walk that overlaps
//! several chains.

use std::collections::HashMap;

use aho_corasick::automaton::{Automaton as _, StateID};
use aho_corasick::{dfa, Anchored};

use crate::Span;

/// How many pieces of a view are walked in lockstep, and the shortest view
/// that is split (see [`Walker::triggers`]).
pub(crate) const LANES: usize = 4;
pub(crate) const LOCKSTEP_MIN_BYTES: usize = 256;

/// Table lengths that the walk knows at compile time (see [`Table`]): the
/// bundled rule packs need 201,936 entries, the secrets gate far fewer.
const SMALL: usize = 1 << 12;
const MEDIUM: usize = 1 << 15;
const LARGE: usize = 1 << 18;
const TABLE_SIZES: [usize; 3] = [SMALL, MEDIUM, LARGE];

/// A transition table the lockstep walk reads: an array of one of the
/// [`TABLE_SIZES`], read with a masked index that the compiler can see is
/// in bounds, or any other slice, read with a checked one.
trait Table {
    /// The entry at `i` (0 past the end, which no row reaches).
    fn at(&self, i: usize) -> u32;
}

impl<const N: usize> Table for [u32; N] {
    #[inline(always)]
    fn at(&self, i: usize) -> u32 {
        // N is a power of two, and rows end before the padding, so the mask
        // changes no index that the walk uses.
        self.get(i & N.wrapping_sub(1)).copied().unwrap_or(0)
    }
}

impl Table for [u32] {
    #[inline(always)]
    fn at(&self, i: usize) -> u32 {
        self.get(i).copied().unwrap_or(0)
    }
}

/// The state after the state at row offset `sid` reads `b`, in `trans`
/// (the one step both the single-lane and the lockstep walks take). An
/// index out of range, which no row reaches, reads 0 ([`Table::at`]).
#[inline(always)]
fn step<T: Table + ?Sized>(classes: &[u8; 256], trans: &T, sid: u32, b: u8) -> u32 {
    let class = classes.get(usize::from(b)).copied().unwrap_or(0);
    trans.at((sid as usize).wrapping_add(usize::from(class)))
}

/// The DFA of all trigger patterns, as a dense premultiplied table.
#[derive(Debug)]
pub(crate) struct Walker {
    /// Byte class of every byte.
    classes: [u8; 256],
    /// Per state, one entry per byte class: the next state's row offset
    /// (state index times the number of classes). Padded with zeros to one
    /// of the [`Table`] sizes, so that the walk can view it as an array
    /// whose length the compiler knows (rows never reach the padding).
    trans: Vec<u32>,
    /// Row offset of the (unanchored) start state.
    start: u32,
    /// Row offsets at or above this are match states.
    first_match: u32,
    /// Number of classes. A match state's row has one more entry, past the
    /// classes, that no byte reaches: its index in `match_ranges` (looked up
    /// only after a match, so the walk never touches it).
    classes_len: u32,
    /// Per match state, in row order, its range in `matches`.
    match_ranges: Vec<(u32, u32)>,
    /// Pattern id and length of every match of every match state.
    matches: Vec<(u32, u32)>,
    /// Longest pattern, in bytes.
    longest: usize,
}

// === impl Walker ===

impl Walker {
    /// Copies `dfa` (unanchored, `MatchKind::Standard`, no prefilter: its
    /// only special states are match states) into a compact table. `None`
    /// when the DFA has no unanchored start state or the table would not be
    /// addressable with `u32` offsets.
    pub(crate) fn new(dfa: &dfa::DFA) -> Option<Walker> {
        let start = dfa.start_state(Anchored::No).ok()?;
        // Every state reachable from the start, in breadth-first order, and
        // its successor (as an index into `order`) on every byte.
        let mut index: HashMap<StateID, usize> = HashMap::new();
        let mut order: Vec<StateID> = vec![start];
        index.insert(start, 0);
        let mut next: Vec<usize> = Vec::new();
        let mut k = 0usize;
        while let Some(&sid) = order.get(k) {
            for b in 0..=255u8 {
                let n = dfa.next_state(Anchored::No, sid, b);
                let id = *index.entry(n).or_insert_with(|| {
                    order.push(n);
                    order.len().saturating_sub(1)
                });
                next.push(id);
            }
            k = k.saturating_add(1);
        }
        let states = order.len();
        // Bytes whose columns agree in every state share a class.
        let mut classes = [0u8; 256];
        let mut class_of: HashMap<Vec<usize>, u8> = HashMap::new();
        let mut reps: Vec<u8> = Vec::new();
        for b in 0..=255u8 {
            let column: Vec<usize> = (0..states)
                .map(|s| {
                    next.get(s.saturating_mul(256).saturating_add(usize::from(b)))
                        .copied()
                        .unwrap_or(0)
                })
                .collect();
            let fresh = u8::try_from(class_of.len()).ok();
            let class = *class_of.entry(column).or_insert_with(|| {
                reps.push(b);
                fresh.unwrap_or(0)
            });
            *classes.get_mut(usize::from(b))? = class;
        }
        let classes_len = reps.len();
        let stride = classes_len.saturating_add(1);
        // Rows: states that match nothing first, then match states.
        let is_match = |sid: StateID| dfa.is_special(sid) && dfa.is_match(sid);
        let mut row_of = vec![0usize; states];
        let mut rows: Vec<usize> = (0..states)
            .filter(|&s| order.get(s).is_some_and(|&sid| !is_match(sid)))
            .collect();
        let first_match = rows.len();
        rows.extend((0..states).filter(|&s| order.get(s).is_some_and(|&sid| is_match(sid))));
        for (row, &s) in rows.iter().enumerate() {
            *row_of.get_mut(s)? = row;
        }
        let offset = |row: usize| u32::try_from(row.checked_mul(stride)?).ok();
        let mut trans = Vec::with_capacity(states.saturating_mul(stride));
        let mut match_ranges = Vec::new();
        let mut matches = Vec::new();
        for &s in &rows {
            for &b in &reps {
                let n = *next.get(s.saturating_mul(256).saturating_add(usize::from(b)))?;
                trans.push(offset(*row_of.get(n)?)?);
            }
            let sid = *order.get(s)?;
            trans.push(u32::try_from(match_ranges.len()).ok()?);
            if is_match(sid) {
                let from = u32::try_from(matches.len()).ok()?;
                for i in 0..dfa.match_len(sid) {
                    let pid = dfa.match_pattern(sid, i);
                    let len = u32::try_from(dfa.pattern_len(pid)).ok()?;
                    matches.push((pid.as_u32(), len));
                }
                match_ranges.push((from, u32::try_from(matches.len()).ok()?));
            }
        }
        if let Some(size) = TABLE_SIZES.iter().find(|&&n| n >= trans.len()) {
            trans.resize(*size, 0);
        }
        let longest = (0..dfa.patterns_len())
            .filter_map(|p| aho_corasick::PatternID::new(p).ok())
            .map(|p| dfa.pattern_len(p))
            .max()
            .unwrap_or(0);
        Some(Walker {
            classes,
            trans,
            start: offset(*row_of.first()?)?,
            first_match: offset(first_match)?,
            classes_len: u32::try_from(classes_len).ok()?,
            match_ranges,
            matches,
            longest,
        })
    }

    /// Length of the padded transition table, for tests that check each
    /// table size is walked.
    #[cfg(test)]
    pub(crate) fn table_len(&self) -> usize {
        self.trans.len()
    }

    /// The state after `sid` reads `b`.
    #[inline(always)]
    fn next(&self, sid: u32, b: u8) -> u32 {
        step(&self.classes, self.trans.as_slice(), sid, b)
    }

    /// Reports the matches of state `sid`, reached by reading the byte
    /// before `end`, when `end` lies in `(from, to]` (a lane reports only
    /// the matches that end in its own piece).
    #[cold]
    fn report(
        &self,
        sid: u32,
        end: usize,
        (from, to): (usize, usize),
        out: &mut Vec<(usize, Span)>,
    ) {
        if sid < self.first_match || end <= from || end > to {
            return;
        }
        let index = self
            .trans
            .get(sid.wrapping_add(self.classes_len) as usize)
            .copied();
        let Some(&(a, b)) = index.and_then(|r| self.match_ranges.get(r as usize)) else {
            return;
        };
        for &(pid, len) in self.matches.get(a as usize..b as usize).unwrap_or(&[]) {
            let begin = end.saturating_sub(len as usize);
            out.push((pid as usize, Span::new(begin, end)));
        }
    }

    /// Walks the four lanes of [`Walker::triggers`] in lockstep over their
    /// common length and returns each lane's state at the end. `lanes` holds
    /// each lane's offset in the view and the range in which it reports.
    ///
    /// The table is passed as an array of one of the [`TABLE_SIZES`] where
    /// it has one, so that a masked index needs no bounds check.
    fn lockstep(
        &self,
        segs: [&[u8]; LANES],
        lanes: [(usize, (usize, usize)); LANES],
        out: &mut Vec<(usize, Span)>,
    ) -> [u32; LANES] {
        let t = self.trans.as_slice();
        if let Ok(t) = <&[u32; SMALL]>::try_from(t) {
            self.lockstep_in(t, segs, lanes, out)
        } else if let Ok(t) = <&[u32; MEDIUM]>::try_from(t) {
            self.lockstep_in(t, segs, lanes, out)
        } else if let Ok(t) = <&[u32; LARGE]>::try_from(t) {
            self.lockstep_in(t, segs, lanes, out)
        } else {
            self.lockstep_in(t, segs, lanes, out)
        }
    }

    /// [`Walker::lockstep`] over the table `trans`.
    ///
    /// A function of its own, not inlined into the scan: the loop needs
    /// about fifteen live values (four states, four cursors, the tables),
    /// which fit in registers only without the caller's around them, and
    /// an index loop bounded by the shortest lane lets the compiler drop the
    /// per-byte bounds checks that a four-way `zip` kept.
    #[inline(never)]
    fn lockstep_in<T: Table + ?Sized>(
        &self,
        trans: &T,
        segs: [&[u8]; LANES],
        lanes: [(usize, (usize, usize)); LANES],
        out: &mut Vec<(usize, Span)>,
    ) -> [u32; LANES] {
        let [g0, g1, g2, g3] = segs;
        let n = g0.len().min(g1.len()).min(g2.len()).min(g3.len());
        let first_match = self.first_match;
        let next = |sid: u32, b: u8| step(&self.classes, trans, sid, b);
        let [mut s0, mut s1, mut s2, mut s3] = [self.start; LANES];
        for i in 0..n {
            let at = |g: &[u8]| g.get(i).copied().unwrap_or(0);
            s0 = next(s0, at(g0));
            s1 = next(s1, at(g1));
            s2 = next(s2, at(g2));
            s3 = next(s3, at(g3));
            if s0.max(s1).max(s2).max(s3) >= first_match {
                self.report_lanes([s0, s1, s2, s3], i, &lanes, out);
            }
        }
        [s0, s1, s2, s3]
    }

    /// Reports the matches of the lanes whose state after step `i` of
    /// [`Walker::lockstep`] matches. Out of line, so that the positions it
    /// computes are not computed on every step of the walk.
    #[cold]
    #[inline(never)]
    fn report_lanes(
        &self,
        s: [u32; LANES],
        i: usize,
        lanes: &[(usize, (usize, usize)); LANES],
        out: &mut Vec<(usize, Span)>,
    ) {
        for (&sid, &(at, range)) in s.iter().zip(lanes) {
            if sid >= self.first_match {
                self.report(sid, at.saturating_add(i).saturating_add(1), range, out);
            }
        }
    }

    /// Every occurrence of every pattern in `bytes`, overlapping ones
    /// included, as `(pattern, span)`, in no particular order.
    ///
    /// The walk is bound by the latency of one table lookup per byte, each
    /// depending on the last, so a long text is cut into [`LANES`] pieces
    /// walked in lockstep: independent chains that the CPU overlaps. Each
    /// lane reads its piece and the `longest - 1` bytes before it (so that
    /// it has seen every pattern that ends in its piece) and reports only
    /// matches that end in its piece; the first lane, which has no bytes
    /// before it, reads as many past its piece instead, so that all four
    /// walk the same length and nothing but the last few bytes of the text
    /// is walked alone. The lanes' states are checked for a match together,
    /// once per step: on prose matches are rare.
    pub(crate) fn triggers(&self, bytes: &[u8]) -> Vec<(usize, Span)> {
        // Prose triggers a few common words per 100 bytes.
        let mut out = Vec::with_capacity((bytes.len() / 32).clamp(8, 512));
        let mut sid = self.start;
        let mut at = 0usize;
        let mut range = (0, bytes.len());
        let piece = bytes.len() / LANES;
        let lead = self.longest.saturating_sub(1);
        // A lane must be able to read a whole pattern's worth before its
        // piece; texts too short for that are walked in one lane.
        if bytes.len() >= LOCKSTEP_MIN_BYTES && lead <= piece {
            let len = piece.saturating_add(lead);
            // Lane k reports matches ending in (k * piece, (k + 1) * piece];
            // the last lane goes on alone to the end of the text.
            let lanes: [(usize, (usize, usize)); LANES] = std::array::from_fn(|k| {
                let from = k.saturating_mul(piece);
                let at = if k == 0 { 0 } else { from.saturating_sub(lead) };
                (at, (from, from.saturating_add(piece)))
            });
            let seg = |at: usize| bytes.get(at..at.saturating_add(len)).unwrap_or(&[]);
            let ends = self.lockstep(lanes.map(|(at, _)| seg(at)), lanes, &mut out);
            if let (Some(&s), Some(&(a, (from, _)))) = (ends.last(), lanes.last()) {
                sid = s;
                at = a.saturating_add(len);
                range = (from, bytes.len());
            }
        }
        for (pos, &b) in bytes.iter().enumerate().skip(at) {
            sid = self.next(sid, b);
            if sid >= self.first_match {
                self.report(sid, pos.saturating_add(1), range, &mut out);
            }
        }
        out
    }
}
