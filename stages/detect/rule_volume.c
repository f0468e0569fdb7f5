/*
 * rule_volume.c - origin_volume_surge (RULES.md): the value of (origin, HS6)
 * in a sliding short window (hourly buckets) against its long-run daily
 * average over the preceding long window (daily buckets), in event time.
 *
 * The rings are global (detect_population.c): every partition's published
 * contributions, merged as integer cents and declaration counts, so the sums
 * do not depend on the order or the grouping of the merge. A record is judged
 * against the replica as it stands plus itself, then contributes its value to
 * its partition's pending events (every record, fired or not).
 *
 * A surge is judged on value and, optionally, on the number of declarations
 * (count_ratio): one large but ordinary consignment of a rarely traded pair
 * is not diverted trade, many new declarations are. A declaration counts
 * once per pair: the first of its lines seen for the pair. Which pairs the
 * exporter's current declaration has counted is kept per exporter (the
 * lines of a declaration share its exporter, hence its partition).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stages/detect/detect_int.h"

#define VOL_MAX_HOURS 72 /* longest short window */
#define VDECL_PAIRS   6  /* pairs remembered for an exporter's current declaration */
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
     90 * DAY_MS},
    {CF_CFG_DURATION, "min_history", "14d", offsetof(vol_cfg, history_ms),
     "observation (the first record published by any partition to the short window) needed "
     "before the rule may fire",
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
     "(origin, HS6) pairs kept (global replica, ~0.7 KB each with the default windows; least "
     "recently used evicted, counted)",
     1, 1e9},
    {0}};

/* Ring layout: cents of the hours [nh] then of the days [nd], then the declaration
 * counts of the hours [nh] then of the days [nd]. */
static inline int64_t *hv(cf_vol_rep *v)
{
        return v->ring;
}
static inline int64_t *dv(cf_vol_rep *v)
{
        return v->ring + v->nh;
}
static inline uint32_t *hc(cf_vol_rep *v)
{
        return (uint32_t *)(v->ring + v->nh + v->nd);
}
static inline uint32_t *dc(cf_vol_rep *v)
{
        return hc(v) + v->nh;
}

/* Ring sizes for a config: the short window's hours; the baseline's days plus the days
 * the short window spans plus today. */
void cf_vol_ring_sizes(const void *cv, uint16_t *nh, uint16_t *nd)
{
        const vol_cfg *c = cv;
        *nh = (uint16_t)(c->short_ms / HOUR_MS);
        *nd = (uint16_t)(c->long_ms / DAY_MS + (*nh + 23) / 24 + 2);
}

void cf_vol_rep_init(cf_vol_rep *v, uint16_t nh, uint16_t nd, int64_t hour)
{
        v->nh = nh;
        v->nd = nd;
        v->cur_hour = hour;
        v->cur_day = hour / 24;
        v->c_hour = -1;
}

/* ---- slots: the rings as a list, in contributions, own tables and the replica ----
 *
 * u32 count, then per non-empty slot: u8 day flag, i64 hour (or day), i64 cents, u32
 * declarations; hours oldest first, then days oldest first. One writer and one reader
 * for the three places that carry them (detect_bucket.c, detect_own.c,
 * detect_replica.c), so that they cannot disagree on a bound. */

#define HOUR_LIMIT (CF_ST_TIME_LIMIT_MS / 3600000LL)

typedef struct slot_put_ctx {
        cf_buf *out;
        uint32_t n;
} slot_put_ctx;

static void put_one(cf_buf *out, bool day, int64_t at, int64_t cents, uint32_t decl)
{
        cf_st_put_u8(out, day);
        cf_st_put_i64(out, at);
        cf_st_put_i64(out, cents);
        cf_st_put_u32(out, decl);
}

static void slot_put(void *op, bool day, int64_t at, int64_t cents, uint32_t decl)
{
        slot_put_ctx *c = op;
        put_one(c->out, day, at, cents, decl);
        c->n++;
}

