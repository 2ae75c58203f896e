#!/usr/bin/env bash
# Training throughput of the engine beside the NumPy peer, run alternately in one session.
# MLP 784-256-10, ReLU, softmax CE, SGD lr 0.05, batch 64, one epoch of Fashion-MNIST, one BLAS thread.
# Usage: scripts/bench-mlp.sh [ROUNDS]   (needs a release build and python3 with numpy)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
peer=${PEER:-../shared/peers/mlp_numpy.py}
bin=${NEUROMOD_BIN:-.build/release/neuromod}
[ -x "$bin" ] || swift build -c release
out=$(mktemp -d)
for i in $(seq 1 "$rounds"); do
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 "$bin" bench --epochs 1 --hidden 256 --batch 64 \
    | grep '^RESULT' | sed 's/^RESULT //' >> "$out/ours.jsonl"
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 "$peer" --epochs 1 --threads 1 \
    | grep '^RESULT' | sed 's/^RESULT //' >> "$out/peer.jsonl"
done
python3 - "$out" <<'PY'
import json, statistics, sys
d = sys.argv[1]
ours = [json.loads(l) for l in open(f"{d}/ours.jsonl")]
peer = [json.loads(l) for l in open(f"{d}/peer.jsonl")]
o = [r["train_samples_per_s_epoch1"] for r in ours]
p = [r["train_samples_per_s_epoch1"] for r in peer]
mo, mp = statistics.median(o), statistics.median(p)
print("neuromod samples/s:", [round(x) for x in o], "median", round(mo), "test acc", ours[0]["test_acc"])
print("numpy    samples/s:", [round(x) for x in p], "median", round(mp), "test acc", peer[0]["test_acc_epoch1"], "blas", peer[0]["blas"])
print(f"ratio (median/median): {mo / mp:.2f}x")
PY
