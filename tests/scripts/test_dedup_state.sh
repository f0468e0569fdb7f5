#!/usr/bin/env bash
# replay --state DIR keeps dedup state between runs: replaying the same file a
# second time with the same state folder drops every valid line as a duplicate
# (original, re-delivered and amended versions alike); a third file with new
# versions of the same keys is processed (amendment / conflicting resubmission).
set -euo pipefail
BIN=$1 SRC=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# 60 declarations x 2 lines, 10 re-deliveries, 5 amendments, 3 bad lines.
line() { # id line day amendment value
        printf '{"declaration_id":"DEC-%s","line":%s,"event_time":"2025-03-%02dT09:30:00Z","hs_code":"94035000%02d","origin_country":"VN","export_country":"VN","exporter_id":"VN-EXP-%s","importer_id":"US-IMP-7","quantity":%s,"unit":"NMB","customs_value":%s,"currency":"USD","amendment":%s}\n' \
                "$1" "$2" "$3" "$2" "$(( $1 % 7 ))" "$(( 10 + $2 ))" "$5" "$4"
}
{
        for i in $(seq 1 60); do
                line "$i" 1 $(( 1 + i % 20 )) 0 $(( 1000 + i ))
                line "$i" 2 $(( 1 + i % 20 )) 0 $(( 2000 + i ))
        done
        for i in $(seq 1 10); do line "$i" 1 $(( 1 + i % 20 )) 0 $(( 1000 + i )); done
        for i in $(seq 20 24); do line "$i" 2 $(( 2 + i % 20 )) 1 $(( 2500 + i )); done
        echo '{"declaration_id":'
        echo 'not json'
        echo
} > "$tmp/in.jsonl"

run() { "$BIN" replay --in "$1" --state "$tmp/state" --no-progress; }
check() { # summary-file expected-duplicates-expression
        /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read())
assert s["in"] == s["processed"] + s["duplicates"] + s["dead_lettered"], s
want = eval(sys.argv[2], {}, {"s": s})
assert s["duplicates"] == want, ("duplicates", s["duplicates"], "want", want, s)
print("ok:", sys.argv[2], s["in"], s["processed"], s["duplicates"], s["dead_lettered"])
PY
}

run "$tmp/in.jsonl" > "$tmp/s1.json"
check "$tmp/s1.json" "10" || fail "first run: $(cat "$tmp/s1.json")"
[ -s "$tmp/state/replay-partition-0.state" ] || fail "no state file written"

run "$tmp/in.jsonl" > "$tmp/s2.json"
check "$tmp/s2.json" "s['in'] - s['dead_lettered']" || fail "second run: $(cat "$tmp/s2.json")"

# New versions of known keys are not duplicates: 3 amendments (higher), 2 conflicting.
{
        for i in 30 31 32; do line "$i" 1 $(( 3 + i % 20 )) 2 $(( 3000 + i )); done
        for i in 33 34; do line "$i" 1 $(( 3 + i % 20 )) 0 $(( 4000 + i )); done
        line 1 1 2 0 1001 # and one more re-delivery
} > "$tmp/new.jsonl"
run "$tmp/new.jsonl" > "$tmp/s3.json"
check "$tmp/s3.json" "1" || fail "third run: $(cat "$tmp/s3.json")"
/usr/bin/python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["processed"]==5, s' \
        "$tmp/s3.json" || fail "third run processed"

# The same over generated data (re-deliveries, amendments, bad input): the
# first run drops exactly the truth's duplicates, the second run everything.
"$BIN" gen --seed 3 --count 5000 --dup-rate 0.05 --out "$tmp/gen.jsonl" --truth "$tmp/truth.jsonl" > /dev/null
ndup=$(grep -c '"kind":"duplicate"' "$tmp/truth.jsonl" || true)
[ "$ndup" -gt 0 ] || fail "generator made no duplicates"
"$BIN" replay --in "$tmp/gen.jsonl" --state "$tmp/gstate" --no-progress > "$tmp/g1.json"
check "$tmp/g1.json" "$ndup" || fail "generated, first run: $(cat "$tmp/g1.json")"
"$BIN" replay --in "$tmp/gen.jsonl" --state "$tmp/gstate" --no-progress > "$tmp/g2.json"
check "$tmp/g2.json" "s['in'] - s['dead_lettered']" || fail "generated, second run"

# A corrupt state file is an error, not a silent fresh start.
printf 'garbage' > "$tmp/state/replay-partition-0.state"
if run "$tmp/in.jsonl" > "$tmp/s4.json" 2> "$tmp/err4"; then fail "corrupt state accepted"; fi
grep -q "snapshot" "$tmp/err4" || fail "corrupt state message: $(cat "$tmp/err4")"
echo "dedup state ok"
