/*
 * chain.h - the ordered chain of stages (decode, dedup, detect, aggregate,
 * encode) plus the accounting counters that prove nothing is lost.
 */
#ifndef CF_CHAIN_H
#define CF_CHAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "pipeline/core/keyroute.h" /* cf_partition_of */
#include "pipeline/core/metrics.h"
#include "pipeline/core/stage.h"

/** Accounting: in = processed + duplicates + dead_lettered must always hold.
 * flags_by_rule is indexed by cf_reason.rule_ix (names: cf_chain_rules). */
typedef struct cf_counters {
        uint64_t in, processed, duplicates, dead_lettered, flagged;
        uint64_t flags_by_rule[CF_RULES_MAX];
        /* the outcomes input (not part of the invariant): learnt from, dead-lettered */
        uint64_t outcomes_learnt, outcomes_dead_lettered;
} cf_counters;

/** What the chain made of one input partition's records since it was built (not to be
 *  confused with inspection outcomes, cf_outcome). */
typedef struct cf_part_counts {
        uint64_t processed, duplicates, dead_lettered, flagged;
} cf_part_counts;

typedef struct cf_chain cf_chain;

/**
 * Build every stage from config root (NULL = defaults); NULL + errstr on error. The chain
 * owns a metrics registry (cf_chain_registry) where it and its stages declare their series.
 */
cf_chain *cf_chain_new(const cf_node *root, const char *base_dir, char *errstr, size_t errstr_size);
/** Logical partitions for in-process runs (replay --partitions): after the first stage
 * (decode), a record's src.partition becomes the one a Kafka producer keyed by exporter_id
 * picks among n with librdkafka's default partitioner (CRC32 of the key, modulo n); a
 * record decode refused goes by the CRC32 of its bytes. n = 0: partitions are left as set. */
void cf_chain_set_partitions(cf_chain *c, int32_t n);
/** Run the batch through every stage and add it to the counters. */
int cf_chain_process(cf_chain *c, cf_batch *b);
/** Stages before the first one with a population replica (an apply callback): they may run
 * a batch while the replica is being applied (c's stage count if none has one). */
size_t cf_chain_n_stages_before_replica(const cf_chain *c);
/** Run the batch through stages [from, to); the one that reaches the last stage adds it to
 * the counters (cf_chain_process: 0 to all). */
int cf_chain_process_stages(cf_chain *c, cf_batch *b, size_t from, size_t to);
/** Run a batch of outcome messages through every stage's learn callback (the outcomes input). */
int cf_chain_learn(cf_chain *c, cf_batch *b);
/** Append the state every stage learnt from the outcomes input (the same on every worker). */
int cf_chain_global_snapshot(cf_chain *c, cf_buf *out);
/** Restore it (len 0: start empty); 1: some of it was taken with other settings and is now
 * empty (the outcomes must be re-read from their start); -1 + errstr. */
int cf_chain_global_restore(cf_chain *c, const void *data, size_t len, char *errstr,
                            size_t errstr_size);
/** Ask every stage to emit what is due (final = 1 at end of input/shutdown). */
int cf_chain_flush(cf_chain *c, cf_batch *b, int64_t now_ms, int final);
/** Snapshot one partition's state of every stage into out: a sealed snapshot (checksummed,
 * one block per stage; chain_state.c). */
int cf_chain_snapshot(cf_chain *c, int32_t partition, cf_buf *out);
/** Restore one partition's state from a cf_chain_snapshot blob or an earlier release's (len 0 =
 * empty). All or nothing: when refused (-1, the reason in errstr) the partition's state is as
 * before the call in every stage. */
int cf_chain_restore(cf_chain *c, int32_t partition, const void *data, size_t len, char *errstr,
                     size_t errstr_size);
/**
 * Incremental state (the changelog's deltas, issue 18). Change tracking costs a little on
 * the hot path, so it is switched on per chain: the service does, replay does not. On, every
 * stage records what changed per partition from now on (the set is emptied).
 */
void cf_chain_track_changes(cf_chain *c, bool on);
/** Is change tracking on? */
bool cf_chain_tracking(const cf_chain *c);
/** Append a sealed delta (a kind of its own: never taken for a snapshot) of partition's
 * changes since its last snapshot, restore or delta, and start a new one: per stage its own
 * delta, or its full snapshot for a stage without deltas. It names its base (the
 * checksum of that snapshot) and its number after it (1, 2, ...). -1 when tracking is off. */
int cf_chain_delta(cf_chain *c, int32_t partition, cf_buf *out);
/** Apply a cf_chain_delta blob to partition: refused (-1, errstr) when damaged, truncated, of
 * another base or out of sequence, with the state unchanged; if a stage refuses its part after
 * an earlier stage applied its own, the partition's state is dropped (errstr says so) and must
 * be restored again. */
