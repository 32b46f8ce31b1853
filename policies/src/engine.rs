//! The Rego decision engine on `regorus`.
//!
//! A bundle is parsed, analysed and warmed up once, then compiled a second
//! time into a program for regorus' register VM (RVM). Every decision runs
//! that program in a reset VM from a small pool: on the baseline pack this is about five times
//! faster than walking the AST, and the decision sits on every request's
//! path. The tree-walking interpreter stays as the reference: a bundle the
//! RVM compiler cannot handle, or that the RVM decides differently from the
//! interpreter on the probe inputs at load, is served by the interpreter, and
//! an RVM error at run time is retried there, so the fast path never changes a
//! decision. Engines share the compiled modules, program and data through
//! `Arc`s, so concurrent requests never contend on a lock and never see each
//! other's input.

use std::fmt;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::{Program, RegoVM};
use regorus::utils::limits::ExecutionTimerConfig;

use crate::reads::Reads;
use crate::{packs, Bundle, Decision, DecisionEngine, PolicyError, PolicyInput, SourceError};

/// The rule every Menshen bundle defines.
pub const DECISION_RULE: &str = "data.menshen.decision";

/// Default wall-clock budget of one evaluation; a policy that loops past it
/// is an evaluation error (then the route's `on_error` applies).
pub const DEFAULT_EVAL_TIMEOUT: Duration = Duration::from_millis(50);

/// Instruction budget of one RVM evaluation. Policies are small; the budget
/// stops a runaway comprehension long before the wall-clock limit, and a
/// program that hits it is re-evaluated by the interpreter (which has only
/// the wall-clock limit), so a large but legitimate policy still decides.
const RVM_MAX_INSTRUCTIONS: usize = 1_000_000;

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
    /// Prepared (analysed, warmed-up) engine; cloned per evaluation when the
    /// RVM cannot serve the bundle, and the reference the RVM is checked against.
    template: regorus::Engine,
    /// The decision rule compiled for the RVM, with the bundle's data.
    rvm: Option<Rvm>,
    /// Wall-clock budget of one evaluation (both paths).
    timeout: Duration,
    /// The parts of the input the serving modules can read; only they are
    /// converted for a decision.
    reads: Arc<Reads>,
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
        let rvm = match Rvm::compile(&mut template, bundle) {
            Ok(rvm) => Some(rvm),
            Err(reason) => {
                tracing::info!(
                    policy.origin = %bundle.origin(),
                    %reason,
                    "policy served by the Rego interpreter (the RVM compiler cannot take it)"
                );
                None
            }
        };
        let reads = Reads::of_modules(
            bundle
                .modules()
                .iter()
                .filter(|m| !m.path.ends_with("_test.rego"))
                .map(|m| (m.path.as_str(), m.contents.as_str())),
        );
        let mut engine = RegoEngine {
            template,
            rvm,
            timeout: DEFAULT_EVAL_TIMEOUT,
            reads: Arc::new(reads),
            version: bundle.version().to_owned(),
            revision: bundle.manifest().revision.clone(),
            origin: bundle.origin().to_owned(),
        };
        engine.check_rvm_agrees();
        Ok(engine)
    }

    /// Sets the wall-clock budget of one evaluation.
    pub fn with_timeout(mut self, limit: Duration) -> Self {
        self.template.set_execution_timer_config(timer(limit));
        self.timeout = limit;
        self
    }

    /// Serves every decision with the tree-walking interpreter: the
    /// reference semantics the RVM path is tested against.
    pub fn interpreter_only(mut self) -> Self {
        self.rvm = None;
        self
    }

    /// Whether decisions run on the RVM (`true`) or the interpreter.
    pub fn uses_rvm(&self) -> bool {
        self.rvm.is_some()
    }

    /// Drops the RVM program when it decides any probe input differently
    /// from the interpreter: the interpreter is the reference semantics, and
    /// a faster wrong answer is worse than a slower right one.
    fn check_rvm_agrees(&mut self) {
        let Some(rvm) = &self.rvm else { return };
        for (name, probe) in probe_inputs() {
            let fast = rvm.eval(probe.clone(), self.timeout);
            let slow = self.eval_interpreter(probe);
            let agree = match (&fast, &slow) {
                (Ok(a), Ok(b)) => a == b,
                // An RVM error is retried on the interpreter at run time.
                (Err(_), _) => true,
                (Ok(_), Err(_)) => false,
            };
            if !agree {
                tracing::warn!(
                    policy.origin = %self.origin,
                    probe = name,
                    "the RVM decides a probe input differently from the Rego interpreter; serving this policy with the interpreter"
                );
                self.rvm = None;
                return;
            }
        }
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
        let out = match &self.rvm {
            // Undefined and errors go to the interpreter: it is the reference
            // for error reporting, and it has no instruction budget.
            Some(rvm) => match rvm.eval(input.clone(), self.timeout) {
                Ok(v) if v != regorus::Value::Undefined => v,
                _ => self.eval_interpreter(input)?,
            },
            None => self.eval_interpreter(input)?,
        };
        if out == regorus::Value::Undefined {
            return Err(PolicyError::Malformed {
                reason: format!("{DECISION_RULE} is undefined"),
            });
        }
        let value = serde_json::to_value(&out).map_err(|e| PolicyError::Malformed {
            reason: e.to_string(),
        })?;
        Decision::from_policy_value(value)
    }
}

