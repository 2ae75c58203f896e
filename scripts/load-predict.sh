#!/usr/bin/env bash
# Single-sample predictions from 32 keep-alive connections on loopback (wrk + Lua, bounded in
# time): trains the 784-256-10 MLP of examples/mlp-fashion-mnist.json, registers it, then runs
# wrk on /v1/models/{name}/predict and /v2/models/{name}/infer for DURATION seconds each.
# Usage: scripts/load-predict.sh [DURATION]   (needs wrk)
# Serving flags (micro-batching, handler threads) come from SERVE_FLAGS, default
# "--handler-threads 4", e.g. SERVE_FLAGS="--handler-threads 32 --predict-max-batch 1".
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
SERVE_FLAGS=${SERVE_FLAGS:-"--handler-threads 4"}
echo "== serve flags: $SERVE_FLAGS"
. scripts/lib/trained-server.sh
curl -s -X POST "$base/v1/models" -d "{\"name\": \"fm\", \"run_id\": \"$run\"}" > /dev/null
python3 scripts/lib/predict-bodies.py "$data"
echo "== POST /v1/models/fm/predict, one image per request (32 connections, ${duration}s)"
wrk -t2 -c32 -d"${duration}s" --latency -s "$data/v1.lua" "$base/v1/models/fm/predict" | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors|requests in"
curl -s "$base/v1/models/fm" | python3 -c 'import sys,json; s=json.load(sys.stdin)["serving"]; print("    micro-batching: %d requests in %d forward passes (%.2f rows per pass; max batch %d, max delay %d us)" % (s["requests"], s["forward_passes"], s["rows"] / max(s["forward_passes"], 1), s["max_batch"], s["max_delay_us"]))'
echo "== POST /v2/models/fm/infer, one image per request"
wrk -t2 -c32 -d"${duration}s" --latency -s "$data/v2.lua" "$base/v2/models/fm/infer" | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors|requests in"
echo "== POST /v2/models/fm/infer, one image per request as binary tensor data (3.1 KB of FP32)"
wrk -t2 -c32 -d"${duration}s" --latency -s "$data/v2bin.lua" "$base/v2/models/fm/infer" | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors|requests in"
