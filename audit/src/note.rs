//! C2SP `signed-note` and `tlog-checkpoint` text formats, with Ed25519 keys.
//!
//! A note is UTF-8 text ending in a newline, a blank line, then one line per
//! signature: `— <key name> <base64(key id || signature)>`. The key id is the
//! first four bytes of `SHA-256(key name || 0x0A || 0x01 || public key)`, so a
//! verifier picks the right key without trying all of them, and a signature
//! by an unknown key is told apart from a forged one. The formats match Go's
//! `golang.org/x/mod/sumdb/note`, so the bundle can be checked with tools
//! outside this project.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::{AuditError, AuditErrorKind};
use crate::merkle::Hash;

/// Signature algorithm byte for Ed25519 in signed notes.
const ALG_ED25519: u8 = 0x01;

/// Separator before each signature line: U+2014 EM DASH and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// An Ed25519 signing key with its note key name.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
    id: u32,
}

/// A public key that checks signatures on notes.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key: VerifyingKey,
    id: u32,
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name on the line.
    pub name: String,
    /// Key id: the first four bytes of the signature blob.
    pub key_id: u32,
    /// The signature bytes after the key id.
    pub signature: Vec<u8>,
}

/// A parsed (not yet verified) signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    /// The signed text, ending in a newline.
    pub text: String,
    /// The signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

/// The outcome of checking a note against a set of trusted keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteCheck {
    /// A trusted key signed the text; holds that key's name and id.
    Valid {
        /// Key name.
        name: String,
        /// Key id.
        key_id: u32,
    },
    /// No signature is by a key the verifier knows.
    UnknownKey,
    /// A signature claims a known key but does not verify.
    BadSignature {
        /// Key name on the failing line.
        name: String,
    },
}

/// A C2SP `tlog-checkpoint` body: origin, tree size, root hash, and our
/// extension lines (checkpoint sequence number and time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line (unique per log instance).
    pub origin: String,
    /// Number of leaves covered.
    pub size: u64,
    /// Root hash of those leaves.
    pub root: Hash,
    /// Sequence number of this checkpoint in the log (0, 1, 2, ...): a gap
    /// shows deleted checkpoints, including heartbeats.
    pub seq: u64,
    /// Signing time, Unix milliseconds.
    pub time_ms: u64,
}

/// Computes a note key id (C2SP signed-note).
pub fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '+')
}

fn key_err(context: &'static str) -> AuditError {
    AuditError::new(AuditErrorKind::Key, context)
}

fn enc_err(context: &'static str) -> AuditError {
    AuditError::new(AuditErrorKind::Encoding, context)
}

// === impl NoteSigner ===

impl NoteSigner {
    /// Wraps a 32-byte Ed25519 seed under key `name`.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Key`] when `name` is empty or holds spaces or `+`.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, AuditError> {
        if !valid_key_name(name) {
            return Err(key_err("key name must be non-empty, without spaces or '+'"));
        }
        let key = SigningKey::from_bytes(seed);
        let id = key_id(name, key.verifying_key().as_bytes());
        Ok(Self {
            name: name.to_owned(),
            key,
            id,
        })
    }

    /// Generates a fresh key from the operating system's CSPRNG.
    ///
    /// # Errors
    ///
    /// As [`NoteSigner::from_seed`].
    pub fn generate(name: &str) -> Result<Self, AuditError> {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        Self::from_seed(name, &seed)
    }

    /// Parses Go's private key encoding
    /// `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Key`] for any malformed part or a key id mismatch.
    pub fn parse(encoded: &str) -> Result<Self, AuditError> {
        let rest = encoded
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| key_err("private key must start with PRIVATE+KEY+"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(key_err("private key must be PRIVATE+KEY+name+id+key"));
        };
        let raw = B64
            .decode(b64)
            .map_err(|e| AuditError::with_source(AuditErrorKind::Key, "private key base64", e))?;
        let Some((&ALG_ED25519, seed)) = raw.split_first() else {
            return Err(key_err("private key is not an Ed25519 key"));
        };
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| key_err("Ed25519 seed must be 32 bytes"))?;
        let signer = Self::from_seed(name, &seed)?;
        if format!("{:08x}", signer.id) != id {
            return Err(key_err("private key id does not match the key"));
        }
        Ok(signer)
    }

    /// Go's private key encoding; write it only to an owner-only file.
    pub fn to_private_string(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.id,
            B64.encode(raw)
        )
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
            id: self.id,
        }
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key id.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The signature line for `text` (including its newline).
    pub fn signature_line(&self, text: &str) -> String {
        let sig = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&self.id.to_be_bytes());
        blob.extend_from_slice(&sig.to_bytes());
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(blob))
    }

    /// Signs `text` as a note: text, blank line, signature line.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Encoding`] when the text is not a valid note body
    /// (empty, not newline-terminated, or containing a blank line... which
    /// would be read back as the signature block).
    pub fn sign(&self, text: &str) -> Result<String, AuditError> {
        check_text(text)?;
        Ok(format!("{text}\n{}", self.signature_line(text)))
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.id))
            .finish_non_exhaustive()
    }
}

