//! Where the time of one decision goes (serialise, parse, clone, evaluate).
//! `cargo run --release -p menshen-policies --example eval_profile -- [pack]`
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

use menshen_policies::{Bundle, DecisionEngine, PolicyInput, RegoEngine};

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e6
}

fn time<T>(n: usize, mut f: impl FnMut() -> T) -> f64 {
    let v: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    median(v)
}

fn main() {
    let pack = std::env::args().nth(1).unwrap_or_else(|| "baseline".into());
    let dir = format!("{}/packs/{pack}", env!("CARGO_MANIFEST_DIR"));
    let bundle = Bundle::from_dir(&dir).unwrap();
    let engine = RegoEngine::from_bundle(&bundle).unwrap();
    let input = PolicyInput::new();
    let json = serde_json::to_string(&input).unwrap();
    let n = 5000;
    println!("pack {pack}, median of {n} (µs)");
    println!(
        "serialise input     {:8.2}",
        time(n, || serde_json::to_string(&input).unwrap())
    );
    println!(
        "parse into Value    {:8.2}",
        time(n, || regorus::Value::from_json_str(&json).unwrap())
    );
    println!(
        "decide_json         {:8.2}",
        time(n, || engine.decide_json(&json).unwrap())
    );
    println!(
        "decide              {:8.2}",
        time(n, || engine.decide(&input).unwrap())
    );
    let mut raw = regorus::Engine::new();
    for m in bundle
        .modules()
        .iter()
        .filter(|m| !m.path.ends_with("_test.rego"))
    {
        raw.add_policy(m.path.clone(), m.contents.clone()).unwrap();
    }
    raw.add_data(regorus::Value::from_json_str(&bundle.data().to_string()).unwrap())
        .unwrap();
    raw.set_input(regorus::Value::from_json_str(&json).unwrap());
    raw.eval_rule("data.menshen.decision".into()).unwrap();
    println!("clone               {:8.2}", time(n, || raw.clone()));
    println!(
        "eval_rule (reused)  {:8.2}",
        time(n, || raw.eval_rule("data.menshen.decision".into()).unwrap())
    );
    println!(
        "eval cfg only       {:8.2}",
        time(n, || raw.eval_rule("data.menshen.cfg".into()).unwrap())
    );
    println!(
        "clone + eval        {:8.2}",
        time(n, || {
            let mut e = raw.clone();
            e.eval_rule("data.menshen.decision".into()).unwrap()
        })
    );
}
