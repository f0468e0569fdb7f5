#!/usr/bin/env bash
# The review console in a real browser (tests/console/browser_test.py): Debian's
# headless chromium + chromedriver + python3-selenium; a mock Kafka cluster
# (tests/console/mock_broker.c) receives the verdict's outcome. Screenshots of
# each page go to console-screenshots/ in the build folder.
set -euo pipefail
BIN=$1 SRC=$2
TMP=$(mktemp -d)
BROKER_PID=
cleanup() { [ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
"$BIN" gen --seed 5 --count 3000 --fraud-rate 0.05 --out "$TMP/d.jsonl" 2>/dev/null
"$BIN" replay --in "$TMP/d.jsonl" --flags "$TMP/flags.jsonl" --stats "$TMP/stats.jsonl" >/dev/null
# the broker lives while fd 4 (its stdin) is open
mkfifo "$TMP/broker.in"
"$(dirname "$BIN")/tests/cf_mock_broker" customs.outcomes < "$TMP/broker.in" > "$TMP/broker.out" &
BROKER_PID=$!
exec 4> "$TMP/broker.in"
for _ in $(seq 100); do [ -s "$TMP/broker.out" ] && break; sleep 0.05; done
BOOT=$(head -1 "$TMP/broker.out")
/usr/bin/python3 "$SRC/tests/console/browser_test.py" "$BIN" "$TMP" "$TMP/flags.jsonl" \
  "$TMP/stats.jsonl" "$BOOT" "$PWD/console-screenshots"
