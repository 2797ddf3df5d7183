#!/usr/bin/env bash
# Builds kserde's libFuzzer targets (clang, ASan+UBSan) in build-fuzz and runs each for SECONDS
# (default 120) on a seed corpus made from tests/golden, then replays the checked-in regression
# inputs (tests/hardening/regressions). Corpora grow in build-fuzz/corpus/<target>; crashes land
# in build-fuzz/artifacts/<target>. Exit status 1 when any target found a crash.
#   fuzz/run.sh [SECONDS]            JOBS=2 to build with two jobs
#   RUNS=N stops each target after N executions (whichever of SECONDS and N comes first);
#   TARGETS="a b" runs only those targets, in that order; PARALLEL=1 runs them all at once.
set -euo pipefail
seconds=${1:-120}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${KSERDE_FUZZ_BUILD_DIR:-$root/build-fuzz}
golden=$root/tests/golden

if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DKSERDE_BUILD_FUZZERS=ON -DKSERDE_BUILD_TESTS=OFF >/dev/null
fi
targets=(hdf5_reader_fuzz archive_reader_fuzz keras_load_fuzz config_json_fuzz npy_fuzz
         sharded_index_fuzz weights_h5_fuzz)
[ -f "$root/plugins/legacy_h5/src/legacy_h5.cpp" ] && targets+=(legacy_h5_fuzz)
[ -f "$root/plugins/safetensors/src/safetensors.cpp" ] && targets+=(safetensors_fuzz)
[ -n "${TARGETS:-}" ] && read -r -a targets <<<"$TARGETS"
cmake --build "$build" -j "${JOBS:-2}" --target "${targets[@]}"

seed() {  # seed TARGET FILES...
  local dir=$build/corpus/$1; shift
  mkdir -p "$dir"
  for f in "$@"; do [ -f "$f" ] && cp -n "$f" "$dir/$(echo "$f" | sed "s|$root/||; s|/|_|g")" || true; done
}
seed hdf5_reader_fuzz "$golden"/*/*.h5 "$golden"/sharded_weights/sharded/*.h5 "$golden"/mlp/model_unzipped/*.h5
seed archive_reader_fuzz "$golden"/*/model.keras
seed keras_load_fuzz "$golden"/*/model.keras
seed config_json_fuzz "$golden"/mlp/model_unzipped/config.json
for k in "$golden"/*/model.keras; do  # every golden config.json
  n=$(basename "$(dirname "$k")")
  mkdir -p "$build/corpus/config_json_fuzz"
  unzip -p "$k" config.json >"$build/corpus/config_json_fuzz/$n.config.json" 2>/dev/null || true
done
seed npy_fuzz "$golden"/*/*.npy
seed sharded_index_fuzz "$golden"/sharded_weights/sharded/model.weights.json
seed weights_h5_fuzz "$golden"/mlp/model.weights.h5 "$golden"/mlp/model_unzipped/model.weights.h5
seed legacy_h5_fuzz "$golden"/mlp/model.h5
seed safetensors_fuzz "$root"/tests/plugins/fixtures/*.safetensors

fuzz_one() {  # fuzz_one TARGET: replays its regressions, then fuzzes; returns 1 on a finding
  local t=$1 rc=0
  mkdir -p "$build/artifacts/$t" "$build/corpus/$t"
  regress=$root/tests/hardening/regressions/$t
  if [ -d "$regress" ] && [ -n "$(ls -A "$regress" 2>/dev/null)" ]; then
    "$build/fuzz/$t" -runs=0 "$regress"/* >"$build/artifacts/$t/regressions.log" 2>&1 \
      || { echo "$t: a regression input fails again (see $build/artifacts/$t/regressions.log)"; rc=1; }
  fi
  echo "== $t (${seconds}s${RUNS:+ or $RUNS runs}) $(date -u +%FT%TZ)"
  # CPU time beside wall time: in a parallel campaign the two differ by the share each target got.
  local TIMEFORMAT="time: %R s wall, %U s user, %S s system"
  if ! { time "$build/fuzz/$t" -max_total_time="$seconds" ${RUNS:+-runs=$RUNS} -rss_limit_mb=2048 -timeout=10 \
       -max_len=262144 -artifact_prefix="$build/artifacts/$t/" -print_final_stats=1 \
       "$build/corpus/$t" >"$build/artifacts/$t/fuzz.log" 2>&1; } 2>"$build/artifacts/$t/time.log"; then
    echo "$t: FOUND A CRASH (see $build/artifacts/$t/)"; rc=1
  fi
  return $rc
}
summary() {  # summary TARGET: the last coverage line and the final statistics
  echo "-- $1 $(date -u +%FT%TZ)"
  grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::peak_rss_mb)|cov:' "$build/artifacts/$1/fuzz.log" | tail -3
  cat "$build/artifacts/$1/time.log"
}

status=0
if [ -n "${PARALLEL:-}" ]; then  # every target at once, each one process (a long campaign on few cores)
  pids=()
  for t in "${targets[@]}"; do fuzz_one "$t" & pids+=($!); done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || status=1; summary "${targets[$i]}"; done
else
  for t in "${targets[@]}"; do fuzz_one "$t" || status=1; summary "$t"; done
fi
exit $status
