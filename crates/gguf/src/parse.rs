//! Parses and validates the GGUF header, metadata and tensor-info table from the file bytes.
//!
//! Validation is at least as strict as ggml's `gguf.cpp`, so a file accepted here also loads in
//! llama.cpp. Every count and length is checked against the bytes left before anything is
//! allocated, so a corrupt file can never make us allocate more than a small multiple of its size.

use crate::cursor::{Cursor, Eof};
use crate::tensor::{align_up, check_shape, check_size, MAX_DIMS, MAX_NAME_LEN};
use crate::value::type_id as t;
use crate::{Array, GgmlType, GgufError, TensorInfo, Value};
use std::collections::HashMap;

pub const MAGIC: &[u8; 4] = b"GGUF";
pub const DEFAULT_ALIGNMENT: u64 = 32;
pub const ALIGNMENT_KEY: &str = "general.alignment";
/// Longest string accepted (ggml's `GGUF_MAX_STRING_LENGTH`).
pub const MAX_STRING_LEN: u64 = 1 << 30;
/// Deepest array nesting accepted (an array of scalars has depth 1).
pub const MAX_ARRAY_DEPTH: usize = 8;

/// Smallest encoding of one key-value pair: key length, 1-byte key, type, 1-byte value.
const MIN_KV_BYTES: u64 = 8 + 1 + 4 + 1;
/// Smallest encoding of one tensor info: name length, n_dims, type, offset.
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 4 + 8;

/// Everything parsed from the file, with offsets into it.
pub(crate) struct Parsed {
    pub version: u32,
    pub alignment: u64,
    pub data_offset: u64,
    pub metadata: Vec<(String, Value)>,
    pub key_index: HashMap<String, usize>,
    pub tensors: Vec<TensorInfo>,
    pub tensor_index: HashMap<String, usize>,
}

