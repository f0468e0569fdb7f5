#!/usr/bin/python3
"""The console's security acceptance points, over real HTTP: unauthenticated
requests refused, roles enforced server-side (a viewer cannot give a
verdict), POSTs without the CSRF token refused, attacker-controlled strings
stored verbatim and shown escaped with the tables intact, oversized and
malformed requests answered 4xx while the server keeps serving, the login
rate limit, cookie flags and security headers.

usage: http_security.py BIN WORKDIR FLAGS.jsonl"""
import http.client
import json
import os
import socket
import sqlite3
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from console_util import Checks, Client, add_user, start_console  # noqa: E402

BIN, WORK, FLAGS = sys.argv[1], sys.argv[2], sys.argv[3]
XSS = "<script>alert(1)</script>"
SQLI = "'; DROP TABLE cases; --"
check = Checks()


# one extra flag whose exporter id is an HTML injection
first = json.loads(open(FLAGS).readline())
first["declaration_id"] = first["declaration"]["declaration_id"] = "XSS-1"
first["declaration"]["exporter_id"] = XSS
flags = os.path.join(WORK, "flags_xss.jsonl")
with open(flags, "w") as f:
    f.write(open(FLAGS).read())
    f.write(json.dumps(first) + "\n")

db = os.path.join(WORK, "sec.db")
add_user(BIN, db, "vic", "viewer", "viewer-pass-1")
add_user(BIN, db, "ana", "analyst", "analyst-pass-1")
proc, base = start_console(BIN, db, os.path.join(WORK, "sec.log"), ["--load-flags", flags])
try:
    anon = Client(base)
    r, _ = anon.request("GET", "/queue")
    check(r.status == 303 and r.getheader("Location") == "/login", "unauthenticated page -> login")
    r, _ = anon.request("GET", "/api/cases")
    check(r.status == 401, "unauthenticated API -> 401")
    r, _ = anon.request("POST", "/case/1", {"to": "in_review", "csrf": "x"})
    check(r.status == 401, "unauthenticated POST -> 401")
    r, _ = anon.request("GET", "/api/export.csv")
    check(r.status == 401, "unauthenticated export -> 401")
    check("default-src 'self'" in (r.getheader("Content-Security-Policy") or ""), "CSP header")

    ana = Client(base)
    r, _ = ana.login("ana", "analyst-pass-1")
    check(r.status == 303, "analyst logs in")
    cookie = [v for k, v in r.getheaders() if k.lower() == "set-cookie" and "cf_session" in v]
    check(cookie and "HttpOnly" in cookie[0] and "SameSite=Strict" in cookie[0],
          "session cookie HttpOnly + SameSite=Strict")
    case = ana.get_json("/api/cases?q=XSS-1")["cases"][0]
    cid = case["id"]
    check(case["exporter_id"] == XSS, "exporter id stored verbatim")

    # CSRF: none, wrong, right
    r, _ = ana.request("POST", "/case/%d" % cid, {"to": "in_review"})
    check(r.status == 403, "POST without CSRF token -> 403")
    r, _ = ana.request("POST", "/case/%d" % cid, {"to": "in_review", "csrf": "0" * 64})
    check(r.status == 403, "POST with a wrong CSRF token -> 403")
    check(ana.get_json("/api/cases/%d" % cid)["status"] == "open", "refused POSTs changed nothing")

    vic = Client(base)
    vic.login("vic", "viewer-pass-1")
    vic.request("GET", "/case/%d" % cid)
    r, _ = vic.request("POST", "/case/%d" % cid, {"to": "in_review", "csrf": vic.csrf})
    check(r.status == 403, "viewer cannot start a review")
    r, _ = vic.request("POST", "/api/cases/%d" % cid, {"to": "confirmed_fraud", "note": "x"},
                       headers={"X-CSRF-Token": vic.csrf})
    check(r.status == 403, "viewer cannot give a verdict (API)")
    check(ana.get_json("/api/cases/%d" % cid)["status"] == "open", "viewer changed nothing")

    ana.request("GET", "/case/%d" % cid)
    r, _ = ana.request("POST", "/case/%d" % cid, {"to": "in_review", "csrf": ana.csrf})
    check(r.status == 303, "analyst starts the review")
    r, _ = ana.request("POST", "/case/%d" % cid, {"to": "confirmed_fraud", "note": "",
                                                   "csrf": ana.csrf})
    check(r.status == 409, "closing without a note -> 409")
    r, _ = ana.request("POST", "/case/%d" % cid, {"to": "confirmed_fraud", "note": SQLI,
                                                   "csrf": ana.csrf})
    check(r.status == 303, "verdict with an SQL-looking note accepted")
    r, page = ana.request("GET", "/case/%d" % cid)
    check(XSS not in page, "case page: no raw <script> from the exporter id")
    check("&lt;script&gt;alert(1)&lt;/script&gt;" in page, "case page: exporter id shown escaped")
    check("&#39;; DROP TABLE cases; --" in page, "case page: note shown escaped")
    r, page = ana.request("GET", "/queue?status=all&q=" + "%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    check(XSS not in page and "&lt;script&gt;" in page, "queue page: escaped")
    audit = ana.get_json("/api/cases/%d" % cid)["audit"]
    check(any(e["note"] == SQLI for e in audit), "note stored verbatim (audit trail)")
    r, csv = ana.request("GET", "/api/export.csv?status=all")
    check(r.status == 200 and XSS in csv, "CSV export carries the id verbatim (text/csv)")
    con = sqlite3.connect(db)
    tables = {t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    ncases = con.execute("SELECT count(*) FROM cases").fetchone()[0]
    con.close()
    check({"cases", "versions", "reasons", "events", "users", "sessions", "outbox"} <= tables,
          "tables intact")
    # one case per declaration line (a line flagged twice, e.g. resubmitted, is one case)
    lines = {(m["declaration_id"], m["line"]) for m in map(json.loads, open(flags))}
    check(ncases == len(lines), "every case still there (%d of %d)" % (ncases, len(lines)))

    # JSON export = the queue; bulk actions are a supervisor's
    r, js = ana.request("GET", "/api/export.json?status=all")
    check(r.status == 200 and len(json.loads(js)) == ncases, "JSON export of the filtered queue")
    rule = ana.get_json("/api/cases?limit=1")["cases"][0]["rules"][0]
    r, _ = ana.request("POST", "/bulk", {"rule": rule, "set_status": "in_review",
                                         "csrf": ana.csrf})
    check(r.status == 403, "an analyst cannot act in bulk")
    add_user(BIN, db, "sup", "supervisor", "supervisor-pass-1")
    sup = Client(base)
    sup.login("sup", "supervisor-pass-1")
    sup.request("GET", "/queue")
    want = len(ana.get_json("/api/cases?limit=500&status=open&rule=" + rule)["cases"])
    r, page = sup.request("POST", "/bulk", {"rule": rule, "status": "open",
                                            "set_status": "in_review", "set_assignee": "ana",
                                            "csrf": sup.csrf})
    check(r.status == 200 and ("%d cases changed" % want) in page,
          "supervisor bulk: %d open cases of %s to in_review" % (want, rule))
    moved = ana.get_json("/api/cases?limit=500&status=in_review&assignee=ana&rule=" + rule)
    check(len(moved["cases"]) == want, "bulk: every case of the filter moved and assigned")

    # oversized and malformed requests
    r, _ = ana.request("POST", "/case/%d" % cid, b"note=" + b"x" * (2 << 20),
                       headers={"Content-Type": "application/x-www-form-urlencoded",
                                "X-CSRF-Token": ana.csrf})
    check(r.status == 413, "2 MiB body -> 413")
    r, _ = ana.request("POST", "/case/%d" % cid, {"k%d" % i: "v" for i in range(100)})
    check(r.status == 400, "100 form fields -> 400")
    r, _ = ana.request("POST", "/case/%d" % cid, b'{"to":"cleared"}',
                       headers={"Content-Type": "application/json", "X-CSRF-Token": ana.csrf})
    check(r.status == 415, "JSON body where a form is expected -> 415")
    r, _ = ana.request("GET", "/api/cases?score_min=abc")
    check(r.status == 400, "bad filter -> 400")
    r, _ = ana.request("GET", "/case/abc")
    check(r.status == 404, "bad case id -> 404")
    r, _ = ana.request("DELETE", "/case/%d" % cid)
    check(r.status == 405, "DELETE -> 405")
    r, _ = ana.request("GET", "/static/../console.db")
    check(r.status == 404, "path traversal -> 404")
    r, _ = ana.request("GET", "/queue", headers={"X-Big": "a" * 100000})
    check(400 <= r.status < 500, "100 kB header -> 4xx (%d)" % r.status)
    host, port = base.split("//")[1].rstrip("/").split(":")
    def raw(req):
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(req)
        reply = s.recv(100)
        s.close()
        return reply
    check(raw(b"GET /queue HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
          .startswith(b"HTTP/1.1 400"), "malformed Content-Length -> 400")
    # libmicrohttpd closes the connection on a request line it cannot parse
    reply = raw(b"GARBAGE\r\n\r\n")
    check(reply == b"" or reply.startswith(b"HTTP/1.1 4"), "garbage request line -> closed or 4xx")
    r, _ = anon.request("GET", "/healthz")
    check(r.status == 200, "the server keeps serving")

    # login rate limit: 5 failures, then even the right password waits
    bad = Client(base)
    for _ in range(5):
        r, _ = bad.login("ana", "wrong-password")
    check(r.status == 401, "wrong password -> 401")
    r, _ = bad.login("ana", "analyst-pass-1")
    check(r.status == 429, "login rate-limited after 5 failures -> 429")
    r, metrics = anon.request("GET", "/metrics")
    check("customsflow_console_outcomes_pending 1" in metrics, "the verdict's outcome waits (no broker)")
    check('customsflow_console_verdicts_total{verdict="confirmed_fraud"} 1' in metrics,
          "verdict counted in /metrics")
    lint = subprocess.run(["promtool", "check", "metrics"], input=metrics, text=True,
                          capture_output=True)
    check(lint.returncode == 0, "promtool check metrics accepts /metrics " + lint.stdout + lint.stderr)
finally:
    proc.terminate()
    proc.wait(timeout=30)
check(proc.returncode == 0, "graceful stop")

# TLS: the same console over HTTPS (libmicrohttpd + GnuTLS), the cookie Secure
key, crt = os.path.join(WORK, "tls.key"), os.path.join(WORK, "tls.crt")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", crt],
               check=True, capture_output=True)
cfg = os.path.join(WORK, "tls.yaml")
with open(cfg, "w") as f:
    f.write("console:\n  tls_cert: %s\n  tls_key: %s\n" % (crt, key))
proc, base = start_console(BIN, db, os.path.join(WORK, "tls.log"), config=cfg)
try:
    check(base.startswith("https://"), "TLS: serves https")
    host, port = base.split("//")[1].rstrip("/").split(":")
    ctx = ssl.create_default_context(cafile=crt)
    ctx.check_hostname = False
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
    conn.request("GET", "/login")
    r = conn.getresponse()
    r.read()
    pre = [v for k, v in r.getheaders() if k.lower() == "set-cookie"]
    check(r.status == 200 and pre and "Secure" in pre[0], "TLS: login page, cookie Secure")
    conn.close()
finally:
    proc.terminate()
    proc.wait(timeout=30)
check.finish()
