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

#define V1_UV_BUCKETS 640
#define V1_UV_WIDTH   0.05
#define V1_UV_LO      (-16.0)
#define V1_VOL_HEAD   80
#define DAY_MS        86400000LL

static int64_t i64_at(const unsigned char *p)
{
        return (int64_t)cf_st_load64(p);
}

static uint32_t u32_at(const unsigned char *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t u16_at(const unsigned char *p)
{
        return (uint16_t)(p[0] | p[1] << 8);
}

static float f32_at(const unsigned char *p)
{
        uint32_t u = u32_at(p);
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

static bool uv_value(cf_detect *x, cf_detect_part *ps, uint64_t key, const unsigned char *v,
                     size_t n)
{
        if (n < 32 + 2 * V1_UV_BUCKETS) return false;
        int64_t last = i64_at(v);
        if (!time_ok(last)) return false;
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

static bool vol_value(cf_detect *x, cf_detect_part *ps, uint64_t key, const unsigned char *v,
                      size_t n)
{
        if (n < V1_VOL_HEAD) return false;
        int64_t last = i64_at(v), hour = i64_at(v + 16), day = i64_at(v + 24);
        uint16_t nh = u16_at(v + 76), nd = u16_at(v + 78);
        if (!time_ok(last) || hour < 0 || day < 0 || hour > CF_ST_TIME_LIMIT_MS / 3600000LL ||
            day > hour / 24 + 1 || !nh || !nd || n < V1_VOL_HEAD + (size_t)(nh + nd) * 6)
                return false;
        const unsigned char *fv = v + V1_VOL_HEAD, *cv = fv + 4 * (size_t)(nh + nd);
        bool created;
        cf_vol_rep *r = cf_kvtab_put(&ps->vol_own, key, last, &created);
        if (created) cf_vol_rep_init(r, cf_detect_rule_cfg(x, &cf_rule_origin_volume_surge), hour);
        for (int64_t i = 0; i < nh; i++) { /* slot (hour % nh) of the old ring */
                int64_t h = hour - i;
                size_t s = (size_t)(h % nh);
                double usd = f32_at(fv + 4 * s);
                if (h >= 0 && (usd > 0 || u16_at(cv + 2 * s)))
                        cf_vol_ring_add(r, false, h, llround(usd * 100), u16_at(cv + 2 * s));
        }
        for (int64_t i = 0; i < nd; i++) {
                int64_t d = day - i;
                size_t s = (size_t)(d % nd);
                double usd = f32_at(fv + 4 * (nh + s));
                if (d >= 0 && (usd > 0 || u16_at(cv + 2 * (nh + s))))
                        cf_vol_ring_add(r, true, d, llround(usd * 100), u16_at(cv + 2 * (nh + s)));
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

static bool cert_value(cf_detect_part *ps, uint64_t key, const unsigned char *v, size_t n)
{
        if (n < 192) return false;
        int64_t first = i64_at(v + 8);
        uint32_t nd = u32_at(v + 16), ne = u32_at(v + 20);
        if (!time_ok(first) || !nd || !ne) return false;
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

static bool cap_value(cf_detect_part *ps, uint64_t key, const unsigned char *v, size_t n)
{
        if (n < 24) return false;
        int64_t last = i64_at(v);
        double qty = f64_at(v + 16);
        if (!time_ok(last) || last < 0 || !(qty >= 0) || !isfinite(qty)) return false;
        return cf_cap_convert(cf_kvtab_put(&ps->cap, key, last, NULL), last / DAY_MS, qty);
}

int cf_detect_convert_v1(cf_detect *x, cf_detect_part *ps, const cf_rule *ru,
                         const unsigned char **p, const unsigned char *end)
{
        /* the old table header: magic "KV", value size, entries, evicted, expired, max_ms */
        if ((size_t)(end - *p) < 40 || u32_at(*p) != 0x4b56u) return -1;
        uint32_t vsize = u32_at(*p + 4);
        uint64_t n = cf_st_load64(*p + 8);
        *p += 40;
        if (vsize < 8 || vsize > 1u << 20 || n > (uint64_t)(end - *p) / (8 + vsize)) return -1;
        for (uint64_t i = 0; i < n; i++, *p += 8 + vsize) {
                uint64_t key = cf_st_load64(*p);
                const unsigned char *v = *p + 8;
                bool ok = ru == &cf_rule_unit_value_outlier    ? uv_value(x, ps, key, v, vsize)
                          : ru == &cf_rule_origin_volume_surge ? vol_value(x, ps, key, v, vsize)
                          : ru == &cf_rule_certificate_reuse   ? cert_value(ps, key, v, vsize)
                          : ru == &cf_rule_capacity_exceeded   ? cap_value(ps, key, v, vsize)
                                                               : false;
                if (!ok) return -1;
        }
        return 0;
}
