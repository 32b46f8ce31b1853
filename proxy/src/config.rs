//! Configuration: one TOML file, validated at load.
//!
//! Loading has two stages. [`RawConfig`] is the serde tree of the file
//! (`deny_unknown_fields`, defaults from named `const fn`s); [`RawConfig::validate`]
//! turns it into [`Settings`], resolving secrets through an [`Env`] lookup and
//! checking every cross-reference. Every error names the key and, where the
//! file has it, the line.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Uri;
use menshen_classifiers::images::ImageHosts;
use serde::Deserialize;
use toml::Spanned;

mod telemetry;
pub use telemetry::{RawTelemetry, TelemetrySettings};

/// Looks up environment variables. Only the binary reads the real
/// environment; tests pass a map.
pub trait Env: Send + Sync {
    /// The value of `key`, if set and valid UTF-8.
    fn var(&self, key: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).cloned()
    }
}

/// A configuration error: which key, where, and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{}{key}: {message}", location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default())]
pub struct ConfigError {
    /// `file:line` when known.
    location: Option<String>,
    /// Dotted key path, e.g. `upstreams[0].url`.
    key: String,
    message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            location: None,
            key: key.into(),
            message: message.into(),
        }
    }

    fn at(mut self, src: &Source<'_>, span: std::ops::Range<usize>) -> Self {
        self.location = Some(src.location(span.start));
        self
    }

    /// The offending key.
    pub fn key(&self) -> &str {
        &self.key
    }
}

struct Source<'a> {
    name: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn location(&self, offset: usize) -> String {
        let line = self
            .text
            .get(..offset)
            .map_or(0, |t| t.bytes().filter(|b| *b == b'\n').count())
            .saturating_add(1);
        format!("{}:{line}", self.name)
    }
}

const fn default_listen() -> &'static str {
    "127.0.0.1:8080"
}
const fn default_max_body_bytes() -> u64 {
    4 * 1024 * 1024
}
const fn default_header_timeout_ms() -> u64 {
    10_000
}
const fn default_body_timeout_ms() -> u64 {
    30_000
}
const fn default_max_connections() -> usize {
    4096
}
/// Most request-serving threads a config may ask for.
const MAX_WORKERS: usize = 1024;

/// `server.workers`, with 0 resolved to the CPUs this process may use.
fn resolve_workers(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

const fn default_max_json_depth() -> usize {
    64
}
const fn default_max_headers() -> usize {
    100
}
const fn default_upstream_timeout_ms() -> u64 {
    120_000
}
const fn default_connect_timeout_ms() -> u64 {
    5_000
}
const fn default_retries() -> u32 {
    1
}
const fn default_guard_timeout_ms() -> u64 {
    2_000
}
const fn default_block_at() -> u8 {
    70
}
const fn default_true() -> bool {
    true
}
const fn default_stream_holdback() -> usize {
    512
}
const fn default_stream_scan_step() -> usize {
    64
}
const fn default_max_sse_event_bytes() -> usize {
    1024 * 1024
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Listener and limits.
    #[serde(default)]
    pub server: RawServer,
    /// Named upstreams.
    #[serde(default)]
    pub upstreams: Vec<RawUpstream>,
    /// Routes: path prefixes to upstreams.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    /// Proxy-issued client keys. Empty: open mode (every request is tenant `default`).
    #[serde(default)]
    pub clients: Vec<RawClient>,
    /// Guard settings.
    #[serde(default)]
    pub guards: RawGuards,
    /// Decision settings.
    #[serde(default)]
    pub decision: RawDecision,
    /// Data directory for the audit log, keys and review queue.
    #[serde(default)]
    pub data_dir: Option<Spanned<String>>,
    /// Audit log settings.
    #[serde(default)]
    pub audit: RawAudit,
    /// Redaction operators.
    #[serde(default)]
    pub redaction: RawRedaction,
    /// Policy engine.
    #[serde(default)]
    pub policy: RawPolicy,
    /// Admin API (review queue, policy status) on its own listener.
    #[serde(default)]
    pub admin: Option<RawAdmin>,
    /// OpenTelemetry trace export (OTLP/HTTP).
    #[serde(default)]
    pub telemetry: RawTelemetry,
}

/// `[admin]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Listen address of the admin API (keep it off the public interface).
    pub listen: Spanned<String>,
    /// Env var holding the admin key (at least 16 bytes); never a client key.
    pub key_env: String,
}

/// Validated admin settings.
#[derive(Clone)]
pub struct AdminSettings {
    /// Listen address.
    pub listen: SocketAddr,
    /// The admin key. Never logged.
    pub key: String,
}

impl std::fmt::Debug for AdminSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSettings")
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

const fn default_reload_interval_s() -> u64 {
    5
}

/// `[policy]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// `rego` (default: the bundle below, or the embedded `baseline` pack) or
    /// `threshold` (built-in: block at `decision.block_at`, redact entities).
    #[serde(default)]
    pub engine: Option<Spanned<String>>,
    /// An OPA-style bundle directory (`.rego` files, `data.json`, optional `.manifest`).
    #[serde(default)]
    pub bundle: Option<String>,
    /// How often the bundle directory is checked for changes, in seconds (SIGHUP reloads at once).
    #[serde(default = "default_reload_interval_s")]
    pub reload_interval_s: u64,
    /// Keep a human review queue (SQLite under `data_dir`) for `review` decisions.
    #[serde(default = "default_true")]
    pub review: bool,
    /// Hours a review case may wait for a reviewer before it is closed as
    /// expired (0: never).
    #[serde(default = "default_review_expire_hours")]
    pub review_expire_hours: u64,
    /// Days a decided review case (with its redacted content) is kept in
    /// the queue (0: forever); the audit log keeps the outcome.
    #[serde(default = "default_review_retention_days")]
    pub review_retention_days: u64,
}

const fn default_review_expire_hours() -> u64 {
    168
}

const fn default_review_retention_days() -> u64 {
    30
}

impl Default for RawPolicy {
    fn default() -> Self {
        RawPolicy {
            engine: None,
            bundle: None,
            reload_interval_s: default_reload_interval_s(),
            review: true,
            review_expire_hours: default_review_expire_hours(),
            review_retention_days: default_review_retention_days(),
        }
    }
}

/// Validated policy settings.
#[derive(Debug, Clone)]
pub struct PolicySettings {
    /// Use Rego (else the threshold engine).
    pub rego: bool,
    /// Bundle directory; `None`: the embedded baseline.
    pub bundle: Option<PathBuf>,
    /// Reload poll interval.
    pub reload_interval: Duration,
    /// Keep a review queue.
    pub review: bool,
    /// How long a case may wait for a reviewer; `None`: forever.
    pub review_expiry: Option<Duration>,
    /// How long a decided case is kept; `None`: forever.
    pub review_retention: Option<Duration>,
}

const fn default_checkpoint_every() -> u64 {
    1_000
}
const fn default_checkpoint_interval_s() -> u64 {
    60
}
const fn default_audit_queue() -> usize {
    65_536
}
const fn default_retention_days() -> u64 {
    183
}

/// `[audit]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    /// Whether decisions are recorded. Turning it off is logged loudly at start.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// `async` (queued, group-committed) or `sync` (response released only after commit).
    #[serde(default)]
    pub mode: Option<Spanned<String>>,
    /// Async mode with a full queue: `backpressure` (wait) or `fail_closed` (refuse the request).
    #[serde(default)]
    pub on_full: Option<Spanned<String>>,
    /// How prompt/response text is kept: `redacted` (PII masked, deletable table), `hmac`, or `none`.
    #[serde(default)]
    pub payloads: Option<Spanned<String>>,
    /// HMAC key file for `payloads = "hmac"`; keep it outside the data directory.
    #[serde(default)]
    pub hmac_key_path: Option<String>,
    /// Checkpoint origin (unique per node).
    #[serde(default)]
    pub origin: Option<String>,
    /// Sign a checkpoint at least every this many records.
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: u64,
    /// Sign a checkpoint (or heartbeat) at least this often, in seconds.
    #[serde(default = "default_checkpoint_interval_s")]
    pub checkpoint_interval_s: u64,
    /// Queue length, in records.
    #[serde(default = "default_audit_queue")]
    pub queue_capacity: usize,
    /// Payload retention, in days (at least 183 recommended: EU AI Act Art. 19).
    #[serde(default = "default_retention_days")]
    pub retention_days: u64,
}

