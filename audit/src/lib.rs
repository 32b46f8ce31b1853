//! Signed, tamper-evident audit log (issue 6).

pub mod error;
pub mod jcs;
pub mod merkle;
pub mod note;

pub use error::{AuditError, AuditErrorKind};
