//! `ggufembed._native`: the engine behind the `ggufembed` Python package.
//!
//! The Python layer (`python/ggufembed/__init__.py`) owns the sentence-transformers-style
//! argument handling and the `precision` quantization; this module owns everything that touches
//! the model: opening (and pulling) it, tokenizing, and embedding in batches with the GIL
//! released.
//!
//! Threads: one [`model::Embedder`] per [`Engine`], behind a `Mutex` that is only ever taken
//! with the GIL released (inside `py.detach`), so a thread waiting for the engine never blocks
//! another one that needs the GIL to finish: no lock-order deadlock is possible. The lock is
//! held for one batch at a time; between batches the calling thread re-attaches and checks for
//! signals, so Ctrl-C interrupts a long `encode` with `KeyboardInterrupt`.
//!
//! Vectors equal the `ggufembed embed` CLI's bit for bit: inputs go through the same
//! `Embedder::prepare` (prompt, title, dims, truncation) and `Embedder::embed_tokens`, and each
//! vector is independent of the batch it was computed in.

use model::{Embedder, EmbedderOptions, Input, ModelError, ModelInfo, TokenInput};
use numpy::{IntoPyArray, PyArray2, PyArrayMethods};
use pyo3::exceptions::{PyFileNotFoundError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// The loaded model. Python sees it as `ggufembed._native.Engine`; users see the wrapper
/// `ggufembed.Embedder`.
#[pyclass(module = "ggufembed._native", frozen)]
struct Engine {
    embedder: Mutex<Embedder>,
    /// A copy of the embedder's facts (immutable after opening), readable without the lock.
    info: ModelInfo,
    path: PathBuf,
    /// Most tokens per input (BOS/EOS and prompt included), `1..=n_ctx`; longer inputs are
    /// truncated like sentence-transformers' `max_seq_length`.
    max_tokens: AtomicUsize,
}

/// Turns an engine error into the Python exception its kind calls for: `ValueError` for bad
/// options and inputs (unknown prompt, unsupported dims, a title with another prompt, a token id
/// out of range), `FileNotFoundError` for a missing file, `RuntimeError` for everything else. The
/// message is the engine's.
fn py_err(e: ModelError) -> PyErr {
    fn is_value_error(e: &ModelError) -> bool {
        match e {
            ModelError::UnknownPrompt { .. }
            | ModelError::TitleWithPrompt { .. }
            | ModelError::BadDims { .. }
            | ModelError::TooLong { .. }
            | ModelError::TokenOutOfRange { .. }
            | ModelError::EmptyTokens => true,
            ModelError::Input { source, .. } => is_value_error(source),
            _ => false,
        }
    }
    let not_found = matches!(&e, ModelError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound);
    let msg = e.to_string();
    if not_found {
        PyFileNotFoundError::new_err(msg)
    } else if is_value_error(&e) {
        PyValueError::new_err(msg)
    } else {
        PyRuntimeError::new_err(msg)
    }
}

fn pull_err(e: pull::PullError) -> PyErr {
    PyRuntimeError::new_err(format!("pull: {e}"))
}

/// Model names `pull` knows (`ggufembed models`), the default first.
fn known_names() -> Vec<&'static str> {
    pull::MODELS.iter().map(|m| m.name).collect()
}

/// A registry name (None = the default model) to its cached file, pulled on first use with
/// progress on stderr.
fn pull_name(name: Option<&str>) -> PyResult<PathBuf> {
    let known = match name {
        None => pull::registry::default_model(),
        Some(n) => pull::lookup(n).map_err(|e| PyValueError::new_err(e.to_string()))?,
    };
    let cache = pull::default_cache_dir();
    if let Some(p) = pull::cached(&cache, known) {
        return Ok(p);
    }
    eprintln!(
        "ggufembed: the model {} is not in {} yet; fetching it once (like `ggufembed pull`)",
        known.name,
        cache.display()
    );
    pull::ensure_model(
        &pull::PullOptions::for_model(cache, known),
        &convert::StderrProgress::new(),
    )
    .map_err(pull_err)
}

