//! Prints the rules-only evaluation table for every classification set in
//! the shared data folder.
//!
//! ```text
//! cargo run --release -p menshen-classifiers --example eval_rules [DATA_DIR] [--threshold 0.5]
//! ```
//!
//! `DATA_DIR` defaults to `../shared/data` relative to the repository root.
//! Sets whose name contains `indirect` are also scanned as untrusted
//! documents, which is how indirect injection reaches the model.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use menshen_classifiers::eval::{evaluate, load_jsonl, EvalConfig, RowAs};
use menshen_classifiers::rules::RuleDetector;
use menshen_classifiers::Pipeline;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    let mut threshold = 0.5f32;
    let mut dump = false;
    while let Some(a) = args.next() {
        if a == "--dump" {
            dump = true;
        } else if a == "--threshold" {
            threshold = args
                .next()
                .context("--threshold needs a value")?
                .parse()
                .context("--threshold must be a number")?;
        } else {
            dir = PathBuf::from(a);
        }
    }
    let detector = RuleDetector::builtin().context("loading the bundled rule packs")?;
    println!(
        "rules.injection: {} rules, version {}",
        detector.rule_count(),
        detector.version()
    );
    let detector = Arc::new(detector);
    let pipeline = Pipeline::builder()
        .detector(detector.clone())
        .cache_capacity(0)
        .build();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a runtime")?;
    for file in files {
        let rows = load_jsonl(&file).with_context(|| format!("loading {}", file.display()))?;
        if rows.iter().all(|r| r.label.is_none()) {
            continue;
        }
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut modes = vec![RowAs::UserText];
        if name.contains("indirect") {
            modes.push(RowAs::Document);
        }
        for mode in modes {
            let config = EvalConfig {
                threshold,
                row_as: mode,
                ..EvalConfig::default()
            };
            let report = rt.block_on(evaluate(&pipeline, &rows, &config));
            println!("\n== {name} ({mode:?}, threshold {threshold})\n{report}");
        }
        if dump {
            dump_rows(&detector, &rows, threshold);
        }
    }
    Ok(())
}

/// With `--dump`: prints benign rows that were flagged and attack rows that
/// were missed (first 200 chars), for tuning on the phenomenon.
fn dump_rows(
    detector: &RuleDetector,
    rows: &[menshen_classifiers::eval::LabeledRow],
    threshold: f32,
) {
    use menshen_classifiers::Trust;
    for row in rows {
        let Some(label) = row.label.as_deref() else {
            continue;
        };
        let hits: Vec<String> = detector
            .scan_text(&row.text, Trust::Trusted)
            .into_iter()
            .filter(|f| f.score >= threshold)
            .filter_map(|f| f.rule)
            .collect();
        let short: String = row
            .text
            .chars()
            .take(200)
            .collect::<String>()
            .replace('\n', " ");
        match (label, hits.is_empty()) {
            ("benign" | "safety_probe" | "redteam_attempt", false) => {
                println!("FP [{label}] {hits:?} {short}");
            }
            ("injection" | "jailbreak" | "indirect_injection", true) => {
                println!("MISS [{label}] {short}");
            }
            _ => {}
        }
    }
}
