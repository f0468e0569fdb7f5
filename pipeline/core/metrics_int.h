/*
 * metrics_int.h - the registry's structures, shared by metrics.c (declaring,
 * lookup) and metrics_encode.c (merging, text). Not a public API.
 */
#ifndef CF_METRICS_INT_H
#define CF_METRICS_INT_H

#include <pthread.h>

#include "pipeline/core/metrics.h"

struct cf_metric {
        cf_metrics *reg;
        char *name, *help;
        cf_metric_type type;
        cf_metric_merge merge;
        const char **labels; /* nl names, one block */
        size_t nl;
        double *bounds; /* histogram: nb upper bounds */
        size_t nb;
        cf_series **series; /* in creation order */
        size_t ns, cs;
        uint32_t *index; /* open addressing: series index + 1, 0 = empty */
        size_t cap;
};

struct cf_metrics {
        pthread_mutex_t mtx; /* guards the family and series arrays (not the values) */
        cf_metric **fams;    /* in declaration order */
        size_t nf, cf;
};

/** Same type, merge rule, label names and bounds (families of one name must be). */
bool cf_metric_same_shape(const cf_metric *f, const cf_metric *g);

#endif
