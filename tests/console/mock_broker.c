/*
 * mock_broker.c - `cf_mock_broker TOPIC...`: librdkafka's mock cluster on
 * 127.0.0.1 with the given topics (one partition each) for the console's
 * script tests; prints the bootstrap address on stdout and runs until its
 * standard input closes (so it never outlives the test that started it).
 */
#include <stdio.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

int main(int argc, char **argv)
{
        char err[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        rd_kafka_mock_cluster_t *mc = rk ? rd_kafka_mock_cluster_new(rk, 1) : NULL;
        if (!mc) {
                fprintf(stderr, "cf_mock_broker: %s\n", rk ? "no mock cluster" : err);
                return 1;
        }
        for (int i = 1; i < argc; i++)
                if (rd_kafka_mock_topic_create(mc, argv[i], 1, 1)) {
                        fprintf(stderr, "cf_mock_broker: cannot create %s\n", argv[i]);
                        return 1;
                }
        printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
        fflush(stdout);
        char buf[256];
        while (read(0, buf, sizeof buf) > 0)
                ;
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        return 0;
}
