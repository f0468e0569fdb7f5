/*
 * bench_kafka_util.h - what the Kafka benches (bench_kafka.c, bench_state.c)
 * share: producing generated declarations, checking the mock cluster kept
 * them.
 */
#ifndef CF_BENCH_KAFKA_UTIL_H
#define CF_BENCH_KAFKA_UTIL_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "bench/bench_util.h"
#include "bench/gen/gen.h"
#include "pipeline/core/buf.h"
#include "pipeline/core/clock.h"
#include "pipeline/core/config.h"
#include "pipeline/kafka/mock_nodelay.h"

/** TCP_NODELAY on mc's listeners, as a real broker's connections have
 *  (pipeline/kafka/mock_nodelay.h), unless CF_MOCK_NAGLE=1 keeps Nagle for a side-by-side
 *  run. -1 + errstr if they were not all set. */
static inline int cf_bench_mock_nodelay(rd_kafka_mock_cluster_t *mc, char *errstr,
                                        size_t errstr_size)
{
        const char *keep = getenv("CF_MOCK_NAGLE");
        if (keep && !strcmp(keep, "1")) return 0;
        return cf_kafka_mock_nodelay(mc, errstr, errstr_size) < 0 ? -1 : 0;
}

/** A paced producer's acknowledgements: produce -> delivery report, ms (the
 *  message's opaque is its produce time, cf_bench_gen_produce). */
typedef struct cf_bench_acks {
        double *v; /* ms (sorted with cf_bench_cmp_d) */
        size_t n, cap;
} cf_bench_acks;

/** Records the ack of delivery report m (call from the DR callback). */
static inline void cf_bench_acks_add(cf_bench_acks *a, const rd_kafka_message_t *m)
{
        if (a->n == a->cap) {
                a->cap = a->cap ? 2 * a->cap : 65536;
                a->v = realloc(a->v, a->cap * sizeof *a->v);
                if (!a->v) abort();
        }
        a->v[a->n++] = (double)(cf_now_ms() - (int64_t)(intptr_t)m->_private);
}

/** Prints "<prefix>acks of the input producer: p50, p99, max" to f and empties a:
 *  the broker's ack time beside the service, with no service code in its path. */
static inline void cf_bench_acks_print(FILE *f, const char *prefix, cf_bench_acks *a)
{
        if (a->n) {
                qsort(a->v, a->n, sizeof *a->v, cf_bench_cmp_d);
                fprintf(f,
                        "%sacks of the input producer: p50 %.0f ms, p99 %.0f ms, max %.0f ms "
                        "(%zu messages)\n",
                        prefix, a->v[a->n / 2], a->v[a->n * 99 / 100], a->v[a->n - 1], a->n);
        }
        free(a->v);
        *a = (cf_bench_acks){0};
}

/** Produce every declaration of g to topic through p, at rate records/s (0: as fast as p
 *  takes them), and flush. spread 0: keyed by exporter (the product's partitioning); else
 *  unkeyed, round robin over spread partitions (evenly filled). A message's CreateTime (ms,
 *  the produce time) is also its opaque, for delivery reports. -1 if the flush timed out. */
static inline int cf_bench_gen_produce(rd_kafka_t *p, const char *topic, cf_gen *g, double rate,
                                       int32_t spread)
{
        cf_buf line = {0}, key = {0};
        double t0 = cf_mono_s();
        for (uint64_t i = 0;; i++) {
                line.len = key.len = 0;
                if (cf_gen_next(g, &line, &key, NULL)) break;
                while (rate > 0 && cf_mono_s() < t0 + (double)i / rate) {
                        rd_kafka_poll(p, 0);
                        usleep(100);
                }
                int64_t ts = cf_now_ms();
                while (rd_kafka_producev(
                           p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key.p, spread ? 0 : key.len),
                           RD_KAFKA_V_PARTITION(spread ? (int32_t)(i % (uint64_t)spread)
                                                       : RD_KAFKA_PARTITION_UA),
                           RD_KAFKA_V_VALUE(line.p, line.len),
                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts),
                           RD_KAFKA_V_OPAQUE((void *)(intptr_t)ts),
                           RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        rd_kafka_poll(p, 10);
                if (i % 64 == 0) rd_kafka_poll(p, 0);
        }
        cf_buf_free(&line);
        cf_buf_free(&key);
        return rd_kafka_flush(p, 120000) ? -1 : 0;
}

/** The mock cluster drops a partition's oldest message sets beyond a few MB: check every
 *  partition of topic still starts at offset 0 and that they hold expect messages in all
 *  (*largest: the largest partition's). -1 + errstr if not. */
static inline int cf_bench_kept(const char *bootstrap, const char *topic, int partitions,
                                uint64_t expect, int64_t *largest, char *errstr, size_t errstr_size)
{
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, NULL, 0);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, errstr_size);
        if (!rk) return -1;
        uint64_t total = 0;
        int rc = 0;
        *largest = 0;
        for (int p = 0; p < partitions && !rc; p++) {
                int64_t lo, hi;
                if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000)) {
                        snprintf(errstr, errstr_size, "watermarks %s/%d", topic, p);
                        rc = -1;
                } else if (lo != 0) {
                        snprintf(errstr, errstr_size,
                                 "%s [%d] starts at %" PRId64 ": the mock cluster truncated it; "
                                 "use more --partitions",
                                 topic, p, lo);
                        rc = -1;
                }
                total += (uint64_t)hi;
                if (hi > *largest) *largest = hi;
        }
        if (!rc && total != expect) {
                snprintf(errstr, errstr_size, "%s holds %" PRIu64 " of %" PRIu64, topic, total,
                         expect);
                rc = -1;
        }
        rd_kafka_destroy(rk);
        return rc;
}

/** Load the service's config at path with the Kafka benches' defaults (no metrics server,
 *  warn logs, a 6 s session timeout) where the environment does not set them: anything set
 *  there wins. -1 with errstr as cf_config_load. */
static inline int cf_bench_service_config(cf_config *cfg, const char *path, char *errstr,
                                          size_t errstr_size)
{
        setenv("CUSTOMSFLOW_METRICS_ENABLED", "false", 0);
        setenv("CUSTOMSFLOW_LOG_LEVEL", "warn", 0);
        setenv("CUSTOMSFLOW_KAFKA_CONSUMER_SESSION_TIMEOUT_MS", "6000", 0);
        return cf_config_load(cfg, path, errstr, errstr_size);
}

#endif
