//! `GgufWriter`: builds a GGUF v3 (or v2) file: header, metadata, tensor infos, then the tensor
//! data streamed from a callback, each tensor padded to the alignment. Everything it accepts
//! passes the reader's validation.

use crate::parse::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC, MAX_ARRAY_DEPTH};
use crate::tensor::{align_up, check_shape, check_size, MAX_NAME_LEN};
use crate::{Array, GgmlType, GgufError, GgufFile, TensorInfo, Value};
use std::collections::HashSet;
use std::io::Write;

#[derive(Debug, Clone)]
pub struct GgufWriter {
    version: u32,
    alignment: u64,
    metadata: Vec<(String, Value)>,
    keys: HashSet<String>,
    tensors: Vec<TensorInfo>,
    names: HashSet<String>,
    /// Size of the data section so far (each tensor padded to the alignment).
    data_size: u64,
}

impl Default for GgufWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl GgufWriter {
    /// An empty v3 file with alignment 32 (a `general.alignment` key added later changes it).
    pub fn new() -> Self {
        GgufWriter {
            version: 3,
            alignment: DEFAULT_ALIGNMENT,
            metadata: Vec::new(),
            keys: HashSet::new(),
            tensors: Vec::new(),
            names: HashSet::new(),
            data_size: 0,
        }
    }

    /// A writer holding the same version, metadata and tensor infos as `file`, in the same
    /// order; write it with `|i| Ok(file.tensor_data(&file.tensors()[i]).to_vec())`.
    pub fn from_file(file: &GgufFile) -> Result<Self, GgufError> {
        let mut w = GgufWriter::new();
        w.set_version(file.version())?;
        for (k, v) in file.metadata() {
            w.add_kv(k, v.clone())?;
        }
        for t in file.tensors() {
            w.add_tensor(&t.name, t.ggml_type, &t.shape)?;
        }
        Ok(w)
    }

    /// GGUF version to write: 2 or 3 (identical layouts; 3 is the default).
    pub fn set_version(&mut self, version: u32) -> Result<(), GgufError> {
        if !matches!(version, 2 | 3) {
            return Err(GgufError::UnsupportedVersion { version, hint: "" });
        }
        self.version = version;
        Ok(())
    }

    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    /// Tensor infos with the offsets they will be written at.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// Adds a key-value pair. Keys must be non-empty and unique; `general.alignment` must be a
    /// UINT32 power of two and be added before any tensor.
    pub fn add_kv(&mut self, key: &str, value: Value) -> Result<(), GgufError> {
        let invalid = |reason: String| GgufError::InvalidKv {
            key: key.to_string(),
            reason,
        };
        if key.is_empty() {
            return Err(invalid("key is empty".into()));
        }
        if self.keys.contains(key) {
            return Err(invalid("duplicate key".into()));
        }
        if let Value::Array(a) = &value {
            if a.depth() > MAX_ARRAY_DEPTH {
                return Err(invalid(format!(
                    "arrays nested deeper than {MAX_ARRAY_DEPTH} levels"
                )));
            }
        }
        if key == ALIGNMENT_KEY {
            match value {
                Value::U32(a) if a.is_power_of_two() => {
                    if !self.tensors.is_empty() {
                        return Err(invalid("must be added before any tensor".into()));
                    }
                    self.alignment = a as u64;
                }
                Value::U32(a) => return Err(invalid(format!("{a} is not a power of two"))),
                ref v => {
                    return Err(invalid(format!(
                        "must be UINT32, not {}",
                        v.type_description()
                    )))
                }
            }
        }
        self.keys.insert(key.to_string());
        self.metadata.push((key.to_string(), value));
        Ok(())
    }

    /// Adds a tensor (ggml `ne` order: `shape[0]` is the contiguous dimension). Its data is
    /// supplied to `write` in the order tensors were added.
    pub fn add_tensor(
        &mut self,
        name: &str,
        ggml_type: GgmlType,
        shape: &[u64],
    ) -> Result<(), GgufError> {
        if name.len() > MAX_NAME_LEN {
            return Err(GgufError::InvalidTensor {
                tensor: name.to_string(),
                reason: format!(
                    "name is {} bytes, at most {MAX_NAME_LEN} allowed",
                    name.len()
                ),
            });
        }
        if self.names.contains(name) {
            return Err(GgufError::InvalidTensor {
                tensor: name.to_string(),
                reason: "duplicate tensor name".into(),
            });
        }
        let n_elements = check_shape(name, shape)?;
        let n_bytes = check_size(name, ggml_type, shape, n_elements)?;
        let end = self
            .data_size
            .checked_add(n_bytes)
            .and_then(|e| align_up(e, self.alignment))
            .ok_or_else(|| GgufError::InvalidTensor {
                tensor: name.to_string(),
                reason: "data section larger than 2^64 bytes".into(),
            })?;
        self.tensors.push(TensorInfo {
            name: name.to_string(),
            ggml_type,
            shape: shape.to_vec(),
            offset: self.data_size,
            n_bytes,
        });
        self.names.insert(name.to_string());
        self.data_size = end;
        Ok(())
    }

