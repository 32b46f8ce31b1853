//! Wire formats: OpenAI, Anthropic and Ollama request/response bodies ⇄ [`Conversation`].
//!
//! Guards never see JSON. This module turns a request body (and later the
//! upstream's response) into the shared [`Conversation`] model, remembering
//! for every text where in the JSON it came from (a [`LocationMap`]), so that a
//! redacted conversation can be written back into the same body. Everything
//! here is pure and synchronous: no I/O, no hyper types.
//!
//! Supported surfaces ([`Api`]): OpenAI chat completions, legacy completions,
//! responses, Anthropic messages, and Ollama's native chat and generate.
//! Content that reaches the model from a
//! third party (tool results, documents, tool descriptions) is decoded into
//! the parts that [`Conversation::segments`] marks untrusted, because indirect
//! prompt injection arrives through it.
//!
//! Bodies are parsed strictly: invalid UTF-8, nesting deeper than
//! [`DecodeLimits::max_depth`] and duplicate object keys are rejected before
//! any guard runs (duplicate keys because parsers disagree on which copy
//! wins, which would let a request show the guard one text and the model
//! another).
//!
//! ```
//! use menshen_proxy::api::{decode_request, Api, DecodeLimits};
//! use menshen_classifiers::Location;
//!
//! let body = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"my email is a@b.c"}]}"#;
//! let api = Api::from_path("/v1/chat/completions").unwrap();
//! let mut decoded = decode_request(api, body, &DecodeLimits::default()).unwrap();
//! assert_eq!(decoded.meta.model.as_deref(), Some("gpt-4o"));
//!
//! let mut edited = decoded.conversation.clone();
//! *edited.text_at_mut(Location::Part { message: 0, part: 0 }).unwrap() = "my email is [EMAIL]".into();
//! let changed = decoded.apply(&edited).unwrap();
//! assert_eq!(changed, 1);
//! assert_eq!(decoded.value()["messages"][0]["content"], "my email is [EMAIL]");
//! ```

mod anthropic;
mod error;
mod json;
mod node;
mod ollama;
mod openai;
mod stream;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_ollama;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use bytes::Bytes;

use menshen_classifiers::{Conversation, Location, Part};
use serde_json::Value;

pub use error::{error_body, error_type, stream_error_events};
pub use stream::{DeltaKey, DeltaKind, Fragment, StreamError, StreamEvent};

/// The API surfaces the proxy understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// OpenAI `POST /v1/chat/completions`.
    OpenAiChat,
    /// OpenAI `POST /v1/completions` (legacy text completions).
    OpenAiCompletions,
    /// OpenAI `POST /v1/responses`.
    OpenAiResponses,
    /// OpenAI `POST /v1/responses/input_tokens`: a Responses request whose
    /// answer is a token count; guarded like
    /// [`AnthropicCountTokens`](Api::AnthropicCountTokens).
    OpenAiResponsesInputTokens,
    /// Anthropic `POST /v1/messages`.
    AnthropicMessages,
    /// Anthropic `POST /v1/messages/count_tokens`: a Messages request whose
    /// answer is a token count. Scanned (and redacted) like a message, since
    /// the prompt still goes to the provider; Claude Code sends one every
    /// turn. Its answer carries no text.
    AnthropicCountTokens,
    /// Ollama `POST /api/chat` (its native API; streams newline-delimited
    /// JSON, by default).
    OllamaChat,
    /// Ollama `POST /api/generate` (a raw prompt; streams like
    /// [`OllamaChat`](Api::OllamaChat)).
    OllamaGenerate,
}

/// Limits applied while decoding a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    max_depth: usize,
}

/// What a request says about itself besides its conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// `model`.
    pub model: Option<String>,
    /// `stream: true` was requested.
    pub stream: bool,
    /// End-user id: OpenAI `user` (or `safety_identifier`), Anthropic `metadata.user_id`.
    pub user: Option<String>,
    /// Output token cap: `max_completion_tokens`/`max_tokens`, `max_output_tokens`.
    pub max_tokens: Option<u64>,
    /// The request asks for log probabilities (`logprobs`, `top_logprobs`,
    /// or Responses `include: ["message.output_text.logprobs"]`): their
    /// tokens spell out the answer a second time, where no guard reads it.
    pub logprobs: bool,
    /// The request asks for a spoken answer (chat `modalities` with
    /// `"audio"`): audio no guard can read.
    pub audio_output: bool,
}

