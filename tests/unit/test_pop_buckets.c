/*
 * test_pop_buckets.c - the service's population messages (cumulative mode,
 * DESIGN §6; stages/detect/detect_bucket.c): a publish is a bounded number of
 * messages whatever the number of keys changed (at most
 * stages.detect.population_buckets of baselines plus the first-event message,
 * one of certificate uses per 2,048 uses), each routed by its source
 * partition, a bucket too large for one message split into parts; a replica that applies them holds
 * what one fed the same records in delta mode (`replay`'s) holds, and so does a fresh replica that
 * reads only what compaction keeps (the latest message per key), and so does one whose source
 * partition moved (restored from its checkpoint) between publishes, or after a checkpoint it never
 * published (the restored partition publishes every bucket), and so does one that got a
 * batch's certificate uses ahead of the rest (CF_GLOBAL_USES); a per-key contribution of the
 * earlier format is refused, not applied.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <unistd.h>

#include "helpers/detect_fx.h"
#include "pipeline/core/global.h"
#include "pipeline/core/stenc.h"

#define PARTS 3
#define KEYS  300  /* distinct HS6 per partition: 600 population keys each (unit value, volume) */
#define BIG   6000 /* keys of one partition whose single bucket needs more than one part */

/* A chain like fx_new's whose partitions publish in n buckets. */
static fx *fx_buckets(int n)
{
        char dir[] = "/tmp/cf-popbuckets-XXXXXX", path[512], text[1024], err[1024];
        assert_non_null(mkdtemp(dir));
        snprintf(text, sizeof text,
                 "stages:\n  decode:\n    fx_rates: %s/reference/fx_rates.csv\n"
                 "  detect:\n    rules: %s/rules.yaml\n    population_buckets: %d\n",
                 FIX, FIX, n);
        snprintf(path, sizeof path, "%s/c.yaml", dir);
        FILE *o = fopen(path, "w");
        assert_non_null(o);
        fputs(text, o);
        fclose(o);
        fx *f = calloc(1, sizeof(*f));
        if (cf_config_load(&f->cfg, path, err, sizeof(err))) fail_msg("%s", err);
        f->chain = cf_chain_new(f->cfg.root, f->cfg.base_dir, err, sizeof(err));
        if (!f->chain) fail_msg("%s", err);
        cf_batch_init(&f->b, 64);
        unlink(path);
        rmdir(dir);
        return f;
}

/* Run keys records (line i: HS6 = 100000 + 1000 * partition + i, certificate CO-p-i)
 * through partition p of f's chain; round > 0 reuses every 7th HS code only. */
static void feed_n(fx *f, int32_t p, int round, int keys)
{
        cf_batch_reset(&f->b);
        char **lines = calloc((size_t)keys, sizeof(char *));
        size_t n = 0;
        for (int i = 0; i < keys; i++) {
                if (round && i % 7) continue;
                char hs[16], id[32], ex[64], exporter[32], when[32];
                snprintf(hs, sizeof hs, "%06d0000", 100000 + 10000 * p + i);
                snprintf(id, sizeof id, "D-%d-%d-%d", round, p, i);
                snprintf(ex, sizeof ex, "\"certificate_of_origin\":\"CO-%d-%d\"", p, i);
                snprintf(exporter, sizeof exporter, "TH-EXP-%d", p);
                snprintf(when, sizeof when, "2025-03-%02dT10:00:00Z", 10 + round);
                lines[n] = rec_json(&(rec){.id = id,
                                           .hs = hs,
                                           .exporter = exporter,
                                           .time = when,
                                           .value = 1000 + i,
                                           .extra = ex});
                cf_record *r = cf_batch_add(&f->b, lines[n], strlen(lines[n]));
                r->src.partition = p;
                n++;
                if (f->b.n == 64) {
                        assert_int_equal(cf_chain_process(f->chain, &f->b), 0);
                        cf_batch_reset(&f->b);
                }
        }
        if (f->b.n) assert_int_equal(cf_chain_process(f->chain, &f->b), 0);
        for (size_t i = 0; i < n; i++)
                free(lines[i]);
        free(lines);
}

static void feed(fx *f, int32_t p, int round)
{
        feed_n(f, p, round, KEYS);
}

typedef struct counts {
        size_t baselines, certificates, routed_elsewhere;
} counts;

static counts count_msgs(const cf_buf *b, int32_t p)
{
        counts c = {0};
        size_t off = 0;
        cf_global_msg m;
        int r;
        while ((r = cf_global_next(b->p, b->len, &off, &m)) > 0) {
                if (m.stream == CF_GLOBAL_BASELINES)
                        c.baselines++;
                else
                        c.certificates++;
                c.routed_elsewhere += m.route != p;
        }
        assert_int_equal(r, 0);
        return c;
}

