//! The GGUF metadata (key/value pairs) in the order llama.cpp's converter writes them:
//! `general.*` (model card, generation config), `gemma-embedding.*` hyper-parameters, then the
//! tokenizer, then our own `ggufembed.prompt.<name>` keys.

use crate::hfdir::HfDir;
use crate::vocab::{add_flag_key, special_id_key, SpecialVocab, Vocab};
use crate::OutType;
use gguf::{Array, Value};

/// GGUF architecture name of EmbeddingGemma.
pub const ARCH: &str = "gemma-embedding";
/// Prefix of the keys holding sentence-transformers prompts (read by ggufembed, ignored by others).
pub const PROMPT_KEY_PREFIX: &str = "ggufembed.prompt.";
/// `general.quantization_version` written by current llama.cpp.
pub const QUANTIZATION_VERSION: u32 = 2;

/// An ordered key/value list where setting an existing key replaces its value in place
/// (gguf-py's writer behaves the same way when a converter sets a key twice).
#[derive(Debug, Default, Clone)]
pub struct Kv(pub Vec<(String, Value)>);

impl Kv {
    pub fn set(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn arch(&mut self, key: &str, value: Value) {
        self.set(format!("{ARCH}.{key}"), value);
    }
}

/// llama.cpp's `LlamaFileType` value for `general.file_type`.
pub fn file_type(out: OutType) -> u32 {
    match out {
        OutType::F32 => 0,
        OutType::F16 => 1,
        OutType::Q8_0 => 7,
        OutType::BF16 => 32,
    }
}

/// gguf-py's `size_label`: parameter count rounded to at least two significant digits,
/// e.g. 307_581_696 -> "308M".
pub fn size_label(n_params: u64) -> String {
    let n = n_params as f64;
    let (scaled, suffix) = if n > 1e12 {
        (n * 1e-12, "T")
    } else if n > 1e9 {
        (n * 1e-9, "B")
    } else if n > 1e6 {
        (n * 1e-6, "M")
    } else {
        (n * 1e-3, "K")
    };
    let rounded = format!("{}", scaled.round_ties_even() as u64);
    let digits = rounded.trim_start_matches('0').len();
    let fix = 2usize.saturating_sub(digits);
    format!("{scaled:.fix$}{suffix}")
}

/// The `general.*` block.
fn general(kv: &mut Kv, dir: &HfDir, name: &str, n_params: u64) {
    kv.set("general.architecture", Value::String(ARCH.into()));
    kv.set("general.type", Value::String("model".into()));
    if let Some(g) = &dir.generation {
        let f = |k: &str| g.get(k).and_then(serde_json::Value::as_f64);
        let i = |k: &str| g.get(k).and_then(serde_json::Value::as_i64);
        if let Some(v) = i("top_k") {
            kv.set("general.sampling.top_k", Value::I32(v as i32));
        }
        if let Some(v) = f("top_p") {
            kv.set("general.sampling.top_p", Value::F32(v as f32));
        }
        if let Some(v) = f("min_p") {
            kv.set("general.sampling.min_p", Value::F32(v as f32));
        }
        if let Some(v) = f("temperature") {
            kv.set("general.sampling.temp", Value::F32(v as f32));
        }
        if let Some(v) = f("repetition_penalty") {
            kv.set("general.sampling.penalty_repeat", Value::F32(v as f32));
        }
    }
    kv.set("general.name", Value::String(name.into()));
    kv.set("general.size_label", Value::String(size_label(n_params)));
    if let Some(l) = &dir.card.license {
        kv.set("general.license", Value::String(l.clone()));
    }
    if !dir.card.tags.is_empty() {
        kv.set(
            "general.tags",
            Value::Array(Array::String(dir.card.tags.clone())),
        );
    }
    if !dir.card.languages.is_empty() {
        kv.set(
            "general.languages",
            Value::Array(Array::String(dir.card.languages.clone())),
        );
    }
}

/// The hyper-parameter block (TextModel, then Gemma3, then EmbeddingGemma in llama.cpp).
fn hparams(kv: &mut Kv, dir: &HfDir, out: OutType) {
    let hp = &dir.hp;
    kv.arch("block_count", Value::U32(hp.block_count));
    kv.arch("context_length", Value::U32(hp.context_length));
    kv.arch("embedding_length", Value::U32(hp.n_embd));
    kv.arch("feed_forward_length", Value::U32(hp.n_ff));
    kv.arch("attention.head_count", Value::U32(hp.n_head));
    kv.arch("attention.head_count_kv", Value::U32(hp.n_head_kv));
    if hp.is_causal == Some(false) {
        kv.arch("attention.causal", Value::Bool(false));
    }
    kv.arch("rope.freq_base", Value::F32(hp.rope_freq_base as f32));
    if let Some(swa) = hp.rope_freq_base_swa {
        kv.arch("rope.freq_base_swa", Value::F32(swa as f32));
    }
    kv.arch(
        "attention.layer_norm_rms_epsilon",
        Value::F32(hp.rms_eps as f32),
    );
    kv.arch("attention.key_length", Value::U32(hp.head_dim));
    kv.arch("attention.value_length", Value::U32(hp.head_dim));
    kv.set("general.file_type", Value::U32(file_type(out)));
    if let Some(c) = hp.final_logit_softcapping {
        kv.arch("final_logit_softcapping", Value::F32(c as f32));
    }
    kv.arch("attention.sliding_window", Value::U32(hp.sliding_window));
    for d in &dir.dense {
        kv.arch(&format!("{}_feat_in", d.prefix), Value::U32(d.in_features));
        kv.arch(
            &format!("{}_feat_out", d.prefix),
            Value::U32(d.out_features),
        );
    }
    if let Some(p) = dir.pooling_type {
        kv.arch("pooling_type", Value::U32(p));
    }
    kv.set(
        "general.quantization_version",
        Value::U32(QUANTIZATION_VERSION),
    );
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
    for (typ, id) in &special.ids {
        if let Some(key) = special_id_key(typ) {
            kv.set(key, Value::U32(*id));
        }
    }
    for (typ, add) in &special.add {
        if let Some(key) = add_flag_key(typ) {
            kv.set(key, Value::Bool(*add));
        }
    }
    if let Some(t) = &special.chat_template {
        kv.set("tokenizer.chat_template", Value::String(t.clone()));
    }
    if let Some(v) = special.normalizer_lowercase {
        kv.set("tokenizer.ggml.normalizer.lowercase", Value::Bool(v));
    }
    if let Some(v) = special.normalizer_strip_accents {
        kv.set("tokenizer.ggml.normalizer.strip_accents", Value::Bool(v));
    }
    kv.set("tokenizer.ggml.add_space_prefix", Value::Bool(false));
}

/// All metadata for the output file.
pub fn build(
    dir: &HfDir,
    out: OutType,
    name: &str,
    n_params: u64,
    vocab: &Vocab,
    special: &SpecialVocab,
) -> Kv {
    let mut kv = Kv::default();
    general(&mut kv, dir, name, n_params);
    hparams(&mut kv, dir, out);
    tokenizer(&mut kv, vocab, special);
    for (name, text) in &dir.prompts {
        kv.set(
            format!("{PROMPT_KEY_PREFIX}{name}"),
            Value::String(text.clone()),
        );
    }
    kv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_labels_match_gguf_py() {
        assert_eq!(size_label(307_581_696), "308M");
        assert_eq!(size_label(7_241_732_096), "7.2B");
        assert_eq!(size_label(22_700_000), "23M");
        assert_eq!(size_label(500_000), "500K");
    }

    #[test]
    fn set_replaces_in_place() {
        let mut kv = Kv::default();
        kv.set("a", Value::U32(1));
        kv.set("b", Value::U32(2));
        kv.set("a", Value::U32(3));
        assert_eq!(kv.0.len(), 2);
        assert_eq!(kv.0[0], ("a".to_string(), Value::U32(3)));
    }
}
