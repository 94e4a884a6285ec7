//! Small JSON helpers: reading a file with errors that name it, typed key lookups with errors
//! that name the key, and an object reader that keeps the file's key order.

use crate::ConvertError;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::path::Path;

/// Reads and parses a JSON file. A missing file is `MissingFile { what }`.
pub fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &'static str,
) -> Result<T, ConvertError> {
    let text = read_text(path, what)?;
    serde_json::from_str(&text).map_err(|source| ConvertError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a UTF-8 text file. A missing file is `MissingFile { what }`.
pub fn read_text(path: &Path, what: &'static str) -> Result<String, ConvertError> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|e| ConvertError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not UTF-8 text ({e})"),
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ConvertError::MissingFile {
            path: path.to_path_buf(),
            what,
        }),
        Err(e) => Err(ConvertError::io(path)(e)),
    }
}

/// Reads an optional JSON file: `Ok(None)` when it does not exist.
pub fn read_json_opt<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<Option<T>, ConvertError> {
    if !path.exists() {
        return Ok(None);
    }
    read_json(path, "optional file").map(Some)
}

/// Typed lookups in a JSON object, with errors naming the file and key.
pub struct Obj<'a> {
    pub path: &'a Path,
    pub map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    pub fn new(path: &'a Path, value: &'a Value) -> Result<Obj<'a>, ConvertError> {
        match value.as_object() {
            Some(map) => Ok(Obj { path, map }),
            None => Err(ConvertError::bad_config(
                path,
                "(top level)",
                "expected a JSON object",
            )),
        }
    }

    /// The value of `key` unless it is absent or `null`.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn bad(&self, key: &str, problem: impl Into<String>) -> ConvertError {
        ConvertError::bad_config(self.path, key, problem)
    }

    /// A non-negative integer, or `default` when absent; an error when present with another type.
    pub fn u64_or(&self, key: &str, default: Option<u64>) -> Result<u64, ConvertError> {
        match self.get(key) {
            None => default.ok_or_else(|| self.bad(key, "missing")),
            Some(v) => v
                .as_u64()
                .ok_or_else(|| self.bad(key, format!("expected a non-negative integer, got {v}"))),
        }
    }

    /// A u64 that must also fit the GGUF u32 keys it is written to, and be positive.
    pub fn dim(&self, key: &str, default: Option<u64>) -> Result<u32, ConvertError> {
        let v = self.u64_or(key, default)?;
        match u32::try_from(v) {
            Ok(v) if v > 0 => Ok(v),
            _ => Err(self.bad(key, format!("{v} is out of range (1..=4294967295)"))),
        }
    }

    /// A number (integer or float), or `default` when absent.
    pub fn f64_or(&self, key: &str, default: Option<f64>) -> Result<f64, ConvertError> {
        match self.get(key) {
            None => default.ok_or_else(|| self.bad(key, "missing")),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| self.bad(key, format!("expected a number, got {v}"))),
        }
    }

    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>, ConvertError> {
        self.get(key)
            .map(|v| {
                v.as_f64()
                    .ok_or_else(|| self.bad(key, format!("expected a number, got {v}")))
            })
            .transpose()
    }

    pub fn opt_obj(&self, key: &str) -> Option<&'a Map<String, Value>> {
        self.get(key).and_then(Value::as_object)
    }
}

/// A JSON object of string values, in file order (serde_json's `Map` sorts its keys).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OrderedStrMap(pub Vec<(String, String)>);

impl<'de> serde::Deserialize<'de> for OrderedStrMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedStrMap;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<OrderedStrMap, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, String>()? {
                    out.push((k, v));
                }
                Ok(OrderedStrMap(out))
            }
        }
        d.deserialize_map(V)
    }
}
