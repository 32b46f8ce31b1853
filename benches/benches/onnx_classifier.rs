//! ONNX classifier latency and batched throughput (criterion).
//!
//! Needs the ONNX Runtime library (`scripts/setup-onnx.sh`, or
//! `ORT_DYLIB_PATH`) and the models in `models/artifacts/`; without them it
//! prints why and measures nothing.
//!
//! ```text
//! cargo bench -p menshen-benches --features onnx --bench onnx_classifier
//! ```
//!
//! - `onnx_latency/<model>/<tokens>`: one prompt end to end (tokenize, window,
//!   queue, one session call, scores), batch 1, one intra-op thread, no
//!   batching wait.
//! - `onnx_throughput/<model>/<workers>w`: 64 concurrent 128-token prompts
//!   through the micro-batching pool (`max_batch` 32, `max_wait` 2 ms);
//!   criterion reports elements (prompts) per second.
// criterion_group! generates undocumented public functions; a bench whose
// setup fails has nothing to measure, so it stops with the reason.
#![allow(missing_docs, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use menshen_classifiers::onnx::{ModelPaths, OnnxClassifier, OnnxRuntime, PoolConfig};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A mixed English/Chinese prompt of exactly `n` characters; the models'
/// tokenizer is character level, so that is `n` tokens.
fn prompt(n: usize) -> String {
    let base = "Please summarize the quarterly report and list the three main risks. \
                请总结这份季度报告，并列出三个主要风险和对应的应对措施。 \
                Ignore formatting issues; focus on revenue, costs and hiring plans. ";
    base.chars().cycle().take(n).collect()
}

fn setup() -> Option<(OnnxRuntime, Vec<(String, PathBuf)>)> {
    let root = repo_root();
    let lib = OnnxRuntime::resolve_library(None, |k| std::env::var(k).ok(), &root);
    let rt = match OnnxRuntime::load(&lib) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("SKIPPED onnx benches: {e}");
            return None;
        }
    };
    let models: Vec<(String, PathBuf)> = ["injection", "harm"]
        .iter()
        .map(|m| (m.to_string(), root.join("models/artifacts").join(m)))
        .filter(|(_, d)| d.join("model.onnx").is_file())
        .collect();
    if models.is_empty() {
        eprintln!(
            "SKIPPED onnx benches: no models under models/artifacts (run scripts/setup-onnx.sh)"
        );
        return None;
    }
    Some((rt, models))
}

fn latency(c: &mut Criterion) {
    let Some((rt, models)) = setup() else { return };
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut g = c.benchmark_group("onnx_latency");
    for (name, dir) in &models {
        let cfg = PoolConfig {
            intra_threads: 1,
            workers: 1,
            max_batch: 1,
            max_wait: Duration::ZERO,
            timeout: Duration::from_secs(5),
            ..PoolConfig::default()
        };
        let clf = OnnxClassifier::load(&rt, &ModelPaths::in_dir(dir), cfg).expect("model loads");
        for tokens in [128usize, 512] {
            let text = prompt(tokens);
            g.bench_with_input(BenchmarkId::new(name.as_str(), tokens), &text, |b, t| {
                b.iter(|| tokio_rt.block_on(clf.classify(t)).expect("classify"))
            });
        }
    }
    g.finish();
}

fn throughput(c: &mut Criterion) {
    let Some((rt, models)) = setup() else { return };
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    const N: usize = 64;
    let mut g = c.benchmark_group("onnx_throughput");
    g.throughput(Throughput::Elements(N as u64));
    for (name, dir) in &models {
        for workers in [1usize, 2] {
            let cfg = PoolConfig {
                intra_threads: 1,
                workers,
                max_batch: 32,
                max_wait: Duration::from_millis(2),
                timeout: Duration::from_secs(10),
                ..PoolConfig::default()
            };
            let clf = Arc::new(
                OnnxClassifier::load(&rt, &ModelPaths::in_dir(dir), cfg).expect("model loads"),
            );
            let texts: Vec<Arc<str>> = (0..N)
                .map(|i| Arc::from(format!("{i} {}", prompt(124)).as_str()))
                .collect();
            g.bench_function(
                BenchmarkId::new(name.as_str(), format!("{workers}w")),
                |b| {
                    b.iter(|| {
                        tokio_rt.block_on(async {
                            let hs: Vec<_> = texts
                                .iter()
                                .map(|t| {
                                    let clf = Arc::clone(&clf);
                                    let t = Arc::clone(t);
                                    tokio::spawn(async move { clf.classify(&t).await })
                                })
                                .collect();
                            for h in hs {
                                h.await.expect("join").expect("classify");
                            }
                        })
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    targets = latency, throughput
}
criterion_main!(benches);
