/*
 * service_cfg.c - the service's config sections (pipeline, topics, workers,
 * metrics, log, state) as config maps, the settings every Kafka client of a
 * worker gets, and cf_service_validate: everything `run` checks before it
 * connects, which is also all that `check-config` checks (one code path).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "pipeline/core/config_map.h"
#include "pipeline/http/listen.h"
#include "pipeline/kafka/kafka_conf.h"
#include "pipeline/kafka/service.h"
#include "pipeline/kafka/service_int.h"

#define OFF(f) offsetof(cf_service_cfg, f)
/* processing.guarantee exactly_once's commit_interval when none is set (Kafka Streams'
 * commit.interval.ms under exactly_once) */
#define EOS_COMMIT_INTERVAL_MS 100

static const cf_config_map pipeline_map[] = {
    {CF_CFG_STR, "group_id", "customsflow", OFF(group_id),
     "consumer group (also names this application's changelog keys)"},
    /* 1024, not 4096: a catching-up worker's 4096-record batch took 25-60 ms of CPU, and its
     * first record waited for all of it (bench_state's p99 at half the maximum rate 478 ms
     * against 272 ms at 1024, the same maximum rate, no more CPU per record at 64 or 256
     * partitions; bench/RESULTS.md § "pipeline.batch_size 1024 again"). Kafka Streams'
     * max.poll.records is 1000. */
    {CF_CFG_INT, "batch_size", "1024", OFF(batch_size), "records consumed per batch", 1, 1 << 20},
    {CF_CFG_DURATION, "batch_timeout", "100ms", OFF(batch_timeout_ms),
     "longest wait to fill a batch", 0, 3600e3},
    {CF_CFG_DURATION, "commit_interval", "5s", OFF(commit_interval_ms),
     "how often state is checkpointed and offsets committed (after every output is acked); "
     "exactly_once: 100ms unless set (outputs become visible at commits)",
     0, 86400e3},
    {CF_CFG_DURATION, "checkpoint_slice", "10ms", OFF(checkpoint_slice_ms),
     "at_least_once: a commit's checkpoints are spread over the batches after "
     "commit_interval, at most this long between two batches or as long as the batch "
     "before, when longer; 0: all at once (exactly_once always: one transaction)",
     0, 60e3},
    /* A rule reads the other partitions' contributions only once published: at commits only,
     * a worker catching up on a backlog processed 200,000 records inside one commit_interval
     * with no baseline and no certificate use of its own stream published, and at 20,000
     * records/s it flagged 85-113 of the 1,265 certificate reuses replay flags
     * (bench/RESULTS.md § "Population contributions between commits"). In records, not
     * time: what a stale baseline costs is the records decided on it, and the publishes'
     * cost per record then stays the same at any rate. 20,000, not 50,000, since records
     * go in timestamp order (align_buffer): unit_value_outlier then fired 552-558 times on a
     * 200,000-record backlog in 64 partitions against 459-461 (replay: 564), with no CPU
     * difference these runs could see (10,000: 564-575, and up to +13 % CPU; bench/RESULTS.md
     * § "Partitions in timestamp order"). */
    {CF_CFG_INT, "publish_records", "20000", OFF(publish_records),
     "at_least_once: a worker also publishes what its partitions contributed to the population "
     "state (unit-value baselines, origin volumes: topics.baselines) between commits, once it "
     "has processed this many records since its last publish, and their new certificate uses "
     "(topics.certificates) after every batch, so that every partition's rules see them sooner; "
     "at most a tenth of the worker's time with applying what comes back, a bound the "
     "commits' publishes of the baselines keep too; 0: all at every commit only "
     "(exactly_once: baselines at commits; the uses after every batch in the transaction, "
     "seen by the other workers at its commit)",
     0, 1e12},
    /* Fetch order hands a backlog over partition by partition, a fetch's worth of each
     * (message sets, max.partition.fetch.bytes): rules reading the other partitions'
     * contributions then decided before those partitions got there (a 200,000-record backlog
     * in 64 partitions: certificate_reuse 605-663 and unit_value_outlier 426-464 against 851 and
     * 564 in replay; bench/RESULTS.md § "Partitions in timestamp order"). Kafka Streams'
     * max.task.idle.ms does the same. */
    {CF_CFG_SIZE, "align_buffer", "64MiB", OFF(align_buffer),
     "a worker hands its partitions' records to the stages in record-timestamp order "
     "(Kafka Streams' timestamp synchronization), holding up to this many fetched bytes: a "
     "partition that holds no record while more of it is on the broker is waited for (the "
     "consumer's enable.partition.eof is turned on to know); 0: in the order fetched",
     0, 1LL << 40},
    {CF_CFG_DURATION, "align_wait", "1s", OFF(align_wait_ms),
     "longest wait for a partition's records known to be on the broker; then (or with "
     "align_buffer full) the records held go on in timestamp order without them "
     "(customsflow_align_forced_total)",
     0, 3600e3},
    {CF_CFG_DURATION, "flush_interval", "1s", OFF(flush_interval_ms),
     "how often stages emit what is due (e.g. closed windows) without new input", 0, 86400e3},
    {CF_CFG_DURATION, "shutdown_timeout", "30s", OFF(shutdown_timeout_ms),
     "graceful shutdown budget after SIGTERM/SIGINT; then exit non-zero", 0, 86400e3},
    {CF_CFG_DURATION, "delivery_timeout", "120s", OFF(delivery_timeout_ms),
     "producer message.timeout.ms: an output not acked by then stops the worker", 0, 2147483647},
    {CF_CFG_STR, "instance_id", "", OFF(instance_id),
     "static group membership: worker N joins as group.instance.id <instance_id>-N, so a "
     "restarted instance gets its partitions back without waiting for session.timeout.ms; "
     "unique per instance and stable across restarts (e.g. a StatefulSet pod name); empty: "
     "dynamic membership"},
    {CF_CFG_INT, "failures_not_ready", "3", OFF(failures_not_ready),
     "consecutive failed commits or checkpoints of a worker that turn /readyz to 503 (each is "
     "retried at the next commit)",
     1, 1000000},
    {CF_CFG_INT, "max_ready_lag", "0", OFF(max_ready_lag),
     "/readyz is 503 while a partition's consumer lag exceeds this many records (0: no bound)", 0,
     1e15},
    {CF_CFG_DURATION, "fetch_stall_timeout", "60s", OFF(fetch_stall_timeout_ms),
     "a restored partition whose input has records past its position but none reached the "
     "worker for this long (its consumer queue empty, librdkafka's fetcher not past them either, "
     "still so a check later) is stalled: counted, logged as an error, "
     "customsflow_partition_fetch_stalled is 1 until its records come, and it is re-assigned "
     "at its position and resumed; 0: not watched",
     0, 86400e3},
    {0}};

