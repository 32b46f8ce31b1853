//! The pseudonym vault: per-conversation, in memory only.
//!
//! A [`Vault`] maps placeholders back to the values they replaced so that the
//! proxy can restore them in the model's answer. It is created per request
//! (or per conversation) and dropped with it: there is no shared mutable
//! vault between concurrent requests, no `Serialize`, no `Clone`, and its
//! `Debug` shows only counts, so it cannot reach the audit log or the disk by
//! accident. Placeholders are derived with HMAC-SHA256 under the vault's key,
//! so the same value gets the same placeholder on every turn of a
//! conversation when the proxy derives the key from the conversation id
//! ([`VaultKey::derive`]), even though each request builds a fresh vault.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::restore::{restore_with, Restorer};

type HmacSha256 = Hmac<Sha256>;

/// Letters in a pseudonym token. 26^8 ≈ 2^37.6; collisions inside one vault
/// are detected and resolved, so the length only bounds guessability.
const TOKEN_LEN: usize = 8;

/// A 256-bit key that derives a conversation's placeholders.
#[derive(Clone, PartialEq, Eq)]
pub struct VaultKey([u8; 32]);

impl VaultKey {
    /// A fresh random key (placeholders consistent within one request only).
    pub fn random() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        VaultKey(k)
    }

    /// A key for one conversation, derived from a server secret and the
    /// conversation's id: every request of the conversation gets the same
    /// placeholders, and other conversations cannot link them.
    pub fn derive(secret: &[u8], conversation_id: &str) -> Self {
        let mut mac = new_mac(secret);
        mac.update(b"menshen-vault-v1\0");
        mac.update(conversation_id.as_bytes());
        VaultKey(mac.finalize().into_bytes().into())
    }

    /// A key from raw bytes (tests, or a key the caller manages).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        VaultKey(bytes)
    }
}

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VaultKey(<redacted>)")
    }
}

/// `Hmac::new_from_slice` accepts keys of any length, so this cannot fail;
/// the fallback keeps the code panic-free regardless.
pub(crate) fn new_mac(key: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => <HmacSha256 as hmac::digest::KeyInit>::new(&Default::default()),
    }
}

/// The in-memory map from placeholders to original values for one
/// conversation. See the module docs for why it is never serialised.
pub struct Vault {
    key: VaultKey,
    /// Placeholder → original.
    originals: HashMap<String, String>,
    /// (entity, original) → placeholder.
    placeholders: HashMap<(String, String), String>,
    /// (entity, keyed hash of value) → mask number.
    masks: HashMap<(String, [u8; 32]), u32>,
    /// Next mask number per entity.
    next_mask: HashMap<String, u32>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("pseudonyms", &self.originals.len())
            .field("masks", &self.masks.len())
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// An empty vault whose placeholders derive from `key`.
    pub fn new(key: VaultKey) -> Self {
        Vault {
            key,
            originals: HashMap::new(),
            placeholders: HashMap::new(),
            masks: HashMap::new(),
            next_mask: HashMap::new(),
        }
    }

    /// Number of reversible pseudonyms held.
    pub fn len(&self) -> usize {
        self.originals.len()
    }

    /// Whether it holds no pseudonyms.
    pub fn is_empty(&self) -> bool {
        self.originals.is_empty()
    }

    fn hmac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = new_mac(&self.key.0);
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// The reversible placeholder for `value` of type `entity`, e.g.
    /// `[EMAIL_QXJZKMPA]`: the same on every call (and every turn, under the
    /// same key), different for different values. Placeholders use only
    /// `[`, `]`, `A-Z`, `0-9` and `_`, so they are safe inside JSON strings
    /// and are never themselves mistaken for PII.
    pub fn pseudonym(&mut self, entity: &str, value: &str) -> String {
        let label = label(entity);
        let key = (label.clone(), value.to_owned());
        if let Some(p) = self.placeholders.get(&key) {
            return p.clone();
        }
        let mut counter = 0u32;
        loop {
            let mac = self.hmac(&[
                b"pseudo",
                label.as_bytes(),
                value.as_bytes(),
                &counter.to_be_bytes(),
            ]);
            let token: String = mac
                .iter()
                .take(TOKEN_LEN)
                .map(|b| char::from(b'A'.wrapping_add(b % 26)))
                .collect();
            let placeholder = format!("[{label}_{token}]");
            match self.originals.get(&placeholder) {
                // A different value already holds this token: derive again.
                Some(existing) if existing != value => counter = counter.wrapping_add(1),
                _ => {
                    self.originals.insert(placeholder.clone(), value.to_owned());
                    self.placeholders.insert(key, placeholder.clone());
                    return placeholder;
                }
            }
        }
    }

