//! `Embedder`: open a GGUF, turn texts (or token ids) into vectors.

use crate::arch::{self, Batch, Encoder, LoadOptions};
use crate::blocks::pooling::Pooling;
use crate::error::ModelError;
use crate::head::finish;
use crate::input::{Embedding, Input, TokenInput, Truncate};
use crate::profile::{OpTimer, Profile};
use crate::prompts::Prompts;
use crate::scratch::Scratch;
use crate::tensor_file::TensorFile;
use gguf::GgufFile;
use kernels::ThreadPool;
use std::ops::Range;
use std::path::Path;
use tokenizer::Tokenizer;

/// GGUF key with sentence-transformers' `max_seq_length` (written by `ggufembed convert`).
pub const MAX_SEQ_LENGTH_KEY: &str = "ggufembed.max_seq_length";

#[derive(Debug, Clone, Default)]
pub struct EmbedderOptions {
    /// Worker threads for the kernels; 0 = all available cores. More than the available cores
    /// is capped to them (extra threads only contend for the same cores and each one holds its
    /// own scratch), with a warning in `ModelInfo::warnings`.
    pub threads: usize,
    /// Accept a GGUF without the dense head (`dense_2`/`dense_3`); its vectors are NOT those of
    /// the real model. A warning is recorded in `ModelInfo::warnings`.
    pub allow_missing_head: bool,
    /// Most tokens per input (special tokens and prompt included); longer inputs are truncated
    /// or refused per their `Truncate`. `None` = the file's `ggufembed.max_seq_length`
    /// (sentence-transformers' `max_seq_length`, recorded by `ggufembed convert`), else the
    /// model's context length. Must be 1..=context length (`ModelError::BadMaxTokens`).
    pub max_tokens: Option<usize>,
    /// Replaces the file's pooling (`<arch>.pooling_type`), e.g. CLS for a mean-pooled BERT.
    pub pooling: Option<Pooling>,
}

impl EmbedderOptions {
    /// The thread count to use on a machine with `available` cores (see `threads`); a warning
    /// is pushed when the request is capped.
    pub fn threads_for(&self, available: usize, warnings: &mut Vec<String>) -> usize {
        let available = available.max(1);
        match self.threads {
            0 => available,
            n if n > available => {
                warnings.push(format!(
                    "{n} threads requested but only {available} cores are available; using {available}"
                ));
                available
            }
            n => n,
        }
    }
}

/// Facts about the loaded model.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// `general.architecture`: "gemma-embedding", "bert" or "nomic-bert"
    pub arch: String,
    /// `general.name`, if present
    pub name: Option<String>,
    pub n_layer: usize,
    pub n_embd: usize,
    /// Most tokens per input (special tokens and prompt included): `EmbedderOptions::max_tokens`,
    /// else `ggufembed.max_seq_length`, else `context_length`.
    pub n_ctx: usize,
    /// `<arch>.context_length`: positions the model was trained for.
    pub context_length: usize,
    pub n_vocab: usize,
    /// "mean" or "cls"
    pub pooling: String,
    /// Output sizes `dims` may take, full size first (e.g. 768, 512, 256, 128).
    pub dims: Vec<usize>,
    /// Type of the linear weights, e.g. "Q8_0".
    pub weight_type: String,
    /// The file's type mix, e.g. "Q4_K_M: Q4_K×134, F32×123, Q6_K×13, …"
    /// (`gguf::GgufFile::weight_mix`).
    pub weight_mix: String,
    /// Type of the token embedding table.
    pub token_embd_type: String,
    /// Whether a sentence-transformers dense head is present (EmbeddingGemma).
    pub has_head: bool,
    /// Prompt names and the text each prepends.
    pub prompts: Vec<(String, String)>,
    /// Bytes of repacked weights held in memory.
    pub packed_bytes: usize,
    /// Bytes of the forward pass's activation buffers (sized for `max_batch_tokens`).
    pub scratch_bytes: usize,
    /// Kernel threads in use.
    pub threads: usize,
    /// The kernels' instruction-set path, as `GGUFEMBED_KERNEL` names it (e.g. "avx512",
    /// "neon-dotprod"); see `kernels::active_isa`.
    pub kernel: String,
    /// Things the user should know (e.g. a missing head that was allowed).
    pub warnings: Vec<String>,
}

