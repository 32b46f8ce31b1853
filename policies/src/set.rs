//! The runtime set of policies: selection per tenant and route, shadow
//! evaluation, and hot reload.
//!
//! Each [`PolicyKey`] (tenant and/or route, or the default) maps to a live
//! [`RegoEngine`] held in an [`ArcSwap`]: a request loads the current engine
//! without a lock, and a reload swaps in a new one atomically, so in-flight
//! decisions finish on the bundle they started with.
//!
//! A reload (file change or an explicit [`PolicySet::reload`], which the
//! proxy calls on SIGHUP) loads the bundle, compiles it and runs its own
//! Rego tests; only a bundle that passes replaces the live one. On any
//! failure the old bundle keeps serving and the error (file, line, message)
//! is kept for the admin endpoint ([`PolicySet::last_error`]).
//!
//! A slot may also carry a *shadow* candidate: it is evaluated beside the
//! live bundle on real traffic, never acted upon, and every difference is
//! recorded ([`PolicySet::shadow_diffs`]).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use serde::Serialize;
use time::OffsetDateTime;

use crate::bundle::fingerprint;
use crate::store::rfc3339;
use crate::{
    run_bundle_tests, Bundle, Decision, DecisionEngine, PolicyError, PolicyInput, RegoEngine,
    TestOutcome,
};

/// How many shadow differences are kept in memory.
const SHADOW_LOG_CAP: usize = 256;

/// Where a policy comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// A bundle directory, reloaded when it changes.
    Dir(PathBuf),
    /// The `baseline` pack compiled into the binary (never changes).
    EmbeddedBaseline,
}

/// Which requests a policy applies to; `None` matches anything. The most
/// specific match wins: tenant and route, then tenant, then route, then the
/// set's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct PolicyKey {
    /// Tenant, or any.
    pub tenant: Option<String>,
    /// Route, or any.
    pub route: Option<String>,
}

/// The result of evaluating a request with a [`PolicySet`].
#[derive(Debug)]
pub struct Evaluation {
    /// The live policy's decision, or why it could not decide (apply the
    /// route's `on_error`).
    pub decision: Result<Decision, PolicyError>,
    /// Version (content hash) of the live bundle that decided.
    pub version: String,
    /// Whether a shadow candidate decided differently (`None`: no shadow).
    pub shadow_differs: Option<bool>,
}

/// A place where a shadow candidate decided differently from the live policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShadowDiff {
    /// RFC 3339 time.
    pub at: String,
    /// Tenant of the request.
    pub tenant: String,
    /// Route of the request.
    pub route: String,
    /// Live bundle version.
    pub live_version: String,
    /// Candidate bundle version.
    pub candidate_version: String,
    /// Live outcome: `action [reasons]` or `error: ...`.
    pub live: String,
    /// Candidate outcome, same format.
    pub candidate: String,
}

/// Why a bundle was not (re)loaded; the old one keeps serving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReloadError {
    /// The bundle directory.
    pub origin: String,
    /// File inside the bundle, when known.
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: u32,
    /// What went wrong.
    pub message: String,
    /// RFC 3339 time of the failed attempt.
    pub at: String,
}

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReloadReport {
    /// Bundles swapped in: `(origin, new version)`.
    pub swapped: Vec<(String, String)>,
    /// Bundles whose content had not changed.
    pub unchanged: usize,
    /// Bundles that failed; their old versions keep serving.
    pub errors: Vec<ReloadError>,
}

/// Counters for metrics (`menshen_policy_*`): every failure is counted,
/// never silent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PolicyStats {
    /// Live evaluations.
    pub evaluations: u64,
    /// Live evaluations that returned a malformed or undefined decision.
    pub malformed: u64,
    /// Live evaluations that failed in Rego (errors, timeouts).
    pub errors: u64,
    /// Shadow evaluations.
    pub shadow_evaluations: u64,
    /// Shadow evaluations that decided differently.
    pub shadow_differences: u64,
    /// Successful reloads (bundles swapped in).
    pub reloads: u64,
    /// Failed reloads.
    pub reload_failures: u64,
}