/// `model` as the user gave it: `None` (the default model), a path to a GGUF file, or a
/// registry name.
fn resolve(model: Option<&str>) -> PyResult<PathBuf> {
    let Some(m) = model else {
        return pull_name(None);
    };
    let path = Path::new(m);
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    if path.is_dir() {
        return Err(PyValueError::new_err(format!(
            "{m}: is a directory, not a GGUF file (convert a Hugging Face directory with `ggufembed convert`)"
        )));
    }
    let looks_like_path = m.contains(std::path::MAIN_SEPARATOR)
        || m.contains('/')
        || m.to_ascii_lowercase().ends_with(".gguf");
    if !looks_like_path && known_names().iter().any(|k| k.eq_ignore_ascii_case(m)) {
        return pull_name(Some(m));
    }
    Err(PyFileNotFoundError::new_err(format!(
        "{m}: no such file, and not a known model name (known names: {}; None = the default model)",
        known_names().join(", ")
    )))
}

/// Locks the engine; a panic in an earlier call (a bug) makes the engine unusable, not the
/// process.
fn lock(m: &Mutex<Embedder>) -> PyResult<MutexGuard<'_, Embedder>> {
    m.lock().map_err(|_| {
        PyRuntimeError::new_err(
            "the engine is unusable after an internal error in an earlier call; create a new Embedder",
        )
    })
}

/// Progress of an `encode` on stderr: inputs, tokens/s, ETA.
struct Progress {
    bar: indicatif::ProgressBar,
    start: Instant,
    tokens: usize,
}

impl Progress {
    fn new(total: usize) -> Progress {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "Batches {bar:30} {pos}/{len} inputs  {msg}  ETA {eta}",
            )
            .expect("valid progress template"),
        );
        Progress {
            bar,
            start: Instant::now(),
            tokens: 0,
        }
    }

    fn advance(&mut self, items: usize, tokens: usize) {
        self.tokens += tokens;
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        self.bar
            .set_message(format!("{:.0} tokens/s", self.tokens as f64 / secs));
        self.bar.inc(items as u64);
    }
}

impl Engine {
    /// Tokenizes one input (prompt, title, dims) and cuts it to `max_tokens`.
    fn prepare(
        &self,
        e: &Embedder,
        input: &Input,
        max_tokens: usize,
    ) -> Result<TokenInput, ModelError> {
        let mut t = e.prepare(input)?;
        if tokenizer::truncate(&mut t.ids, max_tokens, e.tokenizer().eos_id()) {
            t.truncated = true;
        }
        Ok(t)
    }

    fn input(
        text: &str,
        prompt: &Option<String>,
        title: &Option<String>,
        dims: Option<usize>,
        normalize: bool,
    ) -> Input {
        Input {
            text: text.to_string(),
            prompt_name: prompt.clone(),
            title: title.clone(),
            dims,
            normalize,
            ..Input::default()
        }
    }
}

/// `Option<Vec<T>>` of length `n` or `None`: one value per input.
fn per_input<T>(what: &str, v: &Option<Vec<T>>, n: usize) -> PyResult<()> {
    match v {
        Some(v) if v.len() != n => Err(PyValueError::new_err(format!(
            "{what} has {} entries for {n} sentences; give one per sentence",
            v.len()
        ))),
        _ => Ok(()),
    }
}

#[pymethods]
impl Engine {
    /// Opens `model` (a GGUF path, a registry name, or None for the default model, pulled on
    /// first use) with `threads` kernel threads (0 = all cores) and at most `max_tokens` tokens
    /// per input (None = the model's context).
    #[new]
    #[pyo3(signature = (model=None, threads=0, max_tokens=None))]
    fn new(
        py: Python<'_>,
        model: Option<String>,
        threads: usize,
        max_tokens: Option<usize>,
    ) -> PyResult<Engine> {
        let opts = EmbedderOptions {
            threads,
            ..EmbedderOptions::default()
        };
        let (path, embedder) = py.detach(|| -> PyResult<(PathBuf, Embedder)> {
            let path = resolve(model.as_deref())?;
            let e = Embedder::open(&path, &opts).map_err(|e| match e {
                ModelError::Io { .. } => py_err(e),
                other => PyRuntimeError::new_err(format!("{}: {other}", path.display())),
            })?;
            Ok((path, e))
        })?;
        let info = embedder.info().clone();
        let engine = Engine {
            embedder: Mutex::new(embedder),
            max_tokens: AtomicUsize::new(info.n_ctx),
            info,
            path,
        };
        if let Some(m) = max_tokens {
            engine.set_max_tokens(m)?;
        }
        Ok(engine)
    }

