#!/usr/bin/python3
"""Check stats messages read from Kafka (used by test_kafka_e2e).

usage: check_stats.py STATS_SCHEMA FILE PROCESSED DUPLICATES DEAD_LETTERED
FILE: one JSON object per line, {"key": <message key>, "value": <message>}.
Every value must validate against the schema; over the latest message of each
key (later messages supersede), the window summaries' records + late must
equal PROCESSED, their duplicates DUPLICATES and dead letters DEAD_LETTERED
(stages/aggregate/README.md, "Accounting").
"""
import json
import sys

from jsonschema import Draft202012Validator

schema, path, processed, dups, dead = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
v = Draft202012Validator(json.load(open(schema)), format_checker=Draft202012Validator.FORMAT_CHECKER)
latest = {}
n = 0
for line in open(path):
    m = json.loads(line)
    errs = list(v.iter_errors(m["value"]))
    if errs:
        sys.exit(f"check_stats: message {n} ({m['key']}) invalid: {errs[0].message}")
    latest[m["key"]] = m["value"]
    n += 1
tot = late = d = dl = 0
for val in latest.values():
    if val["type"] == "window":
        tot += val["records"]
        late += val["late"]
        d += val["duplicates"]
        dl += val["dead_letters"]
ok = tot + late == processed and d == dups and dl == dead
print(f"check_stats: {n} messages, {len(latest)} keys: records {tot} + late {late} "
      f"(processed {processed}), duplicates {d} ({dups}), dead letters {dl} ({dead})")
sys.exit(0 if ok else 1)
