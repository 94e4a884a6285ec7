//! What the server needs from a model: a small trait, implemented for `model::Embedder`. Tests use
//! a deterministic fake. The worker thread owns the backend; nothing else touches it.

use crate::error::ServerError;
use serde::Serialize;

pub use model::{Embedding, Input, TokenInput, Truncate};

/// Facts about the loaded model, reported by /info and used to validate requests before queueing.
#[derive(Debug, Clone, Serialize)]
pub struct BackendInfo {
    /// Name reported as `model` (file stem unless the config overrides it).
    pub model_id: String,
    pub arch: String,
    /// Hidden size (`n_embd`).
    pub n_embd: usize,
    /// Length of a full output vector.
    pub dims: usize,
    /// Every `dimensions` value a request may ask for (Matryoshka), the full size included.
    pub supported_dims: Vec<usize>,
    /// Most tokens per input (`n_ctx`), BOS/EOS and prompt included.
    pub n_ctx: usize,
    pub n_vocab: usize,
    /// Weight type of the large matrices, e.g. "Q8_0".
    pub quantization: String,
    /// The file's type mix, e.g. "Q4_K_M: Q4_K×134, F32×123, Q6_K×13, …".
    pub weight_mix: String,
    /// Whether the sentence-transformers dense head (`dense_2`, `dense_3`) is present.
    pub has_head: bool,
    /// Prompt names and the text each prepends.
    pub prompts: Vec<(String, String)>,
    pub bos_id: u32,
    pub eos_id: u32,
}

/// The model as the worker thread sees it. Errors come back already classified (`ServerError`).
pub trait Backend: Send + 'static {
    fn info(&self) -> BackendInfo;
    /// Tokenize with prompt/title and apply the truncation policy; no compute.
    fn prepare(&self, input: &Input) -> Result<TokenInput, ServerError>;
    /// Embed a ragged batch. Must be batch invariant: each output depends only on its own input.
    fn embed_tokens(&mut self, inputs: &[TokenInput]) -> Result<Vec<Embedding>, ServerError>;
    /// Token ids to text, skipping BOS/EOS/PAD.
    fn decode(&self, ids: &[u32]) -> Result<String, ServerError>;
    /// The vocabulary piece of one id (`▁hello`, `<eos>`).
    fn piece(&self, id: u32) -> Option<String>;
    /// Whether `id` is a control token (BOS, EOS, PAD, `<start_of_turn>`, ...).
    fn is_special(&self, id: u32) -> bool;
}
