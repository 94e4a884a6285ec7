//! GGUF v2/v3 reader (zero-copy over mmap) and writer.
//!
//! - [`GgufFile::open`] memory-maps a file and validates it; metadata is decoded at open,
//!   tensor data is borrowed from the map ([`GgufFile::tensor`] gives a [`TensorView`]).
//! - [`GgufWriter`] writes v3 (or v2) files with aligned tensor data, streaming the data tensor by
//!   tensor; rewriting a file it (or llama.cpp's gguf-py) wrote reproduces it byte for byte.
//! - [`GgufError`] names the key, tensor or byte offset that failed; messages are one line.
//!
//! # What `open` validates
//! At least what ggml's `gguf.cpp` and llama.cpp's loader check, so files accepted here load in
//! llama.cpp:
//! - magic `GGUF`, version 2 or 3 (v1 and byte-swapped files get a specific hint);
//! - every count and length fits in the bytes left, so nothing is allocated beyond a small
//!   multiple of the file size; strings at most 1 GiB and valid UTF-8;
//! - keys non-empty and unique; value types known; bools 0 or 1 (ggml takes any byte);
//! - `general.alignment`, if present, a UINT32 power of two (default 32);
//! - tensor names under 64 bytes and unique; at most 4 dims, each <= INT64_MAX; element count
//!   and byte size representable; known ggml type; `ne[0]` a multiple of the block size;
//! - tensor data in table order, each at an aligned offset right after the previous one's
//!   padded end (ggml's rule: no overlaps, no gaps), and inside the file.
//!
//! Deliberate choices: like ggml, a dimension of 0 (an empty tensor) and 0-d tensors are
//! accepted. Unlike ggml, nested arrays (valid GGUF) are read, up to [`MAX_ARRAY_DEPTH`] levels.
//! Padding after the last tensor is not required (llama.cpp does not require it either).

mod cursor;
mod error;
pub mod mmap;
mod parse;
mod reader;
mod tensor;
mod types;
mod value;
mod writer;

pub use error::GgufError;
pub use parse::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAX_ARRAY_DEPTH, MAX_STRING_LEN};
pub use reader::GgufFile;
pub use tensor::{TensorInfo, TensorView, MAX_DIMS, MAX_ELEMENTS, MAX_NAME_LEN};
pub use types::{file_type_name, GgmlType};
pub use value::{Array, Value};
pub use writer::GgufWriter;

/// Lower-case hex SHA-256 of `bytes` (tensor data fingerprints in `inspect --hashes` and tests).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
