/*
 * detect_metrics.h - the detect stage's metric series: times each rule fired,
 * entries and evictions of the rules' state tables, bytes and keys their deltas wrote.
 *
 * @locality: the worker thread that owns the chain.
 */
#ifndef CF_DETECT_METRICS_H
#define CF_DETECT_METRICS_H

#include "pipeline/core/metrics.h"
#include "stages/detect/detect_int.h"

/** As many rules as cf_detect.fired counts. */
#define CF_DETECT_METRIC_RULES (sizeof(((cf_detect *)0)->fired) / sizeof(uint64_t))

/** The series, per rule in cf_detect_rules order, and the counts they follow. */
typedef struct cf_detect_metrics {
        cf_series *fired[CF_DETECT_METRIC_RULES], *entries[CF_DETECT_METRIC_RULES],
            *evicted[CF_DETECT_METRIC_RULES];
        /* the population replica: the same on every worker (each applies every
         * message), so its series are replicated (merged as one copy) */
        cf_series *rep_entries[CF_DETECT_METRIC_RULES], *rep_evicted[CF_DETECT_METRIC_RULES];
        cf_series *pop_applied, *pop_refused, *contributions, *contrib_evicted;
        /* per table with deltas (cf_detect.delta_bytes' order), NULL for a rule without */
        cf_series *delta_bytes[CF_RULES_MAX + 2], *delta_keys[CF_RULES_MAX + 2];
        uint64_t seen_delta_bytes[CF_RULES_MAX + 2], seen_delta_keys[CF_RULES_MAX + 2];
        uint64_t seen_fired[CF_DETECT_METRIC_RULES];
        uint64_t **seen_evicted; /* per partition: per rule */
        size_t nseen;
        cf_metrics *reg; /* for the rules' global state (declared at their first collect) */
} cf_detect_metrics;

/** Declare the families in reg and look up every rule's series. */
void cf_detect_metrics_init(cf_detect_metrics *m, cf_metrics *reg);
/** The stage's collect (see cf_stage_plugin.collect) over x's state; replica: x->pop is set
 *  up (the stage is enabled). */
void cf_detect_metrics_collect(cf_detect_metrics *m, cf_detect *x, bool replica, int32_t partition,
                               int rebase);
/** Free what init and collect allocated. */
void cf_detect_metrics_free(cf_detect_metrics *m);

#endif
