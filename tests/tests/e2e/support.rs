//! A recording mock upstream, a proxy launcher and a small HTTP client.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use menshen_proxy::app::{self, Running};
use menshen_proxy::config::Settings;
use tokio::net::TcpListener;
use tokio::sync::Mutex;

/// What the upstream received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A mock LLM upstream on loopback. Behaviour is chosen per request by the
/// `x-test-behavior` header (which the proxy forwards like any other header).
#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Recorded>>>,
    /// Streams whose body the upstream is still writing (drops when cancelled).
    pub live_streams: Arc<AtomicUsize>,
    /// TCP connections to the upstream open now.
    pub open_conns: Arc<AtomicUsize>,
}

struct LiveGuard(Arc<AtomicUsize>);
impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub const CHAT_REPLY: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from upstream"},"finish_reason":"stop"}]}"#;

/// One OpenAI chat.completion.chunk event for choice 0.
fn chat_chunk(delta: serde_json::Value, finish: Option<&str>) -> String {
    let v = serde_json::json!({"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",
        "choices":[{"index":0,"delta":delta,"finish_reason":finish}]});
    format!("data: {v}\n\n")
}

/// The SSE frames of a streamed answer made of `pieces`, for `api`:
/// `openai` / `anthropic` stream text, `openai-tool` / `anthropic-tool` one
/// tool call whose arguments are the pieces, `responses` one text part.
/// The signature the mock upstream puts on its thinking blocks.
/// The citation the `anthropic-cited` behaviours attach to their answer:
/// it quotes a staff list with an e-mail address in it.
pub static CITATION: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(|| {
    serde_json::json!({"type":"char_location","cited_text":"Support lead: jane.roe@example.com",
        "document_index":0,"document_title":"Staff list","start_char_index":0,"end_char_index":34})
});

/// The web search citation the `openai-cited` behaviours attach to their
/// answer (OpenAI's chat shape): a page title with an e-mail address in it.
pub static URL_CITATION: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(|| {
    serde_json::json!({"type":"url_citation","url_citation":{"start_index":0,"end_index":3,
        "url":"https://staff.example/list","title":"Support lead: jane.roe@example.com"}})
});

pub const THINKING_SIGNATURE: &str = "EqQBCkYIARgCKkD-mock-signature";

/// SSE frames named after each event's `type`, as Anthropic and the
/// Responses API send them.
fn named_frames(events: impl IntoIterator<Item = serde_json::Value>) -> Vec<String> {
    events
        .into_iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or("")))
        .collect()
}

/// `events` numbered with `sequence_number`, as the Responses API does.
fn sequenced(
    events: impl IntoIterator<Item = serde_json::Value>,
) -> impl Iterator<Item = serde_json::Value> {
    events.into_iter().enumerate().map(|(n, mut e)| {
        e["sequence_number"] = n.into();
        e
    })
}

