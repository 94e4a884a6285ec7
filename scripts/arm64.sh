#!/usr/bin/env bash
# ARM64 under emulation (called by scripts/test.sh after the x86-64 suite; runs alone too).
#
# Cross-builds for aarch64-unknown-linux-gnu (linker configured in .cargo/config.toml) and, under
# qemu-aarch64 user emulation:
#   1. runs the kernels' tests on `-cpu max` (NEON + dotprod + i8mm: every ARM path is tested
#      against the scalar reference) and on `-cpu cortex-a72` (NEON only: the detection falls back
#      and the NEON-only path runs as the best one);
#   2. embeds 24 texts of tests/data/corpus.jsonl with the Q8_0 model ($GGUFEMBED_MODEL) on each
#      forced ARM path (GGUFEMBED_KERNEL=neon|neon-dotprod|neon-i8mm) and requires the vector
#      bytes of each to equal the x86-64 CLI's (the best x86 path): every path runs the same f32
#      operations in the same order, reductions included (the kernels crate docs, "Reduction
#      order"), so ARM64 and x86-64 vectors are identical bit for bit.
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

# 1. kernels' tests (cargo runs them through the qemu runner of .cargo/config.toml)
for cpu in max cortex-a72; do
  echo "== kernels tests under qemu-aarch64 -cpu $cpu"
  QEMU_CPU=$cpu cargo test -q -p kernels --target "$target"
done

# 2. real-model smoke test: each ARM path against x86-64, bit for bit. On ARM the library runs
# through the model crate's `embed_raw` example (raw f32 rows), which needs only the model
# crate's dependencies: cross-building the whole CLI (server, network stack) for aarch64 took
# minutes. On x86-64 the CLI's npy output; its data is the bytes after the 128-byte preamble.
: "${GGUFEMBED_MODEL:?set GGUFEMBED_MODEL to the Q8_0 gguf (scripts/test.sh does)}"
dir="${CARGO_TARGET_DIR:-target}"
x86_bin="$dir/debug/ggufembed"
# scripts/test.sh has built the x86-64 binary with the workspace's feature set; building it
# again with `-p cli` alone would recompile part of the dependency tree.
[ -x "$x86_bin" ] || cargo build -q -p cli
cargo build -q -p model --example embed_raw --target "$target"
arm_bin="$dir/$target/debug/examples/embed_raw"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -n '8,31p' tests/data/corpus.jsonl >"$tmp/texts.jsonl"
"$x86_bin" embed --model "$GGUFEMBED_MODEL" --input "$tmp/texts.jsonl" --threads 2 --format npy \
  -o "$tmp/x86.npy"
tail -c +129 "$tmp/x86.npy" >"$tmp/x86.f32"
arm() { qemu-aarch64 -cpu "$1" -L /usr/aarch64-linux-gnu "$arm_bin" "$GGUFEMBED_MODEL" "$tmp/texts.jsonl" "$2" 2; }
for kernel in neon neon-dotprod neon-i8mm; do
  echo "== embed under qemu-aarch64 -cpu max, GGUFEMBED_KERNEL=$kernel"
  GGUFEMBED_KERNEL=$kernel arm max "$tmp/$kernel.f32" 2>"$tmp/err"
  # a forced path the CPU lacks would fall back with a warning
  if grep -i warning "$tmp/err"; then
    exit 1
  fi
  if ! cmp "$tmp/x86.f32" "$tmp/$kernel.f32"; then
    echo "FAIL: $kernel vectors differ from the x86-64 ones" >&2
    exit 1
  fi
  echo "$kernel: $(stat -c %s "$tmp/$kernel.f32") bytes of vectors identical to x86-64"
done
# and without dotprod/i8mm the request falls back to NEON, saying so
head -n 1 "$tmp/texts.jsonl" >"$tmp/one.jsonl"
GGUFEMBED_KERNEL=neon-dotprod qemu-aarch64 -cpu cortex-a72 -L /usr/aarch64-linux-gnu "$arm_bin" \
  "$GGUFEMBED_MODEL" "$tmp/one.jsonl" "$tmp/one.f32" 2>"$tmp/err"
grep -q "cannot run the neon-dotprod path; using neon" "$tmp/err"
echo "== ARM64 section: $((SECONDS - start)) s"
