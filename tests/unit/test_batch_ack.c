/*
 * test_batch_ack.c - the consume -> acknowledged histogram
 * (customsflow_batch_seconds) observes a batch when the delivery report of
 * its last output comes back, never before, and not at all when an output
 * failed; consume -> processed is the other histogram's. And the commit's
 * accounting check (cf_worker_metrics_check): consumed offsets, counted apart
 * from the chain, against the chain's processed + duplicates + dead letters,
 * so customsflow_invariant_ok turns 0 when a consumed record never reached
 * the chain. The end-to-end histogram (customsflow_record_e2e_seconds) adds the oldest
 * record's wait before consume to the same acknowledgement.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/prom.h"
#include "pipeline/core/clock.h"
#include "pipeline/kafka/service_int.h"

static cf_worker *worker(cf_chain **chain)
{
        char err[512];
        *chain = cf_chain_new(NULL, CF_SRCDIR "/deploy/examples", err, sizeof err);
        if (!*chain) fail_msg("%s", err);
        cf_worker *w = calloc(1, sizeof *w);
        w->chain = *chain;
        cf_worker_metrics_init(w);
        return w;
}

#define E2E "customsflow_record_e2e_seconds"

/* A series of histogram name in w's registry: name's _count, _sum or _bucket{le=...}. */
static long long hist(cf_worker *w, const char *name, const char *what)
{
        char key[128];
        snprintf(key, sizeof key, "%s_%s", name, what);
        return prom_reg_value(cf_chain_registry(w->chain), key);
}

static long long acked(cf_worker *w, const char *what)
{
        return hist(w, "customsflow_batch_seconds", what);
}

static void test_observed_at_last_ack(void **state)
{
        (void)state;
        cf_chain *c;
        cf_worker *w = worker(&c);
        double t0 = cf_mono_s();
        cf_batch_ack *a = cf_batch_ack_open(w, t0);
        a->pending = 2; /* two outputs produced (produce() counts them) */
        cf_batch_ack_report(w, a, true);
        cf_batch_ack_close(w, a);
        assert_int_equal(acked(w, "count"), 0); /* one output still unacknowledged */
        usleep(30 * 1000);
        cf_batch_ack_report(w, a, true);
        assert_int_equal(acked(w, "count"), 1);
        assert_int_equal(acked(w, "bucket{le=\"0.025\"}"), 0); /* >= the 30 ms waited */
        /* a report while the batch is still producing: observed after it closed */
        cf_batch_ack *b = cf_batch_ack_open(w, cf_mono_s());
        b->pending = 1;
        cf_batch_ack_report(w, b, true);
        assert_int_equal(acked(w, "count"), 1); /* still producing */
        b->pending = 1;                         /* one more output */
        cf_batch_ack_close(w, b);
        cf_batch_ack_report(w, b, true);
        assert_int_equal(acked(w, "count"), 2);
        /* done producing, two outputs out: observed at the second report, not the first */
        cf_batch_ack *d = cf_batch_ack_open(w, cf_mono_s());
        d->pending = 2;
        cf_batch_ack_close(w, d);
        cf_batch_ack_report(w, d, true);
        assert_int_equal(acked(w, "count"), 2);
        cf_batch_ack_report(w, d, true);
        assert_int_equal(acked(w, "count"), 3);
        /* a failed output: the batch is never acknowledged */
        cf_batch_ack *f = cf_batch_ack_open(w, cf_mono_s());
        f->pending = 2;
        cf_batch_ack_close(w, f);
        cf_batch_ack_report(w, f, false);
        cf_batch_ack_report(w, f, true);
        assert_int_equal(acked(w, "count"), 3);
        /* no output: nothing to acknowledge, not observed */
        cf_batch_ack_close(w, cf_batch_ack_open(w, cf_mono_s()));
        assert_int_equal(acked(w, "count"), 3);
        cf_worker_metrics_free(w);
        cf_chain_destroy(c);
        free(w);
}

/* A batch with one output, its oldest record waited s before consume, reported ok or not. */
static void one_output(cf_worker *w, double waited, bool ok)
{
        cf_batch_ack *a = cf_batch_ack_open(w, cf_mono_s());
        if (waited >= 0) a->waited = waited;
        a->pending = 1;
        cf_batch_ack_close(w, a);
        cf_batch_ack_report(w, a, ok);
}

/* customsflow_record_e2e_seconds: the oldest record's wait before consume (waited) plus
 * the batch's consume -> acknowledged, observed with it; a batch without a record
 * timestamp (waited < 0: the final flush's windows) or with a failed output is not. */
static void test_end_to_end(void **state)
{
        (void)state;
        cf_chain *c;
        cf_worker *w = worker(&c);
        cf_batch_ack *a = cf_batch_ack_open(w, cf_mono_s());
        assert_true(a->waited < 0); /* none unless the batch's records say so */
        a->waited = 3.0;            /* its oldest record was produced 3 s before consume */
        a->pending = 1;
        cf_batch_ack_close(w, a);
        usleep(20 * 1000);
        cf_batch_ack_report(w, a, true);
        assert_int_equal(hist(w, E2E, "count"), 1);
        assert_int_equal(acked(w, "count"), 1);
        assert_int_equal(hist(w, E2E, "bucket{le=\"2.5\"}"), 0); /* 3 s + 20 ms: above 2.5 */
        assert_int_equal(hist(w, E2E, "bucket{le=\"5\"}"), 1);
        /* no record timestamp: the batch latency only */
        one_output(w, -1, true);
        assert_int_equal(acked(w, "count"), 2);
        assert_int_equal(hist(w, E2E, "count"), 1);
        /* a failed output: neither */
        one_output(w, 0.001, false);
        assert_int_equal(acked(w, "count"), 2);
        assert_int_equal(hist(w, E2E, "count"), 1);
        /* a batch consumed as soon as produced: within the first bucket */
        one_output(w, 0, true);
        assert_int_equal(hist(w, E2E, "count"), 2);
        assert_int_equal(hist(w, E2E, "bucket{le=\"0.005\"}"), 1);
        cf_worker_metrics_free(w);
        cf_chain_destroy(c);
        free(w);
}

/* Consume offsets 0..2 of partition 0 and run them through the chain (malformed:
 * dead-lettered); ok stays 1. Offset 3 consumed but lost before the chain: 0. */
static void test_invariant_at_commit(void **state)
{
        (void)state;
        cf_chain *c;
        cf_worker *w = worker(&c);
        cf_worker_part *wp = &w->parts[0];
        cf_offset_range_reset(&wp->range);
        cf_chain_part_counts(c, 0, &wp->base);
        cf_batch b;
        cf_batch_init(&b, 4);
        for (int64_t o = 0; o < 3; o++) {
                cf_offset_range_add(&wp->range, o);
                cf_record *r = cf_batch_add(&b, "not json", 8);
                r->src.partition = 0;
                r->src.offset = o;
        }
        assert_int_equal(cf_chain_process(c, &b), 0);
        cf_metrics *m = cf_chain_registry(c);
        assert_true(cf_worker_metrics_check(w, 0));
        assert_int_equal(prom_reg_value(m, "customsflow_invariant_ok"), 1);
        cf_offset_range_add(&wp->range, 3);
        assert_false(cf_worker_metrics_check(w, 0));
        assert_int_equal(prom_reg_value(m, "customsflow_invariant_ok"), 0);
        cf_batch_destroy(&b);
        cf_worker_metrics_free(w);
        cf_chain_destroy(c);
        free(w);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_observed_at_last_ack),
                                           cmocka_unit_test(test_end_to_end),
                                           cmocka_unit_test(test_invariant_at_commit)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
