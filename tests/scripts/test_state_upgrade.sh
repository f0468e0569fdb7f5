#!/usr/bin/env bash
# State from an earlier release restores: replay's --state written by commit
# b6aa89d (aggregate snapshot version 1, money as doubles of dollars) loads
# in this binary, every stage's state survives (the same input again is all
# duplicates: dedup's state was not reset), and the restored windows carry
# the same records and values (dollars converted to cents) as the old
# release emitted for them.
set -euo pipefail
BIN=$1 SRC=$2
FX=$SRC/tests/fixtures/state_v1
. "$SRC/tests/scripts/state_fixture.sh"
state_fixture "$FX" input.jsonl
"$BIN" replay --in "$T/input.jsonl" --state "$T/state" --stats "$T/stats.jsonl" \
  --no-progress > "$T/summary.json"
/usr/bin/python3 - "$T/summary.json" "$FX/stats_v1.jsonl" "$T/stats.jsonl" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["processed"] == 0 and s["duplicates"] == s["in"] - s["dead_lettered"] > 0, \
    f"dedup state lost across the upgrade: {s}"
def partial_windows(path):
    out = {}
    for line in open(path):
        m = json.loads(line)
        if m["type"] == "window" and not m["final"]:
            out[m["window_start"]] = m
    return out
old, new = partial_windows(sys.argv[2]), partial_windows(sys.argv[3])
assert old, "fixture has no open window"
for start, o in old.items():
    n = new.get(start)
    assert n, f"window {start} not restored"
    assert n["records"] == o["records"], (start, o["records"], n["records"])
    # each record's value is rounded to the cent now; the old sum was exact dollars
    assert abs(n["value_usd"] - o["value_usd"]) <= 0.005 * o["records"] + 1e-6, \
        (start, o["value_usd"], n["value_usd"])
    ot = {e["exporter_id"]: e["value_usd"] for e in o["top_exporters"]}
    nt = {e["exporter_id"]: e["value_usd"] for e in n["top_exporters"]}
    assert ot.keys() == nt.keys(), (start, ot, nt)
    for k in ot:
        assert abs(ot[k] - nt[k]) <= 0.01, (k, ot[k], nt[k])
print(f"ok: state of the earlier release restored; {len(old)} open window(s) identical")
PY
