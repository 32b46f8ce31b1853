//! SQLite storage: append-only leaves and tree nodes, checkpoints, and the
//! separate, deletable payload table.
//!
//! One writer ([`crate::AuditLog`]) appends in transactions, each holding a
//! whole group commit: the leaves, every tree node they complete, their
//! payloads and, when due, the checkpoint. A crash (even `kill -9`) therefore
//! leaves either all of a batch or none of it. Readers (the CLI) open the file
//! read-only, alongside the writer, thanks to WAL mode.
//!
//! Triggers refuse `UPDATE` and `DELETE` on the append-only tables. They keep
//! honest code honest; they do not stop an insider with the file, which is
//! what the hash chain, tree and signed checkpoints are for.

use std::path::Path;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};

use crate::error::{AuditError, AuditErrorKind};
use crate::merkle::{Hash, NodeSource};

/// Database file name inside the log directory.
pub const DB_FILE: &str = "audit.sqlite";

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leaves (
    idx       INTEGER PRIMARY KEY,
    time_ms   INTEGER NOT NULL,
    tenant    TEXT,
    entry     BLOB NOT NULL,
    leaf_hash BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS leaves_time ON leaves(time_ms);
CREATE TABLE IF NOT EXISTS tree_nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    seq       INTEGER PRIMARY KEY,
    tree_size INTEGER NOT NULL,
    root      BLOB NOT NULL,
    time_ms   INTEGER NOT NULL,
    note      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS payloads (
    idx   INTEGER NOT NULL,
    field TEXT NOT NULL,
    salt  BLOB NOT NULL,
    body  TEXT NOT NULL,
    PRIMARY KEY (idx, field)
);
CREATE TRIGGER IF NOT EXISTS leaves_no_update BEFORE UPDATE ON leaves
    BEGIN SELECT RAISE(ABORT, 'audit leaves are append-only'); END;
CREATE TRIGGER IF NOT EXISTS leaves_no_delete BEFORE DELETE ON leaves
    BEGIN SELECT RAISE(ABORT, 'audit leaves are append-only'); END;
CREATE TRIGGER IF NOT EXISTS nodes_no_update BEFORE UPDATE ON tree_nodes
    BEGIN SELECT RAISE(ABORT, 'audit tree is append-only'); END;
CREATE TRIGGER IF NOT EXISTS nodes_no_delete BEFORE DELETE ON tree_nodes
    BEGIN SELECT RAISE(ABORT, 'audit tree is append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS payloads_no_update BEFORE UPDATE ON payloads
    BEGIN SELECT RAISE(ABORT, 'audit payloads may be deleted, never changed'); END;
"#;

/// A stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Sequence number.
    pub seq: u64,
    /// Tree size it covers.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// Signing time, Unix milliseconds.
    pub time_ms: u64,
    /// The signed note text.
    pub note: String,
}

/// A stored leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLeaf {
    /// Index.
    pub index: u64,
    /// Event time, Unix milliseconds.
    pub time_ms: u64,
    /// Tenant, for decision events.
    pub tenant: Option<String>,
    /// Canonical entry bytes.
    pub entry: Vec<u8>,
    /// Leaf hash as stored (recomputed by every verifier).
    pub leaf_hash: Hash,
}

/// A stored payload row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadRow {
    /// Leaf index.
    pub index: u64,
    /// `prompt` or `response`.
    pub field: String,
    /// Salt of the commitment.
    pub salt: Vec<u8>,
    /// Redacted text.
    pub body: String,
}

/// Handle on the audit database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

fn db_err(context: &'static str) -> impl FnOnce(rusqlite::Error) -> AuditError {
    move |e| AuditError::storage(context, e)
}

/// [`db_err`] naming the database file (start-up errors).
fn db_err_at<'a>(
    path: &'a Path,
    context: &'static str,
) -> impl FnOnce(rusqlite::Error) -> AuditError + 'a {
    move |e| AuditError::storage(context, e).at(path)
}

