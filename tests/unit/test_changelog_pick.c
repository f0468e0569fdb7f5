/*
 * test_changelog_pick.c - which base and deltas a restore takes from a
 * changelog partition (pipeline/kafka/changelog_pick.c, issue 18): by the
 * input offset covered, within the group's committed offset, never by a
 * clock or an id:
 *  - a base and its deltas in sequence; a delta beyond the bound stops the
 *    chain; a gap stops it; chunks out of order are not a delta;
 *  - a crashed writer's newer base (beyond the bound when its successor
 *    restored) against the successor's deltas on the older base, once the
 *    bound has passed both: the chain covering the most wins;
 *  - tombstones remove bases and deltas; snapshots of builds before deltas
 *    are bases without deltas; the keys a writer must tombstone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "pipeline/kafka/changelog_pick.h"

/* A base (id) of chunks chunks covering covers, chunk i holding "B<id>:<i>". */
static void base(cf_clog_pick *k, uint64_t id, int chunks, int64_t covers)
{
        for (int i = 0; i < chunks; i++) {
                char key[64], val[64];
                snprintf(key, sizeof key, "b/%016llx/%d", (unsigned long long)id, i);
                int n = snprintf(val, sizeof val, "B%llu:%d;", (unsigned long long)id, i);
                cf_clog_hdr h = {.has_chunks = true,
                                 .chunks = (uint64_t)chunks,
                                 .has_offset = true,
                                 .offset = (uint64_t)covers};
                cf_clog_pick_add(k, key, strlen(key), val, (size_t)n, &h);
        }
}

static void delta(cf_clog_pick *k, uint64_t id, uint64_t seq, int64_t covers)
{
        char key[64], val[64];
        snprintf(key, sizeof key, "d/%016llx/%llu/0", (unsigned long long)id,
                 (unsigned long long)seq);
        int n = snprintf(val, sizeof val, "D%llu.%llu", (unsigned long long)id,
                         (unsigned long long)seq);
        cf_clog_hdr h = {.has_chunks = true,
                         .chunks = 1,
                         .has_offset = true,
                         .offset = (uint64_t)covers,
                         .has_base = true,
                         .base = id,
                         .has_seq = true,
                         .seq = seq};
        cf_clog_pick_add(k, key, strlen(key), val, (size_t)n, &h);
}

static void tombstone(cf_clog_pick *k, const char *key)
{
        cf_clog_hdr h = {0};
        cf_clog_pick_add(k, key, strlen(key), NULL, 0, &h);
}

/* The pick as "<base data>|<delta data>,...@covers". */
static const char *picked(cf_clog_pick *k)
{
        static char out[256];
        const cf_clog_item **d;
        size_t nd;
        int64_t cov;
        const cf_clog_item *b = cf_clog_pick_result(k, &d, &nd, &cov);
        if (!b) return "none";
        int n = snprintf(out, sizeof out, "%.*s|", (int)b->data.len, b->data.p);
        for (size_t i = 0; i < nd; i++)
                n += snprintf(out + n, sizeof out - (size_t)n, "%.*s,", (int)d[i]->data.len,
                              d[i]->data.p);
        snprintf(out + n, sizeof out - (size_t)n, "@%lld", (long long)cov);
        return out;
}

static void test_chain_in_sequence(void **state)
{
        (void)state;
        cf_clog_pick k;
        cf_clog_pick_init(&k, 500);
        base(&k, 0xa1, 2, 100);
        delta(&k, 0xa1, 1, 200);
        delta(&k, 0xa1, 2, 300);
        delta(&k, 0xa1, 3, 600); /* beyond the committed offset: not trusted */
        delta(&k, 0xa1, 4, 400);
        assert_string_equal(picked(&k), "B161:0;B161:1;|D161.1,D161.2,@300");
        cf_clog_pick_free(&k);
        /* a gap: delta 2 missing, 3 within the bound */
        cf_clog_pick_init(&k, 500);
        base(&k, 0xa1, 1, 100);
        delta(&k, 0xa1, 1, 200);
        delta(&k, 0xa1, 3, 300);
        assert_string_equal(picked(&k), "B161:0;|D161.1,@200");
        cf_clog_pick_free(&k);
        /* deltas of another base do not count; a rewritten delta (same key) replaces it */
        cf_clog_pick_init(&k, 500);
        base(&k, 0xa1, 1, 100);
        delta(&k, 0xb2, 1, 200);
        delta(&k, 0xa1, 1, 150);
        delta(&k, 0xa1, 1, 160);
        assert_string_equal(picked(&k), "B161:0;|D161.1,@160");
        cf_clog_pick_free(&k);
}

