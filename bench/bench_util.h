/*
 * bench_util.h - what every benchmark driver needs besides the stage it
 * times: sorting its runs' figures to take medians, min and max, and its
 * own resident memory. (Clocks: cf_mono_s in pipeline/cli/cli.h.)
 */
#ifndef CF_BENCH_UTIL_H
#define CF_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/** Print "name: message" on stderr and exit 1: a driver's setup failed, nothing to save. */
#define CF_BENCH_DIE(name, ...)                                                                    \
        do {                                                                                       \
                fprintf(stderr, name ": " __VA_ARGS__);                                            \
                fprintf(stderr, "\n");                                                             \
                exit(1);                                                                           \
        } while (0)

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

/** The median of n > 0 figures (sorts v; the mean of the middle two for an even n). */
static inline double cf_bench_median(double *v, int n)
{
        cf_bench_sort(v, n);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/** This process's resident memory now in bytes (/proc/self/statm), 0 if unknown. */
static inline double cf_bench_rss_bytes(void)
{
        long pages = 0, res = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (f && fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
        if (f) fclose(f);
        return (double)res * (double)sysconf(_SC_PAGESIZE);
}

#endif
