/*
 * spacesaving.c - see spacesaving.h.
 */
#include "stages/aggregate/spacesaving.h"

#include <stdlib.h>
#include <string.h>

#include "pipeline/core/memeq.h"
#include "pipeline/core/stenc.h"
#include "stages/aggregate/cents.h"

static void *xrealloc(void *p, size_t n)
{
        void *q = realloc(p, n);
        if (!q && n) abort();
        return q;
}

void cf_ss_init(cf_ss *s, uint32_t cap)
{
        memset(s, 0, sizeof(*s));
        s->cap = cap ? cap : 1;
}

void cf_ss_free(cf_ss *s)
{
        free(s->heap);
        free(s->pos);
        free(s->e);
        free(s->idx);
        cf_agg_changed_free(&s->ch);
        uint32_t cap = s->cap;
        memset(s, 0, sizeof(*s));
        s->cap = cap;
}

/* (count, hash) order: the heap's shape never decides which key is evicted. */
static inline int less(const cf_ss_node *x, const cf_ss_node *y)
{
        if (x->count != y->count) return x->count < y->count;
        return x->hash < y->hash;
}

static inline void place(cf_ss *s, uint32_t pos, cf_ss_node nd)
{
        s->heap[pos] = nd;
        s->pos[nd.ei] = pos;
}

static void sift_up(cf_ss *s, uint32_t pos)
{
        cf_ss_node nd = s->heap[pos];
        while (pos) {
                uint32_t par = (pos - 1) / 2;
                if (!less(&nd, &s->heap[par])) break;
                place(s, pos, s->heap[par]);
                pos = par;
        }
        place(s, pos, nd);
}

static void sift_down(cf_ss *s, uint32_t pos)
{
        cf_ss_node nd = s->heap[pos];
        for (;;) {
                uint32_t c = 2 * pos + 1;
                if (c >= s->n) break;
                if (c + 1 < s->n && less(&s->heap[c + 1], &s->heap[c])) c++;
                if (!less(&s->heap[c], &nd)) break;
                place(s, pos, s->heap[c]);
                pos = c;
        }
        place(s, pos, nd);
}

static uint32_t home(const cf_ss *s, uint64_t h)
{
        return (uint32_t)(h ^ (h >> 29)) & (s->islots - 1);
}

static void idx_insert(cf_ss *s, uint32_t ei)
{
        uint32_t mask = s->islots - 1, i = home(s, s->e[ei].hash);
        while (s->idx[i])
                i = (i + 1) & mask;
        s->idx[i] = ei + 1;
}

/* Backward-shift deletion keeps linear probing chains intact without tombstones. */
static void idx_delete(cf_ss *s, uint32_t ei)
{
        uint32_t mask = s->islots - 1, i = home(s, s->e[ei].hash);
        while (s->idx[i] != ei + 1)
                i = (i + 1) & mask;
        for (uint32_t j = i;;) {
                j = (j + 1) & mask;
                if (!s->idx[j]) break;
                uint32_t k = home(s, s->e[s->idx[j] - 1].hash);
                /* move j back to i unless its home lies cyclically in (i, j] */
                int in = i <= j ? (k > i && k <= j) : (k > i || k <= j);
                if (!in) {
                        s->idx[i] = s->idx[j];
                        i = j;
                }
        }
        s->idx[i] = 0;
}

/* Room for ncap entries (at most cap); the index keeps >= 2 slots an entry,
 * so a window with a few exporters holds a few hundred bytes, not 2 x cap. */
static void grow(cf_ss *s, uint32_t ncap)
{
        if (ncap > s->cap) ncap = s->cap;
        if (ncap <= s->ecap) return;
        s->e = xrealloc(s->e, ncap * sizeof(*s->e));
        s->heap = xrealloc(s->heap, ncap * sizeof(*s->heap));
        s->pos = xrealloc(s->pos, ncap * sizeof(*s->pos));
        s->ecap = ncap;
        cf_agg_changed_fit(&s->ch, ncap);
        uint32_t slots = 16;
        while (slots < 2 * ncap)
                slots *= 2;
        if (slots <= s->islots) return;
        free(s->idx);
        s->idx = calloc(slots, sizeof(*s->idx));
        if (!s->idx) abort();
        s->islots = slots;
        for (uint32_t ei = 0; ei < s->n; ei++)
                idx_insert(s, ei);
}

static void ensure_room(cf_ss *s)
{
        if (s->n == s->ecap) grow(s, s->ecap ? 2 * s->ecap : 8);
}

void cf_ss_clear(cf_ss *s, uint32_t cap)
{
        s->n = 0;
        s->cap = cap ? cap : 1;
        if (s->idx) memset(s->idx, 0, (size_t)s->islots * sizeof(*s->idx));
        cf_ss_clean(s);
}