void cf_vol_rep_put(cf_buf *out, cf_vol_rep *v)
{
        size_t at = out->len;
        cf_st_put_u32(out, 0);
        slot_put_ctx c = {out, 0};
        cf_vol_rep_each(v, slot_put, &c);
        cf_st_store32((unsigned char *)out->p + at, c.n);
}

void cf_vol_slots_put(cf_buf *out, const cf_vol_slot *s, size_t n)
{
        cf_st_put_u32(out, (uint32_t)n);
        for (size_t i = 0; i < n; i++)
                put_one(out, s[i].day, s[i].at, s[i].cents, s[i].decl);
}

bool cf_vol_slots_get(cf_st_dec *d, cf_vec *slots, int64_t *top_hour, int64_t *top_day)
{
        slots->n = 0;
        *top_hour = *top_day = -1;
        uint32_t n = cf_st_u32(d);
        if (cf_st_ok(d) && n > cf_st_left(d) / 21)
                return cf_st_fail(d, "%u volume slots in %zu bytes", n, cf_st_left(d));
        for (uint32_t i = 0; i < n && cf_st_ok(d); i++) {
                cf_vol_slot *s = cf_vec_push(slots, sizeof(*s));
                s->day = cf_st_u8(d);
                s->at = cf_st_i64(d);
                s->cents = cf_st_i64(d);
                s->decl = cf_st_u32(d);
                if (!cf_st_ok(d)) break;
                if (s->day > 1 || s->at < 0 || s->at > (s->day ? HOUR_LIMIT / 24 : HOUR_LIMIT) ||
                    s->cents < 0)
                        return cf_st_fail(d, "volume slot %u out of range (%s %lld, %lld cents)", i,
                                          s->day ? "day" : "hour", (long long)s->at,
                                          (long long)s->cents);
                int64_t *top = s->day ? top_day : top_hour;
                if (s->at > *top) *top = s->at;
        }
        return cf_st_ok(d);
}

/* ---- a slot list's changes since the last checkpoint (own deltas, detect_own.c) ---- */

/* One ring's merge of the base's slots (nb at b, 21 bytes each: day, at, cents, decl) with
 * the value's (nv at v), emitting what differs. */
static void vdiff_walk(cf_st_changes *c, const unsigned char *b, uint32_t nb, const cf_vol_slot *v,
                       size_t nv)
{
        uint32_t i = 0;
        size_t j = 0;
        while (i < nb || j < nv) {
                const unsigned char *e = b + 21 * (size_t)i;
                int64_t bat = i < nb ? (int64_t)cf_st_load64(e + 1) : 0;
                if (j == nv || (i < nb && bat < v[j].at)) {
                        cf_st_put_change(c, bat, 0, 0); /* gone (the ring moved on) */
                        i++;
                } else if (i == nb || v[j].at < bat) {
                        cf_st_put_change(c, v[j].at, (uint64_t)v[j].cents, v[j].decl);
                        j++;
                } else {
                        uint32_t bk = cf_st_load32(e + 17);
                        if ((int64_t)cf_st_load64(e + 9) != v[j].cents || bk != v[j].decl)
                                cf_st_put_change(c, v[j].at, (uint64_t)v[j].cents, v[j].decl);
                        i++;
                        j++;
                }
        }
}

bool cf_vol_slots_diff(cf_buf *out, cf_st_dec *base, const cf_vol_slot *sv, size_t nv)
{
        uint32_t nb = cf_st_u32(base);
        if (!cf_st_ok(base) || cf_st_left(base) / 21 < nb) return false;
        const unsigned char *b = base->p;
        uint32_t nbh = 0; /* the base's hour slots: they come first */
        while (nbh < nb && !b[21 * (size_t)nbh])
                nbh++;
        size_t nvh = 0;
        while (nvh < nv && !sv[nvh].day)
                nvh++;
        cf_st_changes h = {NULL, 0, 0}, dd = {NULL, 0, 0};
        vdiff_walk(&h, b, nbh, sv, nvh);
        vdiff_walk(&dd, b + 21 * (size_t)nbh, nb - nbh, sv + nvh, nv - nvh);
        /* a slot changed costs ~8-14 bytes against 21 whole: past half, whole is as small */
        bool ok = h.n + dd.n <= nv / 2 + 2;
        if (ok) {
                cf_st_put_uv(out, h.n);
                h = (cf_st_changes){out, 0, 0};
                vdiff_walk(&h, b, nbh, sv, nvh);
                cf_st_put_uv(out, dd.n);
                dd = (cf_st_changes){out, 0, 0};
                vdiff_walk(&dd, b + 21 * (size_t)nbh, nb - nbh, sv + nvh, nv - nvh);
        }
        return ok;
}

