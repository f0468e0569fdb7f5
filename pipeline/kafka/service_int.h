/*
 * service_int.h - internals shared by the service's files (service.c,
 * worker.c, changelog.c, metrics_http.c). Not a public API.
 */
#ifndef CF_SERVICE_INT_H
#define CF_SERVICE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <librdkafka/rdkafka.h>

#include "pipeline/core/accounting.h"
#include "pipeline/core/batch.h"
#include "pipeline/core/chain.h"
#include "pipeline/core/config.h"
#include "pipeline/core/log.h"
#include "pipeline/kafka/align.h"
#include "pipeline/kafka/fetch_gate.h"
#include "pipeline/kafka/kafka_conf.h"
#include "pipeline/kafka/service.h"

#define CF_OUT_MAX_PARTS 64 /* partitions of the outcomes topic read (one is the advice) */

/** What a worker publishes for cf_service_counters (copied under cf_service.mtx). */
typedef struct cf_worker_pub {
        cf_counters total;
        int64_t max_lag;       /* of the assigned partitions, -1 unknown (for /readyz) */
        bool assigned;         /* got partitions and restored their state */
        bool population_ready; /* read the population topics up to their ends at start */
} cf_worker_pub;

/** One input partition's runtime series and accounting in a worker. */
typedef struct cf_worker_part {
        cf_series *in, *lag, *skipped; /* NULL until first assigned */
        cf_offset_range range;         /* offsets delivered since assigned */
        cf_part_counts base;           /* the chain's counts of it when assigned */
} cf_worker_part;

/** exactly_once: a partition's counts at its last commit, given back when a
 *  transaction aborts (its records are processed again). */
typedef struct cf_worker_part_mark {
        uint64_t in;           /* customsflow_records_in_total */
        cf_offset_range range; /* the accounting's consumed offsets */
        cf_part_counts counts; /* the chain's processed, duplicates, dead letters, flagged */
} cf_worker_part_mark;

/** The outputs of one batch awaiting delivery reports (consume -> acked latency). */
typedef struct cf_batch_ack {
        double t0;        /* cf_mono_s() when the batch was consumed */
        double waited;    /* s its oldest record's timestamp was before t0 (< 0: none) */
        uint32_t pending; /* outputs produced and not yet reported */
        bool open;        /* the batch is still producing */
        bool failed;      /* an output was not delivered */
        struct cf_batch_ack *next_free;
} cf_batch_ack;

/** A worker's runtime series, in its chain's registry (worker_metrics.c). */
typedef struct cf_worker_metrics {
        cf_metric *f_in, *f_lag, *f_skipped;
        cf_series *invariant_ok, *outq, *commits, *commit_errors, *delivery_errors;
        cf_series *checkpoints, *checkpoint_bytes, *checkpoint_errors, *restores, *pauses;
        cf_series *resets, *outcome_relearns, *refetched, *lost, *align_forced;
        cf_series *outcomes_start_s;  /* gauge: the last start's read of the outcomes topic */
        cf_metric *f_restore_failing; /* gauge per partition */
        cf_series *restoring, *restore_errors, *restore_bytes, *restore_records, *restore_lookups;
        cf_series *restore_seconds;                           /* histogram: assignment to resumed */
        cf_metric *f_fetch_stalled;                           /* gauge per partition */
        cf_series *fetch_stalls;                              /* stalls found (fetch_watch.c) */
        cf_series *pop_published, *pop_applied, *pop_refused; /* population messages */
        cf_series *batch_processed, *batch_acked;             /* histograms, seconds */
        cf_series *record_e2e; /* histogram: oldest record's timestamp to acked */
        cf_series *commit_seconds, *checkpoint_slices; /* commits spread (commit.c) */
        cf_batch_ack *free_acks, **all_acks;
        size_t n_acks;
} cf_worker_metrics;

#define CF_POP_MAX_PARTS 512 /* partitions of the two population topics together */

/** Where the population reader is in one partition of its topics. */
typedef struct cf_pop_end {
        int stream; /* 0 baselines, 1 certificates */
        int32_t partition;
        int64_t end, next; /* end offset seen at start; next offset to read */
} cf_pop_end;

/** A worker's reader and writer of the population topics (population.c). */
typedef struct cf_pop {
        rd_kafka_t *rk; /* consumer outside the group, every partition assigned */
        cf_pop_end ends[CF_POP_MAX_PARTS];
        int n_ends;
        int n_parts[2]; /* partitions of the baselines and certificates topics */
        bool ready;
        char refusal[512]; /* the reason of the last refused message logged */
        cf_buf out;        /* a publish's messages */
        cf_buf key;        /* a message's key: "<group>/" + the stage's */
} cf_pop;

