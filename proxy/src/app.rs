//! Assembles a proxy from validated [`Settings`]: detectors, policy, audit,
//! upstream clients. Shared by the binary, `menshen scan` and the tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeMap;

use menshen_classifiers::keywords::{KeywordDetector, KeywordList};
use menshen_classifiers::output_rules::OutputRulesDetector;
use menshen_classifiers::rules::RuleDetector;
use menshen_classifiers::{
    Category, DetectorSettings, OnError, Operator, PhraseListDetector, PiiConfig, PiiDetector,
    Pipeline, RedactionConfig, Redactor, RiskScorer, SecretsDetector,
};
use menshen_policies::{PolicySet, PolicySource, ReviewQueue, ThresholdEngine};
use sha2::Digest;

use crate::policy::PolicyEngine;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{FailMode, Settings};
use crate::metrics::Metrics;
use crate::server::{self, Readiness};
use crate::stack::{AuditHook, Guards, Shared};
use crate::upstream::UpstreamClients;

/// Why the proxy could not be assembled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A detector could not be built.
    #[error("guard {guard}: {message}")]
    Guard {
        /// Guard id.
        guard: String,
        /// What failed.
        message: String,
    },
    /// The policy bundle does not load, compile or pass its tests.
    #[error("policy: {0}")]
    Policy(String),
    /// The review queue cannot be opened.
    #[error("review queue: {0}")]
    Review(String),
    /// TLS roots or similar.
    #[error("upstream clients: {0}")]
    Upstream(#[from] std::io::Error),
    /// The trace exporter cannot start.
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
}

fn on_error(m: FailMode) -> OnError {
    match m {
        FailMode::Block => OnError::Block,
        FailMode::Allow => OnError::Allow,
    }
}

/// Builds the guard pipeline and policy from settings.
///
/// # Errors
/// When a detector cannot be built.
pub fn build_guards(settings: &Settings) -> Result<Guards, BuildError> {
    let mut input = Pipeline::builder();
    let mut output = Pipeline::builder();
    if let Some(p) = &settings.phrases {
        let det = PhraseListDetector::new(
            "phrases",
            Category::new(p.category.clone()),
            p.score,
            &p.phrases,
        )
        .map_err(|e| BuildError::Guard {
            guard: "phrases".into(),
            message: e.to_string(),
        })?;
        let det = Arc::new(det);
        let ds = DetectorSettings {
            timeout: p.timeout,
            on_error: on_error(p.on_error),
            ..DetectorSettings::default()
        };
        input = input.detector_with(det.clone(), ds);
        if p.output {
            output = output.detector_with(det, ds);
        }
    }
    let guard_err = |guard: &str| {
        let guard = guard.to_owned();
        move |e: &dyn std::fmt::Display| BuildError::Guard {
            guard: guard.clone(),
            message: e.to_string(),
        }
    };
    // `skip_assistant` applies to requests only: on the response side the
    // model's own text is exactly what an output guard is there to read.
    let mut add = |det: Arc<dyn menshen_classifiers::Detector>,
                   g: &crate::config::GuardSettings,
                   skip_operator: bool,
                   skip_assistant: bool,
                   skip_tool_descriptions: bool| {
        let ds = DetectorSettings {
            timeout: g.timeout,
            on_error: on_error(g.on_error),
            skip_operator,
            skip_assistant: false,
            skip_tool_descriptions,
        };
        let input_ds = DetectorSettings {
            skip_assistant,
            ..ds
        };
        input = std::mem::take(&mut input).detector_with(Arc::clone(&det), input_ds);
        if g.output {
            output = std::mem::take(&mut output).detector_with(det, ds);
        }
    };
    if let Some(g) = &settings.rules {
        let det = match &g.dir {
            Some(dir) => RuleDetector::builtin_with_dir(dir),
            None => RuleDetector::builtin(),
        }
        .map_err(|e| guard_err("rules.injection")(&e))?;
        add(Arc::new(det), g, false, false, false);
    }
    if let Some(g) = &settings.pii {
        let mut cfg = PiiConfig::default();
        if let Some(m) = g.min_score {
            cfg = cfg.with_min_score(m);
        }
        let det = PiiDetector::new(cfg).map_err(|e| guard_err("pii")(&e))?;
        add(Arc::new(det), g, false, false, false);
    }
    if let Some(g) = &settings.secrets {
        let det = SecretsDetector::new().map_err(|e| guard_err("secrets")(&e))?;
        add(Arc::new(det), g, false, false, false);
    }
    if let Some(g) = &settings.keywords {
        if let Some(dir) = &g.dir {
            let lists = KeywordList::load_dir(dir).map_err(|e| guard_err("keywords")(&e))?;
            let det = KeywordDetector::new(&lists).map_err(|e| guard_err("keywords")(&e))?;
            add(Arc::new(det), g, false, false, false);
        }
    }
    #[cfg(feature = "onnx")]
    if let Some(o) = &settings.onnx {
        for det in load_onnx(o)? {
            let g = crate::config::GuardSettings {
                // The pool's own timeout bounds each call; this bounds a whole conversation.
                timeout: o.timeout.saturating_mul(4),
                on_error: o.on_error,
                output: o.output,
                dir: None,
                min_score: None,
                image_hosts: None,
            };
            add(
                det,
                &g,
                !o.scan_system_prompts,
                !o.scan_assistant,
                !o.scan_tool_descriptions,
            );
        }
    }
    if let Some(g) = &settings.output_rules {
        // The model's own output only: it has no input-side job.
        let det = match &g.dir {
            Some(dir) => OutputRulesDetector::builtin_with_dir(dir),
            None => OutputRulesDetector::builtin(),
        }
        .map_err(|e| guard_err("rules.output")(&e))?;
        let det = match &g.image_hosts {
            Some(hosts) => det.with_image_hosts(hosts.clone()),
            None => det,
        };
        output = output.detector_with(
            Arc::new(det),
            DetectorSettings {
                timeout: g.timeout,
                on_error: on_error(g.on_error),
                ..DetectorSettings::default()
            },
        );
    }
    let redactor = build_redactor(&settings.redaction, &BTreeMap::new())
        .map_err(|e| guard_err("redaction")(&e))?;
    let vault_secret: Arc<[u8]> = match &settings.redaction.pseudonym_secret {
        Some(s) => s.clone().into(),
        None => {
            let mut k = [0u8; 32];
            k.copy_from_slice(&sha2::Sha256::digest(uuid::Uuid::new_v4().as_bytes()));
            k.to_vec().into()
        }
    };
    let engine = if settings.policy.rego {
        let source = match &settings.policy.bundle {
            Some(dir) => PolicySource::Dir(dir.clone()),
            None => PolicySource::EmbeddedBaseline,
        };
        let set = PolicySet::new(source).map_err(|e| BuildError::Policy(e.to_string()))?;
        PolicyEngine::Rego(Arc::new(set))
    } else {
        PolicyEngine::Threshold(Arc::new(ThresholdEngine::new(settings.block_at)))
    };
    Ok(Guards {
        input: input.build(),
        // Streaming windows are unique; caching them would only evict history.
        output: output.cache_capacity(0).build(),
        scorer: RiskScorer::new(),
        engine,
        review: None,
        counters: None,
        redactor: Arc::new(redactor),
        redaction: Arc::new(settings.redaction.clone()),
        policy_operators: !settings.redaction_overrides_baseline(),
        vault_secret,
    })
}

