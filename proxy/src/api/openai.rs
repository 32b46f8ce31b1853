//! OpenAI chat completions, legacy completions and responses bodies.

use super::node::{Node, Obj};
use menshen_classifiers::{Part, Role};

use super::json::{
    arr, data_url_media_type, declared_tool, get, obj, opt_bool, opt_str, opt_u64, req, string,
    type_of, wrong, Builder, Path,
};
use super::{DecodeError, Meta, Slot};

/// How a text of a given message becomes a part (plain text, or a tool result
/// for `tool`-role messages).
type MakePart<'a> = &'a dyn Fn(String) -> Part;

fn text_part(text: String) -> Part {
    Part::Text { text }
}

fn meta(
    root: &Obj<'_>,
    p: &Path<'_>,
    max_tokens_keys: &[&'static str],
) -> Result<Meta, DecodeError> {
    let mut max_tokens = None;
    for key in max_tokens_keys {
        if let Some(n) = opt_u64(root, key, p)? {
            max_tokens = Some(n);
            break;
        }
    }
    let user = match opt_str(root, "user", p)? {
        Some(u) => Some(u),
        None => opt_str(root, "safety_identifier", p)?,
    };
    Ok(Meta {
        model: opt_str(root, "model", p)?.map(str::to_owned),
        stream: opt_bool(root, "stream", p)?.unwrap_or(false),
        user: user.map(str::to_owned),
        max_tokens,
        logprobs: asks_for_logprobs(root),
        audio_output: match get(root, "modalities") {
            Some(Node::Array(m)) => m.iter().any(|x| x.as_str() == Some("audio")),
            _ => false,
        },
    })
}

/// Chat `logprobs: true`, completions `logprobs: N` (0 included: the
/// sampled tokens still come back), `top_logprobs > 0`, or a Responses
/// `include` naming output logprobs.
pub(super) fn asks_for_logprobs(root: &Obj<'_>) -> bool {
    let on = |n: Option<&Node<'_>>| match n {
        Some(Node::Bool(b)) => *b,
        Some(Node::Number(_)) => true,
        _ => false,
    };
    let top = match get(root, "top_logprobs") {
        Some(Node::Number(n)) => n.as_f64().is_some_and(|x| x > 0.0),
        _ => false,
    };
    let included = match get(root, "include") {
        Some(Node::Array(items)) => items
            .iter()
            .any(|i| i.as_str().is_some_and(|s| s.contains("logprobs"))),
        _ => false,
    };
    on(get(root, "logprobs")) || top || included
}

// === chat completions ===

pub(super) fn chat_request(v: &Node<'_>, b: &mut Builder) -> Result<Meta, DecodeError> {
    let p = Path::root();
    let root = obj(v, &p)?;
    let meta = meta(root, &p, &["max_completion_tokens", "max_tokens"])?;
    let mp = p.key("messages");
    for (i, m) in arr(req(root, "messages", &p)?, &mp)?.iter().enumerate() {
        chat_message(m, &mp.index(i), b)?;
    }
    if let Some(tools) = get(root, "tools") {
        let tp = p.key("tools");
        for (i, t) in arr(tools, &tp)?.iter().enumerate() {
            let tp = tp.index(i);
            let t = obj(t, &tp)?;
            // `{"type":"function","function":{...}}`, or `{"type":"custom","custom":{...}}`.
            let key = if type_of(t) == Some("custom") {
                "custom"
            } else {
                "function"
            };
            let Some(f) = get(t, key) else { continue };
            declared_tool(f, &tp.key(key), b, "parameters")?;
        }
    }
    // Predicted output: the client's draft of the answer, which the model
    // reads like the prompt.
    if let Some(prediction) = get(root, "prediction") {
        let pp = p.key("prediction");
        let mi = b.message(Role::User);
        chat_content(
            get(obj(prediction, &pp)?, "content"),
            &pp.key("content"),
            b,
            mi,
            &text_part,
        )?;
    }
    if let Some(functions) = get(root, "functions") {
        let fp = p.key("functions");
        for (i, f) in arr(functions, &fp)?.iter().enumerate() {
            declared_tool(f, &fp.index(i), b, "parameters")?;
        }
    }
    Ok(meta)
}

