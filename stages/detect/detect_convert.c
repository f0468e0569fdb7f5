/*
 * detect_convert.c - partition state of earlier releases whose tables this
 * build keeps differently, converted rather than dropped (issue 13):
 *
 *  - unit_value_outlier: the per-partition histogram (640 buckets of 0.05 ln
 *    units over e^-16..e^16) becomes the partition's own contribution to the
 *    population sketch (each bucket's count at its centre, in the generation
 *    of the baseline's last use), published at the next barrier or commit;
 *  - origin_volume_surge: the hour and day rings (float dollars, u16
 *    declaration counts) become the partition's own volume contribution;
 *  - certificate_reuse: what the partition knew of a certificate (first use,
 *    the declaration and exporter hashes kept, the ids kept) becomes uses,
 *    published like new ones (the old table did not say which exporter made
 *    which declaration, nor when after the first: they are dated at the first
 *    use, one millisecond apart, in the order kept);
 *  - capacity_exceeded: a calendar year's quantity becomes that quantity on
 *    the day of its last shipment in the rolling window.
 *
 * Layouts (releases 1-2, b6aa89d and b13c378, little-endian raw structs):
 *   uv:   i64 last_ms, u32 n, u32 pending, u64 total, f32 med, f32 spread,
 *         u16 h[640]
 *   vol:  i64 last_ms, first_ms, cur_hour, cur_day, u64 last_decl, i64
 *         long_day, f64 short_v, long_v, u32 short_n, long_n, long_days, u16 nh,
 *         nd, then f32 hv[nh], dv[nd], u16 hc[nh], dc[nd]
 *   cert: i64 last_ms, first_ms, u32 n_decl, n_exp, u64 decl_h[4], exp_h[4],
 *         char first_decl[32], char exp_ids[3][24]
 *   cap:  i64 last_ms, i64 year, f64 qty
 *
 * @locality: the thread that owns the chain.
 */
#include <math.h>
#include <string.h>

#include "pipeline/core/intmath.h"
#include "stages/detect/detect_int.h"

#define V1_UV_BUCKETS    640
#define V1_UV_WIDTH      0.05
#define V1_UV_LO         (-16.0)
#define V1_VOL_HEAD      80
#define V1_VOL_MAX_HOURS 72 /* the releases' short_window bound */
#define V1_VOL_MAX_DAYS  95 /* their long_window bound (90d) + 72h + 2 */
#define DAY_MS           86400000LL
/* a slot's dollars as int64 cents, with room for sums over rings and partitions (NaN,
 * infinities and the float range beyond would round to garbage) */
#define V1_VOL_MAX_USD 1e14

static int64_t i64_at(const unsigned char *p)
{
        return (int64_t)cf_st_load64(p);
}

static uint16_t u16_at(const unsigned char *p)
{
        return (uint16_t)(p[0] | p[1] << 8);
}

static float f32_at(const unsigned char *p)
{
        uint32_t u = cf_st_load32(p);
        float f;
        memcpy(&f, &u, 4);
        return f;
}

static double f64_at(const unsigned char *p)
{
        uint64_t u = cf_st_load64(p);
        double f;
        memcpy(&f, &u, 8);
        return f;
}

static bool time_ok(int64_t t)
{
        return t >= -CF_ST_TIME_LIMIT_MS && t <= CF_ST_TIME_LIMIT_MS;
}

static void own_dirty(cf_detect_part *ps, uint64_t key)
{
        *(uint64_t *)cf_vec_push(&ps->own_dirty, sizeof(uint64_t)) = key;
}

