/*
 * test_kafka_conf.c - the `kafka:` section becomes librdkafka configs per
 * client: plain properties go to both, "consumer."/"producer." ones to that
 * client only (Kafka Streams' prefixes), from the file and from
 * CUSTOMSFLOW_KAFKA_* alike; an invalid role property is refused with its
 * name as written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <unistd.h>

#include "pipeline/kafka/service_int.h"

/* The value of prop in conf, or "" when librdkafka has none set. */
static const char *get(rd_kafka_conf_t *conf, const char *prop, char *v, size_t n)
{
        if (rd_kafka_conf_get(conf, prop, v, &n) != RD_KAFKA_CONF_OK) v[0] = '\0';
        return v;
}

static cf_config load(const char *yaml)
{
        char err[256];
        cf_config c = {0};
        c.root = cf_yaml_load_string("t.yaml", yaml, strlen(yaml), err, sizeof(err));
        if (!c.root) fail_msg("yaml: %s", err);
        return c;
}

static void test_roles(void **state)
{
        (void)state;
        setenv("CUSTOMSFLOW_KAFKA_CONSUMER_QUEUED_MIN_MESSAGES", "12345", 1);
        cf_config c = load("kafka:\n"
                           "  client.id: both\n"
                           "  consumer.session.timeout.ms: 7000\n"
                           "  producer.linger.ms: 7\n");
        char err[512], v[128];
        rd_kafka_conf_t *cc = cf_kafka_conf_new(&c, NULL, CF_KAFKA_CONSUMER, err, sizeof(err));
        rd_kafka_conf_t *pc = cf_kafka_conf_new(&c, NULL, CF_KAFKA_PRODUCER, err, sizeof(err));
        assert_non_null(cc);
        assert_non_null(pc);
        assert_string_equal(get(cc, "client.id", v, sizeof(v)), "both");
        assert_string_equal(get(pc, "client.id", v, sizeof(v)), "both");
        assert_string_equal(get(cc, "session.timeout.ms", v, sizeof(v)), "7000");
        assert_string_equal(get(cc, "queued.min.messages", v, sizeof(v)), "12345");
        assert_string_equal(get(pc, "linger.ms", v, sizeof(v)), "7");
        /* the other client keeps librdkafka's default */
        assert_string_not_equal(get(cc, "linger.ms", v, sizeof(v)), "7");
        assert_string_not_equal(get(pc, "session.timeout.ms", v, sizeof(v)), "7000");
        assert_string_not_equal(get(pc, "queued.min.messages", v, sizeof(v)), "12345");
        rd_kafka_conf_destroy(cc);
        rd_kafka_conf_destroy(pc);
        unsetenv("CUSTOMSFLOW_KAFKA_CONSUMER_QUEUED_MIN_MESSAGES");
        cf_config_free(&c);
}

/* TCP_NODELAY by default (as Kafka's Java clients), unless the file or the
 * environment says otherwise */
static void test_nagle_disabled_by_default(void **state)
{
        (void)state;
        char err[512], v[32];
        cf_config c = load("kafka:\n  client.id: x\n");
        rd_kafka_conf_t *pc = cf_kafka_conf_new(&c, NULL, CF_KAFKA_PRODUCER, err, sizeof(err));
        assert_non_null(pc);
        assert_string_equal(get(pc, "socket.nagle.disable", v, sizeof(v)), "true");
        rd_kafka_conf_destroy(pc);
        cf_config_free(&c);
        c = load("kafka:\n  consumer.socket.nagle.disable: false\n");
        rd_kafka_conf_t *cc = cf_kafka_conf_new(&c, NULL, CF_KAFKA_CONSUMER, err, sizeof(err));
        pc = cf_kafka_conf_new(&c, NULL, CF_KAFKA_PRODUCER, err, sizeof(err));
        assert_string_equal(get(cc, "socket.nagle.disable", v, sizeof(v)), "false");
        assert_string_equal(get(pc, "socket.nagle.disable", v, sizeof(v)), "true");
        rd_kafka_conf_destroy(cc);
        rd_kafka_conf_destroy(pc);
        cf_config_free(&c);
        setenv("CUSTOMSFLOW_KAFKA_SOCKET_NAGLE_DISABLE", "false", 1);
        c = load("kafka:\n  client.id: x\n");
        pc = cf_kafka_conf_new(&c, NULL, CF_KAFKA_PRODUCER, err, sizeof(err));
        assert_string_equal(get(pc, "socket.nagle.disable", v, sizeof(v)), "false");
        rd_kafka_conf_destroy(pc);
        unsetenv("CUSTOMSFLOW_KAFKA_SOCKET_NAGLE_DISABLE");
        cf_config_free(&c);
}

static void test_bad_role_property(void **state)
{
        (void)state;
        cf_config c = load("kafka:\n  consumer.fetch.wait.max.msec: 5\n");
        char err[512] = "";
        assert_null(cf_kafka_conf_new(&c, NULL, CF_KAFKA_CONSUMER, err, sizeof(err)));
        assert_non_null(strstr(err, "t.yaml:2: kafka.consumer.fetch.wait.max.msec"));
        /* the producer does not read it; the config check reads both roles */
        rd_kafka_conf_t *pc = cf_kafka_conf_new(&c, NULL, CF_KAFKA_PRODUCER, err, sizeof(err));
        assert_non_null(pc);
        rd_kafka_conf_destroy(pc);
        cf_service_cfg sc;
        assert_int_equal(cf_service_validate(&c, NULL, &sc, err, sizeof(err)), -1);
        cf_config_free(&c);
}

