//! `opa test` for Menshen bundles: every `test_*` rule is evaluated and must
//! be defined and not `false`.
//!
//! Runs before a reloaded bundle goes live ([`crate::PolicySet::reload`]) and
//! behind `menshen policy test DIR`.

use std::path::Path;
use std::time::{Duration, Instant};

use regorus::unstable::{Parser, Rule, RuleHead};
use serde::Serialize;

use crate::engine::build_engine;
use crate::{Bundle, PolicyError, SourceError};

/// Outcome of one test rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum TestOutcome {
    /// Defined and not `false`.
    Pass,
    /// Undefined or `false`.
    Fail,
    /// Evaluation raised an error.
    Error {
        /// The engine's message.
        message: String,
    },
}

/// One test rule's result.
#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    /// Full rule path, e.g. `data.menshen_test.test_blocks_injection`.
    pub name: String,
    /// Module file relative to the bundle root.
    pub file: String,
    /// Line of the rule's (first) definition.
    pub line: u32,
    /// Pass, fail or error.
    #[serde(flatten)]
    pub outcome: TestOutcome,
    /// Evaluation time.
    pub duration: Duration,
}

/// The results of running a bundle's tests.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    /// Where the bundle came from.
    pub origin: String,
    /// Bundle version (content hash).
    pub version: String,
    /// Per-test results, in file then line order.
    pub results: Vec<TestResult>,
}

// === impl TestReport ===

impl TestReport {
    /// Number of passing tests.
    pub fn passed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome == TestOutcome::Pass)
            .count()
    }

    /// Number of failing or erroring tests.
    pub fn failed(&self) -> usize {
        self.results.len().saturating_sub(self.passed())
    }

    /// Whether every test passed (a bundle without tests passes).
    pub fn is_success(&self) -> bool {
        self.failed() == 0
    }

    /// `opa test`-style text: one line per failure, then `PASS: n/m`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for r in &self.results {
            match &r.outcome {
                TestOutcome::Pass => {}
                TestOutcome::Fail => {
                    out.push_str(&format!("FAIL {} ({}:{})\n", r.name, r.file, r.line))
                }
                TestOutcome::Error { message } => out.push_str(&format!(
                    "ERROR {} ({}:{}): {message}\n",
                    r.name, r.file, r.line
                )),
            }
        }
        let verdict = if self.is_success() { "PASS" } else { "FAIL" };
        out.push_str(&format!(
            "{verdict}: {}/{}\n",
            self.passed(),
            self.results.len()
        ));
        out
    }

    /// [`PolicyError::TestsFailed`] when any test failed (for callers that
    /// treat failing tests as an error, like `menshen policy test`).
    pub fn error(&self) -> Option<PolicyError> {
        let first = self
            .results
            .iter()
            .find(|r| r.outcome != TestOutcome::Pass)?;
        Some(PolicyError::TestsFailed {
            failed: self.failed(),
            total: self.results.len(),
            first: first.name.clone(),
        })
    }
}

/// Loads the bundle at `dir` and runs its tests.
///
/// # Errors
/// When the bundle cannot be loaded or compiled; failing tests are reported
/// in the [`TestReport`], not as an error.
pub fn run_tests(dir: impl AsRef<Path>) -> Result<TestReport, PolicyError> {
    run_bundle_tests(&Bundle::from_dir(dir)?)
}

/// Runs the tests of an already loaded bundle.
///
/// # Errors
/// When the bundle does not compile.
pub fn run_bundle_tests(bundle: &Bundle) -> Result<TestReport, PolicyError> {
    let mut engine = build_engine(bundle, true)?;
    let tests = discover(&mut engine, bundle)?;
    let mut results = Vec::with_capacity(tests.len());
    for (name, file, line) in tests {
        let mut e = engine.clone();
        let start = Instant::now();
        let outcome = match e.eval_rule(name.clone()) {
            Ok(regorus::Value::Undefined) | Ok(regorus::Value::Bool(false)) => TestOutcome::Fail,
            Ok(_) => TestOutcome::Pass,
            Err(err) => TestOutcome::Error {
                message: SourceError::from_engine(&err, &file).to_string(),
            },
        };
        results.push(TestResult {
            name,
            file,
            line,
            outcome,
            duration: start.elapsed(),
        });
    }
    Ok(TestReport {
        origin: bundle.origin().to_owned(),
        version: bundle.version().to_owned(),
        results,
    })
}

/// Finds every `test_*` rule (not functions) as `(path, file, line)`.
fn discover(
    engine: &mut regorus::Engine,
    bundle: &Bundle,
) -> Result<Vec<(String, String, u32)>, PolicyError> {
    let compile = |e: &dyn std::fmt::Display| {
        PolicyError::Compile(SourceError::from_engine(e, bundle.origin()))
    };
    let mut out: Vec<(String, String, u32)> = Vec::new();
    for module in engine.get_modules().iter() {
        let package: Vec<String> = Parser::get_path_ref_components(&module.package.refr)
            .map_err(|e| compile(&e))?
            .iter()
            .map(|s| s.text().to_owned())
            .collect();
        for rule in &module.policy {
            let Rule::Spec {
                head: RuleHead::Compr { refr, .. },
                span,
                ..
            } = rule.as_ref()
            else {
                continue;
            };
            let comps = Parser::get_path_ref_components(refr).map_err(|e| compile(&e))?;
            let [only] = comps.as_slice() else { continue };
            let name = only.text();
            if !name.starts_with("test_") {
                continue;
            }
            let path = format!("data.{}.{name}", package.join("."));
            if out.iter().any(|(p, _, _)| *p == path) {
                continue;
            }
            out.push((path, span.source.file().clone(), span.line));
        }
    }
    out.sort_by(|a, b| (&a.1, a.2).cmp(&(&b.1, b.2)));
    Ok(out)
}