/// Where a text lives in the body, as an RFC 6901 JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// The pointer names a JSON string holding exactly the text.
    Str(String),
    /// The pointer names a JSON value whose compact serialisation is the text
    /// (Anthropic `tool_use.input`); writing back parses the new text.
    Json(String),
}

/// For every text in a decoded [`Conversation`], the [`Slot`] it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocationMap(BTreeMap<Location, Slot>);

/// A decoded body: the original bytes, the conversation read from it, and
/// the map between the two.
///
/// The body is decoded without building a [`Value`]; the value tree is
/// parsed only when something asks for it ([`value`](Self::value), an edit
/// or a re-encode), which on the request path means only when a redaction
/// changed a text.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The surface it was decoded as.
    pub api: Api,
    /// The body as received.
    body: Bytes,
    /// The body as a [`Value`], once asked for; [`apply`](Self::apply)
    /// edits it in place.
    value: OnceLock<Value>,
    /// What guards scan.
    pub conversation: Conversation,
    /// Where each text of `conversation` sits in `value`.
    pub locations: LocationMap,
    /// Model, stream flag, user, token cap (for responses only `model` is set).
    pub meta: Meta,
}

/// Why a body could not be decoded. Each case maps to a stable reason code
/// ([`code`](Self::code)) for the API error body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not UTF-8 (JSON must be).
    #[error("body is not valid UTF-8 (first invalid byte at offset {valid_up_to})")]
    InvalidUtf8 {
        /// Length of the valid prefix, in bytes.
        valid_up_to: usize,
    },
    /// The body is not JSON.
    #[error("invalid JSON at line {line}, column {column}: {reason}")]
    InvalidJson {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser expected.
        reason: String,
    },
    /// An object repeats a key.
    #[error("duplicate key `{key}` at line {line}, column {column}")]
    DuplicateKey {
        /// The repeated key.
        key: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// Arrays and objects nest deeper than the configured limit.
    #[error("JSON nesting deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// A value has the wrong type.
    #[error("`{path}` must be {expected}")]
    WrongShape {
        /// Path of the value, e.g. `messages[2].content`.
        path: String,
        /// What it should have been.
        expected: &'static str,
    },
    /// A required field is absent (or `null`).
    #[error("missing required field `{path}`")]
    MissingField {
        /// Path of the field, e.g. `messages[0].role`.
        path: String,
    },
}

/// Why an edited conversation could not be written back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The edited conversation lacks a text the original had: only texts may
    /// change, not the shape.
    #[error("edited conversation has no text at {location:?}")]
    ShapeChanged {
        /// The missing location.
        location: Location,
    },
    /// The body no longer has the value a slot points at.
    #[error("body has no value at `{pointer}`")]
    MissingTarget {
        /// The JSON pointer.
        pointer: String,
    },
    /// Edited tool-call arguments that must be a JSON object are not valid JSON
    /// (a redaction cut through JSON syntax). Fail closed rather than forward
    /// something else.
    #[error("edited tool arguments at {location:?} are not valid JSON")]
    InvalidToolArguments {
        /// Where the tool call is.
        location: Location,
    },
}

/// The deepest nesting [`DecodeLimits`] accepts: serde_json refuses a 128th
/// level itself, with a less precise error than [`DecodeError::TooDeep`].
pub const MAX_DEPTH_CEILING: usize = 127;

/// Default nesting limit: far above real requests (JSON-schema tool
/// parameters reach ~20), far below anything that costs memory.
pub const DEFAULT_MAX_DEPTH: usize = 64;

// === impl Api ===

impl Api {
    /// All surfaces.
    pub const ALL: [Api; 8] = [
        Api::OpenAiChat,
        Api::OpenAiCompletions,
        Api::OpenAiResponses,
        Api::OpenAiResponsesInputTokens,
        Api::AnthropicMessages,
        Api::AnthropicCountTokens,
        Api::OllamaChat,
        Api::OllamaGenerate,
    ];

