//! Instruction-set selection: what the CPU supports, and which path runs.

use std::sync::OnceLock;

/// An instruction-set path. Every kernel has an implementation for each variant; a variant
/// the CPU lacks is never executed (the `*_with` entry points fall back to the best supported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Isa {
    /// Portable Rust, the reference every SIMD path is tested against.
    Scalar,
    /// x86-64: AVX2 + FMA + F16C; int8 dot products via `vpmaddubsw` (no VNNI).
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// x86-64: AVX2 + FMA + F16C + AVX-VNNI (`vpdpbusd` on ymm).
    #[cfg(target_arch = "x86_64")]
    Avx2Vnni,
    /// x86-64: AVX-512 F/BW/VL/VNNI (+ AVX2/FMA/F16C): `vpdpbusd` on zmm.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// x86-64: [`Avx512`](Isa::Avx512) + AVX512_BF16: attention's bf16 pair products run as
    /// `vdpbf16ps` (the other paths compute the same values with two FMAs each).
    #[cfg(target_arch = "x86_64")]
    Avx512Bf16,
    /// ARM64: NEON (every ARMv8-A CPU); int8 dot products via `smull`/`sadalp` widening.
    #[cfg(target_arch = "aarch64")]
    Neon,
    /// ARM64: NEON + the dot-product extension (ARMv8.2 `sdot`).
    #[cfg(target_arch = "aarch64")]
    NeonDotprod,
    /// ARM64: NEON + dot product + int8 matrix multiply (ARMv8.6 `smmla`).
    #[cfg(target_arch = "aarch64")]
    NeonI8mm,
}

impl Isa {
    /// All paths of this architecture, from the most portable to the fastest.
    #[cfg(target_arch = "x86_64")]
    pub const ALL: [Isa; 5] = [
        Isa::Scalar,
        Isa::Avx2,
        Isa::Avx2Vnni,
        Isa::Avx512,
        Isa::Avx512Bf16,
    ];
    /// All paths of this architecture, from the most portable to the fastest.
    #[cfg(target_arch = "aarch64")]
    pub const ALL: [Isa; 4] = [Isa::Scalar, Isa::Neon, Isa::NeonDotprod, Isa::NeonI8mm];
    /// All paths of this architecture (only the portable one).
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    pub const ALL: [Isa; 1] = [Isa::Scalar];

