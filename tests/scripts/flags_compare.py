#!/usr/bin/env python3
"""Compare two flag files of the same input (issue 13 item 4).

  flags_compare.py A.jsonl B.jsonl [--min-jaccard J] [--identical RULE,...] [--identical-all]

Joins flags on their source line. Prints the Jaccard index of the flagged
lines and, per rule, the lines it fired on in each file and whether the
evidence is the same. Exit 1 when the Jaccard index is below --min-jaccard,
or when a rule named in --identical (every rule with --identical-all) fired
on other lines or with other evidence in B than in A.
"""
import argparse
import json
import sys


def load(path):
    out = {}
    with open(path) as f:
        for ln in f:
            m = json.loads(ln)
            src = m["source"]
            key = src.get("line", src.get("offset"))
            out[key] = {r["rule"]: json.dumps(r["evidence"], sort_keys=True) for r in m["reasons"]}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--min-jaccard", type=float)
    ap.add_argument("--identical", default="")
    ap.add_argument("--identical-all", action="store_true")
    o = ap.parse_args()
    a, b = load(o.a), load(o.b)
    la, lb = set(a), set(b)
    jac = len(la & lb) / max(1, len(la | lb))
    print(f"flagged lines: {len(la)} / {len(lb)}, Jaccard {jac:.5f}")
    rules = sorted({r for d in (a, b) for v in d.values() for r in v})
    want = set(rules) if o.identical_all else {r for r in o.identical.split(",") if r}
    bad = []
    for r in rules:
        ea = {(k, v[r]) for k, v in a.items() if r in v}
        eb = {(k, v[r]) for k, v in b.items() if r in v}
        ra, rb = {k for k, _ in ea}, {k for k, _ in eb}
        same = ea == eb
        print(f"  {r:32} {len(ra):7} {len(rb):7}  lines {'same' if ra == rb else 'DIFFER'}"
              f"  evidence {'same' if same else 'DIFFERS'}")
        if r in want and not same:
            bad.append(f"{r}: {len(ra - rb)} lines only in A, {len(rb - ra)} only in B, "
                       f"{len((ra & rb)) - len(ea & eb)} with other evidence")
    if o.min_jaccard is not None and jac < o.min_jaccard:
        bad.append(f"Jaccard {jac:.5f} < {o.min_jaccard}")
    for m in bad:
        print("flags_compare: FAIL " + m, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
