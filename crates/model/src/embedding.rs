//! The token embedding table `token_embd` [n_embd, n_vocab]. It stays in the memory-mapped file
//! (214 MB as Q8_0); a lookup dequantizes only the rows the batch needs, so only those pages are
//! ever read.

use crate::error::ModelError;
use crate::weights::{tensor, weight_type};
use gguf::{GgufFile, TensorInfo};
use kernels::WeightType;

pub struct TokenEmbedding {
    /// Owns the mapping the rows are read from.
    file: GgufFile,
    info: TensorInfo,
    wtype: WeightType,
    /// Bytes of one row (one token's vector).
    row_bytes: usize,
    n_embd: usize,
    n_vocab: usize,
}

pub const TOKEN_EMBD: &str = "token_embd.weight";

impl TokenEmbedding {
    /// Takes the file that holds `token_embd.weight` ([n_embd, n_vocab]).
    pub fn new(file: GgufFile, n_embd: usize) -> Result<TokenEmbedding, ModelError> {
        let info = file
            .tensors()
            .iter()
            .find(|t| t.name == TOKEN_EMBD)
            .cloned()
            .ok_or_else(|| ModelError::MissingTensor {
                name: TOKEN_EMBD.into(),
            })?;
        let n_vocab = match info.shape.as_slice() {
            [e, v] if *e == n_embd as u64 && *v > 0 && *v <= u32::MAX as u64 => *v as usize,
            _ => {
                return Err(ModelError::ShapeMismatch {
                    name: TOKEN_EMBD.into(),
                    expected: vec![n_embd as u64, 262144],
                    found: info.shape.clone(),
                })
            }
        };
        // Re-check through the common path (type support, shape), then derive the row size.
        let view = tensor(&file, TOKEN_EMBD, &[n_embd as u64, n_vocab as u64])?;
        let wtype = weight_type(TOKEN_EMBD, view.ggml_type)?;
        let block = view.ggml_type.block_size() as usize;
        if !n_embd.is_multiple_of(block) {
            return Err(ModelError::ShapeMismatch {
                name: TOKEN_EMBD.into(),
                expected: vec![(n_embd / block * block) as u64, n_vocab as u64],
                found: info.shape.clone(),
            });
        }
        let row_bytes = n_embd / block * view.ggml_type.type_size() as usize;
        if view.data.len() != row_bytes * n_vocab {
            return Err(ModelError::bad_metadata(
                TOKEN_EMBD,
                format!(
                    "holds {} bytes, expected {} ({n_vocab} rows of {row_bytes})",
                    view.data.len(),
                    row_bytes * n_vocab
                ),
            ));
        }
        Ok(TokenEmbedding {
            file,
            info,
            wtype,
            row_bytes,
            n_embd,
            n_vocab,
        })
    }

    pub fn n_vocab(&self) -> usize {
        self.n_vocab
    }

    /// Storage type name of the table.
    pub fn ggml_type_name(&self) -> &'static str {
        self.info.ggml_type.name()
    }

    /// Writes row `id` as f32 into `out` ([n_embd]). `id < n_vocab` (checked by the caller).
    pub fn row(&self, id: u32, out: &mut [f32]) {
        let data = self.file.tensor_data(&self.info);
        let start = id as usize * self.row_bytes;
        let bytes = &data[start..start + self.row_bytes];
        kernels::dequantize_row(self.wtype, bytes, &mut out[..self.n_embd])
            .expect("token_embd row size was validated at load");
    }
}
