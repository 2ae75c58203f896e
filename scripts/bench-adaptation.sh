#!/usr/bin/env bash
# Issue 17's throughput figure: single-image JSON predictions through an alias that adapts against
# the same model through an alias that does not, on one server, alternated ROUNDS times (wrk -t2
# -c32, DURATION s each, loopback; wrk shares the cores). Each condition runs twice: predictions
# alone, and with a client giving feedback (label) on a prediction of its own 100 times a second
# (applied by the adapting alias; only counted by the other).
# Prints each round, the medians and the ratio on/off. Usage: scripts/bench-adaptation.sh [DURATION] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/served-model.sh
curl -s -X PUT "$base/v1/models/fm/aliases/plain" -d '{"version": 1}' > /dev/null
curl -s -X PUT "$base/v1/models/fm/aliases/adapting" -d '{"version": 1}' > /dev/null
curl -s -X PUT "$base/v1/models/fm/aliases/adapting/adaptation" -d '{"learning_rate": 0.005, "noradrenaline": true, "snapshot_every": 1000}' > /dev/null
feeder() {  # alias: predict + feedback, 100 a second, until killed
  python3 - "$base" "$1" "$data/v1.json" <<'PY' &
import http.client, json, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); alias = sys.argv[2]; body = open(sys.argv[3]).read()
c = http.client.HTTPConnection(u.hostname, u.port)
while True:
    t = time.time()
    c.request("POST", f"/v1/models/fm/predict?alias={alias}", body); p = json.loads(c.getresponse().read())
    c.request("POST", "/v1/models/fm/feedback", json.dumps({"prediction_id": p["predictions"][0]["prediction_id"], "label": 9}))
    c.getresponse().read()
    time.sleep(max(0, 0.01 - (time.time() - t)))
PY
  feeder_pid=$!
}
one() {  # name, alias, with-feedback(0|1)
  local fpid=""
  if [ "$3" = 1 ]; then feeder "$2"; fpid=$feeder_pid; fi
  wrk -t2 -c32 -d"${duration}s" --latency -s "$data/v1.lua" "$base/v1/models/fm/predict?alias=$2" | python3 scripts/lib/wrk-summary.py "$1"
  if [ -n "$fpid" ]; then kill "$fpid"; wait "$fpid" 2>/dev/null || true; fi
}
echo "cpu: $(nproc) cores; $(grep -o -w -E 'avx2|avx512f|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')"
for r in $(seq "$rounds"); do
  one off plain 0
  one on adapting 0
  one off+feedback plain 1
  one on+feedback adapting 1
done | tee "$data/rounds.txt"
curl -s "$base/v1/models/fm/aliases/adapting/adaptation" | python3 -c 'import sys,json; d=json.load(sys.stdin); print("adapting alias:", d["updates"], "updates,", d["feedback"], "feedbacks, version", d["version"])'
python3 scripts/lib/round-medians.py "$data/rounds.txt" --pair on/off --pair on+feedback/off+feedback
