/*
 * kafka_harness.h - integration-test helpers over librdkafka's mock cluster:
 * a cluster with the service's topics, a generated stream produced into it
 * with the truth and the (partition, offset) of every message, readers for
 * the output topics, committed offsets of the group.
 */
#ifndef CF_KAFKA_HARNESS_H
#define CF_KAFKA_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "pipeline/core/config.h"
#include "pipeline/kafka/service.h"

typedef struct kh_msg {
        int32_t partition;
        int64_t offset;
        char kind[16];     /* truth kind */
        char bad_code[40]; /* truth bad_code */
        char key[72];      /* the message key as produced (truncated) */
} kh_msg;

typedef struct kh {
        rd_kafka_t *mrk;
        rd_kafka_mock_cluster_t *mc;
        const char *bootstrap;
        int partitions;
        kh_msg *msgs; /* every produced message, in production order */
        size_t n_msgs, cap_msgs;
        cf_config cfg; /* the bundled example config */
} kh;

/** Start a mock cluster (brokers) with the default topics (input/changelog: partitions). */
void kh_start(kh *h, int brokers, int partitions);
/** Produce count generated messages (seed, bad/dup rates) with their truth; waits for acks. */
void kh_produce_gen(kh *h, uint64_t seed, uint64_t count, double bad_rate, double dup_rate);
/** kh_produce_gen at per_s messages a second (a live stream). */
void kh_produce_gen_paced(kh *h, uint64_t seed, uint64_t count, double bad_rate, double dup_rate,
                          double per_s);
/** kh_produce_gen of the messages [from, to) of the stream only (recorded): a stream in parts. */
void kh_produce_gen_part(kh *h, uint64_t seed, uint64_t count, double bad_rate, double dup_rate,
                         size_t from, size_t to);
/** Produce again the messages [from, to) of the earlier stream, byte-identical (re-delivery). */
void kh_reproduce(kh *h, uint64_t seed, uint64_t count, double bad_rate, double dup_rate,
                  size_t from, size_t to);
/** A service on the cluster from the bundled config (metrics on a free port, group group_id). */
cf_service *kh_service(kh *h, const char *group_id, int workers);
/** Wait until the service counted at least n records in (or timeout_s); true if reached. */
bool kh_wait_in(cf_service *s, uint64_t n, double timeout_s);
/** The value of the metric line "name v" of s's /metrics (name with its labels), -1 if absent. */
long long kh_metric(cf_service *s, const char *name);
/** The sum of every series of metric name (any labels) in s's /metrics. */
uint64_t kh_metric_sum(cf_service *s, const char *name);
/** Wait until kh_metric_sum(s, name) reaches at_least (or timeout_s, said on stderr). */
bool kh_wait_metric_sum(cf_service *s, const char *name, uint64_t at_least, double timeout_s);
/** Wait until every one of workers has been assigned partitions: the group has formed. */
bool kh_wait_assigned(cf_service *s, int workers, double timeout_s);
/** Stop s and wait for it (aborts unless it exits 0), copy its counters into k (NULL:
 *  not wanted), destroy it. */
void kh_finish(cf_service *s, cf_counters *k);
/** The group's committed offset of each input partition into out (-1: none); -1 on error. */
int kh_committed(kh *h, const char *group_id, int64_t *out);
/** Start `customsflow run` (CF_BIN or the build's) on the cluster as group_id, in a child
 *  killed with the test; env: NULL-terminated name, value pairs set on top of the bootstrap,
 *  group, metrics port 0 and a 6 s session timeout. */
pid_t kh_spawn_run(kh *h, const char *group_id, const char *const *env);
/** kh_spawn_run on any bootstrap servers (a cluster the harness did not start, or none),
 *  stderr to the file log (NULL: the test's). */
pid_t kh_spawn_run_at(const char *bootstrap, const char *group_id, const char *log,
                      const char *const *env);
/** A TCP port on 127.0.0.1 free when asked (for a child's metrics.listen); aborts if none. */
int kh_free_port(void);
/** A consumer with group.id group_id that does not join it (committed offsets, simple reads). */
rd_kafka_t *kh_group_reader(kh *h, const char *group_id);
/** A member of group_id outside the service (roundrobin, 6 s session, no auto commit),
 *  subscribed to the input; returns once it holds partitions (aborts after 60 s). */
rd_kafka_t *kh_join_member(kh *h, const char *group_id);
/** The committed offsets (-1: none) of each input partition through reader rk (one of
 *  kh_group_reader's, kept open: a request each, no bootstrap); 0, -1 when it failed. */
int kh_committed_on(kh *h, rd_kafka_t *rk, int64_t *out);
/** Sum of the group's committed offsets minus the input's high watermarks (0 = all committed). */
int64_t kh_uncommitted(kh *h, const char *group_id);
/** Read every message of topic; calls fn for each. Returns the count. */
size_t kh_read_topic(kh *h, const char *topic, void (*fn)(const rd_kafka_message_t *m, void *op),
                     void *op);
/** The string value of "name" (first occurrence) in a flat JSON line of our own (the
 *  generator's truth and declaration lines), into out; "" when absent. */
void kh_json_str(const char *t, const char *name, char *out, size_t n);
/** Header value of m as a NUL-terminated string in out (empty if absent). */
void kh_header(const rd_kafka_message_t *m, const char *name, char *out, size_t n);
/** Check every `bad` message of the stream is in the DLQ with its code and its input key;
 *  returns misses. */
size_t kh_check_dlq(kh *h, size_t *dlq_count);
/** Produce one message (key, value of len bytes) to topic's partition with the headers given
 *  as name, value pairs after it (NULL-terminated), and wait for its ack. */
void kh_produce_raw(kh *h, const char *topic, int32_t partition, const char *key, const void *value,
                    size_t len, ...);
/** Stop the cluster and free everything. */
void kh_stop(kh *h);

#endif
