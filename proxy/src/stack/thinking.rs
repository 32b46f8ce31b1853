//! Anthropic thinking blocks that the output guards changed, put back as
//! the model wrote them when the client sends them back.
//!
//! A `thinking` block carries a `signature` over its exact text, and the
//! Messages API refuses a conversation whose history holds a thinking block
//! that does not match its signature ("Invalid signature in thinking
//! block"), on every retry, so the conversation is dead. When an output
//! guard masks PII in a thinking block, or restores the request's
//! pseudonyms in it, the client receives text the signature does not cover
//! and sends it back on the next turn (an agent loop always does).
//!
//! So the proxy keeps, in memory only, the model's own text of each
//! thinking block it changed, keyed by a digest of the block's signature,
//! and [`restore_request`] puts it back in the request it forwards. A
//! signature covers one text, so the substitution is right whatever the
//! client sent: the upstream would refuse any other text under that
//! signature. The store is bounded (bytes, entries, age); the text is the
//! model's own output going back to the model that wrote it, and it is
//! never written to disk or to the audit log. Per process: behind several
//! proxy replicas a conversation's turns must reach the same one for this
//! to help (or PII in thinking must be left unredacted).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Most bytes of thinking text kept.
const MAX_BYTES: usize = 64 << 20;
/// Most blocks kept.
const MAX_ENTRIES: usize = 100_000;
/// How long a block is kept: a conversation idle longer than this loses
/// its changed thinking blocks (the upstream then refuses the history).
const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

type Key = [u8; 32];

/// See the [module docs](self).
#[derive(Debug, Default)]
pub struct ThinkingStore {
    inner: Mutex<Inner>,
    /// Entries held, readable without the lock: the request path skips
    /// all work while nothing was ever changed.
    len: AtomicUsize,
}

#[derive(Debug, Default)]
struct Inner {
    texts: HashMap<Key, Arc<str>>,
    /// Insertion order, oldest first, for eviction by size and age.
    order: VecDeque<(Key, usize, Instant)>,
    bytes: usize,
}

fn key(signature: &str) -> Key {
    Sha256::digest(signature.as_bytes()).into()
}

impl ThinkingStore {
    /// Keeps `original` as the text signed by `signature`.
    pub fn remember(&self, signature: &str, original: &str) {
        if signature.is_empty() || original.len() > MAX_BYTES {
            return;
        }
        let k = key(signature);
        let mut g = self.inner.lock();
        if g.texts.insert(k, Arc::from(original)).is_none() {
            g.order.push_back((k, original.len(), Instant::now()));
            g.bytes = g.bytes.saturating_add(original.len());
        }
        g.evict(Instant::now());
        self.len.store(g.texts.len(), Ordering::Relaxed);
    }

    /// The text `signature` was issued for, if this process changed it.
    pub fn original(&self, signature: &str) -> Option<Arc<str>> {
        if self.is_empty() {
            return None;
        }
        let mut g = self.inner.lock();
        g.evict(Instant::now());
        self.len.store(g.texts.len(), Ordering::Relaxed);
        g.texts.get(&key(signature)).cloned()
    }

    /// Nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len.load(Ordering::Relaxed) == 0
    }
}

impl Inner {
    fn evict(&mut self, now: Instant) {
        while let Some(&(k, n, at)) = self.order.front() {
            let full = self.bytes > MAX_BYTES || self.texts.len() > MAX_ENTRIES;
            if !full && now.saturating_duration_since(at) < MAX_AGE {
                break;
            }
            self.order.pop_front();
            self.texts.remove(&k);
            self.bytes = self.bytes.saturating_sub(n);
        }
    }
}

/// The thinking blocks of a Messages response body: `(signature, text)` in
/// content order. Empty for anything else.
fn response_blocks(body: &Value) -> Vec<(&str, &str)> {
    body.get("content")
        .and_then(Value::as_array)
        .map(|blocks| blocks.iter().filter_map(thinking_block).collect())
        .unwrap_or_default()
}

fn thinking_block(block: &Value) -> Option<(&str, &str)> {
    if block.get("type").and_then(Value::as_str) != Some("thinking") {
        return None;
    }
    let signature = block.get("signature").and_then(Value::as_str)?;
    let text = block.get("thinking").and_then(Value::as_str)?;
    Some((signature, text))
}

/// After a whole Messages response was rewritten (`upstream` → `sent`):
/// remembers the upstream text of each thinking block whose text changed.
pub fn record_response(store: &ThinkingStore, upstream: &[u8], sent: &[u8]) {
    let (Ok(up), Ok(out)) = (
        serde_json::from_slice::<Value>(upstream),
        serde_json::from_slice::<Value>(sent),
    ) else {
        return;
    };
    for ((signature, original), (_, shown)) in
        response_blocks(&up).into_iter().zip(response_blocks(&out))
    {
        if original != shown {
            store.remember(signature, original);
        }
    }
}