/// `{name, description?}` as in chat `tools[].function`, legacy `functions[]`
/// and responses `tools[]`.
fn chat_message(v: &Node<'_>, p: &Path<'_>, b: &mut Builder) -> Result<(), DecodeError> {
    let m = obj(v, p)?;
    let role_name = string(req(m, "role", p)?, &p.key("role"))?;
    let role =
        match role_name {
            "system" => Role::System,
            "developer" => Role::Developer,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" | "function" => Role::Tool,
            _ => return Err(wrong(
                &p.key("role"),
                "one of \"system\", \"developer\", \"user\", \"assistant\", \"tool\", \"function\"",
            )),
        };
    let mi = b.message(role);
    let cp = p.key("content");
    match role_name {
        "tool" => {
            let id = opt_str(m, "tool_call_id", p)?.map(str::to_owned);
            let mk = move |text| Part::ToolResult {
                tool_call_id: id.clone(),
                text,
            };
            chat_content(get(m, "content"), &cp, b, mi, &mk)?;
        }
        "function" => {
            let mk = |text| Part::ToolResult {
                tool_call_id: None,
                text,
            };
            chat_content(get(m, "content"), &cp, b, mi, &mk)?;
        }
        _ => chat_content(get(m, "content"), &cp, b, mi, &text_part)?,
    }
    if role == Role::Assistant {
        assistant_extras(m, p, b, mi)?;
    }
    Ok(())
}

/// `refusal`, `tool_calls`, legacy `function_call`, and reasoning: the
/// `reasoning_content` of DeepSeek, llama.cpp and older vLLM, the
/// `reasoning` of newer vLLM, Ollama and OpenRouter, and the text of
/// OpenRouter's `reasoning_details` (encrypted entries carry none): all
/// model-written text, so none of it may reach the client unscanned.
fn assistant_extras(
    m: &Obj<'_>,
    p: &Path<'_>,
    b: &mut Builder,
    mi: usize,
) -> Result<(), DecodeError> {
    if let Some(r) = opt_str(m, "refusal", p)? {
        b.text(mi, r, &p.key("refusal"));
    }
    annotations(m, p, b, mi);
    for key in ["reasoning_content", "reasoning"] {
        // Only a string is reasoning text; another shape (an OpenAI request's
        // `reasoning` settings object) is not text to scan.
        if let Some(r) = get(m, key).and_then(Node::as_str) {
            b.reasoning(mi, r, &p.key(key));
        }
    }
    if let Some(Node::Array(details)) = get(m, "reasoning_details") {
        let dp = p.key("reasoning_details");
        for (i, d) in details.iter().enumerate() {
            for key in ["text", "summary"] {
                if let Some(t) = d.get(key).and_then(Node::as_str) {
                    b.reasoning(mi, t, &dp.index(i).key(key));
                }
            }
        }
    }
    if let Some(calls) = get(m, "tool_calls") {
        let tp = p.key("tool_calls");
        for (i, c) in arr(calls, &tp)?.iter().enumerate() {
            let cp = tp.index(i);
            let c = obj(c, &cp)?;
            let id = opt_str(c, "id", &cp)?;
            if type_of(c) == Some("custom") {
                let fp = cp.key("custom");
                let f = obj(req(c, "custom", &cp)?, &fp)?;
                tool_call(b, mi, id, f, &fp, "input")?;
            } else {
                let fp = cp.key("function");
                let f = obj(req(c, "function", &cp)?, &fp)?;
                tool_call(b, mi, id, f, &fp, "arguments")?;
            }
        }
    }
    if let Some(f) = get(m, "function_call") {
        let fp = p.key("function_call");
        tool_call(b, mi, None, obj(f, &fp)?, &fp, "arguments")?;
    }
    Ok(())
}

/// The `annotations` of a chat message or an `output_text` part: web
/// search citations (`url_citation`: the page's title and URL), file
/// citations (file names). Third-party text that reaches the client beside
/// the answer, so every string is scanned as a document, as Anthropic's
/// citations are; a redaction is written back in place.
fn annotations(m: &Obj<'_>, p: &Path<'_>, b: &mut Builder, mi: usize) {
    if let Some(a) = get(m, "annotations") {
        let mut pointer = p.key("annotations").pointer();
        b.tool_output_texts(mi, a, &mut pointer, &|text| Part::Document { text });
    }
}

