//! Which tensors go into the GGUF, under which names, shapes and types: the HF -> GGUF name map
//! for EmbeddingGemma, shape checks against config.json, and llama.cpp's type rules.

use crate::hfdir::{HParams, HfDir};
use crate::st::{SrcType, StFile, StTensor};
use crate::{ConvertError, OutType};
use gguf::GgmlType;
use std::path::PathBuf;

/// How the source values are changed before encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    None,
    /// Gemma's RMSNorm computes `x * (1 + w)`; GGUF stores `1 + w`.
    AddOne,
}

/// One output tensor and where its data comes from.
#[derive(Debug, Clone)]
pub struct TensorPlan {
    /// GGUF name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    pub ggml_type: GgmlType,
    /// GGUF shape (ne): ne[0] is the contiguous dimension.
    pub shape: Vec<u64>,
    /// Index of the source file in [`Plan::files`].
    pub file: usize,
    pub src: StTensor,
    pub src_type: SrcType,
    /// Number of leading source rows used (the embedding is cut to the vocabulary size).
    pub n_rows: usize,
    /// Elements per row (the innermost source dimension).
    pub row_len: usize,
    pub transform: Transform,
}

impl TensorPlan {
    pub fn n_elements(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Bytes this tensor takes in the output file.
    pub fn out_bytes(&self) -> usize {
        self.n_rows * crate::quant::encoded_len(self.ggml_type, self.row_len)
    }

    /// Bytes read from the source.
    pub fn src_bytes(&self) -> u64 {
        (self.n_rows * self.row_len * self.src_type.size()) as u64
    }
}

/// Maps one layer tensor suffix (HF) to its GGUF suffix.
fn map_layer_suffix(s: &str) -> Option<&'static str> {
    Some(match s {
        "input_layernorm.weight" => "attn_norm.weight",
        "mlp.down_proj.weight" => "ffn_down.weight",
        "mlp.gate_proj.weight" => "ffn_gate.weight",
        "mlp.up_proj.weight" => "ffn_up.weight",
        "post_attention_layernorm.weight" => "post_attention_norm.weight",
        "post_feedforward_layernorm.weight" => "post_ffw_norm.weight",
        "pre_feedforward_layernorm.weight" => "ffn_norm.weight",
        "self_attn.k_norm.weight" => "attn_k_norm.weight",
        "self_attn.k_proj.weight" => "attn_k.weight",
        "self_attn.o_proj.weight" => "attn_output.weight",
        "self_attn.q_norm.weight" => "attn_q_norm.weight",
        "self_attn.q_proj.weight" => "attn_q.weight",
        "self_attn.v_proj.weight" => "attn_v.weight",
        _ => return None,
    })
}

/// The HF layer tensors every block must have.
const LAYER_SUFFIXES: [&str; 13] = [
    "input_layernorm.weight",
    "mlp.down_proj.weight",
    "mlp.gate_proj.weight",
    "mlp.up_proj.weight",
    "post_attention_layernorm.weight",
    "post_feedforward_layernorm.weight",
    "pre_feedforward_layernorm.weight",
    "self_attn.k_norm.weight",
    "self_attn.k_proj.weight",
    "self_attn.o_proj.weight",
    "self_attn.q_norm.weight",
    "self_attn.q_proj.weight",
    "self_attn.v_proj.weight",
];

/// HF shape (outermost first) that config.json implies for a layer tensor.
fn layer_shape(hp: &HParams, suffix: &str) -> Vec<usize> {
    let (e, ff, hd) = (hp.n_embd as usize, hp.n_ff as usize, hp.head_dim as usize);
    let q = hp.n_head as usize * hd;
    let kv = hp.n_head_kv as usize * hd;
    match suffix {
        "mlp.down_proj.weight" => vec![e, ff],
        "mlp.gate_proj.weight" | "mlp.up_proj.weight" => vec![ff, e],
        "self_attn.k_norm.weight" | "self_attn.q_norm.weight" => vec![hd],
        "self_attn.k_proj.weight" | "self_attn.v_proj.weight" => vec![kv, e],
        "self_attn.o_proj.weight" => vec![e, q],
        "self_attn.q_proj.weight" => vec![q, e],
        _ => vec![e], // the four layer norms
    }
}

