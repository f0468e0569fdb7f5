/*
 * rule_volume.c - origin_volume_surge (RULES.md): the value of (origin, HS6)
 * in a sliding short window (hourly buckets) against its long-run daily
 * average over the preceding long window (daily buckets), in event time.
 *
 * A surge is judged on value and, optionally, on the number of declarations
 * (count_ratio): one large but ordinary consignment of a rarely traded pair
 * is not diverted trade, many new declarations are.
 */
#include <math.h>
#include <string.h>

#include "stages/detect/detect_int.h"

#define VOL_MAX_HOURS 72 /* longest short window */
#define VOL_MAX_DAYS  90 /* longest long window */
#define HOUR_MS       3600000LL
#define DAY_MS        86400000LL

typedef struct vol_cfg {
        cf_rule_common c;
        int64_t short_ms, long_ms, history_ms;
        double k, count_k, min_baseline_usd, min_baseline_count;
        int64_t max_entries;
} vol_cfg;

static const cf_config_map vol_map[] = {
    CF_RULE_COMMON_KEYS("50"),
    {CF_CFG_DURATION, "short_window", "1d", offsetof(vol_cfg, short_ms),
     "sliding window of the surge (hourly buckets, at most 72h)", HOUR_MS, VOL_MAX_HOURS *HOUR_MS},
    {CF_CFG_DURATION, "long_window", "30d", offsetof(vol_cfg, long_ms),
     "long-run baseline window before the short window (daily buckets, at most 90d)", DAY_MS,
     VOL_MAX_DAYS *DAY_MS},
    {CF_CFG_DURATION, "min_history", "14d", offsetof(vol_cfg, history_ms),
     "observation (the partition's first record to the short window) needed before the rule may "
     "fire",
     0, 365 * DAY_MS},
    {CF_CFG_DOUBLE, "k", "5", offsetof(vol_cfg, k),
     "fire when the short-window value exceeds k x the baseline daily value", 1, 1e6},
    {CF_CFG_DOUBLE, "count_ratio", "5", offsetof(vol_cfg, count_k),
     "also require the short-window declaration count to exceed this x the baseline daily "
     "count (0: value only)",
     0, 1e6},
    {CF_CFG_DOUBLE, "min_baseline_usd", "10000", offsetof(vol_cfg, min_baseline_usd),
     "floor of the baseline daily value", 0, 1e15},
    {CF_CFG_DOUBLE, "min_baseline_count", "2", offsetof(vol_cfg, min_baseline_count),
     "floor of the baseline daily declaration count (with count_ratio)", 0, 1e9},
    {CF_CFG_INT, "max_entries", "200000", offsetof(vol_cfg, max_entries),
     "(origin, HS6) pairs kept per input partition (least recently used evicted, counted)", 1, 1e9},
    {0}};

/* A pair's state: a header, then an hour ring (short window) and a day ring
 * (baseline), sized from the configured windows when the table is made so
 * the value stays small (~350 bytes with the defaults). */
typedef struct vol_val {
        int64_t last_ms;
        int64_t first_ms; /* first event of the pair */
        int64_t cur_hour, cur_day;
        uint64_t last_decl;     /* hash of the last declaration counted: lines count once */
        int64_t long_day;       /* the day ds the cached baseline sums are for (-1: none) */
        double short_v, long_v; /* running short-window sums; cached baseline sums */
        uint32_t short_n, long_n, long_days;
        uint16_t nh, nd; /* ring sizes: hours, days */
        float ring[];    /* hv[nh], dv[nd], then uint16 hc[nh], dc[nd] */
} vol_val;

static inline float *hv(vol_val *v)
{
        return v->ring;
}
static inline float *dv(vol_val *v)
{
        return v->ring + v->nh;
}
static inline uint16_t *hc(vol_val *v)
{
        return (uint16_t *)(v->ring + v->nh + v->nd);
}
static inline uint16_t *dc(vol_val *v)
{
        return hc(v) + v->nh;
}

/* Ring sizes for a config: the short window's hours; the baseline's days
 * plus the days the short window spans plus today. */
static void ring_sizes(const vol_cfg *c, uint16_t *nh, uint16_t *nd)
{
        *nh = (uint16_t)(c->short_ms / HOUR_MS);
        *nd = (uint16_t)(c->long_ms / DAY_MS + (*nh + 23) / 24 + 2);
}

/* Move a ring of n buckets (values v, counts c) whose newest bucket is *cur
 * forward to `to`, clearing the buckets passed. */
static void ring_advance(float *v, uint16_t *c, uint16_t n, int64_t *cur, int64_t to)
{
        if (to <= *cur) return;
        int64_t steps = to - *cur > n ? n : to - *cur;
        for (int64_t i = 1; i <= steps; i++) {
                size_t s = (size_t)((to - steps + i) % n);
                v[s] = 0;
                c[s] = 0;
        }
        *cur = to;
}

