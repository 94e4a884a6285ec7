//! A small synthetic EmbeddingGemma-shaped directory with BF16 and F16 weights (the real one is
//! F32), converted to every output type: checks dtype decoding, the +1 norm fold (done in f16
//! for F16 sources, as torch does), type selection, names and shapes, independently of the
//! real model's numbers.

use convert::{ConvertOptions, OutType};
use gguf::{GgmlType, GgufFile};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

const N_EMBD: usize = 64;
const N_FF: usize = 96;
const HEAD_DIM: usize = 32;
const N_HEAD: usize = 2;
const N_LAYER: usize = 2;
const N_VOCAB: usize = 1024;

/// Deterministic values in [-2, 2).
fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}

fn encode(dtype: Dtype, v: &[f32]) -> Vec<u8> {
    match dtype {
        Dtype::BF16 => v
            .iter()
            .flat_map(|x| half::bf16::from_f32(*x).to_le_bytes())
            .collect(),
        Dtype::F16 => v
            .iter()
            .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
            .collect(),
        _ => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

fn decode(dtype: Dtype, b: &[u8]) -> Vec<f32> {
    match dtype {
        Dtype::BF16 => b
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::F16 => b
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        _ => b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    }
}

/// HF tensors: name -> (shape, source bytes).
fn hf_tensors(dtype: Dtype) -> BTreeMap<String, (Vec<usize>, Vec<u8>)> {
    let q = N_HEAD * HEAD_DIM;
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        ("embed_tokens.weight".into(), vec![N_VOCAB, N_EMBD]),
        ("norm.weight".into(), vec![N_EMBD]),
    ];
    for l in 0..N_LAYER {
        for (s, shape) in [
            ("input_layernorm.weight", vec![N_EMBD]),
            ("mlp.down_proj.weight", vec![N_EMBD, N_FF]),
            ("mlp.gate_proj.weight", vec![N_FF, N_EMBD]),
            ("mlp.up_proj.weight", vec![N_FF, N_EMBD]),
            ("post_attention_layernorm.weight", vec![N_EMBD]),
            ("post_feedforward_layernorm.weight", vec![N_EMBD]),
            ("pre_feedforward_layernorm.weight", vec![N_EMBD]),
            ("self_attn.k_norm.weight", vec![HEAD_DIM]),
            ("self_attn.k_proj.weight", vec![HEAD_DIM, N_EMBD]),
            ("self_attn.o_proj.weight", vec![N_EMBD, q]),
            ("self_attn.q_norm.weight", vec![HEAD_DIM]),
            ("self_attn.q_proj.weight", vec![q, N_EMBD]),
            ("self_attn.v_proj.weight", vec![HEAD_DIM, N_EMBD]),
        ] {
            shapes.push((format!("layers.{l}.{s}"), shape));
        }
    }
    shapes
        .into_iter()
        .enumerate()
        .map(|(i, (n, s))| {
            let v = values(i as u64 + 1, s.iter().product());
            (n, (s, encode(dtype, &v)))
        })
        .collect()
}

fn write_st(path: &Path, dtype: Dtype, tensors: &BTreeMap<String, (Vec<usize>, Vec<u8>)>) {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, (s, b))| (n.clone(), TensorView::new(dtype, s.clone(), b).unwrap()))
        .collect();
    fs::write(path, safetensors::serialize(views, &None).unwrap()).unwrap();
}

