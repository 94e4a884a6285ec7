//! The token embedding table `token_embd` [n_embd, n_vocab]. It stays in the file (214 MB as
//! Q8_0): a lookup reads and dequantizes only the rows the batch needs.

use super::load::{tensor, weight_type};
use crate::error::ModelError;
use crate::tensor_file::TensorFile;
use gguf::GgufFile;
use kernels::WeightType;

pub const TOKEN_EMBD: &str = "token_embd.weight";

pub struct TokenEmbedding {
    data: TensorFile,
    /// Offset of the table in the data section.
    offset: u64,
    wtype: WeightType,
    type_name: &'static str,
    /// Bytes of one row (one token's vector).
    row_bytes: usize,
    n_embd: usize,
    n_vocab: usize,
}

impl TokenEmbedding {
    /// Finds `token_embd.weight` ([n_embd, n_vocab]) in `file`; rows are read through `data`.
    pub fn new(
        file: &GgufFile,
        data: TensorFile,
        n_embd: usize,
    ) -> Result<TokenEmbedding, ModelError> {
        let info = file
            .tensor_info(TOKEN_EMBD)
            .ok_or_else(|| ModelError::MissingTensor {
                name: TOKEN_EMBD.into(),
            })?;
        let n_vocab = match info.shape.as_slice() {
            [_, v] if *v > 0 && *v <= u32::MAX as u64 => *v as usize,
            _ => {
                return Err(ModelError::ShapeMismatch {
                    name: TOKEN_EMBD.into(),
                    expected: vec![n_embd as u64, 262144],
                    found: info.shape.clone(),
                })
            }
        };
        let info = tensor(file, TOKEN_EMBD, &[n_embd as u64, n_vocab as u64])?;
        let wtype = weight_type(TOKEN_EMBD, info.ggml_type)?;
        let row_bytes = wtype
            .row_bytes(n_embd)
            .filter(|rb| (*rb * n_vocab) as u64 == info.n_bytes)
            .ok_or_else(|| {
                ModelError::bad_metadata(
                    TOKEN_EMBD,
                    format!(
                        "{} bytes do not hold {n_vocab} rows of {n_embd} {} values",
                        info.n_bytes,
                        info.ggml_type.name()
                    ),
                )
            })?;
        let table = TokenEmbedding {
            data,
            offset: info.offset,
            wtype,
            type_name: info.ggml_type.name(),
            row_bytes,
            n_embd,
            n_vocab,
        };
        // Read one row now, so a lookup can only fail on I/O.
        table.row(0, &mut vec![0u8; row_bytes], &mut vec![0f32; n_embd])?;
        Ok(table)
    }

    pub fn n_vocab(&self) -> usize {
        self.n_vocab
    }

    /// Bytes of one stored row (size of the `bytes` buffer `row` needs).
    pub fn row_bytes(&self) -> usize {
        self.row_bytes
    }

    /// Storage type name of the table, e.g. "Q8_0".
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// Writes row `id` (< n_vocab, checked by the caller) as f32 into `out` [n_embd], using
    /// `bytes` [row_bytes] as the read buffer.
    pub fn row(&self, id: u32, bytes: &mut [u8], out: &mut [f32]) -> Result<(), ModelError> {
        let bytes = &mut bytes[..self.row_bytes];
        let offset = self.offset + id as u64 * self.row_bytes as u64;
        self.data.read_at(offset, bytes, TOKEN_EMBD)?;
        kernels::dequantize_row(self.wtype, bytes, &mut out[..self.n_embd]).map_err(|source| {
            ModelError::Kernel {
                tensor: TOKEN_EMBD.into(),
                source,
            }
        })
    }
}
