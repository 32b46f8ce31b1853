//! Streaming responses: the text carried by each SSE event, per API.
//!
//! [`StreamEvent::parse`] reads one [`SseEvent`] of an upstream stream and
//! lists its text [`Fragment`]s, each tagged with the [`DeltaKey`] of the text
//! stream it extends (a choice's content, a tool call's arguments, a content
//! block). Output guards accumulate fragments per key, scan, and write back
//! what may be released with [`StreamEvent::set_text`]; everything else in
//! the event stays as the upstream sent it.
//!
//! Two kinds of fragment:
//! - a **delta** (`snapshot == false`) extends its key's text;
//! - a **snapshot** (`snapshot == true`) repeats the whole text of its key so
//!   far (OpenAI responses' `*.done`, `content_part.*`, `output_item.*` and
//!   `response.completed` events). A guard that changed or held back deltas
//!   must replace a snapshot with the concatenation of the delta texts it has
//!   forwarded for that key, or the unredacted text leaks through it.
//!
//! Holding back text: when a guard holds back the tail of a key's text (a
//! match could still span it), it releases it later either inside the next
//! delta for that key, or, at a [boundary](StreamEvent::is_boundary), in a
//! synthetic event made by [`StreamEvent::delta_only`] from the last delta
//! event of that key, forwarded before the boundary event.
//!
//! ```
//! use menshen_proxy::api::{Api, StreamEvent, DeltaKind};
//! use menshen_proxy::sse::SseEvent;
//!
//! let sse = SseEvent::named(
//!     "content_block_delta",
//!     r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"call 555-0100"}}"#,
//! );
//! let mut ev = StreamEvent::parse(Api::AnthropicMessages, sse).unwrap();
//! assert_eq!(ev.fragments()[0].key.kind, DeltaKind::Text);
//! assert_eq!(ev.fragments()[0].text, "call 555-0100");
//! ev.set_text(0, "call [PHONE]").unwrap();
//! let out = ev.into_sse();
//! assert!(out.data.unwrap().contains("call [PHONE]"));
//! ```

use serde_json::{json, Map, Value};

use super::json::{OwnedPath, Path};
use super::Api;
use crate::sse::SseEvent;

/// Which text stream a fragment extends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeltaKey {
    /// OpenAI choice `index`, responses `output_index`, or Anthropic content block `index`.
    pub index: u32,
    /// Tool call `index` within a chat choice, responses `content_index` (or
    /// `summary_index`); 0 otherwise.
    pub sub: u32,
    /// What the text is.
    pub kind: DeltaKind,
}

/// What a streamed text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DeltaKind {
    /// Visible output text.
    Text,
    /// An OpenAI refusal message.
    Refusal,
    /// Reasoning / thinking text (`reasoning_content`, Anthropic `thinking`, reasoning summaries).
    Reasoning,
    /// Tool-call arguments (JSON text, streamed in pieces).
    ToolArguments,
}

/// One piece of text inside a stream event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// The text stream it belongs to.
    pub key: DeltaKey,
    /// The text (current value, after any [`StreamEvent::set_text`]).
    pub text: String,
    /// Whether this repeats the key's whole text so far instead of extending it.
    pub snapshot: bool,
    path: OwnedPath,
    origin: Origin,
}

/// How a fragment sits in its event, for building a delta-only copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// `choices[pos].delta.<field>`.
    ChatDelta { pos: usize, field: &'static str },
    /// `choices[pos].delta.tool_calls[j].function.arguments`.
    ChatToolCall { pos: usize, j: usize },
    /// `choices[pos].delta.function_call.arguments`.
    ChatFunctionCall { pos: usize },
    /// `choices[pos].text`.
    Completion { pos: usize },
    /// The event carries only this fragment (responses `*.delta`, Anthropic `content_block_delta`).
    Whole,
    /// Anthropic `content_block_start` with initial text.
    AnthropicStart,
    /// A snapshot; no delta form.
    Snapshot,
}

/// Why a stream event could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The event's `data` is neither JSON nor `[DONE]`.
    #[error("stream event data is not JSON (line {line}, column {column})")]
    InvalidJson {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// [`StreamEvent::set_text`] was given an index past the fragments.
    #[error("stream event has no fragment {index}")]
    NoSuchFragment {
        /// The index.
        index: usize,
    },
}

/// One upstream stream event with its text fragments.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    api: Api,
    sse: SseEvent,
    json: Option<Value>,
    fragments: Vec<Fragment>,
    terminal: bool,
    error: bool,
    boundary: bool,
    dirty: bool,
}

