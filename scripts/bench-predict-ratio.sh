#!/usr/bin/env bash
# Issue 16's prediction figure: single-image predictions against GET /v1/healthz on the same
# server, alternated ROUNDS times (wrk -t2 -c32, DURATION s each, loopback; wrk shares the cores).
# Prints each round, the medians, and the ratios predict/healthz (JSON v1, JSON v2, binary v2).
# Usage: scripts/bench-predict-ratio.sh [DURATION] [ROUNDS]   (needs wrk; release build)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/served-model.sh
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
python3 scripts/lib/round-medians.py "$data/rounds.txt" --baseline healthz
