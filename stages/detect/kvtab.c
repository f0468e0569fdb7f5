/*
 * kvtab.c - see kvtab.h. Hand-written rather than a library table because
 * eviction needs the event time stored in each fixed-size value and restore
 * must check every value against the rule's config; nothing in Debian does
 * that.
 */
#include "stages/detect/kvtab.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/sort.h"

#define KV_MAGIC  0x4b56u /* "KV" */
#define DIRTY_MIN 64

static inline uint64_t norm_key(uint64_t k)
{
        return k ? k : 0x9E3779B97F4A7C15ull; /* 0 marks empty slots */
}

/* A key's Fibonacci hash: its slot grows with it (cf_kvtab_home), so the slot
 * order of any capacity is this order (snapshots rely on it, sorted_slots). */
static inline uint64_t fib(uint64_t k)
{
        return k * 0x9E3779B97F4A7C15ull;
}

static inline size_t slot_of(const cf_kvtab *t, uint64_t k)
{
        return cf_kvtab_home(t, k);
}

/* The slot after i (probes wrap round the table's end). */
static inline size_t next_slot(const cf_kvtab *t, size_t i)
{
        return i + 1 == t->cap ? 0 : i + 1;
}

static inline int64_t last_ms(const unsigned char *v)
{
        int64_t x;
        memcpy(&x, v, 8);
        return x;
}

/* A new table's slots. Small: a worker holds one table per rule and partition, and most
 * see few keys (with 256 partitions, a rule whose 1,496-byte values had 3 keys in all held
 * 24.6 MB at 64 slots each); a busy one doubles a few more times early on. */
#define KV_MIN_CAP 8

/* A table sized at once for n entries (a restore) gets slots for them at this load: any
 * count of slots, not the next power of two, whose load after a restore fell anywhere in
 * 35-70 % (a 1M-key restore in bench_state: 37 % in its two largest tables, 306 MB of slots
 * for 126 MB of entries, and a restore's time is mostly its new memory's first touch). */
#define KV_SIZED_LOAD_PCT 60

/* Slots for n entries at KV_SIZED_LOAD_PCT, at least cap. */
static size_t sized_cap(size_t cap, size_t n)
{
        size_t want = (n + 1) * 100 / KV_SIZED_LOAD_PCT + 1;
        return want > cap ? want : cap;
}

static void alloc_slots(cf_kvtab *t, size_t cap)
{
        if (cap > UINT32_MAX) abort(); /* cf_kvtab_home scales a 32-bit hash */
        t->cap = cap;                  /* >= KV_MIN_CAP, any count (cf_kvtab_home) */
        /* zeroed by writing, not calloc: fresh pages from calloc are read first (a probe maps
         * the shared zero page) and then written, a second fault that copies the page and
         * flushes the other cores' TLBs; perf of a 1M-key restore (bench_state) showed those
         * faults at ~10 % of the worker's time */
        t->keys = malloc(cap * sizeof(*t->keys));
        if (t->keys) memset(t->keys, 0, cap * sizeof(*t->keys));
        t->vals = malloc(cap * t->vsize);
        if (!t->keys || !t->vals) abort();
}

uint32_t cf_kvtab_slot_size(uint32_t vsize)
{
        return vsize < 8 ? 8 : (vsize + 7) & ~7u; /* values hold int64s: keep them aligned */
}

void cf_kvtab_init(cf_kvtab *t, uint32_t vsize, size_t max, int64_t window_ms)
{
        memset(t, 0, sizeof(*t));
        t->vsize = cf_kvtab_slot_size(vsize);
        t->max = max ? max : 1;
        t->window_ms = window_ms;
        t->max_ms = INT64_MIN;
        alloc_slots(t, KV_MIN_CAP);
}

static void drop_value(cf_kvtab *t, uint64_t key, void *v)
{
        if (t->drop) t->drop(t->drop_opaque, key, v);
}

void cf_kvtab_free(cf_kvtab *t)
{
        for (size_t i = 0; t->drop && i < t->cap; i++)
                if (t->keys[i]) drop_value(t, t->keys[i], t->vals + i * t->vsize);
        free(t->keys);
        free(t->vals);
        free(t->dirty);
        free(t->dbase);
        cf_buf_free(&t->bases);
        memset(t, 0, sizeof(*t));
}

/* ---- the dirty set: keys (never 0) changed since the last delta ---- */

