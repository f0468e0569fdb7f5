#!/usr/bin/env bash
# The Kafka path's CPU per record, the service alone (issue 15 target 3):
# `bench_kafka --serve` preloads COUNT generated records into a mock cluster
# in its own process; `customsflow run` (its own process, fresh cluster and
# group each run) consumes the backlog; once /metrics counts COUNT records in,
# SIGTERM stops it gracefully (flush, every output acknowledged, checkpoint,
# commit), and /usr/bin/time reports its user+sys CPU: start-up, restore
# probe, the backlog and the shutdown, nothing of the broker's; then the
# messages produced to each topic (the cluster's end offsets).
# usage: bench/kafka_cpu.sh [COUNT [PARTITIONS [RUNS [BUILD_DIR]]]]
#   env WORKERS (default 1), CF (the customsflow binary, default BUILD_DIR/customsflow);
#   CUSTOMSFLOW_* reach the service as in production.
#   PERF=FILE: also `perf record $PERF_OPTS` (default -g) the service (first run only).
#   Each run also prints its batches' consume -> acked latency (p50, p99, share within
#   50 ms) from the service's customsflow_batch_seconds histogram, the service's own part
#   of it (consume -> every output handed to the producer:
#   customsflow_batch_processed_seconds; the rest is the broker's acknowledgement), and
#   the broker process's CPU over the run (the mock broker shares these cores), the flags
#   by rule (customsflow_flags_total: to set beside `customsflow replay` of the same
#   stream, `customsflow gen --seed 1 --count COUNT`), and the
#   end-to-end latency (customsflow_record_e2e_seconds: a batch's oldest record's timestamp,
#   set by the producer, to its outputs acked; with a preloaded backlog it counts the wait).
#   With RATE, also the input producer's own acknowledgements (produce -> delivery report):
#   the broker's ack time beside the service, with no service code in its path.
#   The mock's listeners get TCP_NODELAY as a real broker's (CF_MOCK_NAGLE=1 keeps Nagle).
#   RATE=R: produce at R records/s once the service is ready (/readyz), rather
#   than preloading: the mock broker keeps ~5 MB per partition and the
#   generator's largest exporter holds ~1.1% of the records, so a backlog of 1M
#   keyed records does not fit; a stream the service keeps up with does (it
#   must count COUNT records in, so nothing was dropped before it read it).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
COUNT=${1:-200000}
PARTS=${2:-64}
RUNS=${3:-3}
B=${4:-$SRC/build}
WORKERS=${WORKERS:-1}
PORT=$((20000 + RANDOM % 20000))
K=$B/bench/bench_kafka
CF=${CF:-$B/customsflow}
export CUSTOMSFLOW_LOG_LEVEL=${CUSTOMSFLOW_LOG_LEVEL:-warn}
export CUSTOMSFLOW_KAFKA_CONSUMER_SESSION_TIMEOUT_MS=${CUSTOMSFLOW_KAFKA_CONSUMER_SESSION_TIMEOUT_MS:-6000}
export CUSTOMSFLOW_WORKERS=$WORKERS
export CUSTOMSFLOW_METRICS_LISTEN=127.0.0.1:$PORT

metrics() {
        curl -s -m 5 "http://127.0.0.1:$PORT/metrics" 2> /dev/null
}

# The batches' consume -> every output acknowledged latency (customsflow_batch_seconds, all
# workers and partitions summed): p50 and p99 interpolated in the histogram's buckets as
# Prometheus' histogram_quantile does, and the share of batches within 50 ms.
batch_latency() { # the /metrics text on stdin
        awk -v M="^${1:-customsflow_batch_seconds}_bucket" '$0 ~ M {
                        match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
                        c[le] += $NF; if (!(le in seen)) { seen[le] = 1; les[++n] = le } }
                     function q(f,   i, b, prev, prevc, t) {
                        t = f * c["+Inf"]; prev = 0; prevc = 0
                        for (i = 1; i <= n; i++) { b = les[i]; if (b == "+Inf") return prev
                                if (c[b] >= t) return prev + (b - prev) * (t - prevc) / (c[b] - prevc + 1e-12)
                                prev = b; prevc = c[b] }
                        return prev }
                     END { if (!c["+Inf"]) { print "no batches"; exit }
                        printf "%d batches: p50 %.1f ms, p99 %.1f ms, %.1f %% within 50 ms",
                               c["+Inf"], q(0.5) * 1000, q(0.99) * 1000, 100 * c["0.05"] / c["+Inf"] }'
}

records_in() {
        metrics |
                awk '/^customsflow_records_in_total/ {s += $NF} END {printf "%d\n", s}'
}

