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
# A mixed K-quant file (Q4_K, Q6_K, Q5_0, Q8_0 tensors) for the accuracy test; ~2 min to make.
if [ -z "${GGUFEMBED_MODEL_Q4_K_M:-}" ]; then
  q4km="$cache/embeddinggemma-300M-Q4_K_M.gguf"
  [ -s "$q4km" ] || "$bin" quantize "$GGUFEMBED_MODEL_F32" "$q4km" q4_k_m
  export GGUFEMBED_MODEL_Q4_K_M="$q4km"
fi

# gguf-py (llama.cpp's Python reader/writer) for the gguf crate's interoperability test.
python3 -m pip install -q gguf numpy
# The official OpenAI Python client, driven against `ggufembed serve` by the server's tests.
python3 -m pip install -q openai
cargo test --workspace
