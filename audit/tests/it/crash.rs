//! Crash test: `kill -9` a writer process mid-write, restart, verify.

use std::process::{Command, Stdio};
use std::time::Duration;

use menshen_audit::store::Store;
use menshen_audit::AuditLog;

use crate::common::*;

const CHILD_ENV: &str = "MENSHEN_AUDIT_CRASH_CHILD_DIR";

/// Not a test on its own: the body of the child process the crash test
/// kills. It appends from many tasks until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by kill_9_during_writes_leaves_a_consistent_log as a child process"]
async fn crash_child_writer() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let mut c = config(std::path::Path::new(&dir));
    c.checkpoint_every = 50;
    let log = AuditLog::open(c).unwrap();
    let mut tasks = Vec::new();
    for w in 0..16u64 {
        let sink = log.sink();
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                sink.append(record(w * 1_000_000 + i, "a")).await.unwrap();
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

#[test]
fn kill_9_during_writes_leaves_a_consistent_log() {
    let t = tmp();
    let dir = t.path().join("log");
    let exe = std::env::current_exe().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut sizes = Vec::new();
    for round in 0..3u64 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash::crash_child_writer",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_ENV, &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Let it write for a while, at a different moment each round.
        std::thread::sleep(Duration::from_millis(1_200 + 350 * round));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();

        // Restart: open checks the tree against the last checkpoint.
        let log = AuditLog::open(config(&dir)).unwrap();
        rt.block_on(async {
            log.sink().append(record(round, "after")).await.unwrap();
            log.shutdown().await.unwrap();
        });
        let store = Store::open_reader(&dir.join("audit.sqlite")).unwrap();
        let size = store.size().unwrap();
        assert_eq!(store.leaf_count().unwrap(), size);
        sizes.push(size);
    }
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    assert!(
        sizes[0] > 10,
        "the child wrote too little to test anything: {sizes:?}"
    );
    let out = t.path().join("bundle");
    export_all(&dir, &out);
    let rep = verify(&out, &log_key(&dir));
    assert!(rep.is_valid(), "{}", rep.render());
}