static bool uv_value(cf_st_dec *d, cf_detect *x, cf_detect_part *ps, uint64_t key,
                     const unsigned char *v, size_t n)
{
        if (n < 32 + 2 * V1_UV_BUCKETS)
                return cf_st_fail(d, "value of %zu bytes, a baseline has %d", n,
                                  32 + 2 * V1_UV_BUCKETS);
        int64_t last = i64_at(v);
        if (!time_ok(last)) return cf_st_fail(d, "last use %lld not plausible", (long long)last);
        int32_t gen = (int32_t)cf_floor_div(
            last, cf_uv_period_ms(cf_detect_rule_cfg(x, &cf_rule_unit_value_outlier)));
        bool created;
        cf_uv_rep *r = cf_kvtab_put(&ps->uv_own, key, last, &created);
        if (created) r->s = (cf_lns)CF_LNS_INIT;
        for (int i = 0; i < V1_UV_BUCKETS; i++) {
                uint16_t c = u16_at(v + 32 + 2 * i);
                if (c) cf_lns_add(&r->s, gen, cf_lns_fine(V1_UV_LO + (i + 0.5) * V1_UV_WIDTH), c);
        }
        if (!r->dirty) own_dirty(ps, key);
        r->dirty = 1;
        return true;
}

static bool vol_value(cf_st_dec *d, cf_detect *x, cf_detect_part *ps, uint64_t key,
                      const unsigned char *v, size_t n)
{
        if (n < V1_VOL_HEAD) return cf_st_fail(d, "value of %zu bytes, < %d", n, V1_VOL_HEAD);
        int64_t last = i64_at(v), hour = i64_at(v + 16), day = i64_at(v + 24);
        uint16_t nh = u16_at(v + 76), nd = u16_at(v + 78);
        /* what the releases' config allowed: short_window <= 72h, long_window <= 90d */
        if (!nh || nh > V1_VOL_MAX_HOURS)
                return cf_st_fail(d, "ring of %u hours: 1..%d (short_window at most %dh)", nh,
                                  V1_VOL_MAX_HOURS, V1_VOL_MAX_HOURS);
        if (!nd || nd > V1_VOL_MAX_DAYS || n < V1_VOL_HEAD + (size_t)(nh + nd) * 6)
                return cf_st_fail(d, "ring of %u days (at most %d) in a value of %zu bytes", nd,
                                  V1_VOL_MAX_DAYS, n);
        if (!time_ok(last) || hour < 0 || day < 0 || hour > CF_ST_TIME_LIMIT_MS / 3600000LL ||
            day > hour / 24 + 1)
                return cf_st_fail(d, "times (last use %lld, hour %lld, day %lld) out of range",
                                  (long long)last, (long long)hour, (long long)day);
        const unsigned char *fv = v + V1_VOL_HEAD, *cv = fv + 4 * (size_t)(nh + nd);
        bool created;
        cf_vol_own *r = cf_kvtab_put(&ps->vol_own, key, last, &created);
        if (created) cf_vol_own_init(r, cf_detect_rule_cfg(x, &cf_rule_origin_volume_surge), hour);
        for (int64_t i = 0; i < nh + nd; i++) { /* slot (t % n) of each old ring */
                bool daily = i >= nh;
                int64_t n = daily ? nd : nh, t = (daily ? day : hour) - (daily ? i - nh : i);
                if (t < 0) continue; /* before the epoch: the ring never held it */
                size_t s = (size_t)(daily ? nh : 0) + (size_t)(t % n);
                double usd = f32_at(fv + 4 * s);
                uint16_t decl = u16_at(cv + 2 * s);
                if (!(usd >= 0) || usd > V1_VOL_MAX_USD)
                        return cf_st_fail(d, "%s volume %g not plausible", daily ? "day" : "hour",
                                          usd);
                if (usd > 0 || decl) cf_vol_own_ring_add(r, daily, t, llround(usd * 100), decl);
        }
        if (!r->dirty) own_dirty(ps, key | CF_POP_KIND_VOL);
        r->dirty = 1;
        return true;
}

static void copy_id(char *dst, size_t cap, const unsigned char *src, size_t n)
{
        size_t k = strnlen((const char *)src, n);
        if (k > cap - 1) k = cap - 1;
        memcpy(dst, src, k);
        dst[k] = '\0';
}

