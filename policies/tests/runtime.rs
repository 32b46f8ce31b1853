//! Policy selection, shadow mode and hot reload (including a broken file).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use menshen_policies::{
    Action, DecisionEngine, PolicyError, PolicyInput, PolicyKey, PolicySet, PolicySource,
    RegoEngine,
};

const GOOD: &str = "package menshen\nimport rego.v1\n\
    decision := {\"action\": \"allow\", \"reasons\": [data.menshen.config.tag]}\n";
const GOOD_TEST: &str = "package menshen_test\nimport rego.v1\n\
    test_allows if data.menshen.decision.action == \"allow\"\n";

fn write_bundle(dir: &Path, tag: &str) {
    std::fs::create_dir_all(dir.join("menshen/config")).unwrap();
    std::fs::write(dir.join("menshen/decision.rego"), GOOD).unwrap();
    std::fs::write(dir.join("menshen/decision_test.rego"), GOOD_TEST).unwrap();
    std::fs::write(
        dir.join("menshen/config/data.json"),
        format!("{{\"tag\": \"{tag}\"}}"),
    )
    .unwrap();
}

fn input(tenant: &str, route: &str) -> PolicyInput {
    let mut i = PolicyInput::new();
    i.llm.tenant = tenant.into();
    i.llm.route = route.into();
    i
}

fn reasons(set: &PolicySet, tenant: &str, route: &str) -> Vec<String> {
    set.evaluate(&input(tenant, route))
        .decision
        .unwrap()
        .reasons
}

#[test]
fn most_specific_policy_wins() {
    let root = tempfile::tempdir().unwrap();
    let b = |n: &str| {
        let d = root.path().join(n);
        write_bundle(&d, n);
        PolicySource::Dir(d)
    };
    let key = |t: Option<&str>, r: Option<&str>| PolicyKey {
        tenant: t.map(str::to_owned),
        route: r.map(str::to_owned),
    };
    let set = PolicySet::new(b("default"))
        .unwrap()
        .with_policy(key(Some("acme"), None), b("acme"))
        .unwrap()
        .with_policy(key(None, Some("agents")), b("agents"))
        .unwrap()
        .with_policy(key(Some("acme"), Some("agents")), b("acme-agents"))
        .unwrap();
    assert_eq!(reasons(&set, "other", "chat"), ["default"]);
    assert_eq!(reasons(&set, "acme", "chat"), ["acme"]);
    assert_eq!(reasons(&set, "other", "agents"), ["agents"]);
    assert_eq!(reasons(&set, "acme", "agents"), ["acme-agents"]);
    assert_eq!(set.versions().len(), 4);
    assert_eq!(set.select("acme", "chat").version(), set.versions()[1].1);
}

#[test]
fn reload_swaps_good_bundles_and_keeps_old_on_broken_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("live");
    write_bundle(&dir, "v1");
    let set = PolicySet::new(PolicySource::Dir(dir.clone())).unwrap();
    let v1 = set.version();
    assert_eq!(set.reload().unchanged, 1);

    // A syntax error: the old bundle keeps serving, the error names file and line.
    std::fs::write(
        dir.join("menshen/decision.rego"),
        "package menshen\nimport rego.v1\n\ndecision := {\"action\": \n",
    )
    .unwrap();
    let report = set.reload();
    assert_eq!(report.errors.len(), 1, "{report:?}");
    let err = set.last_error().unwrap();
    assert_eq!(err.file, "menshen/decision.rego");
    assert!(err.line >= 4, "{err:?}");
    assert!(!err.message.is_empty());
    assert_eq!(set.version(), v1);
    assert_eq!(reasons(&set, "", ""), ["v1"]);

    // A bundle that compiles but fails its own tests is refused too.
    std::fs::write(
        dir.join("menshen/decision.rego"),
        "package menshen\nimport rego.v1\ndecision := {\"action\": \"block\", \"reasons\": [\"oops\"]}\n",
    )
    .unwrap();
    let report = set.reload();
    assert_eq!(report.errors.len(), 1);
    let err = set.last_error().unwrap();
    assert_eq!(err.file, "menshen/decision_test.rego");
    assert!(err.message.contains("test_allows"), "{err:?}");
    assert_eq!(reasons(&set, "", ""), ["v1"]);

    // Fixed: swapped in, error cleared, new version.
    write_bundle(&dir, "v2");
    let report = set.reload();
    assert_eq!(report.swapped.len(), 1);
    assert!(set.last_error().is_none());
    assert_ne!(set.version(), v1);
    assert_eq!(reasons(&set, "", ""), ["v2"]);
    let stats = set.stats();
    assert_eq!((stats.reloads, stats.reload_failures), (1, 2));
}

