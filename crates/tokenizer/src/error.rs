//! The tokenizer crate's one error type.

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("reading tokenizer metadata: {0}")]
    Gguf(#[from] gguf::GgufError),
    #[error(
        "unsupported tokenizer model {model:?} in tokenizer.ggml.model: supported are \"llama\" (SentencePiece) and \"bert\" (WordPiece)"
    )]
    UnsupportedModel { model: String },
    #[error("tokenizer metadata is inconsistent: {key} has {got} entries but tokenizer.ggml.tokens has {expected}")]
    LengthMismatch {
        key: &'static str,
        got: usize,
        expected: usize,
    },
    #[error("tokenizer.ggml.tokens is empty")]
    EmptyVocab,
    #[error("tokenizer.ggml.tokens has {0} entries; at most 2^31 are supported")]
    VocabTooLarge(usize),
    #[error("tokenizer.ggml.token_type[{index}] = {value} is not a GGUF token type (0..=6)")]
    BadTokenType { index: usize, value: i32 },
    #[error("{key} = {id} is out of range for a vocabulary of {vocab_size} tokens")]
    SpecialIdOutOfRange {
        key: &'static str,
        id: u64,
        vocab_size: usize,
    },
    #[error("the vocabulary has no <0x00>..<0xFF> byte tokens for {missing} byte values and no unknown token, so some text could not be encoded")]
    NoFallback { missing: usize },
    #[error("the WordPiece vocabulary has no {name} token: {key} is not set and no piece is spelled {name}")]
    MissingSpecial {
        name: &'static str,
        key: &'static str,
    },
    #[error("token id {id} is out of range for a vocabulary of {vocab_size} tokens")]
    IdOutOfRange { id: u32, vocab_size: usize },
    #[error("unknown prompt name {name:?}; known prompt names: {known}")]
    UnknownPrompt { name: String, known: String },
    #[error("a title can only be used with a document prompt (one starting with \"title: none | text: \"); prompt {name:?} is {text:?}")]
    TitleWithoutDocumentPrompt { name: String, text: String },
}