fn truncated(e: Eof, what: impl Into<String>) -> GgufError {
    GgufError::Truncated {
        what: what.into(),
        offset: e.offset,
        needed: e.needed,
        available: e.available,
    }
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, GgufError> {
    let file_size = bytes.len() as u64;
    let mut cur = Cursor::new(bytes);

    // ---- header ----
    let magic = cur.take(4).map_err(|e| truncated(e, "magic"))?;
    if magic != MAGIC {
        return Err(GgufError::BadMagic {
            found: magic.to_vec(),
        });
    }
    let version = cur.u32().map_err(|e| truncated(e, "version"))?;
    check_version(version)?;
    let n_tensors = cur.u64().map_err(|e| truncated(e, "tensor count"))?;
    let n_kv = cur
        .u64()
        .map_err(|e| truncated(e, "metadata key-value count"))?;
    check_count(&cur, "metadata key-value count", n_kv, MIN_KV_BYTES)?;
    check_count(&cur, "tensor count", n_tensors, MIN_TENSOR_INFO_BYTES)?;

    // ---- metadata ----
    let mut metadata = Vec::with_capacity(n_kv as usize); // bounded by check_count
    let mut key_index = HashMap::with_capacity(n_kv as usize);
    for index in 0..n_kv {
        let offset = cur.pos();
        let key = read_string(&mut cur, &|| format!("metadata key #{index}"))?;
        if key.is_empty() {
            return Err(GgufError::EmptyKey { index, offset });
        }
        if key_index.contains_key(&key) {
            return Err(GgufError::DuplicateKey { key, offset });
        }
        let value = read_value(&mut cur, &key)?;
        key_index.insert(key.clone(), metadata.len());
        metadata.push((key, value));
    }
    let alignment = alignment_of(&metadata, &key_index)?;

    // ---- tensor infos ----
    check_count(&cur, "tensor count", n_tensors, MIN_TENSOR_INFO_BYTES)?;
    let mut tensors = Vec::with_capacity(n_tensors as usize);
    let mut tensor_index = HashMap::with_capacity(n_tensors as usize);
    for index in 0..n_tensors {
        let info = read_tensor_info(&mut cur, index, &tensor_index)?;
        tensor_index.insert(info.name.clone(), tensors.len());
        tensors.push(info);
    }

    // ---- data section ----
    // Header size <= file size and alignment <= 2^31, so this cannot overflow.
    let data_offset = align_up(cur.pos(), alignment).unwrap_or(u64::MAX);
    if n_tensors > 0 && data_offset > file_size {
        return Err(GgufError::DataSectionOutOfBounds {
            data_offset,
            file_size,
        });
    }
    check_layout(&tensors, alignment, data_offset, file_size)?;

    Ok(Parsed {
        version,
        alignment,
        data_offset,
        metadata,
        key_index,
        tensors,
        tensor_index,
    })
}

fn check_version(version: u32) -> Result<(), GgufError> {
    let hint = match version {
        2 | 3 => return Ok(()),
        1 => "; GGUF v1 is obsolete, re-convert the model",
        v if v & 0xffff == 0 && matches!(v.swap_bytes(), 1..=3) => {
            "; this looks like a big-endian file and only little-endian GGUF is supported"
        }
        _ => "",
    };
    Err(GgufError::UnsupportedVersion { version, hint })
}

/// A count read from the header must fit in the bytes left, at `min_bytes` per item.
fn check_count(
    cur: &Cursor,
    what: &'static str,
    count: u64,
    min_bytes: u64,
) -> Result<(), GgufError> {
    let max = cur.remaining() / min_bytes;
    if count > max {
        return Err(GgufError::CountTooLarge {
            what,
            count,
            offset: cur.pos(),
            available: cur.remaining(),
            max,
        });
    }
    Ok(())
}

/// `general.alignment` if present (must be UINT32, a power of two), else 32.
fn alignment_of(
    metadata: &[(String, Value)],
    key_index: &HashMap<String, usize>,
) -> Result<u64, GgufError> {
    let Some(&i) = key_index.get(ALIGNMENT_KEY) else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    match metadata[i].1 {
        Value::U32(a) if a.is_power_of_two() => Ok(a as u64),
        Value::U32(a) => Err(GgufError::BadAlignment { value: a as u64 }),
        ref v => Err(GgufError::WrongType {
            key: ALIGNMENT_KEY.to_string(),
            expected: "UINT32",
            found: v.type_description(),
        }),
    }
}

/// Reads a length-prefixed UTF-8 string. `context` names it in errors.
fn read_string(cur: &mut Cursor, context: &dyn Fn() -> String) -> Result<String, GgufError> {
    let len = cur
        .u64()
        .map_err(|e| truncated(e, format!("length of {}", context())))?;
    let offset = cur.pos();
    let limit = cur.remaining().min(MAX_STRING_LEN);
    if len > limit {
        return Err(GgufError::StringTooLong {
            context: context(),
            len,
            offset,
            limit,
        });
    }
    let bytes = cur.take(len).map_err(|e| truncated(e, context()))?;
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(e) => Err(GgufError::InvalidUtf8 {
            context: context(),
            offset,
            reason: e.to_string(),
        }),
    }
}

/// Bytes of the smallest possible element of a value type, or `None` if the id is unknown.
fn min_value_bytes(type_id: u32) -> Option<u64> {
    Some(match type_id {
        t::U8 | t::I8 | t::BOOL => 1,
        t::U16 | t::I16 => 2,
        t::U32 | t::I32 | t::F32 => 4,
        t::U64 | t::I64 | t::F64 => 8,
        t::STRING => 8,
        t::ARRAY => 4 + 8,
        _ => return None,
    })
}

fn read_type(cur: &mut Cursor, key: &str) -> Result<u32, GgufError> {
    let offset = cur.pos();
    let type_id = cur
        .u32()
        .map_err(|e| truncated(e, format!("value type of key {key:?}")))?;
    match min_value_bytes(type_id) {
        Some(_) => Ok(type_id),
        None => Err(GgufError::UnknownValueType {
            key: key.to_string(),
            type_id,
            offset,
        }),
    }
}