impl Default for RawAudit {
    fn default() -> Self {
        RawAudit {
            enabled: true,
            mode: None,
            on_full: None,
            payloads: None,
            hmac_key_path: None,
            origin: None,
            checkpoint_every: default_checkpoint_every(),
            checkpoint_interval_s: default_checkpoint_interval_s(),
            queue_capacity: default_audit_queue(),
            retention_days: default_retention_days(),
        }
    }
}

/// Validated audit settings.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// Sync commits before responses.
    pub sync: bool,
    /// Refuse requests when the async queue is full.
    pub fail_closed_when_full: bool,
    /// `redacted`, `hmac` or `none`.
    pub payloads: String,
    /// HMAC key file.
    pub hmac_key_path: Option<PathBuf>,
    /// Checkpoint origin.
    pub origin: String,
    /// Records per checkpoint.
    pub checkpoint_every: u64,
    /// Time per checkpoint.
    pub checkpoint_interval: Duration,
    /// Queue length.
    pub queue_capacity: usize,
    /// Payload retention.
    pub retention: Duration,
}

/// `[server]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Listen address, `host:port`.
    #[serde(default = "listen_default")]
    pub listen: Spanned<String>,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// Largest upstream response body buffered for scanning (non-streaming), in bytes.
    #[serde(default = "response_default")]
    pub max_response_bytes: u64,
    /// Time allowed to receive request headers, in milliseconds.
    #[serde(default = "default_header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// Time allowed to receive the request body, in milliseconds.
    #[serde(default = "default_body_timeout_ms")]
    pub body_timeout_ms: u64,
    /// Concurrent client connections.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Request-serving threads, each with its own event loop and upstream
    /// connection pool; 0 means one per available CPU.
    #[serde(default = "workers_default")]
    pub workers: Spanned<usize>,
    /// Deepest JSON nesting accepted in a request body.
    #[serde(default = "default_max_json_depth")]
    pub max_json_depth: usize,
    /// Most request headers accepted.
    #[serde(default = "default_max_headers")]
    pub max_headers: usize,
    /// Largest single SSE event from an upstream, in bytes.
    #[serde(default = "default_max_sse_event_bytes")]
    pub max_sse_event_bytes: usize,
    /// Most streamed text held back for scanning, in bytes: the detectors'
    /// longest possible match, capped here so a stream is not delayed by
    /// kilobytes (a PEM key is caught by its header line).
    #[serde(default = "default_stream_holdback")]
    pub stream_holdback_bytes: usize,
    /// New streamed text, in bytes past the hold-back window, that waits
    /// for one scan: a stream of one token per event would otherwise
    /// rescan the whole window (hold-back plus left context) for every few
    /// bytes it releases. 0 scans at every event; at most 64 KiB (more
    /// would only hold text back longer).
    #[serde(default = "default_stream_scan_step")]
    pub stream_scan_step_bytes: usize,
    /// Whether response text may reach clients unscanned when an output guard fails
    /// open. Off by default; `menshen_unscanned_response_bytes_total` counts any such bytes.
    #[serde(default)]
    pub allow_unscanned_output: bool,
    /// Whether requests may ask for log probabilities, whose tokens repeat
    /// the answer where no output guard reads or redacts them. Off by
    /// default: such a request is refused (400 `logprobs_not_scanned`).
    #[serde(default)]
    pub allow_logprobs: bool,
    /// Whether requests may ask for a spoken answer (chat `modalities` with
    /// `"audio"`), which no guard can read. Off by default: refused (400
    /// `audio_output_not_scanned`).
    #[serde(default)]
    pub allow_audio_output: bool,
}

fn listen_default() -> Spanned<String> {
    Spanned::new(0..0, default_listen().to_owned())
}
fn workers_default() -> Spanned<usize> {
    Spanned::new(0..0, 0)
}
fn response_default() -> u64 {
    16 * 1024 * 1024
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: listen_default(),
            max_body_bytes: default_max_body_bytes(),
            max_response_bytes: response_default(),
            header_timeout_ms: default_header_timeout_ms(),
            body_timeout_ms: default_body_timeout_ms(),
            max_connections: default_max_connections(),
            workers: workers_default(),
            max_json_depth: default_max_json_depth(),
            max_headers: default_max_headers(),
            max_sse_event_bytes: default_max_sse_event_bytes(),
            stream_holdback_bytes: default_stream_holdback(),
            stream_scan_step_bytes: default_stream_scan_step(),
            allow_unscanned_output: false,
            allow_logprobs: false,
            allow_audio_output: false,
        }
    }
}

/// `[[upstreams]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// Name that routes refer to.
    pub name: Spanned<String>,
    /// Base URL: `http://host:port`, `https://host`, or `unix:/path/to.sock`.
    pub url: Spanned<String>,
    /// Name of the env var holding the upstream API key (injected by the proxy).
    #[serde(default)]
    pub api_key_env: Option<Spanned<String>>,
    /// How the key is sent: `bearer` (OpenAI style) or `x-api-key` (Anthropic).
    #[serde(default)]
    pub auth: Option<Spanned<String>>,
    /// Whole-request timeout to first response byte, in milliseconds.
    #[serde(default = "default_upstream_timeout_ms")]
    pub timeout_ms: u64,
    /// TCP/TLS connect timeout, in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Retries after a connect failure (never after any response byte).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Speak HTTP/2 over cleartext (h2c) to this upstream. TLS upstreams negotiate via ALPN.
    #[serde(default)]
    pub http2_only: bool,
}

/// `[[routes]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// Route name (policies and audit see it).
    pub name: Spanned<String>,
    /// Path prefix matched against the request path; longest prefix wins.
    #[serde(default = "prefix_default")]
    pub path_prefix: String,
    /// Upstream name.
    pub upstream: Spanned<String>,
    /// Only for these tenants (empty: all).
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Paths that pass through without guards (e.g. `/v1/models`, `/v1/embeddings`).
    #[serde(default = "passthrough_default")]
    pub passthrough: Vec<String>,
    /// Per-route upstream timeout override, in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// What a guard or policy failure means on this route: `block` or `allow`.
    #[serde(default)]
    pub on_error: Option<Spanned<String>>,
}

fn prefix_default() -> String {
    "/".to_owned()
}
fn passthrough_default() -> Vec<String> {
    vec!["/v1/models".to_owned()]
}

/// `[[clients]]`: a proxy-issued key. Keys are stored as SHA-256 hex, never in clear.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    /// Tenant the key maps to.
    pub tenant: String,
    /// Lowercase hex SHA-256 of the key (`menshen hash-key` prints it).
    pub key_sha256: Spanned<String>,
}

/// `[guards]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuards {
    /// The banned-phrase guard.
    #[serde(default)]
    pub phrases: RawPhrases,
    /// Prompt-injection and jailbreak rule packs (`rules.injection`).
    #[serde(default)]
    pub rules: RawGuard,
    /// PII recognizers (`pii`).
    #[serde(default)]
    pub pii: RawGuard,
    /// Secret and credential detectors (`secrets`).
    #[serde(default)]
    pub secrets: RawGuard,
    /// Sensitive-topic keyword libraries (`keywords`); off unless `dir` is set.
    #[serde(default)]
    pub keywords: RawGuard,
    /// Rules on the model's own output (`rules.output`): unsafe markup and
    /// exfiltration images in answers, destructive tool calls. Responses
    /// only, whatever `output` says.
    #[serde(default)]
    pub output_rules: RawGuard,
    /// ONNX classifiers (`onnx.injection`, `onnx.harm`).
    #[serde(default)]
    pub onnx: RawOnnx,
}

