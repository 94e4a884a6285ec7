//! The pinned description of the default model: name, type, shape, size and sha256 of each of
//! the 316 tensors of llama.cpp's Q8_0 conversion (data/manifest_q8_0.json, generated from
//! tests/data/gguf_manifest_q8_0.json). A GGUF passes when every tensor matches, in order.

use crate::hash::sha256_hex;
use convert::Progress;
use gguf::GgufFile;
use serde::Deserialize;
use std::path::Path;
use std::sync::OnceLock;

const MANIFEST_JSON: &str = include_str!("../data/manifest_q8_0.json");

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

/// The embedded tensor table.
pub fn expected_tensors() -> &'static [ExpectedTensor] {
    static T: OnceLock<Vec<ExpectedTensor>> = OnceLock::new();
    T.get_or_init(|| {
        let m: ManifestFile =
            serde_json::from_str(MANIFEST_JSON).expect("embedded manifest is valid JSON");
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
    })
}

/// Checks a GGUF file tensor by tensor against the manifest. The error says which tensor (or
/// header property) differs.
pub fn verify_gguf(path: &Path, progress: &dyn Progress) -> Result<(), String> {
    let file = GgufFile::open(path).map_err(|e| format!("not a readable GGUF file: {e}"))?;
    let want = expected_tensors();
    if file.tensors().len() != want.len() {
        return Err(format!(
            "{} tensors, expected {} (a 314-tensor file lacks the dense_2/dense_3 head)",
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
