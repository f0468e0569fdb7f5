/*
 * kvtab.c - see kvtab.h. Hand-written rather than a library table because
 * eviction needs the event time stored in each fixed-size value and restore
 * must check every value against the rule's config; nothing in Debian does
 * that.
 */
#include "stages/detect/kvtab.h"

#include <stdlib.h>
#include <string.h>

#define KV_MAGIC 0x4b56u /* "KV" */

static inline uint64_t norm_key(uint64_t k)
{
        return k ? k : 0x9E3779B97F4A7C15ull; /* 0 marks empty slots */
}

static inline size_t slot_of(const cf_kvtab *t, uint64_t k)
{
        return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 20) & (t->cap - 1);
}

static inline int64_t last_ms(const unsigned char *v)
{
        int64_t x;
        memcpy(&x, v, 8);
        return x;
}

static void alloc_slots(cf_kvtab *t, size_t cap)
{
        t->cap = cap;
        t->keys = calloc(cap, sizeof(*t->keys));
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
        alloc_slots(t, 64);
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
        memset(t, 0, sizeof(*t));
}

static bool expired(const cf_kvtab *t, const unsigned char *v)
{
        return t->window_ms > 0 && t->max_ms != INT64_MIN && last_ms(v) < t->max_ms - t->window_ms;
}

/* Re-insert every entry kept by keep (NULL: all) into a table of cap slots. */
static void rebuild(cf_kvtab *t, size_t cap, int64_t cutoff)
{
        uint64_t *ok = t->keys;
        unsigned char *ov = t->vals;
        size_t ocap = t->cap;
        alloc_slots(t, cap);
        t->n = 0;
        for (size_t i = 0; i < ocap; i++) {
                if (!ok[i]) continue;
                const unsigned char *v = ov + i * t->vsize;
                if (expired(t, v)) {
                        t->expired++;
                        drop_value(t, ok[i], (void *)v);
                        continue;
                }
                if (last_ms(v) < cutoff) {
                        t->evicted++;
                        drop_value(t, ok[i], (void *)v);
                        continue;
                }
                size_t j = slot_of(t, ok[i]);
                while (t->keys[j])
                        j = (j + 1) & (t->cap - 1);
                t->keys[j] = ok[i];
                memcpy(t->vals + j * t->vsize, v, t->vsize);
                t->n++;
        }
        free(ok);
        free(ov);
}

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return (x > y) - (x < y);
}

/* The bound is reached: drop expired entries, then the least recently used
 * quarter (its cut-off estimated from a sample of last-used times). */
static void make_room(cf_kvtab *t)
{
        enum { SAMPLE = 256 };
        int64_t s[SAMPLE];
        size_t ns = 0, step = t->cap / SAMPLE ? t->cap / SAMPLE : 1;
        for (size_t i = 0; i < t->cap && ns < SAMPLE; i += step)
                for (size_t j = i; j < t->cap && j < i + step; j++)
                        if (t->keys[j] && !expired(t, t->vals + j * t->vsize)) {
                                s[ns++] = last_ms(t->vals + j * t->vsize);
                                break;
                        }
        int64_t cutoff = INT64_MIN;
        if (ns) {
                qsort(s, ns, sizeof(s[0]), cmp_i64);
                cutoff = s[ns / 4] + 1;
        }
        rebuild(t, t->cap, cutoff);
        if (t->n >= t->max) rebuild(t, t->cap, INT64_MAX); /* all equal times: start over */
}

void *cf_kvtab_get(const cf_kvtab *t, uint64_t key)
{
        key = norm_key(key);
        for (size_t i = slot_of(t, key);; i = (i + 1) & (t->cap - 1)) {
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
        if (t->hold_clock) {
                if (now_ms > t->held_max_ms) t->held_max_ms = now_ms;
        } else if (now_ms > t->max_ms) {
                t->max_ms = now_ms;
        }
        for (;;) {
                size_t i = slot_of(t, key);
                for (;; i = (i + 1) & (t->cap - 1)) {
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
                        rebuild(t, t->cap * 2, INT64_MIN);
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

/* Snapshot (detect version 2): entries n (u64), evicted, expired (u64), the
 * latest event time max_ms (i64, INT64_MIN: none), then per live entry its
 * key (u64) and its value as the rule writes it (last_ms first). Releases 1-2
 * (version 1) wrote magic "KV" (u32), the value size (u32), the same four
 * header fields, then each key and the value's raw bytes (little-endian
 * fields, zero padding). */
void cf_kvtab_snapshot(const cf_kvtab *t, cf_buf *out, cf_kv_put put)
{
        size_t noff = out->len;
        cf_st_put_u64(out, 0); /* n, patched after the scan */
        cf_st_put_u64(out, t->evicted);
        cf_st_put_u64(out, t->expired);
        cf_st_put_i64(out, t->max_ms);
        uint64_t n = 0;
        for (size_t i = 0; i < t->cap; i++) {
                if (!t->keys[i] || expired(t, t->vals + i * t->vsize)) continue;
                cf_st_put_u64(out, t->keys[i]);
                put(out, t->vals + i * t->vsize);
                n++;
        }
        cf_st_store64((unsigned char *)out->p + noff, n);
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
        for (uint64_t i = 0; i < n; i++) {
                uint64_t key = cf_st_u64(d);
                if (cf_st_ok(d) && !key) cf_st_fail(d, "entry %llu: key 0", (unsigned long long)i);
                if (!read_value(d, version, vsize, get, cfg, tmp, t->vsize)) break;
                int64_t lm = last_ms(tmp);
                if (lm > max_ms) {
                        cf_st_fail(d, "entry %llu used at %lld ms, after the table's latest %lld",
                                   (unsigned long long)i, (long long)lm, (long long)max_ms);
                        break;
                }
                bool created;
                void *v = cf_kvtab_put(t, key, lm, &created);
                if (!created) {
                        cf_st_fail(d, "key %016llx repeated", (unsigned long long)key);
                        break;
                }
                memcpy(v, tmp, t->vsize);
        }
        free(tmp);
        t->evicted += evicted;
        t->expired += expired_n;
        return cf_st_ok(d) ? 0 : -1;
}
