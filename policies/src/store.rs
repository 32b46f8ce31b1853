//! Shared SQLite plumbing for the review queue and the subject counters.
//!
//! Both stores are small, write-light and must survive restarts, so they use
//! an embedded SQLite file under the data directory (WAL, a busy timeout so
//! a second process on the same file waits rather than fails). Calls block on
//! disk: the proxy runs them on its blocking pool. Behind the same methods a
//! multi-node deployment can move them to a shared database.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// How long a writer waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a state store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed (open, schema, query, constraint).
    #[error("state store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored JSON column did not decode (the file was edited by hand or
    /// written by an incompatible version).
    #[error("state store: corrupt {column} in case {case_id}: {reason}")]
    Corrupt {
        /// Case id.
        case_id: String,
        /// Column name.
        column: &'static str,
        /// Decoder message.
        reason: String,
    },
    /// No case with that id.
    #[error("review case {case_id} not found")]
    NotFound {
        /// The id asked for.
        case_id: String,
    },
    /// The case was already approved or rejected; outcomes are final.
    #[error("review case {case_id} is already {status}")]
    AlreadyDecided {
        /// The case.
        case_id: String,
        /// Its recorded status.
        status: &'static str,
    },
    /// An argument was rejected (empty reviewer name, ...).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which argument.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
}

/// Opens (creating if needed) a SQLite file with the settings both stores use.
pub(crate) fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    configure(&conn)?;
    Ok(conn)
}

/// An in-memory database, for tests and `--no-state` runs.
pub(crate) fn open_in_memory() -> Result<Connection, StoreError> {
    let conn = Connection::open_in_memory()?;
    configure(&conn)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL lets the admin API read while the proxy writes; NORMAL is durable
    // across process crashes, which is what these stores need.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

pub(crate) fn from_unix(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs).map_or_else(|_| secs.to_string(), rfc3339)
}
