//! Writer: read -> write -> read equality, byte-identical rewrites, alignment, the writer's own
//! validation, and the typed getters' errors.

use crate::common;

use common::*;
use gguf::{Array, GgmlType, GgufError as E, GgufFile, GgufWriter, Value};

fn rewrite(f: &GgufFile) -> Vec<u8> {
    let w = GgufWriter::from_file(f).unwrap();
    let mut out = Vec::new();
    w.write(&mut out, |i| {
        Ok::<_, E>(f.tensor_data(&f.tensors()[i]).to_vec())
    })
    .unwrap();
    out
}

#[test]
fn read_write_read_is_identity() {
    let bytes = valid_file();
    let f = GgufFile::from_bytes(bytes.clone()).unwrap();
    // Metadata is exactly what the fixture wrote, in order, with every value type intact.
    let want = metadata();
    assert_eq!(f.metadata().len(), want.len());
    for ((k, v), (wk, wv)) in f.metadata().iter().zip(&want) {
        assert_eq!(k, wk);
        assert_eq!(v, wv, "{k}");
    }
    for (i, (name, ty, shape)) in TENSORS.iter().enumerate() {
        let t = f.tensor(name).unwrap();
        assert_eq!((t.ggml_type, t.shape), (*ty, *shape));
        assert_eq!(t.data, tensor_data(i, t.data.len() as u64));
    }
    assert_eq!(f.tensor(TENSORS[1].0).unwrap().data.len(), 2 * 34); // Q8_0 [32, 2]
    assert_eq!(f.data_offset() % 32, 0);

    // A file we wrote is rewritten byte for byte, and reads back equal.
    let again = rewrite(&f);
    assert!(again == bytes, "rewrite differs from the original");
    let f2 = GgufFile::from_bytes(again).unwrap();
    assert_eq!(f2.metadata(), f.metadata());
    assert_eq!(f2.tensors(), f.tensors());
}

#[test]
fn open_reads_the_same_as_from_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.gguf");
    std::fs::write(&path, valid_file()).unwrap();
    let a = GgufFile::open(&path).unwrap();
    let b = GgufFile::from_bytes(valid_file()).unwrap();
    assert_eq!(a.metadata(), b.metadata());
    assert_eq!(a.tensors(), b.tensors());
    assert_eq!(a.as_bytes(), b.as_bytes());
    assert_eq!(a.file_size(), valid_file().len() as u64);

    let missing = dir.path().join("missing.gguf");
    match GgufFile::open(&missing) {
        Err(E::Io { path, .. }) => assert!(path.ends_with("missing.gguf")),
        r => panic!("expected Io error, got {r:?}"),
    }
    assert!(matches!(GgufFile::open(dir.path()), Err(E::Io { .. })));
    let empty = dir.path().join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(GgufFile::open(&empty), Err(E::Truncated { .. })));
}

#[test]
fn alignment_and_version_are_honoured() {
    let mut w = GgufWriter::new();
    w.set_version(2).unwrap();
    w.add_kv("general.alignment", Value::U32(64)).unwrap();
    w.add_tensor("a", GgmlType::F32, &[3]).unwrap();
    w.add_tensor("b", GgmlType::Q4_0, &[64, 2]).unwrap();
    w.add_tensor("c", GgmlType::BF16, &[5, 1, 1, 2]).unwrap();
    assert_eq!(w.tensors()[1].offset, 64);
    assert_eq!(w.tensors()[2].offset, 64 + 128); // 72 bytes padded to 128
    assert_eq!(w.tensors()[1].n_bytes, 2 * 2 * 18);
    let mut out = Vec::new();
    let sizes: Vec<u64> = w.tensors().iter().map(|t| t.n_bytes).collect();
    w.write(&mut out, |i| {
        Ok::<_, E>(vec![i as u8 + 1; sizes[i] as usize])
    })
    .unwrap();
    assert_eq!(out.len() as u64, w.file_size());
    let f = GgufFile::from_bytes(out).unwrap();
    assert_eq!((f.version(), f.alignment()), (2, 64));
    assert_eq!(f.data_offset() % 64, 0);
    assert_eq!(f.tensor("c").unwrap().data, &[3u8; 20][..]);
    assert_eq!(f.tensor("c").unwrap().shape, &[5, 1, 1, 2]);
}