impl RegoEngine {
    fn eval_interpreter(&self, input: regorus::Value) -> Result<regorus::Value, PolicyError> {
        let mut engine = self.template.clone();
        engine.set_input(input);
        engine
            .eval_rule(DECISION_RULE.to_owned())
            .map_err(|e| PolicyError::Evaluation {
                reason: e.to_string(),
            })
    }
}

/// The decision rule compiled for regorus' register VM.
#[derive(Clone)]
struct Rvm {
    program: Arc<Program>,
    data: regorus::Value,
    /// Idle VMs with the program and data loaded. Setting a VM up (register
    /// file, rule cache, the data/rule conflict walk) cost about a quarter
    /// of a decision; every run starts from a reset state
    /// (`RegoVM::execute` clears registers, rule and builtin caches), so a
    /// VM carries nothing from one input to the next.
    idle: Arc<parking_lot::Mutex<Vec<RegoVM>>>,
}

/// Most idle VMs kept per engine: one per concurrently deciding thread is
/// plenty; more would only hold memory.
const RVM_POOL_MAX: usize = 64;

impl Rvm {
    /// Compiles the prepared engine's decision rule; the error is a reason
    /// for the log, since the interpreter then serves the bundle.
    fn compile(engine: &mut regorus::Engine, bundle: &Bundle) -> Result<Self, String> {
        let entry: regorus::Rc<str> = DECISION_RULE.into();
        let policy = engine
            .compile_with_entrypoint(&entry)
            .map_err(|e| e.to_string())?;
        let program =
            Compiler::compile_from_policy(&policy, &[DECISION_RULE]).map_err(|e| e.to_string())?;
        let data =
            regorus::Value::from_json_str(&bundle.data().to_string()).map_err(|e| e.to_string())?;
        Ok(Rvm {
            program,
            data,
            idle: Arc::default(),
        })
    }

    fn new_vm(&self) -> Result<RegoVM, String> {
        let mut vm = RegoVM::new();
        vm.load_program(Arc::clone(&self.program));
        vm.set_strict_builtin_errors(true);
        vm.set_max_instructions(RVM_MAX_INSTRUCTIONS);
        vm.set_data(self.data.clone()).map_err(|e| e.to_string())?;
        Ok(vm)
    }

