#!/usr/bin/env bash
# Detection quality in CI (issue 5, on a smaller stream than the bench): per
# rule precision >= 0.95 and recall >= 0.90 against the generator's truth,
# flagged precision >= 0.95, on two seeds with different rates; and every
# flag message validates against schemas/flag.schema.json.
set -euo pipefail
BIN=$1 SRC=$2
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
Q=(/usr/bin/python3 "$SRC/bench/quality/quality.py" --bin "$BIN" --min-precision 0.95
   --min-recall 0.90 --min-flag-precision 0.95)
"${Q[@]}" --seed 5 --count 150000 --fraud-rate 0.05 --flags-out "$T/flags.jsonl"
"${Q[@]}" --seed 9 --count 120000 --fraud-rate 0.1 --dup-rate 0.05 --bad-rate 0.02
n=$(wc -l < "$T/flags.jsonl")
[ "$n" -gt 1000 ] || { echo "FAIL: only $n flags"; exit 1; }
/usr/bin/python3 "$SRC/tests/scripts/schema_check.py" "$SRC/schemas/flag.schema.json" "$T/flags.jsonl"
echo "ok: quality thresholds met, $n flags valid"
