/*
 * hll.c - see hll.h.
 */
#include "stages/aggregate/hll.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/sort.h"
#include "pipeline/core/stenc.h"

static void *xcalloc(size_t n, size_t sz)
{
        void *p = calloc(n, sz);
        if (!p) abort();
        return p;
}

void cf_hll_init(cf_hll *h, int p)
{
        memset(h, 0, sizeof(*h));
        if (p < CF_HLL_PMIN) p = CF_HLL_PMIN;
        if (p > CF_HLL_PMAX) p = CF_HLL_PMAX;
        h->p = (uint8_t)p;
}

void cf_hll_free(cf_hll *h)
{
        free(h->set);
        free(h->reg);
        free(h->log);
        h->set = NULL;
        h->reg = NULL;
        h->log = NULL;
        h->n = h->cap = h->nlog = h->logcap = 0;
        h->dense = h->over = 0;
}

/* Record a hash that changed the sketch (see cf_hll.log). */
static void log_change(cf_hll *h, uint64_t x)
{
        if (!h->track || h->over) return;
        if (h->nlog == CF_HLL_LOG_MAX) {
                h->over = 1;
                return;
        }
        if (h->nlog == h->logcap) {
                h->logcap = h->logcap ? 2 * h->logcap : 16;
                h->log = realloc(h->log, (size_t)h->logcap * sizeof(*h->log));
                if (!h->log) abort();
        }
        h->log[h->nlog++] = x;
}

/* 1 when the register rose. */
static int dense_add(cf_hll *h, uint64_t x)
{
        uint32_t idx = (uint32_t)(x >> (64 - h->p));
        /* the guard bit bounds the rank at 64 - p + 1 */
        uint64_t w = (x << h->p) | (1ull << (h->p - 1));
        uint8_t rank = (uint8_t)(__builtin_clzll(w) + 1);
        if (rank <= h->reg[idx]) return 0;
        h->reg[idx] = rank;
        return 1;
}

/* Sparse set threshold: past 2^p / 16 hashes the set's slots would outweigh
 * the registers. */
static uint32_t sparse_max(const cf_hll *h)
{
        return (1u << h->p) / 16;
}

static int set_insert(uint64_t *set, uint32_t cap, uint64_t x)
{
        uint32_t mask = cap - 1, i = (uint32_t)(x ^ (x >> 32)) & mask;
        while (set[i]) {
                if (set[i] == x) return 0;
                i = (i + 1) & mask;
        }
        set[i] = x;
        return 1;
}

static void to_dense(cf_hll *h)
{
        h->reg = xcalloc((size_t)1 << h->p, 1);
        for (uint32_t i = 0; i < h->cap; i++)
                if (h->set[i]) dense_add(h, h->set[i]);
        free(h->set);
        h->set = NULL;
        h->n = h->cap = 0;
        h->dense = 1;
}

void cf_hll_clear(cf_hll *h, int p)
{
        if (h->dense || h->p != p) {
                cf_hll_free(h);
                cf_hll_init(h, p);
                return;
        }
        if (h->set) memset(h->set, 0, (size_t)h->cap * sizeof(*h->set));
        h->n = 0;
        cf_hll_clean(h);
}

void cf_hll_reserve(cf_hll *h, uint32_t n)
{
        if (h->dense || h->set || n > sparse_max(h)) return;
        uint32_t cap = 16;
        while (cap < 2 * n)
                cap *= 2;
        h->set = xcalloc(cap, sizeof(*h->set));
        h->cap = cap;
}

void cf_hll_add(cf_hll *h, uint64_t x)
{
        if (h->dense) {
                if (dense_add(h, x)) log_change(h, x);
                return;
        }
        if (!x) x = 1; /* 0 marks an empty slot */
        if (2 * (h->n + 1) > h->cap) {
                if (h->n + 1 > sparse_max(h)) {
                        /* at the same count wherever the sketch is rebuilt (the set never
                         * exceeds 2 x sparse_max slots), so a replay of the log converts
                         * where this did */
                        to_dense(h);
                        dense_add(h, x);
                        log_change(h, x);
                        return;
                }
                uint32_t ncap = h->cap ? 2 * h->cap : 16;
                uint64_t *ns = xcalloc(ncap, sizeof(*ns));
                for (uint32_t i = 0; i < h->cap; i++)
                        if (h->set[i]) set_insert(ns, ncap, h->set[i]);
                free(h->set);
                h->set = ns;
                h->cap = ncap;
        }
        if (set_insert(h->set, h->cap, x)) {
                h->n++;
                log_change(h, x);
        }
}

static double sigma(double x)
{
        if (x == 1.0) return INFINITY;
        double y = 1, z = x, zp;
        do {
                x *= x;
                zp = z;
                z += x * y;
                y += y;
        } while (zp != z);
        return z;
}

static double tau(double x)
{
        if (x == 0.0 || x == 1.0) return 0.0;
        double y = 1.0, z = 1 - x, zp;
        do {
                x = sqrt(x);
                zp = z;
                y *= 0.5;
                z -= (1 - x) * (1 - x) * y;
        } while (zp != z);
        return z / 3;
}

double cf_hll_estimate(const cf_hll *h)
{
        if (!h->dense) return (double)h->n;
        int q = 64 - h->p;
        uint32_t m = 1u << h->p, c[66] = {0};
        for (uint32_t i = 0; i < m; i++)
                c[h->reg[i]]++;
        double md = (double)m;
        double z = md * tau((md - c[q + 1]) / md);
        for (int k = q; k >= 1; k--) {
                z += c[k];
                z *= 0.5;
        }
        z += md * sigma(c[0] / md);
        return (0.5 / log(2.0)) * md * md / z;
}

