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

/// The test config with `policy` as its only Rego module; the bundle
/// directory lives as long as the returned guard.
fn with_policy(policy: &str) -> (tempfile::TempDir, String) {
    let bundle = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(bundle.path().join("menshen")).unwrap();
    std::fs::write(bundle.path().join("menshen/decision.rego"), policy).unwrap();
    let cfg = format!(
        "{BASIC}\n[policy]\nbundle = \"{}\"\n",
        bundle.path().display()
    );
    (bundle, cfg)
}

/// Sets a case's `column` (`created_at`, `decided_at`) to `secs` ago in the
/// queue's database, as if that much time had passed.
fn backdate(db: &rusqlite::Connection, column: &str, secs: i64, case: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    db.execute(
        &format!("UPDATE review_cases SET {column} = ?1 WHERE id = ?2"),
        rusqlite::params![now - secs, case],
    )
    .unwrap();
}

#[tokio::test]
async fn review_decisions_are_held_and_decided_through_the_admin_api() {
    let up = Upstream::start().await;
    let (_bundle, cfg) = with_policy(POLICY);
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
    let admin = admin_api(&p).await;
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

    let r = decide(
        admin,
        &auth,
        &case,
        "approve",
        r#"{"reviewer":"alice","note":"ok"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = decide(admin, &auth, &case, "reject", r#"{"reviewer":"bob"}"#).await;
    assert_eq!(r.status, 409, "outcomes are final: {}", r.text());
    let r = send(admin, "GET", "/admin/policy", &auth, "").await;
    assert_eq!(r.json()["engine"], "rego");
}

/// Starts the admin API for `p` on its own listener.
/// Sends a request the policy holds and returns the review case it got.
async fn held_case(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    post(addr, path, headers, body)
        .await
        .header("x-menshen-review-case")
        .to_owned()
}

/// A reviewer's `verdict` (`approve` or `reject`) on `case`, with `body`.
async fn decide(
    admin: std::net::SocketAddr,
    auth: &[(&str, &str)],
    case: &str,
    verdict: &str,
    body: &str,
) -> Reply {
    send(
        admin,
        "POST",
        &format!("/admin/reviews/{case}/{verdict}"),
        auth,
        body.to_owned(),
    )
    .await
}

/// One pass of the review queue's upkeep (expiry, late audits, purge).
async fn upkeep(p: &menshen_proxy::app::Running) -> menshen_proxy::admin::Upkeep {
    menshen_proxy::admin::review_upkeep(&p.shared)
        .await
        .unwrap()
}

async fn admin_api(p: &menshen_proxy::app::Running) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = l.local_addr().unwrap();
    tokio::spawn(menshen_proxy::admin::serve(
        l,
        Arc::clone(&p.shared),
        "admin-key-0123456789".into(),
    ));
    admin
}

