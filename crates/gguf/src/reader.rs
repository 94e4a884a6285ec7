//! `GgufFile`: an opened, validated GGUF file. Metadata is parsed at open; tensor data stays in
//! the mmap (or buffer) and is handed out as borrowed slices.

use crate::parse::{parse, Parsed};
use crate::{Array, GgmlType, GgufError, TensorInfo, TensorView, Value};
use std::path::Path;

enum Storage {
    Mmap(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mmap(m) => m,
            Storage::Owned(v) => v,
        }
    }
}

/// A validated GGUF file (versions 2 and 3).
pub struct GgufFile {
    storage: Storage,
    parsed: Parsed,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.parsed.version)
            .field("file_size", &self.file_size())
            .field("n_kv", &self.parsed.metadata.len())
            .field("n_tensors", &self.parsed.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Memory-maps and validates the file. Nothing but metadata is read or copied.
    pub fn open(path: &Path) -> Result<GgufFile, GgufError> {
        let io = |source| GgufError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(io(std::io::Error::other("not a regular file")));
        }
        let len = meta.len();
        let storage = if len == 0 {
            Storage::Owned(Vec::new()) // mmap of an empty file is an error on some systems
        } else {
            let map = crate::mmap::map_file(&file).map_err(io)?;
            Storage::Mmap(map)
        };
        Self::from_storage(storage)
    }

    /// Validates a GGUF file held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
        Self::from_storage(Storage::Owned(bytes))
    }

    fn from_storage(storage: Storage) -> Result<GgufFile, GgufError> {
        let parsed = parse(storage.bytes())?;
        Ok(GgufFile { storage, parsed })
    }

    pub fn version(&self) -> u32 {
        self.parsed.version
    }

    /// Data alignment in bytes (`general.alignment`, default 32).
    pub fn alignment(&self) -> u64 {
        self.parsed.alignment
    }

    pub fn file_size(&self) -> u64 {
        self.storage.bytes().len() as u64
    }

    /// Byte offset of the data section (tensor offsets are relative to it).
    pub fn data_offset(&self) -> u64 {
        self.parsed.data_offset
    }

    /// The whole file.
    pub fn as_bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    /// All key-value pairs in file order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.parsed.metadata
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        let i = *self.parsed.key_index.get(key)?;
        Some(&self.parsed.metadata[i].1)
    }

    fn require(&self, key: &str) -> Result<&Value, GgufError> {
        self.get(key).ok_or_else(|| GgufError::MissingKey {
            key: key.to_string(),
        })
    }

    fn wrong_type(key: &str, expected: &'static str, v: &Value) -> GgufError {
        GgufError::WrongType {
            key: key.to_string(),
            expected,
            found: v.type_description(),
        }
    }

    /// Any integer value converted losslessly to `T`.
    fn get_int<T: TryFrom<i128>>(&self, key: &str, target: &'static str) -> Result<T, GgufError> {
        let v = self.require(key)?;
        let i = v
            .as_i128()
            .ok_or_else(|| Self::wrong_type(key, "an integer", v))?;
        T::try_from(i).map_err(|_| GgufError::ValueOutOfRange {
            key: key.to_string(),
            value: i.to_string(),
            target,
        })
    }

    /// An integer of any width that fits in u32.
    pub fn get_u32(&self, key: &str) -> Result<u32, GgufError> {
        self.get_int(key, "u32")
    }
    /// An integer of any width that fits in u64.
    pub fn get_u64(&self, key: &str) -> Result<u64, GgufError> {
        self.get_int(key, "u64")
    }
    /// An integer of any width that fits in i32.
    pub fn get_i32(&self, key: &str) -> Result<i32, GgufError> {
        self.get_int(key, "i32")
    }
    /// An integer of any width that fits in i64.
    pub fn get_i64(&self, key: &str) -> Result<i64, GgufError> {
        self.get_int(key, "i64")
    }

    /// A FLOAT32, or a FLOAT64 that is exactly representable as f32.
    pub fn get_f32(&self, key: &str) -> Result<f32, GgufError> {
        match *self.require(key)? {
            Value::F32(x) => Ok(x),
            Value::F64(x) if (x as f32) as f64 == x || x.is_nan() => Ok(x as f32),
            Value::F64(x) => Err(GgufError::ValueOutOfRange {
                key: key.to_string(),
                value: x.to_string(),
                target: "f32 (exactly)",
            }),
            ref v => Err(Self::wrong_type(key, "FLOAT32", v)),
        }
    }

    /// A FLOAT32 or FLOAT64.
    pub fn get_f64(&self, key: &str) -> Result<f64, GgufError> {
        match *self.require(key)? {
            Value::F32(x) => Ok(x as f64),
            Value::F64(x) => Ok(x),
            ref v => Err(Self::wrong_type(key, "FLOAT64", v)),
        }
    }

    pub fn get_bool(&self, key: &str) -> Result<bool, GgufError> {
        match *self.require(key)? {
            Value::Bool(b) => Ok(b),
            ref v => Err(Self::wrong_type(key, "BOOL", v)),
        }
    }

    pub fn get_str(&self, key: &str) -> Result<&str, GgufError> {
        match self.require(key)? {
            Value::String(s) => Ok(s),
            v => Err(Self::wrong_type(key, "STRING", v)),
        }
    }

    pub fn get_array(&self, key: &str) -> Result<&Array, GgufError> {
        match self.require(key)? {
            Value::Array(a) => Ok(a),
            v => Err(Self::wrong_type(key, "ARRAY", v)),
        }
    }

    pub fn get_str_array(&self, key: &str) -> Result<&[String], GgufError> {
        match self.require(key)? {
            Value::Array(Array::String(a)) => Ok(a),
            v => Err(Self::wrong_type(key, "ARRAY[STRING]", v)),
        }
    }

    pub fn get_f32_array(&self, key: &str) -> Result<&[f32], GgufError> {
        match self.require(key)? {
            Value::Array(Array::F32(a)) => Ok(a),
            v => Err(Self::wrong_type(key, "ARRAY[FLOAT32]", v)),
        }
    }

    pub fn get_i32_array(&self, key: &str) -> Result<&[i32], GgufError> {
        match self.require(key)? {
            Value::Array(Array::I32(a)) => Ok(a),
            v => Err(Self::wrong_type(key, "ARRAY[INT32]", v)),
        }
    }

    /// Tensor infos in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.parsed.tensors
    }

    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo> {
        let i = *self.parsed.tensor_index.get(name)?;
        Some(&self.parsed.tensors[i])
    }

    /// A zero-copy view of the named tensor.
    pub fn tensor(&self, name: &str) -> Option<TensorView<'_>> {
        let info = self.tensor_info(name)?;
        Some(TensorView {
            name: &info.name,
            ggml_type: info.ggml_type,
            shape: &info.shape,
            data: self.tensor_data(info),
        })
    }

    /// How many tensors of each type the file holds, most frequent first (ties in type-id
    /// order), e.g. `[(Q4_K, 134), (F32, 123), (Q6_K, 13), …]`.
    pub fn type_counts(&self) -> Vec<(GgmlType, usize)> {
        let mut counts: Vec<(GgmlType, usize)> = Vec::new();
        for t in self.tensors() {
            match counts.iter_mut().find(|c| c.0 == t.ggml_type) {
                Some(c) => c.1 += 1,
                None => counts.push((t.ggml_type, 1)),
            }
        }
        counts.sort_by_key(|&(t, n)| (std::cmp::Reverse(n), t.id()));
        counts
    }

    /// The file's weight mix as one line: llama.cpp's file type (`general.file_type`, without
    /// its `MOSTLY_`/`ALL_` prefix; `?` if absent or unknown), then [`type_counts`](Self::type_counts),
    /// e.g. `"Q4_K_M: Q4_K×134, F32×123, Q6_K×13, Q5_0×12, Q8_0×1"`. `inspect`, `ModelInfo`
    /// and the server's `/info` all show this string.
    pub fn weight_mix(&self) -> String {
        let ftype = self
            .get_u32("general.file_type")
            .ok()
            .and_then(crate::file_type_name)
            .map(|n| n.trim_start_matches("MOSTLY_").trim_start_matches("ALL_"))
            .unwrap_or("?");
        let counts: Vec<String> = self
            .type_counts()
            .iter()
            .map(|(t, n)| format!("{t}×{n}"))
            .collect();
        format!("{ftype}: {}", counts.join(", "))
    }

    /// The bytes of a tensor of this file (validated at open to lie inside it). An info from
    /// another file that does not fit gives an empty slice.
    pub fn tensor_data(&self, info: &TensorInfo) -> &[u8] {
        let start = self.parsed.data_offset.saturating_add(info.offset);
        let end = start.saturating_add(info.n_bytes);
        match (usize::try_from(start), usize::try_from(end)) {
            (Ok(s), Ok(e)) => self.storage.bytes().get(s..e).unwrap_or(&[]),
            _ => &[],
        }
    }
}
