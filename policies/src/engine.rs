//! The Rego decision engine on `regorus`.
//!
//! A bundle is parsed, analysed and warmed up once; every decision then
//! clones the prepared engine (about 0.2 µs) and evaluates
//! `data.menshen.decision` against the request's input. Clones share the
//! compiled modules and data through `Arc`s, so concurrent requests never
//! contend on a lock and never see each other's input.

use std::fmt;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use regorus::utils::limits::ExecutionTimerConfig;

use crate::{packs, Bundle, Decision, DecisionEngine, PolicyError, PolicyInput, SourceError};

/// The rule every Menshen bundle defines.
pub const DECISION_RULE: &str = "data.menshen.decision";

/// Default wall-clock budget of one evaluation; a policy that loops past it
/// is an evaluation error (then the route's `on_error` applies).
pub const DEFAULT_EVAL_TIMEOUT: Duration = Duration::from_millis(50);

/// A compiled Rego bundle that turns [`PolicyInput`]s into [`Decision`]s.
///
/// ```
/// use menshen_policies::{Action, DecisionEngine, PolicyInput, RegoEngine};
/// let engine = RegoEngine::from_embedded_baseline().unwrap();
/// let d = engine.decide(&PolicyInput::default()).unwrap();
/// assert_eq!(d.action, Action::Allow);
/// assert!(engine.version().starts_with("sha256:"));
/// ```
#[derive(Clone)]
pub struct RegoEngine {
    /// Prepared (analysed, warmed-up) engine; cloned per evaluation.
    template: regorus::Engine,
    version: String,
    revision: String,
    origin: String,
}

// === impl RegoEngine ===

impl RegoEngine {
    /// Loads and compiles a bundle directory (an OPA bundle loads unchanged).
    /// Files named `*_test.rego` are left out of the serving engine; run them
    /// with [`crate::run_tests`].
    ///
    /// # Errors
    /// Reading, data, manifest or compile errors, with file and line.
    pub fn from_dir(path: impl AsRef<Path>) -> Result<Self, PolicyError> {
        RegoEngine::from_bundle(&Bundle::from_dir(path)?)
    }

    /// The `baseline` pack compiled into the binary: the default policy when
    /// none is configured.
    ///
    /// # Errors
    /// Only if the embedded pack is broken, which the crate's tests rule out.
    pub fn from_embedded_baseline() -> Result<Self, PolicyError> {
        RegoEngine::from_bundle(&packs::baseline()?)
    }

    /// Compiles a loaded bundle.
    ///
    /// # Errors
    /// [`PolicyError::Compile`] for parse and analysis errors or a missing
    /// `data.menshen.decision`; [`PolicyError::Bundle`] for a package outside
    /// the manifest's roots.
    pub fn from_bundle(bundle: &Bundle) -> Result<Self, PolicyError> {
        let mut template = build_engine(bundle, false)?;
        template.set_execution_timer_config(timer(DEFAULT_EVAL_TIMEOUT));
        // Warm up: the first evaluation analyses and schedules the modules;
        // doing it here means clones start prepared, and a bundle whose
        // decision rule is missing or errors on a plain input never goes live.
        let warm = regorus::Value::from_json_str(&default_input_json()).map_err(|e| {
            PolicyError::Evaluation {
                reason: e.to_string(),
            }
        })?;
        template.set_input(warm);
        template
            .eval_rule(DECISION_RULE.to_owned())
            .map_err(|e| PolicyError::Compile(SourceError::from_engine(&e, bundle.origin())))?;
        Ok(RegoEngine {
            template,
            version: bundle.version().to_owned(),
            revision: bundle.manifest().revision.clone(),
            origin: bundle.origin().to_owned(),
        })
    }

    /// Sets the wall-clock budget of one evaluation.
    pub fn with_timeout(mut self, limit: Duration) -> Self {
        self.template.set_execution_timer_config(timer(limit));
        self
    }

