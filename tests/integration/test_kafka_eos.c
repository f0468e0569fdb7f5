/*
 * test_kafka_eos.c - processing.guarantee: exactly_once on the mock cluster.
 *
 * librdkafka 2.0.2's mock cluster runs the transaction protocol (InitProducerId,
 * AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn, with injectable
 * errors) but does not store transactional offset commits, does not write abort
 * markers (a read_committed consumer sees aborted records) and does not fence a
 * producer when another one initialises the same transactional.id (checked: the
 * zombie's commit succeeds). What these tests can check there:
 *  - flow: every record is processed once, offsets reach the end, every bad
 *    record is dead-lettered exactly once, no transaction aborted;
 *  - abort: errors injected into Produce, AddPartitionsToTxn, TxnOffsetCommit and
 *    EndTxn abort transactions; the worker rewinds state and position, so the
 *    per-partition counts (processed, duplicates, dead-lettered, flagged) and the
 *    flagged declarations equal an undisturbed run's (without the state rewind
 *    the re-processed records count as duplicates and their flags go missing);
 *  - fencing: the broker's answer to a zombie (PRODUCER_FENCED) stops that worker
 *    only; the other takes its partitions over and finishes the stream.
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

#define N       3000
#define SEED    23
#define BAD     0.05
#define DUP     0.03
#define MAXKEYS 4096

/* Kafka protocol ApiKeys */
#define API_PRODUCE       0
#define API_ADD_PARTS_TXN 24
#define API_END_TXN       26
#define API_TXN_OFFSETS   28

typedef struct run_result {
        uint64_t in, processed, duplicates, dead_lettered, flagged, commit_errors;
        size_t dlq, flags;
        char (*keys)[64]; /* distinct flagged declaration ids, sorted */
        size_t n_keys;
} run_result;

static void eos_env(const char *instance)
{
        setenv("CUSTOMSFLOW_PROCESSING_GUARANTEE", "exactly_once", 1);
        setenv("CUSTOMSFLOW_PIPELINE_INSTANCE_ID", instance, 1);
        setenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL", "200ms", 1);
        setenv("CUSTOMSFLOW_PIPELINE_BATCH_SIZE", "250", 1);
        setenv("CUSTOMSFLOW_LOG_LEVEL", "warn", 1);
}

