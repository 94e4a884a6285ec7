//! BERT (`BertModel`, e.g. all-MiniLM-L6-v2, bge-*-en-v1.5) as llama.cpp's `BertModel`
//! converter writes it: arch `bert`, absolute position + token-type embeddings (kept F32),
//! post-LayerNorm blocks with biases, pooling from the sentence-transformers Pooling module,
//! and the WordPiece vocabulary from tokenizer.json in llama.cpp's phantom-space convention
//! (`▁` before word starts, `##` dropped from continuations, special tokens as they are).
//! Plus our `ggufembed.max_seq_length` from sentence_bert_config.json.

use crate::hfdir::{self, SourceDir};
use crate::json::Obj;
use crate::metadata::{self, Kv};
use crate::st::StFile;
use crate::tensors::{Plan, Target};
use crate::vocab::{self, token_type, SpecialVocab, Vocab};
use crate::{ConvertError, ConvertOptions, OutType};
use gguf::{Array, Value};
use serde_json::Value as Json;

/// GGUF architecture name.
pub const ARCH: &str = "bert";
/// Hugging Face architectures converted by this family.
pub const HF_ARCHS: &[&str] = &["BertModel"];

/// Hyper-parameters from config.json (llama.cpp's `TextModel.set_gguf_parameters` keys).
#[derive(Debug, Clone, PartialEq)]
pub struct HParams {
    pub block_count: u32,
    pub context_length: u32,
    pub n_embd: u32,
    pub n_ff: u32,
    pub n_head: u32,
    pub n_head_kv: Option<u32>,
    pub layer_norm_eps: f64,
    /// `type_vocab_size` (default 1): rows of the token-type embedding.
    pub type_vocab_size: u32,
    pub vocab_size: Option<u32>,
}

fn read_hparams(dir: &SourceDir) -> Result<HParams, ConvertError> {
    let c = Obj::new(&dir.config_path, &dir.config)?;
    let hp = HParams {
        block_count: c.dim("num_hidden_layers", None)?,
        context_length: c.dim("max_position_embeddings", None)?,
        n_embd: c.dim("hidden_size", None)?,
        n_ff: c.dim("intermediate_size", None)?,
        n_head: c.dim("num_attention_heads", None)?,
        n_head_kv: match c.get("num_key_value_heads") {
            None => None,
            Some(_) => Some(c.dim("num_key_value_heads", None)?),
        },
        layer_norm_eps: c.f64_or("layer_norm_eps", Some(1e-12))?,
        type_vocab_size: c.dim("type_vocab_size", Some(1))?,
        vocab_size: match c.get("vocab_size") {
            None => None,
            Some(_) => Some(c.dim("vocab_size", None)?),
        },
    };
    if !hp.n_embd.is_multiple_of(hp.n_head) {
        return Err(ConvertError::bad_config(
            &dir.config_path,
            "num_attention_heads",
            format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                hp.n_embd, hp.n_head
            ),
        ));
    }
    if let Some(act) = c.get("hidden_act").and_then(Json::as_str) {
        if act != "gelu" {
            return Err(ConvertError::bad_config(
                &dir.config_path,
                "hidden_act",
                format!("`{act}` is not supported; BERT models here use `gelu` (erf)"),
            ));
        }
    }
    Ok(hp)
}

