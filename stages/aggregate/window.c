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
        cf_agg_changed_free(&w->gch);
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
        w->gch = keep.gch;
        cf_agg_changed_clear(&w->gch);
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
                cf_agg_changed_fit(&w->gch, w->gcap);
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
                cf_agg_changed_fit(&w->gch, w->gcap);
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
        if (w->track) cf_agg_changed_mark(&w->gch, (uint32_t)(g - w->g));
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
        return sizeof(*w) + (size_t)w->gcap * sizeof(cf_agg_group) + cf_agg_changed_bytes(&w->gch) +
               (size_t)w->nslots * (sizeof(uint64_t) + sizeof(uint32_t)) +
               cf_hll_bytes(&w->exporters) + cf_hll_bytes(&w->importers) + cf_ss_bytes(&w->top);
}

/* Snapshot of a window (aggregate.c has the versions): start, end, the
 * counters (u64; money i64 cents, doubles of dollars in version 1), one flag
 * count per rule of the snapshot's rule table (u64), the number of groups
 * (u32; version 1-2: then 4 bytes of padding), the groups, both sketches,
 * the top exporters. A group: key, records, flagged, value, 4 unit codes (4
 * bytes each, the code's characters NUL-padded), 4 quantities (f64), one flag
 * count per rule (u32). */
static void put_fixed(const cf_agg_window *w, uint32_t nrules, cf_buf *out)
{
        cf_st_put_i64(out, w->start);
        cf_st_put_i64(out, w->end);
        cf_st_put_u64(out, w->records);
        cf_st_put_u64(out, w->flagged);
        cf_st_put_u64(out, w->duplicates);
        cf_st_put_u64(out, w->dead_letters);
        cf_st_put_u64(out, w->overflow_records);
        cf_st_put_u64(out, w->unit_overflow);
        cf_st_put_i64(out, w->value_cents);
        cf_st_put_i64(out, w->overflow_value_cents);
        for (uint32_t r = 0; r < nrules; r++)
                cf_st_put_u64(out, w->flags[r]);
        cf_st_put_u32(out, w->ngroups);
}

static void put_group(const cf_agg_group *g, uint32_t nrules, cf_buf *out)
{
        cf_st_put_u64(out, g->key);
        cf_st_put_u64(out, g->records);
        cf_st_put_u64(out, g->flagged);
        cf_st_put_i64(out, g->value_cents);
        for (int u = 0; u < CF_AGG_UNITS; u++)
                memcpy(cf_st_room(out, 4), &g->unit[u], 4);
        for (int u = 0; u < CF_AGG_UNITS; u++)
                cf_st_put_f64(out, g->qty[u]);
        for (uint32_t r = 0; r < nrules; r++)
                cf_st_put_u32(out, g->flags[r]);
}

static void put_sketches(const cf_agg_window *w, cf_buf *out)
{
        cf_hll_snapshot(&w->exporters, out);
        cf_hll_snapshot(&w->importers, out);
        cf_ss_snapshot(&w->top, out);
}

void cf_agg_window_snapshot(const cf_agg_window *w, uint32_t nrules, cf_buf *out)
{
        put_fixed(w, nrules, out);
        for (uint32_t i = 0; i < w->ngroups; i++)
                put_group(&w->g[i], nrules, out);
        put_sketches(w, out);
}

typedef struct changed_groups {
        const cf_agg_window *w;
        uint32_t nrules;
} changed_groups;

static void put_changed_group(const void *ctx, uint32_t i, cf_buf *out)
{
        const changed_groups *c = ctx;
        put_group(&c->w->g[i], c->nrules, out);
}

/* A window's delta: the fixed part (as a snapshot's, ngroups the count now), the number of
 * groups changed (u32), each as its index (u32, ascending) and the group (as a snapshot's),
 * then the changes of both sketches (cf_hll_delta) and of the top exporters (cf_ss_delta).
 * New groups are changed ones. */
void cf_agg_window_delta(const cf_agg_window *w, uint32_t nrules, cf_buf *out)
{
        put_fixed(w, nrules, out);
        cf_agg_changed_put(&w->gch, out, put_changed_group, &(changed_groups){w, nrules});
        cf_hll_delta(&w->exporters, out);
        cf_hll_delta(&w->importers, out);
        cf_ss_delta(&w->top, out);
}

void cf_agg_window_track(cf_agg_window *w, bool on)
{
        w->track = on;
        w->exporters.track = w->importers.track = w->top.track = on;
        if (!on) cf_agg_window_clean(w);
}

void cf_agg_window_clean(cf_agg_window *w)
{
        cf_agg_changed_clear(&w->gch);
        cf_hll_clean(&w->exporters);
        cf_hll_clean(&w->importers);
        cf_ss_clean(&w->top);
        w->dirty = w->fresh = false;
}

/* Read one flag count per snapshot rule into flags (this build's indices);
 * a rule the map does not place must count nothing. */
