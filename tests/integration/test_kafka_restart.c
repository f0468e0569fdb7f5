/*
 * test_kafka_restart.c - state survives restarts and moves with partitions:
 *  - restart: a service processes a stream and stops; the first messages are
 *    re-delivered; a new service (new process state, same group) must drop
 *    them as duplicates: the dedup state came back from the changelog.
 *  - rebalance: two instances share the group; one stops mid-stream; the other
 *    takes its partitions (with their state) and nothing is lost.
 *  - hostile changelog: an empty snapshot written after the real one with
 *    header cf.snapshot=18446744073709551615 (issue 17), and one that also
 *    claims to cover input offset 2^63-1, are not restored: snapshots are picked
 *    by the input offset they cover, up to the group's committed offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/kafka_harness.h"
#include "helpers/test_cases.h"

#define N    4000
#define SEED 21
#define BAD  0.02
#define DUP  0.0

static size_t count_kind(const kh *h, size_t from, size_t to, const char *kind)
{
        size_t n = 0;
        for (size_t i = from; i < to; i++)
                n += !strcmp(h->msgs[i].kind, kind);
        return n;
}

static void test_restart_restores_state(void **state)
{
        (void)state;
        kh h;
        kh_start(&h, 1, 2);
        kh_produce_gen(&h, SEED, N, BAD, DUP);
        cf_service *a = kh_service(&h, "restart", 1);
        assert_true(kh_wait_in(a, N, 90));
        kh_finish(a, NULL);
        assert_int_equal(kh_uncommitted(&h, "restart"), 0);

        /* re-deliver the first 1000 messages, then start a fresh instance */
        kh_reproduce(&h, SEED, N, BAD, DUP, 0, 1000);
        cf_service *b = kh_service(&h, "restart", 1);
        assert_true(kh_wait_in(b, 1000, 90));
        cf_counters k;
        kh_finish(b, &k);
        size_t bad = count_kind(&h, 0, 1000, "bad");
        assert_int_equal(k.in, 1000);
        assert_int_equal(k.dead_lettered, bad);
        /* every valid re-delivery is recognised: the state was restored */
        assert_int_equal(k.duplicates, 1000 - bad);
        assert_int_equal(k.processed, 0);
        kh_stop(&h);
}

static void test_changelog_ignores_writer_ids(void **state)
{
        (void)state;
        enum { M = 1000 };
        kh h;
        kh_start(&h, 1, 1);
        kh_produce_gen(&h, SEED + 2, M, BAD, DUP);
        cf_service *a = kh_service(&h, "hostile", 1);
        assert_true(kh_wait_in(a, M, 90));
        kh_finish(a, NULL);
        assert_int_equal(kh_uncommitted(&h, "hostile"), 0);

        /* empty state, written after the real snapshot by anyone who can write the topic */
        const char *key = "hostile/customs.declarations/0/0";
        kh_produce_raw(&h, "customsflow.changelog", 0, key, "", 0, "cf.snapshot",
                       "18446744073709551615", "cf.chunks", "1", NULL);
        kh_produce_raw(&h, "customsflow.changelog", 0, key, "", 0, "cf.snapshot",
                       "18446744073709551615", "cf.chunks", "1", "cf.offset", "9223372036854775807",
                       NULL);

        kh_reproduce(&h, SEED + 2, M, BAD, DUP, 0, M);
        cf_service *b = kh_service(&h, "hostile", 1);
        assert_true(kh_wait_in(b, M, 90));
        cf_counters k;
        kh_finish(b, &k);
        size_t bad = count_kind(&h, 0, M, "bad");
        /* the real snapshot came back: every valid re-delivery is a duplicate */
        assert_int_equal(k.in, M);
        assert_int_equal(k.duplicates, M - bad);
        assert_int_equal(k.processed, 0);
        kh_stop(&h);
}

static void test_rebalance_moves_partitions(void **state)
{
        (void)state;
        kh h;
        kh_start(&h, 1, 4);
        kh_produce_gen(&h, SEED + 1, N, BAD, 0.02);
        cf_service *a = kh_service(&h, "rebalance", 1);
        cf_service *b = kh_service(&h, "rebalance", 1);
        assert_true(kh_wait_in(a, 200, 60));
        cf_counters ka, kb;
        kh_finish(a, &ka); /* a leaves mid-stream: b must take its partitions */
        /* b finishes the stream: everything committed */
        for (int i = 0; i < 600 && kh_uncommitted(&h, "rebalance") != 0; i++)
                usleep(100 * 1000);
        assert_int_equal(kh_uncommitted(&h, "rebalance"), 0);
        kh_finish(b, &kb);
        /* at-least-once: together they saw every message (some maybe twice) */
        assert_true(ka.in > 0);
        assert_true(ka.in + kb.in >= N);
        size_t dlq;
        assert_int_equal(kh_check_dlq(&h, &dlq), 0);
        assert_true(dlq >= count_kind(&h, 0, N, "bad"));
        kh_stop(&h);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_restart_restores_state),
                                           cmocka_unit_test(test_rebalance_moves_partitions),
                                           cmocka_unit_test(test_changelog_ignores_writer_ids)};
        return CF_RUN_CASES(tests, argc, argv);
}