bool cf_vol_slots_patch(cf_st_dec *d, const cf_vol_slot *o, size_t no, cf_vec *slots,
                        int64_t *top_hour, int64_t *top_day)
{
        slots->n = 0;
        *top_hour = *top_day = -1;
        size_t i = 0;
        for (int day = 0; day < 2 && cf_st_ok(d); day++) {
                uint64_t k = cf_st_uv(d);
                if (cf_st_ok(d) && k > cf_st_left(d) / 3) /* a change takes 3 bytes at least */
                        cf_st_fail(d, "%llu volume slots changed: truncated",
                                   (unsigned long long)k);
                int64_t prev = 0, limit = day ? HOUR_LIMIT / 24 : HOUR_LIMIT;
                for (uint64_t c = 0; c < k && cf_st_ok(d); c++) {
                        int64_t at;
                        if (c) {
                                uint64_t gap = cf_st_uv(d); /* past the limit: refused below */
                                at = gap > (uint64_t)HOUR_LIMIT ? INT64_MAX
                                                                : prev + 1 + (int64_t)gap;
                        } else {
                                at = cf_st_sv(d);
                        }
                        uint64_t cents = cf_st_uv(d), decl = cf_st_uv(d);
                        if (!cf_st_ok(d)) break;
                        if (at < 0 || at > limit || cents > INT64_MAX || decl > UINT32_MAX) {
                                cf_st_fail(d, "volume slot change %llu out of range (%s %lld)",
                                           (unsigned long long)c, day ? "day" : "hour",
                                           (long long)at);
                                break;
                        }
                        for (; i < no && o[i].day == day && o[i].at < at; i++)
                                *(cf_vol_slot *)cf_vec_push(slots, sizeof(cf_vol_slot)) = o[i];
                        bool held = i < no && o[i].day == day && o[i].at == at;
                        i += held;
                        if (!cents && !decl) {
                                if (!held)
                                        cf_st_fail(d, "volume %s %lld removed, not held",
                                                   day ? "day" : "hour", (long long)at);
                        } else {
                                *(cf_vol_slot *)cf_vec_push(slots, sizeof(cf_vol_slot)) =
                                    (cf_vol_slot){.at = at,
                                                  .cents = (int64_t)cents,
                                                  .decl = (uint32_t)decl,
                                                  .day = (uint8_t)day};
                        }
                        prev = at;
                }
                for (; i < no && o[i].day == day; i++)
                        *(cf_vol_slot *)cf_vec_push(slots, sizeof(cf_vol_slot)) = o[i];
        }
        const cf_vol_slot *s = slots->v;
        for (size_t j = 0; j < slots->n; j++) {
                int64_t *top = s[j].day ? top_day : top_hour;
                if (s[j].at > *top) *top = s[j].at;
        }
        return cf_st_ok(d);
}

/* Each ring's newest is its own newest slot: one ring's newest cannot push the other's
 * slots out (a day slot's first hour is later than the hours before it in that day, so
 * one newest for both dropped hour slots a snapshot held: fuzz_restore). */
/* Capped at the sizes recorded at start (g->vol_nh, vol_nd): the replica table's
 * value size is fixed until a restart, so a reload lengthening the windows must
 * not give new values rings longer than their slots (see README). */