/// `[guards.onnx]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOnnx {
    /// Whether the classifiers run.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// When the library or a model is missing: `true` logs a warning and runs
    /// without the classifiers; `false` refuses to start.
    #[serde(default = "default_true")]
    pub optional: bool,
    /// Path of libonnxruntime.so; default `$ORT_DYLIB_PATH`, else `vendor/onnxruntime/lib/`.
    #[serde(default)]
    pub library: Option<String>,
    /// Directory holding one subdirectory per model (`injection`, `harm`).
    #[serde(default = "models_dir_default")]
    pub models_dir: String,
    /// Which models to load.
    #[serde(default = "models_default")]
    pub models: Vec<String>,
    /// `cpu` or `cuda` (falls back to CPU with a log line).
    #[serde(default)]
    pub provider: Option<String>,
    /// CUDA device ordinal.
    #[serde(default)]
    pub device_id: i32,
    /// ONNX Runtime intra-op threads per worker.
    #[serde(default = "one")]
    pub intra_threads: usize,
    /// Inference timeout per call, in milliseconds.
    #[serde(default = "onnx_timeout_default")]
    pub timeout_ms: u64,
    /// `block` or `allow` when a classifier fails or times out.
    #[serde(default)]
    pub on_error: Option<Spanned<String>>,
    /// Scan responses too.
    #[serde(default)]
    pub output: bool,
    /// Also classify system and developer messages. Off by default: the
    /// operator's own system prompt is not an attack, and to a classifier
    /// trained on user prompts it reads like one (the rule detectors still
    /// scan it).
    #[serde(default)]
    pub scan_system_prompts: bool,
    /// Also classify what the model wrote earlier in the conversation
    /// (assistant text, reasoning, tool calls sent back by the client). Off
    /// by default: first-person planning ("The user wants a poem, so I will
    /// write four lines") reads like an injection to the model, and thinking
    /// models and agent loops send such turns back on every request (the
    /// rule detectors still scan them).
    #[serde(default)]
    pub scan_assistant: bool,
    /// Also classify declared tools' descriptions and parameter schemas.
    /// Off by default: usage notes are instructions by design ("You MUST
    /// avoid ...") and read as overrides (the rule detectors still scan
    /// them for poisoning).
    #[serde(default)]
    pub scan_tool_descriptions: bool,
    /// Also classify the `<system-reminder>` blocks an agent harness (Claude
    /// Code) adds: off by default, so they are masked in the client's own
    /// messages, and in tool results only where the text is the harness's
    /// fixed note (the rule detectors read them all).
    #[serde(default)]
    pub scan_system_reminders: bool,
}

fn models_dir_default() -> String {
    "models/artifacts".to_owned()
}
/// The injection model only: the harm model flags 40-47% of safety probes
/// and 1.5% of plain questions (models/MODEL_CARD.md), too many to block on by
/// default. Add "harm" to run it.
fn models_default() -> Vec<String> {
    vec!["injection".to_owned()]
}
const fn one() -> usize {
    1
}
const fn onnx_timeout_default() -> u64 {
    250
}

impl Default for RawOnnx {
    fn default() -> Self {
        RawOnnx {
            enabled: true,
            optional: true,
            library: None,
            models_dir: models_dir_default(),
            models: models_default(),
            provider: None,
            device_id: 0,
            intra_threads: 1,
            timeout_ms: onnx_timeout_default(),
            on_error: None,
            output: false,
            scan_system_prompts: false,
            scan_assistant: false,
            scan_tool_descriptions: false,
            scan_system_reminders: false,
        }
    }
}

/// Validated ONNX settings.
#[derive(Debug, Clone)]
pub struct OnnxSettings {
    /// Missing pieces only warn.
    pub optional: bool,
    /// Library path (resolved).
    pub library: PathBuf,
    /// Model directories.
    pub models: Vec<PathBuf>,
    /// CUDA device, if `provider = "cuda"`.
    pub cuda_device: Option<i32>,
    /// Intra-op threads.
    pub intra_threads: usize,
    /// Timeout.
    pub timeout: Duration,
    /// Failure mode.
    pub on_error: FailMode,
    /// Scan output.
    pub output: bool,
    /// Classify system and developer messages too.
    pub scan_system_prompts: bool,
    /// Classify the model's earlier turns too.
    pub scan_assistant: bool,
    /// Classify declared tools' descriptions too.
    pub scan_tool_descriptions: bool,
    /// Classify agent-harness reminder blocks too.
    pub scan_system_reminders: bool,
}

/// Common settings of a built-in detector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuard {
    /// Whether it runs.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Timeout over one conversation, in milliseconds.
    #[serde(default = "default_guard_timeout_ms")]
    pub timeout_ms: u64,
    /// `block` or `allow` when it fails.
    #[serde(default)]
    pub on_error: Option<Spanned<String>>,
    /// Scan responses too.
    #[serde(default = "default_true")]
    pub output: bool,
    /// Extra data files (rule packs, keyword lists) loaded from this directory.
    #[serde(default)]
    pub dir: Option<String>,
    /// Minimum score to report (PII), `0..=1`.
    #[serde(default)]
    pub min_score: Option<f32>,
    /// Hosts answers may show images from (`guards.output_rules` only):
    /// names, IP addresses and `*.domain` patterns.
    #[serde(default)]
    pub image_hosts: Option<Spanned<Vec<String>>>,
}

impl Default for RawGuard {
    fn default() -> Self {
        RawGuard {
            enabled: true,
            timeout_ms: default_guard_timeout_ms(),
            on_error: None,
            output: true,
            dir: None,
            min_score: None,
            image_hosts: None,
        }
    }
}

/// `[redaction]`: how entity types are redacted when the policy says `redact`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedaction {
    /// Operator for entity types without their own: `mask`, `partial`, `hash`, `drop`, `pseudonym`.
    #[serde(default)]
    pub default: Option<Spanned<String>>,
    /// Entity type → operator.
    #[serde(default)]
    pub entities: BTreeMap<String, Spanned<String>>,
    /// Env var holding the HMAC key for `hash` (at least 16 bytes).
    #[serde(default)]
    pub hash_key_env: Option<String>,
    /// Env var holding the secret that pseudonym vault keys derive from; a
    /// random per-process secret when unset (placeholders then differ across restarts).
    #[serde(default)]
    pub pseudonym_secret_env: Option<String>,
}

/// A validated built-in detector's settings.
#[derive(Debug, Clone)]
pub struct GuardSettings {
    /// Timeout.
    pub timeout: Duration,
    /// Failure mode.
    pub on_error: FailMode,
    /// Also scan output.
    pub output: bool,
    /// Extra data directory.
    pub dir: Option<PathBuf>,
    /// Minimum score.
    pub min_score: Option<f32>,
    /// Hosts answers may show images from (the output rules only).
    pub image_hosts: Option<ImageHosts>,
}

/// Validated redaction settings.
#[derive(Debug, Clone, Default)]
pub struct RedactionSettings {
    /// Default operator name, if set.
    pub default: Option<String>,
    /// Per-entity operator names.
    pub entities: BTreeMap<String, String>,
    /// HMAC key bytes for `hash`.
    pub hash_key: Option<Vec<u8>>,
    /// Pseudonym vault secret.
    pub pseudonym_secret: Option<Vec<u8>>,
}

/// Operator names accepted in config and in policy decisions.
pub const OPERATORS: &[&str] = &["mask", "partial", "hash", "drop", "pseudonym", "keep"];

/// `[guards.phrases]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPhrases {
    /// Whether the guard runs.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Phrases, matched case-insensitively.
    #[serde(default = "default_phrases")]
    pub phrases: Vec<String>,
    /// Score of a match, 0..1.
    #[serde(default = "phrase_score")]
    pub score: f32,
    /// Category id of a match.
    #[serde(default = "phrase_category")]
    pub category: String,
    /// Timeout, in milliseconds.
    #[serde(default = "default_guard_timeout_ms")]
    pub timeout_ms: u64,
    /// `block` or `allow` when the guard fails.
    #[serde(default)]
    pub on_error: Option<Spanned<String>>,
    /// Scan responses too.
    #[serde(default = "default_true")]
    pub output: bool,
}

