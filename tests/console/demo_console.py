#!/usr/bin/python3
"""`customsflow demo` starts the review console (issue 14 item 5): the
console line (URL, user demo, password) on stderr, the demo user logs in
and sees the demo's flags as cases while it runs, `--count N` still prints
its JSON summary on stdout, and the temporary store is removed at the end.

usage: demo_console.py BIN WORKDIR"""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from console_util import Checks, Client  # noqa: E402

BIN, WORK = sys.argv[1], sys.argv[2]
check = Checks()


err_path = os.path.join(WORK, "demo.err")
# ~10 s of stream: the console is looked at while the demo runs
p = subprocess.Popen([BIN, "demo", "--count", "20000", "--rate", "2000"],
                     stdout=subprocess.PIPE, stderr=open(err_path, "w"), text=True)
m = None
for _ in range(200):
    m = re.search(r"console (http://[0-9.]+:[0-9]+/)  user demo  password ([0-9a-f]+)",
                  open(err_path).read())
    if m or p.poll() is not None:
        break
    time.sleep(0.05)
check(m is not None, "the demo prints the console's URL, user and password")
cases = 0
if m:
    c = Client(m.group(1))
    r, _ = c.login("demo", m.group(2))
    check(r.status == 303, "the demo user logs in with the printed password")
    for _ in range(100):
        try:
            r, data = c.request("GET", "/api/cases?limit=500&status=all")
        except ConnectionError:
            break  # the demo ended first: no case seen
        cases = len(json.loads(data)["cases"]) if r.status == 200 else 0
        if cases or p.poll() is not None:
            break
        time.sleep(0.1)
    check(cases > 0, "the demo's flags are cases in the console (%d)" % cases)
out, _ = p.communicate(timeout=120)
summary = json.loads(out.strip().splitlines()[-1])
check(p.returncode == 0 and summary["in"] == 20000, "demo --count still prints its JSON summary")
left = [d for d in os.listdir("/tmp") if d.startswith("customsflow-demo-")]
mine = re.search(r"/tmp/(customsflow-demo-\w+)", open(err_path).read())
check(mine is not None and mine.group(1) not in left, "the temporary store is removed")
check.finish()
