//! A borrowed JSON tree for the decoders.
//!
//! The adapters only read a body to build a `Conversation`, so building a
//! [`serde_json::Value`] (an owned `String` for every key and string, a
//! B-tree per object) cost more allocations than anything else on the
//! request path. A [`Node`] borrows every string that has no escapes from
//! the body and keeps objects as a vector of pairs in body order, so a
//! typical chat request allocates one vector per array or object and
//! nothing else.
//!
//! Parsing runs the very same serde_json deserializer as
//! [`super::json::parse`], with the same depth pre-check and the same
//! duplicate-key rejection at the same point (right after the repeated key's
//! value), so the two accept and reject exactly the same bodies with the same
//! errors; a property test in this module checks that.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::json::parse_strict;
use super::{DecodeError, DecodeLimits};

/// A JSON value borrowing its strings from the body where it can.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    Object(Obj<'a>),
}

/// An object's members in body order. Keys are unique (the parser rejects
/// duplicates), so a lookup's first hit is the only one.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Obj<'a>(Vec<(Cow<'a, str>, Node<'a>)>);

/// Objects up to this many members are checked for duplicates by a linear
/// scan; bigger ones get a hash set, so a hostile body with a huge object
/// costs O(n), not O(n²).
const LINEAR_DUPLICATE_SCAN: usize = 16;

/// Parses `body` as [`super::json::parse`] does, into a borrowed tree.
pub(super) fn parse<'a>(body: &'a [u8], limits: &DecodeLimits) -> Result<Node<'a>, DecodeError> {
    let duplicate = RefCell::new(None);
    parse_strict(
        body,
        limits,
        NodeSeed {
            duplicate: &duplicate,
        },
        &duplicate,
    )
}

/// Parses one stream event's `data` into a borrowed tree: serde_json's own
/// nesting limit (an event is capped in size by the SSE parser), and, as for
/// bodies, a repeated key is refused rather than resolved (a client whose
/// parser keeps the first value would otherwise show text that was never
/// scanned).
pub(super) fn parse_str(data: &str) -> Result<Node<'_>, serde_json::Error> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(data);
    let node = NodeSeed {
        duplicate: &duplicate,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(node)
}

// === impl Node ===

impl<'a> Node<'a> {
    pub(super) fn as_object(&self) -> Option<&Obj<'a>> {
        match self {
            Node::Object(o) => Some(o),
            _ => None,
        }
    }

    pub(super) fn as_array(&self) -> Option<&[Node<'a>]> {
        match self {
            Node::Array(a) => Some(a),
            _ => None,
        }
    }

    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    pub(super) fn as_bool(&self) -> Option<bool> {
        match self {
            Node::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub(super) fn as_u64(&self) -> Option<u64> {
        match self {
            Node::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    pub(super) fn is_null(&self) -> bool {
        matches!(self, Node::Null)
    }

    /// A member of an object (`None` for other values), like [`Value::get`].
    pub(super) fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.as_object().and_then(|o| o.get(key))
    }

    /// The same value as a [`Value`], for the rare places that need
    /// serde_json's own rendering (tool input is scanned in its compact form).
    pub(super) fn to_value(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(n) => Value::Number(n.clone()),
            Node::String(s) => Value::String(s.as_ref().to_owned()),
            Node::Array(a) => Value::Array(a.iter().map(Node::to_value).collect()),
            Node::Object(o) => {
                let mut m = Map::new();
                for (k, v) in &o.0 {
                    m.insert(k.as_ref().to_owned(), v.to_value());
                }
                Value::Object(m)
            }
        }
    }
}

// === impl Obj ===

impl<'a> Obj<'a> {
    pub(super) fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Members in body order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, &Node<'a>)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }
}

// === parsing ===

struct NodeSeed<'d> {
    duplicate: &'d RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Node<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node<'de>, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node<'de>, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node<'de>, E> {
        Ok(Number::from_f64(v).map_or(Node::Null, Node::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(NodeSeed {
            duplicate: self.duplicate,
        })? {
            out.push(v);
        }
        Ok(Node::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        // Room for a typical API object (a response root has six or seven
        // members), so that most objects allocate once and never grow.
        let mut out: Vec<(Cow<'de, str>, Node<'de>)> = Vec::with_capacity(8);
        let mut index: Option<HashSet<Cow<'de, str>>> = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = map.next_value_seed(NodeSeed {
                duplicate: self.duplicate,
            })?;
            let repeated = match &mut index {
                Some(seen) => !seen.insert(key.clone()),
                None => {
                    let repeated = out.iter().any(|(k, _)| *k == key);
                    if !repeated && out.len() >= LINEAR_DUPLICATE_SCAN {
                        let mut seen: HashSet<Cow<'de, str>> =
                            out.iter().map(|(k, _)| k.clone()).collect();
                        seen.insert(key.clone());
                        index = Some(seen);
                    }
                    repeated
                }
            };
            if repeated {
                let key = key.into_owned();
                let err = de::Error::custom(format_args!("duplicate key `{key}`"));
                *self.duplicate.borrow_mut() = Some(key);
                return Err(err);
            }
            out.push((key, value));
        }
        Ok(Node::Object(Obj(out)))
    }
}

