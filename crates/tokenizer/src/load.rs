//! Building a [`Tokenizer`] from GGUF `tokenizer.ggml.*` metadata or plain vectors.

use crate::bpe::BpeModel;
use crate::special::AddedTokens;
use crate::vocab::Vocab;
use crate::wordpiece::WordPiece;
use crate::{Algo, TokenType, Tokenizer, TokenizerError};
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

/// Everything a WordPiece tokenizer is built from, as llama.cpp's converter stores it in GGUF
/// (`BertModel.set_vocab`; key names from gguf-py's `Keys.Tokenizer`).
#[derive(Debug, Clone, Copy)]
pub struct WordPieceVocab<'a> {
    /// `tokenizer.ggml.tokens` with the phantom-space convention: `▁hello` for a word-start
    /// piece, `lo` for the continuation `##lo`, control tokens unchanged
    /// ([`crate::hf_to_gguf_piece`]).
    pub tokens: &'a [String],
    /// `tokenizer.ggml.token_type` (empty = all normal, with the special ids below marked
    /// control). Control tokens are matched verbatim in the raw text and never inside words.
    pub token_types: &'a [i32],
    /// `[CLS]`: `tokenizer.ggml.bos_token_id`; `None`: the piece `[CLS]`.
    pub cls_id: Option<u32>,
    /// `[SEP]`: `tokenizer.ggml.seperator_token_id`, else `eos_token_id`; `None`: the piece `[SEP]`.
    pub sep_id: Option<u32>,
    /// `[UNK]`: `tokenizer.ggml.unknown_token_id`; `None`: the piece `[UNK]`.
    pub unk_id: Option<u32>,
    /// `tokenizer.ggml.padding_token_id`; `None`: the piece `[PAD]`, if any.
    pub pad_id: Option<u32>,
    /// `tokenizer.ggml.mask_token_id`; `None`: the piece `[MASK]`, if any.
    pub mask_id: Option<u32>,
    /// `tokenizer.ggml.normalizer.lowercase`; `None`: lower-case if no normal piece has an
    /// upper-case letter (an uncased vocabulary, like all-MiniLM's).
    pub lowercase: Option<bool>,
    /// `tokenizer.ggml.normalizer.strip_accents`; `None`: same as lower-casing (Hugging Face's
    /// `strip_accents: null`).
    pub strip_accents: Option<bool>,
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
const K_SEP: &str = "tokenizer.ggml.seperator_token_id"; // sic, as gguf-py spells it
const K_MASK: &str = "tokenizer.ggml.mask_token_id";
const K_LOWERCASE: &str = "tokenizer.ggml.normalizer.lowercase";
const K_STRIP_ACCENTS: &str = "tokenizer.ggml.normalizer.strip_accents";

pub(crate) fn from_gguf(file: &gguf::GgufFile) -> Result<Tokenizer, TokenizerError> {
    let opt_u32 = |key: &str| -> Result<Option<u32>, TokenizerError> {
        match file.get(key) {
            Some(_) => Ok(Some(file.get_u32(key)?)),
            None => Ok(None),
        }
    };
    let opt_bool = |key: &str| -> Result<Option<bool>, TokenizerError> {
        match file.get(key) {
            Some(_) => Ok(Some(file.get_bool(key)?)),
            None => Ok(None),
        }
    };
    let token_types: &[i32] = match file.get(K_TYPES) {
        Some(_) => file.get_i32_array(K_TYPES)?,
        None => &[],
    };
    let model = file.get_str(K_MODEL)?;
    match model {
        "llama" => {}
        "bert" => {
            let v = WordPieceVocab {
                tokens: file.get_str_array(K_TOKENS)?,
                token_types,
                cls_id: opt_u32(K_BOS)?,
                sep_id: match opt_u32(K_SEP)? {
                    Some(id) => Some(id),
                    None => opt_u32(K_EOS)?,
                },
                unk_id: opt_u32(K_UNK)?,
                pad_id: opt_u32(K_PAD)?,
                mask_id: opt_u32(K_MASK)?,
                lowercase: opt_bool(K_LOWERCASE)?,
                strip_accents: opt_bool(K_STRIP_ACCENTS)?,
            };
            return from_wordpiece(&v);
        }
        _ => {
            return Err(TokenizerError::UnsupportedModel {
                model: model.to_string(),
            })
        }
    }
    // Defaults for absent keys are llama.cpp's for SentencePiece ("llama") vocabularies.
    let v = SpmVocab {
        tokens: file.get_str_array(K_TOKENS)?,
        scores: file.get_f32_array(K_SCORES)?,
        token_types,
        bos_id: opt_u32(K_BOS)?.unwrap_or(1),
        eos_id: opt_u32(K_EOS)?.unwrap_or(2),
        unk_id: opt_u32(K_UNK)?,
        pad_id: opt_u32(K_PAD)?,
        add_bos: opt_bool(K_ADD_BOS)?.unwrap_or(true),
        add_eos: opt_bool(K_ADD_EOS)?.unwrap_or(false),
        add_space_prefix: opt_bool(K_ADD_SPACE)?.unwrap_or(true),
    };
    from_vocab(&v)
}