static const cf_config_map processing_map[] = {
    {CF_CFG_STR, "guarantee", "at_least_once", OFF(guarantee),
     "at_least_once: offsets committed after every output is acked (a crash repeats up to one "
     "commit_interval of outputs); exactly_once: per worker a transactional producer, outputs, "
     "changelog and consumed offsets commit in one transaction per commit_interval (Kafka "
     "Streams' exactly_once_v2; needs pipeline.instance_id and state.changelog; consumers of "
     "the outputs must read with isolation.level=read_committed)"},
    {0}};

static const cf_config_map topics_map[] = {
    {CF_CFG_STR, "input", "customs.declarations", OFF(topic_in), "declaration lines (input)"},
    {CF_CFG_STR, "flags", "customs.flags", OFF(topic_flags), "flag messages, key declaration_id"},
    {CF_CFG_STR, "stats", "customs.stats", OFF(topic_stats), "window statistics"},
    {CF_CFG_STR, "dlq", "customs.dlq", OFF(topic_dlq),
     "dead letters: original bytes, reason in headers"},
    {CF_CFG_STR, "changelog", "customsflow.changelog", OFF(topic_changelog),
     "compacted topic of stage state snapshots, one partition per input partition"},
    {CF_CFG_STR, "outcomes", "customs.outcomes", OFF(topic_outcomes),
     "inspection outcomes and the review console's verdicts, key exporter_id; every worker "
     "reads it whole to learn the risk model (one partition; \"\": not read)"},
    {CF_CFG_STR, "baselines", "customsflow.baselines", OFF(topic_baselines),
     "compacted topic of the population baselines (unit value, volume): each partition's "
     "contribution per bucket of population keys (stages.detect.population_buckets), read "
     "whole by every worker"},
    {CF_CFG_STR, "certificates", "customsflow.certificates", OFF(topic_certificates),
     "certificate-of-origin uses, each partition's of a batch together, read whole by every "
     "worker (retention at least rules.certificate_reuse.window)"},
    {CF_CFG_BOOL, "check", "true", OFF(topics_check),
     "check the topics at start with the Admin API (input exists; outputs exist; changelog has "
     "the input's partition count and cleanup.policy=compact)"},
    {CF_CFG_BOOL, "create", "false", OFF(topics_create),
     "create missing output and changelog topics at start (else refuse to start)"},
    {CF_CFG_INT, "partitions", "0", OFF(topics_partitions),
     "partitions of created output topics (0: as many as the input); the changelog always gets "
     "the input's count",
     0, 100000},
    {CF_CFG_INT, "replication_factor", "-1", OFF(topics_replication),
     "replication factor of created topics (-1: the broker's default.replication.factor)", -1, 100},
    {0}};