/** A changelog partition being read (changelog.c), in steps between batches. */
typedef struct cf_changelog_read cf_changelog_read;

/** What a partition's checkpoints build on (changelog_write.c). */
typedef struct cf_clog_part {
        uint64_t base;        /* id of the full snapshot deltas go on (0: none, next is full) */
        uint64_t base_bytes;  /* its size */
        uint64_t delta_bytes; /* deltas written on it since */
        cf_buf mine, stale;   /* key tails (NUL-terminated) of the base and its deltas; of
                                 what a newer base replaced, tombstoned once it is committed */
        int64_t tomb_after;   /* that newer base's offset */
        int64_t base_at;      /* changelog offset of the base's first record, -1 unknown */
        int64_t noted;        /* offset of a base's first record in its delivery report, -1 */
        bool noting;          /* a base awaits its acks: base_at becomes noted once acked */
        uint32_t pending;     /* checkpoints produced whose acks are not awaited yet */
        uint64_t pend_bytes;  /* their bytes */
} cf_clog_part;

/** Longest wait of one broker request of a restore (committed offset, watermarks): the
 *  worker loop is held that long at most. */
#define CF_CHANGELOG_WAIT_MS 5000

/** An assigned input partition whose state is not yet in place (restore.c): paused, none of
 *  its records processed. */
typedef struct cf_restore_part {
        bool pending;         /* assigned, state not restored: paused */
        bool failing;         /* the last attempt failed (retrying) */
        uint32_t attempts;    /* failed attempts since assigned */
        int64_t due_ms;       /* monotonic: next attempt not before */
        int64_t assigned_ms;  /* monotonic: when assigned (restore duration) */
        bool looked_up;       /* bound and end below are known for this attempt */
        int64_t bound, end;   /* what its state may cover at most; its changelog's end offset */
        int64_t from;         /* where the committed chain starts in the changelog, -1 unknown */
        bool resume_now;      /* state in place: re-assigned by this round (restore.c) */
        bool resume_wait;     /* re-assigned at its position, to resume (restore.c) */
        cf_series *failing_g; /* customsflow_restore_failing{partition} */
} cf_restore_part;

/** A restored input partition's fetcher, watched for a stall (fetch_watch.c). */
typedef struct cf_fetch_watch {
        int64_t rx_ms;        /* monotonic: a record of it last came, or its fetch (re)started */
        int64_t suspect_ms;   /* monotonic: seen idle with records past its position, 0 not */
        int64_t suspect_hi;   /* the input's end then */
        bool stalled;         /* customsflow_partition_fetch_stalled is 1 */
        cf_series *stalled_g; /* that gauge */
} cf_fetch_watch;

/** A commit spread over batches (commit.c): the partitions checkpointed so far, whose
 *  offsets commit once every partition due is checkpointed and every output acknowledged. */
typedef struct cf_commit_round {
        rd_kafka_topic_partition_list_t *l;    /* checkpointed, to commit; NULL: no round */
        rd_kafka_topic_partition_list_t *only; /* the partitions the round is for; NULL: all */
        int32_t next;                          /* the next partition to look at */
        double t0;                             /* cf_mono_s when it started */
        unsigned slices;                       /* turns that checkpointed partitions */
        bool failed;                           /* a checkpoint of the round failed */
        bool publish; /* its checkpoints publish the population contributions first */
        double pub_s; /* the time those publishes took */
} cf_commit_round;

/* The output topics a worker keeps a producer handle of (cf_worker_out_names). */
#define CF_OUT_TOPICS 6

