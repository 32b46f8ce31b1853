//! Per-subject violation counters for the GB/T 45654-2025 suspension rule.
//!
//! GB/T 45654-2025 (basic security requirements for generative AI services)
//! asks that a user who submits illegal or harmful content three times in a
//! row, or five times within a day, be suspended. The counters are kept in
//! SQLite so a restart does not forgive anyone, and the resulting
//! [`SubjectState`] is handed to policies as `input.subject`: the *policy*
//! decides what a suspension means (the `cn-genai` pack refuses with a
//! standard message), the counters only count.
//!
//! "A day" is the trailing 24 hours rather than the calendar day, so the
//! limit cannot be doubled by straddling midnight.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};
use time::OffsetDateTime;

use crate::store::{self, from_unix, StoreError};
use crate::{Action, Decision, SubjectState};

const DAY_SECS: i64 = 24 * 60 * 60;

/// When a subject is suspended, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuspensionRule {
    /// Violations in a row that suspend (GB/T 45654: 3).
    pub consecutive: u32,
    /// Violations in the trailing 24 hours that suspend (GB/T 45654: 5).
    pub per_24h: u32,
    /// How long a suspension lasts.
    pub duration: Duration,
}

impl Default for SuspensionRule {
    /// The GB/T 45654-2025 numbers, with a 24-hour suspension.
    fn default() -> Self {
        SuspensionRule {
            consecutive: 3,
            per_24h: 5,
            duration: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// Per-subject violation counters in SQLite.
///
/// ```
/// use menshen_policies::{Decision, SubjectCounters};
/// let c = SubjectCounters::open_in_memory().unwrap();
/// let now = time::OffsetDateTime::now_utc();
/// let mut violation = Decision::block("GBT45654:A.1.1");
/// violation.violation = true;
/// for _ in 0..3 { c.observe("acme/u1", &violation, now).unwrap(); }
/// assert!(c.state("acme/u1", now).unwrap().suspended);
/// ```
#[derive(Debug)]
pub struct SubjectCounters {
    conn: Mutex<Connection>,
    rule: SuspensionRule,
    /// Subjects read clean (no run of violations, none in the trailing 24
    /// hours, not suspended), each with the time (unix seconds) of the
    /// latest such read. Time alone only ages violations out, and every new
    /// violation goes through [`SubjectCounters::record`], which drops the
    /// entry, so the subject is still clean at any later time. Entries are
    /// added and dropped under the connection's lock, in step with the
    /// database.
    clean: Mutex<HashMap<String, i64>>,
}

/// Most subjects remembered clean; past it the memory starts over (a
/// forgotten subject costs one database read, never a wrong answer).
const CLEAN_CACHE_MAX: usize = 65_536;

// === impl SubjectCounters ===

impl SubjectCounters {
    /// Opens or creates the counters database at `path`.
    ///
    /// # Errors
    /// When SQLite cannot open the file or create the schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        SubjectCounters::with_conn(store::open(path.as_ref())?)
    }

    /// Counters in memory (tests, or a deployment that opts out of state).
    ///
    /// # Errors
    /// When SQLite cannot create the schema.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        SubjectCounters::with_conn(store::open_in_memory()?)
    }

    fn with_conn(conn: Connection) -> Result<Self, StoreError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS subjects (
                subject TEXT PRIMARY KEY,
                consecutive INTEGER NOT NULL DEFAULT 0,
                suspended_until INTEGER
            );
            CREATE TABLE IF NOT EXISTS violations (
                subject TEXT NOT NULL,
                at INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS violations_subject_at ON violations(subject, at);",
        )?;
        Ok(SubjectCounters {
            conn: Mutex::new(conn),
            rule: SuspensionRule::default(),
            clean: Mutex::new(HashMap::new()),
        })
    }

    /// Replaces the suspension rule.
    pub fn with_rule(mut self, rule: SuspensionRule) -> Self {
        self.rule = rule;
        self
    }

    /// The subject's state at `now`, for `input.subject`. An empty subject id
    /// (the client sent no user) has no history.
    ///
    /// # Errors
    /// On SQLite failure.
    pub fn state(&self, subject: &str, now: OffsetDateTime) -> Result<SubjectState, StoreError> {
        if subject.is_empty() {
            return Ok(SubjectState::default());
        }
        let conn = self.conn.lock();
        let now = now.unix_timestamp();
        let state = read_state(&conn, subject, now)?;
        self.remember(subject, &state, now);
        Ok(state)
    }

