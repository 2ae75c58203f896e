#!/usr/bin/env bash
# Issue 16's tail-latency figure: GET /v1/runs/{id} with 8 and with 64 keep-alive connections
# (wrk -t2, DURATION s each, loopback), first with the workers idle, then while a long run trains
# on the one worker. Prints requests/s, p50 and p99 (ms) for each.
# TAIL_EXTRA adds spec fields to the training run (e.g. ', "metrics_every_steps": 1000000').
# Usage: scripts/bench-tail.sh [DURATION]   (needs wrk; release build)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
. scripts/lib/trained-server.sh
echo "cpu: $(nproc) cores; $(grep -o -w -E 'avx2|avx512f|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')"
measure() {  # label, connections
  wrk -t2 -c"$2" -d"${duration}s" --latency "$base/v1/runs/$run" | python3 scripts/lib/wrk-summary.py "$1" "c=$2"
}
measure idle 8
measure idle 64
spec='{"data": {"dataset": "fashion-mnist"}, "protocol": {"kind": "single", "epochs": 50}, "model": {"kind": "mlp", "layers": [784, 256, 10]}, "optimizer": {"kind": "sgd", "learning_rate": 0.05, "batch_size": 64}, "checkpoint_every_steps": 2000'"${TAIL_EXTRA:-}"'}'
long=$(curl -s -X POST "$base/v1/experiments/$exp/runs" -d "$spec" | json_id)
sleep 2
measure "while training" 8
measure "while training" 64
curl -s -X POST "$base/v1/runs/$long/cancel" > /dev/null
