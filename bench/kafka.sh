#!/usr/bin/env bash
# The Kafka-path benchmark as recorded in bench/RESULTS.md (## kafka): builds,
# then runs bench_kafka (mock cluster in-process, kcat as the raw-consume
# baseline) with the default config, then the latency with short batching, then
# the throughput with a larger librdkafka prefetch queue (the bottleneck).
# usage: bench/kafka.sh [BUILD_DIR]     (about 6 minutes on 2 vCPUs)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$SRC/build}
cmake -S "$SRC" -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$B" -j2 --target bench_kafka > /dev/null
K=$B/bench/bench_kafka
command -v kcat > /dev/null || { echo "kcat not installed (deploy/install-deps.sh)" >&2; exit 2; }

echo "== 1. defaults: throughput (5 runs) and latency (3 runs per rate)"
"$K" --count 200000 --partitions 64 --runs 5 --workers 1,2 --rates 5000,20000 --lat-seconds 10

echo "== 2. latency with short batching: batch_timeout 20ms, fetch.wait.max.ms 10"
CUSTOMSFLOW_PIPELINE_BATCH_TIMEOUT=20ms CUSTOMSFLOW_KAFKA_CONSUMER_FETCH_WAIT_MAX_MS=10 \
  "$K" --no-throughput --rates 5000,20000 --lat-seconds 10

echo "== 3. throughput with a 256 MiB / 1M-message prefetch queue (not the default)"
CUSTOMSFLOW_KAFKA_CONSUMER_QUEUED_MAX_MESSAGES_KBYTES=262144 CUSTOMSFLOW_KAFKA_CONSUMER_QUEUED_MIN_MESSAGES=1000000 \
  "$K" --count 200000 --partitions 64 --runs 5 --workers 1,2 --no-latency
