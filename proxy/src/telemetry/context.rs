//! W3C Trace Context: parsing an incoming `traceparent`, making ids, and
//! the header sent upstream.
//!
//! A malformed `traceparent` is ignored (a new trace starts), as the W3C
//! spec asks; `tracestate` is kept only alongside a valid parent.

use http::HeaderMap;

/// The caller's span, from a valid `traceparent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parent {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) sampled: bool,
    pub(crate) trace_state: Option<String>,
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Parses `traceparent` (version `00`, or a later version read as `00`
/// per the spec's forward-compatibility rule).
pub(crate) fn parse_traceparent(headers: &HeaderMap) -> Option<Parent> {
    let mut values = headers.get_all("traceparent").iter();
    let value = values.next()?;
    if values.next().is_some() {
        // Two traceparent headers: ambiguous, start a new trace.
        return None;
    }
    let v = value.to_str().ok()?.trim();
    let mut parts = v.split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let span = parts.next()?;
    let flags = parts.next()?;
    if version.len() != 2 || version == "ff" || unhex::<1>(version).is_none() {
        return None;
    }
    if version == "00" && (parts.next().is_some() || v.len() != 55) {
        return None;
    }
    let trace_id: [u8; 16] = unhex(trace)?;
    let span_id: [u8; 8] = unhex(span)?;
    let [flags] = unhex::<1>(flags)?;
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    let trace_state = headers
        .get("tracestate")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 512)
        .map(str::to_owned);
    Some(Parent {
        trace_id,
        span_id,
        sampled: flags & 1 == 1,
        trace_state,
    })
}

/// A `traceparent` value naming `span_id` as the parent.
pub(crate) fn traceparent(trace_id: &[u8; 16], span_id: &[u8; 8], sampled: bool) -> String {
    format!(
        "00-{}-{}-{}",
        hex(trace_id),
        hex(span_id),
        if sampled { "01" } else { "00" }
    )
}

/// A random trace id (never all zeros: a v4 UUID has fixed version bits).
pub(crate) fn new_trace_id() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

/// A random, non-zero span id.
pub(crate) fn new_span_id() -> [u8; 8] {
    let b = uuid::Uuid::new_v4().into_bytes();
    let mut id = [0u8; 8];
    for (i, x) in id.iter_mut().enumerate() {
        // Bytes 6 and 8 carry the UUID's version and variant bits; fold in
        // the second half so every bit of the span id is random.
        *x = b[i] ^ b[i + 8];
    }
    if id == [0; 8] {
        id[7] = 1;
    }
    id
}

/// Whether a new trace is sampled at `ratio`, decided on the trace id so
/// every span of a trace gets the same answer.
pub(crate) fn sampled_by_ratio(trace_id: &[u8; 16], ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    if ratio <= 0.0 {
        return false;
    }
    let mut low = [0u8; 8];
    low.copy_from_slice(&trace_id[8..]);
    // Mask the UUID variant bits out of the top byte (ratio precision is
    // then 2^-62, far below anything configured).
    let x = u64::from_be_bytes(low) & (u64::MAX >> 2);
    (x as f64) < ratio * ((u64::MAX >> 2) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(tp: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("traceparent", tp.parse().unwrap());
        h
    }

    #[test]
    fn parses_a_valid_traceparent() {
        let mut h = headers("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        h.insert("tracestate", "vendor=abc".parse().unwrap());
        let p = parse_traceparent(&h).unwrap();
        assert_eq!(hex(&p.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex(&p.span_id), "00f067aa0ba902b7");
        assert!(p.sampled);
        assert_eq!(p.trace_state.as_deref(), Some("vendor=abc"));
        assert_eq!(
            traceparent(&p.trace_id, &p.span_id, true),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
    }

    #[test]
    fn rejects_malformed_traceparents() {
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "garbage",
        ] {
            assert!(parse_traceparent(&headers(bad)).is_none(), "{bad}");
        }
        // A future version with extra fields is read as version 00.
        assert!(parse_traceparent(&headers(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more"
        ))
        .is_some_and(|p| !p.sampled));
    }

    #[test]
    fn ids_are_random_and_non_zero() {
        assert_ne!(new_trace_id(), new_trace_id());
        assert_ne!(new_span_id(), [0; 8]);
        assert_ne!(new_span_id(), new_span_id());
    }

    #[test]
    fn ratio_sampling_is_bounded_and_roughly_proportional() {
        let ids: Vec<[u8; 16]> = (0..2000).map(|_| new_trace_id()).collect();
        assert!(ids.iter().all(|t| sampled_by_ratio(t, 1.0)));
        assert!(ids.iter().all(|t| !sampled_by_ratio(t, 0.0)));
        let n = ids.iter().filter(|t| sampled_by_ratio(t, 0.25)).count();
        assert!((300..700).contains(&n), "{n}");
    }
}
