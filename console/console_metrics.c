/*
 * console_metrics.c - Prometheus text of the console's counters.
 */
#include "console/console_metrics.h"

#include <stdbool.h>
#include <stdio.h>

static const double lat_le[CF_CM_LAT_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                                 0.05,  0.1,    0.25,  0.5,  1};

void cf_console_metrics_request(cf_console_metrics *m, unsigned code, double seconds)
{
        if (code >= 100 && code < 600) atomic_fetch_add(&m->http_by_class[code / 100], 1);
        int b = 0;
        while (b < CF_CM_LAT_BUCKETS && seconds > lat_le[b])
                b++;
        atomic_fetch_add(&m->lat_bucket[b], 1);
        atomic_fetch_add(&m->lat_sum_us, (uint64_t)(seconds * 1e6));
}

static void counter(cf_buf *o, const char *name, const char *help, const char *labels, uint64_t v,
                    bool header)
{
        if (header) cf_buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
        cf_buf_printf(o, "%s%s %llu\n", name, labels, (unsigned long long)v);
}
#define C(name, help, field) counter(o, name, help, "", atomic_load(&m->field), true)

void cf_console_metrics_text(const cf_console_metrics *m, int64_t active, int64_t pending,
                             cf_buf *o)
{
        C("customsflow_console_cases_created_total", "flags that opened a new case", cases_new);
        C("customsflow_console_versions_total",
          "flags that added a version (amendment, resubmission) to a known case", versions_new);
        C("customsflow_console_flags_duplicate_total",
          "re-delivered flags that changed nothing (idempotent ingestion)", flags_duplicate);
        C("customsflow_console_stats_ingested_total", "stats messages stored", stats_ingested);
        counter(o, "customsflow_console_rejected_total", "malformed messages logged and skipped",
                "{topic=\"flags\"}", atomic_load(&m->rejected_flags), true);
        counter(o, "customsflow_console_rejected_total", "", "{topic=\"stats\"}",
                atomic_load(&m->rejected_stats), false);
        C("customsflow_console_ingest_batches_total", "store transactions of ingestion",
          ingest_batches);
        C("customsflow_console_ingest_errors_total",
          "store transactions that failed (the batch is consumed again)", ingest_errors);
        C("customsflow_console_commits_total", "offset commits after a store transaction", commits);
        C("customsflow_console_commit_errors_total", "failed offset commits", commit_errors);
        cf_buf_printf(o,
                      "# HELP customsflow_console_lag messages on the flags and stats topics "
                      "not yet ingested (-1 unknown)\n# TYPE customsflow_console_lag gauge\n"
                      "customsflow_console_lag %lld\n",
                      (long long)atomic_load(&m->lag));
        counter(o, "customsflow_console_verdicts_total", "closing verdicts by outcome",
                "{verdict=\"confirmed_fraud\"}", atomic_load(&m->verdict_fraud), true);
        counter(o, "customsflow_console_verdicts_total", "", "{verdict=\"cleared\"}",
                atomic_load(&m->verdict_cleared), false);
        counter(o, "customsflow_console_verdicts_total", "", "{verdict=\"referred\"}",
                atomic_load(&m->verdict_referred), false);
        C("customsflow_console_outcomes_published_total",
          "outcomes acknowledged by the broker on topics.outcomes", outcomes_published);
        C("customsflow_console_outcome_errors_total", "outcome deliveries that failed (retried)",
          outcome_errors);
        cf_buf_printf(o,
                      "# HELP customsflow_console_outcomes_pending verdict outcomes not yet "
                      "published\n# TYPE customsflow_console_outcomes_pending gauge\n"
                      "customsflow_console_outcomes_pending %lld\n"
                      "# HELP customsflow_console_cases_active open and in-review cases\n"
                      "# TYPE customsflow_console_cases_active gauge\n"
                      "customsflow_console_cases_active %lld\n",
                      (long long)pending, (long long)active);
        C("customsflow_console_logins_total", "successful logins", logins);
        C("customsflow_console_login_failures_total", "failed logins", login_failures);
        C("customsflow_console_login_limited_total", "logins refused by the rate limit",
          login_limited);
        for (int c = 1; c <= 5; c++) {
                char l[32];
                snprintf(l, sizeof l, "{code=\"%dxx\"}", c);
                counter(o, "customsflow_console_http_requests_total", "HTTP requests by status", l,
                        atomic_load(&m->http_by_class[c]), c == 1);
        }
        cf_buf_puts(o, "# HELP customsflow_console_request_seconds HTTP request latency\n"
                       "# TYPE customsflow_console_request_seconds histogram\n");
        uint64_t cum = 0;
        for (int b = 0; b <= CF_CM_LAT_BUCKETS; b++) {
                cum += atomic_load(&m->lat_bucket[b]);
                if (b < CF_CM_LAT_BUCKETS)
                        cf_buf_printf(
                            o, "customsflow_console_request_seconds_bucket{le=\"%g\"} %llu\n",
                            lat_le[b], (unsigned long long)cum);
        }
        cf_buf_printf(o,
                      "customsflow_console_request_seconds_bucket{le=\"+Inf\"} %llu\n"
                      "customsflow_console_request_seconds_sum %.6f\n"
                      "customsflow_console_request_seconds_count %llu\n",
                      (unsigned long long)cum, (double)atomic_load(&m->lat_sum_us) / 1e6,
                      (unsigned long long)cum);
}
