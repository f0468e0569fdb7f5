/*
 * dedup_table.h - one input partition's dedup state (DESIGN §5.2): the key
 * table (declaration_id, line) -> fingerprint, amendment, event time; the
 * shipment table shipment hash -> event time, declaration id; and the
 * event-time slices that make expiry O(1).
 *
 * Expiry is lazy and by slice: the window is cut into `slices` slices of equal
 * width; an entry is live while the slice of its event time is >= `lo`, the
 * lowest live slice. Advancing the watermark (max event time) past a slice
 * boundary moves `lo` and subtracts that slice's per-slice count: no scan.
 * Dead entries stay in their slot until an insert reuses it or the next
 * rebuild drops them (amortised O(1) per entry). Declaration id strings live
 * in a per-slice pool reset when the slice dies.
 *
 * Memory: a key entry (one per version of a key) is 20 bytes, a shipment
 * entry (one per declaration of a shipment) 16 bytes; both tables are ordered
 * linear probing tables at 75-90 % load (85-90 % once they stop growing and their
 * rebuilds only drop expired entries; see dedup_table.c).
 *
 * Everything here runs on the worker thread that owns the chain
 * (@locality: worker thread).
 */
#ifndef CF_DEDUP_TABLE_H
#define CF_DEDUP_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pipeline/core/buf.h"
#include "pipeline/core/touch.h"
#include "stages/dedup/dedup_ids.h"

#define CF_DD_AMEND_MAX 0xFFFFu      /* amendments saturate here (16 bits kept) */
#define CF_DD_FP_MASK   (~0xFFFFull) /* fingerprint bits kept: the top 48 */
#define CF_DD_NO_ID     0xFFFFFFFFu  /* id_ref when the id could not be kept */

/** A key entry: 20 bytes (packed to 4-byte alignment to hit the memory target). */
typedef struct __attribute__((packed, aligned(4))) cf_dd_key {
        uint64_t kh;  /* XXH3-64 of (declaration_id, line); 0 = empty slot */
        uint64_t fpa; /* top 48 bits: the top 48 of the fingerprint's low64; low 16: amendment */
        uint32_t t;   /* event time, seconds since the epoch */
} cf_dd_key;

/** A shipment entry: 16 bytes. */
typedef struct cf_dd_ship {
        uint64_t sh;     /* XXH3-64 of the shipment fields; 0 = empty slot */
        uint32_t t;      /* event time (s) of the last record with this shipment */
        uint32_t id_ref; /* offset of its declaration id in the pool of slice(t) */
} cf_dd_ship;

/** Settings of a partition's state (from stages.dedup). */
typedef struct cf_dd_limits {
        int64_t window_s;    /* event-time window, seconds */
        int64_t slices;      /* slices per window */
        int64_t max_entries; /* bound on live entries of each table */
} cf_dd_limits;

/** One partition's state. */
typedef struct cf_dd_part {
        cf_dd_limits lim;
        int64_t slice_s; /* slice width, seconds */
        uint32_t ring;   /* ring slots = slices + 1 (the window plus the open slice) */
        cf_dd_key *keys;
        size_t kcap, kused, klive; /* slots, occupied (live + dead), live */
        size_t khome;              /* slots homes fall in; the kcap - khome after: overflow */
        size_t klast;              /* live entries the last rebuild kept (its growth or not) */
        cf_dd_ship *ships;
        size_t scap, sused, slive, shome, slast;
        bool has_wm;
        int64_t wm_s;            /* watermark: max event time seen (s) */
        int64_t cur, lo;         /* slice of the watermark; lowest live slice */
        int64_t lo_t;            /* lo * slice_s: entries with t < lo_t are dead */
        uint64_t *kcount;        /* live key entries per ring slot */
        uint64_t *scount;        /* live shipment entries per ring slot */
        cf_buf *pool;            /* declaration ids per ring slot, encoded (dedup_ids.h) */
        uint32_t *pool_last;     /* 1 + offset of the last id appended per slot (0: none) */
        cf_dd_prefixes prefixes; /* the pools' id prefixes */
        /* counters (Prometheus) */
        uint64_t expired[2]; /* entries gone because they left the window [keys, ships] */
        uint64_t evicted[2]; /* entries gone because max_entries was reached [keys, ships] */
        uint64_t late;       /* records older than the window: not deduplicated */
        uint64_t rebuilds;   /* table rebuilds (growth or dead-slot reclaim) */
        /* change tracking (deltas, dedup_delta.c): what was inserted or moved since the last
         * delta, in the delta's own encoding; removals need no log (expiry and eviction move
         * the horizon, which the delta carries), except a clear of both tables (cleared) */
        bool track, cleared;
        cf_buf klog, slog;
        uint64_t nklog, nslog;
} cf_dd_part;

