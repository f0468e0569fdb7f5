/*
 * stage.h - the stage interface (DESIGN §2), in the spirit of Fluent Bit's
 * filter plugins: one static struct of callbacks plus a config map per stage.
 *
 * Stages own logic and state and never call librdkafka. State is per input
 * partition, plus the replica of the population state (publish/apply/settle,
 * DESIGN §6). Every callback runs on the worker thread that owns the chain
 * (@locality: worker thread); a chain is never shared between threads.
 */
#ifndef CF_STAGE_H
#define CF_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/core/batch.h"
#include "pipeline/core/buf.h"
#include "pipeline/core/config_map.h"
#include "pipeline/core/global.h"
#include "pipeline/core/metrics.h"
#include "pipeline/core/rule_set.h"
#include "pipeline/core/yaml_tree.h"

/** What a stage is given at init and reload. */
typedef struct cf_stage_env {
        const cf_node *root;  /* whole config document (may be NULL: defaults) */
        const cf_node *cfg;   /* this stage's section: stages.<name> (may be NULL) */
        const char *base_dir; /* folder of the config file, for relative paths */
        const char *pipeline_version;
        const cf_rule_set *rules; /* published by an earlier stage (detect's registry), or NULL */
        /* where the stage declares its metric families at init and looks up its series
         * (the worker's registry; NULL: series are a sink, nothing is reported) */
        cf_metrics *metrics;
} cf_stage_env;

typedef struct cf_stage cf_stage;

/** A stage plugin: a name, its config map and callbacks (NULL = not needed). */
typedef struct cf_stage_plugin {
        const char *name;
        const char *description;
        const cf_config_map *config_map;
        /** Create ctx from env; -1 with errstr on bad config or reference data. */
        int (*init)(cf_stage *st, const cf_stage_env *env, char *errstr, size_t errstr_size);
        /** Process every record of the batch (skip non-CF_REC_OK ones as fits). */
        int (*process)(cf_stage *st, cf_batch *b);
        /** Emit what is due at now_ms, or everything (final = 1) at end/shutdown. */
        int (*flush)(cf_stage *st, cf_batch *b, int64_t now_ms, int final);
        /** Serialise one partition's state into out (appending). */
        int (*snapshot)(cf_stage *st, int32_t partition, cf_buf *out);
        /** Replace one partition's state from a snapshot (len 0: start empty). */
        int (*restore)(cf_stage *st, int32_t partition, const void *data, size_t len, char *errstr,
                       size_t errstr_size);
        /**
         * Incremental state (optional, with apply_delta and track; a stage without them has
         * its full snapshot in every delta, applied with restore). Switch change tracking on
         * or off for every partition, present and future (cf_chain_track_changes): off, the
         * hot path records nothing and delta must not be called.
         */
        void (*track)(cf_stage *st, bool on);
        /** Append the partition's changes since its last snapshot, restore or delta (upserts of
         * the current value of every key changed, removals of keys that left, the partition's
         * scalars) and start a new delta; out NULL: forget the changes (a snapshot was taken). */
        int (*delta)(cf_stage *st, int32_t partition, cf_buf *out);
        /** Apply one delta to the partition's state; -1 + errstr (every count and size checked
         * first) leaves the state unchanged. Records no changes of its own. */
        int (*apply_delta)(cf_stage *st, int32_t partition, const void *data, size_t len,
                           char *errstr, size_t errstr_size);
        /** Forget a partition's state (after it was revoked and snapshotted). */
        void (*drop)(cf_stage *st, int32_t partition);
        /** Re-read rules/reference data (SIGHUP), keeping state; -1 keeps the old. */
        int (*reload)(cf_stage *st, const cf_stage_env *env, char *errstr, size_t errstr_size);
        /**
         * Store what the stage's state holds in its metric series: gauges (table sizes, the
         * current window) are set, or unset for a partition it no longer has; counters kept
         * in state advance by what changed since the last call (cf_counter_follow).
         * partition -1: every partition and the stage-wide series; else that one only.
         * rebase = 1 right after the state was replaced (restore, drop, reload): counters
         * take the current values as their base instead of counting them. The chain calls
         * it around restore/drop/reload; the worker about once a second.
         */
        void (*collect)(cf_stage *st, int32_t partition, int rebase);
        /** Free ctx. */
        void (*destroy)(cf_stage *st);
        /** Population state shared across partitions (global.h): append the partition's
         * contributions since its last publish (mode: delta or cumulative) as messages. */
        int (*publish)(cf_stage *st, int32_t partition, cf_global_mode mode, cf_buf *out);
        /** Merge one published message (from any partition) into the stage's replica;
         * -1 + errstr when it is malformed (the replica is then unchanged). */
        int (*apply)(cf_stage *st, const cf_global_msg *m, char *errstr, size_t errstr_size);
        /** A round of applies is over (an epoch barrier, a poll of the global topics):
         * settle the replica (its bounds and what rules read from it). */
        void (*settle)(cf_stage *st);
        /** Read and apply owner's replica (the same stage of another chain built from the same
         * config) instead of its own, applying and settling only part k of n of each round
         * (disjoint parts: n chains apply one round at once, none reading it meanwhile).
         * Optional: a stage without it keeps its own replica. */
        void (*share_replica)(cf_stage *st, cf_stage *owner, int k, int n);
        /** Serialise the replica (runs that keep it across restarts themselves: replay
         * --state; the service rebuilds it from its topics). */
        int (*snapshot_replica)(cf_stage *st, cf_buf *out);
        /** Replace the replica from such a snapshot (len 0: empty); -1 + errstr, unchanged. */
        int (*restore_replica)(cf_stage *st, const void *data, size_t len, char *errstr,
                               size_t errstr_size);
        /** The rules this stage adds reasons under (cf_reason.rule_ix indexes them), handed to
         * the stages after it (env.rules) and to the chain's counters; valid until destroy. */
        const cf_rule_set *(*rules)(cf_stage *st);
        /**
         * The outcomes input (DESIGN §6: a global input every worker reads whole,
         * in topic order): decode turns each outcome message into r->decl and
         * r->outcome or dead-letters it; later stages learn from the records
         * still CF_REC_OK. Never adds reasons or outputs.
         */
        int (*learn)(cf_stage *st, cf_batch *b);
        /** Serialise the state learnt from the outcomes input (the same on every worker). */
        int (*global_snapshot)(cf_stage *st, cf_buf *out);
        /** Replace it (len 0: start empty); 1: the snapshot was taken with other settings,
         * the state is empty and the outcomes must be re-read from their start; -1 + errstr. */
        int (*global_restore)(cf_stage *st, const void *data, size_t len, char *errstr,
                              size_t errstr_size);
} cf_stage_plugin;

/** A stage instance. */
struct cf_stage {
        const cf_stage_plugin *p;
        void *ctx;
};

#endif
