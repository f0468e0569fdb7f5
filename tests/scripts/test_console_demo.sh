#!/usr/bin/env bash
# `customsflow demo` starts the review console too (tests/console/demo_console.py).
set -euo pipefail
BIN=$1 SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
/usr/bin/python3 "$SRC/tests/console/demo_console.py" "$BIN" "$TMP"
