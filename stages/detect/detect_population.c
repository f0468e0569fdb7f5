/*
 * detect_population.c - the population state shared across partitions (DESIGN
 * §6, RULES.md "Population state"): what a partition publishes, how a
 * replica applies it, and the replica itself.
 *
 * Rules read the replica and push their record's contribution to the
 * partition's pending events (rule_unit_value.c, rule_volume.c,
 * rule_certificate.c). The pipeline moves them (pipeline/core/global.h):
 *
 *  - delta mode (replay): a publish carries the events since the last one;
 *    every replica applies each publish once. Merges are commutative (integer
 *    counts and sums on shared grids, "keep the earliest" for certificates),
 *    and everything that depends on the merged whole (sketch levels, cached
 *    medians, expiry) is settled once per round, so the replica after a round
 *    depends on the set of events, not on their partitions or order.
 *  - cumulative mode (the service): a partition also folds its events into
 *    its own contribution per key (a sketch, volume rings) and publishes, per
 *    changed key, the whole of it (topics.baselines is compacted: the latest
 *    per key and source partition is all a new instance needs). A replica
 *    keeps each (key, source partition)'s last contribution and replaces it:
 *    subtract the old, add the new. Certificate uses are events in both modes
 *    (topics.certificates, keyed by certificate id); merging one twice
 *    changes nothing but the line count, so re-deliveries are harmless.
 *
 * Message values (stenc fields): u8 type, u8 version (1), then by type:
 *   1 unit-value events: u32 n, n x (u64 key, i64 t, i32 gen, i32 fine)
 *   2 volume events: u32 n, n x (u64 key, i64 t, i64 hour, i64 cents, u32 decl)
 *   3 first event time of a partition: i64
 *   4 certificate uses: u32 n, n x (u64 key, u64 decl hash, u64 exporter hash, i64 t,
 *     str8 certificate, str8 declaration id, str8 exporter id)
 *   5 unit-value contribution: u64 key, u32 source, i64 last used, then the sketch:
 *     i32 generation, u8 level, u32 n, n x (i32 bucket, u32 previous, u32 current)
 *   6 volume contribution: u64 key, u32 source, i64 last used, u32 n, n x (u8 day,
 *     i64 hour or day, i64 cents, u32 declarations)
 * Keys: types 5 and 6 (u8 type, u64 key, u32 source): the compaction key; 3: (u8 3,
 * u32 source); 4 in cumulative mode: the certificate id (the repartition key).
 *
 * @locality: the thread that owns the chain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "pipeline/core/global.h"
#include "pipeline/core/stenc.h"
#include "stages/detect/detect_int.h"

enum {
        MSG_UV_EVENTS = 1,
        MSG_VOL_EVENTS = 2,
        MSG_FIRST = 3,
        MSG_CERT_USES = 4,
        MSG_UV_CUM = 5,
        MSG_VOL_CUM = 6,
};
#define MSG_VERSION 1
#define KIND_VOL    CF_POP_KIND_VOL
#define HOUR_LIMIT  (CF_ST_TIME_LIMIT_MS / 3600000LL)

void *cf_vec_push(cf_vec *a, size_t size)
{
        if (a->n == a->cap) {
                size_t cap = a->cap ? 2 * a->cap : 64;
                void *v = realloc(a->v, cap * size);
                if (!v) abort();
                a->v = v;
                a->cap = cap;
        }
        return (char *)a->v + size * a->n++;
}

const void *cf_detect_rule_cfg(const cf_detect *x, const cf_rule *ru)
{
        for (size_t i = 0; i < cf_detect_n_rules; i++)
                if (cf_detect_rules[i] == ru) return x->cfg[i];
        return NULL;
}

/* ---- applying contributions to a table of baselines / rings ---- */

static cf_uv_rep *uv_at(cf_kvtab *t, uint64_t key, int64_t ms)
{
        bool created;
        cf_uv_rep *v = cf_kvtab_put(t, key, ms, &created);
        if (created) v->s = (cf_lns)CF_LNS_INIT;
        return v;
}

static cf_vol_rep *vol_at(cf_kvtab *t, const void *cfg, uint64_t key, int64_t ms, int64_t hour)
{
        bool created;
        cf_vol_rep *v = cf_kvtab_put(t, key, ms, &created);
        if (created) cf_vol_rep_init(v, cfg, hour);
        return v;
}