/// Converts a BERT directory: the tensor plan and all metadata.
pub fn prepare(src: SourceDir, opts: &ConvertOptions) -> Result<(Plan, Kv), ConvertError> {
    src.require(&[
        ("model.safetensors", "the transformer weights"),
        (
            "tokenizer.json",
            "the WordPiece tokenizer (tokenizer.json; directories with only vocab.txt are not supported)",
        ),
    ])?;
    let hp = read_hparams(&src)?;
    let vocab = wordpiece_vocab(&src, hp.vocab_size)?;
    let n_vocab = vocab.tokens.len();
    let special = SpecialVocab::load(&src.root, n_vocab)?;
    let plan = plan(&src, &hp, n_vocab, opts.out_type)?;
    let pooling_type = match src.path("modules.json") {
        p if p.is_file() => hfdir::pooling_type(
            &src.root,
            &hfdir::read_modules(&p, "the sentence-transformers module list")?,
        )?,
        _ => None,
    };
    let prompts = hfdir::read_prompts(&src.root, false)?;
    let max_seq_length = hfdir::read_max_seq_length(&src.root)?;

    let n_params: u64 = plan.tensors.iter().map(|t| t.n_elements()).sum();
    let mut kv = Kv::default();
    metadata::general(&mut kv, ARCH, &src, opts.name.as_deref(), n_params);
    let a = |kv: &mut Kv, key: &str, v: Value| kv.set_arch(ARCH, key, v);
    a(&mut kv, "block_count", Value::U32(hp.block_count));
    a(&mut kv, "context_length", Value::U32(hp.context_length));
    a(&mut kv, "embedding_length", Value::U32(hp.n_embd));
    a(&mut kv, "feed_forward_length", Value::U32(hp.n_ff));
    a(&mut kv, "attention.head_count", Value::U32(hp.n_head));
    if let Some(n) = hp.n_head_kv {
        a(&mut kv, "attention.head_count_kv", Value::U32(n));
    }
    a(
        &mut kv,
        "attention.layer_norm_epsilon",
        Value::F32(hp.layer_norm_eps as f32),
    );
    metadata::set_file_type(&mut kv, opts.out_type);
    a(&mut kv, "attention.causal", Value::Bool(false));
    if let Some(p) = pooling_type {
        a(&mut kv, "pooling_type", Value::U32(p));
    }
    metadata::set_quantization_version(&mut kv);

    kv.set(
        "tokenizer.ggml.token_type_count",
        Value::U32(hp.type_vocab_size),
    );
    kv.set("tokenizer.ggml.model", Value::String("bert".into()));
    kv.set(
        "tokenizer.ggml.pre",
        Value::String(pre_tokenizer_name(&vocab, &special).into()),
    );
    kv.set(
        "tokenizer.ggml.tokens",
        Value::Array(Array::String(vocab.tokens)),
    );
    kv.set(
        "tokenizer.ggml.token_type",
        Value::Array(Array::I32(vocab.types)),
    );
    metadata::special_tokens(&mut kv, &special);
    metadata::ggufembed_keys(&mut kv, &prompts, max_seq_length);
    Ok((plan, kv))
}

/// tokenizer.json's WordPiece vocabulary in llama.cpp's phantom-space form: control tokens
/// as they are, `##piece` -> `piece`, every other token `▁token`.
pub fn wordpiece_vocab(src: &SourceDir, vocab_size: Option<u32>) -> Result<Vocab, ConvertError> {
    let (mut vocab, model_type) = vocab::tokenizer_json_vocab(&src.root, vocab_size)?;
    if model_type != "WordPiece" {
        return Err(ConvertError::Tokenizer {
            path: src.path("tokenizer.json"),
            problem: format!(
                "model.type is `{model_type}`; a BERT model needs a WordPiece tokenizer"
            ),
        });
    }
    for (tok, ty) in vocab.tokens.iter_mut().zip(&vocab.types) {
        if *ty == token_type::CONTROL {
            continue;
        }
        *tok = match tok.strip_prefix("##") {
            Some(rest) => rest.to_string(),
            None => format!("\u{2581}{tok}"),
        };
    }
    Ok(vocab)
}

/// `tokenizer.ggml.pre`. llama.cpp names it from a hash of the HF tokenizer's output on a test
/// string; every lower-casing tokenizer over the original BERT uncased vocabulary (all-MiniLM,
/// bge-*-en-v1.5, jina-v2-en) hashes to the entry named `jina-v2-en`. Other vocabularies get
/// `default`: llama.cpp reads no pre-tokenizer for `bert` (WPM) vocabularies, so the value is
/// informational only.
fn pre_tokenizer_name(vocab: &Vocab, special: &SpecialVocab) -> &'static str {
    use sha2::{Digest, Sha256};
    /// sha256 of the phantom-space token list as GGUF stores it (u64 length + bytes per token)
    /// for the 30,522-token BERT uncased vocabulary.
    const BERT_UNCASED: &str = "5f10edc0a7d6d14d0b7381d5863c43fbb337bbaa74345bd46b618fcd1e727884";
    let mut h = Sha256::new();
    for t in &vocab.tokens {
        h.update((t.len() as u64).to_le_bytes());
        h.update(t.as_bytes());
    }
    let digest: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if digest == BERT_UNCASED && special.normalizer_lowercase == Some(true) {
        "jina-v2-en"
    } else {
        "default"
    }
}

