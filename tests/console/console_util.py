"""Shared helpers of the console's script tests: start `customsflow console`
on a free port, log in, and make requests (stdlib only: /usr/bin/python3)."""
import http.client
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse


class Checks:
    """check(cond, what) prints ok/FAIL per acceptance point; finish() prints
    'N passed, N failed' (read by CI) and exits non-zero on a failure."""

    def __init__(self):
        self.passed, self.failures = 0, []

    def __call__(self, cond, what):
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        self.passed += bool(cond)
        if not cond:
            self.failures.append(what)
        return cond

    def finish(self):
        print("%d passed, %d failed" % (self.passed, len(self.failures)))
        sys.exit(1 if self.failures else 0)


def add_user(binary, db, name, role, password):
    subprocess.run([binary, "console", "user", "add", name, "--role", role, "--db", db],
                   input=password + "\n", text=True, check=True, capture_output=True)


def start_console(binary, db, log_path, extra=(), config=None, env=None):
    """Start the console (port 0); returns (process, base_url)."""
    args = [binary, "console", "--db", db, "--listen", "127.0.0.1:0"] + list(extra)
    if config:
        args += ["-c", config]
    log = open(log_path, "w")
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    for _ in range(600):
        time.sleep(0.05)
        text = open(log_path).read()
        m = re.search(r"customsflow console: (https?://[0-9.]+:[0-9]+/)", text)
        if m:
            return p, m.group(1)
        if p.poll() is not None:
            raise RuntimeError("console exited: " + text)
    raise RuntimeError("console did not start: " + open(log_path).read())


class Client:
    """A browser-like client: cookies, CSRF token of the last page."""

    def __init__(self, base):
        u = urllib.parse.urlparse(base)
        self.host, self.port = u.hostname, u.port
        self.cookies = {}
        self.csrf = None

    def request(self, method, path, body=None, headers=None, ctype=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=30)
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = "; ".join(k + "=" + v for k, v in self.cookies.items())
        if body is not None and not isinstance(body, bytes):
            body = urllib.parse.urlencode(body).encode()
            h.setdefault("Content-Type", ctype or "application/x-www-form-urlencoded")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read().decode("utf-8", "replace")
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                value = rest.split(";")[0]
                if value:
                    self.cookies[name] = value
                else:
                    self.cookies.pop(name, None)
        m = re.search(r'name="csrf" value="([0-9a-f]+)"', data)
        if m:
            self.csrf = m.group(1)
        c.close()
        return r, data

    def login(self, user, password):
        self.request("GET", "/login")
        return self.request("POST", "/login", {"user": user, "password": password, "csrf": self.csrf})

    def get_json(self, path):
        r, data = self.request("GET", path)
        assert r.status == 200, (path, r.status, data[:300])
        return json.loads(data)
