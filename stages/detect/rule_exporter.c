/*
 * rule_exporter.c - the rules about an exporter's history (RULES.md):
 * new_exporter_surge (first seen recently, already ships a lot) and
 * capacity_exceeded (ships more than its registered production capacity).
 * Records are keyed by exporter_id, so an exporter's history lives in one
 * partition (DESIGN §6).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "stages/detect/detect_int.h"

#define DAY_MS 86400000LL

/* ---- new_exporter_surge ---- */

typedef struct nes_cfg {
        cf_rule_common c;
        int64_t new_ms, warmup_ms, window_ms, max_entries;
        double max_value_usd;
} nes_cfg;

static const cf_config_map nes_map[] = {
    CF_RULE_COMMON_KEYS("50"),
    {CF_CFG_DURATION, "new_days", "90d", offsetof(nes_cfg, new_ms),
     "an exporter first seen (or registered) less than this before a record is new", 0,
     3650 * 86400e3},
    {CF_CFG_DOUBLE, "max_value_usd", "1000000", offsetof(nes_cfg, max_value_usd),
     "fire when a new exporter's cumulative value since first seen exceeds this", 0, 1e18},
    {CF_CFG_DURATION, "warmup", "30d", offsetof(nes_cfg, warmup_ms),
     "exporters first seen this soon after the stream's first record (the earliest any "
     "partition published) were trading before "
     "observation began: their age is unknown and they are not new (unless the registry dates "
     "them)",
     0, 3650 * 86400e3},
    {CF_CFG_DURATION, "window", "400d", offsetof(nes_cfg, window_ms),
     "an exporter idle this long is forgotten", 3600e3, 3650 * 86400e3},
    {CF_CFG_INT, "max_entries", "2000000", offsetof(nes_cfg, max_entries),
     "exporters kept per input partition (least recently used evicted, counted)", 1, 1e10},
    {0}};

typedef struct exp_val {
        int64_t last_ms;
        int64_t first_ms;
        double cum_value;
} exp_val;

/* The registry's registration date of exporter id (-1 when unknown). */
static int64_t registered_ms(const cf_detect_ref *ref, const cf_str *id, uint64_t h)
{
        int64_t best = -1;
        for (uint32_t i = cf_reg_next(ref, id, h, cf_index_find(&ref->reg_ix, h)); i < ref->n_reg;
             i = cf_reg_next(ref, id, h, i + 1)) {
                const cf_reg_row *g = &ref->reg[i];
                if (g->registered_ms >= 0 && (best < 0 || g->registered_ms < best))
                        best = g->registered_ms;
        }
        return best;
}

static void nes_check(cf_detect *x, cf_detect_part *ps, cf_batch *b, cf_record *r, const void *cv)
{
        const nes_cfg *cfg = cv;
        const cf_decl *d = &r->decl;
        int64_t t = d->event_time_ms;
        uint64_t h = x->exp_h;
        bool created;
        exp_val *v = cf_kvtab_put(&ps->exp, h, t, &created);
        if (created || t < v->first_ms) v->first_ms = t;
        v->cum_value += d->value_usd;
        int64_t first = v->first_ms, reg = registered_ms(&x->ref, &d->exporter_id, h);
        const char *src = "stream";
        if (reg >= 0 && reg < first) {
                first = reg;
                src = "registry";
        } else if (reg < 0 && (x->rep->first_ms == INT64_MAX ||
                               v->first_ms < x->rep->first_ms + cfg->warmup_ms)) {
                return; /* seen since observation began (the earliest event time any
                         * partition published): age unknown */
        }
        if (t - first >= cfg->new_ms || !(v->cum_value > cfg->max_value_usd)) return;
        cf_buf *o = cf_ev_begin(x);
        cf_ev_time(o, "first_seen", first);
        cf_ev_str(o, "first_seen_source", src, strlen(src));
        cf_ev_num(o, "days_since_first_seen", floor((double)(t - first) / DAY_MS));
        cf_ev_num(o, "cumulative_value_usd", v->cum_value);
        cf_ev_num(o, "threshold_usd", cfg->max_value_usd);
        /* "new exporter TH-E1 (first seen in the stream on 2025-01-03, 41 days ago) has shipped
         * USD 1,520,000 since, above the USD 1,000,000 threshold" */
        cf_buf_printf(cf_ex_begin(x),
                      "new exporter %.*s (%s on %s, %s days ago) has shipped USD %s since, above "
                      "the USD %s threshold",
                      (int)d->exporter_id.n, d->exporter_id.p,
                      src[0] == 's' ? "first seen in the stream" : "registered", CF_EX_DATE(first),
                      CF_EX_NUM(floor((double)(t - first) / DAY_MS)), CF_EX_NUM(v->cum_value),
                      CF_EX_NUM(cfg->max_value_usd));
        cf_detect_fire(x, b, r, &cf_rule_new_exporter_surge, cfg);
}

