//! Dev-set figures for the ONNX classifiers: model alone, rules alone, and
//! rules + model (the maximum of the two scores), through the real Rust
//! runtime. Not a timing bench: a harness-less program kept beside the
//! benches because it needs the same optional runtime.
//!
//! ```text
//! cargo bench -p menshen-benches --features onnx --bench onnx_eval [-- DATA_DIR]
//! ```
//!
//! The same sets as `models/train.py` (which reports model-alone figures from
//! Python): positives from each dev file, negatives from a language-matched
//! benign pool that training never saw (nq_open + the non-commercial alpaca
//! rows for English; BELLE + the non-commercial alpaca_zh rows for Chinese),
//! or the file's own benign rows where it has them.
#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use menshen_classifiers::onnx::{ModelPaths, OnnxClassifier, OnnxRuntime, PoolConfig};
use menshen_classifiers::rules::RuleDetector;
use menshen_classifiers::{Category, Detector, Segment};

struct Row {
    text: String,
    label: String,
    lang: String,
    license: String,
}

fn load(dir: &Path, file: &str) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join(file)).expect("read data file");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json row");
            let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
            Row {
                text: s("text"),
                label: s("label"),
                lang: s("lang"),
                license: s("license"),
            }
        })
        .collect()
}

fn non_commercial(lic: &str) -> bool {
    let l = lic.to_lowercase();
    l.contains("non-commercial") || l.contains("-nc") || l.contains("research")
}