static void mark_dirty(cf_detect *x, cf_uv_rep *v, uint64_t key)
{
        if (v->dirty) return;
        v->dirty = 1;
        *(uint64_t *)cf_vec_push(&x->rep->dirty, sizeof(uint64_t)) = key;
}

static void mark_vol_dirty(cf_detect *x, cf_vol_rep *v, uint64_t key)
{
        v->c_hour = -1; /* the cached sums no longer hold */
        if (v->dirty) return;
        v->dirty = 1;
        *(uint64_t *)cf_vec_push(&x->rep->vdirty, sizeof(uint64_t)) = key | KIND_VOL;
}

/* ---- publish ---- */

static void put_head(cf_buf *out, int type)
{
        cf_st_put_u8(out, (uint8_t)type);
        cf_st_put_u8(out, MSG_VERSION);
}

static void put_uv_events(cf_buf *out, const cf_vec *ev)
{
        const cf_uv_event *e = ev->v;
        put_head(out, MSG_UV_EVENTS);
        cf_st_put_u32(out, (uint32_t)ev->n);
        for (size_t i = 0; i < ev->n; i++) {
                cf_st_put_u64(out, e[i].key);
                cf_st_put_i64(out, e[i].t);
                cf_st_put_u32(out, (uint32_t)e[i].gen);
                cf_st_put_u32(out, (uint32_t)e[i].fine);
        }
}

static void put_vol_events(cf_buf *out, const cf_vec *ev)
{
        const cf_vol_event *e = ev->v;
        put_head(out, MSG_VOL_EVENTS);
        cf_st_put_u32(out, (uint32_t)ev->n);
        for (size_t i = 0; i < ev->n; i++) {
                cf_st_put_u64(out, e[i].key);
                cf_st_put_i64(out, e[i].t);
                cf_st_put_i64(out, e[i].hour);
                cf_st_put_i64(out, e[i].cents);
                cf_st_put_u32(out, e[i].decl);
        }
}

static void put_cert_use(cf_buf *out, const cf_cert_event *e)
{
        cf_st_put_u64(out, e->key);
        cf_st_put_u64(out, e->decl_h);
        cf_st_put_u64(out, e->exp_h);
        cf_st_put_i64(out, e->t);
        cf_st_put_str8(out, e->cert);
        cf_st_put_str8(out, e->decl);
        cf_st_put_str8(out, e->exporter);
}

static void msg_key(unsigned char *k, size_t *n, int type, uint64_t key, int32_t src)
{
        k[0] = (unsigned char)type;
        cf_st_store64(k + 1, key);
        for (int i = 0; i < 4; i++)
                k[9 + i] = (unsigned char)((uint32_t)src >> (8 * i));
        *n = 13;
}

typedef struct vol_put_ctx {
        cf_buf *out;
        uint32_t n;
} vol_put_ctx;

static void vol_put_one(void *op, bool day, int64_t at, int64_t cents, uint32_t decl)
{
        vol_put_ctx *c = op;
        cf_st_put_u8(c->out, day);
        cf_st_put_i64(c->out, at);
        cf_st_put_i64(c->out, cents);
        cf_st_put_u32(c->out, decl);
        c->n++;
}

void cf_vol_rep_put(cf_buf *out, cf_vol_rep *v)
{
        size_t at = out->len;
        cf_st_put_u32(out, 0);
        vol_put_ctx c = {out, 0};
        cf_vol_rep_each(v, vol_put_one, &c);
        unsigned char *p = (unsigned char *)out->p + at;
        for (int i = 0; i < 4; i++)
                p[i] = (unsigned char)(c.n >> (8 * i));
}

/* Cumulative mode: fold the pending events into the partition's own contributions. */
static void fold_own(cf_detect *x, cf_detect_part *ps)
{
        const void *vcfg = cf_detect_rule_cfg(x, &cf_rule_origin_volume_surge);
        const cf_uv_event *u = ps->uv_ev.v;
        for (size_t i = 0; i < ps->uv_ev.n; i++) {
                cf_uv_rep *v = uv_at(&ps->uv_own, u[i].key, u[i].t);
                cf_lns_add(&v->s, u[i].gen, u[i].fine, 1);
                if (!v->dirty) *(uint64_t *)cf_vec_push(&ps->own_dirty, 8) = u[i].key;
                v->dirty = 1;
        }
        const cf_vol_event *e = ps->vol_ev.v;
        for (size_t i = 0; i < ps->vol_ev.n; i++) {
                cf_vol_rep *v = vol_at(&ps->vol_own, vcfg, e[i].key, e[i].t, e[i].hour);
                cf_vol_rep_add(v, &e[i]);
                if (!v->dirty) *(uint64_t *)cf_vec_push(&ps->own_dirty, 8) = e[i].key | KIND_VOL;
                v->dirty = 1;
        }
}