/// An object key, borrowed when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn both(body: &[u8], depth: usize) {
        let limits = DecodeLimits::new(depth);
        let old = super::super::json::parse(body, &limits);
        let new = parse(body, &limits);
        match (old, new) {
            (Ok(v), Ok(n)) => assert_eq!(n.to_value(), v, "{:?}", String::from_utf8_lossy(body)),
            (Err(a), Err(b)) => assert_eq!(a, b, "{:?}", String::from_utf8_lossy(body)),
            (a, b) => panic!(
                "disagree on {:?}: value {a:?}, node {b:?}",
                String::from_utf8_lossy(body)
            ),
        }
    }

    #[test]
    fn agrees_with_value_parser_on_edge_cases() {
        for body in [
            &br#"{"a":1,"a":2}"#[..],
            br#"{"a":{"b":1,"b":[1,2]}}"#,
            br#"{"\u0061":1,"a":2}"#,
            br#"{"a":1,"\u0061":2}"#,
            br#"{"k":"\ud800"}"#,
            br#"{"k":"x\u00e9\n"}"#,
            br#"[1e400,-0,0.5,-1,18446744073709551616,18446744073709551615]"#,
            br#"{"a":1,}"#,
            br#"{"a" 1}"#,
            br#"[1,2"#,
            b"{\"a\":\"\xff\"}",
            b"  {}  x",
            b"",
            b"null",
            br#"{"a":[[[[[[[[1]]]]]]]]}"#,
        ] {
            both(body, 4);
            both(body, 64);
        }
        // A big object switches to the hash set; the duplicate is still caught
        // at the same position.
        let mut big = String::from("{");
        for i in 0..40 {
            big.push_str(&format!("\"k{i}\":{i},"));
        }
        big.push_str("\"k3\":0}");
        both(big.as_bytes(), 64);
        big.truncate(big.len() - 8);
        big.push('}');
        both(big.as_bytes(), 64);
    }

    fn json_text() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| f.to_string()),
            "[a-c\\\\\"é\u{1F600}]{0,4}".prop_map(|s| format!("\"{s}\"")),
            Just(r#""\u0061\n""#.to_owned()),
        ];
        leaf.prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(("[abc]{1,2}|\\\\u0061", inner), 0..6).prop_map(|kv| {
                    let members: Vec<String> = kv
                        .into_iter()
                        .map(|(k, v)| format!("\"{k}\":{v}"))
                        .collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn accepts_and_rejects_what_the_value_parser_does(
            text in json_text(),
            cut in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            mutate in 0u8..4,
            depth in 1usize..8,
        ) {
            let mut body = text.into_bytes();
            // Mostly valid JSON; sometimes truncated or with one byte changed.
            if !body.is_empty() {
                let i = cut.index(body.len());
                match mutate {
                    1 => body.truncate(i),
                    2 => body[i] = byte,
                    _ => {}
                }
            }
            both(&body, depth);
            both(&body, 64);
        }
    }
}
