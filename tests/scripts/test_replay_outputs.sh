#!/usr/bin/env bash
# Every replay output write is checked (issue 17): a failed or short write of
# flags, stats or dead letters, to a file or to stdout, stops the run with the
# path and the reason and exit status 1; the summary lists the incomplete
# output and counts only batches whose outputs were all written, so its
# invariant still holds for what was written. b13c378 wrote 5,227 of 20,000
# dead letters to a full disk and reported all 20,000, exited 0 on a full stdout.
set -euo pipefail
BIN=$1 SRC=$2
T=$(mktemp -d); MNT=
trap '[ -n "$MNT" ] && umount "$MNT" 2>/dev/null; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# 2,000 declarations with duplicates, flags and bad lines, then 3,000 bad lines
"$BIN" gen --seed 9 --count 2000 --dup-rate 0.05 --fraud-rate 0.2 --bad-rate 0.1 --quiet \
  --out "$T/in.jsonl" 2> /dev/null
for i in $(seq 3000); do echo "not json $i"; done >> "$T/in.jsonl"
total=$(wc -l < "$T/in.jsonl")

# check_failed NAME OPTION EXPECTED-PATH: summary in $T/sum, stderr in $T/err, status in $rc
check_failed() {
  [ "$rc" = 1 ] || fail "$1: exit status $rc, want 1"
  grep -qF -- "--$2 $3: write error: " "$T/err" || fail "$1: no '--$2 $3: write error' in: $(cat "$T/err")"
  /usr/bin/python3 - "$T/sum" "$2" "$total" <<'PY' || fail "$1: summary: $(cat "$T/sum")"
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
out = [o["output"] for o in s["incomplete_outputs"]]
assert out == [sys.argv[2]], out
assert s["invariant_ok"] and s["in"] == s["processed"] + s["duplicates"] + s["dead_lettered"], s
assert s["in"] < int(sys.argv[3]), s          # it stopped: not every line is counted
assert "error" in s, s
PY
  echo "ok: $1: $(head -c 150 "$T/err" | tr '\n' ' ')"
}

for o in dlq flags stats; do
  rc=0; "$BIN" replay --in "$T/in.jsonl" --$o /dev/full --batch-size 500 --no-progress \
    > "$T/sum" 2> "$T/err" || rc=$?
  check_failed "$o to /dev/full" $o /dev/full
  grep -qF "No space left on device" "$T/err" || fail "$o: no ENOSPC reason"
done

# stdout full: the dead letters and the summary both fail; status and stderr say so
rc=0; "$BIN" replay --in "$T/in.jsonl" --dlq - --no-progress > /dev/full 2> "$T/err" || rc=$?
[ "$rc" = 1 ] || fail "--dlq - to a full stdout: exit status $rc"
grep -qF -- "--dlq - (stdout): write error: No space left on device" "$T/err" || fail "stdout: $(cat "$T/err")"
grep -qF "cannot write the summary" "$T/err" || fail "stdout: summary failure not reported"
echo "ok: a full stdout: $(head -c 120 "$T/err" | tr '\n' ' ')"

# a reader that goes away: EPIPE, not a silent SIGPIPE death
set +o pipefail
"$BIN" replay --in "$T/in.jsonl" --dlq - --no-progress 2> "$T/err" | head -c 100 > /dev/null
rc=${PIPESTATUS[0]}
set -o pipefail
[ "$rc" = 1 ] || fail "pipe closed early: exit status $rc (141 = killed by SIGPIPE)"
grep -qF -- "--dlq - (stdout): write error: Broken pipe" "$T/err" || fail "pipe: $(cat "$T/err")"
echo "ok: a pipe closed early: $(head -c 120 "$T/err")"

# a full file system (a 512 KiB tmpfs) part-way through: the file holds exactly
# the dead letters of the batches the summary counts, and nothing else
MNT=$T/mnt; mkdir -p "$MNT"
if mount -t tmpfs -o size=512k tmpfs "$MNT" 2> /dev/null; then
  rc=0; "$BIN" replay --in "$T/in.jsonl" --dlq "$MNT/dlq.jsonl" --batch-size 100 --no-progress \
    > "$T/sum" 2> "$T/err" || rc=$?
  check_failed "a full tmpfs" dlq "$MNT/dlq.jsonl"
  /usr/bin/python3 - "$T/sum" "$MNT/dlq.jsonl" <<'PY' || fail "tmpfs: counts"
import json, sys
s = json.loads(open(sys.argv[1]).read())
lines = open(sys.argv[2], "rb").read().split(b"\n")
whole = [l for l in lines[:-1]]
assert len(whole) >= s["dead_lettered"] > 0, (len(whole), s)  # the failing batch may have begun
print("tmpfs:", len(whole), "dead letters on disk,", s["dead_lettered"], "counted, in =", s["in"])
PY
  umount "$MNT"; MNT=
else
  echo "skip: cannot mount a tmpfs here (not root?): /dev/full and the pipe cover the write path"
fi

# the same input, outputs writable: complete, status 0, no incomplete_outputs
"$BIN" replay --in "$T/in.jsonl" --dlq "$T/dlq" --flags "$T/flags" --stats "$T/stats" \
  --no-progress > "$T/sum"
grep -q '"incomplete_outputs"' "$T/sum" && fail "incomplete_outputs on a good run"
/usr/bin/python3 - "$T/sum" "$T/dlq" "$total" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read())
assert s["in"] == int(sys.argv[3]) and s["dead_lettered"] == sum(1 for _ in open(sys.argv[2])), s
print("ok: writable outputs: all", s["in"], "lines,", s["dead_lettered"], "dead letters")
PY