void cf_detect_vol_sizes(const cf_detect *x, const cf_detect_pop *g, uint16_t *nh, uint16_t *nd)
{
        cf_vol_ring_sizes(cf_detect_rule_cfg(x, &cf_rule_origin_volume_surge), nh, nd);
        if (*nh > g->vol_nh) *nh = g->vol_nh;
        if (*nd > g->vol_nd) *nd = g->vol_nd;
}

void cf_vol_rep_init_slots(cf_vol_rep *v, uint16_t nh, uint16_t nd, int64_t top_hour,
                           int64_t top_day)
{
        cf_vol_rep_init(v, nh, nd, cf_vol_start_hour(top_hour, top_day));
        if (top_day >= 0) v->cur_day = top_day;
}

void cf_vol_slots_add(cf_vol_rep *v, const cf_vec *slots, int sign)
{
        const cf_vol_slot *s = slots->v;
        for (size_t i = 0; i < slots->n; i++)
                cf_vol_ring_add(v, s[i].day, s[i].at, sign * s[i].cents, sign * (int64_t)s[i].decl);
}

/* Move a ring of n buckets (cents c, counts k) whose newest is *cur forward to `to`. */
static void ring_advance(int64_t *c, uint32_t *k, uint16_t n, int64_t *cur, int64_t to)
{
        if (to <= *cur) return;
        int64_t steps = to - *cur > n ? n : to - *cur;
        for (int64_t i = 0; i < steps; i++) {
                size_t s = (size_t)((to - i) % n);
                c[s] = 0;
                k[s] = 0;
        }
        *cur = to;
}

void cf_vol_slot_add(int64_t *c, uint32_t *k, int64_t cents, int64_t decl)
{
        int64_t nc; /* saturating: a replica's slots may be restored near INT64_MAX */
        if (__builtin_add_overflow(*c, cents, &nc)) nc = cents > 0 ? INT64_MAX : 0;
        *c = nc < 0 ? 0 : nc;
        int64_t nk = (int64_t)*k + decl;
        *k = nk < 0 ? 0 : nk > UINT32_MAX ? UINT32_MAX : (uint32_t)nk;
}

void cf_vol_ring_add(cf_vol_rep *v, bool day, int64_t at, int64_t cents, int64_t decl)
{
        int64_t *c = day ? dv(v) : hv(v);
        uint32_t *k = day ? dc(v) : hc(v);
        int64_t *cur = day ? &v->cur_day : &v->cur_hour;
        uint16_t n = day ? v->nd : v->nh;
        if (cents >= 0 && decl >= 0) ring_advance(c, k, n, cur, at); /* subtractions never move */
        if (at > *cur || at <= *cur - n) return;
        size_t s = (size_t)(at % n);
        cf_vol_slot_add(&c[s], &k[s], cents, decl);
}

void cf_vol_rep_add(cf_vol_rep *v, const cf_vol_event *e)
{
        cf_vol_ring_add(v, false, e->hour, e->cents, e->decl);
        cf_vol_ring_add(v, true, e->hour / 24, e->cents, e->decl);
}

/* The non-empty slots of one ring, oldest first: one division to find the first slot (a
 * division per slot was most of a publish's and a checkpoint's cost of the rings). */
static void ring_each(const int64_t *c, const uint32_t *k, uint16_t n, int64_t cur, bool day,
                      void (*fn)(void *op, bool day, int64_t at, int64_t cents, uint32_t decl),
                      void *op)
{
        int64_t from = cur - n + 1 < 0 ? 0 : cur - n + 1;
        size_t s = (size_t)(from % n);
        for (int64_t i = from; i <= cur; i++) {
                if (c[s] || k[s]) fn(op, day, i, c[s], k[s]);
                if (++s == n) s = 0;
        }
}

void cf_vol_rep_each(cf_vol_rep *v,
                     void (*fn)(void *op, bool day, int64_t at, int64_t cents, uint32_t decl),
                     void *op)
{
        ring_each(hv(v), hc(v), v->nh, v->cur_hour, false, fn, op);
        ring_each(dv(v), dc(v), v->nd, v->cur_day, true, fn, op);
}