    /// The irreversible numbered mask for `value`, e.g. `[EMAIL_1]`: numbers
    /// follow first appearance, and the same value keeps its number. Only a
    /// keyed hash of the value is kept.
    pub fn mask(&mut self, entity: &str, value: &str) -> String {
        let label = label(entity);
        let h = self.hmac(&[b"mask", label.as_bytes(), value.as_bytes()]);
        let key = (label.clone(), h);
        let n = match self.masks.get(&key) {
            Some(n) => *n,
            None => {
                let next = self.next_mask.entry(label.clone()).or_insert(0);
                *next = next.saturating_add(1);
                let n = *next;
                self.masks.insert(key, n);
                n
            }
        };
        format!("[{label}_{n}]")
    }

    /// The highest mask number issued per placeholder label (`EMAIL`, ...),
    /// for a later vault to continue after ([`Vault::continue_masks`]).
    pub fn mask_numbers(&self) -> BTreeMap<String, u32> {
        self.next_mask
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// Numbers this vault's masks after `numbers` (from
    /// [`Vault::mask_numbers`]): an answer redacted under another key than
    /// its request then never reuses a number the request gave another
    /// value, so `[EMAIL_1]` means one address in the whole exchange.
    pub fn continue_masks(&mut self, numbers: &BTreeMap<String, u32>) {
        for (label, n) in numbers {
            let next = self.next_mask.entry(label.clone()).or_insert(0);
            *next = (*next).max(*n);
        }
    }

    /// The original behind one placeholder, if this vault issued it.
    pub(crate) fn original(&self, placeholder: &str) -> Option<&str> {
        self.originals.get(placeholder).map(String::as_str)
    }

    /// Replaces every placeholder this vault issued with its original.
    /// Unknown bracketed text is left alone.
    pub fn restore(&self, text: &str) -> String {
        restore_with(self, text, false)
    }

    /// Like [`Vault::restore`], for text that sits inside a JSON string (tool
    /// call arguments): originals are JSON-escaped, so a value with a quote
    /// or backslash cannot break the JSON around it.
    pub fn restore_json(&self, text: &str) -> String {
        restore_with(self, text, true)
    }

    /// An incremental restorer for a stream of text chunks.
    pub fn restorer(&self) -> Restorer<'_> {
        Restorer::new(self, false)
    }

    /// An incremental restorer for chunks of a JSON string's content (tool
    /// call argument deltas).
    pub fn json_restorer(&self) -> Restorer<'_> {
        Restorer::new(self, true)
    }
}

impl Drop for Vault {
    /// Best-effort wipe of the originals before their memory is freed.
    fn drop(&mut self) {
        for (_, v) in self.originals.drain() {
            let mut bytes = v.into_bytes();
            bytes.iter_mut().for_each(|b| *b = 0);
            std::hint::black_box(&bytes);
        }
        for ((_, v), _) in self.placeholders.drain() {
            let mut bytes = v.into_bytes();
            bytes.iter_mut().for_each(|b| *b = 0);
            std::hint::black_box(&bytes);
        }
    }
}

/// An entity name reduced to the placeholder alphabet (`A-Z`, `0-9`, `_`).
pub(crate) fn label(entity: &str) -> String {
    let l: String = entity
        .chars()
        .map(|c| {
            let c = c.to_ascii_uppercase();
            if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    if l.is_empty() {
        "PII".to_owned()
    } else {
        l
    }
}