/* Cumulative mode: one message per changed key with the partition's whole contribution. */
static void put_own(cf_detect_part *ps, int32_t partition, cf_buf *out)
{
        const uint64_t *k = ps->own_dirty.v;
        for (size_t i = 0; i < ps->own_dirty.n; i++) {
                bool vol = k[i] & KIND_VOL;
                uint64_t key = k[i] & ~KIND_VOL;
                unsigned char kb[13];
                size_t kn;
                msg_key(kb, &kn, vol ? MSG_VOL_CUM : MSG_UV_CUM, key, partition);
                void *val = cf_kvtab_get(vol ? &ps->vol_own : &ps->uv_own, key);
                if (!val) continue; /* evicted since: a replica keeps its last one */
                size_t at = cf_global_begin(out, CF_GLOBAL_BASELINES, kb, kn);
                put_head(out, vol ? MSG_VOL_CUM : MSG_UV_CUM);
                cf_st_put_u64(out, key);
                cf_st_put_u32(out, (uint32_t)partition);
                cf_st_put_i64(out, *(int64_t *)val);
                if (vol) {
                        ((cf_vol_rep *)val)->dirty = 0;
                        cf_vol_rep_put(out, val);
                } else {
                        cf_uv_rep *v = val;
                        v->dirty = 0;
                        cf_uv_sketch_settle(&v->s);
                        cf_lns_put(out, &v->s);
                }
                cf_global_end(out, at);
        }
        ps->own_dirty.n = 0;
}

int cf_detect_publish(cf_detect *x, cf_detect_part *ps, int32_t partition, cf_global_mode mode,
                      cf_buf *out)
{
        unsigned char kb[13];
        size_t kn;
        if (ps->first_ms < ps->first_published) {
                msg_key(kb, &kn, MSG_FIRST, 0, partition);
                size_t at = cf_global_begin(out, CF_GLOBAL_BASELINES, kb, 5);
                put_head(out, MSG_FIRST);
                cf_st_put_i64(out, ps->first_ms);
                cf_global_end(out, at);
                ps->first_published = ps->first_ms;
        }
        if (mode == CF_GLOBAL_CUMULATIVE) {
                fold_own(x, ps);
                put_own(ps, partition, out);
        } else {
                /* contributions converted from an earlier release's snapshot */
                if (ps->own_dirty.n) put_own(ps, partition, out);
                msg_key(kb, &kn, MSG_UV_EVENTS, 0, partition);
                if (ps->uv_ev.n) {
                        size_t at = cf_global_begin(out, CF_GLOBAL_BASELINES, kb, 5);
                        put_uv_events(out, &ps->uv_ev);
                        cf_global_end(out, at);
                }
                kb[0] = MSG_VOL_EVENTS;
                if (ps->vol_ev.n) {
                        size_t at = cf_global_begin(out, CF_GLOBAL_BASELINES, kb, 5);
                        put_vol_events(out, &ps->vol_ev);
                        cf_global_end(out, at);
                }
        }
        ps->uv_ev.n = ps->vol_ev.n = 0;
        /* uses: one message each, keyed by certificate, in cumulative mode (the
         * repartition topic); one message for all in delta mode */
        const cf_cert_event *c = ps->cert_ev.v;
        for (size_t i = 0; i < ps->cert_ev.n; i++) {
                bool each = mode == CF_GLOBAL_CUMULATIVE;
                if (!each && i) break;
                size_t at = each ? cf_global_begin(out, CF_GLOBAL_CERTIFICATES, c[i].cert,
                                                   strlen(c[i].cert))
                                 : cf_global_begin(out, CF_GLOBAL_CERTIFICATES, kb, 0);
                put_head(out, MSG_CERT_USES);
                cf_st_put_u32(out, each ? 1 : (uint32_t)ps->cert_ev.n);
                for (size_t j = i; j < (each ? i + 1 : ps->cert_ev.n); j++)
                        put_cert_use(out, &c[j]);
                cf_global_end(out, at);
        }
        ps->cert_ev.n = 0;
        (void)x;
        return 0;
}

