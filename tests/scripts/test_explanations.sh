#!/usr/bin/env bash
# Every flag explains itself (issue 13 item 5, RULES.md "Explanations"): on a
# generated stream long enough for every rule to fire (75 days of event time:
# volume surges need 14 days of history, new exporters a 30-day warm-up), every
# rule of the registry fires (risk_model too, learnt from the generator's
# outcomes), every reason carries a non-empty explanation, and the flags
# validate against schemas/flag.schema.json.
set -euo pipefail
BIN=$1 SRC=$2
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
# with the generator's inspection outcomes, so that risk_model (learnt from them) fires too
"$BIN" gen --seed 7 --count 60000 --per-day 800 --fraud-rate 0.1 --quiet --out "$T/in.jsonl" \
  --outcomes "$T/outcomes.jsonl"
"$BIN" replay --in "$T/in.jsonl" --outcomes "$T/outcomes.jsonl" --flags "$T/flags.jsonl" \
  --no-progress > "$T/summary.json"
"$BIN" check-config --rules-schema > "$T/rules.schema.json"
/usr/bin/python3 "$SRC/tests/scripts/schema_check.py" "$SRC/schemas/flag.schema.json" \
  "$T/flags.jsonl"
/usr/bin/python3 - "$T" <<'PY'
import json, sys
from collections import Counter
T = sys.argv[1]
rules = list(json.load(open(f"{T}/rules.schema.json"))["properties"]["rules"]["properties"])
seen, bad, example = Counter(), [], {}
for line in open(f"{T}/flags.jsonl"):
    for r in json.loads(line)["reasons"]:
        seen[r["rule"]] += 1
        text = r.get("explanation", "")
        if not text.strip() or "\n" in text or "nan" in text.split() or "inf" in text.split():
            bad.append(r)
        example.setdefault(r["rule"], text)
assert not bad, f"{len(bad)} reasons without a proper explanation, e.g. {bad[0]}"
missing = [k for k in rules if not seen[k]]
assert not missing, f"rules that never fired: {missing}"
for k in rules:
    print(f"  {k} ({seen[k]}): {example[k]}")
print(f"ok: all {len(rules)} rules fired; {sum(seen.values())} reasons, each explained")
PY
