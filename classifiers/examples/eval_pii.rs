//! Prints PII/secrets span metrics and benign false-positive rates on the
//! shared labelled data.
//!
//! ```text
//! cargo run --release -p menshen-classifiers --example eval_pii [DATA_DIR]
//! ```
//! `DATA_DIR` defaults to `../shared/data` relative to the repository root.
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use menshen_classifiers::pii::eval::{
    false_positive_rate, load_span_rows, load_texts, predictor, presidio_type, span_metrics,
    weibo_type, STRUCTURED,
};
use menshen_classifiers::pii::{PiiConfig, PiiDetector};
use menshen_classifiers::secrets::SecretsDetector;

fn open(dir: &Path, name: &str) -> Result<BufReader<File>, Box<dyn Error>> {
    let p = dir.join(name);
    File::open(&p)
        .map(BufReader::new)
        .map_err(|e| format!("{}: {e}", p.display()).into())
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    let pii = PiiDetector::new(PiiConfig::default())?;
    let secrets = SecretsDetector::new()?;

    println!(
        "== presidio_generated_en.dev.jsonl (span metrics; DATE_TIME scored against DATE_OF_BIRTH)"
    );
    let rows = load_span_rows(
        open(&dir, "presidio_generated_en.dev.jsonl")?,
        presidio_type,
    )?;
    let report = span_metrics(&rows, predictor(&pii));
    println!("{report}");
    let micro = report.micro(STRUCTURED);
    println!(
        "structured {STRUCTURED:?}: micro P/R/F1 exact {:.3}/{:.3}/{:.3}, overlap {:.3}/{:.3}/{:.3}",
        micro.precision_exact(),
        micro.recall_exact(),
        micro.f1_exact(),
        micro.precision_overlap(),
        micro.recall_overlap(),
        micro.f1_overlap()
    );

    println!("\n== weibo_ner_zh.dev.jsonl (person/place/org names: nothing maps; every finding is reported)");
    let rows = load_span_rows(open(&dir, "weibo_ner_zh.dev.jsonl")?, weibo_type)?;
    let report = span_metrics(&rows, predictor(&pii));
    println!("{report}");

    println!("\n== benign sets: rows with any PII or secrets finding");
    for name in [
        "alpaca_zh.jsonl",
        "belle_zh.jsonl",
        "gsm8k_test_en.jsonl",
        "nq_open_en.dev.jsonl",
        "alpaca_instructions_en.jsonl",
    ] {
        let texts = load_texts(open(&dir, name)?)?;
        let mut p = predictor(&pii);
        let r = false_positive_rate(&texts, |t| {
            let mut v = p(t);
            v.extend(secrets.scan_text(t).into_iter().filter_map(|f| {
                let s = f.span?;
                let (a, b) = menshen_classifiers::char_offsets(t, s);
                Some((a, b, f.entity.unwrap_or_default()))
            }));
            v
        });
        println!("{name:<32} {r}");
    }
    Ok(())
}