/// A tool call whose arguments are a JSON string at `f[args_key]`.
///
/// Arguments are JSON *text*, so `\u0069gnore` or `a\u0040b.co` would hide
/// from detectors. Arguments with escapes that parse as a JSON object or
/// array are therefore scanned in serde_json's compact form (escapes
/// resolved); the body keeps the client's text unless a guard edits it.
fn tool_call(
    b: &mut Builder,
    mi: usize,
    id: Option<&str>,
    f: &Obj<'_>,
    p: &Path<'_>,
    args_key: &'static str,
) -> Result<(), DecodeError> {
    let name = opt_str(f, "name", p)?.unwrap_or_default();
    let arguments = opt_str(f, args_key, p)?;
    b.part(
        mi,
        Part::ToolCall {
            id: id.map(str::to_owned),
            name: name.to_owned(),
            arguments: arguments.map(scannable_arguments).unwrap_or_default(),
        },
        arguments.map(|_| p.key(args_key).slot()),
    );
    Ok(())
}

/// Tool-call arguments as guards should read them (see [`tool_call`]).
pub(super) fn scannable_arguments(arguments: &str) -> String {
    if arguments.contains('\\') {
        if let Ok(v @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) =
            serde_json::from_str::<serde_json::Value>(arguments)
        {
            return v.to_string();
        }
    }
    arguments.to_owned()
}

/// Message content: a string, an array of content parts, or absent.
fn chat_content(
    v: Option<&Node<'_>>,
    p: &Path<'_>,
    b: &mut Builder,
    mi: usize,
    mk: MakePart<'_>,
) -> Result<(), DecodeError> {
    match v {
        None => Ok(()),
        Some(Node::String(s)) => {
            b.part(mi, mk(s.as_ref().to_owned()), Some(p.slot()));
            Ok(())
        }
        Some(Node::Array(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                content_part(part, &p.index(j), b, mi, mk)?;
            }
            Ok(())
        }
        Some(_) => Err(wrong(p, "a string or an array of content parts")),
    }
}

/// One content part of chat or responses content. Unknown types are kept:
/// their `text`, if any, is scanned; otherwise they pass as opaque parts.
fn content_part(
    v: &Node<'_>,
    p: &Path<'_>,
    b: &mut Builder,
    mi: usize,
    mk: MakePart<'_>,
) -> Result<(), DecodeError> {
    let c = obj(v, p)?;
    match type_of(c) {
        Some("text" | "input_text" | "output_text") => {
            let text = string(req(c, "text", p)?, &p.key("text"))?;
            b.part(mi, mk(text.to_owned()), Some(p.key("text").slot()));
            annotations(c, p, b, mi);
        }
        Some("refusal") => {
            let text = string(req(c, "refusal", p)?, &p.key("refusal"))?;
            b.part(mi, mk(text.to_owned()), Some(p.key("refusal").slot()));
        }
        Some("image_url") => {
            // `image_url` is `{url, detail}`, or a bare string in some clients.
            let url = get(c, "image_url")
                .and_then(|u| u.as_str().or_else(|| u.get("url").and_then(Node::as_str)));
            b.image(mi, url.and_then(data_url_media_type));
        }
        Some("input_image") => {
            let url = get(c, "image_url").and_then(Node::as_str);
            b.image(mi, url.and_then(data_url_media_type));
        }
        Some("input_audio") => {
            let format = get(c, "input_audio")
                .and_then(|a| a.get("format"))
                .and_then(Node::as_str);
            b.image(mi, format.map(|f| format!("audio/{f}")));
        }
        _ => match get(c, "text").and_then(Node::as_str) {
            Some(text) => b.part(mi, mk(text.to_owned()), Some(p.key("text").slot())),
            None => b.image(mi, None),
        },
    }
    Ok(())
}

pub(super) fn chat_response(v: &Node<'_>, b: &mut Builder) -> Result<Meta, DecodeError> {
    let p = Path::root();
    let root = obj(v, &p)?;
    let cp = p.key("choices");
    for (i, choice) in arr(req(root, "choices", &p)?, &cp)?.iter().enumerate() {
        let chp = cp.index(i);
        let choice = obj(choice, &chp)?;
        let mi = b.message(Role::Assistant);
        let Some(message) = get(choice, "message") else {
            continue;
        };
        let mp = chp.key("message");
        let m = obj(message, &mp)?;
        chat_content(get(m, "content"), &mp.key("content"), b, mi, &text_part)?;
        assistant_extras(m, &mp, b, mi)?;
    }
    response_meta(root, &p)
}

