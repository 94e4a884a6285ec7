//! `ggufembed quantize IN.gguf OUT.gguf TYPE`: re-encodes an F32/F16/BF16 GGUF the way
//! llama.cpp's `llama-quantize` does (no importance matrix): the same per-tensor type choice
//! (`llama_tensor_get_type` in llama-quant.cpp, for the dense architectures this engine runs:
//! gemma-embedding, bert, nomic-bert), the same tensor order (by layer, then name), the same
//! quantizers ([`crate::ggml_quants`]), so every tensor's bytes equal llama-quantize's. The
//! metadata is copied with `general.quantization_version` = 2 and `general.file_type` set
//! (both moved to the end, as gguf.cpp does when it overwrites a key).
//!
//! Not covered: importance matrices, the IQ types, MoE rules, and the 70B/Falcon special
//! cases (no such embedding models).

use crate::ggml_quants::{can_quantize_to, quantize_row};
use crate::{partial_path, ConvertError, Progress};
use gguf::{GgmlType, GgufFile, GgufWriter, Value};
use std::io::Write;
use std::path::Path;

/// A llama.cpp file type (`llama_ftype`) that `quantize` can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileType {
    /// llama-quantize's name, e.g. `"Q4_K_M"`.
    pub name: &'static str,
    /// `general.file_type` value (`LLAMA_FTYPE_*`).
    pub id: u32,
    /// Type of the tensors no rule singles out.
    pub default_type: GgmlType,
}

/// Every file type `quantize` accepts, with llama-quantize's names.
pub const FILE_TYPES: &[FileType] = {
    use GgmlType::*;
    const fn ft(name: &'static str, id: u32, default_type: GgmlType) -> FileType {
        FileType {
            name,
            id,
            default_type,
        }
    }
    &[
        ft("F32", 0, F32),
        ft("F16", 1, F16),
        ft("BF16", 32, BF16),
        ft("Q8_0", 7, Q8_0),
        ft("Q6_K", 18, Q6_K),
        ft("Q5_K_M", 17, Q5_K),
        ft("Q5_K_S", 16, Q5_K),
        ft("Q5_1", 9, Q5_1),
        ft("Q5_0", 8, Q5_0),
        ft("Q4_K_M", 15, Q4_K),
        ft("Q4_K_S", 14, Q4_K),
        ft("Q4_1", 3, Q4_1),
        ft("Q4_0", 2, Q4_0),
        ft("Q3_K_L", 13, Q3_K),
        ft("Q3_K_M", 12, Q3_K),
        ft("Q3_K_S", 11, Q3_K),
        ft("Q2_K", 10, Q2_K),
    ]
};

impl FileType {
    /// Parses a llama-quantize type name (case-insensitive; `q4_k`, `q5_k`, `q3_k` mean the
    /// `_M` variants, as in llama-quantize).
    pub fn parse(s: &str) -> Result<FileType, ConvertError> {
        let up = s.to_ascii_uppercase();
        let name = match up.as_str() {
            "Q4_K" => "Q4_K_M",
            "Q5_K" => "Q5_K_M",
            "Q3_K" => "Q3_K_M",
            other => other,
        };
        FILE_TYPES
            .iter()
            .find(|f| f.name == name)
            .copied()
            .ok_or_else(|| ConvertError::UnknownQuantType {
                name: s.to_string(),
                known: known_names(),
            })
    }

    fn is(&self, name: &str) -> bool {
        self.name == name
    }
}

/// The accepted type names, lower case, comma-separated.
pub fn known_names() -> String {
    FILE_TYPES
        .iter()
        .map(|f| f.name.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(", ")
}

/// llama.cpp's broad tensor categories (`tensor_get_category`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Output,
    TokenEmbd,
    AttnQkv,
    AttnKvB,
    AttnV,
    AttnK,
    AttnQ,
    AttnOutput,
    FfnUp,
    FfnGate,
    FfnDown,
    Other,
}

fn category(name: &str) -> Category {
    use Category::*;
    if name == "output.weight" {
        Output
    } else if name == "token_embd.weight" || name == "per_layer_token_embd.weight" {
        TokenEmbd
    } else if name.contains("attn_qkv.weight") {
        AttnQkv
    } else if name.contains("attn_kv_b.weight") {
        AttnKvB
    } else if name.contains("attn_v.weight") {
        AttnV
    } else if name.contains("attn_k.weight") {
        AttnK
    } else if name.contains("attn_q.weight") {
        AttnQ
    } else if name.contains("attn_output.weight") {
        AttnOutput
    } else if name.contains("ffn_up") {
        FfnUp
    } else if name.contains("ffn_gate") {
        FfnGate
    } else if name.contains("ffn_down") {
        FfnDown
    } else {
        Other
    }
}