static size_t dirty_add(cf_kvtab *t, uint64_t key, bool *fresh);

static void dirty_grow(cf_kvtab *t)
{
        uint64_t *old = t->dirty;
        size_t *obase = t->dbase, ocap = t->dcap;
        t->dcap = ocap ? ocap * 2 : DIRTY_MIN;
        t->dirty = calloc(t->dcap, sizeof(*t->dirty));
        t->dbase = t->base_put ? calloc(t->dcap, sizeof(*t->dbase)) : NULL;
        if (!t->dirty || (t->base_put && !t->dbase)) abort();
        t->dn = 0;
        for (size_t i = 0; i < ocap; i++) {
                if (!old[i]) continue;
                bool fresh;
                size_t j = dirty_add(t, old[i], &fresh);
                if (t->dbase) t->dbase[j] = obase ? obase[i] : 0;
        }
        free(old);
        free(obase);
}

/* The dirty set's slot of key, added when absent (*fresh: it was). */
static size_t dirty_add(cf_kvtab *t, uint64_t key, bool *fresh)
{
        if ((t->dn + 1) * 2 > t->dcap) dirty_grow(t);
        size_t mask = t->dcap - 1;
        for (size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;; i = (i + 1) & mask) {
                if (t->dirty[i] == key) {
                        *fresh = false;
                        return i;
                }
                if (!t->dirty[i]) {
                        t->dirty[i] = key;
                        t->dn++;
                        if (t->dbase) t->dbase[i] = 0;
                        *fresh = true;
                        return i;
                }
        }
}

static size_t find(const cf_kvtab *t, uint64_t key);

/* key changes now: recorded, and its value as the last delta left it kept (bases). */
static void note(cf_kvtab *t, uint64_t key)
{
        bool fresh;
        size_t i = dirty_add(t, key, &fresh);
        if (!fresh || !t->base_put) return;
        /* in a rebuild that purges the key, the new slots do not hold it: kept as absent,
         * and the value (if it comes back) goes whole */
        size_t j = find(t, key);
        if (j == SIZE_MAX) return;
        t->dbase[i] = 1 + t->bases.len;
        t->base_put(&t->bases, t->vals + j * t->vsize);
}

/* Record that key changed (a branch when tracking is off: the replay path). */
static inline void mark(cf_kvtab *t, uint64_t key)
{
        if (t->track) note(t, key);
}

void cf_kvtab_delta_reset(cf_kvtab *t)
{
        /* kept for the next commit's keys (about as many), unless one big commit (a restore's
         * first, a burst) left a set far larger than what it holds */
        if (t->dcap > 65536 && t->dn < t->dcap / 16) {
                free(t->dirty);
                free(t->dbase);
                t->dirty = NULL;
                t->dbase = NULL;
                t->dcap = 0;
        } else if (t->dirty) {
                memset(t->dirty, 0, t->dcap * sizeof(*t->dirty));
        }
        t->dn = 0;
        cf_buf_reset(&t->bases);
}

void cf_kvtab_track(cf_kvtab *t, bool on)
{
        cf_kvtab_delta_reset(t);
        t->track = on;
}

void cf_kvtab_keep_bases(cf_kvtab *t, cf_kv_put put)
{
        /* the set is rebuilt with (or without) its bases from the next change on */
        free(t->dirty);
        free(t->dbase);
        t->dirty = NULL;
        t->dbase = NULL;
        t->dcap = t->dn = 0;
        cf_buf_free(&t->bases);
        t->base_put = put;
}

static bool expired(const cf_kvtab *t, const unsigned char *v)
{
        return t->window_ms > 0 && t->max_ms != INT64_MIN && last_ms(v) < t->max_ms - t->window_ms;
}

/* Re-insert the entries into a table of cap slots; purge: drop the expired ones and those
 * last used before cutoff (the bound was reached), each counted and marked changed. A growth
 * keeps every entry: what the table holds must not depend on when it grew. */
