//! `convert::quantize` against llama-quantize: our quantization of the F32 EmbeddingGemma
//! conversion ($GGUFEMBED_MODEL_F32, `ggufembed convert --outtype f32`) must have exactly the
//! tensors (order, names, types, shapes, sizes, sha256 of the data) that llama.cpp's
//! `llama-quantize` wrote for the same input, as recorded in
//! tests/data/quantize/manifest_<type>.json (see tests/data/README.md for how they were made).

use convert::quantize::{quantize, FileType};
use convert::NoProgress;
use gguf::GgufFile;
use serde_json::Value as J;
use std::path::PathBuf;
use std::time::Instant;

fn check(type_name: &str) {
    let input = testkit::f32_model();
    let ft = FileType::parse(type_name).unwrap();
    let out =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("quantize-test-{type_name}.gguf"));
    let t0 = Instant::now();
    let summary = quantize(&input, &out, ft, 0, &NoProgress)
        .unwrap_or_else(|e| panic!("quantize {type_name}: {e}"));
    eprintln!(
        "{type_name}: {} tensors, {} -> {} bytes in {:.1} s",
        summary.n_tensors,
        summary.in_bytes,
        summary.out_bytes,
        t0.elapsed().as_secs_f64()
    );
    assert!(
        !convert::partial_path(&out).exists(),
        "partial file left behind"
    );
    let f = GgufFile::open(&out).unwrap();
    assert_eq!(f.get_u32("general.file_type").unwrap(), ft.id);
    assert_eq!(f.get_u32("general.quantization_version").unwrap(), 2);

    let path = testkit::data_path(&format!("quantize/manifest_{type_name}.json"));
    let m: J = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let want = m["tensors"].as_array().unwrap();
    assert_eq!(f.tensors().len(), want.len(), "{type_name}: tensor count");
    let mut mismatches = Vec::new();
    for (t, w) in f.tensors().iter().zip(want) {
        assert_eq!(
            t.name,
            w["name"].as_str().unwrap(),
            "{type_name}: tensor order"
        );
        let shape: Vec<u64> = w["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(t.shape, shape, "{type_name}: {} shape", t.name);
        assert_eq!(
            t.ggml_type.name(),
            w["type"].as_str().unwrap(),
            "{type_name}: {} type",
            t.name
        );
        assert_eq!(t.n_bytes, w["n_bytes"].as_u64().unwrap(), "{}", t.name);
        if gguf::sha256_hex(f.tensor_data(t)) != w["sha256"].as_str().unwrap() {
            mismatches.push(t.name.clone());
        }
    }
    assert!(
        mismatches.is_empty(),
        "{type_name}: {} tensors differ from llama-quantize's: {mismatches:?}",
        mismatches.len()
    );
    std::fs::remove_file(&out).ok();
}

#[test]
fn q4_k_m_matches_llama_quantize() {
    check("q4_k_m");
}

#[test]
fn q6_k_matches_llama_quantize() {
    check("q6_k");
}

#[test]
fn q4_0_matches_llama_quantize() {
    check("q4_0");
}
