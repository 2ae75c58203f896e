# Sourced by the load scripts: starts a release server on a free loopback port with a temporary
# data folder (stopped and removed on exit) and trains examples/mlp-fashion-mnist.json to the end.
# Sets: bin, data, pid, base, exp, run. Extra `serve` flags may be given in SERVE_FLAGS.
bin=${NEUROMOD_BIN:-.build/release/neuromod}
[ -x "$bin" ] || swift build -c release
data=$(mktemp -d)
# shellcheck disable=SC2086
"$bin" serve --port 0 --data-dir "$data" --workers 1 ${SERVE_FLAGS:-} > "$data/out" 2> "$data/log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do grep -q LISTENING "$data/out" 2>/dev/null && break; sleep 0.1; done
port=$(awk '/LISTENING/ {print $2}' "$data/out")
base=http://127.0.0.1:$port
json_id() { python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])'; }
exp=$(curl -s -X POST "$base/v1/experiments" -d '{"name":"load"}' | json_id)
run=$(curl -s -X POST "$base/v1/experiments/$exp/runs" --data @examples/mlp-fashion-mnist.json | json_id)
for _ in $(seq 600); do
  state=$(curl -s "$base/v1/runs/$run" | python3 -c 'import sys,json; print(json.load(sys.stdin)["state"])')
  [ "$state" = succeeded ] && break; sleep 0.1
done
