/*
 * kvtab.h - the detect stage's bounded keyed state: uint64 key -> fixed-size
 * value, open addressing with linear probing. Every value starts with an
 * int64_t "last used" event time (ms); entries idle for longer than the
 * table's window are expired, and when the bound is reached the least
 * recently used quarter is evicted and counted, never silently.
 *
 * @locality: the worker thread that owns the chain (one table per partition).
 */
#ifndef CF_KVTAB_H
#define CF_KVTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/core/buf.h"

/** A table; zero it, then cf_kvtab_init. */
typedef struct cf_kvtab {
        uint64_t *keys; /* 0 = empty slot */
        unsigned char *vals;
        uint32_t vsize;    /* bytes per value; the first 8 are int64_t last_ms */
        size_t cap, n;     /* slots (power of two), live entries */
        size_t max;        /* bound on entries */
        int64_t window_ms; /* idle entries older than max_ms - window_ms expire (0: never) */
        int64_t max_ms;    /* latest event time seen by cf_kvtab_put */
        uint64_t evicted, expired;
        /* replica tables (cf_kvtab_hold_clock): puts collect the latest time here and
         * expiry uses max_ms as of the last cf_kvtab_release_clock, so what expires in a
         * round of merges does not depend on their order */
        bool hold_clock;
        int64_t held_max_ms;
        /* called for a value that leaves the table (expired, evicted, freed) */
        void (*drop)(void *opaque, uint64_t key, void *val);
        void *drop_opaque;
} cf_kvtab;

/** Set up an empty table of values of vsize bytes, bounded to max entries. */
void cf_kvtab_init(cf_kvtab *t, uint32_t vsize, size_t max, int64_t window_ms);
/** Free the table's memory. */
void cf_kvtab_free(cf_kvtab *t);
/** The value of key, or NULL when absent or expired (nothing changes). */
void *cf_kvtab_get(const cf_kvtab *t, uint64_t key);
/** Freeze the expiry clock (see hold_clock) until cf_kvtab_release_clock. */
void cf_kvtab_hold_clock(cf_kvtab *t);
/** Expiry from now on uses the latest time put since the clock was held. */
void cf_kvtab_release_clock(cf_kvtab *t);
/** Call fn on every live entry (fn must not put or remove). */
void cf_kvtab_each(cf_kvtab *t, void (*fn)(void *opaque, uint64_t key, void *val), void *opaque);
/** The value of key, inserted zeroed when absent (*created set); stamps last_ms = now_ms. */
void *cf_kvtab_put(cf_kvtab *t, uint64_t key, int64_t now_ms, bool *created);
/** Append the table (entries and counters) to out. */
void cf_kvtab_snapshot(const cf_kvtab *t, cf_buf *out);
/** Replace the table's entries from a snapshot at *p (advanced); -1 if malformed, 1 if
 * it was taken with another value size (skipped; the table stays empty). */
int cf_kvtab_restore(cf_kvtab *t, const unsigned char **p, const unsigned char *end);

#endif
