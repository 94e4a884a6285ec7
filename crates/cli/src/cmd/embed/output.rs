//! Output formats of `ggufembed embed`, all written record by record in input order, so memory
//! stays bounded whatever the input size:
//!
//! - `jsonl`: one `{"id":…,"line":…,"embedding":[…],"n_tokens":…,"truncated":…}` per line
//!   (`id` is the record's own id, any JSON value, or null; `line` its 1-based line/argument);
//! - `json`: the same objects as one JSON array;
//! - `csv` (RFC 4180, written by the `csv` crate, so every field is quoted as needed): header
//!   `id,line,n_tokens,truncated,e0,…,e{d-1}`, one row per record; a string id is written as is,
//!   any other id as its compact JSON text, a missing/null id as an empty field;
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
    /// The record's own id; `None` is written as null.
    pub id: Option<&'a serde_json::Value>,
    /// 1-based line (or argument number) of the record.
    pub line: usize,
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
    /// csv: one number's text.
    field: String,
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
            field: String::new(),
        };
        match format {
            Format::Json => w.sink.write_all(b"[")?,
            Format::Csv => {
                let header = ["id", "line", "n_tokens", "truncated"]
                    .map(String::from)
                    .into_iter()
                    .chain((0..dims).map(|i| format!("e{i}")));
                let mut csv = csv_writer(&mut w.sink, dims);
                csv.write_record(header)?;
                csv.flush()?;
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
                let mut csv = csv_writer(&mut self.sink, self.dims);
                match r.id {
                    None | Some(serde_json::Value::Null) => csv.write_field("")?,
                    Some(serde_json::Value::String(s)) => csv.write_field(s)?,
                    Some(other) => csv.write_field(other.to_string())?,
                }
                csv.write_field(r.line.to_string())?;
                csv.write_field(r.n_tokens.to_string())?;
                csv.write_field(if r.truncated { "true" } else { "false" })?;
                for v in r.embedding {
                    use std::fmt::Write as _;
                    self.field.clear();
                    write!(self.field, "{v}").expect("writing to a String");
                    csv.write_field(&self.field)?;
                }
                csv.write_record(None::<&[u8]>)?;
                csv.flush()?;
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

/// A csv writer for one row (RFC 4180 quoting: a field is quoted when it needs it), sized for a
/// row of `dims` numbers; it writes through to `sink`, which buffers.
fn csv_writer(sink: &mut Sink, dims: usize) -> csv::Writer<&mut Sink> {
    csv::WriterBuilder::new()
        .buffer_capacity(64 + dims * 16)
        .from_writer(sink)
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
                id: Some(&id),
                line: k + 1,
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

    /// One id of every JSON type (and none), as each format must write it back.
    fn awkward_ids() -> Vec<Option<serde_json::Value>> {
        use serde_json::json;
        vec![
            Some(json!(7)),
            Some(json!(-1.5)),
            Some(json!("a,\"b\"\nc")),
            Some(json!(true)),
            Some(json!(null)),
            Some(json!([1, "x,y", {"k": null}])),
            Some(json!({"a": [1, 2], "b": "q\"r"})),
            None,
        ]
    }

    fn write_all(format: Format, ids: &[Option<serde_json::Value>]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut w = Writer::create(Some(&path), format, 3).unwrap();
        for (k, id) in ids.iter().enumerate() {
            w.write(&Record {
                id: id.as_ref(),
                line: k + 1,
                embedding: &[0.25, -1.0, k as f32],
                n_tokens: 4,
                truncated: k == 1,
            })
            .unwrap();
        }
        w.finish().unwrap();
        std::fs::read(&path).unwrap()
    }

    #[test]
    fn csv_rows_keep_their_shape_whatever_the_id() {
        let ids = awkward_ids();
        let bytes = write_all(Format::Csv, &ids);
        let mut reader = csv::Reader::from_reader(&bytes[..]);
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(
            header,
            ["id", "line", "n_tokens", "truncated", "e0", "e1", "e2"]
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), ids.len());
        for (k, (row, id)) in rows.iter().zip(&ids).enumerate() {
            assert_eq!(row.len(), 7, "row {k}: {row:?}");
            let want = match id {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            assert_eq!(&row[0], want, "row {k}");
            assert_eq!(row[1].parse::<usize>().unwrap(), k + 1);
            assert_eq!(&row[3], if k == 1 { "true" } else { "false" });
            assert_eq!(row[6].parse::<f32>().unwrap(), k as f32);
        }
    }

    #[test]
    fn json_formats_echo_every_id_exactly() {
        let ids = awkward_ids();
        let want = |k: usize| ids[k].clone().unwrap_or(serde_json::Value::Null);
        let jsonl = write_all(Format::Jsonl, &ids);
        let rows: Vec<serde_json::Value> = std::str::from_utf8(&jsonl)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let json: serde_json::Value =
            serde_json::from_slice(&write_all(Format::Json, &ids)).unwrap();
        assert_eq!(json.as_array().unwrap(), &rows);
        assert_eq!(rows.len(), ids.len());
        for (k, row) in rows.iter().enumerate() {
            assert_eq!(row["id"], want(k), "row {k}");
            assert_eq!(row["line"], k + 1);
        }
        // npy: the vectors only, one row per record whatever its id.
        let npy = write_all(Format::Npy, &ids);
        assert_eq!(npy.len(), NPY_PREAMBLE + ids.len() * 3 * 4);
    }
}
