#!/usr/bin/env bash
# Exactly-once vs at-least-once throughput, side by side (bench/RESULTS.md ## kafka,
# exactly-once): bench_kafka's throughput run (mock cluster in-process, COUNT records
# preloaded, 1 worker) alternately with processing.guarantee at_least_once and
# exactly_once, RUNS times each, both with the same commit interval (COMMIT, default
# 100ms as Kafka Streams' exactly_once default, so a run holds many commits: each
# exactly_once commit is a transaction -- AddOffsetsToTxn, TxnOffsetCommit, EndTxn --
# plus the offsets mirrored through the consumer for the mock). Prints each run and the
# medians. The records/s count records whose outputs were acked (bench_kafka): the
# transactions committed in between are in the time, the last one is not.
# usage: bench/eos.sh [BUILD_DIR]     (COUNT=200000 RUNS=3 COMMIT=100ms PARTITIONS=16)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$SRC/build}
COUNT=${COUNT:-200000} RUNS=${RUNS:-3} COMMIT=${COMMIT:-100ms} PARTS=${PARTITIONS:-16}
cmake -S "$SRC" -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$B" -j2 --target bench_kafka > /dev/null
K=$B/bench/bench_kafka
command -v kcat > /dev/null || { echo "kcat not installed (deploy/install-deps.sh)" >&2; exit 2; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL=$COMMIT CUSTOMSFLOW_LOG_LEVEL=warn
echo "commit $(git -C "$SRC" rev-parse --short HEAD), $COUNT records, $PARTS partitions," \
  "1 worker, commit_interval $COMMIT, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$RUNS"); do
  for g in at_least_once exactly_once; do
    CUSTOMSFLOW_PROCESSING_GUARANTEE=$g CUSTOMSFLOW_PIPELINE_INSTANCE_ID=bench \
      "$K" --count "$COUNT" --partitions "$PARTS" --runs 1 --workers 1 --no-latency \
      > "$T/out" 2> "$T/err" || { cat "$T/err" >&2; exit 1; }
    line=$(grep '^run 1:' "$T/out")
    rate=$(sed -E 's/.*pipeline w1 +([0-9]+)\/s.*/\1/' <<< "$line")
    kcat=$(sed -E 's/.*kcat +([0-9]+)\/s.*/\1/' <<< "$line")
    echo "run $r $g: $rate records/s (kcat $kcat records/s in the same process)"
    echo "$rate" >> "$T/$g"
  done
done
med() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
a=$(med "$T/at_least_once") e=$(med "$T/exactly_once")
echo "median of $RUNS: at_least_once $a records/s, exactly_once $e records/s," \
  "ratio $(awk -v a="$a" -v e="$e" 'BEGIN {printf "%.2f", e / a}')"