/// Stops the file watcher when dropped.
#[derive(Debug)]
pub struct WatchHandle {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// A set of live policies keyed by tenant and route.
///
/// ```
/// use menshen_policies::{PolicyInput, PolicySet, PolicySource, Action};
/// let set = PolicySet::new(PolicySource::EmbeddedBaseline).unwrap();
/// let eval = set.evaluate(&PolicyInput::new());
/// assert_eq!(eval.decision.unwrap().action, Action::Allow);
/// assert_eq!(eval.version, set.version());
/// ```
#[derive(Debug)]
pub struct PolicySet {
    slots: Vec<Slot>,
    errors: Mutex<Vec<ReloadError>>,
    shadow_log: Mutex<VecDeque<ShadowDiff>>,
    shadow_evaluated: AtomicU64,
    shadow_differed: AtomicU64,
    evaluations: AtomicU64,
    malformed: AtomicU64,
    eval_errors: AtomicU64,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    reload_lock: Mutex<()>,
}

#[derive(Debug)]
struct Slot {
    key: Option<PolicyKey>,
    source: PolicySource,
    live: ArcSwap<RegoEngine>,
    shadow: Option<Shadow>,
}

#[derive(Debug)]
struct Shadow {
    source: PolicySource,
    engine: ArcSwap<RegoEngine>,
}

// === impl PolicySource ===

impl PolicySource {
    fn origin(&self) -> String {
        match self {
            PolicySource::Dir(p) => p.display().to_string(),
            PolicySource::EmbeddedBaseline => "embedded:baseline".to_owned(),
        }
    }

    fn load(&self) -> Result<Bundle, PolicyError> {
        match self {
            PolicySource::Dir(p) => Bundle::from_dir(p),
            PolicySource::EmbeddedBaseline => crate::packs::baseline(),
        }
    }
}

/// Compiles a bundle and runs its tests: the gate every bundle passes
/// before it serves, at startup and on reload.
fn prepare(bundle: &Bundle) -> Result<RegoEngine, ReloadError> {
    let at = rfc3339(OffsetDateTime::now_utc());
    let engine =
        RegoEngine::from_bundle(bundle).map_err(|e| reload_error(bundle.origin(), &e, &at))?;
    let report = run_bundle_tests(bundle).map_err(|e| reload_error(bundle.origin(), &e, &at))?;
    if let Some(first) = report
        .results
        .iter()
        .find(|r| r.outcome != TestOutcome::Pass)
    {
        let detail = match &first.outcome {
            TestOutcome::Error { message } => format!(": {message}"),
            _ => String::new(),
        };
        return Err(ReloadError {
            origin: bundle.origin().to_owned(),
            file: first.file.clone(),
            line: first.line,
            message: format!(
                "{} of {} policy tests failed; first: {}{detail}",
                report.failed(),
                report.results.len(),
                first.name
            ),
            at,
        });
    }
    Ok(engine)
}

fn reload_error(origin: &str, e: &PolicyError, at: &str) -> ReloadError {
    let (file, line, message) = match e {
        PolicyError::Compile(s) => (s.file.clone(), s.line, s.message.clone()),
        PolicyError::Bundle { file, reason } => (file.clone(), 0, reason.clone()),
        PolicyError::Io { path, source } => (path.display().to_string(), 0, source.to_string()),
        other => (String::new(), 0, other.to_string()),
    };
    ReloadError {
        origin: origin.to_owned(),
        file,
        line,
        message,
        at: at.to_owned(),
    }
}

fn load_prepared(source: &PolicySource) -> Result<RegoEngine, PolicyError> {
    let bundle = source.load()?;
    prepare(&bundle).map_err(|e| PolicyError::Bundle {
        file: if e.line > 0 {
            format!("{}:{}", e.file, e.line)
        } else {
            e.file
        },
        reason: e.message,
    })
}

fn summary(r: &Result<Decision, PolicyError>) -> String {
    match r {
        Ok(d) => format!("{} [{}]", d.action.as_str(), d.reasons.join(",")),
        Err(e) => format!("error: {e}"),
    }
}

fn same(a: &Result<Decision, PolicyError>, b: &Result<Decision, PolicyError>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => a == b,
        (Err(_), Err(_)) => true,
        _ => false,
    }
}