    /// The subject's state at `now` when it is known without the database:
    /// a subject read clean at or before `now` and not recorded in
    /// violation since. The proxy asks this on its async workers and goes
    /// to [`SubjectCounters::state`] (blocking) only on `None`.
    pub fn cached_state(&self, subject: &str, now: OffsetDateTime) -> Option<SubjectState> {
        if subject.is_empty() {
            return Some(SubjectState::default());
        }
        let since = *self.clean.lock().get(subject)?;
        (now.unix_timestamp() >= since).then(|| SubjectState {
            id: subject.to_owned(),
            ..SubjectState::default()
        })
    }

    /// Whether [`SubjectCounters::observe`] with these arguments would
    /// change nothing stored: a refusal that is not a violation (it only
    /// reads), an anonymous subject, or a clean request from a subject
    /// already known clean. The caller can then skip the call.
    pub fn observe_is_noop(&self, subject: &str, decision: &Decision, now: OffsetDateTime) -> bool {
        match Outcome::of(decision) {
            Outcome::Violation => subject.is_empty(),
            Outcome::Clean => self.cached_state(subject, now).is_some(),
            Outcome::Neutral => true,
        }
    }

    /// Notes `subject` clean as of `now` when `state` says so; called with
    /// the connection locked, right after the read.
    fn remember(&self, subject: &str, state: &SubjectState, now: i64) {
        let clean =
            state.consecutive_violations == 0 && state.violations_24h == 0 && !state.suspended;
        let mut known = self.clean.lock();
        if !clean {
            known.remove(subject);
            return;
        }
        if known.len() >= CLEAN_CACHE_MAX && !known.contains_key(subject) {
            known.clear();
        }
        // The latest clean read: "clean from then on" needs no assumption
        // about reads at earlier times.
        let since = known.entry(subject.to_owned()).or_insert(now);
        *since = (*since).max(now);
    }

    /// Records one request's outcome: a violation, or a clean request (which
    /// ends a run of consecutive violations). Returns the new state.
    ///
    /// # Errors
    /// On SQLite failure.
    pub fn record(
        &self,
        subject: &str,
        violation: bool,
        now: OffsetDateTime,
    ) -> Result<SubjectState, StoreError> {
        if subject.is_empty() {
            return Ok(SubjectState::default());
        }
        let now = now.unix_timestamp();
        let mut conn = self.conn.lock();
        if violation {
            // Before the write: a failed write must not leave it cached clean.
            self.clean.lock().remove(subject);
        }
        let tx = conn.transaction()?;
        if violation {
            tx.execute(
                "INSERT INTO subjects (subject, consecutive) VALUES (?1, 1)
                 ON CONFLICT(subject) DO UPDATE SET consecutive = consecutive + 1",
                params![subject],
            )?;
            tx.execute(
                "INSERT INTO violations (subject, at) VALUES (?1, ?2)",
                params![subject, now],
            )?;
            tx.execute(
                "DELETE FROM violations WHERE subject = ?1 AND at <= ?2",
                params![subject, now.saturating_sub(DAY_SECS)],
            )?;
            let state = read_state(&tx, subject, now)?;
            if state.consecutive_violations >= self.rule.consecutive
                || state.violations_24h >= self.rule.per_24h
            {
                let secs = i64::try_from(self.rule.duration.as_secs()).unwrap_or(i64::MAX);
                tx.execute(
                    "UPDATE subjects SET suspended_until = ?2 WHERE subject = ?1",
                    params![subject, now.saturating_add(secs)],
                )?;
                tracing::info!(
                    subject.consecutive = state.consecutive_violations,
                    subject.violations_24h = state.violations_24h,
                    "subject suspended"
                );
            }
        } else {
            tx.execute(
                "UPDATE subjects SET consecutive = 0 WHERE subject = ?1",
                params![subject],
            )?;
        }
        let state = read_state(&tx, subject, now)?;
        tx.commit()?;
        self.remember(subject, &state, now);
        Ok(state)
    }