/* Short-window sums (the whole hour ring), recomputed only when the hour
 * moves: a record otherwise costs O(1). */
static void short_sums(vol_val *v)
{
        double sv = 0;
        uint32_t sc = 0;
        for (int64_t i = 0; i < v->nh; i++) {
                sv += hv(v)[i];
                sc += hc(v)[i];
        }
        v->short_v = sv;
        v->short_n = sc;
}

/* Baseline sums over the nd whole days before day ds, cached per ds: those
 * days are closed, late records for them aside. */
static void long_sums(vol_val *v, int64_t ds, int64_t nd)
{
        double lv = 0;
        uint32_t lc = 0;
        for (int64_t i = 1; i <= nd; i++) {
                /* days before 1970 are in no ring (the rule counts times >= 0): a
                 * negative day would index before the ring */
                if (ds - i < 0 || ds - i > v->cur_day || ds - i <= v->cur_day - v->nd) continue;
                size_t s = (size_t)((ds - i) % v->nd);
                lv += dv(v)[s];
                lc += dc(v)[s];
        }
        v->long_v = lv;
        v->long_n = lc;
        v->long_day = ds;
        v->long_days = (uint32_t)nd;
}

/* "USD 1,230,000 from VN under HS 854231 in the last 24 h on 12 declarations: 8.3
 * times its daily baseline of USD 148,000 (2.1 declarations a day); more than 5
 * times fires". Below the floor the ratio is to the floor, and the sentence says so. */
static void vol_explain(cf_detect *x, const cf_decl *d, const vol_cfg *cfg, double sv, double sc,
                        double base, double base_n, double floor_v)
{
        cf_buf *e = cf_ex_begin(x);
        cf_buf_printf(
            e, "USD %s from %s under HS %06u in the last %s h on %s declarations: %s times ",
            CF_EX_NUM(sv), CF_EX_CC(d->origin_country), (unsigned)d->hs6,
            CF_EX_NUM((double)(cfg->short_ms / HOUR_MS)), CF_EX_NUM(sc), CF_EX_NUM(sv / floor_v));
        if (base < cfg->min_baseline_usd)
                cf_buf_printf(e, "the minimum daily baseline of USD %s (its own: USD %s, ",
                              CF_EX_NUM(floor_v), CF_EX_NUM(base));
        else
                cf_buf_printf(e, "its daily baseline of USD %s (", CF_EX_NUM(base));
        cf_buf_printf(e, "%s declarations a day); more than %s times fires", CF_EX_NUM(base_n),
                      CF_EX_NUM(cfg->k));
}

static void vol_check(cf_detect *x, cf_detect_part *ps, cf_batch *b, cf_record *r, const void *cv)
{
        const vol_cfg *cfg = cv;
        const cf_decl *d = &r->decl;
        int64_t t = d->event_time_ms;
        if (t < 0) return;
        uint64_t key = ((uint64_t)d->origin_country << 32) | d->hs6;
        bool created;
        vol_val *v = cf_kvtab_put(&ps->vol, key, t, &created);
        int64_t h = t / HOUR_MS, day = t / DAY_MS;
        if (created) {
                ring_sizes(cfg, &v->nh, &v->nd);
                v->first_ms = t;
                v->cur_hour = h;
                v->cur_day = day;
                v->long_day = -1;
        }
        int64_t nh = v->nh; /* the value's layout (a reload may have changed the config) */
        if (t < v->first_ms) v->first_ms = t;
        if (h > v->cur_hour) {
                ring_advance(hv(v), hc(v), v->nh, &v->cur_hour, h);
                short_sums(v);
        }
        ring_advance(dv(v), dc(v), v->nd, &v->cur_day, day);
        /* declarations are counted, not lines: the lines of one declaration
         * arrive together and must not look like a burst of shipments */
        uint32_t newdecl = x->decl_h != v->last_decl;
        v->last_decl = x->decl_h;
        if (h > v->cur_hour - nh) { /* inside the short window */
                size_t s = (size_t)(h % v->nh);
                hv(v)[s] += (float)d->value_usd;
                v->short_v += d->value_usd;
                if (hc(v)[s] < UINT16_MAX) {
                        hc(v)[s] += newdecl;
                        v->short_n += newdecl;
                }
        }
        if (day > v->cur_day - v->nd) {
                size_t s = (size_t)(day % v->nd);
                dv(v)[s] += (float)d->value_usd;
                if (dc(v)[s] < UINT16_MAX) dc(v)[s] += newdecl;
        }
        /* the short window ends at the latest hour seen; the baseline is the
         * whole days before the first day it touches. History is how long the
         * partition has been observed, not how long the pair has traded: a
         * pair never seen in that time has a zero baseline (trade diverted
         * through a new origin). */
        int64_t ds = ((v->cur_hour - nh + 1) * HOUR_MS) / DAY_MS;
        int64_t hist_days = ds - ps->first_ms / DAY_MS;
        if (hist_days <= 0 || hist_days * DAY_MS < cfg->history_ms) return;
        int64_t nd = cfg->long_ms / DAY_MS;
        if (nd > hist_days) nd = hist_days;
        if (nd > v->nd - (nh + 23) / 24 - 2) nd = v->nd - (nh + 23) / 24 - 2;
        if (v->long_day != ds || v->long_days != (uint32_t)nd) long_sums(v, ds, nd);
        double sv = v->short_v, sc = v->short_n;
        double base = v->long_v / (double)nd, base_n = v->long_n / (double)nd;
        double floor_v = base < cfg->min_baseline_usd ? cfg->min_baseline_usd : base;
        double floor_n = base_n < cfg->min_baseline_count ? cfg->min_baseline_count : base_n;
        if (!(sv > cfg->k * floor_v)) return;
        if (cfg->count_k > 0 && !(sc > cfg->count_k * floor_n)) return;
        cf_buf *o = cf_ev_begin(x);
        cf_ev_cc(o, "origin_country", d->origin_country);
        cf_ev_num(o, "hs6", d->hs6);
        cf_ev_num(o, "short_window_value_usd", sv);
        cf_ev_num(o, "short_window_declarations", sc);
        cf_ev_num(o, "baseline_daily_value_usd", base);
        cf_ev_num(o, "baseline_daily_declarations", base_n);
        cf_ev_num(o, "ratio", sv / floor_v);
        cf_ev_num(o, "k", cfg->k);
        cf_ev_num(o, "history_days", (double)hist_days);
        vol_explain(x, d, cfg, sv, sc, base, base_n, floor_v);
        cf_detect_fire(x, b, r, &cf_rule_origin_volume_surge, cfg);
}

