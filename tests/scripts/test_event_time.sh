#!/usr/bin/env bash
# One declaration dated 9999-12-31 amid normal traffic (issue 17): it is
# dead-lettered as event_time_out_of_range and changes nothing else. The same
# input with a plainly bad line in its place gives byte-identical flags and
# stats and the same summary: dedup, detect and the windows are unaffected (on
# b13c378 the line was accepted, the watermark jumped to year 9999, later records
# were late, dedup and the windowed rules expired, and a stats window
# 10000-01-01 failed the schema).
set -euo pipefail
BIN=$1 SRC=$2
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$BIN" gen --seed 5 --count 4000 --dup-rate 0.05 --fraud-rate 0.05 --bad-rate 0 --quiet \
  --out "$T/gen.jsonl" 2> /dev/null
# line 2000 of each input: a filler bad line / the year-9999 copy of line 1000
/usr/bin/python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
lines = open(f"{t}/gen.jsonl").read().splitlines()
far = json.loads(lines[999])
far["declaration_id"] = "FAR-FUTURE-1"
far["event_time"] = "9999-12-31T23:59:59Z"
for name, extra in (("filler", '{"filler":1}'), ("future", json.dumps(far))):
    with open(f"{t}/{name}.jsonl", "w") as f:
        f.write("\n".join(lines[:1999] + [extra] + lines[1999:]) + "\n")
PY
for v in filler future; do
  # one partition: the two dead-lettered lines (bytes differ) count in the same one
  "$BIN" replay --partitions 1 --in "$T/$v.jsonl" --flags "$T/$v.flags" --stats "$T/$v.stats" \
    --dlq "$T/$v.dlq" --no-progress > "$T/$v.sum"
  sed -E 's/"(processed_at|emitted_at)":"[^"]*"//g; s/"file":"[^"]*"//g' "$T/$v.flags" > "$T/$v.flags.n"
  sed -E 's/"(processed_at|emitted_at)":"[^"]*"//g' "$T/$v.stats" > "$T/$v.stats.n"
  sed -E 's/"elapsed_s":[0-9.]+,"records_per_s":[0-9.]+//' "$T/$v.sum" > "$T/$v.sum.n"
done
cmp -s "$T/filler.flags.n" "$T/future.flags.n" || fail "flags differ: $(diff "$T/filler.flags.n" "$T/future.flags.n" | head -c 600)"
cmp -s "$T/filler.stats.n" "$T/future.stats.n" || fail "stats differ: $(diff "$T/filler.stats.n" "$T/future.stats.n" | head -c 600)"
cmp -s "$T/filler.sum.n" "$T/future.sum.n" || fail "summaries differ: $(cat "$T/filler.sum" "$T/future.sum")"
/usr/bin/python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
s = json.load(open(f"{t}/future.sum"))
assert s["duplicates"] > 0 and s["flagged"] > 0, s   # the comparison saw dedup and detect at work
d = [json.loads(l) for l in open(f"{t}/future.dlq")]
far = [x for x in d if x["source"]["line"] == 2000]
assert len(far) == 1 and far[0]["error"]["code"] == "event_time_out_of_range", far
assert "9999-12-31T23:59:59Z is more than 1d ahead of" in far[0]["error"]["message"], far
assert not any("10000-" in l for l in open(f"{t}/future.stats")), "a year-10000 window"
print("ok:", s["in"], "records,", s["duplicates"], "duplicates,", s["flagged"], "flagged;", far[0]["error"]["message"])
PY
