/*
 * service.h - the Kafka service (`customsflow run`, DESIGN §4, §6): worker
 * threads, each a consumer-group member with its own consumer, idempotent
 * producer and stage chain (the Kafka Streams thread model); at-least-once
 * with offsets committed only after every output of the batches before them
 * was acknowledged; state checkpointed to a changelog topic; metrics over HTTP.
 */
#ifndef CF_SERVICE_H
#define CF_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/core/chain.h"
#include "pipeline/core/config.h"
#include "pipeline/core/config_map.h"
#include "pipeline/kafka/kafka_conf.h"

#define CF_SVC_MAX_PARTITIONS 1024 /* per input topic; partitions above are refused */

/** What a worker does when its position is out of range (kafka.auto.offset.reset). */
typedef enum cf_offset_reset { CF_RESET_EARLIEST, CF_RESET_LATEST, CF_RESET_ERROR } cf_offset_reset;

/** What a worker does when a partition's state cannot be restored (state.on_restore_error). */
typedef enum cf_restore_policy {
        CF_RESTORE_RETRY,       /* partition stays paused, not ready, retried with a backoff */
        CF_RESTORE_FAIL,        /* the service stops, exit non-zero */
        CF_RESTORE_START_EMPTY, /* the partition starts with empty state (logged, counted) */
} cf_restore_policy;

/** Settings of the service (sections pipeline, processing, topics, workers, metrics, log, state,
 * and customsflow's own keys of kafka). */
typedef struct cf_service_cfg {
        /* pipeline: */
        char *group_id, *instance_id;
        int64_t batch_size, batch_timeout_ms, commit_interval_ms, flush_interval_ms;
        int64_t checkpoint_slice_ms;
        int64_t publish_records; /* population contributions between commits; 0: none */
        int64_t align_buffer;    /* bytes held to hand records over in timestamp order; 0: off */
        int64_t align_wait_ms;   /* longest wait for a partition's records known to be there */
        int64_t shutdown_timeout_ms, delivery_timeout_ms;
        int64_t failures_not_ready, max_ready_lag;
        int64_t fetch_stall_timeout_ms; /* 0: fetchers not watched (fetch_watch.c) */
        /* topics: */
        char *topic_in, *topic_flags, *topic_stats, *topic_dlq, *topic_changelog, *topic_outcomes;
        char *topic_baselines, *topic_certificates;
        bool topics_check, topics_create;
        int64_t topics_partitions, topics_replication;
        /* workers: */
        int64_t workers;
        /* metrics: */
        char *metrics_listen;
        bool metrics_enabled;
        int64_t http_timeout_ms, http_max_conns, http_max_conns_per_ip;
        /* kafka (customsflow's keys) and the consumer's auto.offset.reset as set by the user */
        cf_kafka_opts kafka;
        cf_offset_reset offset_reset;
        /* log: */
        char *log_level;
        /* processing: */
        char *guarantee; /* "at_least_once" or "exactly_once" */
        bool eos;        /* guarantee is exactly_once (Kafka transactions) */
        /* state: */
        bool changelog;
        int64_t chunk_bytes, outcomes_interval_ms;
        double full_snapshot_ratio; /* deltas on a base beyond this x its size: a new base */
        char *on_restore_error;     /* "retry", "fail" or "start_empty" */
        cf_restore_policy restore_policy;
        int64_t restore_backoff_ms, restore_backoff_max_ms;
} cf_service_cfg;

typedef struct cf_service cf_service;

/** Called on a worker thread for every flagged record (the demo's live view). */
typedef void (*cf_flag_hook)(void *opaque, const cf_record *r);

/** Parse the service sections of cfg (defaults for missing ones); -1 + "file:line: reason". */
int cf_service_cfg_load(cf_service_cfg *sc, const cf_config *cfg, char *errstr, size_t errstr_size);
/** What name is to the service's sections (pipeline, processing, topics, metrics, log, state):
 * the override of a key, of none of a section's keys, or neither (cf_config_map_env_match). */