static void nes_limits(const void *cv, size_t *max, int64_t *window, uint32_t *vsize)
{
        const nes_cfg *c = cv;
        *max = (size_t)c->max_entries;
        *window = c->window_ms;
}

/* State value (both versions): last_ms, first_ms, cum_value (f64). */
static void nes_put(cf_buf *out, const void *val)
{
        const exp_val *v = val;
        cf_st_put_i64(out, v->last_ms);
        cf_st_put_i64(out, v->first_ms);
        cf_st_put_f64(out, v->cum_value);
}

static bool nes_get(cf_st_dec *d, int version, void *val, const void *cfg)
{
        (void)version;
        (void)cfg;
        exp_val *v = val;
        v->last_ms = cf_st_time(d, "last use");
        v->first_ms = cf_st_time(d, "first seen");
        v->cum_value = cf_st_f64_nonneg(d, "cumulative value");
        if (cf_st_ok(d) && v->first_ms > v->last_ms)
                return cf_st_fail(d, "first seen %lld after last use %lld", (long long)v->first_ms,
                                  (long long)v->last_ms);
        return cf_st_ok(d);
}

const cf_rule cf_rule_new_exporter_surge = {
    .name = "new_exporter_surge",
    .description = "an exporter first seen recently already ships more than a threshold",
    .config_map = nes_map,
    .cfg_size = sizeof(nes_cfg),
    .check = nes_check,
    .state_limits = nes_limits,
    .table_off = offsetof(cf_detect_part, exp),
    .value_size = sizeof(exp_val),
    .state_put = nes_put,
    .state_get = nes_get,
};

/* ---- capacity_exceeded ---- */

typedef struct cap_cfg {
        cf_rule_common c;
        double tolerance;
        int64_t max_entries;
} cap_cfg;

static const cf_config_map cap_map[] = {
    CF_RULE_COMMON_KEYS("60"),
    {CF_CFG_DOUBLE, "tolerance", "1.0", offsetof(cap_cfg, tolerance),
     "fire when the quantity over the registry row's period exceeds capacity x tolerance", 0.01,
     1000},
    {CF_CFG_INT, "max_entries", "100000", offsetof(cap_cfg, max_entries),
     "(exporter, registry row) windows kept per input partition (1.5 KB each; least recently "
     "used evicted, counted)",
     1, 1e9},
    {0}};

/* The rolling window of one (exporter, registry row): quantity per day of event
 * time in a ring of CF_CAP_MAX_DAYS days (the longest period), and the sum over the
 * row's period ending at the newest day seen. */
typedef struct cap_val {
        int64_t last_ms;
        int64_t cur_day;                /* newest day in the ring (days since 1970) */
        double sum;                     /* quantity in days (cur_day - period, cur_day] */
        uint32_t period;                /* the period the sum is for (a reload may change it) */
        float day[CF_CAP_MAX_DAYS + 1]; /* by day % CF_CAP_MAX_DAYS; one spare for alignment */
} cap_val;

static inline float *cap_bucket(cap_val *v, int64_t day)
{
        return &v->day[(size_t)(day % CF_CAP_MAX_DAYS)];
}

/* Move the window to end at day `to` (clearing the days passed) and re-add its sum:
 * once per day per window, so floating error does not build up. */