static void rebuild(cf_kvtab *t, size_t cap, bool purge, int64_t cutoff)
{
        uint64_t *ok = t->keys;
        unsigned char *ov = t->vals;
        size_t ocap = t->cap;
        alloc_slots(t, cap);
        t->n = 0;
        for (size_t i = 0; i < ocap; i++) {
                if (!ok[i]) continue;
                const unsigned char *v = ov + i * t->vsize;
                if (purge && expired(t, v)) {
                        t->expired++;
                        mark(t, ok[i]);
                        drop_value(t, ok[i], (void *)v);
                        continue;
                }
                if (purge && last_ms(v) < cutoff) {
                        t->evicted++;
                        mark(t, ok[i]);
                        drop_value(t, ok[i], (void *)v);
                        continue;
                }
                size_t j = slot_of(t, ok[i]);
                while (t->keys[j])
                        j = next_slot(t, j);
                t->keys[j] = ok[i];
                memcpy(t->vals + j * t->vsize, v, t->vsize);
                t->n++;
        }
        free(ok);
        free(ov);
}

/* The k-th smallest of v[0..n) (k < n), reordering v: quickselect with a
 * three-way partition (many equal times are common). */
static int64_t kth_smallest(int64_t *v, size_t n, size_t k)
{
        ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, kk = (ptrdiff_t)k;
        while (hi > lo) {
                int64_t p = v[lo + (hi - lo) / 2];
                ptrdiff_t lt = lo, i = lo, gt = hi;
                while (i <= gt) {
                        int64_t x = v[i];
                        if (x < p) {
                                v[i++] = v[lt];
                                v[lt++] = x;
                        } else if (x > p) {
                                v[i] = v[gt];
                                v[gt--] = x;
                        } else {
                                i++;
                        }
                }
                if (kk < lt)
                        hi = lt - 1;
                else if (kk > gt)
                        lo = gt + 1;
                else
                        return p;
        }
        return v[kk];
}

/* The bound is reached: drop expired entries, then the least recently used
 * quarter of the live ones. The cut-off is their exact quartile (O(n), once
 * per n/4 inserts), not a sample of slots: the slot order depends on the
 * table's history, and what is evicted must not (a restored table evicts the
 * same keys as the one it was restored from). */
static void make_room(cf_kvtab *t)
{
        int64_t *s = malloc((t->n ? t->n : 1) * sizeof(*s));
        if (!s) abort();
        size_t ns = 0;
        for (size_t i = 0; i < t->cap; i++)
                if (t->keys[i] && !expired(t, t->vals + i * t->vsize))
                        s[ns++] = last_ms(t->vals + i * t->vsize);
        int64_t cutoff = ns ? kth_smallest(s, ns, ns / 4) + 1 : INT64_MIN;
        free(s);
        rebuild(t, t->cap, true, cutoff);
        if (t->n >= t->max) rebuild(t, t->cap, true, INT64_MAX); /* all equal times: start over */
}

void *cf_kvtab_get(const cf_kvtab *t, uint64_t key)
{
        key = norm_key(key);
        for (size_t i = slot_of(t, key);; i = next_slot(t, i)) {
                if (!t->keys[i]) return NULL;
                if (t->keys[i] != key) continue;
                unsigned char *v = t->vals + i * t->vsize;
                return expired(t, v) ? NULL : v;
        }
}

void cf_kvtab_hold_clock(cf_kvtab *t)
{
        t->hold_clock = true;
        t->held_max_ms = t->max_ms;
}

void cf_kvtab_release_clock(cf_kvtab *t)
{
        if (t->held_max_ms > t->max_ms) t->max_ms = t->held_max_ms;
}

void cf_kvtab_each(cf_kvtab *t, void (*fn)(void *opaque, uint64_t key, void *val), void *opaque)
{
        for (size_t i = 0; i < t->cap; i++)
                if (t->keys[i] && !expired(t, t->vals + i * t->vsize))
                        fn(opaque, t->keys[i], t->vals + i * t->vsize);
}

void *cf_kvtab_put(cf_kvtab *t, uint64_t key, int64_t now_ms, bool *created)
{
        key = norm_key(key);
        mark(t, key);
        if (t->hold_clock) {
                if (now_ms > t->held_max_ms) t->held_max_ms = now_ms;
        } else if (now_ms > t->max_ms) {
                t->max_ms = now_ms;
        }
        for (;;) {
                size_t i = slot_of(t, key);
                for (;; i = next_slot(t, i)) {
                        if (!t->keys[i]) break;
                        if (t->keys[i] != key) continue;
                        unsigned char *v = t->vals + i * t->vsize;
                        if (expired(t, v)) { /* a new life for an expired key */
                                t->expired++;
                                drop_value(t, key, v);
                                memset(v, 0, t->vsize);
                                if (created) *created = true;
                        } else if (created)
                                *created = false;
                        if (now_ms > last_ms(v)) memcpy(v, &now_ms, 8);
                        return v;
                }
                if (t->n >= t->max) {
                        make_room(t);
                        continue;
                }
                if ((t->n + 1) * 10 > t->cap * 7) { /* keep load under 70 % */
                        rebuild(t, t->cap * 2, false, INT64_MIN);
                        continue;
                }
                t->keys[i] = key;
                unsigned char *v = t->vals + i * t->vsize;
                memset(v, 0, t->vsize);
                memcpy(v, &now_ms, 8);
                t->n++;
                if (created) *created = true;
                return v;
        }
}

