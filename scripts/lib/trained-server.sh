# Sourced by the load scripts: starts a server (scripts/lib/server.sh: NEUROMOD_BIN, WORKERS,
# SERVE_FLAGS) and trains examples/mlp-fashion-mnist.json to the end.
# Sets: bin, data, pid, base, exp, run.
. "$(dirname "${BASH_SOURCE[0]}")/server.sh"
exp=$(curl -s -X POST "$base/v1/experiments" -d '{"name":"load"}' | json_id)
run=$(curl -s -X POST "$base/v1/experiments/$exp/runs" --data @examples/mlp-fashion-mnist.json | json_id)
for _ in $(seq 600); do
  state=$(curl -s "$base/v1/runs/$run" | python3 -c 'import sys,json; print(json.load(sys.stdin)["state"])')
  [ "$state" = succeeded ] && break; sleep 0.1
done