static void cap_advance(cap_val *v, int64_t to, uint32_t period)
{
        int64_t steps = to - v->cur_day;
        if (steps > CF_CAP_MAX_DAYS) steps = CF_CAP_MAX_DAYS;
        for (int64_t i = steps - 1; i >= 0; i--)
                *cap_bucket(v, to - i) = 0;
        v->cur_day = to;
        v->period = period;
        v->sum = 0;
        for (uint32_t i = 0; i < period; i++)
                v->sum += *cap_bucket(v, to - i);
}

/* Add q on day d to the window of registry row g; false when d is before the window. */
static bool cap_add(cap_val *v, bool created, int64_t d, uint32_t period, double q)
{
        if (created) {
                v->cur_day = d;
                v->period = period;
        }
        if (d > v->cur_day || v->period != period)
                cap_advance(v, d > v->cur_day ? d : v->cur_day, period);
        if (d <= v->cur_day - period) return false; /* a late record outside the window */
        *cap_bucket(v, d) += (float)q;
        v->sum += q;
        return true;
}

bool cf_cap_convert(void *val, int64_t day, double qty)
{
        cap_val *v = val;
        v->cur_day = day;
        v->period = CF_CAP_MAX_DAYS; /* recomputed for the row's period on its next line */
        *cap_bucket(v, day) = (float)qty;
        v->sum = qty;
        return true;
}

/* "exporter VN-R000001 has shipped 1,200,000 NMB of HS 854142 in the 30 days from 2025-03-01
 * to 2025-03-30, above its registered capacity of 1,000,000 NMB per 30 days" */
static void cap_explain(cf_detect *x, const cf_str *id, const cf_reg_row *g, const cap_val *v,
                        double tolerance)
{
        cf_buf *e = cf_ex_begin(x);
        size_t pl = strlen(g->hs_prefix);
        cf_buf_printf(e,
                      "exporter %.*s has shipped %s %s of HS %.*s in the %u days from %s to %s, "
                      "above its registered capacity of %s %s per %u days",
                      (int)id->n, id->p, CF_EX_NUM(v->sum), g->unit, (int)pl, g->hs_prefix,
                      (unsigned)g->period_days,
                      CF_EX_DATE((v->cur_day - g->period_days + 1) * DAY_MS),
                      CF_EX_DATE(v->cur_day * DAY_MS), CF_EX_NUM(g->capacity), g->unit,
                      (unsigned)g->period_days);
        if (tolerance != 1.0) cf_buf_printf(e, " times a tolerance of %s", CF_EX_NUM(tolerance));
}

static void cap_fire(cf_detect *x, cf_batch *b, cf_record *r, const cf_reg_row *g, const cap_val *v,
                     const cap_cfg *cfg)
{
        cf_buf *o = cf_ev_begin(x);
        cf_ev_num(o, "cumulative_quantity", v->sum);
        cf_ev_num(o, "capacity", g->capacity);
        cf_ev_num(o, "period_days", g->period_days);
        cf_ev_num(o, "tolerance", cfg->tolerance);
        cf_ev_time(o, "window_start", (v->cur_day - g->period_days + 1) * DAY_MS);
        cf_ev_time(o, "window_end", (v->cur_day + 1) * DAY_MS);
        cf_ev_str(o, "unit", g->unit, strlen(g->unit));
        cf_ev_str(o, "registry_hs_prefix", g->hs_prefix, strlen(g->hs_prefix));
        cf_ev_cc(o, "registry_country", g->country);
        cap_explain(x, &r->decl.exporter_id, g, v, cfg->tolerance);
        cf_detect_fire(x, b, r, &cf_rule_capacity_exceeded, cfg);
}

