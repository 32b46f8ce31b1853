//! Criterion benches for the audit log (issue 6): append throughput with
//! group commit, and bundle verification speed.
//!
//! Run: `cargo bench -p menshen-audit --bench audit`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use menshen_audit::bundle::{ExportOptions, VerifyOptions};
use menshen_audit::note::NoteVerifier;
use menshen_audit::{
    AuditConfig, AuditLog, AuditMode, AuditRecord, DecisionSummary, Direction, FindingSummary,
    Payloads, UpstreamSummary,
};

fn record(i: u64) -> AuditRecord {
    AuditRecord {
        time_ms: 1_764_500_000_000 + i,
        request_id: format!("01J9Z3{i:020}"),
        tenant: ["acme", "globex", "initech"][(i % 3) as usize].into(),
        route: "chat".into(),
        api: "openai.chat".into(),
        model: Some("gpt-4o-mini".into()),
        direction: Direction::Request,
        decision: DecisionSummary {
            action: "redact".into(),
            reasons: vec!["pii.email".into(), "pii.phone".into()],
            monitor: false,
        },
        risk_score: 35,
        findings: vec![
            FindingSummary {
                detector: "pii".into(),
                category: "GBT45654:A.1.3".into(),
                score_milli: 930,
                count: 2,
                entities: [("EMAIL".to_owned(), 1), ("PHONE".to_owned(), 1)]
                    .into_iter()
                    .collect(),
            },
            FindingSummary {
                detector: "injection-rules".into(),
                category: "OWASP-LLM-2025:LLM01".into(),
                score_milli: 120,
                count: 1,
                entities: Default::default(),
            },
        ],
        policy_version: "sha256:9f86d081884c7d659a2feaa0c55ad015".into(),
        review: None,
        upstream: Some(UpstreamSummary {
            status: Some(200),
            latency_ms: 812,
        }),
        payloads: Payloads {
            prompt: Some(
                "Please summarise the attached contract for [PERSON_1] at [EMAIL_1].".into(),
            ),
            response: None,
        },
    }
}

const BATCH: u64 = 20_000;

fn append(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("audit_append");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(BATCH));
    for mode in [AuditMode::Async, AuditMode::Sync] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = AuditConfig::new(dir.path()).with_origin("bench.example/audit");
        cfg.mode = mode;
        let log = AuditLog::open(cfg).unwrap();
        let name = format!("{mode:?}_64_tasks").to_lowercase();
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    rt.block_on(async {
                        let mut tasks = Vec::new();
                        for w in 0..64u64 {
                            let sink = log.sink();
                            tasks.push(tokio::spawn(async move {
                                for i in 0..BATCH / 64 {
                                    sink.append(record(w * BATCH + i)).await.unwrap();
                                }
                            }));
                        }
                        for t in tasks {
                            t.await.unwrap();
                        }
                        // Until committed and covered by a checkpoint.
                        log.checkpoint().await.unwrap();
                    });
                    total += start.elapsed();
                }
                total
            });
        });
        rt.block_on(log.shutdown()).unwrap();
    }
    g.finish();
}

/// Builds a log of `n` records and exports it; returns (tempdir, bundle, key).
fn bundle_of(n: u64) -> (tempfile::TempDir, std::path::PathBuf, NoteVerifier) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("log");
    let cfg = AuditConfig::new(&log_dir).with_origin("bench.example/audit");
    let log = AuditLog::open(cfg).unwrap();
    rt.block_on(async {
        let sink = log.sink();
        for i in 0..n {
            sink.append(record(i)).await.unwrap();
        }
        log.shutdown().await.unwrap();
    });
    let out = dir.path().join("bundle");
    menshen_audit::export(
        &log_dir,
        &ExportOptions {
            from_ms: 0,
            to_ms: u64::MAX >> 12,
            tenant: None,
            out: out.clone(),
            include_payloads: false,
            pinned: None,
            key_path: None,
            checkpoint_interval_s: Some(0),
        },
    )
    .unwrap();
    let key =
        NoteVerifier::parse(&std::fs::read_to_string(log_dir.join("checkpoint.pub")).unwrap())
            .unwrap();
    (dir, out, key)
}

fn verify(c: &mut Criterion) {
    let n: u64 = std::env::var("MENSHEN_AUDIT_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let (_dir, out, key) = bundle_of(n);
    let mut g = c.benchmark_group("audit_verify");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(30))
        .throughput(Throughput::Elements(n));
    g.bench_function(format!("bundle_{n}_records"), |b| {
        b.iter_batched(
            || VerifyOptions {
                keys: Some(vec![key.clone()]),
                ..Default::default()
            },
            |opts| {
                let rep = menshen_audit::verify_bundle(&out, &opts).unwrap();
                assert!(rep.is_valid());
                rep
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

criterion_group!(benches, append, verify);
criterion_main!(benches);
