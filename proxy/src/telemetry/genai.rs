//! The GenAI facts a span carries, read from the wire bodies: request
//! parameters (max tokens, temperature, top-p) and response metadata (id,
//! model, finish reasons, token usage).
//!
//! The readers deserialize into structs that name only those fields, so no
//! message text is ever kept: serde skips everything else unread.

use serde::Deserialize;

use crate::ndjson::NdjsonParser;
use crate::sse::SseParser;

/// Request parameters worth a span attribute.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RequestFacts {
    pub(crate) max_tokens: Option<u64>,
    pub(crate) temperature: Option<f64>,
    pub(crate) top_p: Option<f64>,
}

#[derive(Deserialize)]
struct RequestWire {
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default)]
    max_output_tokens: Option<u64>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    /// Ollama's native API keeps its sampling parameters here.
    #[serde(default)]
    options: Option<OptionsWire>,
}

#[derive(Deserialize)]
struct OptionsWire {
    /// -1 (no limit) reads as absent.
    #[serde(default, deserialize_with = "non_negative")]
    num_predict: Option<u64>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
}

fn non_negative<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Option::<i64>::deserialize(d)?.and_then(|n| u64::try_from(n).ok()))
}

impl RequestFacts {
    /// Reads a request body; anything unreadable yields no facts.
    pub(crate) fn read(body: &[u8]) -> RequestFacts {
        match serde_json::from_slice::<RequestWire>(body) {
            Ok(w) => {
                let (num_predict, temperature, top_p) = w.options.map_or((None, None, None), |o| {
                    (o.num_predict, o.temperature, o.top_p)
                });
                RequestFacts {
                    max_tokens: w
                        .max_tokens
                        .or(w.max_completion_tokens)
                        .or(w.max_output_tokens)
                        .or(num_predict),
                    temperature: w.temperature.or(temperature),
                    top_p: w.top_p.or(top_p),
                }
            }
            Err(_) => RequestFacts::default(),
        }
    }
}

/// Response metadata, merged over a whole body or a stream's events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ResponseFacts {
    pub(crate) id: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) finish_reasons: Vec<String>,
    pub(crate) input_tokens: Option<u64>,
    pub(crate) output_tokens: Option<u64>,
}

