//! The writer: configuration, [`AuditLog`] and its cloneable [`AuditSink`].
//!
//! One dedicated thread owns the SQLite connection. Callers send records over
//! a bounded queue; the thread drains up to [`AuditConfig::max_batch`] of them
//! and commits them in one transaction (group commit), then signs a checkpoint
//! every [`AuditConfig::checkpoint_every`] records or
//! [`AuditConfig::checkpoint_interval`], whichever comes first. When nothing
//! was appended for an interval it still signs a heartbeat checkpoint, so
//! that deleting the newest checkpoints shows up as a gap in time and
//! sequence.
//!
//! Nothing is ever dropped silently: in [`AuditMode::Sync`] the caller gets
//! the commit's outcome; in [`AuditMode::Async`] a full queue either waits
//! ([`OnFull::Backpressure`]) or returns [`AuditErrorKind::QueueFull`]
//! ([`OnFull::FailClosed`]), and a failed commit is counted in
//! [`AuditStats::failed`] and logged.
//!
//! When a commit fails (full disk, read-only file) the log is marked not
//! writable ([`AuditSink::is_writable`]) until a commit succeeds again. Queued
//! async records are not lost: the writer keeps them, in order, and retries
//! with a growing delay (at most [`RETRY_MAX`]); while it holds
//! `queue_capacity` of them it stops draining the queue, so appends wait
//! ([`OnFull::Backpressure`]). With [`OnFull::FailClosed`] async appends are
//! refused while the log is not writable, and [`AuditSink::accepting`] tells
//! the caller to refuse requests before doing any work; sync appends are
//! refused by the failing commit itself.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

use crate::error::{AuditError, AuditErrorKind};
use crate::keys;
use crate::merkle::{self, Frontier, Hash};
use crate::note::{Checkpoint, NoteSigner, NoteVerifier};
use crate::record::{self, AuditRecord, Event, LeafEntry, PayloadRef, ENTRY_VERSION, ZERO_HASH};
use crate::store::{Store, StoredCheckpoint, DB_FILE};

/// Six months, the minimum retention the EU AI Act (Art. 19, 26(6)) asks of
/// deployers' logs.
pub const MIN_RETENTION: Duration = Duration::from_secs(183 * 24 * 3600);

/// How often the writer erases payloads past [`AuditConfig::retention`].
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// First retry after a failed commit; doubles up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(50);

/// Longest wait between retries while the log cannot be written.
pub const RETRY_MAX: Duration = Duration::from_secs(1);

/// How long the writer waits for more async records before committing a
/// batch smaller than [`AuditConfig::max_batch`]. Each SQLite commit costs
/// about as much as a few dozen inserts, so a short wait turns many tiny
/// transactions into a few large ones (group commit) and bounds commits to
/// 500 a second. Async mode already answers before the commit, so the wait
/// adds nothing to a request's latency; it only widens the window that a
/// crash can lose by 2 ms. Only async
/// appends wait: a batch holding a sync append, a checkpoint or a shutdown
/// is committed at once, so sync mode's latency is unchanged.
const ASYNC_LINGER: Duration = Duration::from_millis(2);

const fn default_queue_capacity() -> usize {
    65_536
}
const fn default_max_batch() -> usize {
    4_096
}
const fn default_checkpoint_every() -> u64 {
    1_000
}
const fn default_checkpoint_interval() -> Duration {
    Duration::from_secs(60)
}

/// How long `append` waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditMode {
    /// `append` resolves after the record is committed (regulated routes).
    Sync,
    /// `append` resolves once the record is queued.
    #[default]
    Async,
}

/// What an async append does when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFull {
    /// Wait for room (the request is slowed, never unaudited).
    #[default]
    Backpressure,
    /// Fail the append with [`AuditErrorKind::QueueFull`], so the proxy can
    /// refuse the request.
    FailClosed,
}

/// How prompt and response text is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadMode {
    /// Redacted text in the deletable payload table, bound to the leaf by a
    /// salted SHA-256 commitment.
    #[default]
    Redacted,
    /// Only `HMAC-SHA-256(key, text)` in the leaf; the key lives outside the
    /// log directory ([`AuditConfig::hmac_key_path`]).
    Hmac,
    /// Nothing.
    None,
}

/// Audit log configuration.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Directory holding the database and (by default) the key files.
    pub dir: PathBuf,
    /// Checkpoint origin and key name; unique per node (no spaces or `+`).
    pub origin: String,
    /// Sync or async appends.
    pub mode: AuditMode,
    /// Bounded queue length, records.
    pub queue_capacity: usize,
    /// Full-queue behaviour (both modes).
    pub on_full: OnFull,
    /// Most records per group commit.
    pub max_batch: usize,
    /// Sign a checkpoint at least every this many records.
    pub checkpoint_every: u64,
    /// Sign a checkpoint (or heartbeat) at least this often.
    pub checkpoint_interval: Duration,
    /// How payloads are kept.
    pub payloads: PayloadMode,
    /// HMAC key file, required for [`PayloadMode::Hmac`]; keep it outside
    /// `dir`.
    pub hmac_key_path: Option<PathBuf>,
    /// Signing key file; `dir/checkpoint.key` when `None`.
    pub key_path: Option<PathBuf>,
    /// Payload retention (for `prune`); below six months logs a warning.
    pub retention: Duration,
}

