/*
 * changed.h - which items of an array changed since the last delta: a bit per
 * index (the window's groups, the top exporters' entries), and how a delta
 * writes them. One copy for both (window.c, spacesaving.c).
 *
 * @locality: the thread that owns the chain.
 */
#ifndef CF_AGG_CHANGED_H
#define CF_AGG_CHANGED_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/buf.h"
#include "pipeline/core/stenc.h"

/** A bit per index; words 0 before the first cf_agg_changed_fit. */
typedef struct cf_agg_changed {
        uint64_t *w;
        uint32_t words;
} cf_agg_changed;

/** Cover indices [0, n): new words start clear. */
static inline void cf_agg_changed_fit(cf_agg_changed *c, uint32_t n)
{
        uint32_t words = (n + 63) / 64;
        if (words <= c->words) return;
        c->w = realloc(c->w, (size_t)words * sizeof(*c->w));
        if (!c->w) abort();
        memset(c->w + c->words, 0, (size_t)(words - c->words) * sizeof(*c->w));
        c->words = words;
}

/** Index i (covered) changed. */
static inline void cf_agg_changed_mark(cf_agg_changed *c, uint32_t i)
{
        c->w[i >> 6] |= 1ull << (i & 63);
}

/** Nothing changed. */
static inline void cf_agg_changed_clear(cf_agg_changed *c)
{
        if (c->words) memset(c->w, 0, (size_t)c->words * sizeof(*c->w));
}

/** Free the bits. */
static inline void cf_agg_changed_free(cf_agg_changed *c)
{
        free(c->w);
        c->w = NULL;
        c->words = 0;
}

/** Bytes held. */
static inline size_t cf_agg_changed_bytes(const cf_agg_changed *c)
{
        return (size_t)c->words * sizeof(*c->w);
}

/** Append the number of indices changed (u32), then each, ascending, as the index (u32)
 * and what put writes of item i of ctx. */
static inline void cf_agg_changed_put(const cf_agg_changed *c, cf_buf *out,
                                      void (*put)(const void *ctx, uint32_t i, cf_buf *out),
                                      const void *ctx)
{
        uint32_t n = 0;
        for (uint32_t k = 0; k < c->words; k++)
                n += (uint32_t)__builtin_popcountll(c->w[k]);
        cf_st_put_u32(out, n);
        for (uint32_t k = 0; k < c->words; k++)
                for (uint64_t b = c->w[k]; b; b &= b - 1) {
                        uint32_t i = k * 64 + (uint32_t)__builtin_ctzll(b);
                        cf_st_put_u32(out, i);
                        put(ctx, i, out);
                }
}

#endif
