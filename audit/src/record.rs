//! The audit record and the leaf entry that the tree commits to.
//!
//! [`AuditRecord`] is what the proxy hands over: one per decision. The log
//! wraps it in a [`LeafEntry`] with its index, the previous leaf's hash and
//! the commitments to its payloads, and the leaf bytes are the RFC 8785
//! canonical JSON of that entry. Order and gaps are therefore checkable row
//! by row, before any checkpoint is consulted.
//!
//! Payloads (the prompt and response text *after* the proxy's redaction)
//! never enter the leaf: the leaf holds `SHA-256(salt || text)` or an HMAC,
//! and the text itself sits in a separate, deletable table. Erasing it (GDPR,
//! retention) leaves every leaf, and so every proof, intact.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{AuditError, AuditErrorKind};
use crate::jcs;
use crate::merkle::{self, Hash};

/// Version of the leaf entry schema; bumped on any incompatible change.
pub const ENTRY_VERSION: u32 = 1;

/// One request or response decision, as the proxy reports it.
///
/// Every text field must already be free of personal data: identifiers, not
/// content. Prompt and response text go in [`AuditRecord::payloads`], which
/// the log stores by [`crate::PayloadMode`], never inside the leaf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// Wire API, e.g. `openai.chat`, `anthropic.messages`.
    pub api: String,
    /// What was decided and why.
    pub decision: DecisionSummary,
    /// Whether this decision was on the request or the response.
    pub direction: Direction,
    /// One summary per (detector, category).
    #[serde(default)]
    pub findings: Vec<FindingSummary>,
    /// Model requested or routed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Redacted prompt/response text; never written into the leaf itself.
    #[serde(skip)]
    pub payloads: Payloads,
    /// Content hash of the policy bundle that decided.
    pub policy_version: String,
    /// The proxy's request id (shared by the request and response records).
    pub request_id: String,
    /// Human review case, when the decision went to review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewSummary>,
    /// Aggregate risk score, 0–100.
    pub risk_score: u8,
    /// Configured route name.
    pub route: String,
    /// Tenant resolved from the client key.
    pub tenant: String,
    /// Decision time, Unix milliseconds (UTC).
    pub time_ms: u64,
    /// Upstream outcome, when the request reached an upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamSummary>,
}

/// Direction of the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Decision on the client's request.
    Request,
    /// Decision on the upstream's response.
    Response,
}

/// The policy's decision, reduced to what an auditor needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionSummary {
    /// `allow`, `block`, `redact`, `review` or `route`.
    pub action: String,
    /// `true` when a guard ran in monitor mode and the action was not
    /// enforced.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub monitor: bool,
    /// Stable reason codes from the policy.
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// Findings of one detector in one category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingSummary {
    /// Versioned category id, e.g. `OWASP-LLM-2025:LLM01`, `GBT45654:A.1.3`,
    /// `MLC:S1`.
    pub category: String,
    /// Number of findings.
    pub count: u32,
    /// Detector name.
    pub detector: String,
    /// Count per entity type (`EMAIL`, `PHONE`, ...), for PII detectors.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub entities: BTreeMap<String, u32>,
    /// Highest score among these findings, in thousandths (0–1000). An
    /// integer so that every verifier re-encodes it identically.
    pub score_milli: u16,
}

/// A human review case attached to the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewSummary {
    /// Review case id.
    pub case_id: String,
    /// None on the record of the held request; `approved` or `rejected` on
    /// the record of a reviewer's decision; `released` on the record of the
    /// resubmitted request that an approval let through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// The upstream's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSummary {
    /// Time to the upstream's response headers, milliseconds.
    pub latency_ms: u64,
    /// HTTP status from the upstream, if one came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// Redacted prompt and response text for one record.
///
/// The proxy passes text *after* redaction; the log then keeps it in the
/// deletable payload table, as an HMAC, or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payloads {
    /// The redacted prompt.
    pub prompt: Option<String>,
    /// The redacted response.
    pub response: Option<String>,
}

