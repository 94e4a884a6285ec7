//! Broken input directories must fail with an error that names the file and the problem.
//! Each case starts from a scaffold of symlinks to the real HF directory (nothing big is
//! copied) and breaks one thing.

use crate::common;

use common::link_tree;
use convert::{ConvertError, ConvertOptions};
use std::fs;
use std::path::{Path, PathBuf};

/// A temp dir mirroring the real model directory with symlinks (sub-folders are real folders
/// so their files can be replaced one by one).
fn scaffold() -> tempfile::TempDir {
    let src = testkit::hf_dir();
    let tmp = tempfile::tempdir().unwrap();
    link_tree(&src, tmp.path());
    tmp
}

/// Replaces a (symlinked) file with new contents.
fn write(dir: &Path, rel: &str, bytes: impl AsRef<[u8]>) {
    let p = dir.join(rel);
    let _ = fs::remove_file(&p);
    fs::write(p, bytes).unwrap();
}

/// Rewrites a JSON file of the real directory with `edit` applied.
fn edit_json(dir: &Path, rel: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(testkit::hf_dir().join(rel)).unwrap()).unwrap();
    edit(&mut v);
    write(dir, rel, serde_json::to_vec_pretty(&v).unwrap());
}

fn prepare_err(dir: &Path) -> ConvertError {
    match convert::prepare(dir, &ConvertOptions::default()) {
        Ok(_) => panic!("{} was accepted", dir.display()),
        Err(e) => e,
    }
}

/// The error message names `file` and contains every one of `words`.
fn assert_msg(e: &ConvertError, file: &str, words: &[&str]) {
    let msg = e.to_string();
    assert!(msg.contains(file), "message does not name {file}: {msg}");
    for w in words {
        assert!(msg.contains(w), "message lacks {w:?}: {msg}");
    }
}

#[test]
fn the_scaffold_itself_is_accepted() {
    let d = scaffold();
    let p = convert::prepare(d.path(), &ConvertOptions::default()).unwrap();
    assert_eq!(p.plan.tensors.len(), 316);
}

#[test]
fn missing_files_are_named() {
    for rel in [
        "model.safetensors",
        "tokenizer.model",
        "config.json",
        "modules.json",
        "config_sentence_transformers.json",
        "2_Dense/model.safetensors",
        "3_Dense/config.json",
        "1_Pooling/config.json",
    ] {
        let d = scaffold();
        fs::remove_file(d.path().join(rel)).unwrap();
        let e = prepare_err(d.path());
        assert!(
            matches!(e, ConvertError::MissingFile { ref path, .. } if path.ends_with(rel)),
            "{rel}: {e:?}"
        );
        assert_msg(&e, rel, &["not found"]);
    }
}

#[test]
fn not_a_directory() {
    let e = prepare_err(&PathBuf::from("/nonexistent/embeddinggemma"));
    assert_msg(&e, "/nonexistent/embeddinggemma", &["not found"]);
}

#[test]
fn unexpected_architecture() {
    let d = scaffold();
    edit_json(d.path(), "config.json", |c| {
        c["architectures"] = serde_json::json!(["LlamaForCausalLM"]);
    });
    let e = prepare_err(d.path());
    assert!(
        matches!(e, ConvertError::UnsupportedArchitecture { .. }),
        "{e:?}"
    );
    assert_msg(
        &e,
        "config.json",
        &["LlamaForCausalLM", "Gemma3TextModel", "BertModel"],
    );
}

#[test]
fn missing_config_key() {
    let d = scaffold();
    edit_json(d.path(), "config.json", |c| {
        c.as_object_mut().unwrap().remove("hidden_size");
    });
    let e = prepare_err(d.path());
    assert_msg(&e, "config.json", &["hidden_size", "missing"]);
}

#[test]
fn config_not_json() {
    let d = scaffold();
    write(d.path(), "config.json", "{ \"architectures\": [");
    let e = prepare_err(d.path());
    assert!(matches!(e, ConvertError::Json { .. }), "{e:?}");
    assert_msg(&e, "config.json", &["invalid JSON"]);
}

#[test]
fn wrong_shapes_in_config_are_caught_against_the_weights() {
    let d = scaffold();
    edit_json(d.path(), "config.json", |c| {
        c["intermediate_size"] = 2048.into()
    });
    let e = prepare_err(d.path());
    assert!(matches!(e, ConvertError::BadShape { .. }), "{e:?}");
    assert_msg(
        &e,
        "model.safetensors",
        &["mlp.down_proj.weight", "[768, 1152]", "[768, 2048]"],
    );
}

#[test]
fn wrong_dense_shape() {
    let d = scaffold();
    edit_json(d.path(), "2_Dense/config.json", |c| {
        c["out_features"] = 4096.into()
    });
    let e = prepare_err(d.path());
    assert!(matches!(e, ConvertError::BadShape { .. }), "{e:?}");
    assert_msg(
        &e,
        "2_Dense/model.safetensors",
        &["linear.weight", "[3072, 768]", "[4096, 768]"],
    );
}

#[test]
fn more_layers_in_config_than_in_weights() {
    let d = scaffold();
    edit_json(d.path(), "config.json", |c| {
        c["num_hidden_layers"] = 25.into()
    });
    let e = prepare_err(d.path());
    assert!(matches!(e, ConvertError::MissingTensor { .. }), "{e:?}");
    assert_msg(&e, "model.safetensors", &["layers.24.", "missing"]);
}

