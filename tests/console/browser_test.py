#!/usr/bin/python3
"""A real browser (Debian's headless chromium through chromedriver and
python3-selenium) drives the console: log in, the queue shows the flags of a
replayed generated file, filter by one rule, open a case, read the evidence
sentence, record a verdict with a note, see it in the audit trail and as a
message on the outcomes topic, the dashboard draws its charts (canvas not
blank). A screenshot of each page goes to SHOTS.

usage: browser_test.py BIN WORKDIR FLAGS STATS BOOTSTRAP SHOTS"""
import collections
import json
import os
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import (NoSuchElementException,
                                        StaleElementReferenceException, TimeoutException)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from console_util import Checks, add_user, start_console  # noqa: E402

BIN, WORK, FLAGS, STATS, BOOT, SHOTS = sys.argv[1:7]
os.makedirs(SHOTS, exist_ok=True)
check = Checks()


flags = [json.loads(line) for line in open(FLAGS)]
ids = {f["declaration_id"] for f in flags}
by_rule = collections.Counter(r["rule"] for f in flags for r in f["reasons"])
rule = by_rule.most_common(1)[0][0]
with_rule = {(f["declaration_id"], f["line"]) for f in flags
             if any(r["rule"] == rule for r in f["reasons"])}

config = os.path.join(WORK, "console.yaml")
with open(config, "w") as f:
    f.write("kafka:\n  bootstrap.servers: %s\nconsole:\n  page_size: 50\n" % BOOT)
db = os.path.join(WORK, "browser.db")
add_user(BIN, db, "ana", "analyst", "analyst-pass-1")
proc, base = start_console(BIN, db, os.path.join(WORK, "browser.log"),
                           ["--load-flags", FLAGS, "--load-stats", STATS], config=config)
opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
          "--disable-dev-shm-usage"):
    opts.add_argument(a)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
driver.set_page_load_timeout(30)
# A page that re-renders (the case page after a verdict) replaces the element
# a condition holds between find_element and .text: stale, not a failure.
wait = WebDriverWait(driver, 20,
                     ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))


def waited(cond, what):
    """Wait for cond (a function of the driver); a timeout is a failed check."""
    try:
        wait.until(cond)
        return check(True, what)
    except TimeoutException:
        return check(False, what + " (timed out)")
    except Exception as e:  # say what went wrong, not "timed out"
        return check(False, "%s (%s: %s)" % (what, type(e).__name__, str(e).splitlines()[0]))


def shot(name):
    driver.save_screenshot(os.path.join(SHOTS, name + ".png"))


def rows():
    return driver.find_elements(By.CSS_SELECTOR, "#queue tbody tr.case")


try:
    driver.get(base + "queue")
    check(driver.current_url.endswith("/login"), "the queue asks for a login first")
    driver.find_element(By.ID, "user").send_keys("ana")
    driver.find_element(By.ID, "password").send_keys("analyst-pass-1")
    shot("1-login")
    driver.find_element(By.ID, "login").click()
    wait.until(lambda d: d.find_elements(By.ID, "queue"))
    shot("2-queue")
    shown = [r.find_element(By.CSS_SELECTOR, "a.case-link").text for r in rows()]
    check(len(shown) == min(50, len(ids)), "queue shows a full page of cases (%d)" % len(shown))
    check(all(s in ids for s in shown), "every row is a flag of the replayed file")
    top = max(f["score"] for f in flags)
    first_score = float(rows()[0].find_element(By.CSS_SELECTOR, "td.score").text)
    check(first_score == top, "highest score first (%g)" % top)

    Select(driver.find_element(By.ID, "f-rule")).select_by_value(rule)
    driver.find_element(By.ID, "apply").click()
    wait.until(lambda d: "rule=" in d.current_url)
    shot("3-queue-filtered")
    rs = rows()
    check(len(rs) == min(50, len(with_rule)), "filter by %s: %d rows" % (rule, len(rs)))
    check(all(rule in r.find_element(By.CSS_SELECTOR, "td.rules").text for r in rs),
          "every filtered row carries the rule")

    link = rs[0].find_element(By.CSS_SELECTOR, "a.case-link")
    decl_id = link.text
    link.click()
    wait.until(lambda d: d.find_elements(By.ID, "reasons"))
    flag = next(f for f in flags if f["declaration_id"] == decl_id)
    sentences = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".evidence-sentence")]
    check(len(sentences) == len(flag["reasons"]), "one evidence sentence per reason")
    reason = next(r for r in flag["reasons"] if r["rule"] == rule)
    expected = reason.get("explanation") or next(
        str(v) for v in reason["evidence"].values() if isinstance(v, str))
    check(any(expected in s for s in sentences), "the evidence in words: %r" % sentences[0][:90])
    shot("4-case")

    driver.find_element(By.ID, "start-review").click()
    wait.until(lambda d: d.find_elements(By.ID, "verdict-submit"))
    Select(driver.find_element(By.ID, "verdict")).select_by_value("confirmed_fraud")
    note = "browser test: invoices do not match the vessel's route"
    driver.find_element(By.ID, "note").send_keys(note)
    driver.find_element(By.ID, "verdict-submit").click()
    waited(lambda d: d.find_element(By.ID, "case-status").text != "in_review",
           "the verdict button submits")
    check(driver.find_element(By.ID, "case-status").text == "confirmed_fraud",
          "the verdict is the case's status")
    audit = driver.find_element(By.ID, "audit").text
    check(note in audit and "verdict" in audit, "the verdict and its note are in the audit trail")
    shot("5-case-verdict")

    outcome = None
    for _ in range(40):
        out = subprocess.run(["kcat", "-b", BOOT, "-C", "-t", "customs.outcomes", "-o",
                              "beginning", "-e", "-q", "-f", "%k\t%s\n"],
                             capture_output=True, text=True, timeout=30).stdout
        for line in out.splitlines():
            key, _, value = line.partition("\t")
            m = json.loads(value)
            if m["declaration_id"] == decl_id:
                outcome = (key, m)
        if outcome:
            break
        time.sleep(0.5)
    check(outcome is not None, "an outcome message on customs.outcomes")
    if outcome:
        key, m = outcome
        check(m["outcome"] == "fraud" and m["line"] == flag["line"] and
              m["decided_by"] == "ana", "outcome fraud, by ana, for the case's line")
        check(key == flag["declaration"]["exporter_id"] and
              m["declaration"] == flag["declaration"], "key = exporter_id; the declaration as scored")
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
        from schema_check import validator  # noqa: E402
        schema = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "schemas",
                              "outcome.schema.json")
        errors = [e.message for e in validator(schema).iter_errors(m)]
        check(not errors, "the outcome validates against schemas/outcome.schema.json %s" % errors[:1])

    driver.get(base + "dashboard")
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-charts") == "ready"
               or "Cannot" in d.find_element(By.ID, "dash-status").text)
    time.sleep(0.3)
    shot("6-dashboard")
    for cid in ("chart-origin", "chart-rules", "chart-exporters", "chart-quality"):
        painted = driver.execute_script(
            "const c = document.getElementById(arguments[0]);"
            "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n;", cid)
        check(painted > 500, "%s is drawn (%d painted pixels)" % (cid, painted))
finally:
    driver.quit()
    proc.terminate()
    proc.wait(timeout=30)
check.finish()