typedef struct cf_worker {
        struct cf_service *svc;
        int id;
        pthread_t th;
        rd_kafka_t *consumer, *producer;
        rd_kafka_queue_t *cq;
        cf_chain *chain;
        cf_batch batch;
        rd_kafka_message_t **msgs;
        /* the order records go to the chain: by timestamp across partitions (align.c, the
         * consumer's pulls in w->pull); NULL (pipeline.align_buffer 0): fetch order */
        cf_align *align;
        rd_kafka_message_t **pull;
        bool at_eof[CF_SVC_MAX_PARTITIONS]; /* at its end since its last record pulled */
        int64_t align_blocked_ms;           /* monotonic: a partition waits since, 0: none */
        bool assigned[CF_SVC_MAX_PARTITIONS];
        int64_t next_offset[CF_SVC_MAX_PARTITIONS]; /* processed up to (exclusive), -1 none */
        cf_fetch_gate gate[CF_SVC_MAX_PARTITIONS];  /* which fetched records are processed */
        int64_t committed[CF_SVC_MAX_PARTITIONS];
        bool dirty[CF_SVC_MAX_PARTITIONS];     /* processed since last checkpoint */
        bool pop_dirty[CF_SVC_MAX_PARTITIONS]; /* processed since its last population publish */
        int64_t pop_due_ms;    /* monotonic: the next publish between commits (population.c) */
        double pop_work_s;     /* applying population messages since that last publish */
        uint64_t pop_records;  /* records processed since that last publish */
        cf_commit_round round; /* a commit in progress (commit.c) */
        int64_t last_batch_ms; /* how long the last batch took, consumed to produced */
        cf_worker_part parts[CF_SVC_MAX_PARTITIONS];
        cf_worker_metrics m;
        int64_t last_commit_ms, last_flush_ms, last_pub_ms;
        unsigned produced_unpolled;           /* produced since the producer was last polled */
        atomic_uint_fast64_t delivery_failed; /* delivery reports with an error */
        atomic_bool fatal;
        atomic_bool restoring;      /* partitions assigned whose state is not in place yet */
        atomic_int restore_failing; /* of those, partitions whose last restore failed */
        atomic_int failures_in_row; /* consecutive failed commits or checkpoints */
        char fatal_reason[512];
        uint64_t snapshot_seq;
        cf_worker_pub pub; /* worker-local copy, published under svc->mtx */
        unsigned reload_seen;
        cf_config *reloaded_cfg; /* the document of the last SIGHUP reload */
        rd_kafka_t *restore_rk;  /* consumer outside the group, for changelog reads */
        cf_restore_part rp[CF_SVC_MAX_PARTITIONS];         /* restores of assigned partitions */
        int n_restoring;                                   /* partitions with rp[].pending */
        int n_resume_wait;                                 /* partitions with rp[].resume_wait */
        int64_t assign_ms;                                 /* monotonic: last rd_kafka_assign */
        cf_changelog_read *clog_rd[CF_SVC_MAX_PARTITIONS]; /* reads per changelog partition */
        int n_clog_rd;                                     /* of them, not NULL */
        cf_fetch_watch fw[CF_SVC_MAX_PARTITIONS];          /* fetchers watched for a stall */
        int64_t watch_ms;                                  /* monotonic: last stall check */
        rd_kafka_topic_t *out_topics[CF_OUT_TOPICS];       /* cf_worker_out_names' (see warm_up) */
        cf_pop pop; /* population state on Kafka (population.c) */
        /* offset resets (auto.offset.reset applied by the worker) */
        int64_t reset_to[CF_SVC_MAX_PARTITIONS];   /* new position when reset_pending */
        int64_t reset_from[CF_SVC_MAX_PARTITIONS]; /* failed position of the last reset */
        int64_t start_at[CF_SVC_MAX_PARTITIONS];   /* position until a record is processed */
        bool reset_pending[CF_SVC_MAX_PARTITIONS], any_reset;
        /* the outcomes input (outcomes.c): read whole, outside the group */
        rd_kafka_t *oc;
        rd_kafka_queue_t *oq;
        rd_kafka_message_t **omsgs;
        cf_batch obatch;
        int out_parts;                      /* partitions read (0: not started) */
        int64_t out_next[CF_OUT_MAX_PARTS]; /* next offset to learn, per partition */
        bool out_dirty;                     /* learnt since the last checkpoint */
        int64_t out_checkpoint_ms, out_retry_ms;
        /* exactly_once (txn.c) */
        bool in_txn;        /* a transaction is open */
        atomic_bool fenced; /* another process took over this worker's transactional.id */
        bool leaving;       /* in cf_worker_leave: the shutdown budget's reserve is its own */
        int64_t rewind_to[CF_SVC_MAX_PARTITIONS]; /* committed position of a partition touched
                                                     since the last commit, -1 untouched */
        cf_worker_part_mark parts_committed[CF_SVC_MAX_PARTITIONS]; /* counts at that commit */
        cf_buf *snap_committed, *snap_pending; /* per partition: state at the last commit, and
                                                  what was written in the open transaction:
                                                  a full snapshot, then deltas (txn.c) */
        bool *pending_full; /* per partition: snap_pending starts with a full snapshot */
        cf_clog_part clog[CF_SVC_MAX_PARTITIONS]; /* changelog bookkeeping (changelog_write.c) */
} cf_worker;

