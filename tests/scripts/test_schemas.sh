#!/usr/bin/env bash
# Every example validates against its schema; invalid examples are rejected by
# the schema too wherever JSON Schema can express the rule. Replay's flags and
# dead letters over the examples validate against their schemas.
set -euo pipefail
BIN=$1 SRC=$2
PY=/usr/bin/python3
CHECK="$PY $SRC/tests/scripts/schema_check.py"
$CHECK "$SRC/schemas/declaration.schema.json" "$SRC"/schemas/examples/*.json
$CHECK "$SRC/schemas/outcome.schema.json" "$SRC"/schemas/examples/outcome/*.json
# Codes JSON Schema cannot express (byte-level, duplicate keys, limits, calendar
# validity of dates, the ISO code lists, the fx table).
not_expressible="invalid_date event_time_out_of_range oversize_message duplicate_key too_deep too_many_tokens inconsistent_mass unknown_currency_rate invalid_country invalid_escape nul_byte"
rejected=0
# declaration examples, then outcome examples (the outcome schema refers to the
# declaration's, so the store holds every schema of the folder)
for f in "$SRC"/schemas/examples/invalid/*__*.msg "$SRC"/schemas/examples/outcome/invalid/*__*.msg; do
  code=$(basename "$f"); code=${code%%__*}
  case " $not_expressible " in *" $code "*) continue;; esac
  schema="$SRC/schemas/declaration.schema.json"
  case "$f" in */outcome/invalid/*) schema="$SRC/schemas/outcome.schema.json";; esac
  if $PY - "$schema" "$f" <<'PYEOF'
import json, os, sys
import jsonschema
try:
    def no_const(c):
        raise ValueError(c)  # NaN/Infinity are not JSON
    doc = json.loads(open(sys.argv[2], 'rb').read().decode('utf-8'), parse_constant=no_const)
except Exception:
    sys.exit(1)  # not JSON at all: rejected
schema = json.load(open(sys.argv[1]))
d = os.path.dirname(sys.argv[1])
store = {}
for n in os.listdir(d):
    if n.endswith(".schema.json"):
        s = json.load(open(os.path.join(d, n)))
        store[s.get("$id", n)] = s
        store[n] = s
resolver = jsonschema.RefResolver(base_uri=schema.get("$id", ""), referrer=schema, store=store)
try:
    jsonschema.Draft202012Validator(schema, resolver=resolver).validate(doc)
except jsonschema.ValidationError:
    sys.exit(1)
sys.exit(0)
PYEOF
  then echo "FAIL: schema accepts invalid example $(basename "$f")"; exit 1; fi
  rejected=$((rejected+1))
done
echo "$rejected invalid examples rejected by the schema"
[ "$rejected" -ge 25 ]
# Dead letters of the invalid examples validate against the dead-letter schema.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for f in "$SRC"/schemas/examples/invalid/*__*.msg; do cat "$f"; echo; done > "$tmp/in.jsonl"
"$BIN" replay --in "$tmp/in.jsonl" --dlq "$tmp/dlq.jsonl" --no-progress > "$tmp/sum.json"
$CHECK "$SRC/schemas/dead-letter.schema.json" "$tmp/dlq.jsonl"
n_in=$(ls "$SRC"/schemas/examples/invalid/*__*.msg | wc -l)
n_dlq=$(wc -l < "$tmp/dlq.jsonl")
[ "$n_in" = "$n_dlq" ] || { echo "FAIL: $n_in invalid examples, $n_dlq dead letters"; exit 1; }
echo "ok"
