/*
 * prom.h - test helper: values out of Prometheus text, and out of a metrics
 * registry through its encoder (what /metrics would show).
 */
#ifndef CF_TEST_PROM_H
#define CF_TEST_PROM_H

#include "pipeline/core/metrics.h"

/** Value of the sample line "series v" in text (series = name{labels} as written), or def. */
double prom_value(const char *text, const char *series, double def);
/** Sum of every sample of metric name (any labels) in text; 0 if none. */
double prom_sum(const char *text, const char *name);
/** Encode m alone and return the value of series, -1 if absent. */
long long prom_reg_value(cf_metrics *m, const char *series);
/** Number of samples of metric name (any labels) in text. */
size_t prom_count(const char *text, const char *name);
/** Samples whose name{labels} appears more than once in text (each printed); 0 = none. */
size_t prom_duplicates(const char *text);
/** Counter samples (counters, histogram buckets/sum/count) of before that are lower in
 *  after or gone from it (each printed); 0 = none. */
size_t prom_decreased(const char *before, const char *after);
/** GET http://addr/path (addr "host:port") into body (NUL-terminated); the status or -1. */
int prom_http_get(const char *addr, const char *path, cf_buf *body);
/** 0 if `promtool check metrics` accepts text, else its exit status (output on stderr). */
int prom_promtool(const char *text);

#endif
