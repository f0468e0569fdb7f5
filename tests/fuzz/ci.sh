#!/usr/bin/env bash
# The bounded fuzz pass CI runs (deploy/test.sh): every libFuzzer target of
# tests/fuzz (fuzz_*.c), its regressions replayed, then SECONDS (default 60)
# of fuzzing from its seed corpus; the first finding fails the pass.
# usage: tests/fuzz/ci.sh [SECONDS]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
export FUZZ_SECONDS=${1:-60}
for f in "$SRC"/tests/fuzz/fuzz_*.c; do
  bash "$SRC/tests/fuzz/run.sh" "$(basename "$f" .c)"
done
