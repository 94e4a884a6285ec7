//! EmbeddingGemma (`general.architecture = "gemma-embedding"`), one forward pass over a ragged
//! batch:
//!
//! ```text
//! x = token_embd[ids] · sqrt(n_embd)
//! for each layer:
//!     x = x + post_attention_norm(attention(attn_norm(x)))     // bidirectional; sliding or global
//!     x = x + post_ffw_norm(ffn_down(gelu(ffn_gate(h)) · ffn_up(h)))   where h = ffn_norm(x)
//! e = mean over each sequence's tokens of output_norm(x)
//! e = dense_3(dense_2(e))                                      // the sentence-transformers head
//! ```
//!
//! Attention: per-head RMSNorm of q and k, NeoX RoPE (base `rope.freq_base` on global layers,
//! `rope.freq_base_swa` on sliding ones), scale 1/sqrt(key_length), a symmetric window of half
//! `attention.sliding_window` on sliding layers.
//!
//! Each residual add is fused with the norm that follows it: post_attention_norm+add with
//! ffn_norm, post_ffw_norm+add with the next layer's attn_norm (or output_norm after the last).
//! All sequences' tokens are concatenated (no padding) for the linear layers and norms;
//! attention runs per sequence. Every kernel is batch invariant, so a sequence's result does not
//! depend on what else is in the batch.

use super::{pooling, ArchInfo, Batch, Encoder, LoadOptions, Loaded};
use crate::blocks::attention::{self_attention, AttnDims, AttnOptions, AttnWeights};
use crate::blocks::embedding::TokenEmbedding;
use crate::blocks::ffn::{feed_forward, Act, FfnWeights};
use crate::blocks::load::{Loader, Meta, MAX_CTX, MAX_DIM, MAX_LAYERS};
use crate::blocks::norm::{residual_rms_norm, rms_norm_rows};
use crate::blocks::pooling::{pool, Pooling};
use crate::blocks::positions;
use crate::blocks::rope::RopeTable;
use crate::error::ModelError;
use crate::head::{dense_head, HeadWeights};
use crate::profile::OpTimer;
use crate::scratch::{Scratch, ScratchDims};
use crate::tensor_file::TensorFile;
use gguf::{GgufFile, Value};
use kernels::ThreadPool;

pub const ARCH: &str = "gemma-embedding";

/// Matryoshka sizes below the full width that EmbeddingGemma was trained for.
const MATRYOSHKA_DIMS: [usize; 3] = [512, 256, 128];

/// The default sliding-window period of Gemma 3 / EmbeddingGemma.
const DEFAULT_SWA_PERIOD: usize = 6;

/// Hyperparameters, all from `gemma-embedding.*` metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `block_count`
    pub n_layer: usize,
    /// `feed_forward_length`
    pub n_ff: usize,
    /// `embedding_length`, `attention.head_count`, `attention.head_count_kv`,
    /// `attention.key_length` (= `value_length`)
    pub attn: AttnDims,
    /// `context_length`: the longest sequence the model takes.
    pub n_ctx: usize,
    /// `attention.layer_norm_rms_epsilon`
    pub rms_eps: f32,
    /// `rope.freq_base`: RoPE base of the global (full-attention) layers.
    pub rope_base: f32,
    /// `rope.freq_base_swa`: RoPE base of the sliding-window layers (defaults to `rope_base`, as in llama.cpp).
    pub rope_base_swa: f32,
    /// `attention.sliding_window`: a token sees others within half of it on either side.
    pub sliding_window: usize,
    /// Which layers use the sliding window: `attention.sliding_window_pattern` (period or per-layer
    /// flags) or the EmbeddingGemma default period 6: layer `il` slides iff `(il + 1) % 6 != 0`.
    pub swa_layers: Vec<bool>,
    /// Attention scale applied to q: `1/sqrt(key_length)` (Gemma's `query_pre_attn_scalar^-0.5`).
    pub attn_scale: f32,
    /// `dense_2_feat_out` (the head's hidden width), when the file declares it.
    pub dense_2_feat_out: Option<usize>,
}

