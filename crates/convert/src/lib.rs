//! Hugging Face sentence-transformers directory -> GGUF, identical to llama.cpp's
//! `convert_hf_to_gguf.py` (with `--sentence-transformers-dense-modules` for EmbeddingGemma):
//! same tensor names, shapes, types and data (bit-exact Q8_0 / F16 / BF16 rounding), same
//! `<arch>.*` and `tokenizer.ggml.*` metadata. Families ([`family::FAMILIES`]):
//! EmbeddingGemma (`Gemma3TextModel` -> `gemma-embedding`) and BERT (`BertModel` -> `bert`).
//! Added for ggufembed (ignored by llama.cpp): the sentence-transformers prompts under
//! `ggufembed.prompt.<name>` and `max_seq_length` as `ggufembed.max_seq_length` (u32).
//!
//! The conversion streams: tensors are produced one at a time from bounded windows of the
//! memory-mapped safetensors files, so peak memory is about one output tensor plus one window.
//!
//! ```no_run
//! use convert::{convert, ConvertOptions, OutType, NoProgress};
//! let opts = ConvertOptions { out_type: OutType::Q8_0, name: None };
//! convert("hf/embeddinggemma-300m".as_ref(), "model.gguf".as_ref(), &opts, &NoProgress).unwrap();
//! ```

mod error;
pub mod family;
pub mod ggml_quants;
pub mod hfdir;
mod json;
pub mod metadata;
pub mod model_card;
pub mod progress;
pub mod quant;
pub mod quantize;
pub mod spm_proto;
pub mod st;
pub mod tensors;
pub mod vocab;

pub use error::ConvertError;
pub use family::gemma::ARCH;
pub use metadata::{MAX_SEQ_LENGTH_KEY, PROMPT_KEY_PREFIX};
pub use progress::{NoProgress, Progress, StderrProgress};

use gguf::GgufWriter;
use std::io::Write;
use std::path::{Path, PathBuf};
use tensors::{Plan, TensorPlan, Transform};

/// Output tensor type for the matrices (norms and 1-D tensors always stay F32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutType {
    F32,
    F16,
    BF16,
    #[default]
    Q8_0,
}

impl OutType {
    pub fn name(self) -> &'static str {
        match self {
            OutType::F32 => "f32",
            OutType::F16 => "f16",
            OutType::BF16 => "bf16",
            OutType::Q8_0 => "q8_0",
        }
    }
}

impl std::fmt::Display for OutType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for OutType {
    type Err = ConvertError;
    fn from_str(s: &str) -> Result<Self, ConvertError> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(OutType::F32),
            "f16" => Ok(OutType::F16),
            "bf16" => Ok(OutType::BF16),
            "q8_0" => Ok(OutType::Q8_0),
            _ => Err(ConvertError::BadOutType(s.to_string())),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    pub out_type: OutType,
    /// `general.name`; default: config.json's `_name_or_path` (title-cased, as gguf-py does),
    /// else the directory's name.
    pub name: Option<String>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertSummary {
    pub path: PathBuf,
    pub n_tensors: usize,
    pub n_params: u64,
    pub file_size: u64,
}

/// Source bytes mapped at a time while reading tensors.
const WINDOW_BYTES: usize = 64 << 20;

/// A checked, ready-to-write conversion: metadata and tensor list, no data read yet.
pub struct Prepared {
    /// The family that converted it.
    pub family: &'static family::Family,
    pub plan: Plan,
    pub metadata: metadata::Kv,
}

/// Reads and checks everything in `hf_dir` except tensor data (which is read while writing).
/// All bad-input errors (missing files, architecture, shapes, corrupt headers) surface here.
pub fn prepare(hf_dir: &Path, opts: &ConvertOptions) -> Result<Prepared, ConvertError> {
    let dir = hfdir::SourceDir::open(hf_dir)?;
    let family = family::for_hf_arch(&dir.hf_arch).ok_or_else(|| {
        ConvertError::unsupported(&dir.config_path, &format!("`{}`", dir.hf_arch))
    })?;
    let (plan, metadata) = (family.prepare)(dir, opts)?;
    Ok(Prepared {
        family,
        plan,
        metadata,
    })
}

impl Prepared {
    /// The GGUF writer with all metadata and tensor infos added.
    pub fn writer(&self) -> Result<GgufWriter, ConvertError> {
        let mut w = GgufWriter::new();
        for (k, v) in &self.metadata.0 {
            w.add_kv(k, v.clone())?;
        }
        for t in &self.plan.tensors {
            w.add_tensor(&t.name, t.ggml_type, &t.shape)?;
        }
        Ok(w)
    }

