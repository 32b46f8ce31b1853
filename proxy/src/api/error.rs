//! Error bodies and mid-stream error events in each API's own shape, so that
//! SDKs surface a block as an ordinary API error with a stable code.

use http::StatusCode;
use serde_json::{json, Value};

use super::Api;
use crate::sse::SseEvent;

/// The error `type` string the API's own servers use for `status`.
///
/// Anthropic and OpenAI mostly share the vocabulary; they differ for 413,
/// 500, 504 and 529.
pub fn error_type(api: Option<Api>, status: StatusCode) -> &'static str {
    let anthropic = api.is_some_and(Api::is_anthropic);
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 if anthropic => "request_too_large",
        429 => "rate_limit_error",
        504 if anthropic => "timeout_error",
        529 if anthropic => "overloaded_error",
        500..=599 if anthropic => "api_error",
        500..=599 => "server_error",
        _ => "invalid_request_error",
    }
}

/// A complete JSON error body for `api` (OpenAI's shape when the API is not
/// known, e.g. an unknown path).
///
/// - OpenAI: `{"error":{"message","type","code","param":null}}`
/// - Anthropic: `{"type":"error","error":{"type","message"},"request_id"}`
/// - Ollama: `{"error":"message (code)","code"}` (its clients read the
///   `error` string; `code` is extra and harmless)
///
/// `code` is the stable snake_case reason (`blocked_by_policy`,
/// `invalid_json`, ...); Anthropic's shape has no code field, so there it is
/// the error `type` that carries the class and the message that names the
/// code.
pub fn error_body(
    api: Option<Api>,
    status: StatusCode,
    code: &str,
    message: &str,
    request_id: &str,
) -> Vec<u8> {
    let ty = error_type(api, status);
    let body = if api.is_some_and(Api::is_anthropic) {
        anthropic_error(ty, code, message, Some(request_id))
    } else if api.is_some_and(Api::is_ollama) {
        ollama_error(code, message)
    } else {
        json!({
            "error": {
                "message": message,
                "type": ty,
                "code": code,
                "param": Value::Null,
            }
        })
    };
    body.to_string().into_bytes()
}

fn anthropic_error(ty: &str, code: &str, message: &str, request_id: Option<&str>) -> Value {
    let mut body = json!({
        "type": "error",
        "error": {
            "type": ty,
            "message": format!("{message} ({code})"),
        }
    });
    if let (Some(id), Some(obj)) = (request_id, body.as_object_mut()) {
        obj.insert("request_id".to_owned(), Value::String(id.to_owned()));
    }
    body
}

fn ollama_error(code: &str, message: &str) -> Value {
    json!({"error": format!("{message} ({code})"), "code": code})
}

/// The events that end a stream with an error, after which the proxy closes
/// the stream (and cancels the upstream request):
///
/// - chat / completions: `data: {"error":{...}}` then `data: [DONE]`;
/// - responses: `event: error` with `{"type":"error","code","message","param":null}`;
/// - Anthropic: `event: error` with `{"type":"error","error":{"type","message"}}`;
/// - Ollama: one line `{"error":"...","code"}` (the `ollama` libraries raise
///   it as an error), written as a JSON line, not an SSE event, by the
///   stream's framing.
pub fn stream_error_events(
    api: Api,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Vec<SseEvent> {
    let ty = error_type(Some(api), status);
    match api {
        Api::OpenAiChat | Api::OpenAiCompletions => {
            let body = json!({
                "error": {"message": message, "type": ty, "code": code, "param": Value::Null}
            });
            vec![SseEvent::data(body.to_string()), SseEvent::data("[DONE]")]
        }
        Api::OpenAiResponses | Api::OpenAiResponsesInputTokens => {
            let body = json!({
                "type": "error", "code": code, "message": message, "param": Value::Null
            });
            vec![SseEvent::named("error", body.to_string())]
        }
        Api::AnthropicMessages | Api::AnthropicCountTokens => {
            let body = anthropic_error(ty, code, message, None);
            vec![SseEvent::named("error", body.to_string())]
        }
        Api::OllamaChat | Api::OllamaGenerate => {
            vec![SseEvent::data(ollama_error(code, message).to_string())]
        }
    }
}
