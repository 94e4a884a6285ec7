//! Converts the real EmbeddingGemma directory to Q8_0 once, then checks the result against
//! llama.cpp's converter output as recorded in tests/data/gguf_manifest_q8_0.json: every
//! tensor (name, type, shape, size, sha256 of the data, in order) and every metadata key
//! (value, or length + payload sha256 for arrays). This comparison is written independently of
//! the pull crate's manifest verification.

use crate::common;

use common::{llama_cpp_keys, manifest_key_order, metadata_mismatches, tensor_mismatches};
use convert::{ConvertOptions, NoProgress, OutType};
use gguf::GgufFile;
use serde_json::Value as J;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

fn converted() -> &'static GgufFile {
    static FILE: OnceLock<GgufFile> = OnceLock::new();
    FILE.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("convert-test-q8_0.gguf");
        let opts = ConvertOptions {
            out_type: OutType::Q8_0,
            name: None,
        };
        let t0 = Instant::now();
        let summary = convert::convert(&testkit::hf_dir(), &out, &opts, &NoProgress)
            .unwrap_or_else(|e| panic!("conversion failed: {e}"));
        eprintln!(
            "converted {} tensors, {} bytes in {:.1} s",
            summary.n_tensors,
            summary.file_size,
            t0.elapsed().as_secs_f64()
        );
        assert!(
            !convert::partial_path(&out).exists(),
            "partial file left behind"
        );
        GgufFile::open(&out).unwrap_or_else(|e| panic!("cannot reopen {}: {e}", out.display()))
    })
}

fn manifest() -> &'static J {
    static M: OnceLock<J> = OnceLock::new();
    M.get_or_init(|| common::read_manifest("gguf_manifest_q8_0.json"))
}

#[test]
fn every_tensor_matches_llama_cpp() {
    let f = converted();
    assert_eq!(manifest()["tensors"].as_array().unwrap().len(), 316);
    let bad = tensor_mismatches(f, manifest());
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn every_metadata_key_matches_llama_cpp() {
    let f = converted();
    let bad = metadata_mismatches(f, manifest());
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
    // No other keys (besides our ggufembed.* ones).
    let theirs: Vec<&str> = manifest()["metadata"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut ours = llama_cpp_keys(f);
    ours.sort();
    assert_eq!(ours, theirs, "key sets differ");
}

#[test]
fn metadata_order_matches_llama_cpp() {
    let theirs = manifest_key_order("gguf_manifest_q8_0.json");
    assert_eq!(theirs.len(), 40, "parsed manifest key order: {theirs:?}");
    assert_eq!(llama_cpp_keys(converted()), theirs);
}

#[test]
fn prompts_are_stored_under_ggufembed_keys() {
    let f = converted();
    let st: J = serde_json::from_str(
        &std::fs::read_to_string(testkit::hf_dir().join("config_sentence_transformers.json"))
            .unwrap(),
    )
    .unwrap();
    let prompts = st["prompts"].as_object().unwrap();
    assert_eq!(prompts.len(), 14);
    for (name, text) in prompts {
        let key = format!("{}{name}", convert::PROMPT_KEY_PREFIX);
        assert_eq!(
            f.get_str(&key).unwrap_or_else(|e| panic!("{key}: {e}")),
            text.as_str().unwrap()
        );
    }
    assert_eq!(
        f.get_str("ggufembed.prompt.query").unwrap(),
        "task: search result | query: "
    );
    let n_prompt_keys = f
        .metadata()
        .iter()
        .filter(|(k, _)| k.starts_with(convert::PROMPT_KEY_PREFIX))
        .count();
    assert_eq!(n_prompt_keys, prompts.len());
}

#[test]
fn inspect_style_round_trip() {
    // What `ggufembed inspect` shows must be readable through the typed getters.
    let f = converted();
    assert_eq!(f.version(), 3);
    assert_eq!(
        f.get_str("general.architecture").unwrap(),
        "gemma-embedding"
    );
    assert_eq!(f.get_u32("gemma-embedding.block_count").unwrap(), 24);
    assert_eq!(f.get_u32("gemma-embedding.embedding_length").unwrap(), 768);
    assert_eq!(
        f.get_u32("gemma-embedding.attention.sliding_window")
            .unwrap(),
        512
    );
    assert_eq!(
        f.get_str_array("tokenizer.ggml.tokens").unwrap().len(),
        262_144
    );
    assert_eq!(
        f.get_f32_array("tokenizer.ggml.scores").unwrap().len(),
        262_144
    );
    assert_eq!(f.get_i32_array("tokenizer.ggml.token_type").unwrap()[2], 3);
    let embd = f.tensor("token_embd.weight").expect("token_embd");
    assert_eq!(embd.shape, &[768, 262_144]);
    assert_eq!(embd.data.len(), 262_144 * 768 / 32 * 34);
    // output_norm is F32 with Gemma's +1 folded in: compare with the raw HF values.
    let norm = f.tensor("output_norm.weight").expect("output_norm");
    assert_eq!(norm.ggml_type, gguf::GgmlType::F32);
    let raw = read_hf_tensor_f32("norm.weight");
    assert_eq!(raw.len(), 768);
    for (i, (g, r)) in norm.data.chunks_exact(4).zip(&raw).enumerate() {
        let g = f32::from_le_bytes(g.try_into().unwrap());
        assert_eq!(g, r + 1.0, "output_norm[{i}]");
    }
    let total: u64 = f.tensors().iter().map(|t| t.n_bytes).sum();
    assert_eq!(total, 327_060_480); // data section without padding, as in the manifest
}

/// Reads one small F32 tensor straight from the HF model.safetensors (header + seek).
fn read_hf_tensor_f32(name: &str) -> Vec<f32> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(testkit::hf_dir().join("model.safetensors")).unwrap();
    let mut n = [0u8; 8];
    file.read_exact(&mut n).unwrap();
    let n = u64::from_le_bytes(n);
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header).unwrap();
    let header: J = serde_json::from_slice(&header).unwrap();
    let info = &header[name];
    assert_eq!(info["dtype"], "F32");
    let (a, b) = (
        info["data_offsets"][0].as_u64().unwrap(),
        info["data_offsets"][1].as_u64().unwrap(),
    );
    file.seek(SeekFrom::Start(8 + n + a)).unwrap();
    let mut bytes = vec![0u8; (b - a) as usize];
    file.read_exact(&mut bytes).unwrap();
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}