static void cap_check(cf_detect *x, cf_detect_part *ps, cf_batch *b, cf_record *r, const void *cv)
{
        const cap_cfg *cfg = cv;
        const cf_decl *d = &r->decl;
        const cf_detect_ref *ref = &x->ref;
        if (!ref->n_reg || d->event_time_ms < 0) return;
        uint64_t h = x->exp_h;
        const cf_str *id = &d->exporter_id;
        int64_t day = d->event_time_ms / DAY_MS;
        for (uint32_t i = cf_reg_next(ref, id, h, cf_index_find(&ref->reg_ix, h)); i < ref->n_reg;
             i = cf_reg_next(ref, id, h, i + 1)) {
                const cf_reg_row *g = &ref->reg[i];
                size_t pl = strlen(g->hs_prefix);
                if (isnan(g->capacity) || strcmp(g->unit, d->unit) || pl > d->hs_code.n ||
                    memcmp(g->hs_prefix, d->hs_code.p, pl))
                        continue;
                bool created;
                cap_val *v =
                    cf_kvtab_put(&ps->cap, h ^ ((uint64_t)(g->index + 1) * 0x9E3779B97F4A7C15ull),
                                 d->event_time_ms, &created);
                if (!cap_add(v, created, day, g->period_days, d->quantity)) continue;
                if (!(v->sum > g->capacity * cfg->tolerance)) continue;
                cap_fire(x, b, r, g, v, cfg);
                return;
        }
}

static void cap_limits(const void *cv, size_t *max, int64_t *window, uint32_t *vsize)
{
        const cap_cfg *c = cv;
        *max = (size_t)c->max_entries;
        *window = (CF_CAP_MAX_DAYS + 1) * DAY_MS; /* idle longer: every day left the window */
}

/* State value, version 2: last_ms, cur_day (i64), sum (f64), period (u32),
 * the days with a quantity (u16 count, then u16 ring index ascending and f32
 * quantity each: a window of 366 days holds a few dozen shipping days). */
static void cap_put(cf_buf *out, const void *val)
{
        const cap_val *v = val;
        cf_st_put_i64(out, v->last_ms);
        cf_st_put_i64(out, v->cur_day);
        cf_st_put_f64(out, v->sum);
        cf_st_put_u32(out, v->period);
        uint16_t nz = 0;
        for (int i = 0; i < CF_CAP_MAX_DAYS; i++)
                nz += v->day[i] != 0;
        cf_st_put_u16(out, nz);
        for (int i = 0; i < CF_CAP_MAX_DAYS; i++)
                if (v->day[i] != 0) {
                        cf_st_put_u16(out, (uint16_t)i);
                        cf_st_put_f32(out, v->day[i]);
                }
}

static bool cap_get(cf_st_dec *d, int version, void *val, const void *cfg)
{
        (void)cfg; /* the ring's size is fixed (CF_CAP_MAX_DAYS); periods come from the registry */
        cap_val *v = val;
        if (version == 1) /* release 1-2 tables go through detect_convert.c */
                return cf_st_fail(d, "capacity table of release 1-2 not converted");
        v->last_ms = cf_st_time(d, "last use");
        v->cur_day = cf_st_i64(d);
        v->sum = cf_st_f64_nonneg(d, "window quantity");
        v->period = cf_st_u32(d);
        unsigned nz = cf_st_u16(d);
        if (!cf_st_ok(d)) return false;
        if (v->cur_day < 0 || v->cur_day > CF_ST_TIME_LIMIT_MS / DAY_MS || v->period < 1 ||
            v->period > CF_CAP_MAX_DAYS || nz > CF_CAP_MAX_DAYS)
                return cf_st_fail(d, "window ending day %lld of %u days (%u with a quantity)",
                                  (long long)v->cur_day, v->period, nz);
        int prev = -1;
        for (unsigned k = 0; k < nz && cf_st_ok(d); k++) {
                int i = cf_st_u16(d);
                float q = cf_st_f32(d);
                if (cf_st_ok(d) && (i <= prev || i >= CF_CAP_MAX_DAYS || !(q >= 0) || isinf(q)))
                        return cf_st_fail(d, "day %d (after %d) with quantity %g", i, prev, q);
                v->day[i < CF_CAP_MAX_DAYS ? i : 0] = q;
                prev = i;
        }
        return cf_st_ok(d);
}

const cf_rule cf_rule_capacity_exceeded = {
    .name = "capacity_exceeded",
    .description = "an exporter's quantity over a rolling period (the registry row's) exceeds its "
                   "registered capacity for that period",
    .config_map = cap_map,
    .cfg_size = sizeof(cap_cfg),
    .check = cap_check,
    .state_limits = cap_limits,
    .table_off = offsetof(cf_detect_part, cap),
    .value_size = sizeof(cap_val),
    .state_put = cap_put,
    .state_get = cap_get,
};
