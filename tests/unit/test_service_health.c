/*
 * test_service_health.c - fatal Kafka errors and the topic plan, without a
 * broker (the mock cluster cannot fail authentication or answer
 * DescribeConfigs/CreateTopics):
 *  - an authentication error reaching a worker's error callback is counted,
 *    fails the instance at once with kafka.fail_on_auth_error (default), and
 *    with it off makes /healthz fail only after kafka.auth_error_grace;
 *    transient errors are not counted;
 *  - /readyz states: starting, restoring, ready, degraded (commits failing,
 *    lag over bound), draining;
 *  - cf_topics_plan: missing input refused; missing outputs/changelog refused
 *    or created (changelog with the input's partitions, compact); a changelog
 *    with too few partitions or cleanup.policy=delete refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pipeline/kafka/service_int.h"
#include "pipeline/kafka/topics.h"

static cf_service *service(cf_config *cfg)
{
        char err[1024];
        assert_int_equal(
            cf_config_load(cfg, CF_SRCDIR "/deploy/examples/customsflow.yaml", err, sizeof err), 0);
        setenv("CUSTOMSFLOW_METRICS_ENABLED", "false", 1);
        setenv("CUSTOMSFLOW_LOG_LEVEL", "error", 1);
        /* nothing listens there: the clients exist, no broker answers */
        cf_service *s = cf_service_new(cfg, "127.0.0.1:9", err, sizeof err);
        if (!s) fail_msg("%s", err);
        return s;
}

static bool metric_has(cf_service *s, const char *line)
{
        cf_buf b = {0};
        cf_service_metrics(s, &b);
        cf_buf_putc(&b, '\0');
        bool ok = strstr(b.p, line) != NULL;
        cf_buf_free(&b);
        return ok;
}

static void test_auth_error_fails_fast(void **state)
{
        (void)state;
        unsetenv("CUSTOMSFLOW_KAFKA_FAIL_ON_AUTH_ERROR");
        cf_config cfg;
        cf_service *s = service(&cfg);
        cf_worker *w = &s->workers[0];
        char why[512];
        /* transient: not counted, nothing fails */
        cf_worker_on_error(w->consumer, RD_KAFKA_RESP_ERR__TRANSPORT, "connection refused", w);
        assert_false(cf_service_failed(s));
        assert_true(metric_has(s, "customsflow_kafka_auth_errors_total 0\n"));
        cf_worker_on_error(w->consumer, RD_KAFKA_RESP_ERR__AUTHENTICATION,
                           "SASL authentication error: Authentication failed", w);
        assert_true(metric_has(s, "customsflow_kafka_auth_errors_total 1\n"));
        assert_true(cf_service_failed(s));
        assert_true(cf_service_stopping(s));
        assert_false(cf_service_healthy(s, why, sizeof why));
        assert_non_null(strstr(why, "Authentication failed"));
        assert_int_equal(cf_service_state(s, why, sizeof why), CF_STATE_FAILED);
        cf_service_destroy(s);
        cf_config_free(&cfg);
}

static void test_auth_error_grace(void **state)
{
        (void)state;
        setenv("CUSTOMSFLOW_KAFKA_FAIL_ON_AUTH_ERROR", "false", 1);
        setenv("CUSTOMSFLOW_KAFKA_AUTH_ERROR_GRACE", "300ms", 1);
        cf_config cfg;
        cf_service *s = service(&cfg);
        cf_worker *w = &s->workers[0];
        char why[512];
        cf_worker_on_error(w->producer, RD_KAFKA_RESP_ERR__SSL,
                           "SSL handshake failed: certificate verify failed", w);
        assert_false(cf_service_failed(s));
        assert_true(cf_service_healthy(s, why, sizeof why)); /* within the grace period */
        usleep(400 * 1000);
        assert_false(cf_service_healthy(s, why, sizeof why));
        assert_non_null(strstr(why, "certificate verify failed"));
        cf_service_kafka_ok(s); /* e.g. a commit went through: over */
        assert_true(cf_service_healthy(s, why, sizeof why));
        assert_true(metric_has(s, "customsflow_kafka_auth_errors_total 1\n"));
        cf_service_destroy(s);
        cf_config_free(&cfg);
        unsetenv("CUSTOMSFLOW_KAFKA_FAIL_ON_AUTH_ERROR");
        unsetenv("CUSTOMSFLOW_KAFKA_AUTH_ERROR_GRACE");
}

/* /readyz: ready only once assigned, and not while commits keep failing or a
 * partition lags past pipeline.max_ready_lag */
