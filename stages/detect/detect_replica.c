/*
 * detect_replica.c - snapshot and restore of the replica of the population
 * state (detect_population.c), for runs that keep it themselves across restarts
 * (`replay --state`; the service rebuilds it from its topics instead).
 *
 * Format (pipeline/core/stenc.h fields, little-endian): magic "CFDR", version
 * (u16, 1), the first event time (i64, INT64_MAX: none), then three tables,
 * each an entry count (u64) and the entries:
 *   unit value: key (u64), last used (i64), the sketch (cf_lns_put);
 *   volume: key (u64), last used (i64), newest hour (i64), slots (u32 count,
 *     then u8 day flag, i64 hour or day, i64 cents, u32 declarations);
 *   certificates: key (u64), last used (i64), uses (u64), declarations kept
 *     (u8 count, then i64 time and u64 hash each), exporters kept (u8 count,
 *     then i64 time, u64 hash and the id as str8 each), first declaration id
 *     (str8).
 * What is derived (medians and spreads, cached sums) is recomputed, and the
 * volume rings are rebuilt at the current configuration's sizes from the
 * slots, so a snapshot taken under other windows still restores.
 *
 * Restore builds new tables and swaps them in only when everything was read
 * and checked: a refused snapshot changes nothing.
 *
 * @locality: the thread that owns the chain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages/detect/detect_int.h"

#define REP_VERSION 1

/* ---- snapshot ---- */

typedef struct put_ctx {
        cf_buf *out;
        uint64_t n;
} put_ctx;

static void put_uv(void *op, uint64_t key, void *val)
{
        put_ctx *c = op;
        const cf_uv_rep *v = val;
        cf_st_put_u64(c->out, key);
        cf_st_put_i64(c->out, v->last_ms);
        cf_lns_put(c->out, &v->s);
        c->n++;
}

static void put_vol(void *op, uint64_t key, void *val)
{
        put_ctx *c = op;
        cf_vol_rep *v = val;
        cf_st_put_u64(c->out, key);
        cf_st_put_i64(c->out, v->last_ms);
        cf_st_put_i64(c->out, v->cur_hour);
        cf_vol_rep_put(c->out, v);
        c->n++;
}

static void put_cert(void *op, uint64_t key, void *val)
{
        put_ctx *c = op;
        const cf_cert_rep *v = val;
        cf_st_put_u64(c->out, key);
        cf_cert_rep_put(c->out, v);
        c->n++;
}

/* A table: its entry count (patched), then fn's entries. */
static void put_table(cf_buf *out, cf_kvtab *t, void (*fn)(void *, uint64_t, void *))
{
        size_t at = out->len;
        cf_st_put_u64(out, 0);
        put_ctx c = {out, 0};
        cf_kvtab_each(t, fn, &c);
        cf_st_store64((unsigned char *)out->p + at, c.n);
}

void cf_detect_replica_snapshot(cf_detect *x, cf_buf *out)
{
        cf_detect_pop *g = &x->pop;
        memcpy(cf_st_room(out, 4), "CFDR", 4);
        cf_st_put_u16(out, REP_VERSION);
        cf_st_put_i64(out, g->first_ms);
        put_table(out, &g->uv, put_uv);
        put_table(out, &g->vol, put_vol);
        put_table(out, &g->cert, put_cert);
}

/* ---- restore ---- */

static bool get_uv(cf_detect *x, cf_detect_pop *g, cf_st_dec *d)
{
        uint64_t key = cf_st_u64(d);
        int64_t last = cf_st_time(d, "last use");
        cf_lns s = CF_LNS_INIT;
        if (!cf_lns_get(d, &s)) {
                cf_lns_free(&s);
                return false;
        }
        bool created;
        cf_uv_rep *v = cf_kvtab_put(&g->uv, key, last, &created);
        if (!created) {
                cf_lns_free(&s);
                return cf_st_fail(d, "baseline %016llx twice", (unsigned long long)key);
        }
        v->s = s;
        cf_uv_settle(cf_detect_rule_cfg(x, &cf_rule_unit_value_outlier), v);
        return true;
}

static bool get_vol(cf_detect *x, cf_detect_pop *g, cf_st_dec *d, cf_vec *slots)
{
        uint64_t key = cf_st_u64(d);
        int64_t last = cf_st_time(d, "last use"), hour = cf_st_i64(d), top_hour, top_day;
        if (!cf_st_ok(d)) return false;
        if (hour < 0 || hour > CF_ST_TIME_LIMIT_MS / 3600000LL)
                return cf_st_fail(d, "volume pair %016llx: hour %lld", (unsigned long long)key,
                                  (long long)hour);
        if (!cf_vol_slots_get(d, slots, &top_hour, &top_day)) return false;
        /* no slot after the newest hour the pair was written at */
        if (top_hour > hour + 23 || top_day > (hour + 23) / 24)
                return cf_st_fail(d, "volume pair %016llx: a slot after hour %lld",
                                  (unsigned long long)key, (long long)hour);
        bool created;
        const void *cfg = cf_detect_rule_cfg(x, &cf_rule_origin_volume_surge);
        cf_vol_rep *v = cf_kvtab_put(&g->vol, key, last, &created);
        if (!created) return cf_st_fail(d, "volume pair %016llx twice", (unsigned long long)key);
        uint16_t nh, nd;
        cf_detect_vol_sizes(x, g, &nh, &nd);
        cf_vol_rep_init(v, nh, nd, hour);
        cf_vol_slots_add(v, slots, 1);
        cf_vol_settle(cfg, v);
        return true;
}

