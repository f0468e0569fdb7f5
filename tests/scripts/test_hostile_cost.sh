#!/usr/bin/env bash
# Bounded work and memory per line (issue 17):
# - with max_tokens at its schema maximum, lines of 64 KiB that are one deep nest
#   of brackets cost each parser milliseconds: jsmn's closing brackets walked
#   parent links (O(depth^2)); b13c378 took 86-190 s for these 20 lines under
#   load. The nesting is now measured linearly before tokenizing (too_deep).
# - a max_message_bytes of 4 MiB reserves nothing up front (b13c378: +43 MB of
#   VmPeak over 64 KiB, simdjson's buffers sized ~10x the limit at init).
set -euo pipefail
BIN=$1 SRC=$(cd "$2" && pwd)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
/usr/bin/python3 - "$T/in.jsonl" <<'PY'
import sys
n = 32700                                    # 65,406 bytes: just under max_message_bytes
with open(sys.argv[1], "w") as f:
    for i in range(20):
        f.write('{"x":' + "[" * n + "]" * n + "}\n")
PY
for p in jsmn simdjson; do
  sed "s|reference/fx_rates.csv|$SRC/deploy/examples/reference/fx_rates.csv\n    parser: $p\n    max_tokens: 1048576|; s|rules: rules.yaml|rules: $SRC/deploy/examples/rules.yaml|" \
    "$SRC/deploy/examples/customsflow.yaml" > "$T/$p.yaml"
  start=$(date +%s%N)
  "$BIN" replay -c "$T/$p.yaml" --in "$T/in.jsonl" --dlq "$T/$p.dlq" --no-progress > "$T/$p.sum"
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  n=$(grep -c '"code":"too_deep"' "$T/$p.dlq") || true
  [ "$n" = 20 ] || fail "$p: $n of 20 lines too_deep: $(head -c 300 "$T/$p.dlq")"
  # generous for a loaded machine and a sanitizer build: the quadratic walk took ~18 s
  [ "$ms" -lt 5000 ] || fail "$p: 20 deep lines took $ms ms"
  echo "ok ($p): 20 lines of 64 KiB nesting, too_deep, in $ms ms"
done

# A high max_message_bytes costs nothing up front: simdjson's buffers grow with
# the largest message seen. b13c378 reserved them for the limit at init (replay
# of 3 small lines: VmPeak +43 MB at 4 MiB over 64 KiB). The sanitizer runtimes
# reserve memory of their own, so only a plain build is measured.
libs=$(ldd "$BIN" 2> /dev/null || true) # whole: `ldd | grep -q` can fail on SIGPIPE (pipefail)
if grep -q 'libasan' <<< "$libs"; then
  echo "skip: VmPeak under a sanitizer build"
  exit 0
fi
"$BIN" gen --seed 1 --count 3 --quiet --out "$T/small.jsonl" 2> /dev/null
/usr/bin/python3 - "$BIN" "$SRC" "$T" <<'PY'
import subprocess, sys, time
b, src, t = sys.argv[1:]
peak = {}
for limit in ("64KiB", "4MiB"):
    cfg = open(f"{src}/deploy/examples/customsflow.yaml").read()
    cfg = cfg.replace("max_message_bytes: 64KiB", "max_message_bytes: " + limit)
    cfg = cfg.replace("reference/fx_rates.csv", f"{src}/deploy/examples/reference/fx_rates.csv")
    cfg = cfg.replace("rules: rules.yaml", f"rules: {src}/deploy/examples/rules.yaml")
    open(f"{t}/m.yaml", "w").write(cfg)
    p = subprocess.Popen([b, "replay", "-c", f"{t}/m.yaml", "--in", "-", "--no-progress"],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    p.stdin.write(open(f"{t}/small.jsonl", "rb").read())
    p.stdin.flush()
    time.sleep(1.5)                      # the lines are decoded; stdin stays open
    st = open(f"/proc/{p.pid}/status").read()
    peak[limit] = int(st.split("VmPeak:")[1].split()[0])
    p.stdin.close()
    assert p.wait() == 0
grow = peak["4MiB"] - peak["64KiB"]
assert grow < 20 * 1024, f"VmPeak {peak}: +{grow} KiB for a 4 MiB limit"
print(f"ok: VmPeak {peak['64KiB']} KiB at 64 KiB, {peak['4MiB']} KiB at 4 MiB (+{grow} KiB)")
PY