impl Config {
    pub fn from_gguf(file: &GgufFile) -> Result<Config, ModelError> {
        let m = Meta { file, arch: ARCH };
        let n_layer = m.dim("block_count", MAX_LAYERS)?;
        let n_embd = m.dim("embedding_length", MAX_DIM)?;
        let n_ff = m.dim("feed_forward_length", MAX_DIM * 4)?;
        let n_head = m.dim("attention.head_count", 1024)?;
        let n_head_kv = m.dim("attention.head_count_kv", 1024)?;
        let head_dim = m.dim("attention.key_length", MAX_DIM)?;
        let n_ctx = m.dim("context_length", MAX_CTX)?;
        let sliding_window = m.dim("attention.sliding_window", MAX_CTX * 2)?;

        if n_head % n_head_kv != 0 {
            return Err(ModelError::bad_metadata(
                &m.key("attention.head_count_kv"),
                format!("{n_head_kv} does not divide head_count {n_head}"),
            ));
        }
        if head_dim % 2 != 0 {
            return Err(ModelError::bad_metadata(
                &m.key("attention.key_length"),
                format!("{head_dim} is odd; RoPE needs an even head size"),
            ));
        }
        m.expect_eq(
            "attention.value_length",
            head_dim,
            "must equal (others are not supported) key_length",
        )?;
        m.expect_eq(
            "rope.dimension_count",
            head_dim,
            "must equal (partial RoPE is not supported) key_length",
        )?;

        let rms_eps = m.positive("attention.layer_norm_rms_epsilon")?;
        let rope_base = m.positive("rope.freq_base")?;
        let rope_base_swa = m.opt_positive("rope.freq_base_swa")?.unwrap_or(rope_base);
        let swa_layers = swa_pattern(file, &m.key("attention.sliding_window_pattern"), n_layer)?;

        let dense_2_feat_out = m.opt_dim("dense_2_feat_out", MAX_DIM * 4)?;
        m.expect_eq("dense_2_feat_in", n_embd, "must equal embedding_length")?;
        m.expect_eq("dense_3_feat_out", n_embd, "must equal embedding_length")?;
        if let Some(out2) = dense_2_feat_out {
            m.expect_eq("dense_3_feat_in", out2, "must equal dense_2_feat_out")?;
        }

        Ok(Config {
            n_layer,
            n_ff,
            attn: AttnDims {
                n_embd,
                n_head,
                n_head_kv,
                head_dim,
            },
            n_ctx,
            rms_eps,
            rope_base,
            rope_base_swa,
            sliding_window,
            swa_layers,
            attn_scale: 1.0 / (head_dim as f32).sqrt(),
            dense_2_feat_out,
        })
    }

    /// The attention window of layer `il`: `Some(half window)` on sliding layers (attend iff
    /// |i-j| <= sliding_window/2, llama.cpp's symmetric SWA), `None` on global layers.
    pub fn window(&self, il: usize) -> Option<usize> {
        self.swa_layers[il].then_some(self.sliding_window / 2)
    }
}

/// Which layers slide: a per-layer bool array, a period `p` (layer `il` slides iff
/// `il % p < p - 1`, i.e. every p-th layer is global), or the default period 6.
fn swa_pattern(file: &GgufFile, key: &str, n_layer: usize) -> Result<Vec<bool>, ModelError> {
    let by_period = |p: usize| (0..n_layer).map(|il| p == 0 || il % p < p - 1).collect();
    match file.get(key) {
        None => Ok(by_period(DEFAULT_SWA_PERIOD)),
        Some(Value::Array(gguf::Array::Bool(flags))) => {
            if flags.len() < n_layer {
                return Err(ModelError::bad_metadata(
                    key,
                    format!("{} flags for {n_layer} layers", flags.len()),
                ));
            }
            Ok(flags[..n_layer].to_vec())
        }
        Some(_) => {
            let p = file.get_u64(key)? as usize;
            Ok(by_period(p))
        }
    }
}

