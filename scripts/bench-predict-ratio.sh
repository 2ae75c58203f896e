#!/usr/bin/env bash
# Issue 16's prediction figure: single-image predictions against GET /v1/healthz on the same
# server, alternated ROUNDS times (wrk -t2 -c32, DURATION s each, loopback; wrk shares the cores).
# Prints each round, the medians, and the ratios predict/healthz (JSON v1, JSON v2, binary v2).
# Usage: scripts/bench-predict-ratio.sh [DURATION] [ROUNDS]   (needs wrk; release build)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5}
rounds=${2:-3}
SERVE_FLAGS=${SERVE_FLAGS:-"--handler-threads 4"}
. scripts/lib/trained-server.sh
curl -s -X POST "$base/v1/models" -d "{\"name\": \"fm\", \"run_id\": \"$run\"}" > /dev/null
python3 scripts/lib/predict-bodies.py "$data"
one() {  # name, then wrk arguments; prints "name rps p50 p99 ok|errors"
  local name=$1; shift
  wrk -t2 -c32 -d"${duration}s" --latency "$@" | python3 scripts/lib/wrk-summary.py "$name"
}
echo "cpu: $(nproc) cores; $(grep -o -w -E 'avx2|avx512f|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')"
for r in $(seq "$rounds"); do
  one healthz "$base/v1/healthz"
  one v1-json -s "$data/v1.lua" "$base/v1/models/fm/predict"
  one v2-json -s "$data/v2.lua" "$base/v2/models/fm/infer"
  one v2-binary -s "$data/v2bin.lua" "$base/v2/models/fm/infer"
done | tee "$data/rounds.txt"
python3 - "$data/rounds.txt" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {k: statistics.median(float(r[1]) for r in rows if r[0] == k) for k in ("healthz", "v1-json", "v2-json", "v2-binary")}
p99 = {k: statistics.median(float(r[3]) for r in rows if r[0] == k) for k in med}
for k in med:
    print(f"{k:10s} median {med[k]:9,.0f} req/s  p99 {p99[k]:.2f} ms  ratio to healthz {med[k] / med['healthz']:.2f}")
PY
