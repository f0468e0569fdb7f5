/*
 * console_metrics.h - the console's /metrics on the typed registry
 * (pipeline/core/metrics.h): series created at start, updated from the HTTP
 * pool, ingest and outbox threads with the registry's _shared updates, encoded
 * by the registry.
 */
#ifndef CF_CONSOLE_METRICS_H
#define CF_CONSOLE_METRICS_H

#include <stdint.h>

#include "pipeline/core/buf.h"
#include "pipeline/core/metrics.h"

typedef struct cf_console_metrics {
        cf_metrics *reg;
        cf_series *cases_new, *versions_new, *flags_duplicate, *stats_ingested;
        cf_series *rejected_flags, *rejected_stats, *ingest_batches, *ingest_errors;
        cf_series *commits, *commit_errors;
        cf_series *lag; /* gauge, -1 unknown */
        cf_series *verdict_fraud, *verdict_cleared, *verdict_referred;
        cf_series *outcomes_published, *outcome_errors;
        cf_series *outcomes_pending, *cases_active; /* gauges, set when scraped */
        cf_series *logins, *login_failures, *login_limited;
        cf_series *http_by_class[6]; /* 1xx..5xx; [0] unused */
        cf_series *request_seconds;
} cf_console_metrics;

/** Declare the console's families and series. @locality main thread, before the threads */
void cf_console_metrics_init(cf_console_metrics *m);
/** Free the registry. @locality main thread, after the threads */
void cf_console_metrics_free(cf_console_metrics *m);
/** Count one HTTP request: status code and latency. @locality any thread */
void cf_console_metrics_request(cf_console_metrics *m, unsigned code, double seconds);
/** Append the Prometheus text, with the gauges of the store (active cases, outbox
 *  pending) as read by the caller. @locality any thread */
void cf_console_metrics_text(cf_console_metrics *m, int64_t active, int64_t pending, cf_buf *out);

#endif
