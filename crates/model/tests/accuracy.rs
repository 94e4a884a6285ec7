//! Accuracy against sentence-transformers fp32 on the visible corpus (tests/data), with the real
//! model files. Run with `--nocapture` to see the table.
//!
//! Two entry points are checked:
//! - `embed_tokens` on the reference token ids (ST-truncated): isolates the encoder from the
//!   tokenizer (F32, Q4_K_M);
//! - `embed` on the raw texts with their prompts: the whole pipeline (Q8_0; its token ids are
//!   checked equal to the reference ids first, so it covers the encoder on them too).

use model::{Embedder, EmbedderOptions, Embedding, Input, TokenInput};
use std::path::Path;
use testkit::ReferenceEmbedding;

const DIMS: [usize; 4] = [768, 512, 256, 128];
const BOS: u32 = 2;
const EOS: u32 = 1;
const N_CTX: usize = 2048;

struct Stats {
    mean: f64,
    min: f64,
    worst_id: u64,
}

fn stats(got: &[Embedding], reference: &[ReferenceEmbedding], dims: usize) -> Stats {
    let mut sum = 0.0;
    let mut min = f64::INFINITY;
    let mut worst_id = 0;
    for (g, r) in got.iter().zip(reference) {
        let c = testkit::cosine(&g.vector, &r.embedding, dims);
        sum += c;
        if c < min {
            min = c;
            worst_id = r.id;
        }
    }
    Stats {
        mean: sum / got.len() as f64,
        min,
        worst_id,
    }
}

/// Embeds every reference text at full width (dims are derived by Matryoshka truncation in
/// `testkit::cosine`, which matches truncating then renormalizing).
fn check(label: &str, got: &[Embedding], min_mean: f64, min_min: f64) {
    let reference = testkit::corpus_st_fp32();
    assert_eq!(got.len(), reference.len());
    for (g, r) in got.iter().zip(&reference) {
        assert_eq!(g.n_tokens, r.n_tokens, "id {}: n_tokens", r.id);
        assert_eq!(g.truncated, r.truncated, "id {}: truncated", r.id);
        assert_eq!(g.vector.len(), 768);
    }
    println!(
        "\n{label}: cosine vs sentence-transformers fp32 ({} texts)",
        got.len()
    );
    println!("| dims | mean cosine | min cosine | 1 - min | worst id |");
    println!("|-----:|------------:|-----------:|--------:|---------:|");
    let mut failures = Vec::new();
    for dims in DIMS {
        let s = stats(got, &reference, dims);
        println!(
            "| {dims} | {:.7} | {:.7} | {:.1e} | {} |",
            s.mean,
            s.min,
            1.0 - s.min,
            s.worst_id
        );
        if s.mean < min_mean || s.min < min_min {
            failures.push(format!(
                "{dims} dims: mean {:.6} (need {min_mean}), min {:.6} (need {min_min}, id {})",
                s.mean, s.min, s.worst_id
            ));
        }
    }
    assert!(failures.is_empty(), "{label}: {failures:#?}");
}

/// The reference ids cut the way sentence-transformers cuts: BOS + first 2046 content + EOS.
fn reference_token_inputs() -> Vec<TokenInput> {
    testkit::corpus_tokens()
        .into_iter()
        .map(|t| {
            let mut ids = t.token_ids;
            assert_eq!((ids[0], *ids.last().unwrap()), (BOS, EOS));
            let truncated = ids.len() > N_CTX;
            if truncated {
                ids.truncate(N_CTX - 1);
                ids.push(EOS);
            }
            TokenInput {
                truncated,
                ..TokenInput::new(ids)
            }
        })
        .collect()
}

fn open(path: &Path) -> Embedder {
    Embedder::open(path, &EmbedderOptions::default())
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()))
}

#[test]
fn f32_encoder_matches_sentence_transformers() {
    let mut e = open(&testkit::f32_model());
    let got = e.embed_tokens(&reference_token_inputs()).unwrap();
    check("F32, reference token ids", &got, 0.99999, 0.99999);
}

/// The whole pipeline on Q8_0: every text with its prompt tokenizes to sentence-transformers' ids
/// (truncation included), so `embed` here computes exactly what `embed_tokens` on the reference
/// ids does (vectors do not depend on the batch: batch_invariance.rs); one pass checks both.
#[test]
fn q8_0_texts_match_sentence_transformers() {
    let mut e = open(&testkit::q8_0_model());
    let inputs: Vec<Input> = testkit::corpus()
        .into_iter()
        .map(|c| Input {
            prompt_name: c.prompt_name,
            ..Input::new(c.text)
        })
        .collect();
    let reference = reference_token_inputs();
    assert_eq!(inputs.len(), reference.len());
    for (i, (input, want)) in inputs.iter().zip(&reference).enumerate() {
        let got = e.prepare(input).unwrap();
        assert_eq!(got.ids, want.ids, "corpus text {i}: token ids differ from the reference's");
        assert_eq!(got.truncated, want.truncated, "corpus text {i}: truncation differs");
    }
    let got = e.embed(&inputs).unwrap();
    check("Q8_0, texts + prompts (= reference token ids)", &got, 0.9996, 0.998);
}

/// A llama-quantize Q4_K_M mix (Q4_K, Q6_K token embedding and attn_v, Q5_0/Q8_0 ffn_down)
/// runs through the int8 panels: Q4_K/Q5_0/Q8_0 exactly (Q4_K with its per-block offset term),
/// Q6_K re-quantized per 32-block (see the kernels crate docs); attention in bf16 (its q/k/v
/// weights have under 8 bits). llama.cpp on the same file and token ids (README) scores mean
/// 0.98480 / min 0.96390 on this corpus; we measured 0.98565 / 0.96621 (768 dims; every path
/// gives the same bits; with f32 attention it was 0.98566 / 0.96568). The worst text then (id 88,
/// 21 tokens) moves by ~0.002 with last-bit changes upstream; with every weight dequantized to
/// f32 it scores 0.9687, so the file's own quantization dominates. The thresholds are the issue-12
/// bar (mean ≥ llama.cpp − 0.0003, min ≥ llama.cpp − 0.002) with a little margin.
#[test]
fn q4_k_m_encoder_matches_sentence_transformers() {
    let mut e = open(&testkit::q4_k_m_model());
    assert!(
        e.info().weight_mix.starts_with("Q4_K_M: "),
        "{}",
        e.info().weight_mix
    );
    let got = e.embed_tokens(&reference_token_inputs()).unwrap();
    check("Q4_K_M, reference token ids", &got, 0.9855, 0.962);
}