static const cf_config_map metrics_map[] = {
    {CF_CFG_BOOL, "enabled", "true", OFF(metrics_enabled), "serve /metrics, /healthz, /readyz"},
    {CF_CFG_STR, "listen", "127.0.0.1:9464", OFF(metrics_listen),
     "host:port of the HTTP endpoint: IPv4:port, [IPv6]:port, :port for every IPv4 interface "
     "(containers: :9464, so probes reach it); port 0: any free port"},
    {CF_CFG_DURATION, "connection_timeout", "10s", OFF(http_timeout_ms),
     "an HTTP connection idle this long is closed (slow or half-open clients)", 1e3, 3600e3},
    {CF_CFG_INT, "max_connections", "128", OFF(http_max_conns),
     "simultaneous HTTP connections; more are refused", 1, 100000},
    {CF_CFG_INT, "max_connections_per_ip", "16", OFF(http_max_conns_per_ip),
     "simultaneous HTTP connections from one client address; more are refused", 1, 100000},
    {0}};

static const cf_config_map log_map[] = {
    {CF_CFG_STR, "level", "info", OFF(log_level), "debug, info, warn or error"}, {0}};

static const cf_config_map state_map[] = {
    {CF_CFG_BOOL, "changelog", "true", OFF(changelog),
     "checkpoint stage state to topics.changelog and restore it on assignment"},
    {CF_CFG_SIZE, "chunk_bytes", "512KiB", OFF(chunk_bytes),
     "largest changelog message (snapshots and deltas are split into chunks)", 1024, 64 << 20},
    {CF_CFG_DOUBLE, "full_snapshot_ratio", "1.0", OFF(full_snapshot_ratio),
     "a commit writes a delta (the keys changed since the last checkpoint) unless the deltas "
     "written since the last full snapshot exceed this many times its size (5/8 to 1 times, "
     "spread over the partitions so that they do not all write one at the same commit): then a "
     "new full snapshot (a restore reads at most 1 + this many times the state); 0: a full "
     "snapshot at every commit",
     0, 1000},
    {CF_CFG_DURATION, "outcomes_interval", "1m", OFF(outcomes_interval_ms),
     "how often (at most) the model learnt from topics.outcomes is checkpointed with its "
     "outcome offsets to the changelog, when it learnt something since",
     0, 86400e3},
    {CF_CFG_STR, "on_restore_error", "retry", OFF(on_restore_error),
     "when a partition's state cannot be restored from the changelog (unreadable, refused): "
     "retry (the partition stays paused and /readyz not ready, customsflow_restore_failing is 1, "
     "retried with a backoff), fail (the service exits non-zero) or start_empty (the partition "
     "starts with empty state: dedup forgets what it saw; logged as an error and counted)"},
    {CF_CFG_DURATION, "restore_backoff", "1s", OFF(restore_backoff_ms),
     "wait before the first retry of a failed restore; doubles at each failure", 10, 3600e3},
    {CF_CFG_DURATION, "restore_backoff_max", "30s", OFF(restore_backoff_max_ms),
     "longest wait between two retries of a failed restore", 10, 86400e3},
    {0}};

