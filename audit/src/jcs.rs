//! JSON Canonicalization Scheme (RFC 8785) over `serde_json::Value`.
//!
//! The leaf bytes of the audit tree are the JCS form of each entry, so that
//! any verifier, in any language, re-encodes a parsed record to the very same
//! bytes (and so the same leaf hash). JCS is small enough to write here:
//! object members sorted by their UTF-16 code units, no insignificant
//! whitespace, minimal string escapes, and numbers printed the way
//! ECMAScript's `Number.prototype.toString` prints them.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use crate::error::{AuditError, AuditErrorKind};

/// Largest integer that an IEEE 754 double holds exactly. JCS numbers are
/// doubles (I-JSON), so a larger integer would not survive a round trip
/// through another verifier.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Returns the RFC 8785 canonical bytes of `value`.
///
/// # Errors
///
/// [`AuditErrorKind::Encoding`] when an integer lies outside ±(2^53 − 1),
/// which I-JSON (and so JCS) cannot represent exactly.
pub fn to_canonical_vec(value: &Value) -> Result<Vec<u8>, AuditError> {
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out)?;
    Ok(out)
}

/// Serializes `value` with serde and returns its canonical bytes.
///
/// # Errors
///
/// [`AuditErrorKind::Encoding`] when serde cannot represent the value as JSON
/// or a number is out of the I-JSON range.
pub fn to_canonical_vec_of<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, AuditError> {
    let value = serde_json::to_value(value)
        .map_err(|e| AuditError::with_source(AuditErrorKind::Encoding, "serializing to JSON", e))?;
    to_canonical_vec(&value)
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), AuditError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out)?,
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(map, out)?,
    }
    Ok(())
}

fn write_object(map: &Map<String, Value>, out: &mut Vec<u8>) -> Result<(), AuditError> {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    members.sort_by(|a, b| utf16_cmp(a.0, b.0));
    out.push(b'{');
    for (i, (key, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(key, out);
        out.push(b':');
        write_value(value, out)?;
    }
    out.push(b'}');
    Ok(())
}

/// RFC 8785 §3.2.3: member names are ordered by their UTF-16 code units, which
/// differs from UTF-8 byte order for characters above U+FFFF.
fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for ch in s.chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{08}' => out.extend_from_slice(b"\\b"),
            '\u{09}' => out.extend_from_slice(b"\\t"),
            '\u{0a}' => out.extend_from_slice(b"\\n"),
            '\u{0c}' => out.extend_from_slice(b"\\f"),
            '\u{0d}' => out.extend_from_slice(b"\\r"),
            c if (c as u32) < 0x20 => {
                let v = c as usize;
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(v >> 4) & 0xf]);
                out.push(HEX[v & 0xf]);
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

fn write_number(n: &Number, out: &mut Vec<u8>) -> Result<(), AuditError> {
    // JCS numbers are doubles. An integer beyond 2^53 is accepted only when
    // it is already the ECMAScript form of the double it denotes (as when a
    // large double printed without exponent is read back as an integer);
    // anything else would read as a different value in another verifier.
    if let Some(u) = n.as_u64() {
        if u <= MAX_SAFE_INTEGER || format_es6(u as f64) == u.to_string() {
            out.extend_from_slice(u.to_string().as_bytes());
        } else {
            return Err(AuditError::new(
                AuditErrorKind::Encoding,
                "integer above 2^53-1 is not I-JSON",
            ));
        }
        return Ok(());
    }
    if let Some(i) = n.as_i64() {
        if i.unsigned_abs() <= MAX_SAFE_INTEGER || format_es6(i as f64) == i.to_string() {
            out.extend_from_slice(i.to_string().as_bytes());
        } else {
            return Err(AuditError::new(
                AuditErrorKind::Encoding,
                "integer below -(2^53-1) is not I-JSON",
            ));
        }
        return Ok(());
    }
    match n.as_f64() {
        Some(f) if f.is_finite() => {
            out.extend_from_slice(format_es6(f).as_bytes());
            Ok(())
        }
        _ => Err(AuditError::new(
            AuditErrorKind::Encoding,
            "non-finite number is not JSON",
        )),
    }
}