static void apply_all(fx *f, const cf_buf *b)
{
        char err[512];
        if (cf_chain_apply_all(f->chain, b->p, b->len, err, sizeof err)) fail_msg("%s", err);
        cf_chain_settle(f->chain);
}

static void expect_same_replica(fx *a, fx *b)
{
        cf_buf x = {0}, y = {0};
        assert_int_equal(cf_chain_snapshot_replica(a->chain, &x), 0);
        assert_int_equal(cf_chain_snapshot_replica(b->chain, &y), 0);
        assert_true(x.len > 1000);
        assert_int_equal(x.len, y.len);
        assert_memory_equal(x.p, y.p, x.len);
        cf_buf_free(&x);
        cf_buf_free(&y);
}

/* The latest baselines message per key, then every certificate message: what a compacted
 * baselines topic and the certificates topic hold. */
static void compacted(const cf_buf *all, cf_buf *out)
{
        size_t off = 0, n = 0;
        cf_global_msg m, *v = malloc(sizeof(cf_global_msg) * 8192);
        while (cf_global_next(all->p, all->len, &off, &m) > 0) {
                size_t i = 0;
                if (m.stream == CF_GLOBAL_BASELINES)
                        for (; i < n; i++)
                                if (v[i].stream == m.stream && v[i].key_len == m.key_len &&
                                    !memcmp(v[i].key, m.key, m.key_len))
                                        break;
                if (m.stream != CF_GLOBAL_BASELINES || i == n) {
                        assert_true(n < 8192);
                        v[n++] = m;
                } else {
                        v[i] = m; /* compaction keeps the latest, where the first was */
                }
        }
        for (size_t i = 0; i < n; i++)
                cf_global_put(out, v[i].stream, v[i].key, v[i].key_len, v[i].val, v[i].val_len);
        free(v);
}

/* Five chains of n buckets: the service's worker (cumulative), replay's (delta), a replica
 * of each, and a fresh replica that reads only what compaction keeps. */
typedef struct rig {
        fx *cum, *delta, *rep, *drep, *fresh;
        cf_buf all; /* every cumulative message, in publish order */
} rig;

static void rig_init(rig *r, int n)
{
        *r = (rig){fx_buckets(n), fx_buckets(n), fx_buckets(n), fx_buckets(n), fx_buckets(n)};
}

/* keys records of a round through partition p of both, both publish, both replicas
 * apply; the cumulative publish's counts (each message at most 600 KiB). uses (NULL:
 * none): the worker's publish of certificate uses after a batch comes first, its counts. */
static counts rig_round(rig *r, int32_t p, int round, int keys, counts *uses)
{
        feed_n(r->cum, p, round, keys);
        feed_n(r->delta, p, round, keys);
        cf_buf b = {0}, d = {0};
        if (uses) {
                assert_int_equal(cf_chain_publish(r->cum->chain, p, CF_GLOBAL_USES, &b), 0);
                *uses = count_msgs(&b, p);
                apply_all(r->rep, &b);
                cf_buf_put(&r->all, b.p, b.len);
                b.len = 0;
        }
        assert_int_equal(cf_chain_publish(r->cum->chain, p, CF_GLOBAL_CUMULATIVE, &b), 0);
        counts c = count_msgs(&b, p);
        size_t off = 0;
        cf_global_msg m;
        while (cf_global_next(b.p, b.len, &off, &m) > 0)
                assert_true(m.val_len <= 600 * 1024);
        apply_all(r->rep, &b);
        cf_buf_put(&r->all, b.p, b.len);
        assert_int_equal(cf_chain_publish(r->delta->chain, p, CF_GLOBAL_DELTA, &d), 0);
        apply_all(r->drep, &d);
        cf_buf_free(&b);
        cf_buf_free(&d);
        return c;
}

/* A new instance reading the compacted topics has what the running replica has. */
static void rig_done(rig *r)
{
        cf_buf kept = {0};
        compacted(&r->all, &kept);
        assert_true(kept.len < r->all.len);
        apply_all(r->fresh, &kept);
        expect_same_replica(r->fresh, r->rep);
        cf_buf_free(&kept);
        cf_buf_free(&r->all);
        fx_free(r->cum);
        fx_free(r->delta);
        fx_free(r->rep);
        fx_free(r->drep);
        fx_free(r->fresh);
}

static void test_publish_is_bounded_and_complete(void **state)
{
        (void)state;
        rig r;
        rig_init(&r, 64);
        for (int round = 0; round < 2; round++) {
                for (int32_t p = 0; p < PARTS; p++) {
                        counts c = rig_round(&r, p, round, KEYS, NULL);
                        /* 600 keys changed (round 0): 64 buckets and the first event time;
                         * 300 certificate uses: one message (the earlier format: 600 and 300) */
                        assert_true(c.baselines >= 2 && c.baselines <= 64 + (round == 0));
                        assert_int_equal(c.certificates, 1);
                        assert_int_equal(c.routed_elsewhere, 0);
                }
                /* the replica of the service's messages is the one of replay's */
                expect_same_replica(r.rep, r.drep);
        }
        rig_done(&r);
}

