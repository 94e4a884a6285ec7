//! Converts the real all-MiniLM-L6-v2 directory ($GGUFEMBED_MINILM_HF_DIR, set by
//! scripts/test.sh from `ggufembed pull all-minilm-l6-v2`) to Q8_0 and F16 and checks both
//! against what llama.cpp's converter writes (tests/data/minilm/gguf_manifest_*.json): every
//! tensor and every metadata key, in order, except general.name and our `ggufembed.*` keys.

use crate::common;

use common::{llama_cpp_keys, manifest_key_order, metadata_mismatches, tensor_mismatches};
use convert::{ConvertOptions, NoProgress, OutType};
use gguf::GgufFile;
use std::path::PathBuf;

/// The source directory, or `None` (with a message) when the variable is unset.
fn hf_dir() -> Option<PathBuf> {
    match std::env::var_os("GGUFEMBED_MINILM_HF_DIR") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            eprintln!("skipped: GGUFEMBED_MINILM_HF_DIR is not set (scripts/test.sh sets it)");
            None
        }
    }
}

fn convert_to(dir: &std::path::Path, out_type: OutType) -> GgufFile {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("minilm-test-{}.gguf", out_type.name()));
    let opts = ConvertOptions {
        out_type,
        name: None,
    };
    let summary = convert::convert(dir, &out, &opts, &NoProgress)
        .unwrap_or_else(|e| panic!("conversion failed: {e}"));
    assert_eq!(summary.n_tensors, 101);
    GgufFile::open(&out).unwrap_or_else(|e| panic!("cannot reopen {}: {e}", out.display()))
}

fn check(out_type: OutType, manifest_rel: &str) {
    let Some(dir) = hf_dir() else { return };
    let f = convert_to(&dir, out_type);
    let manifest = common::read_manifest(manifest_rel);
    let mut bad = tensor_mismatches(&f, &manifest);
    bad.extend(metadata_mismatches(&f, &manifest));
    let theirs = manifest_key_order(manifest_rel);
    assert_eq!(theirs.len(), 30, "parsed manifest key order: {theirs:?}");
    let ours = llama_cpp_keys(&f);
    if ours != theirs {
        bad.push(format!(
            "key order:\n  ours   {ours:?}\n  theirs {theirs:?}"
        ));
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
    // Our additions: max_seq_length from sentence_bert_config.json, and nothing else.
    assert_eq!(f.get_u32(convert::MAX_SEQ_LENGTH_KEY).unwrap(), 256);
    let extra: Vec<&str> = f
        .metadata()
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| k.starts_with("ggufembed."))
        .collect();
    assert_eq!(extra, [convert::MAX_SEQ_LENGTH_KEY]);
}

#[test]
fn q8_0_matches_llama_cpp() {
    check(OutType::Q8_0, "minilm/gguf_manifest_q8_0.json");
}

#[test]
fn f16_matches_llama_cpp() {
    check(OutType::F16, "minilm/gguf_manifest_f16.json");
}

#[test]
fn vocabulary_uses_the_phantom_space_convention() {
    let Some(dir) = hf_dir() else { return };
    let p = convert::prepare(
        &dir,
        &ConvertOptions {
            out_type: OutType::F32,
            name: None,
        },
    )
    .unwrap();
    assert_eq!(p.family.gguf_arch, "bert");
    let Some(gguf::Value::Array(gguf::Array::String(tokens))) =
        p.metadata.get("tokenizer.ggml.tokens")
    else {
        panic!("no token list")
    };
    let Some(gguf::Value::Array(gguf::Array::I32(types))) =
        p.metadata.get("tokenizer.ggml.token_type")
    else {
        panic!("no token types")
    };
    // tokenizer.json: [PAD] 0 (special), "the" 1996, "##s" 2015, [CLS] 101.
    assert_eq!((tokens[0].as_str(), types[0]), ("[PAD]", 3));
    assert_eq!((tokens[101].as_str(), types[101]), ("[CLS]", 3));
    assert_eq!((tokens[1996].as_str(), types[1996]), ("\u{2581}the", 1));
    assert_eq!((tokens[2015].as_str(), types[2015]), ("s", 1));
    // F32 output keeps every tensor F32.
    assert!(p
        .plan
        .tensors
        .iter()
        .all(|t| t.ggml_type == gguf::GgmlType::F32));
}