/// Loads the ONNX classifiers. With `optional`, a missing library or model
/// is a warning naming the path and the proxy runs without them; otherwise
/// it is a start-up error.
#[cfg(feature = "onnx")]
fn load_onnx(
    o: &crate::config::OnnxSettings,
) -> Result<Vec<Arc<dyn menshen_classifiers::Detector>>, BuildError> {
    use menshen_classifiers::onnx::{
        ExecutionProvider, ModelPaths, OnnxClassifier, OnnxRuntime, PoolConfig,
    };
    let fail = |e: &dyn std::fmt::Display| -> Result<Vec<Arc<dyn menshen_classifiers::Detector>>, BuildError> {
        if o.optional {
            tracing::warn!(error = %e, "ONNX classifiers not loaded; running with rules only (guards.onnx.optional = true)");
            Ok(Vec::new())
        } else {
            Err(BuildError::Guard {
                guard: "onnx".into(),
                message: e.to_string(),
            })
        }
    };
    let runtime = match OnnxRuntime::load(&o.library) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let pool = PoolConfig {
        provider: match o.cuda_device {
            Some(device_id) => ExecutionProvider::Cuda { device_id },
            None => ExecutionProvider::Cpu,
        },
        intra_threads: o.intra_threads,
        timeout: o.timeout,
        ..PoolConfig::default()
    };
    let mut out: Vec<Arc<dyn menshen_classifiers::Detector>> = Vec::new();
    for dir in &o.models {
        match OnnxClassifier::load(&runtime, &ModelPaths::in_dir(dir.clone()), pool.clone()) {
            Ok(c) => {
                tracing::info!(model = %dir.display(), "ONNX classifier loaded");
                out.push(Arc::new(c.with_reminders_masked(!o.scan_system_reminders)));
            }
            Err(e) => {
                fail(&e)?;
            }
        }
    }
    Ok(out)
}

fn operator(name: &str) -> Operator {
    match name {
        "partial" => Operator::PartialMask { visible: 4 },
        "hash" => Operator::Hash,
        "drop" => Operator::Drop,
        "pseudonym" => Operator::Pseudonymize,
        "keep" => Operator::Keep,
        _ => Operator::Mask,
    }
}

