//! Shared helpers.
#![allow(unreachable_pub)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use menshen_audit::bundle::{ExportOptions, VerifyOptions, VerifyReport};
use menshen_audit::note::NoteVerifier;
use menshen_audit::{
    AuditConfig, AuditLog, AuditMode, AuditRecord, DecisionSummary, Direction, FindingSummary,
    Payloads, UpstreamSummary,
};

pub fn record(i: u64, tenant: &str) -> AuditRecord {
    AuditRecord {
        time_ms: now_ms() + i,
        request_id: format!("req-{i}"),
        tenant: tenant.to_owned(),
        route: "chat".into(),
        api: "openai.chat".into(),
        model: Some("gpt-4o-mini".into()),
        direction: if i.is_multiple_of(2) {
            Direction::Request
        } else {
            Direction::Response
        },
        decision: DecisionSummary {
            action: ["allow", "block", "redact", "review"][(i % 4) as usize].into(),
            reasons: vec!["pii.email".into()],
            monitor: false,
        },
        risk_score: (i % 100) as u8,
        findings: vec![FindingSummary {
            detector: "pii".into(),
            category: "GBT45654:A.1.3".into(),
            score_milli: 900,
            count: 1,
            entities: [("EMAIL".to_owned(), 1)].into_iter().collect(),
        }],
        policy_version: "sha256:0f1e".into(),
        review: None,
        upstream: Some(UpstreamSummary {
            status: Some(200),
            latency_ms: 42,
        }),
        payloads: Payloads {
            prompt: Some(format!("hello [EMAIL_{i}]")),
            response: None,
        },
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub fn config(dir: &Path) -> AuditConfig {
    let mut c = AuditConfig::new(dir)
        .with_origin("test.example/audit")
        .with_mode(AuditMode::Sync);
    c.checkpoint_every = 7;
    c
}

/// Opens a log, appends `n` records (tenant alternating a/b), shuts down.
pub async fn fill(dir: &Path, n: u64) {
    let log = AuditLog::open(config(dir)).unwrap();
    let sink = log.sink();
    for i in 0..n {
        let t = if i % 3 == 0 { "b" } else { "a" };
        sink.append(record(i, t)).await.unwrap();
    }
    log.shutdown().await.unwrap();
}

pub fn export_opts(out: &Path) -> ExportOptions {
    ExportOptions {
        from_ms: 0,
        to_ms: u64::MAX >> 12,
        tenant: None,
        out: out.to_path_buf(),
        include_payloads: true,
        pinned: None,
        key_path: None,
        checkpoint_interval_s: None,
    }
}

pub fn export_all(dir: &Path, out: &Path) {
    menshen_audit::export(dir, &export_opts(out)).unwrap();
}

pub fn log_key(dir: &Path) -> NoteVerifier {
    NoteVerifier::parse(&std::fs::read_to_string(dir.join("checkpoint.pub")).unwrap()).unwrap()
}

pub fn verify(bundle: &Path, key: &NoteVerifier) -> VerifyReport {
    menshen_audit::verify_bundle(
        bundle,
        &VerifyOptions {
            keys: Some(vec![key.clone()]),
            ..Default::default()
        },
    )
    .unwrap()
}

/// Asserts the report is invalid and some problem mentions `needle`.
pub fn assert_invalid(rep: &VerifyReport, needle: &str) {
    let text = rep.render();
    assert!(!rep.is_valid(), "expected INVALID, got:\n{text}");
    assert!(
        rep.items
            .iter()
            .any(|i| i.problem.as_deref().is_some_and(|p| p.contains(needle))),
        "no problem mentions {needle:?}:\n{text}"
    );
}

/// A read-write connection with the append-only triggers dropped: what an
/// insider with the file can do.
pub fn insider(dir: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(dir.join("audit.sqlite")).unwrap();
    c.execute_batch(
        "DROP TRIGGER leaves_no_update; DROP TRIGGER leaves_no_delete;
         DROP TRIGGER nodes_no_update; DROP TRIGGER nodes_no_delete;
         DROP TRIGGER checkpoints_no_update; DROP TRIGGER checkpoints_no_delete;
         DROP TRIGGER payloads_no_update;",
    )
    .unwrap();
    c
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn out_dir(t: &tempfile::TempDir, name: &str) -> PathBuf {
    t.path().join(name)
}

#[allow(dead_code)]
pub const SHORT: Duration = Duration::from_millis(50);
