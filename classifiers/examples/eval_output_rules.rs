//! How often `rules.output` fires on the texts of the shared data sets, read
//! as if a model had written them: as answer text, and as the arguments of
//! a tool call (`{"input": TEXT}`). The sets are prompts, not answers, so
//! this measures false alarms on ordinary language, code questions and
//! attack prompts, not recall (there is no labelled set of unsafe answers;
//! the unit and end-to-end tests carry the attack cases).
//!
//! ```text
//! cargo run --release -p menshen-classifiers --example eval_output_rules [DATA_DIR]
//! ```
//!
//! Columns: rows; share with any finding and with one the baseline policy
//! acts on (answer text: score >= 0.7 as LLM05 or >= 0.85 as LLM02; tool
//! call: LLM06 >= 0.5), each as answer text and as a tool call.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use menshen_classifiers::output_rules::OutputRulesDetector;
use menshen_classifiers::Finding;

fn acts(f: &Finding) -> bool {
    match f.category.as_str() {
        "OWASP-LLM-2025:LLM05" => f.score >= 0.7,
        "OWASP-LLM-2025:LLM02" => f.score >= 0.85,
        "OWASP-LLM-2025:LLM06" => f.score >= 0.5,
        _ => false,
    }
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::args().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
        PathBuf::from,
    );
    let det = OutputRulesDetector::builtin().context("loading the output rules")?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    println!(
        "{:<44} {:>6} {:>9} {:>9} {:>9} {:>9}",
        "set (label)", "rows", "text any", "text act", "tool any", "tool act"
    );
    let mut rules: BTreeMap<String, usize> = BTreeMap::new();
    for path in files {
        let name = path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        let mut by_label: BTreeMap<String, [usize; 5]> = BTreeMap::new();
        for line in std::fs::read_to_string(&path)?.lines() {
            let v: serde_json::Value = serde_json::from_str(line)?;
            let Some(text) = v["text"].as_str() else {
                continue;
            };
            let label = v["label"].as_str().unwrap_or("(spans)").to_owned();
            let in_text = det.scan_answer(text, None);
            let args = serde_json::json!({ "input": text }).to_string();
            let in_tool = det.scan_tool_arguments(&args);
            for f in in_text.iter().chain(&in_tool) {
                if let Some(r) = &f.rule {
                    *rules.entry(format!("{r} ({label})")).or_default() += 1;
                }
            }
            let c = by_label.entry(label).or_default();
            c[0] += 1;
            c[1] += usize::from(!in_text.is_empty());
            c[2] += usize::from(in_text.iter().any(acts));
            c[3] += usize::from(!in_tool.is_empty());
            c[4] += usize::from(in_tool.iter().any(acts));
        }
        for (label, c) in by_label {
            let pct = |n: usize| 100.0 * n as f64 / c[0].max(1) as f64;
            println!(
                "{:<44} {:>6} {:>8.2}% {:>8.2}% {:>8.2}% {:>8.2}%",
                format!("{name} ({label})"),
                c[0],
                pct(c[1]),
                pct(c[2]),
                pct(c[3]),
                pct(c[4])
            );
        }
    }
    println!("\nfindings per rule (label of the row):");
    for (r, n) in rules {
        println!("  {n:>5}  {r}");
    }
    Ok(())
}
