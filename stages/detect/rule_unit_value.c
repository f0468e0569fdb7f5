/*
 * rule_unit_value.c - unit_value_outlier (RULES.md): robust z-score of
 * ln(unit value in USD) against a streaming baseline per (HS6, unit).
 *
 * The baseline is a histogram of ln(unit value) in fixed buckets (a
 * streaming quantile sketch: median and MAD are read off the cumulative
 * counts). Counts are halved when one saturates, so old prices fade. The
 * median and spread are recomputed every few samples, not per record, which
 * keeps the per-record cost O(1). A record that fires is not added.
 */
#include <math.h>
#include <string.h>

#include "stages/detect/detect_int.h"

/* Sketch resolution: 0.05 in ln space (5 % price steps) over e^-16..e^16 USD
 * per unit. A property of the sketch, not a detection threshold. */
#define UV_BUCKETS 640
#define UV_WIDTH   0.05
#define UV_LO      (-16.0)

typedef struct uv_cfg {
        cf_rule_common c;
        double z;
        int64_t min_samples, max_entries;
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
    {CF_CFG_INT, "max_entries", "200000", offsetof(uv_cfg, max_entries),
     "baselines kept per input partition (least recently used evicted, counted)", 1, 1e9},
    {0}};

typedef struct uv_val {
        int64_t last_ms;
        uint32_t n;       /* samples in the histogram (after halvings) */
        uint32_t pending; /* samples since the median/spread were computed */
        uint64_t total;   /* samples ever added */
        float med, spread;
        uint16_t h[UV_BUCKETS];
} uv_val;

static int bucket_of(double lx)
{
        int i = (int)floor((lx - UV_LO) / UV_WIDTH);
        return i < 0 ? 0 : i >= UV_BUCKETS ? UV_BUCKETS - 1 : i;
}

static double center(int i)
{
        return UV_LO + (i + 0.5) * UV_WIDTH;
}

/* Median and MAD from the histogram (bucket centres). */
static void recompute(uv_val *v)
{
        uint32_t half = (v->n + 1) / 2, acc = 0;
        int m = 0;
        for (; m < UV_BUCKETS; m++)
                if ((acc += v->h[m]) >= half) break;
        if (m == UV_BUCKETS) m = UV_BUCKETS - 1;
        double med = center(m);
        /* walk outward from the median bucket in order of distance */
        int lo = m, hi = m + 1;
        acc = 0;
        double mad = 0;
        while (lo >= 0 || hi < UV_BUCKETS) {
                double dl = lo >= 0 ? med - center(lo) : INFINITY;
                double dh = hi < UV_BUCKETS ? center(hi) - med : INFINITY;
                if (dl <= dh) {
                        acc += v->h[lo--];
                        mad = dl;
                } else {
                        acc += v->h[hi++];
                        mad = dh;
                }
                if (acc >= half) break;
        }
        v->med = (float)med;
        v->spread = (float)(1.4826 * mad);
        v->pending = 0;
}

static void add(uv_val *v, int i)
{
        if (v->h[i] == UINT16_MAX) { /* halve: old prices fade */
                v->n = 0;
                for (int k = 0; k < UV_BUCKETS; k++)
                        v->n += (v->h[k] = (uint16_t)(v->h[k] / 2));
        }
        v->h[i]++;
        v->n++;
        v->total++;
        v->pending++;
}

static uint64_t uv_key(const cf_decl *d)
{
        return ((uint64_t)d->hs6 << 32) | ((uint64_t)(unsigned char)d->unit[0] << 16) |
               ((uint64_t)(unsigned char)d->unit[1] << 8) | (unsigned char)d->unit[2];
}

static void uv_check(cf_detect *x, cf_detect_part *ps, cf_batch *b, cf_record *r, const void *cv)
{
        const uv_cfg *cfg = cv;
        const cf_decl *d = &r->decl;
        if (!(d->quantity > 0) || !(d->value_usd > 0)) return;
        double uv = d->value_usd / d->quantity, lx = log(uv);
        uv_val *v = cf_kvtab_put(&ps->uv, uv_key(d), d->event_time_ms, NULL);
        /* refresh every sample while the baseline is young, then once n grew by 1/32 */
        if (v->n && (v->pending * 32 >= v->n || v->n < 2 * cfg->min_samples)) recompute(v);
        if ((int64_t)v->n >= cfg->min_samples) {
                double spread = v->spread < cfg->min_spread ? cfg->min_spread : v->spread;
                double z = (lx - v->med) / spread;
                if (fabs(z) >= cfg->z) {
                        cf_buf *o = cf_ev_begin(x);
                        cf_ev_num(o, "unit_value_usd", uv);
                        cf_ev_num(o, "baseline_median_usd", exp(v->med));
                        cf_ev_num(o, "baseline_spread_ln", spread);
                        cf_ev_num(o, "z", z);
                        cf_ev_num(o, "threshold_z", cfg->z);
                        cf_ev_num(o, "samples", v->n);
                        cf_ev_str(o, "unit", d->unit, strlen(d->unit));
                        cf_ev_str(o, "direction", z < 0 ? "undervalued" : "overvalued",
                                  z < 0 ? 11 : 10);
                        /* "unit value 1.61 USD/KGM is 4.1 robust SDs below the median 2.93
                         * for HS 721933 over 1,587 samples" */
                        cf_buf_printf(cf_ex_begin(x),
                                      "unit value %s USD/%s is %.1f robust SDs %s the median %s "
                                      "for HS %06u over %s samples",
                                      CF_EX_NUM(uv), d->unit, fabs(z), z < 0 ? "below" : "above",
                                      CF_EX_NUM(exp(v->med)), (unsigned)d->hs6, CF_EX_NUM(v->n));
                        cf_detect_fire(x, b, r, &cf_rule_unit_value_outlier, cfg);
                        return;
                }
        }
        add(v, bucket_of(lx));
}