/* Between whole publishes the worker publishes a batch's certificate uses alone: only
 * certificate messages, routed as the others; the whole publish after it sends no use
 * again, and the replica is still replay's. */
static void test_uses_between_publishes(void **state)
{
        (void)state;
        rig r;
        rig_init(&r, 64);
        for (int round = 0; round < 2; round++) {
                for (int32_t p = 0; p < PARTS; p++) {
                        counts u, c = rig_round(&r, p, round, KEYS, &u);
                        assert_int_equal(u.baselines, 0);
                        assert_int_equal(u.certificates, 1);
                        assert_int_equal(u.routed_elsewhere, 0);
                        assert_true(c.baselines >= 2);
                        assert_int_equal(c.certificates, 0);
                }
                expect_same_replica(r.rep, r.drep);
        }
        rig_done(&r);
}

/* One bucket holding 12,000 keys (~1 MB): published in parts of at most 512 KiB, routed
 * together, and applied as a whole. */
static void test_big_bucket_in_parts(void **state)
{
        (void)state;
        rig r;
        rig_init(&r, 1);
        for (int round = 0; round < 2; round++) {
                counts c = rig_round(&r, 0, round, BIG, NULL);
                assert_true(c.baselines >= 2 + (round == 0) && c.baselines <= 6);
                assert_int_equal(c.certificates, round ? 1 : 3); /* 2,048 uses per message */
                assert_int_equal(c.routed_elsewhere, 0);
                expect_same_replica(r.rep, r.drep);
        }
        rig_done(&r);
}

/* Partition 0 of before moves to after: restored from base (taken at before's start) and
 * before's delta since, or from a snapshot of before written now (base). */
static void move_part(fx *before, fx *after, int use_delta, cf_buf *base)
{
        char err[512];
        cf_buf d = {0};
        if (use_delta) {
                assert_int_equal(cf_chain_delta(before->chain, 0, &d), 0);
                if (cf_chain_restore(after->chain, 0, base->p, base->len, err, sizeof err) ||
                    cf_chain_apply_delta(after->chain, 0, d.p, d.len, err, sizeof err))
                        fail_msg("%s", err);
        } else {
                assert_int_equal(cf_chain_snapshot(before->chain, 0, base), 0);
                if (cf_chain_restore(after->chain, 0, base->p, base->len, err, sizeof err))
                        fail_msg("%s", err);
        }
        cf_buf_free(&d);
}

/* The move cases' fixtures: a partition that stays (still, replica r1) and one that moves
 * from before to after (replica r2); before tracks changes and, with use_delta, has its
 * base snapshot taken at its start. */
typedef struct mover {
        fx *still, *before, *after, *r1, *r2;
        cf_buf b, base;
} mover;

static void mover_init(mover *m, int use_delta)
{
        *m = (mover){fx_new(), fx_new(), fx_new(), fx_new(), fx_new(), {0}, {0}};
        cf_chain_track_changes(m->before->chain, true);
        if (use_delta) assert_int_equal(cf_chain_snapshot(m->before->chain, 0, &m->base), 0);
}

static void mover_done(mover *m)
{
        cf_buf_free(&m->b);
        cf_buf_free(&m->base);
        fx_free(m->still);
        fx_free(m->before);
        fx_free(m->after);
        fx_free(m->r1);
        fx_free(m->r2);
}

/* A partition's own contributions are in its checkpoint (snapshot, or snapshot + delta):
 * restored elsewhere, its next publish carries what it contributed before the checkpoint
 * too, and the replica is the one of a run without the move. */
static void test_restart_keeps_contributions(void **state)
{
        (void)state;
        for (int use_delta = 0; use_delta < 2; use_delta++) {
                mover m;
                mover_init(&m, use_delta);
                fx *still = m.still, *before = m.before, *after = m.after, *r1 = m.r1, *r2 = m.r2;
                for (int round = 0; round < 2; round++) {
                        feed(still, 0, round);
                        cf_buf_reset(&m.b);
                        assert_int_equal(
                            cf_chain_publish(still->chain, 0, CF_GLOBAL_CUMULATIVE, &m.b), 0);
                        apply_all(r1, &m.b);
                }
                /* round 0, publish, checkpoint; then the partition moves */
                feed(before, 0, 0);
                cf_buf_reset(&m.b);
                assert_int_equal(cf_chain_publish(before->chain, 0, CF_GLOBAL_CUMULATIVE, &m.b), 0);
                apply_all(r2, &m.b);
                move_part(before, after, use_delta, &m.base);
                feed(after, 0, 1);
                cf_buf_reset(&m.b);
                assert_int_equal(cf_chain_publish(after->chain, 0, CF_GLOBAL_CUMULATIVE, &m.b), 0);
                apply_all(r2, &m.b);
                expect_same_replica(r1, r2);
                mover_done(&m);
        }
}