#define CF_SVC_STATES 6 /* values of cf_svc_state */

struct cf_service {
        cf_service_cfg sc;
        const cf_config *cfg;
        char *bootstrap;
        cf_worker *workers;
        int n_workers;
        pthread_mutex_t mtx; /* guards every worker's published pub */
        cf_worker_pub *pubs;
        atomic_bool stop, failed;
        atomic_int n_final, n_dead; /* workers done with their final commit / stopped on error */
        atomic_uint reload_gen;     /* bumped by SIGHUP; each worker reloads once per value */
        int64_t stop_at_ms;         /* monotonic */
        /* monotonic ms of the stop request (0: running): every worker's shutdown waits
         * end shutdown_timeout after it (cf_worker_stop_left_ms) */
        atomic_int_fast64_t stopped_ms;
        atomic_bool abort; /* fatal for the instance (auth): workers stop without committing */
        /* Kafka authentication / authorization / TLS failures (kafka_conf.h) */
        atomic_uint_fast64_t auth_errors;
        atomic_int_fast64_t auth_failing_since; /* monotonic ms of the first unresolved one, 0 */
        char auth_reason[512];                  /* the last one, under mtx */
        char fail_reason[512];                  /* why the instance failed, under mtx */
        cf_flag_hook flag_hook;
        void *flag_opaque;
        void *http; /* struct MHD_Daemon */
        char metrics_addr[64];
        int64_t started_ms; /* monotonic */
        /* the instance's own series (state, auth errors), beside the workers' registries;
         * written by the thread encoding /metrics, one at a time (reg_mtx) */
        cf_metrics *reg;
        pthread_mutex_t reg_mtx;
        cf_series *m_state[CF_SVC_STATES], *m_auth_errors;
        uint64_t auth_seen;
        /* for benches: read without the service lock, updated after every batch */
        atomic_uint_fast64_t in_acked;      /* records whose outputs were all acked */
        atomic_int_fast64_t first_batch_ms; /* start of the first non-empty batch, 0 none */
};

/** The conf of worker's client of role: the `kafka:` section plus what the service forces
 *  (idempotence, manual commits, group.instance.id); NULL + errstr. */
rd_kafka_conf_t *cf_service_client_conf(const cf_config *cfg, const cf_service_cfg *sc,
                                        const char *bootstrap, cf_kafka_role role, int worker,
                                        char *errstr, size_t errstr_size);

/** Service health as /healthz and /readyz report it (health.c). */
typedef enum cf_svc_state {
        CF_STATE_STARTING,  /* topics being checked, group being joined */
        CF_STATE_RESTORING, /* a worker is restoring assigned partitions' state */
        CF_STATE_READY,
        CF_STATE_DEGRADED, /* running but not ready: commits failing, lag over bound */
        CF_STATE_DRAINING, /* stop requested: finishing, committing, leaving */
        CF_STATE_FAILED,
} cf_svc_state;
_Static_assert(CF_STATE_FAILED + 1 == CF_SVC_STATES, "CF_SVC_STATES counts cf_svc_state");
/** The state, with a human reason for a non-ready one. @locality: any thread */
cf_svc_state cf_service_state(cf_service *s, char *why, size_t why_size);
/** Its name ("starting", "restoring", "ready", "degraded", "draining", "failed"). */
const char *cf_service_state_name(cf_svc_state st);
/** Healthy (/healthz): not failed, and no auth failure persisting past the grace period. */
bool cf_service_healthy(cf_service *s, char *why, size_t why_size);
/**
 * A Kafka client reported err: authentication, authorization and TLS failures
 * are logged at once, counted, and (kafka.fail_on_auth_error) fail the
 * instance; others are logged as warnings. Returns true if err was such a
 * failure. @locality: any thread (librdkafka callbacks)
 */
bool cf_service_kafka_error(cf_service *s, const char *client, int err, const char *reason);
/** A broker round trip succeeded (commit, assignment): auth failures are over. */
void cf_service_kafka_ok(cf_service *s);
/** Stop the instance on a fatal error (workers do not commit). @locality: any thread */
void cf_service_fail(cf_service *s, const char *reason);

/** Delivery report: counts failed outputs. @locality: worker thread (producer poll) */
void cf_worker_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
/** Client errors: fatal ones stop the worker. @locality: worker thread */
void cf_worker_on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque);
/** Rebalance: restore on assign, checkpoint + commit + drop on revoke. @locality: worker thread */
void cf_worker_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *parts, void *opaque);
/** Produce one message (copied) and retry while the queue is full; -1 on error. */
int cf_worker_produce(cf_worker *w, const char *topic, int32_t partition, const void *key,
                      size_t key_len, const void *val, size_t val_len, rd_kafka_headers_t *hdrs);