/// Counters for `/metrics` (`menshen_audit_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditStats {
    /// Records waiting in the queue.
    pub queue_depth: u64,
    /// Records committed since start.
    pub appended: u64,
    /// Records whose commit failed (each also logged).
    pub failed: u64,
    /// Appends refused because the queue was full (fail-closed mode).
    pub rejected_full: u64,
    /// Records dropped: always 0, kept so that dashboards can prove it.
    pub dropped: u64,
    /// Whether the last commit succeeded (false while the disk is full or
    /// the database read-only).
    pub writable: bool,
    /// Async records whose commit failed, held in memory for the retry.
    pub held: u64,
    /// Checkpoints signed since start.
    pub checkpoints: u64,
    /// Tree size.
    pub tree_size: u64,
}

/// What `append` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendReceipt {
    /// The record is committed at `index` with this leaf hash.
    Committed {
        /// Leaf index.
        index: u64,
        /// Leaf hash.
        leaf_hash: Hash,
    },
    /// The record is queued (async mode); `sequence` counts appends.
    Queued {
        /// Queue sequence number.
        sequence: u64,
    },
}

/// The running audit log; owns the writer thread.
#[derive(Debug)]
pub struct AuditLog {
    sink: AuditSink,
    thread: Option<JoinHandle<()>>,
}

/// Cloneable handle for appending records.
#[derive(Debug, Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
    mode: AuditMode,
    on_full: OnFull,
}

#[derive(Debug, Default)]
struct Shared {
    appended: AtomicU64,
    failed: AtomicU64,
    rejected_full: AtomicU64,
    checkpoints: AtomicU64,
    tree_size: AtomicU64,
    sequence: AtomicU64,
    closed: AtomicBool,
    /// Set by a failed commit, cleared by a successful one.
    failing: AtomicBool,
    held: AtomicU64,
}

type Reply = oneshot::Sender<Result<(u64, Hash), AuditError>>;

#[derive(Debug)]
enum Msg {
    Append(Box<AuditRecord>, Option<Reply>),
    Checkpoint(oneshot::Sender<Result<(), AuditError>>),
    RotateKey(oneshot::Sender<Result<NoteVerifier, AuditError>>),
    Shutdown(oneshot::Sender<Result<(), AuditError>>),
}

impl Msg {
    /// An append whose caller does not wait for the commit.
    fn is_async_append(&self) -> bool {
        matches!(self, Msg::Append(_, None))
    }
}

struct Writer {
    store: Store,
    signer: NoteSigner,
    origin: String,
    frontier: Frontier,
    last_hash: Hash,
    next_seq: u64,
    last_cp_size: u64,
    last_cp_at: Instant,
    config: AuditConfig,
    hmac: Option<(Vec<u8>, String)>,
    shared: Arc<Shared>,
    /// The incoming key during a rotation.
    cosigner: Option<NoteSigner>,
    /// Meta rows to write with the next commit.
    pending_meta: Vec<(String, String)>,
    /// When payloads were last pruned for retention.
    last_prune: Option<Instant>,
    /// CSPRNG for commitment salts, seeded once from the OS (a syscall per
    /// record would cost more than the rest of the append).
    salt_rng: rand::rngs::StdRng,
    /// Async records whose commit failed, oldest first, retried before
    /// anything newer.
    held: Vec<Resolved>,
    /// Delay before the next retry while commits fail.
    retry_delay: Duration,
}

