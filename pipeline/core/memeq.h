/*
 * memeq.h - equality of short byte strings without a libc call.
 *
 * Field names and party ids are 4..24 bytes; memcmp's call and dispatch cost
 * more than the comparison (decode's key lookup spent ~18% of its time in
 * memcmp). Overlapping loads cover a length with two or three words and never
 * read outside either string.
 */
#ifndef CF_MEMEQ_H
#define CF_MEMEQ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/** 1 when a and b (n bytes each) are equal. */
static inline int cf_memeq(const void *a, const void *b, size_t n)
{
        const char *x = a, *y = b;
        if (n >= 8 && n <= 24) {
                uint64_t x0, y0, x1, y1, x2, y2;
                memcpy(&x0, x, 8);
                memcpy(&y0, y, 8);
                memcpy(&x1, x + n - 8, 8);
                memcpy(&y1, y + n - 8, 8);
                size_t m = n > 16 ? 8 : n - 8; /* the middle word, or the last again */
                memcpy(&x2, x + m, 8);
                memcpy(&y2, y + m, 8);
                return ((x0 ^ y0) | (x1 ^ y1) | (x2 ^ y2)) == 0;
        }
        if (n >= 4 && n < 8) {
                uint32_t x0, y0, x1, y1;
                memcpy(&x0, x, 4);
                memcpy(&y0, y, 4);
                memcpy(&x1, x + n - 4, 4);
                memcpy(&y1, y + n - 4, 4);
                return ((x0 ^ y0) | (x1 ^ y1)) == 0;
        }
        return memcmp(x, y, n) == 0;
}

#endif
