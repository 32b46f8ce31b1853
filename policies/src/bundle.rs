//! Policy bundles laid out the way OPA lays them out.
//!
//! A bundle is a directory of `.rego` modules, `data.json` documents whose
//! place in `data` is their directory path (`tenants/acme/data.json` becomes
//! `data.tenants.acme`), and an optional `.manifest` with a `revision` and the
//! `roots` the bundle owns. An OPA bundle directory therefore loads unchanged,
//! and a bundle written here runs under `opa eval` / `opa test` unchanged.
//!
//! The bundle's version is a SHA-256 over the files that change behaviour
//! (modules, data, manifest), so editing a README does not change it and the
//! same content always has the same version on every node.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::PolicyError;

/// Deepest directory nesting followed; guards against symlink loops.
const MAX_DEPTH: usize = 32;

/// A loaded, not yet compiled, policy bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    origin: String,
    modules: Vec<BundleFile>,
    data: Value,
    manifest: Manifest,
    version: String,
}

/// One Rego module of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    /// Path relative to the bundle root, `/`-separated.
    pub path: String,
    /// Module source.
    pub contents: String,
}

/// The `.manifest` of an OPA bundle (unknown keys such as `metadata` are
/// accepted and ignored, as OPA does).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Manifest {
    /// Free-form revision set by whoever built the bundle.
    #[serde(default)]
    pub revision: String,
    /// Data paths (`/`-separated) this bundle owns; empty means everything.
    #[serde(default)]
    pub roots: Vec<String>,
    /// Rego syntax version: `0` for pre-1.0 syntax, otherwise v1.
    #[serde(default)]
    pub rego_version: Option<u8>,
}

// === impl Bundle ===

impl Bundle {
    /// Reads a bundle directory.
    ///
    /// Hidden files and directories are skipped except the root `.manifest`
    /// (Kubernetes ConfigMap mounts keep their real files in `..data`, reached
    /// through the visible symlinks, which are followed).
    ///
    /// # Errors
    /// [`PolicyError::Io`] when a file cannot be read, [`PolicyError::Bundle`]
    /// when a data document or the manifest is invalid.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Bundle, PolicyError> {
        let dir = dir.as_ref();
        let mut files = Vec::new();
        collect(dir, dir, 0, &mut files)?;
        Bundle::from_files(dir.display().to_string(), files)
    }

    /// Builds a bundle from in-memory `(relative path, contents)` pairs, as
    /// used for the packs embedded in the binary.
    ///
    /// # Errors
    /// [`PolicyError::Bundle`] when a data document or the manifest is invalid.
    pub fn from_files<I, P, C>(origin: impl Into<String>, files: I) -> Result<Bundle, PolicyError>
    where
        I: IntoIterator<Item = (P, C)>,
        P: Into<String>,
        C: Into<String>,
    {
        let mut files: Vec<(String, String)> = files
            .into_iter()
            .map(|(p, c)| (p.into().replace('\\', "/"), c.into()))
            .filter(|(p, _)| is_bundle_file(p))
            .collect();
        files.sort();
        files.dedup_by(|a, b| a.0 == b.0);

        let mut hasher = Sha256::new();
        for (path, contents) in &files {
            hasher.update((path.len() as u64).to_be_bytes());
            hasher.update(path.as_bytes());
            hasher.update((contents.len() as u64).to_be_bytes());
            hasher.update(contents.as_bytes());
        }
        let version = format!("sha256:{}", hex::encode(hasher.finalize()));

        let mut manifest = Manifest::default();
        let mut data = Value::Object(Map::new());
        let mut modules = Vec::new();
        for (path, contents) in files {
            if path == ".manifest" {
                manifest = serde_json::from_str(&contents).map_err(|e| PolicyError::Bundle {
                    file: path.clone(),
                    reason: e.to_string(),
                })?;
            } else if path.ends_with(".rego") {
                modules.push(BundleFile { path, contents });
            } else {
                let doc: Value =
                    serde_json::from_str(&contents).map_err(|e| PolicyError::Bundle {
                        file: path.clone(),
                        reason: e.to_string(),
                    })?;
                let prefix: Vec<&str> = path
                    .rsplit_once('/')
                    .map(|(d, _)| d.split('/').collect())
                    .unwrap_or_default();
                merge_at(&mut data, &prefix, doc).map_err(|reason| PolicyError::Bundle {
                    file: path.clone(),
                    reason,
                })?;
            }
        }
        let bundle = Bundle {
            origin: origin.into(),
            modules,
            data,
            manifest,
            version,
        };
        bundle.check_data_roots()?;
        Ok(bundle)
    }

    /// Where the bundle came from (a directory, or `embedded:<pack>`).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Content hash, `sha256:<hex>`: the policy version recorded with every decision.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The manifest (default when the bundle has none).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The Rego modules, sorted by path.
    pub fn modules(&self) -> &[BundleFile] {
        &self.modules
    }

    /// The merged data document.
    pub fn data(&self) -> &Value {
        &self.data
    }

    /// Whether `path` (a `/`- or `.`-separated data path) lies under one of
    /// the manifest's roots. A bundle without roots owns everything.
    pub fn owns(&self, path: &str) -> bool {
        let path = path.replace('.', "/");
        let path = path.trim_matches('/');
        let path = match path {
            "data" => "",
            p => p.strip_prefix("data/").unwrap_or(p),
        };
        self.roots()
            .is_none_or(|roots| roots.iter().any(|r| under(path, r)))
    }

    /// The manifest's roots, trimmed; `None` when the bundle owns everything.
    fn roots(&self) -> Option<Vec<&str>> {
        let roots: Vec<&str> = self
            .manifest
            .roots
            .iter()
            .map(|r| r.trim_matches('/'))
            .collect();
        (!roots.is_empty() && !roots.contains(&"")).then_some(roots)
    }

    fn check_data_roots(&self) -> Result<(), PolicyError> {
        let Some(roots) = self.roots() else {
            return Ok(());
        };
        // Every leaf must sit under a root; objects above a root are only the
        // path leading to it.
        let mut stack: Vec<(String, &Value)> = vec![(String::new(), &self.data)];
        while let Some((path, v)) = stack.pop() {
            if roots.iter().any(|r| under(&path, r)) {
                continue;
            }
            let leads_to_root = path.is_empty()
                || roots.iter().any(|r| {
                    r.strip_prefix(path.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
                });
            match v {
                Value::Object(m) if leads_to_root => {
                    for (k, child) in m {
                        let p = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}/{k}")
                        };
                        stack.push((p, child));
                    }
                }
                _ => {
                    return Err(PolicyError::Bundle {
                        file: ".manifest".to_owned(),
                        reason: format!("data path `{path}` is outside the manifest's roots"),
                    })
                }
            }
        }
        Ok(())
    }
}

