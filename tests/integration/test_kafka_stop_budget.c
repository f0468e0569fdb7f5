/*
 * test_kafka_stop_budget.c - a stop ends within pipeline.shutdown_timeout even
 * when every wait on the way out would take its own whole bound: the group
 * coordinator answers OffsetCommit only after 20 s (the mock cluster's request
 * RTT), so the final commit, and the revoke's commit while leaving the group,
 * would each wait their 10 s (COMMIT_WAIT_MS). Before the shared deadline
 * (cf_worker_stop_left_ms) the service gave up on its workers after
 * shutdown_timeout and returned 1 (`run` exits non-zero, its members still in
 * the group); a stop during a rebalance or a busy coordinator did the same with
 * the default 30 s (test_kafka_metrics, once in CI).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/kafka_harness.h"
#include "pipeline/core/clock.h"
#include "pipeline/kafka/service_int.h"

#define BUDGET_S 8 /* pipeline.shutdown_timeout here: below one commit's 10 s bound */
#define SLOW_MS  20000

static void test_stop_within_budget_slow_commits(void **state)
{
        (void)state;
        kh h;
        kh_start(&h, 1, 4);
        char err[1024];
        setenv("CUSTOMSFLOW_PIPELINE_GROUP_ID", "stop-budget", 1);
        setenv("CUSTOMSFLOW_METRICS_LISTEN", "127.0.0.1:0", 1);
        setenv("CUSTOMSFLOW_WORKERS", "2", 1);
        setenv("CUSTOMSFLOW_PIPELINE_SHUTDOWN_TIMEOUT", "8s", 1);
        /* nothing committed before the stop: the final commit has offsets to send */
        setenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL", "10min", 1);
        /* longer than the slow answers (heartbeats wait behind them): a 6 s session
         * (kh_service's) would expire and end the commits early ("Unknown member") */
        setenv("CUSTOMSFLOW_KAFKA_CONSUMER_SESSION_TIMEOUT_MS", "45000", 1);
        cf_service *s = cf_service_new(&h.cfg, h.bootstrap, err, sizeof err);
        if (!s) fail_msg("%s", err);
        unsetenv("CUSTOMSFLOW_PIPELINE_SHUTDOWN_TIMEOUT");
        unsetenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL");
        unsetenv("CUSTOMSFLOW_KAFKA_CONSUMER_SESSION_TIMEOUT_MS");
        if (cf_service_start(s, err, sizeof err)) fail_msg("%s", err);
        assert_true(kh_wait_assigned(s, 2, 60));
        kh_produce_gen(&h, 7, 2000, 0.03, 0.03);
        assert_true(kh_wait_in(s, 2000, 90));
        /* every OffsetCommit from here on is answered after SLOW_MS (8 of them: the two
         * workers' final commits and the revokes' commits, with room to spare) */
        rd_kafka_mock_broker_push_request_error_rtts(h.mc, 1, 8 /* OffsetCommit */, 8, 0, SLOW_MS,
                                                     0, SLOW_MS, 0, SLOW_MS, 0, SLOW_MS, 0, SLOW_MS,
                                                     0, SLOW_MS, 0, SLOW_MS, 0, SLOW_MS);
        double t0 = cf_mono_s();
        cf_service_stop(s);
        int rc = cf_service_wait(s);
        double took = cf_mono_s() - t0;
        fprintf(stderr, "stop: rc %d in %.1f s (shutdown_timeout %d s)\n", rc, took, BUDGET_S);
        assert_int_equal(rc, 0);
        assert_true(took < BUDGET_S);
        cf_service_destroy(s);
        kh_stop(&h);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_stop_within_budget_slow_commits)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