/* The slots of every entry (expired ones too: they are part of what the table
 * holds until the bound purges them) in the order of their keys' Fibonacci
 * hash: what makes snapshots independent of the table's history. A scan of
 * the slots is that order already, but for entries a few slots past their
 * home (probe clusters) and the cluster that wraps round the table's end
 * (entries before the first empty slot whose home is after them: they go
 * last), so an insertion sort finishes it in about one pass, without the
 * random reads of a sort by key (measured: 3x the old snapshot's time).
 * Caller frees. */
static cf_sort_kv *sorted_slots(const cf_kvtab *t)
{
        cf_sort_kv *v = malloc((t->n ? t->n : 1) * sizeof(*v));
        if (!v) abort();
        size_t n = 0, first_empty = t->cap;
        for (size_t i = 0; i < t->cap; i++) {
                if (!t->keys[i]) {
                        if (first_empty == t->cap) first_empty = i;
                        continue;
                }
                if (first_empty == t->cap && slot_of(t, t->keys[i]) > i) continue; /* wrapped */
                v[n++] = (cf_sort_kv){fib(t->keys[i]), i};
        }
        for (size_t i = 0; i < first_empty && i < t->cap; i++)
                if (slot_of(t, t->keys[i]) > i) v[n++] = (cf_sort_kv){fib(t->keys[i]), i};
        cf_sort_kv_nearly(v, n);
        return v;
}

/* Snapshot (detect version 2): entries n (u64), evicted, expired (u64), the
 * latest event time max_ms (i64, INT64_MIN: none), then per entry, in key
 * order, its key (u64) and its value as the rule writes it (last_ms first).
 * Entries already expired but not yet purged are written too (they count
 * towards the bound). Releases 1-2 (version 1) wrote magic "KV" (u32), the
 * value size (u32), the same four header fields, then each key and the
 * value's raw bytes (little-endian fields, zero padding). */
void cf_kvtab_snapshot(cf_kvtab *t, cf_buf *out, cf_kv_put put)
{
        cf_st_put_u64(out, t->n);
        cf_st_put_u64(out, t->evicted);
        cf_st_put_u64(out, t->expired);
        cf_st_put_i64(out, t->max_ms);
        cf_sort_kv *v = sorted_slots(t);
        for (size_t i = 0; i < t->n; i++) {
                cf_st_put_u64(out, t->keys[v[i].val]);
                put(out, t->vals + v[i].val * t->vsize);
        }
        free(v);
}

/* ---- deltas ----
 *
 * A table's delta: evicted, expired (u64), max_ms (i64), the entry count after
 * it (u64), removed keys (u64 count, then each u64), changed entries (u64
 * count, then per entry its key and its value as put writes it; for a table
 * written with a diff, the key, a mode byte (MODE_WHOLE: the value as put
 * writes it; MODE_PATCH: its changes against the value the last delta left, as
 * the diff writes them), then that). Removals go first on apply, so the bound
 * is never crossed in between.
 */

enum { MODE_WHOLE = 0, MODE_PATCH = 1 };

/* The slot of key (normalised), or SIZE_MAX. */
static size_t find(const cf_kvtab *t, uint64_t key)
{
        for (size_t i = slot_of(t, key);; i = next_slot(t, i)) {
                if (!t->keys[i]) return SIZE_MAX;
                if (t->keys[i] == key) return i;
        }
}

/* Remove key (backward-shift deletion: linear probing keeps no tombstones). */
static void remove_key(cf_kvtab *t, uint64_t key)
{
        size_t i = find(t, key);
        if (i == SIZE_MAX) return;
        drop_value(t, key, t->vals + i * t->vsize);
        t->keys[i] = 0;
        t->n--;
        for (size_t j = next_slot(t, i); t->keys[j]; j = next_slot(t, j)) {
                size_t h = slot_of(t, t->keys[j]);
                /* the entry at j may move to the hole at i unless its home lies in (i, j] */
                bool stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
                if (stays) continue;
                t->keys[i] = t->keys[j];
                memcpy(t->vals + i * t->vsize, t->vals + j * t->vsize, t->vsize);
                t->keys[j] = 0;
                i = j;
        }
}

