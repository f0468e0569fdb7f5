/*
 * spacesaving.h - weighted Space-Saving top-k (Metwally et al. 2005) for the
 * top exporters by value per window (DESIGN §5.4).
 *
 * At most cap entries: an unseen key replaces the entry with the smallest
 * count, inheriting it as its error. Each reported count c with error e
 * brackets the true weight w: c - e <= w <= c; every key whose true weight
 * exceeds total / cap is held. Weights are integers (the aggregate stage
 * counts value in US cents), so sums are exact and order-free. Ties are
 * broken by hash, never by memory layout, so a restored summary decides
 * exactly like the original.
 */
#ifndef CF_AGG_SPACESAVING_H
#define CF_AGG_SPACESAVING_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/core/buf.h"
#include "pipeline/core/stenc.h"
#include "stages/aggregate/changed.h"

#define CF_SS_KEY_MAX 128 /* exporter_id's schema maxLength; longer keys keep a prefix */

/** One tracked key, as cf_ss_top reports it. */
typedef struct cf_ss_entry {
        uint64_t hash;
        int64_t count, err;
        uint8_t len;
        char key[CF_SS_KEY_MAX];
} cf_ss_entry;

/** A heap node: the ordering fields kept apart from the keys, so a sift
 * touches 24-byte nodes, not 150-byte keys. */
typedef struct cf_ss_node {
        int64_t count;
        uint64_t hash;
        uint32_t ei; /* entry index */
} cf_ss_node;

/** A Space-Saving summary (arrays grow on demand up to cap). */
typedef struct cf_ss {
        uint32_t cap, n, ecap, islots;
        cf_ss_node *heap;  /* min-heap by (count, hash) */
        uint32_t *pos;     /* entry index -> heap position */
        cf_ss_entry *e;    /* keys and errors (count lives in the heap) */
        uint32_t *idx;     /* open addressing by hash: entry index + 1, 0 = empty */
        cf_agg_changed ch; /* entries changed since cf_ss_clean (deltas) */
        uint8_t track;     /* record changes (change tracking on: the service's deltas) */
} cf_ss;

/** Start an empty summary holding at most cap keys (cap >= 1). */
void cf_ss_init(cf_ss *s, uint32_t cap);
/** Empty the summary for reuse with capacity cap, keeping its memory. */
void cf_ss_clear(cf_ss *s, uint32_t cap);
/** Allocate room for n keys up front (at most cap): no growth while n are added. */
void cf_ss_reserve(cf_ss *s, uint32_t n);
/** Free the summary's memory. */
void cf_ss_free(cf_ss *s);
/** Add weight w (>= 0) to key (len bytes, hash = XXH3_64bits of the key). */
void cf_ss_add(cf_ss *s, const char *key, size_t len, uint64_t hash, int64_t w);
/** Copy up to k entries with the highest counts into out (descending, ties by key); returns how
 * many. */
size_t cf_ss_top(const cf_ss *s, size_t k, cf_ss_entry *out);
/** Bytes of heap memory held. */
size_t cf_ss_bytes(const cf_ss *s);
/** Append the summary to out. */
void cf_ss_snapshot(const cf_ss *s, cf_buf *out);
/** Read a summary of capacity cap from d, every entry in its place (cap raised to their number
 * if below); -1 with the reason in d. dollars: counts written as doubles of dollars (aggregate
 * snapshot version 1), read as cents. */
int cf_ss_restore(cf_ss *s, uint32_t cap, cf_st_dec *d, int dollars);
/** Append the changes since cf_ss_clean: the number of entries (u32), the number changed
 * (u32), each as its index (u32, ascending) and the entry as in a snapshot. */
void cf_ss_delta(const cf_ss *s, cf_buf *out);
/** Forget the changes recorded (a delta or snapshot holds them). */
void cf_ss_clean(cf_ss *s);
/** s = base with a cf_ss_delta read from d applied (base unchanged; every entry kept, as
 * cf_ss_restore does); -1 with the reason in d. */
int cf_ss_patch(cf_ss *s, const cf_ss *base, uint32_t cap, cf_st_dec *d);

#endif
