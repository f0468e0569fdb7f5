/*
 * window.h - one tumbling event-time window of one input partition: the group
 * table (reporter, origin, export country, HS chapter), the window's counters,
 * its distinct-count sketches and its top exporters; and how a window becomes
 * stats messages (schemas/stats.schema.json).
 */
#ifndef CF_AGG_WINDOW_H
#define CF_AGG_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "pipeline/core/batch.h"
#include "pipeline/core/stenc.h"
#include "pipeline/core/rule_set.h"
#include "stages/aggregate/cents.h"
#include "stages/aggregate/changed.h"
#include "stages/aggregate/hll.h"
#include "stages/aggregate/spacesaving.h"

#define CF_AGG_UNITS 4 /* quantity units kept per group; more are counted, not summed */
#define CF_AGG_EMPTY UINT64_MAX

/** Limits every window of a stage instance shares. */
typedef struct cf_agg_limits {
        int64_t window_ms, lateness_ms;
        uint32_t max_groups, top_k, ss_cap;
        int hll_p;
} cf_agg_limits;

/** Counters of one group. key packs reporter<<48 | origin<<32 | export<<16 | chapter.
 * Values are in US cents: integer sums are exact, so they do not depend on
 * record order and partitions' figures add up exactly. */
typedef struct cf_agg_group {
        uint64_t key;
        uint64_t records, flagged;
        int64_t value_cents;
        uint32_t unit[CF_AGG_UNITS]; /* packed unit code, 0 = free slot */
        double qty[CF_AGG_UNITS];
        uint32_t flags[CF_RULES_MAX]; /* by cf_reason.rule_ix */
} cf_agg_group;
/* Snapshots (version 3) name the rules their flag counts are for, so
 * CF_RULES_MAX may change; versions 1-2 held 16 counts, mapped by name. */

/** One open window. */
typedef struct cf_agg_window {
        int64_t start, end;
        uint64_t records, flagged, duplicates, dead_letters;
        uint64_t overflow_records, unit_overflow;
        int64_t value_cents, overflow_value_cents;
        uint64_t flags[CF_RULES_MAX];
        cf_agg_group *g; /* dense, insertion order */
        uint32_t ngroups, gcap;
        uint64_t *slot_key; /* open addressing: key -> slot_idx (index into g) */
        uint32_t *slot_idx;
        uint32_t nslots; /* power of two, 0 before the first group */
        cf_hll exporters, importers;
        cf_ss top;
        /* changes since the partition's last delta (agg_state.c): dirty (anything; aggregate.c
         * sets it), fresh (opened since: the delta holds it whole), and which groups changed
         * (a bit per group slot, set by cf_agg_window_add) */
        bool dirty, fresh;
        bool track;         /* the groups and sketches record what changed (cf_agg_window_track) */
        cf_agg_changed gch; /* groups changed */
} cf_agg_window;

/** Sizes a new window starts with (its partition's previous window's), so a
 * window does not grow its tables step by step; zeros mean "no idea". */
typedef struct cf_agg_hint {
        uint32_t groups, exporters, importers;
} cf_agg_hint;

/** Emitted windows kept for reuse: a window's ~10 allocations cost more than
 * its few records when windows are small (many partitions, short windows). */
typedef struct cf_agg_pool {
        struct cf_agg_window **v;
        uint32_t n;
} cf_agg_pool;

/** A late record's window, reported in the next summary of its partition. */
typedef struct cf_agg_late {
        int64_t window_start;
        uint64_t count;
        int64_t value_cents;
} cf_agg_late;

/** Buffers emission reuses from window to window (owned by the stage). */
typedef struct cf_agg_scratch {
        cf_buf common, tail, kp;
        int64_t tail_now_ms; /* tail is for this emitted_at (and the stage's version) */
} cf_agg_scratch;