fn to_hash(v: Vec<u8>) -> Result<Hash, AuditError> {
    Hash::try_from(v)
        .map_err(|_| AuditError::new(AuditErrorKind::Integrity, "stored hash is not 32 bytes"))
}

fn to_u64(v: i64) -> Result<u64, AuditError> {
    u64::try_from(v)
        .map_err(|_| AuditError::new(AuditErrorKind::Integrity, "negative stored number"))
}

fn to_i64(v: u64) -> Result<i64, AuditError> {
    i64::try_from(v).map_err(|_| AuditError::new(AuditErrorKind::Encoding, "number above i64::MAX"))
}

// === impl Store ===

impl Store {
    /// Opens (creating if needed) the database for writing, in WAL mode with
    /// full fsync on commit.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] when the file cannot be opened, is
    /// read-only, or the schema cannot be created.
    pub fn open_writer(path: &Path) -> Result<Self, AuditError> {
        let conn = Connection::open(path).map_err(db_err_at(path, "opening the audit database"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db_err_at(path, "setting the busy timeout"))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(db_err_at(path, "enabling WAL mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(AuditError::new(
                AuditErrorKind::Storage,
                "the audit database refused WAL mode",
            )
            .at(path));
        }
        // FULL: a commit acknowledged to a sync-mode caller survives power
        // loss, not only a process crash. Group commit amortizes the fsync.
        // A 64 MiB page cache keeps the B-tree interior pages of a large log
        // in memory; checkpointing the WAL every ~40 MiB instead of 4 MiB
        // moves that work out of most group commits.
        conn.execute_batch(
            "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;
             PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=10000;",
        )
        .map_err(db_err_at(path, "setting pragmas"))?;
        conn.execute_batch(SCHEMA)
            .map_err(db_err_at(path, "creating the audit schema"))?;
        // Probe that the file is writable now, not at the first append.
        conn.execute(
            "INSERT INTO meta(key, value) VALUES ('schema', '1') ON CONFLICT(key) DO NOTHING",
            [],
        )
        .map_err(db_err_at(
            path,
            "writing to the audit database (the file, its -wal and -shm files and its directory must be writable)",
        ))?;
        Ok(Self { conn })
    }