int cf_chain_apply_delta(cf_chain *c, int32_t partition, const void *data, size_t len, char *errstr,
                         size_t errstr_size);
/** What a partition's state builds on: the checksum of the snapshot it was last taken as or
 * restored from (0: none, or empty) and the number of deltas since. */
typedef struct cf_chain_lineage {
        uint64_t base, seq;
} cf_chain_lineage;
/** Partition's lineage (owned by the chain; zeros until a snapshot or restore). */
cf_chain_lineage *cf_chain_lineage_of(cf_chain *c, int32_t partition);
/** Append partition's contributions to the population state of every stage (global.h):
 * since its last publish (delta) or, per changed key, its whole (cumulative). */
int cf_chain_publish(cf_chain *c, int32_t partition, cf_global_mode mode, cf_buf *out);
/** Apply one published message to every stage's replica; -1 + errstr if refused. */
int cf_chain_apply(cf_chain *c, const cf_global_msg *m, char *errstr, size_t errstr_size);
/** Apply every message of a publish buffer; -1 + errstr at the first refused (the ones
 * before it stay applied). */
int cf_chain_apply_all(cf_chain *c, const void *data, size_t len, char *errstr, size_t errstr_size);
/** A round of applies is over: every stage settles its replica. */
void cf_chain_settle(cf_chain *c);
/** c's stages read owner's replicas (a chain built from the same config) and each round
 * apply and settle part k of n of them: n chains share one replica, apply a round to it
 * in parallel (each cf_chain_apply_all + cf_chain_settle on all messages: the stage keeps
 * its part), and read it only between rounds. owner == c, 0, 1: its own (the default). */
void cf_chain_share_replica(cf_chain *c, cf_chain *owner, int k, int n);
/** The epoch barrier of an in-process run: partitions parts[0..n) publish (delta), every
 * message is applied, the replicas settle. scratch is a reusable buffer. */
int cf_chain_barrier(cf_chain *c, const int32_t *parts, size_t n, cf_buf *scratch, char *errstr,
                     size_t errstr_size);
/** Snapshot every stage's replica of the population state into out (framed by stage
 * name, as cf_chain_snapshot frames partitions). */
int cf_chain_snapshot_replica(cf_chain *c, cf_buf *out);
/** Restore the replicas from a cf_chain_snapshot_replica blob (len 0: empty). */
int cf_chain_restore_replica(cf_chain *c, const void *data, size_t len, char *errstr,
                             size_t errstr_size);
/** Forget one partition's state in every stage. */
void cf_chain_drop(cf_chain *c, int32_t partition);
/** Reload rules/reference data from a new config; on error nothing changes. */
int cf_chain_reload(cf_chain *c, const cf_node *root, const char *base_dir, char *errstr,
                    size_t errstr_size);
/** The chain's metrics registry: its stages' series and those of its caller (a worker). */
cf_metrics *cf_chain_registry(cf_chain *c);
/** Have every stage store its state-derived values in its series (about once a second). */
void cf_chain_collect(cf_chain *c);
/** What became of partition's records (processed, duplicates...), counted per record by the
 *  chain (zeros if none). */
void cf_chain_part_counts(const cf_chain *c, int32_t partition, cf_part_counts *out);
/** exactly_once: set partition's counts back to k, taken earlier by cf_chain_part_counts
 *  (a transaction aborted: its records are processed again). */
void cf_chain_part_counts_rewind(cf_chain *c, int32_t partition, const cf_part_counts *k);
/** The rule names a stage of the chain published (detect's registry; an empty set when
 * none did): the names of cf_counters.flags_by_rule. Owned by the chain. */
const cf_rule_set *cf_chain_rules(const cf_chain *c);
/** The chain's counters (owned by the chain). */
const cf_counters *cf_chain_counters(const cf_chain *c);
/** Add one batch's outcome to counters (used by cf_chain_process). */
void cf_counters_add_batch(cf_counters *k, const cf_batch *b);
/** Number of stages in the chain. */
size_t cf_chain_n_stages(const cf_chain *c);
/** Stage i of the chain, in processing order (NULL past the end). */
cf_stage *cf_chain_stage_at(cf_chain *c, size_t i);
/** Add one batch of outcome messages (learnt or dead-lettered) to counters. */
void cf_counters_add_outcomes(cf_counters *k, const cf_batch *b);
/** Find a stage by name. */
cf_stage *cf_chain_stage(cf_chain *c, const char *name);
/** Free the chain. */
void cf_chain_destroy(cf_chain *c);
/** Print the config-map docs of every stage (Markdown). */
void cf_chain_describe(FILE *out);
/** Append the JSON Schema of the `stages:` section, one property per stage (config maps). */
void cf_chain_schema(cf_buf *out);

#endif