/** What a summary carries besides its window, and how it is labelled. */
typedef struct cf_agg_emit {
        cf_agg_scratch *scratch;
        int32_t partition;
        bool final;  /* the watermark passed the window's end */
        bool forced; /* closed early by max_open_windows */
        int64_t watermark_ms;
        bool has_watermark;
        int64_t now_ms;
        const char *pipeline_version;
        const cf_rule_set *rules; /* names of the flags counts (detect's registry) */
        const cf_agg_late *late;  /* late records to report in this summary */
        size_t n_late;
        uint64_t late_unattributed; /* late records whose window list overflowed */
        uint64_t extra_duplicates, extra_dead_letters; /* pending, not in any window */
} cf_agg_emit;

/** Pack the group key of a declaration. */
uint64_t cf_agg_group_key(const cf_decl *d);
/** A new empty window [start, end), its tables sized for hint (NULL: minimal); reused
 * from pool when it has one (pool may be NULL). */
cf_agg_window *cf_agg_window_new(int64_t start, int64_t end, const cf_agg_limits *l,
                                 const cf_agg_hint *hint, cf_agg_pool *pool);
/** Done with w: kept in pool when small and there is room, else freed. */
void cf_agg_window_release(cf_agg_window *w, cf_agg_pool *pool);
/** Free every window a pool holds. */
void cf_agg_pool_free(cf_agg_pool *pool);
/** The sizes w reached, as a hint for the next window. */
cf_agg_hint cf_agg_window_hint(const cf_agg_window *w);
/** Free a window. */
void cf_agg_window_free(cf_agg_window *w);
/** Count one processed record (hashes: XXH3 of exporter_id and importer_id). */
void cf_agg_window_add(cf_agg_window *w, const cf_agg_limits *l, const cf_record *r,
                       uint64_t exp_hash, uint64_t imp_hash);
/** Emit one stats message per group (first-seen order) plus the window summary into b (emit.c). */
void cf_agg_window_emit(const cf_agg_window *w, const cf_agg_limits *l, const cf_agg_emit *e,
                        cf_batch *b);
/** Free a scratch's buffers (emit.c). */
void cf_agg_scratch_free(cf_agg_scratch *s);
/** Bytes of heap memory a window holds. */
size_t cf_agg_window_bytes(const cf_agg_window *w);
/** How the flag counters of a snapshot map onto this build's rules: the snapshot's rule k
 * counts into flags[to[k]] (CF_AGG_NO_RULE: a slot that must count nothing). */
typedef struct cf_agg_rulemap {
        uint32_t n; /* flag counters per window and group in the snapshot */
        uint8_t to[255];
} cf_agg_rulemap;
#define CF_AGG_NO_RULE 0xff
_Static_assert(CF_RULES_MAX < CF_AGG_NO_RULE, "rule positions fit cf_agg_rulemap.to");

/** Append a window to out, with the flag counts of the first nrules rules. */
void cf_agg_window_snapshot(const cf_agg_window *w, uint32_t nrules, cf_buf *out);
/** Append what changed in w since its last delta (its counters, the groups changed, with
 * their index, and both sketches and the top exporters whole; README.md § State). */
void cf_agg_window_delta(const cf_agg_window *w, uint32_t nrules, cf_buf *out);
/** Forget w's changes (a delta or snapshot holds them). */
void cf_agg_window_clean(cf_agg_window *w);
/** Record the changes of w's groups and sketches from now on (on), or not (off: forgotten). */
void cf_agg_window_track(cf_agg_window *w, bool on);
/** A new window: base with a cf_agg_window_delta read from d applied (base unchanged);
 * NULL with the reason in d when malformed or not a change of base. */
cf_agg_window *cf_agg_window_patch(const cf_agg_window *base, const cf_agg_limits *l, cf_st_dec *d,
                                   const cf_agg_rulemap *rm);
/** Read a window written by aggregate snapshot version (1: money as doubles of dollars,
 * converted to cents; 1-2: raw-struct padding) with rule map rm; NULL with the reason in d. */
cf_agg_window *cf_agg_window_restore(const cf_agg_limits *l, cf_st_dec *d, int version,
                                     const cf_agg_rulemap *rm);
/** Append an RFC 3339 UTC time (no quotes, milliseconds only when non-zero) (emit.c). */
void cf_agg_put_time(cf_buf *o, int64_t ms);

#endif