/// Accumulates fragments and flags while reading one event.
#[derive(Default)]
struct Reader {
    fragments: Vec<Fragment>,
    terminal: bool,
    error: bool,
    boundary: bool,
}

// === impl StreamEvent ===

impl StreamEvent {
    /// Reads one event of an `api` stream.
    ///
    /// Events without data (comments, keep-alives) and `[DONE]` have no
    /// fragments. Fields of unexpected type are ignored rather than refused:
    /// the upstream is not an adversary here, and an unreadable field is not
    /// text a client would display.
    ///
    /// # Errors
    /// [`StreamError::InvalidJson`] when `data` is present and is neither JSON
    /// nor `[DONE]`; the proxy should end the stream rather than forward
    /// text it could not scan.
    pub fn parse(api: Api, sse: SseEvent) -> Result<StreamEvent, StreamError> {
        let mut r = Reader::default();
        // Only JSON's own whitespace is trimmed: `str::trim` also strips
        // Unicode spaces (vertical tab, U+2028, ...), which made the proxy
        // read data that no client's JSON parser accepts (found by fuzzing).
        let json = match sse.data.as_deref().map(trim_json_ws) {
            None | Some("") => None,
            Some("[DONE]") => {
                r.terminal = true;
                r.boundary = true;
                None
            }
            Some(data) => {
                let v: Value =
                    serde_json::from_str(data).map_err(|e| StreamError::InvalidJson {
                        line: e.line(),
                        column: e.column(),
                    })?;
                match api {
                    Api::OpenAiChat => r.chat(&v),
                    Api::OpenAiCompletions => r.completions(&v),
                    Api::OpenAiResponses => r.responses(&v),
                    Api::AnthropicMessages => r.anthropic(&v),
                }
                Some(v)
            }
        };
        Ok(StreamEvent {
            api,
            sse,
            json,
            fragments: r.fragments,
            terminal: r.terminal,
            error: r.error,
            boundary: r.boundary,
            dirty: false,
        })
    }

    /// The text fragments, in event order.
    pub fn fragments(&self) -> &[Fragment] {
        &self.fragments
    }

    /// The last event of a successful or failed stream: `[DONE]`,
    /// `message_stop`, `response.completed`/`failed`/`incomplete`, or an
    /// Anthropic/responses `error`.
    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// The upstream reports an error in the stream.
    pub fn is_error(&self) -> bool {
        self.error
    }

    /// A text stream ends at this event (a `finish_reason`, a block stop, a
    /// `*.done`, the terminal event): release all held-back text before it
    /// is forwarded (or inside it, for its own fragments).
    pub fn is_boundary(&self) -> bool {
        self.boundary
    }

    /// The parsed `data`, if it was JSON.
    pub fn json(&self) -> Option<&Value> {
        self.json.as_ref()
    }

    /// Replaces the text of fragment `index`.
    ///
    /// # Errors
    /// [`StreamError::NoSuchFragment`] for an index past the fragments.
    pub fn set_text(&mut self, index: usize, text: &str) -> Result<(), StreamError> {
        let fragment = self
            .fragments
            .get_mut(index)
            .ok_or(StreamError::NoSuchFragment { index })?;
        if fragment.text == text {
            return Ok(());
        }
        let target = self
            .json
            .as_mut()
            .and_then(|v| fragment.path.get_mut(v))
            .ok_or(StreamError::NoSuchFragment { index })?;
        *target = Value::String(text.to_owned());
        fragment.text = text.to_owned();
        self.dirty = true;
        Ok(())
    }