/// What the leaf records about one payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "alg", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PayloadRef {
    /// `SHA-256(salt || text)`; the salt and text sit in the payload table.
    /// The random salt stops anyone guessing short texts from the hash.
    Sha256Salted {
        /// Hex commitment.
        commitment: String,
    },
    /// `HMAC-SHA-256(key, text)`; the key lives outside the database.
    HmacSha256 {
        /// Which HMAC key (first 8 hex digits of SHA-256 of the key).
        key_id: String,
        /// Hex MAC.
        mac: String,
    },
}

/// A leaf of the tree: the bytes hashed are [`LeafEntry::canonical_bytes`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeafEntry {
    /// What happened.
    pub event: Event,
    /// Position in the log, from 0.
    pub index: u64,
    /// Commitments to this entry's payloads, by field (`prompt`, `response`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub payloads: BTreeMap<String, PayloadRef>,
    /// Hex leaf hash of entry `index - 1`; 64 zeros for the first entry.
    pub prev: String,
    /// Schema version ([`ENTRY_VERSION`]).
    pub v: u32,
}

/// The event a leaf records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A proxy decision.
    Decision(Box<AuditRecord>),
    /// The log (re)started: marks restarts, so a verifier can tell a quiet
    /// period from a stopped writer.
    LogStarted {
        /// Checkpoint key id in force (hex).
        key_id: String,
        /// Time, Unix milliseconds.
        time_ms: u64,
        /// Crate version of the writer.
        writer: String,
    },
    /// The writer shut down cleanly after this entry; no heartbeat follows
    /// until the next `log_started`.
    LogStopped {
        /// Time, Unix milliseconds.
        time_ms: u64,
    },
    /// The checkpoint key was rotated; the manifest in the key directory
    /// lists both keys and is signed by both.
    KeyRotated {
        /// New verifier key.
        new_key: String,
        /// Previous verifier key.
        old_key: String,
        /// Time, Unix milliseconds.
        time_ms: u64,
    },
}

/// A payload as stored in the deletable payload table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPayload {
    /// `prompt` or `response`.
    pub field: &'static str,
    /// Random 16-byte salt.
    pub salt: [u8; 16],
    /// The redacted text.
    pub body: String,
}

/// Zero hash used as `prev` of entry 0.
pub const ZERO_HASH: Hash = [0u8; 32];

// === impl AuditRecord ===

impl AuditRecord {
    /// Category ids must carry their taxonomy and version
    /// (`TAXONOMY:ID`), so that records stay meaningful after a taxonomy
    /// revision.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Encoding`] for an unversioned category id.
    pub fn validate(&self) -> Result<(), AuditError> {
        for f in &self.findings {
            let ok = f
                .category
                .split_once(':')
                .is_some_and(|(tax, id)| !tax.is_empty() && !id.is_empty());
            if !ok {
                return Err(AuditError::new(
                    AuditErrorKind::Encoding,
                    "finding category must be a versioned id like OWASP-LLM-2025:LLM01",
                ));
            }
        }
        Ok(())
    }
}

// === impl Event ===

impl Event {
    /// Event time, Unix milliseconds.
    pub fn time_ms(&self) -> u64 {
        match self {
            Self::Decision(r) => r.time_ms,
            Self::LogStarted { time_ms, .. }
            | Self::LogStopped { time_ms }
            | Self::KeyRotated { time_ms, .. } => *time_ms,
        }
    }

    /// Tenant, for decision events.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Self::Decision(r) => Some(&r.tenant),
            _ => None,
        }
    }
}

// === impl LeafEntry ===

