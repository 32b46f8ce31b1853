//! JSON plumbing shared by the adapters: strict parsing (depth cap, duplicate
//! keys rejected), typed accessors that name the JSON path on error, and the
//! builder that records where each conversation text came from.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use menshen_classifiers::{Conversation, Location, Message, Part, Role, ToolSpec};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Value};

use super::{DecodeError, DecodeLimits, LocationMap, Slot};

/// Parses a body into a [`Value`] after checking UTF-8 and nesting depth.
///
/// Duplicate object keys are rejected: JSON parsers disagree on which
/// duplicate wins, and a guard that scans one copy while the upstream reads
/// the other is bypassed.
pub(super) fn parse(body: &[u8], limits: &DecodeLimits) -> Result<Value, DecodeError> {
    let text = std::str::from_utf8(body).map_err(|e| DecodeError::InvalidUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    check_depth(text.as_bytes(), limits.max_depth())?;
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = StrictSeed {
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| {
        let (line, column) = (e.line(), e.column());
        match duplicate.into_inner() {
            Some(key) => DecodeError::DuplicateKey { key, line, column },
            None => DecodeError::InvalidJson {
                line,
                column,
                reason: reason_of(&e),
            },
        }
    })
}

/// serde_json's message without its trailing " at line L column C", which
/// the error carries as fields instead.
fn reason_of(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.rfind(" at line ") {
        Some(i) => msg.get(..i).unwrap_or(&msg).to_owned(),
        None => msg,
    }
}

/// Rejects nesting deeper than `limit` with a single scan, before any
/// allocation happens for the tree. The top-level value is depth 1.
pub(super) fn check_depth(bytes: &[u8], limit: usize) -> Result<(), DecodeError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth = depth.saturating_add(1);
                if depth > limit {
                    return Err(DecodeError::TooDeep { limit });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

struct StrictSeed<'a> {
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(StrictSeed {
            duplicate: self.duplicate,
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(StrictSeed {
                duplicate: self.duplicate,
            })?;
            match out.entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert(value);
                }
                Entry::Occupied(slot) => {
                    let key = slot.key().clone();
                    let err = de::Error::custom(format_args!("duplicate key `{key}`"));
                    *self.duplicate.borrow_mut() = Some(key);
                    return Err(err);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// A position in the body, kept both as a JSON pointer (for writing back)
/// and as a readable path (for errors), e.g. `messages[2].content`.
///
/// A borrowed linked list: the decoders walk every field of every message,
/// and extending a path must not allocate (only rendering one does, for
/// slots and errors).
#[derive(Debug, Clone, Copy)]
pub(super) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Option<Seg>,
}

#[derive(Debug, Clone, Copy)]
enum Seg {
    Key(&'static str),
    Index(usize),
}

// === impl Path ===

impl<'a> Path<'a> {
    pub(super) const fn root() -> Path<'static> {
        Path {
            parent: None,
            seg: None,
        }
    }

    pub(super) fn key(&'a self, key: &'static str) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Some(Seg::Key(key)),
        }
    }

    pub(super) fn index(&'a self, i: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Some(Seg::Index(i)),
        }
    }

    /// Segments from the root down.
    fn segs(&self) -> Vec<Seg> {
        let mut out = Vec::new();
        let mut cur = Some(self);
        while let Some(p) = cur {
            out.extend(p.seg);
            cur = p.parent;
        }
        out.reverse();
        out
    }

    /// RFC 6901 pointer. Keys are fixed API field names without `~` or `/`,
    /// but escape anyway so the invariant does not rest on that.
    pub(super) fn pointer(&self) -> String {
        let mut out = String::new();
        for seg in self.segs() {
            out.push('/');
            match seg {
                Seg::Key(k) if k.contains(['~', '/']) => {
                    out.push_str(&k.replace('~', "~0").replace('/', "~1"));
                }
                Seg::Key(k) => out.push_str(k),
                Seg::Index(i) => {
                    let _ = write!(out, "{i}");
                }
            }
        }
        out
    }

    pub(super) fn slot(&self) -> Slot {
        Slot::Str(self.pointer())
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let segs = self.segs();
        if segs.is_empty() {
            return f.write_str("body");
        }
        for (n, seg) in segs.into_iter().enumerate() {
            match seg {
                Seg::Key(k) if n == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

pub(super) fn wrong(p: &Path<'_>, expected: &'static str) -> DecodeError {
    DecodeError::WrongShape {
        path: p.to_string(),
        expected,
    }
}

pub(super) fn obj<'a>(v: &'a Value, p: &Path<'_>) -> Result<&'a Map<String, Value>, DecodeError> {
    v.as_object().ok_or_else(|| wrong(p, "an object"))
}

pub(super) fn arr<'a>(v: &'a Value, p: &Path<'_>) -> Result<&'a Vec<Value>, DecodeError> {
    v.as_array().ok_or_else(|| wrong(p, "an array"))
}

pub(super) fn string<'a>(v: &'a Value, p: &Path<'_>) -> Result<&'a str, DecodeError> {
    v.as_str().ok_or_else(|| wrong(p, "a string"))
}

/// A field, treating `null` as absent (clients send explicit nulls freely).
pub(super) fn get<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.get(key).filter(|v| !v.is_null())
}

pub(super) fn req<'a>(
    m: &'a Map<String, Value>,
    key: &'static str,
    p: &Path<'_>,
) -> Result<&'a Value, DecodeError> {
    get(m, key).ok_or_else(|| DecodeError::MissingField {
        path: p.key(key).to_string(),
    })
}

pub(super) fn opt_str<'a>(
    m: &'a Map<String, Value>,
    key: &'static str,
    p: &Path<'_>,
) -> Result<Option<&'a str>, DecodeError> {
    get(m, key).map(|v| string(v, &p.key(key))).transpose()
}

