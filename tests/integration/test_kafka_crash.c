/*
 * test_kafka_crash.c - `customsflow run` as a child process, killed with
 * SIGKILL mid-stream right after its first offset commit while the broker
 * refuses produce requests for a while; a second run finishes the stream. Nothing may
 * be lost: every bad message must be in the DLQ with its code and the group's
 * offsets must reach the end. (Committing offsets before their outputs are
 * acknowledged makes this test fail: the killed run's unacknowledged
 * dead letters are never produced again.)
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/kafka_harness.h"
#include "helpers/test_cases.h"

#define N           8000
#define PARTS       4
#define API_PRODUCE 0 /* Kafka protocol ApiKey */

static pid_t spawn_run(kh *h, bool changelog)
{
        const char *const env[] = {
            /* small batches, frequent commits: the kill lands mid-stream */
            "CUSTOMSFLOW_PIPELINE_BATCH_SIZE", "200", "CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL",
            "300ms", "CUSTOMSFLOW_LOG_LEVEL", "warn",
            /* with the changelog too: checkpoints are not awaited one by one any
             * more but with the commit's wait, so a commit made too early must show
             * both ways */
            "CUSTOMSFLOW_STATE_CHANGELOG", changelog ? "true" : "false",
            /* small fetches: the stream takes seconds, so the kill lands mid-stream */
            "CUSTOMSFLOW_KAFKA_CONSUMER_MAX_PARTITION_FETCH_BYTES", "16384",
            "CUSTOMSFLOW_KAFKA_CONSUMER_FETCH_MAX_BYTES", "1000000",
            /* one produce request in flight: the mock broker does not check an idempotent
             * (not transactional) producer's sequence numbers, so when the injected errors
             * ran out between two requests in flight, the later one was written while the
             * earlier one waited for its retry, and librdkafka then acknowledged the
             * earlier one's messages implicitly (delivery report: no error, persisted,
             * offset -1001) without the mock ever writing them: 3 or 4 dead letters
             * missing in ~1 of 30 runs (bench/RESULTS.md). A real broker refuses the later
             * request (OUT_OF_ORDER_SEQUENCE_NUMBER). */
            "CUSTOMSFLOW_KAFKA_PRODUCER_MAX_IN_FLIGHT", "1", NULL};
        return kh_spawn_run(h, "crash", env);
}

static void kill9_loses_nothing(bool changelog)
{
        kh h;
        kh_start(&h, 1, PARTS);
        kh_produce_gen(&h, 41, N, 0.05, 0.02);
        int64_t total = kh_uncommitted(&h, "crash");
        assert_int_equal(total, N);
        /* the first produce requests fail (retriable): outputs stay unacknowledged
         * for seconds (one request in flight: ~200 ms each, RTT and retry backoff),
         * and a commit made before their acks would be exposed */
        rd_kafka_resp_err_t errs[10];
        for (int i = 0; i < 10; i++)
                errs[i] = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS;
        rd_kafka_mock_push_request_errors_array(h.mc, API_PRODUCE, 10, errs);
        rd_kafka_mock_broker_set_rtt(h.mc, 1, 100);
        pid_t a = spawn_run(&h, changelog);
        /* one reader kept open, committed offsets only (the input's end is known): a
         * fresh kh_uncommitted costs ~1.4 s of requests at this RTT, and polling that
         * coarsely saw the first commit only once the stream was over (left == 0) */
        rd_kafka_t *reader = kh_group_reader(&h, "crash");
        int64_t left = total;
        for (int i = 0; i < 900 && left == total; i++) {
                usleep(20 * 1000);
                int64_t c[PARTS];
                if (kh_committed_on(&h, reader, c)) continue;
                left = total;
                for (int p = 0; p < PARTS; p++)
                        left -= c[p] < 0 ? 0 : c[p];
        }
        assert_true(left < total); /* it committed something ... */
        assert_true(left > 0);     /* ... but not everything: killed mid-stream */
        kill(a, SIGKILL);
        rd_kafka_destroy(reader); /* after the kill: its close may take requests */
        int st;
        waitpid(a, &st, 0);
        assert_true(WIFSIGNALED(st));
        rd_kafka_mock_broker_set_rtt(h.mc, 1, 0);

        pid_t b = spawn_run(&h, changelog);
        sleep(2); /* let it install its signal handlers before any SIGTERM */
        for (int i = 0; i < 1200 && kh_uncommitted(&h, "crash") != 0; i++)
                usleep(100 * 1000);
        assert_int_equal(kh_uncommitted(&h, "crash"), 0);
        kill(b, SIGTERM);
        waitpid(b, &st, 0);
        if (!WIFEXITED(st)) fprintf(stderr, "run ended by signal %d\n", WTERMSIG(st));
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        size_t dlq;
        assert_int_equal(kh_check_dlq(&h, &dlq), 0);
        kh_stop(&h);
}

static void test_kill9_loses_nothing(void **state)
{
        (void)state;
        kill9_loses_nothing(false);
}

static void test_kill9_loses_nothing_changelog(void **state)
{
        (void)state;
        kill9_loses_nothing(true);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_kill9_loses_nothing),
                                           cmocka_unit_test(test_kill9_loses_nothing_changelog)};
        return CF_RUN_CASES(tests, argc, argv);
}
