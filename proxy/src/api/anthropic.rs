//! Anthropic messages bodies.

use super::node::{Node, Obj};
use menshen_classifiers::{Part, Role};

use super::json::{
    arr, declared_tool, get, obj, opt_bool, opt_str, opt_u64, req, string, type_of, wrong, Builder,
    Path,
};
use super::{DecodeError, Meta, Slot};

pub(super) fn request(v: &Node<'_>, b: &mut Builder) -> Result<Meta, DecodeError> {
    let p = Path::root();
    let root = obj(v, &p)?;
    let user = match get(root, "metadata") {
        Some(m) => opt_str(obj(m, &p.key("metadata"))?, "user_id", &p.key("metadata"))?,
        None => None,
    };
    let meta = Meta {
        model: opt_str(root, "model", &p)?.map(str::to_owned),
        stream: opt_bool(root, "stream", &p)?.unwrap_or(false),
        user: user.map(str::to_owned),
        max_tokens: opt_u64(root, "max_tokens", &p)?,
        // The Messages API has no log probabilities.
        logprobs: false,
        audio_output: false,
    };
    let sp = p.key("system");
    match get(root, "system") {
        None => {}
        Some(Node::String(s)) => {
            let mi = b.message(Role::System);
            b.text(mi, s, &sp);
        }
        Some(Node::Array(blocks)) => {
            let mi = b.message(Role::System);
            for (j, block) in blocks.iter().enumerate() {
                content_block(block, &sp.index(j), b, mi)?;
            }
        }
        Some(_) => return Err(wrong(&sp, "a string or an array of text blocks")),
    }
    let mp = p.key("messages");
    for (i, m) in arr(req(root, "messages", &p)?, &mp)?.iter().enumerate() {
        let mp = mp.index(i);
        let m = obj(m, &mp)?;
        let role = match string(req(m, "role", &mp)?, &mp.key("role"))? {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            _ => return Err(wrong(&mp.key("role"), "\"user\" or \"assistant\"")),
        };
        let mi = b.message(role);
        content(req(m, "content", &mp)?, &mp.key("content"), b, mi)?;
    }
    if let Some(tools) = get(root, "tools") {
        let tp = p.key("tools");
        for (i, t) in arr(tools, &tp)?.iter().enumerate() {
            declared_tool(t, &tp.index(i), b, "input_schema")?;
        }
    }
    Ok(meta)
}

/// Message content: a string or an array of content blocks.
fn content(v: &Node<'_>, p: &Path<'_>, b: &mut Builder, mi: usize) -> Result<(), DecodeError> {
    match v {
        Node::String(s) => b.text(mi, s, p),
        Node::Array(blocks) => {
            for (j, block) in blocks.iter().enumerate() {
                content_block(block, &p.index(j), b, mi)?;
            }
        }
        _ => return Err(wrong(p, "a string or an array of content blocks")),
    }
    Ok(())
}

fn content_block(
    v: &Node<'_>,
    p: &Path<'_>,
    b: &mut Builder,
    mi: usize,
) -> Result<(), DecodeError> {
    let c = obj(v, p)?;
    match type_of(c) {
        Some("text") => {
            let text = string(req(c, "text", p)?, &p.key("text"))?;
            b.text(mi, text, &p.key("text"));
            // Citations quote the cited document (`cited_text`, titles):
            // third-party text, and in an answer a second copy of what an
            // output guard may have to redact in the text itself.
            if let Some(citations) = get(c, "citations") {
                let mut pointer = p.key("citations").pointer();
                b.tool_output_texts(mi, citations, &mut pointer, &|text| Part::Document { text });
            }
        }
        Some("image") => b.image(mi, source_media_type(c)),
        Some("tool_use" | "server_tool_use" | "mcp_tool_use") => tool_use(c, p, b, mi)?,
        Some("tool_result") => {
            let id = opt_str(c, "tool_use_id", p)?.map(str::to_owned);
            let mk = move |text| Part::ToolResult {
                tool_call_id: id.clone(),
                text,
            };
            let cp = p.key("content");
            match get(c, "content") {
                None => {}
                Some(Node::String(s)) => b.part(mi, mk(s.as_ref().to_owned()), Some(cp.slot())),
                Some(Node::Array(blocks)) => {
                    for (k, block) in blocks.iter().enumerate() {
                        untrusted_block(block, &cp.index(k), b, mi, &mk)?;
                    }
                }
                Some(_) => return Err(wrong(&cp, "a string or an array of content blocks")),
            }
        }
        Some("document") => document(c, p, b, mi)?,
        Some("search_result") => {
            let mk = |text| Part::Document { text };
            let cp = p.key("content");
            if let Some(blocks) = get(c, "content") {
                for (k, block) in arr(blocks, &cp)?.iter().enumerate() {
                    untrusted_block(block, &cp.index(k), b, mi, &mk)?;
                }
            }
        }
        Some("thinking") => {
            if let Some(text) = opt_str(c, "thinking", p)? {
                b.reasoning(mi, text, &p.key("thinking"));
            }
        }
        // Encrypted: nothing readable to scan, and it must pass unchanged.
        Some("redacted_thinking") => {}
        Some(ty) if ty.ends_with("_tool_result") => server_tool_result(c, ty, p, b, mi)?,
        _ => match get(c, "text").and_then(Node::as_str) {
            Some(text) => b.text(mi, text, &p.key("text")),
            None => b.image(mi, None),
        },
    }
    Ok(())
}