impl LeafEntry {
    /// RFC 8785 bytes of the entry: what the leaf hash covers.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Encoding`] when a number is outside the I-JSON range.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, AuditError> {
        if self.serde_order_is_canonical() {
            // Fields are declared in sorted order and every number is an
            // integer, so serde's compact output *is* the JCS form; the
            // equivalence is property-tested against the general path.
            return serde_json::to_vec(self).map_err(|e| {
                AuditError::with_source(AuditErrorKind::Encoding, "serializing an entry", e)
            });
        }
        jcs::to_canonical_vec_of(self)
    }

    /// `true` when serde's output equals RFC 8785's: integers within I-JSON
    /// range and map keys whose UTF-8 order equals their UTF-16 order (no
    /// characters at or above U+E000, where the two orders can differ).
    fn serde_order_is_canonical(&self) -> bool {
        const MAX: u64 = (1 << 53) - 1;
        let key_ok = |k: &String| k.chars().all(|c| (c as u32) < 0xE000);
        let event_ok = match &self.event {
            Event::Decision(r) => {
                r.time_ms <= MAX
                    && r.upstream.as_ref().is_none_or(|u| u.latency_ms <= MAX)
                    && r.findings.iter().all(|f| f.entities.keys().all(key_ok))
            }
            Event::LogStarted { time_ms, .. }
            | Event::LogStopped { time_ms }
            | Event::KeyRotated { time_ms, .. } => *time_ms <= MAX,
        };
        self.index <= MAX && self.payloads.keys().all(key_ok) && event_ok
    }

    /// Parses leaf bytes and requires them to be canonical, so that an
    /// edited-but-reformatted entry cannot pass.
    ///
    /// # Errors
    ///
    /// [`AuditErrorKind::Encoding`] when the bytes are not JSON, not an
    /// entry of this schema, or not in canonical form.
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<Self, AuditError> {
        let entry: Self = serde_json::from_slice(bytes).map_err(|e| {
            AuditError::with_source(
                AuditErrorKind::Encoding,
                "entry is not JSON of the entry schema",
                e,
            )
        })?;
        // Re-encoding must give the very same bytes: that proves them both
        // canonical (RFC 8785) and free of anything the schema dropped. On
        // the fast path, compare while serializing instead of allocating.
        if entry.serde_order_is_canonical() {
            let mut cmp = CompareWriter {
                rest: bytes,
                same: true,
            };
            let written = serde_json::to_writer(&mut cmp, &entry).is_ok();
            if written && cmp.same && cmp.rest.is_empty() {
                return Ok(entry);
            }
            return Err(AuditError::new(
                AuditErrorKind::Encoding,
                "entry bytes are not the canonical (RFC 8785) encoding of the entry",
            ));
        }
        if entry.canonical_bytes()? != bytes {
            return Err(AuditError::new(
                AuditErrorKind::Encoding,
                "entry bytes are not the canonical (RFC 8785) encoding of the entry",
            ));
        }
        Ok(entry)
    }
}

/// An `io::Write` that only checks that what is written equals `rest`.
struct CompareWriter<'a> {
    rest: &'a [u8],
    same: bool,
}

