#!/usr/bin/env bash
# The bounded fuzz pass CI runs (deploy/test.sh): every libFuzzer target of
# tests/fuzz (fuzz_*.c), its regressions replayed, then SECONDS (default 60)
# of fuzzing from its seed corpus; the first finding fails the pass.
# The targets are built once, then fuzzed JOBS (default 2) at a time: each
# fuzzer is one process on one core, so on CI's 2 cores the pass takes half
# the time. Each target's output is printed whole, in order, once it ends.
# usage: tests/fuzz/ci.sh [SECONDS]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
export FUZZ_SECONDS=${1:-60}
BUILD=${BUILD:-$SRC/build-fuzz}
export BUILD FUZZ_PREBUILT=1
targets=()
for f in "$SRC"/tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
CC=clang CXX=clang++ cmake -S "$SRC" -B "$BUILD" -DCF_FUZZ=ON -DCF_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" --target "${targets[@]}" -j"${JOBS:-2}" >/dev/null
LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT
pids=() failed=0
report() { # wait for the i-th target, print its output, note a failure
  local i=$1
  if ! wait "${pids[$i]}"; then failed=1; echo "FAIL: ${targets[$i]}"; fi
  cat "$LOGS/${targets[$i]}.log"
}
for i in "${!targets[@]}"; do
  bash "$SRC/tests/fuzz/run.sh" "${targets[$i]}" > "$LOGS/${targets[$i]}.log" 2>&1 &
  pids[$i]=$!
  # at most JOBS at once: wait for the oldest still running
  if ((i + 1 >= ${JOBS:-2})); then report $((i + 1 - ${JOBS:-2})); fi
done
for ((i = ${#targets[@]} - ${JOBS:-2} + 1; i < ${#targets[@]}; i++)); do
  ((i >= 0)) && report "$i"
done
exit "$failed"