/// Checks the vocabulary size and reads the token types (empty = all normal).
fn check_vocab(tokens: &[String], token_types: &[i32]) -> Result<Vec<TokenType>, TokenizerError> {
    let n = tokens.len();
    if n == 0 {
        return Err(TokenizerError::EmptyVocab);
    }
    if n > (1 << 31) {
        return Err(TokenizerError::VocabTooLarge(n));
    }
    if token_types.is_empty() {
        return Ok(vec![TokenType::Normal; n]);
    }
    if token_types.len() != n {
        return Err(TokenizerError::LengthMismatch {
            key: K_TYPES,
            got: token_types.len(),
            expected: n,
        });
    }
    let mut types = Vec::with_capacity(n);
    for (index, &value) in token_types.iter().enumerate() {
        match TokenType::from_i32(value) {
            Some(t) => types.push(t),
            None => return Err(TokenizerError::BadTokenType { index, value }),
        }
    }
    Ok(types)
}

/// `id` if it is below `n`, else the error naming `key`.
fn check_id(key: &'static str, id: u32, n: usize) -> Result<u32, TokenizerError> {
    if (id as usize) < n {
        Ok(id)
    } else {
        Err(TokenizerError::SpecialIdOutOfRange {
            key,
            id: id as u64,
            vocab_size: n,
        })
    }
}

fn next_uid() -> u64 {
    static NEXT_UID: AtomicU64 = AtomicU64::new(1);
    NEXT_UID.fetch_add(1, Ordering::Relaxed)
}

pub(crate) fn from_vocab(v: &SpmVocab<'_>) -> Result<Tokenizer, TokenizerError> {
    let types = check_vocab(v.tokens, v.token_types)?;
    let n = v.tokens.len();
    if v.scores.len() != n {
        return Err(TokenizerError::LengthMismatch {
            key: K_SCORES,
            got: v.scores.len(),
            expected: n,
        });
    }
    // Piece offsets are u32; user-defined pieces may grow 3x (' ' -> '▁').
    let total: usize = v.tokens.iter().map(|t| t.len()).sum();
    if total.saturating_mul(3) >= u32::MAX as usize {
        return Err(TokenizerError::VocabTooLarge(n));
    }
    let check = |key: &'static str, id: u32| check_id(key, id, n);
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
    Ok(Tokenizer {
        uid: next_uid(),
        vocab,
        added,
        algo: Algo::Spm(bpe),
        bos_id,
        eos_id,
        unk_id,
        pad_id,
        mask_id: None,
        add_bos: v.add_bos,
        add_eos: v.add_eos,
        add_space_prefix: v.add_space_prefix,
    })
}

pub(crate) fn from_wordpiece(v: &WordPieceVocab<'_>) -> Result<Tokenizer, TokenizerError> {
    let mut types = check_vocab(v.tokens, v.token_types)?;
    let n = v.tokens.len();
    let total: usize = v.tokens.iter().map(|t| t.len()).sum();
    if total >= u32::MAX as usize {
        return Err(TokenizerError::VocabTooLarge(n));
    }
    let vocab_of = |types: Vec<TokenType>| {
        Vocab::build(
            v.tokens.iter().map(|t| Cow::Borrowed(t.as_str())),
            types,
            total,
        )
    };
    let mut vocab = vocab_of(types.clone());
    // A special id from its key, else the piece spelled `name` (llama.cpp's converter writes
    // the keys; files made by hand may only have the pieces).
    let special = |key: &'static str, id: Option<u32>, name: &str| match id {
        Some(id) => check_id(key, id, n).map(Some),
        None => Ok(vocab.lookup(name.as_bytes())),
    };
    let required = |key: &'static str, id: Option<u32>, name: &'static str| {
        special(key, id, name)?.ok_or(TokenizerError::MissingSpecial { name, key })
    };
    let cls_id = required(K_BOS, v.cls_id, "[CLS]")?;
    let sep_id = required(K_SEP, v.sep_id, "[SEP]")?;
    let unk_id = required(K_UNK, v.unk_id, "[UNK]")?;
    let pad_id = special(K_PAD, v.pad_id, "[PAD]")?;
    let mask_id = special(K_MASK, v.mask_id, "[MASK]")?;
    if v.token_types.is_empty() {
        // No types stored: the special tokens are the control tokens.
        for id in [Some(cls_id), Some(sep_id), Some(unk_id), pad_id, mask_id]
            .into_iter()
            .flatten()
        {
            types[id as usize] = TokenType::Control;
        }
        vocab = vocab_of(types.clone());
    }
    let lowercase = v.lowercase.unwrap_or_else(|| {
        // Uncased vocabularies (bert-base-uncased, all-MiniLM ...) have no piece that
        // lower-casing changes (they may hold upper-case letters without a lower case, e.g. 𝐀).
        !(0..n).any(|i| {
            types[i] == TokenType::Normal
                && v.tokens[i]
                    .chars()
                    .any(|c| c.is_uppercase() && c.to_lowercase().ne(std::iter::once(c)))
        })
    });
    let strip_accents = v.strip_accents.unwrap_or(lowercase);
    let wp = WordPiece::new(&vocab, &types, unk_id, lowercase, strip_accents);
    // Control and unknown pieces spelled in the raw text become those tokens, as Hugging Face's
    // added tokens with `normalized: false` do.
    let added = AddedTokens::build((0..n as u32).filter_map(|id| {
        let ty = vocab.token_type(id)?;
        matches!(ty, TokenType::Control | TokenType::Unknown).then(|| (vocab.piece_bytes(id), id))
    }));
    Ok(Tokenizer {
        uid: next_uid(),
        vocab,
        added,
        algo: Algo::WordPiece(Box::new(wp)),
        bos_id: cls_id,
        eos_id: sep_id,
        unk_id: Some(unk_id),
        pad_id,
        mask_id,
        add_bos: true,
        add_eos: true,
        add_space_prefix: false,
    })
}