static const struct {
        const char *name;
        const cf_config_map *map;
        const char *desc;
} sections[] = {
    {"pipeline", pipeline_map, "batching, commits and shutdown"},
    {"processing", processing_map, "delivery guarantee"},
    {"topics", topics_map, "topic names"},
    {"metrics", metrics_map, "Prometheus endpoint"},
    {"log", log_map, "JSON logs on stderr"},
    {"state", state_map, "stage state checkpoints"},
};
#define N_SECTIONS (sizeof sections / sizeof sections[0])

cf_env_match cf_service_env_match(const char *name)
{
        cf_env_match best = CF_ENV_OTHER;
        for (size_t i = 0; i < N_SECTIONS; i++) {
                cf_env_match m = cf_config_map_env_match(sections[i].map, sections[i].name, name);
                if (m > best) best = m;
        }
        return best;
}

int cf_service_cfg_load(cf_service_cfg *sc, const cf_config *cfg, char *errstr, size_t errstr_size)
{
        memset(sc, 0, sizeof *sc);
        for (size_t i = 0; i < N_SECTIONS; i++)
                if (cf_config_map_apply(sections[i].map, sections[i].name,
                                        cf_yaml_get(cfg->root, sections[i].name), cfg->base_dir, sc,
                                        errstr, errstr_size))
                        goto fail;
        /* containers and tests override single keys without editing the file */
        for (size_t i = 0; i < N_SECTIONS; i++)
                if (cf_config_map_apply_env(sections[i].map, sections[i].name, cfg->base_dir, sc,
                                            errstr, errstr_size))
                        goto fail;
        sc->workers = 1;
        const char *we = getenv("CUSTOMSFLOW_WORKERS");
        if (we && *we) {
                char *end;
                long v = strtol(we, &end, 10);
                if (*end || v < 1 || v > 256) {
                        snprintf(errstr, errstr_size, "CUSTOMSFLOW_WORKERS: '%s' is not 1..256",
                                 we);
                        goto fail;
                }
                sc->workers = v;
        }
        const cf_node *w = we && *we ? NULL : cf_yaml_get(cfg->root, "workers");
        if (w) {
                char *end = NULL;
                long v = w->type == CF_NODE_SCALAR ? strtol(w->scalar, &end, 10) : 0;
                if (!end || *end || v < 1 || v > 256) {
                        snprintf(errstr, errstr_size,
                                 "%s:%d: workers: expected an integer from 1 to 256", w->file,
                                 w->line);
                        goto fail;
                }
                sc->workers = v;
        }
        if (cf_kafka_opts_load(&sc->kafka, cfg, errstr, errstr_size)) goto fail;
        if (cf_log_set_level(sc->log_level)) {
                snprintf(errstr, errstr_size, "log.level: '%s' is not debug, info, warn or error",
                         sc->log_level);
                goto fail;
        }
        return 0;
fail:
        cf_service_cfg_free(sc);
        return -1;
}

void cf_service_cfg_free(cf_service_cfg *sc)
{
        for (size_t i = 0; i < N_SECTIONS; i++)
                cf_config_map_free(sections[i].map, sc);
}

void cf_service_describe(FILE *out)
{
        for (size_t i = 0; i < N_SECTIONS; i++) {
                fprintf(out, "\n%s: %s\n", sections[i].name, sections[i].desc);
                cf_config_map_describe(sections[i].map, sections[i].name, out);
        }
        fprintf(out, "\nworkers: integer 1..256, worker threads (default 1)\n");
        cf_kafka_opts_describe(out);
}

void cf_service_schema(cf_buf *b)
{
        for (size_t i = 0; i < N_SECTIONS; i++) {
                cf_buf_printf(b, "\"%s\":", sections[i].name);
                cf_config_map_schema(sections[i].map, sections[i].desc, b);
                cf_buf_putc(b, ',');
        }
        cf_buf_puts(b, "\"workers\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":256,"
                       "\"description\":\"worker threads, each a consumer-group member\"},"
                       "\"kafka\":");
        cf_kafka_opts_schema(b);
}

