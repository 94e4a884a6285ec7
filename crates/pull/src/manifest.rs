//! The pinned descriptions of the models with known hashes: name, type, shape, size and sha256
//! of each tensor of llama.cpp's Q8_0 conversion. EmbeddingGemma-300M: 316 tensors
//! (data/manifest_q8_0.json, from tests/data/gguf_manifest_q8_0.json); all-MiniLM-L6-v2: 101
//! tensors (data/manifest_minilm_q8_0.json, from tests/data/minilm/gguf_manifest_q8_0.json).
//! A GGUF passes when every tensor matches, in order.

use crate::hash::sha256_hex;
use convert::Progress;
use gguf::GgufFile;
use serde::Deserialize;
use std::path::Path;
use std::sync::OnceLock;

const MANIFEST_JSON: &str = include_str!("../data/manifest_q8_0.json");
const MINILM_MANIFEST_JSON: &str = include_str!("../data/manifest_minilm_q8_0.json");

/// One expected tensor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ExpectedTensor {
    pub name: String,
    /// ggml type name, e.g. "Q8_0".
    pub ggml_type: String,
    pub shape: Vec<u64>,
    pub n_bytes: u64,
    pub sha256: String,
}

#[derive(Deserialize)]
struct ManifestFile {
    tensors: Vec<(String, String, Vec<u64>, u64, String)>,
}

fn parse(json: &str) -> Vec<ExpectedTensor> {
    let m: ManifestFile = serde_json::from_str(json).expect("embedded manifest is valid JSON");
    m.tensors
        .into_iter()
        .map(|(name, ggml_type, shape, n_bytes, sha256)| ExpectedTensor {
            name,
            ggml_type,
            shape,
            n_bytes,
            sha256,
        })
        .collect()
}

/// The embedded tensor table of the default model (EmbeddingGemma-300M Q8_0).
pub fn expected_tensors() -> &'static [ExpectedTensor] {
    static T: OnceLock<Vec<ExpectedTensor>> = OnceLock::new();
    T.get_or_init(|| parse(MANIFEST_JSON))
}

/// The embedded tensor table of all-MiniLM-L6-v2 Q8_0.
pub fn minilm_tensors() -> &'static [ExpectedTensor] {
    static T: OnceLock<Vec<ExpectedTensor>> = OnceLock::new();
    T.get_or_init(|| parse(MINILM_MANIFEST_JSON))
}

/// Checks a GGUF file tensor by tensor against the default model's manifest. The error says
/// which tensor (or header property) differs.
pub fn verify_gguf(path: &Path, progress: &dyn Progress) -> Result<(), String> {
    verify_tensors(path, expected_tensors(), progress)
}

/// Checks a GGUF file tensor by tensor against `want`.
pub fn verify_tensors(
    path: &Path,
    want: &[ExpectedTensor],
    progress: &dyn Progress,
) -> Result<(), String> {
    let file = GgufFile::open(path).map_err(|e| format!("not a readable GGUF file: {e}"))?;
    if file.tensors().len() != want.len() {
        let hint = if want.len() == 316 && file.tensors().len() == 314 {
            " (a 314-tensor file lacks the dense_2/dense_3 head)"
        } else {
            ""
        };
        return Err(format!(
            "{} tensors, expected {}{hint}",
            file.tensors().len(),
            want.len()
        ));
    }
    let total: u64 = want.iter().map(|t| t.n_bytes).sum();
    progress.start("verifying tensors", total);
    for (t, w) in file.tensors().iter().zip(want) {
        let got = (
            t.name.as_str(),
            t.ggml_type.name(),
            t.shape.as_slice(),
            t.n_bytes,
        );
        let exp = (
            w.name.as_str(),
            w.ggml_type.as_str(),
            w.shape.as_slice(),
            w.n_bytes,
        );
        if got != exp {
            return Err(format!(
                "tensor {:?} is {} {:?} ({} bytes), expected {:?} {} {:?} ({} bytes)",
                got.0, got.1, got.2, got.3, exp.0, exp.1, exp.2, exp.3
            ));
        }
        let sha = sha256_hex(file.tensor_data(t));
        if sha != w.sha256 {
            return Err(format!(
                "tensor {:?}: data sha256 {sha}, expected {}",
                t.name, w.sha256
            ));
        }
        progress.inc(t.n_bytes);
    }
    progress.finish();
    Ok(())
}