static void test_ready_states(void **state)
{
        (void)state;
        setenv("CUSTOMSFLOW_PIPELINE_MAX_READY_LAG", "100", 1);
        setenv("CUSTOMSFLOW_PIPELINE_FAILURES_NOT_READY", "2", 1);
        cf_config cfg;
        cf_service *s = service(&cfg);
        char why[512];
        assert_int_equal(cf_service_state(s, why, sizeof why), CF_STATE_STARTING);
        atomic_store(&s->workers[0].restoring, true);
        assert_int_equal(cf_service_state(s, why, sizeof why), CF_STATE_RESTORING);
        atomic_store(&s->workers[0].restoring, false);
        s->pubs[0].assigned = true;
        s->pubs[0].max_lag = 100;
        /* not before the worker read the population topics up to their ends */
        assert_int_equal(cf_service_state(s, why, sizeof why), CF_STATE_RESTORING);
        assert_non_null(strstr(why, "reading the population state"));
        s->pubs[0].population_ready = true;
        assert_int_equal(cf_service_state(s, why, sizeof why), CF_STATE_READY);
        assert_true(cf_service_ready(s));
        s->pubs[0].max_lag = 101;
        assert_int_equal(cf_service_state(s, why, sizeof why), CF_STATE_DEGRADED);
        assert_non_null(strstr(why, "consumer lag 101 above max_ready_lag 100"));
        s->pubs[0].max_lag = 0;
        atomic_store(&s->workers[0].failures_in_row, 1);
        assert_int_equal(cf_service_state(s, why, sizeof why), CF_STATE_READY);
        atomic_store(&s->workers[0].failures_in_row, 2);
        assert_int_equal(cf_service_state(s, why, sizeof why), CF_STATE_DEGRADED);
        assert_non_null(strstr(why, "2 commits or checkpoints in a row failed"));
        atomic_store(&s->workers[0].failures_in_row, 0);
        cf_service_stop(s);
        assert_int_equal(cf_service_state(s, why, sizeof why), CF_STATE_DRAINING);
        assert_true(cf_service_healthy(s, why, sizeof why));
        cf_service_destroy(s);
        cf_config_free(&cfg);
        unsetenv("CUSTOMSFLOW_PIPELINE_MAX_READY_LAG");
        unsetenv("CUSTOMSFLOW_PIPELINE_FAILURES_NOT_READY");
}

static void defaults(cf_service_cfg *sc)
{
        cf_config c = {0};
        char err[512];
        assert_int_equal(cf_service_cfg_load(sc, &c, err, sizeof err), 0);
}

/* exactly_once commits every 100 ms unless commit_interval is set (Kafka Streams' default
 * under exactly_once: its outputs become visible at commits); at_least_once every 5 s. */
static int64_t commit_interval_ms(bool eos)
{
        cf_config cfg = {0};
        cf_service_cfg sc;
        char err[1024];
        assert_int_equal(
            cf_config_load(&cfg, CF_SRCDIR "/deploy/examples/customsflow.yaml", err, sizeof err),
            0);
        if (cf_service_validate(&cfg, "127.0.0.1:9", &sc, err, sizeof err)) fail_msg("%s", err);
        assert_int_equal(sc.eos, eos);
        int64_t ms = sc.commit_interval_ms;
        cf_service_cfg_free(&sc);
        cf_config_free(&cfg);
        return ms;
}

static void test_commit_interval_default(void **state)
{
        (void)state;
        assert_int_equal(commit_interval_ms(false), 5000);
        setenv("CUSTOMSFLOW_PROCESSING_GUARANTEE", "exactly_once", 1);
        setenv("CUSTOMSFLOW_PIPELINE_INSTANCE_ID", "a", 1);
        assert_int_equal(commit_interval_ms(true), 100);
        setenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL", "5s", 1); /* set: kept */
        assert_int_equal(commit_interval_ms(true), 5000);
        unsetenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL");
        unsetenv("CUSTOMSFLOW_PIPELINE_INSTANCE_ID");
        unsetenv("CUSTOMSFLOW_PROCESSING_GUARANTEE");
}

static void facts(cf_topic_fact *f, int in_parts, bool outs, int cl_parts, const char *policy)
{
        memset(f, 0, sizeof *f * CF_N_TOPICS);
        f[CF_TOPIC_INPUT] = (cf_topic_fact){.exists = in_parts > 0, .partitions = in_parts};
        for (int i = CF_TOPIC_FLAGS; i <= CF_TOPIC_DLQ; i++)
                f[i] = (cf_topic_fact){.exists = outs, .partitions = 1};
        f[CF_TOPIC_CHANGELOG] = (cf_topic_fact){.exists = cl_parts > 0, .partitions = cl_parts};
        snprintf(f[CF_TOPIC_CHANGELOG].cleanup_policy, 64, "%s", policy);
        f[CF_TOPIC_OUTCOMES] = (cf_topic_fact){.exists = outs, .partitions = 1};
        f[CF_TOPIC_BASELINES] = (cf_topic_fact){.exists = outs, .partitions = 3};
        snprintf(f[CF_TOPIC_BASELINES].cleanup_policy, 64, "compact");
        f[CF_TOPIC_CERTIFICATES] = (cf_topic_fact){.exists = outs, .partitions = 3};
}

