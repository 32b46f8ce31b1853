//! State shared by every layer: settings, clients, guards, policy, audit, metrics.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use menshen_classifiers::{Pipeline, RiskScorer};
use menshen_policies::Direction;

use super::Exchange;
use crate::config::Settings;
use crate::error::BoxError;
use crate::metrics::Metrics;
use crate::upstream::UpstreamClients;

/// Writes audit records. Implemented over `menshen-audit` by the binary.
pub trait AuditHook: Send + Sync + fmt::Debug {
    /// Records the decision for `direction`. The record is built from
    /// `exchange` before this returns (callers pass it under the exchange's
    /// lock, so nothing is copied but what the record holds); the future
    /// resolves when it is committed (sync mode) or queued (async mode). An
    /// error means it was not, and the caller fails the request rather than
    /// lose the record.
    fn record(
        &self,
        exchange: &Exchange,
        direction: Direction,
    ) -> BoxFuture<'static, Result<(), BoxError>>;

    /// Whether a record written now would be accepted without waiting for
    /// the disk. False while the log cannot be written in sync mode or with
    /// `audit.on_full = "fail_closed"`: requests are then refused before
    /// anything is forwarded, and `/readyz` reports not ready.
    fn accepting(&self) -> bool {
        true
    }

    /// Counters for `/metrics`, when the hook has them.
    fn stats(&self) -> Option<menshen_audit::AuditStats> {
        None
    }
}

/// Detectors, scorer and policy: the guard pipeline shared by the proxy and
/// `menshen scan`.
#[derive(Clone)]
pub struct Guards {
    /// Detectors run on requests.
    pub input: Pipeline,
    /// Detectors run on responses.
    pub output: Pipeline,
    /// Findings → risk.
    pub scorer: RiskScorer,
    /// Risk + findings → decision.
    pub engine: crate::policy::PolicyEngine,
    /// Where `review` decisions are held, when configured.
    pub review: Option<Arc<menshen_policies::ReviewQueue>>,
    /// Per-subject violation counters (GB/T 45654 suspension), when configured.
    pub counters: Option<Arc<menshen_policies::SubjectCounters>>,
    /// Redaction operators per entity type (config); a policy may override.
    pub redactor: Arc<menshen_classifiers::Redactor>,
    /// The settings `redactor` was built from, to build one with a policy's
    /// per-entity overrides.
    pub redaction: Arc<crate::config::RedactionSettings>,
    /// Whether the operators a policy decision names are used. False only
    /// for the embedded baseline policy when `[redaction]` names operators:
    /// the baseline names one for every entity it redacts, so it would
    /// otherwise make those settings dead; a bundle of one's own decides.
    pub policy_operators: bool,
    /// Secret from which per-conversation pseudonym vault keys derive.
    pub vault_secret: Arc<[u8]>,
}

impl fmt::Debug for Guards {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guards")
            .field("input", &self.input.detector_ids().collect::<Vec<_>>())
            .field("output", &self.output.detector_ids().collect::<Vec<_>>())
            .field("policy", &self.engine.version())
            .finish()
    }
}

/// Everything the layers share, built once at start-up.
#[derive(Debug)]
pub struct Shared {
    /// Validated config.
    pub settings: Settings,
    /// Metrics registry.
    pub metrics: Metrics,
    /// Upstream clients.
    pub upstreams: UpstreamClients,
    /// Guard pipeline and policy.
    pub guards: Guards,
    /// Audit writer, if configured.
    pub audit: Option<Arc<dyn AuditHook>>,
    /// Polls the policy bundle for changes while held.
    pub policy_watch: Option<menshen_policies::WatchHandle>,
    /// Trace exporter, when telemetry is configured.
    pub telemetry: Option<crate::telemetry::Telemetry>,
    /// Thinking blocks the output guards changed, as the model wrote them
    /// (see [`super::thinking`]).
    pub thinking: super::thinking::ThinkingStore,
}
