#!/usr/bin/env bash
# Per GGUF weight type: file size, load time, peak RSS embedding a >2048-token input, and batch
# throughput, ggufembed beside llama.cpp's llama-bench on the same files (issue 12's table).
#
#   bench/weight-types.sh [LLAMA_BUILD_DIR] MODEL.gguf [MODEL.gguf ...]
#
# For each file: `ggufembed bench --json --threads $THREADS` (load time, throughput, latency),
# then `ggufembed embed` of one text of ~2,300 tokens (cut to the model's 2,048) under
# /usr/bin/time -v (peak RSS of the whole process), then, if LLAMA_BUILD_DIR is given,
# `llama-bench -embd 1 -p 424` (tokens/s at the xl workload's size). ROUNDS (default 2)
# alternates the engines per file and keeps each figure's best round. THREADS defaults to 2.
set -euo pipefail
cd "$(dirname "$0")/.."
llama_bench=""
if [ $# -gt 0 ] && [ -d "$1" ]; then
  llama_bench="$1/bin/llama-bench"
  [ -x "$llama_bench" ] || { echo "error: $llama_bench not found or not executable" >&2; exit 2; }
  shift
fi
[ $# -gt 0 ] || { echo "usage: bench/weight-types.sh [LLAMA_BUILD_DIR] MODEL.gguf..." >&2; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "error: /usr/bin/time missing (Debian: apt-get install time)" >&2; exit 2; }
cargo build --release --bin ggufembed >&2
ours="${CARGO_TARGET_DIR:-target}/release/ggufembed"
threads=${THREADS:-2}
rounds=${ROUNDS:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp/long.txt" <<'PY'
import sys
p = ("Machine learning has revolutionized artificial intelligence by enabling computers to learn "
     "from data without explicit programming. Modern neural networks can process vast amounts of "
     "information and identify complex patterns that would be impossible for humans to detect "
     "manually. This technology powers applications from image recognition to natural language "
     "processing. ")
open(sys.argv[1], "w").write(" ".join([p] * 44).replace("\n", " ") + "\n")
PY
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; threads $threads" >&2
for m in "$@"; do
  name=$(basename "$m" .gguf)
  for r in $(seq 1 "$rounds"); do
    echo "$name round $r/$rounds" >&2
    "$ours" bench --model "$m" --threads "$threads" --json > "$tmp/$name-bench-$r.json"
    /usr/bin/time -v "$ours" embed --model "$m" --threads "$threads" --input "$tmp/long.txt" \
      -o "$tmp/$name.jsonl" 2> "$tmp/$name-time-$r.txt"
    if [ -n "$llama_bench" ]; then
      "$llama_bench" -m "$m" -embd 1 -p 424 -n 0 -ub 2048 -b 2048 -t "$threads" -r 5 -o json \
        > "$tmp/$name-llama-$r.json" 2>/dev/null
    fi
  done
done
python3 - "$tmp" "$rounds" "$@" <<'PY'
import json, os, re, sys
tmp, rounds, models = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
print(f"{'file':<34} {'MB':>6} {'mix':<44} {'load ms':>8} {'RSS MiB':>8} {'tok/s':>7} {'llama tok/s':>11} {'ratio':>6}")
for m in models:
    name = os.path.basename(m)[:-5]
    runs = [json.load(open(f"{tmp}/{name}-bench-{r}.json")) for r in range(1, rounds + 1)]
    load = min(r["load_ms"] for r in runs)
    tps = max(r["throughput"]["tokens_per_s"] for r in runs)
    rss = []
    for r in range(1, rounds + 1):
        t = open(f"{tmp}/{name}-time-{r}.txt").read()
        rss.append(int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024)
    out = json.loads(open(f"{tmp}/{name}.jsonl").readline())
    assert out["n_tokens"] >= 2048, out["n_tokens"]
    llama = ""
    ratio = ""
    p = f"{tmp}/{name}-llama-1.json"
    if os.path.exists(p):
        l = max(json.load(open(f"{tmp}/{name}-llama-{r}.json"))[0]["avg_ts"] for r in range(1, rounds + 1))
        llama, ratio = f"{l:.0f}", f"{tps / l:.2f}"
    mix = runs[0]["weight_mix"]
    mix = mix if len(mix) <= 44 else mix[:43] + "…"
    print(f"{name:<34} {os.path.getsize(m) / 1e6:>6.0f} {mix:<44} {load:>8.0f} {max(rss):>8.0f} {tps:>7.0f} {llama:>11} {ratio:>6}")
PY
