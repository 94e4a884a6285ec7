#!/usr/bin/env bash
# Runs every check and test: formatting, lints, then the test suite against the real model.
# The model is fetched into the cache ($GGUFEMBED_HOME or ~/.cache/ggufembed) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build -p cli

bin="${CARGO_TARGET_DIR:-target}/debug/ggufembed"
export GGUFEMBED_MODEL="${GGUFEMBED_MODEL:-$("$bin" pull | tail -n 1)}"
export GGUFEMBED_HF_DIR="${GGUFEMBED_HF_DIR:-$("$bin" pull --source-dir | tail -n 1)}"
cache="${GGUFEMBED_HOME:-$HOME/.cache/ggufembed}"
f32="$cache/embeddinggemma-300M-F32.gguf"
if [ -z "${GGUFEMBED_MODEL_F32:-}" ]; then
  if [ ! -s "$f32" ]; then
    "$bin" convert "$GGUFEMBED_HF_DIR" --outtype f32 -o "$f32.tmp"
    mv "$f32.tmp" "$f32"
  fi
  export GGUFEMBED_MODEL_F32="$f32"
fi

# gguf-py (llama.cpp's Python reader/writer) for the gguf crate's interoperability test.
python3 -m pip install -q gguf numpy
# The official OpenAI Python client, driven against `ggufembed serve` by the server's tests.
python3 -m pip install -q openai
cargo test --workspace

# ARM64: cross-build, kernels' tests and a bit-exactness smoke test under qemu-aarch64
# (installs its tools idempotently; a few minutes).
bash scripts/arm64.sh
