//! Output formats of `ggufembed embed`, all written record by record in input order, so memory
//! stays bounded whatever the input size:
//!
//! - `jsonl`: one `{"id":…,"embedding":[…],"n_tokens":…,"truncated":…}` per line;
//! - `json`: the same objects as one JSON array;
//! - `csv`: header `id,n_tokens,truncated,e0,…,e{d-1}`, one row per record;
//! - `npy`: a float32 `[n, d]` NumPy array of the vectors only (row i = i-th successful record).
//!   The header holds `n`, known only at the end: it is written with a fixed-width placeholder
//!   and rewritten in place once all rows are out. A file output is patched by seeking back;
//!   stdout (not seekable) gets the rows spooled to an anonymous temp file first, then copied.

use serde::Serialize;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Json,
    Csv,
    Npy,
}

/// One embedded record as written out.
#[derive(Serialize)]
pub struct Record<'a> {
    pub id: &'a serde_json::Value,
    pub embedding: &'a [f32],
    pub n_tokens: usize,
    pub truncated: bool,
}

/// Where bytes go: stdout or a file.
enum Sink {
    Stdout(BufWriter<io::Stdout>),
    File(BufWriter<File>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Stdout(w) => w.write(buf),
            Sink::File(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Stdout(w) => w.flush(),
            Sink::File(w) => w.flush(),
        }
    }
}

pub struct Writer {
    format: Format,
    sink: Sink,
    dims: usize,
    n_written: u64,
    /// npy to stdout: rows spooled here until the count is known.
    spool: Option<BufWriter<File>>,
}

/// Total size of the npy preamble (magic, version, header length, header dict, padding): fixed,
/// so the placeholder can be overwritten with the final shape without moving the data.
const NPY_PREAMBLE: usize = 128;

impl Writer {
    /// Opens the destination (`None` = stdout). `dims` = length of every vector.
    pub fn create(path: Option<&Path>, format: Format, dims: usize) -> io::Result<Writer> {
        let sink = match path {
            Some(p) => Sink::File(BufWriter::new(File::create(p)?)),
            None => Sink::Stdout(BufWriter::new(io::stdout())),
        };
        let mut w = Writer {
            format,
            sink,
            dims,
            n_written: 0,
            spool: None,
        };
        match format {
            Format::Json => w.sink.write_all(b"[")?,
            Format::Csv => {
                write!(w.sink, "id,n_tokens,truncated")?;
                for i in 0..dims {
                    write!(w.sink, ",e{i}")?;
                }
                writeln!(w.sink)?;
            }
            Format::Npy => match &mut w.sink {
                Sink::File(f) => f.write_all(&npy_preamble(0, dims))?,
                Sink::Stdout(_) => w.spool = Some(BufWriter::new(tempfile::tempfile()?)),
            },
            Format::Jsonl => {}
        }
        Ok(w)
    }

    pub fn write(&mut self, r: &Record) -> io::Result<()> {
        debug_assert_eq!(r.embedding.len(), self.dims);
        match self.format {
            Format::Jsonl => {
                serde_json::to_writer(&mut self.sink, r)?;
                self.sink.write_all(b"\n")?;
            }
            Format::Json => {
                self.sink
                    .write_all(if self.n_written == 0 { b"\n" } else { b",\n" })?;
                serde_json::to_writer(&mut self.sink, r)?;
            }
            Format::Csv => {
                match r.id {
                    serde_json::Value::String(s) => write_csv_field(&mut self.sink, s)?,
                    other => write!(self.sink, "{other}")?,
                }
                write!(self.sink, ",{},{}", r.n_tokens, r.truncated)?;
                for v in r.embedding {
                    write!(self.sink, ",{v}")?;
                }
                writeln!(self.sink)?;
            }
            Format::Npy => {
                let out: &mut dyn Write = match &mut self.spool {
                    Some(s) => s,
                    None => &mut self.sink,
                };
                for v in r.embedding {
                    out.write_all(&v.to_le_bytes())?;
                }
            }
        }
        self.n_written += 1;
        Ok(())
    }

