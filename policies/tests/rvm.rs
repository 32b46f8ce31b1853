//! The RVM fast path decides exactly like the Rego interpreter.
//!
//! Every decision is served by regorus' register VM when the bundle compiles
//! for it; the tree-walking interpreter is the reference. This test feeds
//! random policy inputs (findings of every category the shipped packs reason
//! about, entity types, directions, models, sizes, subjects) to both paths of
//! every shipped pack and requires identical decisions, errors included.
//!
//! The same inputs check the input projection: a decision converts only
//! the parts of the input its bundle's modules reference, and must decide
//! exactly as on the whole document (`decide_json` converts all of it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use menshen_classifiers::Category;
use menshen_policies::DecisionEngine;
use menshen_policies::{packs::SHIPPED_PACKS, Direction, FindingSummary, PolicyInput, RegoEngine};
use proptest::prelude::*;

fn pack(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packs")
        .join(name)
}

const CATEGORIES: &[&str] = &[
    "OWASP-LLM-2025:LLM01",
    "OWASP-LLM-2025:LLM02",
    "OWASP-LLM-2025:LLM05",
    "OWASP-LLM-2025:LLM06",
    "OWASP-LLM-2025:LLM07",
    "GBT45654:A.1.1",
    "GBT45654:A.2.3",
    "GBT45654:A.3.1",
    "GBT45654:A.4.2",
    "GBT45654:A.5.1",
    "MLCommons:S1",
    "MLCommons:S9",
];

const ENTITIES: &[&str] = &[
    "EMAIL",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "PRIVATE_KEY",
    "API_KEY",
    "PASSWORD",
    "CN_RESIDENT_ID",
    "CN_PHONE",
    "IBAN",
    "US_SSN",
    "HEALTH",
    "PATIENT_ID",
    "PERSON",
];

const DETECTORS: &[&str] = &[
    "rules.injection",
    "pii",
    "secrets",
    "onnx.injection",
    "keywords",
];

const MODELS: &[&str] = &["gpt-4o", "gpt-4o-mini", "m", "claude-3-5-sonnet", ""];

fn finding() -> impl Strategy<Value = FindingSummary> {
    (
        0..DETECTORS.len(),
        0..CATEGORIES.len(),
        0.0f32..=1.0,
        1u64..5,
        proptest::collection::vec(0..ENTITIES.len(), 0..3),
        any::<bool>(),
    )
        .prop_map(|(d, c, score, count, ents, untrusted)| {
            let mut entity_types: Vec<String> =
                ents.into_iter().map(|e| ENTITIES[e].to_owned()).collect();
            entity_types.sort();
            entity_types.dedup();
            FindingSummary {
                detector: DETECTORS[d].to_owned(),
                category: CATEGORIES[c].to_owned(),
                score,
                count,
                entity_types,
                in_untrusted: untrusted,
            }
        })
}

fn input() -> impl Strategy<Value = PolicyInput> {
    (
        proptest::collection::vec(finding(), 0..5),
        any::<bool>(),
        0..MODELS.len(),
        (0u64..200, 0u64..5, 0u64..3_000_000),
        (
            0u8..=100,
            proptest::collection::vec((0..CATEGORIES.len(), 0u8..=100), 0..3),
        ),
        (0u32..6, 0u32..12, any::<bool>()),
        any::<bool>(),
    )
        .prop_map(
            |(findings, response, model, (users, tools, size), (score, cats), subj, untrusted)| {
                let mut input = PolicyInput::new();
                input.findings = findings;
                input.context.direction = if response {
                    Direction::Response
                } else {
                    Direction::Request
                };
                input.llm.model = MODELS[model].to_owned();
                input.llm.tenant = "default".to_owned();
                input.llm.message_counts.insert("user".to_owned(), users);
                input.llm.message_counts.insert("tool".to_owned(), tools);
                input.llm.message_bytes.insert("user".to_owned(), size / 2);
                input.llm.has_untrusted_content = untrusted;
                input.attributes.request.http.size = size;
                input.risk.score = score;
                for (c, s) in cats {
                    input
                        .risk
                        .categories
                        .insert(Category::new(CATEGORIES[c].to_owned()), s);
                }
                input.subject.id = "u1".to_owned();
                input.subject.consecutive_violations = subj.0;
                input.subject.violations_24h = subj.1;
                input.subject.suspended = subj.2;
                input
            },
        )
}

struct Pair {
    name: &'static str,
    fast: RegoEngine,
    slow: RegoEngine,
}

fn pairs() -> Vec<Pair> {
    SHIPPED_PACKS
        .iter()
        .map(|name| {
            let fast = RegoEngine::from_dir(pack(name)).unwrap();
            let slow = fast.clone().interpreter_only();
            Pair { name, fast, slow }
        })
        .collect()
}

#[test]
fn every_shipped_pack_runs_on_the_rvm() {
    for p in pairs() {
        assert!(p.fast.uses_rvm(), "{} fell back to the interpreter", p.name);
        assert!(!p.slow.uses_rvm());
    }
}

thread_local! {
    /// Every shipped pack compiled once per test thread.
    static PAIRS: Vec<Pair> = pairs();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn rvm_and_interpreter_agree_on_every_pack(input in input()) {
        PAIRS.with(|pairs| {
            for p in pairs {
                let fast = p.fast.decide(&input).map_err(|e| e.to_string());
                let slow = p.slow.decide(&input).map_err(|e| e.to_string());
                prop_assert_eq!(fast, slow, "pack {}", p.name);
            }
            Ok(())
        })?;
    }

    #[test]
    fn the_projected_input_decides_like_the_whole_one(input in input()) {
        let mut input = input;
        input.context.time = "2026-12-02T03:04:05Z".to_owned();
        input.attributes.request.http.method = "POST".to_owned();
        input.attributes.request.http.path = "/v1/chat/completions".to_owned();
        input.llm.api = "openai.chat".to_owned();
        input.llm.user = "u1".to_owned();
        let json = serde_json::to_string(&input).unwrap();
        PAIRS.with(|pairs| {
            for p in pairs {
                for engine in [&p.fast, &p.slow] {
                    let projected = engine.decide(&input).map_err(|e| e.to_string());
                    let whole = engine.decide_json(&json).map_err(|e| e.to_string());
                    prop_assert_eq!(projected, whole, "pack {}", p.name);
                }
            }
            Ok(())
        })?;
    }
}