fn default_phrases() -> Vec<String> {
    [
        "ignore previous instructions",
        "ignore all previous instructions",
        "disregard previous instructions",
        "ignore the above instructions",
        "reveal your system prompt",
        "忽略之前的指令",
        "忽略以上指令",
        "忽略之前的所有指令",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}
fn phrase_score() -> f32 {
    0.9
}
fn phrase_category() -> String {
    "OWASP-LLM-2025:LLM01".to_owned()
}

impl Default for RawPhrases {
    fn default() -> Self {
        RawPhrases {
            enabled: true,
            phrases: default_phrases(),
            score: phrase_score(),
            category: phrase_category(),
            timeout_ms: default_guard_timeout_ms(),
            on_error: None,
            output: true,
        }
    }
}

/// `[decision]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDecision {
    /// Risk score (0..100) at or above which the built-in engine blocks.
    #[serde(default = "default_block_at")]
    pub block_at: u8,
}

impl Default for RawDecision {
    fn default() -> Self {
        RawDecision {
            block_at: default_block_at(),
        }
    }
}

// === validated settings ===

/// Whether a failure blocks or lets traffic through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Fail closed.
    Block,
    /// Fail open (counted and logged).
    Allow,
}

/// Where an upstream lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamAddr {
    /// HTTP or HTTPS base URI (scheme + authority + optional base path).
    Http(Uri),
    /// A Unix domain socket (co-located model server).
    Unix(PathBuf),
}

/// How the upstream key is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStyle {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `x-api-key: <key>` (Anthropic).
    XApiKey,
}

/// A validated upstream.
#[derive(Clone)]
pub struct Upstream {
    /// Name.
    pub name: String,
    /// Address.
    pub addr: UpstreamAddr,
    /// Key injected into requests, if any. Never logged.
    pub api_key: Option<String>,
    /// Header style for the key.
    pub auth: AuthStyle,
    /// Time to response headers.
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Connect-failure retries.
    pub retries: u32,
    /// h2c.
    pub http2_only: bool,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A validated route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Name.
    pub name: String,
    /// Path prefix.
    pub path_prefix: String,
    /// Index into [`Settings::upstreams`].
    pub upstream: usize,
    /// Tenants it serves (empty: all).
    pub tenants: Vec<String>,
    /// Passthrough paths.
    pub passthrough: Vec<String>,
    /// Upstream timeout override.
    pub timeout: Option<Duration>,
    /// Failure mode for guards and policy.
    pub on_error: FailMode,
}

/// The phrase guard, validated.
#[derive(Debug, Clone)]
pub struct PhraseGuard {
    /// Phrases.
    pub phrases: Vec<String>,
    /// Score.
    pub score: f32,
    /// Category id.
    pub category: String,
    /// Timeout.
    pub timeout: Duration,
    /// Failure mode.
    pub on_error: FailMode,
    /// Also scan output.
    pub output: bool,
}

/// Everything the proxy needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listen address.
    pub listen: SocketAddr,
    /// Request body cap.
    pub max_body_bytes: u64,
    /// Buffered response cap.
    pub max_response_bytes: u64,
    /// Header read timeout.
    pub header_timeout: Duration,
    /// Body read timeout.
    pub body_timeout: Duration,
    /// Connection limit.
    pub max_connections: usize,
    /// Request-serving threads (at least 1).
    pub workers: usize,
    /// JSON nesting limit.
    pub max_json_depth: usize,
    /// Header count limit.
    pub max_headers: usize,
    /// SSE event size limit.
    pub max_sse_event_bytes: usize,
    /// Stream hold-back cap.
    pub stream_holdback_bytes: usize,
    /// New stream text past the hold-back that waits for one scan.
    pub stream_scan_step_bytes: usize,
    /// Allow unscanned output when an output guard fails open.
    pub allow_unscanned_output: bool,
    /// Let requests ask for log probabilities (unscanned copies of the answer).
    pub allow_logprobs: bool,
    /// Let requests ask for audio output (unscannable).
    pub allow_audio_output: bool,
    /// Upstreams.
    pub upstreams: Vec<Upstream>,
    /// Routes, longest prefix first.
    pub routes: Vec<Route>,
    /// SHA-256 of client key → tenant. Empty: open mode.
    pub clients: BTreeMap<[u8; 32], String>,
    /// Phrase guard, if enabled.
    pub phrases: Option<PhraseGuard>,
    /// Built-in block threshold.
    pub block_at: u8,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Audit log, unless disabled.
    pub audit: Option<AuditSettings>,
    /// Injection rules, if enabled.
    pub rules: Option<GuardSettings>,
    /// PII, if enabled.
    pub pii: Option<GuardSettings>,
    /// Secrets, if enabled.
    pub secrets: Option<GuardSettings>,
    /// Keyword libraries, if enabled and a directory is given.
    pub keywords: Option<GuardSettings>,
    /// Output rules (responses only), if enabled.
    pub output_rules: Option<GuardSettings>,
    /// Redaction operators.
    pub redaction: RedactionSettings,
    /// Policy engine.
    pub policy: PolicySettings,
    /// Admin API, if configured.
    pub admin: Option<AdminSettings>,
    /// ONNX classifiers, if enabled.
    pub onnx: Option<OnnxSettings>,
    /// Trace export, when an OTLP endpoint is configured.
    pub telemetry: Option<TelemetrySettings>,
}

/// Defaults used when `menshen serve` runs without a config file.
pub const DEFAULT_CONFIG: &str = r#"
# Embedded defaults: one upstream from $MENSHEN_UPSTREAM, everything else default.
[[upstreams]]
name = "default"
url = "${MENSHEN_UPSTREAM}"
api_key_env = "MENSHEN_UPSTREAM_API_KEY"

[[routes]]
name = "default"
path_prefix = "/"
upstream = "default"
# Model lists, embeddings, and Ollama's read-only model metadata. Not its
# model management (/api/pull, /api/create, /api/delete, ...).
passthrough = ["/v1/models", "/v1/embeddings", "/api/tags", "/api/show", "/api/ps", "/api/version", "/api/embed", "/api/embeddings"]
"#;

/// A config file's name (for error locations) and text.
fn read_config(path: &Path) -> Result<(String, String), ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new("config", format!("cannot read {}: {e}", path.display())))?;
    Ok((path.display().to_string(), text))
}