/// Whether data path `path` equals `root` or lies below it.
fn under(path: &str, root: &str) -> bool {
    path == root
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A cheap fingerprint of a bundle directory (paths, sizes, modification
/// times) used by the file watcher to notice changes without hashing content.
///
/// # Errors
/// When the directory cannot be listed.
pub(crate) fn fingerprint(dir: &Path) -> Result<u64, PolicyError> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut entries = Vec::new();
    collect_meta(dir, dir, 0, &mut entries)?;
    entries.sort();
    let mut h = DefaultHasher::new();
    entries.hash(&mut h);
    Ok(h.finish())
}

fn is_bundle_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    path == ".manifest"
        || (name.ends_with(".rego") && !name.starts_with('.'))
        || name == "data.json"
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PolicyError + '_ {
    move |source| PolicyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, PolicyError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        out.push((name, entry.path()));
    }
    out.sort();
    Ok(out)
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn collect(
    root: &Path,
    dir: &Path,
    depth: usize,
    out: &mut Vec<(String, String)>,
) -> Result<(), PolicyError> {
    if depth > MAX_DEPTH {
        return Err(PolicyError::Bundle {
            file: relative(root, dir),
            reason: format!("directories nested deeper than {MAX_DEPTH}"),
        });
    }
    for (name, path) in sorted_entries(dir)? {
        let is_manifest = depth == 0 && name == ".manifest";
        if name.starts_with('.') && !is_manifest {
            continue;
        }
        let meta = std::fs::metadata(&path).map_err(io_err(&path))?;
        if meta.is_dir() {
            collect(root, &path, depth.saturating_add(1), out)?;
        } else if meta.is_file() {
            let rel = relative(root, &path);
            if is_bundle_file(&rel) {
                let contents = std::fs::read_to_string(&path).map_err(io_err(&path))?;
                out.push((rel, contents));
            }
        }
    }
    Ok(())
}

