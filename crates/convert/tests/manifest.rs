//! Converts the real EmbeddingGemma directory to Q8_0 once, then checks the result against
//! llama.cpp's converter output as recorded in tests/data/gguf_manifest_q8_0.json: every
//! tensor (name, type, shape, size, sha256 of the data, in order) and every metadata key
//! (value, or length + payload sha256 for arrays). This comparison is written independently of
//! the pull crate's manifest verification.

use convert::{ConvertOptions, NoProgress, OutType};
use gguf::{Array, GgufFile, Value};
use serde_json::Value as J;
use sha2::{Digest, Sha256};
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
    M.get_or_init(|| {
        let p = testkit::data_path("gguf_manifest_q8_0.json");
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// An array as GGUF stores its payload: strings as u64-LE length + UTF-8, numbers little-endian.
fn payload(a: &Array) -> (&'static str, usize, Vec<u8>) {
    let mut b = Vec::new();
    match a {
        Array::String(v) => {
            for s in v {
                b.extend_from_slice(&(s.len() as u64).to_le_bytes());
                b.extend_from_slice(s.as_bytes());
            }
            ("STRING", v.len(), b)
        }
        Array::F32(v) => {
            v.iter().for_each(|x| b.extend_from_slice(&x.to_le_bytes()));
            ("FLOAT32", v.len(), b)
        }
        Array::I32(v) => {
            v.iter().for_each(|x| b.extend_from_slice(&x.to_le_bytes()));
            ("INT32", v.len(), b)
        }
        other => panic!("unexpected array type {other:?}"),
    }
}

/// Compares one value with its manifest entry; returns a description of the mismatch.
fn value_matches(ours: &Value, want: &J) -> Result<(), String> {
    let ok = match (ours, want) {
        (Value::Array(a), J::Object(o)) => {
            let (ty, len, bytes) = payload(a);
            let got = (ty, len, sha256_hex(&bytes));
            let exp = (
                o["element_type"].as_str().unwrap(),
                o["len"].as_u64().unwrap() as usize,
                o["payload_sha256"].as_str().unwrap().to_string(),
            );
            if got != exp {
                return Err(format!("array {got:?} != manifest {exp:?}"));
            }
            true
        }
        (Value::String(s), J::String(w)) => s == w,
        (Value::Bool(b), J::Bool(w)) => b == w,
        (Value::U32(x), J::Number(n)) => Some(*x as u64) == n.as_u64(),
        (Value::I32(x), J::Number(n)) => Some(*x as i64) == n.as_i64(),
        (Value::F32(x), J::Number(n)) => Some(*x as f64) == n.as_f64(),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{ours:?} != manifest {want}"))
    }
}

#[test]
fn every_tensor_matches_llama_cpp() {
    let f = converted();
    let want = manifest()["tensors"].as_array().unwrap();
    assert_eq!(want.len(), 316);
    assert_eq!(f.tensors().len(), want.len(), "tensor count");
    let mut bad = Vec::new();
    for (t, w) in f.tensors().iter().zip(want) {
        let shape: Vec<u64> = w["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        let got = (
            t.name.as_str(),
            t.ggml_type.name(),
            t.shape.clone(),
            t.n_bytes,
        );
        let exp = (
            w["name"].as_str().unwrap(),
            w["type"].as_str().unwrap(),
            shape,
            w["n_bytes"].as_u64().unwrap(),
        );
        if got != exp {
            bad.push(format!("header {got:?} != {exp:?}"));
            continue;
        }
        let sha = sha256_hex(f.tensor_data(t));
        if sha != w["sha256"].as_str().unwrap() {
            bad.push(format!("{}: data sha256 {sha} != manifest", t.name));
        }
    }
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
    let want = manifest()["metadata"].as_object().unwrap();
    let mut bad = Vec::new();
    for (key, w) in want {
        if key == "general.name" {
            continue; // derived from the directory name; documented to differ
        }
        match f.get(key) {
            None => bad.push(format!("{key}: missing")),
            Some(v) => {
                if let Err(e) = value_matches(v, w) {
                    bad.push(format!("{key}: {e}"));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
    // No other keys, and the same order as llama.cpp writes them (prompts come last).
    let ours: Vec<&str> = f
        .metadata()
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !k.starts_with(convert::PROMPT_KEY_PREFIX))
        .collect();
    let theirs: Vec<&str> = want.keys().map(String::as_str).collect();
    let mut theirs_sorted = theirs.clone();
    theirs_sorted.sort();
    let mut ours_sorted = ours.clone();
    ours_sorted.sort();
    assert_eq!(ours_sorted, theirs_sorted, "key sets differ");
}

#[test]
fn metadata_order_matches_llama_cpp() {
    // serde_json sorts object keys, so read the manifest's key order from the raw text.
    let text = std::fs::read_to_string(testkit::data_path("gguf_manifest_q8_0.json")).unwrap();
    let meta = &text[text.find("\"metadata\"").unwrap()..text.find("\"tensors\"").unwrap()];
    let theirs: Vec<&str> = meta
        .lines()
        .filter(|l| l.starts_with("  \"") && !l.starts_with("   "))
        .map(|l| l.trim().split('"').nth(1).unwrap())
        .collect();
    assert_eq!(theirs.len(), 40, "parsed manifest key order: {theirs:?}");
    let ours: Vec<&str> = converted()
        .metadata()
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !k.starts_with(convert::PROMPT_KEY_PREFIX))
        .collect();
    assert_eq!(ours, theirs);
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