#[tokio::test]
async fn an_approval_releases_the_held_request_once_and_only_that_request() {
    let up = Upstream::start().await;
    let (_bundle, cfg) = with_policy(POLICY);
    let cfg = cfg.replace("[[upstreams]]", "[audit]\nmode = \"sync\"\n\n[[upstreams]]");
    let tmp = tempfile::tempdir().unwrap();
    let (p, log) = proxy_with_audit(&cfg, &up, tmp.path()).await;
    let admin = admin_api(&p).await;
    let auth = [("authorization", "Bearer admin-key-0123456789")];
    let path = "/v1/chat/completions";
    let held = serde_json::json!({"model":"bank-bot","messages":[{"role":"user","content":"move 50000 EUR to account X"}]}).to_string();
    let r = post(p.addr, path, &[], &held).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let case = r.header("x-menshen-review-case").to_owned();
    let named = [("x-menshen-review-case", case.as_str())];

    // Pending: held again under the same case, no new case.
    let r = post(p.addr, path, &named, &held).await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.header("x-menshen-review-case"), case);
    assert_eq!(r.json()["error"]["code"], "held_for_review");
    let r = send(admin, "GET", "/admin/reviews", &auth, "").await;
    assert_eq!(r.json()["cases"].as_array().unwrap().len(), 1);

    let r = decide(
        admin,
        &auth,
        &case,
        "approve",
        r#"{"reviewer":"alice","note":"customer called"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // The approval covers what the reviewer saw: another amount is not it.
    let other = held.replace("50000", "90000");
    let r = post(p.addr, path, &named, &other).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "review_case_mismatch");
    assert_eq!(r.header("x-menshen-decision"), "block");
    let r = post(
        p.addr,
        path,
        &[("x-menshen-review-case", "not-a-case")],
        &held,
    )
    .await;
    assert_eq!(r.json()["error"]["code"], "review_case_mismatch");
    assert!(up.requests().await.is_empty(), "nothing forwarded so far");

    // The same request is released, once.
    let r = post(p.addr, path, &named, &held).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-menshen-decision"), "allow");
    assert_eq!(r.header("x-menshen-review-case"), case);
    let released_id = r.header("x-request-id").to_owned();
    let seen = up.requests().await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, held.as_bytes());
    assert!(
        seen[0].headers.get("x-menshen-review-case").is_none(),
        "proxy headers stay at the proxy"
    );
    let r = post(p.addr, path, &named, &held).await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "review_case_used");
    assert_eq!(up.requests().await.len(), 1, "an approval is not a pass");

    let r = send(admin, "GET", &format!("/admin/reviews/{case}"), &auth, "").await;
    assert_eq!(r.json()["released_request_id"], released_id.as_str());

    // A rejected case releases nothing.
    let second = held.replace("account X", "account Y");
    let r = post(p.addr, path, &[], &second).await;
    let rejected = r.header("x-menshen-review-case").to_owned();
    let r = decide(admin, &auth, &rejected, "reject", r#"{"reviewer":"bob"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post(
        p.addr,
        path,
        &[("x-menshen-review-case", rejected.as_str())],
        &second,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "review_rejected");
    assert_eq!(up.requests().await.len(), 1);

    // A request the policy does not hold ignores the header.
    let fine = serde_json::json!({"model":"chat","messages":[{"role":"user","content":"hello"}]})
        .to_string();
    let r = post(p.addr, path, &named, &fine).await;
    assert_eq!(r.status, 200, "{}", r.text());

    // The audit log tells the story: held, approved, released; held,
    // rejected, refused.
    p.stop().await.unwrap();
    log.shutdown().await.unwrap();
    let records = verified_records(tmp.path());
    let reviews: Vec<(String, String, String)> = records
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| !v["event"]["decision"]["review"].is_null())
        .map(|v| v["event"]["decision"].clone())
        .filter(|d| d["direction"] == "request")
        .map(|v| {
            let s = |x: &serde_json::Value| x.as_str().unwrap_or("-").to_owned();
            (
                s(&v["review"]["case_id"]),
                s(&v["review"]["outcome"]),
                s(&v["decision"]["action"]),
            )
        })
        .collect();
    let want = |c: &str, o: &str, a: &str| (c.to_owned(), o.to_owned(), a.to_owned());
    assert_eq!(
        reviews,
        vec![
            want(&case, "-", "review"),
            want(&case, "-", "review"),
            want(&case, "approved", "review"),
            want(&case, "released", "allow"),
            want(&case, "reused", "block"),
            want(&rejected, "-", "review"),
            want(&rejected, "rejected", "review"),
            want(&rejected, "rejected", "block"),
        ],
        "{records}"
    );
}

