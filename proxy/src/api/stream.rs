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

use std::borrow::Cow;

use serde_json::{json, Map, Value};

use super::json::{OutputLeaf, OwnedPath, Path};
use super::node::{self, Node};
use super::Api;
use crate::sse::SseEvent;

/// Which text stream a fragment extends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeltaKey {
    /// OpenAI choice `index`, responses `output_index`, or Anthropic content block `index`.
    pub index: u32,
    /// Tool call `index` within a chat choice, responses `content_index` (or
    /// `summary_index`); for chat reasoning 0 (`reasoning_content`), 1
    /// (`reasoning`) or 2 + 2 × entry index (+ 1 for a summary) for
    /// `reasoning_details`; 0 otherwise.
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
    /// What a tool the provider or a remote MCP server ran returned (a
    /// fetched page, search result titles, a command's output): untrusted
    /// text, which arrives whole in one event.
    ToolResult,
}

/// Where a Responses reasoning item's raw `reasoning_text` content parts
/// (open-weight models served by vLLM and others) sit among its channels:
/// `sub` = this + `content_index`, apart from its summaries (`summary_index`).
pub(crate) const REASONING_TEXT_SUB: u32 = 1 << 16;

/// `sub` of the one text of a built-in tool call that is not a command
/// line (a computer call's typed text, a patch), above any command index.
const BUILT_IN_TEXT_SUB: u32 = 1 << 16;

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
    /// The byte range of the fragment's JSON string (quotes included) in
    /// the event's data, when the string has no escapes: a changed text is
    /// then spliced into the data instead of re-serialising a parsed tree.
    raw: Option<(usize, usize)>,
    /// [`StreamEvent::set_text`] changed the text.
    changed: bool,
    /// The text is the compact form of a JSON value (Ollama's tool-call
    /// `arguments` object), not a JSON string: a changed text is parsed and
    /// written back as a value.
    value: bool,
}

impl Fragment {
    /// The text is a JSON value's compact form (Ollama's tool-call
    /// `arguments` object), so [`StreamEvent::set_text`] takes only JSON.
    pub fn is_json_value(&self) -> bool {
        self.value
    }
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
    /// `choices[pos].delta.reasoning_details[j].<field>` (OpenRouter).
    ChatReasoningDetail {
        pos: usize,
        j: usize,
        field: &'static str,
    },
    /// `choices[pos].text`.
    Completion { pos: usize },
    /// The event carries only this fragment (responses `*.delta`, Anthropic `content_block_delta`).
    Whole,
    /// Anthropic `content_block_start` with initial text.
    AnthropicStart,
    /// A snapshot; no delta form.
    Snapshot,
    /// An Ollama line's `message.<field>` (chat) or `<field>` (generate).
    Ollama { field: &'static str },
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
    /// A JSON-valued fragment (Ollama tool-call arguments) was given text
    /// that is not JSON (a redaction cut through its syntax): refuse rather
    /// than forward something else.
    #[error("edited tool arguments of fragment {index} are not valid JSON")]
    InvalidArguments {
        /// The index.
        index: usize,
    },
}

/// One upstream stream event with its text fragments.
///
/// Events are read into a borrowed tree and not kept parsed: most events
/// are forwarded as they came, and a changed text is spliced into the data
/// at its string's byte range. Only a change that cannot be spliced (a
/// string with escapes) or a [`delta_only`](Self::delta_only) copy builds
/// a [`Value`].
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    api: Api,
    sse: SseEvent,
    /// The data as a tree, once a change could not be spliced; it then
    /// holds every change and is what gets forwarded.
    json: Option<Value>,
    fragments: Vec<Fragment>,
    terminal: bool,
    error: bool,
    boundary: bool,
    /// Some fragment's text changed since the event was read.
    dirty: bool,
}

