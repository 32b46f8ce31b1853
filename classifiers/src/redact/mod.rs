//! Redaction and reversible pseudonymization of PII and secrets findings.
//!
//! Operators, chosen per entity type ([`RedactionConfig`]):
//! - [`Operator::Mask`]: `[EMAIL_1]`, numbered by first appearance within a
//!   conversation; irreversible.
//! - [`Operator::PartialMask`]: `**** **** **** 4242`, keeps the last few
//!   letters or digits and every separator.
//! - [`Operator::Hash`]: `[EMAIL_HASH_kfjdmpaebcghnlio]`, HMAC-SHA256 under a
//!   caller-supplied key, stable across conversations (joinable downstream,
//!   not reversible without the key).
//! - [`Operator::Drop`]: removes the value.
//! - [`Operator::Pseudonymize`]: `[EMAIL_QXJZKMPA]`, reversible through the
//!   conversation's [`Vault`]; the proxy restores originals in the response
//!   with [`Vault::restore`] or, for streams, a [`Restorer`].
//! - [`Operator::Keep`]: leaves the value (an entity the policy allows).
//!
//! Placeholders use only `[`, `]`, `A-Z`, `0-9`, `_` (hash digests use
//! `a-p`), so they are JSON-string-safe and are never detected as PII
//! themselves: redacting redacted text changes nothing.
//!
//! Where it sits: after the decision, on the request body (input) and, via
//! [`StreamRedactor`], on streamed output. It never fails at request time;
//! a config that asks for hashing without a key is rejected at load.
//!
//! ```
//! use menshen_classifiers::pii::{PiiConfig, PiiDetector};
//! use menshen_classifiers::redact::{Operator, RedactionConfig, Redactor, Vault, VaultKey};
//!
//! let pii = PiiDetector::new(PiiConfig::default()).unwrap();
//! let redactor = Redactor::new(RedactionConfig::new(Operator::Pseudonymize)).unwrap();
//! let mut vault = Vault::new(VaultKey::derive(b"server secret", "conversation-42"));
//!
//! let prompt = "Email jane@example.com about card 4111 1111 1111 1111";
//! let safe = redactor.redact(prompt, &pii.scan_text(prompt), &mut vault);
//! assert!(!safe.contains("jane@example.com"));
//!
//! // The model answers with the placeholders; the proxy restores them.
//! let answer = format!("Sent to {}.", &safe[6..safe.find(" about").unwrap()]);
//! assert_eq!(vault.restore(&answer), "Sent to jane@example.com.");
//! ```

mod restore;
mod stream;
mod vault;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;

use hmac::Mac;

pub use restore::Restorer;
pub use stream::{OutputScanner, StreamRedactor};
pub use vault::{Vault, VaultKey};

use crate::{Finding, Span};

/// How one entity type is redacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operator {
    /// `[ENTITY_n]`, numbered within the conversation.
    Mask,
    /// Mask every letter and digit except the last `visible`; keep separators.
    PartialMask {
        /// How many trailing letters or digits stay visible.
        visible: usize,
    },
    /// `[ENTITY_HASH_<16 letters a-p>]`: keyed HMAC-SHA256, first 64 bits.
    Hash,
    /// Remove the value.
    Drop,
    /// `[ENTITY_TOKEN]`, reversible through the [`Vault`].
    Pseudonymize,
    /// Leave the value as it is.
    Keep,
}

/// A key for [`Operator::Hash`]. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct HashKey(Vec<u8>);

impl HashKey {
    /// The shortest key accepted, in bytes.
    pub const MIN_LEN: usize = 16;

    /// A key from bytes (read from a file or env var named in config).
    ///
    /// # Errors
    /// [`RedactError::ShortHashKey`] when shorter than [`HashKey::MIN_LEN`].
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, RedactError> {
        let bytes = bytes.into();
        if bytes.len() < Self::MIN_LEN {
            return Err(RedactError::ShortHashKey {
                len: bytes.len(),
                min: Self::MIN_LEN,
            });
        }
        Ok(HashKey(bytes))
    }
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashKey(<redacted>)")
    }
}

/// A redaction configuration is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedactError {
    /// An entity is configured for hashing but no key was given.
    #[error("entity {entity} uses the hash operator but no hash key is configured")]
    MissingHashKey {
        /// The entity (or `*` for the default operator).
        entity: String,
    },
    /// The hash key is too short.
    #[error("hash key is {len} bytes, at least {min} are required")]
    ShortHashKey {
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },
}

/// Which operator applies to which entity type.
#[derive(Debug, Clone)]
pub struct RedactionConfig {
    default: Operator,
    per_entity: HashMap<String, Operator>,
    hash_key: Option<HashKey>,
}

impl RedactionConfig {
    /// `default` for every entity type.
    pub fn new(default: Operator) -> Self {
        RedactionConfig {
            default,
            per_entity: HashMap::new(),
            hash_key: None,
        }
    }

    /// Sets the operator of one entity type (e.g. `"CREDIT_CARD"`).
    pub fn with_operator(mut self, entity: impl Into<String>, op: Operator) -> Self {
        self.per_entity.insert(entity.into(), op);
        self
    }

    /// Sets the key for [`Operator::Hash`].
    pub fn with_hash_key(mut self, key: HashKey) -> Self {
        self.hash_key = Some(key);
        self
    }

    /// The operator for `entity`.
    pub fn operator_for(&self, entity: &str) -> Operator {
        self.per_entity.get(entity).copied().unwrap_or(self.default)
    }
}

