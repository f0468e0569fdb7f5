/*
 * cents.h - money in the aggregate stage: integer US cents, so sums are exact
 * and do not depend on record order (window counters, late entries and
 * Space-Saving weights all use these).
 */
#ifndef CF_AGG_CENTS_H
#define CF_AGG_CENTS_H

#include <stdint.h>
#include <string.h>

#include "pipeline/core/stenc.h"

/** A record's value_usd in cents, rounded half up (decode bounds it: >= 0,
 * customs_value <= 1e15; beyond int64 it saturates like the sums). */
static inline int64_t cf_agg_cents(double usd)
{
        double c = usd * 100.0 + 0.5;
        if (!(c >= 1.0)) return 0; /* also NaN */
        if (c >= 9.2e18) return INT64_MAX;
        return (int64_t)c;
}

/** Read a money field of a snapshot: cents (i64 >= 0), or with dollars (aggregate snapshot
 * version 1) a double of dollars, converted. Refused (reason in d) when negative or not finite. */
static inline int64_t cf_agg_get_cents(cf_st_dec *d, int dollars, const char *what)
{
        if (!dollars) {
                int64_t c = cf_st_i64(d);
                if (c >= 0) return c;
                cf_st_fail(d, "%s %lld cents < 0", what, (long long)c);
                return 0;
        }
        double usd = cf_st_f64(d);
        if (usd >= 0 && usd < 9e16) return cf_agg_cents(usd);
        cf_st_fail(d, "%s %g dollars out of range", what, usd);
        return 0;
}

/** a + b (both >= 0), saturating at INT64_MAX instead of wrapping. */
static inline int64_t cf_agg_add(int64_t a, int64_t b)
{
        int64_t s;
        return __builtin_add_overflow(a, b, &s) ? INT64_MAX : s;
}

#endif
