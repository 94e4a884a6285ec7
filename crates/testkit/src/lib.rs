//! Test support shared by the crates' integration tests: where the real model is, and loaders
//! for the reference data in `tests/data/`. Never used by the engine itself.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Root of the repository (`tests/data` lives there).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Path of a file under `tests/data/`.
pub fn data_path(name: &str) -> PathBuf {
    repo_root().join("tests/data").join(name)
}

/// The model cache: `$GGUFEMBED_HOME`, else `~/.cache/ggufembed` (same rule as `ggufembed pull`).
pub fn cache_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("GGUFEMBED_HOME") {
        return PathBuf::from(h);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".cache/ggufembed")
}

fn model_from(var: &str, default_name: &str, how: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    let p = cache_dir().join(default_name);
    assert!(
        p.is_file(),
        "test model not found: set {var} or run `{how}` first (scripts/test.sh does this); looked for {}",
        p.display()
    );
    p
}

/// The canonical Q8_0 GGUF (from `ggufembed pull`), or `$GGUFEMBED_MODEL`.
pub fn q8_0_model() -> PathBuf {
    model_from(
        "GGUFEMBED_MODEL",
        "embeddinggemma-300M-Q8_0.gguf",
        "ggufembed pull",
    )
}

/// An F32 GGUF (from `ggufembed convert --outtype f32`), or `$GGUFEMBED_MODEL_F32`.
pub fn f32_model() -> PathBuf {
    model_from(
        "GGUFEMBED_MODEL_F32",
        "embeddinggemma-300M-F32.gguf",
        "scripts/test.sh",
    )
}

/// llama-quantize's Q4_K_M mix of the F32 GGUF (`ggufembed quantize F32 OUT q4_k_m`, made by
/// scripts/test.sh), or `$GGUFEMBED_MODEL_Q4_K_M`.
pub fn q4_k_m_model() -> PathBuf {
    model_from(
        "GGUFEMBED_MODEL_Q4_K_M",
        "embeddinggemma-300M-Q4_K_M.gguf",
        "scripts/test.sh",
    )
}

/// The Hugging Face model directory kept by `ggufembed pull --source-dir`, or `$GGUFEMBED_HF_DIR`.
pub fn hf_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("GGUFEMBED_HF_DIR") {
        return PathBuf::from(p);
    }
    let p = cache_dir().join("hf/embeddinggemma-300m");
    assert!(
        p.join("model.safetensors").is_file(),
        "HF model directory not found: set GGUFEMBED_HF_DIR or run `ggufembed pull --source-dir`; looked in {}",
        p.display()
    );
    p
}

/// Reads a JSON-lines file from `tests/data/` into typed rows.
pub fn read_jsonl<T: for<'de> Deserialize<'de>>(name: &str) -> Vec<T> {
    let path = data_path(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

#[derive(Debug, Clone, Deserialize)]
pub struct CorpusEntry {
    pub id: u64,
    pub text: String,
    pub prompt_name: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CorpusTokens {
    pub id: u64,
    pub token_ids: Vec<u32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReferenceEmbedding {
    pub id: u64,
    /// Tokens after truncation (0 when the file does not record it, e.g. minilm's CLS file).
    #[serde(default)]
    pub n_tokens: usize,
    #[serde(default)]
    pub truncated: bool,
    pub embedding: Vec<f32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ParityLine {
    pub text: String,
    pub token_ids: Vec<u32>,
}

pub fn corpus() -> Vec<CorpusEntry> {
    read_jsonl("corpus.jsonl")
}
pub fn corpus_tokens() -> Vec<CorpusTokens> {
    read_jsonl("corpus_tokens.jsonl")
}
pub fn corpus_st_fp32() -> Vec<ReferenceEmbedding> {
    read_jsonl("corpus_st_fp32.jsonl")
}
pub fn corpus_llamacpp_q8_0() -> Vec<ReferenceEmbedding> {
    read_jsonl("corpus_llamacpp_q8_0.jsonl")
}
pub fn tokenizer_parity() -> Vec<ParityLine> {
    read_jsonl("tokenizer_parity.jsonl")
}

/// Cosine similarity of the first `dims` components (Matryoshka truncation), in f64.
pub fn cosine(a: &[f32], b: &[f32], dims: usize) -> f64 {
    let (a, b) = (&a[..dims], &b[..dims]);
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Declares a crate's integration-test files as modules of its one test binary (`tests/all.rs`),
/// plus a test that fails when a `tests/*.rs` file is missing from the list (with
/// `autotests = false` such a file would silently never run). One binary per crate instead of
/// one per file: each binary linked and instantiated the dependencies again, which was a large
/// share of the test command's build.
#[macro_export]
macro_rules! test_modules {
    ($($m:ident),+ $(,)?) => {
        $(mod $m;)+

        #[test]
        fn every_test_file_is_a_module_of_this_binary() {
            $crate::assert_test_files(env!("CARGO_MANIFEST_DIR"), &[$(stringify!($m)),+]);
        }
    };
}

/// Panics unless the `tests/*.rs` files of the crate at `manifest_dir` (other than `all.rs`) are
/// exactly `modules`.
pub fn assert_test_files(manifest_dir: &str, modules: &[&str]) {
    let dir = Path::new(manifest_dir).join("tests");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".rs")?;
            (stem != "all").then(|| stem.to_string())
        })
        .collect();
    files.sort();
    let mut listed: Vec<String> = modules.iter().map(|m| m.to_string()).collect();
    listed.sort();
    assert_eq!(
        files,
        listed,
        "{}: every tests/*.rs file must be listed in tests/all.rs's test_modules!",
        dir.display()
    );
}
