#!/usr/bin/env bash
# Install dependencies, build, and run the whole test suite (what CI runs).
# CF_TEST_ASAN=1 (default in CI) also builds with ASan+UBSan and runs the suite again.
# CF_TEST_FUZZ=1 (default in CI) also runs the bounded fuzz pass: a clang libFuzzer build, each
# fuzz target's regressions, then CF_FUZZ_SECONDS (default 30) of fuzzing per target, two targets at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
JOBS=${JOBS:-2}
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure -j"$JOBS" --timeout 600
if [ "${CF_TEST_ASAN:-${CI:-0}}" != 0 ] && [ "${CF_TEST_ASAN:-1}" != 0 ]; then
  echo "== ASan + UBSan build =="
  cmake -S . -B build-asan -DCF_SANITIZE=ON -DCF_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build build-asan -j"$JOBS"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$JOBS" --timeout 900
fi
if [ "${CF_TEST_FUZZ:-${CI:-0}}" != 0 ] && [ "${CF_TEST_FUZZ:-1}" != 0 ]; then
  echo "== fuzz (bounded) =="
  JOBS=$JOBS bash tests/fuzz/ci.sh "${CF_FUZZ_SECONDS:-30}"
fi
