//! GGUF v2/v3 reader (zero-copy over mmap) and writer.
//!
//! - [`GgufFile::open`] memory-maps a file and validates everything ggml's loader validates (and
//!   a little more); metadata is decoded at open, tensor data is borrowed from the map.
//! - [`GgufWriter`] writes v3 files with aligned tensor data, streaming the data tensor by tensor.
//! - [`GgufError`] names the key, tensor or byte offset that failed.

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
pub use parse::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAX_ARRAY_DEPTH};
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
