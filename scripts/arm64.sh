#!/usr/bin/env bash
# ARM64 under emulation (called by scripts/test.sh after the x86-64 suite; runs alone too).
#
# Cross-builds for aarch64-unknown-linux-gnu (linker configured in .cargo/config.toml) and, under
# qemu-aarch64 user emulation:
#   1. runs the kernels' tests on `-cpu max` (NEON + dotprod + i8mm: every ARM path is tested
#      against the scalar reference) and on `-cpu cortex-a72` (NEON only: the detection falls back
#      and the NEON-only path runs as the best one);
#   2. embeds 24 texts of tests/data/corpus.jsonl with all-MiniLM-L6-v2 Q8_0 ($GGUFEMBED_MINILM)
#      on each forced ARM path (GGUFEMBED_KERNEL=neon|neon-dotprod|neon-i8mm) and with
#      EmbeddingGemma Q8_0 ($GGUFEMBED_MODEL) and Q4_K_M ($GGUFEMBED_MODEL_Q4_K_M: bf16 attention,
#      `vdpbf16ps` on x86-64 with AVX512_BF16, two FMAs per pair on NEON) on neon-i8mm, and
#      requires the vector bytes of each to equal the x86-64 CLI's (the best x86 path): every
#      path runs the same f32 operations in the same order, reductions included (the kernels
#      crate docs, "Reduction order"), so ARM64 and x86-64 vectors are identical bit for bit.
# Installs what it needs idempotently: Debian's gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and
# qemu-user (apt, only if missing) and the Rust target (rustup).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
target=aarch64-unknown-linux-gnu

need=()
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
[ -e /usr/aarch64-linux-gnu/lib/libc.so.6 ] || need+=(libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${need[@]}"
fi
rustup target list --installed | grep -qx "$target" || rustup target add "$target"

# The kernels crate with overflow checks and debug assertions (std's unchecked-access
# preconditions included), which the workspace's dev profile turns off for the x86-64 build's
# speed (Cargo.toml): here its tests (the scalar twins and every NEON path) and the smoke test
# run with them.
checks=(--config 'profile.dev.package.kernels.overflow-checks=true'
  --config 'profile.dev.package.kernels.debug-assertions=true')

# 1. kernels' tests (cargo runs them through the qemu runner of .cargo/config.toml)
for cpu in max cortex-a72; do
  echo "== kernels tests under qemu-aarch64 -cpu $cpu"
  QEMU_CPU=$cpu cargo test -q "${checks[@]}" -p kernels --target "$target"
done

# 2. real-model smoke test, bit for bit against x86-64. On ARM the library runs through the model
# crate's `embed_raw` example (raw f32 rows), which needs only the model crate's dependencies:
# cross-building the whole CLI (server, network stack) for aarch64 took minutes. On x86-64 the
# CLI's npy output; its data is the bytes after the 128-byte preamble. Every forced ARM path runs
# all-MiniLM-L6-v2 (its int8 GEMMs are the per-path code; loading it under emulation takes a
# second); EmbeddingGemma (~25 s per load under emulation) runs once, on the i8mm path.
: "${GGUFEMBED_MODEL:?set GGUFEMBED_MODEL to the EmbeddingGemma Q8_0 gguf (scripts/test.sh does)}"
: "${GGUFEMBED_MODEL_Q4_K_M:?set GGUFEMBED_MODEL_Q4_K_M to the EmbeddingGemma Q4_K_M gguf (scripts/test.sh does)}"
: "${GGUFEMBED_MINILM:?set GGUFEMBED_MINILM to the all-MiniLM-L6-v2 Q8_0 gguf (scripts/test.sh does)}"
dir="${CARGO_TARGET_DIR:-target}"
x86_bin="$dir/debug/ggufembed"
# scripts/test.sh has built the x86-64 binary with the workspace's feature set; building it
# again with `-p cli` alone would recompile part of the dependency tree.
[ -x "$x86_bin" ] || cargo build -q -p cli
cargo build -q "${checks[@]}" -p model --example embed_raw --target "$target"
arm_bin="$dir/$target/debug/examples/embed_raw"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -n '8,31p' tests/data/corpus.jsonl >"$tmp/texts.jsonl"
# all-MiniLM-L6-v2 has no prompts: the same texts without their prompt names
python3 -c 'import json, sys; [print(json.dumps({"text": json.loads(l)["text"]})) for l in sys.stdin]' \
  <"$tmp/texts.jsonl" >"$tmp/plain.jsonl"
check() { # check NAME MODEL TEXTS KERNEL
  local name=$1 model=$2 texts=$3 kernel=$4
  if [ ! -e "$tmp/$name.x86.f32" ]; then
    "$x86_bin" embed --model "$model" --input "$texts" --threads 2 --format npy \
      -o "$tmp/$name.npy"
    tail -c +129 "$tmp/$name.npy" >"$tmp/$name.x86.f32"
  fi
  echo "== $name under qemu-aarch64 -cpu max, GGUFEMBED_KERNEL=$kernel"
  GGUFEMBED_KERNEL=$kernel qemu-aarch64 -cpu max -L /usr/aarch64-linux-gnu "$arm_bin" "$model" \
    "$texts" "$tmp/out.f32" 2 2>"$tmp/err"
  # a forced path the CPU lacks would fall back with a warning
  if grep -i warning "$tmp/err"; then
    exit 1
  fi
  if ! cmp "$tmp/$name.x86.f32" "$tmp/out.f32"; then
    echo "FAIL: $name on $kernel: vectors differ from the x86-64 ones" >&2
    exit 1
  fi
  echo "$name, $kernel: $(stat -c %s "$tmp/out.f32") bytes of vectors identical to x86-64"
}
for kernel in neon neon-dotprod neon-i8mm; do
  check minilm "$GGUFEMBED_MINILM" "$tmp/plain.jsonl" "$kernel"
done
check embeddinggemma "$GGUFEMBED_MODEL" "$tmp/texts.jsonl" neon-i8mm
check embeddinggemma-q4_k_m "$GGUFEMBED_MODEL_Q4_K_M" "$tmp/texts.jsonl" neon-i8mm
# and without dotprod/i8mm the request falls back to NEON, saying so
head -n 1 "$tmp/plain.jsonl" >"$tmp/one.jsonl"
GGUFEMBED_KERNEL=neon-dotprod qemu-aarch64 -cpu cortex-a72 -L /usr/aarch64-linux-gnu "$arm_bin" \
  "$GGUFEMBED_MINILM" "$tmp/one.jsonl" "$tmp/one.f32" 2>"$tmp/err"
grep -q "cannot run the neon-dotprod path; using neon" "$tmp/err"
echo "== ARM64 section: $((SECONDS - start)) s"
