#!/usr/bin/env bash
# Soak on loopback: two runs train the whole time (a new one is queued whenever one ends) while
# 64 keep-alive connections poll run status and a metric series (alternating) for DURATION
# seconds (default 600). Samples the server's RSS every 30 s and prints the series, wrk's figures
# and the error counts. Bounded in time; 127.0.0.1 only.
# Usage: scripts/soak.sh [DURATION]   (needs wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-600}
WORKERS=2
. scripts/lib/server.sh
json() { python3 -c "import sys,json; d=json.load(sys.stdin); print($1)"; }
exp=$(curl -s -X POST "$base/v1/experiments" -d '{"name":"soak"}' | json 'd["id"]')
spec='{"seed": 1, "data": {"train_limit": 60000, "test_limit": 2000}, "model": {"layers": [784, 256, 10]}, "protocol": {"epochs": 3}, "metrics_every_steps": 20, "checkpoint_every_steps": 500, "execution": {"keep_last": 2}}'
submit() { curl -s -X POST "$base/v1/experiments/$exp/runs" -d "$spec" | json 'd["id"]'; }
run=$(submit); submit > /dev/null
for _ in $(seq 100); do
  [ "$(curl -s "$base/v1/runs/$run/metrics/train.loss" -o /dev/null -w '%{http_code}')" = 200 ] && break; sleep 0.2
done
# Keep two runs training: queue another whenever fewer than two are queued or running.
( end=$((SECONDS + duration)); while [ $SECONDS -lt $end ]; do
    active=$(curl -s "$base/v1/runs?state=running&limit=10" | json 'len(d["runs"])')
    queued=$(curl -s "$base/v1/runs?state=queued&limit=10" | json 'len(d["runs"])')
    [ $((active + queued)) -lt 2 ] && submit > /dev/null
    sleep 2
  done ) &
feeder=$!
( end=$((SECONDS + duration)); while [ $SECONDS -lt $end ]; do
    echo "$SECONDS $(ps -o rss= -p $pid)"; sleep 30
  done ) > "$data/rss" &
sampler=$!
cat > "$data/poll.lua" <<LUA
local paths = {"/v1/runs/$run", "/v1/runs/$run/metrics/train.loss?limit=100"}
local i = 0
request = function() i = i + 1; return wrk.format("GET", paths[(i % 2) + 1]) end
LUA
echo "== soak: 64 connections polling run status and a metric series for ${duration}s while two runs train"
wrk -t2 -c64 -d"${duration}s" --timeout 5s --latency -s "$data/poll.lua" "$base" | grep -E "Requests/sec|Latency|50%|90%|99%|Non-2xx|Socket errors|requests in"
kill $feeder $sampler 2>/dev/null || true
wait $feeder $sampler 2>/dev/null || true
echo "== server RSS (seconds since start, KiB)"
cat "$data/rss"
echo "runs finished during the soak: $(curl -s "$base/v1/runs?state=succeeded&limit=100" | json 'len(d["runs"])'), failed: $(curl -s "$base/v1/runs?state=failed&limit=100" | json 'len(d["runs"])')"
echo "server RSS at the end: $(ps -o rss= -p $pid) KiB"