void cf_kvtab_del(cf_kvtab *t, uint64_t key)
{
        key = norm_key(key);
        if (!t->keys || find(t, key) == SIZE_MAX) return;
        mark(t, key);
        remove_key(t, key);
}

/* Insert or overwrite key with val (t->vsize bytes) without the bound: a delta
 * brings the table to a state that held at most max entries. */
static void upsert(cf_kvtab *t, uint64_t key, const unsigned char *val)
{
        size_t i = find(t, key);
        if (i == SIZE_MAX) {
                if ((t->n + 1) * 10 > t->cap * 7) rebuild(t, t->cap * 2, false, INT64_MIN);
                for (i = slot_of(t, key); t->keys[i]; i = next_slot(t, i))
                        ;
                t->keys[i] = key;
                t->n++;
        } else {
                drop_value(t, key, t->vals + i * t->vsize); /* what it holds out of line */
        }
        memcpy(t->vals + i * t->vsize, val, t->vsize);
}

void cf_kvtab_delta(cf_kvtab *t, cf_buf *out, cf_kv_put put, cf_kv_diff diff)
{
        cf_st_put_u64(out, t->evicted);
        cf_st_put_u64(out, t->expired);
        cf_st_put_i64(out, t->max_ms);
        cf_st_put_u64(out, t->n);
        size_t nrem = 0, nup = 0;
        for (size_t i = 0; i < t->dcap; i++)
                if (t->dirty[i]) {
                        if (find(t, t->dirty[i]) == SIZE_MAX)
                                nrem++;
                        else
                                nup++;
                }
        cf_st_put_u64(out, nrem);
        for (size_t i = 0; i < t->dcap; i++)
                if (t->dirty[i] && find(t, t->dirty[i]) == SIZE_MAX)
                        cf_st_put_u64(out, t->dirty[i]);
        cf_st_put_u64(out, nup);
        for (size_t i = 0; i < t->dcap; i++) {
                size_t j = t->dirty[i] ? find(t, t->dirty[i]) : SIZE_MAX;
                if (j == SIZE_MAX) continue;
                cf_st_put_u64(out, t->dirty[i]);
                const void *val = t->vals + j * t->vsize;
                if (!diff) {
                        put(out, val);
                        continue;
                }
                size_t at = out->len, b = t->dbase ? t->dbase[i] : 0;
                cf_st_put_u8(out, MODE_PATCH);
                if (b && diff(out, (const unsigned char *)t->bases.p + b - 1,
                              t->bases.len - (b - 1), val))
                        continue;
                out->len = at; /* absent at the last delta, or its changes are most of it */
                cf_st_put_u8(out, MODE_WHOLE);
                put(out, val);
        }
        cf_kvtab_delta_reset(t);
}

/* Keys a delta's check has seen (removed or changed): a patch applies to the value the table
 * holds, so its key must not have been removed or changed before in the same delta (else the
 * check and the apply would read different values). Open addressing; keys are never 0. */
typedef struct keyset {
        uint64_t *k;
        size_t cap;
} keyset;

static void keyset_init(keyset *s, uint64_t n)
{
        s->cap = 16;
        while (s->cap < 2 * n)
                s->cap *= 2;
        s->k = calloc(s->cap, sizeof(*s->k));
        if (!s->k) abort();
}

/* false: key was in the set already */
static bool keyset_add(keyset *s, uint64_t key)
{
        for (size_t i = (size_t)(fib(key) >> 20) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
                if (s->k[i] == key) return false;
                if (!s->k[i]) {
                        s->k[i] = key;
                        return true;
                }
        }
}

