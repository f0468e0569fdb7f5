#!/usr/bin/env bash
# replay --threads scaling (issue 15 target 2: 2 threads >= 1.8x 1 thread on 2 cores):
# `customsflow replay` with flags, stats and dead-letter files over one generated file,
# --threads 1 and 2 alternated RUNS times (so a change in the machine's load hits both),
# each run under /usr/bin/time. Prints per run records/s (replay's summary), wall,
# CPU-s (user+sys), maxrss and the load average before it; then the medians and the
# ratio of the medians (2 threads / 1 thread) by records/s and by wall.
#   bench/replay_scaling.sh [BIN=build-rel/customsflow] [IN=/tmp/g1m.jsonl]
#   (RUNS=3 THREADS="1 2" EXTRA="--epoch-lines 128"; IN is generated when missing:
#    gen --seed 11 --count 1000000 --bad-rate 0.01 --dup-rate 0.02)
# The outputs of the runs are compared (emitted_at / processed_at removed): a
# difference between thread counts fails the script.
set -euo pipefail
BIN=${1:-build-rel/customsflow}
IN=${2:-/tmp/g1m.jsonl}
RUNS=${RUNS:-3}
THREADS=${THREADS:-"1 2"}
EXTRA=${EXTRA:-}
[ -e "$IN" ] || "$BIN" gen --seed 11 --count 1000000 --bad-rate 0.01 --dup-rate 0.02 > "$IN"
T=$(mktemp -d /tmp/replay_scaling.XXXXXX)
trap 'rm -rf "$T"' EXIT
echo "binary $BIN, input $IN ($(wc -l < "$IN") lines), $(nproc) CPUs, runs $RUNS, extra '$EXTRA'"
printf '%-4s %-7s %-6s %12s %8s %8s %9s  %s\n' run threads load records/s wall_s cpu_s maxrss_MB
for r in $(seq "$RUNS"); do
  for t in $THREADS; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    # shellcheck disable=SC2086
    /usr/bin/time -f '%e %U %S %M' -o "$T/time" "$BIN" replay --in "$IN" --threads "$t" \
      --flags "$T/f$t" --stats "$T/s$t" --dlq "$T/d$t" --no-progress $EXTRA > "$T/sum"
    rps=$(grep -o '"records_per_s":[0-9.]*' "$T/sum" | cut -d: -f2)
    read -r wall u s rss < "$T/time"
    cpu=$(echo "$u + $s" | bc)
    printf '%-4s %-7s %-6s %12.0f %8.2f %8.2f %9.0f\n' "$r" "$t" "$load" "$rps" "$wall" "$cpu" \
      "$((rss / 1024))"
    echo "$t $rps $wall $cpu $((rss / 1024))" >> "$T/all"
    for o in f s d; do
      sed -E 's/"(emitted_at|processed_at)":"[^"]*"//g' "$T/$o$t" > "$T/$o$t.n"
    done
  done
  first=${THREADS%% *}
  for t in $THREADS; do
    for o in f s d; do
      cmp -s "$T/$o$first.n" "$T/$o$t.n" || { echo "outputs differ: $o, threads $first vs $t" >&2; exit 1; }
    done
  done
done
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo "medians:"
for t in $THREADS; do
  m_rps=$(awk -v t="$t" '$1 == t {print $2}' "$T/all" | median)
  m_wall=$(awk -v t="$t" '$1 == t {print $3}' "$T/all" | median)
  m_cpu=$(awk -v t="$t" '$1 == t {print $4}' "$T/all" | median)
  m_rss=$(awk -v t="$t" '$1 == t {print $5}' "$T/all" | median)
  printf '  threads %s: %.0f records/s, wall %.2f s, CPU %.2f s, maxrss %.0f MB\n' "$t" "$m_rps" \
    "$m_wall" "$m_cpu" "$m_rss"
  echo "$t $m_rps $m_wall" >> "$T/med"
done
set -- $THREADS
if [ $# -ge 2 ]; then
  awk -v a="$1" -v b="$2" '$1 == a {ra = $2; wa = $3} $1 == b {rb = $2; wb = $3}
    END {printf "ratio threads %s / %s: %.2fx by records/s, %.2fx by wall\n", b, a, rb / ra, wa / wb}' \
    "$T/med"
fi
