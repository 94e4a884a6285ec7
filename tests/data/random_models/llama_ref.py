#!/usr/bin/env python3
"""Embeds tokens.jsonl with llama.cpp's llama-server for each random model, writing
<model>.llamacpp.jsonl ({"id", "embedding"}, L2-normalized).

The server is fed token ids (the `content` of /embedding as an array of ints), so its
tokenizer plays no part. Pooling comes from each GGUF's pooling_type (CLS for bert-cls, mean
for nomic-bert).

Usage: python3 llama_ref.py /path/to/llama.cpp/build/bin
"""
import json
import math
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PORT = 18931


def post(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def main():
    bindir = sys.argv[1]
    seqs = [json.loads(l) for l in open(os.path.join(HERE, "tokens.jsonl"))]
    for name in ["bert-cls", "nomic-bert"]:
        srv = subprocess.Popen([os.path.join(bindir, "llama-server"), "-m",
                                os.path.join(HERE, f"{name}.gguf"), "--embedding", "-c", "128",
                                "-b", "128", "-ub", "128", "-t", "2", "--port", str(PORT)],
                               stdout=subprocess.DEVNULL, stderr=open(f"/tmp/llama_ref_{name}.log", "w"))
        try:
            for _ in range(120):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=2)
                    break
                except Exception:
                    time.sleep(0.5)
            with open(os.path.join(HERE, f"{name}.llamacpp.jsonl"), "w") as f:
                for s in seqs:
                    r = post("/embedding", {"content": s["token_ids"]})
                    e = r[0]["embedding"]
                    e = e[0] if isinstance(e[0], list) else e
                    n = math.sqrt(sum(v * v for v in e))
                    f.write(json.dumps({"id": s["id"], "embedding": [round(v / n, 8) for v in e]}) + "\n")
            print(name, "ok")
        finally:
            srv.terminate()
            srv.wait()


if __name__ == "__main__":
    main()
