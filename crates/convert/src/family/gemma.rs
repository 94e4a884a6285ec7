//! EmbeddingGemma (`Gemma3TextModel` + the sentence-transformers Dense head) as llama.cpp's
//! `convert_hf_to_gguf.py --sentence-transformers-dense-modules` writes it: arch
//! `gemma-embedding`, SentencePiece vocabulary, RMSNorm weights with +1 folded in, the
//! `dense_2` / `dense_3` projection, plus the prompts under `ggufembed.prompt.<name>`.

use crate::hfdir::{read_modules as read_module_list, Module, SourceDir};
use crate::json::{read_json, Obj};
use crate::metadata::{self, Kv};
use crate::st::StFile;
use crate::tensors::{Plan, Target, Transform};
use crate::vocab::{self, SpecialVocab, Vocab};
use crate::{ConvertError, ConvertOptions, OutType};
use gguf::{Array, Value};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

/// GGUF architecture name of EmbeddingGemma.
pub const ARCH: &str = "gemma-embedding";
/// The Hugging Face architecture this family converts.
pub const HF_ARCH: &str = "Gemma3TextModel";

/// Hyper-parameters from config.json, with the defaults llama.cpp's Gemma3 converter applies.
#[derive(Debug, Clone, PartialEq)]
pub struct HParams {
    pub block_count: u32,
    pub context_length: u32,
    pub n_embd: u32,
    pub n_ff: u32,
    pub n_head: u32,
    pub n_head_kv: u32,
    pub head_dim: u32,
    pub rms_eps: f64,
    /// RoPE base of the global layers.
    pub rope_freq_base: f64,
    /// RoPE base of the sliding-window layers, if the config has one.
    pub rope_freq_base_swa: Option<f64>,
    /// `sliding_window` exactly as in config.json (not transformers' adjusted value).
    pub sliding_window: u32,
    /// `vocab_size`, if given (else the tokenizer's size is used).
    pub vocab_size: Option<u32>,
    pub final_logit_softcapping: Option<f64>,
    /// `Some(false)` when config.json says `is_causal: false`.
    pub is_causal: Option<bool>,
}

/// One sentence-transformers Dense module (`2_Dense`, `3_Dense`): a bias-free linear layer.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseModule {
    /// Folder name as listed in modules.json.
    pub dir: String,
    /// GGUF name prefix: `dense_2` for `2_Dense`, else `dense_3` (as llama.cpp names them).
    pub prefix: &'static str,
    pub in_features: u32,
    pub out_features: u32,
    pub weights: PathBuf,
}

/// Everything read from the directory except tensor data and the vocabulary.
#[derive(Debug, Clone)]
pub struct GemmaDir {
    pub src: SourceDir,
    pub hp: HParams,
    pub dense: Vec<DenseModule>,
    /// GGUF pooling type (1 = mean, 2 = cls, 3 = last) from the Pooling module.
    pub pooling_type: Option<u32>,
    /// sentence-transformers prompts (name, text), in file order.
    pub prompts: Vec<(String, String)>,
}

impl GemmaDir {
    /// Reads and checks the directory's JSON files; fails on the first missing or bad one.
    pub fn open(src: SourceDir) -> Result<GemmaDir, ConvertError> {
        src.require(&[
            ("model.safetensors", "the transformer weights"),
            ("tokenizer.model", "the SentencePiece tokenizer"),
        ])?;
        let hp = read_hparams(&src.config_path, &src.config)?;
        let root = src.root.clone();
        let modules_path = root.join("modules.json");
        let modules = read_module_list(&modules_path, "the sentence-transformers module list")?;
        let dense = read_dense(&root, &modules_path, &modules)?;
        let pooling_type = crate::hfdir::pooling_type(&root, &modules)?;

        let prompts = crate::hfdir::read_prompts(&root, true)?;
        Ok(GemmaDir {
            src,
            hp,
            dense,
            pooling_type,
            prompts,
        })
    }
}

