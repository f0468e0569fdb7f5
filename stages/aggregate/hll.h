/*
 * hll.h - HyperLogLog distinct counter (DESIGN §5.4: distinct exporters and
 * importers per window).
 *
 * Callers hash their keys with XXH3_64bits and add the hash. Small sets are
 * kept exactly (a sorted-free open-addressing set of hashes, so a window with
 * a few hundred records costs a few hundred bytes, not 2^p); past m/8 hashes
 * the set is folded into 2^p one-byte registers. The dense estimate is Ertl's
 * improved estimator ("New cardinality estimation algorithms for HyperLogLog
 * sketches", 2017), which needs no bias tables: standard error 1.04/sqrt(2^p),
 * 0.81% at p = 14.
 */
#ifndef CF_AGG_HLL_H
#define CF_AGG_HLL_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/core/buf.h"
#include "pipeline/core/stenc.h"

#define CF_HLL_PMIN 8
#define CF_HLL_PMAX 16

/** A HyperLogLog sketch: sparse (exact hash set) until it grows, then dense. */
typedef struct cf_hll {
        uint8_t p;       /* precision: 2^p registers when dense */
        uint8_t dense;   /* 1 once reg is in use */
        uint32_t n, cap; /* sparse: hashes held, slots (power of two) */
        uint64_t *set;   /* sparse: open-addressing set of hashes (0 = empty) */
        uint8_t *reg;    /* dense: 2^p registers */
        /* the hashes that changed the sketch since cf_hll_clean (deltas), in order; past
         * CF_HLL_LOG_MAX of them only that it overflowed (the delta is then the sketch) */
        uint64_t *log;
        uint32_t nlog, logcap;
        uint8_t over;
        uint8_t track; /* record changes (change tracking on: the service's deltas) */
} cf_hll;

#define CF_HLL_LOG_MAX 1024

/** Start an empty sketch of precision p (CF_HLL_PMIN..CF_HLL_PMAX). */
void cf_hll_init(cf_hll *h, int p);
/** Size the sparse set for n hashes up front (no effect past the sparse limit). */
void cf_hll_reserve(cf_hll *h, uint32_t n);
/** Empty the sketch for reuse at precision p, keeping a sparse set's memory. */
void cf_hll_clear(cf_hll *h, int p);
/** Free the sketch's memory. */
void cf_hll_free(cf_hll *h);
/** Add one 64-bit key hash. */
void cf_hll_add(cf_hll *h, uint64_t hash);
/** Estimated number of distinct hashes added (exact while sparse). */
double cf_hll_estimate(const cf_hll *h);
/** Bytes of heap memory held. */
size_t cf_hll_bytes(const cf_hll *h);
/** Append the sketch to out (restorable by cf_hll_restore). */
void cf_hll_snapshot(const cf_hll *h, cf_buf *out);
/** Read a sketch from d (the sketch keeps its own precision); -1 with the reason in d. */
int cf_hll_restore(cf_hll *h, cf_st_dec *d);
/** Append the changes since cf_hll_clean: u8 0, u32 count and the hashes that changed the
 * sketch (added again in order they give the same sketch); or u8 1 and the whole sketch. */
void cf_hll_delta(const cf_hll *h, cf_buf *out);
/** Forget the changes recorded (a delta or snapshot holds them). */
void cf_hll_clean(cf_hll *h);
/** h = base with a cf_hll_delta read from d applied (base unchanged); -1 with the reason
 * in d (h then holds nothing to free). */
int cf_hll_patch(cf_hll *h, const cf_hll *base, cf_st_dec *d);

#endif