/* "file:line" of a key, or the environment variable that set it */
static void where_of(const cf_config *cfg, const char *dotted, const char *env, char *out, size_t n)
{
        const cf_node *v = cf_yaml_path(cfg->root, dotted);
        const char *e = getenv(env);
        if (e && *e)
                snprintf(out, n, "%s", env);
        else if (v)
                snprintf(out, n, "%s:%d", v->file, v->line);
        else
                snprintf(out, n, "default");
}

/* Kafka's rule for topic names (and group.instance.id): 1..249 of [a-zA-Z0-9._-],
 * not "." or ".." */
static bool valid_kafka_name(const char *t)
{
        size_t n = strlen(t);
        if (n == 0 || n > 249 || !strcmp(t, ".") || !strcmp(t, "..")) return false;
        return strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static int check_names(const cf_config *cfg, const cf_service_cfg *sc, char *errstr,
                       size_t errstr_size)
{
        const struct {
                const char *key, *env, *value;
        } names[] = {
            {"topics.input", "CUSTOMSFLOW_TOPICS_INPUT", sc->topic_in},
            {"topics.flags", "CUSTOMSFLOW_TOPICS_FLAGS", sc->topic_flags},
            {"topics.stats", "CUSTOMSFLOW_TOPICS_STATS", sc->topic_stats},
            {"topics.dlq", "CUSTOMSFLOW_TOPICS_DLQ", sc->topic_dlq},
            {"topics.changelog", "CUSTOMSFLOW_TOPICS_CHANGELOG", sc->topic_changelog},
            {"topics.outcomes", "CUSTOMSFLOW_TOPICS_OUTCOMES", sc->topic_outcomes},
            {"pipeline.instance_id", "CUSTOMSFLOW_PIPELINE_INSTANCE_ID", sc->instance_id},
        };
        char where[600];
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
                if (!strcmp(names[i].key, "pipeline.instance_id") && !names[i].value[0]) continue;
                if (valid_kafka_name(names[i].value)) continue;
                where_of(cfg, names[i].key, names[i].env, where, sizeof where);
                snprintf(errstr, errstr_size,
                         "%s: %s: '%s' is not a valid Kafka name (1 to 249 of a-z A-Z 0-9 . _ -)",
                         where, names[i].key, names[i].value);
                return -1;
        }
        const char *outs[] = {sc->topic_flags, sc->topic_stats, sc->topic_dlq, sc->topic_changelog};
        for (int i = 0; i < 4; i++)
                if (!strcmp(outs[i], sc->topic_in)) {
                        where_of(cfg, "topics.input", "CUSTOMSFLOW_TOPICS_INPUT", where,
                                 sizeof where);
                        snprintf(errstr, errstr_size,
                                 "%s: topics.input: '%s' is also an output topic", where,
                                 sc->topic_in);
                        return -1;
                }
        return 0;
}

