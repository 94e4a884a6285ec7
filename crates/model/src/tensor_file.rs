//! Reading tensor bytes with ordinary positioned reads instead of through the memory map.
//!
//! Packing reads every layer weight once; through the map, those pages would stay resident (and
//! count in RSS) next to the packed copies until the map is dropped. Plain reads go through the
//! page cache without mapping anything into the process, so the packed weights are the only
//! resident copy, and the token embedding (214 MB as Q8_0) costs one small read per looked-up
//! row instead of a mapping. A file truncated behind our back gives an I/O error, not SIGBUS.

use crate::error::ModelError;
use gguf::{GgufFile, TensorInfo};
use kernels::ThreadPool;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct TensorFile {
    file: File,
    path: PathBuf,
    /// Absolute offset of the GGUF data section.
    data_offset: u64,
}

impl TensorFile {
    /// Opens `path` for reading the tensors that `gguf` (the same file, already validated)
    /// describes.
    pub fn open(path: &Path, gguf: &GgufFile) -> Result<TensorFile, ModelError> {
        let io = |source| ModelError::Io {
            path: path.display().to_string(),
            what: "opening the file".into(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len != gguf.file_size() {
            return Err(io(std::io::Error::other(
                "the file changed size while it was being loaded",
            )));
        }
        Ok(TensorFile {
            file,
            path: path.to_path_buf(),
            data_offset: gguf.data_offset(),
        })
    }

    /// All bytes of one tensor, read on `pool`'s threads when it is large (the copy out of
    /// the page cache and the page faults of the new buffer are a good part of load time).
    pub fn read_tensor(&self, info: &TensorInfo, pool: &ThreadPool) -> Result<Vec<u8>, ModelError> {
        /// Below this, one read.
        const SPLIT_BYTES: usize = 1 << 20;
        let len = usize::try_from(info.n_bytes).map_err(|_| {
            ModelError::bad_metadata(&info.name, format!("{} bytes is too large", info.n_bytes))
        })?;
        let n = if len >= SPLIT_BYTES {
            pool.n_threads()
        } else {
            1
        };
        let mut buf = vec![0u8; len];
        let chunk = len.div_ceil(n).max(1);
        let chunks: Vec<Mutex<&mut [u8]>> = buf.chunks_mut(chunk).map(Mutex::new).collect();
        let error = Mutex::new(None);
        pool.run(chunks.len(), &|i| {
            let mut c = chunks[i].lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = self.read_at(info.offset + (i * chunk) as u64, &mut c, &info.name) {
                *error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
            }
        });
        drop(chunks);
        match error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e),
            None => Ok(buf),
        }
    }

    /// Fills `buf` from `offset` bytes into the data section; `what` names the tensor for errors.
    pub fn read_at(&self, offset: u64, buf: &mut [u8], what: &str) -> Result<(), ModelError> {
        let at = self.data_offset + offset;
        read_exact_at(&self.file, buf, at).map_err(|source| ModelError::Io {
            path: self.path.display().to_string(),
            what: format!("reading {what} ({} bytes at offset {at})", buf.len()),
            source,
        })
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, at)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut at: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, at)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                at += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(not(any(unix, windows)))]
fn read_exact_at(mut file: &File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(buf)
}