/** cf_worker_produce to changelog partition p; its delivery report puts its offset in
 *  w->clog[p].noted (-1 until then, or if not delivered). */
int cf_worker_produce_noted(cf_worker *w, int32_t p, const void *key, size_t key_len,
                            const void *val, size_t val_len, rd_kafka_headers_t *hdrs);
/** Wait until every produced message is acknowledged; -1 if one failed. */
int cf_worker_wait_acks(cf_worker *w);
/** Up to batch_size messages into w->msgs, waiting at most wait_ms (worker_consume.c);
 *  -1 on error. */
ssize_t cf_worker_consume(cf_worker *w, int wait_ms);
/** An error the consumer gave in place of a message (offset resets, authentication). */
void cf_worker_consume_error(cf_worker *w, const rd_kafka_message_t *m);
/** A partition number this service can hold state for. */
static inline bool cf_part_ok(int32_t p)
{
        return p >= 0 && p < CF_SVC_MAX_PARTITIONS;
}
/** The output topics in w->out_topics' order: flags, stats, dead letters, changelog (NULL
 *  with the changelog off), baselines, certificates (worker_life.c). */
void cf_worker_out_names(const cf_worker *w, const char *names[CF_OUT_TOPICS]);
/** Drop what the timestamp order (align.c) holds of p: p was revoked. */
void cf_worker_align_drop(cf_worker *w, int32_t p);
/** Free the timestamp order's buffer and the messages it holds. */
void cf_worker_align_free(cf_worker *w);
/** Checkpoint the partitions in only (NULL: every assigned one) processed since their last
 *  checkpoint and commit their offsets at once, after a round in progress; -1 on failure. */
int cf_commit_parts(cf_worker *w, const rd_kafka_topic_partition_list_t *only);
/** Start a commit when commit_interval is due and checkpoint for at most checkpoint_slice;
 *  true while a round is left (consume without waiting). */
bool cf_commit_poll(cf_worker *w);
/** Forget a round in progress without committing it (a lost assignment). */
void cf_commit_round_drop(cf_worker *w);
/** Free a round a stopped worker left (a fatal error mid-round), nothing counted. */
void cf_commit_round_free(cf_worker *w);
/** Commit offsets l through the group's consumer and wait for the result, at most 10 s and
 *  never past the stop's budget (a synchronous rd_kafka_commit has no timeout). */
rd_kafka_resp_err_t cf_commit_offsets_wait(cf_worker *w, rd_kafka_topic_partition_list_t *l);
/** Leave the group (the revoke callback commits unless the worker is fatal), bounded. */
void cf_worker_leave(cf_worker *w);
/** Milliseconds left of the shutdown budget once the service is stopping (INT64_MAX
 *  before): what every wait after a stop is bounded by (worker_life.c). */
int64_t cf_worker_stop_left_ms(cf_worker *w);
/** Make the output topics known to the producer (lookups in the background, nothing
 *  awaited) before the first batch (worker_life.c). @locality: worker thread */
void cf_worker_warm_up(cf_worker *w);
/** After a SIGHUP: re-read the config file and reload this worker's stages, keeping their
 *  state (rules and reference data; a failure keeps the old ones). @locality: worker thread */
void cf_worker_maybe_reload(cf_worker *w);
/** The worker thread's main loop. @locality: worker thread */
void *cf_worker_main(void *arg);
/** Create a worker's clients and chain; -1 + errstr. @locality: main thread */
int cf_worker_init(cf_worker *w, struct cf_service *s, int id, char *errstr, size_t errstr_size);
/** A consumer of worker w outside the consumer group (assign only, no commits), with extra
 *  librdkafka properties (NULL-terminated key, value pairs); NULL + errstr. */
rd_kafka_t *cf_worker_reader_new(cf_worker *w, const char *group, const char *const *extra,
                                 char *errstr, size_t errstr_size);
/** Free a worker's clients and chain. @locality: main thread, after join */
void cf_worker_destroy(cf_worker *w);

/** Checkpoint partition's state of the worker's chain to the changelog: a delta, or a full
 *  snapshot when due (changelog_write.c); produced, not awaited; -1 on failure.
 *  @locality: worker thread */
int cf_changelog_write(cf_worker *w, int32_t partition);
/** Partition's offsets were committed (at least once): tombstones for what a base they cover
 *  replaced (produced, not awaited). @locality: worker thread */
