#!/usr/bin/env bash
# SSE soak (issue 13): a run trains for the whole soak (784-1024-1024-10, 500 epochs: it outlasts the soak) while 1,000 clients hold its event stream
# open and wrk polls GET /v1/runs/{id} with 8 connections; the server's RSS is sampled every
# 10 s. Release build, loopback only. Usage: scripts/sse-soak.sh [MINUTES, default 10] [STREAMS]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}; streams=${2:-1000}; seconds=$((minutes * 60))
lscpu | grep -E "Model name|^CPU\(s\)"; grep -o 'avx512[a-z_0-9]*\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' '; echo
SERVE_FLAGS="--max-connections 1200" . scripts/lib/server.sh
exp=$(curl -s -X POST "$base/v1/experiments" -d '{"name":"soak"}' | json_id)
run=$(curl -s -X POST "$base/v1/experiments/$exp/runs" \
  -d '{"model": {"layers": [784, 1024, 1024, 10]}, "protocol": {"epochs": 500}, "metrics_every_steps": 20, "checkpoint_every_steps": 2000}' | json_id)
until curl -s "$base/v1/runs/$run" | grep -q '"completed":[1-9]'; do sleep 0.2; done
port=${base##*:}
echo "RSS before the streams: $(ps -o rss= -p "$pid") KiB"
python3 scripts/lib/sse_clients.py "$port" "$run" "$streams" "$seconds" > "$data/clients.out" &
clients=$!
sleep 5
( for _ in $(seq $(( (seconds - 10) / 10 ))); do echo "rss $(ps -o rss= -p "$pid") KiB"; sleep 10; done ) > "$data/rss.out" &
sampler=$!
wrk -t2 -c8 -d"$((seconds - 10))s" --latency "$base/v1/runs/$run" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx|Socket errors|requests in"
wait $clients; kill $sampler 2>/dev/null || true
cat "$data/clients.out"
echo "RSS samples (KiB): $(awk '{print $2}' "$data/rss.out" | tr '\n' ' ')"
echo "open connections at the end: $(curl -s "$base/metrics" | awk '/^neuromod_http_open_connections / {print $2}')"
curl -s -X POST "$base/v1/runs/$run/cancel" > /dev/null
