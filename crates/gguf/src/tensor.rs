//! Tensor descriptions (`TensorInfo`), zero-copy views (`TensorView`) and the shape rules
//! shared by the reader and the writer.

use crate::{GgmlType, GgufError};

/// ggml's limit on tensor rank.
pub const MAX_DIMS: usize = 4;
/// ggml's limit on tensor name length in bytes (names must be strictly shorter than 64).
pub const MAX_NAME_LEN: usize = 63;
/// Largest element count ggml can represent (`INT64_MAX`); also the largest single dimension.
pub const MAX_ELEMENTS: u64 = i64::MAX as u64;

/// One tensor's entry in the tensor-info table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub ggml_type: GgmlType,
    /// ggml `ne`: `shape[0]` is the contiguous (input) dimension.
    pub shape: Vec<u64>,
    /// Byte offset of the data relative to the start of the data section.
    pub offset: u64,
    /// Exact size of the data in bytes (without alignment padding).
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Number of elements (product of `shape`; 1 for a 0-d tensor).
    pub fn n_elements(&self) -> u64 {
        self.shape.iter().product()
    }
}

/// A tensor's bytes, borrowed from the file (mmap or buffer); nothing is copied.
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    pub name: &'a str,
    pub ggml_type: GgmlType,
    /// ggml `ne`: `shape[0]` is the contiguous (input) dimension.
    pub shape: &'a [u64],
    pub data: &'a [u8],
}

impl TensorView<'_> {
    pub fn n_elements(&self) -> u64 {
        self.shape.iter().product()
    }
}

/// Checks rank and dimensions like ggml: at most 4 dims, each <= INT64_MAX (0 is allowed and
/// gives an empty tensor, as in ggml), and an element count that fits in int64.
/// Returns the element count.
pub(crate) fn check_shape(tensor: &str, shape: &[u64]) -> Result<u64, GgufError> {
    if shape.len() > MAX_DIMS {
        return Err(GgufError::TooManyDims {
            tensor: tensor.to_string(),
            n_dims: shape.len() as u64,
            max: MAX_DIMS,
        });
    }
    if let Some((dim, &value)) = shape.iter().enumerate().find(|(_, &d)| d > MAX_ELEMENTS) {
        return Err(GgufError::DimTooLarge {
            tensor: tensor.to_string(),
            dim,
            value,
            max: MAX_ELEMENTS,
        });
    }
    // A zero anywhere makes the product 0 whatever the other dims are (ggml agrees).
    if shape.contains(&0) {
        return Ok(0);
    }
    let mut n: u64 = 1;
    for &d in shape {
        n = match n.checked_mul(d) {
            Some(v) if v <= MAX_ELEMENTS => v,
            _ => {
                return Err(GgufError::ElementCountOverflow {
                    tensor: tensor.to_string(),
                    shape: shape.to_vec(),
                    max: MAX_ELEMENTS,
                })
            }
        };
    }
    Ok(n)
}

/// Checks that rows are whole blocks and the byte size fits; returns the byte size.
pub(crate) fn check_size(
    tensor: &str,
    ggml_type: GgmlType,
    shape: &[u64],
    n_elements: u64,
) -> Result<u64, GgufError> {
    let ne0 = shape.first().copied().unwrap_or(1);
    let block_size = ggml_type.block_size();
    if !ne0.is_multiple_of(block_size) {
        return Err(GgufError::RowNotBlockMultiple {
            tensor: tensor.to_string(),
            ggml_type,
            ne0,
            block_size,
        });
    }
    (n_elements / block_size)
        .checked_mul(ggml_type.type_size())
        .ok_or_else(|| GgufError::ByteSizeOverflow {
            tensor: tensor.to_string(),
            ggml_type,
            shape: shape.to_vec(),
        })
}

/// `x` rounded up to a multiple of `align` (a power of two), or `None` on overflow.
pub(crate) fn align_up(x: u64, align: u64) -> Option<u64> {
    Some(x.checked_add(align - 1)? & !(align - 1))
}