/// A Messages request body with every thinking block whose signature this
/// process knows set back to the text the signature covers; `None` when
/// nothing changes (the body is forwarded as it is).
pub fn restore_request(store: &ThinkingStore, body: &[u8]) -> Option<Vec<u8>> {
    if store.is_empty() || memchr::memmem::find(body, b"\"signature\"").is_none() {
        return None;
    }
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let mut changed = false;
    let messages = v.get_mut("messages").and_then(Value::as_array_mut)?;
    for m in messages {
        if m.get("role").and_then(Value::as_str) != Some("assistant") {
            continue;
        }
        let Some(blocks) = m.get_mut("content").and_then(Value::as_array_mut) else {
            continue;
        };
        for b in blocks {
            let Some((signature, text)) = thinking_block(b) else {
                continue;
            };
            let Some(original) = store.original(signature) else {
                continue;
            };
            if *original != *text {
                if let Some(t) = b.get_mut("thinking") {
                    *t = Value::String(original.to_string());
                    changed = true;
                }
            }
        }
    }
    if !changed {
        return None;
    }
    serde_json::to_vec(&v).ok()
}

/// What a stream needs to remember its changed thinking blocks: per content
/// block index, the upstream's text and the signature (from
/// `signature_delta`). The text as forwarded is the pump's own record.
#[derive(Debug, Default)]
pub struct StreamThinking {
    blocks: HashMap<u32, (String, Option<String>)>,
}

impl StreamThinking {
    /// Upstream thinking text for block `index`, before any guard saw it.
    pub fn text(&mut self, index: u32, text: &str) {
        self.blocks.entry(index).or_default().0.push_str(text);
    }

    /// The signature of block `index`.
    pub fn signature(&mut self, index: u32, signature: &str) {
        let sig = &mut self.blocks.entry(index).or_default().1;
        sig.get_or_insert_with(String::new).push_str(signature);
    }

    /// At the end of the stream: remembers each signed block whose
    /// forwarded text (`shown(index)`) differs from the upstream's.
    pub fn finish(self, store: &ThinkingStore, shown: impl Fn(u32) -> Option<String>) {
        for (index, (original, signature)) in self.blocks {
            let Some(signature) = signature else {
                continue;
            };
            if shown(index).unwrap_or_default() != original {
                store.remember(&signature, &original);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_changed_block_is_put_back_and_nothing_else_is_touched() {
        let store = ThinkingStore::default();
        let upstream = json!({"content": [
            {"type": "thinking", "thinking": "mail jane@example.com", "signature": "S1"},
            {"type": "thinking", "thinking": "no pii here", "signature": "S2"},
            {"type": "text", "text": "done"}
        ]});
        let mut sent = upstream.clone();
        sent["content"][0]["thinking"] = json!("mail [EMAIL_1]");
        record_response(
            &store,
            upstream.to_string().as_bytes(),
            sent.to_string().as_bytes(),
        );
        assert_eq!(
            store.original("S1").as_deref(),
            Some("mail jane@example.com")
        );
        assert!(
            store.original("S2").is_none(),
            "unchanged blocks are not kept"
        );

        let next = json!({"model": "c", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": sent["content"].clone()},
            {"role": "user", "content": "go on"}
        ]});
        let out = restore_request(&store, next.to_string().as_bytes()).unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["messages"][1]["content"], upstream["content"]);
        assert_eq!(out["messages"][0], next["messages"][0]);

        // A user message cannot borrow a signature; unknown ones pass.
        let other = json!({"messages": [{"role": "user", "content": [
            {"type": "thinking", "thinking": "x", "signature": "S1"}]}]});
        assert!(restore_request(&store, other.to_string().as_bytes()).is_none());
        let unknown = json!({"messages": [{"role": "assistant", "content": [
            {"type": "thinking", "thinking": "x", "signature": "S9"}]}]});
        assert!(restore_request(&store, unknown.to_string().as_bytes()).is_none());
    }

    #[test]
    fn an_empty_store_reads_nothing() {
        let store = ThinkingStore::default();
        assert!(restore_request(&store, b"not json \"signature\"").is_none());
        store.remember("S", "t");
        assert!(restore_request(&store, b"not json \"signature\"").is_none());
        assert!(restore_request(&store, b"{\"messages\": 3, \"signature\": 1}").is_none());
    }

    #[test]
    fn the_store_is_bounded() {
        let store = ThinkingStore::default();
        let big = "x".repeat(MAX_BYTES / 4 + 1);
        for i in 0..5 {
            store.remember(&format!("S{i}"), &big);
        }
        assert!(
            store.original("S0").is_none(),
            "oldest evicted past the byte cap"
        );
        assert!(store.original("S4").is_some());
        let g = store.inner.lock();
        assert!(g.bytes <= MAX_BYTES);
        assert_eq!(g.texts.len(), g.order.len());
    }

    #[test]
    fn a_stream_remembers_signed_blocks_whose_text_changed() {
        let store = ThinkingStore::default();
        let mut s = StreamThinking::default();
        s.text(0, "mail jane@");
        s.text(0, "example.com");
        s.signature(0, "SIG");
        s.text(1, "unchanged");
        s.signature(1, "SIG1");
        s.text(2, "unsigned");
        s.finish(&store, |i| match i {
            0 => Some("mail [EMAIL_1]".into()),
            1 => Some("unchanged".into()),
            _ => Some("changed".into()),
        });
        assert_eq!(
            store.original("SIG").as_deref(),
            Some("mail jane@example.com")
        );
        assert!(store.original("SIG1").is_none());
        assert_eq!(store.inner.lock().texts.len(), 1);
    }
}
