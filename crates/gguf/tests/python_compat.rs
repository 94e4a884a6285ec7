//! Interoperability with llama.cpp's Python `gguf` package (gguf-py):
//! files we write are read by `gguf.GGUFReader` with the same keys, types, values, tensor names,
//! shapes and bytes; files `gguf.GGUFWriter` writes are read by us and rewritten byte-identical.
//! Needs `python3` with `gguf` (`pip install gguf numpy`, as scripts/test.sh does, or
//! PYTHONPATH=llama.cpp/gguf-py).

use crate::common;

use common::*;
use gguf::{sha256_hex, Array, GgmlType, GgufError, GgufFile, GgufWriter, Value};
use serde_json::{json, Value as Json};
use std::path::Path;
use std::process::Command;

const READ_SCRIPT: &str = r#"
import sys, json, hashlib, gguf
r = gguf.GGUFReader(sys.argv[1])
out = {"version": int(r.fields["GGUF.version"].contents()), "alignment": int(r.alignment),
       "data_offset": int(r.data_offset), "fields": {}, "tensors": []}
for k, f in r.fields.items():
    if not k.startswith("GGUF."):
        out["fields"][k] = {"types": [t.name for t in f.types], "value": f.contents()}
for t in r.tensors:
    out["tensors"].append({"name": t.name, "type": t.tensor_type.name,
        "shape": [int(x) for x in t.shape], "n_bytes": int(t.n_bytes),
        "offset": int(t.data_offset), "sha256": hashlib.sha256(t.data.tobytes()).hexdigest()})
print(json.dumps(out))
"#;