/// An event with its payloads already committed to (salted hash or HMAC),
/// ready to be placed in the tree at any index.
struct Resolved {
    event: Event,
    refs: BTreeMap<String, PayloadRef>,
    rows: Vec<(&'static str, [u8; 16], String)>,
}

/// A failed commit: the error and, in order, the events it did not write.
type CommitFailure = (AuditError, Vec<Resolved>);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

// === impl AuditConfig ===

impl AuditConfig {
    /// Defaults: async with back-pressure, 65,536-record queue, checkpoint
    /// every 1,000 records or 60 s, redacted payloads, six months' retention.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            origin: "menshen-audit".to_owned(),
            mode: AuditMode::default(),
            queue_capacity: default_queue_capacity(),
            on_full: OnFull::default(),
            max_batch: default_max_batch(),
            checkpoint_every: default_checkpoint_every(),
            checkpoint_interval: default_checkpoint_interval(),
            payloads: PayloadMode::default(),
            hmac_key_path: None,
            key_path: None,
            retention: MIN_RETENTION,
        }
    }

    /// Sets the origin.
    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = origin.into();
        self
    }

    /// Sets the mode.
    pub fn with_mode(mut self, mode: AuditMode) -> Self {
        self.mode = mode;
        self
    }

    /// Path of the database file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.join(DB_FILE)
    }

    /// Path of the signing key.
    pub fn key_path(&self) -> PathBuf {
        self.key_path
            .clone()
            .unwrap_or_else(|| self.dir.join(keys::SIGNING_KEY_FILE))
    }

    fn validate(&self) -> Result<(), AuditError> {
        let cfg = |c| Err(AuditError::new(AuditErrorKind::Config, c));
        if self.origin.is_empty()
            || self
                .origin
                .contains(|c: char| c.is_whitespace() || c == '+')
        {
            return cfg("audit.origin must be non-empty, without spaces or '+'");
        }
        if self.queue_capacity == 0 {
            return cfg("audit.queue_capacity must be at least 1");
        }
        if self.max_batch == 0 {
            return cfg("audit.max_batch must be at least 1");
        }
        if self.checkpoint_every == 0 {
            return cfg("audit.checkpoint_every must be at least 1");
        }
        if self.checkpoint_interval.is_zero() {
            return cfg("audit.checkpoint_interval must be positive");
        }
        if self.payloads == PayloadMode::Hmac && self.hmac_key_path.is_none() {
            return cfg("audit.payloads = hmac needs audit.hmac_key_path");
        }
        if self.retention < MIN_RETENTION {
            tracing::warn!(
                audit.retention_days = self.retention.as_secs() / 86_400,
                "audit retention is below six months (EU AI Act Art. 19 and 26(6))"
            );
        }
        Ok(())
    }
}

// === impl AuditLog ===

impl AuditLog {
    /// Opens the log, creating the directory, database and signing key on
    /// first start, checks it against its latest checkpoint, appends a
    /// `log_started` entry and signs a checkpoint, then starts the writer.
    ///
    /// # Errors
    ///
    /// - [`AuditErrorKind::Config`] for an invalid configuration or an origin
    ///   that differs from the one the database was created with;
    /// - [`AuditErrorKind::Key`] when the signing key is missing, unreadable
    ///   or not the log's key, or the HMAC key is missing;
    /// - [`AuditErrorKind::Storage`] when the database cannot be written;
    /// - [`AuditErrorKind::Integrity`] when the stored tree does not match
    ///   its latest checkpoint (rolled back or edited).
    pub fn open(config: AuditConfig) -> Result<Self, AuditError> {
        config.validate()?;
        std::fs::create_dir_all(&config.dir)
            .map_err(|e| AuditError::io("creating the audit directory", e).at(&config.dir))?;
        let store = Store::open_writer(&config.db_path())?;
        let signer = Self::signing_key(&config, &store)?;
        let hmac = match (&config.payloads, &config.hmac_key_path) {
            (PayloadMode::Hmac, Some(p)) => {
                let k = keys::load_hmac_key(p)?;
                let id = record::hmac_key_id(&k);
                Some((k, id))
            }
            _ => None,
        };

        let size = store.size()?;
        if store.leaf_count()? != size {
            return Err(AuditError::new(
                AuditErrorKind::Integrity,
                "audit leaves have gaps: rows were deleted",
            ));
        }
        store.set_meta(
            "checkpoint_interval_s",
            &config.checkpoint_interval.as_secs().max(1).to_string(),
        )?;
        let frontier = Frontier::load(&store, size)?;
        let last_hash = match size.checked_sub(1) {
            None => ZERO_HASH,
            Some(i) => {
                store
                    .leaf(i)?
                    .ok_or_else(|| AuditError::new(AuditErrorKind::Integrity, "last leaf missing"))?
                    .leaf_hash
            }
        };
        let latest = store.latest_checkpoint()?;
        if let Some(cp) = &latest {
            if cp.size > size {
                return Err(AuditError::new(
                    AuditErrorKind::Integrity,
                    "audit log is smaller than its latest checkpoint: it was rolled back",
                ));
            }
            if merkle::root(&store, cp.size)? != cp.root {
                return Err(AuditError::new(
                    AuditErrorKind::Integrity,
                    "audit tree does not match its latest checkpoint",
                ));
            }
        }

        let shared = Arc::new(Shared::default());
        shared.tree_size.store(size, Ordering::Relaxed);
        let mut writer = Writer {
            origin: config.origin.clone(),
            next_seq: latest.as_ref().map_or(0, |c| c.seq + 1),
            last_cp_size: latest.as_ref().map_or(0, |c| c.size),
            last_cp_at: Instant::now(),
            store,
            signer,
            frontier,
            last_hash,
            config: config.clone(),
            hmac,
            shared: Arc::clone(&shared),
            cosigner: None,
            pending_meta: Vec::new(),
            salt_rng: rand::SeedableRng::from_entropy(),
            last_prune: None,
            held: Vec::new(),
            retry_delay: RETRY_MIN,
        };
        // Mark the (re)start in the log itself and sign right away, so a
        // crash before the first interval still leaves a checkpoint.
        let started = Event::LogStarted {
            time_ms: now_ms(),
            key_id: format!("{:08x}", writer.signer.key_id()),
            writer: format!("menshen-audit {}", env!("CARGO_PKG_VERSION")),
        };
        writer.commit_events(vec![(started, Default::default())], true)?;

        let (tx, rx) = mpsc::channel(config.queue_capacity);
        let thread = std::thread::Builder::new()
            .name("menshen-audit-writer".to_owned())
            .spawn(move || writer.run(rx))
            .map_err(|e| AuditError::io("starting the audit writer thread", e))?;
        Ok(Self {
            sink: AuditSink {
                tx,
                shared,
                mode: config.mode,
                on_full: config.on_full,
            },
            thread: Some(thread),
        })
    }

