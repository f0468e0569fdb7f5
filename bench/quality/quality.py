#!/usr/bin/env python3
"""Detection quality against the generator's ground truth (issue 5).

Generates a stream (or takes existing files), replays it, and prints per rule
true positives, false positives, false negatives, precision and recall, the
same for "flagged" overall, and how many legitimate look-alikes of each kind
there were and how many were wrongly flagged.

  bench/quality/quality.py --bin build/customsflow --seed 7 --count 500000 --fraud-rate 0.05
  bench/quality/quality.py --bin build/customsflow --data d.jsonl --truth t.jsonl
  ... --json (machine-readable) --min-precision 0.95 --min-recall 0.90 (exit 1 if missed)

Records are joined on their line number in the data file: the truth file has
one line per data line, and every flag names its source line. Only records
the pipeline processes count (truth kind valid or amendment): exact
re-deliveries are dropped by dedup and bad input is dead-lettered.
"""
import argparse
import atexit
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile


def run(cmd, **kw):
    r = subprocess.run(cmd, **kw)
    if r.returncode != 0:
        sys.exit(f"quality: {' '.join(cmd)} exited {r.returncode}")
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/customsflow")
    ap.add_argument("--config", help="config file for replay (default: the bundled example)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--count", type=int, default=500000)
    ap.add_argument("--fraud-rate", default="0.05")
    ap.add_argument("--dup-rate", default=None)
    ap.add_argument("--bad-rate", default=None)
    ap.add_argument("--reference", help="reference folder for the generator")
    ap.add_argument("--per-day", help="generated messages per day of event time")
    ap.add_argument("--data")
    ap.add_argument("--truth")
    ap.add_argument("--flags-out", help="keep the flags file here")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--min-precision", type=float)
    ap.add_argument("--min-recall", type=float)
    ap.add_argument("--min-flag-precision", type=float)
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="cf-quality-")
    atexit.register(shutil.rmtree, tmp, True)  # generated data: ~100-400 MB per run
    data, truth = a.data, a.truth
    if not data:
        data, truth = os.path.join(tmp, "d.jsonl"), os.path.join(tmp, "t.jsonl")
        cmd = [a.bin, "gen", "--seed", str(a.seed), "--count", str(a.count), "--fraud-rate",
               a.fraud_rate, "--out", data, "--truth", truth, "--quiet"]
        if a.dup_rate is not None:
            cmd += ["--dup-rate", a.dup_rate]
        if a.bad_rate is not None:
            cmd += ["--bad-rate", a.bad_rate]
        if a.reference:
            cmd += ["--reference", a.reference]
        if a.per_day:
            cmd += ["--per-day", a.per_day]
        run(cmd)
    flags = a.flags_out or os.path.join(tmp, "flags.jsonl")
    cmd = [a.bin, "replay", "--no-progress", "--in", data, "--flags", flags, "--dlq", os.path.join(tmp, "dlq.jsonl")]
    if a.config:
        cmd += ["-c", a.config]
    summary = json.loads(run(cmd, stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1])

    fired = {}  # data line -> set of rules
    with open(flags) as f:
        for ln in f:
            m = json.loads(ln)
            fired[m["source"]["line"]] = {r["rule"] for r in m["reasons"]}

    tp, fp, fn = collections.Counter(), collections.Counter(), collections.Counter()
    flag = collections.Counter()
    look_n, look_fp = collections.Counter(), collections.Counter()
    fp_examples = collections.defaultdict(list)
    rules = set()
    with open(truth) as f:
        for lineno, ln in enumerate(f, 1):
            t = json.loads(ln)
            if t["kind"] not in ("valid", "amendment"):
                continue
            want = set(t.get("labels", []))
            got = fired.get(lineno, set())
            rules |= want | got
            for r in want & got:
                tp[r] += 1
            for r in got - want:
                fp[r] += 1
                if len(fp_examples[r]) < 3:
                    fp_examples[r].append(lineno)
            for r in want - got:
                fn[r] += 1
            if want and got:
                flag["tp"] += 1
            elif got:
                flag["fp"] += 1
            elif want:
                flag["fn"] += 1
            lk = t.get("lookalike")
            if lk:
                look_n[lk] += 1
                if got - want:
                    look_fp[lk] += 1

    def pr(t, p, n):
        prec = t / (t + p) if t + p else 1.0
        rec = t / (t + n) if t + n else 1.0
        return prec, rec

    out = {"summary": summary, "rules": {}, "lookalikes": {}}
    for r in sorted(rules):
        p, rc = pr(tp[r], fp[r], fn[r])
        out["rules"][r] = {"tp": tp[r], "fp": fp[r], "fn": fn[r], "precision": p, "recall": rc,
                           "fp_lines": fp_examples[r]}
    p, rc = pr(flag["tp"], flag["fp"], flag["fn"])
    out["flagged"] = {"tp": flag["tp"], "fp": flag["fp"], "fn": flag["fn"], "precision": p, "recall": rc}
    for k in sorted(look_n):
        out["lookalikes"][k] = {"count": look_n[k], "wrongly_flagged": look_fp[k]}

    if a.json:
        print(json.dumps(out))
    else:
        print(f"{'rule':32} {'tp':>7} {'fp':>6} {'fn':>6} {'precision':>9} {'recall':>7}")
        for r, v in out["rules"].items():
            print(f"{r:32} {v['tp']:7} {v['fp']:6} {v['fn']:6} {v['precision']:9.4f} {v['recall']:7.4f}")
        v = out["flagged"]
        print(f"{'FLAGGED (any rule)':32} {v['tp']:7} {v['fp']:6} {v['fn']:6} {v['precision']:9.4f} {v['recall']:7.4f}")
        print("\nlook-alike kind                    count  wrongly flagged")
        for k, v in out["lookalikes"].items():
            print(f"{k:32} {v['count']:7} {v['wrongly_flagged']:8}")
        print(f"\nreplay: {summary['in']} in, {summary['processed']} processed, "
              f"{summary['flagged']} flagged, {summary['records_per_s']} records/s")

    bad = []
    for r, v in out["rules"].items():
        if a.min_precision is not None and v["precision"] < a.min_precision:
            bad.append(f"{r} precision {v['precision']:.4f} < {a.min_precision}")
        if a.min_recall is not None and v["recall"] < a.min_recall:
            bad.append(f"{r} recall {v['recall']:.4f} < {a.min_recall}")
    if a.min_flag_precision is not None and out["flagged"]["precision"] < a.min_flag_precision:
        bad.append(f"flagged precision {out['flagged']['precision']:.4f} < {a.min_flag_precision}")
    if a.min_precision is not None and not out["rules"]:
        bad.append("no rule fired and no label: nothing was measured")
    for b in bad:
        print("quality: FAIL " + b, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
