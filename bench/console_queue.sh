#!/usr/bin/env bash
# The review console's queue page at scale (issue 14: p95 <= 100 ms for a
# filtered page with 1,000,000 cases). Builds a store of N synthetic cases
# (bench_console_ingest --build), starts `customsflow console` on it and times
# full HTML queue pages over HTTP, logged in: first pages of several filters
# and the following keyset pages.
#   bench/console_queue.sh [N=1000000] [BUILD=build] [DB]
# With DB, that store is used (built first when missing) and kept: builds of
# two commits can then be timed on the same cases (a copy per build when the
# newer one migrates the schema).
set -euo pipefail
N=${1:-1000000}
BUILD=${2:-build}
TMP=$(mktemp -d /tmp/console_queue.XXXXXX)
PID=
trap 'kill $PID 2>/dev/null || true; rm -rf "$TMP"' EXIT
DB=${3:-$TMP/q.db}
[ -e "$DB" ] || "$BUILD/bench/bench_console_ingest" --build "$DB" --count "$N"
echo "bench-pass-1" | "$BUILD/customsflow" console user add bench --role analyst --db "$DB" 2>/dev/null || true
"$BUILD/customsflow" console --db "$DB" --listen 127.0.0.1:0 >"$TMP/log" 2>&1 &
PID=$!
for _ in $(seq 600); do grep -q "customsflow console: http" "$TMP/log" && break; sleep 0.1; done
URL=$(grep -o 'http://[0-9.:]*/' "$TMP/log" | head -1)
/usr/bin/python3 - "$URL" <<'PYEOF'
import re, statistics, sys, time, urllib.parse
sys.path.insert(0, "tests/console")
from console_util import Client
c = Client(sys.argv[1])
r, _ = c.login("bench", "bench-pass-1")
assert r.status == 303, r.status
filters = {
    "no filter": {},
    "rule": {"rule": "certificate_reuse"},
    "origin": {"origin": "VN"},
    "origin + rule": {"origin": "KH", "rule": "watchlist_party"},
    "exporter": {"exporter": "CN-E001234"},
    "score range": {"score_min": "60", "score_max": "80"},
    "hs prefix": {"hs": "72"},
    "event dates": {"date_from": "2025-03-01", "date_to": "2025-03-31"},
    "search id": {"q": "B-0000500000"},
    "rule + dates": {"rule": "unit_value_outlier", "date_from": "2025-06-01", "date_to": "2025-06-07"},
}
allt = []
for name, f in filters.items():
    times = []
    for rep in range(5):
        q = dict(f)
        for page in range(4):  # a first page, then keyset pages
            t0 = time.perf_counter()
            r, html = c.request("GET", "/queue?" + urllib.parse.urlencode(q))
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status == 200, (name, r.status)
            m = re.search(r'id="next" href="/queue\?[^"]*after=([^"&]+)"', html)
            if not m:
                break
            q["after"] = urllib.parse.unquote(m.group(1).replace("&amp;", "&"))
    times.sort()
    allt += times
    rows = html.count('<tr class="case"')
    print("%-14s pages %3d  p50 %7.1f ms  p95 %7.1f ms  max %7.1f ms" % (
        name, len(times), times[len(times) // 2], times[int(len(times) * 0.95) - 1 if len(times) > 1 else 0], times[-1]))
allt.sort()
print("ALL            pages %3d  p50 %7.1f ms  p95 %7.1f ms" % (len(allt), allt[len(allt) // 2], allt[int(len(allt) * 0.95)]))
PYEOF