    /// Opens an existing database read-only (CLI, export, checks).
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] when the file is missing or unreadable.
    pub fn open_reader(path: &Path) -> Result<Self, AuditError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db_err("opening the audit database read-only"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db_err("setting the busy timeout"))?;
        Ok(Self { conn })
    }

    /// Opens read-write without creating the schema (maintenance: prune).
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] when the file is missing or unwritable.
    pub fn open_maintenance(path: &Path) -> Result<Self, AuditError> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(db_err("opening the audit database"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db_err("setting the busy timeout"))?;
        Ok(Self { conn })
    }

    /// Reads a meta value.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] on a database error.
    pub fn meta(&self, key: &str) -> Result<Option<String>, AuditError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(db_err("reading meta"))
    }

    /// Sets a meta value.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] on a database error.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), AuditError> {
        self.conn
            .execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [key, value],
            )
            .map_err(db_err("writing meta"))?;
        Ok(())
    }

    /// Number of leaves (one past the highest index).
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] on a database error.
    pub fn size(&self) -> Result<u64, AuditError> {
        let v: i64 = self
            .conn
            .query_row("SELECT COALESCE(MAX(idx) + 1, 0) FROM leaves", [], |r| {
                r.get(0)
            })
            .map_err(db_err("reading the tree size"))?;
        to_u64(v)
    }

    /// Number of leaf rows; differs from [`Store::size`] only when rows were
    /// deleted behind the log's back.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] on a database error.
    pub fn leaf_count(&self) -> Result<u64, AuditError> {
        let v: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM leaves", [], |r| r.get(0))
            .map_err(db_err("counting leaves"))?;
        to_u64(v)
    }

    /// One leaf.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] on a database error.
    pub fn leaf(&self, index: u64) -> Result<Option<StoredLeaf>, AuditError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT idx, time_ms, tenant, entry, leaf_hash FROM leaves WHERE idx = ?1",
            )
            .map_err(db_err("reading a leaf"))?;
        let row = stmt
            .query_row([to_i64(index)?], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            })
            .optional()
            .map_err(db_err("reading a leaf"))?;
        row.map(Self::leaf_from_row).transpose()
    }

    #[allow(clippy::type_complexity)]
    fn leaf_from_row(
        (idx, time_ms, tenant, entry, hash): (i64, i64, Option<String>, Vec<u8>, Vec<u8>),
    ) -> Result<StoredLeaf, AuditError> {
        Ok(StoredLeaf {
            index: to_u64(idx)?,
            time_ms: to_u64(time_ms)?,
            tenant,
            entry,
            leaf_hash: to_hash(hash)?,
        })
    }

    /// Calls `f` for each leaf with `first <= index < end`, in index order.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] on a database error, or `f`'s error.
    pub fn for_each_leaf(
        &self,
        first: u64,
        end: u64,
        mut f: impl FnMut(StoredLeaf) -> Result<(), AuditError>,
    ) -> Result<(), AuditError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT idx, time_ms, tenant, entry, leaf_hash FROM leaves
                 WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
            )
            .map_err(db_err("scanning leaves"))?;
        let mut rows = stmt
            .query([to_i64(first)?, to_i64(end)?])
            .map_err(db_err("scanning leaves"))?;
        while let Some(r) = rows.next().map_err(db_err("scanning leaves"))? {
            let row = (
                r.get::<_, i64>(0).map_err(db_err("scanning leaves"))?,
                r.get::<_, i64>(1).map_err(db_err("scanning leaves"))?,
                r.get(2).map_err(db_err("scanning leaves"))?,
                r.get(3).map_err(db_err("scanning leaves"))?,
                r.get(4).map_err(db_err("scanning leaves"))?,
            );
            f(Self::leaf_from_row(row)?)?;
        }
        Ok(())
    }

    /// Indices of leaves whose time lies in `[from_ms, to_ms)`, below `end`,
    /// optionally for one tenant, in index order.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] on a database error.
    pub fn indices_in_window(
        &self,
        from_ms: u64,
        to_ms: u64,
        end: u64,
        tenant: Option<&str>,
    ) -> Result<Vec<u64>, AuditError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT idx FROM leaves WHERE time_ms >= ?1 AND time_ms < ?2 AND idx < ?3
                 AND (?4 IS NULL OR tenant = ?4) ORDER BY idx",
            )
            .map_err(db_err("selecting leaves"))?;
        let rows = stmt
            .query_map(
                params![to_i64(from_ms)?, to_i64(to_ms)?, to_i64(end)?, tenant],
                |r| r.get::<_, i64>(0),
            )
            .map_err(db_err("selecting leaves"))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(to_u64(r.map_err(db_err("selecting leaves"))?)?);
        }
        Ok(out)
    }

    /// How many leaves at `start` or later have a time in `[from_ms, to_ms)`
    /// (and the tenant, if given): records that an export anchored at tree
    /// size `start` leaves out.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] when the query fails.
    pub fn count_from(
        &self,
        from_ms: u64,
        to_ms: u64,
        start: u64,
        tenant: Option<&str>,
    ) -> Result<u64, AuditError> {
        let n: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM leaves WHERE time_ms >= ?1 AND time_ms < ?2 AND idx >= ?3
                 AND (?4 IS NULL OR tenant = ?4)",
                params![to_i64(from_ms)?, to_i64(to_ms)?, to_i64(start)?, tenant],
                |r| r.get(0),
            )
            .map_err(db_err("counting leaves"))?;
        to_u64(n)
    }

    /// The newest checkpoint.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] on a database error.
    pub fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, AuditError> {
        Ok(self
            .checkpoints_where("ORDER BY seq DESC LIMIT 1", params![])?
            .pop())
    }

    /// Checkpoints with `from_ms <= time < to_ms`, by sequence.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] on a database error.
    pub fn checkpoints_in_window(
        &self,
        from_ms: u64,
        to_ms: u64,
    ) -> Result<Vec<StoredCheckpoint>, AuditError> {
        self.checkpoints_where(
            "WHERE time_ms >= ?1 AND time_ms < ?2 ORDER BY seq",
            params![to_i64(from_ms)?, to_i64(to_ms)?],
        )
    }

    /// All checkpoints, by sequence.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] on a database error.
    pub fn all_checkpoints(&self) -> Result<Vec<StoredCheckpoint>, AuditError> {
        self.checkpoints_where("ORDER BY seq", params![])
    }

    /// The last checkpoint signed before `time_ms`.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] on a database error.
    pub fn checkpoint_before(&self, time_ms: u64) -> Result<Option<StoredCheckpoint>, AuditError> {
        Ok(self
            .checkpoints_where(
                "WHERE time_ms < ?1 ORDER BY seq DESC LIMIT 1",
                params![to_i64(time_ms)?],
            )?
            .pop())
    }

    fn checkpoints_where(
        &self,
        clause: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<StoredCheckpoint>, AuditError> {
        let sql = format!("SELECT seq, tree_size, root, time_ms, note FROM checkpoints {clause}");
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(db_err("reading checkpoints"))?;
        let rows = stmt
            .query_map(params, |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(db_err("reading checkpoints"))?;
        let mut out = Vec::new();
        for r in rows {
            let (seq, size, root, time_ms, note) = r.map_err(db_err("reading checkpoints"))?;
            out.push(StoredCheckpoint {
                seq: to_u64(seq)?,
                size: to_u64(size)?,
                root: to_hash(root)?,
                time_ms: to_u64(time_ms)?,
                note,
            });
        }
        Ok(out)
    }

    /// Payload rows of one leaf.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] on a database error.
    pub fn payloads(&self, index: u64) -> Result<Vec<PayloadRow>, AuditError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT idx, field, salt, body FROM payloads WHERE idx = ?1 ORDER BY field",
            )
            .map_err(db_err("reading payloads"))?;
        let rows = stmt
            .query_map([to_i64(index)?], |r| {
                Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(db_err("reading payloads"))?;
        let mut out = Vec::new();
        for r in rows {
            let (idx, field, salt, body) = r.map_err(db_err("reading payloads"))?;
            out.push(PayloadRow {
                index: to_u64(idx)?,
                field,
                salt,
                body,
            });
        }
        Ok(out)
    }

    /// Deletes payloads of leaves older than `before_ms`; leaves stay.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] on a database error.
    pub fn prune_payloads(&self, before_ms: u64) -> Result<u64, AuditError> {
        let n = self
            .conn
            .execute(
                "DELETE FROM payloads WHERE idx IN (SELECT idx FROM leaves WHERE time_ms < ?1)",
                [to_i64(before_ms)?],
            )
            .map_err(db_err("pruning payloads"))?;
        Ok(n as u64)
    }

    /// Starts a write transaction (the writer's group commit).
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] when the database is locked or unwritable.
    pub fn begin(&mut self) -> Result<Batch<'_>, AuditError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db_err("starting a write transaction"))?;
        Ok(Batch { tx })
    }

    /// The raw connection, for tests that play an insider editing the file.
    #[doc(hidden)]
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