void cf_ss_clean(cf_ss *s)
{
        cf_agg_changed_clear(&s->ch);
}

static void mark(cf_ss *s, uint32_t ei)
{
        if (s->track) cf_agg_changed_mark(&s->ch, ei);
}

void cf_ss_reserve(cf_ss *s, uint32_t n)
{
        grow(s, n);
}

static void set_key(cf_ss_entry *e, const char *key, size_t len, uint64_t hash, int64_t err)
{
        e->hash = hash;
        e->err = err;
        e->len = (uint8_t)(len < CF_SS_KEY_MAX ? len : CF_SS_KEY_MAX);
        memcpy(e->key, key, e->len);
}

/* A new entry (n < cap) with count c and error err. */
static void push(cf_ss *s, const char *key, size_t len, uint64_t hash, int64_t c, int64_t err)
{
        ensure_room(s);
        uint32_t ei = s->n++;
        set_key(&s->e[ei], key, len, hash, err);
        idx_insert(s, ei);
        s->heap[ei] = (cf_ss_node){c, hash, ei};
        s->pos[ei] = ei;
        sift_up(s, ei);
        mark(s, ei);
}

/* The minimum's entry takes key, with count c and error err. */
static void replace_min(cf_ss *s, const char *key, size_t len, uint64_t hash, int64_t c,
                        int64_t err)
{
        uint32_t ei = s->heap[0].ei;
        idx_delete(s, ei);
        set_key(&s->e[ei], key, len, hash, err);
        idx_insert(s, ei);
        s->heap[0].count = c;
        s->heap[0].hash = hash;
        sift_down(s, 0);
        mark(s, ei);
}

void cf_ss_add(cf_ss *s, const char *key, size_t len, uint64_t hash, int64_t w)
{
        size_t klen = len < CF_SS_KEY_MAX ? len : CF_SS_KEY_MAX;
        if (s->idx) {
                uint32_t mask = s->islots - 1;
                for (uint32_t i = home(s, hash); s->idx[i]; i = (i + 1) & mask) {
                        uint32_t ei = s->idx[i] - 1;
                        const cf_ss_entry *e = &s->e[ei];
                        if (e->hash == hash && e->len == klen && cf_memeq(e->key, key, klen)) {
                                uint32_t p = s->pos[ei];
                                s->heap[p].count = cf_agg_add(s->heap[p].count, w);
                                sift_down(s, p);
                                mark(s, ei);
                                return;
                        }
                }
        }
        if (s->n < s->cap) {
                push(s, key, len, hash, w, 0);
                return;
        }
        /* Full: the key takes the minimum's place and inherits its count as error. */
        int64_t min = s->heap[0].count;
        replace_min(s, key, len, hash, cf_agg_add(min, w), min);
}

/* Report order: count descending, then key bytes, then length. */
static int before(const cf_ss *s, const cf_ss_node *x, const cf_ss_node *y)
{
        if (x->count != y->count) return x->count > y->count;
        const cf_ss_entry *a = &s->e[x->ei], *b = &s->e[y->ei];
        size_t n = a->len < b->len ? a->len : b->len;
        int c = memcmp(a->key, b->key, n);
        if (c) return c < 0;
        return a->len < b->len;
}

size_t cf_ss_top(const cf_ss *s, size_t k, cf_ss_entry *out)
{
        /* Insertion into a sorted selection of at most k heap positions: one
         * pass, no copy of the summary (k is small, most nodes fail the first
         * comparison). */
        uint32_t sel[64];
        if (k > 64) k = 64;
        size_t m = 0;
        for (uint32_t i = 0; i < s->n; i++) {
                const cf_ss_node *nd = &s->heap[i];
                if (m == k && !before(s, nd, &s->heap[sel[m - 1]])) continue;
                size_t j = m < k ? m++ : m - 1;
                while (j && before(s, nd, &s->heap[sel[j - 1]])) {
                        sel[j] = sel[j - 1];
                        j--;
                }
                sel[j] = i;
        }
        for (size_t j = 0; j < m; j++) {
                const cf_ss_node *nd = &s->heap[sel[j]];
                out[j] = s->e[nd->ei];
                out[j].count = nd->count;
        }
        return m;
}

size_t cf_ss_bytes(const cf_ss *s)
{
        return (size_t)s->ecap * (sizeof(cf_ss_entry) + sizeof(cf_ss_node) + 4) +
               (size_t)s->islots * 4 + cf_agg_changed_bytes(&s->ch);
}

/* Snapshot: the number of entries (u32), then per entry hash (u64), count
 * and error (i64 cents; doubles of dollars in aggregate snapshot version 1),
 * key (str8). */
