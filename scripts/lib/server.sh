# Sourced by the scripts: starts `neuromod serve` on a free loopback port with a temporary data
# folder, stopped and removed on exit. Inputs: NEUROMOD_BIN (default .build/release/neuromod,
# built if missing), WORKERS (default 1), SERVE_FLAGS (extra `serve` flags).
# Sets: bin, data, pid, base; defines json_id (the "id" of a JSON answer on stdin).
bin=${NEUROMOD_BIN:-.build/release/neuromod}
if [ ! -x "$bin" ]; then
  case $bin in */release/*) swift build -c release ;; *) swift build ;; esac
fi
data=$(mktemp -d)
# shellcheck disable=SC2086
"$bin" serve --port 0 --data-dir "$data" --workers "${WORKERS:-1}" ${SERVE_FLAGS:-} > "$data/out" 2> "$data/log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do grep -q LISTENING "$data/out" 2>/dev/null && break; sleep 0.1; done
base=http://127.0.0.1:$(awk '/LISTENING/ {print $2}' "$data/out")
json_id() { python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])'; }
