#!/usr/bin/env bash
# Issue 16's tail-latency figure: GET /v1/runs/{id} with 8 and with 64 keep-alive connections
# (wrk -t2, DURATION s each, loopback), first with the workers idle, then while a long run trains
# on the one worker. Prints requests/s, p50 and p99 (ms) for each.
# TAIL_EXTRA adds spec fields to the training run (e.g. ', "metrics_every_steps": 1000000').
# PEER=1 then measures the issue's peer the same way: a Hummingbird 2 server answering the same
# run's JSON from memory (scripts/peers/hummingbird, built in a temporary folder; first build a few
# minutes), idle and beside an in-process MLP training at niceness 10 (what a worker runs).
# Usage: scripts/bench-tail.sh [DURATION]   (needs wrk; release build)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
. scripts/lib/trained-server.sh
echo "cpu: $(nproc) cores; $(grep -o -w -E 'avx2|avx512f|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')"
measure() {  # label, connections[, base URL]
  wrk -t2 -c"$2" -d"${duration}s" --latency "${3:-$base}/v1/runs/$run" | python3 scripts/lib/wrk-summary.py "$1" "c=$2"
}
measure idle 8
measure idle 64
spec='{"data": {"dataset": "fashion-mnist"}, "protocol": {"kind": "single", "epochs": 50}, "model": {"kind": "mlp", "layers": [784, 256, 10]}, "optimizer": {"kind": "sgd", "learning_rate": 0.05, "batch_size": 64}, "checkpoint_every_steps": 2000'"${TAIL_EXTRA:-}"'}'
long=$(curl -s -X POST "$base/v1/experiments/$exp/runs" -d "$spec" | json_id)
sleep 2
measure "while training" 8
measure "while training" 64
curl -s -X POST "$base/v1/runs/$long/cancel" > /dev/null
[ "${PEER:-0}" = 1 ] || exit 0
curl -s "$base/v1/runs/$run" > "$data/run.json"
peer_dir=${PEER_BUILD_DIR:-/tmp/neuromod-hummingbird-peer}
mkdir -p "$peer_dir" && cp -r scripts/peers/hummingbird/. "$peer_dir/"
(cd "$peer_dir" && swift build -c release > "$peer_dir/build.log" 2>&1)
peer_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$peer_dir/.build/release/HummingbirdPeer" "$peer_port" "$data/run.json" > "$data/peer.log" 2>&1 &
peer_pid=$!
trap 'kill $peer_pid 2>/dev/null; kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$peer_port/v1/runs/$run" > /dev/null && break; sleep 0.1; done
echo "peer: Hummingbird 2 answering the same $(wc -c < "$data/run.json")-byte JSON"
measure "hummingbird idle" 8 "http://127.0.0.1:$peer_port"
measure "hummingbird idle" 64 "http://127.0.0.1:$peer_port"
env OPENBLAS_NUM_THREADS=1 nice -n 10 "$bin" bench --epochs 50 --hidden 256 --batch 64 > /dev/null &
trainer=$!
sleep 2
measure "hummingbird while training" 8 "http://127.0.0.1:$peer_port"
measure "hummingbird while training" 64 "http://127.0.0.1:$peer_port"
kill $trainer 2>/dev/null || true