static void vol_limits(const void *cv, size_t *max, int64_t *window, uint32_t *vsize)
{
        const vol_cfg *c = cv;
        uint16_t nh, nd;
        ring_sizes(c, &nh, &nd);
        *max = (size_t)c->max_entries;
        *window = c->long_ms + c->short_ms + DAY_MS;
        *vsize = (uint32_t)(sizeof(vol_val) + (nh + nd) * (sizeof(float) + sizeof(uint16_t)));
}

/* State value (both versions): last_ms, first_ms, cur_hour, cur_day (i64),
 * last_decl (u64), long_day (i64), short_v, long_v (f64), short_n, long_n,
 * long_days (u32), nh, nd (u16), then the rings as laid out in memory: hv[nh],
 * dv[nd] (f32), hc[nh], dc[nd] (u16), bucket i of a ring holding hour (day)
 * i mod its size. Version 1 pads the value with zeros to its table's size. */
static void vol_put(cf_buf *out, const void *val)
{
        vol_val *v = (vol_val *)val; /* the ring accessors take a mutable value */
        cf_st_put_i64(out, v->last_ms);
        cf_st_put_i64(out, v->first_ms);
        cf_st_put_i64(out, v->cur_hour);
        cf_st_put_i64(out, v->cur_day);
        cf_st_put_u64(out, v->last_decl);
        cf_st_put_i64(out, v->long_day);
        cf_st_put_f64(out, v->short_v);
        cf_st_put_f64(out, v->long_v);
        cf_st_put_u32(out, v->short_n);
        cf_st_put_u32(out, v->long_n);
        cf_st_put_u32(out, v->long_days);
        cf_st_put_u16(out, v->nh);
        cf_st_put_u16(out, v->nd);
        for (int i = 0; i < v->nh; i++)
                cf_st_put_f32(out, hv(v)[i]);
        for (int i = 0; i < v->nd; i++)
                cf_st_put_f32(out, dv(v)[i]);
        for (int i = 0; i < v->nh; i++)
                cf_st_put_u16(out, hc(v)[i]);
        for (int i = 0; i < v->nd; i++)
                cf_st_put_u16(out, dc(v)[i]);
}

/* Where bucket s of a ring of sn buckets whose newest is `cur` goes in a
 * ring of dn <= sn buckets: -1 when it is older than dn buckets. */
static int64_t refit(int64_t cur, uint16_t sn, uint16_t dn, uint16_t s)
{
        int64_t age = ((cur % sn) - s + sn) % sn;
        if (age >= dn || cur - age < 0) return -1;
        return (cur - age) % dn;
}