for r in $(seq 1 "$RUNS"); do
        tmp=$(mktemp -d)
        mkfifo "$tmp/hold"
        # the cluster lives until the fifo's writer (fd 9) closes
        "$K" --serve --serve-rate "${RATE:-0}" --count "$COUNT" --partitions "$PARTS" < "$tmp/hold" > "$tmp/boot" 2> "$tmp/serve.log" &
        kpid=$!
        exec 9> "$tmp/hold"
        for _ in $(seq 1 600); do [ -s "$tmp/boot" ] && break; sleep 0.1; done
        [ -s "$tmp/boot" ] || { cat "$tmp/serve.log" >&2; exit 1; }
        export CUSTOMSFLOW_KAFKA_BOOTSTRAP_SERVERS=$(head -1 "$tmp/boot")
        export CUSTOMSFLOW_PIPELINE_GROUP_ID=cpu-$$-$r
        t0=$(date +%s.%N)
        /usr/bin/time -f '%U %S %e %M %R %F' -o "$tmp/time" "$CF" run -c "$SRC/deploy/examples/customsflow.yaml" 2> "$tmp/run.log" &
        tpid=$!
        sleep 0.2
        cpid=$(pgrep -P "$tpid" || true)
        [ -n "$cpid" ] || { tail -5 "$tmp/run.log" >&2; exit 1; }
        [ -n "${PERF:-}" ] && [ "$r" = 1 ] && { perf record ${PERF_OPTS:--g} -o "$PERF" -p "$cpid" 2> /dev/null & ppid=$!; }
        if [ -n "${RATE:-}" ]; then
                until curl -sf -m 5 "http://127.0.0.1:$PORT/readyz" > /dev/null; do
                        kill -0 "$cpid" 2> /dev/null || { tail -5 "$tmp/run.log" >&2; exit 1; }
                        sleep 0.1
                done
                echo go >&9
        fi
        t1=""
        deadline=$(($(date +%s) + 300 + COUNT / ${RATE:-100000}))
        while :; do
                n=$(records_in)
                [ -n "${TRACE:-}" ] && echo "$(date +%T) $n" >&2
                [ -z "$t1" ] && [ "${n:-0}" -gt 0 ] && t1=$(date +%s.%N)
                [ "${n:-0}" -ge "$COUNT" ] && break
                kill -0 "$cpid" 2> /dev/null || { tail -5 "$tmp/run.log" >&2; exit 1; }
                # a reset: the mock broker dropped records before the service read them
                if [ "$(date +%s)" -ge "$deadline" ] || grep -q 'out of range' "$tmp/run.log"; then
                        echo "run $r: $n of $COUNT records in; stopped" >&2
                        grep -m 3 'out of range' "$tmp/run.log" >&2 || true
                        kill -TERM "$cpid" "$kpid" 2> /dev/null || true
                        exit 1
                fi
                sleep 0.1
        done
        t2=$(date +%s.%N)
        sleep 1.5 # the last batches' acks, and a publish of the workers' histograms (1 s)
        scrape=$(metrics) # one scrape for both histograms
        lat=$(batch_latency <<< "$scrape")
        latp=$(batch_latency customsflow_batch_processed_seconds <<< "$scrape")
        late=$(batch_latency customsflow_record_e2e_seconds <<< "$scrape")
        rules=$(awk -F'"' '/^customsflow_flags_total\{rule=/ {split($3, v, " "); if (v[2] > 0) printf "%s %d, ", $2, v[2]}' <<< "$scrape")
        # the broker process's user+sys CPU so far (clock ticks in /proc/PID/stat)
        kcpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$kpid/stat")
        kill -TERM "$cpid"
        wait "$tpid" || true
        [ -n "${ppid:-}" ] && { kill -INT "$ppid"; wait "$ppid" || true; ppid=""; }
        exec 9>&-
        wait "$kpid" || true
        read -r u s e m minf majf < "$tmp/time"; echo "run $r: minor faults $minf major $majf"
        awk -v u="$u" -v s="$s" -v e="$e" -v m="$m" -v n="$COUNT" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v r="$r" \
                'BEGIN {printf "run %d: user %.2f sys %.2f s = %.2f CPU-s per 1M; %.0f records/s (first to last, +-0.1 s); start-up %.1f s; wall %.1f s; max RSS %d MB\n",
                        r, u, s, (u + s) * 1e6 / n, n / (t2 - t1), t1 - t0, e, m / 1024}'
        echo "run $r: batch consume -> acked: $lat"
        echo "run $r: batch consume -> produced: $latp"
        echo "run $r: oldest record's timestamp -> acked (end to end): $late"
        echo "run $r: flags by rule: ${rules%, }"
        echo "run $r: broker process (bench_kafka --serve, preload included): $kcpu CPU-s"
        grep -E '^(topic|acks) ' "$tmp/serve.log" | sed "s/^/run $r: /" || true
        rm -rf "$tmp"
done