static void uv_limits(const void *cv, size_t *max, int64_t *window, uint32_t *vsize)
{
        const uv_cfg *c = cv;
        *max = (size_t)c->max_entries;
        *window = 0;
}

/* State value: last_ms, n, pending, total, med, spread, then the histogram:
 * version 2 the non-empty buckets (u16 count, then u16 index ascending and
 * u16 count each: a baseline fills a few dozen of 640), version 1 all 640. */
static void uv_put(cf_buf *out, const void *val)
{
        const uv_val *v = val;
        cf_st_put_i64(out, v->last_ms);
        cf_st_put_u32(out, v->n);
        cf_st_put_u32(out, v->pending);
        cf_st_put_u64(out, v->total);
        cf_st_put_f32(out, v->med);
        cf_st_put_f32(out, v->spread);
        uint16_t nz = 0;
        for (int i = 0; i < UV_BUCKETS; i++)
                nz += v->h[i] != 0;
        cf_st_put_u16(out, nz);
        for (int i = 0; i < UV_BUCKETS; i++)
                if (v->h[i]) {
                        cf_st_put_u16(out, (uint16_t)i);
                        cf_st_put_u16(out, v->h[i]);
                }
}

static bool uv_get_hist(cf_st_dec *d, int version, uv_val *v)
{
        if (version == 1) {
                for (int i = 0; i < UV_BUCKETS; i++)
                        v->h[i] = cf_st_u16(d);
                return cf_st_ok(d);
        }
        unsigned nz = cf_st_u16(d);
        if (nz > UV_BUCKETS) return cf_st_fail(d, "%u buckets > %d", nz, UV_BUCKETS);
        int prev = -1;
        for (unsigned k = 0; k < nz && cf_st_ok(d); k++) {
                int i = cf_st_u16(d);
                uint16_t c = cf_st_u16(d);
                if (cf_st_ok(d) && (i <= prev || i >= UV_BUCKETS || !c))
                        return cf_st_fail(d, "bucket %d after %d (of %d) or empty", i, prev,
                                          UV_BUCKETS);
                v->h[i < UV_BUCKETS ? i : 0] = c;
                prev = i;
        }
        return cf_st_ok(d);
}

static bool uv_get(cf_st_dec *d, int version, void *val, const void *cfg)
{
        (void)cfg; /* the histogram's shape is fixed (UV_*), not configured */
        uv_val *v = val;
        v->last_ms = cf_st_time(d, "last use");
        v->n = cf_st_u32(d);
        v->pending = cf_st_u32(d);
        v->total = cf_st_u64(d);
        v->med = cf_st_f32(d);
        v->spread = cf_st_f32(d);
        if (!uv_get_hist(d, version, v)) return false;
        uint64_t sum = 0;
        for (int i = 0; i < UV_BUCKETS; i++)
                sum += v->h[i];
        /* total (samples ever added) and pending only count: any value is safe */
        if (sum != v->n || !isfinite(v->med) || !(v->spread >= 0) || !isfinite(v->spread))
                return cf_st_fail(d,
                                  "baseline of %u samples (histogram %llu), median %g, spread %g "
                                  "inconsistent",
                                  v->n, (unsigned long long)sum, v->med, v->spread);
        return true;
}

const cf_rule cf_rule_unit_value_outlier = {
    .name = "unit_value_outlier",
    .description = "unit value far from the streaming baseline of (HS6, unit): robust z-score",
    .config_map = uv_map,
    .cfg_size = sizeof(uv_cfg),
    .check = uv_check,
    .state_limits = uv_limits,
    .table_off = offsetof(cf_detect_part, uv),
    .value_size = sizeof(uv_val),
    .state_put = uv_put,
    .state_get = uv_get,
};
