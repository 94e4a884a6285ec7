//! sha256 helpers: of a byte slice, of a file (streamed), and a writer that hashes what passes.

use crate::PullError;
use convert::Progress;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// sha256 of a file, read in 1 MiB blocks; reports bytes to `progress` (no start/finish).
pub fn sha256_file(path: &Path, progress: &dyn Progress) -> Result<String, PullError> {
    let mut f = std::fs::File::open(path).map_err(PullError::io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(PullError::io(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        progress.inc(n as u64);
    }
    Ok(hex::encode(h.finalize()))
}

/// Passes writes through to `inner` while hashing them and reporting progress.
pub struct HashingWriter<'a, W: Write> {
    pub inner: W,
    hasher: Sha256,
    pub written: u64,
    progress: &'a dyn Progress,
}

impl<'a, W: Write> HashingWriter<'a, W> {
    pub fn new(inner: W, progress: &'a dyn Progress) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
            progress,
        }
    }

    pub fn finish(self) -> (W, String) {
        (self.inner, hex::encode(self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        self.progress.inc(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
