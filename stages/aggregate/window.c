/*
 * window.c - see window.h.
 */
#include "stages/aggregate/window.h"

#include <stdlib.h>
#include <string.h>

static void *xrealloc(void *p, size_t n)
{
        void *q = realloc(p, n);
        if (!q && n) abort();
        return q;
}

uint64_t cf_agg_group_key(const cf_decl *d)
{
        /* decode guarantees at least six digits in hs_code */
        uint64_t ch = (uint64_t)((d->hs_code.p[0] - '0') * 10 + (d->hs_code.p[1] - '0'));
        uint64_t rep = d->present & CF_HAS_REPORTER ? d->reporter_country : 0;
        return rep << 48 | (uint64_t)d->origin_country << 32 | (uint64_t)d->export_country << 16 |
               ch;
}

void cf_agg_window_free(cf_agg_window *w)
{
        if (!w) return;
        free(w->g);
        free(w->slot_key);
        free(w->slot_idx);
        cf_hll_free(&w->exporters);
        cf_hll_free(&w->importers);
        cf_ss_free(&w->top);
        free(w);
}

static uint32_t slot_of(uint64_t key, uint32_t nslots)
{
        /* Fibonacci hashing: the packed key's entropy is in its high bits too */
        return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & (nslots - 1);
}

static void rehash(cf_agg_window *w, uint32_t nslots)
{
        free(w->slot_key);
        free(w->slot_idx);
        w->slot_key = malloc((size_t)nslots * sizeof(*w->slot_key));
        w->slot_idx = malloc((size_t)nslots * sizeof(*w->slot_idx));
        if (!w->slot_key || !w->slot_idx) abort();
        memset(w->slot_key, 0xff, (size_t)nslots * sizeof(*w->slot_key));
        w->nslots = nslots;
        for (uint32_t i = 0; i < w->ngroups; i++) {
                uint32_t s = slot_of(w->g[i].key, nslots);
                while (w->slot_key[s] != CF_AGG_EMPTY)
                        s = (s + 1) & (nslots - 1);
                w->slot_key[s] = w->g[i].key;
                w->slot_idx[s] = i;
        }
}

#define POOL_MAX       64
#define POOL_MAX_BYTES (32 * 1024) /* larger windows: freed (clearing would cost as much) */

/* A pooled window emptied for [start, end): counters zeroed, tables kept. */
static cf_agg_window *reuse(cf_agg_pool *pool, int64_t start, int64_t end, const cf_agg_limits *l)
{
        cf_agg_window *w = pool->v[--pool->n];
        cf_agg_window keep = *w;
        memset(w, 0, sizeof(*w));
        w->g = keep.g;
        w->gcap = keep.gcap > l->max_groups ? l->max_groups : keep.gcap;
        w->slot_key = keep.slot_key;
        w->slot_idx = keep.slot_idx;
        w->nslots = keep.nslots;
        if (w->nslots) memset(w->slot_key, 0xff, (size_t)w->nslots * sizeof(*w->slot_key));
        w->exporters = keep.exporters;
        w->importers = keep.importers;
        w->top = keep.top;
        cf_hll_clear(&w->exporters, l->hll_p);
        cf_hll_clear(&w->importers, l->hll_p);
        cf_ss_clear(&w->top, l->ss_cap);
        w->start = start;
        w->end = end;
        return w;
}

void cf_agg_window_release(cf_agg_window *w, cf_agg_pool *pool)
{
        if (!w) return;
        if (!pool || pool->n == POOL_MAX || cf_agg_window_bytes(w) > POOL_MAX_BYTES) {
                cf_agg_window_free(w);
                return;
        }
        if (!pool->v) {
                pool->v = malloc(POOL_MAX * sizeof(*pool->v));
                if (!pool->v) abort();
        }
        pool->v[pool->n++] = w;
}

void cf_agg_pool_free(cf_agg_pool *pool)
{
        while (pool->n)
                cf_agg_window_free(pool->v[--pool->n]);
        free(pool->v);
        pool->v = NULL;
}

