#!/usr/bin/env bash
# replay as DESIGN §7: stdin/stdout with '-', line numbers over every input line
# (blank lines are empty messages), DLQ payload vs payload_base64, the summary
# and its invariant, --help, and clear errors with non-zero exit.
set -euo pipefail
BIN=$1 SRC=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok=$(cat "$SRC/schemas/examples/minimal.json")
{ echo "$ok"; echo; printf '{"bad":\n'; printf '\xff\xfe\n'; echo "$ok"; } > "$tmp/in.jsonl"

# the help is read whole: grep -q stopping early would end a longer one with SIGPIPE
"$BIN" replay --help > "$tmp/help" && grep -q -- "--dlq" "$tmp/help" || fail "--help"
"$BIN" --version | grep -q "customsflow " || fail "--version"

# stdin in, DLQ on stdout... summary also on stdout: keep DLQ in a file here.
"$BIN" replay --in - --dlq "$tmp/dlq.jsonl" --no-progress < "$tmp/in.jsonl" > "$tmp/sum.json"
/usr/bin/python3 - "$tmp/sum.json" "$tmp/dlq.jsonl" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read())
for k in ("in", "processed", "duplicates", "dead_lettered", "flagged", "flags_by_rule", "elapsed_s", "records_per_s"):
    assert k in s, k
assert s["in"] == 5, s
assert s["in"] == s["processed"] + s["duplicates"] + s["dead_lettered"], s
assert s["dead_lettered"] == 3, s
d = [json.loads(l) for l in open(sys.argv[2])]
assert [x["source"]["line"] for x in d] == [2, 3, 4], d
assert d[0]["error"]["code"] == "empty_message" and d[0]["payload"] == "", d[0]
assert d[1]["error"]["code"] == "truncated_json" and d[1]["payload"] == '{"bad":', d[1]
assert d[2]["error"]["code"] == "invalid_utf8" and d[2]["payload_base64"] == "//4=", d[2]
assert all(x["source"]["file"] == "-" for x in d)
print("replay stdin ok")
PY

# --dlq - writes dead letters to stdout before the summary line.
"$BIN" replay --in "$tmp/in.jsonl" --dlq - --no-progress > "$tmp/out.txt"
[ "$(wc -l < "$tmp/out.txt")" = 4 ] || fail "dlq on stdout: $(cat "$tmp/out.txt")"
tail -1 "$tmp/out.txt" | grep -q '"invariant_ok":true' || fail "summary last"

# Errors: missing --in, unknown option, missing file, bad config: non-zero + message.
if "$BIN" replay 2> "$tmp/err"; then fail "no --in accepted"; fi
grep -q -- "--in" "$tmp/err" || fail "no --in message"
if "$BIN" replay --in /nonexistent 2> "$tmp/err"; then fail "missing file accepted"; fi
grep -q "cannot open /nonexistent" "$tmp/err" || fail "missing file message"
printf 'stages:\n  decode:\n    max_depth: 3\n    bogus: 1\n' > "$tmp/bad.yaml"
if "$BIN" replay -c "$tmp/bad.yaml" --in "$tmp/in.jsonl" 2> "$tmp/err"; then fail "bad config accepted"; fi
grep -q "bad.yaml:4: unknown key 'bogus' in stages.decode" "$tmp/err" || fail "bad config message: $(cat "$tmp/err")"
if "$BIN" check-config -c "$tmp/bad.yaml" 2> "$tmp/err"; then fail "check-config accepted"; fi
grep -q "bad.yaml:4:" "$tmp/err" || fail "check-config message"
printf 'stages:\n  decode:\n    fx_rates: nowhere.csv\n' > "$tmp/bad2.yaml"
if "$BIN" check-config -c "$tmp/bad2.yaml" 2> "$tmp/err"; then fail "missing fx accepted"; fi
grep -q "nowhere.csv: cannot open" "$tmp/err" || fail "missing fx message: $(cat "$tmp/err")"
echo "ok"
