#!/usr/bin/env bash
# The demo's live view is a terminal: text from input must not drive it (issue 17).
# demo runs on a pseudo-terminal; a declaration whose declaration_id carries a
# window-title sequence, a clear-screen and a C1 CSI is produced to its broker
# with kcat; the view shows the flagged id with those bytes written as \xNN and
# never the raw sequence (b13c378 printed it raw: the title changed, the screen
# cleared, and a fake alert could be drawn).
set -euo pipefail
BIN=$1 SRC=$2
command -v kcat > /dev/null || { echo "skip: kcat not installed (deploy/install-deps.sh installs it)"; exit 77; }
/usr/bin/python3 - "$BIN" <<'PY'
import datetime, json, os, pty, re, select, signal, subprocess, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "demo", "--rate", "20", "--partitions", "1"])
out, t0 = b"", time.time()
def pump(secs):
    global out
    end = time.time() + secs
    while time.time() < end:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                out += os.read(fd, 65536)
            except OSError:
                return
try:
    while b"broker on" not in out and time.time() - t0 < 60:
        pump(0.5)
    m = re.search(rb"broker on (\S+?);", out)
    assert m, out[-400:]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    decl = {"declaration_id": "EVIL\x1b]0;pwned\x07\x1b[2J\u009b31mALERT", "line": 1,
            "event_time": now, "hs_code": "940350", "origin_country": "VN",
            "export_country": "VN", "exporter_id": "VN-EVIL", "importer_id": "US-I1",
            "quantity": 10, "unit": "NMB", "customs_value": 1000, "currency": "USD",
            "preference_code": "GSP"}  # no certificate: preference_without_certificate
    line = json.dumps(decl)              # the control characters travel as \u escapes
    seen = False
    for _ in range(10):                  # the view keeps the 5 latest: send until shown
        subprocess.run(["kcat", "-P", "-b", m.group(1).decode(), "-t", "customs.declarations",
                        "-k", "VN-EVIL"], input=line.encode(), check=True, timeout=20)
        pump(2)
        if b"EVIL" in out:
            seen = True
            break
    assert seen, "the flagged declaration never showed: " + repr(out[-600:])
    pump(1)
    assert b"]0;pwned" not in out.replace(b"\\x1b]0;pwned", b""), "raw title sequence on the terminal"
    assert b"\x07" not in out and b"\xc2\x9b" not in out, "raw BEL or C1 CSI on the terminal"
    assert b"EVIL\\x1b]0;pwned\\x07\\x1b[2J\\xc2\\x9b31mALERT" in out, repr(out[out.find(b"EVIL") - 20:][:200])
    print("ok: the live view shows", out[out.find(b"EVIL"):].split(b"\r")[0].decode())
finally:
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        pump(0.1)
        if os.waitpid(pid, os.WNOHANG)[0]:
            break
    else:
        os.kill(pid, signal.SIGKILL)
PY
