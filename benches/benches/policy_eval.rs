//! Policy evaluation with the shipped packs.
//!
//! - `policy/fresh/*`: load, compile and warm a bundle, then decide once:
//!   the cost a per-request engine would pay, and what a reload costs.
//! - `policy/warm/*`: decide with a compiled engine (each decision clones the
//!   prepared regorus engine): the per-request cost in the proxy.
//!
//! After criterion's groups, a latency pass times 20,000 single decisions per
//! pack and prints p50/p99/max, since the target is stated as a p99
//! (< 100 µs per decision). Run: `cargo bench -p menshen-benches --bench policy_eval`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use menshen_classifiers::{Category, Finding, RiskScorer};
use menshen_policies::{
    summarize_findings, Bundle, DecisionEngine, Direction, PolicyInput, RegoEngine,
};

const PACKS: &[&str] = &[
    "baseline",
    "pii-gdpr",
    "cn-genai",
    "examples/financial-cs",
    "examples/medical-assistant",
    "examples/model-routing",
];

fn pack_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../policies/packs")
        .join(name)
}

/// A realistic request: chat API, a few messages, three detector findings.
fn input() -> PolicyInput {
    let findings = vec![
        Finding::new("pii", Category::SENSITIVE_INFO, 0.92).with_entity("EMAIL"),
        Finding::new("pii", Category::SENSITIVE_INFO, 0.88).with_entity("PHONE_NUMBER"),
        Finding::new("rules.injection", Category::PROMPT_INJECTION, 0.35).with_rule("role-play"),
        Finding::new("phrases.gbt45654", Category::new("GBT45654:A.2.4"), 0.2),
    ];
    let mut i = PolicyInput::new();
    i.attributes.request.http.method = "POST".into();
    i.attributes.request.http.path = "/v1/chat/completions".into();
    i.attributes.request.http.host = "gw.internal".into();
    i.attributes.request.http.size = 2_048;
    i.llm.api = "openai.chat".into();
    i.llm.model = "auto".into();
    i.llm.route = "default".into();
    i.llm.tenant = "acme".into();
    i.llm.user = "u-1".into();
    i.llm.message_counts = [
        ("system".into(), 1),
        ("user".into(), 3),
        ("assistant".into(), 2),
    ]
    .into();
    i.llm.message_bytes = [
        ("system".into(), 300),
        ("user".into(), 1200),
        ("assistant".into(), 500),
    ]
    .into();
    i.risk = RiskScorer::new().score(&findings);
    i.findings = summarize_findings(&findings);
    i.context.time = "2025-06-01T10:00:00Z".into();
    i.context.direction = Direction::Request;
    i.subject.id = "acme/u-1".into();
    i
}

fn bench(c: &mut Criterion) {
    let input = input();
    let mut fresh = c.benchmark_group("policy/fresh");
    fresh
        .sample_size(20)
        .measurement_time(Duration::from_secs(4));
    for name in ["baseline", "cn-genai"] {
        let bundle = Bundle::from_dir(pack_dir(name)).unwrap();
        fresh.bench_function(name, |b| {
            b.iter(|| {
                let engine = RegoEngine::from_bundle(&bundle).unwrap();
                black_box(engine.decide(black_box(&input)).unwrap())
            })
        });
    }
    fresh.finish();

    let mut warm = c.benchmark_group("policy/warm");
    warm.measurement_time(Duration::from_secs(3));
    for name in PACKS {
        let engine = RegoEngine::from_dir(pack_dir(name)).unwrap();
        warm.bench_function(*name, |b| {
            b.iter(|| black_box(engine.decide(black_box(&input)).unwrap()))
        });
    }
    let embedded = RegoEngine::from_embedded_baseline().unwrap();
    let json = serde_json::to_string(&input).unwrap();
    warm.bench_function("baseline-json-input", |b| {
        b.iter(|| black_box(embedded.decide_json(black_box(&json)).unwrap()))
    });
    warm.finish();

    latency_pass(&input);
}

/// Per-decision latency percentiles (criterion reports means, not tails).
fn latency_pass(input: &PolicyInput) {
    const N: usize = 20_000;
    println!("\nper-decision latency, {N} decisions per pack (warm engine):");
    println!(
        "{:<28} {:>9} {:>9} {:>9}",
        "pack", "p50 µs", "p99 µs", "max µs"
    );
    for name in PACKS {
        let engine = RegoEngine::from_dir(pack_dir(name)).unwrap();
        for _ in 0..1_000 {
            black_box(engine.decide(input).unwrap());
        }
        let mut samples: Vec<Duration> = (0..N)
            .map(|_| {
                let t = Instant::now();
                black_box(engine.decide(black_box(input)).unwrap());
                t.elapsed()
            })
            .collect();
        samples.sort();
        let at = |q: f64| samples[((N as f64 * q) as usize).min(N - 1)].as_secs_f64() * 1e6;
        println!(
            "{:<28} {:>9.1} {:>9.1} {:>9.1}",
            name,
            at(0.50),
            at(0.99),
            at(1.0)
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