cf_agg_window *cf_agg_window_new(int64_t start, int64_t end, const cf_agg_limits *l,
                                 const cf_agg_hint *hint, cf_agg_pool *pool)
{
        cf_agg_window *w;
        if (pool && pool->n) {
                w = reuse(pool, start, end, l);
        } else {
                w = calloc(1, sizeof(*w));
                if (!w) abort();
                w->start = start;
                w->end = end;
                cf_hll_init(&w->exporters, l->hll_p);
                cf_hll_init(&w->importers, l->hll_p);
                cf_ss_init(&w->top, l->ss_cap);
        }
        if (!hint) return w;
        uint32_t g = hint->groups < l->max_groups ? hint->groups : l->max_groups;
        if (g > 16 && g > w->gcap) {
                w->gcap = g;
                w->g = xrealloc(w->g, (size_t)g * sizeof(*w->g));
                uint32_t slots = 32;
                while (slots < 2 * g + 2)
                        slots *= 2;
                if (slots > w->nslots) rehash(w, slots);
        }
        cf_hll_reserve(&w->exporters, hint->exporters);
        cf_hll_reserve(&w->importers, hint->importers);
        cf_ss_reserve(&w->top, hint->exporters);
        return w;
}

cf_agg_hint cf_agg_window_hint(const cf_agg_window *w)
{
        return (cf_agg_hint){.groups = w->ngroups,
                             .exporters = w->exporters.dense ? UINT32_MAX : w->exporters.n,
                             .importers = w->importers.dense ? UINT32_MAX : w->importers.n};
}

/* The group of key, created when there is room; NULL when the window is at
 * max_groups (the record then counts as overflow). */
static cf_agg_group *group_get(cf_agg_window *w, const cf_agg_limits *l, uint64_t key)
{
        if (w->nslots) {
                uint32_t mask = w->nslots - 1;
                for (uint32_t s = slot_of(key, w->nslots); w->slot_key[s] != CF_AGG_EMPTY;
                     s = (s + 1) & mask)
                        if (w->slot_key[s] == key) return &w->g[w->slot_idx[s]];
        }
        if (w->ngroups >= l->max_groups) return NULL;
        if (w->ngroups == w->gcap) {
                w->gcap = w->gcap ? 2 * w->gcap : 16;
                if (w->gcap > l->max_groups) w->gcap = l->max_groups;
                w->g = xrealloc(w->g, (size_t)w->gcap * sizeof(*w->g));
        }
        if (2 * (w->ngroups + 1) > w->nslots) rehash(w, w->nslots ? 2 * w->nslots : 32);
        uint32_t i = w->ngroups++;
        cf_agg_group *g = &w->g[i];
        memset(g, 0, sizeof(*g));
        g->key = key;
        uint32_t s = slot_of(key, w->nslots);
        while (w->slot_key[s] != CF_AGG_EMPTY)
                s = (s + 1) & (w->nslots - 1);
        w->slot_key[s] = key;
        w->slot_idx[s] = i;
        return g;
}

static void count_flags(uint32_t *gf, uint64_t *wf, const cf_record *r)
{
        for (uint16_t j = 0; j < r->n_reasons; j++) {
                uint16_t idx = r->reasons[j].rule_ix;
                if (idx >= CF_RULES_MAX) continue;
                if (gf) gf[idx]++;
                wf[idx]++;
        }
}

void cf_agg_window_add(cf_agg_window *w, const cf_agg_limits *l, const cf_record *r,
                       uint64_t exp_hash, uint64_t imp_hash)
{
        const cf_decl *d = &r->decl;
        int64_t v = cf_agg_cents(d->value_usd);
        w->records++;
        w->value_cents = cf_agg_add(w->value_cents, v);
        if (r->flagged) w->flagged++;
        cf_hll_add(&w->exporters, exp_hash);
        cf_hll_add(&w->importers, imp_hash);
        cf_ss_add(&w->top, d->exporter_id.p, d->exporter_id.n, exp_hash, v);
        cf_agg_group *g = group_get(w, l, cf_agg_group_key(d));
        if (!g) {
                w->overflow_records++;
                w->overflow_value_cents = cf_agg_add(w->overflow_value_cents, v);
                if (r->flagged) count_flags(NULL, w->flags, r);
                return;
        }
        g->records++;
        g->value_cents = cf_agg_add(g->value_cents, v);
        uint32_t u;
        memcpy(&u, d->unit, 4);
        for (int k = 0; k < CF_AGG_UNITS; k++) {
                if (g->unit[k] == u) {
                        g->qty[k] += d->quantity;
                        goto units_done;
                }
                if (!g->unit[k]) {
                        g->unit[k] = u;
                        g->qty[k] = d->quantity;
                        goto units_done;
                }
        }
        w->unit_overflow++;
units_done:
        if (r->flagged) {
                g->flagged++;
                count_flags(g->flags, w->flags, r);
        }
}