impl NodeSource for Store {
    fn node(&self, level: u32, index: u64) -> Result<Hash, AuditError> {
        if level == 0 {
            // Leaf hashes live in `leaves` only.
            let mut stmt = self
                .conn
                .prepare_cached("SELECT leaf_hash FROM leaves WHERE idx = ?1")
                .map_err(db_err("reading a leaf hash"))?;
            let v: Option<Vec<u8>> = stmt
                .query_row([to_i64(index)?], |r| r.get(0))
                .optional()
                .map_err(db_err("reading a leaf hash"))?;
            return to_hash(
                v.ok_or_else(|| AuditError::new(AuditErrorKind::Integrity, "leaf missing"))?,
            );
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT hash FROM tree_nodes WHERE level = ?1 AND idx = ?2")
            .map_err(db_err("reading a tree node"))?;
        let v: Option<Vec<u8>> = stmt
            .query_row(params![level, to_i64(index)?], |r| r.get(0))
            .optional()
            .map_err(db_err("reading a tree node"))?;
        to_hash(v.ok_or_else(|| AuditError::new(AuditErrorKind::Integrity, "tree node missing"))?)
    }
}

/// One write transaction: everything in it commits together or not at all.
#[derive(Debug)]
pub struct Batch<'a> {
    tx: Transaction<'a>,
}

