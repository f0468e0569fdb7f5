/*
 * console_metrics.h - the console's /metrics: counters and a request-latency
 * histogram kept as atomics (any thread increments them without a lock) and
 * written as Prometheus text. Kept to one struct and one writer so moving to
 * the typed registry (pipeline/core/metrics.h) is a change of this file only.
 */
#ifndef CF_CONSOLE_METRICS_H
#define CF_CONSOLE_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "pipeline/core/buf.h"

#define CF_CM_LAT_BUCKETS 10

typedef struct cf_console_metrics {
        atomic_uint_fast64_t cases_new, versions_new, flags_duplicate, stats_ingested;
        atomic_uint_fast64_t rejected_flags, rejected_stats, ingest_batches, ingest_errors;
        atomic_uint_fast64_t commits, commit_errors;
        atomic_int_fast64_t lag; /* -1 unknown */
        atomic_uint_fast64_t verdict_fraud, verdict_cleared, verdict_referred;
        atomic_uint_fast64_t outcomes_published, outcome_errors;
        atomic_uint_fast64_t logins, login_failures, login_limited;
        atomic_uint_fast64_t http_by_class[6]; /* 1xx..5xx; [0] unused */
        atomic_uint_fast64_t lat_bucket[CF_CM_LAT_BUCKETS + 1];
        atomic_uint_fast64_t lat_sum_us;
} cf_console_metrics;

/** Count one HTTP request: status code and latency. @locality any thread */
void cf_console_metrics_request(cf_console_metrics *m, unsigned code, double seconds);
/** Append the Prometheus text (gauges: active cases, outbox pending). */
void cf_console_metrics_text(const cf_console_metrics *m, int64_t active, int64_t pending,
                             cf_buf *out);

#endif
