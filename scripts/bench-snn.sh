#!/usr/bin/env bash
# Spiking training throughput of the engine beside the NumPy peer, run alternately in one sitting:
# LIF 784-256-10, 25 steps, rate coding, surrogate-gradient BPTT, Adam, batch 128, one epoch of
# Fashion-MNIST, one thread (examples/snn-fashion-mnist.json vs ../shared/peers/snn_numpy.py).
# Usage: scripts/bench-snn.sh [ROUNDS] [ISA...]   ISA: avx512, avx2, portable (default: the CPU's best)
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
for i in $(seq 1 "$rounds"); do
  for isa in "${isas[@]}"; do
    flag=(); [ "$isa" = best ] || flag=(--isa "$isa")
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 "$bin" bench --spec "$spec" "${flag[@]}" \
      | grep '^RESULT' | sed 's/^RESULT //' >> "$out/ours-$isa.jsonl"
  done
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 "$peer" --epochs 1 --threads 1 \
    | grep '^RESULT' | sed 's/^RESULT //' >> "$out/peer.jsonl"
done
python3 - "$out" "${isas[@]}" <<'PY'
import json, statistics, sys
d, isas = sys.argv[1], sys.argv[2:]
peer = [json.loads(l) for l in open(f"{d}/peer.jsonl")]
p = [r["train_samples_per_s_epoch1"] for r in peer]
mp = statistics.median(p)
pt = statistics.median(60000 / r["train_samples_per_s_epoch1"] for r in peer)
print(f"numpy peer : samples/s {[round(x) for x in p]} median {mp:.0f}; test acc {[r['test_acc_epoch1'] for r in peer]}; epoch {pt:.1f} s")
for isa in isas:
    ours = [json.loads(l) for l in open(f"{d}/ours-{isa}.jsonl")]
    o = [r["train_samples_per_s_epoch1"] for r in ours]
    mo = statistics.median(o)
    print(f"neuromod {ours[0]['isa']:>8}: samples/s {[round(x) for x in o]} median {mo:.0f}; test acc {[r['test_acc'] for r in ours]}; "
          f"epoch {statistics.median(r['train_seconds'] for r in ours):.1f} s; ratio to peer {mo / mp:.2f}x")
PY