static void test_topics_plan(void **state)
{
        (void)state;
        cf_service_cfg sc;
        defaults(&sc);
        cf_topic_fact f[CF_N_TOPICS];
        cf_topic_spec c[CF_N_TOPICS];
        char err[512];
        int n;
        facts(f, 8, true, 8, "compact");
        assert_int_equal(cf_topics_plan(&sc, f, c, &n, err, sizeof err), 0);
        assert_int_equal(n, 0);
        f[CF_TOPIC_OUTCOMES].exists = false; /* optional: a warning, no refusal */
        assert_int_equal(cf_topics_plan(&sc, f, c, &n, err, sizeof err), 0);
        assert_int_equal(n, 0);
        facts(f, 0, true, 8, "compact"); /* no input: never created */
        sc.topics_create = true;
        assert_int_equal(cf_topics_plan(&sc, f, c, &n, err, sizeof err), -1);
        assert_non_null(strstr(err, "topics.input 'customs.declarations' does not exist"));
        sc.topics_create = false;
        facts(f, 8, true, 0, ""); /* no changelog */
        assert_int_equal(cf_topics_plan(&sc, f, c, &n, err, sizeof err), -1);
        assert_non_null(strstr(err, "topics.changelog 'customsflow.changelog' does not exist"));
        sc.topics_create = true;
        sc.topics_partitions = 3;
        facts(f, 8, false, 0, "");
        assert_int_equal(cf_topics_plan(&sc, f, c, &n, err, sizeof err), 0);
        assert_int_equal(n, 7);
        assert_string_equal(c[0].name, "customs.flags");
        assert_int_equal(c[0].partitions, 3);
        assert_false(c[0].compact);
        assert_string_equal(c[3].name, "customsflow.changelog");
        assert_int_equal(c[3].partitions,
                         8); /* one per input partition, whatever topics.partitions */
        assert_true(c[3].compact);
        assert_int_equal(c[3].replication, -1);
        /* the outcomes topic: optional (above, missing was no error), created with one
         * partition: every worker reads it whole and in order */
        assert_string_equal(c[4].name, "customs.outcomes");
        assert_int_equal(c[4].partitions, 1);
        assert_false(c[4].compact);
        /* the population topics: baselines compacted, certificate uses kept for a window */
        assert_string_equal(c[5].name, "customsflow.baselines");
        assert_true(c[5].compact);
        assert_string_equal(c[6].name, "customsflow.certificates");
        assert_false(c[6].compact);
        assert_true(c[6].retention_ms >= 366LL * 86400000LL);
        sc.topics_create = false;
        facts(f, 8, true, 8, "compact");
        f[CF_TOPIC_CERTIFICATES].exists = false;
        assert_int_equal(cf_topics_plan(&sc, f, c, &n, err, sizeof err), -1);
        assert_non_null(
            strstr(err, "topics.certificates 'customsflow.certificates' does not exist"));
        facts(f, 8, true, 8, "compact");
        snprintf(f[CF_TOPIC_BASELINES].cleanup_policy, 64, "delete");
        assert_int_equal(cf_topics_plan(&sc, f, c, &n, err, sizeof err), -1);
        assert_non_null(
            strstr(err, "topics.baselines 'customsflow.baselines' has cleanup.policy=delete"));
        sc.topics_create = true;
        /* what a broker's auto-creation makes: one partition, delete */
        facts(f, 8, true, 1, "delete");
        assert_int_equal(cf_topics_plan(&sc, f, c, &n, err, sizeof err), -1);
        assert_non_null(strstr(err, "has 1 partition(s), the input 'customs.declarations' has 8"));
        facts(f, 8, true, 8, "delete");
        assert_int_equal(cf_topics_plan(&sc, f, c, &n, err, sizeof err), -1);
        assert_non_null(strstr(err, "cleanup.policy=delete"));
        facts(f, 8, true, 8, "compact,delete");
        assert_int_equal(cf_topics_plan(&sc, f, c, &n, err, sizeof err), -1);
        facts(f, 8, true, 8, ""); /* unknown: warned, not refused */
        assert_int_equal(cf_topics_plan(&sc, f, c, &n, err, sizeof err), 0);
        sc.changelog = false; /* no state topic used: not checked */
        facts(f, 8, true, 0, "");
        assert_int_equal(cf_topics_plan(&sc, f, c, &n, err, sizeof err), 0);
        assert_int_equal(n, 0);
        cf_service_cfg_free(&sc);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_auth_error_fails_fast),
            cmocka_unit_test(test_auth_error_grace),
            cmocka_unit_test(test_topics_plan),
            cmocka_unit_test(test_commit_interval_default),
            cmocka_unit_test(test_ready_states),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
