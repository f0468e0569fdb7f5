/*
 * intmath.h - integer arithmetic C does not have: division rounding toward
 * minus infinity (C's `/` truncates toward zero, wrong for times before
 * 1970 and for window starts).
 */
#ifndef CF_INTMATH_H
#define CF_INTMATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** a / b rounded toward minus infinity (b != 0). */
static inline int64_t cf_floor_div(int64_t a, int64_t b)
{
        int64_t q = a / b;
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/** s[0..n) as a decimal number of 1 to 20 digits (digits only) and at most max, into *out. */
static inline bool cf_parse_dec(const void *s, size_t n, uint64_t max, uint64_t *out)
{
        if (n == 0 || n > 20) return false;
        uint64_t x = 0;
        for (size_t i = 0; i < n; i++) {
                unsigned c = ((const unsigned char *)s)[i] - (unsigned)'0';
                if (c > 9 || x > (max - c) / 10) return false;
                x = x * 10 + c;
        }
        *out = x;
        return true;
}

#endif
