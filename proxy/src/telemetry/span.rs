//! Finished spans and their OTLP/JSON encoding.
//!
//! The encoding follows the OTLP/HTTP JSON mapping: `resourceSpans` →
//! `scopeSpans` → `spans`, trace and span ids as lowercase hex, 64-bit
//! integers (times, `intValue`) as decimal strings, enums as numbers.

use serde_json::{json, Map, Value};

use super::context::hex;

/// OTLP `SpanKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpanKind {
    /// Work inside the proxy.
    Internal = 1,
    /// The exchange with the client.
    Server = 2,
    /// The call to the upstream model.
    Client = 3,
}

/// An attribute value. Only values the proxy computes itself (ids, names,
/// numbers, categories) are ever stored: never prompt or response text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AttrValue {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    StrArray(Vec<String>),
}

impl AttrValue {
    fn to_json(&self) -> Value {
        match self {
            AttrValue::Str(s) => json!({ "stringValue": s }),
            AttrValue::Int(i) => json!({ "intValue": i.to_string() }),
            AttrValue::Double(d) if d.is_finite() => json!({ "doubleValue": d }),
            // JSON has no NaN or infinity; a string keeps the attribute readable.
            AttrValue::Double(d) => json!({ "stringValue": d.to_string() }),
            AttrValue::Bool(b) => json!({ "boolValue": b }),
            AttrValue::StrArray(v) => json!({
                "arrayValue": {
                    "values": v.iter().map(|s| json!({ "stringValue": s })).collect::<Vec<_>>()
                }
            }),
        }
    }
}

/// One finished span.
#[derive(Debug, Clone)]
pub(crate) struct SpanData {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) parent_span_id: Option<[u8; 8]>,
    pub(crate) trace_state: Option<String>,
    pub(crate) name: String,
    pub(crate) kind: SpanKind,
    pub(crate) start_unix_nanos: u64,
    pub(crate) end_unix_nanos: u64,
    pub(crate) attributes: Vec<(&'static str, AttrValue)>,
    /// `Some(message)`: status ERROR with a short, fixed-vocabulary message.
    pub(crate) error: Option<String>,
}

impl SpanData {
    /// Adds a string attribute.
    pub(crate) fn str(&mut self, key: &'static str, v: impl Into<String>) {
        self.attributes.push((key, AttrValue::Str(v.into())));
    }

    /// Adds an integer attribute (saturating at `i64::MAX`).
    pub(crate) fn int(&mut self, key: &'static str, v: impl TryInto<i64>) {
        let v = v.try_into().unwrap_or(i64::MAX);
        self.attributes.push((key, AttrValue::Int(v)));
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("traceId".into(), Value::String(hex(&self.trace_id)));
        m.insert("spanId".into(), Value::String(hex(&self.span_id)));
        if let Some(p) = &self.parent_span_id {
            m.insert("parentSpanId".into(), Value::String(hex(p)));
        }
        if let Some(ts) = &self.trace_state {
            m.insert("traceState".into(), Value::String(ts.clone()));
        }
        m.insert("name".into(), Value::String(self.name.clone()));
        m.insert("kind".into(), json!(self.kind as i32));
        m.insert(
            "startTimeUnixNano".into(),
            Value::String(self.start_unix_nanos.to_string()),
        );
        m.insert(
            "endTimeUnixNano".into(),
            Value::String(self.end_unix_nanos.max(self.start_unix_nanos).to_string()),
        );
        m.insert(
            "attributes".into(),
            Value::Array(
                self.attributes
                    .iter()
                    .map(|(k, v)| json!({ "key": k, "value": v.to_json() }))
                    .collect(),
            ),
        );
        m.insert(
            "status".into(),
            match &self.error {
                Some(msg) => json!({ "code": 2, "message": msg }),
                None => json!({ "code": 0 }),
            },
        );
        Value::Object(m)
    }
}

/// Encodes one export request body (`ExportTraceServiceRequest`).
pub(crate) fn encode_request(service_name: &str, spans: &[SpanData]) -> Vec<u8> {
    let resource = json!({
        "attributes": [
            { "key": "service.name", "value": { "stringValue": service_name } },
            { "key": "service.version", "value": { "stringValue": env!("CARGO_PKG_VERSION") } },
            { "key": "telemetry.sdk.name", "value": { "stringValue": "menshen" } },
            { "key": "telemetry.sdk.language", "value": { "stringValue": "rust" } },
        ]
    });
    let body = json!({
        "resourceSpans": [{
            "resource": resource,
            "scopeSpans": [{
                "scope": { "name": "menshen-proxy", "version": env!("CARGO_PKG_VERSION") },
                "spans": spans.iter().map(SpanData::to_json).collect::<Vec<_>>(),
            }]
        }]
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_otlp_json_shape() {
        let mut s = SpanData {
            trace_id: [0xab; 16],
            span_id: [0x01; 8],
            parent_span_id: Some([0x02; 8]),
            trace_state: None,
            name: "chat m".into(),
            kind: SpanKind::Server,
            start_unix_nanos: 1_700_000_000_000_000_000,
            end_unix_nanos: 1_700_000_000_500_000_000,
            attributes: Vec::new(),
            error: None,
        };
        s.str("gen_ai.operation.name", "chat");
        s.int("gen_ai.usage.input_tokens", 12u64);
        s.attributes
            .push(("gen_ai.request.temperature", AttrValue::Double(0.5)));
        s.attributes
            .push(("menshen.stream", AttrValue::Bool(false)));
        s.attributes.push((
            "gen_ai.response.finish_reasons",
            AttrValue::StrArray(vec!["stop".into()]),
        ));
        let v: Value = serde_json::from_slice(&encode_request("menshen", &[s])).unwrap();
        let span = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "abababababababababababababababab");
        assert_eq!(span["spanId"], "0101010101010101");
        assert_eq!(span["parentSpanId"], "0202020202020202");
        assert_eq!(span["kind"], 2);
        assert_eq!(span["startTimeUnixNano"], "1700000000000000000");
        assert_eq!(span["endTimeUnixNano"], "1700000000500000000");
        let attrs = span["attributes"].as_array().unwrap();
        assert_eq!(attrs[0]["value"]["stringValue"], "chat");
        assert_eq!(attrs[1]["value"]["intValue"], "12");
        assert_eq!(attrs[2]["value"]["doubleValue"], 0.5);
        assert_eq!(attrs[3]["value"]["boolValue"], false);
        assert_eq!(
            attrs[4]["value"]["arrayValue"]["values"][0]["stringValue"],
            "stop"
        );
        assert_eq!(
            v["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
            "menshen"
        );
    }
}