size_t cf_hll_bytes(const cf_hll *h)
{
        return (h->dense ? (size_t)1 << h->p : (size_t)h->cap * sizeof(uint64_t)) +
               (size_t)h->logcap * sizeof(uint64_t);
}

/* Snapshot: precision (u8), dense (u8), then 2^p registers (bytes) or the
 * number of hashes (u32) and the hashes (u64 each, ascending since issue 18:
 * the same set writes the same bytes whatever the table's layout); the same
 * in every aggregate snapshot version. */
void cf_hll_snapshot(const cf_hll *h, cf_buf *out)
{
        cf_st_put_u8(out, h->p);
        cf_st_put_u8(out, h->dense);
        if (h->dense) {
                memcpy(cf_st_room(out, (size_t)1 << h->p), h->reg, (size_t)1 << h->p);
                return;
        }
        cf_st_put_u32(out, h->n);
        cf_sort_kv *v = malloc((h->n ? h->n : 1) * sizeof(*v));
        if (!v) abort();
        uint32_t n = 0;
        for (uint32_t i = 0; i < h->cap && n < h->n; i++)
                if (h->set[i]) v[n++] = (cf_sort_kv){h->set[i], 0};
        cf_sort_kv_by_key(v, n);
        for (uint32_t i = 0; i < n; i++)
                cf_st_put_u64(out, v[i].key);
        free(v);
}

/* Precision and form of a sketch in a snapshot; false (reason in d) when out of range. */
static bool read_kind(cf_st_dec *d, unsigned *prec, unsigned *dense)
{
        *prec = cf_st_u8(d);
        *dense = cf_st_u8(d);
        if (!cf_st_ok(d)) return false;
        if (*prec < CF_HLL_PMIN || *prec > CF_HLL_PMAX || *dense > 1)
                return cf_st_fail(d, "HyperLogLog precision %u / dense %u out of range", *prec,
                                  *dense);
        return true;
}

static int restore_dense(cf_hll *h, cf_st_dec *d)
{
        size_t m = (size_t)1 << h->p;
        const unsigned char *r = cf_st_take(d, m);
        if (!r) return -1;
        for (size_t i = 0; i < m; i++)
                if (r[i] > 64 - h->p + 1) {
                        cf_st_fail(d, "HyperLogLog register %u > %u", r[i], 64 - h->p + 1);
                        return -1;
                }
        h->reg = xcalloc(m, 1);
        memcpy(h->reg, r, m);
        h->dense = 1;
        return 0;
}

static int restore_sparse(cf_hll *h, cf_st_dec *d)
{
        uint32_t n = cf_st_u32(d);
        if (cf_st_ok(d) && n > sparse_max(h)) {
                cf_st_fail(d, "HyperLogLog set of %u hashes > %u at precision %u", n, sparse_max(h),
                           h->p);
                return -1;
        }
        const unsigned char *x = cf_st_take(d, (size_t)n * 8);
        if (!x) return -1;
        for (uint32_t i = 0; i < n; i++) {
                uint64_t v = cf_st_load64(x + (size_t)i * 8);
                if (!v) {
                        cf_hll_free(h);
                        cf_st_fail(d, "HyperLogLog hash 0 (the empty mark)");
                        return -1;
                }
                cf_hll_add(h, v);
        }
        return 0;
}

int cf_hll_restore(cf_hll *h, cf_st_dec *d)
{
        memset(h, 0, sizeof(*h));
        unsigned prec, dense;
        if (!read_kind(d, &prec, &dense)) return -1;
        cf_hll_init(h, (int)prec);
        int rc = dense ? restore_dense(h, d) : restore_sparse(h, d);
        cf_hll_clean(h);
        return rc;
}

void cf_hll_delta(const cf_hll *h, cf_buf *out)
{
        cf_st_put_u8(out, h->over);
        if (h->over) {
                cf_hll_snapshot(h, out);
                return;
        }
        cf_st_put_u32(out, h->nlog);
        for (uint32_t i = 0; i < h->nlog; i++)
                cf_st_put_u64(out, h->log[i]);
}

void cf_hll_clean(cf_hll *h)
{
        h->nlog = 0;
        h->over = 0;
}

/* dst = a copy of src's sketch (no change log). */
static void copy(cf_hll *dst, const cf_hll *src)
{
        *dst = (cf_hll){.p = src->p, .dense = src->dense, .n = src->n, .cap = src->cap};
        if (src->set) {
                dst->set = xcalloc(src->cap, sizeof(*dst->set));
                memcpy(dst->set, src->set, (size_t)src->cap * sizeof(*dst->set));
        }
        if (src->reg) {
                dst->reg = xcalloc((size_t)1 << src->p, 1);
                memcpy(dst->reg, src->reg, (size_t)1 << src->p);
        }
}

int cf_hll_patch(cf_hll *h, const cf_hll *base, cf_st_dec *d)
{
        memset(h, 0, sizeof(*h));
        unsigned kind = cf_st_u8(d);
        if (!cf_st_ok(d)) return -1;
        if (kind == 1) return cf_hll_restore(h, d);
        uint32_t n = kind ? 0 : cf_st_u32(d);
        if (kind || (cf_st_ok(d) && (n > CF_HLL_LOG_MAX || n > cf_st_left(d) / 8))) {
                cf_st_fail(d, "HyperLogLog change of kind %u, %u hashes", kind, n);
                return -1;
        }
        const unsigned char *x = cf_st_take(d, (size_t)n * 8);
        if (!x) return -1;
        copy(h, base);
        for (uint32_t i = 0; i < n; i++)
                cf_hll_add(h, cf_st_load64(x + (size_t)i * 8));
        cf_hll_clean(h);
        return 0;
}
