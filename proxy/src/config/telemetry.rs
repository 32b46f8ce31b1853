//! `[telemetry]`: OpenTelemetry traces over OTLP/HTTP (JSON encoding).
//!
//! Telemetry is off unless an endpoint is known: `telemetry.otlp_endpoint`,
//! else `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (a full URL, used as is), else
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL, like the config key). Header
//! values (collector auth) come from environment variables named in the
//! file, never from the file itself, and are never logged.

use std::collections::BTreeMap;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::Uri;
use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Env, Source};

const fn default_sample_ratio() -> f64 {
    1.0
}
const fn default_timeout_ms() -> u64 {
    10_000
}
const fn default_queue_capacity() -> usize {
    4096
}
const fn default_batch_size() -> usize {
    512
}
const fn default_flush_interval_ms() -> u64 {
    1_000
}
const fn default_service_name() -> &'static str {
    "menshen"
}

/// `[telemetry]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    /// Set to `false` to keep telemetry off even when the `OTEL_*` endpoint
    /// variables are set.
    #[serde(default = "super::default_true")]
    pub enabled: bool,
    /// OTLP/HTTP base URL, `http://host:port` (or `https://`); spans are
    /// POSTed to `<endpoint>/v1/traces`.
    #[serde(default)]
    pub otlp_endpoint: Option<Spanned<String>>,
    /// `service.name` of the exported resource (default `menshen`, or
    /// `OTEL_SERVICE_NAME`).
    #[serde(default)]
    pub service_name: Option<Spanned<String>>,
    /// Fraction of new traces sampled, 0..=1 (default 1). A request that
    /// carries a `traceparent` follows its caller's sampled flag instead.
    #[serde(default)]
    pub sample_ratio: Option<Spanned<f64>>,
    /// Extra request headers for the collector: header name → name of the
    /// env var holding its value (e.g. `authorization = "OTLP_AUTH"`).
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// Time allowed for one export request, in milliseconds (default 10 000).
    #[serde(default)]
    pub timeout_ms: Option<Spanned<u64>>,
    /// Spans queued for export, in spans (default 4096); when full, new
    /// spans are dropped and counted, never waited for.
    #[serde(default)]
    pub queue_capacity: Option<Spanned<usize>>,
    /// Spans per export request, in spans (default 512): a batch is sent
    /// when it is this large or `flush_interval_ms` has passed.
    #[serde(default)]
    pub batch_size: Option<Spanned<usize>>,
    /// Longest time a span waits in the batch, in milliseconds (default 1000).
    #[serde(default)]
    pub flush_interval_ms: Option<Spanned<u64>>,
}

impl Default for RawTelemetry {
    fn default() -> Self {
        RawTelemetry {
            enabled: true,
            otlp_endpoint: None,
            service_name: None,
            sample_ratio: None,
            headers: BTreeMap::new(),
            timeout_ms: None,
            queue_capacity: None,
            batch_size: None,
            flush_interval_ms: None,
        }
    }
}

/// Validated telemetry settings; present only when traces are exported.
#[derive(Clone)]
pub struct TelemetrySettings {
    /// Where spans are POSTed (`…/v1/traces`).
    pub traces_url: Uri,
    /// `service.name`.
    pub service_name: String,
    /// Sampling ratio for new traces, 0..=1.
    pub sample_ratio: f64,
    /// Extra headers for the collector; values are marked sensitive.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Per-export timeout.
    pub timeout: Duration,
    /// Queue length, in spans.
    pub queue_capacity: usize,
    /// Batch size, in spans.
    pub batch_size: usize,
    /// Longest wait before a partial batch is sent.
    pub flush_interval: Duration,
}

impl std::fmt::Debug for TelemetrySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values are collector credentials: names only.
        f.debug_struct("TelemetrySettings")
            .field("traces_url", &self.traces_url)
            .field("service_name", &self.service_name)
            .field("sample_ratio", &self.sample_ratio)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("queue_capacity", &self.queue_capacity)
            .field("batch_size", &self.batch_size)
            .field("flush_interval", &self.flush_interval)
            .finish()
    }
}