    /// Closes the array / fixes the npy header, and flushes.
    pub fn finish(mut self) -> io::Result<()> {
        match self.format {
            Format::Json => self.sink.write_all(if self.n_written == 0 {
                b"]\n"
            } else {
                b"\n]\n"
            })?,
            Format::Npy => {
                let preamble = npy_preamble(self.n_written, self.dims);
                match (&mut self.sink, self.spool.take()) {
                    (Sink::File(f), _) => {
                        f.flush()?;
                        let file = f.get_mut();
                        file.seek(SeekFrom::Start(0))?;
                        file.write_all(&preamble)?;
                    }
                    (Sink::Stdout(out), Some(spool)) => {
                        let mut spool = spool.into_inner().map_err(|e| e.into_error())?;
                        spool.seek(SeekFrom::Start(0))?;
                        out.write_all(&preamble)?;
                        io::copy(&mut spool, out)?;
                    }
                    (Sink::Stdout(_), None) => unreachable!("npy to stdout always spools"),
                }
            }
            Format::Jsonl | Format::Csv => {}
        }
        self.sink.flush()
    }
}

/// NumPy v1.0 preamble for a little-endian float32 C-order array of shape (n, dims), padded with
/// spaces to exactly `NPY_PREAMBLE` bytes (ends in '\n', as the format requires).
fn npy_preamble(n: u64, dims: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, {dims}), }}");
    let header_len = NPY_PREAMBLE - 10;
    let mut header = dict.into_bytes();
    header.resize(header_len - 1, b' ');
    header.push(b'\n');
    let mut out = Vec::with_capacity(NPY_PREAMBLE);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header_len as u16).to_le_bytes());
    out.extend_from_slice(&header);
    out
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn write_csv_field(out: &mut impl Write, s: &str) -> io::Result<()> {
    if s.contains([',', '"', '\n', '\r']) {
        write!(out, "\"{}\"", s.replace('"', "\"\""))
    } else {
        out.write_all(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_preamble_is_fixed_size_and_well_formed() {
        for (n, d) in [(0, 768), (3, 128), (u64::MAX, 768)] {
            let p = npy_preamble(n, d);
            assert_eq!(p.len(), NPY_PREAMBLE);
            assert_eq!(&p[..8], b"\x93NUMPY\x01\x00");
            assert_eq!(u16::from_le_bytes([p[8], p[9]]) as usize, NPY_PREAMBLE - 10);
            assert_eq!(*p.last().unwrap(), b'\n');
            let text = std::str::from_utf8(&p[10..]).unwrap();
            assert!(text.contains(&format!("'shape': ({n}, {d})")), "{text}");
        }
    }

    #[test]
    fn npy_file_gets_the_final_row_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.npy");
        let mut w = Writer::create(Some(&path), Format::Npy, 2).unwrap();
        let id = serde_json::Value::from(1);
        for k in 0..3 {
            w.write(&Record {
                id: &id,
                embedding: &[k as f32, 0.5],
                n_tokens: 2,
                truncated: false,
            })
            .unwrap();
        }
        w.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), NPY_PREAMBLE + 3 * 2 * 4);
        assert!(std::str::from_utf8(&bytes[10..NPY_PREAMBLE])
            .unwrap()
            .contains("'shape': (3, 2)"));
        let last = f32::from_le_bytes(bytes[bytes.len() - 8..bytes.len() - 4].try_into().unwrap());
        assert_eq!(last, 2.0);
    }

    #[test]
    fn csv_quotes_awkward_ids() {
        let mut out = Vec::new();
        write_csv_field(&mut out, "a,\"b\"").unwrap();
        assert_eq!(out, b"\"a,\"\"b\"\"\"");
    }
}
