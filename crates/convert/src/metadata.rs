//! GGUF metadata helpers shared by the families: the ordered key/value list, `general.*` as
//! gguf-py writes it, the special-token block of gguf-py's `SpecialVocab`, and our own
//! `ggufembed.*` keys. Each family (`family/*.rs`) writes its hyper-parameters and token list
//! in between, in llama.cpp's order.

use crate::hfdir::SourceDir;
use crate::vocab::{add_flag_key, special_id_key, SpecialVocab};
use crate::OutType;
use gguf::{Array, Value};

/// Prefix of the keys holding sentence-transformers prompts (read by ggufembed, ignored by others).
pub const PROMPT_KEY_PREFIX: &str = "ggufembed.prompt.";
/// Our key for sentence-transformers' `max_seq_length` (u32): inputs are truncated to this
/// many tokens, special tokens included. Files without it use the model's context length.
pub const MAX_SEQ_LENGTH_KEY: &str = "ggufembed.max_seq_length";
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

    /// Sets `<arch>.<key>`.
    pub fn set_arch(&mut self, arch: &str, key: &str, value: Value) {
        self.set(format!("{arch}.{key}"), value);
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

/// The `general.*` block: architecture, type, sampling defaults from generation_config.json,
/// name / organization, size label and the model card's license, tags and languages.
pub fn general(kv: &mut Kv, arch: &str, dir: &SourceDir, name: Option<&str>, n_params: u64) {
    kv.set("general.architecture", Value::String(arch.into()));
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
    let (derived, org) = dir.name_and_org();
    kv.set(
        "general.name",
        Value::String(name.map_or(derived, str::to_owned)),
    );
    if let Some(org) = org {
        kv.set("general.organization", Value::String(org));
    }
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

/// gguf-py's `SpecialVocab.add_to_gguf`: special token ids, `add_*_token` flags, chat template
/// and normalizer flags.
pub fn special_tokens(kv: &mut Kv, special: &SpecialVocab) {
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
}

/// Our `ggufembed.*` keys, written after everything llama.cpp writes: the sentence-transformers
/// prompts and `max_seq_length`.
pub fn ggufembed_keys(kv: &mut Kv, prompts: &[(String, String)], max_seq_length: Option<u32>) {
    for (name, text) in prompts {
        kv.set(
            format!("{PROMPT_KEY_PREFIX}{name}"),
            Value::String(text.clone()),
        );
    }
    if let Some(n) = max_seq_length {
        kv.set(MAX_SEQ_LENGTH_KEY, Value::U32(n));
    }
}

/// `general.file_type` for `out`.
pub fn set_file_type(kv: &mut Kv, out: OutType) {
    kv.set("general.file_type", Value::U32(file_type(out)));
}

/// `general.quantization_version`.
pub fn set_quantization_version(kv: &mut Kv) {
    kv.set(
        "general.quantization_version",
        Value::U32(QUANTIZATION_VERSION),
    );
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
