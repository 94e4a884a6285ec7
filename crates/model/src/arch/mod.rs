//! The architecture seam: `general.architecture` picks the encoder. Each family is one file
//! whose forward pass reads like the model's definition, over the shared [`blocks`](crate::blocks):
//!
//! | `general.architecture` | file | models |
//! |---|---|---|
//! | `gemma-embedding` | [`gemma`] | EmbeddingGemma |
//! | `bert` | [`bert`] | all-MiniLM, bge, mxbai, snowflake-arctic, e5 |
//! | `nomic-bert` | [`nomic_bert`] | nomic-embed-text v1 / v1.5 |
//!
//! A new family is a new file: a config read from `<arch>.*` metadata, weights loaded with
//! [`blocks::load`](crate::blocks::load), an [`Encoder`] impl, and one line in [`load`].

mod bert;
mod gemma;
mod nomic_bert;

use crate::blocks::pooling::Pooling;
use crate::error::ModelError;
use crate::profile::OpTimer;
use crate::scratch::{Scratch, ScratchDims};
use crate::tensor_file::TensorFile;
use gguf::GgufFile;
use kernels::ThreadPool;
use std::ops::Range;

/// The `general.architecture` values this engine runs.
pub const SUPPORTED: [&str; 3] = [gemma::ARCH, bert::ARCH, nomic_bert::ARCH];

/// Sequences laid end to end: `tokens[seqs[i]]` is sequence i (ids already validated).
pub struct Batch<'a> {
    pub tokens: &'a [u32],
    pub seqs: &'a [Range<usize>],
}

/// One model family's forward pass.
pub trait Encoder: Send + Sync {
    /// Encodes the batch; returns the per-sequence vectors [n_seq, n_embd] (pooled, through
    /// any head, before L2 norm). `timer` is charged op by op (a disabled timer costs nothing).
    /// Fails only if reading token_embd rows from the file fails.
    fn forward<'s>(
        &self,
        batch: &Batch,
        s: &'s mut Scratch,
        pool: &ThreadPool,
        timer: &mut OpTimer,
    ) -> Result<&'s [f32], ModelError>;

    /// The widths the scratch buffers need (`n_ctx` = the model's context).
    fn scratch_dims(&self) -> ScratchDims;
}

/// What loading options an architecture honours.
pub struct LoadOptions<'a> {
    pub allow_missing_head: bool,
    /// Replaces the file's pooling.
    pub pooling: Option<Pooling>,
    /// Threads that repack the weights (the engine's pool).
    pub pool: &'a ThreadPool,
}

/// Facts about a loaded model, for `ModelInfo`.
pub struct ArchInfo {
    pub arch: &'static str,
    pub n_layer: usize,
    pub n_embd: usize,
    /// `<arch>.context_length`: positions the model was trained for.
    pub n_ctx: usize,
    pub n_vocab: usize,
    pub pooling: Pooling,
    /// Matryoshka sizes the model was trained for below n_embd (largest first).
    pub matryoshka: &'static [usize],
    pub weight_type: &'static str,
    pub token_embd_type: &'static str,
    pub has_head: bool,
    pub packed_bytes: usize,
    pub warnings: Vec<String>,
}

pub struct Loaded {
    pub encoder: Box<dyn Encoder>,
    pub info: ArchInfo,
}

/// Loads the encoder that `general.architecture` names. `data` reads tensor bytes (the token
/// embedding keeps it).
pub fn load(file: &GgufFile, data: TensorFile, opts: &LoadOptions) -> Result<Loaded, ModelError> {
    let arch = file.get_str("general.architecture")?;
    match arch {
        gemma::ARCH => gemma::load(file, data, opts),
        bert::ARCH => bert::load(file, data, opts),
        nomic_bert::ARCH => nomic_bert::load(file, data, opts),
        other => Err(ModelError::WrongArchitecture {
            found: other.to_string(),
        }),
    }
}

/// The pooling of a BERT-style file: the override, else `<arch>.pooling_type` (1 mean, 2 CLS),
/// else `default`.
fn pooling(
    meta: &crate::blocks::load::Meta,
    opts: &LoadOptions,
    default: Pooling,
) -> Result<Pooling, ModelError> {
    if let Some(p) = opts.pooling {
        return Ok(p);
    }
    if !meta.has("pooling_type") {
        return Ok(default);
    }
    let v = meta.file.get_u64(&meta.key("pooling_type"))?;
    Pooling::from_gguf(v).ok_or_else(|| {
        ModelError::bad_metadata(
            &meta.key("pooling_type"),
            format!("pooling type {v} is not supported (1 = mean and 2 = CLS are)"),
        )
    })
}
