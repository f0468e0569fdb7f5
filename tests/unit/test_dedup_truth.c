/*
 * test_dedup_truth.c - dedup against the generator's ground truth: every
 * "duplicate" message is dropped, no "valid" or "amendment" one is; amendments
 * carry the amendment signal; the conflicting_resubmission and
 * duplicate_shipment signals fire exactly on the messages labelled so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bench/gen/gen.h"
#include "helpers/dedup_fixture.h"

#define CHUNK 256

static int has(const char *truth, const char *s)
{
        return strstr(truth, s) != NULL;
}

static void run_truth(uint64_t seed, uint64_t count, double dup_rate)
{
        cf_gen_opts o;
        cf_gen_opts_default(&o);
        o.seed = seed;
        o.count = count;
        o.dup_rate = dup_rate;
        o.reference = CF_SRCDIR "/deploy/examples/reference";
        char err[512];
        cf_gen *g = cf_gen_new(&o, err, sizeof(err));
        if (!g) fail_msg("gen: %s", err);
        dd_fx *f = dd_fx_new(NULL);
        char *lines[CHUNK], *truths[CHUNK];
        uint64_t n_dup = 0, n_kept = 0, n_amend = 0, n_conf = 0, n_ship = 0, done = 0;
        int end = 0;
        while (!end) {
                size_t n = dd_gen_chunk(g, lines, truths, CHUNK, &end);
                cf_batch *b = dd_run_lines(f, 0, (const char *const *)lines, n);
                for (size_t i = 0; i < n; i++) {
                        const cf_record *r = &b->recs[i];
                        const char *t = truths[i];
                        uint64_t at = done + i + 1;
                        if (has(t, "\"kind\":\"bad\"")) {
                                if (r->status != CF_REC_DEAD_LETTER)
                                        fail_msg("message %llu: bad input not dead-lettered: %s",
                                                 (unsigned long long)at, t);
                        } else if (has(t, "\"kind\":\"duplicate\"")) {
                                if (r->status != CF_REC_DUPLICATE)
                                        fail_msg("message %llu: duplicate not dropped: %s",
                                                 (unsigned long long)at, t);
                                n_dup++;
                        } else {
                                if (r->status != CF_REC_OK)
                                        fail_msg("message %llu: dropped (%d): %s",
                                                 (unsigned long long)at, r->status, t);
                                n_kept++;
                                int am = has(t, "\"kind\":\"amendment\"");
                                int conf = has(t, "conflicting_resubmission");
                                int ship = has(t, "duplicate_shipment");
                                if (am != !!(r->signals & CF_SIG_AMENDMENT) ||
                                    conf != !!(r->signals & CF_SIG_CONFLICTING_RESUBMISSION) ||
                                    ship != !!(r->signals & CF_SIG_DUPLICATE_SHIPMENT))
                                        fail_msg("message %llu: signals %u for %s (ev %s / %s)",
                                                 (unsigned long long)at, r->signals, t,
                                                 r->sig_evidence[1] ? r->sig_evidence[1] : "-",
                                                 r->sig_evidence[2] ? r->sig_evidence[2] : "-");
                                n_amend += am;
                                n_conf += conf;
                                n_ship += ship;
                        }
                }
                for (size_t i = 0; i < n; i++) {
                        free(lines[i]);
                        free(truths[i]);
                }
                done += n;
        }
        assert_int_equal(done, count);
        /* the stream had every kind the test is about */
        assert_true(n_dup > 0 && n_kept > 0 && n_amend > 0 && n_conf > 0 && n_ship > 0);
        fprintf(stderr,
                "seed %llu: %llu kept, %llu duplicates dropped, %llu amendments, %llu "
                "conflicting, %llu duplicate shipments\n",
                (unsigned long long)seed, (unsigned long long)n_kept, (unsigned long long)n_dup,
                (unsigned long long)n_amend, (unsigned long long)n_conf,
                (unsigned long long)n_ship);
        dd_fx_free(f);
        cf_gen_free(g);
}

static void test_truth_seed1(void **state)
{
        run_truth(1, 20000, 0.05);
}

static void test_truth_seed7(void **state)
{
        run_truth(7, 20000, 0.1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_truth_seed1),
            cmocka_unit_test(test_truth_seed7),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