/// What a source tensor name means.
enum Role {
    Embedding,
    OutputNorm,
    Layer { bid: u32, suffix: &'static str },
}

fn classify(name: &str) -> Option<Role> {
    // Checkpoints saved from a wrapping model prefix everything with `model.`.
    let name = name.strip_prefix("model.").unwrap_or(name);
    match name {
        "embed_tokens.weight" => return Some(Role::Embedding),
        "norm.weight" => return Some(Role::OutputNorm),
        _ => {}
    }
    let rest = name.strip_prefix("layers.")?;
    let (bid, suffix) = rest.split_once('.')?;
    let bid: u32 = bid.parse().ok()?;
    let suffix = LAYER_SUFFIXES.iter().copied().find(|s| *s == suffix)?;
    Some(Role::Layer { bid, suffix })
}

/// llama.cpp's choice of output type: 1-D tensors and norms stay F32; the rest take the
/// requested type, except that Q8_0 falls back to F16 for rows not divisible by 32.
fn pick_type(gguf_name: &str, n_dims: usize, row_len: usize, out: OutType) -> GgmlType {
    if n_dims <= 1 || gguf_name.ends_with("_norm.weight") {
        return GgmlType::F32;
    }
    match out {
        OutType::F32 => GgmlType::F32,
        OutType::F16 => GgmlType::F16,
        OutType::BF16 => GgmlType::BF16,
        OutType::Q8_0 if row_len.is_multiple_of(crate::quant::QK8_0) => GgmlType::Q8_0,
        OutType::Q8_0 => GgmlType::F16,
    }
}

/// The full list of output tensors, in llama.cpp's order: the Dense modules first (modules.json
/// order), then the transformer tensors sorted by HF name.
#[derive(Debug)]
pub struct Plan {
    pub files: Vec<PathBuf>,
    pub tensors: Vec<TensorPlan>,
}

pub fn plan(dir: &HfDir, n_vocab: usize, out: OutType) -> Result<Plan, ConvertError> {
    let hp = &dir.hp;
    let mut files = Vec::new();
    let mut tensors = Vec::new();

    let mut push = |file: usize,
                    path: &PathBuf,
                    src: &StTensor,
                    gguf_name: String,
                    expected: Vec<usize>,
                    n_rows: usize,
                    transform: Transform|
     -> Result<(), ConvertError> {
        if src.shape != expected {
            return Err(ConvertError::BadShape {
                path: path.clone(),
                name: src.name.clone(),
                expected,
                found: src.shape.clone(),
            });
        }
        let src_type = src.src_type(path)?;
        let row_len = *src.shape.last().unwrap_or(&1);
        let mut shape: Vec<u64> = src.shape.iter().rev().map(|d| *d as u64).collect();
        if src.shape.len() > 1 {
            *shape.last_mut().expect("2-D") = n_rows as u64;
        }
        let ggml_type = pick_type(&gguf_name, src.shape.len(), row_len, out);
        tensors.push(TensorPlan {
            name: gguf_name,
            ggml_type,
            shape,
            file,
            src: src.clone(),
            src_type,
            n_rows: if src.shape.len() > 1 { n_rows } else { 1 },
            row_len,
            transform,
        });
        Ok(())
    };

    for d in &dir.dense {
        let st = StFile::open(&d.weights)?;
        let file = files.len();
        files.push(d.weights.clone());
        let mut found = false;
        for t in &st.tensors {
            if !t.name.ends_with(".weight") {
                continue;
            }
            if t.name != "linear.weight" {
                return Err(ConvertError::UnknownTensor {
                    path: d.weights.clone(),
                    name: t.name.clone(),
                });
            }
            found = true;
            let expected = vec![d.out_features as usize, d.in_features as usize];
            let rows = d.out_features as usize;
            push(
                file,
                &d.weights,
                t,
                format!("{}.weight", d.prefix),
                expected,
                rows,
                Transform::None,
            )?;
        }
        if !found {
            return Err(ConvertError::MissingTensor {
                path: d.weights.clone(),
                name: "linear.weight".into(),
            });
        }
    }

    let weights = dir.weights();
    let st = StFile::open(&weights)?;
    let file = files.len();
    files.push(weights.clone());
    let mut seen = vec![[false; LAYER_SUFFIXES.len()]; hp.block_count as usize];
    let (mut have_embd, mut have_norm) = (false, false);
    for t in &st.tensors {
        if t.name.ends_with(".rotary_emb.inv_freq") {
            continue; // never written, as in llama.cpp
        }
        let Some(role) = classify(&t.name) else {
            return Err(ConvertError::UnknownTensor {
                path: weights.clone(),
                name: t.name.clone(),
            });
        };
        // Gemma3RMSNorm computes x * (1 + w): every `*norm.weight` gets +1 folded in.
        let transform = if t.name.ends_with("norm.weight") {
            Transform::AddOne
        } else {
            Transform::None
        };
        match role {
            Role::Embedding => {
                have_embd = true;
                let rows = t.shape.first().copied().unwrap_or(0);
                let expected = vec![rows.max(n_vocab), hp.n_embd as usize];
                if rows < n_vocab {
                    return Err(ConvertError::BadShape {
                        path: weights.clone(),
                        name: t.name.clone(),
                        expected: vec![n_vocab, hp.n_embd as usize],
                        found: t.shape.clone(),
                    });
                }
                push(
                    file,
                    &weights,
                    t,
                    "token_embd.weight".into(),
                    expected,
                    n_vocab,
                    transform,
                )?;
            }
            Role::OutputNorm => {
                have_norm = true;
                push(
                    file,
                    &weights,
                    t,
                    "output_norm.weight".into(),
                    vec![hp.n_embd as usize],
                    1,
                    transform,
                )?;
            }
            Role::Layer { bid, suffix } => {
                if bid >= hp.block_count {
                    return Err(ConvertError::UnknownTensor {
                        path: weights.clone(),
                        name: format!(
                            "{} (config.json has num_hidden_layers = {})",
                            t.name, hp.block_count
                        ),
                    });
                }
                let i = LAYER_SUFFIXES
                    .iter()
                    .position(|s| *s == suffix)
                    .expect("known suffix");
                seen[bid as usize][i] = true;
                let gguf_name = format!("blk.{bid}.{}", map_layer_suffix(suffix).expect("mapped"));
                let expected = layer_shape(hp, suffix);
                let rows = expected[0];
                push(file, &weights, t, gguf_name, expected, rows, transform)?;
            }
        }
    }
    let missing = |name: String| ConvertError::MissingTensor {
        path: weights.clone(),
        name,
    };
    if !have_embd {
        return Err(missing("embed_tokens.weight".into()));
    }
    if !have_norm {
        return Err(missing("norm.weight".into()));
    }
    for (bid, layer) in seen.iter().enumerate() {
        if let Some(i) = layer.iter().position(|s| !s) {
            return Err(missing(format!("layers.{bid}.{}", LAYER_SUFFIXES[i])));
        }
    }
    Ok(Plan { files, tensors })
}
