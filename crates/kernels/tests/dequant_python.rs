//! `dequantize_row` against gguf-py's `gguf.quants.dequantize` (llama.cpp's Python reference
//! of ggml's `dequantize_row_*`), bit for bit, on random blocks of every quantized type.
//! Needs `python3` with `gguf` and `numpy` (scripts/test.sh installs them).

use kernels::{dequantize_row, WeightType};
use std::process::Command;

const SCRIPT: &str = r#"
import sys, numpy as np, gguf
from gguf.quants import dequantize
qtype = gguf.GGMLQuantizationType[sys.argv[1]]
raw = np.fromfile(sys.argv[2], dtype=np.uint8)
rows = int(sys.argv[3])
out = dequantize(raw.reshape(rows, -1), qtype).astype(np.float32)
sys.stdout.buffer.write(out.tobytes())
"#;

/// xorshift64*: deterministic bytes without a dev-dependency on the generator's version.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn dequantize_matches_gguf_py_bit_for_bit() {
    let dir = std::env::temp_dir().join(format!("ggufembed-dequant-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut checked = Vec::new();
    for t in WeightType::ALL.into_iter().filter(|t| t.is_quantized()) {
        let (rows, blocks_per_row) = (3, 4);
        let cols = blocks_per_row * t.block_size();
        let rb = t.row_bytes(cols).unwrap();
        let mut data: Vec<u8> = (0..rows * rb).map(|_| rng.next() as u8).collect();
        for blk in data.chunks_exact_mut(t.block_bytes()) {
            for &off in t.f16_fields() {
                // finite f16 (exponent < 31), any sign, including subnormals and zero
                let bits = loop {
                    let b = rng.next() as u16;
                    if (b >> 10) & 0x1f != 0x1f {
                        break b;
                    }
                };
                blk[off..off + 2].copy_from_slice(&bits.to_le_bytes());
            }
        }
        let path = dir.join(format!("{t:?}.bin"));
        std::fs::write(&path, &data).unwrap();
        let out = Command::new("python3")
            .args(["-c", SCRIPT, &format!("{t:?}")])
            .arg(&path)
            .arg(rows.to_string())
            .output()
            .expect("python3 is required (scripts/test.sh installs `gguf` and `numpy`)");
        assert!(
            out.status.success(),
            "gguf-py failed for {t:?} (python3 -m pip install gguf numpy):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs: Vec<u32> = out
            .stdout
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(theirs.len(), rows * cols, "{t:?}: gguf-py output length");
        let mut ours = vec![0f32; cols];
        for r in 0..rows {
            dequantize_row(t, &data[r * rb..(r + 1) * rb], &mut ours).unwrap();
            for (i, v) in ours.iter().enumerate() {
                let want = theirs[r * cols + i];
                assert_eq!(
                    v.to_bits(),
                    want,
                    "{t:?} row {r} element {i}: ours {v} gguf-py {}",
                    f32::from_bits(want)
                );
            }
        }
        checked.push(t);
    }
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(checked.len(), 11, "checked {checked:?}");
}