impl std::io::Write for CompareWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.rest.strip_prefix(buf) {
            Some(rest) if self.same => self.rest = rest,
            _ => self.same = false,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Leaf hash of canonical entry bytes.
pub fn entry_leaf_hash(bytes: &[u8]) -> Hash {
    merkle::leaf_hash(bytes)
}

/// `SHA-256(salt || body)` as hex.
pub fn payload_commitment(salt: &[u8], body: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

/// `HMAC-SHA-256(key, body)` as hex.
pub fn payload_hmac(key: &[u8], body: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Short id of an HMAC key: first 8 hex digits of its SHA-256.
pub fn hmac_key_id(key: &[u8]) -> String {
    hex::encode(&Sha256::digest(key)[..4])
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> AuditRecord {
        AuditRecord {
            time_ms: 1_764_500_000_000,
            request_id: "req-1".into(),
            tenant: "acme".into(),
            route: "chat".into(),
            api: "openai.chat".into(),
            model: Some("gpt-4o".into()),
            direction: Direction::Request,
            decision: DecisionSummary {
                action: "redact".into(),
                reasons: vec!["pii.email".into()],
                monitor: false,
            },
            risk_score: 40,
            findings: vec![FindingSummary {
                detector: "pii".into(),
                category: "GBT45654:A.1.3".into(),
                score_milli: 930,
                count: 2,
                entities: [("EMAIL".to_owned(), 2)].into_iter().collect(),
            }],
            policy_version: "sha256:abc".into(),
            review: None,
            upstream: Some(UpstreamSummary {
                status: Some(200),
                latency_ms: 120,
            }),
            payloads: Payloads::default(),
        }
    }

    #[test]
    fn entry_round_trips_through_canonical_bytes() {
        let entry = LeafEntry {
            v: ENTRY_VERSION,
            index: 7,
            prev: hex::encode([1u8; 32]),
            event: Event::Decision(Box::new(sample())),
            payloads: [(
                "prompt".to_owned(),
                PayloadRef::Sha256Salted {
                    commitment: payload_commitment(b"salt", "hello [EMAIL]"),
                },
            )]
            .into_iter()
            .collect(),
        };
        let bytes = entry.canonical_bytes().unwrap();
        assert_eq!(LeafEntry::from_canonical_bytes(&bytes).unwrap(), entry);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"event":{"decision":{"api":"openai.chat""#),
            "{text}"
        );
    }

    #[test]
    fn rejects_non_canonical_or_edited_bytes() {
        let entry = LeafEntry {
            v: ENTRY_VERSION,
            index: 0,
            prev: hex::encode(ZERO_HASH),
            event: Event::Decision(Box::new(sample())),
            payloads: BTreeMap::new(),
        };
        let bytes = entry.canonical_bytes().unwrap();
        let mut spaced = bytes.clone();
        spaced.insert(1, b' ');
        assert!(LeafEntry::from_canonical_bytes(&spaced).is_err());
        let text = String::from_utf8(bytes).unwrap();
        let extra = text.replacen("{\"event\"", "{\"extra\":1,\"event\"", 1);
        assert!(LeafEntry::from_canonical_bytes(extra.as_bytes()).is_err());
    }

    #[test]
    fn requires_versioned_category_ids() {
        let mut r = sample();
        assert!(r.validate().is_ok());
        r.findings[0].category = "LLM01".into();
        assert_eq!(r.validate().unwrap_err().kind(), AuditErrorKind::Encoding);
    }

    proptest::proptest! {
        /// The fast serde path and the general JCS path agree byte for byte.
        #[test]
        fn serde_fast_path_equals_jcs(
            tenant in ".*", reason in ".*", entity in ".*", n in 0u32..5,
            index in 0u64..(1 << 53), score in proptest::prelude::any::<u16>(),
        ) {
            let mut r = sample();
            r.tenant = tenant;
            r.decision.reasons = vec![reason];
            r.findings[0].entities = [(entity, n), ("\u{e000}x".to_owned(), 1), ("\u{10000}".to_owned(), 2)]
                .into_iter()
                .collect();
            r.findings[0].score_milli = score;
            let mut entry = LeafEntry {
                v: ENTRY_VERSION,
                index,
                prev: hex::encode(ZERO_HASH),
                event: Event::Decision(Box::new(r)),
                payloads: BTreeMap::new(),
            };
            // With the U+E000 key the general path is taken.
            proptest::prop_assert!(!entry.serde_order_is_canonical());
            let general = entry.canonical_bytes().unwrap();
            if let Event::Decision(r) = &mut entry.event {
                r.findings[0].entities.retain(|k, _| k.chars().all(|c| (c as u32) < 0xE000));
            }
            if entry.serde_order_is_canonical() {
                let fast = serde_json::to_vec(&entry).unwrap();
                proptest::prop_assert_eq!(&fast, &jcs::to_canonical_vec_of(&entry).unwrap());
            }
            proptest::prop_assert!(LeafEntry::from_canonical_bytes(&general).is_ok());
        }
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        assert_eq!(
            payload_hmac(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
