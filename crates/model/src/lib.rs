//! EmbeddingGemma on the CPU, straight from a GGUF file.
//!
//! ```no_run
//! use model::{Embedder, EmbedderOptions, Input};
//! let mut e = Embedder::open("embeddinggemma-300M-Q8_0.gguf".as_ref(), &EmbedderOptions::default())?;
//! let v = e.embed(&[Input::new("Which planet is red?").with_prompt("query")])?;
//! assert_eq!(v[0].vector.len(), 768);
//! # Ok::<(), model::ModelError>(())
//! ```
//!
//! Layout: `config` (hyperparameters from metadata) → `weights` (repacked linear layers) and
//! `embedding` (token rows read from the mapping) → `forward` (the encoder, reads like the model
//! definition) with `attention`, `pooling`, `head` → `embedder` (tokenize, batch, finish).

mod attention;
mod config;
mod embedder;
mod embedding;
mod error;
mod forward;
mod head;
mod input;
mod pooling;
mod profile;
mod prompts;
mod rope;
mod scratch;
mod tensor_file;
mod weights;

pub use config::{Config, ARCH};
pub use embedder::{Embedder, EmbedderOptions, ModelInfo};
pub use error::ModelError;
pub use input::{Embedding, Input, TokenInput, Truncate};
pub use profile::Profile;