// === impl PolicySet ===

impl PolicySet {
    /// A set with only a default policy. The bundle is compiled and its
    /// tests run before it serves.
    ///
    /// # Errors
    /// When the bundle does not load, compile, or pass its tests.
    pub fn new(default: PolicySource) -> Result<Self, PolicyError> {
        let engine = load_prepared(&default)?;
        Ok(PolicySet {
            slots: vec![Slot {
                key: None,
                source: default,
                live: ArcSwap::from_pointee(engine),
                shadow: None,
            }],
            errors: Mutex::new(Vec::new()),
            shadow_log: Mutex::new(VecDeque::new()),
            shadow_evaluated: AtomicU64::new(0),
            shadow_differed: AtomicU64::new(0),
            evaluations: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            eval_errors: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
            reload_lock: Mutex::new(()),
        })
    }

    /// Adds (or replaces) the policy for `key`.
    ///
    /// # Errors
    /// As [`PolicySet::new`].
    pub fn with_policy(
        mut self,
        key: PolicyKey,
        source: PolicySource,
    ) -> Result<Self, PolicyError> {
        let engine = load_prepared(&source)?;
        let slot = Slot {
            key: Some(key.clone()),
            source,
            live: ArcSwap::from_pointee(engine),
            shadow: None,
        };
        match self.slots.iter_mut().find(|s| s.key.as_ref() == Some(&key)) {
            Some(existing) => *existing = slot,
            None => self.slots.push(slot),
        }
        Ok(self)
    }

