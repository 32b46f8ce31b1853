//! Assembles a proxy from validated [`Settings`]: detectors, policy, audit,
//! upstream clients. Shared by the binary, `menshen scan` and the tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use menshen_classifiers::{
    Category, DetectorSettings, OnError, PhraseListDetector, Pipeline, RiskScorer,
};
use menshen_policies::{DecisionEngine, ThresholdEngine};
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
    /// TLS roots or similar.
    #[error("upstream clients: {0}")]
    Upstream(#[from] std::io::Error),
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
        };
        input = input.detector_with(det.clone(), ds);
        if p.output {
            output = output.detector_with(det, ds);
        }
    }
    let engine: Arc<dyn DecisionEngine> = Arc::new(ThresholdEngine::new(settings.block_at));
    Ok(Guards {
        input: input.build(),
        // Streaming windows are unique; caching them would only evict history.
        output: output.cache_capacity(0).build(),
        scorer: RiskScorer::new(),
        engine,
    })
}

/// Builds the shared state.
///
/// # Errors
/// When guards or upstream clients cannot be built.
pub fn build_shared(
    settings: Settings,
    audit: Option<Arc<dyn AuditHook>>,
) -> Result<Arc<Shared>, BuildError> {
    let guards = build_guards(&settings)?;
    let upstreams = UpstreamClients::new(&settings.upstreams)?;
    Ok(Arc::new(Shared {
        settings,
        metrics: Metrics::new(),
        upstreams,
        guards,
        audit,
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
) -> Result<Option<(menshen_audit::AuditLog, Arc<crate::audit::AuditWriter>)>, menshen_audit::AuditError> {
    use menshen_audit::{AuditConfig, AuditLog, AuditMode, OnFull, PayloadMode};
    let Some(a) = &settings.audit else {
        tracing::warn!("audit log DISABLED by config: decisions are not recorded");
        return Ok(None);
    };
    let mut cfg = AuditConfig::new(settings.data_dir.join("audit"))
        .with_origin(a.origin.clone())
        .with_mode(if a.sync { AuditMode::Sync } else { AuditMode::Async });
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
    /// Binds `shared.settings.listen` (port 0 picks a free port) and serves.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn start(shared: Arc<Shared>) -> std::io::Result<Running> {
        let listener = TcpListener::bind(shared.settings.listen).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel();
        let ready = Readiness::default();
        let task = tokio::spawn(server::serve(
            listener,
            Arc::clone(&shared),
            ready,
            async move {
                let _ = rx.await;
            },
            Duration::from_secs(5),
        ));
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
