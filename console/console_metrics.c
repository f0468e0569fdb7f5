/*
 * console_metrics.c - the console's families on the typed registry.
 */
#include "console/console_metrics.h"

#include <stdio.h>

static const double lat_le[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};

void cf_console_metrics_init(cf_console_metrics *m)
{
        cf_metrics *r = m->reg = cf_metrics_new();
        m->cases_new = cf_metrics_counter_series(r, "customsflow_console_cases_created_total",
                                                 "flags that opened a new case");
        m->versions_new =
            cf_metrics_counter_series(r, "customsflow_console_versions_total",
                                      "flags that added a version (amendment, resubmission) to a "
                                      "known case");
        m->flags_duplicate =
            cf_metrics_counter_series(r, "customsflow_console_flags_duplicate_total",
                                      "re-delivered flags that changed nothing (idempotent "
                                      "ingestion)");
        m->stats_ingested = cf_metrics_counter_series(r, "customsflow_console_stats_ingested_total",
                                                      "stats messages stored");
        cf_metric *rej = cf_metrics_counter(r, "customsflow_console_rejected_total",
                                            "malformed messages logged and skipped", "topic");
        m->rejected_flags = cf_metric_series(rej, "flags");
        m->rejected_stats = cf_metric_series(rej, "stats");
        m->ingest_batches = cf_metrics_counter_series(r, "customsflow_console_ingest_batches_total",
                                                      "store transactions of ingestion");
        m->ingest_errors = cf_metrics_counter_series(
            r, "customsflow_console_ingest_errors_total",
            "store transactions that failed (the batch is consumed again)");
        m->commits = cf_metrics_counter_series(r, "customsflow_console_commits_total",
                                               "offset commits after a store transaction");
        m->commit_errors = cf_metrics_counter_series(r, "customsflow_console_commit_errors_total",
                                                     "failed offset commits");
        m->lag = cf_metrics_gauge_series(
            r, "customsflow_console_lag",
            "messages on the flags and stats topics not yet ingested (-1 unknown)", CF_MERGE_SUM);
        cf_gauge_set(m->lag, -1);
        cf_metric *v = cf_metrics_counter(r, "customsflow_console_verdicts_total",
                                          "closing verdicts by outcome", "verdict");
        m->verdict_fraud = cf_metric_series(v, "confirmed_fraud");
        m->verdict_cleared = cf_metric_series(v, "cleared");
        m->verdict_referred = cf_metric_series(v, "referred");
        m->outcomes_published =
            cf_metrics_counter_series(r, "customsflow_console_outcomes_published_total",
                                      "outcomes acknowledged by the broker on topics.outcomes");
        m->outcome_errors = cf_metrics_counter_series(r, "customsflow_console_outcome_errors_total",
                                                      "outcome deliveries that failed (retried)");
        m->outcomes_pending =
            cf_metrics_gauge_series(r, "customsflow_console_outcomes_pending",
                                    "verdict outcomes not yet published", CF_MERGE_SUM);
        m->cases_active = cf_metrics_gauge_series(r, "customsflow_console_cases_active",
                                                  "open and in-review cases", CF_MERGE_SUM);
        m->logins =
            cf_metrics_counter_series(r, "customsflow_console_logins_total", "successful logins");
        m->login_failures = cf_metrics_counter_series(r, "customsflow_console_login_failures_total",
                                                      "failed logins");
        m->login_limited = cf_metrics_counter_series(r, "customsflow_console_login_limited_total",
                                                     "logins refused by the rate limit");
        cf_metric *h = cf_metrics_counter(r, "customsflow_console_http_requests_total",
                                          "HTTP requests by status", "code");
        for (int c = 1; c <= 5; c++) {
                char l[8];
                snprintf(l, sizeof l, "%dxx", c);
                m->http_by_class[c] = cf_metric_series(h, l);
        }
        m->request_seconds = cf_metric_series(
            cf_metrics_histogram(r, "customsflow_console_request_seconds", "HTTP request latency",
                                 NULL, lat_le, sizeof lat_le / sizeof lat_le[0]));
}

void cf_console_metrics_free(cf_console_metrics *m)
{
        cf_metrics_free(m->reg);
        m->reg = NULL;
}

void cf_console_metrics_request(cf_console_metrics *m, unsigned code, double seconds)
{
        if (code >= 100 && code < 600) cf_counter_add_shared(m->http_by_class[code / 100], 1);
        cf_histogram_observe_shared(m->request_seconds, seconds);
}

void cf_console_metrics_text(cf_console_metrics *m, int64_t active, int64_t pending, cf_buf *out)
{
        cf_gauge_set(m->cases_active, (double)active);
        cf_gauge_set(m->outcomes_pending, (double)pending);
        cf_metrics_encode(out, &m->reg, 1);
}
