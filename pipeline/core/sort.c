/*
 * sort.c - see sort.h. An LSD radix sort (four 16-bit digits, passes whose
 * digit is the same for every pair skipped) rather than qsort: a 1M-entry
 * table sorts in a few ms instead of ~100 ms of comparisons through a
 * function pointer; small inputs go by insertion sort.
 */
#include "pipeline/core/sort.h"

#include <stdlib.h>
#include <string.h>

#define SMALL  64
#define DIGITS 4
#define RADIX  65536

void cf_sort_kv_nearly(cf_sort_kv *v, size_t n)
{
        for (size_t i = 1; i < n; i++) {
                cf_sort_kv x = v[i];
                size_t j = i;
                for (; j && v[j - 1].key > x.key; j--)
                        v[j] = v[j - 1];
                v[j] = x;
        }
}

void cf_sort_kv_by_key(cf_sort_kv *v, size_t n)
{
        if (n <= SMALL) {
                cf_sort_kv_nearly(v, n);
                return;
        }
        cf_sort_kv *tmp = malloc(n * sizeof(*tmp));
        size_t *count = malloc(RADIX * sizeof(*count));
        if (!tmp || !count) abort(); /* as the arena: out of memory is fatal */
        cf_sort_kv *src = v, *dst = tmp;
        for (int d = 0; d < DIGITS; d++) {
                unsigned shift = 16u * (unsigned)d;
                memset(count, 0, RADIX * sizeof(*count));
                for (size_t i = 0; i < n; i++)
                        count[(src[i].key >> shift) & 0xFFFF]++;
                if (count[(src[0].key >> shift) & 0xFFFF] == n) continue; /* one digit: no-op */
                size_t sum = 0;
                for (size_t b = 0; b < RADIX; b++) {
                        size_t c = count[b];
                        count[b] = sum;
                        sum += c;
                }
                for (size_t i = 0; i < n; i++)
                        dst[count[(src[i].key >> shift) & 0xFFFF]++] = src[i];
                cf_sort_kv *t = src;
                src = dst;
                dst = t;
        }
        if (src != v) memcpy(v, src, n * sizeof(*v));
        free(tmp);
        free(count);
}
