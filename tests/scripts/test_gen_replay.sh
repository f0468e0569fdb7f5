#!/usr/bin/env bash
# Generator + replay against the truth file (issue 2 acceptance, smaller count):
# every `bad` line is dead-lettered with its bad_code, no other line is, the
# summary's invariant holds, >= 30 kinds of bad input occur, the generator is
# deterministic (same options, same bytes) and a different seed differs.
set -euo pipefail
BIN=$1 SRC=$2
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
args=(--seed 1 --count 60000 --bad-rate 0.03 --dup-rate 0.02 --quiet)
"$BIN" gen "${args[@]}" --out "$T/d.jsonl" --truth "$T/t.jsonl"
"$BIN" gen "${args[@]}" --out "$T/d2.jsonl"
cmp "$T/d.jsonl" "$T/d2.jsonl" || { echo "FAIL: gen is not deterministic"; exit 1; }
"$BIN" gen --seed 2 --count 1000 --quiet --out "$T/d3.jsonl"
if cmp -s <(head -n 1000 "$T/d.jsonl") "$T/d3.jsonl"; then echo "FAIL: seed ignored"; exit 1; fi
"$BIN" replay --in "$T/d.jsonl" --dlq "$T/dlq.jsonl" --no-progress > "$T/summary.json"
/usr/bin/python3 - "$T" <<'PYEOF'
import json, sys
from collections import Counter
T = sys.argv[1]
truth = [json.loads(l) for l in open(f"{T}/t.jsonl")]
data_lines = sum(1 for _ in open(f"{T}/d.jsonl", "rb"))
assert len(truth) == data_lines == 60000, (len(truth), data_lines)
dlq = {}
for l in open(f"{T}/dlq.jsonl"):
    d = json.loads(l)
    dlq[d["source"]["line"]] = d["error"]["code"]
s = json.load(open(f"{T}/summary.json"))
fail = []
kinds = Counter()
for i, t in enumerate(truth, 1):
    if t["kind"] == "bad":
        kinds[t["bad_kind"]] += 1
        if dlq.get(i) != t["bad_code"]:
            fail.append(f"line {i}: bad {t['bad_kind']} expected {t['bad_code']}, got {dlq.get(i)}")
    elif i in dlq:
        fail.append(f"line {i}: {t['kind']} line dead-lettered as {dlq[i]}")
n_bad = sum(kinds.values())
if s["dead_lettered"] != n_bad:
    fail.append(f"summary dead_lettered {s['dead_lettered']} != {n_bad} bad lines")
if s["in"] != s["processed"] + s["duplicates"] + s["dead_lettered"] or not s["invariant_ok"]:
    fail.append(f"invariant broken: {s}")
if len(kinds) < 30:
    fail.append(f"only {len(kinds)} kinds of bad input")
for f in fail[:20]:
    print("FAIL:", f)
print(f"{n_bad} bad lines of {len(kinds)} kinds, {len(dlq)} dead letters, {len(fail)} failures")
sys.exit(1 if fail else 0)
PYEOF
