//! Ollama's native API: `POST /api/chat` and `POST /api/generate`.
//!
//! Ollama also serves the OpenAI wire format under `/v1`, but its own
//! clients (the `ollama` Python and JavaScript libraries, Open WebUI,
//! LangChain's `ChatOllama`) speak this one, which differs in ways that
//! matter to a guard:
//!
//! - it **streams by default**: a request without `"stream": false` is
//!   answered as newline-delimited JSON (`application/x-ndjson`), one object
//!   per line, not as Server-Sent Events;
//! - tool-call `arguments` are a JSON object, not a JSON string;
//! - `/api/generate` takes a raw `prompt`, a `system` and a prompt
//!   `template`, all of which the model reads;
//! - `/api/generate` can carry the previous turn as **token ids**
//!   (`context`, deprecated by Ollama), text no guard can read. A request
//!   with a non-empty `context` is refused, as token-id prompts are on
//!   `/v1/completions`, and the ids are left out of answers (see
//!   [`CONTEXT`]).

use menshen_classifiers::{Part, Role};

use super::json::{
    arr, declared_tool, get, obj, opt_str, req, string, type_of, wrong, Builder, Path,
};
use super::node::{Node, Obj};
use super::{DecodeError, Meta, Slot};

/// The field of `/api/generate` requests and answers that holds the
/// conversation so far as token ids.
///
/// Requests: ids are text the model reads and no guard can, so a non-empty
/// `context` is refused. Answers: ids of the prompt *and the unredacted
/// answer*, which anyone with the model's (public) tokenizer can read back,
/// so the proxy removes the field from every guarded answer.
pub(super) const CONTEXT: &str = "context";

fn meta(root: &Obj<'_>, p: &Path<'_>) -> Result<Meta, DecodeError> {
    // `options.num_predict`; -1 (or -2) means "no limit".
    let max_tokens = match get(root, "options") {
        Some(o) => get(obj(o, &p.key("options"))?, "num_predict").and_then(Node::as_u64),
        None => None,
    };
    Ok(Meta {
        model: opt_str(root, "model", p)?.map(str::to_owned),
        // Ollama streams unless told not to.
        stream: match get(root, "stream") {
            None => true,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| wrong(&p.key("stream"), "a boolean"))?,
        },
        user: None,
        max_tokens,
        logprobs: super::openai::asks_for_logprobs(root),
        audio_output: false,
    })
}

/// `images`: base64 strings the model sees and no guard reads.
fn images(m: &Obj<'_>, p: &Path<'_>, b: &mut Builder, mi: usize) -> Result<(), DecodeError> {
    if let Some(images) = get(m, "images") {
        for _ in arr(images, &p.key("images"))? {
            b.image(mi, None);
        }
    }
    Ok(())
}

/// `tool_calls: [{"function": {"name", "arguments": {...}}}]`: arguments are
/// a JSON value, scanned as their compact text and written back parsed
/// ([`Slot::Json`]), as Anthropic `tool_use.input` is.
fn tool_calls(m: &Obj<'_>, p: &Path<'_>, b: &mut Builder, mi: usize) -> Result<(), DecodeError> {
    let Some(calls) = get(m, "tool_calls") else {
        return Ok(());
    };
    let tp = p.key("tool_calls");
    for (i, c) in arr(calls, &tp)?.iter().enumerate() {
        let cp = tp.index(i);
        let fp = cp.key("function");
        let f = obj(req(obj(c, &cp)?, "function", &cp)?, &fp)?;
        let name = opt_str(f, "name", &fp)?.unwrap_or_default().to_owned();
        let (arguments, slot) = match get(f, "arguments") {
            // Some clients send the OpenAI form, a JSON string.
            Some(Node::String(s)) => (
                super::openai::scannable_arguments(s),
                Some(fp.key("arguments").slot()),
            ),
            Some(a) => (
                a.to_value().to_string(),
                Some(Slot::Json(fp.key("arguments").pointer())),
            ),
            None => (String::new(), None),
        };
        b.part(
            mi,
            Part::ToolCall {
                id: None,
                name,
                arguments,
            },
            slot,
        );
    }
    Ok(())
}

// === /api/chat ===