rd_kafka_conf_t *cf_service_client_conf(const cf_config *cfg, const cf_service_cfg *sc,
                                        const char *bootstrap, cf_kafka_role role, int worker,
                                        char *errstr, size_t errstr_size)
{
        rd_kafka_conf_t *c = cf_kafka_conf_new(cfg, bootstrap, role, errstr, errstr_size);
        if (!c) return NULL;
        char tmp[300], txn_id[600];
        const char *k[8], *v[8];
        int n = 0;
        if (role == CF_KAFKA_PRODUCER) {
                /* idempotent; an output not acked by then stops the worker */
                snprintf(tmp, sizeof tmp, "%" PRId64, sc->delivery_timeout_ms);
                k[n] = "enable.idempotence", v[n++] = "true";
                k[n] = "message.timeout.ms", v[n++] = tmp;
                if (sc->eos) {
                        /* stable across restarts: the broker fences the previous
                         * incarnation of this worker and aborts its open transaction.
                         * librdkafka wants message.timeout.ms <= transaction.timeout.ms */
                        snprintf(txn_id, sizeof txn_id, "%s-%s-%d", sc->group_id, sc->instance_id,
                                 worker);
                        k[n] = "transactional.id", v[n++] = txn_id;
                        k[n] = "transaction.timeout.ms", v[n++] = tmp;
                }
        } else {
                /* manual commits of acknowledged batches only; offset resets are
                 * applied by the worker (auto_offset_reset) so that each one is
                 * seen, logged and counted */
                k[n] = "group.id", v[n++] = sc->group_id;
                k[n] = "enable.auto.commit", v[n++] = "false";
                k[n] = "enable.auto.offset.store", v[n++] = "false";
                k[n] = "auto.offset.reset", v[n++] = "error";
                /* exactly_once: an input written transactionally is read committed only */
                if (sc->eos) k[n] = "isolation.level", v[n++] = "read_committed";
                if (sc->instance_id[0]) {
                        snprintf(tmp, sizeof tmp, "%s-%d", sc->instance_id, worker);
                        k[n] = "group.instance.id", v[n++] = tmp;
                }
        }
        char err[512];
        for (int i = 0; i < n; i++)
                if (rd_kafka_conf_set(c, k[i], v[i], err, sizeof err) != RD_KAFKA_CONF_OK) {
                        snprintf(errstr, errstr_size, "kafka: %s: %s", k[i], err);
                        rd_kafka_conf_destroy(c);
                        return NULL;
                }
        return c;
}

/* auto.offset.reset as the user set it (librdkafka's own is "error": see
 * cf_service_client_conf); customsflow's default is earliest */
static int offset_reset_policy(const cf_config *cfg, cf_service_cfg *sc, char *errstr,
                               size_t errstr_size)
{
        const char *v = cf_kafka_prop(cfg, CF_KAFKA_CONSUMER, "auto.offset.reset");
        sc->offset_reset = CF_RESET_EARLIEST;
        if (!v) return 0;
        if (!strcmp(v, "earliest") || !strcmp(v, "smallest") || !strcmp(v, "beginning"))
                sc->offset_reset = CF_RESET_EARLIEST;
        else if (!strcmp(v, "latest") || !strcmp(v, "largest") || !strcmp(v, "end"))
                sc->offset_reset = CF_RESET_LATEST;
        else if (!strcmp(v, "error"))
                sc->offset_reset = CF_RESET_ERROR;
        else {
                snprintf(errstr, errstr_size,
                         "kafka.auto.offset.reset: '%s' is not earliest, latest or error", v);
                return -1;
        }
        return 0;
}

/* processing.guarantee and what exactly_once needs; the assignment strategies the workers
 * support (eager only: a cooperative rebalance hands partitions over one by one, which the
 * worker's revoke-all / assign-all callback does not do) */
