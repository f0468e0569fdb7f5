#!/usr/bin/env bash
# The learning loop on generated data (issue 16 item 6): gen --outcomes leaves
# the declarations byte-identical and writes outcomes valid against
# schemas/outcome.schema.json; replay --outcomes learns every one of them and
# risk_model fires, with flags valid against schemas/flag.schema.json and
# windowed stats counting risk_model valid against schemas/stats.schema.json; a bad
# outcome is dead-lettered with its code and counted, never learnt; and the
# model learnt from the first half of the outcomes ranks the second half well
# above chance (learn-eval), so the loop learns the generator's patterns.
set -euo pipefail
BIN=$1 SRC=$2
PY=/usr/bin/python3
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
G="--seed 5 --count 30000 --per-day 1000 --fraud-rate 0.1 --quiet"
"$BIN" gen $G --out "$T/plain.jsonl"
"$BIN" gen $G --out "$T/in.jsonl" --outcomes "$T/outcomes.jsonl" --outcome-rate 0.3
cmp "$T/plain.jsonl" "$T/in.jsonl" || { echo "FAIL: --outcomes changed the declarations"; exit 1; }
$PY "$SRC/tests/scripts/schema_check.py" "$SRC/schemas/outcome.schema.json" "$T/outcomes.jsonl"
n=$(wc -l < "$T/outcomes.jsonl")
# one bad outcome among them (an unknown verdict word)
$PY - "$T/outcomes.jsonl" "$T/with_bad.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
bad = json.loads(lines[10]); bad["outcome"] = "confirmed_fraud"
lines.insert(11, json.dumps(bad))
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
PY
"$BIN" replay --in "$T/in.jsonl" --outcomes "$T/with_bad.jsonl" --flags "$T/flags.jsonl" \
  --dlq "$T/dlq.jsonl" --stats "$T/stats.jsonl" --no-progress > "$T/summary.json"
$PY "$SRC/tests/scripts/schema_check.py" "$SRC/schemas/flag.schema.json" "$T/flags.jsonl"
grep '"type":"window"' "$T/stats.jsonl" > "$T/windows.jsonl"
grep -q '"risk_model":' "$T/windows.jsonl" || { echo "FAIL: no window counts risk_model"; exit 1; }
$PY "$SRC/tests/scripts/schema_check.py" "$SRC/schemas/stats.schema.json" "$T/windows.jsonl"
$PY "$SRC/tests/scripts/schema_check.py" "$SRC/schemas/dead-letter.schema.json" "$T/dlq.jsonl"
$PY - "$T" "$n" <<'PY'
import json, sys
T, n = sys.argv[1], int(sys.argv[2])
s = json.load(open(f"{T}/summary.json"))
assert s["outcomes_learnt"] == n, (s["outcomes_learnt"], n)
assert s["outcomes_dead_lettered"] == 1, s
assert s["flags_by_rule"]["risk_model"] > 0, s["flags_by_rule"]
dlq = [json.loads(l) for l in open(f"{T}/dlq.jsonl")]
bad = [d for d in dlq if d["source"]["file"].endswith("with_bad.jsonl")]
assert len(bad) == 1 and bad[0]["error"]["code"] == "invalid_enum", bad
risk = 0
for l in open(f"{T}/flags.jsonl"):
    for r in json.loads(l)["reasons"]:
        if r["rule"] == "risk_model":
            risk += 1
            e = r["evidence"]
            assert e["probability"] >= e["threshold"] and e["outcomes_learnt"] >= 1000, e
            assert 1 <= len(e["top_features"]) <= 5, e
print(f"ok: {n} outcomes learnt, 1 dead-lettered, risk_model fired {risk} times")
PY
# learn the first half, score the second: well above the share of frauds
half=$((n / 2))
head -n "$half" "$T/outcomes.jsonl" > "$T/first.jsonl"
tail -n +"$((half + 1))" "$T/outcomes.jsonl" > "$T/second.jsonl"
"$BIN" learn-eval --train "$T/first.jsonl" --test "$T/second.jsonl" > "$T/eval.json" 2>/dev/null
$PY - "$T/eval.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
base = r["test"]["frauds"] / r["test"]["records"]
print(f"generated outcomes: P@5 % {r['p_at_5']:.3f} (fraud share {base:.3f}), AUC {r['auc']:.3f}")
assert r["p_at_5"] >= 3 * base and r["auc"] >= 0.65, r
PY
# the model is state: saved by replay --state, restored by the next run, which
# scores with it (risk_model fires) without reading any outcome; without the
# state the same run cannot fire it
"$BIN" replay --in "$T/in.jsonl" --outcomes "$T/outcomes.jsonl" --state "$T/st" --no-progress \
  > /dev/null
[ -s "$T/st/replay-global.state" ] || { echo "FAIL: no global state saved"; exit 1; }
# the next days of trade (another seed, after the first stream's 30 days)
"$BIN" gen --seed 6 --count 10000 --per-day 1000 --fraud-rate 0.1 --quiet \
  --start 2025-02-15T00:00:00Z --out "$T/next.jsonl"
"$BIN" replay --in "$T/next.jsonl" --state "$T/st" --no-progress > "$T/restored.json"
"$BIN" replay --in "$T/next.jsonl" --no-progress > "$T/fresh.json"
$PY - "$T/restored.json" "$T/fresh.json" <<'PY'
import json, sys
r, f = (json.load(open(p)) for p in sys.argv[1:])
print(f"risk_model flags: restored model {r['flags_by_rule']['risk_model']}, "
      f"no model {f['flags_by_rule']['risk_model']}")
assert "outcomes_learnt" not in r and r["flags_by_rule"]["risk_model"] > 0, r
assert f["flags_by_rule"]["risk_model"] == 0, f
PY
