//! Comparison of a GGUF file with a llama.cpp conversion manifest (tests/data/**/gguf_manifest_*.json):
//! every tensor (name, type, shape, size, sha256 of the data, in order) and every metadata key
//! (value, or length + payload sha256 for arrays). Written independently of the pull crate's
//! manifest verification. Also a symlink scaffold for broken-directory tests.

#![allow(dead_code)] // each test file uses a subset

use gguf::{Array, GgufFile, Value};
use serde_json::Value as J;
use sha2::{Digest, Sha256};

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn read_manifest(rel: &str) -> J {
    let p = testkit::data_path(rel);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
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
pub fn value_matches(ours: &Value, want: &J) -> Result<(), String> {
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

/// Every tensor of `f` against the manifest's list, in order; returns the mismatches.
pub fn tensor_mismatches(f: &GgufFile, manifest: &J) -> Vec<String> {
    let want = manifest["tensors"].as_array().unwrap();
    let mut bad = Vec::new();
    if f.tensors().len() != want.len() {
        bad.push(format!(
            "tensor count {} != manifest {}",
            f.tensors().len(),
            want.len()
        ));
    }
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
    bad
}

/// Every manifest key (except general.name) against `f`'s value; returns the mismatches.
pub fn metadata_mismatches(f: &GgufFile, manifest: &J) -> Vec<String> {
    let want = manifest["metadata"].as_object().unwrap();
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
    bad
}

/// `f`'s keys in file order, without our own `ggufembed.*` keys.
pub fn llama_cpp_keys(f: &GgufFile) -> Vec<&str> {
    f.metadata()
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !k.starts_with("ggufembed."))
        .collect()
}

/// The manifest's metadata keys in file order (serde_json sorts object keys, so they are read
/// from the raw text: one key per line at two spaces of indentation).
pub fn manifest_key_order(rel: &str) -> Vec<String> {
    let text = std::fs::read_to_string(testkit::data_path(rel)).unwrap();
    let meta = &text[text.find("\"metadata\"").unwrap()..text.find("\"tensors\"").unwrap()];
    meta.lines()
        .filter(|l| l.starts_with("  \"") && !l.starts_with("   "))
        .map(|l| l.trim().split('"').nth(1).unwrap().to_string())
        .collect()
}

/// Mirrors `src` into `dst` with symlinks (sub-folders are real folders so their files can be
/// replaced one by one): a scaffold of a real model directory that copies nothing big.
pub fn link_tree(src: &std::path::Path, dst: &std::path::Path) {
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir(&to).unwrap();
            link_tree(&e.path(), &to);
        } else {
            std::os::unix::fs::symlink(e.path(), &to).unwrap();
        }
    }
}