/// The result of a tool that the provider or a remote MCP server ran
/// (`web_search_tool_result`, `web_fetch_tool_result`,
/// `code_execution_tool_result`, `bash_code_execution_tool_result`,
/// `text_editor_code_execution_tool_result`, `mcp_tool_result`, and any
/// newer `*_tool_result`): third-party text the model reads, so untrusted
/// like a client's `tool_result`, and read field by field (see
/// [`Builder::tool_output_texts`]). It sits in an assistant turn, which
/// classifiers that leave out the model's own words still read, since the
/// parts are untrusted.
fn server_tool_result(
    c: &Obj<'_>,
    ty: &str,
    p: &Path<'_>,
    b: &mut Builder,
    mi: usize,
) -> Result<(), DecodeError> {
    let id = opt_str(c, "tool_use_id", p)?.map(str::to_owned);
    let Some(content) = get(c, "content") else {
        return Ok(());
    };
    let mut pointer = p.key("content").pointer();
    if ty == "web_fetch_tool_result" {
        b.tool_output_texts(mi, content, &mut pointer, &|text| Part::Document { text });
    } else {
        let mk = move |text| Part::ToolResult {
            tool_call_id: id.clone(),
            text,
        };
        b.tool_output_texts(mi, content, &mut pointer, &mk);
    }
    Ok(())
}

/// A block inside a tool result or search result: text becomes an untrusted
/// part built by `mk`; anything else (images, ...) stays opaque.
fn untrusted_block(
    v: &Node<'_>,
    p: &Path<'_>,
    b: &mut Builder,
    mi: usize,
    mk: &dyn Fn(String) -> Part,
) -> Result<(), DecodeError> {
    let c = obj(v, p)?;
    match type_of(c) {
        Some("document") => document(c, p, b, mi),
        Some("search_result") => {
            let cp = p.key("content");
            if let Some(blocks) = get(c, "content") {
                for (k, block) in arr(blocks, &cp)?.iter().enumerate() {
                    untrusted_block(block, &cp.index(k), b, mi, mk)?;
                }
            }
            Ok(())
        }
        Some("image") => {
            b.image(mi, source_media_type(c));
            Ok(())
        }
        _ => {
            match get(c, "text").and_then(Node::as_str) {
                Some(text) => b.part(mi, mk(text.to_owned()), Some(p.key("text").slot())),
                None => b.image(mi, None),
            }
            Ok(())
        }
    }
}

/// A `document` block: its text, title and context are all third-party text.
fn document(c: &Obj<'_>, p: &Path<'_>, b: &mut Builder, mi: usize) -> Result<(), DecodeError> {
    let mk = |text: &str| Part::Document {
        text: text.to_owned(),
    };
    for key in ["title", "context"] {
        if let Some(text) = opt_str(c, key, p)? {
            b.part(mi, mk(text), Some(p.key(key).slot()));
        }
    }
    let sp = p.key("source");
    let Some(source) = get(c, "source") else {
        return Ok(());
    };
    let source = obj(source, &sp)?;
    match type_of(source) {
        Some("text") => {
            let text = string(req(source, "data", &sp)?, &sp.key("data"))?;
            b.part(mi, mk(text), Some(sp.key("data").slot()));
        }
        Some("content") => {
            let cp = sp.key("content");
            match req(source, "content", &sp)? {
                Node::String(s) => b.part(mi, mk(s), Some(cp.slot())),
                Node::Array(blocks) => {
                    let mk = |text| Part::Document { text };
                    for (k, block) in blocks.iter().enumerate() {
                        untrusted_block(block, &cp.index(k), b, mi, &mk)?;
                    }
                }
                _ => return Err(wrong(&cp, "a string or an array of content blocks")),
            }
        }
        // base64 PDFs, URLs, file ids: opaque.
        _ => b.image(mi, source_media_type(c)),
    }
    Ok(())
}

fn source_media_type(c: &Obj<'_>) -> Option<String> {
    c.get("source")
        .and_then(|s| s.get("media_type"))
        .and_then(Node::as_str)
        .map(str::to_owned)
}

/// `tool_use`: `input` is a JSON object; its compact text is what guards scan
/// and what a redaction rewrites (then parsed back, see [`Slot::Json`]).
fn tool_use(c: &Obj<'_>, p: &Path<'_>, b: &mut Builder, mi: usize) -> Result<(), DecodeError> {
    let id = opt_str(c, "id", p)?.map(str::to_owned);
    let name = opt_str(c, "name", p)?.unwrap_or_default().to_owned();
    let (arguments, slot) = match c.get("input") {
        Some(input) => (
            input.to_value().to_string(),
            Some(Slot::Json(p.key("input").pointer())),
        ),
        None => (String::new(), None),
    };
    b.part(
        mi,
        Part::ToolCall {
            id,
            name,
            arguments,
        },
        slot,
    );
    Ok(())
}

pub(super) fn response(v: &Node<'_>, b: &mut Builder) -> Result<Meta, DecodeError> {
    let p = Path::root();
    let root = obj(v, &p)?;
    let mi = b.message(Role::Assistant);
    let cp = p.key("content");
    for (j, block) in arr(req(root, "content", &p)?, &cp)?.iter().enumerate() {
        content_block(block, &cp.index(j), b, mi)?;
    }
    Ok(Meta {
        model: opt_str(root, "model", &p)?.map(str::to_owned),
        ..Meta::default()
    })
}
