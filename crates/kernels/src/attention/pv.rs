//! out = P·V / Σ for one block, vectorized over the head dimension against V's panels.

#![allow(clippy::needless_range_loop)]

use super::bf16::{fits, PairDot};
use super::block::Block;
use super::{key_range, AttnShape, PV_KEYS};
use crate::simd::{array, F32s, Scalar};

/// Pass 3, P·V: per V panel (head-dim columns d0..d0+wd), per block of PV_KEYS keys, per pair of
/// tokens. Partial sums live in `out` between key blocks (stored and reloaded exactly), so
/// each row still runs one FMA chain over its keys in order. Finally each row is scaled by its
/// 1/Σ. lo..hi is the block's union key range.
///
/// # Safety
/// `S` supported; `b` validated by `simd_block`, its scores already softmaxed.
#[inline(always)]
pub(super) unsafe fn pv<S: F32s, D: PairDot<S>, const NVP: usize, const RP: usize>(
    b: &Block,
    shape: &AttnShape,
    rows: usize,
    lo: usize,
    hi: usize,
) {
    if shape.window.is_none() && b.group <= 2 {
        // SAFETY: per the function contract; global attention: every row's keys are lo..hi.
        // (4-row tiles where RP rows would spill)
        return unsafe {
            if fits::<S, D>(2 * RP, 2) {
                pv_rows::<S, D, RP>(b, rows, lo, hi)
            } else {
                pv_rows::<S, D, 4>(b, rows, lo, hi)
            }
        };
    }
    let n_tok_blk = rows / b.group;
    // SAFETY: per the function contract.
    unsafe {
        let vd = NVP * S::LANES;
        let mut d0 = 0;
        while d0 < b.hd {
            let wd = vd.min(b.hd - d0);
            for r in 0..rows {
                // Stores of a zero the optimizer cannot see: with a known zero it turns them
                // into a `memset` call per row (~5% of a short sequence's attention).
                let o = b.out.add(b.row_off(r) + d0);
                let z = std::hint::black_box(0.0);
                let nv = wd / S::LANES;
                for v in 0..nv {
                    S::store(o.add(v * S::LANES), S::splat(z));
                }
                for x in nv * S::LANES..wd {
                    *o.add(x) = z;
                }
            }
            let panel = b.vt.add(d0 * b.ld);
            let mut jb = lo - lo % D::E;
            while jb < hi {
                let je = (jb + PV_KEYS).min(hi);
                let mut t = 0;
                while t < n_tok_blk {
                    // (token pairs only where their 2·group·NVP accumulators fit)
                    let pair =
                        t + 1 < n_tok_blk && b.group <= 4 && fits::<S, D>(2 * b.group * NVP, NVP);
                    let ra = clip(key_range(shape, b.i0 + t), jb, je);
                    let rb = if pair {
                        clip(key_range(shape, b.i0 + t + 1), jb, je)
                    } else {
                        (0, 0)
                    };
                    let mut dd = 0;
                    while dd < wd {
                        // sub-panel width: the full panel, else single vectors, else scalars
                        let w = if wd == vd {
                            vd
                        } else if dd + S::LANES <= wd {
                            S::LANES
                        } else {
                            1
                        };
                        macro_rules! go {
                            ($g:literal) => {
                                if w == vd {
                                    pv_pair::<S, D, $g, NVP>(
                                        b,
                                        t * b.group,
                                        pair,
                                        ra,
                                        rb,
                                        panel,
                                        wd,
                                        d0 + dd,
                                    )
                                } else if w == S::LANES {
                                    pv_pair::<S, D, $g, 1>(
                                        b,
                                        t * b.group,
                                        pair,
                                        ra,
                                        rb,
                                        panel.add(dd),
                                        wd,
                                        d0 + dd,
                                    )
                                } else {
                                    pv_pair::<Scalar, D::One, $g, 1>(
                                        b,
                                        t * b.group,
                                        pair,
                                        ra,
                                        rb,
                                        panel.add(dd),
                                        wd,
                                        d0 + dd,
                                    )
                                }
                            };
                        }
                        if b.group <= 4 {
                            match b.group {
                                1 => go!(1),
                                2 => go!(2),
                                3 => go!(3),
                                _ => go!(4),
                            }
                        } else {
                            // large groups: one token, 4 rows at a time
                            let mut r = 0;
                            while r < b.group {
                                let n = (b.group - r).min(4);
                                let base = t * b.group + r;
                                macro_rules! one {
                                    ($n:literal) => {
                                        if w == vd {
                                            pv_pair::<S, D, $n, NVP>(
                                                b,
                                                base,
                                                false,
                                                ra,
                                                rb,
                                                panel,
                                                wd,
                                                d0 + dd,
                                            )
                                        } else if w == S::LANES {
                                            pv_pair::<S, D, $n, 1>(
                                                b,
                                                base,
                                                false,
                                                ra,
                                                rb,
                                                panel.add(dd),
                                                wd,
                                                d0 + dd,
                                            )
                                        } else {
                                            pv_pair::<Scalar, D::One, $n, 1>(
                                                b,
                                                base,
                                                false,
                                                ra,
                                                rb,
                                                panel.add(dd),
                                                wd,
                                                d0 + dd,
                                            )
                                        }
                                    };
                                }
                                match n {
                                    1 => one!(1),
                                    2 => one!(2),
                                    3 => one!(3),
                                    _ => one!(4),
                                }
                                r += n;
                            }
                        }
                        dd += w;
                    }
                    t += if pair { 2 } else { 1 };
                }
                jb = je;
            }
            for r in 0..rows {
                let o = b.out.add(b.row_off(r) + d0);
                let iv = *b.inv.add(r);
                for x in 0..wd {
                    *o.add(x) *= iv;
                }
            }
            d0 += wd;
        }
    }
}

