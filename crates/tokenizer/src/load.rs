//! Building a [`Tokenizer`] from GGUF `tokenizer.ggml.*` metadata or plain vectors.

use crate::bpe::BpeModel;
use crate::special::AddedTokens;
use crate::vocab::Vocab;
use crate::{TokenType, Tokenizer, TokenizerError};
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

/// Everything the tokenizer is built from, as stored in GGUF.
#[derive(Debug, Clone, Copy)]
pub struct SpmVocab<'a> {
    /// `tokenizer.ggml.tokens`: piece texts, `▁` for spaces (llama.cpp stores user-defined pieces
    /// with plain spaces; those are mapped back to `▁` on load, as Hugging Face spells them).
    pub tokens: &'a [String],
    /// `tokenizer.ggml.scores`.
    pub scores: &'a [f32],
    /// `tokenizer.ggml.token_type` (empty = all normal).
    pub token_types: &'a [i32],
    pub bos_id: u32,
    pub eos_id: u32,
    /// `None`: the first piece of type Unknown, if any.
    pub unk_id: Option<u32>,
    pub pad_id: Option<u32>,
    pub add_bos: bool,
    pub add_eos: bool,
    pub add_space_prefix: bool,
}

const K_MODEL: &str = "tokenizer.ggml.model";
const K_TOKENS: &str = "tokenizer.ggml.tokens";
const K_SCORES: &str = "tokenizer.ggml.scores";
const K_TYPES: &str = "tokenizer.ggml.token_type";
const K_BOS: &str = "tokenizer.ggml.bos_token_id";
const K_EOS: &str = "tokenizer.ggml.eos_token_id";
const K_UNK: &str = "tokenizer.ggml.unknown_token_id";
const K_PAD: &str = "tokenizer.ggml.padding_token_id";
const K_ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
const K_ADD_EOS: &str = "tokenizer.ggml.add_eos_token";
const K_ADD_SPACE: &str = "tokenizer.ggml.add_space_prefix";

pub(crate) fn from_gguf(file: &gguf::GgufFile) -> Result<Tokenizer, TokenizerError> {
    let model = file.get_str(K_MODEL)?;
    if model != "llama" {
        return Err(TokenizerError::UnsupportedModel {
            model: model.to_string(),
        });
    }
    let opt_u32 = |key: &str| -> Result<Option<u32>, TokenizerError> {
        match file.get(key) {
            Some(_) => Ok(Some(file.get_u32(key)?)),
            None => Ok(None),
        }
    };
    let opt_bool = |key: &str, default: bool| -> Result<bool, TokenizerError> {
        match file.get(key) {
            Some(_) => Ok(file.get_bool(key)?),
            None => Ok(default),
        }
    };
    let token_types: &[i32] = match file.get(K_TYPES) {
        Some(_) => file.get_i32_array(K_TYPES)?,
        None => &[],
    };
    // Defaults for absent keys are llama.cpp's for SentencePiece ("llama") vocabularies.
    let v = SpmVocab {
        tokens: file.get_str_array(K_TOKENS)?,
        scores: file.get_f32_array(K_SCORES)?,
        token_types,
        bos_id: opt_u32(K_BOS)?.unwrap_or(1),
        eos_id: opt_u32(K_EOS)?.unwrap_or(2),
        unk_id: opt_u32(K_UNK)?,
        pad_id: opt_u32(K_PAD)?,
        add_bos: opt_bool(K_ADD_BOS, true)?,
        add_eos: opt_bool(K_ADD_EOS, false)?,
        add_space_prefix: opt_bool(K_ADD_SPACE, true)?,
    };
    from_vocab(&v)
}

pub(crate) fn from_vocab(v: &SpmVocab<'_>) -> Result<Tokenizer, TokenizerError> {
    let n = v.tokens.len();
    if n == 0 {
        return Err(TokenizerError::EmptyVocab);
    }
    if n > (1 << 31) {
        return Err(TokenizerError::VocabTooLarge(n));
    }
    if v.scores.len() != n {
        return Err(TokenizerError::LengthMismatch {
            key: K_SCORES,
            got: v.scores.len(),
            expected: n,
        });
    }
    let types: Vec<TokenType> = if v.token_types.is_empty() {
        vec![TokenType::Normal; n]
    } else {
        if v.token_types.len() != n {
            return Err(TokenizerError::LengthMismatch {
                key: K_TYPES,
                got: v.token_types.len(),
                expected: n,
            });
        }
        let mut types = Vec::with_capacity(n);
        for (index, &value) in v.token_types.iter().enumerate() {
            match TokenType::from_i32(value) {
                Some(t) => types.push(t),
                None => return Err(TokenizerError::BadTokenType { index, value }),
            }
        }
        types
    };
    // Piece offsets are u32; user-defined pieces may grow 3x (' ' -> '▁').
    let total: usize = v.tokens.iter().map(|t| t.len()).sum();
    if total.saturating_mul(3) >= u32::MAX as usize {
        return Err(TokenizerError::VocabTooLarge(n));
    }
    let check = |key: &'static str, id: u32| {
        if (id as usize) < n {
            Ok(id)
        } else {
            Err(TokenizerError::SpecialIdOutOfRange {
                key,
                id: id as u64,
                vocab_size: n,
            })
        }
    };
    let bos_id = check(K_BOS, v.bos_id)?;
    let eos_id = check(K_EOS, v.eos_id)?;
    let unk_id = match v.unk_id {
        Some(id) => Some(check(K_UNK, id)?),
        None => types
            .iter()
            .position(|t| *t == TokenType::Unknown)
            .map(|i| i as u32),
    };
    let pad_id = v.pad_id.map(|id| check(K_PAD, id)).transpose()?;

    let pieces = v.tokens.iter().zip(&types).map(|(t, ty)| {
        if *ty == TokenType::UserDefined && t.contains(' ') {
            Cow::Owned(t.replace(' ', "▁"))
        } else {
            Cow::Borrowed(t.as_str())
        }
    });
    let vocab = Vocab::build(pieces, types.clone(), total + 1024);
    let bpe = BpeModel::new(v.scores, &types, &vocab);
    let missing = (0..=255u8).filter(|&b| vocab.byte_id(b).is_none()).count();
    if missing > 0 && unk_id.is_none() {
        return Err(TokenizerError::NoFallback { missing });
    }
    let added = AddedTokens::build((0..n as u32).filter_map(|id| {
        let ty = vocab.token_type(id)?;
        ty.is_added().then(|| (vocab.piece_bytes(id), id))
    }));
    static NEXT_UID: AtomicU64 = AtomicU64::new(1);
    Ok(Tokenizer {
        uid: NEXT_UID.fetch_add(1, Ordering::Relaxed),
        vocab,
        added,
        bpe,
        bos_id,
        eos_id,
        unk_id,
        pad_id,
        add_bos: v.add_bos,
        add_eos: v.add_eos,
        add_space_prefix: v.add_space_prefix,
    })
}
