//! The vocabulary as llama.cpp's converter writes it:
//! - SentencePiece models (`_create_vocab_sentencepiece`): tokens, scores and token types from
//!   tokenizer.model, overridden by added_tokens.json and tokenizer_config.json's
//!   `added_tokens_decoder`, padded to config.json's `vocab_size` ([`build_vocab`]);
//! - Hugging Face fast tokenizers (`get_vocab_base`): tokens and types from tokenizer.json's
//!   `model.vocab` and `added_tokens` ([`tokenizer_json_vocab`]);
//! - gguf-py's `SpecialVocab`: special token ids, `add_*_token` flags, chat template and
//!   normaliser flags ([`SpecialVocab`]).

use crate::json::{read_json_opt, read_text};
use crate::spm_proto::{parse_pieces, PieceType};
use crate::ConvertError;
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

/// llama.cpp's token types (`gguf.TokenType`).
pub mod token_type {
    pub const NORMAL: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const CONTROL: i32 = 3;
    pub const USER_DEFINED: i32 = 4;
    pub const UNUSED: i32 = 5;
    pub const BYTE: i32 = 6;
}

/// Token list with scores and types, indexed by token id.
#[derive(Debug, Clone, PartialEq)]
pub struct Vocab {
    pub tokens: Vec<String>,
    /// Empty for vocabularies without scores (WordPiece).
    pub scores: Vec<f32>,
    pub types: Vec<i32>,
}

/// Builds the token list from tokenizer.model (+ added tokens) with `vocab_size` entries
/// (`None`: as many as the SentencePiece model has).
pub fn build_vocab(dir: &Path, vocab_size: Option<u32>) -> Result<Vocab, ConvertError> {
    use token_type::*;
    let spm_path = dir.join("tokenizer.model");
    let bytes = std::fs::read(&spm_path).map_err(ConvertError::io(&spm_path))?;
    let pieces = parse_pieces(&bytes).map_err(|e| ConvertError::Tokenizer {
        path: spm_path.clone(),
        problem: format!("not a valid SentencePiece model: {e}"),
    })?;
    let n = vocab_size.map_or(pieces.len(), |v| v as usize);

    let mut tokens: Vec<String> = (0..n).map(|i| format!("[PAD{i}]")).collect();
    let mut scores = vec![-10000.0f32; n];
    let mut types = vec![UNUSED; n];
    for (id, p) in pieces.into_iter().enumerate().take(n) {
        // sentencepiece's IsUnknown / IsControl / IsUnused / IsByte; user-defined pieces stay
        // NORMAL here, exactly as llama.cpp's converter classifies them.
        types[id] = match p.kind {
            PieceType::Unknown => UNKNOWN,
            PieceType::Control => CONTROL,
            PieceType::Unused => UNUSED,
            PieceType::Byte => BYTE,
            PieceType::Normal | PieceType::UserDefined => NORMAL,
        };
        tokens[id] = p.piece;
        scores[id] = p.score;
    }

    // added_tokens.json: {"text": id}; ids outside the vocabulary are ignored.
    let added_path = dir.join("added_tokens.json");
    if let Some(added) = read_json_opt::<Value>(&added_path)? {
        let obj = added.as_object().ok_or_else(|| {
            ConvertError::bad_config(&added_path, "(top level)", "expected an object")
        })?;
        for (text, id) in obj {
            let id = id
                .as_u64()
                .ok_or_else(|| ConvertError::bad_config(&added_path, text, "expected a token id"))?
                as usize;
            if id < n {
                tokens[id] = text.clone();
                scores[id] = -1000.0;
                types[id] = USER_DEFINED;
            }
        }
    }

    // tokenizer_config.json's added_tokens_decoder: {"id": {"content", "special"}}.
    let tc_path = dir.join("tokenizer_config.json");
    if let Some(tc) = read_json_opt::<TokenizerConfigTokens>(&tc_path)? {
        for (id, tok) in tc.added_tokens_decoder {
            let id: usize = id.parse().map_err(|_| {
                ConvertError::bad_config(
                    &tc_path,
                    format!("added_tokens_decoder.{id}"),
                    "not a token id",
                )
            })?;
            if id >= n {
                continue;
            }
            let text = if tok.special || looks_special(&tok.content) {
                types[id] = CONTROL;
                tok.content
            } else {
                types[id] = USER_DEFINED;
                tok.content.replace('\u{2581}', " ") // pre-normalised user-defined spaces
            };
            scores[id] = -1000.0;
            tokens[id] = text;
        }
    }
    Ok(Vocab {
        tokens,
        scores,
        types,
    })
}