    /// A new event carrying only fragment `index`'s key with `text`, for
    /// releasing held-back text before a boundary. It keeps the event's ids
    /// (chat `id`, `model`; responses `item_id`) and drops what would repeat
    /// (`finish_reason`, `usage`, other choices). `None` for snapshots and
    /// bad indices.
    pub fn delta_only(&self, index: usize, text: &str) -> Option<SseEvent> {
        let fragment = self.fragments.get(index)?;
        let mut v = self.json.clone()?;
        match fragment.origin {
            Origin::Snapshot => return None,
            Origin::Whole => *fragment.path.get_mut(&mut v)? = Value::String(text.to_owned()),
            Origin::ChatDelta { pos, field } => {
                let delta = Value::Object(Map::from_iter([(field.to_owned(), json!(text))]));
                only_choice(&mut v, pos, Some(delta), None)?;
            }
            Origin::ChatToolCall { pos, j } => {
                let call = v.pointer(&format!("/choices/{pos}/delta/tool_calls/{j}"))?;
                let tool_index = call.get("index").cloned().unwrap_or(json!(j));
                let delta = json!({"tool_calls": [
                    {"index": tool_index, "function": {"arguments": text}}
                ]});
                only_choice(&mut v, pos, Some(delta), None)?;
            }
            Origin::ChatFunctionCall { pos } => {
                let delta = json!({"function_call": {"arguments": text}});
                only_choice(&mut v, pos, Some(delta), None)?;
            }
            Origin::Completion { pos } => only_choice(&mut v, pos, None, Some(text))?,
            Origin::AnthropicStart => {
                let (delta_type, field) = match fragment.key.kind {
                    DeltaKind::Reasoning => ("thinking_delta", "thinking"),
                    _ => ("text_delta", "text"),
                };
                let event = SseEvent::named(
                    "content_block_delta",
                    json!({
                        "type": "content_block_delta",
                        "index": fragment.key.index,
                        "delta": {"type": delta_type, field: text},
                    })
                    .to_string(),
                );
                return Some(event);
            }
        }
        Some(SseEvent {
            comments: Vec::new(),
            event: self.sse.event.clone(),
            data: Some(v.to_string()),
            id: None,
            retry: None,
        })
    }

    /// The event to forward: the original when no text was changed,
    /// otherwise the same fields with re-serialised data.
    pub fn to_sse(&self) -> SseEvent {
        let mut sse = self.sse.clone();
        self.refresh(&mut sse);
        sse
    }

    /// Like [`to_sse`](Self::to_sse), without copying.
    pub fn into_sse(self) -> SseEvent {
        let StreamEvent {
            mut sse,
            json,
            dirty,
            ..
        } = self;
        if let (true, Some(v)) = (dirty, json) {
            sse.data = Some(v.to_string());
        }
        sse
    }

    /// The surface this event was read as.
    pub fn api(&self) -> Api {
        self.api
    }

    fn refresh(&self, sse: &mut SseEvent) {
        if let (true, Some(v)) = (self.dirty, &self.json) {
            sse.data = Some(v.to_string());
        }
    }
}

/// Reduces a chat/completions chunk to choice `pos`, with a fresh `delta`
/// (chat) or `text` (completions), no `finish_reason`, no `usage`.
fn only_choice(v: &mut Value, pos: usize, delta: Option<Value>, text: Option<&str>) -> Option<()> {
    let obj = v.as_object_mut()?;
    obj.remove("usage");
    let choices = obj.get_mut("choices")?.as_array_mut()?;
    if pos >= choices.len() {
        return None;
    }
    let mut choice = choices.swap_remove(pos);
    choices.clear();
    let c = choice.as_object_mut()?;
    c.insert("finish_reason".to_owned(), Value::Null);
    c.remove("logprobs");
    if let Some(delta) = delta {
        c.insert("delta".to_owned(), delta);
    }
    if let Some(text) = text {
        c.insert("text".to_owned(), json!(text));
    }
    choices.push(choice);
    Some(())
}

fn u32_field(v: &Value, key: &str, default: usize) -> u32 {
    v.get(key)
        .and_then(Value::as_u64)
        .or(u64::try_from(default).ok())
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(u32::MAX)
}

/// Trims the whitespace JSON allows around a value (RFC 8259 `ws`).
fn trim_json_ws(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\n', '\r'])
}

// === impl Reader ===

impl Reader {
    fn push(&mut self, key: DeltaKey, v: &Value, p: &Path<'_>, origin: Origin) {
        let Some(text) = p.get(v).and_then(Value::as_str) else {
            return;
        };
        self.fragments.push(Fragment {
            key,
            text: text.to_owned(),
            snapshot: origin == Origin::Snapshot,
            path: p.owned(),
            origin,
        });
    }