static bool get_use(cf_st_dec *d, cf_cert_use *u, const cf_cert_use *prev)
{
        u->t = cf_st_time(d, "use time");
        u->h = cf_st_u64(d);
        if (cf_st_ok(d) && prev && (u->t < prev->t || (u->t == prev->t && u->h <= prev->h)))
                return cf_st_fail(d, "certificate uses out of order");
        return cf_st_ok(d);
}

static bool get_cert(cf_detect_pop *g, cf_st_dec *d)
{
        uint64_t key = cf_st_u64(d);
        int64_t last = cf_st_time(d, "last use");
        cf_cert_full tmp = {.last_ms = last, .uses = cf_st_u64(d)};
        tmp.nd = cf_st_u8(d);
        if (cf_st_ok(d) && (tmp.nd > CF_CERT_KEEP || !tmp.nd))
                return cf_st_fail(d, "certificate with %u declarations kept", tmp.nd);
        for (int i = 0; i < tmp.nd && cf_st_ok(d); i++)
                get_use(d, &tmp.decl[i], i ? &tmp.decl[i - 1] : NULL);
        tmp.ne = cf_st_u8(d);
        if (cf_st_ok(d) && (tmp.ne > CF_CERT_EXP || !tmp.ne))
                return cf_st_fail(d, "certificate with %u exporters kept", tmp.ne);
        for (int i = 0; i < tmp.ne && cf_st_ok(d); i++) {
                get_use(d, &tmp.exp[i], i ? &tmp.exp[i - 1] : NULL);
                cf_st_str8(d, tmp.exp_id[i], CF_CERT_ID_LEN, "an exporter id");
        }
        cf_st_str8(d, tmp.first_decl, CF_CERT_DECL_ID, "first declaration id");
        if (!cf_st_ok(d)) return false;
        bool created;
        cf_cert_rep *v = cf_kvtab_put(&g->cert, key, last, &created);
        if (!created) return cf_st_fail(d, "certificate %016llx twice", (unsigned long long)key);
        cf_cert_rep_set(v, &tmp);
        return true;
}

/* The tables of the snapshot into g (set up empty for the current config). */
static bool read_tables(cf_detect *x, cf_detect_pop *g, cf_st_dec *d)
{
        const unsigned char *m = cf_st_take(d, 4);
        if (!m) return false;
        if (memcmp(m, "CFDR", 4)) return cf_st_fail(d, "bad magic");
        int version = cf_st_u16(d);
        if (cf_st_ok(d) && version != REP_VERSION)
                return cf_st_fail(d, "version %d, this build reads %d", version, REP_VERSION);
        g->first_ms = cf_st_i64(d);
        if (cf_st_ok(d) && g->first_ms != INT64_MAX &&
            (g->first_ms < -CF_ST_TIME_LIMIT_MS || g->first_ms > CF_ST_TIME_LIMIT_MS))
                return cf_st_fail(d, "first event time not plausible");
        uint64_t n = cf_st_u64(d);
        for (uint64_t i = 0; i < n && cf_st_ok(d); i++)
                get_uv(x, g, d);
        n = cf_st_u64(d);
        cf_vec slots = {0};
        for (uint64_t i = 0; i < n && cf_st_ok(d); i++)
                get_vol(x, g, d, &slots);
        free(slots.v);
        n = cf_st_u64(d);
        for (uint64_t i = 0; i < n && cf_st_ok(d); i++)
                get_cert(g, d);
        return cf_st_done(d);
}

int cf_detect_replica_restore(cf_detect *x, const void *data, size_t len, char *errstr,
                              size_t errstr_size)
{
        cf_detect_pop old = x->pop;
        memset(&x->pop, 0, sizeof x->pop);
        x->pop.max_contrib = old.max_contrib;
        x->pop.n_buckets = old.n_buckets;
        cf_detect_pop_init(x); /* fresh tables, same bounds */
        x->pop.applied = old.applied;
        x->pop.refused = old.refused;
        cf_st_dec d;
        cf_st_dec_init(&d, data, len, "detect: population snapshot", errstr, errstr_size);
        if (!len || read_tables(x, &x->pop, &d)) {
                cf_detect_pop fresh = x->pop;
                x->pop = old;
                cf_detect_pop_free(x);
                x->pop = fresh;
                x->pop.freeing = false;
                return 0;
        }
        cf_detect_pop_free(x); /* the half-read new tables */
        x->pop = old;
        return -1;
}
