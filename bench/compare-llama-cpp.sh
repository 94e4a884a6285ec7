#!/usr/bin/env bash
# Side-by-side: ggufembed vs llama.cpp on the same CPU, same model, same thread counts, one run.
#
#   bench/compare-llama-cpp.sh LLAMA_BUILD_DIR [MODEL.gguf] [THREADS...]
#
# LLAMA_BUILD_DIR holds llama.cpp's `bin/llama-bench` (build it from the llama-cpp-python sdist
# with -DGGML_NATIVE=ON -DLLAMA_CURL=OFF, outside this repo). MODEL defaults to the pulled Q8_0
# model; THREADS default to "1 2". Prints both engines' figures and the ratios:
#   p50 ratio  = ggufembed P50 latency / llama.cpp time for the same token count
#   tput ratio = ggufembed batch tokens/s / llama.cpp tokens/s at the largest workload's count
# llama-bench runs at the token counts `ggufembed bench --json` reports for this model (18, 60,
# 424 on EmbeddingGemma; the `xl` workload is shortened to fit smaller contexts, e.g. 214 tokens
# on all-MiniLM-L6-v2's 256), so every row compares the same amount of work.
# ROUNDS (default 2) alternates the two engines that many times per thread count and keeps each
# engine's best round (lowest time, highest tokens/s), so a burst of noise from elsewhere on the
# machine hits neither engine's figure alone.
set -euo pipefail
cd "$(dirname "$0")/.."

llama_dir=${1:?usage: bench/compare-llama-cpp.sh LLAMA_BUILD_DIR [MODEL.gguf] [THREADS...]}
shift
llama_bench="$llama_dir/bin/llama-bench"
[ -x "$llama_bench" ] || { echo "error: $llama_bench not found or not executable" >&2; exit 2; }

cargo build --release --bin ggufembed >&2
ours="${CARGO_TARGET_DIR:-target}/release/ggufembed"
model=""
if [ $# -gt 0 ] && [[ "$1" == *.gguf ]]; then model=$1; shift; fi
[ -n "$model" ] || model=$("$ours" pull | tail -n 1)
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 2)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores" >&2
rounds=${ROUNDS:-2}
for t in "${threads[@]}"; do
  for r in $(seq 1 "$rounds"); do
    echo "threads=$t round $r/$rounds: ggufembed bench ..." >&2
    "$ours" bench --model "$model" --threads "$t" --json > "$tmp/ours-$t-$r.json"
    counts=$(python3 -c 'import json,sys; print(",".join(str(w["tokens"]) for w in json.load(open(sys.argv[1]))["workloads"]))' "$tmp/ours-$t-$r.json")
    echo "threads=$t round $r/$rounds: llama-bench -p $counts ..." >&2
    "$llama_bench" -m "$model" -embd 1 -p "$counts" -n 0 -ub 2048 -b 2048 -t "$t" -r 20 -o json \
      > "$tmp/llama-$t-$r.json" 2> "$tmp/llama-$t.err" || { cat "$tmp/llama-$t.err" >&2; exit 1; }
  done
done

python3 - "$tmp" "$rounds" "${threads[@]}" <<'PY'
import json, sys
tmp, rounds, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

def best_llama(t):
    best = {}
    for r in range(1, rounds + 1):
        for row in json.load(open(f"{tmp}/llama-{t}-{r}.json")):
            n = row["n_prompt"]
            if n not in best or row["avg_ns"] < best[n]["avg_ns"]:
                best[n] = row
    return best

def best_ours(t):
    runs = [json.load(open(f"{tmp}/ours-{t}-{r}.json")) for r in range(1, rounds + 1)]
    out = runs[0]
    for w in out["workloads"]:
        w["p50_ms"] = min(next(x for x in o["workloads"] if x["name"] == w["name"])["p50_ms"] for o in runs)
    out["throughput"]["tokens_per_s"] = max(o["throughput"]["tokens_per_s"] for o in runs)
    out["peak_rss_mb"] = max(o["peak_rss_mb"] for o in runs)
    return out

print(f"best of {rounds} alternating rounds per engine")
print(f"{'thr':>3} {'tokens':>6} {'llama ms':>9} {'ours p50':>9} {'p50 ratio':>9}")
rows = []
for t in threads:
    llama = best_llama(t)
    ours = best_ours(t)
    for w in ours["workloads"]:
        l = llama.get(w["tokens"])
        if l is None:
            print(f"{t:>3} {w['tokens']:>6}  (llama-bench has no run with this token count)")
            continue
        lms = l["avg_ns"] / 1e6
        print(f"{t:>3} {w['tokens']:>6} {lms:>9.2f} {w['p50_ms']:>9.2f} {w['p50_ms']/lms:>9.3f}")
    top = max(w["tokens"] for w in ours["workloads"])
    rows.append((t, top, llama[top]["avg_ts"], ours["throughput"]["tokens_per_s"], ours["peak_rss_mb"]))
print()
print(f"{'thr':>3} {'llama tok/s (at N)':>18} {'ours batch tok/s':>16} {'tput ratio':>10} {'ours RSS MiB':>12}")
for t, top, l, o, rss in rows:
    print(f"{t:>3} {l:>12.1f} ({top:>3}) {o:>16.1f} {o/l:>10.2f} {rss:>12.0f}")
PY