/// Pass 3 for global attention when token pairs would give too few rows per tile (at most two
/// query heads per K/V head, e.g. BERT's 12 heads of 12): every row sees the same keys lo..hi,
/// so any rows can share a tile. Per V panel, per column chunk of 2 vectors (then 1 vector,
/// then scalars), tiles of RP rows (then 4, 2, 1) run their whole key range in registers: RP·2
/// independent FMA chains, each row's the same chain over its keys in order as in the pair
/// path, then one multiply by 1/Σ.
///
/// # Safety
/// As [`pv`]; `shape.window` is `None`.
#[inline(always)]
unsafe fn pv_rows<S: F32s, D: PairDot<S>, const RP: usize>(
    b: &Block,
    rows: usize,
    lo: usize,
    hi: usize,
) {
    let l = S::LANES;
    // SAFETY: per the function contract.
    unsafe {
        let mut d0 = 0;
        while d0 < b.hd {
            let wd = b.vd.min(b.hd - d0);
            let panel = b.vt.add(d0 * b.ld);
            let mut dd = 0;
            while dd < wd {
                let w = if dd + 2 * l <= wd {
                    2 * l
                } else if dd + l <= wd {
                    l
                } else {
                    1
                };
                let mut r0 = 0;
                while r0 < rows {
                    let left = rows - r0;
                    let n = if left >= RP {
                        RP
                    } else if left >= 4 {
                        4
                    } else if left >= 2 {
                        2
                    } else {
                        1
                    };
                    macro_rules! go {
                        ($r:expr) => {
                            if w == 2 * l {
                                rows_tile::<S, D, { $r }, 2>(
                                    b,
                                    r0,
                                    lo,
                                    hi,
                                    panel.add(dd),
                                    wd,
                                    d0 + dd,
                                )
                            } else if w == l {
                                rows_tile::<S, D, { $r }, 1>(
                                    b,
                                    r0,
                                    lo,
                                    hi,
                                    panel.add(dd),
                                    wd,
                                    d0 + dd,
                                )
                            } else {
                                rows_tile::<Scalar, D::One, { $r }, 1>(
                                    b,
                                    r0,
                                    lo,
                                    hi,
                                    panel.add(dd),
                                    wd,
                                    d0 + dd,
                                )
                            }
                        };
                    }
                    match n {
                        1 => go!(1),
                        2 => go!(2),
                        4 => go!(4),
                        _ => go!(RP),
                    }
                    r0 += n;
                }
                dd += w;
            }
            d0 += wd;
        }
    }
}

