//! The human review queue.
//!
//! A `review` decision holds the request: it is not forwarded, the client is
//! told it is held with a case id, and a case is stored here with the
//! *redacted* content, the finding summaries and the decision. Reviewers list,
//! approve and reject cases through the admin API; outcomes are final and
//! recorded with who decided, when and why. The content column must only
//! ever receive redacted text: raw prompts never reach disk.
//!
//! An approval releases the request it was given for, once: the client sends
//! the same request again naming the case, and [`ReviewQueue::release`]
//! checks that the case is approved, not yet used, and was opened for this
//! very request (a keyed [`RequestFingerprint`] of tenant, route and bytes),
//! so an approval can neither be replayed nor carry a different prompt.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::store::{self, from_unix, StoreError};
use crate::{Decision, FindingSummary};

/// Longest reviewer note kept, in bytes.
const MAX_NOTE: usize = 4096;

/// A review case id (a UUIDv7, so ids sort by creation time).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaseId(String);

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseStatus {
    /// Waiting for a reviewer.
    Pending,
    /// A reviewer allowed it.
    Approved,
    /// A reviewer refused it.
    Rejected,
}

/// What to store for a new case. Build with [`NewCase::new`] and set the
/// context fields the proxy knows.
#[derive(Debug, Clone, Default)]
pub struct NewCase {
    /// The request content, already redacted.
    pub redacted_content: String,
    /// Finding summaries.
    pub findings: Vec<FindingSummary>,
    /// The decision that asked for review.
    pub decision: Option<Decision>,
    /// Tenant.
    pub tenant: String,
    /// Route.
    pub route: String,
    /// Subject (end user), if known.
    pub subject: String,
    /// The request id, linking the case to the audit log.
    pub request_id: String,
    /// Policy version that decided.
    pub policy_version: String,
    /// The held request's fingerprint ([`ReviewQueue::fingerprint`]); a case
    /// without one can be decided but never releases a request.
    pub fingerprint: Option<RequestFingerprint>,
}

/// A keyed digest (HMAC-SHA-256) of the request a case holds. Keyed with a
/// secret kept in the queue database because the digest covers the *raw*
/// request: an unkeyed hash of a short prompt could be confirmed by guessing.
/// Never shown by the admin API.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestFingerprint([u8; 32]);

impl fmt::Debug for RequestFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestFingerprint(..)")
    }
}

/// What [`ReviewQueue::release`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Release {
    /// Approved and now used up: forward the request.
    Released(Box<Case>),
    /// No reviewer has decided yet.
    Pending,
    /// A reviewer refused it.
    Rejected(Outcome),
    /// The approval already released a request (RFC 3339 time).
    AlreadyReleased {
        /// When.
        at: String,
    },
    /// No such case, or it was opened for another request, tenant or route.
    /// One answer for both, so a client cannot probe for case ids.
    NotForThisRequest,
}

/// A stored case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    /// Id.
    pub id: CaseId,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// Status.
    pub status: CaseStatus,
    /// Tenant.
    pub tenant: String,
    /// Route.
    pub route: String,
    /// Subject.
    pub subject: String,
    /// Request id.
    pub request_id: String,
    /// Policy version that decided.
    pub policy_version: String,
    /// Redacted content.
    pub redacted_content: String,
    /// Finding summaries.
    pub findings: Vec<FindingSummary>,
    /// The decision that asked for review.
    pub decision: Decision,
    /// The outcome, once decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// RFC 3339 time an approval released the held request, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released_at: Option<String>,
    /// The request id of the resubmission that the approval released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released_request_id: Option<String>,
}

/// A reviewer's final word on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The case.
    pub case_id: CaseId,
    /// Approved or rejected.
    pub status: CaseStatus,
    /// Who decided (the admin API's authenticated principal).
    pub reviewer: String,
    /// Why.
    pub note: String,
    /// RFC 3339 time of the decision.
    pub decided_at: String,
}

/// Which cases [`ReviewQueue::list`] returns.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// Only this status.
    pub status: Option<CaseStatus>,
    /// Only this tenant.
    pub tenant: Option<String>,
    /// At most this many (newest first); 0 means 100.
    pub limit: usize,
}

/// The review queue in SQLite.
///
/// ```
/// use menshen_policies::{CaseStatus, Decision, ReviewQueue};
/// let q = ReviewQueue::open_in_memory().unwrap();
/// let id = q.create_case("transfer [AMOUNT] to [IBAN]", &[], &Decision::allow()).unwrap();
/// let outcome = q.approve(&id, "alice", "customer verified by phone").unwrap();
/// assert_eq!(outcome.status, CaseStatus::Approved);
/// assert!(q.reject(&id, "bob", "").is_err(), "outcomes are final");
/// ```
#[derive(Debug)]
pub struct ReviewQueue {
    conn: Mutex<Connection>,
    /// Fingerprint key, created with the database and kept in it.
    key: FingerprintKey,
}