    fn chat(&mut self, v: &Value) {
        if v.get("error").is_some_and(|e| !e.is_null()) {
            self.error = true;
            self.boundary = true;
        }
        let Some(choices) = v.get("choices").and_then(Value::as_array) else {
            return;
        };
        let root = Path::root();
        let cp = root.key("choices");
        for (pos, choice) in choices.iter().enumerate() {
            let index = u32_field(choice, "index", pos);
            let choice_p = cp.index(pos);
            let dp = choice_p.key("delta");
            let key = |sub, kind| DeltaKey { index, sub, kind };
            for (field, kind) in [
                ("content", DeltaKind::Text),
                ("refusal", DeltaKind::Refusal),
                ("reasoning_content", DeltaKind::Reasoning),
                ("reasoning", DeltaKind::Reasoning),
            ] {
                self.push(
                    key(0, kind),
                    v,
                    &dp.key(field),
                    Origin::ChatDelta { pos, field },
                );
            }
            if let Some(calls) = choice
                .get("delta")
                .and_then(|d| d.get("tool_calls"))
                .and_then(Value::as_array)
            {
                for (j, call) in calls.iter().enumerate() {
                    let sub = u32_field(call, "index", j);
                    self.push(
                        key(sub, DeltaKind::ToolArguments),
                        v,
                        &dp.key("tool_calls")
                            .index(j)
                            .key("function")
                            .key("arguments"),
                        Origin::ChatToolCall { pos, j },
                    );
                }
            }
            self.push(
                key(0, DeltaKind::ToolArguments),
                v,
                &dp.key("function_call").key("arguments"),
                Origin::ChatFunctionCall { pos },
            );
            if choice.get("finish_reason").is_some_and(|f| !f.is_null()) {
                self.boundary = true;
            }
        }
    }

    fn completions(&mut self, v: &Value) {
        if v.get("error").is_some_and(|e| !e.is_null()) {
            self.error = true;
            self.boundary = true;
        }
        let Some(choices) = v.get("choices").and_then(Value::as_array) else {
            return;
        };
        let root = Path::root();
        let cp = root.key("choices");
        for (pos, choice) in choices.iter().enumerate() {
            let key = DeltaKey {
                index: u32_field(choice, "index", pos),
                sub: 0,
                kind: DeltaKind::Text,
            };
            self.push(
                key,
                v,
                &cp.index(pos).key("text"),
                Origin::Completion { pos },
            );
            if choice.get("finish_reason").is_some_and(|f| !f.is_null()) {
                self.boundary = true;
            }
        }
    }

    fn responses(&mut self, v: &Value) {
        let Some(ty) = v.get("type").and_then(Value::as_str) else {
            return;
        };
        let root = Path::root();
        let output_index = u32_field(v, "output_index", 0);
        let key = |sub, kind| DeltaKey {
            index: output_index,
            sub,
            kind,
        };
        let content_index = u32_field(v, "content_index", 0);
        let summary_index = u32_field(v, "summary_index", 0);
        match ty {
            "response.output_text.delta" => self.push(
                key(content_index, DeltaKind::Text),
                v,
                &root.key("delta"),
                Origin::Whole,
            ),
            "response.refusal.delta" => self.push(
                key(content_index, DeltaKind::Refusal),
                v,
                &root.key("delta"),
                Origin::Whole,
            ),
            "response.function_call_arguments.delta" | "response.custom_tool_call_input.delta" => {
                self.push(
                    key(0, DeltaKind::ToolArguments),
                    v,
                    &root.key("delta"),
                    Origin::Whole,
                )
            }
            "response.reasoning_summary_text.delta" => self.push(
                key(summary_index, DeltaKind::Reasoning),
                v,
                &root.key("delta"),
                Origin::Whole,
            ),
            "response.output_text.done" => {
                self.boundary = true;
                self.push(
                    key(content_index, DeltaKind::Text),
                    v,
                    &root.key("text"),
                    Origin::Snapshot,
                );
            }
            "response.refusal.done" => {
                self.boundary = true;
                self.push(
                    key(content_index, DeltaKind::Refusal),
                    v,
                    &root.key("refusal"),
                    Origin::Snapshot,
                );
            }
            "response.function_call_arguments.done" => {
                self.boundary = true;
                self.push(
                    key(0, DeltaKind::ToolArguments),
                    v,
                    &root.key("arguments"),
                    Origin::Snapshot,
                );
            }
            "response.custom_tool_call_input.done" => {
                self.boundary = true;
                self.push(
                    key(0, DeltaKind::ToolArguments),
                    v,
                    &root.key("input"),
                    Origin::Snapshot,
                );
            }
            "response.reasoning_summary_text.done" => {
                self.boundary = true;
                self.push(
                    key(summary_index, DeltaKind::Reasoning),
                    v,
                    &root.key("text"),
                    Origin::Snapshot,
                );
            }
            "response.content_part.added" | "response.content_part.done" => {
                self.boundary |= ty.ends_with(".done");
                if let Some(part) = v.get("part") {
                    self.content_snapshot(part, output_index, content_index, v, &root.key("part"));
                }
            }
            "response.output_item.added" | "response.output_item.done" => {
                self.boundary |= ty.ends_with(".done");
                if let Some(item) = v.get("item") {
                    self.item_snapshots(item, output_index, v, &root.key("item"));
                }
            }
            "response.created"
            | "response.in_progress"
            | "response.completed"
            | "response.failed"
            | "response.incomplete" => {
                let done = !matches!(ty, "response.created" | "response.in_progress");
                self.terminal |= done;
                self.boundary |= done;
                self.error |= ty == "response.failed";
                let response = root.key("response");
                let op = response.key("output");
                let items = v
                    .pointer("/response/output")
                    .and_then(Value::as_array)
                    .map_or(&[][..], Vec::as_slice);
                for (i, item) in items.iter().enumerate() {
                    let index = u32::try_from(i).unwrap_or(u32::MAX);
                    self.item_snapshots(item, index, v, &op.index(i));
                }
            }
            "error" => {
                self.error = true;
                self.terminal = true;
                self.boundary = true;
            }
            _ => {}
        }
    }

