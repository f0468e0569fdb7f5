/*
 * bench_util.h - what every benchmark driver needs besides the stage it
 * times: sorting its runs' figures to take medians, min and max. (Clocks:
 * cf_mono_s in pipeline/cli/cli.h.)
 */
#ifndef CF_BENCH_UTIL_H
#define CF_BENCH_UTIL_H

#include <stdlib.h>

static inline int cf_bench_cmp_d(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

/** Sort n doubles ascending (v[n / 2] is then the median the benches report). */
static inline void cf_bench_sort(double *v, int n)
{
        qsort(v, (size_t)n, sizeof(*v), cf_bench_cmp_d);
}

#endif