/// The GGUF name of a BERT source tensor (after llama.cpp's renames: `bert.` prefix dropped,
/// `gamma`/`beta` -> `weight`/`bias`), with the HF shape config.json implies and whether it
/// always stays F32. `Ok(None)`: a tensor llama.cpp drops (position ids, pooler, MLM heads).
fn map_tensor(
    hp: &HParams,
    n_vocab: usize,
    name: &str,
) -> Result<Option<(String, Vec<usize>, bool)>, ()> {
    let name = name.strip_prefix("bert.").unwrap_or(name);
    let name = if let Some(s) = name.strip_suffix(".gamma") {
        format!("{s}.weight")
    } else if let Some(s) = name.strip_suffix(".beta") {
        format!("{s}.bias")
    } else {
        name.to_string()
    };
    if matches!(
        name.as_str(),
        "embeddings.position_ids" | "pooler.dense.weight" | "pooler.dense.bias"
    ) || name.starts_with("cls.predictions")
        || name.starts_with("cls.seq_relationship")
    {
        return Ok(None);
    }
    let (e, ff) = (hp.n_embd as usize, hp.n_ff as usize);
    let (stem, kind) = name.rsplit_once('.').ok_or(())?;
    let is_weight = match kind {
        "weight" => true,
        "bias" => false,
        _ => return Err(()),
    };
    // (GGUF stem, weight shape, bias shape, always F32)
    let (gguf, w_shape, b_shape, f32_only): (String, Vec<usize>, Vec<usize>, bool) = match stem {
        "embeddings.word_embeddings" if is_weight => {
            ("token_embd".into(), vec![n_vocab, e], vec![], false)
        }
        "embeddings.position_embeddings" if is_weight => (
            "position_embd".into(),
            vec![hp.context_length as usize, e],
            vec![],
            true,
        ),
        "embeddings.token_type_embeddings" if is_weight => (
            "token_types".into(),
            vec![hp.type_vocab_size as usize, e],
            vec![],
            true,
        ),
        "embeddings.LayerNorm" => ("token_embd_norm".into(), vec![e], vec![e], false),
        _ => {
            let rest = stem.strip_prefix("encoder.layer.").ok_or(())?;
            let (bid, sub) = rest.split_once('.').ok_or(())?;
            let bid: u32 = bid.parse().map_err(|_| ())?;
            if bid >= hp.block_count {
                return Err(());
            }
            let (g, w, b) = match sub {
                "attention.self.query" => ("attn_q", vec![e, e], vec![e]),
                "attention.self.key" => ("attn_k", vec![e, e], vec![e]),
                "attention.self.value" => ("attn_v", vec![e, e], vec![e]),
                "attention.output.dense" => ("attn_output", vec![e, e], vec![e]),
                "attention.output.LayerNorm" => ("attn_output_norm", vec![e], vec![e]),
                "intermediate.dense" => ("ffn_up", vec![ff, e], vec![ff]),
                "output.dense" => ("ffn_down", vec![e, ff], vec![e]),
                "output.LayerNorm" => ("layer_output_norm", vec![e], vec![e]),
                _ => return Err(()),
            };
            (format!("blk.{bid}.{g}"), w, b, false)
        }
    };
    Ok(Some(if is_weight {
        (format!("{gguf}.weight"), w_shape, f32_only)
    } else {
        (format!("{gguf}.bias"), b_shape, f32_only)
    }))
}

/// Every GGUF tensor a complete BERT has (to name the first missing one).
fn required_names(hp: &HParams) -> Vec<String> {
    let mut names: Vec<String> = [
        "token_embd.weight",
        "position_embd.weight",
        "token_types.weight",
        "token_embd_norm.weight",
        "token_embd_norm.bias",
    ]
    .map(String::from)
    .to_vec();
    for bid in 0..hp.block_count {
        for stem in [
            "attn_q",
            "attn_k",
            "attn_v",
            "attn_output",
            "attn_output_norm",
            "ffn_up",
            "ffn_down",
            "layer_output_norm",
        ] {
            names.push(format!("blk.{bid}.{stem}.weight"));
            names.push(format!("blk.{bid}.{stem}.bias"));
        }
    }
    names
}

/// The output tensors in llama.cpp's order (sorted by HF name).
fn plan(src: &SourceDir, hp: &HParams, n_vocab: usize, out: OutType) -> Result<Plan, ConvertError> {
    let weights = src.path("model.safetensors");
    let st = StFile::open(&weights)?;
    let mut plan = Plan::default();
    let file = plan.add_file(&weights);
    for t in &st.tensors {
        let (name, expected, f32_only) = match map_tensor(hp, n_vocab, &t.name) {
            Ok(Some(m)) => m,
            Ok(None) => continue,
            Err(()) => return Err(ConvertError::unknown_tensor(&weights, &t.name, ARCH)),
        };
        if plan.tensors.iter().any(|p| p.name == name) {
            return Err(ConvertError::unknown_tensor(
                &weights,
                &format!("{} (a second source for {name})", t.name),
                ARCH,
            ));
        }
        let mut target = Target::new(name, expected);
        target.force_f32 = f32_only;
        plan.push(file, t, target, out)?;
    }
    if let Some(missing) = required_names(hp)
        .into_iter()
        .find(|n| !plan.tensors.iter().any(|p| p.name == *n))
    {
        return Err(ConvertError::MissingTensor {
            path: weights,
            name: format!("{missing} (GGUF name)"),
        });
    }
    Ok(plan)
}