    /// Records what a decision means for the counters: a decision marked
    /// `violation` counts; a request that went through (allow, redact, route)
    /// is clean; refusals for other reasons (a suspension, a size limit) and
    /// reviews leave the counters as they are.
    ///
    /// # Errors
    /// On SQLite failure.
    pub fn observe(
        &self,
        subject: &str,
        decision: &Decision,
        now: OffsetDateTime,
    ) -> Result<SubjectState, StoreError> {
        match Outcome::of(decision) {
            Outcome::Violation => self.record(subject, true, now),
            Outcome::Clean => self.record(subject, false, now),
            Outcome::Neutral => self.state(subject, now),
        }
    }

    /// Lifts a suspension and clears the subject's history (an operator's
    /// decision, e.g. after an appeal).
    ///
    /// # Errors
    /// On SQLite failure.
    pub fn lift(&self, subject: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM subjects WHERE subject = ?1", params![subject])?;
        tx.execute(
            "DELETE FROM violations WHERE subject = ?1",
            params![subject],
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// What a decision means for the counters (see [`SubjectCounters::observe`]).
enum Outcome {
    /// Marked `violation`: counts.
    Violation,
    /// Went through (allow, redact, route): ends a run of violations.
    Clean,
    /// Refused for another reason, or held for review: changes nothing.
    Neutral,
}

impl Outcome {
    fn of(decision: &Decision) -> Self {
        match (decision.violation, decision.action) {
            (true, _) => Outcome::Violation,
            (false, Action::Allow | Action::Redact | Action::Route) => Outcome::Clean,
            (false, Action::Block | Action::Review) => Outcome::Neutral,
        }
    }
}

fn read_state(conn: &Connection, subject: &str, now: i64) -> Result<SubjectState, StoreError> {
    let row: Option<(i64, Option<i64>)> = conn
        .query_row(
            "SELECT consecutive, suspended_until FROM subjects WHERE subject = ?1",
            params![subject],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let day: i64 = conn.query_row(
        "SELECT COUNT(*) FROM violations WHERE subject = ?1 AND at > ?2",
        params![subject, now.saturating_sub(DAY_SECS)],
        |r| r.get(0),
    )?;
    let (consecutive, until) = row.unwrap_or((0, None));
    let until = until.filter(|u| *u > now);
    Ok(SubjectState {
        id: subject.to_owned(),
        consecutive_violations: u32::try_from(consecutive).unwrap_or(u32::MAX),
        violations_24h: u32::try_from(day).unwrap_or(u32::MAX),
        suspended: until.is_some(),
        suspended_until: until.map(from_unix),
    })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use time::Duration as TDuration;

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap()
    }

    #[test]
    fn three_in_a_row_suspends() {
        let c = SubjectCounters::open_in_memory().unwrap();
        let now = t0();
        for i in 0..2 {
            let s = c.record("u", true, now + TDuration::minutes(i)).unwrap();
            assert!(!s.suspended);
        }
        let s = c.record("u", true, now + TDuration::minutes(2)).unwrap();
        assert!(s.suspended);
        assert_eq!(s.consecutive_violations, 3);
        assert!(s.suspended_until.is_some());
        // The suspension ends after its duration.
        let later = c.state("u", now + TDuration::hours(25)).unwrap();
        assert!(!later.suspended);
    }

    #[test]
    fn a_clean_request_breaks_the_run_but_not_the_daily_count() {
        let c = SubjectCounters::open_in_memory().unwrap();
        let now = t0();
        let mut m = 0;
        let mut at = || {
            m += 1;
            now + TDuration::minutes(m)
        };
        for _ in 0..2 {
            c.record("u", true, at()).unwrap();
        }
        c.record("u", false, at()).unwrap();
        for _ in 0..2 {
            c.record("u", true, at()).unwrap();
        }
        let s = c.record("u", false, at()).unwrap();
        assert_eq!(
            (s.consecutive_violations, s.violations_24h, s.suspended),
            (0, 4, false)
        );
        let s = c.record("u", true, at()).unwrap();
        assert_eq!(s.violations_24h, 5);
        assert!(s.suspended, "five in a day suspends");
    }

    #[test]
    fn violations_older_than_a_day_do_not_count() {
        let c = SubjectCounters::open_in_memory().unwrap();
        for i in 0..4 {
            c.record("u", true, t0() + TDuration::minutes(i)).unwrap();
            c.record("u", false, t0() + TDuration::minutes(i)).unwrap();
        }
        let s = c.record("u", true, t0() + TDuration::hours(30)).unwrap();
        assert_eq!(s.violations_24h, 1);
        assert!(!s.suspended);
    }

    #[test]
    fn observe_follows_the_decision() {
        let c = SubjectCounters::open_in_memory().unwrap();
        let mut v = Decision::block("x");
        v.violation = true;
        c.observe("u", &v, t0()).unwrap();
        c.observe("u", &v, t0()).unwrap();
        // A refusal that is not a violation neither counts nor resets.
        let s = c
            .observe("u", &Decision::block("request_too_large"), t0())
            .unwrap();
        assert_eq!(s.consecutive_violations, 2);
        let s = c.observe("u", &Decision::allow(), t0()).unwrap();
        assert_eq!(s.consecutive_violations, 0);
        // Anonymous requests are never counted.
        assert_eq!(c.observe("", &v, t0()).unwrap(), SubjectState::default());
    }

    #[test]
    fn state_survives_reopen_and_lift_clears() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("subjects.sqlite");
        {
            let c = SubjectCounters::open(&path).unwrap();
            for _ in 0..3 {
                c.record("acme/u1", true, t0()).unwrap();
            }
        }
        let c = SubjectCounters::open(&path).unwrap();
        assert!(c.state("acme/u1", t0()).unwrap().suspended);
        assert!(!c.state("acme/u2", t0()).unwrap().suspended);
        c.lift("acme/u1").unwrap();
        assert_eq!(c.state("acme/u1", t0()).unwrap().consecutive_violations, 0);
        assert!(!c.state("acme/u1", t0()).unwrap().suspended);
    }

    #[test]
    fn a_subject_read_clean_is_known_clean_until_its_next_violation() {
        let c = SubjectCounters::open_in_memory().unwrap();
        let now = t0();
        assert_eq!(c.cached_state("u", now), None, "never read");
        assert!(!c.observe_is_noop("u", &Decision::allow(), now));
        let s = c.state("u", now).unwrap();
        assert_eq!(c.cached_state("u", now), Some(s.clone()));
        assert_eq!(c.cached_state("u", now + TDuration::hours(3)), Some(s));
        assert_eq!(c.cached_state("u", now - TDuration::seconds(1)), None);
        assert!(c.observe_is_noop("u", &Decision::allow(), now));
        // A refusal that is not a violation only reads.
        assert!(c.observe_is_noop("v", &Decision::block("request_too_large"), now));
        let mut v = Decision::block("x");
        v.violation = true;
        assert!(!c.observe_is_noop("u", &v, now));
        assert!(c.observe_is_noop("", &v, now), "anonymous: never counted");
        c.observe("u", &v, now).unwrap();
        assert_eq!(c.cached_state("u", now), None);
        // Clean again once the day has passed and a clean request ended the run.
        c.record("u", false, now + TDuration::hours(25)).unwrap();
        assert!(c.cached_state("u", now + TDuration::hours(25)).is_some());
    }

    proptest::proptest! {
        /// Whatever the sequence of violations, clean requests and reads
        /// (at non-decreasing times), a cached answer is the database's.
        #[test]
        fn the_cached_state_is_the_stored_state(
            steps in proptest::collection::vec((0u8..3, 0u8..3, 0i64..20_000), 1..60)
        ) {
            let c = SubjectCounters::open_in_memory().unwrap();
            let mut now = t0();
            for (op, who, dt) in steps {
                now += TDuration::seconds(dt);
                let subject = ["a", "b", "c"][usize::from(who)];
                match op {
                    0 => { c.record(subject, true, now).unwrap(); }
                    1 => { c.record(subject, false, now).unwrap(); }
                    _ => { c.state(subject, now).unwrap(); }
                }
                for s in ["a", "b", "c"] {
                    if let Some(cached) = c.cached_state(s, now) {
                        proptest::prop_assert_eq!(cached, c.state(s, now).unwrap());
                    }
                }
            }
        }
    }
}