    /// Snapshots of an output item (`message` content parts, or a function call's arguments).
    fn item_snapshots(&mut self, item: &Value, index: u32, v: &Value, p: &Path<'_>) {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                let parts = item
                    .get("content")
                    .and_then(Value::as_array)
                    .map_or(&[][..], Vec::as_slice);
                for (j, part) in parts.iter().enumerate() {
                    let sub = u32::try_from(j).unwrap_or(u32::MAX);
                    self.content_snapshot(part, index, sub, v, &p.key("content").index(j));
                }
            }
            Some("function_call") => {
                let key = DeltaKey {
                    index,
                    sub: 0,
                    kind: DeltaKind::ToolArguments,
                };
                self.push(key, v, &p.key("arguments"), Origin::Snapshot);
            }
            Some("custom_tool_call") => {
                let key = DeltaKey {
                    index,
                    sub: 0,
                    kind: DeltaKind::ToolArguments,
                };
                self.push(key, v, &p.key("input"), Origin::Snapshot);
            }
            Some("reasoning") => {
                let parts = item
                    .get("summary")
                    .and_then(Value::as_array)
                    .map_or(&[][..], Vec::as_slice);
                for j in 0..parts.len() {
                    let key = DeltaKey {
                        index,
                        sub: u32::try_from(j).unwrap_or(u32::MAX),
                        kind: DeltaKind::Reasoning,
                    };
                    let summary = p.key("summary");
                    self.push(key, v, &summary.index(j).key("text"), Origin::Snapshot);
                }
            }
            _ => {}
        }
    }

    fn content_snapshot(&mut self, part: &Value, index: u32, sub: u32, v: &Value, p: &Path<'_>) {
        let (kind, field) = match part.get("type").and_then(Value::as_str) {
            Some("output_text") => (DeltaKind::Text, "text"),
            Some("refusal") => (DeltaKind::Refusal, "refusal"),
            _ => return,
        };
        let key = DeltaKey { index, sub, kind };
        self.push(key, v, &p.key(field), Origin::Snapshot);
    }

    fn anthropic(&mut self, v: &Value) {
        let Some(ty) = v.get("type").and_then(Value::as_str) else {
            return;
        };
        let index = u32_field(v, "index", 0);
        let key = |kind| DeltaKey {
            index,
            sub: 0,
            kind,
        };
        let root = Path::root();
        match ty {
            "content_block_start" => {
                let bp = root.key("content_block");
                match v.pointer("/content_block/type").and_then(Value::as_str) {
                    Some("text") => self.push(
                        key(DeltaKind::Text),
                        v,
                        &bp.key("text"),
                        Origin::AnthropicStart,
                    ),
                    Some("thinking") => self.push(
                        key(DeltaKind::Reasoning),
                        v,
                        &bp.key("thinking"),
                        Origin::AnthropicStart,
                    ),
                    _ => {}
                }
            }
            "content_block_delta" => {
                let dp = root.key("delta");
                let (kind, field) = match v.pointer("/delta/type").and_then(Value::as_str) {
                    Some("text_delta") => (DeltaKind::Text, "text"),
                    Some("input_json_delta") => (DeltaKind::ToolArguments, "partial_json"),
                    Some("thinking_delta") => (DeltaKind::Reasoning, "thinking"),
                    _ => return,
                };
                self.push(key(kind), v, &dp.key(field), Origin::Whole);
            }
            "content_block_stop" | "message_delta" => self.boundary = true,
            "message_stop" => {
                self.terminal = true;
                self.boundary = true;
            }
            "error" => {
                self.error = true;
                self.terminal = true;
                self.boundary = true;
            }
            _ => {}
        }
    }
}
