//! The kernels crate's error type.

/// Errors from packing or dequantizing weights. Each variant names what was wrong.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum KernelError {
    #[error("no weight parts given to PackedMatrix::pack")]
    NoParts,
    #[error("weight part {part} has {got} columns but part 0 has {expected}; fused parts must share cols")]
    ColsMismatch {
        part: usize,
        expected: usize,
        got: usize,
    },
    #[error(
        "weight part {part} is {rows}x{cols}: matrices must have at least one row and one column"
    )]
    EmptyMatrix {
        part: usize,
        rows: usize,
        cols: usize,
    },
    #[error("{wtype:?} needs the row length to be a multiple of {block}, got {cols} (weight part {part})")]
    BadBlockAlignment {
        part: usize,
        wtype: crate::WeightType,
        block: usize,
        cols: usize,
    },
    #[error(
        "weight part {part} ({wtype:?}, {rows}x{cols}) needs {expected} bytes of data, got {got}"
    )]
    DataLength {
        part: usize,
        wtype: crate::WeightType,
        rows: usize,
        cols: usize,
        expected: usize,
        got: usize,
    },
    #[error("dequantize_row: {wtype:?} row of {cols} values needs {expected} bytes, got {got}")]
    RowLength {
        wtype: crate::WeightType,
        cols: usize,
        expected: usize,
        got: usize,
    },
}