/* ---- apply ---- */

/* A u32 count of items of at least min_bytes each that must fit in what is left. */
static uint32_t get_count(cf_st_dec *d, size_t min_bytes, const char *what)
{
        uint32_t n = cf_st_u32(d);
        if (cf_st_ok(d) && n > cf_st_left(d) / min_bytes) {
                cf_st_fail(d, "%u %s in %zu bytes", n, what, cf_st_left(d));
                return 0;
        }
        return n;
}

static bool get_uv_events(cf_st_dec *d, cf_vec *tmp)
{
        uint32_t n = get_count(d, 24, "unit-value events");
        for (uint32_t i = 0; i < n && cf_st_ok(d); i++) {
                cf_uv_event *e = cf_vec_push(tmp, sizeof(*e));
                e->key = cf_st_u64(d);
                e->t = cf_st_time(d, "event time");
                e->gen = (int32_t)cf_st_u32(d);
                e->fine = (int32_t)cf_st_u32(d);
                if (cf_st_ok(d) && (e->fine > (1 << CF_LNS_FINE_BITS) * CF_LNS_X_LIMIT ||
                                    e->fine < -(1 << CF_LNS_FINE_BITS) * CF_LNS_X_LIMIT - 1))
                        return cf_st_fail(d, "unit-value bucket %d out of range", e->fine);
        }
        return cf_st_ok(d);
}

static bool get_vol_events(cf_st_dec *d, cf_vec *tmp)
{
        uint32_t n = get_count(d, 36, "volume events");
        for (uint32_t i = 0; i < n && cf_st_ok(d); i++) {
                cf_vol_event *e = cf_vec_push(tmp, sizeof(*e));
                e->key = cf_st_u64(d);
                e->t = cf_st_time(d, "event time");
                e->hour = cf_st_i64(d);
                e->cents = cf_st_i64(d);
                e->decl = cf_st_u32(d);
                if (cf_st_ok(d) &&
                    (e->hour < 0 || e->hour > HOUR_LIMIT || e->cents < 0 || e->decl > 1))
                        return cf_st_fail(d,
                                          "volume event (hour %lld, cents %lld, decl %u) out "
                                          "of range",
                                          (long long)e->hour, (long long)e->cents, e->decl);
        }
        return cf_st_ok(d);
}

static bool get_cert_uses(cf_st_dec *d, cf_vec *tmp)
{
        uint32_t n = get_count(d, 35, "certificate uses");
        for (uint32_t i = 0; i < n && cf_st_ok(d); i++) {
                cf_cert_event *e = cf_vec_push(tmp, sizeof(*e));
                e->key = cf_st_u64(d);
                e->decl_h = cf_st_u64(d);
                e->exp_h = cf_st_u64(d);
                e->t = cf_st_time(d, "use time");
                cf_st_str8(d, e->cert, sizeof(e->cert), "certificate id");
                cf_st_str8(d, e->decl, sizeof(e->decl), "declaration id");
                cf_st_str8(d, e->exporter, sizeof(e->exporter), "exporter id");
        }
        return cf_st_ok(d);
}

/* A contribution (types 5, 6), decoded. */
typedef struct vol_slot {
        int64_t at, cents;
        uint32_t decl;
        uint8_t day;
} vol_slot;

typedef struct cum {
        int type;
        uint64_t key;
        uint32_t src;
        int64_t last_ms;
        cf_lns s;     /* type 5 */
        cf_vec slots; /* type 6: vol_slot */
} cum;

static bool get_cum(cf_st_dec *d, int type, cum *c)
{
        c->type = type;
        c->key = cf_st_u64(d);
        c->src = cf_st_u32(d);
        c->last_ms = cf_st_time(d, "last use");
        c->slots.n = 0;
        if (type == MSG_UV_CUM) return cf_lns_get(d, &c->s);
        uint32_t n = get_count(d, 21, "volume slots");
        for (uint32_t i = 0; i < n && cf_st_ok(d); i++) {
                vol_slot *v = cf_vec_push(&c->slots, sizeof(*v));
                v->day = cf_st_u8(d);
                v->at = cf_st_i64(d);
                v->cents = cf_st_i64(d);
                v->decl = cf_st_u32(d);
                if (cf_st_ok(d) && (v->day > 1 || v->at < 0 || v->at > HOUR_LIMIT || v->cents < 0))
                        return cf_st_fail(d, "volume slot out of range");
        }
        return cf_st_ok(d);
}

