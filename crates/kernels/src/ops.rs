//! Element-wise and reduction kernels: RMSNorm, GELU(tanh)·up, NeoX RoPE, dot, L2 normalize.
//!
//! Each public function runs the [`active_isa`](crate::active_isa) path; the `*_with` variants
//! take an explicit [`Isa`] (tests and benchmarks use them to exercise every path).

use crate::Isa;

/// out = x / sqrt(mean(x²) + eps) * weight.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    rms_norm_with(crate::active_isa(), x, weight, eps, out)
}

/// In-place [`rms_norm`].
pub fn rms_norm_inplace(x: &mut [f32], weight: &[f32], eps: f32) {
    assert_eq!(
        x.len(),
        weight.len(),
        "rms_norm: x and weight lengths differ"
    );
    let scale = rms_scale(crate::active_isa(), x, eps);
    for (v, w) in x.iter_mut().zip(weight) {
        *v = *v * scale * w;
    }
}

/// [`rms_norm`] on an explicit path.
pub fn rms_norm_with(isa: Isa, x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    assert_eq!(
        x.len(),
        weight.len(),
        "rms_norm: x and weight lengths differ"
    );
    assert_eq!(x.len(), out.len(), "rms_norm: x and out lengths differ");
    let scale = rms_scale(isa, x, eps);
    for ((o, v), w) in out.iter_mut().zip(x).zip(weight) {
        *o = *v * scale * w;
    }
}

fn rms_scale(isa: Isa, x: &[f32], eps: f32) -> f32 {
    let ss = dot_with(isa, x, x);
    1.0 / (ss / x.len() as f32 + eps).sqrt()
}

/// out = gelu_tanh(gate) * up, with gelu_tanh(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
pub fn gelu_tanh_mul(gate: &[f32], up: &[f32], out: &mut [f32]) {
    gelu_tanh_mul_with(crate::active_isa(), gate, up, out)
}

/// [`gelu_tanh_mul`] on an explicit path.
pub fn gelu_tanh_mul_with(_isa: Isa, gate: &[f32], up: &[f32], out: &mut [f32]) {
    assert_eq!(
        gate.len(),
        up.len(),
        "gelu_tanh_mul: gate and up lengths differ"
    );
    assert_eq!(
        gate.len(),
        out.len(),
        "gelu_tanh_mul: gate and out lengths differ"
    );
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = gelu_tanh_scalar(g) * u;
    }
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_COEF_A: f32 = 0.044_715;

fn gelu_tanh_scalar(x: f32) -> f32 {
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + GELU_COEF_A * x * x * x)).tanh())
}

/// NeoX RoPE on one head `x` ([head_dim]): rotates the pairs (x[i], x[i + head_dim/2]) by the
/// angle whose cosine/sine are `cos[i]`/`sin[i]` ([head_dim/2], for this token's position).
pub fn rope_neox(x: &mut [f32], cos: &[f32], sin: &[f32]) {
    rope_neox_with(crate::active_isa(), x, cos, sin)
}

/// [`rope_neox`] on an explicit path.
pub fn rope_neox_with(_isa: Isa, x: &mut [f32], cos: &[f32], sin: &[f32]) {
    let half = x.len() / 2;
    assert_eq!(x.len() % 2, 0, "rope_neox: head_dim must be even");
    assert!(
        cos.len() == half && sin.len() == half,
        "rope_neox: cos/sin must have head_dim/2 values"
    );
    let (a, b) = x.split_at_mut(half);
    for i in 0..half {
        let (x0, x1) = (a[i], b[i]);
        a[i] = x0 * cos[i] - x1 * sin[i];
        b[i] = x1 * cos[i] + x0 * sin[i];
    }
}

/// Σ a[i]·b[i].
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_with(crate::active_isa(), a, b)
}

/// [`dot`] on an explicit path.
pub fn dot_with(_isa: Isa, a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: lengths differ");
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// x /= max(‖x‖₂, 1e-12) (as PyTorch's `F.normalize`; an all-zero vector stays zero).
pub fn l2_normalize(x: &mut [f32]) {
    l2_normalize_with(crate::active_isa(), x)
}

/// [`l2_normalize`] on an explicit path.
pub fn l2_normalize_with(isa: Isa, x: &mut [f32]) {
    let norm = dot_with(isa, x, x).sqrt().max(1e-12);
    let inv = 1.0 / norm;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_basic() {
        let x = [1.0f32, -2.0, 3.0, -4.0];
        let w = [1.0f32, 2.0, 0.5, 1.0];
        let mut out = [0f32; 4];
        rms_norm(&x, &w, 1e-6, &mut out);
        let rms = ((1.0 + 4.0 + 9.0 + 16.0) / 4.0f64 + 1e-6).sqrt();
        for i in 0..4 {
            assert!((out[i] as f64 - x[i] as f64 / rms * w[i] as f64).abs() < 1e-6);
        }
        let mut y = x;
        rms_norm_inplace(&mut y, &w, 1e-6);
        assert_eq!(y, out);
    }

    #[test]
    fn gelu_values() {
        // torch.nn.functional.gelu(x, approximate="tanh")
        let x = [-3.0f32, -1.0, 0.0, 0.5, 1.0, 2.0];
        let expect = [
            -0.003_637_392,
            -0.158_808,
            0.0,
            0.345_714,
            0.841_192,
            1.954_598,
        ];
        let mut out = [0f32; 6];
        gelu_tanh_mul(&x, &[1.0; 6], &mut out);
        for i in 0..6 {
            assert!(
                (out[i] - expect[i]).abs() < 1e-5,
                "{} {}",
                out[i],
                expect[i]
            );
        }
    }

    #[test]
    fn rope_rotates_halves() {
        let mut x = [1.0f32, 2.0, 3.0, 4.0];
        let (c, s) = (0.3f32.cos(), 0.3f32.sin());
        rope_neox(&mut x, &[c, 1.0], &[s, 0.0]);
        assert!((x[0] - (c - 3.0 * s)).abs() < 1e-6);
        assert!((x[2] - (3.0 * c + s)).abs() < 1e-6);
        assert_eq!((x[1], x[3]), (2.0, 4.0));
    }

    #[test]
    fn l2_and_dot() {
        let mut x = [3.0f32, 4.0];
        assert_eq!(dot(&x, &x), 25.0);
        l2_normalize(&mut x);
        assert!((x[0] - 0.6).abs() < 1e-7 && (x[1] - 0.8).abs() < 1e-7);
        let mut z = [0f32; 3];
        l2_normalize(&mut z);
        assert_eq!(z, [0.0; 3]);
    }
}
