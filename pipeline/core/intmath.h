/*
 * intmath.h - integer arithmetic C does not have: division rounding toward
 * minus infinity (C's `/` truncates toward zero, wrong for times before
 * 1970 and for window starts).
 */
#ifndef CF_INTMATH_H
#define CF_INTMATH_H

#include <stdint.h>

/** a / b rounded toward minus infinity (b != 0). */
static inline int64_t cf_floor_div(int64_t a, int64_t b)
{
        int64_t q = a / b;
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

#endif