/// Tokens per forward pass that [`Embedder::embed_tokens`] packs inputs into, at most. Beyond
/// about this, a pass's activations (EmbeddingGemma: ~24 KB of f32 buffers per token) no
/// longer stay in the caches between the ops, and the int8 GEMMs slow down: at EmbeddingGemma's
/// shapes, 170 G MAC/s per core at 424 tokens against 159 at 2,019 (`gemm_bench`, Zen 4); the
/// bench corpus in 32-document batches ran 3-4% faster in 512-token passes than in one pass.
pub const FORWARD_TOKENS: usize = 512;

pub struct Embedder {
    model: Box<dyn Encoder>,
    tokenizer: Tokenizer,
    prompts: Prompts,
    info: ModelInfo,
    scratch: Scratch,
    pool: ThreadPool,
    /// Reused per-forward buffers: concatenated ids and sequence ranges.
    batch_tokens: Vec<u32>,
    batch_seqs: Vec<Range<usize>>,
}

impl Embedder {
    /// Opens a GGUF of a supported architecture (`general.architecture`: gemma-embedding, bert,
    /// nomic-bert). Errors name the key, tensor or byte range that failed.
    pub fn open(path: &Path, opts: &EmbedderOptions) -> Result<Embedder, ModelError> {
        let file = GgufFile::open(path)?;
        // Tensor bytes are read with positioned reads, not through the map (see tensor_file.rs):
        // the packed copies are the only resident form of the layer weights.
        let data = TensorFile::open(path, &file)?;
        let available = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut thread_warnings = Vec::new();
        let threads = opts.threads_for(available, &mut thread_warnings);
        // The engine's pool also repacks the weights while loading.
        let pool = ThreadPool::new(threads);
        let load_opts = LoadOptions {
            allow_missing_head: opts.allow_missing_head,
            pooling: opts.pooling,
            pool: &pool,
        };
        let arch::Loaded { encoder, info: a } = arch::load(&file, data, &load_opts)?;
        let tokenizer = Tokenizer::from_gguf(&file)?;
        let prompts = Prompts::from_gguf(&file);
        let name = file.get_str("general.name").ok().map(str::to_string);
        let weight_mix = file.weight_mix();
        let n_ctx = max_tokens(&file, opts.max_tokens, a.n_ctx)?;
        // The metadata (vocabulary included) was copied where needed; drop the map and it.
        drop(file);

        let mut warnings: Vec<String> = a
            .warnings
            .iter()
            .map(|w| format!("{}: {w}", path.display()))
            .collect();
        warnings.extend(thread_warnings);
        let mut dims = vec![a.n_embd];
        dims.extend(a.matryoshka.iter().copied().filter(|&d| d < a.n_embd));

        let scratch = Scratch::new(&encoder.scratch_dims(), n_ctx, threads);
        let info = ModelInfo {
            arch: a.arch.to_string(),
            name,
            n_layer: a.n_layer,
            n_embd: a.n_embd,
            n_ctx,
            context_length: a.n_ctx,
            n_vocab: a.n_vocab,
            pooling: a.pooling.name().to_string(),
            dims,
            weight_type: a.weight_type.to_string(),
            weight_mix,
            token_embd_type: a.token_embd_type.to_string(),
            has_head: a.has_head,
            prompts: prompts.list().to_vec(),
            packed_bytes: a.packed_bytes,
            scratch_bytes: scratch.f32_bytes(),
            threads,
            kernel: kernels::active_isa().name().to_string(),
            warnings,
        };
        Ok(Embedder {
            model: encoder,
            tokenizer,
            prompts,
            info,
            scratch,
            pool,
            batch_tokens: Vec::new(),
            batch_seqs: Vec::new(),
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Most tokens one forward pass holds: the scratch's size, at least `n_ctx`. Sequences are
    /// packed into passes of up to [`FORWARD_TOKENS`] tokens (or this, if smaller); an input
    /// longer than that runs alone.
    pub fn max_batch_tokens(&self) -> usize {
        self.scratch.max_tokens
    }

    /// Changes the most tokens one forward pass holds, clamped to at most [`FORWARD_TOKENS`]
    /// (passes of several inputs never hold more) and at least `n_ctx` (one input must fit);
    /// reallocates the scratch. Results do not depend on it; only speed and memory do.
    pub fn set_max_batch_tokens(&mut self, tokens: usize) {
        let tokens = tokens.min(FORWARD_TOKENS).max(self.info.n_ctx);
        if tokens != self.scratch.max_tokens {
            self.scratch = Scratch::new(&self.model.scratch_dims(), tokens, self.info.threads);
            self.info.scratch_bytes = self.scratch.f32_bytes();
        }
    }

    /// Tokenizes one input with its prompt/title and applies its truncation policy; no compute.
    pub fn prepare(&self, input: &Input) -> Result<TokenInput, ModelError> {
        self.check_dims(input.dims)?;
        let prefix = self
            .prompts
            .prefix(input.prompt_name.as_deref(), input.title.as_deref())?;
        let mut ids = if prefix.is_empty() {
            self.tokenizer.encode(&input.text)
        } else {
            self.tokenizer.encode(&format!("{prefix}{}", input.text))
        };
        let n_ctx = self.info.n_ctx;
        let mut truncated = false;
        if ids.len() > n_ctx {
            match input.truncate {
                Truncate::Error => {
                    return Err(ModelError::TooLong {
                        n_tokens: ids.len(),
                        max: n_ctx,
                    })
                }
                Truncate::Truncate => {
                    truncated = tokenizer::truncate(&mut ids, n_ctx, self.tokenizer.eos_id())
                }
            }
        }
        Ok(TokenInput {
            ids,
            dims: input.dims,
            truncated,
            normalize: input.normalize,
        })
    }

    /// Embeds texts; the i-th vector belongs to the i-th input. Errors name the failing input.
    pub fn embed(&mut self, inputs: &[Input]) -> Result<Vec<Embedding>, ModelError> {
        let prepared = inputs
            .iter()
            .enumerate()
            .map(|(i, input)| self.prepare(input).map_err(|e| e.at_input(i)))
            .collect::<Result<Vec<_>, _>>()?;
        self.embed_tokens(&prepared)
    }

    /// Embeds pre-tokenized inputs (BOS/EOS included). Ids must be < n_vocab, sequences non-empty
    /// and at most n_ctx long. Mixed lengths run ragged, packed in order into forward passes of
    /// at most [`FORWARD_TOKENS`] tokens (a longer input alone); each vector is independent of
    /// the batch it was computed in.
    pub fn embed_tokens(&mut self, inputs: &[TokenInput]) -> Result<Vec<Embedding>, ModelError> {
        self.embed_timed(inputs, &mut OpTimer::off())
    }

    /// [`embed_tokens`](Self::embed_tokens), charging each op to `timer`.
    fn embed_timed(
        &mut self,
        inputs: &[TokenInput],
        timer: &mut OpTimer,
    ) -> Result<Vec<Embedding>, ModelError> {
        for (i, input) in inputs.iter().enumerate() {
            self.validate(input).map_err(|e| e.at_input(i))?;
        }
        let mut out = Vec::with_capacity(inputs.len());
        let budget = FORWARD_TOKENS.min(self.scratch.max_tokens);
        let mut start = 0;
        while start < inputs.len() {
            // The longest run of inputs that fits the pass's budget; at least one (a longer
            // input runs alone: len <= n_ctx <= the scratch's max_tokens).
            let mut end = start;
            let mut n_tok = 0;
            while end < inputs.len() && (end == start || n_tok + inputs[end].ids.len() <= budget) {
                n_tok += inputs[end].ids.len();
                end += 1;
            }
            self.run_chunk(&inputs[start..end], &mut out, timer)?;
            start = end;
        }
        Ok(out)
    }

    /// Embeds `inputs` like [`embed`](Self::embed) and reports the time of each op kind, summed
    /// over the layers and forward passes.
    pub fn profile(&mut self, inputs: &[Input]) -> Result<Profile, ModelError> {
        let prepared = inputs
            .iter()
            .enumerate()
            .map(|(i, input)| self.prepare(input).map_err(|e| e.at_input(i)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut timer = OpTimer::on();
        self.embed_timed(&prepared, &mut timer)?;
        let n_tokens = prepared.iter().map(|p| p.ids.len()).sum();
        Ok(timer.finish(n_tokens, prepared.len()))
    }

    /// One forward pass over `inputs` (validated, within the budget); appends their vectors.
    fn run_chunk(
        &mut self,
        inputs: &[TokenInput],
        out: &mut Vec<Embedding>,
        timer: &mut OpTimer,
    ) -> Result<(), ModelError> {
        self.batch_tokens.clear();
        self.batch_seqs.clear();
        for input in inputs {
            let start = self.batch_tokens.len();
            self.batch_tokens.extend_from_slice(&input.ids);
            self.batch_seqs.push(start..self.batch_tokens.len());
        }
        let batch = Batch {
            tokens: &self.batch_tokens,
            seqs: &self.batch_seqs,
        };
        let vectors = self
            .model
            .forward(&batch, &mut self.scratch, &self.pool, timer)?;
        let n_embd = self.info.n_embd;
        for (input, v) in inputs.iter().zip(vectors.chunks_exact(n_embd)) {
            out.push(Embedding {
                vector: finish(v, input.dims.unwrap_or(n_embd), input.normalize),
                n_tokens: input.ids.len(),
                truncated: input.truncated,
            });
        }
        Ok(())
    }

    fn validate(&self, input: &TokenInput) -> Result<(), ModelError> {
        self.check_dims(input.dims)?;
        if input.ids.is_empty() {
            return Err(ModelError::EmptyTokens);
        }
        if input.ids.len() > self.info.n_ctx {
            return Err(ModelError::TooLong {
                n_tokens: input.ids.len(),
                max: self.info.n_ctx,
            });
        }
        let n_vocab = self.info.n_vocab;
        if let Some((position, &id)) = input
            .ids
            .iter()
            .enumerate()
            .find(|(_, &id)| id as usize >= n_vocab)
        {
            return Err(ModelError::TokenOutOfRange {
                id,
                position,
                n_vocab,
            });
        }
        Ok(())
    }

    fn check_dims(&self, dims: Option<usize>) -> Result<(), ModelError> {
        match dims {
            Some(d) if !self.info.dims.contains(&d) => Err(ModelError::BadDims {
                dims: d,
                supported: self.info.dims.clone(),
            }),
            _ => Ok(()),
        }
    }
}

/// The per-input token limit: `requested`, else the file's `ggufembed.max_seq_length`, else the
/// context length; at most the context length.
fn max_tokens(
    file: &GgufFile,
    requested: Option<usize>,
    context: usize,
) -> Result<usize, ModelError> {
    if let Some(n) = requested {
        if n == 0 || n > context {
            return Err(ModelError::BadMaxTokens {
                requested: n,
                context,
            });
        }
        return Ok(n);
    }
    if file.get(MAX_SEQ_LENGTH_KEY).is_none() {
        return Ok(context);
    }
    let n = file.get_u64(MAX_SEQ_LENGTH_KEY)?;
    if n == 0 {
        return Err(ModelError::bad_metadata(MAX_SEQ_LENGTH_KEY, "0 tokens"));
    }
    // A max_seq_length above the context (possible in a hand-made file) is capped to it.
    Ok((n as usize).min(context))
}

#[cfg(test)]
mod tests {
    use super::EmbedderOptions;

    fn threads(requested: usize, available: usize) -> (usize, Vec<String>) {
        let mut warnings = Vec::new();
        let opts = EmbedderOptions {
            threads: requested,
            ..EmbedderOptions::default()
        };
        (opts.threads_for(available, &mut warnings), warnings)
    }

    #[test]
    fn threads_are_capped_to_the_available_cores_with_a_warning() {
        assert_eq!(threads(0, 4), (4, vec![]));
        assert_eq!(threads(3, 4), (3, vec![]));
        assert_eq!(threads(4, 4), (4, vec![]));
        let (n, w) = threads(1000, 2);
        assert_eq!(n, 2);
        assert_eq!(
            w,
            ["1000 threads requested but only 2 cores are available; using 2"]
        );
        assert_eq!(threads(0, 0).0, 1);
    }
}
