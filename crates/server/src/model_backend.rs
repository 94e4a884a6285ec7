//! `Backend` for the real model (`model::Embedder`), and the translation of `ModelError` into the
//! server's error classes (client mistakes stay 4xx with the model's wording; the rest is 500).

use crate::backend::{Backend, BackendInfo, Embedding, Input, TokenInput};
use crate::error::ServerError;
use model::{Embedder, EmbedderOptions, ModelError};
use std::path::Path;
use tokenizer::TokenType;

pub struct ModelBackend {
    embedder: Embedder,
    model_id: String,
}

impl ModelBackend {
    /// Opens the GGUF (slow: repacks weights) with a per-forward budget of `batch_tokens`
    /// (raised to the context length if smaller). `model_id` is the file stem.
    pub fn open(
        path: &Path,
        opts: &EmbedderOptions,
        batch_tokens: usize,
    ) -> Result<Self, ServerError> {
        let mut embedder = Embedder::open(path, opts)
            .map_err(|e| ServerError::Model(format!("{}: {e}", path.display())))?;
        embedder.set_max_batch_tokens(batch_tokens);
        let model_id = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "ggufembed".into());
        Ok(ModelBackend { embedder, model_id })
    }

    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }
}

impl Backend for ModelBackend {
    fn info(&self) -> BackendInfo {
        let i = self.embedder.info();
        let t = self.embedder.tokenizer();
        BackendInfo {
            model_id: self.model_id.clone(),
            arch: i.arch.clone(),
            n_embd: i.n_embd,
            dims: i.dims.first().copied().unwrap_or(i.n_embd),
            supported_dims: i.dims.clone(),
            n_ctx: i.n_ctx,
            n_vocab: i.n_vocab,
            quantization: i.weight_type.clone(),
            weight_mix: i.weight_mix.clone(),
            has_head: i.has_head,
            prompts: i.prompts.clone(),
            bos_id: t.bos_id(),
            eos_id: t.eos_id(),
        }
    }

    fn prepare(&self, input: &Input) -> Result<TokenInput, ServerError> {
        self.embedder.prepare(input).map_err(classify)
    }

    fn embed_tokens(&mut self, inputs: &[TokenInput]) -> Result<Vec<Embedding>, ServerError> {
        self.embedder.embed_tokens(inputs).map_err(classify)
    }

    fn decode(&self, ids: &[u32]) -> Result<String, ServerError> {
        self.embedder
            .tokenizer()
            .decode(ids)
            .map_err(|e| ServerError::Invalid(e.to_string()))
    }

    fn piece(&self, id: u32) -> Option<String> {
        self.embedder.tokenizer().piece(id).map(str::to_owned)
    }

    fn is_special(&self, id: u32) -> bool {
        matches!(
            self.embedder.tokenizer().token_type(id),
            Some(TokenType::Control | TokenType::Unknown)
        )
    }
}

/// Request problems keep their 4xx class; anything else is the server's fault.
fn classify(e: ModelError) -> ServerError {
    match e {
        ModelError::Input { index, source } => classify(*source).at(index),
        ModelError::UnknownPrompt { name, known } => ServerError::UnknownPrompt {
            name,
            known: known.join(", "),
        },
        ModelError::BadDims { dims, supported } => ServerError::BadDims { dims, supported },
        ModelError::TooLong { n_tokens, max } => ServerError::TooLong { n_tokens, max },
        ModelError::TokenOutOfRange { id, n_vocab, .. } => ServerError::TokenOutOfRange {
            id: id as u64,
            n_vocab,
        },
        e @ (ModelError::TitleWithPrompt { .. } | ModelError::EmptyTokens) => {
            ServerError::Invalid(e.to_string())
        }
        e => ServerError::Model(e.to_string()),
    }
}