void cf_changelog_committed(cf_worker *w, int32_t partition);
/** The checkpoints produced since the last call were all acknowledged (ok: counted) or not
 *  (their partitions' next checkpoint is a full snapshot). @locality: worker thread */
void cf_changelog_acked(cf_worker *w, bool ok);
/** The key prefix of partition's changelog records ("<group>/<input topic>/<p>/"); its
 *  length. */
int cf_changelog_prefix(const cf_worker *w, int32_t partition, char *out, size_t n);
/** What a restore read found and applied (cf_changelog_read_result). */
typedef struct cf_clog_found {
        const cf_buf *snap;          /* the base (NULL: none, empty state) */
        const cf_buf *const *deltas; /* the deltas on it, in order */
        size_t nd;
        uint64_t base;   /* the base's id (0: none, or a snapshot of a build before deltas) */
        int64_t base_at; /* changelog offset of the base's first record (-1: not known) */
        bool whole;      /* the chain covers exactly the group's committed offset */
        const cf_buf *chain_keys; /* key tails (NUL-terminated) of everything read on that base */
        const cf_buf *stale_keys; /* of everything else read */
        uint64_t records, bytes;  /* what was read */
} cf_clog_found;
/** Partition's state was restored from f (NULL: started empty): when f's state is its base
 *  plus its deltas exactly, the next checkpoint is the next delta on that chain (no full
 *  snapshot after each assignment); else a full snapshot. What the restore read off that
 *  chain is tombstoned once the next checkpoint's offsets are committed. True: the chain
 *  goes on. */
bool cf_changelog_restored(cf_worker *w, int32_t partition, const cf_clog_found *f);
/** Partition's committed offset (e, added to a commit) gets as metadata where the chain its
 *  last checkpoint belongs to starts in the changelog ("cf.clog=<offset>"), so a restore
 *  reads from there, not the whole log; nothing when unknown. */
void cf_changelog_commit_meta(cf_worker *w, int32_t partition, rd_kafka_topic_partition_t *e);
/** The changelog offset in a committed offset's metadata (cf_changelog_commit_meta); -1 when
 *  absent or not ours. */
int64_t cf_changelog_meta_parse(const void *meta, size_t len);
/** Free the worker's changelog bookkeeping. */
void cf_changelog_parts_free(cf_worker *w);
#define CF_CLOG_WHY 256 /* bytes of a lookup's reason per partition */
/** For each of parts[0..n): bound[i], the most input its state may cover (the group's
 *  committed offset, or the input's end), and end[i], its changelog partition's end offset
 *  (0: nothing there); -1 and why[i] when unknown; from[i], where the chain the committed
 *  offset describes starts in it (its metadata), -1 unknown. One request of each kind for them all
 *  (blocks up to 2 x CF_CHANGELOG_WAIT_MS). @locality: worker thread (its loop, restore.c) */
void cf_changelog_lookup(cf_worker *w, const int32_t *parts, size_t n, int64_t *bound, int64_t *end,
                         int64_t *from, char (*why)[CF_CLOG_WHY]);
/** Start reading partition's changelog partition up to end (cf_changelog_lookup) for the chain
 *  covering the most input up to bound, beside the reads in progress (w->clog_rd), from offset
 *  from (< 0: the beginning; if the chain covering bound is not found from there, the read
 *  starts over from the beginning); NULL + errstr. */
cf_changelog_read *cf_changelog_read_start(cf_worker *w, int32_t partition, int64_t bound,
                                           int64_t end, int64_t from, char *errstr,
                                           size_t errstr_size);
/** Read on for every read in progress, at most budget_ms, returning early once one finished;
 *  returns how many are finished (done or failed: cf_changelog_read_state). */
int cf_changelog_reads_step(cf_worker *w, int64_t budget_ms);
/** The worker's consumer outside the group that reads changelog partitions, created on first
 *  use (NULL if it cannot be): its short fetch wait also makes it quick to answer offset
 *  lookups, which the group's consumer answers only after its fetch's long poll. */
rd_kafka_t *cf_changelog_reader(cf_worker *w);
/** 1 read whole, 0 reading, -1 failed (*why says why). */
int cf_changelog_read_state(const cf_changelog_read *r, const char **why);
/** What a finished read found (valid until the read is freed): the full snapshot, the deltas on
 *  it to apply in order, their chain, the keys of everything read (for cf_changelog_restored),
 *  and what was read. */