/// out[r][d..d + NV·L] = (Σ_{j in lo..hi} p[r][j]·V[j][cols]) · 1/Σ_r for block rows r0..r0+R
/// (`panel` points at the columns of V's panel, rows `wd` apart).
///
/// # Safety
/// As [`pv_rows`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn rows_tile<S: F32s, D: PairDot<S>, const R: usize, const NV: usize>(
    b: &Block,
    r0: usize,
    lo: usize,
    hi: usize,
    panel: *const u32,
    wd: usize,
    d: usize,
) {
    let l = S::LANES;
    // SAFETY: per the function contract.
    unsafe {
        let p: [*const u32; R] = array!(R, |r| b.p_row(r0 + r));
        let mut acc = [[S::splat(0.0); NV]; R];
        for m in lo / D::E..hi.div_ceil(D::E) {
            let vm = panel.add(m * wd);
            for step in 0..D::STEPS {
                let vv: [D::K; NV] = array!(NV, |v| D::load_k(vm.add(v * l), step));
                for r in 0..R {
                    let pr = D::splat_q(p[r].add((m - b.j0 / D::E) * D::QW), step);
                    for v in 0..NV {
                        acc[r][v] = D::dot(acc[r][v], pr, vv[v]);
                    }
                }
            }
        }
        for r in 0..R {
            let o = b.out.add(b.row_off(r0 + r) + d);
            let iv = S::splat(*b.inv.add(r0 + r));
            for v in 0..NV {
                S::store(o.add(v * l), S::mul(acc[r][v], iv));
            }
        }
    }
}

/// The slots (keys e·m..e·m + e, e = D::E) holding the keys r.0..r.1: m in
/// r.0 / e..r.1.div_ceil(e) (an empty range stays empty).
#[inline(always)]
fn slots<S: F32s, D: PairDot<S>>(r: (usize, usize)) -> (usize, usize) {
    let e = D::E;
    if r.0 < r.1 {
        (r.0 / e, r.1.div_ceil(e))
    } else {
        (r.1.div_ceil(e), r.1.div_ceil(e))
    }
}

/// Intersection of a key range with [jb, je) (empty ranges become (je, je)).
#[inline(always)]
fn clip(r: (usize, usize), jb: usize, je: usize) -> (usize, usize) {
    let (a, b) = (r.0.max(jb), r.1.min(je));
    if a < b {
        (a, b)
    } else {
        (je, je)
    }
}