/** The order of hash h in a table: entries sit in increasing cf_dd_order (the
 * Fibonacci multiply spreads low-entropy high bits: small test keys). */
static inline uint64_t cf_dd_order(uint64_t h)
{
        return h * 0x9E3779B97F4A7C15ull;
}

/** Home slot of hash h in a table whose homes are [0, cap) (multiply-shift, any cap;
 * monotone in cf_dd_order(h)). */
static inline size_t cf_dd_home(uint64_t h, size_t cap)
{
        return (size_t)(((unsigned __int128)cf_dd_order(h) * cap) >> 64);
}

/** How many records ahead the stage prefetches table slots (far enough to
 * hide a memory access, near enough that the lines are still cached). */
/** Load the first slots a lookup of kh and sh will read (pipeline/core/touch.h): the
 * stage touches a whole batch's before deciding any, so the misses overlap. */
static inline void cf_dd_touch(const cf_dd_part *p, uint64_t kh, uint64_t sh)
{
        if (p->kcap) cf_touch(&p->keys[cf_dd_home(kh, p->khome)]);
        if (p->scap && sh) cf_touch(&p->ships[cf_dd_home(sh, p->shome)]);
}

/** Create an empty partition state. */
cf_dd_part *cf_dd_part_new(const cf_dd_limits *lim);
/** Free a partition state. */
void cf_dd_part_free(cf_dd_part *p);
/** Slice index of event time t (seconds). */
static inline int64_t cf_dd_slice(const cf_dd_part *p, int64_t t)
{
        return t >= 0 ? t / p->slice_s : -((-t + p->slice_s - 1) / p->slice_s);
}
/** Move the watermark to t if later, expiring the slices that left the window. */
void cf_dd_advance(cf_dd_part *p, int64_t t);
/** True when an entry with event time t is inside the window (not expired/evicted). */
static inline bool cf_dd_live(const cf_dd_part *p, int64_t t)
{
        return t >= p->lo_t;
}
/** The hash of entry e (either table: the hash first, the u32 event time at t_off) when
 *  it holds a live key, else 0. */
static inline uint64_t cf_dd_entry_live(const cf_dd_part *p, const char *e, size_t t_off)
{
        uint64_t h;
        uint32_t t;
        memcpy(&h, e, 8);
        memcpy(&t, e + t_off, 4);
        return h && cf_dd_live(p, t) ? h : 0;
}
/**
 * Make room for one more key and one more shipment entry: evict the oldest
 * slice while a table is at max_entries (counted), rebuild a table whose
 * occupied slots reached the load limit. Call before inserting, after the
 * lookup (a re-delivery must not evict). Returns 1 when slots moved (repeat
 * the lookup), else 0.
 */
int cf_dd_reserve(cf_dd_part *p);
/** What a key lookup found among the live versions of one key. */
typedef struct cf_dd_found {
        cf_dd_key *exact;  /* the version with this very fingerprint, or NULL */
        cf_dd_key *latest; /* the version with the highest amendment (newest on ties) */
        cf_dd_key *ins;    /* where a new version goes: the slot after the key's entries */
} cf_dd_found;

/**
 * Look up every live version of key kh (nothing found in an empty table). A key has one entry per
 * version (fingerprint) seen in the window, so a re-delivery of any earlier version, not only the
 * last, is recognised as exact.
 */
void cf_dd_key_lookup(cf_dd_part *p, uint64_t kh, uint64_t fpa, cf_dd_found *f);
/** Store a new version at ins (from cf_dd_key_lookup, no table change since); t must be
 * live. Entries may move: pointers into the table are stale afterwards. */