/// A case nobody decides in time is closed as expired (and audited so), a
/// late resubmission is refused with a code that says so, and decided
/// cases leave the queue after their retention.
#[tokio::test]
async fn unanswered_cases_expire_and_decided_ones_are_deleted() {
    let up = Upstream::start().await;
    let (_bundle, cfg) = with_policy(POLICY);
    let cfg = cfg.replace("[[upstreams]]", "[audit]\nmode = \"sync\"\n\n[[upstreams]]")
        + "review_expire_hours = 1\nreview_retention_days = 1\n";
    let tmp = tempfile::tempdir().unwrap();
    let (p, log) = proxy_with_audit(&cfg, &up, tmp.path()).await;
    let admin = admin_api(&p).await;
    let auth = [("authorization", "Bearer admin-key-0123456789")];
    let path = "/v1/chat/completions";
    let held = serde_json::json!({"model":"bank-bot","messages":[{"role":"user","content":"move 50000 EUR to account X"}]}).to_string();
    let waiting = held_case(p.addr, path, &[], &held).await;
    let other = held.replace("account X", "account Y");
    let decided = held_case(p.addr, path, &[], &other).await;
    let r = decide(admin, &auth, &decided, "reject", r#"{"reviewer":"bob"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let fresh = held_case(p.addr, path, &[], &held.replace("50000", "70000")).await;

    // Nothing is old enough yet.
    let done = upkeep(&p).await;
    assert_eq!(done, menshen_proxy::admin::Upkeep::default());
    // Two hours later for the first case, two days for the decided one.
    let db = rusqlite::Connection::open(tmp.path().join("review.sqlite")).unwrap();
    backdate(&db, "created_at", 7200, &waiting);
    backdate(&db, "decided_at", 2 * 86_400, &decided);
    let done = upkeep(&p).await;
    assert_eq!(
        done,
        menshen_proxy::admin::Upkeep {
            expired: 1,
            purged: 1,
            audited_late: 0
        }
    );
    let metrics = p.shared.metrics.encode();
    assert!(
        metrics.contains("menshen_review_upkeep_total{event=\"expired\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("menshen_review_upkeep_total{event=\"purged\"} 1"),
        "{metrics}"
    );

    let r = send(
        admin,
        "GET",
        &format!("/admin/reviews/{waiting}"),
        &auth,
        "",
    )
    .await;
    assert_eq!(r.json()["status"], "rejected", "{}", r.text());
    assert_eq!(
        r.json()["outcome"]["reviewer"],
        "menshen (expired)",
        "{}",
        r.text()
    );
    let r = decide(admin, &auth, &waiting, "approve", r#"{"reviewer":"late"}"#).await;
    assert_eq!(r.status, 409, "{}", r.text());
    let r = send(
        admin,
        "GET",
        &format!("/admin/reviews/{decided}"),
        &auth,
        "",
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text());
    let r = send(admin, "GET", &format!("/admin/reviews/{fresh}"), &auth, "").await;
    assert_eq!(r.json()["status"], "pending", "{}", r.text());

    let r = post(
        p.addr,
        path,
        &[("x-menshen-review-case", waiting.as_str())],
        &held,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "review_expired", "{}", r.text());
    assert!(up.requests().await.is_empty());

    p.stop().await.unwrap();
    log.shutdown().await.unwrap();
    let records = verified_records(tmp.path());
    let outcomes: Vec<(String, String)> = records
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| v["event"]["decision"].clone())
        .filter(|d| d["review"]["case_id"] == waiting.as_str())
        .map(|d| {
            let s = |x: &serde_json::Value| x.as_str().unwrap_or("-").to_owned();
            (s(&d["review"]["outcome"]), s(&d["decision"]["action"]))
        })
        .collect();
    let want = |o: &str, a: &str| (o.to_owned(), a.to_owned());
    assert_eq!(
        outcomes,
        vec![
            want("-", "review"),
            want("expired", "review"),
            want("expired", "block")
        ],
        "{records}"
    );
}

/// A decision whose audit record could not be written (a full disk, a
/// read-only audit database) stays in the queue, unmarked, and the next
/// upkeep writes the record, once, before it purges; a decision audited at
/// once is not written again.
#[tokio::test]
async fn an_outcome_whose_audit_failed_is_written_by_the_next_upkeep_once() {
    let up = Upstream::start().await;
    let (_bundle, cfg) = with_policy(POLICY);
    let cfg = cfg.replace("[[upstreams]]", "[audit]\nmode = \"sync\"\n\n[[upstreams]]")
        + "review_retention_days = 1\n";
    let tmp = tempfile::tempdir().unwrap();
    let (p, log) = proxy_with_audit(&cfg, &up, tmp.path()).await;
    let admin = admin_api(&p).await;
    let auth = [("authorization", "Bearer admin-key-0123456789")];
    let held = |to: &str| {
        serde_json::json!({"model":"bank-bot","messages":[{"role":"user","content":format!("move 50000 EUR to account {to}")}]})
            .to_string()
    };
    let lost = held_case(p.addr, "/v1/chat/completions", &[], &held("X")).await;
    let fine = held_case(p.addr, "/v1/chat/completions", &[], &held("Y")).await;
    // `fine` is approved and audited through the admin API; `lost` is left
    // as an approval whose audit write failed leaves it: decided, stored,
    // not marked as audited.
    let r = decide(admin, &auth, &fine, "approve", r#"{"reviewer":"ann"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let db = rusqlite::Connection::open(tmp.path().join("review.sqlite")).unwrap();
    db.execute(
        "UPDATE review_cases SET status = 'approved', reviewer = 'bob', note = '' WHERE id = ?1",
        [&lost],
    )
    .unwrap();
    // Both decided two days ago: past retention.
    backdate(&db, "decided_at", 2 * 86_400, &lost);
    backdate(&db, "decided_at", 2 * 86_400, &fine);

    let done = upkeep(&p).await;
    // The missing record is written first (purging runs after the audit
    // pass), so both go; the next pass writes nothing again.
    assert_eq!(
        done,
        menshen_proxy::admin::Upkeep {
            expired: 0,
            purged: 2,
            audited_late: 1
        }
    );
    let again = upkeep(&p).await;
    assert_eq!(again, menshen_proxy::admin::Upkeep::default());
    assert!(p
        .shared
        .metrics
        .encode()
        .contains("menshen_review_upkeep_total{event=\"audited_late\"} 1"));

    p.stop().await.unwrap();
    log.shutdown().await.unwrap();
    let records = verified_records(tmp.path());
    let outcomes = |case: &str| -> Vec<String> {
        records
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| v["event"]["decision"].clone())
            .filter(|d| d["review"]["case_id"] == case)
            .map(|d| d["review"]["outcome"].as_str().unwrap_or("-").to_owned())
            .collect()
    };
    assert_eq!(outcomes(&lost), ["-", "approved"], "{records}");
    assert_eq!(outcomes(&fine), ["-", "approved"], "{records}");
}

/// A decision the queue's database cannot store is a 503 that says nothing
/// was decided (not a conflict), and the same call succeeds once it can.
#[tokio::test]
async fn a_decision_the_queue_cannot_store_is_unavailable_not_a_conflict() {
    let up = Upstream::start().await;
    let (_bundle, cfg) = with_policy(POLICY);
    let tmp = tempfile::tempdir().unwrap();
    let (p, log) = proxy_with_audit(&cfg, &up, tmp.path()).await;
    let admin = admin_api(&p).await;
    let auth = [("authorization", "Bearer admin-key-0123456789")];
    let body = serde_json::json!({"model":"bank-bot","messages":[{"role":"user","content":"move 50000 EUR"}]}).to_string();
    let case = held_case(p.addr, "/v1/chat/completions", &[], &body).await;
    // Every write to the cases fails, as on a full disk; reads still work.
    let db = rusqlite::Connection::open(tmp.path().join("review.sqlite")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER full_disk BEFORE UPDATE ON review_cases
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
    )
    .unwrap();
    let r = decide(admin, &auth, &case, "approve", r#"{"reviewer":"ann"}"#).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "review_unavailable");
    let r = send(admin, "GET", &format!("/admin/reviews/{case}"), &auth, "").await;
    assert_eq!(r.json()["status"], "pending", "{}", r.text());
    db.execute_batch("DROP TRIGGER full_disk").unwrap();
    let r = decide(admin, &auth, &case, "approve", r#"{"reviewer":"ann"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Deciding it again is the conflict.
    let r = decide(admin, &auth, &case, "approve", r#"{"reviewer":"ann"}"#).await;
    assert_eq!(r.status, 409, "{}", r.text());
    p.stop().await.unwrap();
    log.shutdown().await.unwrap();
}

/// Content no guard can read (an image) is counted for the policy, so an
/// operator who must not pass unscanned content can hold or block on it.
#[tokio::test]
async fn a_policy_can_refuse_content_no_guard_reads() {
    let policy = r#"package menshen

import rego.v1

default decision := {"action": "allow", "reasons": []}

decision := {"action": "block", "reasons": ["unscannable_attachment"]} if {
	input.llm.opaque_parts > 0
}
"#;
    let up = Upstream::start().await;
    let (_bundle, cfg) = with_policy(policy);
    let p = proxy(&cfg, &up).await;
    let image = serde_json::json!({"model":"m","messages":[{"role":"user","content":[
        {"type":"text","text":"what does this say?"},
        {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]})
    .to_string();
    let r = post(p.addr, "/v1/chat/completions", &[], &image).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.header("x-menshen-decision"), "block");
    let r = post(
        p.addr,
        "/v1/chat/completions",
        &[],
        &chat("what does this say?"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.requests().await.len(), 1);
}

/// A policy may hold with a 4xx status (SDKs raise those as errors); the
/// case id still comes back and still releases the request.
#[tokio::test]
async fn a_hold_can_carry_the_policys_status() {
    let up = Upstream::start().await;
    let policy = POLICY.replace(
        r#""message": "Held for review by a person.""#,
        r#""message": "Held for review by a person.", "status": 409"#,
    );
    let (_bundle, cfg) = with_policy(&policy);
    let p = proxy(&cfg, &up).await;
    let held = serde_json::json!({"model":"bank-bot","messages":[{"role":"user","content":"move 10 EUR"}]}).to_string();
    let r = post(p.addr, "/v1/chat/completions", &[], &held).await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "held_for_review");
    let case = r.header("x-menshen-review-case").to_owned();
    let admin = admin_api(&p).await;
    let auth = [("authorization", "Bearer admin-key-0123456789")];
    let r = decide(admin, &auth, &case, "approve", r#"{"reviewer":"alice"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let named = [("x-menshen-review-case", case.as_str())];
    let r = post(p.addr, "/v1/chat/completions", &named, &held).await;
    assert_eq!(r.status, 200, "{}", r.text());
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
    let (_bundle, cfg) = with_policy(ROUTING);
    let cfg = format!(
        "{cfg}\n[[upstreams]]\nname = \"small\"\nurl = \"{}\"\n",
        small.url()
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
