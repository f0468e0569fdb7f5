/*
 * test_kafka_faults.c - transient broker faults mid-stream (mock cluster):
 * Produce and OffsetCommit errors, a slow broker, the broker down for
 * seconds. Afterwards every input is committed and every bad message is in
 * the DLQ with its code (duplicates allowed: at-least-once; losses never).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/kafka_harness.h"
#include "helpers/test_cases.h"

#define N 5000
/* Kafka protocol ApiKeys (the mock takes the raw request type) */
#define API_PRODUCE       0
#define API_OFFSET_COMMIT 8

static void test_faults_lose_nothing(void **state)
{
        (void)state;
        kh h;
        kh_start(&h, 1, 4);
        kh_produce_gen(&h, 31, N, 0.03, 0.02);
        /* one produce request in flight: the mock broker does not check an idempotent
         * producer's sequence numbers, so a request written after an earlier one failed
         * has librdkafka acknowledge the earlier one's messages unwritten (see
         * test_kafka_crash.c); a real broker refuses the later request */
        setenv("CUSTOMSFLOW_KAFKA_PRODUCER_MAX_IN_FLIGHT", "1", 1);
        cf_service *s = kh_service(&h, "faults", 2);
        assert_true(kh_wait_in(s, 500, 60));
        /* retriable errors on the service's produce and commit requests */
        rd_kafka_mock_push_request_errors(
            h.mc, API_PRODUCE, 4, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
        rd_kafka_mock_push_request_errors(h.mc, API_OFFSET_COMMIT, 2,
                                          RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                                          RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
        /* a slow broker, then a broker that is down for three seconds */
        rd_kafka_mock_broker_set_rtt(h.mc, 1, 300);
        sleep(2);
        rd_kafka_mock_broker_set_rtt(h.mc, 1, 0);
        rd_kafka_mock_broker_set_down(h.mc, 1);
        sleep(3);
        rd_kafka_mock_broker_set_up(h.mc, 1);
        for (int i = 0; i < 900 && kh_uncommitted(&h, "faults") != 0; i++)
                usleep(100 * 1000);
        assert_int_equal(kh_uncommitted(&h, "faults"), 0);
        cf_service_stop(s);
        assert_int_equal(cf_service_wait(s), 0);
        cf_counters k;
        cf_service_counters(s, &k);
        cf_service_destroy(s);
        unsetenv("CUSTOMSFLOW_KAFKA_PRODUCER_MAX_IN_FLIGHT");
        assert_true(k.in >= N);
        assert_int_equal(k.in, k.processed + k.duplicates + k.dead_lettered);
        size_t dlq;
        assert_int_equal(kh_check_dlq(&h, &dlq), 0);
        kh_stop(&h);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_faults_lose_nothing)};
        return CF_RUN_CASES(tests, argc, argv);
}
