#!/usr/bin/env bash
# Build a libFuzzer target with clang (libFuzzer + ASan + UBSan, findings abort), replay its
# regressions, then fuzz it from its seed corpus.
# usage: tests/fuzz/run.sh [TARGET] [RUNS]     TARGET: fuzz_decode (default), fuzz_restore,
#                                                fuzz_config, fuzz_rules, fuzz_refcsv;
#                                                RUNS: executions (default 1000000)
#        tests/fuzz/run.sh RUNS                 (fuzz_decode, as before)
# FUZZ_SECONDS=S: fuzz for S seconds instead of RUNS executions (tests/fuzz/ci.sh).
# BUILD=dir: the fuzz build folder (default build-fuzz).
# Regressions: every file of tests/fuzz/regressions/TARGET/ runs once first; a crash fails.
# Seeds: fuzz_decode the schema examples (valid and invalid), fuzz_restore
# tests/fuzz/corpus/restore/, fuzz_config/_rules/_refcsv the bundled config, rules and CSVs;
# they are copied into a work corpus that new units go to ($BUILD/corpus-TARGET), so the
# tree's corpus stays as committed.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=fuzz_decode
if [[ ${1:-} == fuzz_* ]]; then TARGET=$1; shift; fi
RUNS=${1:-1000000}
BUILD=${BUILD:-$SRC/build-fuzz}
# FUZZ_PREBUILT=1: the target is built already (ci.sh builds them all first, then runs them
# side by side: two cmake runs in one build folder would collide)
if [ -z "${FUZZ_PREBUILT:-}" ]; then
  CC=clang CXX=clang++ cmake -S "$SRC" -B "$BUILD" -DCF_FUZZ=ON -DCF_BENCH=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" --target "$TARGET" -j"${JOBS:-2}" >/dev/null
fi
BINF=$BUILD/tests/fuzz/$TARGET
REG=$SRC/tests/fuzz/regressions/$TARGET
shopt -s nullglob
regs=("$REG"/*)
if ((${#regs[@]})); then
  echo "== $TARGET: ${#regs[@]} regression input(s)"
  "$BINF" "${regs[@]}" > "$BUILD/regressions-$TARGET.log" 2>&1 ||
    { cat "$BUILD/regressions-$TARGET.log"; exit 1; }
  echo "   $(grep -c '^Executed' "$BUILD/regressions-$TARGET.log") run, no finding"
fi
CORPUS=$BUILD/corpus-$TARGET
rm -rf "$CORPUS"
mkdir -p "$CORPUS"
ARGS=(-print_final_stats=1 -timeout=25 -rss_limit_mb=2048)
case $TARGET in
fuzz_decode)
  cp "$SRC"/schemas/examples/*.json "$SRC"/schemas/examples/invalid/*.msg "$CORPUS"/
  ARGS+=(-max_len=8192 -dict="$SRC/tests/fuzz/json.dict") ;;
fuzz_restore)
  cp "$SRC"/tests/fuzz/corpus/restore/* "$CORPUS"/ ;;
fuzz_config)
  cp "$SRC"/deploy/examples/customsflow.yaml "$CORPUS"/ ;;
fuzz_rules)
  cp "$SRC"/deploy/examples/rules.yaml "$CORPUS"/ ;;
fuzz_refcsv) # the reference CSVs the pipeline loads, each behind its name (fuzz_refcsv.c)
  for f in fx_rates trade_measures watchlist exporters route_watchlist; do
    { echo "$f.csv"; cat "$SRC/deploy/examples/reference/$f.csv"; } > "$CORPUS/$f"
  done ;;
esac
if ((${#regs[@]})); then cp "${regs[@]}" "$CORPUS"/; fi
if [ -n "${FUZZ_SECONDS:-}" ]; then
  ARGS+=(-max_total_time="$FUZZ_SECONDS")
  BOUND="$FUZZ_SECONDS s"
else
  ARGS+=(-runs="$RUNS")
  BOUND="$RUNS runs"
fi
echo "== $TARGET: $(ls "$CORPUS" | wc -l) seed(s), $BOUND"
# grep hides libFuzzer's progress lines but keeps a finding's story: the target's own
# message (a check of the target failing is "fuzz_TARGET: ..." then a deadly signal), the
# stack, where the input was written and, when short, the input itself; libFuzzer's exit
# status is what counts (a finding is non-zero; grep finding nothing is not a failure)
rc=0
"$BINF" "${ARGS[@]}" -artifact_prefix="$BUILD/$TARGET-" "$CORPUS" 2>&1 |
  grep -E "^(stat::|Done|==[0-9]+==|SUMMARY|.*runtime error|fuzz_[a-z]+: |Test unit written|Base64: |    #[0-9]+ )" ||
  rc=${PIPESTATUS[0]}
exit "$rc"
