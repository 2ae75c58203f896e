#!/usr/bin/env bash
# Load on loopback: 64 keep-alive connections polling a run's status and a metric series, then
# /v1/healthz, each for DURATION seconds (default 10). Bounded in time; 127.0.0.1 only.
# Usage: scripts/load-status.sh [DURATION]   (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
bin=${NEUROMOD_BIN:-.build/release/neuromod}
[ -x "$bin" ] || swift build -c release
data=$(mktemp -d)
"$bin" serve --port 0 --data-dir "$data" --workers 1 > "$data/out" 2> "$data/log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do grep -q LISTENING "$data/out" 2>/dev/null && break; sleep 0.1; done
port=$(awk '/LISTENING/ {print $2}' "$data/out")
base=http://127.0.0.1:$port
exp=$(curl -s -X POST "$base/v1/experiments" -d '{"name":"load"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
run=$(curl -s -X POST "$base/v1/experiments/$exp/runs" --data @examples/mlp-fashion-mnist.json | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
for _ in $(seq 600); do
  state=$(curl -s "$base/v1/runs/$run" | python3 -c 'import sys,json; print(json.load(sys.stdin)["state"])')
  [ "$state" = succeeded ] && break; sleep 0.1
done
echo "== GET /v1/runs/{id} (64 connections, 2 threads, ${duration}s)"
wrk -t2 -c64 -d"${duration}s" --latency "$base/v1/runs/$run" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx|Socket errors|requests in"
echo "== GET /v1/runs/{id}/metrics/train.loss"
wrk -t2 -c64 -d"${duration}s" --latency "$base/v1/runs/$run/metrics/train.loss?limit=100" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx|Socket errors|requests in"
echo "== GET /v1/healthz"
wrk -t2 -c64 -d"${duration}s" --latency "$base/v1/healthz" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx|Socket errors|requests in"
echo "server RSS: $(ps -o rss= -p $pid) KiB"