/* Add (sign 1) or take out (sign -1) a contribution from the replica. */
static void cum_apply(cf_detect *x, const cum *c, int sign)
{
        cf_detect_pop *g = x->rep;
        if (c->type == MSG_UV_CUM) {
                cf_uv_rep *v =
                    sign > 0 ? uv_at(&g->uv, c->key, c->last_ms) : cf_kvtab_get(&g->uv, c->key);
                if (!v) return;
                if (sign > 0)
                        cf_lns_merge(&v->s, &c->s);
                else
                        cf_lns_sub(&v->s, &c->s);
                mark_dirty(x, v, c->key);
                return;
        }
        const vol_slot *s = c->slots.v;
        int64_t top = 0;
        for (size_t i = 0; i < c->slots.n; i++) {
                int64_t h = s[i].day ? s[i].at * 24 : s[i].at;
                if (h > top) top = h;
        }
        cf_vol_rep *v = sign > 0
                            ? vol_at(&g->vol, cf_detect_rule_cfg(x, &cf_rule_origin_volume_surge),
                                     c->key, c->last_ms, top)
                            : cf_kvtab_get(&g->vol, c->key);
        for (size_t i = 0; v && i < c->slots.n; i++)
                cf_vol_ring_add(v, s[i].day, s[i].at, sign * s[i].cents, sign * (int64_t)s[i].decl);
        if (v) mark_vol_dirty(x, v, c->key);
}

/* The contribution store: (type, key, source) -> the last message value. */
typedef struct contrib_val {
        int64_t last_ms;
        unsigned char *blob;
        uint32_t len;
} contrib_val;

static void blob_apply(cf_detect *x, const unsigned char *blob, size_t len, int sign)
{
        char err[16];
        cf_st_dec d;
        cf_st_dec_init(&d, blob, len, "", err, sizeof(err));
        cum c = {.s = CF_LNS_INIT};
        int type = cf_st_u8(&d);
        cf_st_u8(&d);
        if (get_cum(&d, type, &c)) cum_apply(x, &c, sign); /* stored: checked when it came */
        cf_lns_free(&c.s);
        free(c.slots.v);
}

static void contrib_drop(void *opaque, uint64_t key, void *val)
{
        cf_detect *x = opaque;
        contrib_val *v = val;
        (void)key;
        if (!x->pop.freeing) { /* evicted: the replica forgets it too (counted) */
                blob_apply(x, v->blob, v->len, -1);
                x->pop.contrib_evicted++;
        }
        free(v->blob);
        v->blob = NULL;
}

static uint64_t contrib_key(const unsigned char *k, size_t n)
{
        return XXH3_64bits(k, n);
}

static int apply_cum(cf_detect *x, const cf_global_msg *m, cf_st_dec *d, int type)
{
        cum c = {.s = CF_LNS_INIT};
        int rc = -1;
        if (!get_cum(d, type, &c) || !cf_st_done(d)) goto out;
        unsigned char kb[13];
        size_t kn;
        msg_key(kb, &kn, type, c.key, (int32_t)c.src);
        bool created;
        contrib_val *v = cf_kvtab_put(&x->rep->contrib, contrib_key(kb, kn), c.last_ms, &created);
        if (!created && v->blob) {
                blob_apply(x, v->blob, v->len, -1);
                free(v->blob);
        }
        v->blob = malloc(m->val_len);
        if (!v->blob) abort();
        memcpy(v->blob, m->val, m->val_len);
        v->len = (uint32_t)m->val_len;
        cum_apply(x, &c, 1);
        rc = 0;
out:
        cf_lns_free(&c.s);
        free(c.slots.v);
        return rc;
}

/* Delta events and certificate uses: decoded whole, then merged (nothing of a refused
 * message is applied). */
