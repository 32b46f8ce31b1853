//! A Rego `review` decision holds the request (never forwarded), stores a
//! case, and the admin API (its own listener and key) lists and decides it.

use std::sync::Arc;

use super::support::*;

const POLICY: &str = r#"package menshen

import rego.v1

default decision := {"action": "allow", "reasons": []}

decision := {"action": "review", "reasons": ["large_transfer"], "message": "Held for review by a person."} if {
	input.llm.model == "bank-bot"
}
"#;

#[tokio::test]
async fn review_decisions_are_held_and_decided_through_the_admin_api() {
    let up = Upstream::start().await;
    let bundle = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(bundle.path().join("menshen")).unwrap();
    std::fs::write(bundle.path().join("menshen/decision.rego"), POLICY).unwrap();
    let cfg = format!(
        "{BASIC}\n[policy]\nbundle = \"{}\"\n",
        bundle.path().display()
    );
    let p = proxy(&cfg, &up).await;

    let body = serde_json::json!({"model":"bank-bot","messages":[{"role":"user","content":"move 50000 EUR to account X"}]}).to_string();
    let r = post(p.addr, "/v1/chat/completions", &[], &body).await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.header("x-menshen-decision"), "review");
    let case = r.header("x-menshen-review-case").to_owned();
    assert!(!case.is_empty());
    assert_eq!(r.json()["error"]["code"], "held_for_review");
    assert!(
        up.requests().await.is_empty(),
        "a held request must not reach the upstream"
    );

    // Admin API on its own listener, with its own key.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = l.local_addr().unwrap();
    tokio::spawn(menshen_proxy::admin::serve(
        l,
        Arc::clone(&p.shared),
        "admin-key-0123456789".into(),
    ));
    let r = send(admin, "GET", "/admin/reviews?status=pending", &[], "").await;
    assert_eq!(
        r.status, 401,
        "client keys or no key never open the admin API"
    );
    let auth = [("authorization", "Bearer admin-key-0123456789")];
    let r = send(admin, "GET", "/admin/reviews?status=pending", &auth, "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let cases = r.json()["cases"].as_array().unwrap().clone();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0]["id"], case);
    assert!(!cases[0]["redacted_content"].as_str().unwrap().is_empty());

    let r = send(
        admin,
        "POST",
        &format!("/admin/reviews/{case}/approve"),
        &auth,
        r#"{"reviewer":"alice","note":"ok"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(
        admin,
        "POST",
        &format!("/admin/reviews/{case}/reject"),
        &auth,
        r#"{"reviewer":"bob"}"#,
    )
    .await;
    assert_eq!(r.status, 409, "outcomes are final: {}", r.text());
    let r = send(admin, "GET", "/admin/policy", &auth, "").await;
    assert_eq!(r.json()["engine"], "rego");
}

const ROUTING: &str = r#"package menshen

import rego.v1

default decision := {"action": "allow", "reasons": []}

decision := {"action": "route", "route": "small", "reasons": ["simple_request"]} if {
	input.llm.message_bytes.user < 40
}
"#;

#[tokio::test]
async fn route_decisions_pick_the_upstream() {
    let big = Upstream::start().await;
    let small = Upstream::start().await;
    let bundle = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(bundle.path().join("menshen")).unwrap();
    std::fs::write(bundle.path().join("menshen/decision.rego"), ROUTING).unwrap();
    let cfg = format!(
        "{BASIC}\n[[upstreams]]\nname = \"small\"\nurl = \"{}\"\n\n[policy]\nbundle = \"{}\"\n",
        small.url(),
        bundle.path().display()
    );
    let p = proxy(&cfg, &big).await;
    let r = post(p.addr, "/v1/chat/completions", &[], &chat("hi")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-menshen-decision"), "route");
    let long = "Please write a detailed comparison of three sorting algorithms with examples.";
    let r = post(p.addr, "/v1/chat/completions", &[], &chat(long)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        small.requests().await.len(),
        1,
        "the short request went to the small model"
    );
    assert_eq!(
        big.requests().await.len(),
        1,
        "the long request stayed on the default upstream"
    );
}