fn check_text(text: &str) -> Result<(), AuditError> {
    if text.is_empty() || !text.ends_with('\n') || text.contains("\n\n") {
        return Err(enc_err(
            "note text must be non-empty, end in a newline and hold no blank line",
        ));
    }
    Ok(())
}

// === impl NoteVerifier ===

impl NoteVerifier {
    /// Parses a verifier key `<name>+<hex id>+<base64(0x01 || public key)>`.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Key`] for any malformed part, a non-Ed25519 key or a
    /// key id that does not match.
    pub fn parse(encoded: &str) -> Result<Self, AuditError> {
        let mut parts = encoded.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(key_err("verifier key must be name+id+key"));
        };
        if !valid_key_name(name) {
            return Err(key_err("verifier key has an invalid name"));
        }
        let raw = B64
            .decode(b64)
            .map_err(|e| AuditError::with_source(AuditErrorKind::Key, "verifier key base64", e))?;
        let Some((&ALG_ED25519, public)) = raw.split_first() else {
            return Err(key_err("verifier key is not an Ed25519 key"));
        };
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| key_err("Ed25519 public key must be 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|e| AuditError::with_source(AuditErrorKind::Key, "Ed25519 public key", e))?;
        let kid = key_id(name, &public);
        if format!("{kid:08x}") != id {
            return Err(key_err("verifier key id does not match the key"));
        }
        Ok(Self {
            name: name.to_owned(),
            key,
            id: kid,
        })
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key id.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// Checks one signature with `verify_strict`, which rejects small-order
    /// keys and non-canonical signatures (malleability).
    pub fn verify(&self, text: &str, signature: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify_strict(text.as_bytes(), &sig).is_ok()
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.id, B64.encode(raw))
    }
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteVerifier({self})")
    }
}

// === impl SignedNote ===

impl SignedNote {
    /// Splits a note into text and signature lines.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Encoding`] when there is no signature block or a
    /// signature line is malformed.
    pub fn parse(note: &str) -> Result<Self, AuditError> {
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| enc_err("note has no signature block"))?;
        let (text, sigs) = note.split_at(split + 1);
        let sigs = sigs
            .strip_prefix('\n')
            .ok_or_else(|| enc_err("note has no signature block"))?;
        check_text(text)?;
        if !sigs.ends_with('\n') {
            return Err(enc_err("note signatures must end in a newline"));
        }
        let mut signatures = Vec::new();
        for line in sigs.lines() {
            let rest = line
                .strip_prefix(SIG_PREFIX)
                .ok_or_else(|| enc_err("signature line must start with an em dash"))?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or_else(|| enc_err("signature line must be '— name signature'"))?;
            let blob = B64.decode(b64).map_err(|e| {
                AuditError::with_source(AuditErrorKind::Encoding, "signature base64", e)
            })?;
            if blob.len() < 5 || !valid_key_name(name) {
                return Err(enc_err("malformed signature line"));
            }
            let (id, signature) = blob.split_at(4);
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id: u32::from_be_bytes([id[0], id[1], id[2], id[3]]),
                signature: signature.to_vec(),
            });
        }
        if signatures.is_empty() {
            return Err(enc_err("note has no signatures"));
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Checks the note against `trusted` keys: valid when at least one
    /// signature by a trusted key verifies and none by a trusted key fails.
    pub fn check(&self, trusted: &[NoteVerifier]) -> NoteCheck {
        let mut valid = None;
        for sig in &self.signatures {
            let Some(key) = trusted
                .iter()
                .find(|k| k.id == sig.key_id && k.name == sig.name)
            else {
                continue;
            };
            if !key.verify(&self.text, &sig.signature) {
                return NoteCheck::BadSignature {
                    name: sig.name.clone(),
                };
            }
            valid.get_or_insert(NoteCheck::Valid {
                name: key.name.clone(),
                key_id: key.id,
            });
        }
        valid.unwrap_or(NoteCheck::UnknownKey)
    }
}

