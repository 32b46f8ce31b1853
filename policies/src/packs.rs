//! Policy packs compiled into the binary.
//!
//! Only `baseline` is embedded: it is the default policy when none is
//! configured, so a fresh install is protected without any file on disk. The
//! other packs ship as directories under `policies/packs/` to be copied and
//! adapted. A test checks that the embedded file list matches the directory,
//! so the two cannot drift apart.

use crate::{Bundle, PolicyError};

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
}