static bool cert_value(cf_st_dec *d, cf_detect_part *ps, uint64_t key, const unsigned char *v,
                       size_t n)
{
        if (n < 192) return cf_st_fail(d, "value of %zu bytes, a certificate has 192", n);
        int64_t first = i64_at(v + 8);
        uint32_t nd = cf_st_load32(v + 16), ne = cf_st_load32(v + 20);
        if (!time_ok(first) || !nd || !ne)
                return cf_st_fail(d, "first use %lld, %u declarations, %u exporters",
                                  (long long)first, nd, ne);
        /* the ids were C strings in place: one without its NUL ran into the next field
         * when b13c378 wrote the evidence */
        if (!memchr(v + 88, 0, 32))
                return cf_st_fail(d, "first_declaration_id is not NUL-terminated within its "
                                     "32 bytes");
        for (int i = 0; i < 3; i++)
                if (!memchr(v + 120 + 24 * i, 0, 24))
                        return cf_st_fail(d,
                                          "exporter id %d is not NUL-terminated within its "
                                          "24 bytes",
                                          i);
        if (nd > 4) nd = 4;
        if (ne > 4) ne = 4;
        /* one use per declaration kept, by the exporters kept in turn */
        for (uint32_t i = 0; i < nd || i < ne; i++) {
                cf_cert_event *e = cf_vec_push(&ps->cert_ev, sizeof(*e));
                memset(e, 0, sizeof(*e));
                e->key = key;
                e->decl_h = cf_st_load64(v + 24 + 8 * (i < nd ? i : nd - 1));
                e->exp_h = cf_st_load64(v + 56 + 8 * (i < ne ? i : 0));
                e->t = first + i;
                if (!i) copy_id(e->decl, sizeof(e->decl), v + 88, 32);
                if (i < 3 && i < ne)
                        copy_id(e->exporter, sizeof(e->exporter), v + 120 + 24 * i, 24);
        }
        return true;
}

static bool cap_value(cf_st_dec *d, cf_detect_part *ps, uint64_t key, const unsigned char *v,
                      size_t n)
{
        if (n < 24) return cf_st_fail(d, "value of %zu bytes, a capacity total has 24", n);
        int64_t last = i64_at(v);
        double qty = f64_at(v + 16);
        if (!time_ok(last) || last < 0 || !(qty >= 0) || !isfinite(qty))
                return cf_st_fail(d, "last use %lld, quantity %g out of range", (long long)last,
                                  qty);
        return cf_cap_convert(cf_kvtab_put(&ps->cap, key, last, NULL), last / DAY_MS, qty);
}

int cf_detect_convert_v1(cf_detect *x, cf_detect_part *ps, const cf_rule *ru, cf_st_dec *d)
{
        /* the old table header: magic "KV", value size, entries, evicted, expired, max_ms */
        uint32_t magic = cf_st_u32(d), vsize = cf_st_u32(d);
        uint64_t n = cf_st_u64(d);
        cf_st_take(d, 24);
        if (!cf_st_ok(d)) return -1;
        if (magic != 0x4b56u || vsize < 8 || vsize > 1u << 20) {
                cf_st_fail(d, "table magic %08x / value size %u", magic, vsize);
                return -1;
        }
        if (n > cf_st_left(d) / (8 + vsize)) {
                cf_st_fail(d, "%llu entries of %u bytes but %zu bytes left", (unsigned long long)n,
                           8 + vsize, cf_st_left(d));
                return -1;
        }
        for (uint64_t i = 0; i < n; i++) {
                uint64_t key = cf_st_u64(d);
                const unsigned char *v = cf_st_take(d, vsize); /* fits: checked above */
                bool ok = ru == &cf_rule_unit_value_outlier    ? uv_value(d, x, ps, key, v, vsize)
                          : ru == &cf_rule_origin_volume_surge ? vol_value(d, x, ps, key, v, vsize)
                          : ru == &cf_rule_certificate_reuse   ? cert_value(d, ps, key, v, vsize)
                          : ru == &cf_rule_capacity_exceeded   ? cap_value(d, ps, key, v, vsize)
                                                               : cf_st_fail(d, "no converter");
                if (!ok) return -1;
        }
        return 0;
}