// === impl Checkpoint ===

impl Checkpoint {
    /// The checkpoint body text (what is signed).
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\nseq {}\ntime {}\n",
            self.origin,
            self.size,
            B64.encode(self.root),
            self.seq,
            self.time_ms
        )
    }

    /// Parses a checkpoint body.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Encoding`] when a line is missing or malformed.
    pub fn parse_text(text: &str) -> Result<Self, AuditError> {
        let mut lines = text.lines();
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| enc_err("checkpoint has no origin"))?;
        let size = lines
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| enc_err("checkpoint tree size is not a decimal number"))?;
        let root = lines
            .next()
            .and_then(|r| B64.decode(r).ok())
            .and_then(|r| <Hash>::try_from(r).ok())
            .ok_or_else(|| enc_err("checkpoint root is not a base64 SHA-256 hash"))?;
        let mut seq = None;
        let mut time_ms = None;
        for line in lines {
            if let Some(v) = line.strip_prefix("seq ") {
                seq = v.parse().ok();
            } else if let Some(v) = line.strip_prefix("time ") {
                time_ms = v.parse().ok();
            }
        }
        let (Some(seq), Some(time_ms)) = (seq, time_ms) else {
            return Err(enc_err("checkpoint lacks its seq or time line"));
        };
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            seq,
            time_ms,
        })
    }

    /// Signs the checkpoint as a note.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Encoding`] when the origin holds a newline.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, AuditError> {
        if self.origin.contains('\n') || self.origin.is_empty() {
            return Err(enc_err("checkpoint origin must be one non-empty line"));
        }
        signer.sign(&self.to_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n";
    const GO_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    /// The example from Go's `golang.org/x/mod/sumdb/note` documentation and
    /// tests: Ed25519 is deterministic, so we must reproduce it byte for byte.
    #[test]
    fn reproduces_the_go_reference_note() {
        let signer = NoteSigner::parse(GO_SKEY).unwrap();
        assert_eq!(signer.key_id(), 0xc74f20a3);
        assert_eq!(signer.verifier().to_string(), GO_VKEY);
        assert_eq!(signer.to_private_string(), GO_SKEY);
        let note = signer.sign(GO_TEXT).unwrap();
        assert_eq!(note, format!("{GO_TEXT}\n{GO_SIG}"));
        let parsed = SignedNote::parse(&note).unwrap();
        let v = NoteVerifier::parse(GO_VKEY).unwrap();
        assert_eq!(
            parsed.check(&[v]),
            NoteCheck::Valid {
                name: "PeterNeumann".into(),
                key_id: 0xc74f20a3
            }
        );
    }

    #[test]
    fn rejects_mangled_verifier_keys() {
        for bad in [
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3",
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        ] {
            assert!(NoteVerifier::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tells_forged_from_unknown_signatures() {
        let signer = NoteSigner::parse(GO_SKEY).unwrap();
        let v = signer.verifier();
        let note = signer.sign(GO_TEXT).unwrap();
        let edited = note.replacen("cryptography", "cryptographY", 1);
        assert_eq!(
            SignedNote::parse(&edited)
                .unwrap()
                .check(std::slice::from_ref(&v)),
            NoteCheck::BadSignature {
                name: "PeterNeumann".into()
            }
        );
        let other = NoteSigner::generate("Other").unwrap();
        let by_other = other.sign(GO_TEXT).unwrap();
        assert_eq!(
            SignedNote::parse(&by_other).unwrap().check(&[v]),
            NoteCheck::UnknownKey
        );
    }

    #[test]
    fn checkpoint_round_trips() {
        let cp = Checkpoint {
            origin: "menshen.example/audit/node-1".into(),
            size: 42,
            root: [7u8; 32],
            seq: 3,
            time_ms: 1_764_500_000_123,
        };
        let signer = NoteSigner::generate(&cp.origin).unwrap();
        let note = cp.sign(&signer).unwrap();
        let parsed = SignedNote::parse(&note).unwrap();
        assert!(matches!(
            parsed.check(&[signer.verifier()]),
            NoteCheck::Valid { .. }
        ));
        assert_eq!(Checkpoint::parse_text(&parsed.text).unwrap(), cp);
    }
}