fn read_value(cur: &mut Cursor, key: &str) -> Result<Value, GgufError> {
    let type_id = read_type(cur, key)?;
    let tr = |e| truncated(e, format!("value of key {key:?}"));
    Ok(match type_id {
        t::U8 => Value::U8(cur.u8().map_err(tr)?),
        t::I8 => Value::I8(cur.u8().map_err(tr)? as i8),
        t::U16 => Value::U16(u16::from_le_bytes(cur.array().map_err(tr)?)),
        t::I16 => Value::I16(i16::from_le_bytes(cur.array().map_err(tr)?)),
        t::U32 => Value::U32(cur.u32().map_err(tr)?),
        t::I32 => Value::I32(i32::from_le_bytes(cur.array().map_err(tr)?)),
        t::F32 => Value::F32(f32::from_le_bytes(cur.array().map_err(tr)?)),
        t::BOOL => Value::Bool(read_bool(cur, key)?),
        t::STRING => Value::String(read_string(cur, &|| format!("value of key {key:?}"))?),
        t::U64 => Value::U64(cur.u64().map_err(tr)?),
        t::I64 => Value::I64(i64::from_le_bytes(cur.array().map_err(tr)?)),
        t::F64 => Value::F64(f64::from_le_bytes(cur.array().map_err(tr)?)),
        _ => Value::Array(read_array(cur, key, 1)?), // t::ARRAY (read_type rejected others)
    })
}

fn read_bool(cur: &mut Cursor, key: &str) -> Result<bool, GgufError> {
    let offset = cur.pos();
    match cur
        .u8()
        .map_err(|e| truncated(e, format!("value of key {key:?}")))?
    {
        0 => Ok(false),
        1 => Ok(true),
        value => Err(GgufError::InvalidBool {
            key: key.to_string(),
            offset,
            value,
        }),
    }
}

/// Reads element type, count and elements of an array at nesting level `depth` (1 = outermost).
fn read_array(cur: &mut Cursor, key: &str, depth: usize) -> Result<Array, GgufError> {
    if depth > MAX_ARRAY_DEPTH {
        return Err(GgufError::ArrayTooDeep {
            key: key.to_string(),
            offset: cur.pos(),
            max: MAX_ARRAY_DEPTH,
        });
    }
    let type_id = read_type(cur, key)?;
    let offset = cur.pos();
    let n = cur
        .u64()
        .map_err(|e| truncated(e, format!("array length of key {key:?}")))?;
    let min = min_value_bytes(type_id).unwrap_or(1);
    if n > cur.remaining() / min {
        return Err(GgufError::ArrayTooLong {
            key: key.to_string(),
            len: n,
            offset,
            needed: n as u128 * min as u128,
            available: cur.remaining(),
        });
    }
    // From here on `n * min <= remaining`, so fixed-size payloads cannot overflow or run out.
    let tr = |e| truncated(e, format!("array of key {key:?}"));
    Ok(match type_id {
        t::U8 => Array::U8(cur.take(n).map_err(tr)?.to_vec()),
        t::I8 => Array::I8(fixed(cur, n, |b: [u8; 1]| b[0] as i8).map_err(tr)?),
        t::U16 => Array::U16(fixed(cur, n, u16::from_le_bytes).map_err(tr)?),
        t::I16 => Array::I16(fixed(cur, n, i16::from_le_bytes).map_err(tr)?),
        t::U32 => Array::U32(fixed(cur, n, u32::from_le_bytes).map_err(tr)?),
        t::I32 => Array::I32(fixed(cur, n, i32::from_le_bytes).map_err(tr)?),
        t::F32 => Array::F32(fixed(cur, n, f32::from_le_bytes).map_err(tr)?),
        t::U64 => Array::U64(fixed(cur, n, u64::from_le_bytes).map_err(tr)?),
        t::I64 => Array::I64(fixed(cur, n, i64::from_le_bytes).map_err(tr)?),
        t::F64 => Array::F64(fixed(cur, n, f64::from_le_bytes).map_err(tr)?),
        t::BOOL => {
            let mut v = Vec::with_capacity(n as usize);
            for _ in 0..n {
                v.push(read_bool(cur, key)?);
            }
            Array::Bool(v)
        }
        t::STRING => {
            let mut v = Vec::with_capacity(n as usize);
            for i in 0..n {
                v.push(read_string(cur, &|| format!("element {i} of key {key:?}"))?);
            }
            Array::String(v)
        }
        _ => {
            let mut v = Vec::with_capacity(n as usize);
            for _ in 0..n {
                v.push(read_array(cur, key, depth + 1)?);
            }
            Array::Array(v)
        }
    })
}