void cf_changelog_read_result(cf_changelog_read *r, cf_clog_found *out);
/** Stop a read (the restore consumer lets the partition go) and free it; NULL is a no-op. */
void cf_changelog_read_free(cf_worker *w, cf_changelog_read *r);

/** Partition p is assigned with the changelog on: pending restore, paused by the caller
 *  (cf_restore_pause_pending) after rd_kafka_assign. @locality: worker thread (rebalance) */
void cf_restore_assigned(cf_worker *w, int32_t p);
/** Pause every partition pending restore (after any rd_kafka_assign or resume-all). */
void cf_restore_pause_pending(cf_worker *w);
/** Partition p revoked: its restore, if any, is abandoned. */
void cf_restore_revoked(cf_worker *w, int32_t p);
/** Is p pending restore? Then a fetched message of it (offset) is not processed: the lowest
 *  such offset is fetched again once p resumes. */
bool cf_restore_hold(cf_worker *w, int32_t p, int64_t offset);
/** p, re-assigned at its position (cf_worker_reposition), is resumed by the loop once
 *  librdkafka has made that re-assignment's fetch starts (restore.c says why). */
void cf_restore_resume_later(cf_worker *w, int32_t p);
/** The worker loop's restore work: start, read a slice of, or finish one partition's restore
 *  (bounded time, so the loop serves the consumer between slices). Returns true while a
 *  restore is in progress (the loop should not block waiting for records).
 *  @locality: worker thread */
bool cf_restore_poll(cf_worker *w);
/** Re-assign the worker's partitions at their exact positions (offset resets, resumed
 *  restores: worker.c); pending partitions stay paused. */
void cf_worker_reposition(cf_worker *w);
/** Partition p's fetch (re)starts (assigned, resumed, re-assigned, unpaused): its stall
 *  watch starts over. @locality: worker thread */
void cf_fetch_watch_restart(cf_worker *w, int32_t p);
/** Every assigned partition's fetch (re)starts (a re-assignment, a resume of all). */
void cf_fetch_watch_restart_all(cf_worker *w);
/** Partition p revoked: its stall gauge is no longer this worker's to report. */
void cf_fetch_watch_revoke(cf_worker *w, int32_t p);
/** p, found stalled, delivers records again: its gauge back to 0, logged. */
void cf_fetch_watch_unstalled(cf_worker *w, int32_t p);
/** A record of p came at now_ms (monotonic): not stalled (clears the gauge if it was). */
static inline void cf_fetch_watch_rx(cf_worker *w, int32_t p, int64_t now_ms)
{
        w->fw[p].rx_ms = now_ms;
        w->fw[p].suspect_ms = 0;
        if (w->fw[p].stalled) cf_fetch_watch_unstalled(w, p);
}
/** The loop's stall check (pipeline.fetch_stall_timeout): a partition found stalled is
 *  counted, logged, flagged in customsflow_partition_fetch_stalled, re-assigned at its
 *  position and resumed. @locality: worker thread */
void cf_fetch_watch_poll(cf_worker *w);
/** Partition p's state is in place (restored or empty): its series count from here. */
void cf_worker_metrics_restored(cf_worker *w, int32_t p);

/** Write the global state checkpoint (outcomes.c), covering covers outcomes (the sum of
 *  its offsets), to changelog partition 0, acked; -1 on failure. @locality: worker thread */
int cf_changelog_write_global(cf_worker *w, const cf_buf *blob, int64_t covers);
/** Read the global state checkpoint covering the most outcomes up to bound into out
 *  (*found false: none); -1 on a read failure. @locality: worker thread */
int cf_changelog_read_global(cf_worker *w, int64_t bound, cf_buf *out, bool *found);
/** Produce r to the dead-letter topic (original bytes and key, reason in headers); ack: the
 *  batch it belongs to (NULL: none, not in the acknowledged latency). */
int cf_worker_produce_dead_letter(cf_worker *w, const cf_record *r, cf_batch_ack *ack);

/** exactly_once: make w's producer transactional (worker start; fences the previous
 *  incarnation); -1 and w->fatal on error. Nothing in at_least_once. */
int cf_txn_init(cf_worker *w);
/** Open a transaction unless one is open (before anything is produced); -1 on error. */
int cf_txn_begin(cf_worker *w);
/** Record offset of p processed in the open transaction (its position to rewind to). */
void cf_txn_touch(cf_worker *w, int32_t p, int64_t offset);
/** The checkpoint of p written to the changelog in the open transaction: a full snapshot
 *  (full) or a delta on what was written before. */
