//! Signed, tamper-evident audit log for Menshen (issue 6).
//!
//! One [`AuditRecord`] per proxy decision goes into a SQLite file as a leaf
//! of an RFC 6962 Merkle tree. Each leaf is the RFC 8785 canonical JSON of a
//! [`record::LeafEntry`]: the record, its index, the previous leaf's hash and
//! salted commitments to the redacted prompt and response (kept in a
//! separate, deletable table). A dedicated writer thread group-commits
//! batches and signs C2SP checkpoints (`signed-note` + `tlog-checkpoint`,
//! Ed25519) every N records or T seconds, with heartbeats when idle.
//! [`export`] writes a bundle that [`verify_bundle`] (or the `menshen-audit`
//! binary, or any RFC 6962 / C2SP tooling, see `VERIFY.md`) checks offline.
//!
//! This crate depends on no other Menshen crate, so that the verifier a
//! regulator runs stays small.
//!
//! # Example
//!
//! ```no_run
//! use menshen_audit::{AuditConfig, AuditLog, AuditMode, AuditRecord, DecisionSummary, Direction};
//!
//! # async fn demo() -> Result<(), menshen_audit::AuditError> {
//! let log = AuditLog::open(
//!     AuditConfig::new("/var/lib/menshen/audit")
//!         .with_origin("proxy-1.example.com/audit")
//!         .with_mode(AuditMode::Sync),
//! )?;
//! let sink = log.sink(); // Clone + Send + Sync, one per request task
//! let receipt = sink
//!     .append(AuditRecord {
//!         time_ms: 1_764_500_000_000,
//!         request_id: "req-1".into(),
//!         tenant: "acme".into(),
//!         route: "chat".into(),
//!         api: "openai.chat".into(),
//!         model: Some("gpt-4o".into()),
//!         direction: Direction::Request,
//!         decision: DecisionSummary { action: "allow".into(), reasons: vec![], monitor: false },
//!         risk_score: 3,
//!         findings: vec![],
//!         policy_version: "sha256:0f1e".into(),
//!         review: None,
//!         upstream: None,
//!         payloads: Default::default(),
//!     })
//!     .await?;
//! println!("{receipt:?} {:?}", sink.stats());
//! log.shutdown().await?; // flush, final checkpoint
//! # Ok(())
//! # }
//! ```

pub mod bundle;
pub mod cli;
pub mod error;
pub mod jcs;
pub mod keys;
pub mod log;
pub mod merkle;
pub mod note;
pub mod record;
pub mod store;

pub use bundle::{export, verify_bundle, ExportOptions, VerifyOptions, VerifyReport};
pub use cli::run_cli;
pub use error::{AuditError, AuditErrorKind};
pub use log::{
    AppendReceipt, AuditConfig, AuditLog, AuditMode, AuditSink, AuditStats, OnFull, PayloadMode,
};
pub use record::{
    AuditRecord, DecisionSummary, Direction, FindingSummary, Payloads, ReviewSummary,
    UpstreamSummary,
};