/// Checks a collector URL: http(s), a host, no query.
fn parse_endpoint(s: &str) -> Result<Uri, String> {
    let uri: Uri = s.trim().parse().map_err(|e| format!("not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err("scheme must be http or https".to_owned()),
    }
    if uri.authority().is_none() {
        return Err("URL has no host".to_owned());
    }
    if uri.query().is_some() {
        return Err("URL must not have a query".to_owned());
    }
    Ok(uri)
}

/// `base` + `/v1/traces`, keeping any base path (`http://c:4318/otlp` →
/// `http://c:4318/otlp/v1/traces`).
fn traces_url(base: &Uri) -> Result<Uri, String> {
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map_or("", |a| a.as_str());
    let path = base.path().trim_end_matches('/');
    format!("{scheme}://{authority}{path}/v1/traces")
        .parse()
        .map_err(|e| format!("not a URL: {e}"))
}

/// Parses `k=v,k2=v2` (W3C Baggage-style, values percent-decoded) into
/// sensitive header values; `None` when any pair is invalid.
fn parse_header_list(list: &str) -> Option<Vec<(HeaderName, HeaderValue)>> {
    let mut out = Vec::new();
    for pair in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=')?;
        let name = HeaderName::from_bytes(k.trim().as_bytes()).ok()?;
        let mut value = HeaderValue::from_bytes(&percent_decode(v.trim())?).ok()?;
        value.set_sensitive(true);
        out.push((name, value));
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Some(out)
}

fn positive<T: Copy + PartialOrd + Default>(
    v: Option<&Spanned<T>>,
    default: T,
    key: &str,
    src: &Source<'_>,
) -> Result<T, ConfigError> {
    match v {
        None => Ok(default),
        Some(s) if *s.get_ref() > T::default() => Ok(*s.get_ref()),
        Some(s) => Err(ConfigError::new(key, "must be > 0").at(src, s.span())),
    }
}

/// Validates `[telemetry]`; `Ok(None)` when no endpoint is configured or
/// telemetry is disabled.
pub(super) fn validate(
    raw: &RawTelemetry,
    src: &Source<'_>,
    env: &dyn Env,
) -> Result<Option<TelemetrySettings>, ConfigError> {
    if !raw.enabled {
        return Ok(None);
    }
    let traces_url = match &raw.otlp_endpoint {
        Some(e) => {
            let base = parse_endpoint(e.get_ref())
                .map_err(|m| ConfigError::new("telemetry.otlp_endpoint", m).at(src, e.span()))?;
            traces_url(&base)
                .map_err(|m| ConfigError::new("telemetry.otlp_endpoint", m).at(src, e.span()))?
        }
        None => {
            let from_env = |var: &str| env.var(var).filter(|v| !v.trim().is_empty());
            if let Some(v) = from_env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
                parse_endpoint(&v).map_err(|m| {
                    ConfigError::new(
                        "telemetry.otlp_endpoint",
                        format!("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: {m}"),
                    )
                })?
            } else if let Some(v) = from_env("OTEL_EXPORTER_OTLP_ENDPOINT") {
                parse_endpoint(&v)
                    .and_then(|b| traces_url(&b))
                    .map_err(|m| {
                        ConfigError::new(
                            "telemetry.otlp_endpoint",
                            format!("OTEL_EXPORTER_OTLP_ENDPOINT: {m}"),
                        )
                    })?
            } else {
                return Ok(None);
            }
        }
    };
    let service_name = match &raw.service_name {
        Some(s) if s.get_ref().trim().is_empty() => {
            return Err(
                ConfigError::new("telemetry.service_name", "must not be empty").at(src, s.span()),
            )
        }
        Some(s) => s.get_ref().trim().to_owned(),
        None => env
            .var("OTEL_SERVICE_NAME")
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default_service_name().to_owned()),
    };
    let sample_ratio = match &raw.sample_ratio {
        None => default_sample_ratio(),
        Some(r) if (0.0..=1.0).contains(r.get_ref()) => *r.get_ref(),
        Some(r) => {
            return Err(
                ConfigError::new("telemetry.sample_ratio", "must be within 0..=1")
                    .at(src, r.span()),
            )
        }
    };
    let mut headers = Vec::with_capacity(raw.headers.len());
    for (name, var) in &raw.headers {
        let key = format!("telemetry.headers.{name}");
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            ConfigError::new(&key, "not a valid HTTP header name").at(src, var.span())
        })?;
        let value = env
            .var(var.get_ref())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                ConfigError::new(
                    &key,
                    format!("environment variable {} is not set", var.get_ref()),
                )
                .at(src, var.span())
            })?;
        // The value is a secret: the error names the variable, not its content.
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            ConfigError::new(
                &key,
                format!(
                    "environment variable {} is not a valid header value",
                    var.get_ref()
                ),
            )
            .at(src, var.span())
        })?;
        value.set_sensitive(true);
        headers.push((header, value));
    }
    // `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,k2=v2`, values percent-encoded)
    // adds headers the file does not name. Errors name the variable only:
    // its content is a credential.
    for var in [
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    ] {
        let Some(list) = env.var(var).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        for (name, value) in parse_header_list(&list).ok_or_else(|| {
            ConfigError::new(
                "telemetry.headers",
                format!(
                    "{var} is not a list of name=value pairs with valid header names and values"
                ),
            )
        })? {
            if !headers.iter().any(|(n, _)| *n == name) {
                headers.push((name, value));
            }
        }
    }
    let timeout_ms = positive(
        raw.timeout_ms.as_ref(),
        default_timeout_ms(),
        "telemetry.timeout_ms",
        src,
    )?;
    let queue_capacity = positive(
        raw.queue_capacity.as_ref(),
        default_queue_capacity(),
        "telemetry.queue_capacity",
        src,
    )?;
    let batch_size = positive(
        raw.batch_size.as_ref(),
        default_batch_size(),
        "telemetry.batch_size",
        src,
    )?;
    let flush_interval_ms = positive(
        raw.flush_interval_ms.as_ref(),
        default_flush_interval_ms(),
        "telemetry.flush_interval_ms",
        src,
    )?;
    Ok(Some(TelemetrySettings {
        traces_url,
        service_name,
        sample_ratio,
        headers,
        timeout: Duration::from_millis(timeout_ms),
        queue_capacity,
        batch_size: batch_size.min(queue_capacity),
        flush_interval: Duration::from_millis(flush_interval_ms),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    const BASE: &str = r#"
[[upstreams]]
name = "main"
url = "http://127.0.0.1:9"

[[routes]]
name = "default"
upstream = "main"
"#;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn load(section: &str, e: &BTreeMap<String, String>) -> Result<Settings, ConfigError> {
        Settings::from_toml("t.toml", &format!("{BASE}\n{section}"), e)
    }

    #[test]
    fn telemetry_is_off_without_an_endpoint() {
        let s = load("", &env(&[])).unwrap();
        assert!(s.telemetry.is_none());
        let s = load("[telemetry]\nservice_name = \"x\"\n", &env(&[])).unwrap();
        assert!(s.telemetry.is_none());
    }

    #[test]
    fn telemetry_defaults_and_traces_path() {
        let s = load(
            "[telemetry]\notlp_endpoint = \"http://collector:4318/\"\n",
            &env(&[]),
        )
        .unwrap();
        let t = s.telemetry.unwrap();
        assert_eq!(t.traces_url.to_string(), "http://collector:4318/v1/traces");
        assert_eq!(t.service_name, "menshen");
        assert!((t.sample_ratio - 1.0).abs() < f64::EPSILON);
        assert_eq!(t.queue_capacity, 4096);
        assert_eq!(t.batch_size, 512);
        assert_eq!(t.flush_interval, Duration::from_secs(1));
        assert_eq!(t.timeout, Duration::from_secs(10));
    }

    #[test]
    fn telemetry_endpoint_comes_from_otel_env_when_the_file_is_silent() {
        let s = load(
            "",
            &env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/otlp")]),
        )
        .unwrap();
        assert_eq!(
            s.telemetry.unwrap().traces_url.to_string(),
            "http://c:4318/otlp/v1/traces"
        );
        // The signal-specific variable is a full URL and wins.
        let s = load(
            "",
            &env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1234/custom"),
                ("OTEL_SERVICE_NAME", "edge-proxy"),
            ]),
        )
        .unwrap();
        let t = s.telemetry.unwrap();
        assert_eq!(t.traces_url.to_string(), "http://t:1234/custom");
        assert_eq!(t.service_name, "edge-proxy");
        // The file wins over the environment; `enabled = false` wins over both.
        let s = load(
            "[telemetry]\notlp_endpoint = \"http://file:4318\"\n",
            &env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]),
        )
        .unwrap();
        assert_eq!(
            s.telemetry.unwrap().traces_url.to_string(),
            "http://file:4318/v1/traces"
        );
        let s = load(
            "[telemetry]\nenabled = false\n",
            &env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]),
        )
        .unwrap();
        assert!(s.telemetry.is_none());
    }

    #[test]
    fn telemetry_errors_name_file_line_and_key() {
        let cases = [
            ("otlp_endpoint = \"ftp://c\"", "telemetry.otlp_endpoint"),
            (
                "otlp_endpoint = \"http://c\"\nsample_ratio = 1.5",
                "telemetry.sample_ratio",
            ),
            (
                "otlp_endpoint = \"http://c\"\ntimeout_ms = 0",
                "telemetry.timeout_ms",
            ),
            (
                "otlp_endpoint = \"http://c\"\nqueue_capacity = 0",
                "telemetry.queue_capacity",
            ),
            (
                "otlp_endpoint = \"http://c\"\nbatch_size = 0",
                "telemetry.batch_size",
            ),
            (
                "otlp_endpoint = \"http://c\"\nflush_interval_ms = 0",
                "telemetry.flush_interval_ms",
            ),
            (
                "otlp_endpoint = \"http://c\"\nservice_name = \" \"",
                "telemetry.service_name",
            ),
            (
                "otlp_endpoint = \"http://c\"\n[telemetry.headers]\nauthorization = \"MISSING\"",
                "telemetry.headers.authorization",
            ),
            (
                "otlp_endpoint = \"http://c\"\n[telemetry.headers]\n\"bad header\" = \"TOKEN\"",
                "telemetry.headers.bad header",
            ),
        ];
        for (section, key) in cases {
            let err = load(
                &format!("[telemetry]\n{section}\n"),
                &env(&[("TOKEN", "t")]),
            )
            .unwrap_err();
            assert_eq!(err.key(), key, "{section}");
            assert!(err.to_string().starts_with("t.toml:"), "{err}");
        }
        let err = load("", &env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "nope")])).unwrap_err();
        assert_eq!(err.key(), "telemetry.otlp_endpoint");
        assert!(err.to_string().contains("OTEL_EXPORTER_OTLP_ENDPOINT"));
    }

    #[test]
    fn the_commented_example_block_is_valid_once_uncommented() {
        let example = include_str!("../../../examples/menshen.toml");
        let block = example
            .split_once("# [telemetry]")
            .map(|(_, rest)| format!("[telemetry]{rest}"))
            .unwrap();
        let section: String = block
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let s = load(&section, &env(&[("OTLP_AUTH", "Bearer t")])).unwrap();
        let t = s.telemetry.unwrap();
        assert_eq!(t.traces_url.to_string(), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(t.headers.len(), 1);
    }

    #[test]
    fn otel_headers_env_adds_headers_the_file_does_not_name() {
        let s = load(
            "[telemetry]\notlp_endpoint = \"http://c\"\n[telemetry.headers]\nauthorization = \"OTLP_AUTH\"\n",
            &env(&[
                ("OTLP_AUTH", "Bearer from-file"),
                (
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "authorization=Bearer%20from-env, x-tenant = a%2Cb",
                ),
            ]),
        )
        .unwrap();
        let t = s.telemetry.unwrap();
        assert_eq!(t.headers.len(), 2);
        assert_eq!(t.headers[0].1, "Bearer from-file");
        assert_eq!(t.headers[1].0, "x-tenant");
        assert_eq!(t.headers[1].1, "a,b");
        assert!(t.headers[1].1.is_sensitive());
        let err = load(
            "[telemetry]\notlp_endpoint = \"http://c\"\n",
            &env(&[("OTEL_EXPORTER_OTLP_HEADERS", "no-equals-sign-secret")]),
        )
        .unwrap_err();
        assert_eq!(err.key(), "telemetry.headers");
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn telemetry_header_values_come_from_env_and_are_never_printed() {
        let s = load(
            "[telemetry]\notlp_endpoint = \"http://c\"\n[telemetry.headers]\nauthorization = \"OTLP_AUTH\"\n",
            &env(&[("OTLP_AUTH", "Bearer very-secret-token")]),
        )
        .unwrap();
        let t = s.telemetry.unwrap();
        assert_eq!(t.headers.len(), 1);
        assert!(t.headers[0].1.is_sensitive());
        assert_eq!(t.headers[0].1, "Bearer very-secret-token");
        let shown = format!("{t:?}");
        assert!(!shown.contains("very-secret-token"), "{shown}");
        assert!(shown.contains("authorization"));
    }
}
