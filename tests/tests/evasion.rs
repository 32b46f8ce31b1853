//! The evasion corpus (`tests/evasion/corpus.jsonl`, issue 7 "Hostile
//! input"): every entry runs through the real guard pipeline and must get its
//! expected outcome.
//!
//! Two paths, same verdicts:
//!
//! - `menshen scan --jsonl`'s code ([`ScanInput::from_line`] and
//!   [`scan_one`]), with the embedded default configuration minus the ONNX
//!   classifier: the corpus measures the deterministic layers
//!   (normalization, rules, PII and secrets recognizers, the baseline
//!   policy). The ONNX model is probabilistic and measured by `menshen eval`.
//! - The proxy itself over a socket, in front of a recording upstream, for
//!   every entry: structure limits (nesting depth, body size, message count)
//!   only exist there, and "blocked" must mean the upstream saw nothing.
//!
//! Entries with `"known_gap": true` are evasions the pipeline misses today;
//! they are listed on every run and must keep failing: an entry that starts
//! passing fails the test until its `known_gap` is removed, so the list
//! stays honest.
#![allow(
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

#[path = "e2e/support.rs"]
#[allow(dead_code)]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use http::StatusCode;
use menshen_proxy::api::DecodeLimits;
use menshen_proxy::app;
use menshen_proxy::config::Settings;
use menshen_proxy::scan::{scan_one, ScanInput};
use serde_json::{json, Value};

const CORPUS: &str = include_str!("../evasion/corpus.jsonl");

/// The embedded defaults (`Settings::embedded`) with the ONNX classifier off.
const SCAN_CONFIG: &str = r#"
[[upstreams]]
name = "default"
url = "{upstream}"

[[routes]]
name = "default"
path_prefix = "/"
upstream = "default"

[guards.onnx]
enabled = false
"#;

const ATTACK_FILLER: &[&str] = &[
    "The garden needs water twice a week during the summer months. ",
    "Tomatoes grow best in full sun with rich, well-drained soil. ",
    "Our team meets on Tuesdays to review the quarterly roadmap. ",
    "The museum opens at nine and closes at five on weekdays. ",
    "Fresh bread tastes better when it cools for an hour first. ",
    "The train to the coast leaves every thirty minutes. ",
];

#[derive(Debug)]
struct Entry {
    id: String,
    technique: String,
    expected: String,
    known_gap: bool,
    note: String,
    /// The JSON line as `menshen scan --jsonl` reads it.
    line: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail(String),
    Gap(String),
    /// A known gap that now passes: remove its `known_gap`.
    Fixed,
}

fn corpus() -> Vec<Entry> {
    let mut ids = BTreeSet::new();
    CORPUS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(n, l)| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
            let s = |k: &str| {
                v.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("line {}: no `{k}`", n + 1))
                    .to_owned()
            };
            let id = s("id");
            assert!(ids.insert(id.clone()), "duplicate id {id}");
            let expected = s("expected");
            assert!(
                ["block", "allow", "redact", "reject"].contains(&expected.as_str()),
                "{id}: expected must be block, allow, redact or reject"
            );
            let line = match v.get("generate") {
                Some(g) => generate(&id, g),
                None => l.to_owned(),
            };
            Entry {
                technique: s("technique"),
                expected,
                known_gap: v.get("known_gap").and_then(Value::as_bool) == Some(true),
                note: s("note"),
                id,
                line,
            }
        })
        .collect()
}

