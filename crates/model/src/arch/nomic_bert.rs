//! nomic-bert (`general.architecture = "nomic-bert"`: nomic-embed-text v1 / v1.5), one forward
//! pass over a ragged batch:
//!
//! ```text
//! x = token_embd_norm(token_embd[id] + token_types[0])          // LayerNorm; no position table
//! for each layer:
//!     x = attn_output_norm(x + attention(x))     // fused attn_qkv; NeoX RoPE on q, k (base
//!                                                 // rope.freq_base); softmax(q·kᵀ/√head_dim)·v
//!     x = layer_output_norm(x + ffn_down(silu(ffn_gate(x)) · ffn_up(x)))     // SwiGLU
//! e = mean(x)                                     // pooling_type (mean for nomic-embed-text)
//! ```
//!
//! The same post-norm block as [`bert`](super::bert) with RoPE instead of a position table and
//! SwiGLU instead of GELU; biases are used when the file has them (nomic-embed-text has none).
//!
//! Matryoshka (v1.5): 768, 512, 256, 128, 64 dims as the first d components renormalized,
//! which is what sentence-transformers' `truncate_dim` does. (The model card's recipe applies a
//! LayerNorm without weights to the full vector before truncating; that is not part of the
//! sentence-transformers pipeline and is not applied here.)
//! Task prefixes (`search_query`, `search_document`, `clustering`, `classification`) are the
//! architecture's built-in prompts: `tokenizer::prompts::builtin_prompts_for("nomic-bert")`.

use super::bert::{BertConfig, BertEmbeddings, PostNormEncoder, PostNormLayer};
use super::{pooling, LoadOptions, Loaded};
use crate::blocks::ffn::Act;
use crate::blocks::load::{Loader, Meta};
use crate::blocks::pooling::Pooling;
use crate::blocks::rope::RopeTable;
use crate::error::ModelError;
use crate::tensor_file::TensorFile;
use gguf::GgufFile;

pub const ARCH: &str = "nomic-bert";

/// Matryoshka sizes of nomic-embed-text v1.5 below 768.
const MATRYOSHKA_DIMS: [usize; 4] = [512, 256, 128, 64];

pub fn load(file: &GgufFile, data: TensorFile, opts: &LoadOptions) -> Result<Loaded, ModelError> {
    let meta = Meta { file, arch: ARCH };
    let cfg = BertConfig::from_meta(&meta)?;
    let head_dim = cfg.attn.head_dim;
    if head_dim % 2 != 0 {
        return Err(ModelError::bad_metadata(
            &meta.key("attention.head_count"),
            format!("head size {head_dim} is odd; RoPE needs an even head size"),
        ));
    }
    meta.expect_eq(
        "rope.dimension_count",
        head_dim,
        "must equal (partial RoPE is not supported) the head size",
    )?;
    let rope_base = meta.positive("rope.freq_base")?;
    let pooling = pooling(&meta, opts, Pooling::Mean)?;
    let l = Loader {
        file,
        data: &data,
        pool: opts.pool,
    };
    let layers = (0..cfg.n_layer)
        .map(|il| PostNormLayer::load(&l, il, &cfg, Act::SiluGated))
        .collect::<Result<Vec<_>, _>>()?;
    let weight_type = l.type_name(&["blk.0.attn_qkv.weight", "blk.0.attn_q.weight"]);
    let embd = BertEmbeddings::load(file, data, &cfg, false, opts.pool)?;
    let encoder = PostNormEncoder {
        rope: Some(RopeTable::new(rope_base, head_dim, cfg.n_ctx)),
        cfg,
        embd,
        layers,
        pooling,
        gated: true,
    };
    Ok(encoder.loaded(ARCH, &MATRYOSHKA_DIMS, weight_type))
}
