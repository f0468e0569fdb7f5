#!/usr/bin/env bash
# Hostile declaration lines through `customsflow replay` (issue 17), black-box:
# - a CRLF file: a dead letter's payload keeps its '\r' (byte-exact); a valid
#   CRLF line is processed and its flag carries no raw '\r';
# - an unpaired surrogate (\ud800) in an unknown key never reaches a flag: it
#   is invalid_escape on both parsers, like in a known field;
# - a bare `1` is not_an_object; an error message that quotes a value cut at 64
#   bytes is valid UTF-8 (the DLQ line is read back as strict UTF-8);
# - the parsers agree on depth (16 nested levels pass, 17 are too_deep: simdjson
#   took 17, jsmn 16) and on escaped keys ("origin_countr\u0079" is origin_country:
#   alone it is processed, beside the plain key a duplicate_key; b13c378's
#   simdjson processed it, jsmn refused it);
# - a 64 MiB line is cut at max_message_bytes: oversize_message, payload_truncated,
#   original_bytes, and replay's memory stays far below the line's size;
# - every DLQ line validates against schemas/dead-letter.schema.json.
set -euo pipefail
BIN=$1 SRC=$(cd "$2" && pwd)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
for p in simdjson jsmn; do
  sed "s|reference/fx_rates.csv|$SRC/deploy/examples/reference/fx_rates.csv\n    parser: $p|; s|rules: rules.yaml|rules: $SRC/deploy/examples/rules.yaml|" \
    "$SRC/deploy/examples/customsflow.yaml" > "$T/$p.yaml"
done
/usr/bin/python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
base = {"declaration_id": "D-1", "line": 1, "event_time": "2025-03-14T09:30:00Z",
        "hs_code": "940350", "origin_country": "VN", "export_country": "VN",
        "exporter_id": "VN-E1", "importer_id": "US-I1", "quantity": 10, "unit": "NMB",
        "customs_value": 1000, "currency": "USD",
        "preference_code": "GSP"}     # no certificate: preference_without_certificate fires
def line(**kw):
    d = dict(base); d.update(kw); return json.dumps(d, separators=(",", ":"))
with open(f"{t}/in.jsonl", "wb") as f:
    f.write(line(declaration_id="CRLF-OK").encode() + b"\r\n")                   # 1
    f.write(b'{"declaration_id":\r\n')                                            # 2
    f.write(line(declaration_id="SURR").encode()[:-1] + b',"note\\ud800":"x"}\n')   # 3
    f.write(line(declaration_id="SURR2").encode()[:-1] + b',"n":"\\udc00"}\n')      # 4
    f.write(b"1\n")                                                               # 5
    f.write(line(declaration_id="CC", origin_country="x" + "\u00e9" * 40).encode() + b"\n")  # 6
    f.write(line(declaration_id="BIG", goods_description="y" * (64 << 20)).encode() + b"\n")  # 7
    f.write(line(declaration_id="LAST").encode() + b"\n")                        # 8
    f.write(line(declaration_id="DEPTH16").encode()[:-1] + b',"x":' + b"[" * 15 + b"1" + b"]" * 15 + b"}\n")  # 9
    f.write(line(declaration_id="DEPTH17").encode()[:-1] + b',"x":' + b"[" * 16 + b"]" * 16 + b"}\n")  # 10
    f.write(line(declaration_id="ESC-ALONE").replace('"origin_country"', '"origin_countr\\u0079"').encode() + b"\n")  # 11
    f.write(line(declaration_id="ESC-PLAIN").encode()[:-1] + b',"origin_countr\\u0079":"CN"}\n')  # 12
with open(f"{t}/in.jsonl", "rb") as f, open(f"{t}/base.jsonl", "wb") as g:
    g.writelines(l for i, l in enumerate(f) if i != 6)   # the same without the 64 MiB line
PY
for p in simdjson jsmn; do
  /usr/bin/python3 - "$BIN" "$T/$p.yaml" "$T/in.jsonl" "$T/$p" <<'PY' || fail "$p"
