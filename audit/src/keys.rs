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
use crate::note::{NoteSigner, NoteVerifier};

/// Default file name of the signing key inside the log directory.
pub const SIGNING_KEY_FILE: &str = "checkpoint.key";
/// Default file name of the matching verifier key.
pub const VERIFIER_KEY_FILE: &str = "checkpoint.pub";
/// Key manifest (a signed note) written by key rotation.
pub const KEY_MANIFEST_FILE: &str = "keys.note";

/// Heading line of a key manifest.
const MANIFEST_HEADER: &str = "menshen-audit key manifest v1";

/// The list of checkpoint keys a log has used, with validity windows.
///
/// Text form (signed as a note by the outgoing and the incoming key at each
/// rotation):
///
/// ```text
/// menshen-audit key manifest v1
/// <origin>
/// key <verifier key> from <unix ms> until <unix ms>
/// key <verifier key> from <unix ms>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyManifest {
    /// Log origin.
    pub origin: String,
    /// Keys in order of use.
    pub keys: Vec<ManifestKey>,
}

/// One key of a [`KeyManifest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestKey {
    /// The verifier key.
    pub key: NoteVerifier,
    /// Start of validity, Unix ms.
    pub from_ms: u64,
    /// End of validity (retired), Unix ms.
    pub until_ms: Option<u64>,
}

// === impl KeyManifest ===

impl KeyManifest {
    /// A manifest holding only the first key.
    pub fn new(origin: &str, key: &NoteVerifier) -> Self {
        Self {
            origin: origin.to_owned(),
            keys: vec![ManifestKey {
                key: key.clone(),
                from_ms: 0,
                until_ms: None,
            }],
        }
    }

    /// Retires `old` at `at_ms` and adds `new` from then on.
    pub fn rotate(&mut self, old: &NoteVerifier, new: &NoteVerifier, at_ms: u64) {
        for k in &mut self.keys {
            if &k.key == old && k.until_ms.is_none() {
                k.until_ms = Some(at_ms);
            }
        }
        self.keys.push(ManifestKey {
            key: new.clone(),
            from_ms: at_ms,
            until_ms: None,
        });
    }

    /// The text to sign.
    pub fn to_text(&self) -> String {
        let mut s = format!("{MANIFEST_HEADER}\n{}\n", self.origin);
        for k in &self.keys {
            s.push_str(&format!("key {} from {}", k.key, k.from_ms));
            if let Some(u) = k.until_ms {
                s.push_str(&format!(" until {u}"));
            }
            s.push('\n');
        }
        s
    }

    /// Parses a manifest's text or whole signed note (signatures ignored;
    /// check them with [`crate::note::SignedNote::check`]).
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Encoding`] / [`AuditErrorKind::Key`] for malformed
    /// lines or keys.
    pub fn parse(text: &str) -> Result<Self, AuditError> {
        let body = text.split("\n\n").next().unwrap_or(text);
        let mut lines = body.lines();
        let bad = || AuditError::new(AuditErrorKind::Encoding, "malformed key manifest");
        if lines.next() != Some(MANIFEST_HEADER) {
            return Err(bad());
        }
        let origin = lines.next().ok_or_else(bad)?.to_owned();
        let mut keys = Vec::new();
        for line in lines {
            let parts: Vec<&str> = line.split(' ').collect();
            let (key, from, until) = match parts.as_slice() {
                ["key", k, "from", f] => (*k, *f, None),
                ["key", k, "from", f, "until", u] => (*k, *f, Some(*u)),
                _ => return Err(bad()),
            };
            keys.push(ManifestKey {
                key: NoteVerifier::parse(key)?,
                from_ms: from.parse().map_err(|_| bad())?,
                until_ms: until.map(|u| u.parse()).transpose().map_err(|_| bad())?,
            });
        }
        Ok(Self { origin, keys })
    }
}

/// Loads the signing key at `path`.
///
/// # Errors
///
/// [`AuditErrorKind::Key`] when the file is missing, readable by group or
/// others, or malformed; [`AuditErrorKind::Io`] when it cannot be read.
pub fn load_signing_key(path: &Path) -> Result<NoteSigner, AuditError> {
    let meta = fs::metadata(path).map_err(|e| {
        AuditError::with_source(
            AuditErrorKind::Key,
            "signing key file missing or unreadable",
            e,
        )
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
        AuditError::with_source(
            AuditErrorKind::Key,
            "HMAC key file missing or unreadable",
            e,
        )
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