/// The HMAC key behind [`RequestFingerprint`]s; never printed.
struct FingerprintKey([u8; 32]);

impl fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FingerprintKey(..)")
    }
}

// === impl CaseId ===

impl CaseId {
    /// A fresh, time-ordered id.
    pub fn generate() -> Self {
        CaseId(uuid::Uuid::now_v7().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for CaseId {
    type Err = StoreError;

    /// Parses an id from a URL path segment; only UUIDs are accepted, so a
    /// path can never smuggle anything else into a query.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s)
            .map(|u| CaseId(u.to_string()))
            .map_err(|_| StoreError::Invalid {
                field: "case_id",
                reason: "not a UUID",
            })
    }
}

// === impl CaseStatus ===

impl CaseStatus {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Pending => "pending",
            CaseStatus::Approved => "approved",
            CaseStatus::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(CaseStatus::Pending),
            "approved" => Some(CaseStatus::Approved),
            "rejected" => Some(CaseStatus::Rejected),
            _ => None,
        }
    }
}

// === impl NewCase ===

impl NewCase {
    /// A case with the required parts; context fields empty.
    pub fn new(
        redacted_content: impl Into<String>,
        findings: &[FindingSummary],
        decision: &Decision,
    ) -> Self {
        NewCase {
            redacted_content: redacted_content.into(),
            findings: findings.to_vec(),
            decision: Some(decision.clone()),
            ..NewCase::default()
        }
    }
}

// === impl ReviewQueue ===

