/*
 * lnsketch.h - a mergeable quantile sketch of x = ln(unit value), the
 * unit-value baseline of one (HS6, unit) (RULES.md, unit_value_outlier).
 *
 * Counts in the buckets of one grid every sketch shares: bucket i of level L
 * is [i w, (i + 1) w) with w = 2^(L - 7) ln units (0.0078 at level 0, a 0.8 %
 * price step). Only occupied buckets are stored (sorted indices), each with
 * two counts: the previous and the current generation of event time.
 *
 * Exactly mergeable: counts are integers on a shared grid, and a bucket of
 * level L + 1 is the sum of two of level L (a uniform collapse, as in
 * UDDSketch), so adding samples or merging sketches in any order and any
 * grouping gives the same counts. Ageing is defined on the merged sketch by
 * event time: a sketch holds generation g (the newest ever added) and g - 1;
 * a sample of an older generation is dropped, one of a newer generation moves
 * the sketch forward (the old current becomes the previous, or both are
 * cleared). The counts are therefore a function of the multiset of samples.
 *
 * Bounded: cf_lns_settle() collapses to the finest level at which at most
 * max buckets are occupied: <= max * 12 bytes plus the header (CF_LNS_BYTES).
 * Between settles a sketch may exceed the bound (a merge adds many buckets
 * at once): settling once after a whole merge keeps the level a function of
 * the merged content, not of the order of the merge.
 *
 * Accuracy: quantiles are read with each bucket's mass spread uniformly over
 * its width (a piecewise-linear CDF); median and MAD are within 2 % of the
 * exact sample values for log-normal prices with sigma 0.05-1.5 at any
 * location (tests/unit/test_lnsketch.c).
 *
 * @locality: any thread; a sketch belongs to one owner (no locking).
 */
#ifndef CF_LNSKETCH_H
#define CF_LNSKETCH_H

#include <stdbool.h>
#include <stdint.h>

#include "pipeline/core/buf.h"
#include "pipeline/core/stenc.h"

#define CF_LNS_FINE_BITS 7         /* level 0 width: 2^-7 ln units */
#define CF_LNS_GEN_NONE  INT32_MIN /* no sample yet */
#define CF_LNS_X_LIMIT   700.0     /* |ln(unit value)| is clamped here (e^700 ~ 1e304) */
#define CF_LNS_MAX_LEVEL 16        /* width 512 ln units: one bucket holds anything */

/** A sketch; zero-initialise it with CF_LNS_INIT (no memory until the first sample). */
typedef struct cf_lns {
        int32_t *idx;    /* occupied buckets at this level, ascending */
        uint32_t *cnt;   /* 2 per bucket: [2i] previous generation, [2i + 1] current */
        uint32_t n, cap; /* buckets used / allocated */
        int32_t gen;     /* current generation (CF_LNS_GEN_NONE: nothing added yet) */
        uint8_t level;
        uint64_t total; /* sum of every count (kept, so cf_lns_count is O(1)) */
} cf_lns;

#define CF_LNS_INIT                                                                                \
        {                                                                                          \
                .gen = CF_LNS_GEN_NONE                                                             \
        }
/** Bytes of a sketch with n buckets (header included): the memory bound per baseline. */
#define CF_LNS_BYTES(n) (sizeof(cf_lns) + (size_t)(n)*12u)

/** The level-0 bucket of x (clamped to +-CF_LNS_X_LIMIT). */
int32_t cf_lns_fine(double x);
/** Add count samples of level-0 bucket fine in generation gen (dropped when older than
 * the sketch's previous generation). */
void cf_lns_add(cf_lns *s, int32_t gen, int32_t fine, uint32_t count);
/** Add every count of src to dst (at the coarser of the two levels). */
void cf_lns_merge(cf_lns *dst, const cf_lns *src);
/** Take src's counts out of dst, for the generations dst still holds (dst must contain
 * them: a contribution merged earlier); counts floor at 0. */
void cf_lns_sub(cf_lns *dst, const cf_lns *src);
/** Move to generation gen (no-op unless newer): the current becomes the previous. */
void cf_lns_roll(cf_lns *s, int32_t gen);
/** Collapse to the finest level with at most max occupied buckets (max >= 2). */
void cf_lns_settle(cf_lns *s, uint32_t max);
/** Samples held (both generations). */
uint64_t cf_lns_count(const cf_lns *s);
/** Median and MAD (median absolute deviation from it) of the samples held, in ln units;
 * false when empty. */
bool cf_lns_median_mad(const cf_lns *s, double *median, double *mad);
/** Replace dst's contents with a copy of src's. */
void cf_lns_copy(cf_lns *dst, const cf_lns *src);
/** Append the sketch (stenc fields): i32 generation, u8 level, u32 n, then n x (i32
 * bucket, u32 previous, u32 current), buckets ascending. */
void cf_lns_put(cf_buf *out, const cf_lns *s);
/** Read what cf_lns_put wrote into s (its buckets replaced), checked (level, order, no
 * empty bucket, a generation when there are buckets); false with the reason in d. */
bool cf_lns_get(cf_st_dec *d, cf_lns *s);
/** Append s's changes against base (what cf_lns_put wrote at the last delta, read from
 * base): u32-free varints, the number of buckets changed, then per bucket its index (the
 * first zigzag, the others as the gap after the one before) and both counts (0 and 0: the
 * bucket went). false, nothing written: another generation or level (the caller writes the
 * sketch whole), or most buckets changed. */
bool cf_lns_diff(cf_buf *out, cf_st_dec *base, const cf_lns *s);
/** Read what cf_lns_diff wrote: s (empty) becomes old with the changes, checked (order,
 * counts, a removed bucket must be held); false with the reason in d. */
bool cf_lns_patch(cf_st_dec *d, const cf_lns *old, cf_lns *s);
/** Free the buckets; the sketch is empty (CF_LNS_INIT) again. */
void cf_lns_free(cf_lns *s);

#endif
