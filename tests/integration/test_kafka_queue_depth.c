/*
 * test_kafka_queue_depth.c - customsflow_producer_queue_depth reads 0 once every
 * output is acknowledged, while the worker is idle and long before the next
 * commit (issue 15: delivery reports are served while no input comes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/kafka_harness.h"
#include "helpers/test_cases.h"

static void test_queue_depth_zero_when_idle(void **state)
{
        (void)state;
        /* no commit during the test: only served delivery reports bring the depth down */
        setenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL", "10min", 1);
        kh h;
        kh_start(&h, 1, 2);
        kh_produce_gen(&h, 15, 3000, 0.05, 0.02);
        cf_service *s = kh_service(&h, "qdepth", 1);
        assert_true(kh_wait_in(s, 3000, 60));
        cf_counters k;
        cf_service_counters(s, &k);
        assert_true(k.dead_lettered > 0); /* outputs were produced */
        long long depth = -1;
        /* /metrics is published about once a second */
        for (int i = 0; i < 50 && (depth = kh_metric(s, "customsflow_producer_queue_depth")) != 0;
             i++)
                usleep(100 * 1000);
        fprintf(stderr, "producer queue depth when idle: %lld, commits: %lld\n", depth,
                kh_metric(s, "customsflow_commits_total"));
        assert_int_equal(depth, 0);
        assert_int_equal(kh_metric(s, "customsflow_commits_total"), 0); /* before any commit */
        cf_service_stop(s);
        assert_int_equal(cf_service_wait(s), 0);
        cf_service_destroy(s);
        unsetenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL");
        kh_stop(&h);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_queue_depth_zero_when_idle),
        };
        return CF_RUN_CASES(tests, argc, argv);
}