void cf_dd_key_insert(cf_dd_part *p, cf_dd_key *ins, uint64_t kh, uint64_t fpa, uint32_t t);
/** What a shipment lookup found among the live sightings of one shipment. */
typedef struct cf_dd_ship_found {
        cf_dd_ship *own;   /* the sighting under this declaration id, or NULL */
        cf_dd_ship *other; /* the latest sighting under another declaration id */
        cf_dd_ship *ins;   /* where a new sighting goes: the slot after the shipment's */
} cf_dd_ship_found;

/**
 * Look up shipment sh as declared under declaration id (id, n). A shipment has
 * one entry per declaration that declared it in the window (nothing found in
 * an empty table).
 */
void cf_dd_ship_lookup(cf_dd_part *p, uint64_t sh, const char *id, size_t n, cf_dd_ship_found *f);
/** Store a shipment seen at t under declaration id (id, n; id NULL: not kept) at ins (from
 * cf_dd_ship_lookup, no table change since). Pointers into the table are stale afterwards. */
void cf_dd_ship_insert(cf_dd_part *p, cf_dd_ship *ins, uint64_t sh, uint32_t t, const char *id,
                       size_t n);
/** Move a live shipment entry to event time t (its declaration id stays (id, n)). */
void cf_dd_ship_update(cf_dd_part *p, cf_dd_ship *e, uint32_t t, const char *id, size_t n);
/** The declaration id of a live shipment entry, decoded into buf (CF_DD_ID_MAX bytes; length
 * in *n); NULL if not kept. */
const char *cf_dd_ship_id(const cf_dd_part *p, const cf_dd_ship *e, char *buf, size_t *n);
/** Bytes the state holds (tables, counts, pools): the table's own accounting. */
size_t cf_dd_part_bytes(const cf_dd_part *p);
/** Raise the lowest live slice to the one holding lo_t (restore; empty state only). */
void cf_dd_set_horizon(cf_dd_part *p, int64_t lo_t);
/** Pre-size the tables for nk keys and ns shipments (restore). */
void cf_dd_part_presize(cf_dd_part *p, size_t nk, size_t ns);

/** Raise the lowest live slice to the one holding lo_t (a delta's horizon: the slices below
 * die, counted as evicted); no-op when it is not above the current one. */
void cf_dd_raise_horizon(cf_dd_part *p, int64_t lo_t);
/** Empty both tables, keeping the watermark (the bound reached with everything in the open
 * slice; a delta that says so). */
void cf_dd_part_clear(cf_dd_part *p);
/** Record a key version inserted (change tracking on). */
void cf_dd_log_key(cf_dd_part *p, uint64_t kh, uint64_t fpa, uint32_t t);
/** Record a shipment sighting inserted or moved to t (change tracking on). */
void cf_dd_log_ship(cf_dd_part *p, uint64_t sh, uint32_t t, const char *id, size_t n);
/** Start (on) or stop recording changes; the log is emptied either way. */
void cf_dd_part_track(cf_dd_part *p, bool on);
/** Forget the changes logged (a snapshot or delta was taken). */
void cf_dd_delta_reset(cf_dd_part *p);
/** Append the changes since the last snapshot or delta (format in dedup_delta.c) and start
 * a new delta. */
void cf_dd_part_delta(cf_dd_part *p, cf_buf *out);
/** Apply a delta: every byte checked first; -1 + errstr and p unchanged when refused. */
int cf_dd_part_apply_delta(cf_dd_part *p, const void *data, size_t len, char *errstr,
                           size_t errstr_size);

/** Self-check for tests: live counters agree with a scan of both tables (0), else -1. */
int cf_dd_part_check(const cf_dd_part *p);

/** Serialise the live state (versioned binary, see dedup_state.c). */
void cf_dd_part_snapshot(const cf_dd_part *p, cf_buf *out);
/** Rebuild a state from a snapshot; NULL with errstr when it is malformed. */
cf_dd_part *cf_dd_part_restore(const cf_dd_limits *lim, const void *data, size_t len, char *errstr,
                               size_t errstr_size);

#endif
