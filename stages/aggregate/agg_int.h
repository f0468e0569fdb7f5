/*
 * agg_int.h - the aggregate stage's own types, shared by its plugin
 * (aggregate.c: records, windows, emission, metrics) and its state
 * (agg_state.c: snapshots, deltas, restore). Not for other modules.
 *
 * Everything here runs on the worker thread that owns the chain
 * (@locality: worker thread).
 */
#ifndef CF_AGG_INT_H
#define CF_AGG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/core/stage.h"
#include "stages/aggregate/window.h"

#define MAX_LATE     64 /* distinct late windows reported per summary; beyond: unattributed */
#define SNAP_VERSION 3  /* 2: values in integer cents; 3: stenc fields, rules by name */

typedef struct agg_cfg {
        int64_t window_ms, lateness_ms, top_k, top_k_capacity, max_groups, max_open, hll_p, idle_ms;
} agg_cfg;

typedef struct agg_part {
        cf_agg_window **w; /* open windows, ascending start */
        uint32_t nw, cw;
        cf_agg_window *cur; /* the window of the last record (most hit it again) */
        bool has_max, has_closed;
        int64_t last_wall_ms;   /* wall clock of the partition's last record (idle_timeout) */
        int64_t max_ms, closed; /* windows ending at or before closed are emitted */
        cf_agg_late late[MAX_LATE];
        uint32_t nlate;
        uint64_t late_unattr, pend_dups, pend_dead;
        cf_agg_hint hint; /* sizes of the last window emitted final */
        /* metrics */
        uint64_t emitted, forced, idle_closed, late_total, overflow_closed;
} agg_part;

typedef struct agg_ctx {
        agg_cfg cfg;
        cf_agg_limits lim;
        const char *version;
        const cf_rule_set *rules; /* detect's (env.rules); flags counts are by its positions */
        agg_part **parts;
        size_t nparts;
        cf_agg_scratch scratch;
        cf_agg_pool pool;   /* emitted windows for reuse */
        cf_metric *fam[16]; /* per partition, in agg_metric_defs order */
        cf_series *pool_bytes;
        struct agg_pm **pm; /* by partition number */
        size_t npm;
        bool track; /* change tracking (deltas): windows record what changed */
} agg_ctx;

/** The slot of a partition's state (grown as needed; *slot NULL: no state). */
agg_part **cf_agg_part_slot(agg_ctx *x, int32_t partition);
/** Free a partition's state and its windows. */
void cf_agg_part_free(agg_part *p);

/** Snapshot one partition (format in README.md § State) (agg_state.c). */
int cf_agg_snapshot(cf_stage *st, int32_t partition, cf_buf *out);
/** Replace one partition's state from a snapshot (len 0: empty) (agg_state.c). */
int cf_agg_restore(cf_stage *st, int32_t partition, const void *data, size_t len, char *errstr,
                   size_t errstr_size);
/** Forget one partition's state (agg_state.c). */
void cf_agg_drop(cf_stage *st, int32_t partition);
/** Change tracking on or off for every partition's windows, present and future (agg_state.c). */
void cf_agg_track(cf_stage *st, bool on);
/** Append the partition's delta (README.md § State) and start a new one; out NULL:
 * forget the changes (agg_state.c). */
int cf_agg_delta(cf_stage *st, int32_t partition, cf_buf *out);
/** Apply one delta; -1 + errstr leaves the partition unchanged (agg_state.c). */
int cf_agg_apply_delta(cf_stage *st, int32_t partition, const void *data, size_t len, char *errstr,
                       size_t errstr_size);

#endif