    fn signing_key(config: &AuditConfig, store: &Store) -> Result<NoteSigner, AuditError> {
        let key_path = config.key_path();
        let known_key = store.meta("key_id")?;
        match store.meta("origin")? {
            Some(o) if o != config.origin => {
                return Err(AuditError::new(
                    AuditErrorKind::Config,
                    "audit.origin differs from the origin this log was created with",
                ));
            }
            Some(_) => {}
            None => store.set_meta("origin", &config.origin)?,
        }
        let signer = if key_path.exists() || known_key.is_some() {
            keys::load_signing_key(&key_path)?
        } else {
            keys::generate_signing_key(
                &config.origin,
                &key_path,
                &config.dir.join(keys::VERIFIER_KEY_FILE),
            )?
        };
        let id = format!("{:08x}", signer.key_id());
        match known_key {
            Some(k) if k != id => {
                return Err(AuditError::new(
                    AuditErrorKind::Key,
                    "signing key is not this log's key (rotate with `menshen-audit rotate-key`)",
                ));
            }
            Some(_) => {}
            None => {
                store.set_meta("key_id", &id)?;
                store.set_meta("verifier_key", &signer.verifier().to_string())?;
            }
        }
        if signer.name() != config.origin {
            return Err(AuditError::new(
                AuditErrorKind::Key,
                "signing key name must equal audit.origin",
            ));
        }
        Ok(signer)
    }

    /// A handle for appending.
    pub fn sink(&self) -> AuditSink {
        self.sink.clone()
    }

    /// Commits everything queued and signs a checkpoint covering it.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Closed`] when the writer has stopped, or the storage
    /// error of the commit.
    pub async fn checkpoint(&self) -> Result<(), AuditError> {
        let (tx, rx) = oneshot::channel();
        self.sink
            .tx
            .send(Msg::Checkpoint(tx))
            .await
            .map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }

    /// Rotates the checkpoint signing key (see the crate docs on rotation);
    /// returns the new verifier key.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Io`] / [`AuditErrorKind::Key`] when the key files
    /// cannot be written, or the storage error of the commit.
    pub async fn rotate_key(&self) -> Result<NoteVerifier, AuditError> {
        let (tx, rx) = oneshot::channel();
        self.sink
            .tx
            .send(Msg::RotateKey(tx))
            .await
            .map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }

    /// Flushes the queue, signs a final checkpoint and stops the writer.
    ///
    /// # Errors
    ///
    /// The storage error of the final commit, or [`AuditErrorKind::Closed`]
    /// when the writer had already stopped.
    pub async fn shutdown(mut self) -> Result<(), AuditError> {
        let (tx, rx) = oneshot::channel();
        self.sink.shared.closed.store(true, Ordering::Release);
        let sent = self.sink.tx.send(Msg::Shutdown(tx)).await;
        let result = match sent {
            Ok(()) => rx.await.map_err(|_| closed()).and_then(|r| r),
            Err(_) => Err(closed()),
        };
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        result
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        // Without `shutdown`, the writer drains what was queued and signs a
        // final checkpoint once every sink is dropped.
        self.sink.shared.closed.store(true, Ordering::Release);
    }
}

fn closed() -> AuditError {
    AuditError::new(AuditErrorKind::Closed, "the audit writer has stopped")
}

// === impl AuditSink ===