fn sse_frames(api: &str, pieces: &[&str]) -> Vec<String> {
    let mut frames = Vec::new();
    let tool = api.ends_with("-tool");
    if api == "anthropic-thinking" {
        // A signed thinking block made of the pieces, then a short answer.
        frames.push("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude\",\"stop_reason\":null,\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n".to_owned());
        let mut events = vec![serde_json::json!({"type":"content_block_start","index":0,
            "content_block":{"type":"thinking","thinking":"","signature":""}})];
        for p in pieces {
            events.push(serde_json::json!({"type":"content_block_delta","index":0,
                "delta":{"type":"thinking_delta","thinking":p}}));
        }
        events.extend([
            serde_json::json!({"type":"content_block_delta","index":0,
                "delta":{"type":"signature_delta","signature":THINKING_SIGNATURE}}),
            serde_json::json!({"type":"content_block_stop","index":0}),
            serde_json::json!({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}),
            serde_json::json!({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Done."}}),
            serde_json::json!({"type":"content_block_stop","index":1}),
            serde_json::json!({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}),
            serde_json::json!({"type":"message_stop"}),
        ]);
        frames.extend(named_frames(events));
        return frames;
    }
    if api.starts_with("anthropic") && !matches!(api, "anthropic-fetch" | "anthropic-cited") {
        let (block, delta_type, delta_key, stop) = if tool {
            (
                serde_json::json!({"type":"tool_use","id":"toolu_1","name":"shell","input":{}}),
                "input_json_delta",
                "partial_json",
                "tool_use",
            )
        } else {
            (
                serde_json::json!({"type":"text","text":""}),
                "text_delta",
                "text",
                "end_turn",
            )
        };
        frames.push("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude\",\"stop_reason\":null,\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n".to_owned());
        let start =
            serde_json::json!({"type":"content_block_start","index":0,"content_block":block});
        frames.push(format!("event: content_block_start\ndata: {start}\n\n"));
        for p in pieces {
            let d = serde_json::json!({"type":"content_block_delta","index":0,"delta":{"type":delta_type, delta_key:p}});
            frames.push(format!("event: content_block_delta\ndata: {d}\n\n"));
        }
        frames.push(
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
                .to_owned(),
        );
        let end = serde_json::json!({"type":"message_delta","delta":{"stop_reason":stop},"usage":{"output_tokens":5}});
        frames.push(format!("event: message_delta\ndata: {end}\n\n"));
        frames.push("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".to_owned());
    } else if api == "anthropic-fetch" {
        // The provider fetched a page (the pieces joined) and then answered.
        let page = pieces.concat();
        let events = [
            serde_json::json!({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",
                "content":[],"model":"claude","stop_reason":null,"usage":{"input_tokens":1,"output_tokens":1}}}),
            serde_json::json!({"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use",
                "id":"srvtoolu_1","name":"web_fetch","input":{}}}),
            serde_json::json!({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta",
                "partial_json":"{\"url\":\"https://shop.example\"}"}}),
            serde_json::json!({"type":"content_block_stop","index":0}),
            serde_json::json!({"type":"content_block_start","index":1,"content_block":{"type":"web_fetch_tool_result",
                "tool_use_id":"srvtoolu_1","content":{"type":"web_fetch_result","url":"https://shop.example",
                "content":{"type":"document","source":{"type":"text","media_type":"text/plain","data":page}}}}}),
            serde_json::json!({"type":"content_block_stop","index":1}),
            serde_json::json!({"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}),
            serde_json::json!({"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"They open at 9."}}),
            serde_json::json!({"type":"content_block_stop","index":2}),
            serde_json::json!({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}),
            serde_json::json!({"type":"message_stop"}),
        ];
        frames.extend(named_frames(events));
    } else if api == "anthropic-cited" {
        // An answer (the pieces) that cites a document, as the API streams
        // it: the citation arrives whole in a `citations_delta`.
        let events = [
            serde_json::json!({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",
                "content":[],"model":"claude","stop_reason":null,"usage":{"input_tokens":1,"output_tokens":1}}}),
            serde_json::json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":"","citations":[]}}),
            serde_json::json!({"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":CITATION.clone()}}),
            serde_json::json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":pieces.concat()}}),
            serde_json::json!({"type":"content_block_stop","index":0}),
            serde_json::json!({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}),
            serde_json::json!({"type":"message_stop"}),
        ];
        frames.extend(named_frames(events));
    } else if api == "responses-shell" {
        // One call of the built-in local shell tool; the pieces joined are
        // the command. Its item comes whole, as it does from the API.
        let command = pieces.concat();
        let item = |status: &str| {
            serde_json::json!({"type":"local_shell_call","id":"ls_1","call_id":"call_1",
            "status":status,"action":{"type":"exec","command":["bash","-lc",command],"env":{}}})
        };
        let events = [
            serde_json::json!({"type":"response.created","response":{"id":"resp_1","status":"in_progress","output":[]}}),
            serde_json::json!({"type":"response.output_item.added","output_index":0,"item":item("in_progress")}),
            serde_json::json!({"type":"response.output_item.done","output_index":0,"item":item("completed")}),
            serde_json::json!({"type":"response.completed","response":{"id":"resp_1","status":"completed","output":[item("completed")]}}),
        ];
        frames.extend(named_frames(sequenced(events)));
    } else if api == "responses" {
        // The Responses API's event sequence for one text part; the `.done`
        // events and `response.completed` repeat the whole text.
        let text = pieces.concat();
        let part = serde_json::json!({"type":"output_text","text":text,"annotations":[]});
        let item = serde_json::json!({"type":"message","id":"msg_1","role":"assistant","status":"completed","content":[part]});
        let mut events = vec![
            serde_json::json!({"type":"response.created","response":{"id":"resp_1","status":"in_progress","output":[]}}),
            serde_json::json!({"type":"response.output_item.added","output_index":0,"item":{"type":"message","id":"msg_1","role":"assistant","status":"in_progress","content":[]}}),
            serde_json::json!({"type":"response.content_part.added","output_index":0,"content_index":0,"item_id":"msg_1","part":{"type":"output_text","text":"","annotations":[]}}),
        ];
        for p in pieces {
            events.push(serde_json::json!({"type":"response.output_text.delta","output_index":0,"content_index":0,"item_id":"msg_1","delta":p}));
        }
        events.extend([
            serde_json::json!({"type":"response.output_text.done","output_index":0,"content_index":0,"item_id":"msg_1","text":text}),
            serde_json::json!({"type":"response.content_part.done","output_index":0,"content_index":0,"item_id":"msg_1","part":part}),
            serde_json::json!({"type":"response.output_item.done","output_index":0,"item":item}),
            serde_json::json!({"type":"response.completed","response":{"id":"resp_1","status":"completed","output":[item]}}),
        ]);
        frames.extend(named_frames(sequenced(events)));
    } else {
        if tool {
            frames.push(chat_chunk(
                serde_json::json!({"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"shell","arguments":""}}]}),
                None,
            ));
        }
        for p in pieces {
            let delta = if tool {
                serde_json::json!({"tool_calls":[{"index":0,"function":{"arguments":p}}]})
            } else {
                serde_json::json!({"content":p})
            };
            frames.push(chat_chunk(delta, None));
        }
        if api == "openai-cited" {
            // Search models send the citations whole, after the text.
            frames.push(chat_chunk(
                serde_json::json!({"annotations":[URL_CITATION.clone()]}),
                None,
            ));
        }
        let finish = if tool { "tool_calls" } else { "stop" };
        frames.push(chat_chunk(serde_json::json!({}), Some(finish)));
        frames.push("data: [DONE]\n\n".to_owned());
    }
    frames
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

fn json(status: StatusCode, body: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(body.to_owned()))
        .unwrap()
}

fn stream(
    frames: Vec<String>,
    delay: Duration,
    then_reset: bool,
    live: Arc<AtomicUsize>,
) -> Response<Body> {
    stream_as("text/event-stream", frames, delay, then_reset, live)
}

fn stream_as(
    content_type: &str,
    frames: Vec<String>,
    delay: Duration,
    then_reset: bool,
    live: Arc<AtomicUsize>,
) -> Response<Body> {
    live.fetch_add(1, Ordering::SeqCst);
    let guard = LiveGuard(live);
    let s = futures::stream::unfold(
        (frames.into_iter(), guard, then_reset),
        move |(mut it, g, reset)| async move {
            tokio::time::sleep(delay).await;
            match it.next() {
                Some(f) => Some((Ok(Frame::data(Bytes::from(f))), (it, g, reset))),
                None if reset => Some((Err(std::io::Error::other("reset")), (it, g, false))),
                None => None,
            }
        },
    );
    Response::builder()
        .header("content-type", content_type)
        .body(StreamBody::new(s).boxed())
        .unwrap()
}

/// Ollama's native answer to `path` (`/api/chat` or `/api/generate`):
/// NDJSON lines, one per piece, then the `done` line (with token ids for
/// generate), unless the request said `"stream": false`; with `tool`, the
/// pieces are one tool call's `command` argument, sent whole in one line.
fn ollama(
    path: &str,
    request: &[u8],
    pieces: &[&str],
    tool: bool,
    live: Arc<AtomicUsize>,
) -> Response<Body> {
    let streamed = serde_json::from_slice::<serde_json::Value>(request)
        .ok()
        .and_then(|v| v.get("stream").and_then(serde_json::Value::as_bool))
        != Some(false);
    let chat = path == "/api/chat";
    let line = |text: &str, done: bool| {
        let mut v = if chat {
            serde_json::json!({"model":"llama3.2","created_at":"2026-12-01T00:00:00Z",
                "message":{"role":"assistant","content":text},"done":done})
        } else {
            serde_json::json!({"model":"llama3.2","created_at":"2026-12-01T00:00:00Z",
                "response":text,"done":done})
        };
        if done {
            v["done_reason"] = "stop".into();
            v["prompt_eval_count"] = 26.into();
            v["eval_count"] = 7.into();
            if !chat {
                v["context"] = serde_json::json!([128006, 882, 128007]);
            }
        }
        v
    };
    if tool {
        let mut v = line("", !streamed);
        v["message"]["tool_calls"] = serde_json::json!([{"function":
            {"name":"shell","arguments":{"command":pieces.concat(),"timeout":30}}}]);
        if !streamed {
            return json(StatusCode::OK, &v.to_string());
        }
        let frames = vec![format!("{v}\n"), format!("{}\n", line("", true))];
        return stream_as(
            "application/x-ndjson",
            frames,
            Duration::from_millis(5),
            false,
            live,
        );
    }
    if !streamed {
        return json(StatusCode::OK, &line(&pieces.concat(), true).to_string());
    }
    let frames = pieces
        .iter()
        .map(|p| format!("{}\n", line(p, false)))
        .chain([format!("{}\n", line("", true))])
        .collect();
    stream_as(
        "application/x-ndjson",
        frames,
        Duration::from_millis(5),
        false,
        live,
    )
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Upstream {
            addr,
            received: Arc::new(Mutex::new(Vec::new())),
            live_streams: Arc::new(AtomicUsize::new(0)),
            open_conns: Arc::new(AtomicUsize::new(0)),
        };
        let up2 = up.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    break;
                };
                let up = up2.clone();
                up.open_conns.fetch_add(1, Ordering::SeqCst);
                let open = LiveGuard(Arc::clone(&up.open_conns));
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let up = up.clone();
                        async move { Ok::<_, Infallible>(up.handle(req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                    drop(open);
                });
            }
        });
        up
    }

    /// Also serves the same mock on a Unix domain socket at `path`.
    pub fn serve_unix(&self, path: &std::path::Path) {
        let listener = tokio::net::UnixListener::bind(path).unwrap();
        let up2 = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    break;
                };
                let up = up2.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let up = up.clone();
                        async move { Ok::<_, Infallible>(up.handle(req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(sock), svc)
                        .await;
                });
            }
        });
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn requests(&self) -> Vec<Recorded> {
        self.received.lock().await.clone()
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let behavior = parts
            .headers
            .get("x-test-behavior")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        // `x-test-reply-json`: the reply as a JSON string, for text that a
        // header cannot carry (line breaks).
        let reply_text = parts
            .headers
            .get("x-test-reply-json")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| serde_json::from_str::<String>(v).ok())
            .or_else(|| {
                parts
                    .headers
                    .get("x-test-reply")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            });
        self.received.lock().await.push(Recorded {
            path: parts.uri.path().to_owned(),
            headers: parts.headers.clone(),
            body: body.clone(),
        });
        let pieces: Vec<String> = reply_text
            .as_deref()
            .unwrap_or("Hello| there|, friend")
            .split('|')
            .map(str::to_owned)
            .collect();
        let pieces_ref: Vec<&str> = pieces.iter().map(String::as_str).collect();
        let live = Arc::clone(&self.live_streams);
        match behavior.as_str() {
            "hang" => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                json(StatusCode::OK, CHAT_REPLY)
            }
            "malformed" => json(StatusCode::OK, "{\"choices\": [ this is not json"),
            // An HTTP/1.0 server's answer (some simple model servers).
            "http10" => {
                let mut r = json(StatusCode::OK, CHAT_REPLY);
                *r.version_mut() = http::Version::HTTP_10;
                r
            }
            // Compresses although asked for identity (the bytes are a gzip
            // header and garbage: no test reads them).
            "encoded" => Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .body(full(&b"\x1f\x8b\x08\x00garbage"[..]))
                .unwrap(),
            "error500" => json(
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"error":{"message":"upstream broke","type":"server_error"}}"#,
            ),
            "sse-openai" => stream(
                sse_frames("openai", &pieces_ref),
                Duration::from_millis(5),
                false,
                live,
            ),
            "sse-anthropic" => stream(
                sse_frames("anthropic", &pieces_ref),
                Duration::from_millis(5),
                false,
                live,
            ),
            "sse-anthropic-thinking" => stream(
                sse_frames("anthropic-thinking", &pieces_ref),
                Duration::from_millis(5),
                false,
                live,
            ),
            // The reply is a signed thinking block, then a short answer.
            "anthropic-thinking" => {
                let v = serde_json::json!({"id":"msg_1","type":"message","role":"assistant","model":"claude",
                    "content":[{"type":"thinking","thinking":pieces.concat(),"signature":THINKING_SIGNATURE},
                        {"type":"text","text":"Done."}],
                    "stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}});
                json(StatusCode::OK, &v.to_string())
            }
            // A Responses API reply whose output is a call of the built-in
            // local shell tool; the reply text is the shell command.
            "responses-shell" => {
                let command = reply_text.unwrap_or_default();
                let v = serde_json::json!({"id":"resp_1","object":"response","model":"m","status":"completed",
                    "output":[{"type":"local_shell_call","id":"ls_1","call_id":"call_1","status":"completed",
                        "action":{"type":"exec","command":["bash","-lc",command],"env":{}}}]});
                json(StatusCode::OK, &v.to_string())
            }
            "sse-anthropic-fetch" => stream(
                sse_frames("anthropic-fetch", &pieces_ref),
                Duration::from_millis(5),
                false,
                live,
            ),
            "sse-anthropic-cited" => stream(
                sse_frames("anthropic-cited", &pieces_ref),
                Duration::from_millis(5),
                false,
                live,
            ),
            "sse-openai-cited" => stream(
                sse_frames("openai-cited", &pieces_ref),
                Duration::from_millis(5),
                false,
                live,
            ),
            // A chat answer (the reply text) with a web search citation.
            "openai-cited" => {
                let v = serde_json::json!({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",
                    "choices":[{"index":0,"message":{"role":"assistant","content":pieces.concat(),
                        "annotations":[URL_CITATION.clone()]},"finish_reason":"stop"}]});
                json(StatusCode::OK, &v.to_string())
            }
            // An answer (the reply text) with a citation of a document.
            "anthropic-cited" => {
                let v = serde_json::json!({"id":"msg_1","type":"message","role":"assistant","model":"claude",
                    "content":[{"type":"text","text":pieces.concat(),"citations":[CITATION.clone()]}],
                    "stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}});
                json(StatusCode::OK, &v.to_string())
            }
            "sse-responses-shell" => stream(
                sse_frames("responses-shell", &pieces_ref),
                Duration::from_millis(5),
                false,
                live,
            ),
            "sse-responses" => stream(
                sse_frames("responses", &pieces_ref),
                Duration::from_millis(5),
                false,
                live,
            ),
            "tool-call" => {
                // The reply is a tool call's arguments.
                let args = reply_text.unwrap_or_default();
                let v = serde_json::json!({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",
                    "choices":[{"index":0,"message":{"role":"assistant","content":null,
                        "tool_calls":[{"id":"call_1","type":"function","function":{"name":"shell","arguments":args}}]},
                        "finish_reason":"tool_calls"}]});
                json(StatusCode::OK, &v.to_string())
            }
            // The reply is one tool call's arguments, streamed in pieces.
            "sse-tool-call" => stream(
                sse_frames("openai-tool", &pieces_ref),
                Duration::from_millis(5),
                false,
                live,
            ),
            "sse-anthropic-tool" => stream(
                sse_frames("anthropic-tool", &pieces_ref),
                Duration::from_millis(5),
                false,
                live,
            ),
            "sse-slow" => stream(
                sse_frames("openai", &pieces_ref),
                Duration::from_millis(300),
                false,
                live,
            ),
            "sse-reset" => {
                let mut f = sse_frames("openai", &pieces_ref);
                f.truncate(2);
                stream(f, Duration::from_millis(5), true, live)
            }
            "sse-malformed" => stream(
                vec!["data: {not json\n\n".to_owned()],
                Duration::from_millis(5),
                false,
                live,
            ),
            "ollama-tool" => ollama(parts.uri.path(), &body, &pieces_ref, true, live),
            // Two good lines, then one that is not JSON, then more.
            "ollama-malformed" => stream_as(
                "application/x-ndjson",
                vec![
                    "{\"model\":\"m\",\"response\":\"Hello \",\"done\":false}\n".to_owned(),
                    "{\"model\":\"m\",\"response\":\"there\",\"done\":false}\n".to_owned(),
                    "{\"model\":\"m\",\"response\":\"sec\n".to_owned(),
                    "{\"model\":\"m\",\"response\":\"ret\",\"done\":true}\n".to_owned(),
                ],
                Duration::from_millis(5),
                false,
                live,
            ),
            _ if parts.uri.path().starts_with("/api/") => {
                ollama(parts.uri.path(), &body, &pieces_ref, false, live)
            }
            _ => {
                let text = reply_text.unwrap_or_else(|| "Hello from upstream".to_owned());
                if parts.uri.path() == "/v1/messages" {
                    let v = serde_json::json!({"id":"msg_1","type":"message","role":"assistant","model":"claude",
                        "content":[{"type":"text","text":text}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}});
                    json(StatusCode::OK, &v.to_string())
                } else if parts.uri.path() == "/v1/messages/count_tokens" {
                    json(StatusCode::OK, r#"{"input_tokens":42}"#)
                } else if parts.uri.path() == "/v1/responses/input_tokens" {
                    json(
                        StatusCode::OK,
                        r#"{"object":"response.input_tokens","input_tokens":42}"#,
                    )
                } else if parts.uri.path() == "/v1/models" {
                    json(
                        StatusCode::OK,
                        r#"{"object":"list","data":[{"id":"m","object":"model"}]}"#,
                    )
                } else if parts.uri.path() == "/v1/completions" {
                    let v = serde_json::json!({"id":"cmpl-1","object":"text_completion","model":"m","choices":[{"index":0,"text":text,"finish_reason":"stop"}]});
                    json(StatusCode::OK, &v.to_string())
                } else if parts.uri.path() == "/v1/responses" {
                    let v = serde_json::json!({"id":"resp_1","object":"response","model":"m","status":"completed",
                        "output":[{"type":"message","id":"m1","role":"assistant","status":"completed","content":[{"type":"output_text","text":text,"annotations":[]}]}]});
                    json(StatusCode::OK, &v.to_string())
                } else {
                    let v = serde_json::json!({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",
                        "choices":[{"index":0,"message":{"role":"assistant","content":text},"finish_reason":"stop"}]});
                    json(StatusCode::OK, &v.to_string())
                }
            }
        }
    }
}

/// Starts a proxy from TOML (with `{upstream}` replaced by the mock's URL).
pub async fn proxy(config: &str, upstream: &Upstream) -> Running {
    let text = config.replace("{upstream}", &upstream.url());
    let env: BTreeMap<String, String> =
        [("UPSTREAM_KEY".to_owned(), "sk-upstream-secret".to_owned())].into();
    let mut settings = Settings::from_toml("test.toml", &text, &env).unwrap();
    settings.listen = "127.0.0.1:0".parse().unwrap();
    // Review queue and other state in a directory of the test's own.
    settings.data_dir = tempfile::tempdir().unwrap().keep();
    // `menshen serve`'s layout (request-serving threads of their own),
    // with two of them whatever this machine's CPU count.
    settings.workers = 2;
    let shared = app::build_shared(settings, None).unwrap();
    Running::start(shared).await.unwrap()
}

/// BASIC with the built-in threshold engine and pseudonymizing redaction.
pub fn threshold_config() -> String {
    format!("{BASIC}\n[policy]\nengine = \"threshold\"\n")
}

pub const BASIC: &str = r#"
[server]
max_body_bytes = 65536
body_timeout_ms = 1000
header_timeout_ms = 1000

[[upstreams]]
name = "main"
url = "{upstream}"
api_key_env = "UPSTREAM_KEY"
timeout_ms = 1500
retries = 1

[[routes]]
name = "default"
upstream = "main"
passthrough = ["/v1/models"]

[guards.phrases]
phrases = ["ignore previous instructions", "忽略之前的指令", "forbidden secret"]
"#;

/// A response as the test sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not json ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

pub type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

pub fn client() -> Client {
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http()
}

pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = client()
        .request(b.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub async fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut h = vec![("content-type", "application/json")];
    h.extend_from_slice(headers);
    send(addr, "POST", path, &h, body.to_owned()).await
}

pub fn chat(text: &str) -> String {
    serde_json::json!({"model":"m","messages":[{"role":"user","content":text}]}).to_string()
}

pub fn chat_stream(text: &str) -> String {
    serde_json::json!({"model":"m","stream":true,"messages":[{"role":"user","content":text}]})
        .to_string()
}

pub fn anthropic(text: &str, stream: bool) -> String {
    serde_json::json!({"model":"claude","max_tokens":64,"stream":stream,"system":"be helpful","messages":[{"role":"user","content":text}]}).to_string()
}

/// Concatenated text deltas of an OpenAI chat SSE body.
pub fn openai_stream_text(body: &str) -> String {
    body.split("\n\n")
        .filter_map(|ev| ev.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// The events of an SSE body with a `data` line, parsed.
fn sse_json(body: &str) -> impl Iterator<Item = serde_json::Value> + '_ {
    body.split("\n\n")
        .filter_map(|ev| ev.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
}

/// Concatenated `response.output_text.delta` texts of a Responses API SSE
/// body, and the text of every event that repeats the whole answer
/// (`output_text.done`, `content_part.done`, `output_item.done`,
/// `response.completed`), in order.
pub fn responses_stream_text(body: &str) -> (String, Vec<String>) {
    let mut deltas = String::new();
    let mut snapshots = Vec::new();
    for v in sse_json(body) {
        let snapshot = match v["type"].as_str().unwrap_or("") {
            "response.output_text.delta" => {
                deltas.push_str(v["delta"].as_str().unwrap_or(""));
                continue;
            }
            "response.output_text.done" => &v["text"],
            "response.content_part.done" => &v["part"]["text"],
            "response.output_item.done" => &v["item"]["content"][0]["text"],
            "response.completed" => &v["response"]["output"][0]["content"][0]["text"],
            _ => continue,
        };
        snapshots.push(snapshot.as_str().unwrap_or("").to_owned());
    }
    (deltas, snapshots)
}

/// The lines of an NDJSON body, parsed (each must be JSON).
pub fn ndjson_lines(body: &str) -> Vec<serde_json::Value> {
    body.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {l:?}: {e}")))
        .collect()
}

/// Concatenated `message.content` (chat) or `response` (generate) of an
/// Ollama NDJSON body.
pub fn ollama_stream_text(body: &str) -> String {
    ndjson_lines(body)
        .iter()
        .filter_map(|v| {
            v["message"]["content"]
                .as_str()
                .or_else(|| v["response"].as_str())
                .map(str::to_owned)
        })
        .collect()
}

/// Concatenated text deltas of an Anthropic SSE body.
pub fn anthropic_stream_text(body: &str) -> String {
    sse_json(body)
        .filter(|v| v["type"] == "content_block_delta")
        .filter_map(|v| v["delta"]["text"].as_str().map(str::to_owned))
        .collect()
}

/// Starts a proxy with a real audit log in `dir`; returns the log so the test
/// can shut it down (final checkpoint) before exporting.
pub async fn proxy_with_audit(
    config: &str,
    upstream: &Upstream,
    dir: &std::path::Path,
) -> (Running, menshen_audit::AuditLog) {
    let text = format!(
        "data_dir = \"{}\"\n{}",
        dir.display(),
        config.replace("{upstream}", &upstream.url())
    );
    let env: BTreeMap<String, String> =
        [("UPSTREAM_KEY".to_owned(), "sk-upstream-secret".to_owned())].into();
    let mut settings = Settings::from_toml("test.toml", &text, &env).unwrap();
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.workers = 2;
    let (log, hook) = app::open_audit(&settings).unwrap().unwrap();
    let shared = app::build_shared(settings, Some(hook)).unwrap();
    (Running::start(shared).await.unwrap(), log)
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The ONNX Runtime library, or `None` (printed) when it is not installed.
pub fn onnx_library() -> Option<PathBuf> {
    let lib = std::env::var("ORT_DYLIB_PATH")
        .ok()
        .filter(|p| !p.is_empty())
        .map_or_else(
            || repo_root().join("vendor/onnxruntime/lib/libonnxruntime.so"),
            PathBuf::from,
        );
    if lib.is_file() {
        Some(lib)
    } else {
        eprintln!(
            "SKIPPED: ONNX Runtime library not found at {} (run scripts/setup-onnx.sh or set ORT_DYLIB_PATH)",
            lib.display()
        );
        None
    }
}

/// Verifies the bundle in `out` offline, with no pinned keys.
pub fn verify(out: &Path) -> menshen_audit::VerifyReport {
    use menshen_audit::{verify_bundle, VerifyOptions};
    verify_bundle(
        out,
        &VerifyOptions {
            keys: None,
            previous_checkpoint: None,
            verbose: false,
        },
    )
    .unwrap()
}

/// Exports the whole audit log under `dir` (payloads included) into a new
/// bundle directory, checks that it verifies, and returns the directory.
pub fn verified_bundle(dir: &Path) -> PathBuf {
    use menshen_audit::{export, ExportOptions};
    static N: AtomicUsize = AtomicUsize::new(0);
    let out = dir.join(format!("bundle-{}", N.fetch_add(1, Ordering::Relaxed)));
    export(
        &dir.join("audit"),
        &ExportOptions {
            from_ms: 0,
            to_ms: u64::MAX / 2,
            tenant: None,
            out: out.clone(),
            include_payloads: true,
            pinned: None,
            key_path: None,
            checkpoint_interval_s: Some(3600),
        },
    )
    .unwrap();
    let report = verify(&out);
    assert!(report.is_valid(), "{:?}", report.items);
    out
}

/// Exports the audit log under `dir`, verifies the bundle and returns its
/// records.
pub fn verified_records(dir: &Path) -> String {
    std::fs::read_to_string(verified_bundle(dir).join("records.jsonl")).unwrap()
}
