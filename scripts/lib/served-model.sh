# Sourced by the prediction benchmarks: a trained server (scripts/lib/trained-server.sh), its run
# registered as model "fm" (version 1), and one test image as request bodies in $data
# (scripts/lib/predict-bodies.py). Reads DURATION/ROUNDS from the script's arguments.
# Sets: bin, data, pid, base, exp, run, duration, rounds.
duration=${1:-5}
rounds=${2:-3}
SERVE_FLAGS=${SERVE_FLAGS:-"--handler-threads 4"}
. "$(dirname "${BASH_SOURCE[0]}")/trained-server.sh"
curl -s -X POST "$base/v1/models" -d "{\"name\": \"fm\", \"run_id\": \"$run\"}" > /dev/null
python3 "$(dirname "${BASH_SOURCE[0]}")/predict-bodies.py" "$data"
