//! BERT (`general.architecture = "bert"`, llama.cpp's conversion of Hugging Face `BertModel`:
//! all-MiniLM, bge, mxbai-embed, snowflake-arctic-embed, e5), one forward pass over a ragged
//! batch:
//!
//! ```text
//! x = token_embd_norm(token_embd[id] + token_types[0] + position_embd[pos])   // LayerNorm
//! for each layer:
//!     x = attn_output_norm(x + attention(x))                  // q, k, v, output with biases;
//!                                                             // softmax(q·kᵀ/√head_dim)·v, all tokens
//!     x = layer_output_norm(x + ffn_down(gelu(ffn_up(x))))    // exact erf GELU, biases
//! e = pool(x)                                                  // pooling_type: 1 mean, 2 CLS
//! ```
//!
//! Every token has token type 0 ("sentence A"), as llama.cpp and sentence-transformers use for
//! single texts. The GELU is the erf form of Hugging Face's `hidden_act: "gelu"` (llama.cpp
//! uses the tanh approximation here; we follow the reference model).

use super::{pooling, ArchInfo, Batch, Encoder, LoadOptions, Loaded};
use crate::blocks::attention::{self_attention, AttnDims, AttnOptions, AttnWeights};
use crate::blocks::embedding::TokenEmbedding;
use crate::blocks::ffn::{feed_forward, Act, FfnWeights};
use crate::blocks::load::{Loader, Meta, MAX_CTX, MAX_DIM, MAX_LAYERS};
use crate::blocks::norm::{layer_norm_rows, residual_layer_norm, LayerNorm};
use crate::blocks::pooling::{pool, Pooling};
use crate::blocks::positions;
use crate::blocks::rope::RopeTable;
use crate::error::ModelError;
use crate::profile::OpTimer;
use crate::scratch::{Scratch, ScratchDims};
use crate::tensor_file::TensorFile;
use gguf::GgufFile;
use kernels::ThreadPool;

pub const ARCH: &str = "bert";

/// Hyperparameters of the BERT-style encoders, from `<arch>.*` metadata (`bert.*` here,
/// `nomic-bert.*` for nomic-bert, which shares this reader).
#[derive(Debug, Clone)]
pub struct BertConfig {
    /// `block_count`
    pub n_layer: usize,
    /// `feed_forward_length`
    pub n_ff: usize,
    /// `embedding_length`, `attention.head_count` (`head_count_kv` if given, else the same);
    /// head_dim = embedding_length / head_count
    pub attn: AttnDims,
    /// `context_length`
    pub n_ctx: usize,
    /// `attention.layer_norm_epsilon`
    pub eps: f32,
}

impl BertConfig {
    pub fn from_meta(m: &Meta) -> Result<BertConfig, ModelError> {
        let n_layer = m.dim("block_count", MAX_LAYERS)?;
        let n_embd = m.dim("embedding_length", MAX_DIM)?;
        let n_ff = m.dim("feed_forward_length", MAX_DIM * 4)?;
        let n_head = m.dim("attention.head_count", 1024)?;
        let n_head_kv = m
            .opt_dim("attention.head_count_kv", 1024)?
            .unwrap_or(n_head);
        let n_ctx = m.dim("context_length", MAX_CTX)?;
        let eps = m.positive("attention.layer_norm_epsilon")?;
        if n_embd % n_head != 0 {
            return Err(ModelError::bad_metadata(
                &m.key("attention.head_count"),
                format!("{n_head} does not divide embedding_length {n_embd}"),
            ));
        }
        if n_head % n_head_kv != 0 {
            return Err(ModelError::bad_metadata(
                &m.key("attention.head_count_kv"),
                format!("{n_head_kv} does not divide head_count {n_head}"),
            ));
        }
        if m.has("attention.causal") && m.file.get_bool(&m.key("attention.causal"))? {
            return Err(ModelError::bad_metadata(
                &m.key("attention.causal"),
                "causal attention is not supported by this encoder",
            ));
        }
        Ok(BertConfig {
            n_layer,
            n_ff,
            attn: AttnDims {
                n_embd,
                n_head,
                n_head_kv,
                head_dim: n_embd / n_head,
            },
            n_ctx,
            eps,
        })
    }

    pub fn scratch_dims(&self, embd_row_bytes: usize, gated: bool) -> ScratchDims {
        let d = &self.attn;
        let qkv = d.n_q() + 2 * d.n_kv();
        ScratchDims {
            n_embd: d.n_embd,
            n_q: d.n_q(),
            n_kv: d.n_kv(),
            n_ff: self.n_ff,
            wide: if gated { qkv.max(2 * self.n_ff) } else { qkv },
            n_head: d.n_head,
            n_head_kv: d.n_head_kv,
            head_dim: d.head_dim,
            n_ctx: self.n_ctx,
            head_hidden: 0,
            embd_row_bytes,
        }
    }
}