impl ReviewQueue {
    /// Opens or creates the queue database at `path`.
    ///
    /// # Errors
    /// When SQLite cannot open the file or create the schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        ReviewQueue::with_conn(store::open(path.as_ref())?)
    }

    /// A queue in memory (tests).
    ///
    /// # Errors
    /// When SQLite cannot create the schema.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        ReviewQueue::with_conn(store::open_in_memory()?)
    }

    fn with_conn(conn: Connection) -> Result<Self, StoreError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS review_cases (
                id TEXT PRIMARY KEY,
                created_at INTEGER NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
                tenant TEXT NOT NULL,
                route TEXT NOT NULL,
                subject TEXT NOT NULL,
                request_id TEXT NOT NULL,
                policy_version TEXT NOT NULL,
                content TEXT NOT NULL,
                findings TEXT NOT NULL,
                decision TEXT NOT NULL,
                reviewer TEXT,
                note TEXT,
                decided_at INTEGER
            );
            CREATE INDEX IF NOT EXISTS review_cases_status ON review_cases(status, id);
            CREATE TABLE IF NOT EXISTS review_meta (
                name TEXT PRIMARY KEY,
                value BLOB NOT NULL
            );",
        )?;
        // Columns added after the first release; a database from before
        // gains them empty (its cases can be decided but release nothing).
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('review_cases')")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for (name, ty) in [
            ("fingerprint", "BLOB"),
            ("released_at", "INTEGER"),
            ("released_request_id", "TEXT"),
            ("audited_at", "INTEGER"),
        ] {
            if !columns.iter().any(|c| c == name) {
                conn.execute_batch(&format!("ALTER TABLE review_cases ADD COLUMN {name} {ty}"))?;
                if name == "audited_at" {
                    // Outcomes decided before the column existed had their
                    // one audit attempt then; they are not written again.
                    conn.execute(
                        "UPDATE review_cases SET audited_at = decided_at WHERE status != 'pending'",
                        [],
                    )?;
                }
            }
        }
        let mut fresh = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut fresh);
        conn.execute(
            "INSERT OR IGNORE INTO review_meta (name, value) VALUES ('fingerprint_key', ?1)",
            params![fresh.as_slice()],
        )?;
        let stored: Vec<u8> = conn.query_row(
            "SELECT value FROM review_meta WHERE name = 'fingerprint_key'",
            [],
            |r| r.get(0),
        )?;
        let key = <[u8; 32]>::try_from(stored.as_slice()).map_err(|_| StoreError::Corrupt {
            case_id: String::new(),
            column: "review_meta.fingerprint_key",
            reason: format!("{} bytes, expected 32", stored.len()),
        })?;
        Ok(ReviewQueue {
            conn: Mutex::new(conn),
            key: FingerprintKey(key),
        })
    }

    /// The fingerprint of a request made of `parts` (tenant, route, method,
    /// path, body: the caller's choice, in a fixed order). Each part is
    /// length-prefixed, so no two different part lists collide by
    /// concatenation.
    pub fn fingerprint(&self, parts: &[&[u8]]) -> RequestFingerprint {
        // HMAC takes a key of any length; this cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key.0) else {
            return RequestFingerprint([0; 32]);
        };
        for p in parts {
            mac.update(&u64::try_from(p.len()).unwrap_or(u64::MAX).to_le_bytes());
            mac.update(p);
        }
        RequestFingerprint(mac.finalize().into_bytes().into())
    }

    /// Releases the request held by case `id`, once: succeeds only when the
    /// case is approved, has not released a request yet, and was opened for
    /// this `fingerprint`, `tenant` and `route`. `request_id` (the
    /// resubmission's) is recorded on the case.
    ///
    /// # Errors
    /// On SQLite failure or a corrupt row.
    pub fn release(
        &self,
        id: &CaseId,
        fingerprint: &RequestFingerprint,
        tenant: &str,
        route: &str,
        request_id: &str,
    ) -> Result<Release, StoreError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let conn = self.conn.lock();
        // One statement: two resubmissions racing for one approval cannot
        // both win.
        let changed = conn.execute(
            "UPDATE review_cases SET released_at = ?2, released_request_id = ?3
             WHERE id = ?1 AND status = 'approved' AND released_at IS NULL
               AND fingerprint = ?4 AND tenant = ?5 AND route = ?6",
            params![
                id.as_str(),
                now,
                request_id,
                fingerprint.0.as_slice(),
                tenant,
                route
            ],
        )?;
        let raw = conn
            .query_row(
                "SELECT * FROM review_cases WHERE id = ?1",
                params![id.as_str()],
                |r| {
                    let fp: Option<Vec<u8>> = r.get("fingerprint")?;
                    Ok((RawCase::from_row(r)?, fp))
                },
            )
            .optional()?;
        drop(conn);
        let Some((raw, fp)) = raw else {
            return Ok(Release::NotForThisRequest);
        };
        let matches = fp.as_deref() == Some(fingerprint.0.as_slice())
            && raw.tenant == tenant
            && raw.route == route;
        if !matches {
            return Ok(Release::NotForThisRequest);
        }
        let case = raw.into_case()?;
        if changed == 1 {
            tracing::info!(review.case = %id, "approved request released");
            return Ok(Release::Released(Box::new(case)));
        }
        Ok(match (case.status, case.released_at, case.outcome) {
            (CaseStatus::Pending, _, _) => Release::Pending,
            (CaseStatus::Rejected, _, Some(outcome)) => Release::Rejected(outcome),
            (CaseStatus::Approved, Some(at), _) => Release::AlreadyReleased { at },
            // Approved, unreleased, matching, yet not updated: impossible
            // outside a concurrent edit of the file; refuse rather than
            // forward.
            _ => Release::NotForThisRequest,
        })
    }

    /// Stores a case and returns its id.
    ///
    /// # Errors
    /// On SQLite failure.
    pub fn create_case(
        &self,
        redacted_content: &str,
        findings: &[FindingSummary],
        decision: &Decision,
    ) -> Result<CaseId, StoreError> {
        self.create(NewCase::new(redacted_content, findings, decision))
    }

    /// Stores a case with its context (tenant, route, request id, ...).
    ///
    /// # Errors
    /// On SQLite failure.
    pub fn create(&self, case: NewCase) -> Result<CaseId, StoreError> {
        let id = CaseId::generate();
        let findings =
            serde_json::to_string(&case.findings).map_err(|e| corrupt(&id, "findings", e))?;
        let decision = case.decision.unwrap_or_else(Decision::allow);
        let decision = serde_json::to_string(&decision).map_err(|e| corrupt(&id, "decision", e))?;
        self.conn.lock().execute(
            "INSERT INTO review_cases (id, created_at, status, tenant, route, subject, request_id,
                policy_version, content, findings, decision, fingerprint)
             VALUES (?1, ?2, 'pending', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                id.as_str(),
                OffsetDateTime::now_utc().unix_timestamp(),
                case.tenant,
                case.route,
                case.subject,
                case.request_id,
                case.policy_version,
                case.redacted_content,
                findings,
                decision,
                case.fingerprint.map(|f| f.0.to_vec())
            ],
        )?;
        Ok(id)
    }

    /// Cases matching `filter`, newest first.
    ///
    /// # Errors
    /// On SQLite failure or a corrupt row.
    pub fn list(&self, filter: &CaseFilter) -> Result<Vec<Case>, StoreError> {
        let limit = if filter.limit == 0 { 100 } else { filter.limit };
        let conn = self.conn.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT * FROM review_cases
             WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR tenant = ?2)
             ORDER BY id DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            params![
                filter.status.map(CaseStatus::as_str),
                filter.tenant.as_deref(),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            RawCase::from_row,
        )?;
        rows.map(|r| r?.into_case()).collect()
    }

    /// One case.
    ///
    /// # Errors
    /// On SQLite failure or a corrupt row.
    pub fn get(&self, id: &CaseId) -> Result<Option<Case>, StoreError> {
        let conn = self.conn.lock();
        let raw = conn
            .query_row(
                "SELECT * FROM review_cases WHERE id = ?1",
                params![id.as_str()],
                RawCase::from_row,
            )
            .optional()?;
        raw.map(RawCase::into_case).transpose()
    }

    /// Approves a pending case.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::AlreadyDecided`], an empty
    /// reviewer, or SQLite failure.
    pub fn approve(&self, id: &CaseId, reviewer: &str, note: &str) -> Result<Outcome, StoreError> {
        self.decide(id, CaseStatus::Approved, reviewer, note)
    }

    /// Rejects a pending case.
    ///
    /// # Errors
    /// As [`ReviewQueue::approve`].
    pub fn reject(&self, id: &CaseId, reviewer: &str, note: &str) -> Result<Outcome, StoreError> {
        self.decide(id, CaseStatus::Rejected, reviewer, note)
    }

    fn decide(
        &self,
        id: &CaseId,
        status: CaseStatus,
        reviewer: &str,
        note: &str,
    ) -> Result<Outcome, StoreError> {
        if reviewer.trim().is_empty() {
            return Err(StoreError::Invalid {
                field: "reviewer",
                reason: "must not be empty",
            });
        }
        if note.len() > MAX_NOTE {
            return Err(StoreError::Invalid {
                field: "note",
                reason: "longer than 4096 bytes",
            });
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let conn = self.conn.lock();
        // The status guard makes approve/reject races safe: exactly one wins.
        let changed = conn.execute(
            "UPDATE review_cases SET status = ?2, reviewer = ?3, note = ?4, decided_at = ?5
             WHERE id = ?1 AND status = 'pending'",
            params![id.as_str(), status.as_str(), reviewer, note, now],
        )?;
        if changed == 0 {
            let current: Option<String> = conn
                .query_row(
                    "SELECT status FROM review_cases WHERE id = ?1",
                    params![id.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            return Err(match current.as_deref().and_then(CaseStatus::parse) {
                Some(s) => StoreError::AlreadyDecided {
                    case_id: id.to_string(),
                    status: s.as_str(),
                },
                None => StoreError::NotFound {
                    case_id: id.to_string(),
                },
            });
        }
        tracing::info!(review.case = %id, review.status = status.as_str(), "review case decided");
        Ok(Outcome {
            case_id: id.clone(),
            status,
            reviewer: reviewer.to_owned(),
            note: note.to_owned(),
            decided_at: from_unix(now),
        })
    }
}

/// The reviewer name [`ReviewQueue::expire`] records on the cases it closes.
pub const EXPIRY_REVIEWER: &str = "menshen (expired)";

// === impl ReviewQueue: retention ===

impl ReviewQueue {
    /// Closes every case still pending that was opened before
    /// `opened_before`: it is rejected by [`EXPIRY_REVIEWER`] with `note`,
    /// so a late approval cannot release a request nobody is waiting for
    /// (the client was told to resubmit hours ago) and the queue does not
    /// fill with cases no reviewer will read. Returns the closed cases, for
    /// the audit log.
    ///
    /// # Errors
    /// On SQLite failure or a corrupt row (nothing is closed then).
    pub fn expire(
        &self,
        opened_before: OffsetDateTime,
        note: &str,
    ) -> Result<Vec<Case>, StoreError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        let ids: Vec<String> = tx
            .prepare_cached(
                "SELECT id FROM review_cases WHERE status = 'pending' AND created_at < ?1 ORDER BY id",
            )?
            .query_map(params![opened_before.unix_timestamp()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut closed = Vec::with_capacity(ids.len());
        for id in ids {
            tx.execute(
                "UPDATE review_cases SET status = 'rejected', reviewer = ?2, note = ?3, decided_at = ?4
                 WHERE id = ?1 AND status = 'pending'",
                params![id, EXPIRY_REVIEWER, note, now],
            )?;
            let raw = tx.query_row(
                "SELECT * FROM review_cases WHERE id = ?1",
                params![id],
                RawCase::from_row,
            )?;
            closed.push(raw.into_case()?);
        }
        tx.commit()?;
        if !closed.is_empty() {
            tracing::info!(
                review.expired = closed.len(),
                "pending review cases expired"
            );
        }
        Ok(closed)
    }

    /// Notes that `id`'s outcome is in the audit log, so that
    /// [`unaudited`](Self::unaudited) no longer lists it.
    ///
    /// # Errors
    /// On SQLite failure.
    pub fn mark_audited(&self, id: &CaseId) -> Result<(), StoreError> {
        self.conn.lock().execute(
            "UPDATE review_cases SET audited_at = ?2 WHERE id = ?1 AND status != 'pending'",
            params![id.as_str(), OffsetDateTime::now_utc().unix_timestamp()],
        )?;
        Ok(())
    }

    /// Cases decided before `decided_before` whose outcome is not yet in
    /// the audit log (its write failed: a full disk, a read-only database),
    /// oldest decision first, at most `limit`: the proxy writes them again
    /// until one succeeds, so an outcome is never lost to a transient audit
    /// failure. The cut-off leaves out decisions whose first write may
    /// still be under way.
    ///
    /// # Errors
    /// On SQLite failure or a corrupt row.
    pub fn unaudited(
        &self,
        decided_before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<Case>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT * FROM review_cases
             WHERE status != 'pending' AND audited_at IS NULL AND decided_at < ?1
             ORDER BY decided_at, id LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            params![
                decided_before.unix_timestamp(),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            RawCase::from_row,
        )?;
        rows.map(|r| r?.into_case()).collect()
    }

    /// Deletes the cases decided before `decided_before`, with their
    /// (redacted) content: the queue is a work list, not an archive; the
    /// audit log keeps each outcome. Pending cases are never deleted, nor
    /// are decided ones whose outcome is not yet audited.
    /// Returns how many were deleted.
    ///
    /// # Errors
    /// On SQLite failure.
    pub fn purge(&self, decided_before: OffsetDateTime) -> Result<usize, StoreError> {
        let n = self.conn.lock().execute(
            "DELETE FROM review_cases
             WHERE status != 'pending' AND decided_at < ?1 AND audited_at IS NOT NULL",
            params![decided_before.unix_timestamp()],
        )?;
        if n > 0 {
            tracing::info!(
                review.purged = n,
                "decided review cases past retention deleted"
            );
        }
        Ok(n)
    }
}

fn corrupt(id: &CaseId, column: &'static str, e: impl fmt::Display) -> StoreError {
    StoreError::Corrupt {
        case_id: id.to_string(),
        column,
        reason: e.to_string(),
    }
}

/// A row as stored, before its JSON columns are decoded.
struct RawCase {
    id: String,
    created_at: i64,
    status: String,
    tenant: String,
    route: String,
    subject: String,
    request_id: String,
    policy_version: String,
    content: String,
    findings: String,
    decision: String,
    reviewer: Option<String>,
    note: Option<String>,
    decided_at: Option<i64>,
    released_at: Option<i64>,
    released_request_id: Option<String>,
}

impl RawCase {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawCase {
            id: r.get("id")?,
            created_at: r.get("created_at")?,
            status: r.get("status")?,
            tenant: r.get("tenant")?,
            route: r.get("route")?,
            subject: r.get("subject")?,
            request_id: r.get("request_id")?,
            policy_version: r.get("policy_version")?,
            content: r.get("content")?,
            findings: r.get("findings")?,
            decision: r.get("decision")?,
            reviewer: r.get("reviewer")?,
            note: r.get("note")?,
            decided_at: r.get("decided_at")?,
            released_at: r.get("released_at")?,
            released_request_id: r.get("released_request_id")?,
        })
    }

    fn into_case(self) -> Result<Case, StoreError> {
        let id = CaseId(self.id);
        let status =
            CaseStatus::parse(&self.status).ok_or_else(|| corrupt(&id, "status", &self.status))?;
        let findings =
            serde_json::from_str(&self.findings).map_err(|e| corrupt(&id, "findings", e))?;
        let decision =
            serde_json::from_str(&self.decision).map_err(|e| corrupt(&id, "decision", e))?;
        let outcome = match (status, self.reviewer, self.decided_at) {
            (CaseStatus::Pending, _, _) => None,
            (_, Some(reviewer), Some(at)) => Some(Outcome {
                case_id: id.clone(),
                status,
                reviewer,
                note: self.note.unwrap_or_default(),
                decided_at: from_unix(at),
            }),
            _ => return Err(corrupt(&id, "reviewer", "decided case without reviewer")),
        };
        Ok(Case {
            id,
            created_at: from_unix(self.created_at),
            status,
            tenant: self.tenant,
            route: self.route,
            subject: self.subject,
            request_id: self.request_id,
            policy_version: self.policy_version,
            redacted_content: self.content,
            findings,
            decision,
            outcome,
            released_at: self.released_at.map(from_unix),
            released_request_id: self.released_request_id,
        })
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use crate::Action;

    fn review_decision() -> Decision {
        Decision {
            action: Action::Review,
            reasons: vec!["transfer_amount".into()],
            ..Decision::allow()
        }
    }

    fn finding() -> FindingSummary {
        FindingSummary {
            detector: "rules.finance".into(),
            category: "FIN:transfer".into(),
            score: 0.8,
            count: 1,
            entity_types: vec!["AMOUNT".into()],
            in_untrusted: false,
        }
    }

    #[test]
    fn create_get_list_and_decide() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("review.sqlite");
        let q = ReviewQueue::open(&path).unwrap();
        let mut nc = NewCase::new("send [AMOUNT] to [IBAN]", &[finding()], &review_decision());
        nc.tenant = "bank".into();
        nc.request_id = "req-1".into();
        let a = q.create(nc).unwrap();
        let b = q.create_case("other", &[], &review_decision()).unwrap();

        let case = q.get(&a).unwrap().unwrap();
        assert_eq!(case.status, CaseStatus::Pending);
        assert_eq!(case.tenant, "bank");
        assert_eq!(case.findings, vec![finding()]);
        assert_eq!(case.decision, review_decision());
        assert!(case.outcome.is_none());

        let pending = q
            .list(&CaseFilter {
                status: Some(CaseStatus::Pending),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            pending.iter().map(|c| &c.id).collect::<Vec<_>>(),
            vec![&b, &a],
            "newest first"
        );
        let bank = q
            .list(&CaseFilter {
                tenant: Some("bank".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(bank.len(), 1);

        let out = q.reject(&a, "alice", "amount over limit").unwrap();
        assert_eq!(out.status, CaseStatus::Rejected);
        drop(q);

        // Outcomes persist and are final.
        let q = ReviewQueue::open(&path).unwrap();
        let case = q.get(&a).unwrap().unwrap();
        assert_eq!(case.status, CaseStatus::Rejected);
        assert_eq!(case.outcome.unwrap().reviewer, "alice");
        assert!(matches!(
            q.approve(&a, "bob", ""),
            Err(StoreError::AlreadyDecided {
                status: "rejected",
                ..
            })
        ));
        let pending = q
            .list(&CaseFilter {
                status: Some(CaseStatus::Pending),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(pending.len(), 1);
    }

    #[test]
    fn unknown_cases_and_bad_arguments_are_errors() {
        let q = ReviewQueue::open_in_memory().unwrap();
        let missing = CaseId::generate();
        assert!(matches!(
            q.approve(&missing, "a", ""),
            Err(StoreError::NotFound { .. })
        ));
        assert!(q.get(&missing).unwrap().is_none());
        let id = q.create_case("x", &[], &review_decision()).unwrap();
        assert!(matches!(
            q.approve(&id, "  ", ""),
            Err(StoreError::Invalid {
                field: "reviewer",
                ..
            })
        ));
        assert!("'; DROP TABLE review_cases; --".parse::<CaseId>().is_err());
        assert_eq!(id.as_str().parse::<CaseId>().unwrap(), id);
    }

    #[test]
    fn concurrent_decisions_have_one_winner() {
        let q = std::sync::Arc::new(ReviewQueue::open_in_memory().unwrap());
        let id = q.create_case("x", &[], &review_decision()).unwrap();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (q, id) = (q.clone(), id.clone());
                std::thread::spawn(move || q.approve(&id, &format!("r{i}"), "").is_ok())
            })
            .collect();
        let wins = handles
            .into_iter()
            .filter(|_| true)
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(wins, 1, "exactly one reviewer decides");
    }

    fn held(q: &ReviewQueue, body: &[u8]) -> (CaseId, RequestFingerprint) {
        let fp = q.fingerprint(&[b"acme", b"default", b"POST", b"/v1/chat/completions", body]);
        let mut nc = NewCase::new("send [AMOUNT]", &[finding()], &review_decision());
        nc.tenant = "acme".into();
        nc.route = "default".into();
        nc.fingerprint = Some(fp);
        (q.create(nc).unwrap(), fp)
    }

    #[test]
    fn old_pending_cases_expire_and_decided_ones_are_purged() {
        let q = ReviewQueue::open_in_memory().unwrap();
        let (old, old_fp) = held(&q, b"old");
        let (decided, _) = held(&q, b"decided");
        q.reject(&decided, "ann", "no").unwrap();
        // Backdate the first two by two days, as if opened then.
        let two_days_ago = OffsetDateTime::now_utc().unix_timestamp() - 2 * 86_400;
        q.conn
            .lock()
            .execute(
                "UPDATE review_cases SET created_at = ?1 WHERE id IN (?2, ?3)",
                params![two_days_ago, old.as_str(), decided.as_str()],
            )
            .unwrap();
        let (fresh, _) = held(&q, b"fresh");
        let cutoff = OffsetDateTime::now_utc() - time::Duration::days(1);
        let closed = q
            .expire(cutoff, "expired: no decision within 24 h")
            .unwrap();
        // Only the old pending case: the decided one keeps its reviewer.
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].id, old);
        assert_eq!(closed[0].status, CaseStatus::Rejected);
        let o = closed[0].outcome.as_ref().unwrap();
        assert_eq!(o.reviewer, EXPIRY_REVIEWER);
        assert_eq!(o.note, "expired: no decision within 24 h");
        assert_eq!(
            q.get(&decided).unwrap().unwrap().outcome.unwrap().reviewer,
            "ann"
        );
        assert_eq!(q.get(&fresh).unwrap().unwrap().status, CaseStatus::Pending);
        // An expired case can no longer be approved, nor release anything.
        assert!(matches!(
            q.approve(&old, "bob", ""),
            Err(StoreError::AlreadyDecided { .. })
        ));
        assert!(matches!(
            q.release(&old, &old_fp, "acme", "default", "r2").unwrap(),
            Release::Rejected(_)
        ));
        // Running it again closes nothing more.
        assert!(q.expire(cutoff, "again").unwrap().is_empty());

        // Both outcomes wait for their audit record (oldest decision
        // first; these two were decided within the same second).
        let soon = OffsetDateTime::now_utc() + time::Duration::seconds(5);
        // Not before they were decided.
        assert!(q
            .unaudited(OffsetDateTime::now_utc() - time::Duration::minutes(1), 10)
            .unwrap()
            .is_empty());
        let mut waiting: Vec<CaseId> = q
            .unaudited(soon, 10)
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        waiting.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        let mut both = [decided.clone(), old.clone()];
        both.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        assert_eq!(waiting, both);
        assert_eq!(q.unaudited(soon, 1).unwrap().len(), 1);
        // Purge: decided before the cutoff goes, pending never does, and
        // an outcome not yet audited stays until it is.
        let later = OffsetDateTime::now_utc() + time::Duration::seconds(5);
        assert_eq!(q.purge(later).unwrap(), 0);
        q.mark_audited(&decided).unwrap();
        let ids: Vec<CaseId> = q
            .unaudited(soon, 10)
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, std::slice::from_ref(&old));
        // Marking a pending case does nothing.
        q.mark_audited(&fresh).unwrap();
        q.mark_audited(&old).unwrap();
        assert!(q.unaudited(soon, 10).unwrap().is_empty());
        assert_eq!(
            q.purge(OffsetDateTime::now_utc() - time::Duration::days(1))
                .unwrap(),
            0
        );
        assert_eq!(q.purge(later).unwrap(), 2);
        assert!(q.get(&old).unwrap().is_none());
        assert!(q.get(&decided).unwrap().is_none());
        assert!(q.get(&fresh).unwrap().is_some());
    }

    #[test]
    fn an_approval_releases_its_own_request_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("review.sqlite");
        let q = ReviewQueue::open(&path).unwrap();
        let (id, fp) = held(&q, b"{\"prompt\":\"send 500\"}");
        let release = |q: &ReviewQueue, fp: &RequestFingerprint, tenant: &str, route: &str| {
            q.release(&id, fp, tenant, route, "req-2").unwrap()
        };
        assert_eq!(release(&q, &fp, "acme", "default"), Release::Pending);
        q.approve(&id, "alice", "verified").unwrap();

        // Another body, tenant or route is not this case's request.
        let other = q.fingerprint(&[b"acme", b"default", b"POST", b"/v1/chat/completions", b"{}"]);
        assert_eq!(
            release(&q, &other, "acme", "default"),
            Release::NotForThisRequest
        );
        assert_eq!(
            release(&q, &fp, "evil", "default"),
            Release::NotForThisRequest
        );
        assert_eq!(
            release(&q, &fp, "acme", "other"),
            Release::NotForThisRequest
        );
        let unknown = CaseId::generate();
        assert_eq!(
            q.release(&unknown, &fp, "acme", "default", "r").unwrap(),
            Release::NotForThisRequest
        );

        let Release::Released(case) = release(&q, &fp, "acme", "default") else {
            panic!("the approved request is released");
        };
        assert_eq!(case.released_request_id.as_deref(), Some("req-2"));
        assert!(case.released_at.is_some());
        assert!(matches!(
            release(&q, &fp, "acme", "default"),
            Release::AlreadyReleased { .. }
        ));
        drop(q);

        // The key and the release survive a restart; fingerprints agree.
        let q = ReviewQueue::open(&path).unwrap();
        assert_eq!(
            q.fingerprint(&[
                b"acme",
                b"default",
                b"POST",
                b"/v1/chat/completions",
                b"{\"prompt\":\"send 500\"}"
            ]),
            fp
        );
        assert!(matches!(
            release(&q, &fp, "acme", "default"),
            Release::AlreadyReleased { .. }
        ));
        let listed = q.get(&id).unwrap().unwrap();
        assert_eq!(listed.released_request_id.as_deref(), Some("req-2"));
        let json = serde_json::to_value(&listed).unwrap();
        assert!(json.get("fingerprint").is_none(), "never shown: {json}");
    }

    #[test]
    fn a_rejected_case_releases_nothing_and_parts_do_not_collide() {
        let q = ReviewQueue::open_in_memory().unwrap();
        let (id, fp) = held(&q, b"body");
        q.reject(&id, "bob", "no").unwrap();
        assert!(matches!(
            q.release(&id, &fp, "acme", "default", "r").unwrap(),
            Release::Rejected(o) if o.reviewer == "bob"
        ));
        assert_ne!(q.fingerprint(&[b"ab", b"c"]), q.fingerprint(&[b"a", b"bc"]));
        let other = ReviewQueue::open_in_memory().unwrap();
        assert_ne!(
            q.fingerprint(&[b"x"]),
            other.fingerprint(&[b"x"]),
            "keyed per database"
        );
    }

    #[test]
    fn concurrent_releases_have_one_winner() {
        let q = std::sync::Arc::new(ReviewQueue::open_in_memory().unwrap());
        let (id, fp) = held(&q, b"body");
        q.approve(&id, "alice", "").unwrap();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (q, id) = (q.clone(), id.clone());
                std::thread::spawn(move || {
                    matches!(
                        q.release(&id, &fp, "acme", "default", &format!("r{i}"))
                            .unwrap(),
                        Release::Released(_)
                    )
                })
            })
            .collect();
        let wins = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|w| *w)
            .count();
        assert_eq!(wins, 1, "one approval, one request");
    }

    #[test]
    fn a_database_from_before_release_gains_the_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("review.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE review_cases (
                    id TEXT PRIMARY KEY, created_at INTEGER NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
                    tenant TEXT NOT NULL, route TEXT NOT NULL, subject TEXT NOT NULL,
                    request_id TEXT NOT NULL, policy_version TEXT NOT NULL, content TEXT NOT NULL,
                    findings TEXT NOT NULL, decision TEXT NOT NULL, reviewer TEXT, note TEXT,
                    decided_at INTEGER);
                 INSERT INTO review_cases VALUES ('01a23293-044c-75c7-a35b-0ee60b44f70e', 0,
                    'approved', 'acme', 'default', '', 'r1', 'v', 'c', '[]',
                    '{\"action\":\"review\"}', 'alice', '', 1);",
            )
            .unwrap();
        }
        let q = ReviewQueue::open(&path).unwrap();
        let id: CaseId = "01a23293-044c-75c7-a35b-0ee60b44f70e".parse().unwrap();
        assert_eq!(q.get(&id).unwrap().unwrap().status, CaseStatus::Approved);
        // Its outcome had its audit attempt when it was decided.
        assert!(q
            .unaudited(OffsetDateTime::now_utc(), 10)
            .unwrap()
            .is_empty());
        let fp = q.fingerprint(&[b"x"]);
        assert_eq!(
            q.release(&id, &fp, "acme", "default", "r").unwrap(),
            Release::NotForThisRequest,
            "a case stored without a fingerprint releases nothing"
        );
    }
}
