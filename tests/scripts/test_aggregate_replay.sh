#!/usr/bin/env bash
# Aggregate stage over replay (issue #6): every stats line validates against
# schemas/stats.schema.json (and the schema rejects broken ones); the sum of
# summary records + late records equals the processed count; groups add up to
# their summary; duplicates and dead letters add up to the replay summary;
# each (window, partition) is emitted once; stats do not depend on the batch
# size; with tiny caps, overflow and forced windows are counted, never lost.
set -euo pipefail
BIN=$1 SRC=$2
PY=/usr/bin/python3
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
# 20,000 records: ~16,000 stats lines, late records, overflow and forced windows all
# present; the schema check (Python jsonschema, ~0.2 ms a line) made 50,000 the suite's
# longest test (58 s)
"$BIN" gen --seed 11 --count 20000 --bad-rate 0.01 --dup-rate 0.02 --quiet --out "$T/in.jsonl"
"$BIN" replay --in "$T/in.jsonl" --stats "$T/s.jsonl" --no-progress > "$T/sum.json"
"$BIN" replay --in "$T/in.jsonl" --stats "$T/s1.jsonl" --batch-size 7 --no-progress > /dev/null
$PY "$SRC/tests/scripts/schema_check.py" "$SRC/schemas/stats.schema.json" "$T/s.jsonl"
$PY "$SRC/tests/scripts/schema_check.py" "$SRC/schemas/stats.schema.json" \
  "$SRC"/schemas/examples/stats/*.json
# Tiny caps: 20 groups per window, 2 open windows.
ln -s "$SRC/deploy/examples/reference" "$T/reference"
ln -s "$SRC/deploy/examples/rules.yaml" "$T/rules.yaml"
$PY - "$SRC/deploy/examples/customsflow.yaml" "$T/cfg.yaml" <<'PYEOF'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
c["stages"]["aggregate"] = {"max_groups_per_window": 20, "max_open_windows": 2,
                            "allowed_lateness": "1h"}
yaml.safe_dump(c, open(sys.argv[2], "w"))
PYEOF
"$BIN" replay -c "$T/cfg.yaml" --in "$T/in.jsonl" --stats "$T/c.jsonl" --no-progress > "$T/csum.json"
$PY "$SRC/tests/scripts/schema_check.py" "$SRC/schemas/stats.schema.json" "$T/c.jsonl"
$PY - "$T" "$SRC/schemas/stats.schema.json" <<'PYEOF'
import json, sys, copy
from collections import Counter, defaultdict
T, schema_path = sys.argv[1], sys.argv[2]
import jsonschema
schema = json.load(open(schema_path))
V = jsonschema.Draft202012Validator(schema)

def check(stats_path, sum_path, caps):
    s = json.load(open(sum_path))
    msgs = [json.loads(l) for l in open(stats_path)]
    keys = Counter()
    grp = defaultdict(lambda: [0, 0.0])
    tot = late = dups = dead = ovf = forced = 0
    partial = 0
    for m in msgs:
        k = (m["window_start"], tuple(m["partitions"]), m["type"],
             m.get("reporter_country"), m.get("origin_country"), m.get("export_country"),
             m.get("hs_chapter"))
        keys[k] += 1
        if m["type"] == "group":
            grp[m["window_start"]][0] += m["records"]
            grp[m["window_start"]][1] += m["value_usd"]
            continue
        tot += m["records"]
        late += m["late"]
        assert m["late"] == sum(e["count"] for e in m["late_records"]) + m["late_unattributed"]
        dups += m["duplicates"]
        dead += m["dead_letters"]
        ovf += m["overflow_records"]
        forced += m["forced"]
        partial += not m["final"]
        g = grp.pop(m["window_start"], [0, 0.0])
        assert g[0] + m["overflow_records"] == m["records"], (m["window_start"], g, m["records"])
        assert abs(g[1] + m["overflow_value_usd"] - m["value_usd"]) <= 1e-6 * max(1, m["value_usd"])
    assert not grp, "group messages without a summary"
    dupk = [k for k, n in keys.items() if n > 1]
    assert not dupk, f"emitted twice: {dupk[:3]}"
    assert tot + late == s["processed"], (tot, late, s["processed"])
    assert dups == s["duplicates"], (dups, s["duplicates"])
    assert dead == s["dead_lettered"], (dead, s["dead_lettered"])
    assert partial >= 1
    print(f"{stats_path}: {len(msgs)} messages, records {tot} + late {late} = processed "
          f"{s['processed']}; overflow {ovf}, forced {forced}, partial {partial}")
    if caps:
        assert ovf > 0 and forced > 0, (ovf, forced)
    else:
        assert late > 0, "the generated stream has late records; none reported"
    return msgs

a = check(f"{T}/s.jsonl", f"{T}/sum.json", False)
check(f"{T}/c.jsonl", f"{T}/csum.json", True)
# Batch size does not change the stats (emitted_at aside).
b = [json.loads(l) for l in open(f"{T}/s1.jsonl")]
strip = lambda ms: [{k: v for k, v in m.items() if k != "emitted_at"} for m in ms]
assert strip(a) == strip(b), "stats depend on the batch size"
# The schema rejects broken messages (so the validation above can fail).
w = next(m for m in a if m["type"] == "window")
g = next(m for m in a if m["type"] == "group")
bad = []
for base, edit in [(g, lambda m: m.update(records="3")), (g, lambda m: m.pop("hs_chapter")),
                   (g, lambda m: m.update(type="window")), (w, lambda m: m.update(extra=1)),
                   (w, lambda m: m.update(late=-1)), (w, lambda m: m.update(window_start="yesterday")),
                   (g, lambda m: m.update(flags_by_rule={"no_such_rule": 1}))]:
    m = copy.deepcopy(base)
    edit(m)
    if V.is_valid(m):
        bad.append(m)
assert not bad, f"schema accepts broken messages: {bad[:1]}"
print("ok")
PYEOF
