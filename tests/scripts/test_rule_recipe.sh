#!/usr/bin/env bash
# RULES.md's recipe for adding a rule holds: a binary built with one more rule
# file and one more registry row (tests/fixtures/rule_recipe, $CF_FIXTURE_BIN)
# reads the rule's section from rules.yaml, fires it, counts it in the summary's
# flags_by_rule (after the others, which do not change), in aggregate's per-rule
# counts, and writes flags and stats valid against the schemas once the name is
# in their rule enums. The product binary refuses the section: the row is what
# makes the rule known.
set -euo pipefail
BIN=$1 SRC=$2
FBIN=${CF_FIXTURE_BIN:?set by tests/CMakeLists.txt}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cp -r "$SRC/deploy/examples/customsflow.yaml" "$SRC/deploy/examples/rules.yaml" \
  "$SRC/deploy/examples/reference" "$T/"
mkdir "$T/fixture"
cp -r "$T/customsflow.yaml" "$T/reference" "$T/fixture/"
# the rule's section in rules.yaml (the last section is rules:)
{ cat "$T/rules.yaml"; printf '  fixture_bulk_quantity:\n    weight: 60\n    min_quantity: 200000\n'; } \
  > "$T/fixture/rules.yaml"
"$BIN" gen --seed 3 --count 10000 --quiet --out "$T/in.jsonl"
"$BIN" replay -c "$T/customsflow.yaml" --in "$T/in.jsonl" --no-progress > "$T/base.json"
"$FBIN" replay -c "$T/fixture/customsflow.yaml" --in "$T/in.jsonl" --flags "$T/flags.jsonl" \
  --stats "$T/stats.jsonl" --no-progress > "$T/fixture.json"
if "$BIN" replay -c "$T/fixture/customsflow.yaml" --in "$T/in.jsonl" --no-progress \
     > /dev/null 2> "$T/err.txt"; then
  echo "FAIL: the product binary accepted a rule it does not register"; exit 1
fi
grep -q "unknown rule 'fixture_bulk_quantity'" "$T/err.txt" || { cat "$T/err.txt"; exit 1; }
# the schemas with the name added to their rule enums (the recipe's last step)
cp -r "$SRC/schemas" "$T/schemas"
/usr/bin/python3 - "$T" <<'PY'
import json, sys
T, R = sys.argv[1], "fixture_bulk_quantity"
for name, path in (("flag", ["properties", "reasons", "items", "properties", "rule", "enum"]),
                   ("stats", ["$defs", "rule", "enum"])):
    f = f"{T}/schemas/{name}.schema.json"
    s = json.load(open(f))
    node = s
    for k in path:
        node = node[k]
    node.append(R)
    json.dump(s, open(f, "w"))
base, fx = json.load(open(f"{T}/base.json")), json.load(open(f"{T}/fixture.json"))
fbr = fx["flags_by_rule"]
assert list(fbr) == list(base["flags_by_rule"]) + [R], list(fbr)
n = fbr[R]
assert n > 0, "the fixture rule never fired"
for k, v in base["flags_by_rule"].items():
    assert fbr[k] == v, (k, v, fbr[k])
fired = 0
for line in open(f"{T}/flags.jsonl"):
    for r in json.loads(line)["reasons"]:
        if r["rule"] == R:
            fired += 1
            assert r["evidence"]["quantity"] >= 200000, r
            assert r["explanation"].startswith("quantity ") and "reaches the fixture's 200,000" \
                in r["explanation"], r
assert fired == n, (fired, n)
latest = {}
for line in open(f"{T}/stats.jsonl"):
    m = json.loads(line)
    key = (m["type"], m["window_start"], m["partitions"][0], m.get("reporter_country"),
           m.get("origin_country"), m.get("export_country"), m.get("hs_chapter"))
    latest[key] = m
win = sum(m["flags_by_rule"].get(R, 0) for k, m in latest.items() if k[0] == "window")
grp = sum(m["flags_by_rule"].get(R, 0) for k, m in latest.items() if k[0] == "group")
late = sum(m["late"] for k, m in latest.items() if k[0] == "window")
assert grp == win > 0, (grp, win)
assert win <= n and (late > 0 or win == n), (win, n, late)
print(f"ok: {R} fired {n} times: summary {n}, stats {win} (late records {late}), "
      f"other rules unchanged")
PY
CHECK="/usr/bin/python3 $SRC/tests/scripts/schema_check.py"
$CHECK "$T/schemas/flag.schema.json" "$T/flags.jsonl"
$CHECK "$T/schemas/stats.schema.json" "$T/stats.jsonl"
