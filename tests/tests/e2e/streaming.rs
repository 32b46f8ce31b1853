//! SSE streams for both APIs: text arrives intact and in order, a banned
//! phrase split across chunks is caught, and a mid-stream block ends with an
//! error event in the API's format and cancels the upstream.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::support::*;

#[tokio::test]
async fn openai_stream_passes_through_in_order() {
    let up = Upstream::start().await;
    let p = proxy(BASIC, &up).await;
    let r = post(
        p.addr,
        "/v1/chat/completions",
        &[("x-test-behavior", "sse-openai")],
        &chat_stream("hi"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").starts_with("text/event-stream"));
    let body = r.text();
    assert_eq!(openai_stream_text(&body), "Hello there, friend");
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    assert_eq!(p.shared.metrics.unscanned_total(), 0);
}

#[tokio::test]
async fn anthropic_stream_passes_through_in_order() {
    let up = Upstream::start().await;
    let p = proxy(BASIC, &up).await;
    let r = post(
        p.addr,
        "/v1/messages",
        &[("x-test-behavior", "sse-anthropic")],
        &anthropic("hi", true),
    )
    .await;
    assert_eq!(r.status, 200);
    let body = r.text();
    assert_eq!(anthropic_stream_text(&body), "Hello there, friend");
    // Held-back text is released before the block closes.
    let stop = body.find("content_block_stop").unwrap();
    let last_delta = body.rfind("content_block_delta").unwrap();
    assert!(last_delta < stop, "{body}");
    assert!(body.contains("message_stop"));
}

#[tokio::test]
async fn phrase_split_across_chunks_blocks_mid_stream_openai() {
    let up = Upstream::start().await;
    let p = proxy(BASIC, &up).await;
    let r = post(
        p.addr,
        "/v1/chat/completions",
        &[
            ("x-test-behavior", "sse-openai"),
            (
                "x-test-reply",
                "Sure. The forb|idden sec|ret is here|, more text",
            ),
        ],
        &chat_stream("hi"),
    )
    .await;
    assert_eq!(r.status, 200);
    let body = r.text();
    let text = openai_stream_text(&body);
    assert!(!text.contains("forbidden"), "banned text leaked: {text:?}");
    assert!(body.contains("\"code\":\"blocked_by_policy\""), "{body}");
    assert!(body.trim_end().ends_with("data: [DONE]"));
}

#[tokio::test]
async fn phrase_split_across_chunks_blocks_mid_stream_anthropic() {
    let up = Upstream::start().await;
    let p = proxy(BASIC, &up).await;
    let r = post(
        p.addr,
        "/v1/messages",
        &[
            ("x-test-behavior", "sse-anthropic"),
            ("x-test-reply", "ok: forbidden| secret| revealed"),
        ],
        &anthropic("hi", true),
    )
    .await;
    let body = r.text();
    assert!(!anthropic_stream_text(&body).contains("forbidden"));
    assert!(body.contains("event: error"), "{body}");
    assert!(
        !body.contains("message_stop"),
        "no normal end after a block: {body}"
    );
}

#[tokio::test]
async fn client_disconnect_mid_stream_cancels_the_upstream() {
    let up = Upstream::start().await;
    let p = proxy(BASIC, &up).await;
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{}/v1/chat/completions", p.addr))
        .header("content-type", "application/json")
        .header("x-test-behavior", "sse-slow")
        .header("x-test-reply", "a|b|c|d|e|f|g|h|i|j")
        .body(http_body_util::Full::new(bytes::Bytes::from(chat_stream(
            "hi",
        ))))
        .unwrap();
    let resp = client().request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(up.live_streams.load(Ordering::SeqCst), 1);
    drop(resp);
    // The proxy notices the client is gone and drops the upstream body.
    let mut cancelled = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if up.live_streams.load(Ordering::SeqCst) == 0 {
            cancelled = true;
            break;
        }
    }
    assert!(
        cancelled,
        "upstream stream still being written after client left"
    );
}

#[tokio::test]
async fn upstream_reset_mid_stream_ends_with_error_event() {
    let up = Upstream::start().await;
    let p = proxy(BASIC, &up).await;
    let r = post(
        p.addr,
        "/v1/chat/completions",
        &[("x-test-behavior", "sse-reset")],
        &chat_stream("hi"),
    )
    .await;
    let body = r.text();
    assert!(
        body.contains("upstream_stream_error") || body.contains("upstream_stream_truncated"),
        "{body}"
    );
    // The proxy keeps serving.
    let r = post(p.addr, "/v1/chat/completions", &[], &chat("still there?")).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn malformed_upstream_stream_is_not_forwarded_unscanned() {
    let up = Upstream::start().await;
    let p = proxy(BASIC, &up).await;
    let r = post(
        p.addr,
        "/v1/chat/completions",
        &[("x-test-behavior", "sse-malformed")],
        &chat_stream("hi"),
    )
    .await;
    let body = r.text();
    assert!(body.contains("upstream_malformed_stream"), "{body}");
    assert!(!body.contains("{not json"), "{body}");
    assert_eq!(p.shared.metrics.unscanned_total(), 0);
}

/// How many times the output guards scanned stream text (one histogram
/// observation per scan).
fn stream_scans(p: &menshen_proxy::app::Running) -> u64 {
    let m = p.shared.metrics.encode();
    m.lines()
        .find(|l| l.starts_with("menshen_guard_latency_seconds_count{guard=\"output_stream\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A reply of `n` words, one per SSE event, as LLM servers stream tokens.
fn token_reply(n: usize, inject_at: Option<usize>) -> (String, String) {
    let mut pieces: Vec<String> = (0..n).map(|i| format!("w{} ", i % 10)).collect();
    if let Some(at) = inject_at {
        pieces.splice(at..at, ["forb", "idden ", "sec", "ret "].map(str::to_owned));
    }
    (pieces.join("|"), pieces.concat())
}

/// A streamed chat request through `p`, the upstream streaming `reply`
/// (pieces separated by `|`, one SSE event each).
async fn stream_chat(p: &menshen_proxy::app::Running, reply: &str) -> Reply {
    post(
        p.addr,
        "/v1/chat/completions",
        &[("x-test-behavior", "sse-openai"), ("x-test-reply", reply)],
        &chat_stream("hi"),
    )
    .await
}

#[tokio::test]
async fn a_token_per_event_stream_is_scanned_per_step_not_per_event() {
    let up = Upstream::start().await;
    let (reply, whole) = token_reply(300, None);
    let mut scans = Vec::new();
    for step in [64, 0] {
        let config = BASIC.replace(
            "header_timeout_ms = 1000\n",
            &format!("header_timeout_ms = 1000\nstream_scan_step_bytes = {step}\n"),
        );
        let p = proxy(&config, &up).await;
        let r = stream_chat(&p, &reply).await;
        assert_eq!(r.status, 200);
        let body = r.text();
        // Every byte arrives, in order, and the stream ends normally (the
        // header carrying the reply loses its trailing space).
        assert_eq!(openai_stream_text(&body), whole.trim_end());
        assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
        assert_eq!(p.shared.metrics.unscanned_total(), 0);
        scans.push(stream_scans(&p));
    }
    // 300 events of 3 bytes under a 512-byte hold-back: with a 64-byte step
    // about one scan per 64 new bytes past it; scanning at every event
    // costs one scan per event once the hold-back is full (about 130).
    let (stepped, every) = (scans[0], scans[1]);
    assert!(stepped > 0 && stepped <= 16, "{scans:?}");
    assert!(every >= 100, "{scans:?}");
}

#[tokio::test]
async fn a_phrase_streamed_token_by_token_deep_in_a_reply_is_blocked_unreleased() {
    let up = Upstream::start().await;
    let p = proxy(BASIC, &up).await;
    let (reply, _) = token_reply(300, Some(200));
    let body = stream_chat(&p, &reply).await.text();
    let text = openai_stream_text(&body);
    assert!(!text.contains("forb"), "banned text leaked: {text:?}");
    // Text well before the phrase was released before the block.
    assert!(text.starts_with("w0 w1 w2 "), "{text:?}");
    assert!(body.contains("\"code\":\"blocked_by_policy\""), "{body}");
}

#[tokio::test]
async fn pii_in_a_streamed_answer_is_redacted_as_in_a_whole_one() {
    let up = Upstream::start().await;
    let p = proxy(BASIC, &up).await;
    // Two addresses (one repeated) and a card, split over events, far
    // enough apart that they are released by different scans.
    let filler = "and then some more words to pad the reply ".repeat(12);
    let pieces = [
        "Write to jane.",
        "roe@example.com or ",
        "bob@example.org today. ",
        &filler,
        "The card is 4111 1111 ",
        "1111 1111; again, jane.roe@exa",
        "mple.com.",
    ];
    let whole = post(
        p.addr,
        "/v1/chat/completions",
        &[("x-test-reply", &pieces.concat())],
        &chat("hi"),
    )
    .await;
    assert_eq!(whole.status, 200);
    let whole = whole.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let streamed = stream_chat(&p, &pieces.join("|")).await;
    assert_eq!(streamed.status, 200);
    let streamed = openai_stream_text(&streamed.text());
    for raw in [
        "jane.roe@example.com",
        "bob@example.org",
        "4111 1111 1111 1111",
    ] {
        assert!(
            !whole.contains(raw) && !streamed.contains(raw),
            "{whole}\n{streamed}"
        );
    }
    // The configured operators, numbered per answer: the same value keeps
    // its placeholder, in a stream as in a whole answer.
    assert!(
        whole.contains("[EMAIL_1]") && whole.contains("[EMAIL_2]"),
        "{whole}"
    );
    assert_eq!(whole.matches("[EMAIL_1]").count(), 2, "{whole}");
    assert_eq!(streamed, whole);
    // Anthropic's stream the same way.
    let reply = pieces.join("|");
    let r = post(
        p.addr,
        "/v1/messages",
        &[
            ("x-test-behavior", "sse-anthropic"),
            ("x-test-reply", &reply),
        ],
        &anthropic("hi", true),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(anthropic_stream_text(&r.text()), whole);
}

#[tokio::test]
async fn responses_stream_delivers_every_byte_as_deltas_before_the_done_events() {
    let up = Upstream::start().await;
    let p = proxy(BASIC, &up).await;
    let responses = |reply: String| {
        let body = serde_json::json!({"model": "m", "stream": true, "input": "hi"}).to_string();
        async move {
            post(
                p.addr,
                "/v1/responses",
                &[
                    ("x-test-behavior", "sse-responses"),
                    ("x-test-reply", &reply),
                ],
                &body,
            )
            .await
        }
    };
    // A short answer is held back whole until the part ends; a long one is
    // released in steps and its last hold-back at the end. Clients build
    // the answer from the deltas, so the held text must arrive as deltas,
    // not only inside the `.done` events that repeat the answer. One long
    // answer carries an address that is redacted on the way.
    let filler = "and then some more words to pad the reply ".repeat(30);
    for (reply, expect) in [
        (
            "Hello| there|, friend".to_owned(),
            "Hello there, friend".to_owned(),
        ),
        (
            format!("Start. |{filler}|Write to jane.|roe@example.com now."),
            format!("Start. {filler}Write to [EMAIL_1] now."),
        ),
    ] {
        let r = responses(reply).await;
        assert_eq!(r.status, 200);
        let body = r.text();
        let (deltas, snapshots) = responses_stream_text(&body);
        assert_eq!(deltas, expect, "{body}");
        assert_eq!(snapshots.len(), 4, "{body}");
        assert!(snapshots.iter().all(|s| *s == expect), "{snapshots:?}");
        let done = body.find("response.output_text.done").unwrap();
        let last_delta = body.rfind("response.output_text.delta").unwrap();
        assert!(last_delta < done, "{body}");
        assert!(!body.contains("jane.roe"), "{body}");
    }
    assert_eq!(p.shared.metrics.unscanned_total(), 0);
}