/* Read a ring of sn buckets into one of dn (the newest buckets kept). */
static void get_ring(cf_st_dec *d, float *fv, uint16_t sn, uint16_t dn, int64_t cur)
{
        for (uint16_t s = 0; s < sn; s++) {
                int64_t i = refit(cur, sn, dn, s);
                float f = cf_st_f32(d);
                if (!(f >= 0) || isinf(f)) cf_st_fail(d, "ring value %g", f);
                if (i >= 0) fv[i] = f;
        }
}

static void get_counts(cf_st_dec *d, uint16_t *cv, uint16_t sn, uint16_t dn, int64_t cur)
{
        for (uint16_t s = 0; s < sn; s++) {
                int64_t i = refit(cur, sn, dn, s);
                uint16_t c = cf_st_u16(d);
                if (i >= 0) cv[i] = c;
        }
}

/* Header fields; false (reason in d) when out of what any config makes. */
static bool vol_get_header(cf_st_dec *d, vol_val *v)
{
        v->last_ms = cf_st_time(d, "last use");
        v->first_ms = cf_st_time(d, "first event");
        v->cur_hour = cf_st_i64(d);
        v->cur_day = cf_st_i64(d);
        v->last_decl = cf_st_u64(d);
        v->long_day = cf_st_i64(d);
        v->short_v = cf_st_f64_nonneg(d, "short-window value");
        v->long_v = cf_st_f64_nonneg(d, "baseline value");
        v->short_n = cf_st_u32(d);
        v->long_n = cf_st_u32(d);
        v->long_days = cf_st_u32(d);
        v->nh = cf_st_u16(d);
        v->nd = cf_st_u16(d);
        if (!cf_st_ok(d)) return false;
        /* the rule counts event times >= 0 only (vol_check) */
        /* (long_day only keys the cached sums: any day is safe) */
        if (v->first_ms < 0 || v->cur_hour < 0 || v->cur_day < 0 ||
            v->cur_hour > CF_ST_TIME_LIMIT_MS / HOUR_MS ||
            v->cur_day > CF_ST_TIME_LIMIT_MS / DAY_MS ||
            v->long_day < -CF_ST_TIME_LIMIT_MS / DAY_MS ||
            v->long_day > CF_ST_TIME_LIMIT_MS / DAY_MS)
                return cf_st_fail(d,
                                  "times (first %lld, hour %lld, day %lld, baseline day %lld) "
                                  "out of range",
                                  (long long)v->first_ms, (long long)v->cur_hour,
                                  (long long)v->cur_day, (long long)v->long_day);
        if (v->nh < 1 || v->nh > VOL_MAX_HOURS)
                return cf_st_fail(d, "ring of %u hours: 1..%d (short_window at most %dh)", v->nh,
                                  VOL_MAX_HOURS, VOL_MAX_HOURS);
        int min_nd = (v->nh + 23) / 24 + 3, max_nd = VOL_MAX_DAYS + VOL_MAX_HOURS / 24 + 2;
        if (v->nd < min_nd || v->nd > max_nd || v->long_days > v->nd)
                return cf_st_fail(d,
                                  "ring of %u days (baseline %u): %d..%d for a %u-hour "
                                  "short window",
                                  v->nd, v->long_days, min_nd, max_nd, v->nh);
        return true;
}

/* A value written under a longer short_window or long_window than the
 * configured one keeps its newest buckets (the table's values are sized
 * for the configured rings); a shorter one keeps its own size, as after a
 * reload. Everything else must be what some configuration makes. */
static bool vol_get(cf_st_dec *d, int version, void *val, const void *cv)
{
        (void)version;
        vol_val *v = val;
        if (!vol_get_header(d, v)) return false;
        uint16_t nh, nd, sh = v->nh, sd = v->nd;
        ring_sizes(cv, &nh, &nd);
        if (sh < nh) nh = sh;
        if (sd < nd) nd = sd;
        v->nh = nh;
        v->nd = nd;
        get_ring(d, hv(v), sh, nh, v->cur_hour);
        get_ring(d, dv(v), sd, nd, v->cur_day);
        get_counts(d, hc(v), sh, nh, v->cur_hour);
        get_counts(d, dc(v), sd, nd, v->cur_day);
        if (nh != sh || nd != sd) { /* converted: the cached sums are recomputed */
                short_sums(v);
                v->long_day = -1;
        }
        return cf_st_ok(d);
}

const cf_rule cf_rule_origin_volume_surge = {
    .name = "origin_volume_surge",
    .description = "value of (origin, HS6) in the short window exceeds k x its long-run daily "
                   "average",
    .config_map = vol_map,
    .cfg_size = sizeof(vol_cfg),
    .check = vol_check,
    .state_limits = vol_limits,
    .table_off = offsetof(cf_detect_part, vol),
    .value_size = sizeof(vol_val),
    .state_put = vol_put,
    .state_get = vol_get,
};
