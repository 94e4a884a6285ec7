//! Loading rules and input errors, on a tiny synthetic gemma-embedding GGUF (tests/common).

use crate::common;

use common::{write_tiny_model, Tweaks};
use model::{Embedder, EmbedderOptions, Input, ModelError, TokenInput, Truncate};
use std::path::PathBuf;

fn tiny(tweaks: &Tweaks) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    write_tiny_model(&path, tweaks);
    (dir, path)
}

fn open(path: &std::path::Path, allow_missing_head: bool) -> Result<Embedder, ModelError> {
    let opts = EmbedderOptions {
        threads: 1,
        allow_missing_head,
        ..EmbedderOptions::default()
    };
    Embedder::open(path, &opts)
}

#[test]
fn headless_file_is_refused_with_an_explanation() {
    let (_dir, path) = tiny(&Tweaks {
        without_head: true,
        ..Tweaks::default()
    });
    let err = open(&path, false)
        .err()
        .expect("head-less file must be refused");
    assert!(matches!(err, ModelError::MissingHead), "{err:?}");
    let msg = err.to_string();
    for needle in ["dense_2", "dense_3", "--allow-missing-head", "unrelated"] {
        assert!(msg.contains(needle), "message lacks {needle:?}: {msg}");
    }
}

#[test]
fn headless_file_opens_with_allow_missing_head_and_warns() {
    let (_dir, path) = tiny(&Tweaks {
        without_head: true,
        ..Tweaks::default()
    });
    let mut e = open(&path, true).unwrap();
    assert!(!e.info().has_head);
    assert!(
        e.info().warnings.iter().any(|w| w.contains("dense_2")),
        "{:?}",
        e.info().warnings
    );
    let v = e.embed(&[Input::new("hello")]).unwrap();
    assert_eq!(v[0].vector.len(), common::N_EMBD as usize);
    let norm: f32 = v[0].vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
}

#[test]
fn well_formed_tiny_model_reports_its_metadata() {
    let (_dir, path) = tiny(&Tweaks::default());
    let e = open(&path, false).unwrap();
    let info = e.info();
    assert_eq!(info.arch, "gemma-embedding");
    assert_eq!(info.n_embd, 64);
    assert_eq!(info.n_ctx, 64);
    assert_eq!(info.n_layer, 2);
    assert_eq!(info.n_vocab, 262144);
    assert_eq!(info.dims, vec![64]);
    assert!(info.has_head);
    assert_eq!(info.weight_type, "Q8_0");
    // 2 layers: ffn_up is Q4_0, ffn_down BF16 (see common::tiny)
    assert!(info.weight_mix.contains("Q4_0×2"), "{}", info.weight_mix);
    assert!(info.weight_mix.contains("BF16×2"), "{}", info.weight_mix);
    assert!(info.warnings.is_empty());
    assert!(info.prompts.iter().any(|(n, _)| n == "query"));
}

#[test]
fn wrong_architecture_is_named() {
    let (_dir, path) = tiny(&Tweaks {
        arch: Some("llama"),
        ..Tweaks::default()
    });
    let err = open(&path, false).err().unwrap();
    assert!(
        matches!(&err, ModelError::WrongArchitecture { found } if found == "llama"),
        "{err:?}"
    );
}

#[test]
fn missing_tensor_is_named() {
    let (_dir, path) = tiny(&Tweaks {
        drop_tensor: Some("blk.1.ffn_up.weight"),
        ..Tweaks::default()
    });
    let err = open(&path, false).err().unwrap();
    assert!(err.to_string().contains("blk.1.ffn_up.weight"), "{err}");
}

#[test]
fn wrong_shape_is_named() {
    let (_dir, path) = tiny(&Tweaks {
        reshape_tensor: Some("blk.0.attn_k.weight"),
        ..Tweaks::default()
    });
    let err = open(&path, false).err().unwrap();
    assert!(
        matches!(&err, ModelError::ShapeMismatch { name, .. } if name == "blk.0.attn_k.weight"),
        "{err:?}"
    );
}

#[test]
fn missing_hyperparameter_is_named() {
    let (_dir, path) = tiny(&Tweaks {
        drop_key: Some("attention.head_count_kv"),
        ..Tweaks::default()
    });
    let err = open(&path, false).err().unwrap();
    assert!(
        err.to_string()
            .contains("gemma-embedding.attention.head_count_kv"),
        "{err}"
    );
}

#[test]
fn input_errors_say_what_was_wrong() {
    let (_dir, path) = tiny(&Tweaks::default());
    let mut e = open(&path, false).unwrap();
    let long = "word ".repeat(200);

    let err = e.embed(&[Input::new("x").with_dims(100)]).unwrap_err();
    assert!(err.to_string().contains("100"), "{err}");

    let err = e
        .embed(&[Input::new("ok"), Input::new("x").with_prompt("nope")])
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("input 1") && msg.contains("nope") && msg.contains("query"),
        "{msg}"
    );

    let err = e
        .prepare(&Input::new(long.clone()).with_truncate(Truncate::Error))
        .unwrap_err();
    match err {
        ModelError::TooLong { n_tokens, max } => {
            assert_eq!(max, 64);
            assert!(n_tokens > 64, "{n_tokens}");
        }
        other => panic!("{other:?}"),
    }

    let err = e
        .prepare(&Input::new("x").with_prompt("query").with_title("T"))
        .unwrap_err();
    assert!(matches!(err, ModelError::TitleWithPrompt { .. }), "{err:?}");

    let err = e.embed_tokens(&[TokenInput::new(vec![])]).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");

    let err = e
        .embed_tokens(&[TokenInput::new(vec![2, 262144, 1])])
        .unwrap_err();
    assert!(err.to_string().contains("262144"), "{err}");

    let err = e.embed_tokens(&[TokenInput::new(vec![2; 65])]).unwrap_err();
    assert!(err.to_string().contains("65"), "{err}");
}

#[test]
fn truncation_keeps_bos_first_tokens_and_eos() {
    let (_dir, path) = tiny(&Tweaks::default());
    let mut e = open(&path, false).unwrap();
    let long = "word ".repeat(200);
    let full = e.tokenizer().encode(&long);
    let t = e.prepare(&Input::new(long.clone())).unwrap();
    assert!(t.truncated);
    assert_eq!(t.ids.len(), 64);
    assert_eq!(&t.ids[..63], &full[..63]);
    assert_eq!(t.ids[63], e.tokenizer().eos_id());
    let v = e.embed(&[Input::new(long)]).unwrap();
    assert_eq!((v[0].n_tokens, v[0].truncated), (64, true));
}

#[test]
fn title_fills_the_document_prompt() {
    let (_dir, path) = tiny(&Tweaks::default());
    let e = open(&path, false).unwrap();
    let with_title = e
        .prepare(&Input::new("body").with_title("My Title"))
        .unwrap();
    let spelled = e.tokenizer().encode("title: My Title | text: body");
    assert_eq!(with_title.ids, spelled);
    let doc = e
        .prepare(&Input::new("body").with_prompt("document"))
        .unwrap();
    assert_eq!(doc.ids, e.tokenizer().encode("title: none | text: body"));
    // Prompt names are matched loosely: case, spaces/underscores/hyphens.
    let qa = e
        .prepare(&Input::new("q").with_prompt("Question_Answering"))
        .unwrap();
    assert_eq!(
        qa.ids,
        e.tokenizer().encode("task: question answering | query: q")
    );
}

#[test]
fn embedder_can_move_to_a_worker_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Embedder>();
}