int cf_kvtab_apply_delta(cf_kvtab *t, cf_st_dec *d, cf_kv_get get, cf_kv_patch patch,
                         const void *cfg, bool commit)
{
        uint64_t evicted = cf_st_u64(d), expired_n = cf_st_u64(d);
        int64_t max_ms = cf_st_i64(d);
        uint64_t n_after = cf_st_u64(d);
        if (!cf_st_ok(d)) return -1;
        if (max_ms != INT64_MIN && (max_ms < -CF_ST_TIME_LIMIT_MS || max_ms > CF_ST_TIME_LIMIT_MS))
                return cf_st_fail(d, "table time %lld ms not plausible", (long long)max_ms), -1;
        if (max_ms < t->max_ms)
                return cf_st_fail(d, "table time %lld ms before the state's %lld: another base",
                                  (long long)max_ms, (long long)t->max_ms),
                       -1;
        if (evicted < t->evicted || expired_n < t->expired)
                return cf_st_fail(d,
                                  "counters going back (evicted %llu < %llu or expired %llu < "
                                  "%llu): another base",
                                  (unsigned long long)evicted, (unsigned long long)t->evicted,
                                  (unsigned long long)expired_n, (unsigned long long)t->expired),
                       -1;
        uint64_t nrem = cf_st_count(d, 8, UINT64_MAX, "removed keys");
        int64_t n = (int64_t)t->n;
        /* the check of a delta with patches: every key it removes or changes */
        keyset seen = {0};
        bool guard = patch && !commit;
        if (guard) keyset_init(&seen, nrem);
        for (uint64_t i = 0; i < nrem && cf_st_ok(d); i++) {
                uint64_t key = cf_st_u64(d);
                if (cf_st_ok(d) && !key) {
                        free(seen.k);
                        return cf_st_fail(d, "removed key %llu is 0", (unsigned long long)i), -1;
                }
                if (commit)
                        remove_key(t, key);
                else
                        n -= find(t, key) != SIZE_MAX;
                if (guard && cf_st_ok(d)) (void)keyset_add(&seen, key);
        }
        size_t min_entry = patch ? 10 : 16; /* key, mode, a patch of at least one byte */
        uint64_t nup = cf_st_count(d, min_entry, UINT64_MAX, "changed entries");
        if (!cf_st_ok(d)) {
                free(seen.k);
                return -1;
        }
        if (guard) { /* room for the changed keys too */
                keyset all;
                keyset_init(&all, nrem + nup);
                for (size_t i = 0; i < seen.cap; i++)
                        if (seen.k[i]) (void)keyset_add(&all, seen.k[i]);
                free(seen.k);
                seen = all;
        }
        if (commit) {
                t->max_ms = max_ms;
                /* sized for what it holds after the delta at once (the dry pass checked that
                 * count): a restore applying deltas grew it by doubling (perf: rebuilds and
                 * their page faults were ~1/3 of a 1M-key restore's delta applies). An empty
                 * table (a restore's first) gets slots for them at KV_SIZED_LOAD_PCT; one that
                 * holds entries doubles, so that many small deltas copy each entry O(1) times */
                size_t cap = t->cap, want = n_after < t->max ? (size_t)n_after : t->max;
                if (!t->n) cap = sized_cap(cap, want);
                while ((want + 1) * 10 > cap * 7)
                        cap *= 2;
                if (cap != t->cap) rebuild(t, cap, false, INT64_MIN);
        }
        unsigned char *tmp = malloc(t->vsize);
        if (!tmp) abort();
        for (uint64_t i = 0; i < nup; i++) {
                uint64_t key = cf_st_u64(d);
                if (cf_st_ok(d) && !key) cf_st_fail(d, "entry %llu: key 0", (unsigned long long)i);
                unsigned mode = patch ? cf_st_u8(d) : MODE_WHOLE;
                if (cf_st_ok(d) && mode > MODE_PATCH)
                        cf_st_fail(d, "entry %llu: mode %u", (unsigned long long)i, mode);
                memset(tmp, 0, t->vsize);
                size_t j = SIZE_MAX;
                if (cf_st_ok(d) && mode == MODE_PATCH) {
                        j = find(t, key);
                        if (j == SIZE_MAX || (guard && !keyset_add(&seen, key)))
                                cf_st_fail(d,
                                           "entry %llu: changes to key %016llx, which the table "
                                           "does not hold (or not any more)",
                                           (unsigned long long)i, (unsigned long long)key);
                } else if (guard && cf_st_ok(d)) {
                        (void)keyset_add(&seen, key);
                }
                if (!cf_st_ok(d) ||
                    !(mode == MODE_PATCH ? patch(d, t->vals + j * t->vsize, tmp, cfg)
                                         : get(d, 2, tmp, cfg))) {
                        drop_value(t, key, tmp); /* what get allocated before it failed */
                        break;
                }
                if (last_ms(tmp) > max_ms) {
                        cf_st_fail(d, "entry %llu used at %lld ms, after the table's latest %lld",
                                   (unsigned long long)i, (long long)last_ms(tmp),
                                   (long long)max_ms);
                        drop_value(t, key, tmp);
                        break;
                }
                if (commit) {
                        upsert(t, key, tmp);
                } else {
                        n += find(t, key) == SIZE_MAX;
                        drop_value(t, key, tmp); /* checked only */
                }
        }
        free(tmp);
        free(seen.k);
        if (!cf_st_ok(d)) return -1;
        if (!commit && (uint64_t)n != n_after)
                return cf_st_fail(d, "%lld entries after the delta, %llu recorded: another base",
                                  (long long)n, (unsigned long long)n_after),
                       -1;
        if (commit) {
                t->evicted = evicted;
                t->expired = expired_n;
        }
        return 0;
}