    /// Evaluates `candidate` in shadow beside the policy for `key` (`None`:
    /// the default policy).
    ///
    /// # Errors
    /// As [`PolicySet::new`], or [`PolicyError::Bundle`] when no policy has that key.
    pub fn with_shadow(
        mut self,
        key: Option<PolicyKey>,
        candidate: PolicySource,
    ) -> Result<Self, PolicyError> {
        let engine = load_prepared(&candidate)?;
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.key == key)
            .ok_or_else(|| PolicyError::Bundle {
                file: candidate.origin(),
                reason: format!("no policy for {key:?} to shadow"),
            })?;
        slot.shadow = Some(Shadow {
            source: candidate,
            engine: ArcSwap::from_pointee(engine),
        });
        Ok(self)
    }

    fn slot(&self, tenant: &str, route: &str) -> Option<&Slot> {
        // Linear: a deployment has tens of policies, not thousands.
        self.slots
            .iter()
            .filter_map(|s| {
                let Some(k) = &s.key else {
                    return Some((0u8, s));
                };
                let t = match &k.tenant {
                    None => Some(0u8),
                    Some(t) if t == tenant => Some(2),
                    Some(_) => None,
                }?;
                let r = match &k.route {
                    None => Some(0u8),
                    Some(r) if r == route => Some(1),
                    Some(_) => None,
                }?;
                Some((t.saturating_add(r).saturating_add(1), s))
            })
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, s)| s)
    }

    /// The live engine for a tenant and route.
    ///
    /// # Panics
    /// Never: the default slot always matches.
    pub fn select(&self, tenant: &str, route: &str) -> Arc<RegoEngine> {
        #[allow(clippy::expect_used)]
        let slot = self
            .slot(tenant, route)
            .expect("invariant: the default slot (key None) matches every request");
        slot.live.load_full()
    }

    /// Decides with the policy selected by `input.llm.tenant` and
    /// `input.llm.route`, and with its shadow candidate if any.
    pub fn evaluate(&self, input: &PolicyInput) -> Evaluation {
        let (tenant, route) = (input.llm.tenant.as_str(), input.llm.route.as_str());
        let Some(slot) = self.slot(tenant, route) else {
            return Evaluation {
                decision: Err(PolicyError::Evaluation {
                    reason: "no policy selected".to_owned(),
                }),
                version: String::new(),
                shadow_differs: None,
            };
        };
        let live = slot.live.load();
        let decision = live.decide(input);
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        match &decision {
            Ok(_) => {}
            Err(PolicyError::Malformed { reason }) => {
                self.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(policy.version = live.version(), error = %reason, "malformed policy decision");
            }
            Err(e) => {
                self.eval_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(policy.version = live.version(), error = %e, "policy evaluation failed");
            }
        }
        let shadow_differs = slot.shadow.as_ref().map(|sh| {
            let cand = sh.engine.load();
            let cd = cand.decide(input);
            self.shadow_evaluated.fetch_add(1, Ordering::Relaxed);
            let differs = !same(&decision, &cd);
            if differs {
                self.shadow_differed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    policy.live = live.version(),
                    policy.candidate = cand.version(),
                    "shadow policy differs"
                );
                let mut log = self.shadow_log.lock();
                if log.len() >= SHADOW_LOG_CAP {
                    log.pop_front();
                }
                log.push_back(ShadowDiff {
                    at: rfc3339(OffsetDateTime::now_utc()),
                    tenant: tenant.to_owned(),
                    route: route.to_owned(),
                    live_version: live.version().to_owned(),
                    candidate_version: cand.version().to_owned(),
                    live: summary(&decision),
                    candidate: summary(&cd),
                });
            }
            differs
        });
        Evaluation {
            decision,
            version: live.version().to_owned(),
            shadow_differs,
        }
    }

    /// Version of the default policy.
    pub fn version(&self) -> String {
        self.slots
            .iter()
            .find(|s| s.key.is_none())
            .map(|s| s.live.load().version().to_owned())
            .unwrap_or_default()
    }

    /// Every policy's key (`None`: default) and live version.
    pub fn versions(&self) -> Vec<(Option<PolicyKey>, String)> {
        self.slots
            .iter()
            .map(|s| (s.key.clone(), s.live.load().version().to_owned()))
            .collect()
    }

    /// The most recent reload error still standing (a later successful
    /// reload of the same bundle clears it).
    pub fn last_error(&self) -> Option<ReloadError> {
        self.errors.lock().last().cloned()
    }

    /// All standing reload errors, one per failing bundle.
    pub fn errors(&self) -> Vec<ReloadError> {
        self.errors.lock().clone()
    }

    /// Recorded shadow differences, oldest first (the last 256).
    pub fn shadow_diffs(&self) -> Vec<ShadowDiff> {
        self.shadow_log.lock().iter().cloned().collect()
    }

    /// Shadow evaluations done and how many differed.
    pub fn shadow_stats(&self) -> (u64, u64) {
        (
            self.shadow_evaluated.load(Ordering::Relaxed),
            self.shadow_differed.load(Ordering::Relaxed),
        )
    }

    /// Evaluation, error, shadow and reload counters.
    pub fn stats(&self) -> PolicyStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PolicyStats {
            evaluations: get(&self.evaluations),
            malformed: get(&self.malformed),
            errors: get(&self.eval_errors),
            shadow_evaluations: get(&self.shadow_evaluated),
            shadow_differences: get(&self.shadow_differed),
            reloads: get(&self.reloads),
            reload_failures: get(&self.reload_failures),
        }
    }

    /// Reloads every directory bundle whose content changed: load, compile,
    /// run its tests, then swap. Failures leave the old bundle serving and
    /// are recorded for [`PolicySet::last_error`]. Safe to call from a
    /// SIGHUP handler's task (it blocks on disk: use a blocking thread).
    pub fn reload(&self) -> ReloadReport {
        let _serial = self.reload_lock.lock();
        let mut report = ReloadReport::default();
        for slot in &self.slots {
            let targets = std::iter::once((&slot.source, &slot.live))
                .chain(slot.shadow.as_ref().map(|s| (&s.source, &s.engine)));
            for (source, cell) in targets {
                if matches!(source, PolicySource::EmbeddedBaseline) {
                    continue;
                }
                let origin = source.origin();
                let outcome = source
                    .load()
                    .map_err(|e| reload_error(&origin, &e, &rfc3339(OffsetDateTime::now_utc())))
                    .and_then(|bundle| {
                        if bundle.version() == cell.load().version() {
                            Ok(None)
                        } else {
                            prepare(&bundle).map(Some)
                        }
                    });
                let mut errors = self.errors.lock();
                match outcome {
                    Ok(None) => {
                        errors.retain(|e| e.origin != origin);
                        report.unchanged = report.unchanged.saturating_add(1);
                    }
                    Ok(Some(engine)) => {
                        errors.retain(|e| e.origin != origin);
                        tracing::info!(policy.origin = %origin, policy.version = engine.version(), "policy reloaded");
                        self.reloads.fetch_add(1, Ordering::Relaxed);
                        report.swapped.push((origin, engine.version().to_owned()));
                        cell.store(Arc::new(engine));
                    }
                    Err(e) => {
                        tracing::error!(
                            policy.origin = %origin,
                            policy.file = %e.file,
                            policy.line = e.line,
                            error = %e.message,
                            "policy reload failed; keeping the previous bundle"
                        );
                        self.reload_failures.fetch_add(1, Ordering::Relaxed);
                        errors.retain(|x| x.origin != origin);
                        errors.push(e.clone());
                        report.errors.push(e);
                    }
                }
            }
        }
        report
    }

    fn dirs(&self) -> Vec<PathBuf> {
        self.slots
            .iter()
            .flat_map(|s| std::iter::once(&s.source).chain(s.shadow.as_ref().map(|sh| &sh.source)))
            .filter_map(|s| match s {
                PolicySource::Dir(p) => Some(p.clone()),
                PolicySource::EmbeddedBaseline => None,
            })
            .collect()
    }

    /// Polls the bundle directories every `interval` and reloads when their
    /// files (names, sizes, modification times) change and have then stayed
    /// the same for one more interval, so a half-written save is not
    /// compiled. Polling needs no platform file-event API and works on
    /// network and ConfigMap mounts, where events are unreliable.
    ///
    /// The thread stops when the handle or the set is dropped.
    pub fn watch(self: &Arc<Self>, interval: Duration) -> WatchHandle {
        let (tx, rx) = mpsc::channel::<()>();
        let weak: Weak<PolicySet> = Arc::downgrade(self);
        let dirs = self.dirs();
        let snapshot = |dirs: &[PathBuf]| -> Vec<Option<u64>> {
            dirs.iter().map(|d| fingerprint(d).ok()).collect()
        };
        let mut applied = snapshot(&dirs);
        let mut previous = applied.clone();
        let thread = std::thread::Builder::new()
            .name("menshen-policy-watch".to_owned())
            .spawn(move || loop {
                match rx.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                let Some(set) = weak.upgrade() else { return };
                let now = snapshot(&dirs);
                if now != applied && now == previous {
                    let report = set.reload();
                    tracing::debug!(
                        swapped = report.swapped.len(),
                        errors = report.errors.len(),
                        "policy watch reload"
                    );
                    applied = now.clone();
                }
                previous = now;
            })
            .ok();
        WatchHandle {
            stop: Some(tx),
            thread,
        }
    }
}

// === impl WatchHandle ===

impl WatchHandle {
    /// Stops the watcher and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