/// `n` little-endian fixed-size elements of `N` bytes each.
fn fixed<T, const N: usize>(
    cur: &mut Cursor,
    n: u64,
    conv: impl Fn([u8; N]) -> T,
) -> Result<Vec<T>, Eof> {
    let bytes = cur.take(n * N as u64)?;
    Ok(bytes
        .chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            conv(a)
        })
        .collect())
}

fn read_tensor_info(
    cur: &mut Cursor,
    index: u64,
    seen: &HashMap<String, usize>,
) -> Result<TensorInfo, GgufError> {
    let offset = cur.pos();
    let name = read_string(cur, &|| format!("name of tensor #{index}"))?;
    if name.len() > MAX_NAME_LEN {
        return Err(GgufError::TensorNameTooLong {
            index,
            offset,
            len: name.len(),
            name,
            max: MAX_NAME_LEN,
        });
    }
    if seen.contains_key(&name) {
        return Err(GgufError::DuplicateTensor {
            name,
            index,
            offset,
        });
    }
    let n_dims = cur
        .u32()
        .map_err(|e| truncated(e, format!("dimension count of tensor {name:?}")))?;
    if n_dims as usize > MAX_DIMS {
        return Err(GgufError::TooManyDims {
            tensor: name,
            n_dims: n_dims as u64,
            max: MAX_DIMS,
        });
    }
    let mut shape = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        shape.push(
            cur.u64()
                .map_err(|e| truncated(e, format!("shape of tensor {name:?}")))?,
        );
    }
    let n_elements = check_shape(&name, &shape)?;
    let type_id = cur
        .u32()
        .map_err(|e| truncated(e, format!("type of tensor {name:?}")))?;
    let Some(ggml_type) = GgmlType::from_u32(type_id) else {
        return Err(GgufError::UnknownGgmlType {
            tensor: name,
            type_id,
        });
    };
    let n_bytes = check_size(&name, ggml_type, &shape, n_elements)?;
    let data_offset = cur
        .u64()
        .map_err(|e| truncated(e, format!("data offset of tensor {name:?}")))?;
    Ok(TensorInfo {
        name,
        ggml_type,
        shape,
        offset: data_offset,
        n_bytes,
    })
}

/// Tensor data must be laid out as ggml writes it (and ggml requires): in table order, back to
/// back, each starting at a multiple of the alignment, all inside the file.
fn check_layout(
    tensors: &[TensorInfo],
    alignment: u64,
    data_offset: u64,
    file_size: u64,
) -> Result<(), GgufError> {
    let mut expected = 0u64;
    for (i, t) in tensors.iter().enumerate() {
        if !t.offset.is_multiple_of(alignment) {
            return Err(GgufError::MisalignedTensor {
                tensor: t.name.clone(),
                offset: t.offset,
                alignment,
            });
        }
        if t.offset < expected {
            let prev = &tensors[i - 1]; // expected > 0 only after the first tensor
            return Err(GgufError::OverlappingTensor {
                tensor: t.name.clone(),
                offset: t.offset,
                previous: prev.name.clone(),
                previous_end: prev.offset + prev.n_bytes,
            });
        }
        if t.offset > expected {
            return Err(GgufError::TensorGap {
                tensor: t.name.clone(),
                offset: t.offset,
                expected,
            });
        }
        let start = data_offset.saturating_add(t.offset);
        let end = start.saturating_add(t.n_bytes);
        if end > file_size {
            return Err(GgufError::TensorDataOutOfBounds {
                tensor: t.name.clone(),
                start,
                end,
                file_size,
            });
        }
        // end <= file_size, so offset + n_bytes is small and padding cannot overflow.
        expected = align_up(t.offset + t.n_bytes, alignment).unwrap_or(u64::MAX);
    }
    Ok(())
}
