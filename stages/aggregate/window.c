/*
 * window.c - see window.h.
 */
#include "stages/aggregate/window.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/chain.h"

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

cf_agg_window *cf_agg_window_new(int64_t start, int64_t end, const cf_agg_limits *l)
{
        cf_agg_window *w = calloc(1, sizeof(*w));
        if (!w) abort();
        w->start = start;
        w->end = end;
        cf_hll_init(&w->exporters, l->hll_p);
        cf_hll_init(&w->importers, l->hll_p);
        cf_ss_init(&w->top, l->ss_cap);
        return w;
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
                int idx = cf_rule_index(r->reasons[j].rule);
                if (idx < 0 || idx >= CF_AGG_RULES) continue;
                if (gf) gf[idx]++;
                wf[idx]++;
        }
}

void cf_agg_window_add(cf_agg_window *w, const cf_agg_limits *l, const cf_record *r,
                       uint64_t exp_hash, uint64_t imp_hash)
{
        const cf_decl *d = &r->decl;
        double v = d->value_usd;
        w->records++;
        w->value_usd += v;
        if (r->flagged) w->flagged++;
        cf_hll_add(&w->exporters, exp_hash);
        cf_hll_add(&w->importers, imp_hash);
        cf_ss_add(&w->top, d->exporter_id.p, d->exporter_id.n, exp_hash, v);
        cf_agg_group *g = group_get(w, l, cf_agg_group_key(d));
        if (!g) {
                w->overflow_records++;
                w->overflow_value_usd += v;
                if (r->flagged) count_flags(NULL, w->flags, r);
                return;
        }
        g->records++;
        g->value_usd += v;
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

void cf_agg_put_time(cf_buf *o, int64_t ms)
{
        time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
        int frac = (int)(ms - (int64_t)secs * 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        cf_buf_printf(o, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        if (frac) cf_buf_printf(o, ".%03d", frac);
        cf_buf_putc(o, 'Z');
}

static void put_cc(cf_buf *o, uint16_t cc)
{
        if (!cc) {
                cf_buf_puts(o, "null");
                return;
        }
        char s[2] = {(char)(cc >> 8), (char)(cc & 0xff)};
        cf_json_str(o, s, 2);
}

static void key_cc(cf_buf *o, uint16_t cc)
{
        if (!cc) {
                cf_buf_putc(o, '-');
                return;
        }
        cf_buf_putc(o, (char)(cc >> 8));
        cf_buf_putc(o, (char)(cc & 0xff));
}

static void put_flags_u32(cf_buf *o, const uint32_t *f)
{
        cf_buf_putc(o, '{');
        int first = 1;
        for (int i = 0; i < cf_n_rule_names && i < CF_AGG_RULES; i++) {
                if (!f[i]) continue;
                if (!first) cf_buf_putc(o, ',');
                first = 0;
                cf_json_key(o, cf_rule_names[i]);
                cf_json_int(o, f[i]);
        }
        cf_buf_putc(o, '}');
}

static int cmp_group(const void *a, const void *b)
{
        uint64_t x = ((const cf_agg_group *)a)->key, y = ((const cf_agg_group *)b)->key;
        return x < y ? -1 : x > y;
}

/* The members every message of the window shares. */
static void put_common(cf_buf *o, const cf_agg_window *w, const cf_agg_emit *e)
{
        cf_buf_puts(o, ",\"window_start\":");
        cf_json_time(o, w->start);
        cf_buf_puts(o, ",\"window_end\":");
        cf_json_time(o, w->end);
        cf_buf_puts(o, ",\"partitions\":[");
        cf_json_int(o, e->partition);
        cf_buf_puts(o, "],\"final\":");
        cf_buf_puts(o, e->final ? "true" : "false");
}

static void put_tail(cf_buf *o, const cf_agg_emit *e)
{
        cf_buf_puts(o, ",\"pipeline_version\":");
        cf_json_str(o, e->pipeline_version, strlen(e->pipeline_version));
        cf_buf_puts(o, ",\"emitted_at\":");
        cf_json_time(o, e->now_ms);
        cf_buf_putc(o, '}');
}

static void emit_group(const cf_agg_group *g, const cf_agg_window *w, const cf_agg_emit *e,
                       const cf_buf *kp, cf_buf *key, cf_batch *b)
{
        uint16_t rep = (uint16_t)(g->key >> 48), org = (uint16_t)(g->key >> 32),
                 exc = (uint16_t)(g->key >> 16);
        unsigned ch = (unsigned)(g->key & 0xffff);
        key->len = 0;
        cf_buf_put(key, kp->p, kp->len);
        key_cc(key, rep);
        cf_buf_putc(key, '/');
        key_cc(key, org);
        cf_buf_putc(key, '/');
        key_cc(key, exc);
        cf_buf_printf(key, "/%02u", ch);
        cf_buf *o = cf_batch_out_begin(b, CF_OUT_STATS, e->partition, key->p, key->len);
        cf_buf_puts(o, "{\"type\":\"group\"");
        put_common(o, w, e);
        cf_buf_puts(o, ",\"reporter_country\":");
        put_cc(o, rep);
        cf_buf_puts(o, ",\"origin_country\":");
        put_cc(o, org);
        cf_buf_puts(o, ",\"export_country\":");
        put_cc(o, exc);
        cf_buf_printf(o, ",\"hs_chapter\":\"%02u\",\"records\":", ch);
        cf_json_int(o, (int64_t)g->records);
        cf_buf_puts(o, ",\"value_usd\":");
        cf_json_num(o, g->value_usd);
        cf_buf_puts(o, ",\"quantity_by_unit\":{");
        for (int k = 0; k < CF_AGG_UNITS && g->unit[k]; k++) {
                if (k) cf_buf_putc(o, ',');
                char u[4];
                memcpy(u, &g->unit[k], 4);
                cf_json_str(o, u, strnlen(u, 4));
                cf_buf_putc(o, ':');
                cf_json_num(o, g->qty[k]);
        }
        cf_buf_puts(o, "},\"flagged\":");
        cf_json_int(o, (int64_t)g->flagged);
        cf_buf_puts(o, ",\"flags_by_rule\":");
        put_flags_u32(o, g->flags);
        put_tail(o, e);
        cf_batch_out_end(b);
}

static void emit_summary(const cf_agg_window *w, const cf_agg_limits *l, const cf_agg_emit *e,
                         const cf_buf *kp, cf_buf *key, cf_batch *b)
{
        key->len = 0;
        cf_buf_put(key, kp->p, kp->len);
        cf_buf_puts(key, "window");
        cf_buf *o = cf_batch_out_begin(b, CF_OUT_STATS, e->partition, key->p, key->len);
        cf_buf_puts(o, "{\"type\":\"window\"");
        put_common(o, w, e);
        cf_buf_puts(o, ",\"forced\":");
        cf_buf_puts(o, e->forced ? "true" : "false");
        cf_buf_puts(o, ",\"watermark\":");
        if (e->has_watermark)
                cf_json_time(o, e->watermark_ms);
        else
                cf_buf_puts(o, "null");
        cf_buf_puts(o, ",\"records\":");
        cf_json_int(o, (int64_t)w->records);
        cf_buf_puts(o, ",\"value_usd\":");
        cf_json_num(o, w->value_usd);
        cf_buf_puts(o, ",\"flagged\":");
        cf_json_int(o, (int64_t)w->flagged);
        cf_buf_puts(o, ",\"flags_by_rule\":{");
        int first = 1;
        for (int i = 0; i < cf_n_rule_names && i < CF_AGG_RULES; i++) {
                if (!w->flags[i]) continue;
                if (!first) cf_buf_putc(o, ',');
                first = 0;
                cf_json_key(o, cf_rule_names[i]);
                cf_json_int(o, (int64_t)w->flags[i]);
        }
        cf_buf_puts(o, "},\"duplicates\":");
        cf_json_int(o, (int64_t)(w->duplicates + e->extra_duplicates));
        cf_buf_puts(o, ",\"dead_letters\":");
        cf_json_int(o, (int64_t)(w->dead_letters + e->extra_dead_letters));
        cf_buf_puts(o, ",\"groups\":");
        cf_json_int(o, w->ngroups);
        cf_buf_puts(o, ",\"overflow_records\":");
        cf_json_int(o, (int64_t)w->overflow_records);
        cf_buf_puts(o, ",\"overflow_value_usd\":");
        cf_json_num(o, w->overflow_value_usd);
        cf_buf_puts(o, ",\"unit_overflow_records\":");
        cf_json_int(o, (int64_t)w->unit_overflow);
        uint64_t late = e->late_unattributed;
        for (size_t i = 0; i < e->n_late; i++)
                late += e->late[i].count;
        cf_buf_puts(o, ",\"late\":");
        cf_json_int(o, (int64_t)late);
        cf_buf_puts(o, ",\"late_records\":[");
        for (size_t i = 0; i < e->n_late; i++) {
                if (i) cf_buf_putc(o, ',');
                cf_buf_puts(o, "{\"window_start\":");
                cf_json_time(o, e->late[i].window_start);
                cf_buf_puts(o, ",\"count\":");
                cf_json_int(o, (int64_t)e->late[i].count);
                cf_buf_puts(o, ",\"value_usd\":");
                cf_json_num(o, e->late[i].value_usd);
                cf_buf_putc(o, '}');
        }
        cf_buf_puts(o, "],\"late_unattributed\":");
        cf_json_int(o, (int64_t)e->late_unattributed);
        cf_buf_puts(o, ",\"top_exporters\":[");
        cf_ss_entry top[64];
        size_t k = l->top_k < 64 ? l->top_k : 64;
        size_t n = cf_ss_top(&w->top, k, top);
        for (size_t i = 0; i < n; i++) {
                if (i) cf_buf_putc(o, ',');
                cf_buf_puts(o, "{\"exporter_id\":");
                cf_json_str(o, top[i].key, top[i].len);
                cf_buf_puts(o, ",\"value_usd\":");
                cf_json_num(o, top[i].count);
                cf_buf_puts(o, ",\"error\":");
                cf_json_num(o, top[i].err);
                cf_buf_putc(o, '}');
        }
        cf_buf_puts(o, "],\"distinct_exporters\":");
        cf_json_int(o, (int64_t)llround(cf_hll_estimate(&w->exporters)));
        cf_buf_puts(o, ",\"distinct_importers\":");
        cf_json_int(o, (int64_t)llround(cf_hll_estimate(&w->importers)));
        put_tail(o, e);
        cf_batch_out_end(b);
}

void cf_agg_window_emit(const cf_agg_window *w, const cf_agg_limits *l, const cf_agg_emit *e,
                        cf_batch *b)
{
        /* Key "<window_start>/<partition>/<group or window>": one key per
         * message that a later emission of the same window supersedes, so a
         * compacted stats topic keeps the latest (see README). */
        cf_buf kp = {0}, key = {0};
        cf_agg_put_time(&kp, w->start);
        cf_buf_printf(&kp, "/%d/", (int)e->partition);
        cf_agg_group *sorted = NULL;
        if (w->ngroups) {
                /* key order: the same window gives the same message order */
                sorted = malloc((size_t)w->ngroups * sizeof(*sorted));
                if (!sorted) abort();
                memcpy(sorted, w->g, (size_t)w->ngroups * sizeof(*sorted));
                qsort(sorted, w->ngroups, sizeof(*sorted), cmp_group);
        }
        for (uint32_t i = 0; i < w->ngroups; i++)
                emit_group(&sorted[i], w, e, &kp, &key, b);
        emit_summary(w, l, e, &kp, &key, b);
        free(sorted);
        cf_buf_free(&kp);
        cf_buf_free(&key);
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
        double value_usd, overflow_value_usd;
        uint64_t flags[CF_AGG_RULES];
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
                       w->value_usd,
                       w->overflow_value_usd,
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

cf_agg_window *cf_agg_window_restore(const cf_agg_limits *l, const unsigned char **p, size_t *left)
{
        win_fixed f;
        if (*left < sizeof(f)) return NULL;
        memcpy(&f, *p, sizeof(f));
        *p += sizeof(f);
        *left -= sizeof(f);
        if (f.end <= f.start || f.ngroups > l->max_groups || f.ngroups > f.records ||
            (size_t)f.ngroups * sizeof(cf_agg_group) > *left)
                return NULL;
        cf_agg_window *w = cf_agg_window_new(f.start, f.end, l);
        w->records = f.records;
        w->flagged = f.flagged;
        w->duplicates = f.duplicates;
        w->dead_letters = f.dead_letters;
        w->overflow_records = f.overflow_records;
        w->unit_overflow = f.unit_overflow;
        w->value_usd = f.value_usd;
        w->overflow_value_usd = f.overflow_value_usd;
        memcpy(w->flags, f.flags, sizeof(f.flags));
        for (uint32_t i = 0; i < f.ngroups; i++) {
                cf_agg_group g;
                memcpy(&g, *p + (size_t)i * sizeof(g), sizeof(g));
                if (g.key == CF_AGG_EMPTY) goto bad;
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
            cf_ss_restore(&w->top, l->ss_cap, p, left))
                goto bad;
        return w;
bad:
        cf_agg_window_free(w);
        return NULL;
}
