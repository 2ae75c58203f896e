#!/usr/bin/env bash
# Load on loopback: 64 keep-alive connections polling a run's status and a metric series, then
# /v1/healthz, each for DURATION seconds (default 10). Bounded in time; 127.0.0.1 only.
# Usage: scripts/load-status.sh [DURATION]   (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
. scripts/lib/trained-server.sh
echo "== GET /v1/runs/{id} (64 connections, 2 threads, ${duration}s)"
wrk -t2 -c64 -d"${duration}s" --latency "$base/v1/runs/$run" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx|Socket errors|requests in"
echo "== GET /v1/runs/{id}/metrics/train.loss"
wrk -t2 -c64 -d"${duration}s" --latency "$base/v1/runs/$run/metrics/train.loss?limit=100" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx|Socket errors|requests in"
echo "== GET /v1/healthz"
wrk -t2 -c64 -d"${duration}s" --latency "$base/v1/healthz" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx|Socket errors|requests in"
echo "server RSS: $(ps -o rss= -p $pid) KiB"
