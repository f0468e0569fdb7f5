/*
 * test_fetch_gate.c - which fetched records of a partition the worker
 * processes (pipeline/kafka/fetch_gate.c): each offset once, in order, and
 * none of an earlier fetch after the partition moved back. The cases replay
 * the interleavings the consumer queue can produce (fetch_gate.h):
 *  - a restore holds records back, the partition resumes at the first held,
 *    and the earlier fetch's later records come before the new fetch's (the
 *    test_kafka_restore stall: 1,980 of 2,000 records);
 *  - a rewind after an aborted transaction, same shape;
 *  - a re-assignment at the same position: the earlier fetch's records are
 *    taken once, their second delivery skipped;
 *  - an offset reset: no record awaited (the new position is unknown).
 * Each case checks that every offset of the stream is processed exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pipeline/kafka/fetch_gate.h"

#define N 64

/* Offsets processed, counted per offset. */
typedef struct seen {
        int times[N];
} seen;

/* Feed offsets [from, to] in order; TAKE counts one processing. */
static void feed(cf_fetch_gate *g, seen *s, int64_t from, int64_t to)
{
        for (int64_t o = from; o <= to; o++)
                if (cf_fetch_gate_take(g, o) == CF_FETCH_TAKE) s->times[o]++;
}

/* Offsets [from, to] fed in order all get verdict v. */
static void expect_all(cf_fetch_gate *g, int64_t from, int64_t to, cf_fetch_verdict v)
{
        for (int64_t o = from; o <= to; o++)
                assert_int_equal(cf_fetch_gate_take(g, o), v);
}

/* Offsets [from, to] held while the restore is pending. */
static void hold(cf_fetch_gate *g, int64_t from, int64_t to)
{
        for (int64_t o = from; o <= to; o++)
                cf_fetch_gate_hold(g, o);
}

static void each_once(const seen *s, int64_t from, int64_t to)
{
        for (int64_t o = from; o <= to; o++) {
                if (s->times[o] != 1)
                        fail_msg("offset %lld processed %d times", (long long)o, s->times[o]);
        }
}

static void test_resume_after_restore_drops_earlier_fetch(void **state)
{
        (void)state;
        cf_fetch_gate g;
        seen s = {{0}};
        cf_fetch_gate_reset(&g);
        /* restore pending: 10..14 held back */
        hold(&g, 10, 14);
        assert_int_equal(cf_fetch_gate_resume(&g), 10);
        /* the earlier fetch's 15..19 come first: stale, not processed */
        expect_all(&g, 15, 19, CF_FETCH_STALE);
        /* then the new fetch from 10 */
        feed(&g, &s, 10, 40);
        each_once(&s, 10, 40);
        /* and it does not wait again */
        assert_int_equal(cf_fetch_gate_take(&g, 41), CF_FETCH_TAKE);
}

static void test_resume_without_held_records(void **state)
{
        (void)state;
        cf_fetch_gate g;
        seen s = {{0}};
        cf_fetch_gate_reset(&g);
        assert_int_equal(cf_fetch_gate_resume(&g), -1); /* its own start position */
        feed(&g, &s, 3, 20);
        each_once(&s, 3, 20);
}

static void test_new_fetch_first_is_any_held_offset(void **state)
{
        (void)state;
        /* held 10..14 with 12 deleted in between (compaction): the new fetch starts at 11 */
        cf_fetch_gate g;
        seen s = {{0}};
        cf_fetch_gate_reset(&g);
        hold(&g, 10, 14);
        assert_int_equal(cf_fetch_gate_resume(&g), 10);
        assert_int_equal(cf_fetch_gate_take(&g, 16), CF_FETCH_STALE);
        feed(&g, &s, 11, 30);
        each_once(&s, 11, 30);
        assert_int_equal(s.times[10], 0);
}

static void test_rewind_drops_earlier_fetch(void **state)
{
        (void)state;
        cf_fetch_gate g;
        seen s = {{0}};
        cf_fetch_gate_reset(&g);
        feed(&g, &s, 0, 29); /* processed, then the transaction aborts at 20 */
        cf_fetch_gate_rewind(&g, 20);
        memset(&s, 0, sizeof s);
        /* the earlier fetch's 30..33 still queued: not processed before 20..29 */
        expect_all(&g, 30, 33, CF_FETCH_STALE);
        feed(&g, &s, 20, 50);
        each_once(&s, 20, 50);
}

static void test_reassign_same_position_skips_second_delivery(void **state)
{
        (void)state;
        cf_fetch_gate g;
        seen s = {{0}};
        cf_fetch_gate_reset(&g);
        feed(&g, &s, 0, 9);
        /* re-assigned at 10 (cf_worker_reposition): the earlier fetch's 10..14 come, then
         * the new fetch delivers 10.. again */
        feed(&g, &s, 10, 14);
        expect_all(&g, 10, 14, CF_FETCH_AGAIN);
        feed(&g, &s, 15, 30);
        each_once(&s, 0, 30);
}

static void test_offset_reset_awaits_nothing(void **state)
{
        (void)state;
        cf_fetch_gate g;
        seen s = {{0}};
        cf_fetch_gate_reset(&g);
        cf_fetch_gate_hold(&g, 5);
        assert_int_equal(cf_fetch_gate_resume(&g), 5);
        /* 5 was deleted by retention: the fetch fails and the reset lands at 40 */
        cf_fetch_gate_moved(&g);
        feed(&g, &s, 40, 45);
        each_once(&s, 40, 45);
}

static void test_assignment_forgets(void **state)
{
        (void)state;
        cf_fetch_gate g;
        seen s = {{0}};
        cf_fetch_gate_reset(&g);
        feed(&g, &s, 0, 9);
        cf_fetch_gate_reset(&g); /* revoked, assigned again: from the committed offset */
        memset(&s, 0, sizeof s);
        feed(&g, &s, 5, 9);
        each_once(&s, 5, 9);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_resume_after_restore_drops_earlier_fetch),
            cmocka_unit_test(test_resume_without_held_records),
            cmocka_unit_test(test_new_fetch_first_is_any_held_offset),
            cmocka_unit_test(test_rewind_drops_earlier_fetch),
            cmocka_unit_test(test_reassign_same_position_skips_second_delivery),
            cmocka_unit_test(test_offset_reset_awaits_nothing),
            cmocka_unit_test(test_assignment_forgets),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
