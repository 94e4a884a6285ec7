//! A tiny synthetic `gemma-embedding` GGUF (2 layers, n_embd 64) with the real tokenizer's
//! metadata, for fast tests of loading rules and error paths. Weights are deterministic
//! pseudo-random numbers; the vectors mean nothing, but the file is structurally real.

#![allow(dead_code)]

use gguf::{GgmlType, GgufFile, GgufWriter, Value};
use std::path::Path;

pub const N_EMBD: u64 = 64;
pub const N_FF: u64 = 128;
pub const N_HEAD: u64 = 2;
pub const HEAD_DIM: u64 = 32;
pub const N_CTX: u64 = 64;
pub const HIDDEN: u64 = 128;
pub const N_LAYER: u64 = 2;

/// What to change from the well-formed tiny model.
#[derive(Default, Clone)]
pub struct Tweaks {
    pub without_head: bool,
    pub arch: Option<&'static str>,
    /// Tensors to leave out.
    pub drop_tensor: Option<&'static str>,
    /// A tensor whose second dimension gets +32.
    pub reshape_tensor: Option<&'static str>,
    /// A metadata key to leave out (name after `gemma-embedding.`).
    pub drop_key: Option<&'static str>,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn f32_bytes(n: u64, rng: &mut Rng, scale: f32, offset: f32) -> Vec<u8> {
    (0..n)
        .flat_map(|_| (offset + scale * rng.next()).to_le_bytes())
        .collect()
}

/// Q8_0 blocks with scale 2^-7 (f16 0x2000) and pseudo-random quants.
fn q8_0_bytes(n: u64, rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::with_capacity((n / 32 * 34) as usize);
    for _ in 0..n / 32 {
        out.extend_from_slice(&0x2000u16.to_le_bytes());
        out.extend((0..32).map(|_| ((rng.next() * 100.0) as i8) as u8));
    }
    out
}