#[test]
fn missing_projection_head_in_modules_json() {
    let d = scaffold();
    edit_json(d.path(), "modules.json", |m| {
        m.as_array_mut().unwrap().retain(|x| x["path"] != "3_Dense");
    });
    let e = prepare_err(d.path());
    assert_msg(&e, "modules.json", &["3_Dense"]);
}

/// The real 2_Dense header, for building corrupt variants.
fn dense_bytes() -> Vec<u8> {
    fs::read(testkit::hf_dir().join("2_Dense/model.safetensors")).unwrap()
}

#[test]
fn corrupt_safetensors_headers() {
    let real = dense_bytes();
    let n = u64::from_le_bytes(real[..8].try_into().unwrap()) as usize;
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty file", vec![], "8-byte header length"),
        (
            "header length past the end",
            {
                let mut b = real[..64].to_vec();
                b[..8].copy_from_slice(&(1u64 << 20).to_le_bytes());
                b
            },
            "runs past the end",
        ),
        (
            "absurd header length",
            {
                let mut b = real.clone();
                b[..8].copy_from_slice(&u64::MAX.to_le_bytes());
                b
            },
            "implausibly large",
        ),
        (
            "truncated data",
            real[..real.len() - 1000].to_vec(),
            "file size does not match",
        ),
        (
            "trailing garbage",
            {
                let mut b = real.clone();
                b.extend_from_slice(b"junk");
                b
            },
            "file size does not match",
        ),
    ];
    // Header JSON that is not valid JSON (same length, so the size checks pass).
    let mut bad_json = real.clone();
    bad_json[8] = b'[';
    cases.push(("header not JSON", bad_json, "not valid safetensors JSON"));
    // Invalid UTF-8 in the header.
    let mut bad_utf8 = real.clone();
    bad_utf8[8 + n - 2] = 0xff;
    cases.push(("header not UTF-8", bad_utf8, "not valid UTF-8"));
    for (what, bytes, words) in cases {
        let d = scaffold();
        write(d.path(), "2_Dense/model.safetensors", &bytes);
        let e = prepare_err(d.path());
        assert!(
            matches!(e, ConvertError::Safetensors { .. }),
            "{what}: {e:?}"
        );
        assert_msg(
            &e,
            "2_Dense/model.safetensors",
            &["corrupt safetensors", words],
        );
    }
}

#[test]
fn unsupported_dtype() {
    // Relabel the F32 dense weight as I32 (same size, so the header stays consistent).
    let real = dense_bytes();
    let n = u64::from_le_bytes(real[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&real[8..8 + n])
        .unwrap()
        .replace("\"F32\"", "\"I32\"");
    assert_eq!(header.len(), n);
    let mut b = real[..8].to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(&real[8 + n..]);
    let d = scaffold();
    write(d.path(), "2_Dense/model.safetensors", b);
    let e = prepare_err(d.path());
    assert!(matches!(e, ConvertError::BadDtype { .. }), "{e:?}");
    assert_msg(&e, "2_Dense/model.safetensors", &["linear.weight", "I32"]);
}

#[test]
fn unexpected_tensor_name() {
    let real = dense_bytes();
    let n = u64::from_le_bytes(real[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&real[8..8 + n])
        .unwrap()
        .replace("linear.weight", "lineax.weight");
    let mut b = real[..8].to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(&real[8 + n..]);
    let d = scaffold();
    write(d.path(), "2_Dense/model.safetensors", b);
    let e = prepare_err(d.path());
    assert!(matches!(e, ConvertError::UnknownTensor { .. }), "{e:?}");
    assert_msg(&e, "2_Dense/model.safetensors", &["lineax.weight"]);
}

#[test]
fn corrupt_tokenizer_model() {
    for (what, bytes) in [
        ("text", b"this is not a sentencepiece model".to_vec()),
        ("empty", vec![]),
        ("truncated", {
            let real = fs::read(testkit::hf_dir().join("tokenizer.model")).unwrap();
            real[..real.len() / 2].to_vec()
        }),
    ] {
        let d = scaffold();
        write(d.path(), "tokenizer.model", bytes);
        let e = prepare_err(d.path());
        assert!(matches!(e, ConvertError::Tokenizer { .. }), "{what}: {e:?}");
        assert_msg(&e, "tokenizer.model", &["SentencePiece"]);
    }
}

#[test]
fn prompts_must_be_strings() {
    let d = scaffold();
    edit_json(d.path(), "config_sentence_transformers.json", |c| {
        c["prompts"]["query"] = 5.into();
    });
    let e = prepare_err(d.path());
    assert_msg(&e, "config_sentence_transformers.json", &["prompts"]);
}

#[test]
fn output_into_a_missing_directory_names_it_and_leaves_nothing() {
    let d = scaffold();
    let out = d.path().join("no/such/dir/out.gguf");
    let e = convert::convert(
        d.path(),
        &out,
        &ConvertOptions::default(),
        &convert::NoProgress,
    )
    .unwrap_err();
    assert!(matches!(e, ConvertError::Io { .. }), "{e:?}");
    assert_msg(&e, "out.gguf.partial", &[]);
    assert!(!out.exists());
}
