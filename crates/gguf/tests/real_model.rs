//! The real EmbeddingGemma Q8_0 model: every metadata value and every tensor's bytes must match
//! the manifest produced from llama.cpp's converter output (tests/data/gguf_manifest_q8_0.json).

use gguf::{sha256_hex, GgmlType, GgufFile, GgufWriter, Value};
use serde_json::Value as Json;

fn manifest() -> Json {
    let text = std::fs::read_to_string(testkit::data_path("gguf_manifest_q8_0.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Compares one metadata value with its manifest entry (arrays: length, type, head, payload hash).
fn check_value(key: &str, v: &Value, want: &Json) {
    match (v, want) {
        (Value::Array(a), Json::Object(m)) => {
            assert_eq!(m["type"], "array", "{key}");
            assert_eq!(a.len() as u64, m["len"].as_u64().unwrap(), "{key} len");
            assert_eq!(
                a.element_type_name(),
                m["element_type"].as_str().unwrap(),
                "{key} element type"
            );
            assert_eq!(
                sha256_hex(&a.payload_bytes()),
                m["payload_sha256"],
                "{key} payload"
            );
            for (i, h) in m["head"].as_array().unwrap().iter().enumerate() {
                check_value(key, &a.get(i).unwrap(), h);
            }
        }
        (Value::String(s), Json::String(w)) => assert_eq!(s, w, "{key}"),
        (Value::Bool(b), Json::Bool(w)) => assert_eq!(b, w, "{key}"),
        (Value::F32(x), Json::Number(w)) => assert_eq!(*x as f64, w.as_f64().unwrap(), "{key}"),
        (Value::F64(x), Json::Number(w)) => assert_eq!(*x, w.as_f64().unwrap(), "{key}"),
        (v, Json::Number(w)) => {
            let i = v
                .as_i128()
                .unwrap_or_else(|| panic!("{key}: {v:?} is not a number"));
            assert_eq!(i, w.as_i64().unwrap() as i128, "{key}");
        }
        (v, w) => panic!("{key}: {v:?} does not match manifest {w}"),
    }
}

#[test]
fn q8_0_model_matches_manifest() {
    let path = testkit::q8_0_model();
    let t0 = std::time::Instant::now();
    let file = GgufFile::open(&path).unwrap();
    eprintln!("open: {:?}", t0.elapsed());
    let m = manifest();

    assert_eq!(file.version(), 3);
    assert_eq!(file.alignment(), 32);
    // The pulled model comes from our converter, which adds `ggufembed.*` keys (the prompts) and
    // names the model itself; every other key must be exactly the manifest's.
    let want_meta = m["metadata"].as_object().unwrap();
    let ours: Vec<&(String, gguf::Value)> = file
        .metadata()
        .iter()
        .filter(|(k, _)| !k.starts_with("ggufembed."))
        .collect();
    let mut ours_keys: Vec<&str> = ours.iter().map(|(k, _)| k.as_str()).collect();
    let mut want_keys: Vec<&str> = want_meta.keys().map(String::as_str).collect();
    ours_keys.sort_unstable();
    want_keys.sort_unstable();
    assert_eq!(ours_keys, want_keys, "metadata keys (outside ggufembed.*)");
    for (key, v) in ours {
        if key == "general.name" {
            continue; // taken from the directory name by llama.cpp's converter; irrelevant
        }
        check_value(key, v, &want_meta[key.as_str()]);
    }
    assert_eq!(
        file.get_str("general.architecture").unwrap(),
        "gemma-embedding"
    );
    assert_eq!(file.get_u32("gemma-embedding.block_count").unwrap(), 24);
    assert_eq!(
        file.get_u64("gemma-embedding.embedding_length").unwrap(),
        768
    );
    assert_eq!(
        file.get_str_array("tokenizer.ggml.tokens").unwrap().len(),
        262_144
    );
    assert_eq!(
        file.get_str_array("tokenizer.ggml.tokens").unwrap()[2],
        "<bos>"
    );
    assert_eq!(
        file.get_f32_array("tokenizer.ggml.scores").unwrap().len(),
        262_144
    );
    assert_eq!(
        file.get_i32_array("tokenizer.ggml.token_type").unwrap()[0],
        3
    );
    assert!(file.get_bool("tokenizer.ggml.add_bos_token").unwrap());
    assert_eq!(
        file.get_f32("gemma-embedding.rope.freq_base").unwrap(),
        1_000_000.0
    );

    let want_tensors = m["tensors"].as_array().unwrap();
    assert_eq!(file.tensors().len(), 316);
    assert_eq!(want_tensors.len(), 316);
    let mut total = 0u64;
    for (t, w) in file.tensors().iter().zip(want_tensors) {
        assert_eq!(t.name, w["name"].as_str().unwrap());
        assert_eq!(
            t.ggml_type.name(),
            w["type"].as_str().unwrap(),
            "{}",
            t.name
        );
        let shape: Vec<u64> = w["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(t.shape, shape, "{}", t.name);
        assert_eq!(t.n_bytes, w["n_bytes"].as_u64().unwrap(), "{}", t.name);
        let view = file.tensor(&t.name).unwrap();
        assert_eq!(view.data.len() as u64, t.n_bytes);
        assert_eq!(
            sha256_hex(view.data),
            w["sha256"].as_str().unwrap(),
            "{}",
            t.name
        );
        total += t.n_bytes;
    }
    let q8 = file
        .tensors()
        .iter()
        .filter(|t| t.ggml_type == GgmlType::Q8_0)
        .count();
    assert!(q8 > 100, "most matrices are Q8_0, found {q8}");
    assert!(total <= file.file_size() && total > file.file_size() / 2);
    assert!(file.tensor("dense_2.weight").is_some());
    assert!(file.tensor("no.such.tensor").is_none());
}

/// Rewriting llama.cpp's file with our writer reproduces it byte for byte.
#[test]
fn q8_0_model_rewrites_byte_identical() {
    let file = GgufFile::open(&testkit::q8_0_model()).unwrap();
    let w = GgufWriter::from_file(&file).unwrap();
    let header = w.header_bytes();
    assert_eq!(header.len() as u64, file.data_offset());
    assert_eq!(&header[..], &file.as_bytes()[..header.len()]);
    let mut out = Vec::with_capacity(file.file_size() as usize);
    w.write(&mut out, |i| {
        Ok::<_, gguf::GgufError>(file.tensor_data(&file.tensors()[i]).to_vec())
    })
    .unwrap();
    assert_eq!(out.len() as u64, file.file_size());
    assert!(out == file.as_bytes(), "rewritten file differs");
}

/// The F32 conversion has the same tensors and shapes as the Q8_0 file, all stored as F32,
/// and the same metadata keys with identical arrays (vocabulary).
#[test]
fn f32_model_matches_q8_0_layout() {
    let q8 = GgufFile::open(&testkit::q8_0_model()).unwrap();
    let f32 = GgufFile::open(&testkit::f32_model()).unwrap();
    assert_eq!(f32.get_u32("general.file_type").unwrap(), 0);
    assert_eq!(f32.tensors().len(), q8.tensors().len());
    for t in q8.tensors() {
        let v = f32
            .tensor(&t.name)
            .unwrap_or_else(|| panic!("{} missing", t.name));
        assert_eq!(v.shape, &t.shape[..], "{}", t.name);
        assert_eq!(v.ggml_type, GgmlType::F32, "{}", t.name);
        assert_eq!(v.data.len() as u64, t.n_elements() * 4, "{}", t.name);
    }
    for (k, v) in q8.metadata() {
        if k != "general.file_type" {
            assert!(f32.get(k).is_some(), "{k} missing from the F32 file");
            if let Value::Array(a) = v {
                let b = f32.get(k).unwrap().as_array().unwrap();
                assert_eq!(a.payload_bytes(), b.payload_bytes(), "{k}");
            }
        }
    }
}