impl RawConfig {
    /// Parses TOML text. `name` is used in error locations.
    ///
    /// # Errors
    /// Syntax errors, unknown keys and wrong types, with file and line.
    pub fn parse(name: &str, text: &str) -> Result<RawConfig, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let src = Source { name, text };
            let key = e.message().to_owned();
            let mut err = ConfigError::new("config", key);
            if let Some(span) = e.span() {
                err = err.at(&src, span);
            }
            err
        })
    }

    /// Validates into [`Settings`]. `name` and `text` locate errors.
    ///
    /// # Errors
    /// The first invalid key, with its line.
    pub fn validate(self, name: &str, text: &str, env: &dyn Env) -> Result<Settings, ConfigError> {
        let src = Source { name, text };
        let listen: SocketAddr = self.server.listen.get_ref().parse().map_err(|e| {
            ConfigError::new("server.listen", format!("not a socket address: {e}"))
                .at(&src, self.server.listen.span())
        })?;
        if self.server.max_body_bytes == 0 {
            return Err(ConfigError::new("server.max_body_bytes", "must be > 0"));
        }
        if self.server.max_json_depth == 0 || self.server.max_json_depth > 512 {
            return Err(ConfigError::new(
                "server.max_json_depth",
                "must be in 1..=512",
            ));
        }
        if *self.server.workers.get_ref() > MAX_WORKERS {
            return Err(ConfigError::new(
                "server.workers",
                format!("must be in 0..={MAX_WORKERS} (0: one per CPU)"),
            )
            .at(&src, self.server.workers.span()));
        }
        if self.upstreams.is_empty() {
            return Err(ConfigError::new(
                "upstreams",
                "at least one upstream is required (set MENSHEN_UPSTREAM or add [[upstreams]])",
            ));
        }
        let mut names = BTreeMap::new();
        let mut upstreams = Vec::with_capacity(self.upstreams.len());
        for (i, u) in self.upstreams.iter().enumerate() {
            let key = |k: &str| format!("upstreams[{i}].{k}");
            let name = u.name.get_ref().trim().to_owned();
            if name.is_empty() {
                return Err(
                    ConfigError::new(key("name"), "must not be empty").at(&src, u.name.span())
                );
            }
            if names.insert(name.clone(), i).is_some() {
                return Err(
                    ConfigError::new(key("name"), format!("duplicate upstream `{name}`"))
                        .at(&src, u.name.span()),
                );
            }
            let raw_url = expand_env(u.url.get_ref(), env).map_err(|v| {
                ConfigError::new(key("url"), format!("environment variable {v} is not set"))
                    .at(&src, u.url.span())
            })?;
            let addr = parse_upstream_url(&raw_url)
                .map_err(|m| ConfigError::new(key("url"), m).at(&src, u.url.span()))?;
            let api_key = match &u.api_key_env {
                Some(var) => env.var(var.get_ref()).filter(|v| !v.is_empty()),
                None => None,
            };
            let auth = match u.auth.as_ref().map(|a| a.get_ref().as_str()) {
                None | Some("bearer") => AuthStyle::Bearer,
                Some("x-api-key") => AuthStyle::XApiKey,
                Some(other) => {
                    let span = u.auth.as_ref().map_or(0..0, Spanned::span);
                    return Err(ConfigError::new(
                        key("auth"),
                        format!("`{other}` is not one of: bearer, x-api-key"),
                    )
                    .at(&src, span));
                }
            };
            upstreams.push(Upstream {
                name,
                addr,
                api_key,
                auth,
                timeout: Duration::from_millis(u.timeout_ms),
                connect_timeout: Duration::from_millis(u.connect_timeout_ms),
                retries: u.retries.min(5),
                http2_only: u.http2_only,
            });
        }
        if self.routes.is_empty() {
            return Err(ConfigError::new("routes", "at least one route is required"));
        }
        let mut routes = Vec::with_capacity(self.routes.len());
        let mut route_names = BTreeSet::new();
        for (i, r) in self.routes.iter().enumerate() {
            let key = |k: &str| format!("routes[{i}].{k}");
            if !route_names.insert(r.name.get_ref().clone()) {
                return Err(
                    ConfigError::new(key("name"), "duplicate route name").at(&src, r.name.span())
                );
            }
            let upstream = *names.get(r.upstream.get_ref()).ok_or_else(|| {
                ConfigError::new(
                    key("upstream"),
                    format!("no upstream named `{}`", r.upstream.get_ref()),
                )
                .at(&src, r.upstream.span())
            })?;
            if !r.path_prefix.starts_with('/') {
                return Err(ConfigError::new(key("path_prefix"), "must start with `/`"));
            }
            for (j, p) in r.passthrough.iter().enumerate() {
                // Matched against request paths, which are refused when
                // ambiguous: such an entry could never match, or would
                // match what it does not say.
                if !p.starts_with('/') || p.len() > 1 && p.ends_with('/') {
                    return Err(ConfigError::new(
                        key(&format!("passthrough[{j}]")),
                        format!("`{p}` must start with `/` and not end with one"),
                    ));
                }
                if crate::stack::is_ambiguous_path(p) {
                    return Err(ConfigError::new(
                        key(&format!("passthrough[{j}]")),
                        format!(
                            "`{p}` has dot segments, encoded separators or backslashes; \
                             write the canonical path"
                        ),
                    ));
                }
            }
            routes.push(Route {
                name: r.name.get_ref().clone(),
                path_prefix: r.path_prefix.clone(),
                upstream,
                tenants: r.tenants.clone(),
                passthrough: r.passthrough.clone(),
                timeout: r.timeout_ms.map(Duration::from_millis),
                on_error: fail_mode(r.on_error.as_ref(), &key("on_error"), &src)?,
            });
        }
        routes.sort_by_key(|r| std::cmp::Reverse(r.path_prefix.len()));
        let mut clients = BTreeMap::new();
        for (i, c) in self.clients.iter().enumerate() {
            let key = format!("clients[{i}].key_sha256");
            let bytes = hex_32(c.key_sha256.get_ref()).ok_or_else(|| {
                ConfigError::new(
                    &key,
                    "must be 64 lowercase hex characters (SHA-256 of the key)",
                )
                .at(&src, c.key_sha256.span())
            })?;
            if clients.insert(bytes, c.tenant.clone()).is_some() {
                return Err(
                    ConfigError::new(&key, "duplicate client key").at(&src, c.key_sha256.span())
                );
            }
        }
        let p = &self.guards.phrases;
        let phrases = if p.enabled {
            if !(0.0..=1.0).contains(&p.score) {
                return Err(ConfigError::new(
                    "guards.phrases.score",
                    "must be within 0..=1",
                ));
            }
            Some(PhraseGuard {
                phrases: p.phrases.clone(),
                score: p.score,
                category: p.category.clone(),
                timeout: Duration::from_millis(p.timeout_ms),
                on_error: fail_mode(p.on_error.as_ref(), "guards.phrases.on_error", &src)?,
                output: p.output,
            })
        } else {
            None
        };
        if self.decision.block_at > 100 {
            return Err(ConfigError::new(
                "decision.block_at",
                "must be within 0..=100",
            ));
        }
        let data_dir = self.data_dir.as_ref().map_or_else(
            || PathBuf::from("menshen-data"),
            |d| PathBuf::from(d.get_ref()),
        );
        let a = &self.audit;
        let choice = |v: &Option<Spanned<String>>,
                      key: &str,
                      allowed: &[&str],
                      default: &str|
         -> Result<String, ConfigError> {
            match v {
                None => Ok(default.to_owned()),
                Some(s) if allowed.contains(&s.get_ref().as_str()) => Ok(s.get_ref().clone()),
                Some(s) => Err(ConfigError::new(
                    key,
                    format!("`{}` is not one of: {}", s.get_ref(), allowed.join(", ")),
                )
                .at(&src, s.span())),
            }
        };
        let audit = if a.enabled {
            let mode = choice(&a.mode, "audit.mode", &["async", "sync"], "async")?;
            let on_full = choice(
                &a.on_full,
                "audit.on_full",
                &["backpressure", "fail_closed"],
                "backpressure",
            )?;
            let payloads = choice(
                &a.payloads,
                "audit.payloads",
                &["redacted", "hmac", "none"],
                "redacted",
            )?;
            if payloads == "hmac" && a.hmac_key_path.is_none() {
                return Err(ConfigError::new(
                    "audit.hmac_key_path",
                    "required when payloads = \"hmac\"",
                ));
            }
            let origin = a.origin.clone().unwrap_or_else(|| "menshen".to_owned());
            if origin.is_empty() || origin.contains(char::is_whitespace) || origin.contains('+') {
                return Err(ConfigError::new(
                    "audit.origin",
                    "must be non-empty without spaces or `+`",
                ));
            }
            if a.checkpoint_every == 0 || a.checkpoint_interval_s == 0 || a.queue_capacity == 0 {
                return Err(ConfigError::new(
                    "audit",
                    "checkpoint_every, checkpoint_interval_s and queue_capacity must be > 0",
                ));
            }
            Some(AuditSettings {
                sync: mode == "sync",
                fail_closed_when_full: on_full == "fail_closed",
                payloads,
                hmac_key_path: a.hmac_key_path.as_ref().map(PathBuf::from),
                origin,
                checkpoint_every: a.checkpoint_every,
                checkpoint_interval: Duration::from_secs(a.checkpoint_interval_s),
                queue_capacity: a.queue_capacity,
                retention: Duration::from_secs(a.retention_days.saturating_mul(86_400)),
            })
        } else {
            None
        };
        let guard = |g: &RawGuard, name: &str| -> Result<Option<GuardSettings>, ConfigError> {
            if !g.enabled {
                return Ok(None);
            }
            if let Some(m) = g.min_score {
                if !(0.0..=1.0).contains(&m) {
                    return Err(ConfigError::new(
                        format!("guards.{name}.min_score"),
                        "must be within 0..=1",
                    ));
                }
            }
            let image_hosts = match &g.image_hosts {
                None => None,
                Some(v) if name == "output_rules" => {
                    Some(ImageHosts::new(v.get_ref()).map_err(|e| {
                        ConfigError::new(format!("guards.{name}.image_hosts"), e).at(&src, v.span())
                    })?)
                }
                Some(v) => {
                    return Err(ConfigError::new(
                        format!("guards.{name}.image_hosts"),
                        "only [guards.output_rules] takes image_hosts",
                    )
                    .at(&src, v.span()))
                }
            };
            Ok(Some(GuardSettings {
                timeout: Duration::from_millis(g.timeout_ms),
                on_error: fail_mode(
                    g.on_error.as_ref(),
                    &format!("guards.{name}.on_error"),
                    &src,
                )?,
                output: g.output,
                dir: g.dir.as_ref().map(PathBuf::from),
                min_score: g.min_score,
                image_hosts,
            }))
        };
        let rules = guard(&self.guards.rules, "rules")?;
        let pii = guard(&self.guards.pii, "pii")?;
        let secrets = guard(&self.guards.secrets, "secrets")?;
        if self.guards.output_rules.enabled && !self.guards.output_rules.output {
            return Err(ConfigError::new(
                "guards.output_rules.output",
                "the output rules read only responses; to turn them off set enabled = false",
            ));
        }
        let output_rules = guard(&self.guards.output_rules, "output_rules")?;
        let keywords = if self.guards.keywords.dir.is_some() {
            guard(&self.guards.keywords, "keywords")?
        } else {
            None
        };
        let r = &self.redaction;
        let op = |v: &Spanned<String>, key: String| -> Result<String, ConfigError> {
            if OPERATORS.contains(&v.get_ref().as_str()) {
                Ok(v.get_ref().clone())
            } else {
                Err(ConfigError::new(
                    key,
                    format!("`{}` is not one of: {}", v.get_ref(), OPERATORS.join(", ")),
                )
                .at(&src, v.span()))
            }
        };
        let mut redaction = RedactionSettings {
            default: r
                .default
                .as_ref()
                .map(|d| op(d, "redaction.default".into()))
                .transpose()?,
            ..RedactionSettings::default()
        };
        for (entity, v) in &r.entities {
            redaction.entities.insert(
                entity.clone(),
                op(v, format!("redaction.entities.{entity}"))?,
            );
        }
        if let Some(var) = &r.hash_key_env {
            let key = env.var(var).filter(|k| k.len() >= 16).ok_or_else(|| {
                ConfigError::new(
                    "redaction.hash_key_env",
                    format!("environment variable {var} must hold at least 16 bytes"),
                )
            })?;
            redaction.hash_key = Some(key.into_bytes());
        }
        if let Some(var) = &r.pseudonym_secret_env {
            let key = env.var(var).filter(|k| k.len() >= 16).ok_or_else(|| {
                ConfigError::new(
                    "redaction.pseudonym_secret_env",
                    format!("environment variable {var} must hold at least 16 bytes"),
                )
            })?;
            redaction.pseudonym_secret = Some(key.into_bytes());
        }
        let engine = match &self.policy.engine {
            None => "rego".to_owned(),
            Some(e) if ["rego", "threshold"].contains(&e.get_ref().as_str()) => e.get_ref().clone(),
            Some(e) => {
                return Err(ConfigError::new(
                    "policy.engine",
                    format!("`{}` is not one of: rego, threshold", e.get_ref()),
                )
                .at(&src, e.span()))
            }
        };
        if self.policy.review_expire_hours > 10 * 8_760 {
            return Err(ConfigError::new(
                "policy.review_expire_hours",
                "at most 87600 (ten years); 0 keeps cases open forever",
            ));
        }
        if self.policy.review_retention_days > 36_500 {
            return Err(ConfigError::new(
                "policy.review_retention_days",
                "at most 36500 (a hundred years); 0 keeps decided cases forever",
            ));
        }
        let policy = PolicySettings {
            rego: engine == "rego",
            bundle: self.policy.bundle.as_ref().map(PathBuf::from),
            reload_interval: Duration::from_secs(self.policy.reload_interval_s.max(1)),
            review: self.policy.review,
            review_expiry: (self.policy.review_expire_hours > 0)
                .then(|| Duration::from_secs(self.policy.review_expire_hours.saturating_mul(3600))),
            review_retention: (self.policy.review_retention_days > 0).then(|| {
                Duration::from_secs(self.policy.review_retention_days.saturating_mul(86_400))
            }),
        };
        let admin = match &self.admin {
            None => None,
            Some(a) => {
                let listen: SocketAddr = a.listen.get_ref().parse().map_err(|e| {
                    ConfigError::new("admin.listen", format!("not a socket address: {e}"))
                        .at(&src, a.listen.span())
                })?;
                if listen == self.server.listen.get_ref().parse().unwrap_or(listen)
                    && listen.port() != 0
                {
                    return Err(
                        ConfigError::new("admin.listen", "must differ from server.listen")
                            .at(&src, a.listen.span()),
                    );
                }
                let key = env
                    .var(&a.key_env)
                    .filter(|k| k.len() >= 16)
                    .ok_or_else(|| {
                        ConfigError::new(
                            "admin.key_env",
                            format!(
                                "environment variable {} must hold at least 16 bytes",
                                a.key_env
                            ),
                        )
                    })?;
                Some(AdminSettings { listen, key })
            }
        };
        let o = &self.guards.onnx;
        let onnx = if o.enabled {
            let cuda_device = match o.provider.as_deref() {
                None | Some("cpu") => None,
                Some("cuda") => Some(o.device_id),
                Some(other) => {
                    return Err(ConfigError::new(
                        "guards.onnx.provider",
                        format!("`{other}` is not one of: cpu, cuda"),
                    ))
                }
            };
            let library = match &o.library {
                Some(l) => PathBuf::from(l),
                None => env
                    .var("ORT_DYLIB_PATH")
                    .filter(|p| !p.is_empty())
                    .map_or_else(
                        || PathBuf::from("vendor/onnxruntime/lib/libonnxruntime.so"),
                        PathBuf::from,
                    ),
            };
            Some(OnnxSettings {
                optional: o.optional,
                library,
                models: o
                    .models
                    .iter()
                    .map(|m| Path::new(&o.models_dir).join(m))
                    .collect(),
                cuda_device,
                intra_threads: o.intra_threads.max(1),
                timeout: Duration::from_millis(o.timeout_ms.max(1)),
                on_error: fail_mode(o.on_error.as_ref(), "guards.onnx.on_error", &src)?,
                output: o.output,
                scan_system_prompts: o.scan_system_prompts,
                scan_assistant: o.scan_assistant,
                scan_tool_descriptions: o.scan_tool_descriptions,
                scan_system_reminders: o.scan_system_reminders,
            })
        } else {
            None
        };
        let telemetry = telemetry::validate(&self.telemetry, &src, env)?;
        Ok(Settings {
            telemetry,
            onnx,
            admin,
            policy,
            rules,
            pii,
            secrets,
            keywords,
            output_rules,
            redaction,
            audit,
            listen,
            max_body_bytes: self.server.max_body_bytes,
            max_response_bytes: self.server.max_response_bytes,
            header_timeout: Duration::from_millis(self.server.header_timeout_ms),
            body_timeout: Duration::from_millis(self.server.body_timeout_ms),
            max_connections: self.server.max_connections.max(1),
            workers: resolve_workers(*self.server.workers.get_ref()),
            max_json_depth: self.server.max_json_depth,
            max_headers: self.server.max_headers.max(8),
            max_sse_event_bytes: self.server.max_sse_event_bytes.max(1024),
            stream_holdback_bytes: self.server.stream_holdback_bytes.max(64),
            stream_scan_step_bytes: self.server.stream_scan_step_bytes.min(64 * 1024),
            allow_unscanned_output: self.server.allow_unscanned_output,
            allow_logprobs: self.server.allow_logprobs,
            allow_audio_output: self.server.allow_audio_output,
            upstreams,
            routes,
            clients,
            phrases,
            block_at: self.decision.block_at,
            data_dir,
        })
    }
}

