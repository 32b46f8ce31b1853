//! Secrets: provider API keys and tokens, PEM private keys, JWTs, and
//! high-entropy values assigned to words like "password", "token" or "密码".
//!
//! Like the PII detector, one multi-pattern regex pass proposes candidates
//! and validators decide (entropy, JWT header decoding, provider key shapes),
//! so cost is linear in the text. Findings carry detector id `secrets`,
//! category `OWASP-LLM-2025:LLM02` and an entity name from [`SecretKind`];
//! evidence never contains the secret. A value assigned to a keyword that
//! turns out to be a provider key is reported under the provider's name.
//!
//! ```
//! use menshen_classifiers::secrets::SecretsDetector;
//!
//! let d = SecretsDetector::new().unwrap();
//! let f = d.scan_text("export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE");
//! assert_eq!(f[0].entity.as_deref(), Some("AWS_ACCESS_KEY"));
//! ```

use std::fmt;

use aho_corasick::{dfa, MatchKind};
use base64::Engine as _;
use futures::FutureExt;
use regex_automata::meta::Regex;
use regex_automata::{Anchored, Input};

use crate::pii::validate_entropy as entropy;
use crate::walk::Walker;
use crate::{Category, Detector, Finding, ScanFuture, Segment, Span};

/// Detector id used in findings.
pub const DETECTOR_ID: &str = "secrets";

/// The longest span one secret finding can cover, in bytes (a PEM-encoded
/// 4096-bit RSA key is about 3.3 KB).
pub const MAX_MATCH_BYTES: usize = 8192;

/// A kind of secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SecretKind {
    /// AWS access key id (`AKIA...`, `ASIA...`).
    AwsAccessKey,
    /// GitHub personal, OAuth, app or refresh token (`ghp_`, `github_pat_`, ...).
    GithubToken,
    /// OpenAI API key (`sk-...`, `sk-proj-...`).
    OpenaiApiKey,
    /// Anthropic API key (`sk-ant-api03-...`).
    AnthropicApiKey,
    /// Slack token (`xoxb-`, `xoxp-`, ...) or incoming-webhook URL.
    SlackToken,
    /// Google API key (`AIza...`).
    GoogleApiKey,
    /// Stripe secret or restricted key (`sk_live_`, `rk_live_`, test keys).
    StripeKey,
    /// A PEM private key block.
    PrivateKey,
    /// A JSON Web Token.
    Jwt,
    /// A password, token or key value assigned to a keyword.
    GenericSecret,
}

impl SecretKind {
    /// Stable upper-snake-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SecretKind::AwsAccessKey => "AWS_ACCESS_KEY",
            SecretKind::GithubToken => "GITHUB_TOKEN",
            SecretKind::OpenaiApiKey => "OPENAI_API_KEY",
            SecretKind::AnthropicApiKey => "ANTHROPIC_API_KEY",
            SecretKind::SlackToken => "SLACK_TOKEN",
            SecretKind::GoogleApiKey => "GOOGLE_API_KEY",
            SecretKind::StripeKey => "STRIPE_KEY",
            SecretKind::PrivateKey => "PRIVATE_KEY",
            SecretKind::Jwt => "JWT",
            SecretKind::GenericSecret => "GENERIC_SECRET",
        }
    }
}

impl fmt::Display for SecretKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pat {
    PrivateKey,
    Anthropic,
    OpenAi,
    Aws,
    Github,
    Slack,
    SlackWebhook,
    Google,
    Stripe,
    Jwt,
    Bearer,
    Keyword,
}

/// Key characters of provider tokens, for the "not followed by more key"
/// check that `\b` cannot express for keys containing `-`.
fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

const PATTERNS: &[(Pat, &str)] = &[
    (
        Pat::PrivateKey,
        r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----",
    ),
    (
        Pat::Anthropic,
        r"(?-u:\b)sk-ant-(?:api|admin|oat)\d{2}-[A-Za-z0-9_\-]{20,}",
    ),
    (
        Pat::OpenAi,
        r"(?-u:\b)sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,}",
    ),
    (
        Pat::Aws,
        r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA|AIPA|ANPA|ANVA|AGPA)[A-Z2-7]{16}(?-u:\b)",
    ),
    (
        Pat::Github,
        r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82})(?-u:\b)",
    ),
    (Pat::Slack, r"(?-u:\b)xox[abposr]-[0-9A-Za-z\-]{10,}"),
    (
        Pat::SlackWebhook,
        r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{20,}",
    ),
    (Pat::Google, r"(?-u:\b)AIza[0-9A-Za-z_\-]{35}"),
    (
        Pat::Stripe,
        r"(?-u:\b)(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,}",
    ),
    (
        Pat::Jwt,
        r"(?-u:\b)eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{16,}",
    ),
    (
        Pat::Bearer,
        r"(?i)(?-u:\b)bearer\s+[A-Za-z0-9\-._~+/]{16,}=*",
    ),
    (
        Pat::Keyword,
        r#"(?i)(?:password|passwd|passcode|pwd|secret|token|api[_\-]?key|access[_\-]?key|private[_\-]?key|client[_\-]?secret|credentials?|密码|口令|密钥|秘钥|令牌)["']?\s{0,3}(?:[:=：]|(?-u:\b)is(?-u:\b)|是|为|為)\s{0,3}["']?[A-Za-z0-9!#$%&()*+\-./:;<>?@^_{|}~=]{6}"#,
    ),
];