#[test]
fn watcher_reloads_on_file_change() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("live");
    write_bundle(&dir, "v1");
    let set = Arc::new(PolicySet::new(PolicySource::Dir(dir.clone())).unwrap());
    let handle = set.watch(Duration::from_millis(50));
    write_bundle(&dir, "v2-watched");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reasons(&set, "", "") != ["v2-watched"] {
        assert!(Instant::now() < deadline, "watcher did not reload");
        std::thread::sleep(Duration::from_millis(25));
    }
    handle.stop();
}

#[test]
fn shadow_candidate_differences_are_recorded_not_acted_on() {
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    write_bundle(&live, "live");
    let cand = root.path().join("candidate");
    write_bundle(&cand, "candidate");
    let set = PolicySet::new(PolicySource::Dir(live))
        .unwrap()
        .with_shadow(None, PolicySource::Dir(cand))
        .unwrap();
    let eval = set.evaluate(&input("t", "r"));
    assert_eq!(eval.decision.unwrap().reasons, ["live"]);
    assert_eq!(eval.shadow_differs, Some(true));
    let diffs = set.shadow_diffs();
    assert_eq!(diffs.len(), 1);
    assert_eq!(diffs[0].live, "allow [live]");
    assert_eq!(diffs[0].candidate, "allow [candidate]");
    assert_eq!(diffs[0].tenant, "t");
    assert_eq!(set.shadow_stats(), (1, 1));
    assert_eq!(set.stats().evaluations, 1);
}

#[test]
fn embedded_baseline_is_the_default_policy() {
    let set = PolicySet::new(PolicySource::EmbeddedBaseline).unwrap();
    let engine = RegoEngine::from_embedded_baseline().unwrap();
    assert_eq!(
        set.version(),
        menshen_policies::DecisionEngine::version(&engine)
    );
    let mut i = PolicyInput::new();
    i.risk.score = 99;
    i.risk
        .categories
        .insert(menshen_classifiers::Category::PROMPT_INJECTION, 99);
    assert_eq!(set.evaluate(&i).decision.unwrap().action, Action::Block);
    // Nothing to reload for an embedded bundle.
    assert_eq!(set.reload(), Default::default());
}

#[test]
fn malformed_and_undefined_decisions_are_errors() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("menshen")).unwrap();
    std::fs::write(
        root.path().join("menshen/p.rego"),
        "package menshen\nimport rego.v1\n\
         decision := {\"action\": \"permit\"} if input.llm.tenant == \"typo\"\n\
         decision := {\"action\": \"allow\"} if input.llm.tenant == \"ok\"\n",
    )
    .unwrap();
    let engine = RegoEngine::from_dir(root.path()).unwrap();
    let e = menshen_policies::DecisionEngine::decide(&engine, &input("typo", "")).unwrap_err();
    assert!(matches!(e, PolicyError::Malformed { .. }), "{e}");
    let e = menshen_policies::DecisionEngine::decide(&engine, &input("other", "")).unwrap_err();
    assert!(
        matches!(e, PolicyError::Malformed { .. }),
        "undefined must not allow: {e}"
    );
    assert_eq!(
        menshen_policies::DecisionEngine::decide(&engine, &input("ok", ""))
            .unwrap()
            .action,
        Action::Allow
    );
    // Through a set, failures are counted.
    let set = PolicySet::new(PolicySource::Dir(root.path().to_path_buf())).unwrap();
    assert!(set.evaluate(&input("typo", "")).decision.is_err());
    assert!(set.evaluate(&input("ok", "")).decision.is_ok());
    let stats = set.stats();
    assert_eq!(
        (stats.evaluations, stats.malformed, stats.errors),
        (2, 1, 0)
    );
}

#[test]
fn a_bundle_without_the_decision_rule_is_rejected() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("other")).unwrap();
    std::fs::write(root.path().join("other/p.rego"), "package other\nx := 1\n").unwrap();
    assert!(matches!(
        RegoEngine::from_dir(root.path()),
        Err(PolicyError::Compile(_))
    ));
}

#[test]
fn runaway_policies_hit_the_timeout() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("menshen")).unwrap();
    std::fs::write(
        root.path().join("menshen/p.rego"),
        "package menshen\nimport rego.v1\n\
         n := count([x | some x in numbers.range(1, input.version * 5000000)])\n\
         decision := {\"action\": \"allow\", \"reasons\": [sprintf(\"n%d\", [n])]}\n",
    )
    .unwrap();
    // version 0 (warm-up) makes the range empty, so loading is quick.
    let engine = RegoEngine::from_dir(root.path())
        .unwrap()
        .with_timeout(Duration::from_millis(20));
    let start = Instant::now();
    let r = engine.decide_json(r#"{"version": 1}"#);
    let Err(PolicyError::Evaluation { reason }) = &r else {
        panic!("{r:?}")
    };
    assert!(
        reason.contains("time") || reason.contains("limit"),
        "not a timeout: {reason}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}