    /// Total source bytes that writing reads (for progress).
    pub fn src_bytes(&self) -> u64 {
        self.plan.tensors.iter().map(TensorPlan::src_bytes).sum()
    }

    /// Streams the GGUF into `out`.
    pub fn write_to<W: Write>(
        &self,
        out: &mut W,
        progress: &dyn Progress,
    ) -> Result<(), ConvertError> {
        let writer = self.writer()?;
        let mut readers: Vec<Option<st::WindowReader>> =
            self.plan.files.iter().map(|_| None).collect();
        let mut scratch: Vec<f32> = Vec::new();
        writer.write(out, |i| -> Result<Vec<u8>, ConvertError> {
            let t = &self.plan.tensors[i];
            let reader = match &mut readers[t.file] {
                Some(r) => r,
                slot => slot.insert(st::WindowReader::new(
                    &self.plan.files[t.file],
                    WINDOW_BYTES,
                )?),
            };
            tensor_data(t, reader, &mut scratch, progress)
        })
    }
}

/// Produces one output tensor's bytes, reading its source rows window by window.
fn tensor_data(
    t: &TensorPlan,
    reader: &mut st::WindowReader,
    scratch: &mut Vec<f32>, // [rows_per_window * row_len]
    progress: &dyn Progress,
) -> Result<Vec<u8>, ConvertError> {
    let src_row_bytes = (t.row_len * t.src_type.size()) as u64;
    let rows_per_window = (WINDOW_BYTES as u64 / src_row_bytes.max(1)).max(1) as usize;
    let mut out = Vec::with_capacity(t.out_bytes());
    let mut row = 0;
    while row < t.n_rows {
        let n = rows_per_window.min(t.n_rows - row);
        let start = t.src.start + row as u64 * src_row_bytes;
        let end = start + n as u64 * src_row_bytes;
        scratch.clear();
        reader.with_range(start, end, |bytes| {
            st::decode_into(t.src_type, bytes, scratch)
        })?;
        if t.transform == Transform::AddOne {
            if t.src_type == st::SrcType::F16 {
                // torch adds in the tensor's own dtype: round the sum back to f16.
                for x in scratch.iter_mut() {
                    *x = half::f16::from_f32(*x + 1.0).to_f32();
                }
            } else {
                for x in scratch.iter_mut() {
                    *x += 1.0;
                }
            }
        }
        for r in scratch.chunks_exact(t.row_len) {
            quant::encode(t.ggml_type, r, &mut out);
        }
        progress.inc(end - start);
        row += n;
    }
    debug_assert_eq!(out.len(), t.out_bytes());
    Ok(out)
}

/// `<out>.partial`: where the file is written before it is renamed into place.
pub fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

/// Converts `hf_dir` to a GGUF at `out`. The file is written to `<out>.partial`, synced, then
/// renamed, so `out` never holds a half-written file.
pub fn convert(
    hf_dir: &Path,
    out: &Path,
    opts: &ConvertOptions,
    progress: &dyn Progress,
) -> Result<ConvertSummary, ConvertError> {
    if out.is_dir() || out.file_name().is_none() {
        return Err(ConvertError::Io {
            path: out.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the output must be a file path, not a directory",
            ),
        });
    }
    let prepared = prepare(hf_dir, opts)?;
    let tmp = partial_path(out);
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(ConvertError::io(&tmp))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        progress.start(
            &format!("converting to {}", opts.out_type.name().to_uppercase()),
            prepared.src_bytes(),
        );
        prepared
            .write_to(&mut w, progress)
            .map_err(|e| e.at_output(out))?;
        let file = w
            .into_inner()
            .map_err(|e| ConvertError::io(&tmp)(e.into_error()))?;
        file.sync_all().map_err(ConvertError::io(&tmp))?;
        drop(file);
        std::fs::rename(&tmp, out).map_err(ConvertError::io(out))?;
        progress.finish();
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let file_size = std::fs::metadata(out).map_err(ConvertError::io(out))?.len();
    Ok(ConvertSummary {
        path: out.to_path_buf(),
        n_tensors: prepared.plan.tensors.len(),
        n_params: prepared
            .plan
            .tensors
            .iter()
            .map(TensorPlan::n_elements)
            .sum(),
        file_size,
    })
}