    /// The surface served at a request path (no query string); a trailing
    /// slash is tolerated. `None` for paths that are not guarded surfaces.
    ///
    /// Read from the path's end, because the same wire formats are served
    /// under many bases: `/v1` (OpenAI, vLLM, llama.cpp, Ollama), none
    /// (clients whose base URL lacks `/v1`), Azure OpenAI's
    /// `/openai/deployments/{name}`, OpenRouter's `/api/v1`, Groq's
    /// `/openai/v1`, DashScope's `/compatible-mode/v1`, Zhipu's
    /// `/api/paas/v4`, Volcengine's `/api/v3`, and the Anthropic-compatible
    /// `/anthropic/v1/messages` of DeepSeek and Moonshot. Messages must end
    /// in `/v1/messages`, so that the Assistants API's
    /// `/v1/threads/{id}/messages` is not read as Anthropic's. Ollama's
    /// native API is `/api/chat` and `/api/generate` (OpenRouter's
    /// `/api/v1/chat/completions` is OpenAI chat: it ends in that).
    pub fn from_path(path: &str) -> Option<Api> {
        let path = path.strip_suffix('/').unwrap_or(path);
        if path.ends_with("/chat/completions") {
            Some(Api::OpenAiChat)
        } else if path.ends_with("/completions") {
            Some(Api::OpenAiCompletions)
        } else if path.ends_with("/responses") {
            Some(Api::OpenAiResponses)
        } else if path.ends_with("/responses/input_tokens") {
            Some(Api::OpenAiResponsesInputTokens)
        } else if path.ends_with("/v1/messages") {
            Some(Api::AnthropicMessages)
        } else if path.ends_with("/v1/messages/count_tokens") {
            Some(Api::AnthropicCountTokens)
        } else if path.ends_with("/api/chat") {
            Some(Api::OllamaChat)
        } else if path.ends_with("/api/generate") {
            Some(Api::OllamaGenerate)
        } else {
            None
        }
    }

    /// Stable name for logs, metrics and audit records.
    pub const fn as_str(self) -> &'static str {
        match self {
            Api::OpenAiChat => "openai.chat",
            Api::OpenAiCompletions => "openai.completions",
            Api::OpenAiResponses => "openai.responses",
            Api::OpenAiResponsesInputTokens => "openai.responses.input_tokens",
            Api::AnthropicMessages => "anthropic.messages",
            Api::AnthropicCountTokens => "anthropic.count_tokens",
            Api::OllamaChat => "ollama.chat",
            Api::OllamaGenerate => "ollama.generate",
        }
    }

    /// Whether the surface speaks the Anthropic wire format.
    pub const fn is_anthropic(self) -> bool {
        matches!(self, Api::AnthropicMessages | Api::AnthropicCountTokens)
    }

    /// Whether the surface is Ollama's native API, whose streams are
    /// newline-delimited JSON rather than Server-Sent Events.
    pub const fn is_ollama(self) -> bool {
        matches!(self, Api::OllamaChat | Api::OllamaGenerate)
    }
}

impl std::fmt::Display for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl DecodeLimits ===

impl DecodeLimits {
    /// Limits with nesting capped at `max_depth`, clamped to
    /// `1..=`[`MAX_DEPTH_CEILING`].
    pub const fn new(max_depth: usize) -> Self {
        let max_depth = if max_depth == 0 {
            1
        } else if max_depth > MAX_DEPTH_CEILING {
            MAX_DEPTH_CEILING
        } else {
            max_depth
        };
        DecodeLimits { max_depth }
    }

    /// The nesting limit in effect (the top-level value is depth 1).
    pub const fn max_depth(&self) -> usize {
        self.max_depth
    }
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits::new(DEFAULT_MAX_DEPTH)
    }
}

// === impl DecodeError ===

impl DecodeError {
    /// Stable snake_case reason code for error bodies and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::InvalidUtf8 { .. } => "invalid_utf8",
            DecodeError::InvalidJson { .. } => "invalid_json",
            DecodeError::DuplicateKey { .. } => "duplicate_key",
            DecodeError::TooDeep { .. } => "json_too_deep",
            DecodeError::WrongShape { .. } => "invalid_request_shape",
            DecodeError::MissingField { .. } => "missing_required_field",
        }
    }

    /// The JSON path at fault, for errors that have one (OpenAI's `param`).
    pub fn path(&self) -> Option<&str> {
        match self {
            DecodeError::WrongShape { path, .. } | DecodeError::MissingField { path } => Some(path),
            _ => None,
        }
    }
}