/// The redactor for config `r`, with `overrides` (entity → operator name, from
/// a policy decision) taking precedence.
///
/// # Errors
/// When `hash` is used without a key.
pub fn build_redactor(
    r: &crate::config::RedactionSettings,
    overrides: &BTreeMap<String, String>,
) -> Result<Redactor, menshen_classifiers::redact::RedactError> {
    let mut cfg = match &r.default {
        Some(d) => RedactionConfig::new(operator(d)),
        None => RedactionConfig::default(),
    };
    for (e, op) in r.entities.iter().chain(overrides.iter()) {
        if e != "*" {
            cfg = cfg.with_operator(e.clone(), operator(op));
        }
    }
    if let Some(k) = &r.hash_key {
        cfg = cfg.with_hash_key(menshen_classifiers::redact::HashKey::new(k.clone())?);
    }
    Redactor::new(cfg)
}

/// Builds the shared state.
///
/// # Errors
/// When guards or upstream clients cannot be built.
pub fn build_shared(
    settings: Settings,
    audit: Option<Arc<dyn AuditHook>>,
) -> Result<Arc<Shared>, BuildError> {
    let mut guards = build_guards(&settings)?;
    if settings.policy.review {
        std::fs::create_dir_all(&settings.data_dir)?;
        let q = ReviewQueue::open(settings.data_dir.join("review.sqlite"))
            .map_err(|e| BuildError::Review(e.to_string()))?;
        guards.review = Some(Arc::new(q));
        let c = menshen_policies::SubjectCounters::open(settings.data_dir.join("subjects.sqlite"))
            .map_err(|e| BuildError::Review(e.to_string()))?;
        guards.counters = Some(Arc::new(c));
    }
    let policy_watch = match &guards.engine {
        PolicyEngine::Rego(set) if settings.policy.bundle.is_some() => {
            Some(set.watch(settings.policy.reload_interval))
        }
        _ => None,
    };
    let upstreams = UpstreamClients::new(&settings.upstreams, settings.workers)?;
    let metrics = Metrics::new();
    let telemetry = settings
        .telemetry
        .as_ref()
        .map(|t| crate::telemetry::Telemetry::start(t, metrics.clone()))
        .transpose()?;
    Ok(Arc::new(Shared {
        telemetry,
        policy_watch,
        settings,
        metrics,
        upstreams,
        guards,
        audit,
        thinking: crate::stack::thinking::ThinkingStore::default(),
    }))
}

/// Opens the audit log under `settings.data_dir/audit` and returns it with
/// the hook the stack writes through. A missing or unreadable key, or an
/// unwritable directory, is an error: the proxy never runs with a silently
/// unsigned log.
///
/// # Errors
/// When the log cannot be opened.
pub fn open_audit(
    settings: &Settings,
) -> Result<
    Option<(menshen_audit::AuditLog, Arc<crate::audit::AuditWriter>)>,
    menshen_audit::AuditError,
> {
    use menshen_audit::{AuditConfig, AuditLog, AuditMode, OnFull, PayloadMode};
    let Some(a) = &settings.audit else {
        tracing::warn!("audit log DISABLED by config: decisions are not recorded");
        return Ok(None);
    };
    let mut cfg = AuditConfig::new(settings.data_dir.join("audit"))
        .with_origin(a.origin.clone())
        .with_mode(if a.sync {
            AuditMode::Sync
        } else {
            AuditMode::Async
        });
    cfg.on_full = if a.fail_closed_when_full {
        OnFull::FailClosed
    } else {
        OnFull::Backpressure
    };
    cfg.payloads = match a.payloads.as_str() {
        "hmac" => PayloadMode::Hmac,
        "none" => PayloadMode::None,
        _ => PayloadMode::Redacted,
    };
    cfg.hmac_key_path = a.hmac_key_path.clone();
    cfg.checkpoint_every = a.checkpoint_every;
    cfg.checkpoint_interval = a.checkpoint_interval;
    cfg.queue_capacity = a.queue_capacity;
    cfg.retention = a.retention;
    let log = AuditLog::open(cfg)?;
    let writer = Arc::new(crate::audit::AuditWriter::new(log.sink()));
    Ok(Some((log, writer)))
}

/// A proxy running in this process (for tests and embedding).
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Shared state (metrics, settings).
    pub shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Binds `shared.settings.listen` (port 0 picks a free port) and serves:
    /// on the calling runtime with `server.workers = 1`, on that many
    /// request-serving threads of their own otherwise (as `menshen serve`).
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn start(shared: Arc<Shared>) -> std::io::Result<Running> {
        let listener = TcpListener::bind(shared.settings.listen).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel();
        let ready = Readiness::default();
        let stop = async move {
            let _ = rx.await;
        };
        let task = if shared.settings.workers > 1 {
            tokio::spawn(server::serve_workers(
                listener,
                Arc::clone(&shared),
                ready,
                stop,
                Duration::from_secs(5),
            ))
        } else {
            tokio::spawn(server::serve(
                listener,
                Arc::clone(&shared),
                ready,
                stop,
                Duration::from_secs(5),
            ))
        };
        Ok(Running {
            addr,
            shared,
            stop: Some(tx),
            task,
        })
    }

    /// Stops accepting, drains, and waits.
    ///
    /// # Errors
    /// If the server task failed.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}