/// Formats a finite double as ECMAScript's `Number::toString` does
/// (ECMA-262 §6.1.6.1.20), which is what RFC 8785 §3.2.2.3 requires.
///
/// Rust's `{:e}` already yields the shortest digits that round-trip (the `k`
/// digits and exponent `n` of the ECMAScript algorithm); only the layout
/// differs, so this function lays those digits out.
pub(crate) fn format_es6(f: f64) -> String {
    if f == 0.0 {
        // Both +0 and -0 print as "0".
        return "0".to_owned();
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    if let Some(even) = even_tie_digits(f.abs(), &digits, exp) {
        digits = even;
    }
    let k = digits.len() as i32;
    // ECMAScript's n: the decimal point sits after n digits.
    let n = exp + 1;
    let mut s = String::with_capacity(digits.len() + 8);
    if f < 0.0 {
        s.push('-');
    }
    if k <= n && n <= 21 {
        s.push_str(&digits);
        s.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        s.push_str(int);
        s.push('.');
        s.push_str(frac);
    } else if -6 < n && n <= 0 {
        s.push_str("0.");
        s.extend(std::iter::repeat_n('0', (-n) as usize));
        s.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        s.push_str(first);
        if !rest.is_empty() {
            s.push('.');
            s.push_str(rest);
        }
        s.push('e');
        s.push(if n > 0 { '+' } else { '-' });
        s.push_str(&(n - 1).abs().to_string());
    }
    s
}

/// ECMA-262 breaks a tie between two shortest digit strings that both
/// round-trip, and lie exactly as far from the true value, by taking the even
/// one; Rust's shortest formatting rounds such ties up. Returns the even
/// alternative when `digits` lost that tie.
fn even_tie_digits(f: f64, digits: &str, exp: i32) -> Option<String> {
    let last = digits.bytes().last()?;
    if (last - b'0').is_multiple_of(2) {
        return None;
    }
    // A double's exact decimal expansion has at most 767 significant digits.
    let exact = format!("{:.800e}", f);
    let (mantissa, exact_exp) = exact.split_once('e')?;
    if exact_exp.parse::<i32>().ok()? != exp {
        return None;
    }
    let exact_digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let k = digits.len();
    let truncated = exact_digits.get(..k)?;
    let tail = exact_digits.get(k..)?;
    let is_tie = tail.starts_with('5') && tail.bytes().skip(1).all(|b| b == b'0');
    if !is_tie || truncated == digits {
        return None;
    }
    let (first, rest) = truncated.split_at(1);
    let candidate: f64 = format!("{first}.{rest}e{exp}").parse().ok()?;
    (candidate == f).then(|| truncated.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn canon(v: &Value) -> String {
        String::from_utf8(to_canonical_vec(v).unwrap()).unwrap()
    }

    #[test]
    fn sorts_members_and_drops_whitespace() {
        let v: Value =
            serde_json::from_str(r#"{ "b": [1, 2, {"z": null, "a": true}], "a": "x" }"#).unwrap();
        assert_eq!(canon(&v), r#"{"a":"x","b":[1,2,{"a":true,"z":null}]}"#);
    }

    /// RFC 8785 §3.2.3 sorting example: keys compared as UTF-16 code units.
    #[test]
    fn sorts_by_utf16_code_units_as_in_rfc_8785() {
        let v: Value = serde_json::from_str(
            r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#,
        )
        .unwrap();
        let keys: Vec<String> = {
            let s = canon(&v);
            let back: serde_json::Map<String, Value> = serde_json::from_str(&s).unwrap();
            let _ = back;
            // Read the order straight from the output text.
            let mut order = Vec::new();
            for name in [
                "\r",
                "1",
                "\u{80}",
                "\u{f6}",
                "\u{20ac}",
                "\u{1f600}",
                "\u{fb33}",
            ] {
                let needle = canon(&Value::String(name.to_owned()));
                order.push((s.find(&needle).unwrap(), name.to_owned()));
            }
            order.sort();
            order.into_iter().map(|(_, n)| n).collect()
        };
        assert_eq!(
            keys,
            vec![
                "\r",
                "1",
                "\u{80}",
                "\u{f6}",
                "\u{20ac}",
                "\u{1f600}",
                "\u{fb33}"
            ]
        );
    }

    /// RFC 8785 §3.2.2.2 string escaping: only the mandatory escapes, control
    /// characters as lower-case `\u00xx`, everything else literal UTF-8.
    #[test]
    fn escapes_strings_minimally() {
        let v = json!("\u{20ac}$\u{f}\u{a}A'B\"\\\\\"/");
        assert_eq!(canon(&v), "\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"");
    }

    /// Number examples from RFC 8785 Appendix B (IEEE 754 → JCS text).
    #[test]
    fn formats_numbers_like_ecmascript() {
        let cases: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for (bits, want) in cases {
            assert_eq!(format_es6(f64::from_bits(*bits)), *want, "bits {bits:016x}");
        }
    }

    #[test]
    fn rejects_integers_beyond_i_json() {
        let err = to_canonical_vec(&json!(9_007_199_254_740_993_u64)).unwrap_err();
        assert_eq!(err.kind(), AuditErrorKind::Encoding);
        assert!(to_canonical_vec(&json!(9_007_199_254_740_991_u64)).is_ok());
        // 2^53 and 1e19 are exact doubles: printed as ECMAScript does.
        assert_eq!(canon(&json!(9_007_199_254_740_992_u64)), "9007199254740992");
        assert_eq!(
            canon(&json!(10_000_000_000_000_000_000_u64)),
            "10000000000000000000"
        );
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-(1i64 << 53) + 1..(1i64 << 53)).prop_map(|i| json!(i)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Canonical output parses back to the same value and is a fixed
        /// point: re-canonicalizing yields identical bytes.
        #[test]
        fn canonical_form_is_a_fixed_point(v in arb_json()) {
            let bytes = to_canonical_vec(&v).unwrap();
            let back: Value = serde_json::from_slice(&bytes).unwrap();
            prop_assert_eq!(to_canonical_vec(&back).unwrap(), bytes);
        }

        /// The ECMAScript layout round-trips every finite double exactly.
        #[test]
        fn es6_numbers_round_trip(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
            let s = format_es6(f);
            let back: f64 = s.parse().unwrap();
            prop_assert!(back == f || (back == 0.0 && f == 0.0));
        }
    }
}