impl AuditSink {
    /// Appends one record.
    ///
    /// Sync mode: resolves once the record is committed, with its index and
    /// leaf hash. Async mode: resolves once it is queued. In both modes a
    /// full queue waits ([`OnFull::Backpressure`]) or fails
    /// ([`OnFull::FailClosed`]).
    ///
    /// # Errors
    ///
    /// - [`AuditErrorKind::Encoding`] for an invalid record (unversioned
    ///   category id);
    /// - [`AuditErrorKind::QueueFull`] in fail-closed mode;
    /// - [`AuditErrorKind::Closed`] after shutdown;
    /// - in sync mode, the storage error of the commit (full disk,
    ///   read-only database).
    pub async fn append(&self, record: AuditRecord) -> Result<AppendReceipt, AuditError> {
        record.validate()?;
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(closed());
        }
        match self.mode {
            AuditMode::Sync => {
                let (tx, rx) = oneshot::channel();
                self.enqueue(Msg::Append(Box::new(record), Some(tx)))
                    .await?;
                let (index, leaf_hash) = rx.await.map_err(|_| closed())??;
                Ok(AppendReceipt::Committed { index, leaf_hash })
            }
            AuditMode::Async => {
                if !self.accepting() {
                    self.shared.rejected_full.fetch_add(1, Ordering::Relaxed);
                    return Err(AuditError::new(
                        AuditErrorKind::Storage,
                        "the audit log cannot be written (on_full = fail_closed)",
                    ));
                }
                self.enqueue(Msg::Append(Box::new(record), None)).await?;
                let sequence = self.shared.sequence.fetch_add(1, Ordering::Relaxed);
                Ok(AppendReceipt::Queued { sequence })
            }
        }
    }

    /// Queues `msg`, waiting or failing on a full queue per [`OnFull`].
    async fn enqueue(&self, msg: Msg) -> Result<(), AuditError> {
        match self.on_full {
            OnFull::Backpressure => self.tx.send(msg).await.map_err(|_| closed()),
            OnFull::FailClosed => self.tx.try_send(msg).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    self.shared.rejected_full.fetch_add(1, Ordering::Relaxed);
                    AuditError::new(AuditErrorKind::QueueFull, "the audit queue is full")
                }
                mpsc::error::TrySendError::Closed(_) => closed(),
            }),
        }
    }

    /// Whether the last commit succeeded.
    pub fn is_writable(&self) -> bool {
        !self.shared.failing.load(Ordering::Acquire)
    }

    /// Whether an append now can succeed without waiting for the disk: false
    /// while the log is not writable in sync mode or with
    /// [`OnFull::FailClosed`] (the caller should refuse the request before
    /// doing anything on its behalf), and after shutdown.
    pub fn accepting(&self) -> bool {
        if self.shared.closed.load(Ordering::Acquire) {
            return false;
        }
        self.is_writable()
            || (self.mode == AuditMode::Async && self.on_full == OnFull::Backpressure)
    }

    /// Counters for metrics.
    pub fn stats(&self) -> AuditStats {
        let s = &self.shared;
        AuditStats {
            writable: !s.failing.load(Ordering::Acquire),
            held: s.held.load(Ordering::Relaxed),
            queue_depth: (self.tx.max_capacity() - self.tx.capacity()) as u64,
            appended: s.appended.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            rejected_full: s.rejected_full.load(Ordering::Relaxed),
            dropped: 0,
            checkpoints: s.checkpoints.load(Ordering::Relaxed),
            tree_size: s.tree_size.load(Ordering::Relaxed),
        }
    }
}