/// Writes the tiny model to `path`, copying tokenizer metadata from the real model.
pub fn write_tiny_model(path: &Path, tweaks: &Tweaks) {
    let real = GgufFile::open(&testkit::q8_0_model()).expect("real model for tokenizer metadata");
    let n_vocab = real.tensor("token_embd.weight").unwrap().shape[1];

    let mut w = GgufWriter::new();
    let arch = tweaks.arch.unwrap_or("gemma-embedding");
    w.add_kv("general.architecture", Value::String(arch.into()))
        .unwrap();
    w.add_kv("general.name", Value::String("tiny-test".into()))
        .unwrap();
    let a = "gemma-embedding";
    let mut kv: Vec<(&str, Value)> = vec![
        ("block_count", Value::U32(N_LAYER as u32)),
        ("context_length", Value::U32(N_CTX as u32)),
        ("embedding_length", Value::U32(N_EMBD as u32)),
        ("feed_forward_length", Value::U32(N_FF as u32)),
        ("attention.head_count", Value::U32(N_HEAD as u32)),
        ("attention.head_count_kv", Value::U32(1)),
        ("rope.freq_base", Value::F32(1_000_000.0)),
        ("rope.freq_base_swa", Value::F32(10_000.0)),
        ("attention.layer_norm_rms_epsilon", Value::F32(1e-6)),
        ("attention.key_length", Value::U32(HEAD_DIM as u32)),
        ("attention.value_length", Value::U32(HEAD_DIM as u32)),
        ("attention.sliding_window", Value::U32(8)),
        ("attention.sliding_window_pattern", Value::U32(2)),
    ];
    if !tweaks.without_head {
        kv.extend([
            ("dense_2_feat_in", Value::U32(N_EMBD as u32)),
            ("dense_2_feat_out", Value::U32(HIDDEN as u32)),
            ("dense_3_feat_in", Value::U32(HIDDEN as u32)),
            ("dense_3_feat_out", Value::U32(N_EMBD as u32)),
        ]);
    }
    for (k, v) in kv {
        if tweaks.drop_key != Some(k) {
            w.add_kv(&format!("{a}.{k}"), v).unwrap();
        }
    }
    for (k, v) in real.metadata() {
        if k.starts_with("tokenizer.") {
            w.add_kv(k, v.clone()).unwrap();
        }
    }

    // (name, type, shape)
    let mut tensors: Vec<(String, GgmlType, Vec<u64>)> = vec![
        (
            "token_embd.weight".into(),
            GgmlType::Q8_0,
            vec![N_EMBD, n_vocab],
        ),
        ("output_norm.weight".into(), GgmlType::F32, vec![N_EMBD]),
    ];
    if !tweaks.without_head {
        tensors.push(("dense_2.weight".into(), GgmlType::F32, vec![N_EMBD, HIDDEN]));
        tensors.push(("dense_3.weight".into(), GgmlType::F16, vec![HIDDEN, N_EMBD]));
    }
    let n_q = N_HEAD * HEAD_DIM;
    for il in 0..N_LAYER {
        let t = |n: &str| format!("blk.{il}.{n}.weight");
        tensors.extend([
            (t("attn_norm"), GgmlType::F32, vec![N_EMBD]),
            (t("attn_q"), GgmlType::Q8_0, vec![N_EMBD, n_q]),
            (t("attn_k"), GgmlType::F32, vec![N_EMBD, HEAD_DIM]),
            (t("attn_v"), GgmlType::Q8_0, vec![N_EMBD, HEAD_DIM]),
            (t("attn_q_norm"), GgmlType::F32, vec![HEAD_DIM]),
            (t("attn_k_norm"), GgmlType::F32, vec![HEAD_DIM]),
            (t("attn_output"), GgmlType::Q8_0, vec![n_q, N_EMBD]),
            (t("post_attention_norm"), GgmlType::F32, vec![N_EMBD]),
            (t("ffn_norm"), GgmlType::F32, vec![N_EMBD]),
            (t("ffn_gate"), GgmlType::Q8_0, vec![N_EMBD, N_FF]),
            (t("ffn_up"), GgmlType::Q4_0, vec![N_EMBD, N_FF]),
            (t("ffn_down"), GgmlType::BF16, vec![N_FF, N_EMBD]),
            (t("post_ffw_norm"), GgmlType::F32, vec![N_EMBD]),
        ]);
    }
    tensors.retain(|(n, _, _)| Some(n.as_str()) != tweaks.drop_tensor);
    for (n, _, shape) in tensors.iter_mut() {
        if Some(n.as_str()) == tweaks.reshape_tensor {
            shape[1] += 32;
        }
    }
    for (n, t, shape) in &tensors {
        w.add_tensor(n, *t, shape).unwrap();
    }

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    w.write::<_, gguf::GgufError>(&mut out, |i| {
        let (name, t, shape) = &tensors[i];
        let n: u64 = shape.iter().product();
        Ok(match t {
            GgmlType::F32 if shape.len() == 1 => f32_bytes(n, &mut rng, 0.1, 1.0),
            GgmlType::F32 => f32_bytes(n, &mut rng, 0.2, 0.0),
            GgmlType::F16 => (0..n)
                .flat_map(|_| f32_to_f16_bits(0.2 * rng.next()).to_le_bytes())
                .collect(),
            GgmlType::BF16 => (0..n)
                .flat_map(|_| (((0.2 * rng.next()).to_bits() >> 16) as u16).to_le_bytes())
                .collect(),
            GgmlType::Q8_0 => q8_0_bytes(n, &mut rng),
            GgmlType::Q4_0 => {
                let mut b = Vec::new();
                for _ in 0..n / 32 {
                    b.extend_from_slice(&0x2000u16.to_le_bytes());
                    b.extend((0..16).map(|_| ((rng.next() + 1.0) * 127.0) as u8));
                }
                b
            }
            other => panic!("{name}: no generator for {other:?}"),
        })
    })
    .unwrap();
    use std::io::Write;
    out.flush().unwrap();
}

/// Round-to-nearest f32 -> f16 for small normal values (enough for test weights).
fn f32_to_f16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    if exp <= 0 {
        return sign; // flush tiny values to zero
    }
    let mant = (b & 0x7f_ffff) + 0x1000; // round
    let (exp, mant) = if mant & 0x80_0000 != 0 {
        (exp + 1, 0)
    } else {
        (exp, mant >> 13)
    };
    sign | ((exp as u16) << 10) | mant as u16
}
