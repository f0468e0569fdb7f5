#!/usr/bin/env bash
# Build the decode fuzzer with clang (libFuzzer + ASan + UBSan) and run it.
# usage: tests/fuzz/run.sh [RUNS]   (default 1000000 executions)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${1:-1000000}
BUILD=${BUILD:-$SRC/build-fuzz}
CC=clang CXX=clang++ cmake -S "$SRC" -B "$BUILD" -DCF_FUZZ=ON -DCF_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" --target fuzz_decode -j2 >/dev/null
CORPUS=$BUILD/fuzz-corpus
mkdir -p "$CORPUS"
cp "$SRC"/schemas/examples/*.json "$SRC"/schemas/examples/invalid/*.msg "$CORPUS"/
cp "$SRC"/tests/fuzz/regressions/* "$CORPUS"/ 2>/dev/null || true
"$BUILD"/tests/fuzz/fuzz_decode -runs="$RUNS" -max_len=8192 -print_final_stats=1 \
  -dict="$SRC/tests/fuzz/json.dict" "$CORPUS"