/// Builds the directory; the tokenizer files are symlinks to the real model's.
fn make_dir(dir: &Path, dtype: Dtype) -> BTreeMap<String, (Vec<usize>, Vec<u8>)> {
    let real = testkit::hf_dir();
    for f in [
        "tokenizer.model",
        "tokenizer.json",
        "tokenizer_config.json",
        "added_tokens.json",
        "config_sentence_transformers.json",
        "modules.json",
    ] {
        std::os::unix::fs::symlink(real.join(f), dir.join(f)).unwrap();
    }
    fs::create_dir(dir.join("1_Pooling")).unwrap();
    std::os::unix::fs::symlink(
        real.join("1_Pooling/config.json"),
        dir.join("1_Pooling/config.json"),
    )
    .unwrap();
    let mut config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(real.join("config.json")).unwrap()).unwrap();
    config["hidden_size"] = N_EMBD.into();
    config["intermediate_size"] = N_FF.into();
    config["head_dim"] = HEAD_DIM.into();
    config["num_attention_heads"] = N_HEAD.into();
    config["num_key_value_heads"] = 1.into();
    config["num_hidden_layers"] = N_LAYER.into();
    config["vocab_size"] = N_VOCAB.into();
    fs::write(
        dir.join("config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();

    let mut all = hf_tensors(dtype);
    write_st(&dir.join("model.safetensors"), dtype, &all);
    for (d, (i, o)) in [("2_Dense", (N_EMBD, 128)), ("3_Dense", (128, N_EMBD))] {
        fs::create_dir(dir.join(d)).unwrap();
        fs::write(
            dir.join(d).join("config.json"),
            format!("{{\"in_features\": {i}, \"out_features\": {o}, \"bias\": false}}"),
        )
        .unwrap();
        let mut t = BTreeMap::new();
        t.insert(
            "linear.weight".to_string(),
            (
                vec![o, i],
                encode(dtype, &values(o as u64 * 7 + i as u64, o * i)),
            ),
        );
        write_st(&dir.join(d).join("model.safetensors"), dtype, &t);
        all.insert(
            format!("{d}/linear.weight"),
            t.remove("linear.weight").unwrap(),
        );
    }
    all
}

fn gguf_name(hf: &str) -> String {
    match hf {
        "2_Dense/linear.weight" => "dense_2.weight".into(),
        "3_Dense/linear.weight" => "dense_3.weight".into(),
        "embed_tokens.weight" => "token_embd.weight".into(),
        "norm.weight" => "output_norm.weight".into(),
        _ => {
            let (l, s) = hf.strip_prefix("layers.").unwrap().split_once('.').unwrap();
            let s = match s {
                "input_layernorm.weight" => "attn_norm.weight",
                "mlp.down_proj.weight" => "ffn_down.weight",
                "mlp.gate_proj.weight" => "ffn_gate.weight",
                "mlp.up_proj.weight" => "ffn_up.weight",
                "post_attention_layernorm.weight" => "post_attention_norm.weight",
                "post_feedforward_layernorm.weight" => "post_ffw_norm.weight",
                "pre_feedforward_layernorm.weight" => "ffn_norm.weight",
                "self_attn.k_norm.weight" => "attn_k_norm.weight",
                "self_attn.k_proj.weight" => "attn_k.weight",
                "self_attn.o_proj.weight" => "attn_output.weight",
                "self_attn.q_norm.weight" => "attn_q_norm.weight",
                "self_attn.q_proj.weight" => "attn_q.weight",
                "self_attn.v_proj.weight" => "attn_v.weight",
                other => panic!("{other}"),
            };
            format!("blk.{l}.{s}")
        }
    }
}

fn check(dtype: Dtype) {
    let dir = tempfile::tempdir().unwrap();
    let src = make_dir(dir.path(), dtype);
    for out_type in [OutType::F32, OutType::F16, OutType::BF16, OutType::Q8_0] {
        let out = dir.path().join(format!("out-{out_type}.gguf"));
        let opts = ConvertOptions {
            out_type,
            name: Some("synthetic".into()),
        };
        let s = convert::convert(dir.path(), &out, &opts, &convert::NoProgress)
            .unwrap_or_else(|e| panic!("{dtype:?} -> {out_type}: {e}"));
        assert_eq!(s.n_tensors, 2 + 2 + 13 * N_LAYER);
        let f = GgufFile::open(&out).unwrap();
        assert_eq!(
            f.get_str_array("tokenizer.ggml.tokens").unwrap().len(),
            N_VOCAB
        );
        assert_eq!(
            f.get_u32("gemma-embedding.embedding_length").unwrap(),
            N_EMBD as u32
        );
        assert_eq!(f.get_str("general.name").unwrap(), "synthetic");
        for (hf, (shape, bytes)) in &src {
            let name = gguf_name(hf);
            let t = f.tensor(&name).unwrap_or_else(|| panic!("{name} missing"));
            let want_shape: Vec<u64> = shape.iter().rev().map(|d| *d as u64).collect();
            assert_eq!(t.shape, want_shape.as_slice(), "{name}");
            let mut v = decode(dtype, bytes);
            let is_norm = hf.ends_with("norm.weight");
            if is_norm {
                for x in &mut v {
                    *x = if dtype == Dtype::F16 {
                        half::f16::from_f32(*x + 1.0).to_f32()
                    } else {
                        *x + 1.0
                    };
                }
            }
            let want_type = match (is_norm || shape.len() == 1, out_type) {
                (true, _) | (_, OutType::F32) => GgmlType::F32,
                (_, OutType::F16) => GgmlType::F16,
                (_, OutType::BF16) => GgmlType::BF16,
                (_, OutType::Q8_0) => GgmlType::Q8_0,
            };
            assert_eq!(t.ggml_type, want_type, "{name} as {out_type}");
            let mut want = Vec::new();
            convert::quant::encode(want_type, &v, &mut want);
            assert!(
                t.data == want.as_slice(),
                "{name}: data differs ({dtype:?} -> {out_type})"
            );
            // Lossless round trips: a source type written as itself keeps its exact bits.
            if !is_norm
                && matches!(
                    (dtype, out_type),
                    (Dtype::BF16, OutType::BF16) | (Dtype::F16, OutType::F16)
                )
            {
                assert!(t.data == bytes.as_slice(), "{name}: not bit-exact");
            }
        }
    }
}

#[test]
fn bf16_sources_convert_to_every_type() {
    check(Dtype::BF16);
}

#[test]
fn f16_sources_convert_to_every_type() {
    check(Dtype::F16);
}