/// The model section of tokenizer.json, for [`tokenizer_json_vocab`].
#[derive(Deserialize)]
struct TokenizerJsonModel {
    model: TokenizerModel,
    #[serde(default)]
    added_tokens: Vec<AddedTokenFull>,
}

#[derive(Deserialize)]
struct TokenizerModel {
    #[serde(rename = "type")]
    ty: Option<String>,
    vocab: Value,
}

#[derive(Deserialize)]
struct AddedTokenFull {
    id: u64,
    content: String,
    #[serde(default)]
    special: bool,
}

/// Tokens and token types from tokenizer.json as llama.cpp's `get_vocab_base` lists them,
/// with `model_type` (tokenizer.json's `model.type`, e.g. `WordPiece`) returned for the caller
/// to check. Ids missing from the vocabulary become `[PAD<id>]` (UNUSED); added tokens are
/// CONTROL when special (or special-looking), else USER_DEFINED; the rest are NORMAL.
/// `vocab_size` (config.json) must exceed every id. (llama.cpp re-encodes non-normalized
/// added tokens through the HF tokenizer; we keep them as written.)
pub fn tokenizer_json_vocab(
    dir: &Path,
    vocab_size: Option<u32>,
) -> Result<(Vocab, String), ConvertError> {
    use token_type::*;
    let path = dir.join("tokenizer.json");
    let tok: TokenizerJsonModel = crate::json::read_json(&path, "the tokenizer (tokenizer.json)")?;
    let bad = |problem: String| ConvertError::Tokenizer {
        path: path.clone(),
        problem,
    };
    let model_type = tok.model.ty.clone().unwrap_or_default();
    let map = tok.model.vocab.as_object().ok_or_else(|| {
        bad(format!(
            "model.vocab is not a token -> id object (model type `{model_type}`)"
        ))
    })?;
    let mut by_id: Vec<(u64, &str)> = Vec::with_capacity(map.len() + tok.added_tokens.len());
    for (text, id) in map {
        let id = id
            .as_u64()
            .ok_or_else(|| bad(format!("model.vocab[{text:?}] is not a token id")))?;
        by_id.push((id, text));
    }
    for a in &tok.added_tokens {
        by_id.push((a.id, &a.content));
    }
    let max_id = by_id.iter().map(|(id, _)| *id).max();
    let n = match vocab_size {
        Some(v) => v as usize,
        None => max_id.map_or(0, |m| m as usize + 1),
    };
    if let Some(m) = max_id.filter(|m| *m as usize >= n) {
        return Err(bad(format!(
            "token id {m} is outside config.json's vocab_size {n}"
        )));
    }
    let mut tokens: Vec<String> = (0..n).map(|i| format!("[PAD{i}]")).collect();
    let mut types = vec![UNUSED; n];
    for (id, text) in map.iter().filter_map(|(t, id)| Some((id.as_u64()?, t))) {
        tokens[id as usize] = text.clone();
        types[id as usize] = NORMAL;
    }
    for a in &tok.added_tokens {
        let id = a.id as usize;
        if a.special || looks_special(&a.content) {
            tokens[id] = a.content.clone();
            types[id] = CONTROL;
        } else {
            tokens[id] = a.content.replace('\u{2581}', " ");
            types[id] = USER_DEFINED;
        }
    }
    let scores = Vec::new();
    Ok((
        Vocab {
            tokens,
            scores,
            types,
        },
        model_type,
    ))
}

#[derive(Deserialize)]
struct TokenizerConfigTokens {
    #[serde(default)]
    added_tokens_decoder: std::collections::BTreeMap<String, AddedTokenDecl>,
}