import os, subprocess, sys
b, cfg, inp, out = sys.argv[1:]
def max_rss(inp, flags, dlq, summary):  # KiB, of this run alone
    p = subprocess.Popen([b, "replay", "-c", cfg, "--in", inp, "--flags", flags, "--dlq", dlq,
                          "--no-progress"], stdout=open(summary, "w"))
    _, status, ru = os.wait4(p.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"replay {inp}: status {status}"
    return ru.ru_maxrss
rss = max_rss(inp, out + ".flags", out + ".dlq", out + ".sum")
base = max_rss(inp.replace("in.jsonl", "base.jsonl"), os.devnull, os.devnull, os.devnull)
open(out + ".rss", "w").write(f"{rss} {base}")
PY
  /usr/bin/python3 - "$T/$p" "$p" <<'PY' || fail "$p: outputs"
import json, sys
out, parser = sys.argv[1], sys.argv[2]
dlq = [json.loads(l) for l in open(out + ".dlq", "rb").read().decode("utf-8", "strict").splitlines()]
by = {d["source"]["line"]: d for d in dlq}
assert sorted(by) == [2, 3, 4, 5, 6, 7, 10, 12], sorted(by)
assert by[2]["error"]["code"] == "truncated_json" and by[2]["payload"] == '{"declaration_id":\r', by[2]
assert by[3]["error"]["code"] == "invalid_escape" and by[4]["error"]["code"] == "invalid_escape", (by[3], by[4])
assert by[5]["error"]["code"] == "not_an_object", by[5]
assert by[6]["error"]["code"] == "invalid_country", by[6]
assert by[10]["error"]["code"] == "too_deep", by[10]
assert by[12]["error"]["code"] == "duplicate_key", by[12]
big = by[7]
assert big["error"]["code"] == "oversize_message" and big["payload_truncated"] is True, big["error"]
assert big["original_bytes"] > 64 << 20 and len(big["payload"].encode()) == 65536, big["original_bytes"]
flags = open(out + ".flags", "rb").read()
assert b"\r" not in flags and b"\\ud800" not in flags and b"\\udc00" not in flags
ids = [json.loads(l)["declaration_id"] for l in flags.splitlines()]
assert ids == ["CRLF-OK", "LAST", "DEPTH16", "ESC-ALONE"], ids
assert b'"origin_countr\\u0079":"VN"' in flags.splitlines()[3]  # the key as received
assert json.loads(flags.splitlines()[3])["declaration"]["origin_country"] == "VN"
rss, base = map(int, open(out + ".rss").read().split())
# against the same input without the line (sanitizer builds start far higher)
assert rss - base < 24 * 1024, f"max RSS {rss} KiB with the 64 MiB line, {base} KiB without"
s = json.load(open(out + ".sum"))
assert s["in"] == 12 and s["dead_lettered"] == 8, s
print(f"ok ({parser}): CRLF payload byte-exact, surrogates dead-lettered, `1` not_an_object, "
      f"depth 16 ok and 17 too_deep, an escaped key is the field, "
      f"64 MiB line cut ({big['original_bytes']} bytes, max RSS {rss // 1024} MiB, {base // 1024} without it)")
PY
done
/usr/bin/python3 "$SRC/tests/scripts/schema_check.py" "$SRC/schemas/dead-letter.schema.json" "$T/jsmn.dlq"
cmp -s "$T/simdjson.dlq" "$T/jsmn.dlq" || fail "the parsers' dead letters differ: $(diff "$T/simdjson.dlq" "$T/jsmn.dlq" | head -c 400)"
echo "ok: both parsers wrote the same dead letters"

# numeric options: the whole value, in range (demo --count abc used to run forever)
for args in "demo --count abc" "demo --rate 0" "demo --partitions 65" "gen --count -1" \
            "gen --dup-rate 2" "replay --in x --batch-size 12x"; do
  rc=0; timeout 10 "$BIN" $args > /dev/null 2> "$T/err" || rc=$?
  [ "$rc" = 2 ] && grep -q "is not" "$T/err" || fail "'$args': status $rc: $(cat "$T/err")"
done
echo "ok: bad numeric options refused with status 2"
rc=0; "$BIN" replay --in "$T/in.jsonl" --dlq /nonexistent/dir/dlq.jsonl > /dev/null 2> "$T/err" || rc=$?
[ "$rc" = 2 ] && grep -qF "cannot open /nonexistent/dir/dlq.jsonl for writing" "$T/err" || fail "open: $rc $(cat "$T/err")"
rc=0; "$BIN" gen --count 5 --out /nonexistent/dir/g.jsonl > /dev/null 2> "$T/err" || rc=$?
[ "$rc" = 2 ] && grep -qF "cannot open /nonexistent/dir/g.jsonl" "$T/err" || fail "gen open: $rc $(cat "$T/err")"
echo "ok: an output that cannot be opened: status 2 and the reason"
