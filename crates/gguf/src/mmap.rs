//! The one place in ggufembed that memory-maps files (the only `unsafe` outside `kernels`).
//! The GGUF reader and the converter's safetensors reader both map through [`map_file`].

use std::fs::File;

pub use memmap2::Mmap;

/// Maps the whole of `file` read-only.
pub fn map_file(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: the map is read-only and private to this process. Its contents are only ever read
    // as plain bytes (every value is decoded with bounds checks), so even a concurrent
    // modification of the file by another process cannot produce invalid Rust values; at worst
    // it yields different bytes. Truncating the file while it is mapped would fault, which
    // memory-mapping model files (as llama.cpp does) accepts.
    unsafe { Mmap::map(file) }
}
