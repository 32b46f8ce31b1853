//! Builds a `regorus::Value` straight from a `Serialize` type.
//!
//! The policy input used to travel as JSON text: `serde_json::to_string`,
//! then `regorus::Value::from_json_str`. Printing and re-parsing every
//! key and string was about half of a decision's cost on the proxy's hot
//! path. This serializer builds the same value in one walk.
//!
//! "The same value" is the contract, checked by a property test against the
//! JSON path: structs and maps become objects with string keys, sequences
//! arrays, `None` and unit `null`, unit enum variants their name. An `f32`
//! becomes the `f64` nearest to its shortest decimal form (what JSON text
//! carries: a finding score of `0.95f32` reaches a policy as `0.95`, not
//! `0.949999988079071`), and a non-finite float becomes `null`, as
//! `serde_json` writes it.

use std::collections::BTreeMap;
use std::fmt;

use regorus::Value;
use serde::ser::{self, Serialize};

use crate::reads::{Reads, ALL};

/// Why a value could not be converted; only types that JSON cannot carry
/// either (non-string map keys, byte strings are fine) end up here.
#[derive(Debug)]
pub(crate) struct ToValueError(String);

impl fmt::Display for ToValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ToValueError {}

impl ser::Error for ToValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ToValueError(msg.to_string())
    }
}

/// Converts `v` into the `regorus::Value` that its JSON text would parse to.
///
/// # Errors
/// A map key that is not a string (JSON has no such object).
pub(crate) fn to_value<T: Serialize + ?Sized>(v: &T) -> Result<Value, ToValueError> {
    v.serialize(ValueSerializer(&ALL))
}

/// Like [`to_value`], keeping of structs and maps only the members that
/// `reads` names (see [`Reads`]): the value a policy that reads no more
/// than that cannot tell from the whole one.
///
/// # Errors
/// As for [`to_value`].
pub(crate) fn to_value_read<T: Serialize + ?Sized>(
    v: &T,
    reads: &Reads,
) -> Result<Value, ToValueError> {
    v.serialize(ValueSerializer(reads))
}

fn float(f: f64) -> Value {
    if f.is_finite() {
        Value::from(f)
    } else {
        Value::Null
    }
}

fn float32(f: f32) -> Value {
    if !f.is_finite() {
        return Value::Null;
    }
    // The shortest decimal that round-trips the f32, as JSON text holds it,
    // read back by serde_json's own number parser (which is not always the
    // correctly rounded one: the JSON path is the contract).
    let mut buf = ryu::Buffer::new();
    match serde_json::from_str::<f64>(buf.format_finite(f)) {
        Ok(d) => Value::from(d),
        Err(_) => Value::from(f64::from(f)),
    }
}

/// Builds values, keeping what its [`Reads`] node names.
struct ValueSerializer<'r>(&'r Reads);

impl<'r> ser::Serializer for ValueSerializer<'r> {
    type Ok = Value;
    type Error = ToValueError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = VariantBuilder<SeqBuilder>;
    type SerializeMap = MapBuilder<'r>;
    type SerializeStruct = MapBuilder<'r>;
    type SerializeStructVariant = VariantBuilder<MapBuilder<'static>>;

