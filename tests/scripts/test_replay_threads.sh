#!/usr/bin/env bash
# `replay --threads N` (issue 15): at one --partitions the flags, stats and dead
# letters are the same bytes for every thread count (processed_at / emitted_at,
# the wall clock, aside), on a generated file with bad input, re-deliveries,
# amendments and fraud; the summary's per-thread counts each keep the accounting
# invariant and add up to the total; a state saved by 2 threads is continued by
# 1 thread (and 3) exactly as by the thread count that saved it. Also with several
# rounds per epoch and with tiny epochs, and a failed write stops every thread.
set -euo pipefail
BIN=$1 SRC=$2
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$BIN" gen --seed 15 --count 24000 --per-day 3000 --bad-rate 0.03 --dup-rate 0.04 \
        --fraud-rate 0.08 --out "$T/d.jsonl" --quiet
head -n 12000 "$T/d.jsonl" > "$T/a.jsonl"
tail -n +12001 "$T/d.jsonl" > "$T/b.jsonl"
run() { # name, input, threads, more options
        local n=$1 in=$2 t=$3
        shift 3
        "$BIN" replay --no-progress --in "$in" --threads "$t" --partitions 8 --epoch-lines 200 \
                --flags "$T/$n.f" --stats "$T/$n.s" --dlq "$T/$n.q" "$@" > "$T/$n.sum"
        # the wall clock is the one thing that may differ
        sed -Ei 's/"(processed_at|emitted_at)":"[^"]*"//' "$T/$n.f" "$T/$n.s"
}
same() { # a b: every output identical
        for k in f s q; do
                cmp "$T/$1.$k" "$T/$2.$k" || { echo "FAIL: $1.$k differs from $2.$k"; exit 1; }
        done
}
run t1 "$T/d.jsonl" 1
run t2 "$T/d.jsonl" 2
run t3 "$T/d.jsonl" 3
same t1 t2
same t1 t3
for k in f s q; do # the outputs are not trivially equal
        [ "$(wc -l < "$T/t1.$k")" -gt 100 ] || { echo "FAIL: t1.$k has too few lines"; exit 1; }
done
/usr/bin/python3 - "$T" <<'PYEOF'
import json, sys
T = sys.argv[1]
for name, n in (("t1", 1), ("t2", 2), ("t3", 3)):
    s = json.load(open(f"{T}/{name}.sum"))
    th = s["threads"]
    assert len(th) == n, (name, th)
    for t in th:
        assert t["in"] > 0, (name, t)
        assert t["in"] == t["processed"] + t["duplicates"] + t["dead_lettered"], (name, t)
    for k in ("in", "processed", "duplicates", "dead_lettered", "flagged"):
        assert sum(t[k] for t in th) == s[k], (name, k, th, s[k])
    assert s["in"] == 24000 and s["duplicates"] > 0 and s["dead_lettered"] > 0, s
    assert sum(t["partitions"] for t in th) == 8, th
PYEOF
# rounds of other sizes: several rounds per epoch (the threads' round slots wrap
# inside an epoch, the reader runs ahead of them), and epochs of a few lines
run m1 "$T/d.jsonl" 1 --epoch-lines 1000 --batch-size 90
run m2 "$T/d.jsonl" 2 --epoch-lines 1000 --batch-size 90
run m4 "$T/d.jsonl" 4 --epoch-lines 1000 --batch-size 90
same m1 m2
same m1 m4
run e1 "$T/a.jsonl" 1 --epoch-lines 3 --batch-size 2
run e2 "$T/a.jsonl" 2 --epoch-lines 3 --batch-size 2
same e1 e2
# a failed write stops the threads: exit status 1, the output named
if "$BIN" replay --no-progress --in "$T/d.jsonl" --threads 2 --flags /dev/full > "$T/full.sum" \
        2> "$T/full.err"; then
        echo "FAIL: a write to /dev/full succeeded"
        exit 1
fi
grep -q -- "--flags /dev/full: write error" "$T/full.err" || { echo "FAIL: $(cat "$T/full.err")"; exit 1; }
# state: the first half saved by 2 threads, the second replayed by 1 and by 3,
# against the state saved and continued by 1 thread
run a1 "$T/a.jsonl" 1 --state "$T/s1"
run a2 "$T/a.jsonl" 2 --state "$T/s2"
same a1 a2
cp -r "$T/s2" "$T/s3"
run b1 "$T/b.jsonl" 1 --state "$T/s1"
run b2 "$T/b.jsonl" 1 --state "$T/s2"
run b3 "$T/b.jsonl" 3 --state "$T/s3"
same b1 b2
same b1 b3
echo "ok: replay outputs identical for 1, 2 and 3 threads; per-thread accounting holds"