/// Recall at the strictest threshold whose false-positive rate is <= 1%, and ROC AUC.
fn metrics(pos: &[f32], neg: &[f32]) -> (f64, f64) {
    let mut n: Vec<f32> = neg.to_vec();
    n.sort_by(|a, b| b.total_cmp(a));
    let k = (neg.len() as f64 * 0.01).floor() as usize;
    let thr = n.get(k).copied().unwrap_or(f32::NEG_INFINITY);
    let recall = pos.iter().filter(|&&p| p > thr).count() as f64 / pos.len().max(1) as f64;
    let mut wins = 0f64;
    for &p in pos {
        for &q in neg {
            wins += if p > q {
                1.0
            } else if p == q {
                0.5
            } else {
                0.0
            };
        }
    }
    let auc = wins / (pos.len().max(1) * neg.len().max(1)) as f64;
    (recall, auc)
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let data = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/data"));
    let lib = OnnxRuntime::resolve_library(None, |k| std::env::var(k).ok(), &root);
    let rt = match OnnxRuntime::load(&lib) {
        Ok(rt) => rt,
        Err(e) => {
            println!("SKIPPED onnx_eval: {e}");
            return;
        }
    };
    let cfg = PoolConfig {
        workers: 2,
        max_batch: 64,
        timeout: Duration::from_secs(600),
        // every text of a set is submitted at once
        queue_capacity: 100_000,
        ..PoolConfig::default()
    };
    let inj = Arc::new(
        OnnxClassifier::load(
            &rt,
            &ModelPaths::in_dir(root.join("models/artifacts/injection")),
            cfg.clone(),
        )
        .expect("injection model"),
    );
    let harm = Arc::new(
        OnnxClassifier::load(
            &rt,
            &ModelPaths::in_dir(root.join("models/artifacts/harm")),
            cfg,
        )
        .expect("harm model"),
    );
    let rules = RuleDetector::builtin().expect("rule packs");
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let mut neg_en: Vec<String> = load(&data, "nq_open_en.dev.jsonl")
        .into_iter()
        .map(|r| r.text)
        .collect();
    neg_en.extend(
        load(&data, "alpaca_instructions_en.jsonl")
            .into_iter()
            .map(|r| r.text),
    );
    let mut neg_zh: Vec<String> = load(&data, "belle_zh.jsonl")
        .into_iter()
        .map(|r| r.text)
        .collect();
    neg_zh.extend(
        load(&data, "alpaca_zh.jsonl")
            .into_iter()
            .filter(|r| non_commercial(&r.license))
            .map(|r| r.text),
    );
    let vj = load(&data, "verazuo_jailbreak.dev.jsonl");
    let jb = load(&data, "jailbench_zh.dev.jsonl");
    let xs = load(&data, "xsafety.dev.jsonl");
    let bp = load(&data, "bipia_indirect_en.dev.jsonl");
    let hb = load(&data, "harmbench_behaviors_en.dev.jsonl");
    let jd = load(&data, "jade_db.dev.jsonl");
    let pick = |rows: &[Row], f: &dyn Fn(&Row) -> bool| -> Vec<String> {
        rows.iter()
            .filter(|r| f(r))
            .map(|r| r.text.clone())
            .collect()
    };
    let xs_probe_en = pick(&xs, &|r| r.label == "safety_probe" && r.lang == "en");
    let xs_probe_zh = pick(&xs, &|r| r.label == "safety_probe" && r.lang == "zh");
    let inj_sets: Vec<(&str, Vec<String>, Vec<String>)> = vec![
        (
            "verazuo_jailbreak.dev vs en pool",
            pick(&vj, &|_| true),
            neg_en.clone(),
        ),
        (
            "jailbench_zh.dev jailbreak vs zh pool",
            pick(&jb, &|r| r.label == "jailbreak"),
            neg_zh.clone(),
        ),
        (
            "xsafety.dev injection en vs en pool",
            pick(&xs, &|r| r.label == "injection" && r.lang == "en"),
            neg_en.clone(),
        ),
        (
            "xsafety.dev injection zh vs zh pool",
            pick(&xs, &|r| r.label == "injection" && r.lang == "zh"),
            neg_zh.clone(),
        ),
        (
            "xsafety.dev injection en vs en probes",
            pick(&xs, &|r| r.label == "injection" && r.lang == "en"),
            xs_probe_en,
        ),
        (
            "xsafety.dev injection zh vs zh probes",
            pick(&xs, &|r| r.label == "injection" && r.lang == "zh"),
            xs_probe_zh,
        ),
        (
            "bipia_indirect_en.dev vs its benign",
            pick(&bp, &|r| r.label != "benign"),
            pick(&bp, &|r| r.label == "benign"),
        ),
    ];
    let harm_sets: Vec<(&str, Vec<String>, Vec<String>)> = vec![
        (
            "harmbench.dev harmful vs en pool",
            pick(&hb, &|r| r.label == "harmful"),
            neg_en.clone(),
        ),
        (
            "jade_db.dev zh vs zh pool",
            pick(&jd, &|r| r.lang == "zh"),
            neg_zh.clone(),
        ),
        (
            "jade_db.dev en vs en pool",
            pick(&jd, &|r| r.lang == "en"),
            neg_en.clone(),
        ),
        (
            "jailbench_zh.dev all vs zh pool",
            pick(&jb, &|_| true),
            neg_zh.clone(),
        ),
    ];

    let score_model = |clf: &Arc<OnnxClassifier>, texts: &[String]| -> Vec<f32> {
        tokio_rt.block_on(async {
            let hs: Vec<_> = texts
                .iter()
                .map(|t| {
                    let clf = Arc::clone(clf);
                    let t = t.clone();
                    tokio::spawn(async move { clf.classify(&t).await.expect("classify").score })
                })
                .collect();
            let mut out = Vec::with_capacity(hs.len());
            for h in hs {
                out.push(h.await.expect("join"));
            }
            out
        })
    };
    let score_rules = |texts: &[String], want: &Category| -> Vec<f32> {
        tokio_rt.block_on(async {
            let mut out = Vec::with_capacity(texts.len());
            for t in texts {
                let f = rules.scan(Segment::user_text(t)).await.expect("rules scan");
                out.push(
                    f.iter()
                        .filter(|f| &f.category == want)
                        .map(|f| f.score)
                        .fold(0.0, f32::max),
                );
            }
            out
        })
    };

    println!("| set | n+ | n- | model R@1%FPR | model AUC | rules R@1%FPR | rules AUC | rules+model R@1%FPR | rules+model AUC |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, pos, neg) in &inj_sets {
        let (mp, mn) = (score_model(&inj, pos), score_model(&inj, neg));
        let (rp, rn) = (
            score_rules(pos, &Category::PROMPT_INJECTION),
            score_rules(neg, &Category::PROMPT_INJECTION),
        );
        let cp: Vec<f32> = mp.iter().zip(&rp).map(|(a, b)| a.max(*b)).collect();
        let cn: Vec<f32> = mn.iter().zip(&rn).map(|(a, b)| a.max(*b)).collect();
        let (m, r, c) = (metrics(&mp, &mn), metrics(&rp, &rn), metrics(&cp, &cn));
        println!(
            "| injection: {name} | {} | {} | {:.3} | {:.4} | {:.3} | {:.4} | {:.3} | {:.4} |",
            pos.len(),
            neg.len(),
            m.0,
            m.1,
            r.0,
            r.1,
            c.0,
            c.1
        );
    }
    for (name, pos, neg) in &harm_sets {
        let (mp, mn) = (score_model(&harm, pos), score_model(&harm, neg));
        let m = metrics(&mp, &mn);
        println!(
            "| harm: {name} | {} | {} | {:.3} | {:.4} | - | - | - | - |",
            pos.len(),
            neg.len(),
            m.0,
            m.1
        );
    }
}
