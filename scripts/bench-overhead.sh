#!/usr/bin/env bash
# Cost of neuromodulation per training step: the same MLP 784-256-10 epoch with and without all
# four modulators (learning-rate, gain and threshold targets, so the modulated forward/backward
# path runs), alternated ROUNDS times; prints the median samples/s of each and the overhead.
# Usage: scripts/bench-overhead.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
bin=${NEUROMOD_BIN:-.build/release/neuromod}
[ -x "$bin" ] || swift build -c release
nm='{"dopamine": {"targets": {"learning_rate": 1.0}},
     "noradrenaline": [{"signal": "surprise", "targets": {"learning_rate": 0.3, "gain": 0.1}},
                       {"signal": "utility_decline", "targets": {"temperature": 0.5}}],
     "acetylcholine": {"targets": {"threshold": 0.05}},
     "serotonin": {"targets": {"learning_rate": -0.5}}}'
out=$(mktemp -d)
for i in $(seq 1 "$rounds"); do
  OPENBLAS_NUM_THREADS=1 "$bin" bench --epochs 1 | grep '^RESULT' | sed 's/^RESULT //' >> "$out/plain.jsonl"
  OPENBLAS_NUM_THREADS=1 "$bin" bench --epochs 1 --neuromodulation "$nm" | grep '^RESULT' | sed 's/^RESULT //' >> "$out/nm.jsonl"
done
python3 - "$out" <<'PY'
import json, statistics, sys
d = sys.argv[1]
p = [json.loads(l)["train_samples_per_s_epoch1"] for l in open(f"{d}/plain.jsonl")]
n = [json.loads(l)["train_samples_per_s_epoch1"] for l in open(f"{d}/nm.jsonl")]
mp, mn = statistics.median(p), statistics.median(n)
print("plain       samples/s:", [round(x) for x in p], "median", round(mp))
print("neuromod.   samples/s:", [round(x) for x in n], "median", round(mn))
print(f"time per step with neuromodulation: +{(mp / mn - 1) * 100:.1f}%")
PY