fn collect_meta(
    root: &Path,
    dir: &Path,
    depth: usize,
    out: &mut Vec<(String, u64, u128)>,
) -> Result<(), PolicyError> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    for (name, path) in sorted_entries(dir)? {
        if name.starts_with('.') && !(depth == 0 && name == ".manifest") {
            continue;
        }
        let Ok(meta) = std::fs::metadata(&path) else {
            // A file vanishing mid-scan (an editor's save) shows up as a
            // change on the next poll; not an error.
            continue;
        };
        if meta.is_dir() {
            collect_meta(root, &path, depth.saturating_add(1), out)?;
        } else {
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            out.push((relative(root, &path), meta.len(), mtime));
        }
    }
    Ok(())
}

/// Merges `doc` into `data` at `prefix`, object by object. Two documents may
/// share a path only where both are objects, as in OPA.
fn merge_at(data: &mut Value, prefix: &[&str], doc: Value) -> Result<(), String> {
    let mut cur = data;
    for seg in prefix {
        let Value::Object(map) = cur else {
            return Err(format!("`{seg}` lies under a non-object value"));
        };
        cur = map
            .entry((*seg).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    merge(cur, doc, &prefix.join("/"))
}

fn merge(into: &mut Value, doc: Value, at: &str) -> Result<(), String> {
    match (into, doc) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) => merge(existing, v, &format!("{at}/{k}"))?,
                    None => {
                        a.insert(k, v);
                    }
                }
            }
            Ok(())
        }
        (into, doc) if into.as_object().is_some_and(Map::is_empty) => {
            *into = doc;
            Ok(())
        }
        _ => Err(format!("conflicting data documents at `{at}`")),
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn data_documents_nest_by_directory() {
        let b = Bundle::from_files(
            "t",
            [
                ("data.json", r#"{"a": {"x": 1}}"#),
                ("a/b/data.json", r#"{"y": 2}"#),
                ("p.rego", "package p"),
                ("README.md", "ignored"),
            ],
        )
        .unwrap();
        assert_eq!(b.data()["a"]["x"], 1);
        assert_eq!(b.data()["a"]["b"]["y"], 2);
        assert_eq!(b.modules().len(), 1);
    }

    #[test]
    fn conflicting_leaves_are_rejected() {
        let e = Bundle::from_files(
            "t",
            [("data.json", r#"{"a": 1}"#), ("a/data.json", r#"{"b": 2}"#)],
        )
        .unwrap_err();
        assert!(matches!(e, PolicyError::Bundle { .. }), "{e}");
    }

    #[test]
    fn version_ignores_non_policy_files_and_order() {
        let a = Bundle::from_files("a", [("p.rego", "package p"), ("README.md", "x")]).unwrap();
        let b = Bundle::from_files("b", [("README.md", "y"), ("p.rego", "package p")]).unwrap();
        let c = Bundle::from_files("c", [("p.rego", "package p\n")]).unwrap();
        assert_eq!(a.version(), b.version());
        assert_ne!(a.version(), c.version());
        assert!(a.version().starts_with("sha256:"));
    }

    #[test]
    fn data_outside_roots_is_rejected() {
        let manifest = r#"{"revision": "r1", "roots": ["menshen"]}"#;
        let ok = Bundle::from_files(
            "t",
            [
                (".manifest", manifest),
                ("menshen/data.json", r#"{"k": 1}"#),
            ],
        )
        .unwrap();
        assert_eq!(ok.manifest().revision, "r1");
        assert!(ok.owns("data.menshen.decision"));
        assert!(!ok.owns("other"));
        assert!(!ok.owns("data.menshenx"));
        assert!(
            !ok.owns("data.database"),
            "only a leading `data` segment is stripped"
        );
        assert!(ok.owns("menshen/config"));
        let bad = Bundle::from_files(
            "t",
            [(".manifest", manifest), ("other/data.json", r#"{"k": 1}"#)],
        );
        assert!(bad.is_err());
    }

    #[test]
    fn reads_directories_and_skips_hidden() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("x/.git")).unwrap();
        std::fs::write(dir.path().join("x/p.rego"), "package x").unwrap();
        std::fs::write(dir.path().join("x/data.json"), r#"{"v": true}"#).unwrap();
        std::fs::write(dir.path().join("x/.git/q.rego"), "garbage").unwrap();
        let b = Bundle::from_dir(dir.path()).unwrap();
        assert_eq!(b.modules().len(), 1);
        assert_eq!(b.modules()[0].path, "x/p.rego");
        assert_eq!(b.data()["x"]["v"], true);
        let f1 = fingerprint(dir.path()).unwrap();
        std::fs::write(dir.path().join("x/p.rego"), "package x\n").unwrap();
        assert_ne!(f1, fingerprint(dir.path()).unwrap());
    }
}
