//! Tamper tests: each edits the SQLite file or the bundle as an insider
//! would, and the verifier must say INVALID with the right reason.

use std::fs;
use std::path::Path;

use menshen_audit::bundle::VerifyOptions;
use menshen_audit::note::{Checkpoint, NoteSigner, SignedNote};
use menshen_audit::store::Store;

use crate::common::*;

async fn exported(n: u64) -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tmp();
    let dir = t.path().join("log");
    fill(&dir, n).await;
    let out = t.path().join("bundle");
    export_all(&dir, &out);
    (t, out)
}

fn key_of(t: &tempfile::TempDir) -> menshen_audit::note::NoteVerifier {
    log_key(&t.path().join("log"))
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut s = lines.join("\n");
    s.push('\n');
    fs::write(path, s).unwrap();
}

#[tokio::test]
async fn untouched_bundle_verifies() {
    let (t, out) = exported(30).await;
    let rep = verify(&out, &key_of(&t));
    assert!(rep.is_valid(), "{}", rep.render());
    assert_eq!(rep.records, 32);
}

#[tokio::test]
async fn edited_record_in_bundle_is_invalid() {
    let (t, out) = exported(30).await;
    let p = out.join("records.jsonl");
    let mut l = lines(&p);
    l[10] = l[10].replacen("\"action\":\"block\"", "\"action\":\"allow\"", 1);
    l[10] = l[10].replacen("\"action\":\"redact\"", "\"action\":\"allow\"", 1);
    l[10] = l[10].replacen("\"risk_score\":", "\"risk_score\":1", 1);
    write_lines(&p, &l);
    assert_invalid(&verify(&out, &key_of(&t)), "not in the signed tree");
}

#[tokio::test]
async fn reformatted_record_is_invalid() {
    let (t, out) = exported(5).await;
    let p = out.join("records.jsonl");
    let mut l = lines(&p);
    l[2] = l[2].replacen(',', ", ", 1);
    write_lines(&p, &l);
    assert_invalid(&verify(&out, &key_of(&t)), "canonical");
}

#[tokio::test]
async fn deleted_record_in_bundle_is_invalid() {
    let (t, out) = exported(30).await;
    let p = out.join("records.jsonl");
    let mut l = lines(&p);
    l.remove(12);
    write_lines(&p, &l);
    assert_invalid(&verify(&out, &key_of(&t)), "record deleted: 12");
}

#[tokio::test]
async fn reordered_records_are_invalid() {
    let (t, out) = exported(30).await;
    let p = out.join("records.jsonl");
    let mut l = lines(&p);
    l.swap(5, 6);
    write_lines(&p, &l);
    assert_invalid(&verify(&out, &key_of(&t)), "out of order");

    // Swapping the index fields too keeps the order plausible; the chain
    // and the tree still catch it.
    let mut l = lines(&p);
    l.swap(5, 6); // back to the exported order
    let was5 = l[5].replacen("\"index\":5,", "\"index\":6,", 1);
    let was6 = l[6].replacen("\"index\":6,", "\"index\":5,", 1);
    assert!(was5 != l[5] && was6 != l[6]);
    l[5] = was6;
    l[6] = was5;
    write_lines(&p, &l);
    let rep = verify(&out, &key_of(&t));
    assert_invalid(&rep, "chain broken");
}

#[tokio::test]
async fn truncated_tail_is_invalid() {
    let (t, out) = exported(30).await;
    let p = out.join("records.jsonl");
    let mut l = lines(&p);
    l.truncate(l.len() - 3);
    write_lines(&p, &l);
    assert_invalid(&verify(&out, &key_of(&t)), "truncated");
}