const WRITE_SCRIPT: &str = r#"
import sys, numpy as np, gguf
w = gguf.GGUFWriter(sys.argv[1], "pytest")
w.add_uint8("p.u8", 200); w.add_int8("p.i8", -5); w.add_uint16("p.u16", 65000)
w.add_int16("p.i16", -300); w.add_uint32("p.u32", 4000000000); w.add_int32("p.i32", -70000)
w.add_float32("p.f32", 0.25); w.add_uint64("p.u64", 1 << 40); w.add_int64("p.i64", -(1 << 40))
w.add_float64("p.f64", -2.5); w.add_bool("p.bool", True); w.add_string("p.str", "h\u00e9llo \u2713")
w.add_array("p.strs", ["a", "bb", ""]); w.add_array("p.floats", [1.5, 2.5])
w.add_array("p.ints", [1, -2, 3]); w.add_array("p.nested", [[1, 2], [3]])
w.add_tensor("f32", np.arange(12, dtype=np.float32).reshape(3, 4))
w.add_tensor("f16", np.ones((2, 8), dtype=np.float16))
w.add_tensor("q8", (np.arange(136) % 251).astype(np.uint8).reshape(2, 68), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
"#;

fn python(script: &str, path: &Path) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("python3 is required for this test (scripts/test.sh installs `gguf` and `numpy`)");
    assert!(
        out.status.success(),
        "python gguf failed (install it: python3 -m pip install gguf numpy):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// gguf-py's type list for a value: `[ARRAY, ARRAY, ..., elem]`.
fn py_types(v: &Value) -> Vec<String> {
    fn arr(a: &Array, out: &mut Vec<String>) {
        out.push("ARRAY".into());
        match a {
            Array::Array(v) => arr(&v[0], out),
            a => out.push(a.element_type_name().into()),
        }
    }
    let mut out = Vec::new();
    match v {
        Value::Array(a) => arr(a, &mut out),
        v => out.push(v.type_name().into()),
    }
    out
}

/// gguf-py's `contents()`: scalars as themselves, arrays flattened.
fn py_contents(v: &Value) -> Json {
    fn flat(a: &Array, out: &mut Vec<Json>) {
        match a {
            Array::Array(v) => v.iter().for_each(|x| flat(x, out)),
            a => (0..a.len()).for_each(|i| out.push(py_contents(&a.get(i).unwrap()))),
        }
    }
    match v {
        Value::Array(a) => {
            let mut out = Vec::new();
            flat(a, &mut out);
            Json::Array(out)
        }
        Value::String(s) => json!(s),
        Value::Bool(b) => json!(b),
        Value::F32(x) => json!(*x as f64),
        Value::F64(x) => json!(x),
        v => json!(v.as_i128().unwrap() as i64),
    }
}

fn write_fixture(path: &Path) -> GgufWriter {
    let mut w = writer();
    // More tensor types than the common fixture.
    w.add_tensor("bf16", GgmlType::BF16, &[6, 2]).unwrap();
    w.add_tensor("q4_0", GgmlType::Q4_0, &[64]).unwrap();
    w.add_tensor("q6_k", GgmlType::Q6_K, &[256, 1, 2]).unwrap();
    w.add_tensor("i8", GgmlType::I8, &[5, 1, 1, 3]).unwrap();
    let sizes: Vec<u64> = w.tensors().iter().map(|t| t.n_bytes).collect();
    let mut out = Vec::new();
    w.write(&mut out, |i| {
        Ok::<_, GgufError>((0..sizes[i]).map(|j| (j * 13 + i as u64) as u8).collect())
    })
    .unwrap();
    std::fs::write(path, out).unwrap();
    w
}

#[test]
fn python_gguf_reader_reads_our_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours.gguf");
    write_fixture(&path);
    let ours = GgufFile::open(&path).unwrap();
    let py: Json = serde_json::from_str(&python(READ_SCRIPT, &path)).unwrap();

    assert_eq!(py["version"], 3);
    assert_eq!(py["alignment"], ours.alignment());
    assert_eq!(py["data_offset"], ours.data_offset());
    let fields = py["fields"].as_object().unwrap();
    assert_eq!(fields.len(), ours.metadata().len());
    for (k, v) in ours.metadata() {
        let f = &fields[k];
        assert_eq!(f["types"], json!(py_types(v)), "{k} types");
        assert_eq!(f["value"], py_contents(v), "{k} value");
    }
    let tensors = py["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), ours.tensors().len());
    for (t, p) in ours.tensors().iter().zip(tensors) {
        assert_eq!(p["name"], t.name.as_str());
        assert_eq!(p["type"], t.ggml_type.name(), "{}", t.name);
        assert_eq!(p["shape"], json!(t.shape), "{}", t.name);
        assert_eq!(p["n_bytes"], t.n_bytes, "{}", t.name);
        assert_eq!(p["offset"], ours.data_offset() + t.offset, "{}", t.name);
        assert_eq!(p["sha256"], sha256_hex(ours.tensor_data(t)), "{}", t.name);
    }
    println!(
        "gguf-py read {} keys and {} tensors identically",
        fields.len(),
        tensors.len()
    );
}

#[test]
fn we_read_python_gguf_writer_files_and_rewrite_them_identically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("py.gguf");
    python(WRITE_SCRIPT, &path);
    let f = GgufFile::open(&path).unwrap();

    assert_eq!(f.get_str("general.architecture").unwrap(), "pytest");
    assert_eq!(f.get("p.u8"), Some(&Value::U8(200)));
    assert_eq!(f.get("p.i8"), Some(&Value::I8(-5)));
    assert_eq!(f.get("p.u16"), Some(&Value::U16(65000)));
    assert_eq!(f.get("p.i16"), Some(&Value::I16(-300)));
    assert_eq!(f.get("p.u32"), Some(&Value::U32(4_000_000_000)));
    assert_eq!(f.get("p.i32"), Some(&Value::I32(-70000)));
    assert_eq!(f.get("p.f32"), Some(&Value::F32(0.25)));
    assert_eq!(f.get("p.u64"), Some(&Value::U64(1 << 40)));
    assert_eq!(f.get("p.i64"), Some(&Value::I64(-(1 << 40))));
    assert_eq!(f.get("p.f64"), Some(&Value::F64(-2.5)));
    assert_eq!(f.get("p.bool"), Some(&Value::Bool(true)));
    assert_eq!(f.get_str("p.str").unwrap(), "h\u{e9}llo \u{2713}");
    assert_eq!(f.get_str_array("p.strs").unwrap(), ["a", "bb", ""]);
    assert_eq!(f.get_f32_array("p.floats").unwrap(), [1.5, 2.5]);
    assert_eq!(f.get_i32_array("p.ints").unwrap(), [1, -2, 3]);
    assert_eq!(
        f.get("p.nested"),
        Some(&Value::Array(Array::Array(vec![
            Array::I32(vec![1, 2]),
            Array::I32(vec![3])
        ])))
    );

    let t = f.tensor("f32").unwrap();
    assert_eq!((t.ggml_type, t.shape), (GgmlType::F32, &[4u64, 3][..]));
    let vals: Vec<f32> = t
        .data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(vals, (0..12).map(|i| i as f32).collect::<Vec<_>>());
    let t = f.tensor("f16").unwrap();
    assert_eq!((t.ggml_type, t.shape), (GgmlType::F16, &[8u64, 2][..]));
    assert!(t.data.chunks_exact(2).all(|c| c == [0x00, 0x3c])); // 1.0 in f16
    let t = f.tensor("q8").unwrap();
    assert_eq!((t.ggml_type, t.shape), (GgmlType::Q8_0, &[64u64, 2][..]));
    assert!(t
        .data
        .iter()
        .enumerate()
        .all(|(i, &b)| b as usize == i % 251));

    // Our writer reproduces gguf-py's file byte for byte.
    let w = GgufWriter::from_file(&f).unwrap();
    let mut out = Vec::new();
    w.write(&mut out, |i| {
        Ok::<_, GgufError>(f.tensor_data(&f.tensors()[i]).to_vec())
    })
    .unwrap();
    assert!(out == f.as_bytes(), "rewrite of gguf-py's file differs");
}