pub(super) fn chat_request(v: &Node<'_>, b: &mut Builder) -> Result<Meta, DecodeError> {
    let p = Path::root();
    let root = obj(v, &p)?;
    let meta = meta(root, &p)?;
    let mp = p.key("messages");
    if let Some(messages) = get(root, "messages") {
        for (i, m) in arr(messages, &mp)?.iter().enumerate() {
            chat_message(m, &mp.index(i), b)?;
        }
    }
    if let Some(tools) = get(root, "tools") {
        let tp = p.key("tools");
        for (i, t) in arr(tools, &tp)?.iter().enumerate() {
            let tp = tp.index(i);
            let t = obj(t, &tp)?;
            if type_of(t).is_some_and(|ty| ty != "function") {
                return Err(wrong(&tp.key("type"), "\"function\""));
            }
            declared_tool(
                req(t, "function", &tp)?,
                &tp.key("function"),
                b,
                "parameters",
            )?;
        }
    }
    Ok(meta)
}

fn chat_message(v: &Node<'_>, p: &Path<'_>, b: &mut Builder) -> Result<(), DecodeError> {
    let m = obj(v, p)?;
    let role = match string(req(m, "role", p)?, &p.key("role"))? {
        "system" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        _ => {
            return Err(wrong(
                &p.key("role"),
                "one of \"system\", \"user\", \"assistant\", \"tool\"",
            ))
        }
    };
    let mi = b.message(role);
    if let Some(content) = opt_str(m, "content", p)? {
        let part = if role == Role::Tool {
            Part::ToolResult {
                tool_call_id: opt_str(m, "tool_name", p)?.map(str::to_owned),
                text: content.to_owned(),
            }
        } else {
            Part::Text {
                text: content.to_owned(),
            }
        };
        b.part(mi, part, Some(p.key("content").slot()));
    }
    if let Some(thinking) = opt_str(m, "thinking", p)? {
        b.reasoning(mi, thinking, &p.key("thinking"));
    }
    images(m, p, b, mi)?;
    tool_calls(m, p, b, mi)?;
    Ok(())
}

pub(super) fn chat_response(v: &Node<'_>, b: &mut Builder) -> Result<Meta, DecodeError> {
    let p = Path::root();
    let root = obj(v, &p)?;
    let mp = p.key("message");
    let m = obj(req(root, "message", &p)?, &mp)?;
    let mi = b.message(Role::Assistant);
    if let Some(content) = opt_str(m, "content", &mp)? {
        b.text(mi, content, &mp.key("content"));
    }
    if let Some(thinking) = opt_str(m, "thinking", &mp)? {
        b.reasoning(mi, thinking, &mp.key("thinking"));
    }
    tool_calls(m, &mp, b, mi)?;
    Ok(Meta {
        model: opt_str(root, "model", &p)?.map(str::to_owned),
        ..Meta::default()
    })
}

// === /api/generate ===

pub(super) fn generate_request(v: &Node<'_>, b: &mut Builder) -> Result<Meta, DecodeError> {
    let p = Path::root();
    let root = obj(v, &p)?;
    let meta = meta(root, &p)?;
    if let Some(context) = get(root, CONTEXT) {
        if !arr(context, &p.key(CONTEXT))?.is_empty() {
            return Err(wrong(
                &p.key(CONTEXT),
                "empty: token ids cannot be scanned; send the earlier turns as text \
                 (e.g. as messages to /api/chat)",
            ));
        }
    }
    // The operator's framing first: a template (how the prompt is laid out
    // for the model) and a system prompt both reach the model as text.
    for key in ["template", "system"] {
        if let Some(t) = opt_str(root, key, &p)? {
            let mi = b.message(Role::System);
            b.text(mi, t, &p.key(key));
        }
    }
    let mi = b.message(Role::User);
    if let Some(prompt) = opt_str(root, "prompt", &p)? {
        b.text(mi, prompt, &p.key("prompt"));
    }
    if let Some(suffix) = opt_str(root, "suffix", &p)? {
        b.text(mi, suffix, &p.key("suffix"));
    }
    images(root, &p, b, mi)?;
    Ok(meta)
}

pub(super) fn generate_response(v: &Node<'_>, b: &mut Builder) -> Result<Meta, DecodeError> {
    let p = Path::root();
    let root = obj(v, &p)?;
    let mi = b.message(Role::Assistant);
    b.text(
        mi,
        string(req(root, "response", &p)?, &p.key("response"))?,
        &p.key("response"),
    );
    if let Some(thinking) = opt_str(root, "thinking", &p)? {
        b.reasoning(mi, thinking, &p.key("thinking"));
    }
    Ok(Meta {
        model: opt_str(root, "model", &p)?.map(str::to_owned),
        ..Meta::default()
    })
}