/// A LayerNorm `<name>.weight` + `<name>.bias`, [n].
pub fn layer_norm(l: &Loader, name: &str, n: usize) -> Result<LayerNorm, ModelError> {
    Ok(LayerNorm {
        weight: l.vector(&format!("{name}.weight"), n)?,
        bias: l.vector(&format!("{name}.bias"), n)?,
    })
}

/// One post-norm block (GGUF names `blk.N.*`), shared with nomic-bert.
pub struct PostNormLayer {
    pub attn: AttnWeights,
    pub attn_output_norm: LayerNorm,
    pub ffn: FfnWeights,
    pub layer_output_norm: LayerNorm,
}

impl PostNormLayer {
    pub fn load(
        l: &Loader,
        il: usize,
        cfg: &BertConfig,
        act: Act,
    ) -> Result<PostNormLayer, ModelError> {
        let n_embd = cfg.attn.n_embd;
        Ok(PostNormLayer {
            attn: AttnWeights::load(l, il, &cfg.attn, false)?,
            attn_output_norm: layer_norm(l, &format!("blk.{il}.attn_output_norm"), n_embd)?,
            ffn: FfnWeights::load(l, il, act, n_embd, cfg.n_ff)?,
            layer_output_norm: layer_norm(l, &format!("blk.{il}.layer_output_norm"), n_embd)?,
        })
    }

    /// x = attn_output_norm(x + attention(x));  x = layer_output_norm(x + ffn(x)), with
    /// `s.cur` = x on entry and on exit.
    pub fn forward(
        &self,
        opt: &AttnOptions,
        cfg: &BertConfig,
        batch: &Batch,
        s: &mut Scratch,
        pool_: &ThreadPool,
        timer: &mut OpTimer,
    ) {
        let n_tok = batch.tokens.len();
        self_attention(&self.attn, &cfg.attn, opt, batch, s, pool_, timer);
        residual_layer_norm(
            pool_,
            (&mut s.x, &mut s.cur),
            self.attn.output_bias.as_deref(),
            &self.attn_output_norm,
            cfg.eps,
            n_tok,
        );
        timer.lap("add+attn_output_norm");
        feed_forward(&self.ffn, n_tok, s, pool_, timer);
        residual_layer_norm(
            pool_,
            (&mut s.x, &mut s.cur),
            self.ffn.down_bias.as_deref(),
            &self.layer_output_norm,
            cfg.eps,
            n_tok,
        );
        timer.lap("add+layer_output_norm");
    }

    pub fn packed_bytes(&self) -> usize {
        self.attn.packed_bytes() + self.ffn.packed_bytes()
    }
}

/// The embedding input of the BERT-style encoders: token rows plus optional token-type-0 and
/// position rows, then LayerNorm.
pub struct BertEmbeddings {
    pub token_embd: TokenEmbedding,
    /// [n_embd] row 0 of `token_types` (absent in some conversions)
    pub token_type0: Option<Vec<f32>>,
    /// [n_ctx, n_embd] `position_embd` (BERT; nomic-bert uses RoPE instead)
    pub position_embd: Option<Vec<f32>>,
    pub norm: LayerNorm,
}

impl BertEmbeddings {
    pub fn load(
        file: &GgufFile,
        data: TensorFile,
        cfg: &BertConfig,
        positions: bool,
        pool: &ThreadPool,
    ) -> Result<BertEmbeddings, ModelError> {
        let l = Loader {
            file,
            data: &data,
            pool,
        };
        let n_embd = cfg.attn.n_embd;
        const TYPES: &str = "token_types.weight";
        let token_type0 = match l.rows_of(TYPES) {
            Some(n_types) if n_types >= 1 => {
                Some(l.table(TYPES, n_embd, n_types)?[..n_embd].to_vec())
            }
            _ if l.has(TYPES) => {
                return Err(ModelError::bad_metadata(
                    TYPES,
                    "expected a [n_embd, n_types] table",
                ))
            }
            _ => None,
        };
        let position_embd = if positions {
            Some(l.table("position_embd.weight", n_embd, cfg.n_ctx)?)
        } else {
            None
        };
        let norm = layer_norm(&l, "token_embd_norm", n_embd)?;
        Ok(BertEmbeddings {
            token_embd: TokenEmbedding::new(file, data, n_embd)?,
            token_type0,
            position_embd,
            norm,
        })
    }

