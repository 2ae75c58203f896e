#!/usr/bin/env bash
# Spiking training throughput of the engine beside the NumPy peer, run alternately in one sitting:
# LIF 784-256-10, 25 steps, rate coding, surrogate-gradient BPTT, Adam, batch 128, one epoch of
# Fashion-MNIST, one thread (examples/snn-fashion-mnist.json vs ../shared/peers/snn_numpy.py).
# Usage: scripts/bench-snn.sh [ROUNDS] [ISA...]   ISA: avx512, avx2, portable (default: the CPU's best)
# Round i trains seed i-1 on every side, so the accuracies are seed-paired samples.
# With SNNTORCH_PYTHON=/path/to/python (one with torch and snntorch, e.g. a venv with
# `pip install torch==2.13.0+cpu snntorch`), scripts/peers/snn_snntorch.py runs in each round too.
# CORETYPE=Haswell runs every side's OpenBLAS with its AVX2 kernels (with ISA avx2: an AVX2-only
# machine, emulated on an AVX-512 one).
# Needs a release build and python3 with numpy. Prints the CPU's AVX flags with the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; shift || true
isas=("$@"); [ ${#isas[@]} -gt 0 ] || isas=(best)
peer=${PEER:-../shared/peers/snn_numpy.py}
spec=${SPEC:-examples/snn-fashion-mnist.json}
bin=${NEUROMOD_BIN:-.build/release/neuromod}
[ -x "$bin" ] || swift build -c release
out=$(mktemp -d)
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'); avx flags: $(grep -o -w 'avx[0-9a-z_]*\|fma' /proc/cpuinfo | sort -u | tr '\n' ' ')"
blas=(-u OPENBLAS_CORETYPE); [ -z "${CORETYPE:-}" ] || blas=(OPENBLAS_CORETYPE="$CORETYPE")
for i in $(seq 1 "$rounds"); do
  for isa in "${isas[@]}"; do
    flag=(); [ "$isa" = best ] || flag=(--isa "$isa")
    env -u OPENBLAS_L2_SIZE "${blas[@]}" OPENBLAS_NUM_THREADS=1 "$bin" bench --spec "$spec" --seed $((i - 1)) "${flag[@]}" \
      | grep '^RESULT' | sed 's/^RESULT //' >> "$out/ours-$isa.jsonl"
  done
  env -u OPENBLAS_L2_SIZE "${blas[@]}" python3 "$peer" --epochs 1 --threads 1 --seed $((i - 1)) \
    | grep '^RESULT' | sed 's/^RESULT //' >> "$out/peer.jsonl"
  if [ -n "${SNNTORCH_PYTHON:-}" ]; then
    env -u OPENBLAS_L2_SIZE "${blas[@]}" "$SNNTORCH_PYTHON" scripts/peers/snn_snntorch.py --epochs 1 --threads 1 --seed $((i - 1)) \
      | grep '^RESULT' | sed 's/^RESULT //' >> "$out/snntorch.jsonl"
  fi
done
python3 - "$out" "${isas[@]}" <<'PY'
import json, math, os, statistics, sys
d, isas = sys.argv[1], sys.argv[2:]
T975 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}
def ci(xs):
    m = statistics.mean(xs)
    if len(xs) < 2: return f"{m:.4f}"
    h = T975.get(len(xs) - 1, 2.0) * statistics.stdev(xs) / math.sqrt(len(xs))
    return f"{m:.4f} [{m - h:.4f}, {m + h:.4f}]"
peer = [json.loads(l) for l in open(f"{d}/peer.jsonl")]
p = [r["train_samples_per_s_epoch1"] for r in peer]
mp = statistics.median(p)
pacc = [r["test_acc_epoch1"] for r in peer]
print(f"numpy peer     : samples/s {[round(x) for x in p]} median {mp:.0f}; epoch {statistics.median(60000 / x for x in p):.1f} s; "
      f"test acc by seed {pacc}, mean {ci(pacc)}")
torch = [json.loads(l) for l in open(f"{d}/snntorch.jsonl")] if os.path.exists(f"{d}/snntorch.jsonl") else []
st = statistics.median(r["train_samples_per_s_epoch1"] for r in torch) if torch else None
if torch:
    tacc = [r["test_acc_epoch1"] for r in torch]
    print(f"snnTorch {torch[0]['snntorch']} (torch {torch[0]['torch']}): samples/s {[round(r['train_samples_per_s_epoch1']) for r in torch]} "
          f"median {st:.0f}; test acc by seed {tacc}, mean {ci(tacc)}")
for isa in isas:
    ours = [json.loads(l) for l in open(f"{d}/ours-{isa}.jsonl")]
    o = [r["train_samples_per_s_epoch1"] for r in ours]
    acc = [r["test_acc"] for r in ours]
    mo = statistics.median(o)
    diff = [a - b for a, b in zip(acc, pacc)]
    print(f"neuromod {ours[0]['isa']:>6}: samples/s {[round(x) for x in o]} median {mo:.0f}; epoch {statistics.median(r['train_seconds'] for r in ours):.1f} s; "
          f"test acc by seed {acc}, mean {ci(acc)}; minus peer (paired) {ci(diff)}; speed ratio to peer {mo / mp:.2f}x"
          + (f", to snnTorch {mo / st:.2f}x" if st else ""))
PY
