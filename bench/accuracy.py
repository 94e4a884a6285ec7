#!/usr/bin/env python3
"""Cosine agreement with sentence-transformers fp32, ggufembed beside llama.cpp, on the same files.

    bench/accuracy.py [--llama-build DIR] [--threads N] MODEL.gguf [MODEL.gguf ...]

For each file: serves it with `ggufembed serve` and, if --llama-build is given, with llama.cpp's
`llama-server --embedding -ub 2048 -b 2048 -c 2048`; sends each of the 252 texts of
tests/data/corpus.jsonl as its reference token ids (tests/data/corpus_tokens.jsonl: prompt,
BOS and EOS included, so that both engines embed exactly the same tokens; the two texts longer
than the model's 2,048 cut as sentence-transformers cuts them: BOS, the first 2,046 ids, EOS)
to /v1/embeddings, one text per request; and prints the mean and the minimum cosine of the 768-dim vectors with
tests/data/corpus_st_fp32.jsonl. This is how the README's accuracy table per GGUF type is
measured (ggufembed's own figures are also asserted by `cargo test -p model --test all
accuracy::`, on the files the tests fetch). Standard library only; builds ggufembed (release).
"""
import argparse
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, body):
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.load(r)


def wait_healthy(url, proc, log):
    for _ in range(600):
        if proc.poll() is not None:
            sys.exit(f"error: the server exited ({proc.returncode}); its log:\n{open(log).read()}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit(f"error: {url} did not become healthy in 5 minutes")


def embed_all(cmd, port, token_lists):
    """Starts the server `cmd`, embeds every token list, stops it; returns the vectors."""
    url = f"http://127.0.0.1:{port}"
    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as log:
        log_path = log.name
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_healthy(url, proc, log_path)
        out = []
        for ids in token_lists:
            r = post(url + "/v1/embeddings", {"input": [ids], "model": "m"})
            out.append(r["data"][0]["embedding"])
        return out
    finally:
        proc.terminate()
        proc.wait()
        os.unlink(log_path)


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def stats(vectors, reference):
    cos = []
    for v, r in zip(vectors, reference):
        if len(v) != len(r):
            sys.exit(f"error: got {len(v)} dims, the reference has {len(r)}")
        cos.append(cosine(v, r))
    return sum(cos) / len(cos), min(cos)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--llama-build", help="llama.cpp build directory (with bin/llama-server)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("models", nargs="+")
    a = p.parse_args()
    tokens = [json.loads(l) for l in open(os.path.join(DATA, "corpus_tokens.jsonl"))]
    reference = {}
    for line in open(os.path.join(DATA, "corpus_st_fp32.jsonl")):
        r = json.loads(line)
        reference[r["id"]] = r["embedding"]
    ids = [t["id"] for t in tokens]
    n_ctx = 2048
    lists = [t["token_ids"] for t in tokens]
    lists = [ids if len(ids) <= n_ctx else ids[: n_ctx - 1] + ids[-1:] for ids in lists]
    ref = [reference[i] for i in ids]
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "--bin", "ggufembed"], cwd=ROOT, check=True
    )
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ours = os.path.join(target, "release", "ggufembed")
    llama = a.llama_build and os.path.join(a.llama_build, "bin", "llama-server")
    if llama and not os.access(llama, os.X_OK):
        sys.exit(f"error: {llama} not found or not executable")
    print(f"{len(lists)} texts as reference token ids, cosine with sentence-transformers fp32")
    print(f"{'file':<34} {'MB':>5} {'ours mean':>10} {'ours min':>9} {'llama mean':>11} {'llama min':>10}")
    for m in a.models:
        port = free_port()
        cmd = [ours, "serve", "-m", m, "-t", str(a.threads), "--port", str(port)]
        o_mean, o_min = stats(embed_all(cmd, port, lists), ref)
        l_mean = l_min = ""
        if llama:
            port = free_port()
            cmd = [llama, "-m", m, "--embedding", "-ub", "2048", "-b", "2048", "-c", "2048",
                   "-t", str(a.threads), "--host", "127.0.0.1", "--port", str(port)]
            lm, ln = stats(embed_all(cmd, port, lists), ref)
            l_mean, l_min = f"{lm:.5f}", f"{ln:.5f}"
        name = os.path.basename(m)[:-5] if m.endswith(".gguf") else os.path.basename(m)
        size = os.path.getsize(m) / 1e6
        print(f"{name:<34} {size:>5.0f} {o_mean:>10.5f} {o_min:>9.5f} {l_mean:>11} {l_min:>10}",
              flush=True)


if __name__ == "__main__":
    main()
