#!/usr/bin/env bash
# Training throughput of two builds of neuromod, alternated in one sitting (before/after a change).
# MLP: `neuromod bench` (784-256-10, SGD, batch 64, one epoch, one BLAS thread).
# SNN: `neuromod experiment --spec examples/snn-fashion-mnist.json` (784-256-10 LIF, 25 steps, one epoch).
# Usage: scripts/bench-ab.sh BIN_A BIN_B [ROUNDS=3] [mlp|snn|both]
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1; b=$2; rounds=${3:-3}; which=${4:-both}
out=$(mktemp -d)
run() {  # label binary kind
  if [ "$3" = mlp ]; then
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 "$2" bench --epochs 1 --hidden 256 --batch 64 \
      | grep '^RESULT' | sed "s/^RESULT /$1 mlp /" >> "$out/results"
  else
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 "$2" experiment --spec examples/snn-fashion-mnist.json \
      | grep '^SUMMARY' | sed "s/^SUMMARY /$1 snn /" >> "$out/results"
  fi
}
for i in $(seq 1 "$rounds"); do
  for kind in mlp snn; do
    [ "$which" = both ] || [ "$which" = "$kind" ] || continue
    if [ $((i % 2)) = 1 ]; then run A "$a" $kind; run B "$b" $kind; else run B "$b" $kind; run A "$a" $kind; fi
  done
done
python3 - "$out/results" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, kind, js = line.split(" ", 2)
    r = json.loads(js)
    rate = r.get("train_samples_per_s_epoch1", r.get("train_samples_per_s"))
    acc = r.get("test_acc", r.get("test_accuracy"))
    rows.setdefault((kind, label), []).append((rate, acc))
for kind in ("mlp", "snn"):
    if (kind, "A") not in rows: continue
    med = {}
    for label in ("A", "B"):
        v = rows[(kind, label)]
        med[label] = statistics.median(x[0] for x in v)
        print(f"{kind} {label}: samples/s {[round(x[0]) for x in v]} median {round(med[label])}, test accuracy {[x[1] for x in v]}")
    print(f"{kind} B/A: {med['B'] / med['A']:.3f}")
PY
