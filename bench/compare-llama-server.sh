#!/usr/bin/env bash
# Side-by-side: `ggufembed serve` vs llama.cpp's `llama-server --embeddings` under the same load,
# same model file, same thread count, one after the other in one run.
#
#   bench/compare-llama-server.sh LLAMA_BUILD_DIR [MODEL.gguf]
#
# Env: THREADS (default 2), DURATION seconds per server (default 60), CLIENTS (default 64),
# LLAMA_PARALLEL llama-server slots (default 4, context 2048 each).
#
# Both servers get the same requests from `ggufembed bench --server URL --no-check`: CLIENTS
# concurrent OpenAI clients, 1-4 texts per request, drawn from the built-in bench corpus with
# each text's prompt ("task: search result | query: ", ...) written into the text, so both
# engines embed exactly the same strings. Peak RSS is each server process's VmHWM.
set -euo pipefail
cd "$(dirname "$0")/.."

llama_dir=${1:?usage: bench/compare-llama-server.sh LLAMA_BUILD_DIR [MODEL.gguf]}
llama_server="$llama_dir/bin/llama-server"
[ -x "$llama_server" ] || { echo "error: $llama_server not found or not executable" >&2; exit 2; }
threads=${THREADS:-2}
duration=${DURATION:-60}
clients=${CLIENTS:-64}
parallel=${LLAMA_PARALLEL:-4}

cargo build --release --bin ggufembed >&2
ours="${CARGO_TARGET_DIR:-target}/release/ggufembed"
model=${2:-$("$ours" pull | tail -n 1)}

tmp=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

wait_healthy() { # URL
  for _ in $(seq 1 240); do
    curl -sf "$1/health" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { echo "error: server exited; log:" >&2; cat "$tmp/server.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "error: $1 not healthy after 120 s" >&2; exit 1
}

stop_server() { # prints VmHWM in MB
  local hwm
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  echo $((hwm / 1024))
}

run_load() { # NAME URL
  echo "$1: $clients clients for $duration s ..." >&2
  "$ours" bench --server "$2" --no-check --texts "$tmp/texts.jsonl" --clients "$clients" \
    --duration "$duration" --json > "$tmp/$1.out" || true
  tail -n 1 "$tmp/$1.out" > "$tmp/$1.json"
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; threads=$threads" >&2

# ggufembed serve
port=18081
"$ours" serve --model "$model" --port "$port" --threads "$threads" > "$tmp/server.log" 2>&1 &
pid=$!
wait_healthy "http://127.0.0.1:$port"
# The texts, with each one's prompt written out (prompts from the model's own metadata).
curl -sf "http://127.0.0.1:$port/info" > "$tmp/info.json"
python3 - "$tmp" crates/cli/data/bench_corpus.jsonl <<'PY'
import json, sys
tmp, corpus = sys.argv[1], sys.argv[2]
prompts = json.load(open(f"{tmp}/info.json"))["prompts"]
with open(f"{tmp}/texts.jsonl", "w") as out:
    for line in open(corpus):
        if line.strip():
            t = json.loads(line)
            out.write(json.dumps({"text": prompts.get(t.get("prompt_name"), "") + t["text"]}) + "\n")
PY
run_load ours "http://127.0.0.1:$port"
echo "$(stop_server)" > "$tmp/ours.rss"

# llama-server
port=18082
"$llama_server" -m "$model" --embeddings --pooling mean -t "$threads" -tb "$threads" \
  -c $((2048 * parallel)) -np "$parallel" -b 2048 -ub 2048 --host 127.0.0.1 --port "$port" \
  > "$tmp/server.log" 2>&1 &
pid=$!
wait_healthy "http://127.0.0.1:$port"
run_load llama "http://127.0.0.1:$port"
echo "$(stop_server)" > "$tmp/llama.rss"

python3 - "$tmp" "$threads" "$parallel" <<'PY'
import json, sys
tmp, threads, parallel = sys.argv[1], sys.argv[2], sys.argv[3]
rows = []
for name, label in (("ours", "ggufembed serve"), ("llama", f"llama-server -np {parallel}")):
    r = json.load(open(f"{tmp}/{name}.json"))
    rss = int(open(f"{tmp}/{name}.rss").read())
    errors = sum(v for k, v in r["statuses"].items() if k != "200") + r["transport_errors"]
    rows.append((label, r, rss, errors))
print(f"{r['clients']} clients, {r['seconds']:.0f} s each, {threads} threads, same texts")
print(f"{'server':<22} {'tokens/s':>9} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'non-200':>8} {'peak RSS MB':>11}")
for label, r, rss, errors in rows:
    print(f"{label:<22} {r['tokens_per_s']:>9.0f} {r['requests_per_s']:>7.1f} {r['p50_ms']:>8.0f} {r['p99_ms']:>8.0f} {errors:>8} {rss:>11}")
o, l = rows[0][1], rows[1][1]
print(f"throughput ratio (ours / llama-server): {o['tokens_per_s'] / l['tokens_per_s']:.2f}x; "
      f"p50 ratio {o['p50_ms'] / l['p50_ms']:.2f}; RSS ratio {rows[0][2] / rows[1][2]:.2f}")
PY
