/*
 * detect_own.c - a partition's own population contributions (cumulative
 * mode: the service) as partition state, in its snapshots and deltas.
 *
 * Why: a partition publishes its whole contribution per bucket of population
 * keys at each commit (detect_bucket.c); what it published must come back with
 * its state after a restart or a rebalance, or its next publish would replace
 * what it contributed before with only what it saw since (and a bucket
 * republished whole would drop every key not seen since). They are written
 * with the checkpoint that follows the publish, so a restore at the committed
 * offset gets the contributions of exactly the records before it: re-processed
 * records are folded once more into what they were not part of.
 *
 * Tables (in detect_state.c's format, after the rules' tables, named
 * "<rule>.own"): unit value: last used (i64), the sketch (cf_lns_put); volume:
 * last used (i64), the non-empty slots (cf_vol_slots_put: u32 count, then u8 day
 * flag, i64 hour or day, i64 cents, u32 declarations).
 *
 * @locality: the thread that owns the chain.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "stages/detect/detect_int.h"

static void uv_put(cf_buf *out, const void *val)
{
        const cf_uv_rep *v = val;
        cf_st_put_i64(out, v->last_ms);
        cf_lns_put(out, &v->s);
}

static bool uv_get(cf_st_dec *d, int version, void *val, const void *cfg)
{
        cf_uv_rep *v = val;
        (void)version;
        (void)cfg;
        v->last_ms = cf_st_time(d, "last use");
        v->s = (cf_lns)CF_LNS_INIT;
        return cf_st_ok(d) && cf_lns_get(d, &v->s);
}

static void vol_put(cf_buf *out, const void *val)
{
        const cf_vol_own *v = val;
        cf_st_put_i64(out, v->last_ms);
        cf_vol_slots_put(out, v->s, v->n);
}

/* The slots within the rings at cfg's sizes (as a replica rebuilds a published
 * contribution, detect_population.c). */
static bool vol_get(cf_st_dec *d, int version, void *val, const void *cfg)
{
        cf_vol_own *v = val;
        (void)version;
        int64_t last = cf_st_time(d, "last use"), top_hour, top_day;
        cf_vec slots = {0};
        if (cf_st_ok(d) && cf_vol_slots_get(d, &slots, &top_hour, &top_day)) {
                cf_vol_own_init_slots(v, cfg, top_hour, top_day);
                v->last_ms = last;
                cf_vol_own_add_slots(v, &slots);
        }
        free(slots.v);
        return cf_st_ok(d);
}

/* ---- deltas: a value's changes against what the last delta left ----
 *
 * Why: a publish folds each record into one sketch bucket and one hour and one day slot of
 * its keys, but the whole value went into the next delta: ~0.5-1.2 KB per key changed, most
 * of a commit's changelog bytes (bench/RESULTS.md § own deltas). Both patches start with the
 * last use as a zigzag varint after the old one's, then the sketch's (cf_lns_diff) or the
 * slots' (cf_vol_slots_diff) changes. */

/* The last use, read after old's: a time like any other (cf_st_time's bound). */
static int64_t later_last(cf_st_dec *d, int64_t old)
{
        int64_t dl = cf_st_sv(d), last = 0; /* -O1 cannot see the failure path returns 0 */
        if (cf_st_ok(d) && (__builtin_add_overflow(old, dl, &last) || last < -CF_ST_TIME_LIMIT_MS ||
                            last > CF_ST_TIME_LIMIT_MS))
                cf_st_fail(d, "last use %lld ms after %lld: not plausible", (long long)dl,
                           (long long)old);
        return cf_st_ok(d) ? last : 0;
}

/* The base of a diff: what put wrote at the last delta (this process's own bytes). */
static void base_dec(cf_st_dec *b, const unsigned char *base, size_t blen, char *err, size_t n)
{
        cf_st_dec_init(b, base, blen, "base", err, n);
}

static bool uv_diff(cf_buf *out, const unsigned char *base, size_t blen, const void *val)
{
        const cf_uv_rep *v = val;
        char err[64];
        cf_st_dec b;
        base_dec(&b, base, blen, err, sizeof err);
        int64_t last = cf_st_i64(&b);
        size_t at = out->len;
        cf_st_put_sv(out, v->last_ms - last); /* both within the time bound: no overflow */
        if (cf_st_ok(&b) && cf_lns_diff(out, &b, &v->s)) return true;
        out->len = at;
        return false;
}

static bool uv_patch(cf_st_dec *d, const void *old, void *val, const void *cfg)
{
        const cf_uv_rep *o = old;
        cf_uv_rep *v = val;
        (void)cfg;
        v->last_ms = later_last(d, o->last_ms);
        v->s = (cf_lns)CF_LNS_INIT;
        return cf_st_ok(d) && cf_lns_patch(d, &o->s, &v->s);
}

static bool vol_diff(cf_buf *out, const unsigned char *base, size_t blen, const void *val)
{
        const cf_vol_own *v = val;
        char err[64];
        cf_st_dec b;
        base_dec(&b, base, blen, err, sizeof err);
        int64_t last = cf_st_i64(&b);
        size_t at = out->len;
        cf_st_put_sv(out, v->last_ms - last);
        if (cf_st_ok(&b) && cf_vol_slots_diff(out, &b, v->s, v->n)) return true;
        out->len = at;
        return false;
}

/* The slots within the rings at cfg's sizes, as vol_get does. */
static bool vol_patch(cf_st_dec *d, const void *old, void *val, const void *cfg)
{
        const cf_vol_own *o = old;
        cf_vol_own *v = val;
        int64_t last = later_last(d, o->last_ms), top_hour, top_day;
        cf_vec slots = {0};
        if (cf_st_ok(d) && cf_vol_slots_patch(d, o->s, o->n, &slots, &top_hour, &top_day)) {
                cf_vol_own_init_slots(v, cfg, top_hour, top_day);
                v->last_ms = last;
                cf_vol_own_add_slots(v, &slots);
        }
        free(slots.v);
        return cf_st_ok(d);
}

const cf_detect_own cf_detect_owns[CF_DETECT_OWNS] = {
    {"unit_value_outlier.own", offsetof(cf_detect_part, uv_own), uv_put, uv_get, uv_diff, uv_patch,
     &cf_rule_unit_value_outlier},
    {"origin_volume_surge.own", offsetof(cf_detect_part, vol_own), vol_put, vol_get, vol_diff,
     vol_patch, &cf_rule_origin_volume_surge},
};

int cf_detect_own_named(const char *name, size_t n)
{
        for (int i = 0; i < CF_DETECT_OWNS; i++)
                if (strlen(cf_detect_owns[i].name) == n && !memcmp(cf_detect_owns[i].name, name, n))
                        return i;
        return -1;
}

cf_kvtab *cf_detect_own_table(cf_detect_part *ps, int i)
{
        return (cf_kvtab *)((char *)ps + cf_detect_owns[i].off);
}
