#!/usr/bin/env bash
# Bounded work per line (issue 17): with max_tokens at its schema maximum, lines
# of 64 KiB that are one deep nest of brackets cost each parser milliseconds,
# not seconds. jsmn's closing brackets walked parent links (O(depth^2)): on
# b13c378 each such line took ~0.9 s, 20 of them ~18 s; the nesting is now
# measured linearly before tokenizing and refused as too_deep.
set -euo pipefail
BIN=$1 SRC=$(cd "$2" && pwd)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
/usr/bin/python3 - "$T/in.jsonl" <<'PY'
import sys
n = 32700                                    # 65,406 bytes: just under max_message_bytes
with open(sys.argv[1], "w") as f:
    for i in range(20):
        f.write('{"x":' + "[" * n + "]" * n + "}\n")
PY
for p in jsmn simdjson; do
  sed "s|reference/fx_rates.csv|$SRC/deploy/examples/reference/fx_rates.csv\n    parser: $p\n    max_tokens: 1048576|; s|rules: rules.yaml|rules: $SRC/deploy/examples/rules.yaml|" \
    "$SRC/deploy/examples/customsflow.yaml" > "$T/$p.yaml"
  start=$(date +%s%N)
  "$BIN" replay -c "$T/$p.yaml" --in "$T/in.jsonl" --dlq "$T/$p.dlq" --no-progress > "$T/$p.sum"
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  n=$(grep -c '"code":"too_deep"' "$T/$p.dlq") || true
  [ "$n" = 20 ] || fail "$p: $n of 20 lines too_deep: $(head -c 300 "$T/$p.dlq")"
  # generous for a loaded machine and a sanitizer build: the quadratic walk took ~18 s
  [ "$ms" -lt 5000 ] || fail "$p: 20 deep lines took $ms ms"
  echo "ok ($p): 20 lines of 64 KiB nesting, too_deep, in $ms ms"
done