/// Expands a `generate` spec into a scan line. Built as text, not as a
/// `Value`, so that nesting deeper than serde_json's own limit is possible.
fn generate(id: &str, g: &Value) -> String {
    let kind = g["kind"].as_str().unwrap_or_default();
    let attack = g.get("attack").and_then(Value::as_str);
    let num = |k: &str| g.get(k).and_then(Value::as_u64).unwrap_or(0) as usize;
    match kind {
        "long_text" => {
            let target = num("bytes");
            let mut filler = String::with_capacity(target + 64);
            let mut i = 0;
            while filler.len() < target {
                filler.push_str(ATTACK_FILLER[i % ATTACK_FILLER.len()]);
                i += 1;
            }
            let text = match (attack, g.get("at").and_then(Value::as_str)) {
                (None, _) => filler,
                (Some(a), Some("start")) => format!("{a} {filler}"),
                (Some(a), Some("end")) => format!("{filler}{a}"),
                (Some(a), _) => {
                    let mut mid = filler.len() / 2;
                    while !filler.is_char_boundary(mid) {
                        mid += 1;
                    }
                    format!("{} {a} {}", &filler[..mid], &filler[mid..])
                }
            };
            json!({ "text": text }).to_string()
        }
        "nested_body" => {
            // A chat request with `depth` levels of nesting in an extra field.
            let depth = num("depth").max(2);
            let user = attack.unwrap_or("What is a good soup recipe for a cold day?");
            let inner = depth - 1; // the body object is the first level
            format!(
                r#"{{"api":"openai.chat","request":{{"model":"m","messages":[{{"role":"user","content":{}}}],"metadata":{}{}}}}}"#,
                json!(user),
                "[".repeat(inner),
                "]".repeat(inner)
            )
        }
        "nested_tool_args" => {
            let depth = num("depth");
            let mut args = json!({ "cmd": attack.unwrap_or("ls") });
            for _ in 0..depth {
                args = json!({ "a": args });
            }
            json!({"api": "openai.chat", "request": {"model": "m", "messages": [
                {"role": "user", "content": "run the tool"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                    "function": {"name": "run", "arguments": args.to_string()}}]},
                {"role": "tool", "tool_call_id": "c1", "content": args.to_string()}
            ]}})
            .to_string()
        }
        "nested_tool_input" => {
            let depth = num("depth");
            let mut input = json!({ "note": attack.unwrap_or("hello") });
            for _ in 0..depth {
                input = json!({ "a": input });
            }
            json!({"api": "anthropic.messages", "request": {"model": "claude", "max_tokens": 10, "messages": [
                {"role": "user", "content": "use the tool"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "store", "input": input}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "stored"}]}
            ]}})
            .to_string()
        }
        "many_messages" => {
            let count = num("count");
            let at = g.get("at").and_then(Value::as_u64).map(|a| a as usize);
            let messages: Vec<Value> = (0..count)
                .map(|i| {
                    let role = if i % 2 == 0 { "user" } else { "assistant" };
                    let content = match (at, attack) {
                        (Some(a), Some(text)) if a == i => text.to_owned(),
                        _ => format!("Message {i}: which vegetables go well in a winter soup?"),
                    };
                    json!({ "role": role, "content": content })
                })
                .collect();
            json!({"api": "openai.chat", "request": {"model": "m", "messages": messages}})
                .to_string()
        }
        other => panic!("{id}: unknown generate kind {other:?}"),
    }
}

fn verdict(e: &Entry, got: &str) -> Verdict {
    match (got == e.expected, e.known_gap) {
        (true, false) => Verdict::Pass,
        (true, true) => Verdict::Fixed,
        (false, false) => Verdict::Fail(got.to_owned()),
        (false, true) => Verdict::Gap(got.to_owned()),
    }
}

/// One table row per technique, then the entries that are not plain passes.
fn report(path: &str, entries: &[Entry], verdicts: &[Verdict]) -> (String, bool) {
    let mut by_tech: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    let mut detail = String::new();
    let mut ok = true;
    for (e, v) in entries.iter().zip(verdicts) {
        let row = by_tech.entry(e.technique.as_str()).or_default();
        match v {
            Verdict::Pass => row[0] += 1,
            Verdict::Fail(got) => {
                row[1] += 1;
                ok = false;
                let _ = writeln!(
                    detail,
                    "  FAIL  {}: expected {}, got {got} ({})",
                    e.id, e.expected, e.note
                );
            }
            Verdict::Gap(got) => {
                row[2] += 1;
                let _ = writeln!(
                    detail,
                    "  gap   {}: expected {}, got {got} ({})",
                    e.id, e.expected, e.note
                );
            }
            Verdict::Fixed => {
                row[3] += 1;
                ok = false;
                let _ = writeln!(
                    detail,
                    "  FIXED {}: now {} as expected; remove its \"known_gap\"",
                    e.id, e.expected
                );
            }
        }
    }
    let mut out = format!(
        "evasion corpus via {path}\n  {:<18} {:>4} {:>4} {:>9} {:>5}\n",
        "technique", "pass", "FAIL", "known gap", "FIXED"
    );
    for (t, [p, f, g, x]) in &by_tech {
        let _ = writeln!(out, "  {t:<18} {p:>4} {f:>4} {g:>9} {x:>5}");
    }
    out.push_str(&detail);
    (out, ok)
}

