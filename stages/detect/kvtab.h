/*
 * kvtab.h - the detect stage's bounded keyed state: uint64 key -> fixed-size
 * value, open addressing with linear probing. Every value starts with an
 * int64_t "last used" event time (ms); entries idle for longer than the
 * table's window are expired, and when the bound is reached the least
 * recently used quarter is evicted and counted, never silently.
 *
 * What the table holds (its key set, expired entries included, and so when the
 * bound is reached and what is evicted) depends on its content only, never on
 * its capacity or slot order: expired entries are purged only when the bound
 * is reached, the eviction cut-off is the exact quartile of the live entries'
 * times, and snapshots list entries in key order. A table restored from a
 * snapshot (plus deltas) therefore decides exactly as the one it was taken
 * from, and writes the same bytes.
 *
 * Change tracking (cf_kvtab_track): every key put or removed since the last
 * delta is in a dirty set; a delta (cf_kvtab_delta) holds the current value
 * of each one still in the table and a removal (tombstone) for the others.
 * With bases kept (cf_kvtab_keep_bases), a changed value can be written as its
 * changes against what the last delta left (cf_kv_diff), which the table that
 * applies the delta holds (cf_kv_patch).
 *
 * @locality: the worker thread that owns the chain (one table per partition).
 */
#ifndef CF_KVTAB_H
#define CF_KVTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/core/buf.h"
#include "pipeline/core/stenc.h"
#include "pipeline/core/touch.h"

/** Writes one value (a rule's state_put). */
typedef void (*cf_kv_put)(cf_buf *out, const void *val);
/** Reads one value (a rule's state_get): false with the reason in d. */
typedef bool (*cf_kv_get)(cf_st_dec *d, int version, void *val, const void *cfg);
/** Writes val's changes against base (val's encoding by the table's put at the last delta,
 * blen bytes from base on) to out; false: nothing written (the value goes whole). */
typedef bool (*cf_kv_diff)(cf_buf *out, const unsigned char *base, size_t blen, const void *val);
/** Reads what a cf_kv_diff wrote: val (zeroed) becomes old (the value the table holds, left
 * unchanged) with the changes, checked against cfg; false with the reason in d. */
typedef bool (*cf_kv_patch)(cf_st_dec *d, const void *old, void *val, const void *cfg);

/** A table; zero it, then cf_kvtab_init. */
typedef struct cf_kvtab {
        uint64_t *keys; /* 0 = empty slot */
        unsigned char *vals;
        uint32_t vsize;    /* bytes per value; the first 8 are int64_t last_ms */
        size_t cap, n;     /* slots (any count >= 8, cf_kvtab_home), live entries */
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
        /* change tracking: keys put or removed since the last delta (0 = empty slot) */
        bool track;
        uint64_t *dirty;
        size_t dcap, dn;
        /* bases (cf_kvtab_keep_bases): each dirty key's value as the last delta left it,
         * written by base_put when the key first changed since; dbase parallels dirty: 1 +
         * the offset of the key's encoding in bases (0: the key was absent) */
        cf_kv_put base_put;
        size_t *dbase;
        cf_buf bases;
} cf_kvtab;

/** The bytes a table gives each value of vsize bytes (cf_kvtab.vsize). */
uint32_t cf_kvtab_slot_size(uint32_t vsize);
/** Set up an empty table of values of vsize bytes, bounded to max entries. */
void cf_kvtab_init(cf_kvtab *t, uint32_t vsize, size_t max, int64_t window_ms);
/** Free the table's memory. */
void cf_kvtab_free(cf_kvtab *t);
/** The value of key, or NULL when absent or expired (nothing changes). */
void *cf_kvtab_get(const cf_kvtab *t, uint64_t key);

/** The home slot of key (normalised, never 0): the top 32 bits of its Fibonacci hash scaled
 * to the slots (multiply-shift, so any count of slots), which keeps the slot order of every
 * capacity the hash's order. */
static inline size_t cf_kvtab_home(const cf_kvtab *t, uint64_t key)
{
        return (size_t)((((key * 0x9E3779B97F4A7C15ull) >> 32) * (uint64_t)t->cap) >> 32);
}

/** Load the lines a get or put of key touches first (its home slot's key, the value's first
 * line) so that a batch's lookups, touched first, overlap their misses (touch.h); nothing
 * changes. */
static inline void cf_kvtab_touch(const cf_kvtab *t, uint64_t key)
{
        if (!t->keys) return;                           /* a table never set up */
        uint64_t k = key ? key : 0x9E3779B97F4A7C15ull; /* as norm_key */
        size_t i = cf_kvtab_home(t, k);
        cf_touch(&t->keys[i]);
        cf_touch(t->vals + i * t->vsize);
}
/** Freeze the expiry clock (see hold_clock) until cf_kvtab_release_clock. */
void cf_kvtab_hold_clock(cf_kvtab *t);
/** Expiry from now on uses the latest time put since the clock was held. */
void cf_kvtab_release_clock(cf_kvtab *t);
/** Call fn on every live entry (fn must not put or remove). */
void cf_kvtab_each(cf_kvtab *t, void (*fn)(void *opaque, uint64_t key, void *val), void *opaque);
/** The value of key, inserted zeroed when absent (*created set); stamps last_ms = now_ms. */
void *cf_kvtab_put(cf_kvtab *t, uint64_t key, int64_t now_ms, bool *created);
/** Remove key if present (the drop callback sees its value); recorded as a change. */
void cf_kvtab_del(cf_kvtab *t, uint64_t key);

/** Start (on) or stop (off) recording the keys changed; either way the set is emptied. */
void cf_kvtab_track(cf_kvtab *t, bool on);
/** Keep each changed key's value as the last delta left it, written by put (NULL: not), so
 * that deltas can write changes against it; the changes recorded so far are forgotten. */
void cf_kvtab_keep_bases(cf_kvtab *t, cf_kv_put put);
/** Forget the changes recorded so far (a snapshot was taken: the next delta builds on it). */
void cf_kvtab_delta_reset(cf_kvtab *t);
/** Append the changes since the last delta (counters, entries, removed keys, then each changed
 * key's current value written by put; diff not NULL: a mode byte, then the value's changes
 * written by diff against its base, or the value whole) to out and start a new delta. */
void cf_kvtab_delta(cf_kvtab *t, cf_buf *out, cf_kv_put put, cf_kv_diff diff);
/** Read a delta written by cf_kvtab_delta, each value checked by get (or, with patch, when
 * its mode says so, read by patch against the value the table holds) against cfg. commit
 * false: check only (t unchanged); true: apply it (call after a check of the same bytes
 * passed). -1 with the reason in d. The entry count after it must be the one recorded (else
 * the delta was taken from another state); a patched key must be in the table, not removed
 * and not changed before in the same delta. Applying records no changes. */
int cf_kvtab_apply_delta(cf_kvtab *t, cf_st_dec *d, cf_kv_get get, cf_kv_patch patch,
                         const void *cfg, bool commit);
/** Append the table (counters, then every entry in key order: key and put's value) to out. */
void cf_kvtab_snapshot(cf_kvtab *t, cf_buf *out, cf_kv_put put);
/** Fill t (empty, set up for the current config) from a table written by cf_kvtab_snapshot
 * (version 2) or by releases 1-2 (version 1, raw values), each value read and checked by get
 * against cfg; keys 0 or repeated and times after the table's are refused, the bound applies
 * (evictions counted). -1 with the reason in d (t then holds part: the caller frees it). */
int cf_kvtab_restore(cf_kvtab *t, cf_st_dec *d, int version, cf_kv_get get, const void *cfg);

#endif
