#!/usr/bin/env bash
# Side-by-side: ggufembed vs llama.cpp on the same CPU, same model, same thread counts, one run.
#
#   bench/compare-llama-cpp.sh LLAMA_BUILD_DIR [MODEL.gguf] [THREADS...]
#
# LLAMA_BUILD_DIR holds llama.cpp's `bin/llama-bench` (build it from the llama-cpp-python sdist
# with -DGGML_NATIVE=ON -DLLAMA_CURL=OFF, outside this repo). MODEL defaults to the pulled Q8_0
# model; THREADS default to "1 2". Prints both engines' figures and the ratios:
#   p50 ratio  = ggufembed P50 latency / llama.cpp time for the same token count (target <= 0.25)
#   tput ratio = ggufembed batch tokens/s / llama.cpp tokens/s at 424 tokens     (target >= 4)
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
for t in "${threads[@]}"; do
  echo "threads=$t: llama-bench ..." >&2
  "$llama_bench" -m "$model" -embd 1 -p 18,60,424 -n 0 -ub 2048 -b 2048 -t "$t" -r 20 -o json \
    > "$tmp/llama-$t.json" 2> "$tmp/llama-$t.err" || { cat "$tmp/llama-$t.err" >&2; exit 1; }
  echo "threads=$t: ggufembed bench ..." >&2
  "$ours" bench --model "$model" --threads "$t" --json > "$tmp/ours-$t.json"
done

python3 - "$tmp" "${threads[@]}" <<'PY'
import json, sys
tmp, threads = sys.argv[1], sys.argv[2:]
print(f"{'thr':>3} {'tokens':>6} {'llama ms':>9} {'ours p50':>9} {'p50 ratio':>9}")
rows = []
for t in threads:
    llama = {r["n_prompt"]: r for r in json.load(open(f"{tmp}/llama-{t}.json"))}
    ours = json.load(open(f"{tmp}/ours-{t}.json"))
    for w in ours["workloads"]:
        l = llama.get(w["tokens"])
        if l is None:
            print(f"{t:>3} {w['tokens']:>6}  (llama-bench has no run with this token count)")
            continue
        lms = l["avg_ns"] / 1e6
        print(f"{t:>3} {w['tokens']:>6} {lms:>9.2f} {w['p50_ms']:>9.2f} {w['p50_ms']/lms:>9.3f}")
    l424 = llama[424]["avg_ts"]
    rows.append((t, l424, ours["throughput"]["tokens_per_s"], ours["peak_rss_mb"]))
print()
print(f"{'thr':>3} {'llama tok/s@424':>15} {'ours batch tok/s':>16} {'tput ratio':>10} {'ours RSS MiB':>12}")
for t, l, o, rss in rows:
    print(f"{t:>3} {l:>15.1f} {o:>16.1f} {o/l:>10.2f} {rss:>12.0f}")
PY