    /// The name accepted by `GGUFEMBED_KERNEL` and printed by benchmarks.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => "avx2-novnni",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Vnni => "avx2-vnni",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => "avx512",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Bf16 => "avx512-bf16",
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => "neon",
            #[cfg(target_arch = "aarch64")]
            Isa::NeonDotprod => "neon-dotprod",
            #[cfg(target_arch = "aarch64")]
            Isa::NeonI8mm => "neon-i8mm",
        }
    }

    /// The path named `name` (a [`name`](Self::name), case-insensitive; `avx2` = the best of
    /// the two AVX2 paths this CPU runs), or `None` if this architecture has no such path.
    pub fn from_name(name: &str) -> Option<Isa> {
        let name = name.trim().to_ascii_lowercase();
        #[cfg(target_arch = "x86_64")]
        if name == "avx2" {
            return Some(if Isa::Avx2Vnni.is_supported() {
                Isa::Avx2Vnni
            } else {
                Isa::Avx2
            });
        }
        Isa::ALL.into_iter().find(|i| i.name() == name)
    }

    /// The names `GGUFEMBED_KERNEL` accepts on this architecture, `|`-separated.
    fn names() -> String {
        #[allow(unused_mut)] // only x86-64 adds an alias
        let mut v: Vec<&str> = Isa::ALL.iter().map(|i| i.name()).collect();
        #[cfg(target_arch = "x86_64")]
        v.insert(1, "avx2");
        v.join("|")
    }

    /// Whether this CPU can run the path.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                    && std::arch::is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Vnni => {
                Isa::Avx2.is_supported() && std::arch::is_x86_feature_detected!("avxvnni")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.is_supported()
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Bf16 => {
                Isa::Avx512.is_supported() && std::arch::is_x86_feature_detected!("avx512bf16")
            }
            // NEON is part of every aarch64 target's baseline.
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[cfg(target_arch = "aarch64")]
            Isa::NeonDotprod => {
                Isa::Neon.is_supported() && std::arch::is_aarch64_feature_detected!("dotprod")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::NeonI8mm => {
                Isa::NeonDotprod.is_supported() && std::arch::is_aarch64_feature_detected!("i8mm")
            }
        }
    }

    /// The fastest path this CPU supports.
    pub fn best() -> Isa {
        *Isa::ALL
            .iter()
            .rev()
            .find(|i| i.is_supported())
            .unwrap_or(&Isa::Scalar)
    }

    /// `self` if supported, else the best supported path that is not faster than `self`
    /// would have been (never a path the CPU lacks).
    pub fn or_supported(self) -> Isa {
        if self.is_supported() {
            return self;
        }
        *Isa::ALL
            .iter()
            .rev()
            .find(|i| **i <= self && i.is_supported())
            .unwrap_or(&Isa::Scalar)
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Resolve a `GGUFEMBED_KERNEL` value. Returns the path to use and an optional warning.
fn resolve(request: Option<&str>) -> (Isa, Option<String>) {
    let best = Isa::best();
    let Some(req) = request.map(str::trim).filter(|s| !s.is_empty()) else {
        return (best, None);
    };
    let Some(wanted) = Isa::from_name(req) else {
        let other = req.to_ascii_lowercase();
        return (
            best,
            Some(format!(
                "GGUFEMBED_KERNEL={other:?} is not one of {}; using {best}",
                Isa::names()
            )),
        );
    };
    let got = wanted.or_supported();
    let warn = (got != wanted).then(|| {
        format!("GGUFEMBED_KERNEL={req}: this CPU cannot run the {wanted} path; using {got}")
    });
    (got, warn)
}

/// Which instruction-set path runs: `GGUFEMBED_KERNEL=scalar|avx2|avx2-novnni|avx2-vnni|avx512|avx512-bf16`
/// (x86-64) or `scalar|neon|neon-dotprod|neon-i8mm` (ARM64) forces one (falling back to the best supported path, with a one-time warning on stderr, if the
/// CPU lacks it); default = the best available. Decided once per process.
pub fn active_isa() -> Isa {
    static ACTIVE: OnceLock<Isa> = OnceLock::new();
    *ACTIVE.get_or_init(|| {
        let req = std::env::var("GGUFEMBED_KERNEL").ok();
        let (isa, warn) = resolve(req.as_deref());
        if let Some(w) = warn {
            eprintln!("ggufembed: warning: {w}");
        }
        isa
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_env_values() {
        assert_eq!(resolve(None), (Isa::best(), None));
        assert_eq!(resolve(Some("")).0, Isa::best());
        assert_eq!(resolve(Some("scalar")), (Isa::Scalar, None));
        assert_eq!(resolve(Some("SCALAR")), (Isa::Scalar, None));
        let (isa, warn) = resolve(Some("avx9000"));
        assert_eq!(isa, Isa::best());
        assert!(warn.unwrap().contains("avx9000"));
        #[cfg(target_arch = "x86_64")]
        let reqs = ["avx2", "avx2-novnni", "avx2-vnni", "avx512", "avx512-bf16"];
        #[cfg(target_arch = "aarch64")]
        let reqs = ["neon", "neon-dotprod", "neon-i8mm"];
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        let reqs: [&str; 0] = [];
        for req in reqs {
            let (isa, warn) = resolve(Some(req));
            assert!(isa.is_supported(), "{req} resolved to unsupported {isa}");
            assert_eq!(
                warn.is_some(),
                !isa.name().starts_with(req),
                "{req} -> {isa}"
            );
        }
    }

    #[test]
    fn fallback_is_supported_and_not_faster() {
        for isa in Isa::ALL {
            let got = isa.or_supported();
            assert!(got.is_supported());
            assert!(got <= isa);
            if isa.is_supported() {
                assert_eq!(got, isa);
            }
        }
        println!("best isa on this CPU: {}", Isa::best());
    }
}