// === impl LocationMap ===

impl LocationMap {
    /// The slot of the text at `location`.
    pub fn get(&self, location: &Location) -> Option<&Slot> {
        self.0.get(location)
    }

    /// All entries, in location order.
    pub fn iter(&self) -> impl Iterator<Item = (&Location, &Slot)> + '_ {
        self.0.iter()
    }

    /// Number of mapped texts.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no text is mapped.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

// === impl Decoded ===

impl PartialEq for Decoded {
    fn eq(&self, other: &Self) -> bool {
        self.api == other.api
            && self.conversation == other.conversation
            && self.locations == other.locations
            && self.meta == other.meta
            && self.value() == other.value()
    }
}

/// The [`Value`] of a body that already passed the strict parse. serde_json
/// accepts everything the strict parse does, so the fallback never happens;
/// were it to, `null` has no slot to write to and every edit fails closed.
fn materialise(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

impl Decoded {
    fn new(api: Api, body: Bytes, value: OnceLock<Value>, b: json::Builder, meta: Meta) -> Self {
        let (conversation, locations) = b.finish();
        Decoded {
            api,
            body,
            value,
            conversation,
            locations,
            meta,
        }
    }

    /// The body as bytes, exactly as received (whatever
    /// [`apply`](Self::apply) did since); for [`decode_request_value`], the
    /// value's compact rendering.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The parsed body (parsed on first use), with every
    /// [`apply`](Self::apply) so far.
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| materialise(&self.body))
    }

    /// The parsed body, for editing in place (e.g. [`set_model`]).
    pub fn value_mut(&mut self) -> &mut Value {
        if self.value.get().is_none() {
            let _ = self.value.set(materialise(&self.body));
        }
        self.value
            .get_mut()
            .unwrap_or_else(|| unreachable!("set above"))
    }

    /// Writes every text of `edited` that differs from [`Self::conversation`]
    /// back into [`Self::value`] and updates `conversation` to match. Returns
    /// how many texts changed; with 0 the caller should forward the original
    /// bytes untouched.
    ///
    /// `edited` must have the same shape as `conversation` (same messages,
    /// parts and tools); only texts may differ. Texts without a slot (none in
    /// practice) cannot change.
    ///
    /// # Errors
    /// [`EncodeError`] when the shape differs or edited Anthropic tool input
    /// is no longer JSON. Nothing is written unless every edit can be, so a
    /// failed call leaves `self` unchanged.
    pub fn apply(&mut self, edited: &Conversation) -> Result<usize, EncodeError> {
        self.value();
        let edits = plan(
            &self.conversation,
            &self.locations,
            self.value.get().unwrap_or(&Value::Null),
            edited,
        )?;
        let changed = edits.len();
        for edit in edits {
            let value = self.value.get_mut();
            if let Some(target) = value.and_then(|v| v.pointer_mut(edit.pointer)) {
                *target = edit.value;
            }
            if let Some(t) = self.conversation.text_at_mut(edit.location) {
                edit.text.clone_into(t);
            }
        }
        Ok(changed)
    }

    /// The body as bytes (after any [`apply`](Self::apply)). Object keys come
    /// out in serde_json's map order, so only use this when something changed.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.value().to_string().into_bytes()
    }

    /// Convenience for the request path: applies `edited` to a copy and
    /// returns the new body, or `None` when no text changed (forward the
    /// original bytes then).
    ///
    /// # Errors
    /// As for [`apply`](Self::apply).
    pub fn reencode(&self, edited: &Conversation) -> Result<Option<Vec<u8>>, EncodeError> {
        // No text changed (and none is missing): nothing to check against
        // the tree, so do not build one.
        if !changed_any(&self.conversation, &self.locations, edited) {
            return Ok(None);
        }
        let mut value = match self.value.get() {
            Some(v) => v.clone(),
            None => materialise(&self.body),
        };
        let edits = plan(&self.conversation, &self.locations, &value, edited)?;
        if edits.is_empty() {
            return Ok(None);
        }
        for edit in edits {
            if let Some(target) = value.pointer_mut(edit.pointer) {
                *target = edit.value;
            }
        }
        Ok(Some(value.to_string().into_bytes()))
    }
}