#[tokio::test]
async fn forged_checkpoint_signature_is_invalid() {
    let (t, out) = exported(30).await;
    let cp_path = fs::read_dir(out.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    let note = fs::read_to_string(&cp_path).unwrap();
    let parsed = SignedNote::parse(&note).unwrap();
    let mut cp = Checkpoint::parse_text(&parsed.text).unwrap();
    cp.root[0] ^= 1;
    let sig_block = &note[parsed.text.len()..];
    fs::write(&cp_path, format!("{}{}", cp.to_text(), sig_block)).unwrap();
    assert_invalid(&verify(&out, &key_of(&t)), "forged signature");
}

#[tokio::test]
async fn checkpoints_signed_by_an_unknown_key_are_invalid() {
    let (t, out) = exported(30).await;
    // The insider re-signs every checkpoint and the manifest with a new key
    // and swaps the bundled key file.
    let rogue = NoteSigner::generate("test.example/audit").unwrap();
    for e in fs::read_dir(out.join("checkpoints")).unwrap() {
        let p = e.unwrap().path();
        let n = SignedNote::parse(&fs::read_to_string(&p).unwrap()).unwrap();
        fs::write(&p, rogue.sign(&n.text).unwrap()).unwrap();
    }
    fs::write(
        out.join("keys/verifier-keys.txt"),
        format!("{}\n", rogue.verifier()),
    )
    .unwrap();
    assert_invalid(&verify(&out, &key_of(&t)), "unknown key");
}

#[tokio::test]
async fn deleted_checkpoint_in_the_middle_is_a_sequence_gap() {
    let (t, out) = exported(40).await;
    let mut cps: Vec<_> = fs::read_dir(out.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cps.sort();
    fs::remove_file(&cps[2]).unwrap();
    assert_invalid(&verify(&out, &key_of(&t)), "sequence gap");
}

#[tokio::test]
async fn edited_payload_is_invalid_and_erased_payload_is_fine() {
    let (t, out) = exported(10).await;
    let p = out.join("payloads.jsonl");
    let orig = fs::read_to_string(&p).unwrap();
    fs::write(&p, orig.replacen("EMAIL_3", "EMAIL_X", 1)).unwrap();
    assert_invalid(&verify(&out, &key_of(&t)), "commitment");

    // Erasure in the database (retention) keeps the tree verifiable.
    let dir = t.path().join("log");
    let store = Store::open_maintenance(&dir.join("audit.sqlite")).unwrap();
    assert!(store.prune_payloads(u64::MAX >> 12).unwrap() > 0);
    let out2 = t.path().join("after-prune");
    export_all(&dir, &out2);
    let rep = verify(&out2, &key_of(&t));
    assert!(rep.is_valid(), "{}", rep.render());
    assert_eq!(fs::read_to_string(out2.join("payloads.jsonl")).unwrap(), "");
}

#[tokio::test]
async fn record_edited_in_the_database_is_invalid() {
    let t = tmp();
    let dir = t.path().join("log");
    fill(&dir, 20).await;
    let c = insider(&dir);
    let n = c
        .execute(
            "UPDATE leaves SET entry = CAST(replace(CAST(entry AS TEXT), '\"tenant\":\"a\"', '\"tenant\":\"z\"') AS BLOB) WHERE idx = 5",
            [],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(c);
    let out = t.path().join("bundle");
    export_all(&dir, &out);
    assert_invalid(&verify(&out, &log_key(&dir)), "not in the signed tree");
    // The writer refuses to start on top of it? It checks the tree against
    // the checkpoint, and the tree nodes were not touched, so it starts;
    // the full check command is what catches an edited leaf in place.
    let code = menshen_audit::run_cli(
        ["menshen-audit", "check", "--dir", dir.to_str().unwrap()].map(Into::into),
    );
    assert_eq!(code, 1);
}

#[tokio::test]
async fn record_deleted_in_the_database_is_invalid() {
    let t = tmp();
    let dir = t.path().join("log");
    fill(&dir, 20).await;
    insider(&dir)
        .execute("DELETE FROM leaves WHERE idx = 7", [])
        .unwrap();
    let out = t.path().join("bundle");
    export_all(&dir, &out);
    assert_invalid(&verify(&out, &log_key(&dir)), "record deleted: 7");
    let err = menshen_audit::AuditLog::open(config(&dir)).unwrap_err();
    assert_eq!(err.kind(), menshen_audit::AuditErrorKind::Integrity);
}

/// The insider truncates the newest records, their tree nodes and the
/// checkpoints that covered them. The bundle is self-consistent, but a
/// checkpoint the regulator pinned earlier exposes the rollback.
#[tokio::test]
async fn rolled_back_log_is_caught_by_a_pinned_checkpoint() {
    let t = tmp();
    let dir = t.path().join("log");
    fill(&dir, 20).await;
    let store = Store::open_reader(&dir.join("audit.sqlite")).unwrap();
    let pinned = store.latest_checkpoint().unwrap().unwrap();
    let keep = pinned.size - 5;
    drop(store);
    let c = insider(&dir);
    c.execute("DELETE FROM leaves WHERE idx >= ?1", [keep as i64])
        .unwrap();
    c.execute(
        "DELETE FROM tree_nodes WHERE ((idx + 1) << level) > ?1",
        [keep as i64],
    )
    .unwrap();
    c.execute(
        "DELETE FROM checkpoints WHERE tree_size > ?1",
        [keep as i64],
    )
    .unwrap();
    drop(c);
    let out = t.path().join("bundle");
    export_all(&dir, &out);
    let key = log_key(&dir);
    // Alone, the shorter log looks fine.
    assert!(verify(&out, &key).is_valid());
    let rep = menshen_audit::verify_bundle(
        &out,
        &VerifyOptions {
            keys: Some(vec![key]),
            previous_checkpoint: Some(pinned.note.clone()),
            verbose: false,
        },
    )
    .unwrap();
    assert_invalid(&rep, "rolled back");
}

#[tokio::test]
async fn pinned_checkpoint_consistency_is_proven_when_exported_with_it() {
    let t = tmp();
    let dir = t.path().join("log");
    fill(&dir, 10).await;
    let pinned = Store::open_reader(&dir.join("audit.sqlite"))
        .unwrap()
        .latest_checkpoint()
        .unwrap()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let mid = now_ms();
    fill(&dir, 10).await;
    let out = t.path().join("bundle");
    let mut opts = export_opts(&out);
    // A window after the pinned checkpoint: its size is not in the bundle.
    opts.from_ms = mid;
    opts.pinned = Some(pinned.note.clone());
    menshen_audit::export(&dir, &opts).unwrap();
    let rep = menshen_audit::verify_bundle(
        &out,
        &VerifyOptions {
            keys: Some(vec![log_key(&dir)]),
            previous_checkpoint: Some(pinned.note),
            verbose: false,
        },
    )
    .unwrap();
    assert!(rep.is_valid(), "{}", rep.render());
}

#[tokio::test]
async fn tenant_export_proves_only_that_tenants_records() {
    let t = tmp();
    let dir = t.path().join("log");
    fill(&dir, 30).await;
    let out = t.path().join("bundle");
    let mut opts = export_opts(&out);
    opts.tenant = Some("b".into());
    menshen_audit::export(&dir, &opts).unwrap();
    let text = fs::read_to_string(out.join("records.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 10);
    assert!(!text.contains("\"tenant\":\"a\""));
    let rep = verify(&out, &log_key(&dir));
    assert!(rep.is_valid(), "{}", rep.render());
    // Dropping one of b's records shows, though a's are not in the bundle.
    let p = out.join("records.jsonl");
    let mut l = lines(&p);
    l.remove(4);
    write_lines(&p, &l);
    assert_invalid(&verify(&out, &log_key(&dir)), "record deleted");
}

/// The insider deletes the newest checkpoints (CloudTrail's blind spot):
/// the remaining newest one is older than the heartbeat allows.
#[tokio::test]
async fn deleted_newest_checkpoints_show_as_a_heartbeat_gap() {
    let t = tmp();
    let dir = t.path().join("log");
    let log = menshen_audit::AuditLog::open({
        let mut c = config(&dir);
        c.checkpoint_interval = std::time::Duration::from_secs(1);
        c
    })
    .unwrap();
    for i in 0..10 {
        log.sink().append(record(i, "a")).await.unwrap();
    }
    log.shutdown().await.unwrap();
    // A cleanly stopped log owes no heartbeat.
    tokio::time::sleep(std::time::Duration::from_millis(4_500)).await;
    let out = t.path().join("clean");
    export_all(&dir, &out);
    let rep = verify(&out, &log_key(&dir));
    assert!(rep.is_valid(), "{}", rep.render());

    insider(&dir)
        .execute("DELETE FROM checkpoints WHERE seq > 1", [])
        .unwrap();
    let out = t.path().join("cut");
    export_all(&dir, &out);
    assert_invalid(&verify(&out, &log_key(&dir)), "heartbeat");
}

#[tokio::test]
async fn tlog_proof_receipt_verifies_only_for_its_entry() {
    let t = tmp();
    let dir = t.path().join("log");
    fill(&dir, 9).await;
    let store = Store::open_reader(&dir.join("audit.sqlite")).unwrap();
    let entry = store.leaf(4).unwrap().unwrap().entry;
    let other = store.leaf(5).unwrap().unwrap().entry;
    let proof = menshen_audit::bundle::tlog_proof(&dir, 4).unwrap();
    assert!(proof.starts_with("c2sp.org/tlog-proof@v1\nindex 4\n"));
    let key = log_key(&dir);
    let cp = menshen_audit::bundle::verify_tlog_proof(&proof, &entry, std::slice::from_ref(&key))
        .unwrap();
    assert_eq!(cp.size, store.size().unwrap());
    assert!(
        menshen_audit::bundle::verify_tlog_proof(&proof, &other, std::slice::from_ref(&key))
            .is_err()
    );
    let rogue = NoteSigner::generate("test.example/audit")
        .unwrap()
        .verifier();
    assert!(
        menshen_audit::bundle::verify_tlog_proof(&proof, &entry, &[rogue])
            .unwrap_err()
            .contains("unknown key")
    );
}