fn response_meta(root: &Obj<'_>, p: &Path<'_>) -> Result<Meta, DecodeError> {
    Ok(Meta {
        model: opt_str(root, "model", p)?.map(str::to_owned),
        ..Meta::default()
    })
}

// === legacy completions ===

pub(super) fn completions_request(v: &Node<'_>, b: &mut Builder) -> Result<Meta, DecodeError> {
    let p = Path::root();
    let root = obj(v, &p)?;
    let meta = meta(root, &p, &["max_tokens"])?;
    let pp = p.key("prompt");
    match req(root, "prompt", &p)? {
        Node::String(s) => {
            let mi = b.message(Role::User);
            b.text(mi, s, &pp);
        }
        Node::Array(prompts) => {
            for (i, prompt) in prompts.iter().enumerate() {
                // Token-id prompts cannot be scanned; refuse rather than pass them unseen.
                let text = prompt
                    .as_str()
                    .ok_or_else(|| wrong(&pp.index(i), "a string"))?;
                let mi = b.message(Role::User);
                b.text(mi, text, &pp.index(i));
            }
        }
        _ => return Err(wrong(&pp, "a string or an array of strings")),
    }
    if let Some(suffix) = opt_str(root, "suffix", &p)? {
        let mi = b.message(Role::User);
        b.text(mi, suffix, &p.key("suffix"));
    }
    Ok(meta)
}

pub(super) fn completions_response(v: &Node<'_>, b: &mut Builder) -> Result<Meta, DecodeError> {
    let p = Path::root();
    let root = obj(v, &p)?;
    let cp = p.key("choices");
    for (i, choice) in arr(req(root, "choices", &p)?, &cp)?.iter().enumerate() {
        let chp = cp.index(i);
        let choice = obj(choice, &chp)?;
        let mi = b.message(Role::Assistant);
        if let Some(text) = opt_str(choice, "text", &chp)? {
            b.text(mi, text, &chp.key("text"));
        }
    }
    response_meta(root, &p)
}

// === responses ===

pub(super) fn responses_request(v: &Node<'_>, b: &mut Builder) -> Result<Meta, DecodeError> {
    let p = Path::root();
    let root = obj(v, &p)?;
    let meta = meta(root, &p, &["max_output_tokens"])?;
    if let Some(instructions) = opt_str(root, "instructions", &p)? {
        let mi = b.message(Role::System);
        b.text(mi, instructions, &p.key("instructions"));
    }
    if let Some(prompt) = get(root, "prompt") {
        prompt_variables(prompt, &p.key("prompt"), b)?;
    }
    let ip = p.key("input");
    match get(root, "input") {
        None => {}
        Some(Node::String(s)) => {
            let mi = b.message(Role::User);
            b.text(mi, s, &ip);
        }
        Some(Node::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                response_item(item, &ip.index(i), b, true)?;
            }
        }
        Some(_) => return Err(wrong(&ip, "a string or an array of input items")),
    }
    if let Some(tools) = get(root, "tools") {
        let tp = p.key("tools");
        for (i, t) in arr(tools, &tp)?.iter().enumerate() {
            let tp = tp.index(i);
            // Built-in tools (web_search, file_search, ...) have no description to scan.
            if matches!(type_of(obj(t, &tp)?), Some("function" | "custom")) {
                declared_tool(t, &tp, b, "parameters")?;
            }
        }
    }
    Ok(meta)
}

/// A stored prompt's `variables` (`{"name": "text" | {"type": "input_text",
/// "text": ...} | an image or file}`): client text substituted into the
/// prompt, so user text like `input`. Names are the client's, so pointers
/// are built here rather than from fixed [`Path`] keys.
fn prompt_variables(v: &Node<'_>, p: &Path<'_>, b: &mut Builder) -> Result<(), DecodeError> {
    let Some(vars) = get(obj(v, p)?, "variables") else {
        return Ok(());
    };
    let vp = p.key("variables");
    let vars = obj(vars, &vp)?;
    let base = vp.pointer();
    let mi = b.message(Role::User);
    for (name, value) in super::json::sorted_fields(vars) {
        let pointer = format!("{base}/{}", name.replace('~', "~0").replace('/', "~1"));
        match value {
            Node::String(s) => b.part(
                mi,
                text_part(s.as_ref().to_owned()),
                Some(Slot::Str(pointer)),
            ),
            Node::Object(o) => match o.get("text").and_then(Node::as_str) {
                Some(text) => b.part(
                    mi,
                    text_part(text.to_owned()),
                    Some(Slot::Str(pointer + "/text")),
                ),
                None => b.image(mi, None),
            },
            _ => {}
        }
    }
    Ok(())
}