/* Sum of every series of metric name in the service's /metrics text. */
static uint64_t metric_sum(cf_service *s, const char *name)
{
        cf_buf b = {0};
        cf_service_metrics(s, &b);
        cf_buf_putc(&b, '\0');
        uint64_t sum = 0;
        size_t nl = strlen(name);
        for (const char *l = b.p; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (!strncmp(l, name, nl) && (l[nl] == '{' || l[nl] == ' ')) {
                        const char *v = strchr(l, ' ');
                        if (v) sum += strtoull(v + 1, NULL, 10);
                }
        cf_buf_free(&b);
        return sum;
}

static void on_flag(const rd_kafka_message_t *m, void *op)
{
        run_result *r = op;
        r->flags++;
        if (r->n_keys < MAXKEYS)
                snprintf(r->keys[r->n_keys++], 64, "%.*s", (int)m->key_len, (const char *)m->key);
}

static int cmp_key(const void *a, const void *b)
{
        return strcmp(a, b);
}

/* Run one exactly_once service of workers on h until every offset is committed. */
static void run(kh *h, const char *group, int workers, run_result *r)
{
        cf_service *s = kh_service(h, group, workers);
        double t0 = cf_mono_s();
        while (kh_uncommitted(h, group) != 0 && cf_mono_s() - t0 < 90)
                usleep(200 * 1000);
        assert_int_equal(kh_uncommitted(h, group), 0);
        /* counters are published about once a second */
        usleep(1200 * 1000);
        r->in = metric_sum(s, "customsflow_records_in_total");
        r->processed = metric_sum(s, "customsflow_records_processed_total");
        r->duplicates = metric_sum(s, "customsflow_records_duplicates_total");
        r->dead_lettered = metric_sum(s, "customsflow_records_dead_lettered_total");
        r->flagged = metric_sum(s, "customsflow_records_flagged_total");
        r->commit_errors = metric_sum(s, "customsflow_commit_errors_total");
        bool failed = cf_service_failed(s);
        cf_service_stop(s);
        cf_service_wait(s);
        cf_service_destroy(s);
        assert_false(failed);
        r->keys = calloc(MAXKEYS, 64);
        kh_read_topic(h, "customs.flags", on_flag, r);
        qsort(r->keys, r->n_keys, 64, cmp_key);
        size_t d = 0;
        for (size_t i = 0; i < r->n_keys; i++)
                if (!d || strcmp(r->keys[i], r->keys[d - 1])) memmove(r->keys[d++], r->keys[i], 64);
        r->n_keys = d;
        assert_int_equal(kh_check_dlq(h, &r->dlq), 0); /* every bad record, with its code */
        fprintf(stderr,
                "%s: in %llu processed %llu duplicates %llu dead-lettered %llu flagged %llu "
                "(%zu flag messages, %zu declarations) dlq %zu, aborted commits %llu\n",
                group, (unsigned long long)r->in, (unsigned long long)r->processed,
                (unsigned long long)r->duplicates, (unsigned long long)r->dead_lettered,
                (unsigned long long)r->flagged, r->flags, r->n_keys, r->dlq,
                (unsigned long long)r->commit_errors);
}

static size_t n_bad(const kh *h)
{
        size_t n = 0;
        for (size_t i = 0; i < h->n_msgs; i++)
                n += !strcmp(h->msgs[i].kind, "bad");
        return n;
}

static void test_flow_and_abort(void **state)
{
        (void)state;
        /* undisturbed: each record once, each output once */
        kh a;
        kh_start(&a, 1, 4);
        kh_produce_gen(&a, SEED, N, BAD, DUP);
        eos_env("flow");
        run_result ra = {0};
        run(&a, "eos-flow", 1, &ra);
        assert_int_equal(ra.in, N);
        assert_int_equal(ra.commit_errors, 0);
        assert_int_equal(ra.dlq, n_bad(&a));
        assert_int_equal(ra.dead_lettered, n_bad(&a));
        assert_int_equal(ra.flags, ra.flagged);
        assert_true(ra.flagged > 0);
        kh_stop(&a);

        /* the same stream with transaction failures injected at every step */
        kh b;
        kh_start(&b, 1, 4);
        kh_produce_gen(&b, SEED, N, BAD, DUP);
        rd_kafka_mock_push_request_errors(b.mc, API_PRODUCE, 1,
                                          RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
        rd_kafka_mock_push_request_errors(b.mc, API_ADD_PARTS_TXN, 1,
                                          RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
        rd_kafka_mock_push_request_errors(b.mc, API_TXN_OFFSETS, 1,
                                          RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
        rd_kafka_mock_push_request_errors(b.mc, API_END_TXN, 1,
                                          RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID);
        eos_env("abort");
        run_result rb = {0};
        run(&b, "eos-abort", 1, &rb);
        assert_true(rb.commit_errors >= 1); /* transactions were aborted ... */
        /* ... and re-processed from the committed state: the same counts */
        assert_int_equal(rb.in, N);
        assert_int_equal(rb.processed, ra.processed);
        assert_int_equal(rb.duplicates, ra.duplicates);
        assert_int_equal(rb.dead_lettered, ra.dead_lettered);
        assert_int_equal(rb.flagged, ra.flagged);
        /* the same flagged declarations (the mock also shows the aborted copies) */
        assert_int_equal(rb.n_keys, ra.n_keys);
        for (size_t i = 0; i < ra.n_keys; i++)
                assert_string_equal(rb.keys[i], ra.keys[i]);
        free(ra.keys);
        free(rb.keys);
        kh_stop(&b);
}

static void test_fenced_worker_stops_alone(void **state)
{
        (void)state;
        kh h;
        kh_start(&h, 1, 4);
        eos_env("fence");
        cf_service *s = kh_service(&h, "eos-fence", 2);
        assert_true(kh_wait_assigned(s, 2, 60));
        /* A second producer with worker 0's transactional.id: on a broker this fences
         * worker 0 (the mock does not; its refusal is injected below). */
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", h.bootstrap, NULL, 0);
        rd_kafka_conf_set(c, "transactional.id", "eos-fence-fence-0", NULL, 0);
        rd_kafka_t *zombie_killer = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
        assert_non_null(zombie_killer);
        rd_kafka_error_t *e = rd_kafka_init_transactions(zombie_killer, 10000);
        assert_null(e);
        rd_kafka_mock_push_request_errors(h.mc, API_END_TXN, 1, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
        kh_produce_gen(&h, SEED, N, BAD, DUP);
        double t0 = cf_mono_s();
        while (kh_uncommitted(&h, "eos-fence") != 0 && cf_mono_s() - t0 < 90)
                usleep(200 * 1000);
        assert_int_equal(kh_uncommitted(&h, "eos-fence"), 0);
        /* one worker stopped, the instance did not */
        assert_int_equal(cf_service_fenced_workers(s), 1);
        assert_false(cf_service_failed(s));
        cf_service_stop(s);
        assert_int_equal(cf_service_wait(s), 0);
        cf_service_destroy(s);
        size_t dlq;
        assert_int_equal(kh_check_dlq(&h, &dlq), 0);
        rd_kafka_destroy(zombie_killer);
        kh_stop(&h);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_flow_and_abort),
                                           cmocka_unit_test(test_fenced_worker_stops_alone)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