// === impl Batch ===

impl Batch<'_> {
    /// Inserts a leaf.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] on a database error (full disk, ...).
    pub fn insert_leaf(
        &self,
        index: u64,
        time_ms: u64,
        tenant: Option<&str>,
        entry: &[u8],
        leaf_hash: &Hash,
    ) -> Result<(), AuditError> {
        self.tx
            .prepare_cached(
                "INSERT INTO leaves(idx, time_ms, tenant, entry, leaf_hash) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    to_i64(index).unwrap_or(i64::MAX),
                    to_i64(time_ms).unwrap_or(i64::MAX),
                    tenant,
                    entry,
                    &leaf_hash[..]
                ])
            })
            .map_err(db_err("inserting a leaf"))?;
        Ok(())
    }

    /// Inserts a complete tree node.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] on a database error.
    pub fn insert_node(&self, level: u32, index: u64, hash: &Hash) -> Result<(), AuditError> {
        self.tx
            .prepare_cached("INSERT INTO tree_nodes(level, idx, hash) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| {
                s.execute(params![level, to_i64(index).unwrap_or(i64::MAX), &hash[..]])
            })
            .map_err(db_err("inserting a tree node"))?;
        Ok(())
    }

    /// Inserts a payload row.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] on a database error.
    pub fn insert_payload(
        &self,
        index: u64,
        field: &str,
        salt: &[u8],
        body: &str,
    ) -> Result<(), AuditError> {
        self.tx
            .prepare_cached("INSERT INTO payloads(idx, field, salt, body) VALUES (?1, ?2, ?3, ?4)")
            .and_then(|mut s| {
                s.execute(params![
                    to_i64(index).unwrap_or(i64::MAX),
                    field,
                    salt,
                    body
                ])
            })
            .map_err(db_err("inserting a payload"))?;
        Ok(())
    }

    /// Inserts a signed checkpoint.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] on a database error.
    pub fn insert_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), AuditError> {
        self.tx
            .execute(
                "INSERT INTO checkpoints(seq, tree_size, root, time_ms, note) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    to_i64(cp.seq)?,
                    to_i64(cp.size)?,
                    &cp.root[..],
                    to_i64(cp.time_ms)?,
                    cp.note
                ],
            )
            .map_err(db_err("inserting a checkpoint"))?;
        Ok(())
    }

    /// Sets a meta value inside the transaction.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] on a database error.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), AuditError> {
        self.tx
            .execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [key, value],
            )
            .map_err(db_err("writing meta"))?;
        Ok(())
    }

    /// Commits; dropping the batch instead rolls it back.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Storage`] when the commit fails (full disk, I/O).
    pub fn commit(self) -> Result<(), AuditError> {
        self.tx.commit().map_err(db_err("committing a batch"))
    }
}