/// The writes that would make `value` carry `edited`'s texts, checked
/// up front so that a failure writes nothing.
fn plan<'e>(
    conversation: &Conversation,
    locations: &'e LocationMap,
    value: &Value,
    edited: &'e Conversation,
) -> Result<Vec<Edit<'e>>, EncodeError> {
    let mut edits = Vec::new();
    for (&location, slot) in locations.iter() {
        let shape_changed = EncodeError::ShapeChanged { location };
        let before = text_of(conversation, location).ok_or(shape_changed.clone())?;
        let after = text_of(edited, location).ok_or(shape_changed)?;
        if before == after {
            continue;
        }
        let (pointer, new_value) = match slot {
            Slot::Str(pointer) => (pointer, Value::String(after.to_owned())),
            Slot::Json(pointer) => {
                let parsed = serde_json::from_str(after)
                    .map_err(|_| EncodeError::InvalidToolArguments { location })?;
                (pointer, parsed)
            }
        };
        if value.pointer(pointer).is_none() {
            return Err(EncodeError::MissingTarget {
                pointer: pointer.clone(),
            });
        }
        edits.push(Edit {
            location,
            pointer,
            value: new_value,
            text: after,
        });
    }
    Ok(edits)
}

/// Whether any mapped text of `edited` differs from `conversation` (a
/// missing text counts as a difference; [`plan`] reports it).
fn changed_any(
    conversation: &Conversation,
    locations: &LocationMap,
    edited: &Conversation,
) -> bool {
    locations.iter().any(|(&location, _)| {
        match (text_of(conversation, location), text_of(edited, location)) {
            (Some(before), Some(after)) => before != after,
            _ => true,
        }
    })
}

/// One planned write of [`plan`].
struct Edit<'e> {
    location: Location,
    pointer: &'e str,
    value: Value,
    text: &'e str,
}

/// The text at `location` by direct indexing (the `segments()` scan would make
/// writing back quadratic).
fn text_of(conversation: &Conversation, location: Location) -> Option<&str> {
    match location {
        Location::Part { message, part } => {
            match conversation.messages.get(message)?.parts.get(part)? {
                Part::Text { text }
                | Part::Reasoning { text }
                | Part::ToolResult { text, .. }
                | Part::Document { text } => Some(text),
                Part::ToolCall { arguments, .. } => Some(arguments),
                Part::Image { .. } => None,
            }
        }
        Location::ToolDescription { tool } => {
            conversation.tools.get(tool).map(|t| t.description.as_str())
        }
    }
}

/// Parses a JSON body with the same checks as the decoders (UTF-8, depth,
/// duplicate keys), for bodies this module has no adapter for.
///
/// # Errors
/// [`DecodeError`] for any of those checks.
pub fn parse_json(body: &[u8], limits: &DecodeLimits) -> Result<Value, DecodeError> {
    json::parse(body, limits)
}

/// Decodes a request body for `api`.
///
/// # Errors
/// [`DecodeError`] when the body is not UTF-8 JSON within the limits, or does
/// not have the shape `api` requires.
pub fn decode_request(
    api: Api,
    body: &[u8],
    limits: &DecodeLimits,
) -> Result<Decoded, DecodeError> {
    decode_request_bytes(api, Bytes::copy_from_slice(body), limits)
}

/// [`decode_request`] for a body already in [`Bytes`] (no copy is made).
///
/// # Errors
/// As for [`decode_request`].
pub fn decode_request_bytes(
    api: Api,
    body: Bytes,
    limits: &DecodeLimits,
) -> Result<Decoded, DecodeError> {
    let tree = node::parse(&body, limits)?;
    let mut b = json::Builder::default();
    let meta = request_meta(api, &tree, &mut b)?;
    drop(tree);
    Ok(Decoded::new(api, body, OnceLock::new(), b, meta))
}