/// One responses item (input or output). Item types that carry no text the
/// model reads as prompt (`item_reference`, built-in tool calls) are skipped.
fn response_item(
    v: &Node<'_>,
    p: &Path<'_>,
    b: &mut Builder,
    input: bool,
) -> Result<(), DecodeError> {
    let item = obj(v, p)?;
    match type_of(item) {
        // Easy input messages may omit `type`.
        None | Some("message") => {
            let role_name = string(req(item, "role", p)?, &p.key("role"))?;
            let role = match role_name {
                "system" => Role::System,
                "developer" => Role::Developer,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                _ => {
                    return Err(wrong(
                        &p.key("role"),
                        "one of \"system\", \"developer\", \"user\", \"assistant\"",
                    ))
                }
            };
            let mi = b.message(role);
            let cp = p.key("content");
            match req(item, "content", p)? {
                Node::String(s) => b.text(mi, s, &cp),
                Node::Array(parts) => {
                    for (j, part) in parts.iter().enumerate() {
                        content_part(part, &cp.index(j), b, mi, &text_part)?;
                    }
                }
                _ => return Err(wrong(&cp, "a string or an array of content parts")),
            }
        }
        Some("function_call") => {
            let mi = b.message(Role::Assistant);
            let id = opt_str(item, "call_id", p)?;
            tool_call(b, mi, id, item, p, "arguments")?;
        }
        Some("custom_tool_call") => {
            let mi = b.message(Role::Assistant);
            let id = opt_str(item, "call_id", p)?;
            tool_call(b, mi, id, item, p, "input")?;
        }
        Some("function_call_output" | "custom_tool_call_output") if input => {
            let mi = b.message(Role::Tool);
            let id = opt_str(item, "call_id", p)?.map(str::to_owned);
            let mk = move |text| Part::ToolResult {
                tool_call_id: id.clone(),
                text,
            };
            let op = p.key("output");
            match req(item, "output", p)? {
                Node::String(s) => b.part(mi, mk(s.as_ref().to_owned()), Some(op.slot())),
                Node::Array(parts) => {
                    for (j, part) in parts.iter().enumerate() {
                        content_part(part, &op.index(j), b, mi, &mk)?;
                    }
                }
                _ => return Err(wrong(&op, "a string or an array of content parts")),
            }
        }
        Some("mcp_call" | "mcp_approval_request") => {
            // A remote MCP server's tool, called by the provider: the
            // model's arguments, and what the server sent back.
            let mi = b.message(Role::Assistant);
            let id = opt_str(item, "id", p)?;
            tool_call(b, mi, id, item, p, "arguments")?;
            tool_output(b, item, p, id, &["output", "error"]);
        }
        Some("mcp_list_tools") => mcp_tools(item, p, b)?,
        Some(ty @ ("local_shell_call" | "shell_call" | "computer_call" | "apply_patch_call")) => {
            // Built-in tools the client runs: what the model asks them to do
            // (a shell command, a click or typed text, a patch).
            let mi = b.message(Role::Assistant);
            let key = if ty == "apply_patch_call" {
                "operation"
            } else {
                "action"
            };
            json_call(b, mi, ty, item, p, key)?;
        }
        Some("code_interpreter_call") => {
            let mi = b.message(Role::Assistant);
            let id = opt_str(item, "id", p)?;
            if let Some(code) = opt_str(item, "code", p)? {
                let part = Part::ToolCall {
                    id: id.map(str::to_owned),
                    name: "code_interpreter".to_owned(),
                    arguments: code.to_owned(),
                };
                b.part(mi, part, Some(p.key("code").slot()));
            }
            tool_output(b, item, p, id, &["outputs"]);
        }
        Some("file_search_call") => {
            // Retrieved chunks of the user's files: documents.
            if let Some(results) = get(item, "results") {
                let mi = b.message(Role::Tool);
                let mut pointer = p.key("results").pointer();
                b.tool_output_texts(mi, results, &mut pointer, &|text| Part::Document { text });
            }
        }
        // The generated image, base64.
        Some("image_generation_call") => {}
        Some(ty) if ty.ends_with("_call_output") => {
            // Outputs of built-in tools the client ran (shell, computer
            // screenshots, patches), in whatever shape each tool has.
            let id = opt_str(item, "call_id", p)?;
            tool_output(b, item, p, id, &["output"]);
        }
        Some("reasoning") if !input => {
            // Summaries, and the raw `reasoning_text` of open-weight models,
            // are model-written text that reaches the client.
            if let Some(Node::Array(content)) = get(item, "content") {
                let cp = p.key("content");
                let mi = b.message(Role::Assistant);
                for (j, c) in content.iter().enumerate() {
                    if c.get("type").and_then(Node::as_str) == Some("reasoning_text") {
                        if let Some(text) = c.get("text").and_then(Node::as_str) {
                            b.reasoning(mi, text, &cp.index(j).key("text"));
                        }
                    }
                }
            }
            if let Some(summary) = get(item, "summary") {
                let sp = p.key("summary");
                let mi = b.message(Role::Assistant);
                for (j, s) in arr(summary, &sp)?.iter().enumerate() {
                    let s = obj(s, &sp.index(j))?;
                    if let Some(text) = opt_str(s, "text", &sp.index(j))? {
                        b.reasoning(mi, text, &sp.index(j).key("text"));
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The fields `keys` of a tool-output item, read field by field as untrusted
/// tool results (see [`Builder::tool_output_texts`]) in a `tool` message.
fn tool_output(
    b: &mut Builder,
    item: &Obj<'_>,
    p: &Path<'_>,
    id: Option<&str>,
    keys: &[&'static str],
) {
    let present: Vec<_> = keys
        .iter()
        .filter_map(|&k| Some((k, get(item, k)?)))
        .collect();
    if present.is_empty() {
        return;
    }
    let mi = b.message(Role::Tool);
    let id = id.map(str::to_owned);
    let mk = move |text| Part::ToolResult {
        tool_call_id: id.clone(),
        text,
    };
    for (k, v) in present {
        let mut pointer = p.key(k).pointer();
        b.tool_output_texts(mi, v, &mut pointer, &mk);
    }
}

/// A call of a built-in tool whose arguments are a JSON object at `key`:
/// guards read its compact text, and a redaction is parsed back (as for
/// Anthropic `tool_use`, [`Slot::Json`]).
fn json_call(
    b: &mut Builder,
    mi: usize,
    name: &str,
    item: &Obj<'_>,
    p: &Path<'_>,
    key: &'static str,
) -> Result<(), DecodeError> {
    let id = opt_str(item, "call_id", p)?.map(str::to_owned);
    let Some(args) = get(item, key) else {
        return Ok(());
    };
    let part = Part::ToolCall {
        id,
        name: name.to_owned(),
        arguments: args.to_value().to_string(),
    };
    b.part(mi, part, Some(Slot::Json(p.key(key).pointer())));
    Ok(())
}

/// `mcp_list_tools`: the tools a remote MCP server offers, as the model
/// sees them. Their descriptions and parameter schemas are scanned like
/// declared tools', since a poisoned MCP server hides instructions there.
fn mcp_tools(item: &Obj<'_>, p: &Path<'_>, b: &mut Builder) -> Result<(), DecodeError> {
    let Some(tools) = get(item, "tools") else {
        return Ok(());
    };
    let tp = p.key("tools");
    for (i, t) in arr(tools, &tp)?.iter().enumerate() {
        declared_tool(t, &tp.index(i), b, "input_schema")?;
    }
    Ok(())
}

pub(super) fn responses_response(v: &Node<'_>, b: &mut Builder) -> Result<Meta, DecodeError> {
    let p = Path::root();
    let root = obj(v, &p)?;
    let op = p.key("output");
    for (i, item) in arr(req(root, "output", &p)?, &op)?.iter().enumerate() {
        response_item(item, &op.index(i), b, false)?;
    }
    response_meta(root, &p)
}
