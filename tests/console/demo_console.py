#!/usr/bin/python3
"""`customsflow demo` starts the review console (issue 14 item 5): the
console line (URL, user demo, password) on stderr, the demo user logs in
and sees the demo's flags as cases while it runs, SIGTERM stops it cleanly,
`--count N` still prints its JSON summary on stdout, and the temporary store
is removed at the end.
The console's address: the default one (127.0.0.1:8080) held by another
socket gives way to a free port, said on the console line; an address the
user chose (--console-listen, CUSTOMSFLOW_CONSOLE_LISTEN) that is taken stops
the demo at once with the reason and how to choose another.

usage: demo_console.py BIN WORKDIR"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from console_util import Checks, Client  # noqa: E402

BIN, WORK = sys.argv[1], sys.argv[2]
check = Checks()


def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen()
    return s


# a chosen address that is taken: a precise error, exit 1, nothing run
busy = listener(0)
addr = "127.0.0.1:%d" % busy.getsockname()[1]
for how, args, env in (("--console-listen", ["--console-listen", addr], {}),
                       ("console.listen", [], {"CUSTOMSFLOW_CONSOLE_LISTEN": addr})):
    r = subprocess.run([BIN, "demo", "--count", "100"] + args, capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, **env))
    check(r.returncode == 1 and r.stdout == ""
          and ("cannot listen on %s: Address already in use" % addr) in r.stderr
          and "--console-listen" in r.stderr,
          "%s on a taken address: exit 1 with the reason (%d: %s)"
          % (how, r.returncode, r.stderr.strip().splitlines()[-1:]))
busy.close()

# the default address taken (by us, or by someone else already): a free port
try:
    held = listener(8080)
except OSError:
    held = None  # another program has it: the fallback is exercised all the same
err_path = os.path.join(WORK, "demo.err")
# no --count: the demo streams until stopped, so the console is looked at for as long as
# it takes and no end of the stream races the first case (CI once saw a 10 s stream end
# before the console's first case, six tests beside it on two cores)
p = subprocess.Popen([BIN, "demo", "--rate", "2000"],
                     stdout=subprocess.PIPE, stderr=open(err_path, "w"), text=True)
m = None
for _ in range(200):
    m = re.search(r"console (http://[0-9.]+:[0-9]+/)  user demo  password ([0-9a-f]+)",
                  open(err_path).read())
    if m or p.poll() is not None:
        break
    time.sleep(0.05)
check(m is not None, "the demo prints the console's URL, user and password")
if m:
    check(not m.group(1).endswith(":8080/")
          and "(127.0.0.1:8080 is in use: a free port was picked)" in open(err_path).read(),
          "8080 taken: the console is on a free port, and says so (%s)" % m.group(1))
cases = 0
if m:
    c = Client(m.group(1))
    r, _ = c.login("demo", m.group(2))
    check(r.status == 303, "the demo user logs in with the printed password")
    # until the first case: the group joins take ~3 s each on the embedded broker
    t0 = time.monotonic()
    while time.monotonic() < t0 + 90 and p.poll() is None:
        try:
            r, data = c.request("GET", "/api/cases?limit=500&status=all")
        except ConnectionError:
            break  # the demo ended: no case seen
        cases = len(json.loads(data)["cases"]) if r.status == 200 else 0
        if cases:
            break
        time.sleep(0.1)
    check(cases > 0, "the demo's flags are cases in the console (%d after %.1f s)"
          % (cases, time.monotonic() - t0))
p.send_signal(signal.SIGTERM)
p.communicate(timeout=120)
check(p.returncode == 0, "SIGTERM stops the demo and its console cleanly (exit %d)" % p.returncode)


def store_removed(path):
    """The demo's temporary store (named on stderr) is gone."""
    left = [d for d in os.listdir("/tmp") if d.startswith("customsflow-demo-")]
    mine = re.search(r"/tmp/(customsflow-demo-\w+)", open(path).read())
    return mine is not None and mine.group(1) not in left


check(store_removed(err_path), "the temporary store is removed")

# --count N: stops once the N records are accounted for, with the JSON summary on stdout
err2 = os.path.join(WORK, "demo2.err")
r = subprocess.run([BIN, "demo", "--count", "2000", "--rate", "100000",
                    "--console-listen", "127.0.0.1:0"],
                   stdout=subprocess.PIPE, stderr=open(err2, "w"), text=True, timeout=120)
summary = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {}
check(r.returncode == 0 and summary.get("in") == 2000,
      "demo --count still prints its JSON summary (exit %d, in %s)"
      % (r.returncode, summary.get("in")))
check(store_removed(err2), "the temporary store of a --count run is removed")
if held:
    held.close()
check.finish()
