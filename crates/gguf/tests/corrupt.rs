//! A table of handcrafted corrupt files, each derived from a small valid file written with
//! `GgufWriter`, and the exact error each must produce. Run with `--nocapture` for the table.

use crate::common;

use common::*;
use gguf::{GgufError as E, GgufFile};

type Check = fn(&E) -> bool;

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    /// `None`: the file is valid and must open.
    expect: Option<(&'static str, Check)>,
}

fn case(name: &'static str, bytes: Vec<u8>, variant: &'static str, check: Check) -> Case {
    Case {
        name,
        bytes,
        expect: Some((variant, check)),
    }
}

fn with(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = valid_file();
    f(&mut b);
    b
}

/// Encodes one key-value pair: key, type, raw value bytes.
fn kv(key: &str, type_id: u32, value: &[u8]) -> Vec<u8> {
    let mut b = (key.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(key.as_bytes());
    b.extend_from_slice(&type_id.to_le_bytes());
    b.extend_from_slice(value);
    b
}

/// Replaces the whole key-value pair `key` (whose value is `old_len` bytes) with `new_kv`.
fn replace_kv(key: &str, old_len: usize, new_kv: &[u8]) -> Vec<u8> {
    let b = valid_file();
    let start = string_pos(&b, key);
    let end = kv_value_pos(&b, key) + old_len;
    splice(&b, start..end, new_kv)
}

/// Byte length of the fixture's `test.nested` value: type, count, 2 x (type, count, i32s).
const NESTED_LEN: usize = 4 + 8 + (12 + 8) + (12 + 4);

fn cases() -> Vec<Case> {
    let valid = valid_file();
    let t0 = TENSORS[0].0;
    let t1 = TENSORS[1].0;
    let t2 = TENSORS[2].0;
    vec![
        Case {
            name: "valid file (v3)",
            bytes: valid.clone(),
            expect: None,
        },
        Case {
            name: "valid file relabelled v2",
            bytes: with(|b| put_u32(b, 4, 2)),
            expect: None,
        },
        Case {
            // ggml accepts ne = 0 (an empty tensor). Only the last tensor can shrink in
            // place without leaving a gap before the next one.
            name: "zero-sized dimension (last tensor F16 [8] -> [0])",
            bytes: with(|b| {
                let p = tensor_info_pos(b, t2);
                put_u64(b, p.dims, 0)
            }),
            expect: None,
        },
        case("empty file", Vec::new(), "Truncated", |e| {
            matches!(e, E::Truncated { offset: 0, .. })
        }),
        case("bad magic", with(|b| b[3] = b'X'), "BadMagic", |e| {
            matches!(e, E::BadMagic { .. })
        }),
        case(
            "version 1",
            with(|b| put_u32(b, 4, 1)),
            "UnsupportedVersion",
            |e| matches!(e, E::UnsupportedVersion { version: 1, .. }),
        ),
        case(
            "version 4",
            with(|b| put_u32(b, 4, 4)),
            "UnsupportedVersion",
            |e| matches!(e, E::UnsupportedVersion { version: 4, .. }),
        ),
        case(
            "big-endian version",
            with(|b| put_u32(b, 4, 3u32.swap_bytes())),
            "UnsupportedVersion",
            |e| matches!(e, E::UnsupportedVersion { hint, .. } if hint.contains("big-endian")),
        ),
        case(
            "truncated inside header",
            valid[..20].to_vec(),
            "Truncated",
            |e| {
                matches!(
                    e,
                    E::Truncated {
                        offset: 16,
                        needed: 8,
                        available: 4,
                        ..
                    }
                )
            },
        ),
        case(
            "n_kv = 2^64-1",
            with(|b| put_u64(b, 16, u64::MAX)),
            "CountTooLarge",
            |e| {
                matches!(
                    e,
                    E::CountTooLarge {
                        count: u64::MAX,
                        ..
                    }
                )
            },
        ),
        case(
            "n_tensors = 2^40",
            with(|b| put_u64(b, 8, 1 << 40)),
            "CountTooLarge",
            |e| {
                matches!(
                    e,
                    E::CountTooLarge {
                        what: "tensor count",
                        ..
                    }
                )
            },
        ),
        case(
            "key length past end of file",
            with(|b| {
                let p = string_pos(b, "test.count");
                put_u64(b, p, 1 << 50)
            }),
            "StringTooLong",
            |e| matches!(e, E::StringTooLong { len, .. } if *len == 1 << 50),
        ),
        case(
            "invalid UTF-8 in key",
            with(|b| {
                let p = string_pos(b, "test.count");
                b[p + 8] = 0xff
            }),
            "InvalidUtf8",
            |e| matches!(e, E::InvalidUtf8 { context, .. } if context.contains("key #2")),
        ),
        case(
            "invalid UTF-8 in string array element",
            with(|b| {
                let p = kv_value_pos(b, "test.names") + 12 + 9 + 8; // element 1 = "bb"
                b[p] = 0xc3; // lead byte followed by ASCII: invalid
            }),
            "InvalidUtf8",
            |e| matches!(e, E::InvalidUtf8 { context, .. } if context.contains("element 1 of key \"test.names\"")),
        ),
        case(
            "duplicate key",
            with(|b| {
                let p = string_pos(b, "test.scale");
                b[p + 8..p + 18].copy_from_slice(b"test.count")
            }),
            "DuplicateKey",
            |e| matches!(e, E::DuplicateKey { key, .. } if key == "test.count"),
        ),
        case(
            "empty key",
            {
                let b = valid_file();
                let p = string_pos(&b, "test.count");
                splice(&b, p..p + 18, &0u64.to_le_bytes())
            },
            "EmptyKey",
            |e| matches!(e, E::EmptyKey { index: 2, .. }),
        ),
        case(
            "unknown value type 13",
            with(|b| {
                let p = kv_type_pos(b, "test.count");
                put_u32(b, p, 13)
            }),
            "UnknownValueType",
            |e| matches!(e, E::UnknownValueType { key, type_id: 13, .. } if key == "test.count"),
        ),
        case(
            "unknown array element type",
            with(|b| {
                let p = kv_value_pos(b, "test.values");
                put_u32(b, p, 99)
            }),
            "UnknownValueType",
            |e| matches!(e, E::UnknownValueType { key, type_id: 99, .. } if key == "test.values"),
        ),
        case(
            "array length 2^60",
            with(|b| {
                let p = kv_value_pos(b, "test.values") + 4;
                put_u64(b, p, 1 << 60)
            }),
            "ArrayTooLong",
            |e| matches!(e, E::ArrayTooLong { key, .. } if key == "test.values"),
        ),
        case(
            "string array element length past end",
            with(|b| {
                let p = kv_value_pos(b, "test.names") + 12;
                put_u64(b, p, u64::MAX)
            }),
            "StringTooLong",
            |e| matches!(e, E::StringTooLong { context, .. } if context.contains("element 0 of key \"test.names\"")),
        ),
        case(
            "bool value 2",
            with(|b| {
                let p = kv_value_pos(b, "test.flag");
                b[p] = 2
            }),
            "InvalidBool",
            |e| matches!(e, E::InvalidBool { key, value: 2, .. } if key == "test.flag"),
        ),
        case(
            "arrays nested 9 deep",
            {
                let mut v = Vec::new();
                for _ in 0..8 {
                    v.extend_from_slice(&9u32.to_le_bytes()); // element type ARRAY
                    v.extend_from_slice(&1u64.to_le_bytes());
                }
                v.extend_from_slice(&4u32.to_le_bytes()); // innermost: UINT32 x 1
                v.extend_from_slice(&1u64.to_le_bytes());
                v.extend_from_slice(&7u32.to_le_bytes());
                replace_kv("test.nested", NESTED_LEN, &kv("test.nested", 9, &v))
            },
            "ArrayTooDeep",
            |e| matches!(e, E::ArrayTooDeep { key, .. } if key == "test.nested"),
        ),
        case(
            "general.alignment = 0",
            with(|b| {
                let p = kv_value_pos(b, "general.alignment");
                put_u32(b, p, 0)
            }),
            "BadAlignment",
            |e| matches!(e, E::BadAlignment { value: 0 }),
        ),
        case(
            "general.alignment = 48",
            with(|b| {
                let p = kv_value_pos(b, "general.alignment");
                put_u32(b, p, 48)
            }),
            "BadAlignment",
            |e| matches!(e, E::BadAlignment { value: 48 }),
        ),
        case(
            "general.alignment is INT32",
            with(|b| {
                let p = kv_type_pos(b, "general.alignment");
                put_u32(b, p, 5)
            }),
            "WrongType",
            |e| matches!(e, E::WrongType { key, .. } if key == "general.alignment"),
        ),
        case(
            "duplicate tensor name",
            with(|b| {
                let p = tensor_info_pos(b, t2).start + 8;
                b[p..p + t1.len()].copy_from_slice(t1.as_bytes())
            }),
            "DuplicateTensor",
            |e| matches!(e, E::DuplicateTensor { name, index: 2, .. } if name == TENSORS[1].0),
        ),
        case(
            "tensor name of 64 bytes",
            {
                let b = valid_file();
                let p = tensor_info_pos(&b, t0).start;
                let long = "x".repeat(64);
                let mut s = 64u64.to_le_bytes().to_vec();
                s.extend_from_slice(long.as_bytes());
                splice(&b, p..p + 8 + t0.len(), &s)
            },
            "TensorNameTooLong",
            |e| {
                matches!(
                    e,
                    E::TensorNameTooLong {
                        len: 64,
                        index: 0,
                        ..
                    }
                )
            },
        ),
        case(
            "n_dims = 5",
            with(|b| {
                let p = tensor_info_pos(b, t0);
                put_u32(b, p.n_dims, 5)
            }),
            "TooManyDims",
            |e| matches!(e, E::TooManyDims { tensor, n_dims: 5, .. } if tensor == TENSORS[0].0),
        ),
        case(
            "dimension > INT64_MAX",
            with(|b| {
                let p = tensor_info_pos(b, t0);
                put_u64(b, p.dims + 8, 1 << 63)
            }),
            "DimTooLarge",
            |e| matches!(e, E::DimTooLarge { dim: 1, .. }),
        ),
        case(
            "element count overflows int64",
            with(|b| {
                let p = tensor_info_pos(b, t0);
                put_u64(b, p.dims + 8, 1 << 62) // 4 * 2^62 = 2^64
            }),
            "ElementCountOverflow",
            |e| matches!(e, E::ElementCountOverflow { tensor, .. } if tensor == TENSORS[0].0),
        ),
        case(
            "byte size overflows u64",
            with(|b| {
                let p = tensor_info_pos(b, t0);
                put_u64(b, p.dims + 8, 1 << 60) // 2^62 F32 elements = 2^64 bytes
            }),
            "ByteSizeOverflow",
            |e| matches!(e, E::ByteSizeOverflow { .. }),
        ),
        case(
            "retired ggml type 4 (Q4_2)",
            with(|b| {
                let p = tensor_info_pos(b, t0);
                put_u32(b, p.ggml_type, 4)
            }),
            "UnknownGgmlType",
            |e| matches!(e, E::UnknownGgmlType { type_id: 4, .. }),
        ),
        case(
            "ggml type 1000",
            with(|b| {
                let p = tensor_info_pos(b, t0);
                put_u32(b, p.ggml_type, 1000)
            }),
            "UnknownGgmlType",
            |e| matches!(e, E::UnknownGgmlType { type_id: 1000, .. }),
        ),
        case(
            "Q8_0 row of 48 elements",
            with(|b| {
                let p = tensor_info_pos(b, t1);
                put_u64(b, p.dims, 48)
            }),
            "RowNotBlockMultiple",
            |e| {
                matches!(
                    e,
                    E::RowNotBlockMultiple {
                        ne0: 48,
                        block_size: 32,
                        ..
                    }
                )
            },
        ),
        case(
            "F32 tensor relabelled Q4_K",
            with(|b| {
                let p = tensor_info_pos(b, t0);
                put_u32(b, p.ggml_type, 12)
            }),
            "RowNotBlockMultiple",
            |e| {
                matches!(
                    e,
                    E::RowNotBlockMultiple {
                        block_size: 256,
                        ..
                    }
                )
            },
        ),
        case(
            "misaligned tensor offset",
            with(|b| {
                let p = tensor_info_pos(b, t1).offset;
                let v = get_u64(b, p);
                put_u64(b, p, v + 4)
            }),
            "MisalignedTensor",
            |e| matches!(e, E::MisalignedTensor { tensor, alignment: 32, .. } if tensor == TENSORS[1].0),
        ),
        case(
            "overlapping tensors",
            with(|b| {
                let p = tensor_info_pos(b, t1).offset;
                put_u64(b, p, 0)
            }),
            "OverlappingTensor",
            |e| matches!(e, E::OverlappingTensor { previous, .. } if previous == TENSORS[0].0),
        ),
        case(
            "gap between tensors",
            with(|b| {
                let p = tensor_info_pos(b, t1).offset;
                let v = get_u64(b, p);
                put_u64(b, p, v + 32)
            }),
            "TensorGap",
            |e| matches!(e, E::TensorGap { .. }),
        ),
        case(
            "last tensor larger than the file",
            with(|b| {
                let p = tensor_info_pos(b, t2);
                put_u64(b, p.dims, 1 << 20)
            }),
            "TensorDataOutOfBounds",
            |e| matches!(e, E::TensorDataOutOfBounds { tensor, .. } if tensor == TENSORS[2].0),
        ),
        case(
            "file cut inside the last tensor",
            valid[..valid.len() - 20].to_vec(), // F16[8] = 16 bytes + 16 padding
            "TensorDataOutOfBounds",
            |e| matches!(e, E::TensorDataOutOfBounds { .. }),
        ),
        case(
            "file cut after the tensor infos (no data section)",
            {
                let end = tensor_info_pos(&valid, t2).end;
                assert!(
                    !end.is_multiple_of(32),
                    "fixture header must not end aligned"
                );
                valid[..end].to_vec()
            },
            "DataSectionOutOfBounds",
            |e| matches!(e, E::DataSectionOutOfBounds { .. }),
        ),
        case(
            "file cut inside a tensor info",
            valid[..tensor_info_pos(&valid, t1).dims + 3].to_vec(),
            "Truncated",
            |e| matches!(e, E::Truncated { what, .. } if what.contains(TENSORS[1].0)),
        ),
        case(
            "file cut inside a scalar value",
            valid[..kv_value_pos(&valid, "test.u64") + 3].to_vec(),
            "Truncated",
            |e| matches!(e, E::Truncated { what, needed: 8, available: 3, .. } if what.contains("test.u64")),
        ),
        case(
            "file cut inside an array",
            valid[..kv_value_pos(&valid, "test.names") + 14].to_vec(),
            "ArrayTooLong",
            |e| matches!(e, E::ArrayTooLong { key, len: 3, .. } if key == "test.names"),
        ),
    ]
}

#[test]
fn corrupt_files_give_the_expected_error() {
    let cases = cases();
    let mut failures = Vec::new();
    println!("| # | corruption | expected | verdict | error message |");
    println!("|---|---|---|---|---|");
    for (i, c) in cases.iter().enumerate() {
        let result = GgufFile::from_bytes(c.bytes.clone());
        let (expected, verdict, msg) = match (&c.expect, &result) {
            (None, Ok(_)) => ("Ok", "PASS", String::new()),
            (None, Err(e)) => ("Ok", "FAIL", e.to_string()),
            (Some((v, _)), Ok(_)) => (*v, "FAIL (opened)", String::new()),
            (Some((v, check)), Err(e)) => {
                (*v, if check(e) { "PASS" } else { "FAIL" }, e.to_string())
            }
        };
        println!(
            "| {} | {} | {expected} | {verdict} | {msg} |",
            i + 1,
            c.name
        );
        if verdict != "PASS" {
            failures.push(format!("{}: {verdict}: {result:?}", c.name));
        }
    }
    let n_checked = cases.iter().filter(|c| c.expect.is_some()).count();
    assert!(n_checked >= 20, "only {n_checked} corrupt cases");
    assert!(
        failures.is_empty(),
        "failed cases:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_truncation_fails_cleanly() {
    let valid = valid_file();
    // The last tensor's data ends 16 bytes before the end of the file (padding after it is not
    // required), so cuts in the padding still open; every shorter cut must fail.
    let last_data_end = valid.len() - 16;
    let mut n = 0;
    for len in 0..valid.len() {
        let r = GgufFile::from_bytes(valid[..len].to_vec());
        if len < last_data_end {
            assert!(r.is_err(), "cut at {len} of {} opened", valid.len());
            n += 1;
        } else {
            assert!(
                r.is_ok(),
                "cut at {len} inside trailing padding failed: {r:?}"
            );
        }
    }
    println!(
        "{n} truncations of a {}-byte file all failed cleanly",
        valid.len()
    );
}
