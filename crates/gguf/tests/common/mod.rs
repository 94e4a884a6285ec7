//! A small valid GGUF written with `GgufWriter`, and helpers to find fields inside it.
#![allow(dead_code)]

use gguf::{Array, GgmlType, GgufError, GgufWriter, Value};

/// Tensors of the fixture: name, type, shape. Two names have equal length so one can be
/// renamed into the other in place.
pub const TENSORS: &[(&str, GgmlType, &[u64])] = &[
    ("token_embd.weight", GgmlType::F32, &[4, 3]),
    ("blk.0.attn_q.weight", GgmlType::Q8_0, &[32, 2]),
    ("blk.0.attn_k.weight", GgmlType::F16, &[8]),
];

/// Metadata of the fixture (every value type, arrays, a nested array, explicit alignment).
pub fn metadata() -> Vec<(&'static str, Value)> {
    vec![
        ("general.architecture", Value::String("test".into())),
        ("general.alignment", Value::U32(32)),
        ("test.count", Value::U32(7)),
        ("test.scale", Value::F32(0.5)),
        ("test.flag", Value::Bool(true)),
        ("test.u8", Value::U8(200)),
        ("test.i8", Value::I8(-5)),
        ("test.u16", Value::U16(65000)),
        ("test.i16", Value::I16(-300)),
        ("test.i32", Value::I32(-70000)),
        ("test.u64", Value::U64(1 << 40)),
        ("test.i64", Value::I64(-(1 << 40))),
        ("test.f64", Value::F64(-2.25)),
        (
            "test.names",
            Value::Array(Array::String(vec!["a".into(), "bb".into(), "ccc".into()])),
        ),
        ("test.values", Value::Array(Array::F32(vec![1.0, 2.0]))),
        ("test.ids", Value::Array(Array::I32(vec![-1, 0, 1]))),
        ("test.bools", Value::Array(Array::Bool(vec![true, false]))),
        (
            "test.nested",
            Value::Array(Array::Array(vec![
                Array::I32(vec![1, 2]),
                Array::I32(vec![3]),
            ])),
        ),
    ]
}

/// Deterministic tensor data: byte j of tensor i is `(i * 31 + j * 7) % 251`, except F16/F32
/// tensors get finite values.
pub fn tensor_data(i: usize, n_bytes: u64) -> Vec<u8> {
    (0..n_bytes as usize)
        .map(|j| match TENSORS[i].1 {
            GgmlType::F32 | GgmlType::F16 if j % 2 == 1 => 0x3c,
            _ => ((i * 31 + j * 7) % 251) as u8,
        })
        .collect()
}

pub fn writer() -> GgufWriter {
    let mut w = GgufWriter::new();
    for (k, v) in metadata() {
        w.add_kv(k, v).unwrap();
    }
    for (name, ty, shape) in TENSORS {
        w.add_tensor(name, *ty, shape).unwrap();
    }
    w
}

/// The fixture file's bytes.
pub fn valid_file() -> Vec<u8> {
    let w = writer();
    let sizes: Vec<u64> = w.tensors().iter().map(|t| t.n_bytes).collect();
    let mut out = Vec::new();
    w.write(&mut out, |i| Ok::<_, GgufError>(tensor_data(i, sizes[i])))
        .unwrap();
    out
}

/// First position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(needle)))
}

/// Offset of the u64 length that starts the length-prefixed string `s` (a key or tensor name).
pub fn string_pos(bytes: &[u8], s: &str) -> usize {
    let mut needle = (s.len() as u64).to_le_bytes().to_vec();
    needle.extend_from_slice(s.as_bytes());
    find(bytes, &needle)
}

/// Offset of the value-type field of metadata key `key`.
pub fn kv_type_pos(bytes: &[u8], key: &str) -> usize {
    string_pos(bytes, key) + 8 + key.len()
}

/// Offset of the value of metadata key `key` (after its type).
pub fn kv_value_pos(bytes: &[u8], key: &str) -> usize {
    kv_type_pos(bytes, key) + 4
}

/// Offsets inside the tensor info of `name`.
pub struct InfoPos {
    pub start: usize,
    pub n_dims: usize,
    pub dims: usize,
    pub ggml_type: usize,
    pub offset: usize,
    pub end: usize,
}

pub fn tensor_info_pos(bytes: &[u8], name: &str) -> InfoPos {
    let start = string_pos(bytes, name);
    let n_dims_pos = start + 8 + name.len();
    let n_dims = u32::from_le_bytes(bytes[n_dims_pos..n_dims_pos + 4].try_into().unwrap()) as usize;
    let dims = n_dims_pos + 4;
    let ggml_type = dims + 8 * n_dims;
    InfoPos {
        start,
        n_dims: n_dims_pos,
        dims,
        ggml_type,
        offset: ggml_type + 4,
        end: ggml_type + 12,
    }
}

pub fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

pub fn get_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// Replaces `bytes[range]` with `with`.
pub fn splice(bytes: &[u8], range: std::ops::Range<usize>, with: &[u8]) -> Vec<u8> {
    let mut v = bytes[..range.start].to_vec();
    v.extend_from_slice(with);
    v.extend_from_slice(&bytes[range.end..]);
    v
}
