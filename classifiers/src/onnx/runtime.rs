//! Loading the ONNX Runtime shared library and building sessions.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::ep::{self, ExecutionProvider as _};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;

use super::config::{ExecutionProvider, PoolConfig};
use super::error::{OnnxError, OnnxErrorKind};

/// The env var the `ort` ecosystem uses for the library path.
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// Where `scripts/setup-onnx.sh` installs the library, relative to the repo root.
pub const VENDOR_DYLIB: &str = "vendor/onnxruntime/lib/libonnxruntime.so";

/// The library is process-global: ONNX Runtime can be loaded once. This
/// remembers which file, so a second request for another file is a clear
/// error instead of silently using the first.
static LOADED: OnceLock<(PathBuf, Environment)> = OnceLock::new();

/// A loaded ONNX Runtime. Cheap to clone; all clones share the one library
/// and environment.
#[derive(Debug, Clone)]
pub struct OnnxRuntime {
    library: PathBuf,
    env: Environment,
}

impl OnnxRuntime {
    /// Picks the library path: the configured one, else `ORT_DYLIB_PATH`
    /// (looked up through `env`, so only the binary touches the process
    /// environment), else the vendored default under `repo_root`.
    pub fn resolve_library(
        configured: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        repo_root: &Path,
    ) -> PathBuf {
        if let Some(p) = configured {
            return p.to_path_buf();
        }
        if let Some(p) = env(ORT_DYLIB_ENV).filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        repo_root.join(VENDOR_DYLIB)
    }

    /// Loads the library at `library` (once per process).
    ///
    /// # Errors
    /// [`OnnxErrorKind::LibraryNotFound`] when the file does not exist;
    /// [`OnnxErrorKind::LibraryInvalid`] when it cannot be loaded, is too old,
    /// or another library file was already loaded into this process.
    pub fn load(library: &Path) -> Result<Self, OnnxError> {
        if let Some((loaded, env)) = LOADED.get() {
            return Self::reuse(loaded, env, library);
        }
        if !library.is_file() {
            return Err(OnnxError::at(
                OnnxErrorKind::LibraryNotFound,
                library,
                "ONNX Runtime library not found; run scripts/setup-onnx.sh or set the library path",
            ));
        }
        let builder = ort::init_from(library)
            .map_err(|e| OnnxError::at(OnnxErrorKind::LibraryInvalid, library, e.to_string()))?;
        let env = builder
            .with_name("menshen")
            .build()
            .map_err(|e| OnnxError::at(OnnxErrorKind::LibraryInvalid, library, e.to_string()))?;
        let (loaded, env) = LOADED.get_or_init(|| (canonical(library), env));
        Self::reuse(loaded, env, library)
    }

    fn reuse(loaded: &Path, env: &Environment, wanted: &Path) -> Result<Self, OnnxError> {
        if loaded != canonical(wanted) {
            return Err(OnnxError::at(
                OnnxErrorKind::LibraryInvalid,
                wanted,
                format!(
                    "a different ONNX Runtime library is already loaded in this process ({})",
                    loaded.display()
                ),
            ));
        }
        Ok(OnnxRuntime {
            library: loaded.to_path_buf(),
            env: env.clone(),
        })
    }

    /// The library file in use.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// Builds one session for `model` with the pool's provider and threads.
    /// A CUDA request on a library or machine without CUDA falls back to
    /// the CPU with a warning, so a mis-provisioned GPU node degrades instead
    /// of failing to start.
    ///
    /// # Errors
    /// [`OnnxErrorKind::ModelNotFound`] or [`OnnxErrorKind::ModelInvalid`],
    /// naming the model file.
    pub(crate) fn session(&self, model: &Path, pool: &PoolConfig) -> Result<Session, OnnxError> {
        if !model.is_file() {
            return Err(OnnxError::at(
                OnnxErrorKind::ModelNotFound,
                model,
                "model file not found",
            ));
        }
        let invalid =
            |e: ort::Error| OnnxError::at(OnnxErrorKind::ModelInvalid, model, e.to_string());
        let builder = Session::builder(&self.env)
            .map_err(invalid)?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| invalid(e.into()))?
            .with_intra_threads(pool.intra_threads)
            .map_err(|e| invalid(e.into()))?;
        let mut builder = builder;
        if let ExecutionProvider::Cuda { device_id } = pool.provider {
            let available = ep::CUDA::is_available().unwrap_or(false);
            let registered = if available {
                builder
                    .clone()
                    .with_execution_providers([ep::CUDA::default()
                        .with_device_id(device_id)
                        .build()
                        .error_on_failure()])
                    .map_err(|e| e.to_string())
            } else {
                Err("this ONNX Runtime build has no CUDA execution provider".to_string())
            };
            match registered {
                Ok(b) => {
                    tracing::info!(
                        onnx.provider = "cuda",
                        onnx.device_id = device_id,
                        "using CUDA execution provider"
                    );
                    builder = b;
                }
                Err(reason) => {
                    tracing::warn!(onnx.provider = "cpu", onnx.device_id = device_id, reason = %reason,
                        "CUDA execution provider unavailable; falling back to CPU");
                }
            }
        }
        builder.commit_from_file(model).map_err(invalid)
    }
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}