impl Settings {
    /// Whether `[redaction]` names operators while the embedded baseline
    /// policy decides: then the config's operators are used, not the
    /// baseline's table (which names one for every entity it redacts, and
    /// would leave the config dead). A bundle of one's own names its own.
    pub fn redaction_overrides_baseline(&self) -> bool {
        let r = &self.redaction;
        self.policy.rego
            && self.policy.bundle.is_none()
            && (r.default.is_some() || !r.entities.is_empty())
    }

    /// Loads and validates a config file.
    ///
    /// # Errors
    /// I/O, syntax or validation errors, naming the file, line and key.
    pub fn load(path: &Path, env: &dyn Env) -> Result<Settings, ConfigError> {
        let (name, text) = read_config(path)?;
        Settings::from_toml(&name, &text, env)
    }

    /// Loads a config file for the offline commands (`scan`, `eval`), which
    /// run the guards and policies without calling an upstream: a file that
    /// names no upstream and no route (a guards-only config, such as one that
    /// turns the ONNX classifiers off for a rules-only evaluation) gets the
    /// embedded defaults' upstream and route, as running without a file
    /// does, instead of having to invent an upstream it will never call. A
    /// file that names either is validated as written.
    ///
    /// # Errors
    /// As [`Settings::load`].
    pub fn load_offline(path: &Path, env: &dyn Env) -> Result<Settings, ConfigError> {
        let (name, text) = read_config(path)?;
        let raw = RawConfig::parse(&name, &text)?;
        if raw.upstreams.is_empty() && raw.routes.is_empty() {
            // Appended, so that errors in the file keep their line numbers.
            let text = format!("{text}\n{DEFAULT_CONFIG}");
            return Settings::from_toml(&name, &text, env);
        }
        raw.validate(&name, &text, env)
    }