impl Default for RedactionConfig {
    /// Pseudonymize everything (reversible, so answers stay useful), except
    /// card numbers, which keep their last four digits, and secrets and
    /// private keys, which are masked: a model never needs them back.
    fn default() -> Self {
        RedactionConfig::new(Operator::Pseudonymize)
            .with_operator("CREDIT_CARD", Operator::PartialMask { visible: 4 })
            .with_operator("PRIVATE_KEY", Operator::Mask)
            .with_operator("GENERIC_SECRET", Operator::Mask)
    }
}

/// Applies redaction operators to findings' spans. Shared read-only state:
/// wrap it in an `Arc`; the per-conversation state lives in the [`Vault`].
#[derive(Debug)]
pub struct Redactor {
    config: RedactionConfig,
}

impl Redactor {
    /// Validates `config`.
    ///
    /// # Errors
    /// [`RedactError::MissingHashKey`] when an entity (or the default) uses
    /// [`Operator::Hash`] without a key.
    pub fn new(config: RedactionConfig) -> Result<Self, RedactError> {
        if config.hash_key.is_none() {
            if config.default == Operator::Hash {
                return Err(RedactError::MissingHashKey {
                    entity: "*".to_owned(),
                });
            }
            if let Some((e, _)) = config
                .per_entity
                .iter()
                .find(|(_, op)| **op == Operator::Hash)
            {
                return Err(RedactError::MissingHashKey { entity: e.clone() });
            }
        }
        Ok(Redactor { config })
    }

    /// The configuration.
    pub fn config(&self) -> &RedactionConfig {
        &self.config
    }

    /// Redacts `text` at the spans of `findings` that name an entity (PII and
    /// secrets; rule findings without an entity are ignored). Spans that are
    /// out of range or off char boundaries are skipped. Overlaps are resolved
    /// longest first, then highest score, then leftmost.
    pub fn redact(&self, text: &str, findings: &[Finding], vault: &mut Vault) -> String {
        let chosen = choose_spans(text, findings);
        let mut out = String::with_capacity(text.len());
        let mut last = 0usize;
        for (span, entity) in chosen {
            let (Some(before), Some(value)) =
                (text.get(last..span.start), text.get(span.start..span.end))
            else {
                continue;
            };
            out.push_str(before);
            out.push_str(&self.replacement(entity, value, vault));
            last = span.end;
        }
        out.push_str(text.get(last..).unwrap_or(""));
        out
    }

    fn replacement(&self, entity: &str, value: &str, vault: &mut Vault) -> String {
        match self.config.operator_for(entity) {
            Operator::Mask => vault.mask(entity, value),
            Operator::Pseudonymize => vault.pseudonym(entity, value),
            Operator::PartialMask { visible } => partial_mask(value, visible),
            Operator::Drop => String::new(),
            Operator::Keep => value.to_owned(),
            Operator::Hash => match &self.config.hash_key {
                Some(key) => {
                    let mut mac = vault::new_mac(&key.0);
                    mac.update(entity.as_bytes());
                    mac.update(&[0]);
                    mac.update(value.as_bytes());
                    let digest = mac.finalize().into_bytes();
                    let letters: String = digest
                        .iter()
                        .take(8)
                        .flat_map(|b| [b >> 4, b & 0x0f])
                        .map(|n| char::from(b'a'.wrapping_add(n)))
                        .collect();
                    format!("[{}_HASH_{letters}]", vault::label(entity))
                }
                // `Redactor::new` rejects this configuration; mask rather
                // than leak if it ever happens.
                None => vault.mask(entity, value),
            },
        }
    }
}

/// Non-overlapping `(span, entity)` pairs in text order.
fn choose_spans<'f>(text: &str, findings: &'f [Finding]) -> Vec<(Span, &'f str)> {
    let mut cands: Vec<(Span, &'f str, f32)> = findings
        .iter()
        .filter_map(|f| {
            let span = f.span?;
            let entity = f.entity.as_deref()?;
            let ok = span.start < span.end
                && span.end <= text.len()
                && text.is_char_boundary(span.start)
                && text.is_char_boundary(span.end);
            ok.then_some((span, entity, f.score))
        })
        .collect();
    cands.sort_by(|a, b| {
        b.0.len()
            .cmp(&a.0.len())
            .then(b.2.total_cmp(&a.2))
            .then(a.0.start.cmp(&b.0.start))
    });
    let mut chosen: Vec<(Span, &'f str)> = Vec::with_capacity(cands.len());
    for (span, entity, _) in cands {
        // `chosen` is kept sorted by start, so only the neighbours can overlap.
        let i = chosen.partition_point(|(s, _)| s.start < span.start);
        let prev_ok = i
            .checked_sub(1)
            .and_then(|p| chosen.get(p))
            .is_none_or(|(s, _)| s.end <= span.start);
        let next_ok = chosen.get(i).is_none_or(|(s, _)| span.end <= s.start);
        if prev_ok && next_ok {
            chosen.insert(i, (span, entity));
        }
    }
    chosen
}

/// Masks letters and digits (and any non-ASCII character) except the last
/// `visible` of them; ASCII separators stay, so the shape is recognisable.
fn partial_mask(value: &str, visible: usize) -> String {
    let maskable = |c: char| c.is_alphanumeric() || !c.is_ascii();
    let total = value.chars().filter(|c| maskable(*c)).count();
    let keep_from = total.saturating_sub(visible);
    let mut seen = 0usize;
    value
        .chars()
        .map(|c| {
            if maskable(c) {
                seen = seen.saturating_add(1);
                if seen > keep_from {
                    c
                } else {
                    '*'
                }
            } else {
                c
            }
        })
        .collect()
}