/* One value into tmp (zeroed, t->vsize bytes); version 1: a raw value of vsize bytes. */
static bool read_value(cf_st_dec *d, int version, uint32_t vsize, cf_kv_get get, const void *cfg,
                       unsigned char *tmp, size_t tsize)
{
        memset(tmp, 0, tsize);
        if (version != 1) return get(d, version, tmp, cfg);
        const unsigned char *outer = cf_st_narrow(d, vsize);
        get(d, version, tmp, cfg);
        cf_st_leave_pad(d, outer, SIZE_MAX, "a value");
        return cf_st_ok(d);
}

int cf_kvtab_restore(cf_kvtab *t, cf_st_dec *d, int version, cf_kv_get get, const void *cfg)
{
        uint32_t vsize = 0;
        if (version == 1) {
                uint32_t magic = cf_st_u32(d);
                vsize = cf_st_u32(d);
                if (cf_st_ok(d) && (magic != KV_MAGIC || vsize < 8 || vsize > 1u << 20)) {
                        cf_st_fail(d, "table magic %08x / value size %u", magic, vsize);
                        return -1;
                }
        }
        uint64_t n = cf_st_u64(d), evicted = cf_st_u64(d), expired_n = cf_st_u64(d);
        int64_t max_ms = cf_st_i64(d);
        if (!cf_st_ok(d)) return -1;
        if (max_ms != INT64_MIN &&
            (max_ms < -CF_ST_TIME_LIMIT_MS || max_ms > CF_ST_TIME_LIMIT_MS)) {
                cf_st_fail(d, "table time %lld ms not plausible", (long long)max_ms);
                return -1;
        }
        if (n && (max_ms == INT64_MIN || n > cf_st_left(d) / (version == 1 ? 8 + vsize : 16))) {
                cf_st_fail(d, "%llu entries but %zu bytes left (or no table time)",
                           (unsigned long long)n, cf_st_left(d));
                return -1;
        }
        unsigned char *tmp = malloc(t->vsize);
        if (!tmp) abort();
        t->max_ms = max_ms;
        /* sized for the entries at once (the bound applies): no growth while inserting; what
         * the table holds does not depend on its capacity */
        size_t want = n < t->max ? (size_t)n : t->max;
        if ((want + 1) * 10 > t->cap * 7) rebuild(t, sized_cap(t->cap, want), false, INT64_MIN);
        for (uint64_t i = 0; i < n; i++) {
                uint64_t key = cf_st_u64(d);
                if (cf_st_ok(d) && !key) cf_st_fail(d, "entry %llu: key 0", (unsigned long long)i);
                if (!read_value(d, version, vsize, get, cfg, tmp, t->vsize)) {
                        drop_value(t, key, tmp);
                        break;
                }
                int64_t lm = last_ms(tmp);
                if (lm > max_ms) {
                        cf_st_fail(d, "entry %llu used at %lld ms, after the table's latest %lld",
                                   (unsigned long long)i, (long long)lm, (long long)max_ms);
                        drop_value(t, key, tmp);
                        break;
                }
                bool created;
                void *v = cf_kvtab_put(t, key, lm, &created);
                if (!created) {
                        cf_st_fail(d, "key %016llx repeated", (unsigned long long)key);
                        drop_value(t, key, tmp);
                        break;
                }
                memcpy(v, tmp, t->vsize);
        }
        free(tmp);
        t->evicted += evicted;
        t->expired += expired_n;
        return cf_st_ok(d) ? 0 : -1;
}
