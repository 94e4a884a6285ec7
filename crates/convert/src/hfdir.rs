//! The Hugging Face sentence-transformers directory: which files must be there, and the
//! hyper-parameters, dense head, pooling, prompts and model-card fields read from its JSON files.

use crate::json::{read_json, read_json_opt, read_text, Obj, OrderedStrMap};
use crate::model_card::ModelCard;
use crate::ConvertError;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The only Hugging Face architecture this converter handles.
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

/// Everything the converter reads from the directory except tensor data and the vocabulary.
#[derive(Debug, Clone)]
pub struct HfDir {
    pub root: PathBuf,
    pub hp: HParams,
    pub dense: Vec<DenseModule>,
    /// GGUF pooling type (1 = mean, 2 = cls, 3 = last) from the Pooling module.
    pub pooling_type: Option<u32>,
    /// sentence-transformers prompts (name, text), in file order.
    pub prompts: Vec<(String, String)>,
    /// generation_config.json, if present and valid.
    pub generation: Option<Value>,
    pub card: ModelCard,
}

impl HfDir {
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn weights(&self) -> PathBuf {
        self.path("model.safetensors")
    }

    pub fn tokenizer_model(&self) -> PathBuf {
        self.path("tokenizer.model")
    }

    /// Reads and checks the directory's JSON files; fails on the first missing or bad one.
    pub fn open(root: &Path) -> Result<HfDir, ConvertError> {
        if !root.is_dir() {
            return Err(ConvertError::MissingFile {
                path: root.to_path_buf(),
                what: "the model directory",
            });
        }
        for (rel, what) in [
            ("model.safetensors", "the transformer weights"),
            ("tokenizer.model", "the SentencePiece tokenizer"),
        ] {
            let p = root.join(rel);
            if !p.is_file() {
                return Err(ConvertError::MissingFile { path: p, what });
            }
        }
        let config_path = root.join("config.json");
        let config: Value = read_json(&config_path, "the model config")?;
        let hp = read_hparams(&config_path, &config)?;

        let modules_path = root.join("modules.json");
        let modules: Value = read_json(&modules_path, "the sentence-transformers module list")?;
        let (dense, pooling_dir) = read_modules(root, &modules_path, &modules)?;
        let pooling_type = match pooling_dir {
            Some(dir) => Some(read_pooling(&root.join(dir).join("config.json"))?),
            None => None,
        };

        let st_path = root.join("config_sentence_transformers.json");
        let st: Value = read_json(&st_path, "the sentence-transformers config (prompts)")?;
        let prompts = match st.get("prompts").filter(|v| !v.is_null()) {
            None => Vec::new(),
            Some(v) => {
                let map: OrderedStrMap = serde_json::from_value(v.clone()).map_err(|e| {
                    ConvertError::bad_config(
                        &st_path,
                        "prompts",
                        format!("expected an object of strings: {e}"),
                    )
                })?;
                map.0
            }
        };

        // Optional files. generation_config.json is ignored when invalid, as llama.cpp does.
        let generation = read_json_opt::<Value>(&root.join("generation_config.json"))
            .ok()
            .flatten();
        let readme = root.join("README.md");
        let card = if readme.is_file() {
            ModelCard::parse(&read_text(&readme, "the model card")?)
        } else {
            ModelCard::default()
        };

        Ok(HfDir {
            root: root.to_path_buf(),
            hp,
            dense,
            pooling_type,
            prompts,
            generation,
            card,
        })
    }
}

fn read_hparams(path: &Path, config: &Value) -> Result<HParams, ConvertError> {
    let c = Obj::new(path, config)?;
    let arch = c
        .get("architectures")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str);
    match arch {
        Some(HF_ARCH) => {}
        Some(other) => {
            return Err(ConvertError::UnsupportedArchitecture {
                path: path.to_path_buf(),
                found: format!("`{other}`"),
            })
        }
        None => {
            return Err(ConvertError::UnsupportedArchitecture {
                path: path.to_path_buf(),
                found: "(no `architectures` entry)".into(),
            })
        }
    }
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
            .and_then(Value::as_f64)
    };
    if let Some(kind) = rope
        .and_then(|r| {
            r.get("full_attention")
                .and_then(Value::as_object)
                .or(Some(r))
        })
        .and_then(|r| r.get("rope_type").or_else(|| r.get("type")))
        .and_then(Value::as_str)
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
            .and_then(Value::as_f64)
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

/// Returns the Dense modules (in modules.json order) and the Pooling module's folder, if any.
fn read_modules(
    root: &Path,
    path: &Path,
    modules: &Value,
) -> Result<(Vec<DenseModule>, Option<String>), ConvertError> {
    let list = modules.as_array().ok_or_else(|| {
        ConvertError::bad_config(path, "(top level)", "expected a list of modules")
    })?;
    let mut dense = Vec::new();
    let mut pooling = None;
    for (i, m) in list.iter().enumerate() {
        let key = format!("[{i}]");
        let ty = m.get("type").and_then(Value::as_str).ok_or_else(|| {
            ConvertError::bad_config(path, format!("{key}.type"), "missing or not a string")
        })?;
        let dir = m.get("path").and_then(Value::as_str).ok_or_else(|| {
            ConvertError::bad_config(path, format!("{key}.path"), "missing or not a string")
        })?;
        if ty.ends_with("Pooling") && pooling.is_none() {
            pooling = Some(dir.to_string());
        }
        if !ty.ends_with("Dense") {
            continue;
        }
        let weights = root.join(dir).join("model.safetensors");
        if !weights.is_file() {
            return Err(ConvertError::MissingFile {
                path: weights,
                what: "the Dense module's weights listed in modules.json",
            });
        }
        let cfg_path = root.join(dir).join("config.json");
        let cfg: Value = read_json(&cfg_path, "the Dense module's config")?;
        let c = Obj::new(&cfg_path, &cfg)?;
        if c.get("bias").and_then(Value::as_bool) == Some(true) {
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
    Ok((dense, pooling))
}

fn read_pooling(path: &Path) -> Result<u32, ConvertError> {
    let cfg: Value = read_json(path, "the Pooling module's config")?;
    let flag = |k: &str| cfg.get(k).and_then(Value::as_bool) == Some(true);
    if flag("pooling_mode_mean_tokens") {
        Ok(1)
    } else if flag("pooling_mode_cls_token") {
        Ok(2)
    } else if flag("pooling_mode_lasttoken") {
        Ok(3)
    } else {
        match cfg.get("pooling_mode").and_then(Value::as_str) {
            Some("mean") => Ok(1),
            Some("cls") => Ok(2),
            Some("lasttoken") => Ok(3),
            _ => Err(ConvertError::bad_config(
                path,
                "pooling_mode",
                "only mean, cls and last-token pooling are supported",
            )),
        }
    }
}
