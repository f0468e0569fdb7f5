/*
 * xorshift.h - Marsaglia's xorshift64 (shifts 13, 7, 17): a fast stream that
 * the same seed repeats, for benches and tests that want reproducible keys.
 * Not for anything that must be unpredictable.
 */
#ifndef CF_XORSHIFT_H
#define CF_XORSHIFT_H

#include <stdint.h>

/** Advance *s (never 0) one step and return the new value (never 0). */
static inline uint64_t cf_xorshift64(uint64_t *s)
{
        uint64_t x = *s;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return *s = x;
}

#endif