#[test]
fn writer_rejects_what_the_reader_would() {
    let mut w = GgufWriter::new();
    w.add_kv("k", Value::U8(1)).unwrap();
    assert!(matches!(
        w.add_kv("k", Value::U8(2)),
        Err(E::InvalidKv { .. })
    ));
    assert!(matches!(
        w.add_kv("", Value::U8(2)),
        Err(E::InvalidKv { .. })
    ));
    for bad in [Value::U32(0), Value::U32(24), Value::U64(32)] {
        assert!(matches!(
            w.add_kv("general.alignment", bad),
            Err(E::InvalidKv { .. })
        ));
    }
    let mut deep = Array::U8(vec![1]);
    for _ in 0..gguf::MAX_ARRAY_DEPTH {
        deep = Array::Array(vec![deep]);
    }
    assert!(matches!(
        w.add_kv("deep", Value::Array(deep)),
        Err(E::InvalidKv { .. })
    ));

    w.add_tensor("t", GgmlType::Q8_0, &[64]).unwrap();
    assert!(matches!(
        w.add_kv("general.alignment", Value::U32(64)),
        Err(E::InvalidKv { .. })
    ));
    assert!(matches!(
        w.add_tensor("t", GgmlType::F32, &[1]),
        Err(E::InvalidTensor { .. })
    ));
    let long = "n".repeat(64);
    assert!(matches!(
        w.add_tensor(&long, GgmlType::F32, &[1]),
        Err(E::InvalidTensor { .. })
    ));
    assert!(matches!(
        w.add_tensor("q", GgmlType::Q8_0, &[16]),
        Err(E::RowNotBlockMultiple { .. })
    ));
    assert!(matches!(
        w.add_tensor("r", GgmlType::F32, &[1, 1, 1, 1, 1]),
        Err(E::TooManyDims { .. })
    ));
    assert!(matches!(
        w.add_tensor("s", GgmlType::F32, &[1 << 40, 1 << 40]),
        Err(E::ElementCountOverflow { .. })
    ));

    // Data of the wrong length is refused, naming the tensor.
    let mut out = Vec::new();
    match w.write(&mut out, |_| Ok::<_, E>(vec![0; 10])) {
        Err(E::TensorDataLength {
            tensor,
            expected: 68,
            got: 10,
        }) => assert_eq!(tensor, "t"),
        r => panic!("{r:?}"),
    }
    // The callback's own error type passes through.
    #[derive(Debug)]
    enum MyErr {
        Gguf(E),
        Source,
    }
    impl From<E> for MyErr {
        fn from(e: E) -> Self {
            MyErr::Gguf(e)
        }
    }
    assert!(matches!(
        w.write(&mut Vec::new(), |_| Err::<Vec<u8>, _>(MyErr::Source)),
        Err(MyErr::Source)
    ));
    // An I/O failure is reported as a write error.
    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    assert!(matches!(
        w.write(&mut Full, |_| Ok::<_, MyErr>(vec![0; 68])),
        Err(MyErr::Gguf(E::Write(_)))
    ));
}

#[test]
fn typed_getters_convert_losslessly_and_name_the_key() {
    let f = GgufFile::from_bytes(valid_file()).unwrap();
    assert_eq!(f.get_u32("test.count").unwrap(), 7);
    assert_eq!(f.get_u64("test.count").unwrap(), 7);
    assert_eq!(f.get_i32("test.u8").unwrap(), 200);
    assert_eq!(f.get_i32("test.i16").unwrap(), -300);
    assert_eq!(f.get_u64("test.u64").unwrap(), 1 << 40);
    assert_eq!(f.get_i64("test.i64").unwrap(), -(1 << 40));
    assert_eq!(f.get_f32("test.scale").unwrap(), 0.5);
    assert_eq!(f.get_f32("test.f64").unwrap(), -2.25);
    assert!(f.get_bool("test.flag").unwrap());
    assert_eq!(f.get_str("general.architecture").unwrap(), "test");
    assert_eq!(f.get_str_array("test.names").unwrap(), ["a", "bb", "ccc"]);
    assert_eq!(f.get_f32_array("test.values").unwrap(), [1.0, 2.0]);
    assert_eq!(f.get_i32_array("test.ids").unwrap(), [-1, 0, 1]);

    match f.get_u32("nope") {
        Err(E::MissingKey { key }) => assert_eq!(key, "nope"),
        r => panic!("{r:?}"),
    }
    match f.get_u32("test.i8") {
        Err(e @ E::ValueOutOfRange { .. }) => {
            assert_eq!(
                e.to_string(),
                "metadata key \"test.i8\" has value -5, which does not fit in u32"
            )
        }
        r => panic!("{r:?}"),
    }
    assert!(matches!(
        f.get_u32("test.u64"),
        Err(E::ValueOutOfRange { .. })
    ));
    assert!(matches!(
        f.get_i32("test.u64"),
        Err(E::ValueOutOfRange { .. })
    ));
    match f.get_u32("test.names") {
        Err(e @ E::WrongType { .. }) => assert_eq!(
            e.to_string(),
            "metadata key \"test.names\" has type ARRAY[STRING], expected an integer"
        ),
        r => panic!("{r:?}"),
    }
    assert!(matches!(
        f.get_bool("general.architecture"),
        Err(E::WrongType { .. })
    ));
    assert!(matches!(f.get_str("test.count"), Err(E::WrongType { .. })));
    assert!(matches!(
        f.get_f32_array("test.ids"),
        Err(E::WrongType { .. })
    ));
    assert!(matches!(
        f.get_str_array("test.nested"),
        Err(E::WrongType { .. })
    ));
    assert!(matches!(f.get_f32("test.count"), Err(E::WrongType { .. })));
}