/// Converts an EmbeddingGemma directory: the tensor plan and all metadata.
pub fn prepare(src: SourceDir, opts: &ConvertOptions) -> Result<(Plan, Kv), ConvertError> {
    let dir = GemmaDir::open(src)?;
    let root = &dir.src.root;
    let vocab = vocab::build_vocab(root, dir.hp.vocab_size)?;
    let n_vocab = vocab.tokens.len();
    let special = SpecialVocab::load(root, n_vocab)?;
    let plan = plan(&dir, n_vocab, opts.out_type)?;
    let n_params: u64 = plan.tensors.iter().map(|t| t.n_elements()).sum();
    let mut kv = Kv::default();
    metadata::general(&mut kv, ARCH, &dir.src, opts.name.as_deref(), n_params);
    hparams(&mut kv, &dir, opts.out_type);
    tokenizer(&mut kv, &vocab, &special);
    metadata::ggufembed_keys(&mut kv, &dir.prompts, None);
    Ok((plan, kv))
}

fn read_hparams(path: &Path, config: &Json) -> Result<HParams, ConvertError> {
    let c = Obj::new(path, config)?;
    if c.get("attn_logit_softcapping").is_some() {
        return Err(ConvertError::bad_config(
            path,
            "attn_logit_softcapping",
            "Gemma 3 has no attention logit soft-capping; expected null",
        ));
    }

    // rope_parameters (newer transformers) or rope_scaling (older) may hold per-layer-type bases.
    let rope = c
        .opt_obj("rope_parameters")
        .or_else(|| c.opt_obj("rope_scaling"));
    let rope_theta_in = |section: &str| -> Option<f64> {
        rope.and_then(|r| r.get(section))
            .and_then(|s| s.get("rope_theta"))
            .and_then(Json::as_f64)
    };
    if let Some(kind) = rope
        .and_then(|r| {
            r.get("full_attention")
                .and_then(Json::as_object)
                .or(Some(r))
        })
        .and_then(|r| r.get("rope_type").or_else(|| r.get("type")))
        .and_then(Json::as_str)
    {
        if kind != "default" {
            return Err(ConvertError::bad_config(
                path,
                "rope_scaling",
                format!("RoPE scaling `{kind}` is not supported (EmbeddingGemma uses none)"),
            ));
        }
    }
    let rope_freq_base = match rope_theta_in("full_attention") {
        Some(t) => t,
        None => match rope
            .and_then(|r| r.get("rope_theta"))
            .and_then(Json::as_f64)
        {
            Some(t) => t,
            None => c.f64_or("rope_theta", Some(1_000_000.0))?,
        },
    };
    let rope_freq_base_swa = match rope_theta_in("sliding_attention") {
        Some(t) => Some(t),
        None => c.opt_f64("rope_local_base_freq")?,
    };

    let sliding_window = c.dim("sliding_window", None).map_err(|_| {
        ConvertError::bad_config(
            path,
            "sliding_window",
            "missing or not a positive integer; EmbeddingGemma needs it",
        )
    })?;
    let vocab_size = match c.get("vocab_size") {
        None => None,
        Some(_) => Some(c.dim("vocab_size", None)?),
    };
    let is_causal = match c.get("is_causal") {
        None => None,
        Some(v) => Some(v.as_bool().ok_or_else(|| {
            ConvertError::bad_config(
                path,
                "is_causal",
                format!("expected true or false, got {v}"),
            )
        })?),
    };

    Ok(HParams {
        block_count: c.dim("num_hidden_layers", None)?,
        context_length: c.dim("max_position_embeddings", Some(131_072))?,
        n_embd: c.dim("hidden_size", None)?,
        n_ff: c.dim("intermediate_size", None)?,
        n_head: c.dim("num_attention_heads", Some(8))?,
        n_head_kv: c.dim("num_key_value_heads", Some(4))?,
        head_dim: c.dim("head_dim", Some(256))?,
        rms_eps: c.f64_or("rms_norm_eps", Some(1e-6))?,
        rope_freq_base,
        rope_freq_base_swa,
        sliding_window,
        vocab_size,
        final_logit_softcapping: c.opt_f64("final_logit_softcapping")?.filter(|v| *v != 0.0),
        is_causal,
    })
}