    /// The manifest's revision (empty when the bundle has none).
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// Where the bundle came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Evaluates the decision rule on a JSON input document and validates it.
    ///
    /// # Errors
    /// [`PolicyError::Evaluation`] when Rego fails, [`PolicyError::Malformed`]
    /// when the result is not a valid decision (undefined included).
    pub fn decide_json(&self, input_json: &str) -> Result<Decision, PolicyError> {
        let input =
            regorus::Value::from_json_str(input_json).map_err(|e| PolicyError::Evaluation {
                reason: format!("input is not JSON: {e}"),
            })?;
        self.decide_value(input)
    }

    fn decide_value(&self, input: regorus::Value) -> Result<Decision, PolicyError> {
        let mut engine = self.template.clone();
        engine.set_input(input);
        let out =
            engine
                .eval_rule(DECISION_RULE.to_owned())
                .map_err(|e| PolicyError::Evaluation {
                    reason: e.to_string(),
                })?;
        if out == regorus::Value::Undefined {
            return Err(PolicyError::Malformed {
                reason: format!("{DECISION_RULE} is undefined"),
            });
        }
        let json = out.to_json_str().map_err(|e| PolicyError::Malformed {
            reason: e.to_string(),
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&json).map_err(|e| PolicyError::Malformed {
                reason: e.to_string(),
            })?;
        Decision::from_policy_value(value)
    }
}

impl DecisionEngine for RegoEngine {
    fn decide(&self, input: &PolicyInput) -> Result<Decision, PolicyError> {
        let json = serde_json::to_string(input).map_err(|e| PolicyError::Evaluation {
            reason: format!("input does not serialise: {e}"),
        })?;
        self.decide_json(&json)
    }

    fn version(&self) -> &str {
        &self.version
    }
}

impl fmt::Debug for RegoEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegoEngine")
            .field("origin", &self.origin)
            .field("version", &self.version)
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

/// One-shot evaluation for `menshen policy eval`: loads and compiles the
/// bundle at `bundle_dir`, evaluates `input_json` and validates the result.
///
/// # Errors
/// Any load, compile, evaluation or validation error.
pub fn eval(bundle_dir: impl AsRef<Path>, input_json: &str) -> Result<Decision, PolicyError> {
    RegoEngine::from_dir(bundle_dir)?.decide_json(input_json)
}

/// Parses a bundle's modules and data into a regorus engine.
pub(crate) fn build_engine(
    bundle: &Bundle,
    with_tests: bool,
) -> Result<regorus::Engine, PolicyError> {
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(bundle.manifest().rego_version == Some(0));
    // Strict builtin errors: a type error in a policy is an error, not a
    // silently undefined rule (which could flip a deny into an allow).
    engine.set_strict_builtin_errors(true);
    for m in bundle.modules() {
        if !with_tests && m.path.ends_with("_test.rego") {
            continue;
        }
        let package = engine
            .add_policy(m.path.clone(), m.contents.clone())
            .map_err(|e| PolicyError::Compile(SourceError::from_engine(&e, &m.path)))?;
        if !bundle.owns(&package) {
            return Err(PolicyError::Bundle {
                file: m.path.clone(),
                reason: format!("package {package} is outside the manifest's roots"),
            });
        }
    }
    let data = regorus::Value::from_json_str(&bundle.data().to_string()).map_err(|e| {
        PolicyError::Bundle {
            file: "data.json".to_owned(),
            reason: e.to_string(),
        }
    })?;
    engine.add_data(data).map_err(|e| PolicyError::Bundle {
        file: "data.json".to_owned(),
        reason: e.to_string(),
    })?;
    Ok(engine)
}

fn timer(limit: Duration) -> ExecutionTimerConfig {
    ExecutionTimerConfig {
        limit,
        check_interval: NonZeroU32::MIN.saturating_add(63),
    }
}

fn default_input_json() -> String {
    serde_json::to_string(&PolicyInput::default()).unwrap_or_else(|_| "{}".to_owned())
}