size_t cf_agg_window_bytes(const cf_agg_window *w)
{
        return sizeof(*w) + (size_t)w->gcap * sizeof(cf_agg_group) +
               (size_t)w->nslots * (sizeof(uint64_t) + sizeof(uint32_t)) +
               cf_hll_bytes(&w->exporters) + cf_hll_bytes(&w->importers) + cf_ss_bytes(&w->top);
}

/* Fixed part of a window in a snapshot: every scalar counter, in this order. */
typedef struct win_fixed {
        int64_t start, end;
        uint64_t records, flagged, duplicates, dead_letters, overflow_records, unit_overflow;
        int64_t value_cents, overflow_value_cents;
        uint64_t flags[CF_RULES_MAX];
        uint32_t ngroups, pad;
} win_fixed;

void cf_agg_window_snapshot(const cf_agg_window *w, cf_buf *out)
{
        win_fixed f = {w->start,
                       w->end,
                       w->records,
                       w->flagged,
                       w->duplicates,
                       w->dead_letters,
                       w->overflow_records,
                       w->unit_overflow,
                       w->value_cents,
                       w->overflow_value_cents,
                       {0},
                       w->ngroups,
                       0};
        memcpy(f.flags, w->flags, sizeof(f.flags));
        cf_buf_put(out, &f, sizeof(f));
        cf_buf_put(out, w->g, (size_t)w->ngroups * sizeof(cf_agg_group));
        cf_hll_snapshot(&w->exporters, out);
        cf_hll_snapshot(&w->importers, out);
        cf_ss_snapshot(&w->top, out);
}

cf_agg_window *cf_agg_window_restore(const cf_agg_limits *l, const unsigned char **p, size_t *left,
                                     int legacy)
{
        win_fixed f;
        if (*left < sizeof(f)) return NULL;
        memcpy(&f, *p, sizeof(f));
        *p += sizeof(f);
        *left -= sizeof(f);
        if (legacy) {
                f.value_cents = cf_agg_cents_v1(f.value_cents);
                f.overflow_value_cents = cf_agg_cents_v1(f.overflow_value_cents);
        }
        if (f.end <= f.start || f.ngroups > l->max_groups || f.ngroups > f.records ||
            f.value_cents < 0 || f.overflow_value_cents < 0 ||
            (size_t)f.ngroups * sizeof(cf_agg_group) > *left)
                return NULL;
        cf_agg_window *w = cf_agg_window_new(f.start, f.end, l, NULL, NULL);
        w->records = f.records;
        w->flagged = f.flagged;
        w->duplicates = f.duplicates;
        w->dead_letters = f.dead_letters;
        w->overflow_records = f.overflow_records;
        w->unit_overflow = f.unit_overflow;
        w->value_cents = f.value_cents;
        w->overflow_value_cents = f.overflow_value_cents;
        memcpy(w->flags, f.flags, sizeof(f.flags));
        for (uint32_t i = 0; i < f.ngroups; i++) {
                cf_agg_group g;
                memcpy(&g, *p + (size_t)i * sizeof(g), sizeof(g));
                if (legacy) g.value_cents = cf_agg_cents_v1(g.value_cents);
                if (g.key == CF_AGG_EMPTY || g.value_cents < 0) goto bad;
                cf_agg_group *ng = group_get(w, l, g.key);
                if (!ng || ng->records) goto bad; /* duplicate key */
                *ng = g;
        }
        *p += (size_t)f.ngroups * sizeof(cf_agg_group);
        *left -= (size_t)f.ngroups * sizeof(cf_agg_group);
        cf_hll_free(&w->exporters);
        cf_hll_free(&w->importers);
        cf_ss_free(&w->top);
        if (cf_hll_restore(&w->exporters, p, left) || cf_hll_restore(&w->importers, p, left) ||
            cf_ss_restore(&w->top, l->ss_cap, p, left, legacy))
                goto bad;
        return w;
bad:
        cf_agg_window_free(w);
        return NULL;
}