fn request_meta(
    api: Api,
    tree: &node::Node<'_>,
    b: &mut json::Builder,
) -> Result<Meta, DecodeError> {
    match api {
        Api::OpenAiChat => openai::chat_request(tree, b),
        Api::OpenAiCompletions => openai::completions_request(tree, b),
        Api::OpenAiResponses | Api::OpenAiResponsesInputTokens => {
            openai::responses_request(tree, b)
        }
        Api::AnthropicMessages | Api::AnthropicCountTokens => anthropic::request(tree, b),
        Api::OllamaChat => ollama::chat_request(tree, b),
        Api::OllamaGenerate => ollama::generate_request(tree, b),
    }
}

/// Decodes an already-parsed request body (e.g. a `{"request": {...}}` line of
/// `menshen scan --jsonl`).
///
/// # Errors
/// [`DecodeError`] when the value does not have the shape `api` requires.
pub fn decode_request_value(api: Api, value: Value) -> Result<Decoded, DecodeError> {
    // The decoders read the borrowed tree; this path (the scan CLI) is not
    // hot, so render the value once and read it back.
    let body = Bytes::from(value.to_string());
    let tree = node::parse(&body, &DecodeLimits::new(MAX_DEPTH_CEILING))?;
    let mut b = json::Builder::default();
    let meta = request_meta(api, &tree, &mut b)?;
    drop(tree);
    Ok(Decoded::new(api, body, OnceLock::from(value), b, meta))
}

/// Decodes a non-streaming response body: the model's output as assistant
/// messages (one per OpenAI choice or responses output item; one for
/// Anthropic), with tool calls as [`Part::ToolCall`].
///
/// # Errors
/// [`DecodeError`] when the body is not UTF-8 JSON within the limits, or does
/// not have the shape of a successful `api` response.
pub fn decode_response(
    api: Api,
    body: &[u8],
    limits: &DecodeLimits,
) -> Result<Decoded, DecodeError> {
    decode_response_bytes(api, Bytes::copy_from_slice(body), limits)
}

/// [`decode_response`] for a body already in [`Bytes`] (no copy is made).
///
/// # Errors
/// As for [`decode_response`].
pub fn decode_response_bytes(
    api: Api,
    body: Bytes,
    limits: &DecodeLimits,
) -> Result<Decoded, DecodeError> {
    let tree = node::parse(&body, limits)?;
    let mut b = json::Builder::default();
    let meta = match api {
        Api::OpenAiChat => openai::chat_response(&tree, &mut b)?,
        Api::OpenAiCompletions => openai::completions_response(&tree, &mut b)?,
        Api::OpenAiResponses => openai::responses_response(&tree, &mut b)?,
        Api::AnthropicMessages => anthropic::response(&tree, &mut b)?,
        Api::OllamaChat => ollama::chat_response(&tree, &mut b)?,
        Api::OllamaGenerate => ollama::generate_response(&tree, &mut b)?,
        Api::AnthropicCountTokens | Api::OpenAiResponsesInputTokens => {
            json::obj(&tree, &json::Path::root())?;
            Meta::default()
        }
    };
    drop(tree);
    Ok(Decoded::new(api, body, OnceLock::new(), b, meta))
}

/// An answer of `api` without the token ids of the conversation
/// (`/api/generate`'s deprecated `context`): they encode the answer as the
/// model wrote it, before any redaction, for anyone with the model's public
/// tokenizer to read back. `None` when the body has none (or is not a JSON
/// object) and goes out as it is.
pub fn without_token_context(api: Api, body: &[u8]) -> Option<Vec<u8>> {
    if api != Api::OllamaGenerate || memchr::memmem::find(body, b"\"context\"").is_none() {
        return None;
    }
    let mut v: Value = serde_json::from_slice(body).ok()?;
    v.as_object_mut()?.remove(ollama::CONTEXT)?;
    Some(v.to_string().into_bytes())
}

/// Sets the top-level `model` (every surface keeps it there), for routing
/// a request to a different model. Does nothing if `value` is not an object.
pub fn set_model(value: &mut Value, model: &str) {
    if let Some(obj) = value.as_object_mut() {
        obj.insert("model".to_owned(), Value::String(model.to_owned()));
    }
}