/* kafka: file paths resolve against the config file's folder, and a missing
 * one is named with its line (not an OpenSSL error code) */
static void test_paths_resolve_against_config_folder(void **state)
{
        (void)state;
        char dir[] = "/tmp/cf_kconf_XXXXXX", ca[256], err[512], v[512];
        assert_non_null(mkdtemp(dir));
        snprintf(ca, sizeof ca, "%s/ca.pem", dir);
        FILE *f = fopen(ca, "w");
        fputs("not a certificate\n", f);
        fclose(f);
        cf_config c = load("kafka:\n  ssl.ca.location: ca.pem\n");
        snprintf(c.base_dir, sizeof c.base_dir, "%s", dir);
        rd_kafka_conf_t *cc = cf_kafka_conf_new(&c, NULL, CF_KAFKA_CONSUMER, err, sizeof(err));
        assert_non_null(cc);
        assert_string_equal(get(cc, "ssl.ca.location", v, sizeof(v)), ca);
        rd_kafka_conf_destroy(cc);
        cf_config_free(&c);
        c = load("kafka:\n  security.protocol: ssl\n  ssl.ca.location: missing/ca.pem\n");
        snprintf(c.base_dir, sizeof c.base_dir, "%s", dir);
        assert_null(cf_kafka_conf_new(&c, NULL, CF_KAFKA_CONSUMER, err, sizeof(err)));
        assert_non_null(strstr(err, "t.yaml:3: kafka.ssl.ca.location"));
        assert_non_null(strstr(err, "missing/ca.pem: cannot open"));
        cf_config_free(&c);
        unlink(ca);
        rmdir(dir);
}

/* static membership: worker N of instance I joins as I-N; librdkafka resets
 * nothing by itself (the worker applies auto.offset.reset and counts it) */
static void test_instance_id_per_worker(void **state)
{
        (void)state;
        setenv("CUSTOMSFLOW_PIPELINE_INSTANCE_ID", "pod-7", 1);
        cf_config c = load("pipeline:\n  group_id: g\n");
        char err[512], v[128];
        cf_service_cfg sc;
        assert_int_equal(cf_service_validate(&c, NULL, &sc, err, sizeof(err)), 0);
        rd_kafka_conf_t *cc =
            cf_service_client_conf(&c, &sc, NULL, CF_KAFKA_CONSUMER, 3, err, sizeof(err));
        assert_non_null(cc);
        assert_string_equal(get(cc, "group.instance.id", v, sizeof(v)), "pod-7-3");
        assert_string_equal(get(cc, "group.id", v, sizeof(v)), "g");
        assert_string_equal(get(cc, "auto.offset.reset", v, sizeof(v)), "error");
        assert_int_equal(sc.offset_reset, CF_RESET_EARLIEST);
        rd_kafka_conf_destroy(cc);
        cf_service_cfg_free(&sc);
        /* no instance_id: dynamic membership */
        unsetenv("CUSTOMSFLOW_PIPELINE_INSTANCE_ID");
        assert_int_equal(cf_service_validate(&c, NULL, &sc, err, sizeof(err)), 0);
        cc = cf_service_client_conf(&c, &sc, NULL, CF_KAFKA_CONSUMER, 0, err, sizeof(err));
        assert_string_equal(get(cc, "group.instance.id", v, sizeof(v)), "");
        rd_kafka_conf_destroy(cc);
        cf_service_cfg_free(&sc);
        cf_config_free(&c);
        /* an instance id Kafka would refuse is a config error */
        c = load("pipeline:\n  instance_id: \"pod 7\"\n");
        assert_int_equal(cf_service_validate(&c, NULL, &sc, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "t.yaml:2: pipeline.instance_id"));
        cf_config_free(&c);
}

/* What check-config and run refuse before any client connects: client
 * property combinations librdkafka checks only when a client is built. */
static void test_validate_builds_clients(void **state)
{
        (void)state;
        char err[512];
        cf_service_cfg sc;
        cf_config c = load("kafka:\n  security.protocol: sasl_ssl\n  sasl.mechanism: PLAIN\n");
        assert_int_equal(cf_service_validate(&c, NULL, &sc, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "sasl.username and sasl.password must be set"));
        cf_config_free(&c);
        c = load("kafka:\n  producer.acks: 1\n");
        assert_int_equal(cf_service_validate(&c, NULL, &sc, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "producer"));
        cf_config_free(&c);
        c = load("metrics:\n  listen: \"127.0.0.1:99999\"\n");
        assert_int_equal(cf_service_validate(&c, NULL, &sc, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "t.yaml:2: metrics.listen"));
        cf_config_free(&c);
        c = load("metrics:\n  listen: \"[::1]:9464\"\ntopics:\n  flags: ok.flags_1\n");
        assert_int_equal(cf_service_validate(&c, NULL, &sc, err, sizeof(err)), 0);
        cf_service_cfg_free(&sc);
        cf_config_free(&c);
        c = load("topics:\n  stats: \"customs/stats\"\n");
        assert_int_equal(cf_service_validate(&c, NULL, &sc, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "t.yaml:2: topics.stats"));
        cf_config_free(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_roles),
            cmocka_unit_test(test_nagle_disabled_by_default),
            cmocka_unit_test(test_bad_role_property),
            cmocka_unit_test(test_paths_resolve_against_config_folder),
            cmocka_unit_test(test_instance_id_per_worker),
            cmocka_unit_test(test_validate_builds_clients),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