/// Literals of which every match of every pattern in [`PATTERNS`] contains
/// at least one, compared ASCII-case-insensitively: a text holding none of
/// them (nor a [`FOLD_HAZARDS`] char) cannot match, and its scan is skipped.
/// Keep in step with [`PATTERNS`], pattern by pattern:
const GATE_LITERALS: &[&str] = &[
    // PrivateKey
    "-----BEGIN ",
    // Anthropic, OpenAi
    "sk-",
    // Aws
    "AKIA",
    "ASIA",
    "ABIA",
    "ACCA",
    "AIDA",
    "AROA",
    "AIPA",
    "ANPA",
    "ANVA",
    "AGPA",
    // Github
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    // Slack ("xox[abposr]-") and SlackWebhook
    "xox",
    "https://hooks.slack.com/services/T",
    // Google
    "AIza",
    // Stripe
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "rk_test_",
    // Jwt
    "eyJ",
    // Bearer
    "bearer",
    // Keyword: password|passwd|passcode, pwd, secret (and client[_-]?secret),
    // token, api/access/private[_-]?key, credentials?, and the CJK words.
    "pass",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "accesskey",
    "access_key",
    "access-key",
    "privatekey",
    "private_key",
    "private-key",
    "credential",
    "密码",
    "口令",
    "密钥",
    "秘钥",
    "令牌",
];

/// The non-ASCII chars that Unicode case folding (the `(?i)` of the
/// `Bearer` and `Keyword` patterns) equates with an ASCII letter: LATIN SMALL
/// LETTER LONG S (`s`) and KELVIN SIGN (`k`). An ASCII-case-insensitive
/// literal misses `paſſword`, so a text holding either is always scanned
/// (a test checks that no other char folds onto ASCII).
const FOLD_HAZARDS: &[&str] = &["\u{17F}", "\u{212A}"];

/// Longest value read after a secret keyword, in bytes.
const MAX_VALUE: usize = 256;

/// Bytes a keyword-assigned value may contain (printable ASCII without
/// quotes, commas, backquotes and backslashes).
fn is_value_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&()*+-./:;<>?@^_{|}~=".contains(&b)
}

