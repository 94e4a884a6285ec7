//! A bounds-checked little-endian cursor over the file bytes. Never panics: every read that
//! would run past the end returns `Eof`, which the caller turns into a `GgufError` with context.

/// A read of `needed` bytes at `offset` ran past the end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Eof {
    pub offset: u64,
    pub needed: u64,
    pub available: u64,
}

pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// Current byte offset from the start of the file.
    pub fn pos(&self) -> u64 {
        self.pos as u64
    }

    /// Bytes left after the current position.
    pub fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    /// The next `n` bytes, advancing past them.
    pub fn take(&mut self, n: u64) -> Result<&'a [u8], Eof> {
        let available = self.remaining();
        if n > available {
            return Err(Eof {
                offset: self.pos(),
                needed: n,
                available,
            });
        }
        let start = self.pos;
        self.pos += n as usize; // n <= remaining, so fits in usize
        Ok(&self.buf[start..self.pos])
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Eof> {
        let s = self.take(N as u64)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u8(&mut self) -> Result<u8, Eof> {
        Ok(self.array::<1>()?[0])
    }
    pub fn u32(&mut self) -> Result<u32, Eof> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, Eof> {
        Ok(u64::from_le_bytes(self.array()?))
    }
}
