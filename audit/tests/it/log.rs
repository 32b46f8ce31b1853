//! Writer behaviour: keys, modes, checkpoints, queue, errors.

use std::time::Duration;

use menshen_audit::note::{Checkpoint, SignedNote};
use menshen_audit::store::Store;
use menshen_audit::{AppendReceipt, AuditErrorKind, AuditLog, AuditMode, OnFull, PayloadMode};

use crate::common::*;

#[tokio::test]
async fn first_start_creates_an_owner_only_key_and_signs() {
    let t = tmp();
    let dir = t.path().join("log");
    let log = AuditLog::open(config(&dir)).unwrap();
    let r = log.sink().append(record(0, "a")).await.unwrap();
    // Leaf 0 is the log_started entry.
    assert!(matches!(r, AppendReceipt::Committed { index: 1, .. }));
    log.shutdown().await.unwrap();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.join("checkpoint.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let store = Store::open_reader(&dir.join("audit.sqlite")).unwrap();
    // log_started, the record, log_stopped.
    assert_eq!(store.size().unwrap(), 3);
    let cp = store.latest_checkpoint().unwrap().unwrap();
    assert_eq!(cp.size, 3);
    let note = SignedNote::parse(&cp.note).unwrap();
    assert!(matches!(
        note.check(&[log_key(&dir)]),
        menshen_audit::note::NoteCheck::Valid { .. }
    ));
    assert_eq!(
        Checkpoint::parse_text(&note.text).unwrap().origin,
        "test.example/audit"
    );
}

#[tokio::test]
async fn restart_continues_the_same_tree_and_chain() {
    let t = tmp();
    fill(t.path(), 10).await;
    fill(t.path(), 10).await;
    let out = out_dir(&t, "bundle");
    export_all(t.path(), &out);
    let rep = verify(&out, &log_key(t.path()));
    assert!(rep.is_valid(), "{}", rep.render());
    // 2 × (start + 10 + stop).
    assert_eq!(rep.records, 24);
}

#[tokio::test]
async fn missing_key_after_first_start_is_a_startup_error() {
    let t = tmp();
    fill(t.path(), 1).await;
    std::fs::remove_file(t.path().join("checkpoint.key")).unwrap();
    let err = AuditLog::open(config(t.path())).unwrap_err();
    assert_eq!(err.kind(), AuditErrorKind::Key);
}

#[cfg(unix)]
#[tokio::test]
async fn group_readable_key_is_a_startup_error() {
    use std::os::unix::fs::PermissionsExt as _;
    let t = tmp();
    fill(t.path(), 1).await;
    let key = t.path().join("checkpoint.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        AuditLog::open(config(t.path())).unwrap_err().kind(),
        AuditErrorKind::Key
    );
}

#[tokio::test]
async fn a_foreign_key_is_refused() {
    let t = tmp();
    fill(t.path(), 1).await;
    let key = t.path().join("checkpoint.key");
    std::fs::remove_file(&key).unwrap();
    let other = menshen_audit::note::NoteSigner::generate("test.example/audit").unwrap();
    menshen_audit::keys::write_private(&key, other.to_private_string().as_bytes()).unwrap();
    assert_eq!(
        AuditLog::open(config(t.path())).unwrap_err().kind(),
        AuditErrorKind::Key
    );
}

#[tokio::test]
async fn unversioned_category_is_rejected_before_queueing() {
    let t = tmp();
    let log = AuditLog::open(config(t.path())).unwrap();
    let mut r = record(0, "a");
    r.findings[0].category = "LLM01".into();
    let err = log.sink().append(r).await.unwrap_err();
    assert_eq!(err.kind(), AuditErrorKind::Encoding);
    log.shutdown().await.unwrap();
}

#[tokio::test]
async fn async_mode_commits_everything_by_shutdown() {
    let t = tmp();
    let mut c = config(t.path());
    c.mode = AuditMode::Async;
    c.checkpoint_every = 1000;
    let log = AuditLog::open(c).unwrap();
    let sink = log.sink();
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let sink = sink.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..250 {
                let r = sink.append(record(w * 1000 + i, "a")).await.unwrap();
                assert!(matches!(r, AppendReceipt::Queued { .. }));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    log.shutdown().await.unwrap();
    let s = sink.stats();
    assert_eq!((s.appended, s.failed, s.dropped), (2000, 0, 0));
    let store = Store::open_reader(&t.path().join("audit.sqlite")).unwrap();
    assert_eq!(store.size().unwrap(), 2002);
    assert!(
        sink.append(record(0, "a")).await.is_err(),
        "closed after shutdown"
    );
}

/// A writer stuck behind a database lock: the queue fills, and fail-closed
/// mode refuses instead of dropping; sync mode surfaces the storage error.
#[tokio::test]
async fn full_queue_fails_closed_and_lock_timeouts_surface() {
    let t = tmp();
    let mut c = config(t.path());
    c.mode = AuditMode::Async;
    c.on_full = OnFull::FailClosed;
    c.queue_capacity = 4;
    c.max_batch = 1;
    let log = AuditLog::open(c).unwrap();
    let sink = log.sink();
    // Another process-like connection takes the write lock.
    let blocker = rusqlite::Connection::open(t.path().join("audit.sqlite")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut refused = 0;
    for i in 0..20 {
        match sink.append(record(i, "a")).await {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.kind(), AuditErrorKind::QueueFull);
                refused += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(refused > 0);
    assert_eq!(sink.stats().rejected_full, refused);
    assert_eq!(sink.stats().dropped, 0);
    // The writer's transaction times out (5 s busy timeout): the log is
    // marked not writable and the batch is held for a retry, not lost.
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let s = sink.stats();
    assert!(!s.writable && s.held >= 1, "{s:?}");
    assert!(!sink.accepting(), "fail-closed refuses while not writable");
    assert_eq!(s.failed, 0, "{s:?}");
    blocker.execute_batch("ROLLBACK").unwrap();
    // Once the lock is gone every accepted record is committed.
    let accepted = 20 - refused;
    for _ in 0..300 {
        let s = sink.stats();
        if s.writable && s.appended == accepted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = sink.stats();
    assert!(s.writable && s.held == 0, "{s:?}");
    assert_eq!((s.appended, s.failed), (accepted, 0), "{s:?}");
    log.shutdown().await.unwrap();
}

#[tokio::test]
async fn sync_append_surfaces_storage_errors_and_recovers() {
    let t = tmp();
    let log = AuditLog::open(config(t.path())).unwrap();
    let sink = log.sink();
    let blocker = rusqlite::Connection::open(t.path().join("audit.sqlite")).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let err = sink.append(record(1, "a")).await.unwrap_err();
    assert_eq!(err.kind(), AuditErrorKind::Storage);
    blocker.execute_batch("ROLLBACK").unwrap();
    // The log recovers and the failed record left no hole in the chain.
    sink.append(record(2, "a")).await.unwrap();
    log.shutdown().await.unwrap();
    let out = out_dir(&t, "b");
    export_all(t.path(), &out);
    let rep = verify(&out, &log_key(t.path()));
    assert!(rep.is_valid(), "{}", rep.render());
}

#[tokio::test]
async fn heartbeat_checkpoints_are_signed_when_idle() {
    let t = tmp();
    let mut c = config(t.path());
    c.checkpoint_interval = Duration::from_millis(200);
    let log = AuditLog::open(c).unwrap();
    // Polled rather than one fixed sleep: on a loaded machine (CI runs the
    // suites in parallel on two cores) the writer thread can be late.
    let store = Store::open_reader(&t.path().join("audit.sqlite")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let cps = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let cps = store.all_checkpoints().unwrap();
        if cps.len() >= 3 || std::time::Instant::now() > deadline {
            break cps;
        }
    };
    assert!(cps.len() >= 3, "{} checkpoints", cps.len());
    assert!(cps
        .windows(2)
        .all(|w| w[1].seq == w[0].seq + 1 && w[1].size == w[0].size));
    log.shutdown().await.unwrap();
}

#[tokio::test]
async fn payload_modes_keep_text_out_of_the_leaf() {
    let t = tmp();
    let hmac_key = t.path().join("hmac.key");
    std::fs::write(&hmac_key, [7u8; 32]).unwrap();
    let dir = t.path().join("log");
    let mut c = config(&dir);
    c.payloads = PayloadMode::Hmac;
    c.hmac_key_path = Some(hmac_key);
    let log = AuditLog::open(c).unwrap();
    let r = log.sink().append(record(5, "a")).await.unwrap();
    log.shutdown().await.unwrap();
    let AppendReceipt::Committed { index, .. } = r else {
        panic!()
    };
    let store = Store::open_reader(&dir.join("audit.sqlite")).unwrap();
    let leaf = String::from_utf8(store.leaf(index).unwrap().unwrap().entry).unwrap();
    assert!(!leaf.contains("EMAIL_5"), "{leaf}");
    assert!(leaf.contains("hmac-sha256"), "{leaf}");
    assert!(store.payloads(index).unwrap().is_empty());

    let mut c = config(&t.path().join("nokey"));
    c.payloads = PayloadMode::Hmac;
    assert_eq!(
        AuditLog::open(c).unwrap_err().kind(),
        AuditErrorKind::Config
    );
}

#[tokio::test]
async fn writer_erases_payloads_past_retention_and_the_tree_still_verifies() {
    let t = tmp();
    let mut c = config(t.path());
    c.retention = Duration::from_secs(1);
    let log = AuditLog::open(c).unwrap();
    let mut old = record(1, "a");
    old.time_ms = now_ms() - 60_000;
    let AppendReceipt::Committed { index, .. } = log.sink().append(old).await.unwrap() else {
        panic!("sync mode commits")
    };
    let fresh = log.sink().append(record(2, "a")).await.unwrap();
    log.shutdown().await.unwrap();
    let store = Store::open_reader(&t.path().join("audit.sqlite")).unwrap();
    assert!(
        store.payloads(index).unwrap().is_empty(),
        "expired payload kept"
    );
    let AppendReceipt::Committed { index: i2, .. } = fresh else {
        panic!()
    };
    assert_eq!(store.payloads(i2).unwrap().len(), 1, "fresh payload erased");
    let out = out_dir(&t, "b");
    export_all(t.path(), &out);
    assert!(verify(&out, &log_key(t.path())).is_valid());
}

#[test]
fn handles_are_shareable_across_tasks() {
    fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
    fn assert_send<T: Send + 'static>() {}
    assert_shareable::<menshen_audit::AuditSink>();
    assert_send::<AuditLog>();
    assert_send::<menshen_audit::AuditError>();
}

#[tokio::test]
async fn export_counts_the_records_that_no_checkpoint_covers_yet() {
    let t = tmp();
    let dir = t.path().join("log");
    let log = AuditLog::open(config(&dir)).unwrap();
    let sink = log.sink();
    for i in 0..10 {
        sink.append(record(i, "a")).await.unwrap();
    }
    // checkpoint_every = 7: the newest checkpoint lags the newest records.
    let store = Store::open_reader(&dir.join("audit.sqlite")).unwrap();
    let size = store.size().unwrap();
    let s = menshen_audit::export(&dir, &export_opts(&t.path().join("early"))).unwrap();
    assert!(s.anchor_size < size, "{s:?}, size {size}");
    assert_eq!(s.records, s.anchor_size, "{s:?}");
    assert_eq!(s.pending, size - s.anchor_size, "{s:?}");
    // One tenant's window counts only that tenant's late records.
    let mut opts = export_opts(&t.path().join("tenant"));
    opts.tenant = Some("b".into());
    assert_eq!(menshen_audit::export(&dir, &opts).unwrap().pending, 0);
    log.shutdown().await.unwrap();
    // The final checkpoint covers everything.
    let size = store.size().unwrap();
    let s = menshen_audit::export(&dir, &export_opts(&t.path().join("late"))).unwrap();
    assert_eq!((s.records, s.pending, s.anchor_size), (size, 0, size));
}