    /// Header, metadata and tensor infos, padded to the alignment: everything before the data.
    pub fn header_bytes(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&self.version.to_le_bytes());
        b.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        b.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (k, v) in &self.metadata {
            put_str(&mut b, k);
            b.extend_from_slice(&v.type_id().to_le_bytes());
            put_value(&mut b, v);
        }
        for t in &self.tensors {
            put_str(&mut b, &t.name);
            b.extend_from_slice(&(t.shape.len() as u32).to_le_bytes());
            for d in &t.shape {
                b.extend_from_slice(&d.to_le_bytes());
            }
            b.extend_from_slice(&t.ggml_type.id().to_le_bytes());
            b.extend_from_slice(&t.offset.to_le_bytes());
        }
        if !self.tensors.is_empty() {
            let padded = align_up(b.len() as u64, self.alignment).unwrap_or(0) as usize;
            b.resize(padded, 0);
        }
        b
    }

    /// Total size of the file `write` will produce.
    pub fn file_size(&self) -> u64 {
        self.header_bytes().len() as u64 + self.data_size
    }

    /// Writes the file. `data(i)` must return exactly `tensors()[i].n_bytes` bytes for tensor
    /// `i`; it is called once per tensor, in order, so data can be produced on the fly.
    pub fn write<W: Write, E: From<GgufError>>(
        &self,
        out: &mut W,
        mut data: impl FnMut(usize) -> Result<Vec<u8>, E>,
    ) -> Result<(), E> {
        let io = |e| E::from(GgufError::Write(e));
        out.write_all(&self.header_bytes()).map_err(io)?;
        let zeros = vec![0u8; self.alignment as usize];
        for (i, t) in self.tensors.iter().enumerate() {
            let bytes = data(i)?;
            if bytes.len() as u64 != t.n_bytes {
                return Err(E::from(GgufError::TensorDataLength {
                    tensor: t.name.clone(),
                    expected: t.n_bytes,
                    got: bytes.len() as u64,
                }));
            }
            out.write_all(&bytes).map_err(io)?;
            let pad = align_up(t.n_bytes, self.alignment).unwrap_or(t.n_bytes) - t.n_bytes;
            out.write_all(&zeros[..pad as usize]).map_err(io)?;
        }
        out.flush().map_err(io)
    }
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u64).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

fn put_value(b: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => b.push(*x),
        Value::I8(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::U16(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => b.push(*x as u8),
        Value::String(s) => put_str(b, s),
        Value::U64(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::Array(a) => put_array(b, a),
    }
}

/// Element type, count, elements.
fn put_array(b: &mut Vec<u8>, a: &Array) {
    b.extend_from_slice(&a.element_type_id().to_le_bytes());
    b.extend_from_slice(&(a.len() as u64).to_le_bytes());
    put_elements(b, a);
}

/// The elements of an array as stored on disk, without element type and count.
pub(crate) fn put_elements(b: &mut Vec<u8>, a: &Array) {
    fn each<T>(b: &mut Vec<u8>, v: &[T], f: impl Fn(&T) -> Vec<u8>) {
        for x in v {
            b.extend_from_slice(&f(x));
        }
    }
    match a {
        Array::U8(v) => b.extend_from_slice(v),
        Array::I8(v) => each(b, v, |x| x.to_le_bytes().to_vec()),
        Array::U16(v) => each(b, v, |x| x.to_le_bytes().to_vec()),
        Array::I16(v) => each(b, v, |x| x.to_le_bytes().to_vec()),
        Array::U32(v) => each(b, v, |x| x.to_le_bytes().to_vec()),
        Array::I32(v) => each(b, v, |x| x.to_le_bytes().to_vec()),
        Array::F32(v) => each(b, v, |x| x.to_le_bytes().to_vec()),
        Array::Bool(v) => each(b, v, |x| vec![*x as u8]),
        Array::U64(v) => each(b, v, |x| x.to_le_bytes().to_vec()),
        Array::I64(v) => each(b, v, |x| x.to_le_bytes().to_vec()),
        Array::F64(v) => each(b, v, |x| x.to_le_bytes().to_vec()),
        Array::String(v) => v.iter().for_each(|s| put_str(b, s)),
        Array::Array(v) => v.iter().for_each(|x| put_array(b, x)),
    }
}
