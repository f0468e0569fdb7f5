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
        assert_int_equal(cf_service_kafka_check(&c, err, sizeof(err)), -1);
        cf_config_free(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_roles),
            cmocka_unit_test(test_bad_role_property),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
