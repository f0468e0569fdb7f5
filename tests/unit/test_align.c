/*
 * test_align.c - records of several partitions handed out in timestamp order
 * (pipeline/kafka/align.c), as a worker takes a backlog fetched partition by
 * partition:
 *  - chunks of whole partitions come out merged by timestamp, each partition's
 *    own order kept, ties in arrival order;
 *  - a partition that waits (nothing held, more of it on the broker) holds the
 *    rest back until it delivers, unless forced; one at its end does not;
 *  - a revoked partition's records are dropped, the rest still in order;
 *  - random operations against a reference that scans every partition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pipeline/kafka/align.h"

/* An item: its partition, offset and timestamp, as a fetched record has. */
typedef struct rec {
        int32_t p;
        int64_t off, ts;
} rec;

static int dropped;

static void count_drop(void *item)
{
        (void)item;
        dropped++;
}

static void add(cf_align *a, rec *r)
{
        assert_int_equal(cf_align_add(a, r->p, r->ts, 100, r), 0);
}

/* Three partitions fetched one after the other (a chunk each): taken by timestamp. */
static void test_chunks_merge_by_timestamp(void **state)
{
        (void)state;
        enum { P = 3, K = 200 };
        static rec r[P][K];
        cf_align *a = cf_align_new(P);
        assert_non_null(a);
        for (int32_t p = 0; p < P; p++)
                for (int k = 0; k < K; k++) {
                        /* the stream's k-th record of p; every 10th pair ties */
                        r[p][k] = (rec){p, k, (int64_t)k * 3 + (k % 10 ? p : 0)};
                        add(a, &r[p][k]);
                }
        assert_int_equal(cf_align_count(a), P * K);
        assert_int_equal(cf_align_bytes(a), P * K * 100);
        int64_t last_ts = INT64_MIN, next_off[P] = {0};
        int32_t last_p = -1;
        for (int i = 0; i < P * K; i++) {
                rec *x = cf_align_take(a, false);
                assert_non_null(x);
                assert_true(x->ts >= last_ts);
                /* ties: arrival order, so the lower partition (added first) first */
                if (x->ts == last_ts) assert_true(x->p > last_p);
                assert_int_equal(x->off, next_off[x->p]++);
                last_ts = x->ts;
                last_p = x->p;
        }
        assert_null(cf_align_take(a, false));
        assert_int_equal(cf_align_count(a), 0);
        assert_int_equal(cf_align_bytes(a), 0);
        cf_align_free(a, NULL);
}

/* A waiting partition holds the others back; its record, its end or force let them go. */
static void test_waiting_partition_holds_back(void **state)
{
        (void)state;
        static rec r0[4], r1[2];
        cf_align *a = cf_align_new(4);
        for (int k = 0; k < 4; k++) {
                r0[k] = (rec){0, k, 10 + k};
                add(a, &r0[k]);
        }
        cf_align_set_wait(a, 1, true); /* partition 1: nothing held, more on the broker */
        assert_true(cf_align_blocked(a));
        assert_null(cf_align_take(a, false));
        assert_ptr_equal(cf_align_take(a, true), &r0[0]); /* forced: the oldest held */
        r1[0] = (rec){1, 0, 5};
        add(a, &r1[0]); /* older than what partition 0 holds: it goes first */
        assert_false(cf_align_blocked(a));
        assert_ptr_equal(cf_align_take(a, false), &r1[0]);
        /* partition 1 is empty again and still waits */
        assert_true(cf_align_blocked(a));
        assert_null(cf_align_take(a, false));
        cf_align_set_wait(a, 1, false); /* at its end */
        assert_ptr_equal(cf_align_take(a, false), &r0[1]);
        /* a partition waiting while it holds records does not block */
        cf_align_set_wait(a, 0, true);
        assert_ptr_equal(cf_align_take(a, false), &r0[2]);
        assert_ptr_equal(cf_align_take(a, false), &r0[3]);
        /* now empty and waiting: nothing held, so not blocked, and nothing to take */
        assert_false(cf_align_blocked(a));
        assert_null(cf_align_take(a, true));
        r1[1] = (rec){1, 1, 20};
        add(a, &r1[1]);
        assert_true(cf_align_blocked(a)); /* partition 0 waits */
        cf_align_free(a, count_drop);
        assert_int_equal(dropped, 1);
        dropped = 0;
}