    /// The GGUF file in use (absolute when it came from the cache).
    #[getter]
    fn path(&self) -> String {
        self.path.display().to_string()
    }

    /// Output sizes `dims` may take, full size first (e.g. [768, 512, 256, 128]).
    #[getter]
    fn supported_dims(&self) -> Vec<usize> {
        self.info.dims.clone()
    }

    /// Most tokens per input, BOS/EOS and prompt included; longer inputs are truncated.
    #[getter]
    fn max_tokens(&self) -> usize {
        self.max_tokens.load(Ordering::Relaxed)
    }

    #[setter]
    fn set_max_tokens(&self, tokens: usize) -> PyResult<()> {
        if !(2..=self.info.n_ctx).contains(&tokens) {
            return Err(PyValueError::new_err(format!(
                "max_tokens {tokens} is out of range: 2 to {} (the model's context)",
                self.info.n_ctx
            )));
        }
        self.max_tokens.store(tokens, Ordering::Relaxed);
        Ok(())
    }

    /// Prompt names and the text each prepends, in the model's order.
    #[getter]
    fn prompts(&self) -> Vec<(String, String)> {
        self.info.prompts.clone()
    }

    /// Facts about the model, with the keys of the HTTP server's `/info` where they apply.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let i = &self.info;
        let d = PyDict::new(py);
        let model_id = self
            .path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        d.set_item("model_id", model_id)?;
        d.set_item("path", self.path())?;
        d.set_item("name", i.name.clone())?;
        d.set_item("arch", &i.arch)?;
        d.set_item("dims", i.dims[0])?;
        d.set_item("supported_dims", i.dims.clone())?;
        d.set_item("n_embd", i.n_embd)?;
        d.set_item("n_layer", i.n_layer)?;
        d.set_item("max_input_length", i.n_ctx)?;
        d.set_item("max_seq_length", self.max_tokens())?;
        d.set_item("n_vocab", i.n_vocab)?;
        d.set_item("quantization", &i.weight_type)?;
        d.set_item("token_embd_type", &i.token_embd_type)?;
        d.set_item("dense_head", i.has_head)?;
        let prompts = PyDict::new(py);
        for (k, v) in &i.prompts {
            prompts.set_item(k, v)?;
        }
        d.set_item("prompts", prompts)?;
        d.set_item("threads", i.threads)?;
        d.set_item("packed_bytes", i.packed_bytes)?;
        d.set_item("scratch_bytes", i.scratch_bytes)?;
        d.set_item("warnings", i.warnings.clone())?;
        d.set_item("version", env!("CARGO_PKG_VERSION"))?;
        Ok(d)
    }

    /// Token ids the encoder sees for each text (BOS/EOS and the prompt included, truncated to
    /// `max_tokens`).
    #[pyo3(signature = (texts, prompt_names=None, titles=None))]
    fn tokenize(
        &self,
        py: Python<'_>,
        texts: Vec<String>,
        prompt_names: Option<Vec<Option<String>>>,
        titles: Option<Vec<Option<String>>>,
    ) -> PyResult<Vec<Vec<u32>>> {
        per_input("prompt_name", &prompt_names, texts.len())?;
        per_input("titles", &titles, texts.len())?;
        let max_tokens = self.max_tokens();
        py.detach(|| {
            let e = lock(&self.embedder)?;
            texts
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let p = prompt_names.as_ref().and_then(|v| v[i].clone());
                    let title = titles.as_ref().and_then(|v| v[i].clone());
                    let input = Engine::input(t, &p, &title, None, true);
                    self.prepare(&e, &input, max_tokens)
                        .map(|t| t.ids)
                        .map_err(|err| {
                            py_err(ModelError::Input {
                                index: i,
                                source: Box::new(err),
                            })
                        })
                })
                .collect()
        })
    }

    /// Embeds `texts` in batches of `batch_size`, returning float32 `(len(texts), dims)`.
    /// `prompt_names` / `titles`: one entry per text, or None. Options are checked before any
    /// compute; a bad input raises `ValueError` naming its index.
    #[pyo3(signature = (texts, prompt_names=None, titles=None, dims=None, normalize=true, batch_size=32, progress=false))]
    #[allow(clippy::too_many_arguments)]
    fn embed<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
        prompt_names: Option<Vec<Option<String>>>,
        titles: Option<Vec<Option<String>>>,
        dims: Option<usize>,
        normalize: bool,
        batch_size: usize,
        progress: bool,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let n = texts.len();
        per_input("prompt_name", &prompt_names, n)?;
        per_input("titles", &titles, n)?;
        if batch_size == 0 {
            return Err(PyValueError::new_err("batch_size must be at least 1"));
        }
        let dim = dims.unwrap_or(self.info.n_embd);
        let max_tokens = self.max_tokens();
        let prompt_of = |i: usize| prompt_names.as_ref().and_then(|v| v[i].clone());
        let title_of = |i: usize| titles.as_ref().and_then(|v| v[i].clone());

        // Every distinct (prompt, has title) pair once, before any compute: a typo in a prompt
        // name fails at once, not after an hour of embedding.
        let mut seen: Vec<(Option<String>, bool)> = Vec::new();
        for i in 0..n {
            let key = (prompt_of(i), title_of(i).is_some());
            if !seen.contains(&key) {
                seen.push(key);
            }
        }
        if seen.is_empty() {
            seen.push((None, false));
        }
        py.detach(|| -> PyResult<()> {
            let e = lock(&self.embedder)?;
            for (p, has_title) in &seen {
                let title = has_title.then(String::new);
                e.prepare(&Engine::input("", p, &title, dims, normalize))
                    .map_err(py_err)?;
            }
            Ok(())
        })?;

        let mut out: Vec<f32> = Vec::with_capacity(n * dim); // [n, dim]
        let mut bar = (progress && n > 0).then(|| Progress::new(n));
        let mut start = 0;
        while start < n {
            let end = (start + batch_size).min(n);
            let n_tokens = py.detach(|| -> PyResult<usize> {
                let mut e = lock(&self.embedder)?;
                let prepared = (start..end)
                    .map(|i| {
                        let input =
                            Engine::input(&texts[i], &prompt_of(i), &title_of(i), dims, normalize);
                        self.prepare(&e, &input, max_tokens).map_err(|err| {
                            py_err(ModelError::Input {
                                index: i,
                                source: Box::new(err),
                            })
                        })
                    })
                    .collect::<PyResult<Vec<_>>>()?;
                let vectors = e.embed_tokens(&prepared).map_err(py_err)?;
                let mut n_tokens = 0;
                for v in &vectors {
                    out.extend_from_slice(&v.vector);
                    n_tokens += v.n_tokens;
                }
                Ok(n_tokens)
            })?;
            if let Some(b) = bar.as_mut() {
                b.advance(end - start, n_tokens);
            }
            start = end;
            py.check_signals()?;
        }
        if let Some(b) = bar {
            b.bar.finish_and_clear();
        }
        debug_assert_eq!(out.len(), n * dim);
        out.into_pyarray(py).reshape([n, dim])
    }
}

/// `pull(name=None) -> str`: makes sure a model is in the cache (fetching it on first use, with
/// progress on stderr) and returns its path. `None` = the default model.
#[pyfunction]
#[pyo3(name = "pull", signature = (name=None))]
fn pull_model(py: Python<'_>, name: Option<String>) -> PyResult<String> {
    py.detach(|| pull_name(name.as_deref()))
        .map(|p| p.display().to_string())
}

/// Registry names `pull` and `Embedder` accept.
#[pyfunction]
fn model_names() -> Vec<&'static str> {
    known_names()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_function(wrap_pyfunction!(pull_model, m)?)?;
    m.add_function(wrap_pyfunction!(model_names, m)?)?;
    m.add("DEFAULT_MODEL", pull::registry::default_model().name)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
