//! The audit bundle verifier over mutated bundles: `verify_bundle` never
//! panics, and never reports a bundle valid once any byte of any file it
//! covers has changed.
//!
//! A real bundle (a log of a dozen records, checkpoints every five) is
//! exported once. Each input then picks one file and either edits it
//! (overwrite, insert, delete or truncate at fuzzer-chosen offsets), replaces
//! it with the input's bytes, or deletes it; the bundle is written out and
//! verified, against the log's key or trusting the keys in the bundle.
//! `VERIFY.md` is prose for humans and no check covers it, so it is never
//! picked.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use menshen_audit::bundle::{ExportOptions, VerifyOptions};
use menshen_audit::note::NoteVerifier;
use menshen_audit::{
    AuditConfig, AuditLog, AuditMode, AuditRecord, DecisionSummary, Direction, Payloads,
};

struct Fixture {
    /// Keeps the log and the scratch bundle directory alive.
    _tmp: tempfile::TempDir,
    scratch: PathBuf,
    files: Vec<(String, Vec<u8>)>,
    key: NoteVerifier,
}

fn record(i: u64) -> AuditRecord {
    AuditRecord {
        time_ms: 1_764_500_000_000 + i,
        request_id: format!("req-{i}"),
        tenant: if i % 3 == 0 { "b" } else { "a" }.into(),
        route: "chat".into(),
        api: "openai.chat".into(),
        model: Some("gpt-4o-mini".into()),
        direction: Direction::Request,
        decision: DecisionSummary {
            action: ["allow", "block", "redact"][(i % 3) as usize].into(),
            reasons: vec!["pii.email".into()],
            monitor: false,
        },
        risk_score: (i % 100) as u8,
        findings: vec![],
        policy_version: "sha256:0f1e".into(),
        review: None,
        upstream: None,
        payloads: Payloads {
            prompt: Some(format!("hello [EMAIL_{i}]")),
            response: None,
        },
    }
}

fn read_tree(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("bundle dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            read_tree(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).expect("inside root");
            let rel = rel.to_string_lossy().into_owned();
            if rel != "VERIFY.md" {
                out.push((rel, std::fs::read(&path).expect("bundle file")));
            }
        }
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        // tmpfs when there is one: every input rewrites the bundle.
        let tmp = tempfile::Builder::new()
            .prefix("menshen-fuzz-audit")
            .tempdir_in(if Path::new("/dev/shm").is_dir() {
                Path::new("/dev/shm")
            } else {
                Path::new("/tmp")
            })
            .or_else(|_| tempfile::tempdir())
            .expect("temp dir");
        let log_dir = tmp.path().join("log");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut config = AuditConfig::new(&log_dir)
                .with_origin("fuzz.example/audit")
                .with_mode(AuditMode::Sync);
            config.checkpoint_every = 5;
            let log = AuditLog::open(config).expect("open log");
            let sink = log.sink();
            for i in 0..12 {
                sink.append(record(i)).await.expect("append");
            }
            log.shutdown().await.expect("shutdown");
        });
        let bundle = tmp.path().join("bundle");
        menshen_audit::export(
            &log_dir,
            &ExportOptions {
                from_ms: 0,
                to_ms: u64::MAX >> 12,
                tenant: None,
                out: bundle.clone(),
                include_payloads: true,
                pinned: None,
                key_path: None,
                checkpoint_interval_s: Some(0),
            },
        )
        .expect("export");
        let key_text = std::fs::read_to_string(log_dir.join("checkpoint.pub")).expect("pub key");
        let key = NoteVerifier::parse(key_text.trim()).expect("key parses");
        let mut files = Vec::new();
        read_tree(&bundle, &bundle, &mut files);
        files.sort();
        let scratch = tmp.path().join("scratch");
        let f = Fixture {
            _tmp: tmp,
            scratch,
            files,
            key,
        };
        write_bundle(&f.scratch, &f.files);
        let rep = verify(&f, true);
        assert!(rep.is_valid(), "fixture must verify:\n{}", rep.render());
        f
    })
}

fn write_bundle(dir: &Path, files: &[(String, Vec<u8>)]) {
    let _ = std::fs::remove_dir_all(dir);
    for (rel, bytes) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, bytes).expect("write");
    }
    std::fs::create_dir_all(dir).expect("mkdir");
}

fn verify(f: &Fixture, pinned_key: bool) -> menshen_audit::VerifyReport {
    let opts = VerifyOptions {
        keys: pinned_key.then(|| vec![f.key.clone()]),
        ..VerifyOptions::default()
    };
    match menshen_audit::verify_bundle(&f.scratch, &opts) {
        Ok(rep) => rep,
        // Unreadable bundles are reported as errors: never valid.
        Err(_) => menshen_audit::VerifyReport::default(),
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let [mode, which, rest @ ..] = data else {
        return;
    };
    let mut files = f.files.clone();
    let idx = usize::from(*which) % files.len();
    match mode % 4 {
        // Edits: (op, offset u16, byte) quadruples.
        0 | 1 => {
            let bytes = &mut files[idx].1;
            for op in rest.chunks_exact(4) {
                let at = usize::from(u16::from_le_bytes([op[1], op[2]]));
                match op[0] % 4 {
                    0 if !bytes.is_empty() => {
                        let i = at % bytes.len();
                        bytes[i] = op[3];
                    }
                    1 => {
                        let i = at % (bytes.len() + 1);
                        bytes.insert(i, op[3]);
                    }
                    2 if !bytes.is_empty() => {
                        let i = at % bytes.len();
                        bytes.remove(i);
                    }
                    3 => {
                        let i = at % (bytes.len() + 1);
                        bytes.truncate(i);
                    }
                    _ => {}
                }
            }
        }
        // The input replaces the file.
        2 => files[idx].1 = rest.to_vec(),
        // The file is gone.
        _ => {
            files.remove(idx);
        }
    }
    let changed = files != f.files;
    write_bundle(&f.scratch, &files);
    let rep = verify(f, mode & 4 == 0);
    if changed {
        assert!(
            !rep.is_valid(),
            "a mutated bundle verified (file {}):\n{}",
            f.files[idx].0,
            rep.render()
        );
    }
});