static void test_fork_after_crash(void **state)
{
        (void)state;
        /* writer 1: base A (100), deltas to 300, base B at 400 (its offsets never committed:
         * crash). Writer 2 restored A + deltas (bound 300) and went on with deltas on A up
         * to 700. Bound now 700: A's chain covers 700, B's 400. */
        cf_clog_pick k;
        cf_clog_pick_init(&k, 700);
        base(&k, 0xa, 1, 100);
        delta(&k, 0xa, 1, 200);
        delta(&k, 0xa, 2, 300);
        base(&k, 0xb, 1, 400);
        delta(&k, 0xa, 3, 500);
        delta(&k, 0xa, 4, 700);
        assert_string_equal(picked(&k), "B10:0;|D10.1,D10.2,D10.3,D10.4,@700");
        cf_clog_pick_free(&k);
        /* with the bound at 400 (writer 2 not committed beyond 300 yet... and B covering 400
         * within it), B covers the most */
        cf_clog_pick_init(&k, 400);
        base(&k, 0xa, 1, 100);
        delta(&k, 0xa, 1, 200);
        base(&k, 0xb, 1, 400);
        assert_string_equal(picked(&k), "B11:0;|@400");
        cf_clog_pick_free(&k);
}

static void test_tombstones_legacy_keys(void **state)
{
        (void)state;
        cf_clog_pick k;
        cf_clog_pick_init(&k, 1000);
        /* two snapshots of a build before deltas: the one covering the most is kept */
        for (int s = 0; s < 2; s++) {
                cf_clog_hdr h = {.has_snapshot = true,
                                 .snapshot = 7 + (uint64_t)s,
                                 .has_chunks = true,
                                 .chunks = 1,
                                 .has_offset = true,
                                 .offset = s ? 90u : 80u};
                cf_clog_pick_add(&k, "0", 1, s ? "L2" : "L1", 2, &h);
        }
        assert_string_equal(picked(&k), "L2|@90");
        base(&k, 0xc, 1, 120);
        delta(&k, 0xc, 1, 130);
        assert_string_equal(picked(&k), "B12:0;|D12.1,@130");
        tombstone(&k, "d/000000000000000c/1/0");
        assert_string_equal(picked(&k), "B12:0;|@120");
        tombstone(&k, "b/000000000000000c/0");
        assert_string_equal(picked(&k), "L2|@90");
        /* chunks out of order or of another count are not a base */
        cf_clog_hdr h = {.has_chunks = true, .chunks = 2, .has_offset = true, .offset = 150};
        cf_clog_pick_add(&k, "b/000000000000000d/1", 20, "x", 1, &h);
        cf_clog_pick_add(&k, "b/000000000000000d/0", 20, "y", 1, &h);
        assert_string_equal(picked(&k), "L2|@90");
        /* the keys a writer tombstones: every chunk of every item */
        base(&k, 0xe, 2, 160);
        delta(&k, 0xe, 1, 170);
        cf_buf keys = {0};
        size_t n = 0;
        for (size_t i = 0; i < k.n; i++)
                if (k.items[i].base == 0xe) n += cf_clog_item_keys(&k.items[i], &keys);
        assert_int_equal(n, 3);
        assert_memory_equal(keys.p,
                            "b/000000000000000e/0\0b/000000000000000e/1\0"
                            "d/000000000000000e/1/0",
                            keys.len);
        cf_buf_free(&keys);
        cf_clog_pick_free(&k);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_chain_in_sequence),
            cmocka_unit_test(test_fork_after_crash),
            cmocka_unit_test(test_tombstones_legacy_keys),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
