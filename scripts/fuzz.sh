#!/usr/bin/env bash
# Fuzzing with libFuzzer (swiftc -sanitize=fuzzer,address): the HTTP request parser and the
# run-spec decoder. Each target is compiled from its module's sources (and the modules it imports)
# plus Fuzz/<Target>.swift
# and started on a copy of its committed corpus (Fuzz/corpus/<target>), so the seeds stay clean.
# Usage: scripts/fuzz.sh [SECONDS per target, default 60] [extra libFuzzer flags]
#        FUZZ_TARGETS="http-parser" scripts/fuzz.sh 300   (one target only)
# Findings (crash-*, leak-*, timeout-*) land in .build/fuzz/<target>/artifacts.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}; shift || true
out=.build/fuzz
mkdir -p "$out/bin"
flags=(-sanitize=fuzzer,address -parse-as-library -O -g)
build() {  # name module sources... -- extra
  local name=$1 module=$2; shift 2
  rm -f "$out/bin/$name"
  swiftc "${flags[@]}" -module-name "$module" "$@" -o "$out/bin/$name" 2>&1 | grep -v "ld.gold: warning" || true
  [ -x "$out/bin/$name" ] || { echo "cannot build $name"; exit 1; }
}
support() {  # the Support module (JSON codec, SHA-256), which Engine imports, as a static library
  mkdir -p "$out/modules"
  swiftc -sanitize=address -parse-as-library -O -g -module-name Support -emit-module -emit-module-path "$out/modules/Support.swiftmodule" \
    -emit-library -static -o "$out/modules/libSupport.a" Sources/Support/*.swift
}
targets=${FUZZ_TARGETS:-"http-parser spec-decoder"}
for target in $targets; do
  case $target in
    http-parser) build http-parser HTTP Sources/HTTP/*.swift Fuzz/HTTPParserFuzz.swift ;;
    spec-decoder) support
                  build spec-decoder Engine $(find Sources/Engine -name '*.swift') Fuzz/SpecDecoderFuzz.swift \
                    -I "$out/modules" -L "$out/modules" -lSupport -I Sources/CBLAS -I Sources/CZlib -lopenblas -lz ;;
    *) echo "unknown target $target"; exit 2 ;;
  esac
done
status=0
for target in $targets; do
  work="$out/$target"; rm -rf "$work"; mkdir -p "$work/corpus" "$work/artifacts"
  cp Fuzz/corpus/$target/* "$work/corpus/"
  echo "== $target: ${seconds}s"
  SWIFT_BACKTRACE=enable=no "$out/bin/$target" "$work/corpus" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
    -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$@" 2>&1 \
    | grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb|ERROR|SUMMARY|crash-|Done" || status=1
  if ls "$work/artifacts/" | grep -q .; then echo "findings in $work/artifacts"; status=1; fi
done
exit $status
