#!/usr/bin/env bash
# Training cost of context inference against plain SGD (issue 12): class-incremental split
# Fashion-MNIST, 784-256-10, SGD 0.05, batch 64, one thread; the engine's own training
# samples/s (evaluation excluded), median of 3 runs per variant. Usage: scripts/context-cost.sh [BIN]
set -euo pipefail
BIN=${1:-.build/release/neuromod}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
variant() { # name, neuromodulation JSON
  cat > "$tmp/$1.json" <<JSON
{"data": {"dataset": "fashion-mnist", "validation": 0.1},
 "protocol": {"kind": "split", "scenario": "class-incremental", "epochs_per_task": 1},
 "model": {"kind": "mlp", "layers": [784, 256, 10], "activation": "relu"},
 "optimizer": {"kind": "sgd", "learning_rate": 0.05, "batch_size": 64},
 "neuromodulation": $2, "metrics_every_steps": 100, "checkpoint_every_steps": 100000, "seed": 1}
JSON
  for i in 1 2 3; do "$BIN" experiment --spec "$tmp/$1.json" | tail -1 | sed 's/^SUMMARY //' \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["train_samples_per_s"])'; done | sort -n | sed -n 2p
}
plain=$(variant plain '{}')
printf '%-44s %10s %8s\n' variant samples/s "× plain"
printf '%-44s %10.0f %8s\n' "plain SGD" "$plain" 1.00
for v in "gated, protocol, oracle|{\"context\": {\"gating_keep\": 0.5, \"boundaries\": \"protocol\", \"inference\": \"oracle\"}}" \
         "gated, NA-detected, entropy|{\"context\": {\"gating_keep\": 0.5, \"boundaries\": \"detected\", \"inference\": \"entropy\"}}" \
         "gated, NA-detected, memory (2,000 units)|{\"context\": {\"gating_keep\": 0.5, \"boundaries\": \"detected\", \"inference\": \"memory\"}}" \
         "gated, NA-detected, memory (500 units)|{\"context\": {\"gating_keep\": 0.5, \"boundaries\": \"detected\", \"inference\": \"memory\", \"memory_units\": 500}}" \
         "gated, NA-detected, memory (250 units)|{\"context\": {\"gating_keep\": 0.5, \"boundaries\": \"detected\", \"inference\": \"memory\", \"memory_units\": 250}}" \
         "gated, NA-detected, memory (150 units)|{\"context\": {\"gating_keep\": 0.5, \"boundaries\": \"detected\", \"inference\": \"memory\", \"memory_units\": 150}}" \
         "gated, NA-detected, memory (100 units)|{\"context\": {\"gating_keep\": 0.5, \"boundaries\": \"detected\", \"inference\": \"memory\", \"memory_units\": 100}}"; do
  r=$(variant x "${v#*|}")
  printf '%-44s %10.0f %8.2f\n' "${v%%|*}" "$r" "$(python3 -c "print($plain/$r)")"
done
