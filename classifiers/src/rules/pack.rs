//! Rule pack files: parsing, validation and the load error type.

use std::error::Error as StdError;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use crate::Category;

/// Which segments a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RuleScope {
    /// Every segment.
    #[default]
    Any,
    /// Only untrusted content (tool results, documents, tool descriptions):
    /// phrasing that is ordinary from a user ("the assistant must now ...")
    /// is an attack when it arrives inside data.
    Untrusted,
}

/// One rule as written in a pack file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable id, unique across all loaded packs (e.g. `override.ignore_previous`).
    pub id: String,
    /// What the rule detects and why it is suspicious.
    #[serde(default)]
    pub description: String,
    /// Versioned category id (`OWASP-LLM-2025:LLM01`).
    pub category: String,
    /// Languages the rule is written for (`en`, `zh`, `any`); informational.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Score of a match in `0.0..=1.0`.
    pub weight: f32,
    /// Score of a match in untrusted content; defaults to `weight`.
    #[serde(default)]
    pub untrusted_weight: Option<f32>,
    /// Which segments the rule applies to.
    #[serde(default)]
    pub scope: RuleScope,
    /// A regex matched against the lowercase normalized view (regex crate
    /// syntax: linear time, no backreferences or lookaround).
    #[serde(default)]
    pub pattern: Option<String>,
    /// Literal phrases, normalized like the text; ASCII words match on word
    /// boundaries.
    #[serde(default)]
    pub phrases: Vec<String>,
}

/// Pack metadata.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackMeta {
    /// Pack id (e.g. `injection.en`).
    pub id: String,
    /// What the pack covers.
    #[serde(default)]
    pub description: String,
}

/// A parsed, validated rule pack.
#[derive(Debug, Clone, PartialEq)]
pub struct RulePack {
    /// Where it came from (file name or `builtin:<name>`), for error messages.
    pub source: String,
    /// Metadata.
    pub meta: PackMeta,
    /// Rules in file order.
    pub rules: Vec<RuleSpec>,
    /// The file text, kept so a rule set's version hash covers it.
    pub(crate) text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPack {
    pack: PackMeta,
    #[serde(default, rename = "rule")]
    rules: Vec<RuleSpec>,
}

/// Why loading a rule pack or keyword list failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PackErrorKind {
    /// The file could not be read.
    Io,
    /// The file is not valid TOML or does not match the schema.
    Syntax,
    /// A rule's regex does not compile.
    InvalidPattern,
    /// A rule has neither `pattern` nor `phrases`.
    NoMatcher,
    /// Two rules share an id.
    DuplicateId,
    /// A weight is outside `0.0..=1.0`.
    InvalidWeight,
    /// A category id is empty or has no taxonomy prefix.
    InvalidCategory,
    /// A rule or list id is empty.
    EmptyId,
    /// The combined automaton or regex set could not be built.
    Build,
}

impl PackErrorKind {
    /// Stable snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            PackErrorKind::Io => "io",
            PackErrorKind::Syntax => "syntax",
            PackErrorKind::InvalidPattern => "invalid_pattern",
            PackErrorKind::NoMatcher => "no_matcher",
            PackErrorKind::DuplicateId => "duplicate_id",
            PackErrorKind::InvalidWeight => "invalid_weight",
            PackErrorKind::InvalidCategory => "invalid_category",
            PackErrorKind::EmptyId => "empty_id",
            PackErrorKind::Build => "build",
        }
    }
}

impl fmt::Display for PackErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule pack or keyword list failed to load. Names the file and, where
/// there is one, the rule.
#[derive(Debug, thiserror::Error)]
pub struct PackError {
    file: String,
    rule: Option<String>,
    kind: PackErrorKind,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(rule) = &self.rule {
            write!(f, ": rule {rule}")?;
        }
        write!(f, ": {}", self.kind)?;
        if let Some(src) = &self.source {
            write!(f, ": {src}")?;
        }
        Ok(())
    }
}

impl PackError {
    pub(crate) fn new(file: impl Into<String>, rule: Option<&str>, kind: PackErrorKind) -> Self {
        PackError {
            file: file.into(),
            rule: rule.map(str::to_owned),
            kind,
            source: None,
        }
    }

    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> PackErrorKind {
        self.kind
    }

