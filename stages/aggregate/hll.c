/*
 * hll.c - see hll.h.
 */
#include "stages/aggregate/hll.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
        h->set = NULL;
        h->reg = NULL;
        h->n = h->cap = 0;
        h->dense = 0;
}

static void dense_add(cf_hll *h, uint64_t x)
{
        uint32_t idx = (uint32_t)(x >> (64 - h->p));
        /* the guard bit bounds the rank at 64 - p + 1 */
        uint64_t w = (x << h->p) | (1ull << (h->p - 1));
        uint8_t rank = (uint8_t)(__builtin_clzll(w) + 1);
        if (rank > h->reg[idx]) h->reg[idx] = rank;
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
                dense_add(h, x);
                return;
        }
        if (!x) x = 1; /* 0 marks an empty slot */
        if (2 * (h->n + 1) > h->cap) {
                if (h->n + 1 > sparse_max(h)) {
                        to_dense(h);
                        dense_add(h, x);
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
        h->n += (uint32_t)set_insert(h->set, h->cap, x);
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
        return h->dense ? (size_t)1 << h->p : (size_t)h->cap * sizeof(uint64_t);
}

void cf_hll_snapshot(const cf_hll *h, cf_buf *out)
{
        uint8_t hdr[2] = {h->p, h->dense};
        cf_buf_put(out, hdr, 2);
        if (h->dense) {
                cf_buf_put(out, h->reg, (size_t)1 << h->p);
                return;
        }
        cf_buf_put(out, &h->n, 4);
        for (uint32_t i = 0; i < h->cap; i++)
                if (h->set[i]) cf_buf_put(out, &h->set[i], 8);
}

int cf_hll_restore(cf_hll *h, const unsigned char **p, size_t *left)
{
        memset(h, 0, sizeof(*h));
        if (*left < 2) return -1;
        uint8_t prec = (*p)[0], dense = (*p)[1];
        if (prec < CF_HLL_PMIN || prec > CF_HLL_PMAX || dense > 1) return -1;
        *p += 2;
        *left -= 2;
        cf_hll_init(h, prec);
        if (dense) {
                size_t m = (size_t)1 << prec;
                if (*left < m) return -1;
                h->reg = xcalloc(m, 1);
                memcpy(h->reg, *p, m);
                for (size_t i = 0; i < m; i++)
                        if (h->reg[i] > 64 - prec + 1) {
                                cf_hll_free(h);
                                return -1;
                        }
                h->dense = 1;
                *p += m;
                *left -= m;
                return 0;
        }
        uint32_t n;
        if (*left < 4) return -1;
        memcpy(&n, *p, 4);
        *p += 4;
        *left -= 4;
        if (n > sparse_max(h) || *left < (size_t)n * 8) return -1;
        for (uint32_t i = 0; i < n; i++) {
                uint64_t x;
                memcpy(&x, *p + (size_t)i * 8, 8);
                if (!x) {
                        cf_hll_free(h);
                        return -1;
                }
                cf_hll_add(h, x);
        }
        *p += (size_t)n * 8;
        *left -= (size_t)n * 8;
        return 0;
}
