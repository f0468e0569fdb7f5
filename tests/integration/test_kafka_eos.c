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
 *    the re-processed records count as duplicates and their flags go missing),
 *    and customsflow_invariant_ok stays 1 (the consumed offsets are rewound too);
 *  - fencing: the broker's answer to a zombie (PRODUCER_FENCED) stops that worker
 *    only; the other takes its partitions over and finishes the stream.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/wait.h>
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
        uint64_t in, processed, duplicates, dead_lettered, flagged, commit_errors, invariant_ok;
        size_t dlq, flags;
        char (*keys)[64];
        size_t n_keys;
        uint8_t (*seen)[N]; /* flag messages per input (partition, offset) */
        /* keys: the flagged declaration ids, one per flagged input position, sorted */
} run_result;

static void eos_env(const char *instance)
{
        setenv("CUSTOMSFLOW_PROCESSING_GUARANTEE", "exactly_once", 1);
        setenv("CUSTOMSFLOW_PIPELINE_INSTANCE_ID", instance, 1);
        setenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL", "200ms", 1);
        setenv("CUSTOMSFLOW_PIPELINE_BATCH_SIZE", "250", 1);
        setenv("CUSTOMSFLOW_LOG_LEVEL", "warn", 1);
}

/* The input position a flag names: "source":{"topic":..,"partition":P,"offset":O}. */
static bool flag_source(const rd_kafka_message_t *m, int *p, int64_t *o)
{
        static char buf[1 << 16];
        snprintf(buf, sizeof buf, "%.*s", (int)(m->len < sizeof buf ? m->len : sizeof buf - 1),
                 (const char *)m->payload);
        const char *src = strstr(buf, "\"source\":{");
        const char *pp = src ? strstr(src, "\"partition\":") : NULL;
        const char *oo = src ? strstr(src, "\"offset\":") : NULL;
        if (!pp || !oo) return false;
        *p = atoi(pp + 12);
        *o = atoll(oo + 9);
        return *p >= 0 && *p < 8 && *o >= 0 && *o < N;
}

static void on_flag(const rd_kafka_message_t *m, void *op)
{
        run_result *r = op;
        int p = 0;
        int64_t o = 0;
        r->flags++;
        /* one key per flagged input position: the copies an abort left are not counted */
        if (!flag_source(m, &p, &o))
                fail_msg("flag without its source: %.*s", (int)m->len, (const char *)m->payload);
        if (r->seen[p][o]++) return;
        if (r->n_keys < MAXKEYS)
                snprintf(r->keys[r->n_keys++], 64, "%.*s", (int)m->key_len, (const char *)m->key);
}

static int cmp_key(const void *a, const void *b)
{
        return strcmp(a, b);
}

/* Transaction failures injected one after another while the stream flows: each
 * must abort a transaction (counted in customsflow_commit_errors_total) before
 * the next one is injected. */
typedef struct fault {
        int api;
        rd_kafka_resp_err_t err;
        const char *what;
} fault;

static const fault faults[] = {
    {API_PRODUCE, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, "Produce"},
    {API_ADD_PARTS_TXN, RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID, "AddPartitionsToTxn"},
    {API_TXN_OFFSETS, RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID, "TxnOffsetCommit"},
    {API_END_TXN, RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID, "EndTxn"},
};
#define N_FAULTS (int)(sizeof faults / sizeof faults[0])

/* Every partition of the service's outputs led by broker 2, the input's by broker 1: a
 * Produce error injected into broker 2 reaches the service only, not the test's
 * producer of the input. */
static void split_leaders(kh *h)
{
        static const char *const outs[] = {"customs.flags",         "customs.stats",
                                           "customs.dlq",           "customsflow.changelog",
                                           "customsflow.baselines", "customsflow.certificates"};
        for (int p = 0; p < h->partitions; p++)
                rd_kafka_mock_partition_set_leader(h->mc, "customs.declarations", p, 1);
        for (int t = 0; t < 6; t++)
                for (int p = 0; p < h->partitions; p++)
                        rd_kafka_mock_partition_set_leader(h->mc, outs[t], p, 2);
}

/* Run one exactly_once service of workers on h while the stream comes in parts,
 * before each part (inject) a fault that must abort a transaction, until every
 * offset is committed. */