#[derive(Deserialize)]
struct AddedTokenDecl {
    content: String,
    #[serde(default)]
    special: bool,
}

/// llama.cpp's `does_token_look_special`: added tokens that ought to be control tokens.
fn looks_special(t: &str) -> bool {
    matches!(t, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (t.starts_with("<|") && t.ends_with("|>"))
        || (t.starts_with("<\u{ff5c}") && t.ends_with("\u{ff5c}>"))
        || (t.starts_with("<unused") && t.ends_with('>'))
}

/// Special-token metadata in the order gguf-py's `SpecialVocab.add_to_gguf` writes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpecialVocab {
    /// (type, id) e.g. ("bos", 2), first-set order.
    pub ids: Vec<(&'static str, u32)>,
    /// (type, add?) e.g. ("bos", true).
    pub add: Vec<(&'static str, bool)>,
    pub chat_template: Option<String>,
    pub normalizer_lowercase: Option<bool>,
    pub normalizer_strip_accents: Option<bool>,
}

/// GGUF key for a special token id type (`None`: gguf-py has no handler and skips it).
pub fn special_id_key(typ: &str) -> Option<&'static str> {
    Some(match typ {
        "bos" => "tokenizer.ggml.bos_token_id",
        "eos" => "tokenizer.ggml.eos_token_id",
        "unk" => "tokenizer.ggml.unknown_token_id",
        "sep" => "tokenizer.ggml.seperator_token_id",
        "pad" => "tokenizer.ggml.padding_token_id",
        "mask" => "tokenizer.ggml.mask_token_id",
        "eot" => "tokenizer.ggml.eot_token_id",
        "eom" => "tokenizer.ggml.eom_token_id",
        _ => return None,
    })
}

/// GGUF key for an `add_*_token` flag (`None`: no handler in gguf-py).
pub fn add_flag_key(typ: &str) -> Option<&'static str> {
    Some(match typ {
        "bos" => "tokenizer.ggml.add_bos_token",
        "eos" => "tokenizer.ggml.add_eos_token",
        "sep" => "tokenizer.ggml.add_sep_token",
        _ => return None,
    })
}

const SPECIAL_TYPES: [&str; 7] = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"];

#[derive(Deserialize, Default)]
struct TokenizerJson {
    #[serde(default)]
    added_tokens: Vec<AddedToken>,
    #[serde(default)]
    post_processor: Option<Value>,
    #[serde(default)]
    normalizer: Option<Value>,
}

#[derive(Deserialize)]
struct AddedToken {
    id: u64,
    content: String,
}

impl SpecialVocab {
    fn set_id(&mut self, typ: &'static str, id: Option<&Value>, n_vocab: usize) {
        // Only integer ids count; the first one set wins; ids outside the vocabulary are skipped.
        let Some(id) = id.and_then(Value::as_u64) else {
            return;
        };
        if (id as usize) < n_vocab && !self.ids.iter().any(|(t, _)| *t == typ) {
            self.ids.push((typ, id as u32));
        }
    }

    fn set_add(&mut self, typ: &'static str, value: bool, overwrite: bool) {
        match self.add.iter_mut().find(|(t, _)| *t == typ) {
            Some(e) if overwrite => e.1 = value,
            Some(_) => {}
            None => self.add.push((typ, value)),
        }
    }

    fn parse_normalizer(&mut self, n: &Value) {
        match n.get("type").and_then(Value::as_str) {
            Some("Lowercase") => self.normalizer_lowercase = Some(true),
            Some("StripAccents") => self.normalizer_strip_accents = Some(true),
            Some("BertNormalizer") => {
                if let Some(v) = n.get("lowercase").and_then(Value::as_bool) {
                    self.normalizer_lowercase = Some(v);
                }
                if let Some(v) = n.get("strip_accents").and_then(Value::as_bool) {
                    self.normalizer_strip_accents = Some(v);
                }
            }
            Some("Sequence") => {
                for m in n
                    .get("normalizers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    self.parse_normalizer(m);
                }
            }
            _ => {}
        }
    }

