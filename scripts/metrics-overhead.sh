#!/usr/bin/env bash
# The cost of GET /metrics's bookkeeping on the run-status load (issue 13): two builds served
# side by side, one after the other, each with one trained run; wrk polls GET /v1/runs/{id} with
# 8 and with 64 keep-alive connections, ROUNDS rounds alternating A and B; median requests/s and
# p99 per build. Usage: scripts/metrics-overhead.sh BEFORE_BIN AFTER_BIN [DURATION] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
before=$1; after=$2; duration=${3:-8}; rounds=${4:-3}
lscpu | grep -E "Model name|^CPU\(s\)" ; grep -o 'avx512[a-z_0-9]*\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' '; echo
measure() { # bin connections → "req/s p99"
  ( export NEUROMOD_BIN=$1; . scripts/lib/trained-server.sh
    wrk -t2 -c"$2" -d"${duration}s" --latency "$base/v1/runs/$run" \
      | awk '/Requests\/sec/ {r=$2} / 99%/ {p=$2} END {print r, p}' )
}
for c in 8 64; do
  for i in $(seq "$rounds"); do
    echo "c=$c round $i before $(measure "$before" "$c")"
    echo "c=$c round $i after  $(measure "$after" "$c")"
  done
done