pub(super) fn opt_bool(
    m: &Map<String, Value>,
    key: &'static str,
    p: &Path<'_>,
) -> Result<Option<bool>, DecodeError> {
    get(m, key)
        .map(|v| v.as_bool().ok_or_else(|| wrong(&p.key(key), "a boolean")))
        .transpose()
}

pub(super) fn opt_u64(
    m: &Map<String, Value>,
    key: &'static str,
    p: &Path<'_>,
) -> Result<Option<u64>, DecodeError> {
    get(m, key)
        .map(|v| {
            v.as_u64()
                .ok_or_else(|| wrong(&p.key(key), "a non-negative integer"))
        })
        .transpose()
}

/// The `type` tag of a content block or item, if it is a string.
pub(super) fn type_of(m: &Map<String, Value>) -> Option<&str> {
    m.get("type").and_then(Value::as_str)
}

/// Media type of a `data:` URL, the only form whose type is known without fetching.
pub(super) fn data_url_media_type(url: &str) -> Option<String> {
    let rest = url.strip_prefix("data:")?;
    let end = rest.find([';', ','])?;
    let media = rest.get(..end)?;
    (!media.is_empty()).then(|| media.to_owned())
}

/// Accumulates the conversation and, for every text, the slot it came from.
#[derive(Debug, Default)]
pub(super) struct Builder {
    conversation: Conversation,
    locations: BTreeMap<Location, Slot>,
}

// === impl Builder ===

impl Builder {
    /// Starts a message and returns its index.
    pub(super) fn message(&mut self, role: Role) -> usize {
        self.conversation.messages.push(Message {
            role,
            parts: Vec::new(),
        });
        self.conversation.messages.len().saturating_sub(1)
    }

    /// Adds a part to message `message`; `slot` is where its text lives.
    pub(super) fn part(&mut self, message: usize, part: Part, slot: Option<Slot>) {
        let Some(m) = self.conversation.messages.get_mut(message) else {
            return;
        };
        m.parts.push(part);
        if let Some(slot) = slot {
            let location = Location::Part {
                message,
                part: m.parts.len().saturating_sub(1),
            };
            self.locations.insert(location, slot);
        }
    }

    pub(super) fn text(&mut self, message: usize, text: &str, p: &Path<'_>) {
        self.part(
            message,
            Part::Text {
                text: text.to_owned(),
            },
            Some(p.slot()),
        );
    }

    pub(super) fn image(&mut self, message: usize, media_type: Option<String>) {
        self.part(message, Part::Image { media_type }, None);
    }

    pub(super) fn tool(&mut self, name: &str, description: Option<(&str, Path<'_>)>) {
        let tool = self.conversation.tools.len();
        let text = description.as_ref().map_or("", |(d, _)| *d);
        self.conversation.tools.push(ToolSpec {
            name: name.to_owned(),
            description: text.to_owned(),
        });
        if let Some((_, p)) = description {
            self.locations
                .insert(Location::ToolDescription { tool }, p.slot());
        }
    }

    pub(super) fn finish(self) -> (Conversation, LocationMap) {
        (self.conversation, LocationMap(self.locations))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_renders_pointer_and_display() {
        let root = Path::root();
        let messages = root.key("messages");
        let second = messages.index(2);
        let p = second.key("content");
        assert_eq!(p.pointer(), "/messages/2/content");
        assert_eq!(p.to_string(), "messages[2].content");
        assert_eq!(Path::root().to_string(), "body");
    }

    #[test]
    fn depth_ignores_brackets_inside_strings() {
        assert!(check_depth(br#"{"a":"[[[[[[\"[[[["}"#, 2).is_ok());
        assert!(check_depth(b"[[[]]]", 3).is_ok());
        assert!(matches!(
            check_depth(b"[[[[]]]]", 3),
            Err(DecodeError::TooDeep { limit: 3 })
        ));
    }

    #[test]
    fn data_url_media_types() {
        assert_eq!(
            data_url_media_type("data:image/png;base64,AAAA").as_deref(),
            Some("image/png")
        );
        assert_eq!(data_url_media_type("https://x/y.png"), None);
        assert_eq!(data_url_media_type("data:,abc"), None);
    }
}