/* A checkpoint written by a commit that published nothing (pipeline/kafka/commit.c publishes
 * only while that takes at most a tenth of the worker's time) holds contributions no replica has:
 * restored elsewhere, the partition's first publish sends its whole contribution, every bucket,
 * even with no record processed since, and the replica is the one of a run that published before
 * the checkpoint. */
static void test_restored_unpublished_contributions(void **state)
{
        (void)state;
        for (int use_delta = 0; use_delta < 2; use_delta++) {
                mover m;
                mover_init(&m, use_delta);
                fx *still = m.still, *before = m.before, *after = m.after, *r1 = m.r1, *r2 = m.r2;
                feed(still, 0, 0);
                assert_int_equal(cf_chain_publish(still->chain, 0, CF_GLOBAL_CUMULATIVE, &m.b), 0);
                apply_all(r1, &m.b);
                /* round 0, its certificate uses published (the service does after every
                 * batch), checkpoint, no baseline published; then the partition moves */
                feed(before, 0, 0);
                cf_buf_reset(&m.b);
                assert_int_equal(cf_chain_publish(before->chain, 0, CF_GLOBAL_USES, &m.b), 0);
                apply_all(r2, &m.b);
                cf_buf_reset(&m.b);
                assert_int_equal(cf_chain_publish(before->chain, 0, CF_GLOBAL_FOLD, &m.b), 0);
                assert_int_equal(m.b.len, 0);
                move_part(before, after, use_delta, &m.base);
                cf_buf_reset(&m.b);
                assert_int_equal(cf_chain_publish(after->chain, 0, CF_GLOBAL_CUMULATIVE, &m.b), 0);
                assert_true(count_msgs(&m.b, 0).baselines >= 64); /* every bucket (the default) */
                apply_all(r2, &m.b);
                expect_same_replica(r1, r2);
                /* once sent, a publish is of what changed again */
                cf_buf_reset(&m.b);
                assert_int_equal(cf_chain_publish(after->chain, 0, CF_GLOBAL_CUMULATIVE, &m.b), 0);
                assert_int_equal(count_msgs(&m.b, 0).baselines, 0);
                /* and the records after the checkpoint add to it as without the move */
                for (int i = 0; i < 2; i++) {
                        fx *f = i ? after : still, *r = i ? r2 : r1;
                        feed(f, 0, 1);
                        cf_buf_reset(&m.b);
                        assert_int_equal(cf_chain_publish(f->chain, 0, CF_GLOBAL_CUMULATIVE, &m.b),
                                         0);
                        apply_all(r, &m.b);
                }
                expect_same_replica(r1, r2);
                mover_done(&m);
        }
}

/* A unit-value contribution alone in a message (types 5, the format before buckets): one
 * sample of key 42 from partition 1. */
static void old_contribution(cf_buf *v, unsigned char key[13])
{
        cf_st_put_u8(v, 5);
        cf_st_put_u8(v, 1);
        cf_st_put_u64(v, 42);
        cf_st_put_u32(v, 1);
        cf_st_put_i64(v, 1741600800000LL); /* last use: 2025-03-10T10:00:00Z */
        cf_st_put_u32(v, 0);               /* sketch: generation 0, level 0, one bucket */
        cf_st_put_u8(v, 0);
        cf_st_put_u32(v, 1);
        cf_st_put_u32(v, 7);
        cf_st_put_u32(v, 0);
        cf_st_put_u32(v, 1);
        key[0] = 5;
        cf_st_store64(key + 1, 42);
        memcpy(key + 9, "\x01\x00\x00\x00", 4);
}

static void test_old_format_refused(void **state)
{
        (void)state;
        fx *f = fx_new();
        cf_buf v = {0};
        unsigned char key[13];
        old_contribution(&v, key);
        cf_global_msg m = {.stream = CF_GLOBAL_BASELINES,
                           .key = key,
                           .key_len = sizeof key,
                           .val = (const unsigned char *)v.p,
                           .val_len = v.len};
        char err[512] = "";
        assert_int_equal(cf_chain_apply(f->chain, &m, err, sizeof err), -1);
        assert_non_null(strstr(err, "before population buckets"));
        cf_buf_free(&v);
        fx_free(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_publish_is_bounded_and_complete),
            cmocka_unit_test(test_big_bucket_in_parts),
            cmocka_unit_test(test_uses_between_publishes),
            cmocka_unit_test(test_restart_keeps_contributions),
            cmocka_unit_test(test_restored_unpublished_contributions),
            cmocka_unit_test(test_old_format_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
