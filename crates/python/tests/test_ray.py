"""examples/ray_embed.py on a local Ray instance (2 CPUs, 2 actors) over >= 1,000 texts: every
vector must equal a single-process encode bit for bit."""

import importlib.util
import json
import time

import numpy as np
import pytest

import ggufembed
from conftest import ROOT

N_TEXTS = 1008


def load_example():
    spec = importlib.util.spec_from_file_location("ray_embed", ROOT / "examples" / "ray_embed.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_ray_embed_matches_single_process(model_path, corpus, tmp_path):
    ray = pytest.importorskip("ray")
    pq = pytest.importorskip("pyarrow.parquet")
    # >= 1,000 texts from the visible corpus (cut to 120 characters to keep the test short), each
    # with its record's prompt, a few with titles, in several variants.
    rows = []
    for k in range(N_TEXTS):
        r = corpus[k % len(corpus)]
        row = {"id": k, "text": f"{r['text'][:120]} [{k // len(corpus)}]", "prompt_name": r.get("prompt_name")}
        row["title"] = f"Title {k}" if row["prompt_name"] == "document" and k % 3 == 0 else None
        rows.append(row)
    src = tmp_path / "corpus.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    dst = tmp_path / "out"

    example = load_example()
    t0 = time.monotonic()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        example.embed_corpus(str(src), str(dst), model=model_path, concurrency=2, cpus_per_actor=1, batch_size=64)
    finally:
        ray.shutdown()
    wall = time.monotonic() - t0
    print(f"ray: {N_TEXTS} texts on 2 actors in {wall:.1f} s")

    table = pq.read_table(str(dst))
    ids = table.column("id").to_pylist()
    assert sorted(ids) == list(range(N_TEXTS))
    vectors = np.asarray(table.column("embedding").to_pylist(), dtype=np.float32)
    assert vectors.shape == (N_TEXTS, 768)
    got = np.empty_like(vectors)
    got[ids] = vectors

    e = ggufembed.Embedder(model_path, threads=2)
    want = e.encode(
        [r["text"] for r in rows],
        prompt_name=[r["prompt_name"] for r in rows],
        titles=[r["title"] for r in rows],
        batch_size=64,
    )
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