    /// The file (or `builtin:<name>`) that failed.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The rule id, when one rule is at fault.
    pub fn rule(&self) -> Option<&str> {
        self.rule.as_deref()
    }
}

/// The default packs, compiled into the binary so a deployment without rule
/// files still has them.
const BUILTIN: &[(&str, &str)] = &[
    (
        "injection_en.toml",
        include_str!("../../rules/injection_en.toml"),
    ),
    (
        "injection_zh.toml",
        include_str!("../../rules/injection_zh.toml"),
    ),
    (
        "jailbreak_en.toml",
        include_str!("../../rules/jailbreak_en.toml"),
    ),
    (
        "jailbreak_zh.toml",
        include_str!("../../rules/jailbreak_zh.toml"),
    ),
    ("leakage.toml", include_str!("../../rules/leakage.toml")),
    ("indirect.toml", include_str!("../../rules/indirect.toml")),
];

// === impl RulePack ===

impl RulePack {
    /// Parses and validates one pack. `source` names it in errors.
    ///
    /// # Errors
    /// [`PackErrorKind::Syntax`] for bad TOML or unknown fields, and the
    /// validation kinds for a bad rule (naming the rule). Regexes are
    /// compiled when the packs are combined into a detector.
    pub fn parse(source: &str, text: &str) -> Result<Self, PackError> {
        let raw: RawPack = toml::from_str(text)
            .map_err(|e| PackError::new(source, None, PackErrorKind::Syntax).with_source(e))?;
        for r in &raw.rules {
            validate(source, r)?;
        }
        Ok(RulePack {
            source: source.to_owned(),
            meta: raw.pack,
            rules: raw.rules,
            text: text.to_owned(),
        })
    }

    /// Reads and parses one pack file.
    ///
    /// # Errors
    /// [`PackErrorKind::Io`] when the file cannot be read, else as [`RulePack::parse`].
    pub fn load_file(path: &Path) -> Result<Self, PackError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| PackError::new(name.clone(), None, PackErrorKind::Io).with_source(e))?;
        RulePack::parse(&name, &text)
    }

    /// Loads every `*.toml` file in `dir`, in file-name order.
    ///
    /// # Errors
    /// The first file that fails, as [`RulePack::load_file`].
    pub fn load_dir(dir: &Path) -> Result<Vec<Self>, PackError> {
        let name = dir.display().to_string();
        let io = |e: std::io::Error| {
            PackError::new(name.clone(), None, PackErrorKind::Io).with_source(e)
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        paths.iter().map(|p| RulePack::load_file(p)).collect()
    }

    /// The packs bundled into the binary.
    ///
    /// # Errors
    /// Only if a bundled pack is invalid, which the crate's tests rule out.
    pub fn builtin() -> Result<Vec<Self>, PackError> {
        BUILTIN
            .iter()
            .map(|(name, text)| RulePack::parse(&format!("builtin:{name}"), text))
            .collect()
    }
}

fn validate(source: &str, r: &RuleSpec) -> Result<(), PackError> {
    let err = |kind| Err(PackError::new(source, Some(&r.id), kind));
    if r.id.trim().is_empty() {
        return err(PackErrorKind::EmptyId);
    }
    let weights = [Some(r.weight), r.untrusted_weight];
    if weights.iter().flatten().any(|w| !(0.0..=1.0).contains(w)) {
        return err(PackErrorKind::InvalidWeight);
    }
    if !valid_category(&r.category) {
        return err(PackErrorKind::InvalidCategory);
    }
    let has_phrase = r.phrases.iter().any(|p| !p.trim().is_empty());
    if r.pattern.as_deref().is_none_or(|p| p.trim().is_empty()) && !has_phrase {
        return err(PackErrorKind::NoMatcher);
    }
    Ok(())
}

/// `TAXONOMY:ID` with both parts non-empty.
pub(crate) fn valid_category(c: &str) -> bool {
    c.split_once(':')
        .is_some_and(|(t, id)| !t.trim().is_empty() && !id.trim().is_empty())
}

impl RuleSpec {
    /// The category as the shared type.
    pub fn category(&self) -> Category {
        Category::new(self.category.clone())
    }
}