/* A revoked partition's records are dropped; the others still come out in order. */
static void test_drop_partition(void **state)
{
        (void)state;
        enum { P = 4, K = 100 };
        static rec r[P][K];
        cf_align *a = cf_align_new(P);
        for (int32_t p = 0; p < P; p++)
                for (int k = 0; k < K; k++) {
                        r[p][k] = (rec){p, k, k * P + p};
                        add(a, &r[p][k]);
                }
        for (int i = 0; i < 10; i++)
                assert_non_null(cf_align_take(a, false));
        cf_align_set_wait(a, 2, true);
        dropped = 0;
        cf_align_drop(a, 2, count_drop);
        assert_int_equal(dropped, K - 2); /* partition 2 gave 2 of its records before */
        assert_int_equal(cf_align_count(a), 3 * K - 8);
        assert_false(cf_align_blocked(a)); /* its wait went with it */
        int64_t last = INT64_MIN;
        rec *x;
        while ((x = cf_align_take(a, false))) {
                assert_int_not_equal(x->p, 2);
                assert_true(x->ts > last);
                last = x->ts;
        }
        assert_int_equal(cf_align_count(a), 0);
        dropped = 0;
        cf_align_drop(a, 2, count_drop); /* empty: nothing */
        assert_int_equal(dropped, 0);
        cf_align_free(a, NULL);
}

/* Random adds (in offset order per partition, rings grown past their first size), waits,
 * drops and takes, against a reference scanning every partition's queue. */
static void test_random_against_reference(void **state)
{
        (void)state;
        enum { P = 9, CAP = 4000 };
        static rec pool[20000];
        static rec *q[P][CAP]; /* the reference's queues */
        int head[P] = {0}, tail[P] = {0};
        bool wait[P] = {false};
        int64_t next_off[P] = {0};
        size_t used = 0, held = 0;
        cf_align *a = cf_align_new(P);
        srand(7);
        for (int step = 0; step < 40000; step++) {
                int op = rand() % 10;
                int32_t p = rand() % P;
                if (op < 5 && used < 20000 && tail[p] < CAP) {
                        /* a chunk of p: timestamps rise within a partition, with ties */
                        int n = 1 + rand() % 8;
                        for (int i = 0; i < n && used < 20000 && tail[p] < CAP; i++) {
                                rec *x = &pool[used++];
                                int64_t prev = tail[p] ? q[p][tail[p] - 1]->ts : 0;
                                *x = (rec){p, next_off[p]++, prev + rand() % 3};
                                q[p][tail[p]++] = x;
                                add(a, x);
                                held++;
                        }
                } else if (op == 5) {
                        wait[p] = rand() % 2;
                        cf_align_set_wait(a, p, wait[p]);
                } else if (op == 6 && rand() % 20 == 0) {
                        held -= (size_t)(tail[p] - head[p]);
                        head[p] = tail[p];
                        wait[p] = false;
                        cf_align_drop(a, p, NULL);
                } else {
                        bool force = rand() % 4 == 0;
                        /* the reference: blocked when a waiting partition is empty */
                        bool blocked = false;
                        int32_t best = -1;
                        for (int32_t i = 0; i < P; i++) {
                                if (head[i] == tail[i]) {
                                        blocked |= wait[i];
                                        continue;
                                }
                                if (best < 0 || q[i][head[i]]->ts < q[best][head[best]]->ts ||
                                    (q[i][head[i]]->ts == q[best][head[best]]->ts &&
                                     q[i][head[i]] < q[best][head[best]]))
                                        best = i;
                        }
                        rec *want = best >= 0 && (force || !blocked) ? q[best][head[best]] : NULL;
                        assert_int_equal(cf_align_blocked(a), best >= 0 && blocked);
                        rec *got = cf_align_take(a, force);
                        assert_ptr_equal(got, want);
                        if (got) {
                                head[best]++;
                                held--;
                        }
                }
                assert_int_equal(cf_align_count(a), held);
                assert_int_equal(cf_align_bytes(a), held * 100);
        }
        cf_align_free(a, NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_chunks_merge_by_timestamp),
            cmocka_unit_test(test_waiting_partition_holds_back),
            cmocka_unit_test(test_drop_partition),
            cmocka_unit_test(test_random_against_reference),
        };
        return cmocka_run_group_tests(tests, 0, NULL);
}