void cf_txn_snapshot_written(cf_worker *w, int32_t p, const cf_buf *blob, bool full);
/** The snapshot and deltas p's state was restored from at assignment (its committed state). */
void cf_txn_snapshot_restored(cf_worker *w, int32_t p, const cf_buf *snap,
                              const cf_buf *const *deltas, size_t nd);
/** Commit the open transaction with offsets l (NULL or empty: none); on failure abort and
 *  rewind (or, fatal/fenced, set w->fatal); 0 committed, -1 not. @locality: worker thread */
int cf_txn_commit(cf_worker *w, rd_kafka_topic_partition_list_t *l);
/** Abort the open transaction and rewind every partition touched since the last commit to
 *  its committed state and offset. @locality: worker thread */
void cf_txn_abort(cf_worker *w, const char *why);
/** A commit failed before its offsets: exactly_once aborts and rewinds (a failed commit in
 *  a row); -1 either way. */
int cf_txn_failed(cf_worker *w, const char *why);
/** After a failed produce or delivery: exactly_once aborts, rewinds and returns true (go
 *  on); false (stop the worker) in at_least_once or once the worker is fatal. */
bool cf_txn_retry(cf_worker *w, const char *why);
/** A fenced worker leaves the group without committing; the instance fails only when every
 *  worker is fenced. @locality: worker thread, at its end */
void cf_txn_fenced_stop(cf_worker *w);
/** Free the kept snapshots. */
void cf_txn_destroy(cf_worker *w);

/** The outcomes consumer (outside the group); nothing when topics.outcomes is "". */
int cf_outcomes_init(cf_worker *w, char *errstr, size_t errstr_size);
/** Restore the model checkpoint and read the outcomes topic to its end (before the worker
 *  joins the group); -1 when a dead letter could not be produced. @locality: worker thread */
int cf_outcomes_start(cf_worker *w);
/** Learn the outcomes fetched so far, without waiting; -1 as above. @locality: worker thread */
int cf_outcomes_poll(cf_worker *w);
/** Worker 0: checkpoint the model with its outcome offsets when it learnt something since
 *  (at most every state.outcomes_interval unless force); -1 on failure. */
int cf_outcomes_checkpoint(cf_worker *w, bool force);
/** Close and free the outcomes consumer. */
void cf_outcomes_destroy(cf_worker *w);

/** The instance's own registry (state, auth errors) and its lock. @locality: main thread */
void cf_service_metrics_init(struct cf_service *s);
/** Free it (after the HTTP thread stopped). */
void cf_service_metrics_free(struct cf_service *s);
/** Declare the worker's runtime families in its chain's registry. @locality: main thread */
void cf_worker_metrics_init(cf_worker *w);
/** Free the batch-ack pool (after the producer is destroyed). */
void cf_worker_metrics_free(cf_worker *w);
/** Partition p assigned: its series and an empty offset range (counts: cf_worker_metrics_restored).
 */
void cf_worker_metrics_assign(cf_worker *w, int32_t p);
/** Partition p revoked: its lag is no longer this worker's to report. */
void cf_worker_metrics_revoke(cf_worker *w, int32_t p);
/** Refresh gauges (lag, producer queue) and the stages' state-derived series; returns the
 *  largest lag of the assigned partitions (-1 unknown). */
int64_t cf_worker_metrics_refresh(cf_worker *w);
/** Check DESIGN §4's invariant for p at commit; false (and logged) on a violation. */
bool cf_worker_metrics_check(cf_worker *w, int32_t p);
/** exactly_once: remember p's counts as committed (assignment, transaction commit). */
void cf_worker_metrics_mark(cf_worker *w, int32_t p);
/** exactly_once: give p's counts back to the last mark (transaction aborted). */
void cf_worker_metrics_rewind(cf_worker *w, int32_t p);
/** A batch consumed at t0 (cf_mono_s) starts producing; its outputs carry the result. */
cf_batch_ack *cf_batch_ack_open(cf_worker *w, double t0);
/** The batch produced everything; released here when nothing is pending. */
void cf_batch_ack_close(cf_worker *w, cf_batch_ack *a);
/** A delivery report for an output of a (observes consume -> acked at the last). */
void cf_batch_ack_report(cf_worker *w, cf_batch_ack *a, bool ok);

/** Start the HTTP endpoint; -1 + errstr. @locality: main thread */
int cf_metrics_http_start(struct cf_service *s, char *errstr, size_t errstr_size);
/** Stop it. */
void cf_metrics_http_stop(struct cf_service *s);

#endif
