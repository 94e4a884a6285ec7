//! Rotary position embedding tables (NeoX style: dimension i pairs with i + head_dim/2).
//! theta(pos, i) = pos · base^(-2i/head_dim), computed in f64 once at load for every position.

/// cos/sin of theta for positions 0..n_ctx of one RoPE base.
pub struct RopeTable {
    half: usize,
    /// [n_ctx, head_dim/2]
    cos: Vec<f32>,
    /// [n_ctx, head_dim/2]
    sin: Vec<f32>,
}

impl RopeTable {
    pub fn new(base: f32, head_dim: usize, n_ctx: usize) -> RopeTable {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(n_ctx * half);
        let mut sin = Vec::with_capacity(n_ctx * half);
        for pos in 0..n_ctx {
            for i in 0..half {
                let inv_freq = (base as f64).powf(-2.0 * i as f64 / head_dim as f64);
                let theta = pos as f64 * inv_freq;
                cos.push(theta.cos() as f32);
                sin.push(theta.sin() as f32);
            }
        }
        RopeTable { half, cos, sin }
    }

    /// (cos, sin) for one position, each [head_dim/2].
    pub fn at(&self, pos: usize) -> (&[f32], &[f32]) {
        let r = pos * self.half..(pos + 1) * self.half;
        (&self.cos[r.clone()], &self.sin[r])
    }
}
