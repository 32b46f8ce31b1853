//! The `menshen-audit` command line and key rotation.

use std::ffi::OsString;
use std::path::Path;

use crate::common::*;

fn cli(args: &[&str]) -> i32 {
    let mut v: Vec<OsString> = vec!["menshen-audit".into()];
    v.extend(args.iter().map(OsString::from));
    menshen_audit::run_cli(v)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn export_verify_report_prune_round_trip() {
    let t = tmp();
    let dir = t.path().join("log");
    fill(&dir, 12).await;
    let out = t.path().join("bundle");
    assert_eq!(
        cli(&[
            "export",
            "--dir",
            s(&dir),
            "--from",
            "2025-01-01",
            "--to",
            "2100-01-01T00:00:00Z",
            "--out",
            s(&out)
        ]),
        0
    );
    assert!(out.join("VERIFY.md").exists());
    let key = std::fs::read_to_string(dir.join("checkpoint.pub")).unwrap();
    assert_eq!(cli(&["verify", s(&out), "--key", key.trim()]), 0);
    assert_eq!(
        cli(&["verify", s(&out), "--key", s(&dir.join("checkpoint.pub"))]),
        0
    );
    // A different trusted key: every signature is by an unknown key.
    let other = menshen_audit::note::NoteSigner::generate("x")
        .unwrap()
        .verifier()
        .to_string();
    assert_eq!(cli(&["verify", s(&out), "--key", &other]), 1);
    assert_eq!(cli(&["check", "--dir", s(&dir)]), 0);
    assert_eq!(
        cli(&[
            "report",
            "--dir",
            s(&dir),
            "--from",
            "0",
            "--to",
            "2100-01-01",
            "--format",
            "json"
        ]),
        0
    );
    assert_eq!(
        cli(&[
            "report",
            "--dir",
            s(&dir),
            "--from",
            "0",
            "--to",
            "2100-01-01"
        ]),
        0
    );
    assert_eq!(cli(&["show", "--dir", s(&dir), "3"]), 0);
    assert_eq!(cli(&["tail", "--dir", s(&dir), "-n", "2"]), 0);
    assert_eq!(cli(&["checkpoint", "--dir", s(&dir)]), 0);
    // Within six months: refused without --force.
    assert_eq!(
        cli(&["prune", "--dir", s(&dir), "--before", "2100-01-01"]),
        2
    );
    assert_eq!(
        cli(&[
            "prune",
            "--dir",
            s(&dir),
            "--before",
            "2100-01-01",
            "--force"
        ]),
        0
    );
    assert_eq!(cli(&["check", "--dir", s(&dir)]), 0);
    assert_eq!(cli(&["verify", s(&t.path().join("nothing"))]), 2);
}

#[tokio::test]
async fn rotated_key_is_trusted_through_the_manifest_signed_by_the_old_key() {
    let t = tmp();
    let dir = t.path().join("log");
    fill(&dir, 5).await;
    let old_key = std::fs::read_to_string(dir.join("checkpoint.pub")).unwrap();
    assert_eq!(cli(&["rotate-key", "--dir", s(&dir)]), 0);
    let new_key = std::fs::read_to_string(dir.join("checkpoint.pub")).unwrap();
    assert_ne!(old_key, new_key);
    fill(&dir, 5).await; // the writer starts with the new key
    let out = t.path().join("bundle");
    export_all(&dir, &out);
    // Pinning only the old key suffices: the manifest hands trust over.
    assert_eq!(cli(&["verify", s(&out), "--key", old_key.trim()]), 0);
    let records = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    assert!(records.contains("key_rotated"));

    // A manifest not signed by the old key hands over nothing.
    let m = std::fs::read_to_string(out.join("keys/manifest.note")).unwrap();
    let body = m.split("\n\n").next().unwrap();
    let rogue = menshen_audit::note::NoteSigner::generate("test.example/audit").unwrap();
    std::fs::write(
        out.join("keys/manifest.note"),
        rogue.sign(&format!("{body}\n")).unwrap(),
    )
    .unwrap();
    assert_eq!(cli(&["verify", s(&out), "--key", old_key.trim()]), 1);
}
