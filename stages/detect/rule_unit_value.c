/*
 * rule_unit_value.c - unit_value_outlier (RULES.md): robust z-score of
 * ln(unit value in USD) against the baseline of (HS6, unit).
 *
 * The baseline is global (detect_population.c): a quantile sketch (lnsketch.h) of
 * every partition's published contributions, holding the current and the
 * previous `baseline_period` of event time. A record is judged against the
 * replica as it stands (median and MAD x 1.4826, refreshed when the replica
 * settles: every sample while the baseline is young, then once it grew by
 * 1/32); a record that does not fire contributes its ln(unit value) to its
 * partition's pending events. A record that fires is not added.
 */
#include <math.h>
#include <string.h>

#include "pipeline/core/intmath.h"
#include "stages/detect/detect_int.h"

/* Occupied buckets a baseline settles to: its memory bound (CF_LNS_BYTES, 1.6 KB), and
 * fine enough for the 2 % accuracy at sigma >= 0.05 (test_lnsketch). A property of the
 * sketch, not a detection threshold. */
#define UV_MAX_BUCKETS 128

typedef struct uv_cfg {
        cf_rule_common c;
        double z;
        int64_t min_samples, max_entries, period_ms;
        double min_spread;
} uv_cfg;

static const cf_config_map uv_map[] = {
    CF_RULE_COMMON_KEYS("50"),
    {CF_CFG_DOUBLE, "z", "4.0", offsetof(uv_cfg, z),
     "fire when |ln(unit value) - median| / (1.4826 MAD) reaches this", 0.5, 100},
    {CF_CFG_INT, "min_samples", "100", offsetof(uv_cfg, min_samples),
     "samples a baseline needs before it may fire", 1, 1e9},
    {CF_CFG_DOUBLE, "min_spread", "0.05", offsetof(uv_cfg, min_spread),
     "floor of the spread (ln units): a baseline of identical prices is not infinitely tight",
     0.001, 10},
    {CF_CFG_DURATION, "baseline_period", "90d", offsetof(uv_cfg, period_ms),
     "generation of event time: a baseline holds the current and the previous one", 86400000LL,
     3650 * 86400000LL},
    {CF_CFG_INT, "max_entries", "100000", offsetof(uv_cfg, max_entries),
     "baselines kept (global replica, at most 1.6 KB each; least recently used evicted, "
     "counted)",
     1, 1e9},
    {0}};

uint64_t cf_uv_key(const cf_decl *d)
{
        return ((uint64_t)d->hs6 << 32) | ((uint64_t)(unsigned char)d->unit[0] << 16) |
               ((uint64_t)(unsigned char)d->unit[1] << 8) | (unsigned char)d->unit[2];
}

void cf_uv_rep_drop(void *opaque, uint64_t key, void *val)
{
        (void)opaque;
        (void)key;
        cf_lns_free(&((cf_uv_rep *)val)->s);
}

void cf_uv_settle(const void *cv, cf_uv_rep *v)
{
        const uv_cfg *cfg = cv;
        cf_lns_settle(&v->s, UV_MAX_BUCKETS);
        uint64_t n = cf_lns_count(&v->s);
        uint64_t moved = n > v->n_at ? n - v->n_at : v->n_at - n;
        v->n = n;
        v->dirty = 0;
        /* read only from min_samples on: refreshed every round while young, then once it
         * grew (or shrank) by 1/32 */
        if (n < (uint64_t)cfg->min_samples ||
            !(n < 2 * (uint64_t)cfg->min_samples || moved * 32 >= n))
                return;
        double med, mad;
        cf_lns_median_mad(&v->s, &med, &mad);
        v->med = med;
        v->spread = 1.4826 * mad;
        v->n_at = n;
}

int64_t cf_uv_period_ms(const void *cv)
{
        return ((const uv_cfg *)cv)->period_ms;
}

void cf_uv_sketch_settle(cf_lns *s)
{
        cf_lns_settle(s, UV_MAX_BUCKETS);
}

/* "unit value 1.61 USD/KGM is 4.1 robust SDs below the median 2.93 for HS 721933
 * over 1,587 samples" */
static void uv_fire(cf_detect *x, cf_batch *b, cf_record *r, const uv_cfg *cfg, const cf_uv_rep *v,
                    double uv, double spread, double z)
{
        const cf_decl *d = &r->decl;
        cf_buf *o = cf_ev_begin(x);
        cf_ev_num(o, "unit_value_usd", uv);
        cf_ev_num(o, "baseline_median_usd", exp(v->med));
        cf_ev_num(o, "baseline_spread_ln", spread);
        cf_ev_num(o, "z", z);
        cf_ev_num(o, "threshold_z", cfg->z);
        cf_ev_num(o, "samples", (double)v->n);
        cf_ev_str(o, "unit", d->unit, strlen(d->unit));
        cf_ev_str(o, "direction", z < 0 ? "undervalued" : "overvalued", z < 0 ? 11 : 10);
        cf_buf_printf(cf_ex_begin(x),
                      "unit value %s USD/%s is %.1f robust SDs %s the median %s for HS %06u over "
                      "%s samples",
                      CF_EX_NUM(uv), d->unit, fabs(z), z < 0 ? "below" : "above",
                      CF_EX_NUM(exp(v->med)), (unsigned)d->hs6, CF_EX_NUM((double)v->n));
        cf_detect_fire(x, b, r, &cf_rule_unit_value_outlier, cfg);
}

static void uv_check(cf_detect *x, cf_detect_part *ps, cf_batch *b, cf_record *r, const void *cv)
{
        const uv_cfg *cfg = cv;
        const cf_decl *d = &r->decl;
        if (!(d->quantity > 0) || !(d->value_usd > 0)) return;
        double uv = d->value_usd / d->quantity, lx = log(uv);
        if (!isfinite(lx)) return;
        uint64_t key = cf_uv_key(d);
        const cf_uv_rep *v = cf_kvtab_get(&x->rep->uv, key);
        if (v && (int64_t)v->n >= cfg->min_samples) {
                double spread = v->spread < cfg->min_spread ? cfg->min_spread : v->spread;
                double z = (lx - v->med) / spread;
                if (fabs(z) >= cfg->z) {
                        uv_fire(x, b, r, cfg, v, uv, spread, z);
                        return;
                }
        }
        cf_uv_event *e = cf_vec_push(&ps->uv_ev, sizeof(*e));
        e->key = key;
        e->t = d->event_time_ms;
        e->gen = (int32_t)cf_floor_div(d->event_time_ms, cfg->period_ms);
        e->fine = cf_lns_fine(lx);
}

static void uv_limits(const void *cv, size_t *max, int64_t *window, uint32_t *vsize)
{
        const uv_cfg *c = cv;
        *max = (size_t)c->max_entries;
        *window = 0; /* a baseline ages by its generations, not by idling */
}

const cf_rule cf_rule_unit_value_outlier = {
    .name = "unit_value_outlier",
    .description = "unit value far from the baseline of (HS6, unit) shared by every partition: "
                   "robust z-score",
    .config_map = uv_map,
    .cfg_size = sizeof(uv_cfg),
    .check = uv_check,
    .replica_off = offsetof(cf_detect_pop, uv),
    .replica_size = sizeof(cf_uv_rep),
    .replica_drop = cf_uv_rep_drop,
    .replica_limits = uv_limits,
};