    fn eval(&self, input: regorus::Value, limit: Duration) -> Result<regorus::Value, String> {
        let pooled = self.idle.lock().pop();
        let mut vm = match pooled {
            Some(vm) => vm,
            None => self.new_vm()?,
        };
        vm.set_execution_timer_config(Some(timer(limit)));
        vm.set_input(input);
        let out = vm.execute().map_err(|e| e.to_string());
        // Release the input document now rather than at the VM's next run
        // (its registers are cleared then; they hold no raw text, only
        // finding summaries).
        vm.set_input(regorus::Value::Null);
        // A VM that failed mid-run is dropped rather than trusted again.
        if out.is_ok() {
            let mut idle = self.idle.lock();
            if idle.len() < RVM_POOL_MAX {
                idle.push(vm);
            }
        }
        out
    }
}

/// Inputs on which the RVM must agree with the interpreter before it serves
/// a bundle: the empty request and response, and one carrying a finding of
/// every OWASP category the baseline reasons about, PII and a secret.
fn probe_inputs() -> Vec<(&'static str, regorus::Value)> {
    let mut out = Vec::new();
    let mut push = |name, input: &PolicyInput| {
        if let Ok(v) = crate::rego_value::to_value(input) {
            out.push((name, v));
        }
    };
    let mut input = PolicyInput::new();
    push("empty request", &input);
    input.context.direction = crate::Direction::Response;
    push("empty response", &input);
    input.context.direction = crate::Direction::Request;
    input.llm.model = "gpt-4o".to_owned();
    input.llm.message_counts.insert("user".to_owned(), 3);
    input.attributes.request.http.size = 2048;
    for (i, cat) in ["LLM01", "LLM02", "LLM05", "LLM06", "LLM07"]
        .iter()
        .enumerate()
    {
        input.findings.push(crate::FindingSummary {
            detector: format!("probe{i}"),
            category: format!("OWASP-LLM-2025:{cat}"),
            score: 0.95,
            count: 1,
            entity_types: match *cat {
                "LLM02" => vec!["EMAIL_ADDRESS".to_owned(), "PRIVATE_KEY".to_owned()],
                _ => Vec::new(),
            },
            in_untrusted: i % 2 == 0,
        });
    }
    input.risk.score = 95;
    input
        .risk
        .categories
        .insert(menshen_classifiers::Category::PROMPT_INJECTION, 95);
    push("findings of every category", &input);
    input.findings.retain(|f| f.category.ends_with("LLM02"));
    if let Some(f) = input.findings.first_mut() {
        f.entity_types = vec!["EMAIL_ADDRESS".to_owned()];
    }
    input.risk.categories.clear();
    push("pii only", &input);
    out
}

impl DecisionEngine for RegoEngine {
    fn decide(&self, input: &PolicyInput) -> Result<Decision, PolicyError> {
        let value = crate::rego_value::to_value_read(input, &self.reads).map_err(|e| {
            PolicyError::Evaluation {
                reason: format!("input does not convert: {e}"),
            }
        })?;
        self.decide_value(value)
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
            .field("rvm", &self.rvm.is_some())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The baseline pack's decisions convert only the input paths it
    /// names; a change that makes it read the whole document (a bare
    /// `input`) shows up here, not as a slower proxy.
    #[test]
    fn the_baseline_converts_only_what_it_reads() {
        let engine = RegoEngine::from_embedded_baseline().unwrap_or_else(|e| panic!("{e}"));
        let mut input = PolicyInput::new();
        input.context.time = "2026-12-02T03:04:05Z".to_owned();
        input.llm.user = "u1".to_owned();
        input.llm.model = "gpt-4o".to_owned();
        input.attributes.request.http.size = 10;
        input.subject.id = "u1".to_owned();
        let v = crate::rego_value::to_value_read(&input, &engine.reads)
            .unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::to_value(&v).unwrap_or_default();
        let at = |p: &str| json.pointer(p).cloned().unwrap_or_default();
        assert_eq!(at("/llm/model"), "gpt-4o");
        assert_eq!(at("/attributes/request/http/size"), 10);
        assert!(at("/findings").is_array());
        for path in [
            "/context/time",
            "/llm/user",
            "/subject",
            "/attributes/request/http/headers",
        ] {
            let absent = at(path);
            assert!(absent.is_null(), "{path} was converted: {json}");
        }
    }
}