    /// Reads tokenizer.json, tokenizer_config.json and config.json as gguf-py's SpecialVocab does.
    pub fn load(dir: &Path, n_vocab: usize) -> Result<SpecialVocab, ConvertError> {
        let mut sv = SpecialVocab::default();
        let mut types: Vec<&'static str> = SPECIAL_TYPES.to_vec();
        let tok: Option<TokenizerJson> = read_json_opt(&dir.join("tokenizer.json"))?;
        let mut tc: Option<serde_json::Map<String, Value>> =
            read_json_opt::<Value>(&dir.join("tokenizer_config.json"))?
                .and_then(|v| v.as_object().cloned());
        let tc_str = |tc: &Option<serde_json::Map<String, Value>>, k: &str| -> Option<String> {
            tc.as_ref()?.get(k)?.as_str().map(str::to_owned)
        };

        if let Some(tok) = &tok {
            if let Some(n) = &tok.normalizer {
                sv.parse_normalizer(n);
            }
            let mut bos = tc_str(&tc, "bos_token");
            let cls = tc_str(&tc, "cls_token");
            let mut eos = tc_str(&tc, "eos_token");
            let sep = tc_str(&tc, "sep_token");
            if bos.is_none() && cls.is_some() {
                bos.clone_from(&cls);
                if let Some(m) = tc.as_mut() {
                    m.insert("bos_token".into(), cls.clone().into());
                }
            }
            if eos.is_none() && sep.is_some() {
                eos.clone_from(&sep);
                if let Some(m) = tc.as_mut() {
                    m.insert("eos_token".into(), sep.clone().into());
                }
            }
            if let Some(pp) = &tok.post_processor {
                let procs: Vec<&Value> = match pp.get("processors").and_then(Value::as_array) {
                    Some(list) => list.iter().collect(),
                    None => vec![pp],
                };
                for p in procs {
                    match p.get("type").and_then(Value::as_str) {
                        Some("ByteLevel") => {
                            sv.set_add("bos", false, false);
                            sv.set_add("eos", false, false);
                        }
                        Some("RobertaProcessing") => {
                            for t in ["bos", "eos", "sep"] {
                                sv.set_add(t, true, true);
                            }
                        }
                        Some("TemplateProcessing") => {
                            sv.template_processing(p, &mut tc, &mut types, &bos, &eos, &cls, &sep);
                        }
                        _ => {}
                    }
                }
            }
        }

        let added: &[AddedToken] = tok.as_ref().map_or(&[], |t| &t.added_tokens);
        if let Some(tc) = &tc {
            let template = tc
                .get("chat_template")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| read_text(&dir.join("chat_template.jinja"), "").ok());
            sv.chat_template = template;
            for typ in types.iter().copied() {
                if let Some(b) = tc.get(&format!("add_{typ}_token")).and_then(Value::as_bool) {
                    sv.set_add(typ, b, false);
                }
                let content = match tc.get(&format!("{typ}_token")) {
                    Some(Value::String(s)) => s.as_str(),
                    Some(Value::Object(o)) => match o.get("content").and_then(Value::as_str) {
                        Some(s) => s,
                        None => continue,
                    },
                    _ => continue,
                };
                let id = added.iter().find(|a| a.content == content).map(|a| a.id);
                sv.set_id(typ, id.map(Value::from).as_ref(), n_vocab);
            }
        }

