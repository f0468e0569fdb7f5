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
 *    its own contribution per key (a sketch, volume rings; partition state,
 *    detect_own.c) and publishes every bucket of keys holding a changed one
 *    whole (detect_bucket.c; topics.baselines is compacted: the latest per
 *    bucket and source partition is all a new instance needs). A replica
 *    keeps each (key, source partition)'s last contribution and replaces it
 *    (subtract the old, add the new; unchanged bytes: nothing), and takes out
 *    what a bucket no longer holds. Certificate uses are events in both modes
 *    (topics.certificates, a publish's uses together); merging one twice
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
 *   7 a bucket of contributions (entries of types 5 and 6): detect_bucket.c
 * Types 5 and 6 are only read inside a bucket: alone, they are the format of
 * releases before buckets (one message per key), refused, as such a message read
 * after a newer bucket would undo it.
 * Keys: 7: (u8 7, u32 source, u32 buckets, u32 bucket, u16 part): the compaction key;
 * 3: (u8 3, u32 source); 4 in cumulative mode: (u8 4, u32 source). In cumulative mode
 * every message is routed by its source partition (global.h).
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

#define MSG_UV_EVENTS  CF_POP_UV_EVENTS
#define MSG_VOL_EVENTS CF_POP_VOL_EVENTS
#define MSG_FIRST      CF_POP_FIRST
#define MSG_CERT_USES  CF_POP_CERT_USES
#define MSG_UV_CUM     CF_POP_UV_CUM
#define MSG_VOL_CUM    CF_POP_VOL_CUM
#define MSG_VERSION    CF_POP_MSG_VERSION
#define CERT_CHUNK     2048 /* uses per message: ~0.5 MB at most */
#define KIND_VOL       CF_POP_KIND_VOL
#define HOUR_LIMIT     (CF_ST_TIME_LIMIT_MS / 3600000LL)

/* ---- applying contributions to a table of baselines / rings ---- */

static cf_uv_rep *uv_at(cf_kvtab *t, uint64_t key, int64_t ms)
{
        bool created;
        cf_uv_rep *v = cf_kvtab_put(t, key, ms, &created);
        if (created) v->s = (cf_lns)CF_LNS_INIT;
        return v;
}

static cf_vol_rep *vol_at(cf_detect *x, uint64_t key, int64_t ms, int64_t hour)
{
        bool created;
        cf_vol_rep *v = cf_kvtab_put(&x->rep->vol, key, ms, &created);
        if (created) {
                uint16_t nh, nd;
                cf_detect_vol_sizes(x, x->rep, &nh, &nd);
                cf_vol_rep_init(v, nh, nd, hour);
        }
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
                bool created;
                cf_vol_own *v = cf_kvtab_put(&ps->vol_own, e[i].key, e[i].t, &created);
                if (created) cf_vol_own_init(v, vcfg, e[i].hour);
                cf_vol_own_add(v, &e[i]);
                if (!v->dirty) *(uint64_t *)cf_vec_push(&ps->own_dirty, 8) = e[i].key | KIND_VOL;
                v->dirty = 1;
        }
}

/* The certificate uses since the last publish. One message for all in delta mode; in
 * cumulative mode (the service) a message per CERT_CHUNK uses, keyed by the source
 * partition: every replica reads the topic whole, so one message per use (keyed by
 * certificate) bought nothing but per-message cost. */
static void put_uses(cf_detect_part *ps, int32_t partition, bool cum, cf_buf *out)
{
        unsigned char kb[13];
        size_t kn;
        const cf_cert_event *c = ps->cert_ev.v;
        size_t chunk = cum ? CERT_CHUNK : ps->cert_ev.n;
        msg_key(kb, &kn, MSG_CERT_USES, 0, partition);
        for (size_t i = 0; i < ps->cert_ev.n; i += chunk) {
                size_t n = ps->cert_ev.n - i < chunk ? ps->cert_ev.n - i : chunk;
                size_t at =
                    cum ? cf_global_begin_route(out, CF_GLOBAL_CERTIFICATES, partition, kb, 5)
                        : cf_global_begin(out, CF_GLOBAL_CERTIFICATES, kb, 0);
                put_head(out, MSG_CERT_USES);
                cf_st_put_u32(out, (uint32_t)n);
                for (size_t j = i; j < i + n; j++)
                        put_cert_use(out, &c[j]);
                cf_global_end(out, at);
        }
        ps->cert_ev.n = 0;
}