    /// x = norm(token_embd[id] + token_types[0] + position_embd[pos]);  cur = x.
    /// Needs `s.pos` filled.
    pub fn forward(
        &self,
        batch: &Batch,
        eps: f32,
        s: &mut Scratch,
        pool_: &ThreadPool,
    ) -> Result<(), ModelError> {
        let n_embd = self.norm.weight.len();
        let n_tok = batch.tokens.len();
        let rows = s.x[..n_tok * n_embd].chunks_exact_mut(n_embd);
        for ((row, &id), &pos) in rows.zip(batch.tokens).zip(&s.pos) {
            self.token_embd.row(id, &mut s.embd_row, row)?;
            if let Some(t) = &self.token_type0 {
                kernels::add_inplace(row, t);
            }
            if let Some(p) = &self.position_embd {
                let at = pos as usize * n_embd;
                kernels::add_inplace(row, &p[at..at + n_embd]);
            }
        }
        layer_norm_rows(pool_, (&mut s.x, &mut s.cur), &self.norm, eps, n_tok);
        Ok(())
    }
}

/// A post-norm BERT-style encoder: the embedding input, [`PostNormLayer`]s, pooling. `bert`
/// and `nomic-bert` are this with different parts: a position table or RoPE, GELU or SwiGLU.
pub struct PostNormEncoder {
    pub cfg: BertConfig,
    pub embd: BertEmbeddings,
    pub layers: Vec<PostNormLayer>,
    /// RoPE on q and k (nomic-bert); `None` for absolute positions (bert's position table)
    pub rope: Option<RopeTable>,
    pub pooling: Pooling,
    /// The FFN is gated (scratch for gate ‖ up)
    pub gated: bool,
}

impl PostNormEncoder {
    /// This encoder as a loaded model of architecture `arch` (`matryoshka`: its smaller sizes;
    /// `weight_type`: the layers' weight type as `bench` and `/info` report it).
    pub fn loaded(
        self,
        arch: &'static str,
        matryoshka: &'static [usize],
        weight_type: &'static str,
    ) -> Loaded {
        let info = ArchInfo {
            arch,
            n_layer: self.cfg.n_layer,
            n_embd: self.cfg.attn.n_embd,
            n_ctx: self.cfg.n_ctx,
            n_vocab: self.embd.token_embd.n_vocab(),
            pooling: self.pooling,
            matryoshka,
            weight_type,
            token_embd_type: self.embd.token_embd.type_name(),
            has_head: false,
            packed_bytes: self.layers.iter().map(PostNormLayer::packed_bytes).sum(),
            warnings: Vec::new(),
        };
        Loaded {
            encoder: Box::new(self),
            info,
        }
    }
}

pub fn load(file: &GgufFile, data: TensorFile, opts: &LoadOptions) -> Result<Loaded, ModelError> {
    let meta = Meta { file, arch: ARCH };
    let cfg = BertConfig::from_meta(&meta)?;
    let pooling = pooling(&meta, opts, Pooling::Mean)?;
    let l = Loader {
        file,
        data: &data,
        pool: opts.pool,
    };
    let layers = (0..cfg.n_layer)
        .map(|il| PostNormLayer::load(&l, il, &cfg, Act::GeluErf))
        .collect::<Result<Vec<_>, _>>()?;
    let weight_type = l.type_name(&["blk.0.attn_q.weight", "blk.0.attn_qkv.weight"]);
    let embd = BertEmbeddings::load(file, data, &cfg, true, opts.pool)?;
    let encoder = PostNormEncoder {
        cfg,
        embd,
        layers,
        rope: None,
        pooling,
        gated: false,
    };
    Ok(encoder.loaded(ARCH, &[], weight_type))
}

impl Encoder for PostNormEncoder {
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
        positions(batch, &mut s.pos);

        // x = cur = token_embd_norm(token_embd[id] + token_types[0] (+ position_embd[pos]))
        self.embd.forward(batch, cfg.eps, s, pool_)?;
        timer.lap("embeddings+norm");

        // softmax(q·kᵀ/√head_dim)·v over the whole sequence, RoPE on q and k if any
        let opt = AttnOptions {
            window: None,
            scale: 1.0 / (cfg.attn.head_dim as f32).sqrt(),
            rope: self.rope.as_ref(),
            qk_norm_eps: 0.0,
        };
        for layer in &self.layers {
            layer.forward(&opt, cfg, batch, s, pool_, timer);
        }

        // e = pool(x)                                                          [n_seq, n_embd]
        let n_seq = batch.seqs.len();
        pool(
            self.pooling,
            &s.cur[..n_tok * n_embd],
            n_embd,
            batch.seqs,
            &mut s.pooled,
        );
        timer.lap("pool");
        Ok(&s.pooled[..n_seq * n_embd])
    }

    fn scratch_dims(&self) -> ScratchDims {
        self.cfg
            .scratch_dims(self.embd.token_embd.row_bytes(), self.gated)
    }
}
