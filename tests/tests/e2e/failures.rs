//! Bad input and upstream failures: clear errors in the API's format, and the
//! proxy keeps serving.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::support::*;

#[tokio::test]
async fn malformed_json_invalid_utf8_and_wrong_shape_get_400() {
    let up = Upstream::start().await;
    let p = proxy(BASIC, &up).await;
    let r = post(
        p.addr,
        "/v1/chat/completions",
        &[],
        "{\"model\": \"m\", \"messages\": [",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "invalid_json");

    let r = send(
        p.addr,
        "POST",
        "/v1/chat/completions",
        &[("content-type", "application/json")],
        vec![b'{', 0xff, 0xfe, b'}'],
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "invalid_utf8");

    let r = post(
        p.addr,
        "/v1/chat/completions",
        &[],
        r#"{"model":"m","messages":"nope"}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "invalid_request_shape");

    let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
    let r = post(
        p.addr,
        "/v1/chat/completions",
        &[],
        &format!("{{\"model\":\"m\",\"messages\":{deep}}}"),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "json_too_deep");

    let r = post(p.addr, "/v1/messages", &[], "not json").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["type"], "error");
    assert!(up.requests().await.is_empty());
}

#[tokio::test]
async fn oversized_bodies_get_413_before_reaching_upstream() {
    let up = Upstream::start().await;
    let p = proxy(BASIC, &up).await;
    let big = chat(&"a".repeat(70_000));
    let r = post(p.addr, "/v1/chat/completions", &[], &big).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["code"], "body_too_large");
    assert!(up.requests().await.is_empty());
}

#[tokio::test]
async fn unknown_paths_methods_and_content_types_are_refused() {
    let up = Upstream::start().await;
    let p = proxy(BASIC, &up).await;
    let r = post(p.addr, "/v1/unknown", &[], "{}").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "unknown_api_path");
    let r = send(p.addr, "GET", "/v1/chat/completions", &[], "").await;
    assert_eq!(r.status, 405);
    let r = send(
        p.addr,
        "POST",
        "/v1/chat/completions",
        &[("content-type", "text/plain")],
        chat("x"),
    )
    .await;
    assert_eq!(r.status, 415);
}

#[tokio::test]
async fn upstream_down_slow_broken_and_malformed() {
    let up = Upstream::start().await;
    let p = proxy(BASIC, &up).await;
    let r = post(
        p.addr,
        "/v1/chat/completions",
        &[("x-test-behavior", "hang")],
        &chat("x"),
    )
    .await;
    assert_eq!(r.status, 504);
    assert_eq!(r.json()["error"]["code"], "upstream_timeout");

    let r = post(
        p.addr,
        "/v1/chat/completions",
        &[("x-test-behavior", "malformed")],
        &chat("x"),
    )
    .await;
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["error"]["code"], "upstream_malformed_response");

    // Upstream errors pass through with their status.
    let r = post(
        p.addr,
        "/v1/chat/completions",
        &[("x-test-behavior", "error500")],
        &chat("x"),
    )
    .await;
    assert_eq!(r.status, 500);

    // A port nobody listens on.
    let dead = BASIC.replace("url = \"{upstream}\"", "url = \"http://127.0.0.1:1\"");
    let p2 = proxy(&dead, &up).await;
    let r = post(p2.addr, "/v1/chat/completions", &[], &chat("x")).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["error"]["code"], "upstream_unavailable");

    // Still serving.
    let r = post(p.addr, "/v1/chat/completions", &[], &chat("x")).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    let up = Upstream::start().await;
    let p = proxy(BASIC, &up).await;
    // Body promised, never sent: 408 after body_timeout.
    let mut s = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"mo").await.unwrap();
    let mut buf = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(n.is_ok(), "proxy held a slow body forever");
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");

    // Headers never finished (slowloris): the connection is closed.
    let mut s = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(r.is_ok(), "slowloris connection was never closed");
}

/// The protocol version is the client connection's, not the upstream's:
/// an HTTP/1.0 upstream's answers reach an HTTP/1.1 client as HTTP/1.1, on
/// the same kept-alive connection.
#[tokio::test]
async fn an_http10_upstream_answer_is_relayed_as_http11() {
    let up = Upstream::start().await;
    let p = proxy(BASIC, &up).await;
    let body = chat("x");
    let request = |close: &str| {
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             x-test-behavior: http10\r\n{close}content-length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let mut s = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    // Two requests on one connection; the second asks to close it after.
    let both = request("") + &request("connection: close\r\n");
    s.write_all(both.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(r.is_ok(), "connection never closed");
    let text = String::from_utf8_lossy(&buf);
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{text}");
    assert!(!text.contains("HTTP/1.0"), "{text}");
    assert_eq!(up.requests().await.len(), 2);
}

#[tokio::test]
async fn client_keys_map_to_tenants() {
    let up = Upstream::start().await;
    // sha256("client-key-1")
    let digest = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(b"client-key-1");
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let cfg = format!("{BASIC}\n[[clients]]\ntenant = \"acme\"\nkey_sha256 = \"{digest}\"\n");
    let p = proxy(&cfg, &up).await;
    let r = post(p.addr, "/v1/chat/completions", &[], &chat("x")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "invalid_client_key");
    let r = post(
        p.addr,
        "/v1/chat/completions",
        &[("authorization", "Bearer wrong")],
        &chat("x"),
    )
    .await;
    assert_eq!(r.status, 401);
    let r = post(
        p.addr,
        "/v1/chat/completions",
        &[("authorization", "Bearer client-key-1")],
        &chat("x"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The client's key never reaches the upstream; the proxy's does.
    let got = up.requests().await;
    assert_eq!(got[0].headers["authorization"], "Bearer sk-upstream-secret");
}
