/*
 * test_batch_ack.c - the consume -> acknowledged histogram
 * (customsflow_batch_seconds) observes a batch when the delivery report of
 * its last output comes back, never before, and not at all when an output
 * failed; consume -> processed is the other histogram's.
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

static long long acked(cf_worker *w, const char *what)
{
        char key[96];
        snprintf(key, sizeof key, "customsflow_batch_seconds_%s", what);
        return prom_reg_value(cf_chain_registry(w->chain), key);
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
        /* a failed output: the batch is never acknowledged */
        cf_batch_ack *f = cf_batch_ack_open(w, cf_mono_s());
        f->pending = 2;
        cf_batch_ack_close(w, f);
        cf_batch_ack_report(w, f, false);
        cf_batch_ack_report(w, f, true);
        assert_int_equal(acked(w, "count"), 2);
        /* no output: nothing to acknowledge, not observed */
        cf_batch_ack_close(w, cf_batch_ack_open(w, cf_mono_s()));
        assert_int_equal(acked(w, "count"), 2);
        cf_worker_metrics_free(w);
        cf_chain_destroy(c);
        free(w);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_observed_at_last_ack)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