static void put_entry(const cf_ss *s, uint32_t i, cf_buf *out)
{
        const cf_ss_entry *e = &s->e[i];
        cf_st_put_u64(out, e->hash);
        cf_st_put_i64(out, s->heap[s->pos[i]].count);
        cf_st_put_i64(out, e->err);
        cf_st_put_bytes8(out, e->key, e->len);
}

void cf_ss_snapshot(const cf_ss *s, cf_buf *out)
{
        cf_st_put_u32(out, s->n);
        for (uint32_t i = 0; i < s->n; i++)
                put_entry(s, i, out);
}

static void put_changed_entry(const void *ctx, uint32_t i, cf_buf *out)
{
        put_entry(ctx, i, out);
}

void cf_ss_delta(const cf_ss *s, cf_buf *out)
{
        cf_st_put_u32(out, s->n);
        cf_agg_changed_put(&s->ch, out, put_changed_entry, s);
}

/* One entry as a snapshot writes it, checked; false with the reason in d. */
static bool read_entry(cf_st_dec *d, int dollars, uint32_t i, uint64_t *h, int64_t *c, int64_t *e,
                       const char **key, size_t *len)
{
        *h = cf_st_u64(d);
        *c = cf_agg_get_cents(d, dollars, "top-exporter count");
        *e = cf_agg_get_cents(d, dollars, "top-exporter error");
        *key = cf_st_bytes8(d, len);
        if (!cf_st_ok(d)) return false;
        if (*len > CF_SS_KEY_MAX || *e > *c)
                return cf_st_fail(d,
                                  "top-exporter entry %u: key of %zu bytes (at most %d), "
                                  "error %lld > count %lld",
                                  i, *len, CF_SS_KEY_MAX, (long long)*e, (long long)*c);
        return true;
}

int cf_ss_restore(cf_ss *s, uint32_t cap, cf_st_dec *d, int dollars)
{
        cf_ss_init(s, cap);
        uint32_t n = cf_st_u32(d);
        if (cf_st_ok(d) && n > cf_st_left(d) / 25) {
                cf_st_fail(d, "%u top-exporter entries cannot fit in %zu bytes", n, cf_st_left(d));
                return -1;
        }
        /* every entry is kept, also above a cap lowered since (an open window keeps its
         * sketches; the bound is for windows opened later), in its place: an entry's index
         * is what a delta names it by */
        if (n > s->cap) s->cap = n;
        for (uint32_t i = 0; i < n && cf_st_ok(d); i++) {
                uint64_t h;
                int64_t c, e;
                size_t len;
                const char *key;
                if (!read_entry(d, dollars, i, &h, &c, &e, &key, &len)) break;
                push(s, key, len, h, c, e);
        }
        cf_ss_clean(s);
        if (cf_st_ok(d)) return 0;
        cf_ss_free(s);
        return -1;
}

int cf_ss_patch(cf_ss *s, const cf_ss *base, uint32_t cap, cf_st_dec *d)
{
        cf_ss_init(s, cap);
        uint32_t n = cf_st_u32(d), nch = cf_st_u32(d), next = 0;
        if (cf_st_ok(d) && (nch > n || nch > cf_st_left(d) / 29 || n > base->n + nch)) {
                cf_st_fail(d, "%u changed top-exporter entries of %u (%u before) in %zu bytes", nch,
                           n, base->n, cf_st_left(d));
                return -1;
        }
        if (n > s->cap) s->cap = n;
        for (uint32_t k = 0, prev = 0; k <= nch && cf_st_ok(d); k++) {
                uint32_t at = n; /* the next changed entry's index (n: none left) */
                if (k < nch && ((at = cf_st_u32(d)) >= n || (k && at <= prev))) {
                        cf_st_fail(d,
                                   "changed top-exporter entry %u: index %u out of order "
                                   "or range",
                                   k, at);
                        break;
                }
                for (; next < at && cf_st_ok(d); next++) {
                        if (next >= base->n) {
                                cf_st_fail(d,
                                           "top-exporter entry %u is neither in the summary "
                                           "nor in the delta",
                                           next);
                                break;
                        }
                        const cf_ss_entry *e = &base->e[next];
                        push(s, e->key, e->len, e->hash, base->heap[base->pos[next]].count, e->err);
                }
                if (k == nch || !cf_st_ok(d)) break;
                uint64_t h;
                int64_t c, e;
                size_t len;
                const char *key;
                if (!read_entry(d, 0, at, &h, &c, &e, &key, &len)) break;
                push(s, key, len, h, c, e);
                prev = at;
                next = at + 1;
        }
        cf_ss_clean(s);
        if (cf_st_ok(d)) return 0;
        cf_ss_free(s);
        return -1;
}
