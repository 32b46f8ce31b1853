//! Signed, tamper-evident audit log for Menshen (issue 6).

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

pub use error::{AuditError, AuditErrorKind};
pub use log::{
    AppendReceipt, AuditConfig, AuditLog, AuditMode, AuditSink, AuditStats, OnFull, PayloadMode,
};
pub use record::{
    AuditRecord, DecisionSummary, Direction, FindingSummary, Payloads, ReviewSummary,
    UpstreamSummary,
};
pub use cli::run_cli;
pub use bundle::{export, verify_bundle, ExportOptions, VerifyOptions, VerifyReport};
