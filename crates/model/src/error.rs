//! The model crate's one error type. Every variant names what failed (key, tensor, input, token)
//! and, where it helps, what to do about it.

use gguf::GgufError;
use kernels::KernelError;
use tokenizer::TokenizerError;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Gguf(#[from] GgufError),

    #[error("{path}: {what}: {source}")]
    Io {
        path: String,
        what: String,
        source: std::io::Error,
    },

    #[error("tokenizer: {0}")]
    Tokenizer(#[from] TokenizerError),

    #[error("tensor '{tensor}': {source}")]
    Kernel { tensor: String, source: KernelError },

    #[error(
        "unsupported architecture '{found}' (general.architecture); supported: {}",
        crate::arch::SUPPORTED.join(", ")
    )]
    WrongArchitecture { found: String },

    #[error(
        "max_tokens {requested} is out of range: it must be between 1 and the model's context \
         length {context}"
    )]
    BadMaxTokens { requested: usize, context: usize },

    #[error("metadata key '{key}': {reason}")]
    BadMetadata { key: String, reason: String },

    #[error("tensor '{name}' is missing from the GGUF file")]
    MissingTensor { name: String },

    #[error("tensor '{name}' has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        name: String,
        expected: Vec<u64>,
        found: Vec<u64>,
    },

    #[error(
        "tensor '{name}' has type {ggml_type}; supported weight types are F32, F16, BF16, Q8_0, \
         Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and IQ4_NL \
         (re-convert with `ggufembed convert --outtype q8_0`)"
    )]
    UnsupportedWeightType {
        name: String,
        ggml_type: &'static str,
    },

    #[error(
        "this GGUF has no sentence-transformers head (tensors dense_2.weight / dense_3.weight are missing): \
         it is an old head-less conversion whose vectors are unrelated to the real EmbeddingGemma embeddings. \
         Re-convert with `ggufembed convert` (or llama.cpp's --sentence-transformers-dense-modules), \
         or pass --allow-missing-head (EmbedderOptions::allow_missing_head) to use it anyway"
    )]
    MissingHead,

    #[error("unknown prompt name {name:?}; known prompt names: {}", if known.is_empty() { "none (this model has no prompts)".to_string() } else { known.join(", ") })]
    UnknownPrompt { name: String, known: Vec<String> },

    #[error(
        "a title only applies to the document prompt, but prompt '{prompt_name}' was requested"
    )]
    TitleWithPrompt { prompt_name: String },

    #[error("unsupported dims {dims}; choose one of {supported:?} (Matryoshka truncation)")]
    BadDims { dims: usize, supported: Vec<usize> },

    #[error(
        "input has {n_tokens} tokens, more than the model's context of {max}; \
         shorten it or allow truncation"
    )]
    TooLong { n_tokens: usize, max: usize },

    #[error(
        "token id {id} at position {position} is out of range (vocabulary has {n_vocab} tokens)"
    )]
    TokenOutOfRange {
        id: u32,
        position: usize,
        n_vocab: usize,
    },

    #[error("empty token sequence: at least one token id is required")]
    EmptyTokens,

    #[error("input {index}: {source}")]
    Input {
        index: usize,
        source: Box<ModelError>,
    },
}

impl ModelError {
    /// Wraps an error with the index of the batch input it belongs to.
    pub(crate) fn at_input(self, index: usize) -> ModelError {
        ModelError::Input {
            index,
            source: Box::new(self),
        }
    }

    pub(crate) fn bad_metadata(key: &str, reason: impl Into<String>) -> ModelError {
        ModelError::BadMetadata {
            key: key.to_string(),
            reason: reason.into(),
        }
    }
}