// === impl Writer ===

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "audit writer could not start its timer runtime");
                return;
            }
        };
        rt.block_on(async move {
            let mut batch = Vec::with_capacity(self.config.max_batch);
            loop {
                let failing = self.shared.failing.load(Ordering::Acquire);
                let deadline = if failing {
                    // Retry soon, not in a tight loop.
                    Instant::now() + self.retry_delay
                } else {
                    self.last_cp_at + self.config.checkpoint_interval
                };
                let deadline = tokio::time::Instant::from_std(deadline);
                let first = if self.held.len() >= self.config.queue_capacity {
                    // Holding a full queue's worth: let appends wait.
                    tokio::time::sleep_until(deadline).await;
                    tokio::time::timeout_at(deadline, std::future::pending()).await
                } else {
                    tokio::time::timeout_at(deadline, rx.recv()).await
                };
                match first {
                    Ok(Some(m)) => {
                        batch.push(m);
                        while batch.len() < self.config.max_batch {
                            match rx.try_recv() {
                                Ok(m) => batch.push(m),
                                Err(_) => break,
                            }
                        }
                        // Group commit: more async records are likely on the way.
                        // Even a lone async record waits: at one request at a
                        // time each exchange brings two records, and a commit
                        // per record cost more CPU than the whole proxy path.
                        // The writer sleeps through the wait instead of
                        // waking for every record: a wake per append was a
                        // context switch per record, taken from the request
                        // path's CPUs.
                        if batch.len() < self.config.max_batch
                            && batch.iter().all(Msg::is_async_append)
                        {
                            tokio::time::sleep(ASYNC_LINGER).await;
                            while batch.len() < self.config.max_batch {
                                match rx.try_recv() {
                                    Ok(m) => {
                                        let stop = !m.is_async_append();
                                        batch.push(m);
                                        if stop {
                                            break;
                                        }
                                    }
                                    Err(_) => break,
                                }
                            }
                        }
                    }
                    Ok(None) => {
                        // Every sink is gone: sign the final state and stop.
                        if let Err(e) = self.close() {
                            tracing::error!(error = %e, "audit final checkpoint failed");
                        }
                        return;
                    }
                    Err(_) => {}
                }
                if self.handle(&mut batch) {
                    return;
                }
                if self.last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                    self.prune_expired_payloads();
                }
            }
        });
    }

    /// Commits one drained batch, after any records held from failed
    /// commits; returns `true` on shutdown.
    fn handle(&mut self, batch: &mut Vec<Msg>) -> bool {
        let mut items = std::mem::take(&mut self.held);
        let held = items.len();
        let mut replies = Vec::new();
        let mut control = Vec::new();
        let mut shutdown = None;
        let mut rotations = Vec::new();
        for m in batch.drain(..) {
            match m {
                Msg::Append(rec, reply) => {
                    let mut rec = rec;
                    let payloads = std::mem::take(&mut rec.payloads);
                    items.push(self.resolve(Event::Decision(rec), payloads));
                    replies.push(reply);
                }
                Msg::Checkpoint(r) => control.push(r),
                Msg::RotateKey(r) => rotations.push(r),
                Msg::Shutdown(r) => shutdown = Some(r),
            }
        }
        // While failing, an otherwise empty round writes a checkpoint: the
        // probe that tells when the disk is back.
        let force = !control.is_empty()
            || shutdown.is_some()
            || self.shared.failing.load(Ordering::Acquire);
        let n = items.len() as u64;
        match self.commit_resolved(items, force) {
            Ok(done) => {
                self.shared.appended.fetch_add(n, Ordering::Relaxed);
                if self.shared.failing.swap(false, Ordering::AcqRel) {
                    tracing::warn!(
                        records = held,
                        "audit log writable again; held records committed"
                    );
                }
                self.shared.held.store(0, Ordering::Relaxed);
                self.retry_delay = RETRY_MIN;
                for (reply, receipt) in replies.into_iter().zip(done.into_iter().skip(held)) {
                    if let Some(r) = reply {
                        let _ = r.send(Ok(receipt));
                    }
                }
                for r in control {
                    let _ = r.send(Ok(()));
                }
            }
            Err((e, items)) => {
                self.shared.failing.store(true, Ordering::Release);
                // Async records (no reply) are kept for the retry, in order;
                // sync callers get the error and refuse their request.
                let retriable = matches!(e.kind(), AuditErrorKind::Storage | AuditErrorKind::Io);
                let mut refused = 0u64;
                for (i, item) in items.into_iter().enumerate() {
                    let reply = i.checked_sub(held).and_then(|j| replies.get_mut(j)?.take());
                    match reply {
                        Some(r) => {
                            refused += 1;
                            let _ = r.send(Err(AuditError::new(e.kind(), "audit commit failed")));
                        }
                        None if retriable => self.held.push(item),
                        None => refused += 1,
                    }
                }
                self.shared.failed.fetch_add(refused, Ordering::Relaxed);
                self.shared
                    .held
                    .store(self.held.len() as u64, Ordering::Relaxed);
                tracing::error!(
                    error = %e,
                    refused,
                    held = self.held.len(),
                    retry_in_ms = self.retry_delay.as_millis() as u64,
                    "audit commit failed; async records held for retry, sync callers refused"
                );
                self.retry_delay = (self.retry_delay * 2).min(RETRY_MAX);
                for r in control {
                    let _ = r.send(Err(AuditError::new(e.kind(), "audit commit failed")));
                }
            }
        }
        for r in rotations {
            let _ = r.send(self.rotate_key());
        }
        if let Some(r) = shutdown {
            let closed = self.close();
            if !self.held.is_empty() {
                tracing::error!(
                    records = self.held.len(),
                    "audit log stopped while it could not be written; held records lost"
                );
                self.shared
                    .failed
                    .fetch_add(self.held.len() as u64, Ordering::Relaxed);
            }
            let _ = r.send(closed);
            return true;
        }
        false
    }

    /// Replaces the signing key: a `key_rotated` leaf, a checkpoint signed by
    /// both keys, a key manifest signed by both, then the new key in place.
    ///
    /// A crash between the commit and the file moves leaves the new key in
    /// `<key>.new`; start-up then refuses the old key (the database names the
    /// new one) until the operator moves it into place.
    fn rotate_key(&mut self) -> Result<NoteVerifier, AuditError> {
        let key_path = self.config.key_path();
        let new_path = key_path.with_extension("key.new");
        let new = NoteSigner::generate(&self.origin)?;
        keys::write_private(&new_path, new.to_private_string().as_bytes())?;
        let now = now_ms();
        let old_v = self.signer.verifier();
        let new_v = new.verifier();
        let manifest_path = self.config.dir.join(keys::KEY_MANIFEST_FILE);
        let mut manifest = match std::fs::read_to_string(&manifest_path) {
            Ok(text) => keys::KeyManifest::parse(&text)?,
            Err(_) => keys::KeyManifest::new(&self.origin, &old_v),
        };
        manifest.rotate(&old_v, &new_v, now);
        let text = manifest.to_text();
        let note = format!(
            "{text}\n{}{}",
            self.signer.signature_line(&text),
            new.signature_line(&text)
        );
        let event = Event::KeyRotated {
            time_ms: now,
            old_key: old_v.to_string(),
            new_key: new_v.to_string(),
        };
        self.pending_meta = vec![
            ("key_id".to_owned(), format!("{:08x}", new.key_id())),
            ("verifier_key".to_owned(), new_v.to_string()),
        ];
        self.cosigner = Some(new);
        let committed = self.commit_events(vec![(event, Default::default())], true);
        let Some(new) = self.cosigner.take() else {
            return Err(AuditError::new(
                AuditErrorKind::Key,
                "rotation lost its key",
            ));
        };
        if let Err(e) = committed {
            self.pending_meta.clear();
            let _ = std::fs::remove_file(&new_path);
            return Err(e);
        }
        let retired = key_path.with_extension(format!("key.{:08x}.retired", self.signer.key_id()));
        std::fs::rename(&key_path, &retired)
            .and_then(|()| std::fs::rename(&new_path, &key_path))
            .map_err(|e| AuditError::io("moving the rotated key files", e))?;
        std::fs::write(&manifest_path, note)
            .and_then(|()| {
                std::fs::write(
                    self.config.dir.join(keys::VERIFIER_KEY_FILE),
                    format!("{new_v}\n"),
                )
            })
            .map_err(|e| AuditError::io("writing the key manifest", e))?;
        self.signer = new;
        Ok(new_v)
    }

    /// Erases payloads older than the retention period; leaves stay, so the
    /// tree and every proof still verify. Failures are logged and retried at
    /// the next interval: retention is not worth failing appends over.
    fn prune_expired_payloads(&mut self) {
        self.last_prune = Some(Instant::now());
        let retention_ms = u64::try_from(self.config.retention.as_millis()).unwrap_or(u64::MAX);
        let before = now_ms().saturating_sub(retention_ms);
        match self.store.prune_payloads(before) {
            Ok(0) => {}
            Ok(n) => tracing::info!(audit.pruned = n, "audit payloads past retention erased"),
            Err(e) => tracing::warn!(error = %e, "audit payload pruning failed"),
        }
    }

    /// Records a clean stop and signs the final checkpoint over it.
    fn close(&mut self) -> Result<(), AuditError> {
        let stopped = Event::LogStopped { time_ms: now_ms() };
        let mut items = std::mem::take(&mut self.held);
        items.push(self.resolve(stopped, Default::default()));
        match self.commit_resolved(items, true) {
            Ok(_) => Ok(()),
            Err((e, mut items)) => {
                items.pop();
                self.held = items;
                Err(e)
            }
        }
    }

    /// Appends `events` and, when due or forced, a checkpoint, in one
    /// transaction. On failure the in-memory tree is restored, so the next
    /// batch continues from what is really on disk.
    fn commit_events(
        &mut self,
        events: Vec<(Event, record::Payloads)>,
        force_checkpoint: bool,
    ) -> Result<Vec<(u64, Hash)>, AuditError> {
        let items = events
            .into_iter()
            .map(|(event, payloads)| self.resolve(event, payloads))
            .collect();
        self.commit_resolved(items, force_checkpoint)
            .map_err(|(e, _)| e)
    }

    /// [`Self::commit_events`] for resolved events; a failure hands them back.
    fn commit_resolved(
        &mut self,
        items: Vec<Resolved>,
        force_checkpoint: bool,
    ) -> Result<Vec<(u64, Hash)>, CommitFailure> {
        let saved = (self.frontier.clone(), self.last_hash);
        let result = self.try_commit(items, force_checkpoint);
        if result.is_err() {
            (self.frontier, self.last_hash) = saved;
        }
        result
    }

    /// Commits to each payload (salted hash or HMAC) as configured.
    fn resolve(&mut self, event: Event, payloads: record::Payloads) -> Resolved {
        let mut refs = BTreeMap::new();
        let mut rows = Vec::new();
        for (field, body) in [("prompt", payloads.prompt), ("response", payloads.response)] {
            let Some(body) = body else { continue };
            match self.config.payloads {
                PayloadMode::Redacted => {
                    let mut salt = [0u8; 16];
                    rand::RngCore::fill_bytes(&mut self.salt_rng, &mut salt);
                    refs.insert(
                        field.to_owned(),
                        PayloadRef::Sha256Salted {
                            commitment: record::payload_commitment(&salt, &body),
                        },
                    );
                    rows.push((field, salt, body));
                }
                PayloadMode::Hmac => {
                    if let Some((key, id)) = &self.hmac {
                        refs.insert(
                            field.to_owned(),
                            PayloadRef::HmacSha256 {
                                mac: record::payload_hmac(key, &body),
                                key_id: id.clone(),
                            },
                        );
                    }
                }
                PayloadMode::None => {}
            }
        }
        Resolved { event, refs, rows }
    }

    fn try_commit(
        &mut self,
        items: Vec<Resolved>,
        force_checkpoint: bool,
    ) -> Result<Vec<(u64, Hash)>, CommitFailure> {
        let mut receipts = Vec::with_capacity(items.len());
        let mut prepared = Vec::with_capacity(items.len());
        let mut items = items.into_iter();
        while let Some(Resolved { event, refs, rows }) = items.next() {
            let index = self.frontier.size();
            let entry = LeafEntry {
                v: ENTRY_VERSION,
                index,
                prev: hex::encode(self.last_hash),
                event,
                payloads: refs,
            };
            let bytes = match entry.canonical_bytes() {
                Ok(b) => b,
                Err(e) => {
                    let mut back = unprepare(prepared);
                    back.push(Resolved {
                        event: entry.event,
                        refs: entry.payloads,
                        rows,
                    });
                    back.extend(items);
                    return Err((e, back));
                }
            };
            let leaf = record::entry_leaf_hash(&bytes);
            let nodes = self.frontier.push(leaf);
            self.last_hash = leaf;
            receipts.push((index, leaf));
            prepared.push((entry, bytes, leaf, nodes, rows));
        }

        let size = self.frontier.size();
        let due = force_checkpoint
            || size.saturating_sub(self.last_cp_size) >= self.config.checkpoint_every
            || self.last_cp_at.elapsed() >= self.config.checkpoint_interval;
        let checkpoint = if due {
            let cp = Checkpoint {
                origin: self.origin.clone(),
                size,
                root: self.frontier.root(),
                seq: self.next_seq,
                time_ms: now_ms(),
            };
            let mut note = match cp.sign(&self.signer) {
                Ok(n) => n,
                Err(e) => return Err((e, unprepare(prepared))),
            };
            if let Some(co) = &self.cosigner {
                // The rotation checkpoint carries both keys' signatures, so
                // the switch itself is vouched for by the old key.
                note.push_str(&co.signature_line(&cp.to_text()));
            }
            Some(StoredCheckpoint {
                seq: cp.seq,
                size,
                root: cp.root,
                time_ms: cp.time_ms,
                note,
            })
        } else {
            None
        };
        if prepared.is_empty() && checkpoint.is_none() {
            return Ok(receipts);
        }

        if let Err(e) = self.write(&prepared, checkpoint.as_ref()) {
            return Err((e, unprepare(prepared)));
        }
        self.pending_meta.clear();

        self.shared.tree_size.store(size, Ordering::Relaxed);
        if let Some(cp) = checkpoint {
            self.next_seq = cp.seq + 1;
            self.last_cp_size = cp.size;
            self.last_cp_at = Instant::now();
            self.shared.checkpoints.fetch_add(1, Ordering::Relaxed);
        }
        Ok(receipts)
    }

    /// One transaction: the prepared leaves, their nodes and payloads, the
    /// checkpoint and pending meta rows.
    fn write(
        &mut self,
        prepared: &[Prepared],
        checkpoint: Option<&StoredCheckpoint>,
    ) -> Result<(), AuditError> {
        let batch = self.store.begin()?;
        for (entry, bytes, leaf, nodes, rows) in prepared {
            batch.insert_leaf(
                entry.index,
                entry.event.time_ms(),
                entry.event.tenant(),
                bytes,
                leaf,
            )?;
            // Level 0 is the leaf hash, already in `leaves`.
            for (level, idx, hash) in nodes.iter().filter(|n| n.0 > 0) {
                batch.insert_node(*level, *idx, hash)?;
            }
            for (field, salt, body) in rows {
                batch.insert_payload(entry.index, field, salt, body)?;
            }
        }
        if let Some(cp) = checkpoint {
            batch.insert_checkpoint(cp)?;
        }
        for (k, v) in &self.pending_meta {
            batch.set_meta(k, v)?;
        }
        batch.commit()
    }
}

/// A leaf ready to insert: entry, canonical bytes, leaf hash, new tree
/// nodes, payload rows.
type Prepared = (
    LeafEntry,
    Vec<u8>,
    Hash,
    Vec<(u32, u64, Hash)>,
    Vec<(&'static str, [u8; 16], String)>,
);

/// Takes prepared leaves apart again, for a retry at the same or a later
/// index.
fn unprepare(prepared: Vec<Prepared>) -> Vec<Resolved> {
    prepared
        .into_iter()
        .map(|(entry, _, _, _, rows)| Resolved {
            event: entry.event,
            refs: entry.payloads,
            rows,
        })
        .collect()
}