/// llama.cpp's `tensor_allows_quantization` (the rules that can apply to encoder models).
fn allows_quantization(name: &str, n_dims: usize) -> bool {
    n_dims >= 2
        && name.ends_with("weight")
        && !name.contains("_norm.weight")
        && !name.contains("ffn_gate_inp.weight")
        && name != "position_embd.weight"
        && name != "token_types.weight"
        && !name.contains("attn_rel_b.weight")
}

/// llama-quantize's tensor order: by layer number (`blk.N.`; other tensors first), then name.
fn layer_of(name: &str) -> i64 {
    name.strip_prefix("blk.")
        .and_then(|r| r.split('.').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(-1)
}

/// The per-file state of llama.cpp's `quantize_state_impl` that the type rules use.
struct TypeRules {
    ft: FileType,
    arch: String,
    n_gqa: u64,
    has_tied_embeddings: bool,
    n_attention_wv: i64,
    n_layer: i64,
    i_attention_wv: i64,
    i_ffn_down: i64,
}

impl TypeRules {
    fn use_more_bits(i: i64, n: i64) -> bool {
        i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
    }

    /// `llama_tensor_get_type` for a tensor that allows quantization.
    fn tensor_type(&mut self, name: &str, ne0: u64) -> GgmlType {
        use GgmlType::*;
        let default = self.ft.default_type;
        if !default.is_quantized() {
            return default;
        }
        let mut t = default;
        let cat = category(name);
        let ft = self.ft;
        let falcon = self.arch == "falcon";
        if cat == Category::Output || (self.has_tied_embeddings && cat == Category::TokenEmbd) {
            if falcon || !ne0.is_multiple_of(t.block_size()) {
                t = Q8_0;
            } else if t != Q8_0 {
                t = Q6_K;
            }
        } else if cat == Category::TokenEmbd {
            // untied token embedding: the default type (IQ/TQ rules only)
        } else if matches!(cat, Category::AttnV | Category::AttnQkv | Category::AttnKvB) {
            if ft.is("Q2_K") {
                t = if self.n_gqa >= 4 { Q4_K } else { Q3_K };
            } else if ft.is("Q3_K_M") {
                t = if self.i_attention_wv < 2 { Q5_K } else { Q4_K };
            } else if ft.is("Q3_K_L") {
                t = Q5_K;
            } else if (ft.is("Q4_K_M") || ft.is("Q5_K_M"))
                && Self::use_more_bits(self.i_attention_wv, self.n_attention_wv)
            {
                t = Q6_K;
            } else if ft.is("Q4_K_S") && self.i_attention_wv < 4 {
                t = Q5_K;
            }
            self.i_attention_wv += 1;
        } else if cat == Category::FfnDown {
            let (i, n) = (self.i_ffn_down, self.n_layer);
            if ft.is("Q2_K") {
                t = Q3_K;
            } else if ft.is("Q3_K_M") {
                t = if i < n / 16 {
                    Q5_K
                } else if !falcon || Self::use_more_bits(i, n) {
                    Q4_K
                } else {
                    Q3_K
                };
            } else if ft.is("Q3_K_L") {
                t = if falcon { Q4_K } else { Q5_K };
            } else if ft.is("Q4_K_M") {
                if falcon {
                    t = if i < n / 16 {
                        Q6_K
                    } else if Self::use_more_bits(i, n) {
                        Q5_K
                    } else {
                        Q4_K
                    };
                } else if Self::use_more_bits(i, n) {
                    t = Q6_K;
                }
            } else if ft.is("Q5_K_M") && Self::use_more_bits(i, n) {
                t = Q6_K;
            } else if ft.is("Q4_K_S") && !falcon && i < n / 8 {
                t = Q5_K;
            }
            self.i_ffn_down += 1;
        } else if cat == Category::AttnOutput {
            if !falcon {
                if ft.is("Q2_K") {
                    t = Q3_K;
                } else if ft.is("Q3_K_M") {
                    t = Q4_K;
                } else if ft.is("Q3_K_L") {
                    t = Q5_K;
                }
            } else if ft.is("Q3_K_L") {
                t = Q4_K;
            }
        }
        // tensor_type_fallback: rows that do not fill whole blocks
        if !ne0.is_multiple_of(t.block_size()) {
            t = match t {
                Q2_K | Q3_K => Q4_0,
                Q4_K => Q5_0,
                Q5_K => Q5_1,
                Q6_K => Q8_0,
                other => other,
            };
            if !ne0.is_multiple_of(t.block_size()) {
                t = F16;
            }
        }
        t
    }
}

/// What [`quantize`] did.
#[derive(Debug, Clone)]
pub struct QuantizeSummary {
    pub n_tensors: usize,
    pub in_bytes: u64,
    pub out_bytes: u64,
    /// (type, tensor count) of the output, most frequent first.
    pub type_counts: Vec<(GgmlType, usize)>,
}

/// One output tensor: its index in the input and its new type.
struct Plan {
    src: usize,
    ty: GgmlType,
}

/// Quantizes `input` to `out` as `ft` (see the module docs), on `threads` threads (0 = all
/// cores). The file is written to `<out>.partial`, synced and renamed.
///
/// Errors: unreadable input; a tensor already quantized (requantizing loses accuracy, and
/// llama-quantize refuses it too) unless it already has its target type; write failures.
pub fn quantize(
    input: &Path,
    out: &Path,
    ft: FileType,
    threads: usize,
    progress: &dyn Progress,
) -> Result<QuantizeSummary, ConvertError> {
    let file = GgufFile::open(input).map_err(|source| ConvertError::Gguf {
        path: input.to_path_buf(),
        source,
    })?;
    let arch = file
        .get_str("general.architecture")
        .unwrap_or("")
        .to_string();
    let arch_u64 = |k: &str| file.get_u64(&format!("{arch}.{k}")).ok();
    let n_layer = arch_u64("block_count").unwrap_or(0) as i64;
    let n_head = arch_u64("attention.head_count").unwrap_or(1);
    let n_head_kv = arch_u64("attention.head_count_kv").unwrap_or(n_head).max(1);

    let mut order: Vec<usize> = (0..file.tensors().len()).collect();
    let tensors = file.tensors();
    order.sort_by(|&a, &b| {
        let (na, nb) = (&tensors[a].name, &tensors[b].name);
        (layer_of(na), na.as_bytes()).cmp(&(layer_of(nb), nb.as_bytes()))
    });
    let mut rules = TypeRules {
        ft,
        arch,
        n_gqa: n_head / n_head_kv,
        has_tied_embeddings: !tensors.iter().any(|t| t.name == "output.weight"),
        n_attention_wv: tensors
            .iter()
            .filter(|t| {
                matches!(
                    category(&t.name),
                    Category::AttnV | Category::AttnQkv | Category::AttnKvB
                )
            })
            .count() as i64,
        n_layer,
        i_attention_wv: 0,
        i_ffn_down: 0,
    };
    let mut plans = Vec::with_capacity(order.len());
    for &i in &order {
        let t = &tensors[i];
        let ty = if allows_quantization(&t.name, t.shape.len()) {
            rules.tensor_type(&t.name, t.shape[0])
        } else {
            t.ggml_type
        };
        if ty != t.ggml_type {
            if !matches!(t.ggml_type, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16) {
                return Err(ConvertError::AlreadyQuantized {
                    path: input.to_path_buf(),
                    tensor: t.name.clone(),
                    ggml_type: t.ggml_type.name(),
                    target: ft.name,
                });
            }
            debug_assert!(can_quantize_to(ty), "{ty}");
        }
        plans.push(Plan { src: i, ty });
    }

    let mut w = GgufWriter::new();
    w.set_version(file.version())?;
    const MOVED: [&str; 2] = ["general.quantization_version", "general.file_type"];
    for (k, v) in file.metadata() {
        if !MOVED.contains(&k.as_str()) && !k.starts_with("split.") {
            w.add_kv(k, v.clone())?;
        }
    }
    w.add_kv(MOVED[0], Value::U32(2))?;
    w.add_kv(MOVED[1], Value::U32(ft.id))?;
    for p in &plans {
        let t = &tensors[p.src];
        w.add_tensor(&t.name, p.ty, &t.shape)?;
    }

    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let in_bytes: u64 = tensors.iter().map(|t| t.n_bytes).sum();
    let tmp = partial_path(out);
    let result = (|| {
        let f = std::fs::File::create(&tmp).map_err(ConvertError::io(&tmp))?;
        let mut bw = std::io::BufWriter::with_capacity(1 << 20, f);
        progress.start(&format!("quantizing to {}", ft.name), in_bytes);
        w.write(&mut bw, |i| -> Result<Vec<u8>, ConvertError> {
            let p = &plans[i];
            let t = &tensors[p.src];
            let data = file.tensor_data(t);
            let bytes = if p.ty == t.ggml_type {
                data.to_vec()
            } else {
                encode_tensor(t.ggml_type, data, t.shape[0] as usize, p.ty, threads)
            };
            progress.inc(t.n_bytes);
            Ok(bytes)
        })
        .map_err(|e| e.at_output(out))?;
        let f = bw
            .into_inner()
            .map_err(|e| ConvertError::io(&tmp)(e.into_error()))?;
        f.sync_all().map_err(ConvertError::io(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, out).map_err(ConvertError::io(out))?;
        progress.finish();
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let mut type_counts: Vec<(GgmlType, usize)> = Vec::new();
    for p in &plans {
        match type_counts.iter_mut().find(|c| c.0 == p.ty) {
            Some(c) => c.1 += 1,
            None => type_counts.push((p.ty, 1)),
        }
    }
    type_counts.sort_by_key(|&(t, n)| (std::cmp::Reverse(n), t.id()));
    let _ = std::io::stderr().flush();
    Ok(QuantizeSummary {
        n_tensors: plans.len(),
        in_bytes,
        out_bytes: std::fs::metadata(out).map_err(ConvertError::io(out))?.len(),
        type_counts,
    })
}

/// Re-encodes one tensor (`src` bytes of F32/F16/BF16 rows of `ne0` values) as `ty`, rows
/// split across `threads` threads (each row is encoded independently, so the split does not
/// change the bytes).
pub fn encode_tensor(
    src_type: GgmlType,
    src: &[u8],
    ne0: usize,
    ty: GgmlType,
    threads: usize,
) -> Vec<u8> {
    let width = match src_type {
        GgmlType::F32 => 4,
        _ => 2,
    };
    let n_rows = src.len() / (width * ne0);
    let encode_rows = |r0: usize, r1: usize| {
        let mut out =
            Vec::with_capacity((r1 - r0) * ty.row_bytes(ne0 as u64).unwrap_or(0) as usize);
        let mut row = vec![0f32; ne0];
        for r in r0..r1 {
            let b = &src[r * width * ne0..(r + 1) * width * ne0];
            for (v, c) in row.iter_mut().zip(b.chunks_exact(width)) {
                *v = match src_type {
                    GgmlType::F32 => f32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                    GgmlType::F16 => half::f16::from_le_bytes([c[0], c[1]]).to_f32(),
                    _ => half::bf16::from_le_bytes([c[0], c[1]]).to_f32(),
                };
            }
            quantize_row(ty, &row, &mut out);
        }
        out
    };
    let threads = threads.clamp(1, n_rows.max(1));
    if threads == 1 {
        return encode_rows(0, n_rows);
    }
    let parts: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let (r0, r1) = (k * n_rows / threads, (k + 1) * n_rows / threads);
                s.spawn(move || encode_rows(r0, r1))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("quantize worker panicked"))
            .collect()
    });
    parts.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_lists_known() {
        assert_eq!(FileType::parse("q4_k_m").unwrap().id, 15);
        assert_eq!(FileType::parse("Q4_K").unwrap().name, "Q4_K_M");
        assert_eq!(
            FileType::parse("q6_k").unwrap().default_type,
            GgmlType::Q6_K
        );
        let e = FileType::parse("q7_k").unwrap_err().to_string();
        assert!(
            e.contains("q7_k") && e.contains("q4_k_m") && e.contains("bf16"),
            "{e}"
        );
    }

    #[test]
    fn gemma_embedding_q4_k_m_rules() {
        let mut r = TypeRules {
            ft: FileType::parse("q4_k_m").unwrap(),
            arch: "gemma-embedding".into(),
            n_gqa: 3,
            has_tied_embeddings: true,
            n_attention_wv: 24,
            n_layer: 24,
            i_attention_wv: 0,
            i_ffn_down: 0,
        };
        use GgmlType::*;
        assert_eq!(r.tensor_type("token_embd.weight", 768), Q6_K);
        assert_eq!(r.tensor_type("dense_2.weight", 768), Q4_K);
        // layer 0: more bits for attn_v (Q6_K) and ffn_down (Q6_K -> Q8_0: 1152 % 256 != 0)
        assert_eq!(r.tensor_type("blk.0.attn_v.weight", 768), Q6_K);
        assert_eq!(r.tensor_type("blk.0.ffn_down.weight", 1152), Q8_0);
        // layer 3 ((3 - 3) % 3 != 2): the defaults, ffn_down falls back to Q5_0
        r.i_attention_wv = 3;
        r.i_ffn_down = 3;
        assert_eq!(r.tensor_type("blk.3.attn_v.weight", 768), Q4_K);
        assert_eq!(r.tensor_type("blk.3.ffn_down.weight", 1152), Q5_0);
        assert_eq!(r.tensor_type("blk.3.attn_q.weight", 768), Q4_K);
    }

    #[test]
    fn order_is_by_layer_then_name() {
        let mut names = [
            "blk.10.a",
            "blk.2.b",
            "token_embd.weight",
            "blk.2.a",
            "dense_2.weight",
        ];
        names.sort_by(|a, b| (layer_of(a), a.as_bytes()).cmp(&(layer_of(b), b.as_bytes())));
        assert_eq!(
            names,
            [
                "dense_2.weight",
                "token_embd.weight",
                "blk.2.a",
                "blk.2.b",
                "blk.10.a"
            ]
        );
    }
}
