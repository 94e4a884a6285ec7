//! `GgufError`: every way reading, validating or writing a GGUF file can fail.
//! Each variant names what failed and where (key, tensor name or byte offset).

use crate::GgmlType;

#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("write failed: {0}")]
    Write(#[source] std::io::Error),

    // ---- header ----
    #[error(
        "not a GGUF file: it starts with bytes {} (\"{}\"), expected \"GGUF\"",
        hex::encode(found),
        String::from_utf8_lossy(found).escape_debug()
    )]
    BadMagic { found: Vec<u8> },
    #[error("unsupported GGUF version {version}: this reader handles versions 2 and 3{hint}")]
    UnsupportedVersion { version: u32, hint: &'static str },
    #[error("file is truncated: {what} at byte offset {offset} needs {needed} bytes but only {available} remain")]
    Truncated {
        what: String,
        offset: u64,
        needed: u64,
        available: u64,
    },
    #[error("{what} is {count} but the {available} bytes left from offset {offset} can hold at most {max}")]
    CountTooLarge {
        what: &'static str,
        count: u64,
        offset: u64,
        available: u64,
        max: u64,
    },

    // ---- metadata ----
    #[error("{context}: string length {len} at byte offset {offset} exceeds the limit of {limit} bytes (the bytes left in the file, at most 1 GiB)")]
    StringTooLong {
        context: String,
        len: u64,
        offset: u64,
        limit: u64,
    },
    #[error("{context}: string at byte offset {offset} is not valid UTF-8 ({reason})")]
    InvalidUtf8 {
        context: String,
        offset: u64,
        reason: String,
    },
    #[error("metadata key #{index} at byte offset {offset} is empty")]
    EmptyKey { index: u64, offset: u64 },
    #[error("duplicate metadata key {key:?} at byte offset {offset}")]
    DuplicateKey { key: String, offset: u64 },
    #[error("metadata key {key:?}: unknown value type {type_id} at byte offset {offset}")]
    UnknownValueType {
        key: String,
        type_id: u32,
        offset: u64,
    },
    #[error("metadata key {key:?}: array of {len} elements at byte offset {offset} needs at least {needed} bytes but only {available} remain")]
    ArrayTooLong {
        key: String,
        len: u64,
        offset: u64,
        needed: u128,
        available: u64,
    },
    #[error(
        "metadata key {key:?}: arrays nested deeper than {max} levels at byte offset {offset}"
    )]
    ArrayTooDeep {
        key: String,
        offset: u64,
        max: usize,
    },
    #[error(
        "metadata key {key:?}: bool at byte offset {offset} has value {value}, expected 0 or 1"
    )]
    InvalidBool { key: String, offset: u64, value: u8 },
    #[error("general.alignment is {value}; it must be a non-zero power of two")]
    BadAlignment { value: u64 },

    // ---- typed getters ----
    #[error("metadata key {key:?} is missing")]
    MissingKey { key: String },
    #[error("metadata key {key:?} has type {found}, expected {expected}")]
    WrongType {
        key: String,
        expected: &'static str,
        found: String,
    },
    #[error("metadata key {key:?} has value {value}, which does not fit in {target}")]
    ValueOutOfRange {
        key: String,
        value: String,
        target: &'static str,
    },

    // ---- tensor infos ----
    #[error("tensor #{index} at byte offset {offset}: name {name:?} is {len} bytes, ggml allows at most {max}")]
    TensorNameTooLong {
        index: u64,
        offset: u64,
        name: String,
        len: usize,
        max: usize,
    },
    #[error("duplicate tensor name {name:?} (tensor #{index}, byte offset {offset})")]
    DuplicateTensor {
        name: String,
        index: u64,
        offset: u64,
    },
    #[error("tensor {tensor:?}: {n_dims} dimensions, at most {max} allowed")]
    TooManyDims {
        tensor: String,
        n_dims: u64,
        max: usize,
    },
    #[error("tensor {tensor:?}: dimension {dim} is {value}, larger than the maximum {max}")]
    DimTooLarge {
        tensor: String,
        dim: usize,
        value: u64,
        max: u64,
    },
    #[error("tensor {tensor:?}: shape {shape:?} has more than {max} elements")]
    ElementCountOverflow {
        tensor: String,
        shape: Vec<u64>,
        max: u64,
    },
    #[error("tensor {tensor:?}: unknown ggml type id {type_id}")]
    UnknownGgmlType { tensor: String, type_id: u32 },
    #[error("tensor {tensor:?}: row length ne[0]={ne0} is not a multiple of the {ggml_type} block size {block_size}")]
    RowNotBlockMultiple {
        tensor: String,
        ggml_type: GgmlType,
        ne0: u64,
        block_size: u64,
    },
    #[error(
        "tensor {tensor:?}: {ggml_type} data of shape {shape:?} is more bytes than fit in 64 bits"
    )]
    ByteSizeOverflow {
        tensor: String,
        ggml_type: GgmlType,
        shape: Vec<u64>,
    },

    // ---- tensor data layout ----
    #[error(
        "tensor {tensor:?}: data offset {offset} is not a multiple of the alignment {alignment}"
    )]
    MisalignedTensor {
        tensor: String,
        offset: u64,
        alignment: u64,
    },
    #[error("tensor {tensor:?}: data at offset {offset} overlaps tensor {previous:?}, which ends at {previous_end} (tensors must be stored in order, each padded to the alignment)")]
    OverlappingTensor {
        tensor: String,
        offset: u64,
        previous: String,
        previous_end: u64,
    },
    #[error("tensor {tensor:?}: data offset {offset} leaves a gap; expected {expected} (tensors must be stored back to back, each padded to the alignment)")]
    TensorGap {
        tensor: String,
        offset: u64,
        expected: u64,
    },
    #[error("tensor {tensor:?}: data bytes {start}..{end} lie past the end of the {file_size}-byte file")]
    TensorDataOutOfBounds {
        tensor: String,
        start: u64,
        end: u64,
        file_size: u64,
    },
    #[error("data section would start at byte offset {data_offset}, past the end of the {file_size}-byte file")]
    DataSectionOutOfBounds { data_offset: u64, file_size: u64 },

    // ---- writer ----
    #[error("cannot write metadata key {key:?}: {reason}")]
    InvalidKv { key: String, reason: String },
    #[error("cannot write tensor {tensor:?}: {reason}")]
    InvalidTensor { tensor: String, reason: String },
    #[error("tensor {tensor:?}: data callback returned {got} bytes, expected {expected}")]
    TensorDataLength {
        tensor: String,
        expected: u64,
        got: u64,
    },
}
