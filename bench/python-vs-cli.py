"""Python `Embedder.encode` throughput against `ggufembed bench` on the same corpus, same run.

    python bench/python-vs-cli.py --bin target/release/ggufembed [--threads 2] [--rounds 3]

Both sides embed `crates/cli/data/bench_corpus.jsonl` (its per-record prompts) in batches of 32
with `--threads` threads; the Python side runs 3 passes and keeps the median, like `bench`. The
engines alternate for `--rounds` rounds and each keeps its best round, so a burst of load from
elsewhere on the machine hurts neither more than the other. Prints one JSON line per round and a
summary with the ratio. Also reports the peak RSS (MB) of a fresh Python process that embeds the
visible corpus (`tests/data/corpus.jsonl`) with the model.

With `--st-model DIR` (a sentence-transformers directory, e.g. the one `ggufembed pull
--source-dir` prints; needs `sentence-transformers` and torch in the same venv) it also times
sentence-transformers (torch, fp32, `torch.set_num_threads(--threads)`) on the same texts and
prompts, once with batch_size 32 and once with batch_size 1, one pass each after a short warm-up,
and reports the better one against the Python encode (tokens counted by our tokenizer for both).
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCH_CORPUS = ROOT / "crates" / "cli" / "data" / "bench_corpus.jsonl"
VISIBLE_CORPUS = ROOT / "tests" / "data" / "corpus.jsonl"

RSS_SCRIPT = """
import json, resource, sys
import ggufembed
rows = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8") if l.strip()]
e = ggufembed.Embedder(sys.argv[1], threads=int(sys.argv[3]))
v = e.encode([r["text"] for r in rows], prompt_name=[r.get("prompt_name") for r in rows])
print(json.dumps({"n": v.shape[0], "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def python_pass(embedder, texts, prompts, batch):
    t = time.perf_counter()
    embedder.encode(texts, prompt_name=prompts, batch_size=batch)
    return time.perf_counter() - t


def sentence_transformers_tps(model_dir, texts, prompts, tokens, threads):
    """tokens/s of sentence-transformers on the texts, per batch size, grouping texts by prompt."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    st = SentenceTransformer(model_dir, device="cpu")
    groups = {}
    for t, pn in zip(texts, prompts):
        groups.setdefault(pn, []).append(t)
    st.encode(texts[:8], batch_size=8)  # warm-up
    out = {}
    for bs in (32, 1):
        t = time.perf_counter()
        with torch.inference_mode():
            for pn, ts in groups.items():
                st.encode(ts, prompt_name=pn, batch_size=bs)
        out[bs] = tokens / (time.perf_counter() - t)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default=str(ROOT / "target" / "release" / "ggufembed"))
    p.add_argument("--model", default=os.environ.get("GGUFEMBED_MODEL"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--st-model", help="sentence-transformers model directory to compare against")
    a = p.parse_args()

    import ggufembed

    model = a.model or ggufembed.pull()
    rows = [json.loads(l) for l in open(BENCH_CORPUS, encoding="utf-8") if l.strip()]
    texts = [r["text"] for r in rows]
    prompts = [r.get("prompt_name") for r in rows]
    e = ggufembed.Embedder(model, threads=a.threads)
    tokens = sum(len(ids) for ids in e.tokenize(texts, prompt_name=prompts))
    python_pass(e, texts, prompts, a.batch)  # warm-up

    best_py = best_cli = 0.0
    for r in range(a.rounds):
        passes = sorted(python_pass(e, texts, prompts, a.batch) for _ in range(3))
        py_tps = tokens / passes[1]
        out = subprocess.run(
            [a.bin, "bench", "--model", model, "--threads", str(a.threads), "--batch", str(a.batch),
             "--runs", "20", "--json"],
            check=True, capture_output=True, text=True,
        ).stdout
        report = json.loads(out.strip().splitlines()[-1])
        cli_tps = report["throughput"]["tokens_per_s"]
        assert report["throughput"]["tokens"] == tokens, (report["throughput"], tokens)
        best_py, best_cli = max(best_py, py_tps), max(best_cli, cli_tps)
        print(json.dumps({"round": r, "python_tokens_per_s": round(py_tps, 1), "cli_tokens_per_s": round(cli_tps, 1)}))

    rss = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, model, str(VISIBLE_CORPUS), str(a.threads)],
        check=True, capture_output=True, text=True,
    ).stdout
    summary = {
        "threads": a.threads,
        "tokens": tokens,
        "python_tokens_per_s": round(best_py, 1),
        "cli_tokens_per_s": round(best_cli, 1),
        "ratio": round(best_py / best_cli, 4),
        "python_visible_corpus": json.loads(rss),
    }
    if a.st_model:
        st = sentence_transformers_tps(a.st_model, texts, prompts, tokens, a.threads)
        summary["st_tokens_per_s"] = {f"batch_{k}": round(v, 1) for k, v in st.items()}
        summary["python_over_st_best"] = round(best_py / max(st.values()), 2)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