static void run(kh *h, const char *group, int workers, bool inject, run_result *r)
{
        split_leaders(h);
        cf_service *s = kh_service(h, group, workers);
        assert_true(kh_wait_assigned(s, workers, 60));
        for (int i = 0; i < N_FAULTS; i++) {
                uint64_t before = kh_metric_sum(s, "customsflow_commit_errors_total");
                if (inject && faults[i].api == API_PRODUCE)
                        rd_kafka_mock_broker_push_request_error_rtts(h->mc, 2, API_PRODUCE, 1,
                                                                     faults[i].err, 0);
                else if (inject)
                        rd_kafka_mock_push_request_errors(h->mc, faults[i].api, 1, faults[i].err);
                kh_produce_gen_part(h, SEED, N, BAD, DUP, (size_t)i * N / N_FAULTS,
                                    (size_t)(i + 1) * N / N_FAULTS);
                if (!inject) continue;
                double t0 = cf_mono_s();
                while (kh_metric_sum(s, "customsflow_commit_errors_total") == before &&
                       cf_mono_s() - t0 < 20)
                        usleep(50 * 1000);
                uint64_t after = kh_metric_sum(s, "customsflow_commit_errors_total");
                fprintf(stderr, "%s %s: aborted transactions %llu -> %llu\n", faults[i].what,
                        rd_kafka_err2name(faults[i].err), (unsigned long long)before,
                        (unsigned long long)after);
                assert_true(after > before); /* this failure aborted a transaction */
        }
        double t0 = cf_mono_s();
        while (kh_uncommitted(h, group) != 0 && cf_mono_s() - t0 < 90)
                usleep(200 * 1000);
        assert_int_equal(kh_uncommitted(h, group), 0);
        /* counters are published about once a second */
        usleep(1200 * 1000);
        r->in = kh_metric_sum(s, "customsflow_records_in_total");
        r->processed = kh_metric_sum(s, "customsflow_records_processed_total");
        r->duplicates = kh_metric_sum(s, "customsflow_records_duplicates_total");
        r->dead_lettered = kh_metric_sum(s, "customsflow_records_dead_lettered_total");
        r->flagged = kh_metric_sum(s, "customsflow_records_flagged_total");
        r->commit_errors = kh_metric_sum(s, "customsflow_commit_errors_total");
        r->invariant_ok = kh_metric_sum(s, "customsflow_invariant_ok");
        bool failed = cf_service_failed(s);
        cf_service_stop(s);
        cf_service_wait(s);
        cf_service_destroy(s);
        assert_false(failed);
        r->keys = calloc(MAXKEYS, 64);
        r->seen = calloc(8, sizeof *r->seen);
        kh_read_topic(h, "customs.flags", on_flag, r);
        qsort(r->keys, r->n_keys, 64, cmp_key);
        assert_int_equal(kh_check_dlq(h, &r->dlq), 0); /* every bad record, with its code */
        fprintf(stderr,
                "%s: in %llu processed %llu duplicates %llu dead-lettered %llu flagged %llu "
                "(%zu flag messages, %zu flagged lines) dlq %zu, aborted commits %llu\n",
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
        kh_start(&a, 2, 4);
        eos_env("flow");
        run_result ra = {0};
        run(&a, "eos-flow", 1, false, &ra);
        assert_int_equal(ra.in, N);
        assert_int_equal(ra.commit_errors, 0);
        assert_int_equal(ra.dlq, n_bad(&a));
        assert_int_equal(ra.dead_lettered, n_bad(&a));
        assert_int_equal(ra.flags, ra.flagged);
        assert_true(ra.flagged > 0);
        kh_stop(&a);

        /* the same stream with transaction failures injected at every step */
        kh b;
        kh_start(&b, 2, 4);
        eos_env("abort");
        run_result rb = {0};
        run(&b, "eos-abort", 1, true, &rb);
        assert_true(rb.commit_errors >= N_FAULTS); /* transactions were aborted ... */
        /* ... and re-processed from the committed state: the same counts */
        assert_int_equal(rb.in, N);
        assert_int_equal(rb.processed, ra.processed);
        assert_int_equal(rb.duplicates, ra.duplicates);
        assert_int_equal(rb.dead_lettered, ra.dead_lettered);
        assert_int_equal(rb.flagged, ra.flagged);
        /* consumed offsets rewound with the counts: the accounting still adds up */
        assert_int_equal(rb.invariant_ok, 1);
        /* the same flagged lines (the mock also shows the aborted copies) */
        assert_int_equal(rb.n_keys, ra.n_keys);
        for (size_t i = 0; i < ra.n_keys; i++)
                assert_string_equal(rb.keys[i], ra.keys[i]);
        free(ra.keys);
        free(rb.keys);
        free(ra.seen);
        free(rb.seen);
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

typedef struct feeder {
        kh *h;
        pthread_t th;
        atomic_bool done;
} feeder;

static void *feed(void *arg)
{
        feeder *f = arg;
        kh_produce_gen_paced(f->h, SEED, N, BAD, DUP, 300);
        atomic_store(&f->done, true);
        return NULL;
}

static pid_t spawn_run(kh *h)
{
        static const char *const env[] = {"CUSTOMSFLOW_PIPELINE_INSTANCE_ID",
                                          "kill",
                                          "CUSTOMSFLOW_PIPELINE_BATCH_SIZE",
                                          "200",
                                          "CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL",
                                          "300ms",
                                          NULL};
        return kh_spawn_run(h, "eos-kill", env);
}

/* kill -9 of `customsflow run` in exactly_once mid-stream, then a second run: every flag of
 * an undisturbed run is there, no other, and the only repeated ones come from input after
 * the killed run's last commit -- its open transaction, which a broker aborts and a
 * read_committed consumer never sees (the mock shows it: no abort markers). */
static void test_kill9_exactly_once(void **state)
{
        (void)state;
        kh a; /* the undisturbed run: which (partition, offset) must be flagged */
        kh_start(&a, 2, 4);
        eos_env("ref");
        run_result ra = {0};
        run(&a, "eos-ref", 1, false, &ra);
        kh_stop(&a);

        kh h;
        kh_start(&h, 1, 4);
        pid_t pa = spawn_run(&h);
        /* a live stream (10 s): the kill lands after the first commit, mid-stream */
        feeder f = {&h, 0, false};
        pthread_create(&f.th, NULL, feed, &f);
        int64_t at_kill[8], sum = 0;
        for (int i = 0; i < 1200 && sum <= 0; i++) {
                usleep(25 * 1000);
                assert_int_equal(kh_committed(&h, "eos-kill", at_kill), 0);
                sum = 0;
                for (int p = 0; p < h.partitions; p++)
                        sum += at_kill[p] > 0 ? at_kill[p] : 0;
        }
        assert_true(sum > 0);               /* it committed something ... */
        assert_false(atomic_load(&f.done)); /* ... while the stream still came */
        kill(pa, SIGKILL);
        int st;
        waitpid(pa, &st, 0);
        assert_true(WIFSIGNALED(st));
        assert_int_equal(kh_committed(&h, "eos-kill", at_kill), 0);
        pthread_join(f.th, NULL);

        pid_t pb = spawn_run(&h);
        sleep(2); /* its signal handlers are installed */
        for (int i = 0; i < 1200 && kh_uncommitted(&h, "eos-kill") != 0; i++)
                usleep(100 * 1000);
        assert_int_equal(kh_uncommitted(&h, "eos-kill"), 0);
        kill(pb, SIGTERM);
        waitpid(pb, &st, 0);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);

        run_result rk = {0};
        rk.keys = calloc(MAXKEYS, 64);
        rk.seen = calloc(8, sizeof *rk.seen);
        kh_read_topic(&h, "customs.flags", on_flag, &rk);
        qsort(rk.keys, rk.n_keys, 64, cmp_key);
        size_t repeated_committed = 0, repeated_open = 0;
        for (int p = 0; p < h.partitions; p++)
                for (int64_t o = 0; o < N; o++) {
                        if (rk.seen[p][o] > 1 && o < at_kill[p]) repeated_committed++;
                        if (rk.seen[p][o] > 1 && o >= at_kill[p]) repeated_open++;
                }
        /* the flagged lines by declaration id, against the undisturbed run's */
        size_t missing = 0, unexpected = 0, i = 0, j = 0;
        while (i < ra.n_keys || j < rk.n_keys) {
                int c = i == ra.n_keys ? 1 : j == rk.n_keys ? -1 : strcmp(ra.keys[i], rk.keys[j]);
                if (c < 0) missing++, i++;
                if (c > 0) unexpected++, j++;
                if (!c) i++, j++;
        }
        fprintf(stderr,
                "kill -9: %zu flag messages; missing %zu, unexpected %zu, repeated from "
                "committed transactions %zu, from the killed open transaction %zu (aborted on a "
                "broker)\n",
                rk.flags, missing, unexpected, repeated_committed, repeated_open);
        assert_int_equal(missing, 0);
        assert_int_equal(unexpected, 0);
        assert_int_equal(repeated_committed, 0);
        size_t dlq;
        assert_int_equal(kh_check_dlq(&h, &dlq), 0);
        free(ra.keys);
        free(ra.seen);
        free(rk.keys);
        free(rk.seen);
        kh_stop(&h);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_flow_and_abort),
                                           cmocka_unit_test(test_fenced_worker_stops_alone),
                                           cmocka_unit_test(test_kill9_exactly_once)};
        return CF_RUN_CASES(tests, argc, argv);
}
