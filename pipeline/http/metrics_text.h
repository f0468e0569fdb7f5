/*
 * metrics_text.h - Prometheus text exposition helpers for the service's
 * /metrics: the stage metrics every worker's chain writes, merged into one
 * valid exposition.
 */
#ifndef CF_METRICS_TEXT_H
#define CF_METRICS_TEXT_H

#include "pipeline/core/buf.h"

/**
 * Append n workers' stage metrics (per_worker[i], Prometheus text) to out:
 * every sample gets a worker="i" label (two workers' series never collide),
 * samples are grouped by metric family in order of first appearance, and
 * each family's # HELP / # TYPE lines appear once, before its samples.
 */
void cf_metrics_merge_workers(cf_buf *out, const cf_buf *per_worker, int n);

#endif