int cf_detect_publish(cf_detect *x, cf_detect_part *ps, int32_t partition, cf_global_mode mode,
                      cf_buf *out)
{
        if (mode == CF_GLOBAL_USES) { /* the rest waits for the next whole publish */
                put_uses(ps, partition, true, out);
                return 0;
        }
        if (mode == CF_GLOBAL_FOLD) { /* the events are not in a checkpoint: their fold is */
                fold_own(x, ps);
                ps->uv_ev.n = ps->vol_ev.n = 0;
                return 0;
        }
        unsigned char kb[13];
        size_t kn;
        if (ps->first_ms < ps->first_published) {
                msg_key(kb, &kn, MSG_FIRST, 0, partition);
                size_t at = cf_global_begin_route(out, CF_GLOBAL_BASELINES, partition, kb, 5);
                put_head(out, MSG_FIRST);
                cf_st_put_i64(out, ps->first_ms);
                cf_global_end(out, at);
                ps->first_published = ps->first_ms;
        }
        if (mode == CF_GLOBAL_CUMULATIVE) {
                fold_own(x, ps);
                cf_detect_put_buckets(x, ps, partition, out);
        } else {
                ps->republish = false; /* events: a restore has nothing to send again */
                /* contributions converted from an earlier release's snapshot */
                if (ps->own_dirty.n) cf_detect_put_buckets(x, ps, partition, out);
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
        put_uses(ps, partition, mode == CF_GLOBAL_CUMULATIVE, out);
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
typedef struct cum {
        int type;
        uint64_t key;
        uint32_t src;
        int64_t last_ms;
        cf_lns s;                  /* type 5 */
        cf_vec slots;              /* type 6: cf_vol_slot */
        int64_t top_hour, top_day; /* type 6: the newest slots (cf_vol_slots_get) */
} cum;

static bool get_cum(cf_st_dec *d, int type, cum *c)
{
        c->type = type;
        c->key = cf_st_u64(d);
        c->src = cf_st_u32(d);
        c->last_ms = cf_st_time(d, "last use");
        c->slots.n = 0;
        if (type == MSG_UV_CUM) return cf_lns_get(d, &c->s);
        return cf_st_ok(d) && cf_vol_slots_get(d, &c->slots, &c->top_hour, &c->top_day);
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
        cf_vol_rep *v;
        bool created = false;
        if (sign > 0) {
                v = cf_kvtab_put(&g->vol, c->key, c->last_ms, &created);
                if (created) {
                        uint16_t nh, nd;
                        cf_detect_vol_sizes(x, g, &nh, &nd);
                        cf_vol_rep_init_slots(v, nh, nd, c->top_hour, c->top_day);
                }
        } else {
                v = cf_kvtab_get(&g->vol, c->key);
                if (!v) return;
        }
        cf_vol_slots_add(v, &c->slots, sign);
        mark_vol_dirty(x, v, c->key);
}

/* The contribution store: (type, key, source) -> the last contribution (a type 5 or 6
 * value), and the bucket message (part) that set it. */
typedef struct contrib_val {
        int64_t last_ms;
        unsigned char *blob;
        uint32_t len;
        uint64_t owner; /* bucket_key of the message that set it */
} contrib_val;

/* The bucket store: per bucket message key, the contributions its latest message set
 * (contrib keys, sorted), so that a key it no longer holds leaves the replica. */
typedef struct bucket_val {
        int64_t last_ms;
        uint64_t *keys;
        uint32_t n;
} bucket_val;

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
        if (!x->pop.freeing) { /* evicted (counted) or left its bucket: the replica forgets it */
                blob_apply(x, v->blob, v->len, -1);
                if (!x->pop.removing) x->pop.contrib_evicted++;
        }
        free(v->blob);
        v->blob = NULL;
}

static void bucket_drop(void *opaque, uint64_t key, void *val)
{
        bucket_val *b = val;
        (void)opaque;
        (void)key;
        free(b->keys);
        b->keys = NULL;
}

static uint64_t contrib_key(const unsigned char *k, size_t n)
{
        return XXH3_64bits(k, n);
}

static uint64_t bucket_key(uint32_t src, uint32_t n, uint32_t bucket, uint32_t part)
{
        uint32_t k[4] = {src, n, bucket, part};
        return XXH3_64bits(k, sizeof k);
}

static int u64_cmp(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

/* Replace (type, key, source)'s contribution by blob (a checked type 5 or 6 value). */
static void contrib_set(cf_detect *x, const unsigned char *blob, uint32_t len, uint64_t owner)
{
        cf_st_dec d;
        char err[16];
        cf_st_dec_init(&d, blob, len, "", err, sizeof(err));
        int type = cf_st_u8(&d);
        cf_st_u8(&d);
        cum c = {.s = CF_LNS_INIT};
        if (get_cum(&d, type, &c)) {
                unsigned char kb[13];
                size_t kn;
                msg_key(kb, &kn, type, c.key, (int32_t)c.src);
                bool created;
                contrib_val *v =
                    cf_kvtab_put(&x->pop.contrib, contrib_key(kb, kn), c.last_ms, &created);
                if (!created && v->blob) {
                        blob_apply(x, v->blob, v->len, -1);
                        free(v->blob);
                }
                v->blob = malloc(len);
                if (!v->blob) abort();
                memcpy(v->blob, blob, len);
                v->len = len;
                v->owner = owner;
                cum_apply(x, &c, 1);
        }
        cf_lns_free(&c.s);
        free(c.slots.v);
}

/* Take out every contribution of keys (n) that the bucket message bk set last, except
 * those in keep (sorted, nk). */
static void bucket_forget(cf_detect *x, const uint64_t *keys, uint32_t n, uint64_t bk,
                          const uint64_t *keep, size_t nk)
{
        for (uint32_t i = 0; i < n; i++) {
                if (nk && bsearch(&keys[i], keep, nk, sizeof(uint64_t), u64_cmp)) continue;
                contrib_val *v = cf_kvtab_get(&x->pop.contrib, keys[i]);
                if (!v || v->owner != bk) continue; /* evicted, or a later message holds it */
                x->pop.removing = true;
                cf_kvtab_del(&x->pop.contrib, keys[i]);
                x->pop.removing = false;
        }
}

typedef struct bucket_ent {
        const unsigned char *p;
        uint32_t len;
        uint64_t ck;
} bucket_ent;

/* The entry of a bucket message, checked: a contribution of the message's source to a
 * key of its bucket, readable unless the replica holds these very bytes already. */
static bool get_entry(cf_detect *x, cf_st_dec *d, uint32_t src, uint32_t n, uint32_t bucket,
                      bucket_ent *e)
{
        e->len = cf_st_u32(d);
        e->p = cf_st_take(d, e->len);
        if (!e->p) return false;
        if (e->len < 22) return cf_st_fail(d, "bucket entry of %u bytes", e->len);
        int type = e->p[0];
        uint64_t key = cf_st_load64(e->p + 2);
        uint32_t esrc = cf_st_load32(e->p + 10);
        if ((type != MSG_UV_CUM && type != MSG_VOL_CUM) || e->p[1] != MSG_VERSION)
                return cf_st_fail(d, "bucket entry of type %d version %d", type, e->p[1]);
        if (esrc != src)
                return cf_st_fail(d, "bucket of partition %u holds partition %u's", src, esrc);
        if (cf_pop_bucket_of(key | (type == MSG_VOL_CUM ? KIND_VOL : 0), n) != bucket)
                return cf_st_fail(d, "key %llx is not in bucket %u of %u", (unsigned long long)key,
                                  bucket, n);
        unsigned char kb[13];
        size_t kn;
        msg_key(kb, &kn, type, key, (int32_t)src);
        e->ck = contrib_key(kb, kn);
        const contrib_val *v = cf_kvtab_get(&x->pop.contrib, e->ck);
        if (v && v->blob && v->len == e->len && !memcmp(v->blob, e->p, e->len)) return true;
        char err[160];
        cf_st_dec sub;
        cf_st_dec_init(&sub, e->p + 2, e->len - 2, "", err, sizeof(err));
        cum c = {.s = CF_LNS_INIT};
        bool ok = get_cum(&sub, type, &c) && cf_st_done(&sub);
        cf_lns_free(&c.s);
        free(c.slots.v);
        return ok || cf_st_fail(d, "bucket entry: %s", err);
}

/* A bucket message (type 7, detect_bucket.c): checked whole, then each entry replaces its
 * (key, source)'s contribution unless unchanged, and what the bucket no longer holds (a
 * key the partition evicted, the parts beyond a smaller bucket's last) leaves. */
static int apply_bucket(cf_detect *x, cf_st_dec *d)
{
        uint32_t src = cf_st_u32(d), n = cf_st_u32(d), bucket = cf_st_u32(d);
        uint16_t part = cf_st_u16(d), parts = cf_st_u16(d);
        uint32_t count = get_count(d, 26, "bucket entries");
        if (cf_st_ok(d) && (!n || bucket >= n || part >= parts)) {
                cf_st_fail(d, "bucket %u of %u, part %u of %u", bucket, n, part, parts);
                return -1;
        }
        bucket_ent *e = malloc(((size_t)count + 1) * sizeof(*e));
        uint64_t *keys = malloc(((size_t)count + 1) * sizeof(uint64_t));
        if (!e || !keys) abort();
        int64_t last = INT64_MIN;
        for (uint32_t i = 0; i < count && cf_st_ok(d); i++)
                if (get_entry(x, d, src, n, bucket, &e[i])) {
                        keys[i] = e[i].ck;
                        int64_t t = (int64_t)cf_st_load64(e[i].p + 14);
                        if (t > last) last = t;
                }
        if (!cf_st_done(d)) {
                free(e);
                free(keys);
                return -1;
        }
        uint64_t bk = bucket_key(src, n, bucket, part);
        for (uint32_t i = 0; i < count; i++) {
                contrib_val *v = cf_kvtab_get(&x->pop.contrib, e[i].ck);
                if (v && v->blob && v->len == e[i].len && !memcmp(v->blob, e[i].p, e[i].len))
                        v->owner = bk; /* unchanged: nothing to merge */
                else
                        contrib_set(x, e[i].p, e[i].len, bk);
        }
        free(e);
        qsort(keys, count, sizeof(uint64_t), u64_cmp);
        bool created;
        bucket_val *b = cf_kvtab_put(&x->pop.buckets, bk, count ? last : 0, &created);
        if (!created && b->keys) {
                bucket_forget(x, b->keys, b->n, bk, keys, count);
                free(b->keys);
        }
        b->keys = keys;
        b->n = count;
        /* the last part of a publish: parts beyond it are of an earlier, larger bucket */
        for (uint32_t j = parts; part == parts - 1 && j <= UINT16_MAX; j++) {
                uint64_t sk = bucket_key(src, n, bucket, j);
                bucket_val *s = cf_kvtab_get(&x->pop.buckets, sk);
                if (!s) break;
                bucket_forget(x, s->keys, s->n, sk, NULL, 0);
                cf_kvtab_del(&x->pop.buckets, sk);
        }
        return 0;
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
        for (size_t i = 0; i < tmp.n; i++) {
                if (type == MSG_UV_EVENTS) {
                        const cf_uv_event *e = (const cf_uv_event *)tmp.v + i;
                        cf_uv_rep *v = uv_at(&g->uv, e->key, e->t);
                        cf_lns_add(&v->s, e->gen, e->fine, 1);
                        mark_dirty(x, v, e->key);
                } else if (type == MSG_VOL_EVENTS) {
                        const cf_vol_event *e = (const cf_vol_event *)tmp.v + i;
                        cf_vol_rep *v = vol_at(x, e->key, e->t, e->hour);
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
 * Bucket messages (the service's cumulative mode: its chains are never split) go with part 0. */
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
                /* no release writes them alone any more; mixed with buckets, an old one
                 * read after a newer bucket would undo it */
                cf_st_fail(&d,
                           "a per-key contribution (type 5 or 6), the format of releases before "
                           "population buckets: refused (this release reads contributions in "
                           "bucket messages, type %d; README: the population topics)",
                           CF_POP_BUCKET);
        } else if (type == CF_POP_BUCKET) {
                rc = apply_bucket(x, &d);
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
        cf_vol_ring_sizes(cf_detect_rule_cfg(x, &cf_rule_origin_volume_surge), &g->vol_nh,
                          &g->vol_nd);
        for (size_t i = 0; i < cf_detect_n_rules; i++) {
                const cf_rule *ru = cf_detect_rules[i];
                if (!ru->replica_off) continue;
                size_t max;
                int64_t window;
                uint32_t vsize;
                replica_limits(x, ru, &max, &window, &vsize);
                cf_kvtab *t = cf_rule_replica(ru, g);
                cf_kvtab_init(t, vsize, max, window);
                t->drop = ru->replica_drop;
                cf_kvtab_hold_clock(t);
        }
        cf_kvtab_init(&g->contrib, sizeof(contrib_val), (size_t)g->max_contrib, 0);
        g->contrib.drop = contrib_drop;
        g->contrib.drop_opaque = x;
        cf_kvtab_init(&g->buckets, sizeof(bucket_val), (size_t)g->max_contrib, 0);
        g->buckets.drop = bucket_drop;
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
        x->pop.buckets.max = (size_t)x->pop.max_contrib;
}

void cf_detect_pop_free(cf_detect *x)
{
        cf_detect_pop *g = &x->pop;
        g->freeing = true;
        cf_kvtab_free(&g->contrib);
        cf_kvtab_free(&g->buckets);
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
        cf_kvtab_init(&ps->vol_own, sizeof(cf_vol_own), max, window); /* sparse: vol_own.c */
        ps->vol_own.drop = cf_vol_own_drop;
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