cf_env_match cf_service_env_match(const char *name);
/** Free strings of a loaded cf_service_cfg. */
void cf_service_cfg_free(cf_service_cfg *sc);
/**
 * Everything `run` checks before it connects, and all that `check-config`
 * checks besides the stages (one code path): the service sections, the
 * metrics listen address, topic names, the `kafka:` properties, and each
 * Kafka client built (not connected) from the conf a worker will get. On
 * success sc is loaded (free with cf_service_cfg_free); -1 + errstr.
 */
int cf_service_validate(const cf_config *cfg, const char *bootstrap, cf_service_cfg *sc,
                        char *errstr, size_t errstr_size);
/** The config maps of the service sections, for docs and the config schema. */
void cf_service_describe(FILE *out);
/** Append the JSON Schema properties of the service sections (for config.schema.json). */
void cf_service_schema(cf_buf *out);

/**
 * Create the service from a loaded config; bootstrap (may be NULL) overrides
 * kafka.bootstrap.servers (the demo's embedded broker). NULL + errstr on error.
 */
cf_service *cf_service_new(const cf_config *cfg, const char *bootstrap, char *errstr,
                           size_t errstr_size);
/** Start workers and the metrics endpoint; -1 + errstr. */
int cf_service_start(cf_service *s, char *errstr, size_t errstr_size);
/** Ask for a graceful stop (async-signal-safe: sets a flag). */
void cf_service_stop(cf_service *s);
/** Has a stop been requested (signal, fatal error)? */
bool cf_service_stopping(const cf_service *s);
/** The service's settings (topic names etc.). */
const cf_service_cfg *cf_service_config(const cf_service *s);
/** Ask workers to reload rules and reference data (async-signal-safe). */
void cf_service_reload(cf_service *s);
/** Wait for workers (up to the shutdown timeout after stop); 0 ok, 1 fatal error/timeout. */
int cf_service_wait(cf_service *s);
/** Has any worker stopped on a fatal error? */
bool cf_service_failed(const cf_service *s);
/**
 * Records handled with every output acknowledged, and the wall-clock ms when
 * the first batch with records started (0: none yet); lock-free and updated
 * after every batch (cf_service_counters lags up to a second), for benches.
 */
void cf_service_progress(cf_service *s, uint64_t *in_acked, int64_t *first_batch_ms);
/** Sum of every worker's counters (thread-safe). */
void cf_service_counters(cf_service *s, cf_counters *out);
/** The names of cf_counters.flags_by_rule (detect's rule registry); valid until destroy. */
const cf_rule_set *cf_service_rules(const cf_service *s);
/** Install a hook for flagged records (before start). */
void cf_service_set_flag_hook(cf_service *s, cf_flag_hook hook, void *opaque);
/** Override metrics.listen before start (the demo binds port 0). */
void cf_service_set_metrics_listen(cf_service *s, const char *listen);
/** The bound metrics address ("127.0.0.1:9464"), or "" when disabled. */
const char *cf_service_metrics_addr(const cf_service *s);
/** Append the Prometheus text of the service (what /metrics serves): every worker's
 *  registry merged, one series per label set. @locality: any thread */
void cf_service_metrics(cf_service *s, cf_buf *out);
/** Ready: a worker has been assigned partitions and restored their state. */
bool cf_service_ready(cf_service *s);
/** Workers that have been assigned partitions so far (all of them: the group formed with each). */
int cf_service_assigned_workers(cf_service *s);
/** Is any worker restoring partitions' state (customsflow_partitions_restoring > 0)? Lock-free:
 *  a bench polls it without rendering /metrics. */
bool cf_service_restoring(cf_service *s);
/** exactly_once: workers stopped because another process took over their transactional.id. */
int cf_service_fenced_workers(cf_service *s);
/** Free the service (after wait). */
void cf_service_destroy(cf_service *s);
/** Ms left of pipeline.shutdown_timeout since the stop (the whole timeout before one). */
int64_t cf_service_stop_left_ms(cf_service *s);
/** cf_service_destroy on a thread of its own, waited for at most ms: true when done; false
 *  when it still waits (librdkafka's destroy awaits requests in flight), and then the
 *  caller should end the process rather than wait. */
bool cf_service_destroy_by(cf_service *s, int64_t ms);

#endif
