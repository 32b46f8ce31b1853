//! Every shipped pack compiles and its Rego tests pass; the schema examples
//! are valid inputs; the embedded baseline decides them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use menshen_policies::{
    packs::SHIPPED_PACKS, run_tests, Action, DecisionEngine, PolicyInput, RegoEngine, TestOutcome,
};

fn pack(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packs")
        .join(name)
}

#[test]
fn every_shipped_pack_passes_its_rego_tests() {
    for name in SHIPPED_PACKS {
        let report = run_tests(pack(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(report.results.len() >= 5, "{name} has too few tests");
        assert!(report.is_success(), "{name}:\n{}", report.render());
        // A pack without a decision rule would pass its tests but not serve.
        RegoEngine::from_dir(pack(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn every_pack_directory_is_listed() {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(pack("")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "examples" {
            for e in std::fs::read_dir(entry.path()).unwrap() {
                found.push(format!(
                    "examples/{}",
                    e.unwrap().file_name().to_string_lossy()
                ));
            }
        } else {
            found.push(name);
        }
    }
    found.sort();
    let mut listed: Vec<String> = SHIPPED_PACKS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(found, listed);
}

#[test]
fn failing_and_erroring_tests_are_reported_per_test() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("menshen")).unwrap();
    std::fs::write(
        dir.path().join("menshen/p.rego"),
        "package menshen\nimport rego.v1\ndecision := {\"action\": \"allow\"}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("menshen/p_test.rego"),
        "package menshen_test\nimport rego.v1\n\
         test_pass if data.menshen.decision.action == \"allow\"\n\
         test_fail if data.menshen.decision.action == \"block\"\n\
         test_error if 1 / 0 == 1\n\
         not_a_test := true\n",
    )
    .unwrap();
    let report = run_tests(dir.path()).unwrap();
    let by_name = |n: &str| {
        report
            .results
            .iter()
            .find(|r| r.name == format!("data.menshen_test.{n}"))
            .unwrap_or_else(|| panic!("{n} missing: {:?}", report.results))
    };
    assert_eq!(report.results.len(), 3);
    assert_eq!(by_name("test_pass").outcome, TestOutcome::Pass);
    assert_eq!(by_name("test_fail").outcome, TestOutcome::Fail);
    assert_eq!(by_name("test_fail").line, 4);
    assert_eq!(by_name("test_fail").file, "menshen/p_test.rego");
    assert!(matches!(
        by_name("test_error").outcome,
        TestOutcome::Fail | TestOutcome::Error { .. }
    ));
    assert!(!report.is_success());
    assert!(report.render().contains("FAIL: 1/3"), "{}", report.render());
    assert!(report.error().is_some());
}

#[test]
fn schema_examples_deserialize_and_get_decisions() {
    let engine = RegoEngine::from_embedded_baseline().unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let input: PolicyInput =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let d = engine.decide(&input).unwrap();
        let expected = if path.ends_with("indirect-injection.json") {
            Action::Block
        } else {
            Action::Redact
        };
        assert_eq!(d.action, expected, "{}", path.display());
        // The raw JSON path gives the same answer as the typed one.
        assert_eq!(engine.decide_json(&text).unwrap(), d);
        seen += 1;
    }
    assert!(seen >= 2);
}

#[test]
fn one_shot_eval_matches_the_engine() {
    let input = serde_json::to_string(&PolicyInput::new()).unwrap();
    let d = menshen_policies::eval(pack("examples/model-routing"), &input).unwrap();
    // An empty input names no routable model, so it passes through.
    assert_eq!(d.action, Action::Allow);
}
