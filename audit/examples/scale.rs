//! One-shot scale measurement: append N records (async, group commit),
//! export them, verify the bundle, print the timings.
//!
//! `cargo run --release -p menshen-audit --example scale -- 1000000`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::time::Instant;

use menshen_audit::bundle::{ExportOptions, VerifyOptions};
use menshen_audit::note::NoteVerifier;
use menshen_audit::{
    AuditConfig, AuditLog, AuditRecord, DecisionSummary, Direction, FindingSummary, Payloads,
    UpstreamSummary,
};

fn record(i: u64, now: u64) -> AuditRecord {
    AuditRecord {
        time_ms: now + i,
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
        findings: vec![FindingSummary {
            detector: "pii".into(),
            category: "GBT45654:A.1.3".into(),
            score_milli: 930,
            count: 2,
            entities: [("EMAIL".to_owned(), 1), ("PHONE".to_owned(), 1)]
                .into_iter()
                .collect(),
        }],
        policy_version: "sha256:9f86d081884c7d659a2feaa0c55ad015".into(),
        review: None,
        upstream: Some(UpstreamSummary {
            status: Some(200),
            latency_ms: 812,
        }),
        payloads: Payloads {
            prompt: Some("Summarise the contract for [PERSON_1] at [EMAIL_1].".into()),
            response: None,
        },
    }
}

/// Process CPU time (user + system), seconds, from /proc (Linux); 0 elsewhere.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the
    // 12th and 13th of those, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let log = AuditLog::open(AuditConfig::new(&dir).with_origin("scale.example/audit")).unwrap();
    let start = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..64u64 {
            let sink = log.sink();
            tasks.push(tokio::spawn(async move {
                let mut i = w;
                while i < n {
                    sink.append(record(i, now)).await.unwrap();
                    i += 64;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        log.checkpoint().await.unwrap();
    });
    let append = start.elapsed();
    rt.block_on(log.shutdown()).unwrap();
    println!(
        "append: {n} records in {:.2} s = {:.0} records/s (async, 64 tasks, group commit)",
        append.as_secs_f64(),
        n as f64 / append.as_secs_f64()
    );

    let out = tmp.path().join("bundle");
    let start = Instant::now();
    menshen_audit::export(
        &dir,
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
    println!("export: {:.2} s", start.elapsed().as_secs_f64());
    let key =
        NoteVerifier::parse(&std::fs::read_to_string(dir.join("checkpoint.pub")).unwrap()).unwrap();
    let size = std::fs::metadata(out.join("records.jsonl")).unwrap().len();
    let start = Instant::now();
    let cpu = cpu_seconds();
    let rep = menshen_audit::verify_bundle(
        &out,
        &VerifyOptions {
            keys: Some(vec![key]),
            ..Default::default()
        },
    )
    .unwrap();
    let verify = start.elapsed();
    let cpu = cpu_seconds() - cpu;
    assert!(rep.is_valid(), "{}", rep.render());
    println!(
        "verify: {} records ({} MB, {} checkpoints) in {:.2} s wall = {:.0} records/s; {:.2} s CPU",
        rep.records,
        size / 1_000_000,
        rep.checkpoints,
        verify.as_secs_f64(),
        rep.records as f64 / verify.as_secs_f64(),
        cpu
    );
}
