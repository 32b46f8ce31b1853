//! Key files: the checkpoint signing key and the HMAC key.
//!
//! The signing key is generated on the log's first start and written to a
//! file only its owner can read (mode 0600). After that a missing,
//! unreadable or foreign key is a start-up error: the log never runs
//! unsigned and never silently starts a new identity.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use crate::error::{AuditError, AuditErrorKind};
use crate::note::NoteSigner;

/// Default file name of the signing key inside the log directory.
pub const SIGNING_KEY_FILE: &str = "checkpoint.key";
/// Default file name of the matching verifier key.
pub const VERIFIER_KEY_FILE: &str = "checkpoint.pub";

/// Loads the signing key at `path`.
///
/// # Errors
///
/// [`AuditErrorKind::Key`] when the file is missing, readable by group or
/// others, or malformed; [`AuditErrorKind::Io`] when it cannot be read.
pub fn load_signing_key(path: &Path) -> Result<NoteSigner, AuditError> {
    let meta = fs::metadata(path).map_err(|e| {
        AuditError::with_source(AuditErrorKind::Key, "signing key file missing or unreadable", e)
    })?;
    check_owner_only(&meta)?;
    let text = fs::read_to_string(path).map_err(|e| {
        AuditError::with_source(AuditErrorKind::Key, "signing key file unreadable", e)
    })?;
    NoteSigner::parse(&text)
}

#[cfg(unix)]
fn check_owner_only(meta: &fs::Metadata) -> Result<(), AuditError> {
    use std::os::unix::fs::PermissionsExt as _;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(AuditError::new(
            AuditErrorKind::Key,
            "signing key file is accessible by group or others; chmod 600 it",
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner_only(_meta: &fs::Metadata) -> Result<(), AuditError> {
    Ok(())
}

/// Generates a key named `name` and writes it to `path` (mode 0600, never
/// overwriting), plus its verifier key to `public_path`.
///
/// # Errors
///
/// [`AuditErrorKind::Io`] when a file exists already or cannot be written.
pub fn generate_signing_key(
    name: &str,
    path: &Path,
    public_path: &Path,
) -> Result<NoteSigner, AuditError> {
    let signer = NoteSigner::generate(name)?;
    write_private(path, signer.to_private_string().as_bytes())?;
    fs::write(public_path, format!("{}\n", signer.verifier()))
        .map_err(|e| AuditError::io("writing the verifier key", e))?;
    Ok(signer)
}

/// Writes a secret file with owner-only permissions, refusing to replace one.
///
/// # Errors
///
/// [`AuditErrorKind::Io`] when the file exists or cannot be written.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), AuditError> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| AuditError::io("creating a key file", e))?;
    f.write_all(contents)
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .map_err(|e| AuditError::io("writing a key file", e))
}

/// Loads an HMAC key: raw file contents, at least 32 bytes (trailing newline
/// stripped).
///
/// # Errors
///
/// [`AuditErrorKind::Key`] when missing, unreadable or too short.
pub fn load_hmac_key(path: &Path) -> Result<Vec<u8>, AuditError> {
    let mut key = fs::read(path).map_err(|e| {
        AuditError::with_source(AuditErrorKind::Key, "HMAC key file missing or unreadable", e)
    })?;
    while key.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        key.pop();
    }
    if key.len() < 32 {
        return Err(AuditError::new(
            AuditErrorKind::Key,
            "HMAC key must be at least 32 bytes",
        ));
    }
    Ok(key)
}