/// Accumulates fragments and flags while reading one event.
struct Reader<'d> {
    /// The event's data, to locate borrowed strings in it.
    data: &'d str,
    fragments: Vec<Fragment>,
    terminal: bool,
    error: bool,
    boundary: bool,
    /// An Ollama generate line carries token ids (see [`super::ollama::CONTEXT`]).
    token_context: bool,
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
        let data = sse.data.as_deref().unwrap_or("");
        let mut r = Reader {
            data,
            fragments: Vec::new(),
            terminal: false,
            error: false,
            boundary: false,
            token_context: false,
        };
        // Only JSON's own whitespace is trimmed: `str::trim` also strips
        // Unicode spaces (vertical tab, U+2028, ...), which made the proxy
        // read data that no client's JSON parser accepts (found by fuzzing).
        match trim_json_ws(data) {
            "" => {}
            "[DONE]" => {
                r.terminal = true;
                r.boundary = true;
            }
            trimmed => {
                let v = node::parse_str(trimmed).map_err(|e| StreamError::InvalidJson {
                    line: e.line(),
                    column: e.column(),
                })?;
                match api {
                    Api::OpenAiChat => r.chat(&v),
                    Api::OpenAiCompletions => r.completions(&v),
                    Api::OpenAiResponses | Api::OpenAiResponsesInputTokens => r.responses(&v),
                    Api::AnthropicMessages | Api::AnthropicCountTokens => r.anthropic(&v),
                    Api::OllamaChat | Api::OllamaGenerate => r.ollama(api, &v),
                }
            }
        }
        let Reader {
            fragments,
            terminal,
            error,
            boundary,
            token_context,
            ..
        } = r;
        let mut ev = StreamEvent {
            api,
            sse,
            json: None,
            fragments,
            terminal,
            error,
            boundary,
            dirty: false,
        };
        if token_context {
            // Forwarded without the ids: from here on the event goes
            // through its tree, which every later change edits.
            if let Some(Value::Object(o)) = ev.tree() {
                o.remove(super::ollama::CONTEXT);
            }
            ev.dirty = true;
        }
        Ok(ev)
    }

    /// An Anthropic thinking block's signature in this event, with the
    /// block's index: a `signature_delta`, or a `content_block_start` that
    /// carries one. Signatures are not text to scan; the proxy only needs
    /// them to put a changed thinking block back (`stack::thinking`).
    pub fn anthropic_signature(&self) -> Option<(u32, String)> {
        if self.api != Api::AnthropicMessages {
            return None;
        }
        let data = self.sse.data.as_deref()?;
        if !data.contains("\"signature") {
            return None;
        }
        let v: Value = serde_json::from_str(data).ok()?;
        let index = v
            .get("index")
            .and_then(Value::as_u64)
            .and_then(|i| u32::try_from(i).ok())?;
        let sig = match v.get("type").and_then(Value::as_str)? {
            "content_block_delta" => v
                .get("delta")
                .filter(|d| d.get("type").and_then(Value::as_str) == Some("signature_delta"))?,
            "content_block_start" => v.get("content_block")?,
            _ => return None,
        }
        .get("signature")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())?;
        Some((index, sig.to_owned()))
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

    /// The `data` as it would be forwarded now (with any changed texts),
    /// parsed, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        if let Some(v) = &self.json {
            return Some(v.clone());
        }
        serde_json::from_str(trim_json_ws(&self.current_data()?)).ok()
    }

    /// Replaces the text of fragment `index`.
    ///
    /// # Errors
    /// [`StreamError::NoSuchFragment`] for an index past the fragments.
    pub fn set_text(&mut self, index: usize, text: &str) -> Result<(), StreamError> {
        let fragment = self
            .fragments
            .get(index)
            .ok_or(StreamError::NoSuchFragment { index })?;
        if fragment.text == text {
            return Ok(());
        }
        let new_value = if fragment.value {
            Some(
                serde_json::from_str::<Value>(text)
                    .map_err(|_| StreamError::InvalidArguments { index })?,
            )
        } else {
            None
        };
        // Spliced when the string sits verbatim in the data and no other
        // changed fragment claims the same bytes; otherwise through a tree.
        let splice = self.json.is_none()
            && fragment.raw.is_some_and(|raw| {
                !self
                    .fragments
                    .iter()
                    .enumerate()
                    .any(|(j, f)| j != index && f.changed && f.raw == Some(raw))
            });
        if !splice {
            let path = fragment.path.clone();
            let target = self
                .tree()
                .and_then(|v| path.get_mut(v))
                .ok_or(StreamError::NoSuchFragment { index })?;
            *target = new_value.unwrap_or_else(|| Value::String(text.to_owned()));
        }
        let fragment = self
            .fragments
            .get_mut(index)
            .ok_or(StreamError::NoSuchFragment { index })?;
        fragment.text = text.to_owned();
        fragment.changed = true;
        self.dirty = true;
        Ok(())
    }

    /// The data as a tree holding every change so far, built on first use.
    fn tree(&mut self) -> Option<&mut Value> {
        if self.json.is_none() {
            self.json = Some(self.json()?);
        }
        self.json.as_mut()
    }

    /// The data with every changed text spliced in (`None` without data).
    ///
    /// Ranges come from the parse and sit on the quote bytes of distinct
    /// string tokens, so they are in bounds, on character boundaries and
    /// disjoint; `set_text` goes through the tree for anything else.
    fn current_data(&self) -> Option<Cow<'_, str>> {
        let data = self.sse.data.as_deref()?;
        if !self.dirty {
            return Some(Cow::Borrowed(data));
        }
        let mut edits: Vec<(usize, usize, &str)> = self
            .fragments
            .iter()
            .filter(|f| f.changed)
            .filter_map(|f| f.raw.map(|(s, e)| (s, e, f.text.as_str())))
            .collect();
        edits.sort_unstable_by_key(|e| e.0);
        let mut out = String::with_capacity(data.len().saturating_add(64));
        let mut at = 0;
        for (start, end, text) in edits {
            out.push_str(data.get(at..start)?);
            out.push_str(&Value::from(text).to_string());
            at = end;
        }
        out.push_str(data.get(at..)?);
        Some(Cow::Owned(out))
    }

    /// A new event carrying only fragment `index`'s key with `text`, for
    /// releasing held-back text before a boundary. It keeps the event's ids
    /// (chat `id`, `model`; responses `item_id`) and drops what would repeat
    /// (`finish_reason`, `usage`, other choices). `None` for snapshots and
    /// bad indices.
    pub fn delta_only(&self, index: usize, text: &str) -> Option<SseEvent> {
        let fragment = self.fragments.get(index)?;
        let mut v = self.json()?;
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
            Origin::ChatReasoningDetail { pos, j, field } => {
                // The entry as sent (type, index, format), with the text.
                let mut entry = v
                    .pointer(&format!("/choices/{pos}/delta/reasoning_details/{j}"))?
                    .clone();
                let e = entry.as_object_mut()?;
                e.retain(|k, _| !matches!(k.as_str(), "text" | "summary" | "data" | "signature"));
                e.insert(field.to_owned(), json!(text));
                only_choice(
                    &mut v,
                    pos,
                    Some(json!({"reasoning_details": [entry]})),
                    None,
                )?;
            }
            Origin::Completion { pos } => only_choice(&mut v, pos, None, Some(text))?,
            Origin::Ollama { field } => {
                let o = v.as_object_mut()?;
                // The line's ids (`model`, `created_at`) without what
                // belongs to the last line only.
                o.retain(|k, _| {
                    !matches!(k.as_str(), "message" | "response" | "thinking")
                        && !k.ends_with("_duration")
                        && !k.ends_with("_count")
                        && !matches!(k.as_str(), "done_reason" | "context" | "logprobs")
                });
                o.insert("done".to_owned(), Value::Bool(false));
                if self.api == Api::OllamaChat {
                    o.insert(
                        "message".to_owned(),
                        json!({"role": "assistant", field: text}),
                    );
                } else {
                    o.insert("response".to_owned(), json!(""));
                    o.insert(field.to_owned(), json!(text));
                }
            }
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
    pub fn into_sse(mut self) -> SseEvent {
        if self.dirty {
            let data = self.rendered();
            self.sse.data = data;
        }
        self.sse
    }

    /// The surface this event was read as.
    pub fn api(&self) -> Api {
        self.api
    }

    fn refresh(&self, sse: &mut SseEvent) {
        if self.dirty {
            sse.data = self.rendered();
        }
    }

    /// The changed data: the tree when there is one, else the splice.
    fn rendered(&self) -> Option<String> {
        match &self.json {
            Some(v) => Some(v.to_string()),
            None => self.current_data().map(Cow::into_owned),
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

fn u32_field(v: &Node<'_>, key: &str, default: usize) -> u32 {
    v.get(key)
        .and_then(Node::as_u64)
        .or(u64::try_from(default).ok())
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(u32::MAX)
}

/// The byte range of the JSON string token (both quotes included) whose
/// contents are `s`, a slice the parser borrowed from `data`; `None` if `s`
/// does not lie in `data` between two quotes.
fn token_range(data: &str, s: &str) -> Option<(usize, usize)> {
    let base = data.as_ptr() as usize;
    let start = (s.as_ptr() as usize).checked_sub(base)?;
    let end = start.checked_add(s.len())?;
    let open = start.checked_sub(1)?;
    let bytes = data.as_bytes();
    (bytes.get(open) == Some(&b'"') && bytes.get(end) == Some(&b'"'))
        .then_some((open, end.checked_add(1)?))
}

/// Trims the whitespace JSON allows around a value (RFC 8259 `ws`).
fn trim_json_ws(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\n', '\r'])
}

// === impl Reader ===

impl Reader<'_> {
    fn push(&mut self, key: DeltaKey, v: &Node<'_>, p: &Path<'_>, origin: Origin) {
        if let Some(found) = p.get(v) {
            self.push_found(key, found, p, origin);
        }
    }

    /// [`Self::push`] for `field` of `parent`, the value at `at`: one lookup
    /// in the parent instead of a walk from the event's root for each of the
    /// optional fields of a chat delta (most are absent in any one event).
    fn push_field(
        &mut self,
        key: DeltaKey,
        parent: Option<&Node<'_>>,
        at: &Path<'_>,
        field: &'static str,
        origin: Origin,
    ) {
        if let Some(found) = parent.and_then(|n| n.get(field)) {
            self.push_found(key, found, &at.key(field), origin);
        }
    }

    /// Records `found`, the value at `p`, when it is a string.
    fn push_found(&mut self, key: DeltaKey, found: &Node<'_>, p: &Path<'_>, origin: Origin) {
        let Node::String(text) = found else {
            return;
        };
        let raw = match text {
            Cow::Borrowed(s) => token_range(self.data, s),
            Cow::Owned(_) => None,
        };
        self.fragments.push(Fragment {
            key,
            text: text.as_ref().to_owned(),
            snapshot: origin == Origin::Snapshot,
            path: p.owned(),
            origin,
            raw,
            changed: false,
            value: false,
        });
    }

    /// A JSON value (not a string) as one whole fragment: Ollama tool-call
    /// `arguments`, scanned as their compact text.
    fn push_value(&mut self, key: DeltaKey, v: &Node<'_>, p: &Path<'_>) {
        let Some(value) = p.get(v) else {
            return;
        };
        if let Node::String(_) = value {
            // The OpenAI form, a JSON string: an ordinary snapshot.
            self.push(key, v, p, Origin::Snapshot);
            return;
        }
        self.fragments.push(Fragment {
            key,
            text: value.to_value().to_string(),
            snapshot: true,
            path: p.owned(),
            origin: Origin::Snapshot,
            raw: None,
            changed: false,
            value: true,
        });
    }

    fn chat(&mut self, v: &Node<'_>) {
        if v.get("error").is_some_and(|e| !e.is_null()) {
            self.error = true;
            self.boundary = true;
        }
        let Some(choices) = v.get("choices").and_then(Node::as_array) else {
            return;
        };
        let root = Path::root();
        let cp = root.key("choices");
        for (pos, choice) in choices.iter().enumerate() {
            let index = u32_field(choice, "index", pos);
            let choice_p = cp.index(pos);
            let dp = choice_p.key("delta");
            let delta = choice.get("delta");
            let key = |sub, kind| DeltaKey { index, sub, kind };
            // Each reasoning field is a stream of its own: a server may send
            // the same text under two names (`reasoning` and the older
            // `reasoning_content`, or OpenRouter's `reasoning_details`), and
            // one channel would read it twice and release it shuffled.
            for (field, sub, kind) in [
                ("content", 0, DeltaKind::Text),
                ("refusal", 0, DeltaKind::Refusal),
                ("reasoning_content", 0, DeltaKind::Reasoning),
                ("reasoning", 1, DeltaKind::Reasoning),
            ] {
                self.push_field(
                    key(sub, kind),
                    delta,
                    &dp,
                    field,
                    Origin::ChatDelta { pos, field },
                );
            }
            if let Some(details) = delta
                .and_then(|d| d.get("reasoning_details"))
                .and_then(Node::as_array)
            {
                let rp = dp.key("reasoning_details");
                for (j, d) in details.iter().enumerate() {
                    let di = u32_field(d, "index", j);
                    for (fi, field) in [(0u32, "text"), (1, "summary")] {
                        let sub = di.saturating_mul(2).saturating_add(fi).saturating_add(2);
                        self.push(
                            key(sub, DeltaKind::Reasoning),
                            v,
                            &rp.index(j).key(field),
                            Origin::ChatReasoningDetail { pos, j, field },
                        );
                    }
                }
            }
            if let Some(calls) = delta
                .and_then(|d| d.get("tool_calls"))
                .and_then(Node::as_array)
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
            let fp = dp.key("function_call");
            self.push_field(
                key(0, DeltaKind::ToolArguments),
                delta.and_then(|d| d.get("function_call")),
                &fp,
                "arguments",
                Origin::ChatFunctionCall { pos },
            );
            // Web search citations (page titles), whole, usually in the
            // last chunk: scanned as a whole answer's `annotations` are.
            if delta.is_some_and(|d| d.get("annotations").is_some()) {
                self.tool_output_snapshots(index, v, &dp.key("annotations"));
            }
            if choice.get("finish_reason").is_some_and(|f| !f.is_null()) {
                self.boundary = true;
            }
        }
    }

    fn completions(&mut self, v: &Node<'_>) {
        if v.get("error").is_some_and(|e| !e.is_null()) {
            self.error = true;
            self.boundary = true;
        }
        let Some(choices) = v.get("choices").and_then(Node::as_array) else {
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

    fn responses(&mut self, v: &Node<'_>) {
        let Some(ty) = v.get("type").and_then(Node::as_str) else {
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
        let raw_reasoning = key(
            REASONING_TEXT_SUB.saturating_add(content_index),
            DeltaKind::Reasoning,
        );
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
            "response.function_call_arguments.delta"
            | "response.custom_tool_call_input.delta"
            | "response.mcp_call_arguments.delta"
            | "response.code_interpreter_call_code.delta" => self.push(
                key(0, DeltaKind::ToolArguments),
                v,
                &root.key("delta"),
                Origin::Whole,
            ),
            "response.reasoning_summary_text.delta" => self.push(
                key(summary_index, DeltaKind::Reasoning),
                v,
                &root.key("delta"),
                Origin::Whole,
            ),
            "response.reasoning_text.delta" => {
                self.push(raw_reasoning, v, &root.key("delta"), Origin::Whole);
            }
            "response.reasoning_text.done" => {
                self.boundary = true;
                self.push(raw_reasoning, v, &root.key("text"), Origin::Snapshot);
            }
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
            "response.function_call_arguments.done" | "response.mcp_call_arguments.done" => {
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
            "response.code_interpreter_call_code.done" => {
                self.boundary = true;
                self.push(
                    key(0, DeltaKind::ToolArguments),
                    v,
                    &root.key("code"),
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
            "response.output_text.annotation.added" => {
                self.tool_output_snapshots(output_index, v, &root.key("annotation"));
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
                    .get("response")
                    .and_then(|r| r.get("output"))
                    .and_then(Node::as_array)
                    .unwrap_or(&[]);
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
    fn item_snapshots(&mut self, item: &Node<'_>, index: u32, v: &Node<'_>, p: &Path<'_>) {
        match item.get("type").and_then(Node::as_str) {
            Some("message") => {
                let parts = item.get("content").and_then(Node::as_array).unwrap_or(&[]);
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
            // Built-in tools the client runs: the command lines, typed text
            // or patch the model asks for, each string a channel of its own
            // (they come whole, in `output_item.*` and `response.completed`).
            Some("local_shell_call" | "shell_call" | "computer_call" | "apply_patch_call") => {
                let key = |sub| DeltaKey {
                    index,
                    sub,
                    kind: DeltaKind::ToolArguments,
                };
                let ap = p.key("action");
                for list in ["command", "commands"] {
                    let lp = ap.key(list);
                    let n = lp.get(v).and_then(Node::as_array).map_or(0, <[_]>::len);
                    for j in 0..n {
                        let sub = u32::try_from(j).unwrap_or(u32::MAX);
                        self.push(key(sub), v, &lp.index(j), Origin::Snapshot);
                    }
                }
                self.push(key(BUILT_IN_TEXT_SUB), v, &ap.key("text"), Origin::Snapshot);
                let op = p.key("operation");
                self.push(key(BUILT_IN_TEXT_SUB), v, &op.key("diff"), Origin::Snapshot);
            }
            Some("mcp_call") => {
                let key = DeltaKey {
                    index,
                    sub: 0,
                    kind: DeltaKind::ToolArguments,
                };
                self.push(key, v, &p.key("arguments"), Origin::Snapshot);
                self.tool_results(index, v, &[p.key("output"), p.key("error")]);
            }
            Some("code_interpreter_call") => {
                let key = DeltaKey {
                    index,
                    sub: 0,
                    kind: DeltaKind::ToolArguments,
                };
                self.push(key, v, &p.key("code"), Origin::Snapshot);
                let op = p.key("outputs");
                let n = op.get(v).and_then(Node::as_array).map_or(0, <[_]>::len);
                let logs: Vec<Path<'_>> = (0..n).map(|j| op.index(j)).collect();
                let logs: Vec<Path<'_>> = logs.iter().map(|o| o.key("logs")).collect();
                self.tool_results(index, v, &logs);
            }
            Some("file_search_call") => {
                let rp = p.key("results");
                let n = rp.get(v).and_then(Node::as_array).map_or(0, <[_]>::len);
                let results: Vec<Path<'_>> = (0..n).map(|j| rp.index(j)).collect();
                let texts: Vec<Path<'_>> = results.iter().map(|r| r.key("text")).collect();
                self.tool_results(index, v, &texts);
            }
            Some("reasoning") => {
                let parts = item.get("summary").and_then(Node::as_array).unwrap_or(&[]);
                for j in 0..parts.len() {
                    let key = DeltaKey {
                        index,
                        sub: u32::try_from(j).unwrap_or(u32::MAX),
                        kind: DeltaKind::Reasoning,
                    };
                    let summary = p.key("summary");
                    self.push(key, v, &summary.index(j).key("text"), Origin::Snapshot);
                }
                let parts = item.get("content").and_then(Node::as_array).unwrap_or(&[]);
                for (j, part) in parts.iter().enumerate() {
                    let sub = u32::try_from(j).unwrap_or(u32::MAX);
                    self.content_snapshot(part, index, sub, v, &p.key("content").index(j));
                }
            }
            _ => {}
        }
    }

    /// A whole tool result in one event: each text at `paths` (below `p`)
    /// that is present, as an untrusted snapshot of its own channel.
    fn tool_results(&mut self, index: u32, v: &Node<'_>, paths: &[Path<'_>]) {
        let mut sub = 0u32;
        for path in paths {
            if matches!(path.get(v), Some(Node::String(s)) if !s.is_empty()) {
                let key = DeltaKey {
                    index,
                    sub,
                    kind: DeltaKind::ToolResult,
                };
                self.push(key, v, path, Origin::Snapshot);
                sub = sub.saturating_add(1);
            }
        }
    }

    /// Third-party texts that arrive whole (`p` is their container): an
    /// Anthropic server tool result block's `content`, OpenAI citation
    /// `annotations`. Every string, field by field, as a whole response
    /// reads it ([`super::json::Builder::tool_output_texts`], the same
    /// fields left out), so that a result type newer than this proxy is
    /// scanned too, not only the documented shapes.
    fn tool_output_snapshots(&mut self, index: u32, v: &Node<'_>, p: &Path<'_>) {
        let Some(content) = p.get(v) else {
            return;
        };
        let mut pointer = p.pointer();
        let mut sub = 0u32;
        let data = self.data;
        let fragments = &mut self.fragments;
        super::json::walk_tool_output(content, &mut pointer, &mut |leaf| {
            let OutputLeaf::Text(text, at) = leaf else {
                return;
            };
            let raw = match text {
                Cow::Borrowed(s) => token_range(data, s),
                Cow::Owned(_) => None,
            };
            fragments.push(Fragment {
                key: DeltaKey {
                    index,
                    sub,
                    kind: DeltaKind::ToolResult,
                },
                text: text.as_ref().to_owned(),
                snapshot: true,
                path: OwnedPath::Pointer(at.to_owned()),
                origin: Origin::Snapshot,
                raw,
                changed: false,
                value: false,
            });
            sub = sub.saturating_add(1);
        });
    }

    fn content_snapshot(
        &mut self,
        part: &Node<'_>,
        index: u32,
        sub: u32,
        v: &Node<'_>,
        p: &Path<'_>,
    ) {
        let (kind, field, sub) = match part.get("type").and_then(Node::as_str) {
            Some("output_text") => (DeltaKind::Text, "text", sub),
            Some("refusal") => (DeltaKind::Refusal, "refusal", sub),
            Some("reasoning_text") => (
                DeltaKind::Reasoning,
                "text",
                REASONING_TEXT_SUB.saturating_add(sub),
            ),
            _ => return,
        };
        let key = DeltaKey { index, sub, kind };
        self.push(key, v, &p.key(field), Origin::Snapshot);
        if kind == DeltaKind::Text {
            self.tool_output_snapshots(index, v, &p.key("annotations"));
        }
    }

    fn anthropic(&mut self, v: &Node<'_>) {
        let Some(ty) = v.get("type").and_then(Node::as_str) else {
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
                match v
                    .get("content_block")
                    .and_then(|b| b.get("type"))
                    .and_then(Node::as_str)
                {
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
                    Some(ty) if ty.ends_with("_tool_result") => {
                        self.tool_output_snapshots(index, v, &bp.key("content"));
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let dp = root.key("delta");
                let (kind, field) = match v
                    .get("delta")
                    .and_then(|d| d.get("type"))
                    .and_then(Node::as_str)
                {
                    Some("text_delta") => (DeltaKind::Text, "text"),
                    Some("input_json_delta") => (DeltaKind::ToolArguments, "partial_json"),
                    Some("thinking_delta") => (DeltaKind::Reasoning, "thinking"),
                    Some("citations_delta") => {
                        // One whole citation: the quoted document text.
                        let cp = dp.key("citation");
                        let paths = [
                            cp.key("cited_text"),
                            cp.key("document_title"),
                            cp.key("title"),
                        ];
                        self.tool_results(index, v, &paths);
                        return;
                    }
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

    /// One line of an Ollama stream: `message.{content,thinking}` (chat) or
    /// `{response,thinking}` (generate) extend their text; tool calls come
    /// whole in one line; `done: true` ends the answer, and a line with
    /// `error` ends the stream with the upstream's error.
    fn ollama(&mut self, api: Api, v: &Node<'_>) {
        if v.get("error").is_some_and(|e| !e.is_null()) {
            self.error = true;
            self.terminal = true;
            self.boundary = true;
            return;
        }
        let root = Path::root();
        let key = |sub, kind| DeltaKey {
            index: 0,
            sub,
            kind,
        };
        let message = root.key("message");
        let base = if api == Api::OllamaChat {
            &message
        } else {
            &root
        };
        for (field, kind) in [
            (
                if api == Api::OllamaChat {
                    "content"
                } else {
                    "response"
                },
                DeltaKind::Text,
            ),
            ("thinking", DeltaKind::Reasoning),
        ] {
            self.push(key(0, kind), v, &base.key(field), Origin::Ollama { field });
        }
        if let Some(calls) = v
            .get("message")
            .and_then(|m| m.get("tool_calls"))
            .and_then(Node::as_array)
        {
            let tp = message.key("tool_calls");
            for (j, call) in calls.iter().enumerate() {
                let f = call.get("function");
                let sub = f.map_or(u32::try_from(j).unwrap_or(u32::MAX), |f| {
                    u32_field(f, "index", j)
                });
                self.push_value(
                    key(sub, DeltaKind::ToolArguments),
                    v,
                    &tp.index(j).key("function").key("arguments"),
                );
            }
        }
        if api == Api::OllamaGenerate && v.get(super::ollama::CONTEXT).is_some() {
            self.token_context = true;
        }
        if v.get("done").and_then(Node::as_bool) == Some(true) {
            self.terminal = true;
            self.boundary = true;
        }
    }
}
