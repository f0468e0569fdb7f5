/*
 * test_kafka_lost.c - a worker whose group session expires (its assignment
 * lost: the group may have given its partitions to another member already)
 * lets them go without a checkpoint and without a commit (worker.c lost()):
 * a checkpoint then would land in the changelog beside the new owner's, on
 * the delta chain the new owner continues (a zombie writer). Heartbeats are
 * refused by the mock cluster (NOT_COORDINATOR) until the consumer's own
 * session timer expires, as librdkafka's 0106-cgrp_sess_timeout does.
 *  - while the records processed since the last commit are not checkpointed,
 *    the loss is counted (customsflow_assignments_lost_total), and neither a
 *    checkpoint nor a changelog record is written for it;
 *  - the worker joins again, gets its partitions back, and everything ends
 *    processed and committed (what was lost is processed again: at least
 *    once).
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
#include "pipeline/core/clock.h"
#include "helpers/test_cases.h"

#define N    400
#define SEED 97

static void ignore(const rd_kafka_message_t *m, void *op)
{
        (void)m;
        (void)op;
}

static void test_lost_assignment_writes_no_checkpoint(void **state)
{
        (void)state;
        kh h;
        kh_start(&h, 1, 2);
        /* nothing committed or checkpointed by the interval while the test runs: the
         * revoke's is the only one there could be */
        setenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL", "10min", 1);
        setenv("CUSTOMSFLOW_KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS", "500", 1);
        kh_produce_gen(&h, SEED, N, 0.02, 0.0);
        cf_service *s = kh_service(&h, "lost", 1);
        assert_true(kh_wait_in(s, N, 60));
        uint64_t checkpoints = kh_metric_sum(s, "customsflow_checkpoints_total");
        size_t clog = kh_read_topic(&h, "customsflow.changelog", ignore, NULL);
        assert_int_equal(kh_metric_sum(s, "customsflow_assignments_lost_total"), 0);

        /* heartbeats refused for longer than the session (6 s, kh_service) */
        rd_kafka_resp_err_t errs[40];
        for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
                errs[i] = RD_KAFKA_RESP_ERR_NOT_COORDINATOR;
        rd_kafka_mock_push_request_errors_array(h.mc, 12 /* Heartbeat */,
                                                sizeof errs / sizeof errs[0], errs);
        assert_true(kh_wait_metric_sum(s, "customsflow_assignments_lost_total", 1, 60));
        /* the revoke of a lost assignment wrote nothing (the metric and the log itself) */
        assert_int_equal(kh_metric_sum(s, "customsflow_checkpoints_total"), checkpoints);
        assert_int_equal(kh_read_topic(&h, "customsflow.changelog", ignore, NULL), clog);

        /* back in the group: its partitions again, everything processed and committed */
        assert_true(kh_wait_assigned(s, 1, 90));
        assert_true(kh_wait_in(s, 2 * N, 90)); /* processed again: nothing was committed */
        kh_finish(s, NULL);
        assert_int_equal(kh_uncommitted(&h, "lost"), 0);
        unsetenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL");
        unsetenv("CUSTOMSFLOW_KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS");
        kh_stop(&h);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_lost_assignment_writes_no_checkpoint),
        };
        return CF_RUN_CASES(tests, argc, argv);
}