static int check_guarantee(const cf_config *cfg, cf_service_cfg *sc, char *errstr,
                           size_t errstr_size)
{
        char where[600];
        where_of(cfg, "processing.guarantee", "CUSTOMSFLOW_PROCESSING_GUARANTEE", where,
                 sizeof where);
        if (strcmp(sc->guarantee, "at_least_once") && strcmp(sc->guarantee, "exactly_once")) {
                snprintf(errstr, errstr_size,
                         "%s: processing.guarantee: '%s' is not at_least_once or exactly_once",
                         where, sc->guarantee);
                return -1;
        }
        sc->eos = !strcmp(sc->guarantee, "exactly_once");
        if (sc->eos && !sc->instance_id[0]) {
                snprintf(errstr, errstr_size,
                         "%s: processing.guarantee: exactly_once needs pipeline.instance_id (each "
                         "worker's transactional.id is <group_id>-<instance_id>-<worker>: unique "
                         "per instance and stable across restarts, e.g. a StatefulSet pod name)",
                         where);
                return -1;
        }
        /* exactly_once: the outputs become visible at each commit, so a commit_interval not
         * set is Kafka Streams' under exactly_once (commit.interval.ms 100 ms). Its commits
         * publish the baselines only while that takes at most a tenth of the worker's time
         * (population.c), which keeps its cost near 5 s's (bench/RESULTS.md § "Commits that
         * do not publish"). */
        char ci[600];
        where_of(cfg, "pipeline.commit_interval", "CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL", ci,
                 sizeof ci);
        if (sc->eos && !strcmp(ci, "default")) sc->commit_interval_ms = EOS_COMMIT_INTERVAL_MS;
        if (sc->eos && !sc->changelog) {
                snprintf(errstr, errstr_size,
                         "%s: processing.guarantee: exactly_once needs state.changelog: true (the "
                         "state must commit with the offsets, or a restart re-processes with "
                         "empty state)",
                         where);
                return -1;
        }
        const char *st = cf_kafka_prop(cfg, CF_KAFKA_CONSUMER, "partition.assignment.strategy");
        if (st && strstr(st, "cooperative")) {
                const cf_node *k = cf_yaml_get(cfg->root, "kafka");
                const cf_node *v = cf_yaml_get(k, "consumer.partition.assignment.strategy");
                if (!v) v = cf_yaml_get(k, "partition.assignment.strategy");
                if (v)
                        snprintf(where, sizeof where, "%s:%d", v->file, v->line);
                else
                        snprintf(where, sizeof where, "environment");
                snprintf(
                    errstr, errstr_size,
                    "%s: kafka.partition.assignment.strategy: '%s': cooperative rebalancing is "
                    "not supported (workers hand over all their partitions on a rebalance); "
                    "use range or roundrobin (static membership, pipeline.instance_id, "
                    "avoids most rebalances on restarts)",
                    where, st);
                return -1;
        }
        return 0;
}

/* state.on_restore_error */
static int restore_policy(const cf_config *cfg, cf_service_cfg *sc, char *errstr,
                          size_t errstr_size)
{
        static const char *const names[] = {"retry", "fail", "start_empty"};
        for (int i = 0; i < 3; i++)
                if (!strcmp(sc->on_restore_error, names[i])) {
                        sc->restore_policy = (cf_restore_policy)i;
                        return 0;
                }
        char where[600];
        where_of(cfg, "state.on_restore_error", "CUSTOMSFLOW_STATE_ON_RESTORE_ERROR", where,
                 sizeof where);
        snprintf(errstr, errstr_size,
                 "%s: state.on_restore_error: '%s' is not retry, fail or start_empty", where,
                 sc->on_restore_error);
        return -1;
}

int cf_service_validate(const cf_config *cfg, const char *bootstrap, cf_service_cfg *sc,
                        char *errstr, size_t errstr_size)
{
        if (cf_service_cfg_load(sc, cfg, errstr, errstr_size)) return -1;
        cf_listen_addr la;
        char where[600], err[512];
        if (sc->metrics_enabled && cf_listen_parse(sc->metrics_listen, &la, err, sizeof err)) {
                where_of(cfg, "metrics.listen", "CUSTOMSFLOW_METRICS_LISTEN", where, sizeof where);
                snprintf(errstr, errstr_size, "%s: %s", where, err);
                goto fail;
        }
        if (check_names(cfg, sc, errstr, errstr_size) ||
            offset_reset_policy(cfg, sc, errstr, errstr_size) ||
            check_guarantee(cfg, sc, errstr, errstr_size) ||
            restore_policy(cfg, sc, errstr, errstr_size))
                goto fail;
        /* every client a worker creates, built (not connected) from the same
         * conf it will get: what librdkafka checks only then fails here */
        static const struct {
                cf_kafka_role role;
                rd_kafka_type_t type;
                const char *what;
        } clients[] = {{CF_KAFKA_PRODUCER, RD_KAFKA_PRODUCER, "producer"},
                       {CF_KAFKA_CONSUMER, RD_KAFKA_CONSUMER, "consumer"}};
        for (int i = 0; i < 2; i++) {
                rd_kafka_conf_t *c = cf_service_client_conf(cfg, sc, bootstrap, clients[i].role, 0,
                                                            errstr, errstr_size);
                if (!c ||
                    cf_kafka_conf_try(c, clients[i].type, clients[i].what, errstr, errstr_size))
                        goto fail;
        }
        return 0;
fail:
        cf_service_cfg_free(sc);
        return -1;
}