/// The union of the shapes that carry metadata: an OpenAI chat/completions
/// body or chunk, an Anthropic message or stream event, an OpenAI Responses
/// object or event. Unknown or mistyped fields make the event unreadable,
/// which only costs its attributes.
#[derive(Deserialize, Default)]
struct ResponseWire {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Option<Vec<ChoiceWire>>,
    #[serde(default)]
    usage: Option<UsageWire>,
    #[serde(default)]
    stop_reason: Option<String>,
    /// Responses API: `completed`, `incomplete`, …
    #[serde(default)]
    status: Option<String>,
    /// Anthropic `message_start`.
    #[serde(default)]
    message: Option<Box<ResponseWire>>,
    /// Anthropic `message_delta` carries `stop_reason` here.
    #[serde(default)]
    delta: Option<DeltaWire>,
    /// Responses API stream events wrap the response object; Ollama's
    /// `/api/generate` uses the name for its text.
    #[serde(default)]
    response: Option<ResponseField>,
    /// Ollama's native API: why the answer ended, and its token counts.
    #[serde(default)]
    done_reason: Option<String>,
    #[serde(default)]
    prompt_eval_count: Option<u64>,
    #[serde(default)]
    eval_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ResponseField {
    Object(Box<ResponseWire>),
    /// Ollama generate's answer text (or anything else): nothing to read.
    Other(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct ChoiceWire {
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct DeltaWire {
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct UsageWire {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
}

fn first(slot: &mut Option<String>, v: Option<String>) {
    if slot.is_none() {
        *slot = v.filter(|s| !s.is_empty() && s.len() <= 256);
    }
}

fn most(slot: &mut Option<u64>, v: Option<u64>) {
    if let Some(v) = v {
        *slot = Some(slot.map_or(v, |s| s.max(v)));
    }
}

impl ResponseFacts {
    fn reason(&mut self, r: Option<String>) {
        // One per choice at most; an upstream cannot grow the span unboundedly.
        if self.finish_reasons.len() >= 16 {
            return;
        }
        if let Some(r) = r.filter(|r| !r.is_empty() && r.len() <= 64) {
            if !self.finish_reasons.contains(&r) {
                self.finish_reasons.push(r);
            }
        }
    }

    fn merge(&mut self, w: ResponseWire) {
        first(&mut self.id, w.id);
        first(&mut self.model, w.model);
        for c in w.choices.unwrap_or_default() {
            self.reason(c.finish_reason);
        }
        self.reason(w.stop_reason);
        if let Some(u) = w.usage {
            // Anthropic streams report output tokens cumulatively.
            most(&mut self.input_tokens, u.prompt_tokens.or(u.input_tokens));
            most(
                &mut self.output_tokens,
                u.completion_tokens.or(u.output_tokens),
            );
        }
        if let Some(d) = w.delta {
            self.reason(d.stop_reason);
        }
        if let Some(m) = w.message {
            self.merge(*m);
        }
        self.reason(w.done_reason);
        most(&mut self.input_tokens, w.prompt_eval_count);
        most(&mut self.output_tokens, w.eval_count);
        if let Some(ResponseField::Object(r)) = w.response {
            // Only the final Responses object's status is a finish reason.
            let status = r.status.clone();
            self.merge(ResponseWire { status: None, ..*r });
            if matches!(
                status.as_deref(),
                Some("completed" | "incomplete" | "failed")
            ) {
                self.reason(status);
            }
        } else if matches!(
            w.status.as_deref(),
            Some("completed" | "incomplete" | "failed")
        ) {
            self.reason(w.status);
        }
    }

    /// Merges one JSON document (a whole body or one event's data).
    pub(crate) fn read_json(&mut self, bytes: &[u8]) {
        if let Ok(w) = serde_json::from_slice::<ResponseWire>(bytes) {
            self.merge(w);
        }
    }
}

/// Reads response facts from a body as it streams past.
#[derive(Debug)]
pub(crate) enum ResponseReader {
    /// A whole JSON body: chunks are kept (cheap `Bytes` clones) up to a
    /// cap and read at the end.
    Json {
        chunks: Vec<bytes::Bytes>,
        len: usize,
        cap: usize,
    },
    /// An SSE stream: each event's data is read as it completes.
    Sse(Box<SseParser>),
    /// An NDJSON stream (Ollama's native API): each line is read.
    Lines(Box<NdjsonParser>),
    /// Over the cap or unparseable: nothing more to learn.
    Done,
}

impl ResponseReader {
    /// A reader for a body of `content_type`.
    pub(crate) fn new(event_stream: bool, cap: usize, max_event_bytes: usize) -> Self {
        if event_stream {
            ResponseReader::Sse(Box::new(SseParser::new(max_event_bytes)))
        } else {
            ResponseReader::Json {
                chunks: Vec::new(),
                len: 0,
                cap,
            }
        }
    }

    /// A reader for a newline-delimited JSON stream.
    pub(crate) fn lines(max_line_bytes: usize) -> Self {
        ResponseReader::Lines(Box::new(NdjsonParser::new(max_line_bytes)))
    }

    /// Feeds one data frame.
    pub(crate) fn push(&mut self, data: &bytes::Bytes, facts: &mut ResponseFacts) {
        match self {
            ResponseReader::Json { chunks, len, cap } => {
                *len = len.saturating_add(data.len());
                if *len > *cap {
                    *self = ResponseReader::Done;
                } else {
                    chunks.push(data.clone());
                }
            }
            ResponseReader::Lines(p) => match p.push(data) {
                Ok(lines) => {
                    for l in lines {
                        if let Some(d) = l.data.as_deref() {
                            facts.read_json(d.as_bytes());
                        }
                    }
                }
                Err(_) => *self = ResponseReader::Done,
            },
            ResponseReader::Sse(p) => match p.push(data) {
                Ok(events) => {
                    for e in events {
                        if let Some(d) = e.data.as_deref() {
                            if d.starts_with('{') {
                                facts.read_json(d.as_bytes());
                            }
                        }
                    }
                }
                Err(_) => *self = ResponseReader::Done,
            },
            ResponseReader::Done => {}
        }
    }

    /// The body ended.
    pub(crate) fn finish(&mut self, facts: &mut ResponseFacts) {
        if let ResponseReader::Json { chunks, .. } = self {
            if chunks.len() == 1 {
                facts.read_json(&chunks[0]);
            } else {
                facts.read_json(&chunks.concat());
            }
        }
        *self = ResponseReader::Done;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_request_parameters_and_nothing_else() {
        let f = RequestFacts::read(
            br#"{"model":"m","max_tokens":64,"temperature":0.2,"messages":[{"role":"user","content":"hi"}]}"#,
        );
        assert_eq!(f.max_tokens, Some(64));
        assert_eq!(f.temperature, Some(0.2));
        assert_eq!(f.top_p, None);
        let f = RequestFacts::read(br#"{"max_output_tokens":9,"top_p":1}"#);
        assert_eq!(f.max_tokens, Some(9));
        assert_eq!(f.top_p, Some(1.0));
        assert_eq!(RequestFacts::read(b"not json"), RequestFacts::default());
    }

    fn whole(body: &str) -> ResponseFacts {
        let mut f = ResponseFacts::default();
        let mut r = ResponseReader::new(false, 1 << 20, 1 << 20);
        for chunk in body.as_bytes().chunks(7) {
            r.push(&bytes::Bytes::copy_from_slice(chunk), &mut f);
        }
        r.finish(&mut f);
        f
    }

    fn stream(body: &str) -> ResponseFacts {
        let mut f = ResponseFacts::default();
        let mut r = ResponseReader::new(true, 1 << 20, 1 << 20);
        for chunk in body.as_bytes().chunks(5) {
            r.push(&bytes::Bytes::copy_from_slice(chunk), &mut f);
        }
        r.finish(&mut f);
        f
    }

    #[test]
    fn reads_openai_chat_bodies_and_chunks() {
        let f = whole(
            r#"{"id":"chatcmpl-1","model":"gpt-4o-2024","choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":3}}"#,
        );
        assert_eq!(f.id.as_deref(), Some("chatcmpl-1"));
        assert_eq!(f.model.as_deref(), Some("gpt-4o-2024"));
        assert_eq!(f.finish_reasons, ["stop"]);
        assert_eq!((f.input_tokens, f.output_tokens), (Some(11), Some(3)));
        let f = stream(concat!(
            "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n",
            "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\n",
            "data: [DONE]\n\n",
        ));
        assert_eq!(f.id.as_deref(), Some("c1"));
        assert_eq!(f.finish_reasons, ["length"]);
        assert_eq!((f.input_tokens, f.output_tokens), (Some(4), Some(2)));
    }

    #[test]
    fn reads_anthropic_messages_and_events() {
        let f = whole(
            r#"{"id":"msg_1","type":"message","model":"claude","content":[{"type":"text","text":"x"}],"stop_reason":"end_turn","usage":{"input_tokens":7,"output_tokens":2}}"#,
        );
        assert_eq!(f.id.as_deref(), Some("msg_1"));
        assert_eq!(f.finish_reasons, ["end_turn"]);
        assert_eq!((f.input_tokens, f.output_tokens), (Some(7), Some(2)));
        let f = stream(concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_2\",\"model\":\"claude\",\"stop_reason\":null,\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":5}}\n\n",
        ));
        assert_eq!(f.id.as_deref(), Some("msg_2"));
        assert_eq!(f.model.as_deref(), Some("claude"));
        assert_eq!(f.finish_reasons, ["max_tokens"]);
        assert_eq!((f.input_tokens, f.output_tokens), (Some(9), Some(5)));
    }

    #[test]
    fn reads_ollama_answers_and_ndjson_lines() {
        let r = RequestFacts::read(
            br#"{"model":"m","messages":[],"options":{"num_predict":64,"temperature":0.2,"top_p":0.9}}"#,
        );
        assert_eq!(r.max_tokens, Some(64));
        assert_eq!((r.temperature, r.top_p), (Some(0.2), Some(0.9)));
        let r = RequestFacts::read(br#"{"model":"m","options":{"num_predict":-1}}"#);
        assert_eq!(r.max_tokens, None);
        let f = whole(
            r#"{"model":"llama3.2","created_at":"t","response":"Paris.","done":true,"done_reason":"stop","prompt_eval_count":26,"eval_count":4,"context":[1,2]}"#,
        );
        assert_eq!(f.model.as_deref(), Some("llama3.2"));
        assert_eq!(f.finish_reasons, ["stop"]);
        assert_eq!((f.input_tokens, f.output_tokens), (Some(26), Some(4)));
        let mut facts = ResponseFacts::default();
        let mut r = ResponseReader::lines(1024);
        for chunk in [
            "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"a\"},\"done\":false}\n{\"model\":\"m\",\"mess",
            "age\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"length\",\"prompt_eval_count\":9,\"eval_count\":5}\n",
        ] {
            r.push(&bytes::Bytes::from(chunk), &mut facts);
        }
        r.finish(&mut facts);
        assert_eq!(facts.model.as_deref(), Some("m"));
        assert_eq!(facts.finish_reasons, ["length"]);
        assert_eq!(
            (facts.input_tokens, facts.output_tokens),
            (Some(9), Some(5))
        );
    }

    #[test]
    fn reads_openai_responses_objects_and_events() {
        let f = whole(
            r#"{"id":"resp_1","object":"response","model":"m","status":"completed","output":[],"usage":{"input_tokens":3,"output_tokens":4}}"#,
        );
        assert_eq!(f.finish_reasons, ["completed"]);
        assert_eq!((f.input_tokens, f.output_tokens), (Some(3), Some(4)));
        let f = stream(concat!(
            "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_2\",\"model\":\"m\",\"status\":\"in_progress\"}}\n\n",
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_2\",\"model\":\"m\",\"status\":\"completed\",\"usage\":{\"input_tokens\":1,\"output_tokens\":2}}}\n\n",
        ));
        assert_eq!(f.id.as_deref(), Some("resp_2"));
        assert_eq!(f.finish_reasons, ["completed"]);
        assert_eq!(f.output_tokens, Some(2));
    }

    #[test]
    fn an_oversized_body_yields_nothing() {
        let mut f = ResponseFacts::default();
        let mut r = ResponseReader::new(false, 8, 1024);
        r.push(
            &bytes::Bytes::from_static(br#"{"id":"chatcmpl-1"}"#),
            &mut f,
        );
        r.finish(&mut f);
        assert_eq!(f, ResponseFacts::default());
    }
}
