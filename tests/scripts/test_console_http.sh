#!/usr/bin/env bash
# The review console's security acceptance points over real HTTP
# (tests/console/http_security.py): a replayed generated file loaded offline.
set -euo pipefail
BIN=$1 SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$BIN" gen --seed 5 --count 3000 --fraud-rate 0.05 --out "$TMP/d.jsonl" 2>/dev/null
"$BIN" replay --in "$TMP/d.jsonl" --flags "$TMP/flags.jsonl" >/dev/null
/usr/bin/python3 "$SRC/tests/console/http_security.py" "$BIN" "$TMP" "$TMP/flags.jsonl"
