//! Hyperparameters, all read from the GGUF metadata (`gemma-embedding.*`), checked for sanity so a
//! corrupt file gives an error instead of a giant allocation or an out-of-bounds index.

use crate::error::ModelError;
use gguf::{GgufFile, Value};

/// The architecture name this engine implements.
pub const ARCH: &str = "gemma-embedding";

/// Upper bounds that no EmbeddingGemma-style file gets near; they keep corrupt metadata from
/// asking for absurd scratch buffers.
const MAX_CTX: usize = 1 << 17;
const MAX_DIM: usize = 1 << 16;
const MAX_LAYERS: usize = 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `block_count`
    pub n_layer: usize,
    /// `embedding_length`
    pub n_embd: usize,
    /// `feed_forward_length`
    pub n_ff: usize,
    /// `attention.head_count`
    pub n_head: usize,
    /// `attention.head_count_kv`
    pub n_head_kv: usize,
    /// `attention.key_length` (= `value_length`)
    pub head_dim: usize,
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

/// The default sliding-window period of Gemma 3 / EmbeddingGemma.
const DEFAULT_SWA_PERIOD: usize = 6;

impl Config {
    pub fn from_gguf(file: &GgufFile) -> Result<Config, ModelError> {
        let arch = file.get_str("general.architecture")?;
        if arch != ARCH {
            return Err(ModelError::WrongArchitecture {
                found: arch.to_string(),
            });
        }
        let key = |k: &str| format!("{ARCH}.{k}");
        let dim = |k: &str, max: usize| -> Result<usize, ModelError> {
            let name = key(k);
            let v = file.get_u64(&name)? as usize;
            if v == 0 || v > max {
                return Err(ModelError::bad_metadata(
                    &name,
                    format!("value {v} is out of range 1..={max}"),
                ));
            }
            Ok(v)
        };

        let n_layer = dim("block_count", MAX_LAYERS)?;
        let n_embd = dim("embedding_length", MAX_DIM)?;
        let n_ff = dim("feed_forward_length", MAX_DIM * 4)?;
        let n_head = dim("attention.head_count", 1024)?;
        let n_head_kv = dim("attention.head_count_kv", 1024)?;
        let head_dim = dim("attention.key_length", MAX_DIM)?;
        let n_ctx = dim("context_length", MAX_CTX)?;
        let sliding_window = dim("attention.sliding_window", MAX_CTX * 2)?;

        if n_head % n_head_kv != 0 {
            return Err(ModelError::bad_metadata(
                &key("attention.head_count_kv"),
                format!("{n_head_kv} does not divide head_count {n_head}"),
            ));
        }
        if head_dim % 2 != 0 {
            return Err(ModelError::bad_metadata(
                &key("attention.key_length"),
                format!("{head_dim} is odd; RoPE needs an even head size"),
            ));
        }
        if file.get(&key("attention.value_length")).is_some() {
            let v = file.get_u64(&key("attention.value_length"))? as usize;
            if v != head_dim {
                return Err(ModelError::bad_metadata(
                    &key("attention.value_length"),
                    format!("{v} differs from key_length {head_dim}; not supported"),
                ));
            }
        }
        if file.get(&key("rope.dimension_count")).is_some() {
            let v = file.get_u64(&key("rope.dimension_count"))? as usize;
            if v != head_dim {
                return Err(ModelError::bad_metadata(
                    &key("rope.dimension_count"),
                    format!("partial RoPE ({v} of {head_dim} dims) is not supported"),
                ));
            }
        }

        let positive = |k: &str, v: f32| -> Result<f32, ModelError> {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(ModelError::bad_metadata(
                    &key(k),
                    format!("{v} is not a positive number"),
                ))
            }
        };
        let rms_eps = positive(
            "attention.layer_norm_rms_epsilon",
            file.get_f32(&key("attention.layer_norm_rms_epsilon"))?,
        )?;
        let rope_base = positive("rope.freq_base", file.get_f32(&key("rope.freq_base"))?)?;
        let rope_base_swa = match file.get(&key("rope.freq_base_swa")) {
            Some(_) => positive(
                "rope.freq_base_swa",
                file.get_f32(&key("rope.freq_base_swa"))?,
            )?,
            None => rope_base,
        };

        let swa_layers = swa_pattern(file, &key("attention.sliding_window_pattern"), n_layer)?;

        let dense_2_feat_out = match file.get(&key("dense_2_feat_out")) {
            Some(_) => Some(dim("dense_2_feat_out", MAX_DIM * 4)?),
            None => None,
        };
        for (k, must_equal) in [("dense_2_feat_in", n_embd), ("dense_3_feat_out", n_embd)] {
            if file.get(&key(k)).is_some() {
                let v = file.get_u64(&key(k))? as usize;
                if v != must_equal {
                    return Err(ModelError::bad_metadata(
                        &key(k),
                        format!("{v} must equal embedding_length {n_embd}"),
                    ));
                }
            }
        }
        if let (Some(out2), true) = (
            dense_2_feat_out,
            file.get(&key("dense_3_feat_in")).is_some(),
        ) {
            let in3 = file.get_u64(&key("dense_3_feat_in"))? as usize;
            if in3 != out2 {
                return Err(ModelError::bad_metadata(
                    &key("dense_3_feat_in"),
                    format!("{in3} must equal dense_2_feat_out {out2}"),
                ));
            }
        }

        Ok(Config {
            n_layer,
            n_embd,
            n_ff,
            n_head,
            n_head_kv,
            head_dim,
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

    /// Width of q: all query heads side by side.
    pub fn n_embd_q(&self) -> usize {
        self.n_head * self.head_dim
    }

    /// Width of k (and of v): all KV heads side by side.
    pub fn n_embd_kv(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// The attention window of layer `il`: `Some(half window)` on sliding layers (attend iff
    /// |i-j| <= sliding_window/2, llama.cpp's symmetric SWA), `None` on global layers.
    pub fn window(&self, il: usize) -> Option<usize> {
        self.swa_layers[il].then_some(self.sliding_window / 2)
    }

    /// RoPE base of layer `il`.
    pub fn rope_base_of(&self, il: usize) -> f32 {
        if self.swa_layers[il] {
            self.rope_base_swa
        } else {
            self.rope_base
        }
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
