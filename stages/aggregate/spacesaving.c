/*
 * spacesaving.c - see spacesaving.h.
 */
#include "stages/aggregate/spacesaving.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
        free(s->e);
        free(s->heap);
        free(s->idx);
        uint32_t cap = s->cap;
        memset(s, 0, sizeof(*s));
        s->cap = cap;
}

/* (count, hash) order: the heap's shape never decides which key is evicted. */
static int less(const cf_ss *s, uint32_t a, uint32_t b)
{
        const cf_ss_entry *x = &s->e[a], *y = &s->e[b];
        if (x->count != y->count) return x->count < y->count;
        return x->hash < y->hash;
}

static void heap_set(cf_ss *s, uint32_t pos, uint32_t ei)
{
        s->heap[pos] = ei;
        s->e[ei].heap_pos = pos;
}

static void sift_up(cf_ss *s, uint32_t pos)
{
        uint32_t ei = s->heap[pos];
        while (pos) {
                uint32_t par = (pos - 1) / 2;
                if (!less(s, ei, s->heap[par])) break;
                heap_set(s, pos, s->heap[par]);
                pos = par;
        }
        heap_set(s, pos, ei);
}

static void sift_down(cf_ss *s, uint32_t pos)
{
        uint32_t ei = s->heap[pos];
        for (;;) {
                uint32_t c = 2 * pos + 1;
                if (c >= s->n) break;
                if (c + 1 < s->n && less(s, s->heap[c + 1], s->heap[c])) c++;
                if (!less(s, s->heap[c], ei)) break;
                heap_set(s, pos, s->heap[c]);
                pos = c;
        }
        heap_set(s, pos, ei);
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
static void idx_delete(cf_ss *s, uint32_t slot)
{
        uint32_t mask = s->islots - 1, i = slot, j = slot;
        for (;;) {
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

static void ensure_room(cf_ss *s)
{
        if (!s->idx) {
                uint32_t slots = 16;
                while (slots < 2 * s->cap)
                        slots *= 2;
                s->islots = slots;
                s->idx = calloc(slots, sizeof(*s->idx));
                if (!s->idx) abort();
        }
        if (s->n < s->ecap) return;
        uint32_t ncap = s->ecap ? 2 * s->ecap : 8;
        if (ncap > s->cap) ncap = s->cap;
        s->e = xrealloc(s->e, ncap * sizeof(*s->e));
        s->heap = xrealloc(s->heap, ncap * sizeof(*s->heap));
        s->ecap = ncap;
}

static void set_key(cf_ss_entry *e, const char *key, size_t len, uint64_t hash)
{
        e->hash = hash;
        e->len = (uint8_t)(len < CF_SS_KEY_MAX ? len : CF_SS_KEY_MAX);
        memcpy(e->key, key, e->len);
}

void cf_ss_add(cf_ss *s, const char *key, size_t len, uint64_t hash, double w)
{
        size_t klen = len < CF_SS_KEY_MAX ? len : CF_SS_KEY_MAX;
        if (s->idx) {
                uint32_t mask = s->islots - 1;
                for (uint32_t i = home(s, hash); s->idx[i]; i = (i + 1) & mask) {
                        cf_ss_entry *e = &s->e[s->idx[i] - 1];
                        if (e->hash == hash && e->len == klen && !memcmp(e->key, key, klen)) {
                                e->count += w;
                                sift_down(s, e->heap_pos);
                                return;
                        }
                }
        }
        if (s->n < s->cap) {
                ensure_room(s);
                uint32_t ei = s->n++;
                cf_ss_entry *e = &s->e[ei];
                set_key(e, key, len, hash);
                e->count = w;
                e->err = 0;
                idx_insert(s, ei);
                heap_set(s, ei, ei);
                sift_up(s, ei);
                return;
        }
        /* Full: the key takes the minimum's place and inherits its count as error. */
        uint32_t ei = s->heap[0];
        cf_ss_entry *e = &s->e[ei];
        uint32_t mask = s->islots - 1, i = home(s, e->hash);
        while (s->idx[i] != ei + 1)
                i = (i + 1) & mask;
        idx_delete(s, i);
        double min = e->count;
        set_key(e, key, len, hash);
        e->err = min;
        e->count = min + w;
        idx_insert(s, ei);
        sift_down(s, 0);
}

static int cmp_desc(const void *a, const void *b)
{
        const cf_ss_entry *x = a, *y = b;
        if (x->count != y->count) return x->count > y->count ? -1 : 1;
        size_t n = x->len < y->len ? x->len : y->len;
        int c = memcmp(x->key, y->key, n);
        if (c) return c;
        return (int)x->len - (int)y->len;
}

size_t cf_ss_top(const cf_ss *s, size_t k, cf_ss_entry *out)
{
        if (!s->n || !k) return 0;
        cf_ss_entry *all = malloc(s->n * sizeof(*all));
        if (!all) abort();
        memcpy(all, s->e, s->n * sizeof(*all));
        qsort(all, s->n, sizeof(*all), cmp_desc);
        size_t m = k < s->n ? k : s->n;
        memcpy(out, all, m * sizeof(*out));
        free(all);
        return m;
}

size_t cf_ss_bytes(const cf_ss *s)
{
        return (size_t)s->ecap * (sizeof(cf_ss_entry) + 4) + (size_t)s->islots * 4;
}

void cf_ss_snapshot(const cf_ss *s, cf_buf *out)
{
        cf_buf_put(out, &s->n, 4);
        for (uint32_t i = 0; i < s->n; i++) {
                const cf_ss_entry *e = &s->e[i];
                cf_buf_put(out, &e->hash, 8);
                cf_buf_put(out, &e->count, 8);
                cf_buf_put(out, &e->err, 8);
                cf_buf_put(out, &e->len, 1);
                cf_buf_put(out, e->key, e->len);
        }
}

int cf_ss_restore(cf_ss *s, uint32_t cap, const unsigned char **p, size_t *left)
{
        cf_ss_init(s, cap);
        uint32_t n;
        if (*left < 4) return -1;
        memcpy(&n, *p, 4);
        *p += 4;
        *left -= 4;
        /* a smaller cap than the snapshot's keeps the n largest: same as
         * having run with the larger one, just less history */
        for (uint32_t i = 0; i < n; i++) {
                if (*left < 25) goto bad;
                uint64_t h;
                double c, e;
                memcpy(&h, *p, 8);
                memcpy(&c, *p + 8, 8);
                memcpy(&e, *p + 16, 8);
                uint8_t len = (*p)[24];
                if (len > CF_SS_KEY_MAX || *left < 25u + len || !(c >= 0) || !(e >= 0) || e > c ||
                    isinf(c))
                        goto bad;
                const char *key = (const char *)*p + 25;
                if (s->n < s->cap) {
                        ensure_room(s);
                        uint32_t ei = s->n++;
                        cf_ss_entry *en = &s->e[ei];
                        set_key(en, key, len, h);
                        en->count = c;
                        en->err = e;
                        idx_insert(s, ei);
                        heap_set(s, ei, ei);
                        sift_up(s, ei);
                } else if (c > s->e[s->heap[0]].count) {
                        uint32_t ei = s->heap[0];
                        cf_ss_entry *en = &s->e[ei];
                        uint32_t mask = s->islots - 1, j = home(s, en->hash);
                        while (s->idx[j] != ei + 1)
                                j = (j + 1) & mask;
                        idx_delete(s, j);
                        set_key(en, key, len, h);
                        en->count = c;
                        en->err = e;
                        idx_insert(s, ei);
                        sift_down(s, 0);
                }
                *p += 25u + len;
                *left -= 25u + len;
        }
        return 0;
bad:
        cf_ss_free(s);
        return -1;
}
