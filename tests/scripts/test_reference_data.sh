#!/usr/bin/env bash
# Every row of every bundled reference CSV validates against its row schema
# (schemas/reference/<name>.row.schema.json), and every file has a schema.
set -euo pipefail
SRC=$2
/usr/bin/python3 - "$SRC" <<'PYEOF'
import csv, json, os, sys
import jsonschema
src = sys.argv[1]
ref = os.path.join(src, "deploy/examples/reference")
bad = 0
files = sorted(f for f in os.listdir(ref) if f.endswith(".csv"))
assert files, "no reference files"
for f in files:
    name = f[:-4]
    sp = os.path.join(src, "schemas/reference", name + ".row.schema.json")
    if not os.path.exists(sp):
        print(f"{f}: no row schema {sp}"); bad += 1; continue
    v = jsonschema.Draft202012Validator(json.load(open(sp)))
    lines = [l for l in open(os.path.join(ref, f), encoding="utf-8")]
    rows = csv.reader(l for l in lines if l.strip() and not l.startswith("#"))
    header = next(rows)
    n = 0
    for i, r in enumerate(rows, 2):
        if len(r) != len(header):
            print(f"{f}: row {i}: {len(r)} cells, header has {len(header)}"); bad += 1; continue
        for e in v.iter_errors(dict(zip(header, r))):
            print(f"{f}: row {i}: {e.message}"); bad += 1
        n += 1
    if n == 0:
        print(f"{f}: no rows"); bad += 1
    print(f"{f}: {n} rows")
sys.exit(1 if bad else 0)
PYEOF