        if let Some(config) = read_json_opt::<Value>(&dir.join("config.json"))? {
            for typ in types.iter().copied() {
                let key = format!("{typ}_token_id");
                let id = config
                    .get(&key)
                    .or_else(|| config.get("text_config").and_then(|t| t.get(&key)));
                sv.set_id(typ, id, n_vocab);
            }
        }
        Ok(sv)
    }

    /// gguf-py's crude reading of a `TemplateProcessing` post-processor: whether BOS / EOS are
    /// added around a single sequence, and whether a separator goes between a pair.
    #[allow(clippy::too_many_arguments)]
    fn template_processing(
        &mut self,
        p: &Value,
        tc: &mut Option<serde_json::Map<String, Value>>,
        types: &mut Vec<&'static str>,
        bos: &Option<String>,
        eos: &Option<String>,
        cls: &Option<String>,
        sep: &Option<String>,
    ) {
        let special_id = |v: &Value| -> Option<String> {
            v.get("SpecialToken")?
                .get("id")?
                .as_str()
                .map(str::to_owned)
        };
        let seq_id = |v: &Value| -> Option<String> {
            v.get("Sequence")?.get("id")?.as_str().map(str::to_owned)
        };
        let single: Vec<Value> = p
            .get("single")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let pair: Vec<Value> = p
            .get("pair")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let (mut bos, mut eos, mut cls, mut sep) =
            (bos.clone(), eos.clone(), cls.clone(), sep.clone());
        let mut first = None;
        let mut last = None;
        if single.len() > 1 {
            first = special_id(&single[0]).filter(|s| !s.is_empty());
            if let Some(f) = &first {
                match tc.as_mut() {
                    None => bos = Some(f.clone()),
                    Some(m) => {
                        if Some(f) != bos.as_ref() && Some(f) != cls.as_ref() {
                            if bos.is_none() {
                                m.insert("bos_token".into(), f.clone().into());
                                bos = Some(f.clone());
                            }
                            if cls.is_none() {
                                m.insert("cls_token".into(), f.clone().into());
                                cls = Some(f.clone());
                            }
                        }
                    }
                }
                let is_bos = Some(f) == bos.as_ref() || Some(f) == cls.as_ref();
                self.set_add("bos", is_bos, true);
            }
            last = special_id(&single[single.len() - 1]).filter(|s| !s.is_empty());
            if let Some(l) = &last {
                match tc.as_mut() {
                    None => eos = Some(l.clone()),
                    Some(m) => {
                        if Some(l) != eos.as_ref() {
                            if let Some(old) = &eos {
                                if !types.contains(&"eot") {
                                    types.push("eot");
                                    m.insert("eot_token".into(), old.clone().into());
                                } else if !types.contains(&"eom") {
                                    types.push("eom");
                                    m.insert("eom_token".into(), old.clone().into());
                                }
                            }
                            m.insert("eos_token".into(), l.clone().into());
                            eos = Some(l.clone());
                        }
                    }
                }
                self.set_add("eos", Some(l) == eos.as_ref(), true);
            }
        }
        if pair.is_empty() {
            return;
        }
        let start = usize::from(first.is_some() && special_id(&pair[0]) == first);
        let stop = if last.is_some() && special_id(&pair[pair.len() - 1]) == last {
            pair.len() - 1
        } else {
            pair.len()
        };
        if start >= stop {
            return;
        }
        let inner = &pair[start..stop];
        if seq_id(&inner[0]).as_deref() != Some("A")
            || seq_id(&inner[inner.len() - 1]).as_deref() != Some("B")
        {
            return;
        }
        if inner.len() < 3 {
            return;
        }
        let middle = &inner[1..inner.len() - 1];
        let mut add_sep = false;
        if let Some(entry) = special_id(&middle[0]) {
            let is_sep = Some(&entry) == sep.as_ref() || Some(&entry) == eos.as_ref();
            if is_sep && last.is_none() {
                add_sep = true;
            }
        }
        if middle.len() == 2 {
            if let Some(entry) = special_id(&middle[1]) {
                if Some(&entry) == sep.as_ref() || Some(&entry) == eos.as_ref() {
                    add_sep = true;
                }
            }
        }
        self.set_add("sep", add_sep, true);
        if add_sep && sep.is_none() {
            if let (Some(m), Some(e)) = (tc.as_mut(), &eos) {
                m.insert("sep_token".into(), e.clone().into());
                sep = Some(e.clone());
            }
        }
        let _ = sep;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_looking_tokens() {
        for t in [
            "<pad>",
            "<mask>",
            "<|im_start|>",
            "<unused12>",
            "<\u{ff5c}x\u{ff5c}>",
        ] {
            assert!(looks_special(t), "{t}");
        }
        for t in ["<eos>", "hello", "<unused", "[multimodal]"] {
            assert!(!looks_special(t), "{t}");
        }
    }
}
