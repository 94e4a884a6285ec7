//! A safetensors file read through short-lived memory maps: the header is parsed and validated
//! once (by the `safetensors` crate), then tensor rows are read in bounded windows, each from a
//! fresh map that is dropped afterwards, so the resident set never holds more than one window
//! of the source file (the input is 1.2 GB; nothing is copied wholesale).

use crate::ConvertError;
use safetensors::tensor::{Dtype, Metadata, SafeTensorError};
use safetensors::SafeTensors;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Source element types the converter accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrcType {
    F32,
    F16,
    BF16,
}

impl SrcType {
    pub fn size(self) -> usize {
        match self {
            SrcType::F32 => 4,
            SrcType::F16 | SrcType::BF16 => 2,
        }
    }
}

/// One tensor's header entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StTensor {
    pub name: String,
    pub dtype: Dtype,
    /// Row-major shape, outermost first (PyTorch order).
    pub shape: Vec<usize>,
    /// Absolute byte range in the file.
    pub start: u64,
    pub end: u64,
}

impl StTensor {
    pub fn n_elements(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn src_type(&self, path: &Path) -> Result<SrcType, ConvertError> {
        match self.dtype {
            Dtype::F32 => Ok(SrcType::F32),
            Dtype::F16 => Ok(SrcType::F16),
            Dtype::BF16 => Ok(SrcType::BF16),
            other => Err(ConvertError::BadDtype {
                path: path.to_path_buf(),
                name: self.name.clone(),
                dtype: format!("{other:?}"),
            }),
        }
    }
}

/// An opened, header-validated safetensors file.
#[derive(Debug)]
pub struct StFile {
    pub path: PathBuf,
    /// Tensors sorted by name (the order llama.cpp's converter visits them).
    pub tensors: Vec<StTensor>,
}

fn describe(e: &SafeTensorError) -> String {
    use SafeTensorError as E;
    match e {
        E::InvalidHeader => "the header is not valid UTF-8".into(),
        E::InvalidHeaderStart => "the header does not start with `{`".into(),
        E::InvalidHeaderDeserialization => {
            "the header is not valid safetensors JSON (name -> {dtype, shape, data_offsets})".into()
        }
        E::HeaderTooLarge => "the header length (first 8 bytes) is implausibly large".into(),
        E::HeaderTooSmall => "the file is shorter than the 8-byte header length".into(),
        E::InvalidHeaderLength => {
            "the header length (first 8 bytes) runs past the end of the file".into()
        }
        E::TensorNotFound(n) => format!("tensor `{n}` not found"),
        E::TensorInvalidInfo => "a tensor's byte range does not match its dtype and shape".into(),
        E::InvalidOffset(n) => format!("tensor `{n}` has data offsets that overlap or leave gaps"),
        E::MetadataIncompleteBuffer => {
            "the file size does not match the header (truncated or trailing data; re-download it)"
                .into()
        }
        E::ValidationOverflow => "a tensor's shape overflows".into(),
        other => format!("{other:?}"),
    }
}

impl StFile {
    /// Maps the file, parses and validates the header (all offsets, sizes and the file length).
    pub fn open(path: &Path) -> Result<StFile, ConvertError> {
        let bad = |problem: String| ConvertError::Safetensors {
            path: path.to_path_buf(),
            problem,
        };
        let file = File::open(path).map_err(ConvertError::io(path))?;
        let len = file.metadata().map_err(ConvertError::io(path))?.len();
        if len < 8 {
            return Err(bad(format!(
                "only {len} bytes; a safetensors file starts with an 8-byte header length"
            )));
        }
        let map = gguf::mmap::map_file(&file).map_err(ConvertError::io(path))?;
        let (n, meta): (usize, Metadata) =
            SafeTensors::read_metadata(&map).map_err(|e| bad(describe(&e)))?;
        let data_start = 8 + n as u64;
        let mut tensors: Vec<StTensor> = meta
            .tensors()
            .into_iter()
            .map(|(name, info)| StTensor {
                name,
                dtype: info.dtype,
                shape: info.shape.clone(),
                start: data_start + info.data_offsets.0 as u64,
                end: data_start + info.data_offsets.1 as u64,
            })
            .collect();
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(StFile {
            path: path.to_path_buf(),
            tensors,
        })
    }

    pub fn get(&self, name: &str) -> Option<&StTensor> {
        self.tensors
            .binary_search_by(|t| t.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.tensors[i])
    }
}

/// Reads byte windows of a file through a map that is replaced after `budget` bytes have been
/// touched, bounding how much of the file is resident at once.
pub struct WindowReader {
    path: PathBuf,
    file: File,
    map: Option<gguf::mmap::Mmap>,
    touched: usize,
    budget: usize,
}

impl WindowReader {
    pub fn new(path: &Path, budget: usize) -> Result<WindowReader, ConvertError> {
        let file = File::open(path).map_err(ConvertError::io(path))?;
        Ok(WindowReader {
            path: path.to_path_buf(),
            file,
            map: None,
            touched: 0,
            budget,
        })
    }

    /// Calls `f` with bytes `start..end` of the file.
    pub fn with_range<R>(
        &mut self,
        start: u64,
        end: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, ConvertError> {
        let n = (end - start) as usize;
        if self.map.is_none() || self.touched + n > self.budget {
            self.map = None; // unmap first: the old window leaves the resident set
            self.map =
                Some(gguf::mmap::map_file(&self.file).map_err(ConvertError::io(&self.path))?);
            self.touched = 0;
        }
        self.touched += n;
        let map = self.map.as_ref().expect("mapped above");
        let bytes = map.get(start as usize..end as usize).ok_or_else(|| ConvertError::Safetensors {
            path: self.path.clone(),
            problem: format!("bytes {start}..{end} are past the end of the file (was it truncated while converting?)"),
        })?;
        Ok(f(bytes))
    }
}

/// Decodes little-endian source elements to f32, appending to `out`.
pub fn decode_into(ty: SrcType, bytes: &[u8], out: &mut Vec<f32>) {
    match ty {
        SrcType::F32 => out.extend(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        ),
        SrcType::F16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()),
        ),
        SrcType::BF16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()),
        ),
    }
}
