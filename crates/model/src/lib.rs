//! Text embedding models on the CPU, straight from a GGUF file: EmbeddingGemma
//! (`gemma-embedding`), BERT (`bert`: all-MiniLM, bge, …) and nomic-bert (nomic-embed-text).
//!
//! ```no_run
//! use model::{Embedder, EmbedderOptions, Input};
//! let mut e = Embedder::open("embeddinggemma-300M-Q8_0.gguf".as_ref(), &EmbedderOptions::default())?;
//! let v = e.embed(&[Input::new("Which planet is red?").with_prompt("query")])?;
//! assert_eq!(v[0].vector.len(), 768);
//! # Ok::<(), model::ModelError>(())
//! ```
//!
//! Layout: `arch` (one file per model family: config from `<arch>.*` metadata, weights, a
//! forward pass that reads like the model's definition) over `blocks` (loading, embeddings,
//! attention, FFNs, norms, RoPE, pooling) → `head` (dense head, normalize, Matryoshka) →
//! `embedder` (tokenize, truncate, batch, finish).

mod arch;
mod blocks;
mod embedder;
mod error;
mod head;
mod input;
mod profile;
mod prompts;
mod scratch;
mod tensor_file;

pub use arch::SUPPORTED as SUPPORTED_ARCHITECTURES;
pub use blocks::pooling::Pooling;
pub use embedder::{Embedder, EmbedderOptions, ModelInfo, FORWARD_TOKENS, MAX_SEQ_LENGTH_KEY};
pub use error::ModelError;
pub use input::{Embedding, Input, TokenInput, Truncate};
pub use profile::Profile;
