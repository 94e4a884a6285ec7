//! The output tensor list shared by every family: where each tensor's data comes from, its
//! GGUF name, shape and type (llama.cpp's type rules), and the shape check against config.json.
//! The name maps themselves live in the family files (`family/*.rs`).

use crate::st::{SrcType, StTensor};
use crate::{ConvertError, OutType};
use gguf::GgmlType;
use std::path::{Path, PathBuf};

/// How the source values are changed before encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    None,
    /// Gemma's RMSNorm computes `x * (1 + w)`; GGUF stores `1 + w`.
    AddOne,
}

/// One output tensor and where its data comes from.
#[derive(Debug, Clone)]
pub struct TensorPlan {
    /// GGUF name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    pub ggml_type: GgmlType,
    /// GGUF shape (ne): ne[0] is the contiguous dimension.
    pub shape: Vec<u64>,
    /// Index of the source file in [`Plan::files`].
    pub file: usize,
    pub src: StTensor,
    pub src_type: SrcType,
    /// Number of leading source rows used (the embedding is cut to the vocabulary size).
    pub n_rows: usize,
    /// Elements per row (the innermost source dimension).
    pub row_len: usize,
    pub transform: Transform,
}

impl TensorPlan {
    pub fn n_elements(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Bytes this tensor takes in the output file.
    pub fn out_bytes(&self) -> usize {
        self.n_rows * crate::quant::encoded_len(self.ggml_type, self.row_len)
    }

    /// Bytes read from the source.
    pub fn src_bytes(&self) -> u64 {
        (self.n_rows * self.row_len * self.src_type.size()) as u64
    }
}

/// The full list of output tensors, in the order they are written.
#[derive(Debug, Default)]
pub struct Plan {
    /// Source safetensors files, indexed by [`TensorPlan::file`].
    pub files: Vec<PathBuf>,
    pub tensors: Vec<TensorPlan>,
}

/// What a source tensor becomes.
pub struct Target {
    /// GGUF name.
    pub name: String,
    /// HF shape (outermost first) config.json implies; a mismatch is `BadShape`.
    pub expected: Vec<usize>,
    /// Leading rows kept for 2-D tensors (the embedding is cut to the vocabulary size).
    pub n_rows: usize,
    pub transform: Transform,
    /// GGUF tensor kinds that stay F32 whatever the output type (see [`pick_type`]).
    pub force_f32: bool,
}

impl Target {
    /// A tensor kept whole, no transform, following the default type rules.
    pub fn new(name: impl Into<String>, expected: Vec<usize>) -> Self {
        let n_rows = expected.first().copied().unwrap_or(1);
        Target {
            name: name.into(),
            expected,
            n_rows,
            transform: Transform::None,
            force_f32: false,
        }
    }
}

impl Plan {
    /// Registers a source file; returns its index for [`Plan::push`].
    pub fn add_file(&mut self, path: &Path) -> usize {
        self.files.push(path.to_path_buf());
        self.files.len() - 1
    }

    /// Appends `src` (from file `file`) as `to`: checks its shape and dtype, reverses the shape
    /// into GGUF order and picks the output type.
    pub fn push(
        &mut self,
        file: usize,
        src: &StTensor,
        to: Target,
        out: OutType,
    ) -> Result<(), ConvertError> {
        let path = &self.files[file];
        if src.shape != to.expected {
            return Err(ConvertError::BadShape {
                path: path.clone(),
                name: src.name.clone(),
                expected: to.expected,
                found: src.shape.clone(),
            });
        }
        let src_type = src.src_type(path)?;
        let row_len = *src.shape.last().unwrap_or(&1);
        let mut shape: Vec<u64> = src.shape.iter().rev().map(|d| *d as u64).collect();
        let two_d = src.shape.len() > 1;
        if two_d {
            *shape.last_mut().expect("2-D") = to.n_rows as u64;
        }
        let ggml_type = if to.force_f32 {
            GgmlType::F32
        } else {
            pick_type(&to.name, src.shape.len(), row_len, out)
        };
        self.tensors.push(TensorPlan {
            name: to.name,
            ggml_type,
            shape,
            file,
            src: src.clone(),
            src_type,
            n_rows: if two_d { to.n_rows } else { 1 },
            row_len,
            transform: to.transform,
        });
        Ok(())
    }
}

/// llama.cpp's choice of output type: 1-D tensors, norms and anything not named `*.weight`
/// (biases) stay F32; the rest take the requested type, except that Q8_0 falls back to F16
/// for rows not divisible by 32. (Families mark the further always-F32 kinds, such as
/// position and token-type embeddings, with [`Target::force_f32`].)
pub fn pick_type(gguf_name: &str, n_dims: usize, row_len: usize, out: OutType) -> GgmlType {
    if n_dims <= 1 || gguf_name.ends_with("_norm.weight") || !gguf_name.ends_with(".weight") {
        return GgmlType::F32;
    }
    match out {
        OutType::F32 => GgmlType::F32,
        OutType::F16 => GgmlType::F16,
        OutType::BF16 => GgmlType::BF16,
        OutType::Q8_0 if row_len.is_multiple_of(crate::quant::QK8_0) => GgmlType::Q8_0,
        OutType::Q8_0 => GgmlType::F16,
    }
}