/// Why the secrets detector could not be built (a bug in built-in patterns).
#[derive(Debug, thiserror::Error)]
pub enum SecretsBuildError {
    /// The candidate patterns did not compile.
    #[error("secrets candidate patterns: {0}")]
    Patterns(#[from] Box<regex_automata::meta::BuildError>),
    /// The literal gate did not build.
    #[error("secrets literal gate: {0}")]
    Gate(#[from] aho_corasick::BuildError),
    /// The literal gate's automaton did not fit the walk's table.
    #[error("secrets literal gate: automaton too large for its table")]
    GateTable,
}

/// The secrets detector (id `secrets`).
#[derive(Debug)]
pub struct SecretsDetector {
    regex: Regex,
    /// [`GATE_LITERALS`] and [`FOLD_HAZARDS`]: without a hit, no pattern
    /// can match and the regex pass is skipped. Walked with the rule
    /// scanner's lockstep table walk, about twice as fast on prose as
    /// aho-corasick's own search (which has no prefilter for
    /// case-insensitive literals).
    gate: Walker,
}

impl SecretsDetector {
    /// Compiles the patterns.
    ///
    /// # Errors
    /// Only if the built-in patterns fail to compile (a bug, caught by tests).
    pub fn new() -> Result<Self, SecretsBuildError> {
        let pats: Vec<&str> = PATTERNS.iter().map(|(_, p)| *p).collect();
        let dfa = dfa::Builder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(GATE_LITERALS.iter().chain(FOLD_HAZARDS))?;
        let gate = Walker::new(&dfa).ok_or(SecretsBuildError::GateTable)?;
        Ok(SecretsDetector {
            regex: Regex::new_many(&pats).map_err(Box::new)?,
            gate,
        })
    }

    /// Scans `text` synchronously; spans are in order and non-overlapping.
    pub fn scan_text(&self, text: &str) -> Vec<Finding> {
        // Most prompts hold no secret-shaped literal at all: one literal
        // search then replaces the multi-pattern regex pass (whose
        // case-insensitive keywords leave it without a prefilter).
        if self.gate.triggers(text.as_bytes()).is_empty() {
            return Vec::new();
        }
        self.scan_candidates(text)
    }

    /// The regex pass proper: every candidate, validated.
    fn scan_candidates(&self, text: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut pos = 0usize;
        while pos < text.len() {
            let Some(m) = self.regex.search(&Input::new(text).range(pos..)) else {
                break;
            };
            let pat = PATTERNS
                .get(m.pattern().as_usize())
                .map_or(Pat::Keyword, |(p, _)| *p);
            let span = Span::new(m.start(), m.end());
            let next = match self.candidate(text, pat, span) {
                Some((kind, sp, score, why)) => {
                    out.push(
                        Finding::new(DETECTOR_ID, Category::SENSITIVE_INFO, score)
                            .with_entity(kind.as_str())
                            .with_rule(kind.as_str().to_ascii_lowercase())
                            .with_span(sp)
                            .with_evidence(format!("{}: {why}", kind.as_str())),
                    );
                    sp.end.max(m.end())
                }
                None => m.end(),
            };
            pos = next.max(m.start().saturating_add(1));
            while pos < text.len() && !text.is_char_boundary(pos) {
                pos = pos.saturating_add(1);
            }
        }
        out
    }

    fn candidate(
        &self,
        text: &str,
        pat: Pat,
        span: Span,
    ) -> Option<(SecretKind, Span, f32, &'static str)> {
        let s = text.get(span.start..span.end)?;
        let glued = text
            .as_bytes()
            .get(span.end)
            .is_some_and(|b| is_key_char(*b));
        match pat {
            Pat::PrivateKey => Some((
                SecretKind::PrivateKey,
                Span::new(span.start, pem_end(text, span.end)),
                0.99,
                "pem private key header",
            )),
            Pat::Keyword => self.keyword(text, span),
            Pat::Bearer => {
                let tok = s.split_whitespace().nth(1)?;
                let start = span.end.checked_sub(tok.len())?;
                (entropy(tok) >= 3.0).then_some((
                    SecretKind::GenericSecret,
                    Span::new(start, span.end),
                    0.8,
                    "bearer token",
                ))
            }
            _ if glued => None,
            other => provider(other, s).map(|(k, score, why)| (k, span, score, why)),
        }
    }

    /// A value assigned to a secret-ish keyword.
    fn keyword(&self, text: &str, span: Span) -> Option<(SecretKind, Span, f32, &'static str)> {
        let s = text.get(span.start..span.end)?;
        // The candidate ends six (ASCII) value bytes into the value; extend
        // it here, bounded, rather than with an unbounded regex repetition
        // that would let one keyword swallow the rest of a hostile text.
        let start = span.end.checked_sub(6)?;
        let len = text
            .as_bytes()
            .get(start..)?
            .iter()
            .take(MAX_VALUE)
            .take_while(|b| is_value_byte(**b))
            .count();
        let v = text.get(start..start.checked_add(len)?)?;
        // Trailing sentence punctuation is not part of the value.
        let trimmed = v.trim_end_matches(['.', ',', ';', ')', ':']);
        let vspan = Span::new(start, start.checked_add(trimmed.len())?);
        // A provider key assigned to a keyword keeps its provider's name.
        let anchored = Input::new(text)
            .range(vspan.start..vspan.end)
            .anchored(Anchored::Yes);
        if let Some(m) = self.regex.search(&anchored) {
            let pat = PATTERNS.get(m.pattern().as_usize()).map(|(p, _)| *p);
            if let Some(p) =
                pat.filter(|p| !matches!(p, Pat::Keyword | Pat::Bearer | Pat::PrivateKey))
            {
                if let Some((k, score, why)) =
                    text.get(m.start()..m.end()).and_then(|t| provider(p, t))
                {
                    return Some((k, Span::new(m.start(), m.end()), score, why));
                }
            }
        }
        let lower = s.to_ascii_lowercase();
        let password_kw = ["pass", "pwd", "密码", "口令"]
            .iter()
            .any(|k| lower.contains(k));
        if !plausible_value(trimmed) {
            return None;
        }
        if password_kw {
            (classes(trimmed) >= 2 && trimmed.len() >= 6).then_some((
                SecretKind::GenericSecret,
                vspan,
                0.75,
                "value assigned to password keyword",
            ))
        } else {
            (trimmed.len() >= 16 && entropy(trimmed) >= 3.0 && classes(trimmed) >= 2).then_some((
                SecretKind::GenericSecret,
                vspan,
                0.8,
                "high-entropy value assigned to key/token keyword",
            ))
        }
    }
}

/// Validates a provider-specific candidate.
fn provider(pat: Pat, s: &str) -> Option<(SecretKind, f32, &'static str)> {
    match pat {
        Pat::Anthropic => Some((SecretKind::AnthropicApiKey, 0.95, "anthropic key prefix")),
        Pat::OpenAi => {
            let body = s.trim_start_matches("sk-");
            if s.contains("T3BlbkFJ") {
                Some((SecretKind::OpenaiApiKey, 0.95, "openai key marker"))
            } else if entropy(body) >= 3.5
                && classes(body) >= 2
                && body.bytes().any(|b| b.is_ascii_digit())
                && !body.contains("--")
            {
                // Random keys always mix in digits; "sk-this-is-a-long-name"
                // does not.
                let score = if body.len() >= 40 { 0.9 } else { 0.7 };
                Some((
                    SecretKind::OpenaiApiKey,
                    score,
                    "openai key prefix, high entropy",
                ))
            } else {
                None
            }
        }
        Pat::Aws => Some((SecretKind::AwsAccessKey, 0.9, "aws key id prefix")),
        Pat::Github => {
            (entropy(s) >= 3.5).then_some((SecretKind::GithubToken, 0.95, "github token prefix"))
        }
        Pat::Slack => (s.len() >= 24 && entropy(s) >= 3.0).then_some((
            SecretKind::SlackToken,
            0.9,
            "slack token prefix",
        )),
        Pat::SlackWebhook => Some((SecretKind::SlackToken, 0.9, "slack webhook url")),
        Pat::Google => Some((SecretKind::GoogleApiKey, 0.9, "google api key prefix")),
        Pat::Stripe => {
            let score = if s.contains("_live_") { 0.95 } else { 0.7 };
            Some((SecretKind::StripeKey, score, "stripe key prefix"))
        }
        Pat::Jwt => {
            let header = s.split('.').next()?;
            let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(header.trim_end_matches('='))
                .ok()?;
            let json: serde_json::Value = serde_json::from_slice(&decoded).ok()?;
            if json.get("alg").is_some() {
                Some((SecretKind::Jwt, 0.9, "jwt header with alg"))
            } else {
                Some((SecretKind::Jwt, 0.6, "jwt shape"))
            }
        }
        Pat::PrivateKey | Pat::Bearer | Pat::Keyword => None,
    }
}

/// End of a PEM block starting before `from`: after the matching `-----END
/// ... -----` line, or, in a truncated stream, after the base64 body.
fn pem_end(text: &str, from: usize) -> usize {
    let limit = from.saturating_add(MAX_MATCH_BYTES).min(text.len());
    let mut lim = limit;
    while lim > from && !text.is_char_boundary(lim) {
        lim = lim.saturating_sub(1);
    }
    let Some(window) = text.get(from..lim) else {
        return from;
    };
    if let Some(i) = window.find("-----END ") {
        let after = i.saturating_add(9);
        if let Some(j) = window.get(after..).and_then(|w| w.find("-----")) {
            return from
                .saturating_add(after)
                .saturating_add(j)
                .saturating_add(5);
        }
    }
    let body = window
        .bytes()
        .take_while(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'+' | b'/' | b'=' | b'\n' | b'\r' | b' ' | b':' | b'-' | b','
                )
        })
        .count();
    from.saturating_add(body)
}

