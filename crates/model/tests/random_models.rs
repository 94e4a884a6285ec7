//! Small random-weight `bert` (CLS pooling, two token types, position table) and `nomic-bert`
//! (fused QKV, RoPE, SwiGLU, mean pooling) GGUFs from tests/data/random_models/make.py,
//! against two references on the same token ids: llama.cpp's llama-server and the script's own
//! float64 NumPy forward pass (erf GELU, like Hugging Face; llama.cpp's BERT uses the tanh
//! GELU, and the two references agree at min cosine 0.9999997). See that directory's README.

use model::{Embedder, EmbedderOptions, TokenInput};
use testkit::{CorpusTokens, ReferenceEmbedding};

fn open(name: &str) -> Embedder {
    let path = testkit::data_path(&format!("random_models/{name}.gguf"));
    let opts = EmbedderOptions {
        threads: 2,
        ..EmbedderOptions::default()
    };
    Embedder::open(&path, &opts).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()))
}

fn inputs() -> Vec<TokenInput> {
    testkit::read_jsonl::<CorpusTokens>("random_models/tokens.jsonl")
        .into_iter()
        .map(|t| TokenInput::new(t.token_ids))
        .collect()
}

/// Embeds every sequence, checks cosine >= 0.99999 to both references, and that each vector
/// is bit-identical whether embedded alone or in the batch.
fn check(name: &str) {
    let mut e = open(name);
    let got = e.embed_tokens(&inputs()).unwrap();
    for reference in ["llamacpp", "numpy"] {
        let r: Vec<ReferenceEmbedding> =
            testkit::read_jsonl(&format!("random_models/{name}.{reference}.jsonl"));
        assert_eq!(r.len(), got.len());
        let cos: Vec<f64> = got
            .iter()
            .zip(&r)
            .map(|(g, r)| testkit::cosine(&g.vector, &r.embedding, r.embedding.len()))
            .collect();
        let min = cos.iter().copied().fold(f64::INFINITY, f64::min);
        let mean = cos.iter().sum::<f64>() / cos.len() as f64;
        println!(
            "{name} vs {reference}: mean {mean:.8}, min {min:.8} ({} sequences)",
            cos.len()
        );
        assert!(min >= 0.99999, "{name} vs {reference}: min cosine {min}");
    }
    for (i, input) in inputs().into_iter().enumerate() {
        let alone = e.embed_tokens(&[input]).unwrap();
        assert!(
            alone[0]
                .vector
                .iter()
                .zip(&got[i].vector)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{name}: sequence {i} differs alone and in a batch"
        );
    }
}

#[test]
fn bert_cls_matches_llama_cpp_and_numpy() {
    let e = open("bert-cls");
    assert_eq!(
        (e.info().arch.as_str(), e.info().pooling.as_str()),
        ("bert", "cls")
    );
    assert_eq!(e.info().dims, vec![64]);
    assert!(e.info().prompts.is_empty());
    check("bert-cls");
}

#[test]
fn nomic_bert_matches_llama_cpp_and_numpy() {
    let e = open("nomic-bert");
    let info = e.info();
    assert_eq!(
        (info.arch.as_str(), info.pooling.as_str()),
        ("nomic-bert", "mean")
    );
    let names: Vec<&str> = info.prompts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "search_query",
            "search_document",
            "clustering",
            "classification"
        ]
    );
    check("nomic-bert");
}

#[test]
fn prompts_apply_per_architecture() {
    // nomic-bert's task prefix is prepended as text; bert has no prompts at all (and never
    // falls back to EmbeddingGemma's).
    let nomic = open("nomic-bert");
    let with = nomic
        .prepare(&model::Input::new("the").with_prompt("search_query"))
        .unwrap();
    let without = nomic
        .prepare(&model::Input::new("search_query: the"))
        .unwrap();
    assert_eq!(with.ids, without.ids);
    let bert = open("bert-cls");
    let err = bert
        .prepare(&model::Input::new("x").with_prompt("query"))
        .unwrap_err();
    assert!(err.to_string().contains("no prompts"), "{err}");
}

#[test]
fn max_tokens_truncates_and_is_checked() {
    let opts = |n| EmbedderOptions {
        threads: 1,
        max_tokens: Some(n),
        ..EmbedderOptions::default()
    };
    let path = testkit::data_path("random_models/bert-cls.gguf");
    let e = Embedder::open(&path, &opts(5)).unwrap();
    assert_eq!((e.info().n_ctx, e.info().context_length), (5, 128));
    let t = e
        .prepare(&model::Input::new("the a of and to in is was"))
        .unwrap();
    // [CLS] the a of [SEP]
    assert_eq!(t.ids.len(), 5);
    assert!(t.truncated);
    assert_eq!((t.ids[0], t.ids[4]), (2, 3));
    for bad in [0, 129] {
        let err = Embedder::open(&path, &opts(bad)).err().unwrap();
        assert!(
            matches!(err, model::ModelError::BadMaxTokens { .. }),
            "{err:?}"
        );
    }
}
