/*
 * test_spacesaving.c - weighted Space-Saving (stages/aggregate/spacesaving.c):
 * returns the true top-k on Zipf streams (issue #6), every estimate brackets
 * the truth (count - error <= true <= count), exact below capacity, and a
 * restored summary decides like the original.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <cmocka.h>

#include "stages/aggregate/spacesaving.h"
#include "pipeline/core/xorshift.h"

#define NKEYS 100000

static uint64_t rng;

static uint64_t rnd(void)
{
        return cf_xorshift64(&rng);
}

static double unif(void)
{
        return (double)(rnd() >> 11) / 9007199254740992.0;
}

/* Zipf(s) over ranks 1..NKEYS by inverse CDF on a precomputed table. */
typedef struct zipf {
        double *cdf;
} zipf;

static void zipf_init(zipf *z, double s)
{
        z->cdf = malloc(NKEYS * sizeof(double));
        double sum = 0;
        for (int i = 0; i < NKEYS; i++)
                z->cdf[i] = (sum += 1.0 / pow(i + 1, s));
        for (int i = 0; i < NKEYS; i++)
                z->cdf[i] /= sum;
}

static int zipf_draw(const zipf *z)
{
        double u = unif();
        int lo = 0, hi = NKEYS - 1;
        while (lo < hi) {
                int mid = (lo + hi) / 2;
                if (z->cdf[mid] < u)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static int key_of(int rank, char *s)
{
        /* rank is scrambled so key order says nothing about weight */
        return snprintf(s, 32, "EXP-%08u", (unsigned)((uint32_t)rank * 2654435761u));
}

static void add(cf_ss *ss, int rank, int64_t w)
{
        char s[32];
        int n = key_of(rank, s);
        cf_ss_add(ss, s, (size_t)n, XXH3_64bits(s, (size_t)n), w);
}

static int cmp_desc(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? 1 : x > y ? -1 : 0;
}

static void check_topk(double s, int weighted, uint32_t cap, size_t k, uint64_t draws)
{
        rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(s * 1000) ^ (uint64_t)weighted;
        zipf z;
        zipf_init(&z, s);
        double *truth = calloc(NKEYS, sizeof(double));
        cf_ss ss;
        cf_ss_init(&ss, cap);
        for (uint64_t i = 0; i < draws; i++) {
                int r = zipf_draw(&z);
                /* weighted: a declaration value, log-normal-ish around 10k USD */
                double w = weighted ? floor(10000 * exp(1.0 * (unif() + unif() - 1))) : 1.0;
                truth[r] += w;
                add(&ss, r, w);
        }
        double *sorted = malloc(NKEYS * sizeof(double));
        memcpy(sorted, truth, NKEYS * sizeof(double));
        qsort(sorted, NKEYS, sizeof(double), cmp_desc);
        cf_ss_entry top[64];
        size_t n = cf_ss_top(&ss, k, top);
        assert_int_equal(n, k);
        for (size_t i = 0; i < n; i++) {
                /* find the rank of the reported key */
                int rank = -1;
                for (int r = 0; r < NKEYS && rank < 0; r++) {
                        char kb[32];
                        int kl = key_of(r, kb);
                        if ((size_t)kl == top[i].len && !memcmp(kb, top[i].key, (size_t)kl))
                                rank = r;
                }
                assert_true(rank >= 0);
                double t = truth[rank];
                assert_true(top[i].count - top[i].err <= t + 1e-6);
                assert_true(t <= top[i].count + 1e-6);
                /* the i-th reported key has the i-th largest true weight */
                if (t != sorted[i])
                        fail_msg("s=%.2f weighted=%d: position %zu holds true %.0f, expected %.0f",
                                 s, weighted, i, t, sorted[i]);
        }
        printf("zipf s=%.2f weighted=%d cap=%u: true top-%zu returned in order\n", s, weighted, cap,
               k);
        cf_ss_free(&ss);
        free(sorted);
        free(truth);
        free(z.cdf);
}

static void test_zipf_topk(void **state)
{
        (void)state;
        check_topk(1.1, 0, 200, 10, 2000000);
        check_topk(1.1, 1, 200, 10, 2000000);
        check_topk(1.5, 1, 100, 10, 1000000);
}

static void test_exact_below_capacity(void **state)
{
        (void)state;
        cf_ss ss;
        cf_ss_init(&ss, 50);
        for (int rep = 0; rep < 10; rep++)
                for (int r = 0; r < 50; r++)
                        add(&ss, r, r + 1);
        cf_ss_entry top[50];
        assert_int_equal(cf_ss_top(&ss, 50, top), 50);
        for (int i = 0; i < 50; i++) {
                assert_true(top[i].err == 0);
                assert_true(top[i].count == 10.0 * (50 - i));
        }
        /* one more key evicts the minimum and inherits its count as error */
        add(&ss, 999, 1);
        assert_int_equal(cf_ss_top(&ss, 50, top), 50);
        assert_true(top[49].count == 11 && top[49].err == 10);
        cf_ss_free(&ss);
}

static void test_snapshot(void **state)
{
        (void)state;
        rng = 42;
        zipf z;
        zipf_init(&z, 1.2);
        cf_ss a, b;
        cf_ss_init(&a, 64);
        for (int i = 0; i < 200000; i++)
                add(&a, zipf_draw(&z), 1 + (double)(rnd() % 100));
        cf_buf buf = {0};
        cf_ss_snapshot(&a, &buf);
        char err[256];
        cf_st_dec d;
        cf_st_dec_init(&d, buf.p, buf.len, "ss", err, sizeof(err));
        assert_int_equal(cf_ss_restore(&b, 64, &d, 0), 0);
        assert_int_equal(cf_st_left(&d), 0);
        /* same further stream, same decisions: identical summaries */
        for (int i = 0; i < 200000; i++) {
                int r = zipf_draw(&z);
                double w = 1 + (double)(rnd() % 100);
                add(&a, r, w);
                add(&b, r, w);
        }
        cf_ss_entry ta[64], tb[64];
        assert_int_equal(cf_ss_top(&a, 64, ta), 64);
        assert_int_equal(cf_ss_top(&b, 64, tb), 64);
        for (int i = 0; i < 64; i++) {
                assert_int_equal(ta[i].len, tb[i].len);
                assert_memory_equal(ta[i].key, tb[i].key, ta[i].len);
                assert_true(ta[i].count == tb[i].count && ta[i].err == tb[i].err);
        }
        for (size_t cut = 0; cut < buf.len; cut += 1 + cut / 5) {
                cf_ss t;
                cf_st_dec_init(&d, buf.p, cut, "ss", err, sizeof(err));
                assert_int_equal(cf_ss_restore(&t, 64, &d, 0), -1);
                cf_ss_free(&t);
        }
        cf_buf_free(&buf);
        cf_ss_free(&a);
        cf_ss_free(&b);
        free(z.cdf);
}

/* Counts saturate at INT64_MAX like the stage's other money sums (no
 * signed overflow: each record's value can be ~1e17 cents). */
static void test_saturates(void **state)
{
        (void)state;
        cf_ss ss;
        cf_ss_init(&ss, 2);
        for (int i = 0; i < 200; i++)
                add(&ss, 1, INT64_MAX / 100);
        add(&ss, 2, 5);
        add(&ss, 3, INT64_MAX / 2); /* replaces the minimum (key 2): min + w */
        cf_ss_entry top[2];
        assert_int_equal(cf_ss_top(&ss, 2, top), 2);
        assert_true(top[0].count == INT64_MAX && top[0].err == 0);
        assert_true(top[1].count == 5 + INT64_MAX / 2 && top[1].err == 5);
        cf_ss_free(&ss);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_zipf_topk),
            cmocka_unit_test(test_exact_below_capacity),
            cmocka_unit_test(test_snapshot),
            cmocka_unit_test(test_saturates),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
