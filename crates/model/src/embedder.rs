//! `Embedder`: open a GGUF, turn texts (or token ids) into vectors.

use crate::config::{Config, ARCH};
use crate::embedding::TokenEmbedding;
use crate::error::ModelError;
use crate::forward::{Batch, Model};
use crate::head::finish;
use crate::input::{Embedding, Input, TokenInput, Truncate};
use crate::profile::{OpTimer, Profile};
use crate::prompts::Prompts;
use crate::rope::RopeTable;
use crate::scratch::Scratch;
use crate::tensor_file::TensorFile;
use crate::weights::Weights;
use gguf::GgufFile;
use kernels::ThreadPool;
use std::ops::Range;
use std::path::Path;
use tokenizer::Tokenizer;

/// Matryoshka sizes below the full width that EmbeddingGemma was trained for.
const MATRYOSHKA_DIMS: [usize; 3] = [512, 256, 128];

#[derive(Debug, Clone, Default)]
pub struct EmbedderOptions {
    /// Worker threads for the kernels; 0 = all available cores.
    pub threads: usize,
    /// Accept a GGUF without the dense head (`dense_2`/`dense_3`); its vectors are NOT those of
    /// the real model. A warning is recorded in `ModelInfo::warnings`.
    pub allow_missing_head: bool,
}

/// Facts about the loaded model.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// `general.architecture` (always "gemma-embedding")
    pub arch: String,
    /// `general.name`, if present
    pub name: Option<String>,
    pub n_layer: usize,
    pub n_embd: usize,
    /// Most tokens per input (BOS/EOS and prompt included).
    pub n_ctx: usize,
    pub n_vocab: usize,
    /// Output sizes `dims` may take, full size first (768, 512, 256, 128).
    pub dims: Vec<usize>,
    /// Type of the linear weights, e.g. "Q8_0".
    pub weight_type: String,
    /// Type of the token embedding table.
    pub token_embd_type: String,
    /// Whether the sentence-transformers dense head is present.
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

pub struct Embedder {
    model: Model,
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
    pub fn open(path: &Path, opts: &EmbedderOptions) -> Result<Embedder, ModelError> {
        let file = GgufFile::open(path)?;
        let cfg = Config::from_gguf(&file)?;
        let tokenizer = Tokenizer::from_gguf(&file)?;
        let prompts = Prompts::from_gguf(&file);
        // Tensor bytes are read with positioned reads, not through the map (see tensor_file.rs):
        // the packed copies are the only resident form of the layer weights.
        let data = TensorFile::open(path, &file)?;
        let weights = Weights::load(&file, &data, &cfg, opts.allow_missing_head)?;
        let token_embd = TokenEmbedding::new(&file, data, cfg.n_embd)?;
        let name = file.get_str("general.name").ok().map(str::to_string);
        // The metadata (vocabulary included) was copied where needed; drop the map and it.
        drop(file);

        let threads = match opts.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let mut warnings = Vec::new();
        if weights.head.is_none() {
            warnings.push(format!(
                "{}: no dense_2/dense_3 head; vectors are NOT EmbeddingGemma embeddings \
                 (old head-less conversion, allowed by --allow-missing-head)",
                path.display()
            ));
        }
        let mut dims = vec![cfg.n_embd];
        dims.extend(MATRYOSHKA_DIMS.iter().copied().filter(|&d| d < cfg.n_embd));

        let info = ModelInfo {
            arch: ARCH.to_string(),
            name,
            n_layer: cfg.n_layer,
            n_embd: cfg.n_embd,
            n_ctx: cfg.n_ctx,
            n_vocab: token_embd.n_vocab(),
            dims,
            weight_type: weights.weight_type.to_string(),
            token_embd_type: token_embd.type_name().to_string(),
            has_head: weights.head.is_some(),
            prompts: prompts.list().to_vec(),
            packed_bytes: weights.packed_bytes(),
            scratch_bytes: 0,
            threads,
            kernel: kernels::active_isa().name().to_string(),
            warnings,
        };
        let model = Model {
            rope: RopeTable::new(cfg.rope_base, cfg.head_dim, cfg.n_ctx),
            rope_swa: RopeTable::new(cfg.rope_base_swa, cfg.head_dim, cfg.n_ctx),
            cfg,
            weights,
            token_embd,
        };
        let scratch = Scratch::new(&model, model.cfg.n_ctx, threads);
        let info = ModelInfo {
            scratch_bytes: scratch.f32_bytes(),
            ..info
        };
        Ok(Embedder {
            model,
            tokenizer,
            prompts,
            info,
            scratch,
            pool: ThreadPool::new(threads),
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

    /// Most tokens one forward pass holds (sequences are packed up to this budget).
    pub fn max_batch_tokens(&self) -> usize {
        self.scratch.max_tokens
    }

    /// Changes the per-forward token budget (at least `n_ctx`; reallocates the scratch).
    /// Results do not depend on it; only speed and memory do.
    pub fn set_max_batch_tokens(&mut self, tokens: usize) {
        let tokens = tokens.max(self.model.cfg.n_ctx);
        if tokens != self.scratch.max_tokens {
            self.scratch = Scratch::new(&self.model, tokens, self.info.threads);
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
    /// and at most n_ctx long. Mixed lengths run ragged, packed into forward passes of at most
    /// `max_batch_tokens` tokens; each vector is independent of the batch it was computed in.
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
        let mut start = 0;
        while start < inputs.len() {
            // The longest run of inputs that fits the token budget (at least one: len <= n_ctx).
            let mut end = start;
            let mut n_tok = 0;
            while end < inputs.len() && n_tok + inputs[end].ids.len() <= self.scratch.max_tokens {
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
        let n_embd = self.model.cfg.n_embd;
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