static void read_flags(cf_st_dec *d, const cf_agg_rulemap *rm, int wide, void *flags)
{
        for (uint32_t k = 0; k < rm->n; k++) {
                uint64_t v = wide ? cf_st_u64(d) : cf_st_u32(d);
                if (rm->to[k] == CF_AGG_NO_RULE) {
                        if (v)
                                cf_st_fail(d, "%llu flags for rule slot %u, unused",
                                           (unsigned long long)v, k);
                        continue;
                }
                if (wide)
                        ((uint64_t *)flags)[rm->to[k]] = v;
                else
                        ((uint32_t *)flags)[rm->to[k]] = (uint32_t)v;
        }
}

/* A packed country code: two letters A-Z (or 0 when may_be_empty). */
static bool cc_ok(uint16_t cc, bool may_be_empty)
{
        if (!cc) return may_be_empty;
        unsigned a = cc >> 8, b = cc & 0xff;
        return a >= 'A' && a <= 'Z' && b >= 'A' && b <= 'Z';
}

/* A unit code slot: 0 (free) or 2-3 characters [A-Z0-9], NUL-padded (what decode accepts
 * and emit.c writes without escaping). */
static bool unit_ok(uint32_t u)
{
        unsigned char c[4];
        memcpy(c, &u, 4);
        if (!u) return true;
        for (int i = 0; i < 4; i++) {
                bool ch = (c[i] >= 'A' && c[i] <= 'Z') || (c[i] >= '0' && c[i] <= '9');
                if (i < 2 && !ch) return false;
                if (i == 2 && !ch && c[i]) return false;
                if (i == 3 && c[i]) return false;
        }
        return true;
}

/* Group g appended to w, read from a snapshot or kept from a patched window's base;
 * a key already in w is refused (reason in d). */
static bool insert_group(cf_agg_window *w, const cf_agg_limits *l, const cf_agg_group *g,
                         cf_st_dec *d)
{
        uint32_t before = w->ngroups;
        cf_agg_group *ng = group_get(w, l, g->key);
        if (!ng || w->ngroups == before)
                return cf_st_fail(d, "group key %016llx repeated", (unsigned long long)g->key);
        *ng = *g;
        return true;
}

/* Read one group into w (refusing bad keys, units and duplicates). */
static bool read_group(cf_agg_window *w, const cf_agg_limits *l, cf_st_dec *d, int version,
                       const cf_agg_rulemap *rm)
{
        cf_agg_group g = {0};
        g.key = cf_st_u64(d);
        g.records = cf_st_u64(d);
        g.flagged = cf_st_u64(d);
        g.value_cents = cf_agg_get_cents(d, version == 1, "group value");
        for (int u = 0; u < CF_AGG_UNITS; u++) {
                const unsigned char *c = cf_st_take(d, 4);
                if (c) memcpy(&g.unit[u], c, 4);
                if (!unit_ok(g.unit[u])) return cf_st_fail(d, "group unit code %d malformed", u);
        }
        for (int u = 0; u < CF_AGG_UNITS; u++)
                if (!((g.qty[u] = cf_st_f64(d)) >= 0) && cf_st_ok(d))
                        return cf_st_fail(d, "group quantity %g < 0", g.qty[u]);
        read_flags(d, rm, 0, g.flags);
        if (!cf_st_ok(d)) return false;
        if (!cc_ok((uint16_t)(g.key >> 48), true) || !cc_ok((uint16_t)(g.key >> 32), false) ||
            !cc_ok((uint16_t)(g.key >> 16), false) || (g.key & 0xffff) > 99)
                return cf_st_fail(d, "group key %016llx malformed", (unsigned long long)g.key);
        return insert_group(w, l, &g, d);
}

/* The fixed part of a window into w; false (reason in d) when malformed. */
static bool read_fixed(cf_agg_window *w, const cf_agg_limits *l, cf_st_dec *d, int version,
                       const cf_agg_rulemap *rm, uint32_t *ngroups)
{
        w->start = cf_st_time(d, "window start");
        w->end = cf_st_time(d, "window end");
        w->records = cf_st_u64(d);
        w->flagged = cf_st_u64(d);
        w->duplicates = cf_st_u64(d);
        w->dead_letters = cf_st_u64(d);
        w->overflow_records = cf_st_u64(d);
        w->unit_overflow = cf_st_u64(d);
        w->value_cents = cf_agg_get_cents(d, version == 1, "window value");
        w->overflow_value_cents = cf_agg_get_cents(d, version == 1, "window overflow value");
        read_flags(d, rm, 1, w->flags);
        *ngroups = cf_st_u32(d);
        if (version < 3) (void)cf_st_u32(d); /* padding of the raw struct */
        if (!cf_st_ok(d)) return false;
        if (w->end - w->start < 1000 || w->end - w->start > 366LL * 86400000)
                return cf_st_fail(d, "window [%lld, %lld) is not 1 s .. 366 d long",
                                  (long long)w->start, (long long)w->end);
        return true;
}

