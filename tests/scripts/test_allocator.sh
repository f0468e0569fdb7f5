#!/usr/bin/env bash
# The binary runs on jemalloc with the project's defaults compiled in
# (pipeline/alloc/malloc_conf.c: transparent huge pages), and MALLOC_CONF in the
# environment still overrides them, as README § Memory says. jemalloc prints
# its options at exit with stats_print. Skipped where jemalloc is not linked
# (the sanitizer build brings its own allocator).
set -euo pipefail
BIN=$1
# ldd's list read whole first: `ldd | grep -q` under pipefail fails when grep's early exit
# cuts ldd off (SIGPIPE), which skipped this test once in a parallel ctest run
libs=$(ldd "$BIN")
grep -q libjemalloc <<< "$libs" || { echo "SKIP: $BIN is not linked with jemalloc"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
opts() { MALLOC_CONF="stats_print:true${1:+,$1}" "$BIN" --version 2>&1 | grep -E '^ +opt\.(thp|metadata_thp):'; }
got=$(opts "")
echo "$got"
grep -q 'opt.thp: "always"' <<<"$got" || fail "the compiled-in default thp:always is not in effect"
grep -q 'opt.metadata_thp: "auto"' <<<"$got" || fail "the compiled-in default metadata_thp:auto is not in effect"
got=$(opts "thp:default,metadata_thp:disabled")
grep -q 'opt.thp: "default"' <<<"$got" || fail "MALLOC_CONF=thp:default did not override the default"
grep -q 'opt.metadata_thp: "disabled"' <<<"$got" || fail "MALLOC_CONF did not override metadata_thp"
echo "ok: jemalloc defaults compiled in, MALLOC_CONF overrides them"
