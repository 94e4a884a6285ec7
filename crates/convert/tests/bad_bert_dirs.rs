//! Broken BERT directories must fail with an error that names the file and the problem. Each
//! case starts from a symlink scaffold of the real all-MiniLM-L6-v2 directory
//! ($GGUFEMBED_MINILM_HF_DIR; skipped with a message when unset) and breaks one thing.

use crate::common;

use convert::{ConvertError, ConvertOptions};
use std::fs;
use std::path::{Path, PathBuf};

fn scaffold() -> Option<(tempfile::TempDir, PathBuf)> {
    let Some(src) = std::env::var_os("GGUFEMBED_MINILM_HF_DIR").map(PathBuf::from) else {
        eprintln!("skipped: GGUFEMBED_MINILM_HF_DIR is not set (scripts/test.sh sets it)");
        return None;
    };
    let tmp = tempfile::tempdir().unwrap();
    common::link_tree(&src, tmp.path());
    Some((tmp, src))
}

fn edit_json(dir: &Path, src: &Path, rel: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(src.join(rel)).unwrap()).unwrap();
    edit(&mut v);
    let p = dir.join(rel);
    fs::remove_file(&p).unwrap();
    fs::write(p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

fn prepare_err(dir: &Path) -> ConvertError {
    match convert::prepare(dir, &ConvertOptions::default()) {
        Ok(_) => panic!("{} was accepted", dir.display()),
        Err(e) => e,
    }
}

fn assert_msg(e: &ConvertError, file: &str, words: &[&str]) {
    let msg = e.to_string();
    assert!(msg.contains(file), "message does not name {file}: {msg}");
    for w in words {
        assert!(msg.contains(w), "message lacks {w:?}: {msg}");
    }
}

#[test]
fn the_scaffold_itself_is_accepted() {
    let Some((d, _)) = scaffold() else { return };
    let p = convert::prepare(d.path(), &ConvertOptions::default()).unwrap();
    assert_eq!(p.family.gguf_arch, "bert");
    assert_eq!(p.plan.tensors.len(), 101);
}

#[test]
fn missing_tokenizer_json_says_vocab_txt_is_not_enough() {
    let Some((d, _)) = scaffold() else { return };
    fs::remove_file(d.path().join("tokenizer.json")).unwrap();
    fs::write(d.path().join("vocab.txt"), "[PAD]\n").unwrap();
    let e = prepare_err(d.path());
    assert!(matches!(e, ConvertError::MissingFile { .. }), "{e:?}");
    assert_msg(&e, "tokenizer.json", &["not found", "vocab.txt"]);
}

#[test]
fn missing_weights_are_named() {
    let Some((d, _)) = scaffold() else { return };
    fs::remove_file(d.path().join("model.safetensors")).unwrap();
    assert_msg(&prepare_err(d.path()), "model.safetensors", &["not found"]);
}

#[test]
fn unsupported_architecture_names_the_supported_ones() {
    let Some((d, src)) = scaffold() else { return };
    edit_json(d.path(), &src, "config.json", |c| {
        c["architectures"] = serde_json::json!(["XLMRobertaModel"]);
    });
    let e = prepare_err(d.path());
    assert!(
        matches!(e, ConvertError::UnsupportedArchitecture { .. }),
        "{e:?}"
    );
    assert_msg(
        &e,
        "config.json",
        &["XLMRobertaModel", "BertModel", "Gemma3TextModel"],
    );
}

#[test]
fn wrong_shapes_in_config_are_caught_against_the_weights() {
    let Some((d, src)) = scaffold() else { return };
    edit_json(d.path(), &src, "config.json", |c| {
        c["intermediate_size"] = serde_json::json!(1024);
    });
    let e = prepare_err(d.path());
    assert!(matches!(e, ConvertError::BadShape { .. }), "{e:?}");
    assert_msg(
        &e,
        "model.safetensors",
        &["encoder.layer.0.intermediate.dense", "1536", "1024"],
    );
}

#[test]
fn heads_must_divide_the_width() {
    let Some((d, src)) = scaffold() else { return };
    edit_json(d.path(), &src, "config.json", |c| {
        c["num_attention_heads"] = serde_json::json!(7);
    });
    assert_msg(
        &prepare_err(d.path()),
        "config.json",
        &["num_attention_heads", "384"],
    );
}

#[test]
fn fewer_layers_in_config_than_in_weights() {
    let Some((d, src)) = scaffold() else { return };
    edit_json(d.path(), &src, "config.json", |c| {
        c["num_hidden_layers"] = serde_json::json!(5);
    });
    let e = prepare_err(d.path());
    assert!(matches!(e, ConvertError::UnknownTensor { .. }), "{e:?}");
    assert_msg(&e, "model.safetensors", &["encoder.layer.5.", "bert"]);
}

#[test]
fn more_layers_in_config_than_in_weights() {
    let Some((d, src)) = scaffold() else { return };
    edit_json(d.path(), &src, "config.json", |c| {
        c["num_hidden_layers"] = serde_json::json!(7);
    });
    let e = prepare_err(d.path());
    assert!(matches!(e, ConvertError::MissingTensor { .. }), "{e:?}");
    assert_msg(&e, "model.safetensors", &["blk.6.", "missing"]);
}

#[test]
fn non_wordpiece_tokenizer_is_refused() {
    let Some((d, src)) = scaffold() else { return };
    edit_json(d.path(), &src, "tokenizer.json", |t| {
        t["model"]["type"] = serde_json::json!("BPE");
    });
    let e = prepare_err(d.path());
    assert!(matches!(e, ConvertError::Tokenizer { .. }), "{e:?}");
    assert_msg(&e, "tokenizer.json", &["BPE", "WordPiece"]);
}

#[test]
fn token_ids_past_vocab_size_are_refused() {
    let Some((d, src)) = scaffold() else { return };
    edit_json(d.path(), &src, "config.json", |c| {
        c["vocab_size"] = serde_json::json!(30000);
    });
    assert_msg(
        &prepare_err(d.path()),
        "tokenizer.json",
        &["vocab_size", "30000"],
    );
}

#[test]
fn bad_max_seq_length_is_named() {
    let Some((d, src)) = scaffold() else { return };
    edit_json(d.path(), &src, "sentence_bert_config.json", |c| {
        c["max_seq_length"] = serde_json::json!(-1);
    });
    assert_msg(
        &prepare_err(d.path()),
        "sentence_bert_config.json",
        &["max_seq_length"],
    );
}

#[test]
fn non_gelu_activation_is_refused() {
    let Some((d, src)) = scaffold() else { return };
    edit_json(d.path(), &src, "config.json", |c| {
        c["hidden_act"] = serde_json::json!("relu");
    });
    assert_msg(
        &prepare_err(d.path()),
        "config.json",
        &["hidden_act", "relu"],
    );
}