static int apply_events(cf_detect *x, cf_st_dec *d, int type)
{
        cf_detect_pop *g = x->rep;
        cf_vec tmp = {0};
        bool ok = type == MSG_UV_EVENTS    ? get_uv_events(d, &tmp)
                  : type == MSG_VOL_EVENTS ? get_vol_events(d, &tmp)
                                           : get_cert_uses(d, &tmp);
        if (!ok || !cf_st_done(d)) {
                free(tmp.v);
                return -1;
        }
        const void *vcfg = cf_detect_rule_cfg(x, &cf_rule_origin_volume_surge);
        for (size_t i = 0; i < tmp.n; i++) {
                if (type == MSG_UV_EVENTS) {
                        const cf_uv_event *e = (const cf_uv_event *)tmp.v + i;
                        cf_uv_rep *v = uv_at(&g->uv, e->key, e->t);
                        cf_lns_add(&v->s, e->gen, e->fine, 1);
                        mark_dirty(x, v, e->key);
                } else if (type == MSG_VOL_EVENTS) {
                        const cf_vol_event *e = (const cf_vol_event *)tmp.v + i;
                        cf_vol_rep *v = vol_at(&g->vol, vcfg, e->key, e->t, e->hour);
                        cf_vol_rep_add(v, e);
                        mark_vol_dirty(x, v, e->key);
                } else {
                        const cf_cert_event *e = (const cf_cert_event *)tmp.v + i;
                        cf_cert_rep_merge(cf_kvtab_put(&g->cert, e->key, e->t, NULL), e);
                }
        }
        free(tmp.v);
        return 0;
}

/* The part of a split apply (cf_detect_pop_share) a message type belongs to: the part of
 * the table it changes. Measured (1M records, 16 partitions): certificate uses cost about
 * as much as unit values and volume rings together, so with two parts they are one part.
 * Cumulative messages (the service, never split) go with part 0. */
static int part_of(const cf_detect *x, int type)
{
        int n = x->share_n;
        return type == MSG_UV_EVENTS ? 1 % n : type == MSG_VOL_EVENTS ? (n == 2 ? 1 : 2 % n) : 0;
}

int cf_detect_apply(cf_detect *x, const cf_global_msg *m, char *errstr, size_t errstr_size)
{
        cf_st_dec d;
        cf_st_dec_init(&d, m->val, m->val_len, "detect: population message", errstr, errstr_size);
        int type = cf_st_u8(&d), version = cf_st_u8(&d), rc = -1;
        if (x->share_n > 1 && cf_st_ok(&d) && part_of(x, type) != x->share_k)
                return 0; /* another chain's part */
        if (cf_st_ok(&d) && version != MSG_VERSION) {
                cf_st_fail(&d, "version %d, this build reads %d", version, MSG_VERSION);
        } else if (!cf_st_ok(&d)) {
        } else if (type == MSG_FIRST) {
                int64_t first = cf_st_time(&d, "first event time");
                if (cf_st_done(&d)) {
                        if (first < x->rep->first_ms) x->rep->first_ms = first;
                        rc = 0;
                }
        } else if (type == MSG_UV_CUM || type == MSG_VOL_CUM) {
                rc = apply_cum(x, m, &d, type);
        } else if (type >= MSG_UV_EVENTS && type <= MSG_CERT_USES) {
                rc = apply_events(x, &d, type);
        } else {
                cf_st_fail(&d, "unknown type %d", type);
        }
        if (rc)
                x->pop.refused++;
        else
                x->pop.applied++;
        return rc;
}

/* Settle the values of the keys in dirty (uv keys, or vol keys | KIND_VOL). */
static void settle_keys(cf_detect *x, cf_vec *dirty)
{
        cf_detect_pop *g = x->rep;
        const void *ucfg = cf_detect_rule_cfg(x, &cf_rule_unit_value_outlier);
        const void *vcfg = cf_detect_rule_cfg(x, &cf_rule_origin_volume_surge);
        const uint64_t *k = dirty->v;
        for (size_t i = 0; i < dirty->n; i++) {
                if (k[i] & KIND_VOL) {
                        cf_vol_rep *v = cf_kvtab_get(&g->vol, k[i] & ~KIND_VOL);
                        if (v) cf_vol_settle(vcfg, v);
                        continue;
                }
                cf_uv_rep *v = cf_kvtab_get(&g->uv, k[i]);
                if (v) cf_uv_settle(ucfg, v);
        }
        dirty->n = 0;
}