    /// Parses and validates TOML text.
    ///
    /// # Errors
    /// Syntax or validation errors.
    pub fn from_toml(name: &str, text: &str, env: &dyn Env) -> Result<Settings, ConfigError> {
        RawConfig::parse(name, text)?.validate(name, text, env)
    }

    /// The embedded defaults (upstream from `MENSHEN_UPSTREAM`).
    ///
    /// # Errors
    /// When `MENSHEN_UPSTREAM` is unset or invalid.
    pub fn embedded(env: &dyn Env) -> Result<Settings, ConfigError> {
        Settings::from_toml("<embedded defaults>", DEFAULT_CONFIG, env)
    }

    /// The route for a path and tenant: longest matching prefix serving that tenant.
    pub fn route_for(&self, path: &str, tenant: &str) -> Option<&Route> {
        self.routes.iter().find(|r| {
            path.starts_with(&r.path_prefix)
                && (r.tenants.is_empty() || r.tenants.iter().any(|t| t == tenant))
        })
    }
}

fn fail_mode(
    v: Option<&Spanned<String>>,
    key: &str,
    src: &Source<'_>,
) -> Result<FailMode, ConfigError> {
    match v.map(|s| s.get_ref().as_str()) {
        None | Some("block") => Ok(FailMode::Block),
        Some("allow") => Ok(FailMode::Allow),
        Some(other) => Err(
            ConfigError::new(key, format!("`{other}` is not one of: block, allow"))
                .at(src, v.map_or(0..0, Spanned::span)),
        ),
    }
}

/// Expands `${VAR}` references; returns the name of the first unset variable.
fn expand_env(s: &str, env: &dyn Env) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let (before, after) = rest.split_at(start);
        out.push_str(before);
        let after = after.get(2..).unwrap_or("");
        let Some(end) = after.find('}') else {
            out.push_str("${");
            rest = after;
            continue;
        };
        let (var, tail) = after.split_at(end);
        match env.var(var).filter(|v| !v.is_empty()) {
            Some(v) => out.push_str(&v),
            None => return Err(var.to_owned()),
        }
        rest = tail.get(1..).unwrap_or("");
    }
    out.push_str(rest);
    Ok(out)
}