    fn serialize_bool(self, v: bool) -> Result<Value, ToValueError> {
        Ok(Value::from(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, ToValueError> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, ToValueError> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, ToValueError> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, ToValueError> {
        // JSON text parses non-negative integers as u64.
        Ok(match u64::try_from(v) {
            Ok(u) => Value::from(u),
            Err(_) => Value::from(v),
        })
    }
    fn serialize_i128(self, v: i128) -> Result<Value, ToValueError> {
        Ok(match (u64::try_from(v), i64::try_from(v)) {
            (Ok(u), _) => Value::from(u),
            (_, Ok(i)) => Value::from(i),
            _ => Value::from(v),
        })
    }
    fn serialize_u8(self, v: u8) -> Result<Value, ToValueError> {
        Ok(Value::from(u64::from(v)))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, ToValueError> {
        Ok(Value::from(u64::from(v)))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, ToValueError> {
        Ok(Value::from(u64::from(v)))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, ToValueError> {
        Ok(Value::from(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, ToValueError> {
        Ok(match u64::try_from(v) {
            Ok(u) => Value::from(u),
            Err(_) => Value::from(v),
        })
    }
    fn serialize_f32(self, v: f32) -> Result<Value, ToValueError> {
        Ok(float32(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, ToValueError> {
        Ok(float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, ToValueError> {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, ToValueError> {
        Ok(Value::from(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, ToValueError> {
        Ok(Value::from(
            v.iter()
                .map(|b| Value::from(u64::from(*b)))
                .collect::<Vec<_>>(),
        ))
    }
    fn serialize_none(self) -> Result<Value, ToValueError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, ToValueError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, ToValueError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Value, ToValueError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Value, ToValueError> {
        Ok(Value::from(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Value, ToValueError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, ToValueError> {
        let mut m = BTreeMap::new();
        m.insert(
            Value::from(variant),
            value.serialize(ValueSerializer(&ALL))?,
        );
        Ok(Value::from(m))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, ToValueError> {
        Ok(SeqBuilder(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, ToValueError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, ToValueError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantBuilder<SeqBuilder>, ToValueError> {
        Ok(VariantBuilder {
            variant,
            inner: SeqBuilder(Vec::with_capacity(len)),
        })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapBuilder<'r>, ToValueError> {
        Ok(MapBuilder::new(self.0))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<MapBuilder<'r>, ToValueError> {
        Ok(MapBuilder::new(self.0))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<VariantBuilder<MapBuilder<'static>>, ToValueError> {
        Ok(VariantBuilder {
            variant,
            inner: MapBuilder::new(&ALL),
        })
    }
}

struct SeqBuilder(Vec<Value>);

impl SeqBuilder {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ToValueError> {
        // Paths stop at a bracket: an element is read whole or not at all.
        self.0.push(value.serialize(ValueSerializer(&ALL))?);
        Ok(())
    }
}

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ToValueError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, ToValueError> {
        Ok(Value::from(self.0))
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ToValueError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, ToValueError> {
        Ok(Value::from(self.0))
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ToValueError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, ToValueError> {
        Ok(Value::from(self.0))
    }
}

struct MapBuilder<'r> {
    map: BTreeMap<Value, Value>,
    /// The pending map key: `Some(None)` when it is not read (nor its
    /// value), `None` between entries.
    key: Option<Option<(Value, &'r Reads)>>,
    reads: &'r Reads,
}

impl<'r> MapBuilder<'r> {
    fn new(reads: &'r Reads) -> Self {
        MapBuilder {
            map: BTreeMap::new(),
            key: None,
            reads,
        }
    }
}

impl ser::SerializeMap for MapBuilder<'_> {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ToValueError> {
        let key = key.serialize(KeySerializer)?;
        let below = key.as_string().ok().and_then(|k| self.reads.member(k));
        self.key = Some(below.map(|r| (key, r)));
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ToValueError> {
        match self.key.take() {
            None => Err(ToValueError("map value without a key".to_owned())),
            // A key that is not read: skip its value.
            Some(None) => Ok(()),
            Some(Some((key, reads))) => {
                self.map
                    .insert(key, value.serialize(ValueSerializer(reads))?);
                Ok(())
            }
        }
    }
    fn end(self) -> Result<Value, ToValueError> {
        Ok(Value::from(self.map))
    }
}

impl ser::SerializeStruct for MapBuilder<'_> {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ToValueError> {
        if let Some(reads) = self.reads.member(key) {
            self.map
                .insert(Value::from(key), value.serialize(ValueSerializer(reads))?);
        }
        Ok(())
    }
    fn end(self) -> Result<Value, ToValueError> {
        Ok(Value::from(self.map))
    }
}

/// `{"Variant": inner}`, serde's external enum tagging.
struct VariantBuilder<B> {
    variant: &'static str,
    inner: B,
}

impl<B> VariantBuilder<B> {
    fn wrap(variant: &'static str, inner: Value) -> Value {
        let mut m = BTreeMap::new();
        m.insert(Value::from(variant), inner);
        Value::from(m)
    }
}

impl ser::SerializeTupleVariant for VariantBuilder<SeqBuilder> {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ToValueError> {
        self.inner.push(value)
    }
    fn end(self) -> Result<Value, ToValueError> {
        Ok(Self::wrap(self.variant, Value::from(self.inner.0)))
    }
}

impl ser::SerializeStructVariant for VariantBuilder<MapBuilder<'static>> {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ToValueError> {
        ser::SerializeStruct::serialize_field(&mut self.inner, key, value)
    }
    fn end(self) -> Result<Value, ToValueError> {
        Ok(Self::wrap(self.variant, Value::from(self.inner.map)))
    }
}

/// Map keys: JSON objects have string keys, and `serde_json` writes
/// integer and bool keys as their decimal text.
struct KeySerializer;

fn key_error() -> ToValueError {
    ToValueError("a map key must be a string, an integer or a bool".to_owned())
}

impl ser::Serializer for KeySerializer {
    type Ok = Value;
    type Error = ToValueError;
    type SerializeSeq = ser::Impossible<Value, ToValueError>;
    type SerializeTuple = ser::Impossible<Value, ToValueError>;
    type SerializeTupleStruct = ser::Impossible<Value, ToValueError>;
    type SerializeTupleVariant = ser::Impossible<Value, ToValueError>;
    type SerializeMap = ser::Impossible<Value, ToValueError>;
    type SerializeStruct = ser::Impossible<Value, ToValueError>;
    type SerializeStructVariant = ser::Impossible<Value, ToValueError>;

    fn serialize_bool(self, v: bool) -> Result<Value, ToValueError> {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, ToValueError> {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, ToValueError> {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, ToValueError> {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, ToValueError> {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, ToValueError> {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, ToValueError> {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, ToValueError> {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, ToValueError> {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_f32(self, _: f32) -> Result<Value, ToValueError> {
        Err(key_error())
    }
    fn serialize_f64(self, _: f64) -> Result<Value, ToValueError> {
        Err(key_error())
    }
    fn serialize_char(self, v: char) -> Result<Value, ToValueError> {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, ToValueError> {
        Ok(Value::from(v))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Value, ToValueError> {
        Err(key_error())
    }
    fn serialize_none(self) -> Result<Value, ToValueError> {
        Err(key_error())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Value, ToValueError> {
        Err(key_error())
    }
    fn serialize_unit(self) -> Result<Value, ToValueError> {
        Err(key_error())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Value, ToValueError> {
        Err(key_error())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Value, ToValueError> {
        Ok(Value::from(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Value, ToValueError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Value, ToValueError> {
        Err(key_error())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, ToValueError> {
        Err(key_error())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, ToValueError> {
        Err(key_error())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, ToValueError> {
        Err(key_error())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, ToValueError> {
        Err(key_error())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, ToValueError> {
        Err(key_error())
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, ToValueError> {
        Err(key_error())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, ToValueError> {
        Err(key_error())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{Direction, FindingSummary, PolicyInput};
    use proptest::prelude::*;

    fn via_json<T: Serialize>(v: &T) -> Value {
        Value::from_json_str(&serde_json::to_string(v).unwrap()).unwrap()
    }

    #[test]
    fn an_f32_score_arrives_as_its_shortest_decimal() {
        let v = to_value(&0.95f32).unwrap();
        assert_eq!(v, Value::from(0.95f64));
        assert_eq!(v, via_json(&0.95f32));
        assert_eq!(to_value(&f32::NAN).unwrap(), Value::Null);
    }

    #[test]
    fn the_default_input_matches_its_json() {
        let input = PolicyInput::new();
        assert_eq!(to_value(&input).unwrap(), via_json(&input));
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z_]{0,12}",
            any::<String>(),
            Just("\"\\\u{0}\u{7f}\u{1F600}é".to_owned()),
        ]
    }

    prop_compose! {
        fn finding()(
            detector in text(),
            category in text(),
            score in prop_oneof![any::<f32>(), 0.0f32..=1.0],
            count in any::<u64>(),
            entity_types in proptest::collection::vec(text(), 0..3),
            in_untrusted in any::<bool>(),
        ) -> FindingSummary {
            FindingSummary { detector, category, score, count, entity_types, in_untrusted }
        }
    }

    prop_compose! {
        fn input()(
            method in text(),
            headers in proptest::collection::btree_map(text(), text(), 0..4),
            size in any::<u64>(),
            model in text(),
            counts in proptest::collection::btree_map(text(), any::<u64>(), 0..4),
            findings in proptest::collection::vec(finding(), 0..5),
            score in any::<u8>(),
            cats in proptest::collection::btree_map(text(), any::<u8>(), 0..3),
            time in text(),
            stream in any::<bool>(),
            response in any::<bool>(),
            subject in text(),
            until in proptest::option::of(text()),
            violations in any::<u32>(),
        ) -> PolicyInput {
            let mut i = PolicyInput::new();
            i.attributes.request.http.method = method;
            i.attributes.request.http.headers = headers;
            i.attributes.request.http.size = size;
            i.llm.model = model;
            i.llm.message_counts = counts;
            i.findings = findings;
            i.risk.score = score;
            for (c, s) in cats {
                i.risk.categories.insert(menshen_classifiers::Category::new(c), s);
            }
            i.context.time = time;
            i.context.stream = stream;
            i.context.direction = if response { Direction::Response } else { Direction::Request };
            i.subject.id = subject;
            i.subject.suspended = until.is_some();
            i.subject.suspended_until = until;
            i.subject.violations_24h = violations;
            i
        }
    }

    proptest! {
        /// The direct conversion is exactly what the JSON text parses to.
        #[test]
        fn equals_the_json_path(input in input()) {
            prop_assert_eq!(to_value(&input).unwrap(), via_json(&input));
        }
    }
}