/// The Dense modules, in modules.json order; EmbeddingGemma has exactly `2_Dense`, `3_Dense`.
fn read_dense(
    root: &Path,
    path: &Path,
    modules: &[Module],
) -> Result<Vec<DenseModule>, ConvertError> {
    let mut dense = Vec::new();
    for m in modules.iter().filter(|m| m.ty.ends_with("Dense")) {
        let dir = m.dir.as_str();
        let weights = root.join(dir).join("model.safetensors");
        if !weights.is_file() {
            return Err(ConvertError::MissingFile {
                path: weights,
                what: "the Dense module's weights listed in modules.json",
            });
        }
        let cfg_path = root.join(dir).join("config.json");
        let cfg: Json = read_json(&cfg_path, "the Dense module's config")?;
        let c = Obj::new(&cfg_path, &cfg)?;
        if c.get("bias").and_then(Json::as_bool) == Some(true) {
            return Err(ConvertError::bad_config(
                &cfg_path,
                "bias",
                "Dense layers with a bias are not supported (EmbeddingGemma's have none)",
            ));
        }
        dense.push(DenseModule {
            dir: dir.to_string(),
            prefix: if dir == "2_Dense" {
                "dense_2"
            } else {
                "dense_3"
            },
            in_features: c.dim("in_features", None)?,
            out_features: c.dim("out_features", None)?,
            weights,
        });
    }
    let dirs: Vec<&str> = dense.iter().map(|d| d.dir.as_str()).collect();
    if dirs != ["2_Dense", "3_Dense"] {
        return Err(ConvertError::bad_config(
            path,
            "Dense modules",
            format!(
                "expected the two Dense modules 2_Dense and 3_Dense (EmbeddingGemma's projection head), found {dirs:?}"
            ),
        ));
    }
    Ok(dense)
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

/// The output tensors in llama.cpp's order: the Dense modules first (modules.json order),
/// then the transformer tensors sorted by HF name.
pub fn plan(dir: &GemmaDir, n_vocab: usize, out: OutType) -> Result<Plan, ConvertError> {
    let hp = &dir.hp;
    let mut plan = Plan::default();
    for d in &dir.dense {
        let st = StFile::open(&d.weights)?;
        let file = plan.add_file(&d.weights);
        let mut found = false;
        for t in &st.tensors {
            if !t.name.ends_with(".weight") {
                continue;
            }
            if t.name != "linear.weight" {
                return Err(ConvertError::unknown_tensor(&d.weights, &t.name, ARCH));
            }
            found = true;
            let expected = vec![d.out_features as usize, d.in_features as usize];
            plan.push(
                file,
                t,
                Target::new(format!("{}.weight", d.prefix), expected),
                out,
            )?;
        }
        if !found {
            return Err(ConvertError::MissingTensor {
                path: d.weights.clone(),
                name: "linear.weight".into(),
            });
        }
    }

    let weights = dir.src.path("model.safetensors");
    let st = StFile::open(&weights)?;
    let file = plan.add_file(&weights);
    let mut seen = vec![[false; LAYER_SUFFIXES.len()]; hp.block_count as usize];
    let (mut have_embd, mut have_norm) = (false, false);
    for t in &st.tensors {
        if t.name.ends_with(".rotary_emb.inv_freq") {
            continue; // never written, as in llama.cpp
        }
        let Some(role) = classify(&t.name) else {
            return Err(ConvertError::unknown_tensor(&weights, &t.name, ARCH));
        };
        // Gemma3RMSNorm computes x * (1 + w): every `*norm.weight` gets +1 folded in.
        let transform = if t.name.ends_with("norm.weight") {
            Transform::AddOne
        } else {
            Transform::None
        };
        let target = match role {
            Role::Embedding => {
                have_embd = true;
                let rows = t.shape.first().copied().unwrap_or(0);
                if rows < n_vocab {
                    return Err(ConvertError::BadShape {
                        path: weights.clone(),
                        name: t.name.clone(),
                        expected: vec![n_vocab, hp.n_embd as usize],
                        found: t.shape.clone(),
                    });
                }
                let mut target = Target::new("token_embd.weight", vec![rows, hp.n_embd as usize]);
                target.n_rows = n_vocab;
                target
            }
            Role::OutputNorm => {
                have_norm = true;
                Target::new("output_norm.weight", vec![hp.n_embd as usize])
            }
            Role::Layer { bid, suffix } => {
                if bid >= hp.block_count {
                    return Err(ConvertError::unknown_tensor(
                        &weights,
                        &format!(
                            "{} (config.json has num_hidden_layers = {})",
                            t.name, hp.block_count
                        ),
                        ARCH,
                    ));
                }
                let i = LAYER_SUFFIXES
                    .iter()
                    .position(|s| *s == suffix)
                    .expect("known suffix");
                seen[bid as usize][i] = true;
                let gguf_name = format!("blk.{bid}.{}", map_layer_suffix(suffix).expect("mapped"));
                Target::new(gguf_name, layer_shape(hp, suffix))
            }
        };
        plan.push(
            file,
            t,
            Target {
                transform,
                ..target
            },
            out,
        )?;
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
    Ok(plan)
}

/// The hyper-parameter block (TextModel, then Gemma3, then EmbeddingGemma in llama.cpp).
fn hparams(kv: &mut Kv, dir: &GemmaDir, out: OutType) {
    let hp = &dir.hp;
    kv.set_arch(ARCH, "block_count", Value::U32(hp.block_count));
    kv.set_arch(ARCH, "context_length", Value::U32(hp.context_length));
    kv.set_arch(ARCH, "embedding_length", Value::U32(hp.n_embd));
    kv.set_arch(ARCH, "feed_forward_length", Value::U32(hp.n_ff));
    kv.set_arch(ARCH, "attention.head_count", Value::U32(hp.n_head));
    kv.set_arch(ARCH, "attention.head_count_kv", Value::U32(hp.n_head_kv));
    if hp.is_causal == Some(false) {
        kv.set_arch(ARCH, "attention.causal", Value::Bool(false));
    }
    kv.set_arch(ARCH, "rope.freq_base", Value::F32(hp.rope_freq_base as f32));
    if let Some(swa) = hp.rope_freq_base_swa {
        kv.set_arch(ARCH, "rope.freq_base_swa", Value::F32(swa as f32));
    }
    kv.set_arch(
        ARCH,
        "attention.layer_norm_rms_epsilon",
        Value::F32(hp.rms_eps as f32),
    );
    kv.set_arch(ARCH, "attention.key_length", Value::U32(hp.head_dim));
    kv.set_arch(ARCH, "attention.value_length", Value::U32(hp.head_dim));
    metadata::set_file_type(kv, out);
    if let Some(c) = hp.final_logit_softcapping {
        kv.set_arch(ARCH, "final_logit_softcapping", Value::F32(c as f32));
    }
    kv.set_arch(
        ARCH,
        "attention.sliding_window",
        Value::U32(hp.sliding_window),
    );
    for d in &dir.dense {
        kv.set_arch(
            ARCH,
            &format!("{}_feat_in", d.prefix),
            Value::U32(d.in_features),
        );
        kv.set_arch(
            ARCH,
            &format!("{}_feat_out", d.prefix),
            Value::U32(d.out_features),
        );
    }
    if let Some(p) = dir.pooling_type {
        kv.set_arch(ARCH, "pooling_type", Value::U32(p));
    }
    metadata::set_quantization_version(kv);
}

/// The tokenizer block (`_set_vocab_sentencepiece` + SpecialVocab + Gemma's add_space_prefix).
fn tokenizer(kv: &mut Kv, vocab: &Vocab, special: &SpecialVocab) {
    kv.set("tokenizer.ggml.model", Value::String("llama".into()));
    kv.set("tokenizer.ggml.pre", Value::String("default".into()));
    kv.set(
        "tokenizer.ggml.tokens",
        Value::Array(Array::String(vocab.tokens.clone())),
    );
    kv.set(
        "tokenizer.ggml.scores",
        Value::Array(Array::F32(vocab.scores.clone())),
    );
    kv.set(
        "tokenizer.ggml.token_type",
        Value::Array(Array::I32(vocab.types.clone())),
    );
    metadata::special_tokens(kv, special);
    kv.set("tokenizer.ggml.add_space_prefix", Value::Bool(false));
}