void cf_detect_settle(cf_detect *x)
{
        cf_detect_pop *g = x->rep;
        /* each value settles alone: the uv and vol keys may go in either order */
        if (part_of(x, MSG_UV_EVENTS) == x->share_k) settle_keys(x, &g->dirty);
        if (part_of(x, MSG_VOL_EVENTS) == x->share_k) settle_keys(x, &g->vdirty);
        for (size_t i = 0; i < cf_detect_n_rules; i++) {
                const cf_rule *ru = cf_detect_rules[i];
                if (!ru->replica_off) continue;
                cf_kvtab *t = cf_rule_replica(ru, g);
                int type = t == &g->vol    ? MSG_VOL_EVENTS
                           : t == &g->cert ? MSG_CERT_USES
                                           : MSG_UV_EVENTS;
                if (part_of(x, type) != x->share_k) continue;
                cf_kvtab_release_clock(t);
                cf_kvtab_hold_clock(t);
        }
}

void cf_detect_pop_share(cf_detect *x, cf_detect *owner, int k, int n)
{
        x->rep = &owner->pop;
        x->share_k = k;
        x->share_n = n;
}

/* ---- set-up ---- */

static void replica_limits(const cf_detect *x, const cf_rule *ru, size_t *max, int64_t *window,
                           uint32_t *vsize)
{
        *max = 1;
        *window = 0;
        *vsize = ru->replica_size;
        ru->replica_limits(cf_detect_rule_cfg(x, ru), max, window, vsize);
}

void cf_detect_pop_init(cf_detect *x)
{
        cf_detect_pop *g = &x->pop;
        g->first_ms = INT64_MAX;
        for (size_t i = 0; i < cf_detect_n_rules; i++) {
                const cf_rule *ru = cf_detect_rules[i];
                if (!ru->replica_off) continue;
                size_t max;
                int64_t window;
                uint32_t vsize;
                replica_limits(x, ru, &max, &window, &vsize);
                cf_kvtab *t = cf_rule_replica(ru, g);
                cf_kvtab_init(t, vsize, max, window);
                if (ru == &cf_rule_unit_value_outlier) t->drop = cf_uv_rep_drop;
                cf_kvtab_hold_clock(t);
        }
        cf_kvtab_init(&g->contrib, sizeof(contrib_val), (size_t)g->max_contrib, 0);
        g->contrib.drop = contrib_drop;
        g->contrib.drop_opaque = x;
}

void cf_detect_pop_reload(cf_detect *x)
{
        for (size_t i = 0; i < cf_detect_n_rules; i++) {
                const cf_rule *ru = cf_detect_rules[i];
                if (!ru->replica_off) continue;
                size_t max;
                int64_t window;
                uint32_t vsize; /* the layout stays until restart */
                replica_limits(x, ru, &max, &window, &vsize);
                cf_rule_replica(ru, &x->pop)->max = max;
                cf_rule_replica(ru, &x->pop)->window_ms = window;
        }
        x->pop.contrib.max = (size_t)x->pop.max_contrib;
}

void cf_detect_pop_free(cf_detect *x)
{
        cf_detect_pop *g = &x->pop;
        g->freeing = true;
        cf_kvtab_free(&g->contrib);
        for (size_t i = 0; i < cf_detect_n_rules; i++)
                if (cf_detect_rules[i]->replica_off)
                        cf_kvtab_free(cf_rule_replica(cf_detect_rules[i], g));
        free(g->dirty.v);
        memset(&g->dirty, 0, sizeof(g->dirty));
        free(g->vdirty.v);
        memset(&g->vdirty, 0, sizeof(g->vdirty));
}

void cf_detect_part_init_pop(cf_detect *x, cf_detect_part *ps)
{
        ps->first_ms = ps->first_published = INT64_MAX;
        size_t max;
        int64_t window;
        uint32_t vsize;
        replica_limits(x, &cf_rule_unit_value_outlier, &max, &window, &vsize);
        cf_kvtab_init(&ps->uv_own, vsize, max, window);
        ps->uv_own.drop = cf_uv_rep_drop;
        replica_limits(x, &cf_rule_origin_volume_surge, &max, &window, &vsize);
        cf_kvtab_init(&ps->vol_own, vsize, max, window);
}

void cf_detect_part_free_pop(cf_detect_part *ps)
{
        cf_kvtab_free(&ps->uv_own);
        cf_kvtab_free(&ps->vol_own);
        free(ps->uv_ev.v);
        free(ps->vol_ev.v);
        free(ps->cert_ev.v);
        free(ps->own_dirty.v);
}
