/*
 * chain.h - the ordered chain of stages (decode, dedup, detect, aggregate,
 * encode) plus the accounting counters that prove nothing is lost.
 */
#ifndef CF_CHAIN_H
#define CF_CHAIN_H

#include <stdint.h>

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
/** Run the batch through every stage and add it to the counters. */
int cf_chain_process(cf_chain *c, cf_batch *b);
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
/** Snapshot one partition's state of every stage into out (framed by stage name). */
int cf_chain_snapshot(cf_chain *c, int32_t partition, cf_buf *out);
/** Restore one partition's state from a cf_chain_snapshot blob (len 0 = empty). */
int cf_chain_restore(cf_chain *c, int32_t partition, const void *data, size_t len, char *errstr,
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
/** The rule names a stage of the chain published (detect's registry; an empty set when
 * none did): the names of cf_counters.flags_by_rule. Owned by the chain. */
const cf_rule_set *cf_chain_rules(const cf_chain *c);
/** The chain's counters (owned by the chain). */
const cf_counters *cf_chain_counters(const cf_chain *c);
/** Add one batch's outcome to counters (used by cf_chain_process). */
void cf_counters_add_batch(cf_counters *k, const cf_batch *b);
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