/// Number of character classes (lower, upper, digit, other) in `s`.
fn classes(s: &str) -> usize {
    let has = |f: fn(&u8) -> bool| usize::from(s.bytes().any(|b| f(&b)));
    has(u8::is_ascii_lowercase)
        .saturating_add(has(u8::is_ascii_uppercase))
        .saturating_add(has(u8::is_ascii_digit))
        .saturating_add(has(|b| !b.is_ascii_alphanumeric()))
}

/// Rejects placeholders and templates: `<password>`, `${TOKEN}`, `****`,
/// `[GENERIC_SECRET_1]`, `xxxxxx`, `your_api_key`.
fn plausible_value(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    let first = v.bytes().next();
    let distinct = {
        let mut seen = [false; 256];
        v.bytes().for_each(|b| {
            if let Some(s) = seen.get_mut(usize::from(b)) {
                *s = true;
            }
        });
        seen.iter().filter(|s| **s).count()
    };
    !matches!(first, Some(b'<' | b'$' | b'{' | b'[' | b'*' | b'%'))
        && distinct >= 4
        && ![
            "your",
            "example",
            "placeholder",
            "changeme",
            "redacted",
            "xxxx",
        ]
        .iter()
        .any(|p| lower.contains(p))
}

impl Detector for SecretsDetector {
    fn id(&self) -> &str {
        DETECTOR_ID
    }

    fn scan<'a>(&'a self, segment: Segment<'a>) -> ScanFuture<'a> {
        std::future::ready(Ok(self.scan_text(segment.text))).boxed()
    }

    fn max_match_bytes(&self) -> Option<usize> {
        Some(MAX_MATCH_BYTES)
    }
}

#[cfg(test)]
mod tests;
