/*
 * test_hll.c - HyperLogLog (stages/aggregate/hll.c): exact while sparse,
 * within 2% of the truth on 1M distinct keys (issue #6), duplicates do not
 * count, snapshot round trip, malformed snapshots rejected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>
#include <cmocka.h>

#include "stages/aggregate/hll.h"

static uint64_t key_hash(uint64_t i)
{
        char s[32];
        int n = snprintf(s, sizeof(s), "EX-%012llu", (unsigned long long)i);
        return XXH3_64bits(s, (size_t)n);
}

static void test_sparse_exact(void **state)
{
        (void)state;
        cf_hll h;
        cf_hll_init(&h, 14);
        assert_true(cf_hll_estimate(&h) == 0.0);
        for (int rep = 0; rep < 3; rep++)
                for (uint64_t i = 0; i < 1000; i++)
                        cf_hll_add(&h, key_hash(i));
        assert_false(h.dense);
        assert_true(cf_hll_estimate(&h) == 1000.0);
        cf_hll_free(&h);
}

static void test_error_1m(void **state)
{
        (void)state;
        const uint64_t checks[] = {2000, 20000, 100000, 1000000};
        for (int p = 12; p <= 14; p += 2) {
                cf_hll h;
                cf_hll_init(&h, p);
                uint64_t i = 0;
                double bound = p == 14 ? 0.02 : 0.05; /* 2.5 standard errors */
                for (size_t c = 0; c < sizeof(checks) / sizeof(checks[0]); c++) {
                        for (; i < checks[c]; i++)
                                cf_hll_add(&h, key_hash(i));
                        double est = cf_hll_estimate(&h);
                        double err = fabs(est - (double)checks[c]) / (double)checks[c];
                        printf("p=%d n=%llu estimate=%.0f error=%.3f%%\n", p,
                               (unsigned long long)checks[c], est, 100 * err);
                        assert_true(err <= bound);
                }
                /* the same keys again: no change */
                double before = cf_hll_estimate(&h);
                for (i = 0; i < 1000000; i += 7)
                        cf_hll_add(&h, key_hash(i));
                assert_true(cf_hll_estimate(&h) == before);
                cf_hll_free(&h);
        }
}

static void roundtrip(uint64_t n)
{
        cf_hll h, r;
        cf_hll_init(&h, 14);
        for (uint64_t i = 0; i < n; i++)
                cf_hll_add(&h, key_hash(i));
        cf_buf b = {0};
        cf_hll_snapshot(&h, &b);
        char err[256];
        cf_st_dec d;
        cf_st_dec_init(&d, b.p, b.len, "hll", err, sizeof(err));
        assert_int_equal(cf_hll_restore(&r, &d), 0);
        assert_int_equal(cf_st_left(&d), 0);
        assert_int_equal(r.dense, h.dense);
        assert_true(cf_hll_estimate(&r) == cf_hll_estimate(&h));
        /* further keys land the same in both */
        for (uint64_t i = n; i < n + 5000; i++) {
                cf_hll_add(&h, key_hash(i));
                cf_hll_add(&r, key_hash(i));
        }
        assert_true(cf_hll_estimate(&r) == cf_hll_estimate(&h));
        /* every truncation is rejected */
        for (size_t cut = 0; cut < b.len; cut += 1 + cut / 3) {
                cf_hll t;
                cf_st_dec_init(&d, b.p, cut, "hll", err, sizeof(err));
                assert_int_equal(cf_hll_restore(&t, &d), -1);
                assert_non_null(strstr(err, "hll: snapshot truncated"));
                cf_hll_free(&t);
        }
        cf_buf_free(&b);
        cf_hll_free(&h);
        cf_hll_free(&r);
}

static void test_snapshot(void **state)
{
        (void)state;
        roundtrip(300);   /* sparse */
        roundtrip(50000); /* dense */
        /* a register above 64 - p + 1 cannot come from a hash */
        cf_hll h;
        cf_hll_init(&h, 8);
        for (uint64_t i = 0; i < 1000; i++)
                cf_hll_add(&h, key_hash(i));
        cf_buf b = {0};
        cf_hll_snapshot(&h, &b);
        assert_true(h.dense);
        b.p[2] = 60;
        char err[256];
        cf_st_dec d;
        cf_st_dec_init(&d, b.p, b.len, "hll", err, sizeof(err));
        cf_hll r;
        assert_int_equal(cf_hll_restore(&r, &d), -1);
        assert_string_equal(err, "hll: HyperLogLog register 60 > 57");
        cf_buf_free(&b);
        cf_hll_free(&h);
}

/* base (keys [0, from)) restored from its snapshot, then keys [from, to) added to the
 * original: its delta applied to the restored copy gives the original's snapshot; whole
 * says whether the delta had to carry the whole sketch (more than CF_HLL_LOG_MAX changes). */
static void delta_case(uint64_t from, uint64_t to, int p, int whole)
{
        cf_hll h, base, r;
        cf_hll_init(&h, p);
        h.track = 1; /* what a window does with change tracking on */
        for (uint64_t i = 0; i < from; i++)
                cf_hll_add(&h, key_hash(i));
        cf_buf b = {0}, d = {0}, x = {0}, y = {0};
        char err[256];
        cf_st_dec dec;
        cf_hll_snapshot(&h, &b);
        cf_st_dec_init(&dec, b.p, b.len, "hll", err, sizeof(err));
        assert_int_equal(cf_hll_restore(&base, &dec), 0);
        cf_hll_clean(&h);
        for (uint64_t i = from; i < to; i++) {
                cf_hll_add(&h, key_hash(i));
                cf_hll_add(&h, key_hash(i / 2)); /* seen before: no change */
        }
        cf_hll_delta(&h, &d);
        assert_int_equal(d.p[0], whole);
        cf_st_dec_init(&dec, d.p, d.len, "hll delta", err, sizeof(err));
        if (cf_hll_patch(&r, &base, &dec)) fail_msg("%s", err);
        assert_true(cf_st_done(&dec));
        cf_hll_snapshot(&h, &x);
        cf_hll_snapshot(&r, &y);
        assert_int_equal(x.len, y.len);
        assert_memory_equal(x.p, y.p, x.len);
        assert_int_equal(r.nlog, 0);
        cf_buf_free(&b);
        cf_buf_free(&d);
        cf_buf_free(&x);
        cf_buf_free(&y);
        cf_hll_free(&h);
        cf_hll_free(&base);
        cf_hll_free(&r);
}

static void test_delta(void **state)
{
        (void)state;
        delta_case(100, 150, 14, 0);     /* sparse, a few added */
        delta_case(1000, 1100, 14, 0);   /* sparse turned dense on the way */
        delta_case(50000, 50300, 14, 0); /* dense, registers raised */
        delta_case(0, 5000, 14, 1);      /* more changes than the log keeps: whole */
        /* a kind of change this build does not know */
        cf_hll base;
        cf_hll_init(&base, 8);
        const unsigned char bad[] = {7, 0, 0, 0, 0};
        char err[256];
        cf_st_dec dec;
        cf_st_dec_init(&dec, bad, sizeof(bad), "hll delta", err, sizeof(err));
        cf_hll r;
        assert_int_equal(cf_hll_patch(&r, &base, &dec), -1);
        assert_non_null(strstr(err, "kind 7"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_sparse_exact),
            cmocka_unit_test(test_error_1m),
            cmocka_unit_test(test_snapshot),
            cmocka_unit_test(test_delta),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