/* Sums of the ring over [from, to] (inclusive), what the ring still holds of it: one
 * division to find the first slot, then a walk (a division per slot was most of the
 * rule's cost). */
static void ring_sum(cf_vol_rep *v, bool day, int64_t from, int64_t to, int64_t *cents,
                     uint64_t *decl)
{
        int64_t cur = day ? v->cur_day : v->cur_hour;
        uint16_t n = day ? v->nd : v->nh;
        if (from <= cur - n) from = cur - n + 1;
        if (from < 0) from = 0;
        if (to > cur) to = cur;
        if (from > to) return;
        const int64_t *c = day ? dv(v) : hv(v);
        const uint32_t *k = day ? dc(v) : hc(v);
        size_t s = (size_t)(from % n);
        int64_t sc = 0;
        uint64_t sk = 0;
        /* saturating: slots restored from a replica may each be near INT64_MAX */
        for (int64_t i = from; i <= to; i++) {
                if (__builtin_add_overflow(sc, c[s], &sc)) sc = c[s] > 0 ? INT64_MAX : INT64_MIN;
                sk += k[s];
                if (++s == n) s = 0;
        }
        if (__builtin_add_overflow(*cents, sc, cents)) *cents = sc > 0 ? INT64_MAX : INT64_MIN;
        *decl += sk;
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

/* What the rule weighs: the short window's value and declarations (this record
 * included) and the baseline's daily averages over nd whole days. */
typedef struct vol_view {
        double sv, sc, base, base_n;
        int64_t hist_days;
} vol_view;

/* The view of the replica v (NULL: the pair was never published) with the record at
 * hour h (cents, decl) added; false when the rule may not judge yet (history). */
/* The longest baseline the rule may use for a value's layout. */
static int64_t baseline_days(const vol_cfg *cfg, uint16_t nh, uint16_t nd_ring)
{
        int64_t nd = cfg->long_ms / DAY_MS;
        if (nd > nd_ring - (nh + 23) / 24 - 2) nd = nd_ring - (nh + 23) / 24 - 2;
        return nd;
}

void cf_vol_settle(const void *cv, cf_vol_rep *v)
{
        int64_t end = v->cur_hour, ds = ((end - v->nh + 1) * HOUR_MS) / DAY_MS;
        v->c_sc = v->c_lc = 0;
        v->c_sn = v->c_ln = 0;
        v->c_nd = baseline_days(cv, v->nh, v->nd);
        ring_sum(v, false, end - v->nh + 1, end, &v->c_sc, &v->c_sn);
        ring_sum(v, true, ds - v->c_nd, ds - 1, &v->c_lc, &v->c_ln);
        v->c_hour = end;
        v->dirty = 0;
}

/* The view of the replica v (NULL: the pair was never published) with the record at
 * hour h (cents, decl) added; false when the rule may not judge yet (history). */
static bool vol_view_of(const cf_detect *x, const vol_cfg *cfg, cf_vol_rep *v, int64_t h,
                        int64_t cents, uint32_t decl, vol_view *o)
{
        uint16_t nh, nd_ring;
        cf_vol_ring_sizes(cfg, &nh, &nd_ring);
        if (v) { /* the value's layout (a reload may have changed the config) */
                nh = v->nh;
                nd_ring = v->nd;
        }
        int64_t end = v && v->cur_hour > h ? v->cur_hour : h, sc_c = 0;
        bool cached = v && v->c_hour == end;
        uint64_t sn = cached ? v->c_sn : 0, ln = 0;
        int64_t lc = 0;
        if (cached)
                sc_c = v->c_sc;
        else if (v)
                ring_sum(v, false, end - nh + 1, end, &sc_c, &sn);
        if (h > end - nh) {
                if (__builtin_add_overflow(sc_c, cents, &sc_c)) sc_c = INT64_MAX;
                sn += decl;
        }
        /* the baseline is the whole days before the first day the short window
         * touches; history is how long the stream has been observed (the earliest
         * event time any partition published), not how long the pair has traded: a
         * pair never seen in that time has a zero baseline (trade diverted through a
         * new origin) */
        if (x->rep->first_ms == INT64_MAX) return false;
        int64_t ds = ((end - nh + 1) * HOUR_MS) / DAY_MS;
        o->hist_days = ds - x->rep->first_ms / DAY_MS;
        if (o->hist_days <= 0 || o->hist_days * DAY_MS < cfg->history_ms) return false;
        int64_t nd = baseline_days(cfg, nh, nd_ring);
        if (nd > o->hist_days) nd = o->hist_days;
        if (nd < 1) return false;
        if (cached && nd == v->c_nd) {
                lc = v->c_lc;
                ln = v->c_ln;
        } else if (v) {
                ring_sum(v, true, ds - nd, ds - 1, &lc, &ln);
        }
        o->sv = (double)sc_c / 100;
        o->sc = (double)sn;
        o->base = (double)lc / 100 / (double)nd;
        o->base_n = (double)ln / (double)nd;
        return true;
}

static void vol_fire(cf_detect *x, cf_batch *b, cf_record *r, const vol_cfg *cfg, const vol_view *w,
                     double floor_v)
{
        const cf_decl *d = &r->decl;
        cf_buf *o = cf_ev_begin(x);
        cf_ev_cc(o, "origin_country", d->origin_country);
        cf_ev_num(o, "hs6", d->hs6);
        cf_ev_num(o, "short_window_value_usd", w->sv);
        cf_ev_num(o, "short_window_declarations", w->sc);
        cf_ev_num(o, "baseline_daily_value_usd", w->base);
        cf_ev_num(o, "baseline_daily_declarations", w->base_n);
        cf_ev_num(o, "ratio", w->sv / floor_v);
        cf_ev_num(o, "k", cfg->k);
        cf_ev_num(o, "history_days", (double)w->hist_days);
        vol_explain(x, d, cfg, w->sv, w->sc, w->base, w->base_n, floor_v);
        cf_detect_fire(x, b, r, &cf_rule_origin_volume_surge, cfg);
}

/* An exporter's current declaration and the pairs it was counted for. */
typedef struct vdecl_val {
        int64_t last_ms;
        uint64_t decl_h;
        uint32_t n;
        uint32_t pad;
        uint64_t pairs[VDECL_PAIRS];
} vdecl_val;

/* 1 when declaration decl_h has not been counted for pair key yet (then it is). A
 * declaration spanning more pairs than kept counts again on those past the last. */
static uint32_t counted_once(vdecl_val *v, uint64_t decl_h, uint64_t key)
{
        if (v->decl_h != decl_h) {
                v->decl_h = decl_h;
                v->n = 0;
        }
        for (uint32_t i = 0; i < v->n; i++)
                if (v->pairs[i] == key) return 0;
        if (v->n < VDECL_PAIRS) v->pairs[v->n++] = key;
        return 1;
}

/* Called for a whole batch after its slots were touched (detect.c), so the get's key is
 * cached and the rest of the value (the rings: 768 bytes with the default windows) loads
 * overlapped; the checks' ring sums then hit the cache (ring_sum 4.4 % -> 1.7 % of replay's
 * samples). */
void cf_vol_touch(const cf_detect_pop *g, const cf_decl *d)
{
        const cf_vol_rep *v = cf_kvtab_get(&g->vol, ((uint64_t)d->origin_country << 32) | d->hs6);
        if (!v) return;
        const char *p = (const char *)v, *end = p + g->vol.vsize;
        for (p += 64; p < end; p += 64)
                cf_touch(p);
}

static void vol_check(cf_detect *x, cf_detect_part *ps, cf_batch *b, cf_record *r, const void *cv)
{
        const vol_cfg *cfg = cv;
        const cf_decl *d = &r->decl;
        int64_t t = d->event_time_ms;
        if (t < 0) return;
        uint64_t key = ((uint64_t)d->origin_country << 32) | d->hs6;
        int64_t h = t / HOUR_MS;
        double c = d->value_usd * 100;
        int64_t cents = !(c > 0) ? 0 : c > 1e17 ? (int64_t)1e17 : llround(c);
        /* declarations are counted, not lines: the lines of one declaration must not
         * look like a burst of shipments */
        uint32_t decl = counted_once(cf_kvtab_put(&ps->vdecl, x->exp_h, t, NULL), x->decl_h, key);
        vol_view w;
        if (vol_view_of(x, cfg, cf_kvtab_get(&x->rep->vol, key), h, cents, decl, &w)) {
                double floor_v = w.base < cfg->min_baseline_usd ? cfg->min_baseline_usd : w.base;
                double floor_n =
                    w.base_n < cfg->min_baseline_count ? cfg->min_baseline_count : w.base_n;
                if (w.sv > cfg->k * floor_v &&
                    (!(cfg->count_k > 0) || w.sc > cfg->count_k * floor_n))
                        vol_fire(x, b, r, cfg, &w, floor_v);
        }
        cf_vol_event *e = cf_vec_push(&ps->vol_ev, sizeof(*e));
        *e = (cf_vol_event){.key = key, .hour = h, .cents = cents, .decl = decl, .t = t};
}

static void vol_limits(const void *cv, size_t *max, int64_t *window, uint32_t *vsize)
{
        const vol_cfg *c = cv;
        uint16_t nh, nd;
        cf_vol_ring_sizes(c, &nh, &nd);
        *max = (size_t)c->max_entries;
        *window = c->long_ms + c->short_ms + DAY_MS; /* idle longer: every bucket left the rings */
        *vsize = (uint32_t)(sizeof(cf_vol_rep) + (nh + nd) * (sizeof(int64_t) + sizeof(uint32_t)));
}

/* The partition's exporters' current declarations: a declaration's lines arrive
 * together; a week is far beyond the spread of their event times. */
static void vdecl_limits(const void *cv, size_t *max, int64_t *window, uint32_t *vsize)
{
        const vol_cfg *c = cv;
        *max = (size_t)c->max_entries * 4;
        *window = 7 * DAY_MS;
}

/* State value (version 2): last_ms (i64), decl_h (u64), the pairs counted for
 * it (u8 count <= VDECL_PAIRS, u64 each). */
static void vdecl_put(cf_buf *out, const void *val)
{
        const vdecl_val *v = val;
        cf_st_put_i64(out, v->last_ms);
        cf_st_put_u64(out, v->decl_h);
        cf_st_put_u8(out, (uint8_t)v->n);
        for (uint32_t i = 0; i < v->n; i++)
                cf_st_put_u64(out, v->pairs[i]);
}

static bool vdecl_get(cf_st_dec *d, int version, void *val, const void *cfg)
{
        (void)cfg; /* VDECL_PAIRS is fixed */
        vdecl_val *v = val;
        if (version == 1) return cf_st_fail(d, "no such table in releases 1-2");
        v->last_ms = cf_st_time(d, "last use");
        v->decl_h = cf_st_u64(d);
        v->n = cf_st_u8(d);
        if (cf_st_ok(d) && v->n > VDECL_PAIRS)
                return cf_st_fail(d, "%u pairs for a declaration, at most %d kept", v->n,
                                  VDECL_PAIRS);
        for (uint32_t i = 0; i < v->n; i++)
                v->pairs[i] = cf_st_u64(d);
        return cf_st_ok(d);
}

const cf_rule cf_rule_origin_volume_surge = {
    .name = "origin_volume_surge",
    .description = "value of (origin, HS6) in the short window exceeds k x its long-run daily "
                   "average (shared by every partition)",
    .config_map = vol_map,
    .cfg_size = sizeof(vol_cfg),
    .check = vol_check,
    .state_limits = vdecl_limits,
    .table_off = offsetof(cf_detect_part, vdecl),
    .value_size = sizeof(vdecl_val),
    .state_put = vdecl_put,
    .state_get = vdecl_get,
    .replica_off = offsetof(cf_detect_pop, vol),
    .replica_size = sizeof(cf_vol_rep),
    .replica_limits = vol_limits,
};
