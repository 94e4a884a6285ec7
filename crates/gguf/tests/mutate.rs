//! Random corruption of a small valid file: bit flips, byte overwrites, truncations, inserted
//! and deleted bytes, and "interesting" values written over count, length, type, dimension and
//! offset fields. Every mutant must open or fail with an error: never panic, hang or allocate
//! without bound. Accepted mutants must also survive a rewrite. Seeded, so failures reproduce.

use crate::common;

use common::*;
use gguf::{GgufError, GgufFile, GgufWriter};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SEED: u64 = 0x6767_7566;
const DEFAULT_MUTATIONS: usize = 500_000;

/// Offsets of every structural field of the fixture (counts, lengths, types, dims, offsets).
fn field_offsets(b: &[u8]) -> Vec<(usize, usize)> {
    let mut f = vec![(4, 4), (8, 8), (16, 8)]; // version, n_tensors, n_kv
    for (k, v) in metadata() {
        f.push((string_pos(b, k), 8));
        f.push((kv_type_pos(b, k), 4));
        if v.as_array().is_some() {
            let p = kv_value_pos(b, k);
            f.push((p, 4));
            f.push((p + 4, 8));
            f.push((p + 12, 8)); // first element (string length / nested type)
        } else {
            f.push((kv_value_pos(b, k), 8.min(b.len())));
        }
    }
    for (name, _, shape) in TENSORS {
        let p = tensor_info_pos(b, name);
        f.push((p.start, 8));
        f.push((p.n_dims, 4));
        for d in 0..shape.len() {
            f.push((p.dims + 8 * d, 8));
        }
        f.push((p.ggml_type, 4));
        f.push((p.offset, 8));
    }
    f
}

fn interesting_u64(rng: &mut StdRng, file_len: usize) -> u64 {
    let choices = [
        0,
        1,
        2,
        3,
        4,
        5,
        8,
        9,
        12,
        13,
        31,
        32,
        33,
        64,
        255,
        256,
        file_len as u64,
        file_len as u64 - 1,
        file_len as u64 + 1,
        u32::MAX as u64,
        1 << 32,
        i64::MAX as u64,
        1 << 63,
        u64::MAX,
        u64::MAX - 1,
        1 << 62,
        1 << 60,
    ];
    if rng.gen_bool(0.8) {
        choices[rng.gen_range(0..choices.len())]
    } else {
        rng.gen()
    }
}

fn mutate(rng: &mut StdRng, valid: &[u8], fields: &[(usize, usize)]) -> Vec<u8> {
    let mut b = valid.to_vec();
    for _ in 0..rng.gen_range(1..=3) {
        if b.is_empty() {
            break;
        }
        let len = b.len();
        match rng.gen_range(0..9) {
            0 => {
                let i = rng.gen_range(0..len);
                b[i] ^= 1 << rng.gen_range(0..8);
            }
            1 => {
                let i = rng.gen_range(0..len);
                b[i] = rng.gen();
            }
            2 => b.truncate(rng.gen_range(0..len)),
            3 | 4 => {
                // an interesting value over a structural field
                let (at, width) = fields[rng.gen_range(0..fields.len())];
                let v = interesting_u64(rng, len).to_le_bytes();
                let end = (at + width).min(len);
                if at < end {
                    b[at..end].copy_from_slice(&v[..end - at]);
                }
            }
            5 => {
                // an interesting u64 at any offset
                let at = rng.gen_range(0..len);
                let v = interesting_u64(rng, len).to_le_bytes();
                let end = (at + 8).min(len);
                b[at..end].copy_from_slice(&v[..end - at]);
            }
            6 => {
                let at = rng.gen_range(0..=len);
                let n = rng.gen_range(1..16);
                let ins: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                b.splice(at..at, ins);
            }
            7 => {
                let at = rng.gen_range(0..len);
                let end = (at + rng.gen_range(1..32)).min(len);
                b.drain(at..end);
            }
            _ => {
                // copy a chunk of the file over another place
                let from = rng.gen_range(0..len);
                let to = rng.gen_range(0..len);
                let n = rng.gen_range(1..24).min(len - from).min(len - to);
                let chunk = b[from..from + n].to_vec();
                b[to..to + n].copy_from_slice(&chunk);
            }
        }
    }
    b
}

fn rewrite(f: &GgufFile) -> Result<Vec<u8>, GgufError> {
    let w = GgufWriter::from_file(f)?;
    let mut out = Vec::new();
    w.write(&mut out, |i| {
        Ok::<_, GgufError>(f.tensor_data(&f.tensors()[i]).to_vec())
    })?;
    Ok(out)
}

/// What an accepted mutant must satisfy.
fn check_accepted(f: &GgufFile) {
    for t in f.tensors() {
        let v = f.tensor(&t.name).expect("listed tensor is found by name");
        assert_eq!(v.data.len() as u64, t.n_bytes, "{}", t.name);
        assert_eq!(v.n_elements(), t.n_elements());
    }
    for (k, v) in f.metadata() {
        assert!(std::ptr::eq(f.get(k).expect("key found"), v));
        let _ = (f.get_u32(k), f.get_f32(k), f.get_str(k), f.get_str_array(k));
        let _ = v.to_string();
    }
    let w1 = rewrite(f).expect("an accepted file can be rewritten");
    let f2 = GgufFile::from_bytes(w1.clone()).expect("a rewritten file opens");
    assert_eq!(f2.metadata().len(), f.metadata().len());
    assert_eq!(f2.tensors(), f.tensors());
    let w2 = rewrite(&f2).unwrap();
    assert!(w1 == w2, "rewrite is not idempotent");
}

#[test]
fn random_corruptions_never_panic() {
    let n: usize = std::env::var("GGUF_MUTATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_MUTATIONS);
    let valid = valid_file();
    let fields = field_offsets(&valid);
    let mut rng = StdRng::seed_from_u64(SEED);
    let (mut ok, mut err) = (0usize, 0usize);
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    let t0 = std::time::Instant::now();
    for i in 0..n {
        let bytes = mutate(&mut rng, &valid, &fields);
        let result = std::panic::catch_unwind(|| match GgufFile::from_bytes(bytes.clone()) {
            Ok(f) => {
                check_accepted(&f);
                None
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    !msg.is_empty() && !msg.contains('\n'),
                    "one-line message: {msg}"
                );
                Some(
                    format!("{e:?}")
                        .split([' ', '{', '('])
                        .next()
                        .unwrap()
                        .to_string(),
                )
            }
        });
        match result {
            Ok(None) => ok += 1,
            Ok(Some(kind)) => {
                err += 1;
                *kinds.entry(kind).or_default() += 1;
            }
            Err(_) => panic!(
                "mutation #{i} (seed {SEED:#x}) panicked; file bytes: {}",
                hex_dump(&bytes)
            ),
        }
    }
    println!(
        "{n} mutations in {:.2?}: {ok} opened (and rewrote), {err} rejected",
        t0.elapsed()
    );
    for (k, c) in &kinds {
        println!("  {k:<24} {c}");
    }
    assert_eq!(ok + err, n);
    assert!(err > n / 2, "most corruptions must be caught");
    assert!(kinds.len() >= 15, "mutations reach many checks: {kinds:?}");
}

fn hex_dump(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