fn parse_upstream_url(s: &str) -> Result<UpstreamAddr, String> {
    if let Some(path) = s.strip_prefix("unix:") {
        let path = path.trim_start_matches("//");
        if path.is_empty() {
            return Err("unix socket path is empty".to_owned());
        }
        return Ok(UpstreamAddr::Unix(PathBuf::from(path)));
    }
    let uri: Uri = s.parse().map_err(|e| format!("not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err("scheme must be http, https or unix".to_owned()),
    }
    if uri.authority().is_none() {
        return Err("URL has no host".to_owned());
    }
    if uri.query().is_some() {
        return Err("URL must not have a query".to_owned());
    }
    Ok(UpstreamAddr::Http(uri))
}

fn hex_32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = s.get(i * 2..i * 2 + 2)?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn embedded_defaults_need_upstream() {
        let err = Settings::embedded(&env(&[])).unwrap_err();
        assert_eq!(err.key(), "upstreams[0].url");
        assert!(err.to_string().contains("MENSHEN_UPSTREAM"), "{err}");
        let s =
            Settings::embedded(&env(&[("MENSHEN_UPSTREAM", "http://127.0.0.1:11434")])).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.routes[0].name, "default");
    }

    #[test]
    fn offline_load_lends_a_guards_only_file_the_default_upstream() {
        let dir = tempfile::tempdir().unwrap();
        let e = env(&[("MENSHEN_UPSTREAM", "http://127.0.0.1:9")]);
        let guards_only = dir.path().join("g.toml");
        std::fs::write(&guards_only, "[guards.onnx]\nenabled = false\n").unwrap();
        let s = Settings::load_offline(&guards_only, &e).unwrap();
        assert_eq!(s.routes[0].name, "default");
        assert!(s.onnx.is_none());
        // Serving still needs an upstream.
        assert_eq!(
            Settings::load(&guards_only, &e).unwrap_err().key(),
            "upstreams"
        );
        // An error in the file keeps its own line.
        let bad = dir.path().join("b.toml");
        std::fs::write(
            &bad,
            "[server]\nmax_json_depth = 0\n\n[guards.pii]\nbogus = 1\n",
        )
        .unwrap();
        let err = Settings::load_offline(&bad, &e).unwrap_err().to_string();
        assert!(err.contains("b.toml:5"), "{err}");
        // A file that names an upstream is validated as written.
        let half = dir.path().join("h.toml");
        std::fs::write(&half, "[[upstreams]]\nname = \"a\"\nurl = \"http://x\"\n").unwrap();
        assert_eq!(
            Settings::load_offline(&half, &e).unwrap_err().key(),
            "routes"
        );
    }

    #[test]
    fn configured_redaction_operators_replace_the_baselines() {
        let base = "[[upstreams]]\nname = \"a\"\nurl = \"http://x\"\n[[routes]]\nname = \"r\"\nupstream = \"a\"\n";
        let plain = Settings::from_toml("m.toml", base, &env(&[])).unwrap();
        assert!(!plain.redaction_overrides_baseline());
        let text = format!("{base}[redaction.entities]\nEMAIL = \"pseudonym\"\n");
        let s = Settings::from_toml("m.toml", &text, &env(&[])).unwrap();
        assert!(s.redaction_overrides_baseline());
        // A bundle of one's own names its operators; the threshold engine
        // names none (the config applies either way).
        let dir = format!("{text}[policy]\nbundle = \"/some/bundle\"\n");
        let s = Settings::from_toml("m.toml", &dir, &env(&[])).unwrap();
        assert!(!s.redaction_overrides_baseline());
        let t = format!("{text}[policy]\nengine = \"threshold\"\n");
        let s = Settings::from_toml("m.toml", &t, &env(&[])).unwrap();
        assert!(!s.redaction_overrides_baseline());
    }

    #[test]
    fn review_expiry_and_retention_default_bound_and_switch_off() {
        let base = "[[upstreams]]\nname = \"a\"\nurl = \"http://x\"\n[[routes]]\nname = \"r\"\nupstream = \"a\"\n";
        let s = Settings::from_toml("m.toml", base, &env(&[])).unwrap();
        assert_eq!(
            s.policy.review_expiry,
            Some(Duration::from_secs(168 * 3600))
        );
        assert_eq!(
            s.policy.review_retention,
            Some(Duration::from_secs(30 * 86_400))
        );
        let off = format!("{base}[policy]\nreview_expire_hours = 0\nreview_retention_days = 0\n");
        let s = Settings::from_toml("m.toml", &off, &env(&[])).unwrap();
        assert_eq!(
            (s.policy.review_expiry, s.policy.review_retention),
            (None, None)
        );
        for (key, value) in [
            ("review_expire_hours", 87_601),
            ("review_retention_days", 36_501),
        ] {
            let bad = format!("{base}[policy]\n{key} = {value}\n");
            let err = Settings::from_toml("m.toml", &bad, &env(&[])).unwrap_err();
            assert_eq!(err.key(), format!("policy.{key}"));
        }
    }

    #[test]
    fn output_rules_are_on_by_default_and_read_only_responses() {
        let base = "[[upstreams]]\nname = \"a\"\nurl = \"http://x\"\n[[routes]]\nname = \"r\"\nupstream = \"a\"\n";
        let s = Settings::from_toml("m.toml", base, &env(&[])).unwrap();
        assert!(s.output_rules.is_some());
        let off = format!("{base}[guards.output_rules]\nenabled = false\n");
        assert!(Settings::from_toml("m.toml", &off, &env(&[]))
            .unwrap()
            .output_rules
            .is_none());
        let bad = format!("{base}[guards.output_rules]\noutput = false\n");
        let err = Settings::from_toml("m.toml", &bad, &env(&[])).unwrap_err();
        assert_eq!(err.key(), "guards.output_rules.output");
        assert!(err.to_string().contains("enabled = false"), "{err}");
    }

    #[test]
    fn image_hosts_belong_to_the_output_rules_and_are_checked() {
        let base = "[[upstreams]]\nname = \"a\"\nurl = \"http://x\"\n[[routes]]\nname = \"r\"\nupstream = \"a\"\n";
        let ok = format!(
            "{base}[guards.output_rules]\nimage_hosts = [\"cdn.example.com\", \"*.example.org\"]\n"
        );
        let s = Settings::from_toml("m.toml", &ok, &env(&[])).unwrap();
        let hosts = s.output_rules.unwrap().image_hosts.unwrap();
        assert!(hosts.allows("cdn.example.com") && hosts.allows("a.example.org"));
        assert!(!hosts.allows("evil.example"));
        let bad = format!(
            "{base}[guards.output_rules]\nimage_hosts = [\"cdn.example.com\", \"https://evil.example/\"]\n"
        );
        let err = Settings::from_toml("m.toml", &bad, &env(&[])).unwrap_err();
        assert_eq!(err.key(), "guards.output_rules.image_hosts");
        let text = err.to_string();
        assert!(
            text.contains("m.toml:8") && text.contains("not a URL"),
            "{text}"
        );
        let elsewhere = format!("{base}[guards.pii]\nimage_hosts = [\"cdn.example.com\"]\n");
        let err = Settings::from_toml("m.toml", &elsewhere, &env(&[])).unwrap_err();
        assert_eq!(err.key(), "guards.pii.image_hosts");
    }

    #[test]
    fn passthrough_entries_must_be_canonical_paths() {
        let base = "[[upstreams]]\nname = \"a\"\nurl = \"http://x\"\n[[routes]]\nname = \"r\"\nupstream = \"a\"\n";
        for (entry, says) in [
            ("v1/models", "must start with `/`"),
            ("/v1/models/", "not end with one"),
            ("/v1/models/../files", "dot segments"),
            ("/v1/x%2Fy", "dot segments"),
        ] {
            let text = format!("{base}passthrough = [\"/api/tags\", \"{entry}\"]\n");
            let err = Settings::from_toml("m.toml", &text, &env(&[])).unwrap_err();
            assert_eq!(err.key(), "routes[0].passthrough[1]", "{entry}");
            assert!(err.to_string().contains(says), "{err}");
        }
        let ok = format!("{base}passthrough = [\"/\", \"/v1/models\"]\n");
        assert!(Settings::from_toml("m.toml", &ok, &env(&[])).is_ok());
    }

    #[test]
    fn errors_name_key_and_line() {
        let text = "[[upstreams]]\nname = \"a\"\nurl = \"ftp://x\"\n\n[[routes]]\nname = \"r\"\nupstream = \"a\"\n";
        let err = Settings::from_toml("m.toml", text, &env(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "m.toml:3: upstreams[0].url: scheme must be http, https or unix"
        );

        let text = "[[upstreams]]\nname = \"a\"\nurl = \"http://x\"\n\n[[routes]]\nname = \"r\"\nupstream = \"b\"\n";
        let err = Settings::from_toml("m.toml", text, &env(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "m.toml:7: routes[0].upstream: no upstream named `b`"
        );

        let err = Settings::from_toml("m.toml", "[server]\nlisten = 3\n", &env(&[])).unwrap_err();
        assert!(err.to_string().starts_with("m.toml:2:"), "{err}");
        let err = Settings::from_toml("m.toml", "[server]\nbogus = 1\n", &env(&[])).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let text = "[server]\nworkers = 5000\n[[upstreams]]\nname = \"a\"\nurl = \"http://x\"\n[[routes]]\nname = \"r\"\nupstream = \"a\"\n";
        let err = Settings::from_toml("m.toml", text, &env(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "m.toml:2: server.workers: must be in 0..=1024 (0: one per CPU)"
        );
        let s = Settings::from_toml("m.toml", &text.replace("5000", "3"), &env(&[])).unwrap();
        assert_eq!(s.workers, 3);
        let s = Settings::from_toml("m.toml", &text.replace("5000", "0"), &env(&[])).unwrap();
        assert!(s.workers >= 1, "0 means one per CPU");
        let err = Settings::from_toml("m.toml", "[server]\nbogus = 1\n", &env(&[])).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn routes_pick_longest_prefix_and_tenant() {
        let text = r#"
[[upstreams]]
name = "big"
url = "https://api.example.com"
api_key_env = "KEY"
[[upstreams]]
name = "small"
url = "unix:/run/llama.sock"
[[routes]]
name = "all"
upstream = "big"
[[routes]]
name = "chat"
path_prefix = "/v1/chat/"
upstream = "small"
tenants = ["acme"]
on_error = "allow"
"#;
        let s = Settings::from_toml("x", text, &env(&[("KEY", "sk-1")])).unwrap();
        assert_eq!(
            s.route_for("/v1/chat/completions", "acme").unwrap().name,
            "chat"
        );
        assert_eq!(
            s.route_for("/v1/chat/completions", "other").unwrap().name,
            "all"
        );
        assert_eq!(s.upstreams[0].api_key.as_deref(), Some("sk-1"));
        assert_eq!(
            s.upstreams[1].addr,
            UpstreamAddr::Unix("/run/llama.sock".into())
        );
        assert!(!format!("{:?}", s.upstreams[0]).contains("sk-1"));
    }
}