fn settings(upstream: &str) -> Settings {
    let env: BTreeMap<String, String> = BTreeMap::new();
    let text = SCAN_CONFIG.replace("{upstream}", upstream);
    Settings::from_toml("evasion.toml", &text, &env).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evasion_corpus_through_the_scan_pipeline() {
    let entries = corpus();
    let guards = app::build_guards(&settings("http://127.0.0.1:9")).unwrap();
    let limits = DecodeLimits::default();
    let mut verdicts = Vec::new();
    for e in &entries {
        let got = match ScanInput::from_line(&e.line, &limits) {
            Err(_) => "reject".to_owned(),
            Ok(input) => {
                let out = scan_one(&guards, &input).await;
                match out.get("decision").and_then(Value::as_str) {
                    Some(d) => d.to_owned(),
                    None => format!("error {out}"),
                }
            }
        };
        verdicts.push(verdict(e, &got));
    }
    let (table, ok) = report("menshen scan --jsonl", &entries, &verdicts);
    println!("{table}");
    assert!(ok, "{table}");
}

/// The request body and path a corpus line stands for.
fn http_request(line: &str) -> Option<(&'static str, String)> {
    // Bodies nested beyond serde_json's limit are sent as their raw text.
    if let Some(rest) = line.strip_prefix(r#"{"api":"openai.chat","request":"#) {
        let body = rest.strip_suffix('}')?;
        return Some(("/v1/chat/completions", body.to_owned()));
    }
    let v: Value = serde_json::from_str(line).ok()?;
    if let Some(t) = v.get("text").and_then(Value::as_str) {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": t}]});
        return Some(("/v1/chat/completions", body.to_string()));
    }
    let path = match v.get("api").and_then(Value::as_str)? {
        "openai.chat" => "/v1/chat/completions",
        "openai.completions" => "/v1/completions",
        "openai.responses" => "/v1/responses",
        "anthropic.messages" => "/v1/messages",
        _ => return None,
    };
    Some((path, v.get("request")?.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evasion_corpus_through_the_proxy() {
    let entries = corpus();
    let upstream = support::Upstream::start().await;
    let mut s = settings(&upstream.url());
    s.listen = "127.0.0.1:0".parse().unwrap();
    s.data_dir = tempfile::tempdir().unwrap().keep();
    let running = app::Running::start(app::build_shared(s, None).unwrap())
        .await
        .unwrap();
    let mut verdicts = Vec::new();
    for e in &entries {
        let (path, body) = http_request(&e.line).unwrap_or_else(|| panic!("{}: no request", e.id));
        let before = upstream.requests().await.len();
        let reply = support::post(running.addr, path, &[], &body).await;
        let sent = upstream.requests().await;
        let forwarded = sent.get(before).map(|r| r.body.clone());
        let got = match (reply.status, forwarded) {
            (StatusCode::OK, Some(b)) if b == body.as_bytes() => "allow".to_owned(),
            (StatusCode::OK, Some(_)) => "redact".to_owned(),
            (StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE, None) => "reject".to_owned(),
            (StatusCode::FORBIDDEN, None) => "block".to_owned(),
            (status, fwd) => format!("status {status}, forwarded: {}", fwd.is_some()),
        };
        verdicts.push(verdict(e, &got));
    }
    let (table, ok) = report("the proxy", &entries, &verdicts);
    println!("{table}");
    assert!(ok, "{table}");
}
