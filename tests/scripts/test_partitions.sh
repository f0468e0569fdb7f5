#!/usr/bin/env bash
# Detection does not depend on the partitioning (issue 13 item 4, DESIGN §6):
# `replay --partitions` 1, 8 and 64 over one generated stream flag the same
# lines with the same evidence, for every rule: the stateless ones, the
# exporter-keyed ones, and the population rules (unit value, volume,
# certificates), which read a replica merged at each epoch barrier. With a
# second epoch length too, and on the second reference data set. The stream
# covers 30 days (3,000 lines a day): the volume rule's history and two surges.
set -euo pipefail
BIN=$1 SRC=$2
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
CMP=(/usr/bin/python3 "$SRC/tests/scripts/flags_compare.py")
"$BIN" gen --seed 27 --count 90000 --per-day 3000 --fraud-rate 0.08 --out "$T/d.jsonl" --quiet
run() { # partitions, epoch lines, flags file
        "$BIN" replay --no-progress --in "$T/d.jsonl" --partitions $1 --epoch-lines $2 \
                --flags "$3" > /dev/null
}
run 1 128 "$T/f1.jsonl"
for p in 8 64; do
        run $p 128 "$T/f$p.jsonl"
        "${CMP[@]}" --identical-all --min-jaccard 1 "$T/f1.jsonl" "$T/f$p.jsonl"
done
run 1 1000 "$T/g1.jsonl"
run 64 1000 "$T/g64.jsonl"
"${CMP[@]}" --identical-all --min-jaccard 1 "$T/g1.jsonl" "$T/g64.jsonl"
# every population rule fired: the test proves something about each
for r in unit_value_outlier origin_volume_surge certificate_reuse; do
        n=$(grep -c "\"rule\":\"$r\"" "$T/f1.jsonl" || true)
        [ "$n" -gt 20 ] || { echo "FAIL: $r fired only $n times"; exit 1; }
done
B=$SRC/tests/fixtures/reference_b
"$BIN" gen --seed 22 --count 60000 --fraud-rate 0.08 --reference "$B/reference" --out "$T/b.jsonl" --quiet
for p in 1 16; do
        "$BIN" replay -c "$B/customsflow.yaml" --no-progress --in "$T/b.jsonl" --partitions $p \
                --flags "$T/b$p.jsonl" > /dev/null
done
"${CMP[@]}" --identical-all --min-jaccard 1 "$T/b1.jsonl" "$T/b16.jsonl"
echo "ok: flags identical for 1, 8 and 64 partitions"
