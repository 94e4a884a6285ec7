"""Shared fixtures. The tests run the real model: GGUFEMBED_MODEL (the Q8_0 GGUF) must be set
(scripts/test.sh sets it); without it every test that needs the model is skipped with a message.
GGUFEMBED_BIN names the `ggufembed` binary for the CLI comparisons (default: target/debug)."""

import json
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
CORPUS = ROOT / "tests" / "data" / "corpus.jsonl"


def _model_path():
    p = os.environ.get("GGUFEMBED_MODEL")
    if not p:
        pytest.skip("GGUFEMBED_MODEL is not set (scripts/test.sh sets it to the pulled Q8_0 model)")
    return p


@pytest.fixture(scope="session")
def model_path():
    return _model_path()


@pytest.fixture(scope="session")
def embedder(model_path):
    import ggufembed

    return ggufembed.Embedder(model_path, threads=2)


@pytest.fixture(scope="session")
def cli_bin():
    target = os.environ.get("CARGO_TARGET_DIR") or str(ROOT / "target")
    b = os.environ.get("GGUFEMBED_BIN") or os.path.join(target, "debug", "ggufembed")
    if not os.path.exists(b):
        pytest.skip(f"{b} not built (scripts/test.sh runs `cargo build -p cli` first)")
    return b


@pytest.fixture(scope="session")
def corpus():
    """The visible corpus: 252 records with id, text, prompt_name (query / document / null)."""
    with open(CORPUS, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
