#!/usr/bin/env bash
# replay --state fails loudly and saves safely (issue 17). Only a missing state
# file is a first run. A file that cannot be opened (symlink loop), is not a
# file, is empty (what a power loss after a rename without fsync leaves), is
# over --state-max-bytes, or has a damaged frame name: exit 1 naming the file and
# the reason, nothing processed, the file left as it was. --state-reset starts
# empty and keeps the old file as .old. A save goes to a temp file, fsync, rename,
# fsync of the folder. A run whose outputs fail does not save. Two runs cannot
# share a folder. (b13c378: each damaged case started empty, exited 0, and
# overwrote the old state: 2,958 re-deliveries became 2,861 processed records.)
set -euo pipefail
BIN=$1 SRC=$2
T=$(mktemp -d); HOLD=
trap '[ -n "$HOLD" ] && kill $HOLD 2>/dev/null; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$BIN" gen --seed 4 --count 3000 --dup-rate 0.05 --quiet --out "$T/in.jsonl" 2> /dev/null
S=$T/state; F=$S/replay-partition-0.state
replay() { "$BIN" replay --in "$T/in.jsonl" --state "$S" --no-progress "$@"; }
replay > "$T/first.json"
[ -s "$F" ] || fail "no state written"
[ ! -e "$F.tmp" ] || fail "a temp file was left behind"
cp "$F" "$T/good.state"

# refused NAME PATTERN: the run fails with the path and the reason, leaves the file
refused() {
  local rc=0
  replay > "$T/out" 2> "$T/err" || rc=$?
  [ "$rc" = 1 ] || fail "$1: exit status $rc, want 1"
  grep -qF "$F" "$T/err" || fail "$1: the path is not named: $(cat "$T/err")"
  grep -qF -- "$2" "$T/err" || fail "$1: no '$2' in: $(cat "$T/err")"
  [ ! -s "$T/out" ] || fail "$1: something was processed: $(cat "$T/out")"
  echo "ok: $1: $(head -c 200 "$T/err")"
}
: > "$F"; refused "zero-length file" "empty file"
[ ! -s "$F" ] && [ -f "$F" ] || fail "the empty file was replaced"

rm "$F"; ln -s "$F" "$F"; refused "symlink loop" "Too many levels of symbolic links"
[ -L "$F" ] || fail "the symlink was replaced"
rm "$F"; mkdir "$F"; refused "a folder" "is a folder"
rmdir "$F"; ln -s /dev/zero "$F"; refused "/dev/zero" "not a regular file"
rm "$F"

# one flipped byte in the first frame's name ("dedup" -> "eedup", after the
# sealed snapshot's 24-byte header and the name's length): the checksum sees it
cp "$T/good.state" "$F"
printf 'e' | dd of="$F" bs=1 seek=25 conv=notrunc status=none
cp "$F" "$T/flipped.state"
refused "a damaged frame name" "checksum mismatch"
cmp -s "$F" "$T/flipped.state" || fail "the damaged file was overwritten"

cp "$T/good.state" "$F"
rc=0; replay --state-max-bytes 1KiB > /dev/null 2> "$T/err" || rc=$?
[ "$rc" = 1 ] && grep -qF "more than the limit of 1024" "$T/err" || fail "cap: $rc $(cat "$T/err")"
echo "ok: --state-max-bytes: $(head -c 160 "$T/err")"

# --state-reset: the damaged file is kept as .old, the run starts empty and saves
cp "$T/flipped.state" "$F"
replay --state-reset > "$T/reset.json" 2> "$T/err" || fail "--state-reset: $(cat "$T/err")"
cmp -s "$F.old" "$T/flipped.state" || fail "--state-reset did not keep the old file"
cmp -s <(sed -E 's/"elapsed_s".*//' "$T/first.json") <(sed -E 's/"elapsed_s".*//' "$T/reset.json") ||
  fail "--state-reset is not a fresh start: $(cat "$T/first.json" "$T/reset.json")"
echo "ok: --state-reset keeps the old file as .old and starts empty"

# a good state loads: the second run drops every valid line as a duplicate
cp "$T/good.state" "$F"
replay > "$T/second.json"
/usr/bin/python3 - "$T/second.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["processed"] == 0 and s["duplicates"] == s["in"] - s["dead_lettered"], s
print("ok: the saved state loads:", s["duplicates"], "duplicates of", s["in"])
PY

# a run whose outputs fail does not save: the state stays the one it loaded
cp "$T/good.state" "$F"
rc=0; replay --dlq /dev/full > /dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "output failure: exit status $rc"
cmp -s "$F" "$T/good.state" || fail "the state was saved after a failed output"
echo "ok: no save after a failed output"

# the save is crash-safe: temp file, fsync, rename, then fsync of the folder
if command -v strace > /dev/null; then
  # (LeakSanitizer cannot run under ptrace: leaks are checked by the other runs)
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
    strace -f -e trace=openat,fsync,rename,renameat,renameat2 -o "$T/trace" \
    "$BIN" replay --in "$T/in.jsonl" --state "$S" --state-reset --no-progress > /dev/null
  /usr/bin/python3 - "$T/trace" "$F" <<'PY'
import re, sys
t, f = open(sys.argv[1]).read(), sys.argv[2]
seq = []
for l in t.splitlines():
    if 'openat(' in l and f + '.tmp"' in l and 'O_WRONLY' in l: seq.append("open tmp")
    elif l.split()[1].startswith("fsync("): seq.append("fsync")
    elif re.search(r'rename(at2?)?\(.*"' + re.escape(f + '.tmp') + '".*"' + re.escape(f) + '"', l):
        seq.append("rename")
i = seq.index("open tmp")
assert seq[i:i + 4] == ["open tmp", "fsync", "rename", "fsync"], seq
print("ok: save = write temp, fsync, rename, fsync folder")
PY
else
  echo "skip: strace not installed (deploy/install-deps.sh installs it)"
fi

# two runs on one folder: the second is refused while the first holds the lock
flock -o "$S/lock" sleep 30 & HOLD=$!
for _ in $(seq 50); do flock -n "$S/lock" true 2> /dev/null || break; sleep 0.1; done
rc=0; replay > /dev/null 2> "$T/err" || rc=$?
[ "$rc" = 1 ] && grep -qF "in use by another run" "$T/err" || fail "lock: $rc $(cat "$T/err")"
echo "ok: a locked folder: $(head -c 160 "$T/err")"
kill $HOLD; wait $HOLD 2> /dev/null || true; HOLD=
replay > /dev/null || fail "the folder stayed locked after the holder went away"
echo "ok"
