#!/usr/bin/env bash
# Install dependencies, build, and run the whole test suite (what CI runs).
# CF_TEST_ASAN=1 (default in CI) also builds with ASan+UBSan and runs the suite again.
# CF_TEST_FUZZ=1 (default in CI) also runs the bounded fuzz pass: a clang libFuzzer build, each
# fuzz target's regressions, then CF_FUZZ_SECONDS (default 30) of fuzzing per target, two targets at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
JOBS=${JOBS:-2}
# Tests at a time: the integration tests (one CTest test per case) mostly wait on the mock
# broker's group joins, so six side by side keep two cores busy; at 2 the suites took
# 468 s (Release) and ~580 s (ASan at -O0) of mostly idle wall time, at 6 190 s and 312 s (ASan at -O1)
# (bench/RESULTS.md, "CI time").
TEST_JOBS=${TEST_JOBS:-6}
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure -j"$TEST_JOBS" --timeout 600
if [ "${CF_TEST_ASAN:-${CI:-0}}" != 0 ] && [ "${CF_TEST_ASAN:-1}" != 0 ]; then
  echo "== ASan + UBSan build =="
  # -O1 (ASan's own advice): the suite took 645 CPU-s at -O0, 508 at -O1; asserts stay on
  cmake -S . -B build-asan -DCF_SANITIZE=ON -DCF_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS_DEBUG="-g -O1" -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" >/dev/null
  cmake --build build-asan -j"$JOBS"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$TEST_JOBS" --timeout 900
fi
if [ "${CF_TEST_FUZZ:-${CI:-0}}" != 0 ] && [ "${CF_TEST_FUZZ:-1}" != 0 ]; then
  echo "== fuzz (bounded) =="
  JOBS=$JOBS bash tests/fuzz/ci.sh "${CF_FUZZ_SECONDS:-30}"
fi