/// One transformer block (GGUF names `blk.N.*`).
struct Layer {
    /// [n_embd]
    attn_norm: Vec<f32>,
    attn: AttnWeights,
    /// [n_embd]
    post_attention_norm: Vec<f32>,
    /// [n_embd]
    ffn_norm: Vec<f32>,
    ffn: FfnWeights,
    /// [n_embd]
    post_ffw_norm: Vec<f32>,
}

pub struct Gemma {
    cfg: Config,
    layers: Vec<Layer>,
    /// [n_embd]
    output_norm: Vec<f32>,
    /// `None` only for head-less files opened with `allow_missing_head`.
    head: Option<HeadWeights>,
    pooling: Pooling,
    token_embd: TokenEmbedding,
    /// RoPE of the global layers (base `rope.freq_base`)
    rope: RopeTable,
    /// RoPE of the sliding-window layers (base `rope.freq_base_swa`)
    rope_swa: RopeTable,
}

pub fn load(file: &GgufFile, data: TensorFile, opts: &LoadOptions) -> Result<Loaded, ModelError> {
    let cfg = Config::from_gguf(file)?;
    let l = Loader {
        file,
        data: &data,
        pool: opts.pool,
    };
    let d = cfg.attn;
    let mut layers = Vec::with_capacity(cfg.n_layer);
    for il in 0..cfg.n_layer {
        let n = |t: &str| format!("blk.{il}.{t}.weight");
        layers.push(Layer {
            attn_norm: l.vector(&n("attn_norm"), d.n_embd)?,
            attn: AttnWeights::load(&l, il, &d, true)?,
            post_attention_norm: l.vector(&n("post_attention_norm"), d.n_embd)?,
            ffn_norm: l.vector(&n("ffn_norm"), d.n_embd)?,
            ffn: FfnWeights::load(&l, il, Act::GeluTanhGated, d.n_embd, cfg.n_ff)?,
            post_ffw_norm: l.vector(&n("post_ffw_norm"), d.n_embd)?,
        });
    }
    let head = HeadWeights::load(&l, d.n_embd, cfg.dense_2_feat_out, opts.allow_missing_head)?;
    let output_norm = l.vector("output_norm.weight", d.n_embd)?;
    let weight_type = l.type_name(&["blk.0.attn_q.weight", "blk.0.attn_qkv.weight"]);
    let meta = Meta { file, arch: ARCH };
    let pooling = pooling(&meta, opts, Pooling::Mean)?;

    let mut warnings = Vec::new();
    if head.is_none() {
        warnings.push(
            "no dense_2/dense_3 head; vectors are NOT EmbeddingGemma embeddings \
             (old head-less conversion, allowed by --allow-missing-head)"
                .to_string(),
        );
    }
    let packed_bytes = layers
        .iter()
        .map(|l| l.attn.packed_bytes() + l.ffn.packed_bytes())
        .sum::<usize>()
        + head
            .as_ref()
            .map_or(0, |h| h.dense_2.size_bytes() + h.dense_3.size_bytes());
    let token_embd = TokenEmbedding::new(file, data, d.n_embd)?;
    let info = ArchInfo {
        arch: ARCH,
        n_layer: cfg.n_layer,
        n_embd: d.n_embd,
        n_ctx: cfg.n_ctx,
        n_vocab: token_embd.n_vocab(),
        pooling,
        matryoshka: &MATRYOSHKA_DIMS,
        weight_type,
        token_embd_type: token_embd.type_name(),
        has_head: head.is_some(),
        packed_bytes,
        warnings,
    };
    let model = Gemma {
        rope: RopeTable::new(cfg.rope_base, d.head_dim, cfg.n_ctx),
        rope_swa: RopeTable::new(cfg.rope_base_swa, d.head_dim, cfg.n_ctx),
        cfg,
        layers,
        output_norm,
        head,
        pooling,
        token_embd,
    };
    Ok(Loaded {
        encoder: Box::new(model),
        info,
    })
}