/// Continue the P·V sums of token a (G rows from r0) over keys ra, and — if `pair` — of
/// token b (the next G rows) over keys rb, for NV·L head-dim columns starting at `d`
/// (`panel` points at those columns of V's panel, row stride `wd`). Keys are visited in
/// three segments — a only, both, b only — so every row runs exactly its own keys in
/// increasing order (ra <= rb componentwise for consecutive tokens).
///
/// # Safety
/// As [`pv`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pv_pair<S: F32s, D: PairDot<S>, const G: usize, const NV: usize>(
    b: &Block,
    r0: usize,
    pair: bool,
    ra: (usize, usize),
    rb: (usize, usize),
    panel: *const u32,
    wd: usize,
    d: usize,
) {
    let l = S::LANES;
    // SAFETY: per the function contract.
    unsafe {
        let (ra, rb) = (slots::<S, D>(ra), slots::<S, D>(rb));
        let pa: [*const u32; G] = array!(G, |r| b.p_row(r0 + r));
        let oa: [*mut f32; G] = array!(G, |r| b.out.add(b.row_off(r0 + r) + d));
        let mut acc_a = [[S::splat(0.0); NV]; G];
        for r in 0..G {
            for v in 0..NV {
                acc_a[r][v] = S::load(oa[r].add(v * l));
            }
        }
        if !pair {
            segment::<S, D, G, NV>(b, &pa, &mut acc_a, ra.0, ra.1, panel, wd);
        } else {
            let pb: [*const u32; G] = array!(G, |r| b.p_row(r0 + G + r));
            let ob: [*mut f32; G] = array!(G, |r| b.out.add(b.row_off(r0 + G + r) + d));
            let mut acc_b = [[S::splat(0.0); NV]; G];
            for r in 0..G {
                for v in 0..NV {
                    acc_b[r][v] = S::load(ob[r].add(v * l));
                }
            }
            // both ranges are clipped to the same key block; a's keys precede b's
            let both = (ra.0.max(rb.0), ra.1.min(rb.1));
            if both.0 < both.1 {
                segment::<S, D, G, NV>(b, &pa, &mut acc_a, ra.0, both.0, panel, wd);
                segment::<S, D, G, NV>(b, &pb, &mut acc_b, rb.0, both.0, panel, wd);
                segment2::<S, D, G, NV>(
                    b, &pa, &pb, &mut acc_a, &mut acc_b, both.0, both.1, panel, wd,
                );
                segment::<S, D, G, NV>(b, &pa, &mut acc_a, both.1, ra.1, panel, wd);
                segment::<S, D, G, NV>(b, &pb, &mut acc_b, both.1, rb.1, panel, wd);
            } else {
                segment::<S, D, G, NV>(b, &pa, &mut acc_a, ra.0, ra.1, panel, wd);
                segment::<S, D, G, NV>(b, &pb, &mut acc_b, rb.0, rb.1, panel, wd);
            }
            for r in 0..G {
                for v in 0..NV {
                    S::store(ob[r].add(v * l), acc_b[r][v]);
                }
            }
        }
        for r in 0..G {
            for v in 0..NV {
                S::store(oa[r].add(v * l), acc_a[r][v]);
            }
        }
    }
}

/// acc[r] += Σ_{j in j_begin..j_end} p[r][j]·V[j][cols] (V rows `wd` apart in `panel`).
///
/// # Safety
/// As [`pv`].
#[inline(always)]
unsafe fn segment<S: F32s, D: PairDot<S>, const G: usize, const NV: usize>(
    b: &Block,
    p: &[*const u32; G],
    acc: &mut [[S::V; NV]; G],
    m_begin: usize,
    m_end: usize,
    panel: *const u32,
    wd: usize,
) {
    let l = S::LANES;
    // SAFETY: per the function contract.
    unsafe {
        for m in m_begin..m_end {
            let vm = panel.add(m * wd);
            for step in 0..D::STEPS {
                let vv: [D::K; NV] = array!(NV, |v| D::load_k(vm.add(v * l), step));
                for r in 0..G {
                    let pr = D::splat_q(p[r].add((m - b.j0 / D::E) * D::QW), step);
                    for v in 0..NV {
                        acc[r][v] = D::dot(acc[r][v], pr, vv[v]);
                    }
                }
            }
        }
    }
}

/// [`segment`] for both tokens of a pair at once (each V load feeds 2·G rows).
///
/// # Safety
/// As [`pv`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn segment2<S: F32s, D: PairDot<S>, const G: usize, const NV: usize>(
    b: &Block,
    pa: &[*const u32; G],
    pb: &[*const u32; G],
    acc_a: &mut [[S::V; NV]; G],
    acc_b: &mut [[S::V; NV]; G],
    m_begin: usize,
    m_end: usize,
    panel: *const u32,
    wd: usize,
) {
    let l = S::LANES;
    // SAFETY: per the function contract.
    unsafe {
        for m in m_begin..m_end {
            let vm = panel.add(m * wd);
            for step in 0..D::STEPS {
                let vv: [D::K; NV] = array!(NV, |v| D::load_k(vm.add(v * l), step));
                for r in 0..G {
                    let pr = D::splat_q(pa[r].add((m - b.j0 / D::E) * D::QW), step);
                    for v in 0..NV {
                        acc_a[r][v] = D::dot(acc_a[r][v], pr, vv[v]);
                    }
                }
                for r in 0..G {
                    let pr = D::splat_q(pb[r].add((m - b.j0 / D::E) * D::QW), step);
                    for v in 0..NV {
                        acc_b[r][v] = D::dot(acc_b[r][v], pr, vv[v]);
                    }
                }
            }
        }
    }
}
