//! Scan throughput in MiB per CPU-second of the scanning thread (from
//! `/proc/thread-self/schedstat`), for A/B comparisons on a shared machine
//! where wall-clock benches drift with the load of other processes: time
//! spent descheduled is not counted. Same texts as the `rules_scan` bench.
//!
//! `cargo run --release -p menshen-benches --example scan_cpu -- WHAT SIZE [findings]`
//!
//! WHAT: rules, normalize, pii, secrets, keywords (20k terms), full (all
//! four, one after the other) or output (`rules.output` on the text as an
//! answer and as tool-call arguments). Prints the best of five 0.3 s rounds ($ROUNDS
//! to change that). Linux only. Build two binaries and alternate them to
//! compare. `ITERS=N` runs N scans untimed instead, for an instruction
//! count under callgrind.
#![allow(
    missing_docs,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::print_stdout,
    clippy::print_stderr
)]
use menshen_benches::prompt_text as text;
use menshen_classifiers::keywords::{KeywordDetector, KeywordList};
use menshen_classifiers::output_rules::OutputRulesDetector;
use menshen_classifiers::pii::{PiiConfig, PiiDetector};
use menshen_classifiers::rules::RuleDetector;
use menshen_classifiers::secrets::SecretsDetector;
use menshen_classifiers::{Category, Trust};
use std::hint::black_box;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!(
            "usage: scan_cpu rules|normalize|pii|secrets|keywords|full|output SIZE [findings]"
        );
        std::process::exit(2);
    }
    let what = args[1].as_str();
    let size: usize = args[2].parse().expect("SIZE is a byte count");
    let attacks = args.get(3).is_some_and(|a| a == "findings");
    let t = text(size, attacks);
    let rules = RuleDetector::builtin().unwrap();
    let keywords = KeywordDetector::new(&[KeywordList::new(
        "bench",
        Category::new("MLC:S2"),
        0.6,
        (0..20_000).map(|i| format!("forbiddenterm{i}")),
    )])
    .unwrap();
    let pii = PiiDetector::new(PiiConfig::default()).unwrap();
    let secrets = SecretsDetector::new().unwrap();
    let output = OutputRulesDetector::builtin().unwrap();
    let cpu = || -> u64 {
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let run = |t: &str| match what {
        "rules" => {
            black_box(rules.scan_text(t, Trust::Untrusted));
        }
        "normalize" => {
            black_box(rules.normalizer().normalize(t));
        }
        "pii" => {
            black_box(pii.scan_text(t));
        }
        "secrets" => {
            black_box(secrets.scan_text(t));
        }
        "keywords" => {
            black_box(keywords.scan_text(t));
        }
        "output" => {
            // The same text read as a model's answer, and as the arguments
            // of a tool call (its JSON string escapes decoded).
            black_box(output.scan_answer(t, None));
            black_box(output.scan_tool_arguments(t));
        }
        "full" => {
            black_box(rules.scan_text(t, Trust::Untrusted));
            black_box(pii.scan_text(t));
            black_box(secrets.scan_text(t));
            black_box(keywords.scan_text(t));
        }
        other => panic!("unknown detector {other}"),
    };
    for _ in 0..3 {
        run(black_box(t.as_str()));
    }
    // A fixed number of scans and no timing, for an instruction count under
    // `valgrind --tool=callgrind`: deterministic where CPU time on a shared
    // host is not (subtract a run with ITERS=0 for the set-up).
    if let Some(iters) = std::env::var("ITERS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        for _ in 0..iters {
            run(black_box(t.as_str()));
        }
        return;
    }
    // More rounds find an undisturbed one on a busy shared host.
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let mut best = 0f64;
    for _round in 0..rounds {
        let c0 = cpu();
        let mut bytes = 0usize;
        while cpu() - c0 < 300_000_000 {
            for _ in 0..(16 * 1024 / size).max(1) {
                run(black_box(t.as_str()));
                bytes += size;
            }
        }
        let rate = bytes as f64 / ((cpu() - c0) as f64 / 1e9) / 1048576.0;
        best = best.max(rate);
    }
    println!(
        "{what} {size}{} {best:.1} MiB/CPU-s (best of {rounds})",
        if attacks { " findings" } else { "" }
    );
}