impl Encoder for Gemma {
    fn forward<'s>(
        &self,
        batch: &Batch,
        s: &'s mut Scratch,
        pool_: &ThreadPool,
        timer: &mut OpTimer,
    ) -> Result<&'s [f32], ModelError> {
        let cfg = &self.cfg;
        let (n_tok, n_embd) = (batch.tokens.len(), cfg.attn.n_embd);
        debug_assert!(n_tok <= s.max_tokens);

        // x = token_embd[ids] · sqrt(n_embd)                                   [n_tok, n_embd]
        let x = &mut s.x[..n_tok * n_embd];
        let scale = (n_embd as f32).sqrt();
        for (row, &id) in x.chunks_exact_mut(n_embd).zip(batch.tokens) {
            self.token_embd.row(id, &mut s.embd_row, row)?;
            row.iter_mut().for_each(|v| *v *= scale);
        }
        timer.lap("token_embd");
        positions(batch, &mut s.pos);

        let layers = &self.layers;
        // cur = attn_norm(x) of the first layer; every later norm is fused with a residual add.
        rms_norm_rows(
            pool_,
            &s.x,
            &layers[0].attn_norm,
            cfg.rms_eps,
            &mut s.cur,
            n_tok,
        );
        timer.lap("attn_norm");
        for (il, layer) in layers.iter().enumerate() {
            let opt = AttnOptions {
                window: cfg.window(il),
                scale: cfg.attn_scale,
                rope: Some(if cfg.swa_layers[il] {
                    &self.rope_swa
                } else {
                    &self.rope
                }),
                qk_norm_eps: cfg.rms_eps,
            };
            // x = x + post_attention_norm(attention(cur));  cur = ffn_norm(x)
            self_attention(&layer.attn, &cfg.attn, &opt, batch, s, pool_, timer);
            residual_rms_norm(
                pool_,
                (&mut s.x, &mut s.cur),
                (&layer.post_attention_norm, &layer.ffn_norm),
                cfg.rms_eps,
                n_tok,
            );
            timer.lap("post_attention_norm+add+ffn_norm");

            // x = x + post_ffw_norm(ffn(cur));  cur = attn_norm(x) of the next layer, or
            // output_norm(x) after the last one
            feed_forward(&layer.ffn, n_tok, s, pool_, timer);
            let next_norm = layers
                .get(il + 1)
                .map_or(&self.output_norm, |l| &l.attn_norm);
            residual_rms_norm(
                pool_,
                (&mut s.x, &mut s.cur),
                (&layer.post_ffw_norm, next_norm),
                cfg.rms_eps,
                n_tok,
            );
            timer.lap("post_ffw_norm+add+next_norm");
        }

        // e = mean_pool(output_norm(x))                                        [n_seq, n_embd]
        let n_seq = batch.seqs.len();
        pool(
            self.pooling,
            &s.cur[..n_tok * n_embd],
            n_embd,
            batch.seqs,
            &mut s.pooled,
        );
        timer.lap("mean_pool");

        // e = dense_3(dense_2(e))
        if let Some(head) = &self.head {
            dense_head(head, n_seq, s, pool_);
            timer.lap("dense_2+dense_3");
        }
        Ok(&s.pooled[..n_seq * n_embd])
    }

    fn scratch_dims(&self) -> ScratchDims {
        let (cfg, d) = (&self.cfg, &self.cfg.attn);
        ScratchDims {
            n_embd: d.n_embd,
            n_q: d.n_q(),
            n_kv: d.n_kv(),
            n_ff: cfg.n_ff,
            wide: (d.n_q() + 2 * d.n_kv()).max(2 * cfg.n_ff),
            n_head: d.n_head,
            n_head_kv: d.n_head_kv,
            head_dim: d.head_dim,
            n_ctx: cfg.n_ctx,
            head_hidden: self.head.as_ref().map_or(0, |h| h.dense_2.rows()),
            embd_row_bytes: self.token_embd.row_bytes(),
        }
    }
}
