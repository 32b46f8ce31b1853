//! Policy packs compiled into the binary.
//!
//! Only `baseline` is embedded: it is the default policy when none is
//! configured, so a fresh install is protected without any file on disk. The
//! other packs ship as directories under `policies/packs/` to be copied and
//! adapted. A test checks that the embedded file list matches the directory,
//! so the two cannot drift apart.

use std::collections::BTreeMap;
use std::path::Path;

use menshen_classifiers::{Category, PhraseListDetector};

use crate::{Bundle, PolicyError};

/// Where a pack keeps its keyword libraries, relative to the pack root.
pub const KEYWORDS_FILE: &str = "keywords/terms.json";

/// The files of `policies/packs/baseline`, relative to the pack root.
pub const BASELINE_FILES: &[(&str, &str)] = &[
    (".manifest", include_str!("../packs/baseline/.manifest")),
    (
        "menshen/config/data.json",
        include_str!("../packs/baseline/menshen/config/data.json"),
    ),
    (
        "menshen/decision.rego",
        include_str!("../packs/baseline/menshen/decision.rego"),
    ),
    (
        "menshen/decision_test.rego",
        include_str!("../packs/baseline/menshen/decision_test.rego"),
    ),
];

/// Names of the packs shipped in `policies/packs/`.
pub const SHIPPED_PACKS: &[&str] = &[
    "baseline",
    "pii-gdpr",
    "cn-genai",
    "examples/financial-cs",
    "examples/medical-assistant",
    "examples/model-routing",
];

/// The embedded `baseline` pack as a bundle.
///
/// # Errors
/// Only if the embedded files are invalid, which the crate's tests rule out.
pub fn baseline() -> Result<Bundle, PolicyError> {
    Bundle::from_files("embedded:baseline", BASELINE_FILES.iter().copied())
}

/// Reads a pack's keyword libraries (`keywords/terms.json`: category id →
/// phrases; keys starting with `_` are comments). A pack without the file
/// has none. The lists feed the Rust phrase matcher, never Rego: matching a
/// large list inside Rego would cost milliseconds per request.
///
/// # Errors
/// When the file exists but is unreadable or not a map of string lists.
pub fn keyword_lists(
    pack_dir: impl AsRef<Path>,
) -> Result<BTreeMap<String, Vec<String>>, PolicyError> {
    let path = pack_dir.as_ref().join(KEYWORDS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => return Err(PolicyError::Io { path, source }),
    };
    let raw: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| PolicyError::Bundle {
            file: KEYWORDS_FILE.to_owned(),
            reason: e.to_string(),
        })?;
    raw.into_iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| {
            serde_json::from_value::<Vec<String>>(v)
                .map(|list| (k.clone(), list))
                .map_err(|e| PolicyError::Bundle {
                    file: KEYWORDS_FILE.to_owned(),
                    reason: format!("{k}: {e}"),
                })
        })
        .collect()
}

/// One phrase detector per category of a pack's keyword libraries, with id
/// `keywords:<category>` and the given score, ready for the detector pipeline.
///
/// # Errors
/// As [`keyword_lists`], or when a list cannot be compiled.
pub fn keyword_detectors(
    pack_dir: impl AsRef<Path>,
    score: f32,
) -> Result<Vec<PhraseListDetector>, PolicyError> {
    keyword_lists(pack_dir)?
        .into_iter()
        .map(|(category, phrases)| {
            PhraseListDetector::new(
                format!("keywords:{category}"),
                Category::new(category.clone()),
                score,
                phrases,
            )
            .map_err(|e| PolicyError::Bundle {
                file: KEYWORDS_FILE.to_owned(),
                reason: format!("{category}: {e}"),
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn embedded_baseline_matches_the_directory() {
        let dir = Bundle::from_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/packs/baseline")).unwrap();
        let embedded = baseline().unwrap();
        assert_eq!(dir.version(), embedded.version(), "update BASELINE_FILES");
    }

    #[test]
    fn cn_genai_keywords_load_into_phrase_detectors() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/packs/cn-genai");
        let lists = keyword_lists(dir).unwrap();
        assert!(lists.keys().all(|k| k.starts_with("GBT45654:A.")));
        let dets = keyword_detectors(dir, 0.9).unwrap();
        assert_eq!(dets.len(), lists.len());
        // Every keyword category is one of the 31 risks the pack decides on.
        let data: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{dir}/menshen/config/data.json")).unwrap(),
        )
        .unwrap();
        for k in lists.keys() {
            assert!(data["cn_genai"]["risks"].get(k).is_some(), "{k}");
        }
        assert!(
            keyword_lists(concat!(env!("CARGO_MANIFEST_DIR"), "/packs/baseline"))
                .unwrap()
                .is_empty()
        );
    }
}