/* More groups than max_groups_per_window are kept (a reload may have lowered it; the bound
 * applies to new groups), as many as the bytes of a whole window can hold. */
static bool groups_fit(uint32_t ngroups, cf_st_dec *d)
{
        if (ngroups > cf_st_left(d) / 80) /* key, counters, units, quantities */
                return cf_st_fail(d, "window of %u groups cannot fit in %zu bytes", ngroups,
                                  cf_st_left(d));
        return true;
}

/* Both sketches and the top exporters of w from d. */
static bool read_sketches(cf_agg_window *w, const cf_agg_limits *l, cf_st_dec *d, int version)
{
        cf_hll_free(&w->exporters);
        cf_hll_free(&w->importers);
        cf_ss_free(&w->top);
        return !cf_hll_restore(&w->exporters, d) && !cf_hll_restore(&w->importers, d) &&
               !cf_ss_restore(&w->top, l->ss_cap, d, version == 1);
}

cf_agg_window *cf_agg_window_restore(const cf_agg_limits *l, cf_st_dec *d, int version,
                                     const cf_agg_rulemap *rm)
{
        cf_agg_window *w = cf_agg_window_new(0, 1, l, NULL, NULL);
        uint32_t ngroups = 0;
        if (!read_fixed(w, l, d, version, rm, &ngroups) || !groups_fit(ngroups, d)) goto bad;
        cf_agg_limits all = *l; /* every group of the snapshot, even beyond the bound */
        if (ngroups > all.max_groups) all.max_groups = ngroups;
        for (uint32_t i = 0; i < ngroups; i++)
                if (!read_group(w, &all, d, version, rm)) goto bad;
        if (!read_sketches(w, l, d, version)) goto bad;
        return w;
bad:
        cf_agg_window_free(w);
        return NULL;
}

/* Groups [*next, to) of base appended to w (none of them changed). */
static bool copy_groups(cf_agg_window *w, const cf_agg_limits *all, const cf_agg_window *base,
                        uint32_t *next, uint32_t to, cf_st_dec *d)
{
        for (; *next < to; (*next)++) {
                if (*next >= base->ngroups)
                        return cf_st_fail(d, "group %u is neither in the window nor in the delta",
                                          *next);
                if (!insert_group(w, all, &base->g[*next], d)) return false;
        }
        return true;
}

cf_agg_window *cf_agg_window_patch(const cf_agg_window *base, const cf_agg_limits *l, cf_st_dec *d,
                                   const cf_agg_rulemap *rm)
{
        cf_agg_window *w = cf_agg_window_new(0, 1, l, NULL, NULL);
        uint32_t ngroups = 0, next = 0, prev = 0;
        if (!read_fixed(w, l, d, 3, rm, &ngroups)) goto bad;
        if (w->start != base->start || w->end != base->end) {
                cf_st_fail(d, "a change of window [%lld, %lld) for [%lld, %lld)",
                           (long long)w->start, (long long)w->end, (long long)base->start,
                           (long long)base->end);
                goto bad;
        }
        if (ngroups < base->ngroups) {
                cf_st_fail(d, "%u groups after a change of a window of %u (never removed)", ngroups,
                           base->ngroups);
                goto bad;
        }
        uint32_t nch = cf_st_u32(d);
        if (cf_st_ok(d) && (nch > ngroups || nch > cf_st_left(d) / 84)) {
                cf_st_fail(d, "%u changed groups of %u in %zu bytes", nch, ngroups, cf_st_left(d));
                goto bad;
        }
        cf_agg_limits all = *l;
        if (ngroups > all.max_groups) all.max_groups = ngroups;
        for (uint32_t k = 0; k < nch && cf_st_ok(d); k++) {
                uint32_t i = cf_st_u32(d);
                if (!cf_st_ok(d)) goto bad;
                if (i >= ngroups || (k && i <= prev)) {
                        cf_st_fail(d, "changed group %u: index %u out of order or range", k, i);
                        goto bad;
                }
                if (!copy_groups(w, &all, base, &next, i, d) || !read_group(w, &all, d, 3, rm))
                        goto bad;
                if (i < base->ngroups && w->g[i].key != base->g[i].key) {
                        cf_st_fail(d, "group %u changed its key", i);
                        goto bad;
                }
                prev = i;
                next = i + 1;
        }
        if (!cf_st_ok(d) || !copy_groups(w, &all, base, &next, ngroups, d)) goto bad;
        cf_hll_free(&w->exporters);
        cf_hll_free(&w->importers);
        cf_ss_free(&w->top);
        if (cf_hll_patch(&w->exporters, &base->exporters, d) ||
            cf_hll_patch(&w->importers, &base->importers, d) ||
            cf_ss_patch(&w->top, &base->top, l->ss_cap, d))
                goto bad;
        return w;
bad:
        cf_agg_window_free(w);
        return NULL;
}
