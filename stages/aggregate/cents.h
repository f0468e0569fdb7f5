/*
 * cents.h - money in the aggregate stage: integer US cents, so sums are exact
 * and do not depend on record order (window counters, late entries and
 * Space-Saving weights all use these).
 */
#ifndef CF_AGG_CENTS_H
#define CF_AGG_CENTS_H

#include <stdint.h>
#include <string.h>

/** A record's value_usd in cents, rounded half up (decode bounds it: >= 0,
 * customs_value <= 1e15; beyond int64 it saturates like the sums). */
static inline int64_t cf_agg_cents(double usd)
{
        double c = usd * 100.0 + 0.5;
        if (!(c >= 1.0)) return 0; /* also NaN */
        if (c >= 9.2e18) return INT64_MAX;
        return (int64_t)c;
}

/** An 8-byte money field of a version-1 snapshot (a double of dollars) as cents. */
static inline int64_t cf_agg_cents_v1(int64_t raw)
{
        double usd;
        memcpy(&usd, &raw, sizeof(usd));
        return cf_agg_cents(usd);
}

/** a + b (both >= 0), saturating at INT64_MAX instead of wrapping. */
static inline int64_t cf_agg_add(int64_t a, int64_t b)
{
        int64_t s;
        return __builtin_add_overflow(a, b, &s) ? INT64_MAX : s;
}

#endif
