/*
 * detect_int.h - what the detect stage's files share: the rule interface
 * (one static struct per rule, with its config map: Fluent Bit's plugin
 * shape), the compiled reference data, per-partition state and evidence
 * helpers. See RULES.md for what each rule means.
 *
 * @locality: every function runs on the worker thread that owns the chain.
 */
#ifndef CF_DETECT_INT_H
#define CF_DETECT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/core/batch.h"
#include "pipeline/core/buf.h"
#include "pipeline/core/config_map.h"
#include "pipeline/core/stenc.h"
#include "pipeline/core/global.h"
#include "pipeline/core/metrics.h"
#include "pipeline/core/rule_set.h"
#include "stages/detect/kvtab.h"
#include "stages/detect/lnsketch.h"

/** Keys every rule has; the first member of every rule's config struct. */
typedef struct cf_rule_common {
        bool enabled;
        double weight;
} cf_rule_common;

/** Config-map rows for cf_rule_common, with the rule's default weight. */
#define CF_RULE_COMMON_KEYS(default_weight)                                                        \
        {CF_CFG_BOOL, "enabled", "true", 0, "run this rule"},                                      \
        {                                                                                          \
                CF_CFG_DOUBLE, "weight", default_weight, offsetof(cf_rule_common, weight),         \
                    "added to the score when the rule fires", 0, 100                               \
        }

/* ---- reference data (immutable once loaded; replaced whole on reload) ---- */

/** A trade-remedy measure (trade_measures.csv). */
typedef struct cf_measure {
        char *case_id, *measure_type, *hs_prefix, *description;
        uint16_t affected;       /* country */
        int64_t from_ms, to_ms;  /* in force [from, to], to = INT64_MAX when open */
        double duty_rate_pct;    /* NAN when absent */
        struct cf_measure *next; /* same (prefix length, prefix) bucket */
} cf_measure;

/** A watchlist entry (watchlist.csv); kinds is a mask of CF_WL_* roles. */
typedef struct cf_wl_entry {
        char *id, *reason, *listed_on, *kind;
        uint8_t kinds;
        uint64_t h;
} cf_wl_entry;

enum { CF_WL_EXPORTER = 1, CF_WL_IMPORTER = 2, CF_WL_MANUFACTURER = 4, CF_WL_VESSEL = 8 };

/** Longest capacity period: the rolling window is kept in day buckets. */
#define CF_CAP_MAX_DAYS 366

/** One exporter-registry row (exporters.csv). */
typedef struct cf_reg_row {
        char *exporter_id, *hs_prefix;
        char unit[4];
        uint16_t country;
        int64_t registered_ms;
        double capacity;      /* over period_days (NAN: none) */
        uint16_t period_days; /* 1..CF_CAP_MAX_DAYS; capacity_per_year rows: 365 */
        uint32_t index;       /* row number: part of the capacity state key */
        uint64_t h;           /* hash of exporter_id */
} cf_reg_row;

/** A route watch-list entry (route_watchlist.csv). */
typedef struct cf_route_entry {
        char *kind, *value, *reason;
} cf_route_entry;

/** A string-keyed hash index: slot -> position in an array (UINT32_MAX empty). */
typedef struct cf_index {
        uint64_t *h;
        uint32_t *pos;
        size_t cap;
} cf_index;

/** The compiled reference data. */
typedef struct cf_detect_ref {
        cf_measure *measures;
        size_t n_measures;
        cf_measure **mbuckets; /* hash of (len, prefix) -> chain */
        size_t mcap;
        uint16_t prefix_lens; /* bit L set: some measure has a prefix of L digits */
        cf_wl_entry *wl;
        size_t n_wl;
        cf_index wl_ix; /* by hash of id: first entry (equal ids are adjacent) */
        cf_reg_row *reg;
        size_t n_reg;
        cf_index reg_ix; /* by hash of exporter_id: first row (rows of one id adjacent) */
        cf_route_entry *route;
        size_t n_route;
        uint16_t *route_origin_ix;      /* by packed country: 1 + route index (0: not listed) */
        uint16_t route_chapter_ix[100]; /* by HS chapter: 1 + route index (0: not listed) */
} cf_detect_ref;

/** Find the first array position whose hash is h (caller compares the key). */
uint32_t cf_index_find(const cf_index *ix, uint64_t h);
/** Index of the first registry row at or after i that belongs to exporter id
 * (h = cf_id_hash of it), or n_reg when there is none; start with
 * i = cf_index_find(&ref->reg_ix, h). */
uint32_t cf_reg_next(const cf_detect_ref *ref, const cf_str *id, uint64_t h, uint32_t i);

/** Load every reference file named in rules.yaml's `reference:` section. */
int cf_detect_ref_load(cf_detect_ref *ref, const char *measures, const char *watchlist,
                       const char *exporters, const char *route_watchlist, char *errstr,
                       size_t errstr_size);
/** Free reference data. */
void cf_detect_ref_free(cf_detect_ref *ref);
/** The measures whose prefix has len digits and equals the first len digits of hs. */
const cf_measure *cf_measures_for(const cf_detect_ref *ref, const char *hs, size_t len);
/** Parse YYYY-MM-DD into epoch ms (UTC midnight); -1 if malformed. */
int64_t cf_parse_date_ms(const char *s);

/* ---- population state shared across partitions (detect_population.c, RULES.md) ----
 *
 * Unit-value baselines, origin volumes and certificate uses are global: a rule
 * reads the replica (every partition's published contributions, merged) and
 * writes its record's contribution into its partition's pending events, which
 * the pipeline publishes and every replica applies (pipeline/core/global.h).
 * Reading only the replica, never the partition's unpublished events, is what
 * makes a result the same for any partitioning. */

#define CF_CERT_ID_MAX  64 /* certificate id bytes carried in a use (its Kafka key) */
#define CF_CERT_KEEP    8  /* earliest distinct declarations kept per certificate */
#define CF_CERT_EXP     3  /* earliest distinct exporters kept per certificate */
#define CF_CERT_ID_LEN  24 /* bytes kept of an exporter id for the evidence */
#define CF_CERT_DECL_ID 32 /* bytes kept of the first declaration id */

/** A unit-value contribution: a record's ln(unit value) bucket in its generation. */
typedef struct cf_uv_event {
        uint64_t key;
        int64_t t; /* event time (the replica's least-recently-used order) */
        int32_t gen, fine;
} cf_uv_event;

/** A volume contribution: a record's value in its hour, decl 1 when it is the first line of
 * its declaration counted for the pair. */
typedef struct cf_vol_event {
        uint64_t key;
        int64_t t, hour, cents;
        uint32_t decl;
} cf_vol_event;

/** A certificate use. */
typedef struct cf_cert_event {
        uint64_t key, decl_h, exp_h;
        int64_t t;
        char cert[CF_CERT_ID_MAX + 1];
        char decl[CF_CERT_DECL_ID];
        char exporter[CF_CERT_ID_LEN];
} cf_cert_event;

/** A unit-value baseline (replica, and a partition's own contribution in cumulative mode). */
typedef struct cf_uv_rep {
        int64_t last_ms;
        cf_lns s;          /* buckets out of line: the table's drop callback frees them */
        float med, spread; /* as of the last refresh (ln units; spread = 1.4826 MAD) */
        uint64_t n, n_at;  /* samples held; samples at the last refresh */
        uint8_t dirty;     /* changed since the last settle (or publish, for own ones) */
} cf_uv_rep;

/** Volume rings of a pair: value (cents) and declarations per hour and per day. */
typedef struct cf_vol_rep {
        int64_t last_ms;
        int64_t cur_hour, cur_day; /* newest hour / day in the rings */
        uint16_t nh, nd;           /* ring sizes (from the config when created) */
        uint8_t dirty;             /* changed since the last settle (own: since the last publish) */
        /* sums as of the last settle (replica): the short window ending at c_hour and
         * the c_nd days before the first day it touches; read instead of the rings
         * while they still apply */
        int64_t c_hour, c_nd, c_sc, c_lc;
        uint64_t c_sn, c_ln;
        int64_t ring[]; /* cents [nh + nd], then uint32 declarations [nh + nd] */
} cf_vol_rep;

/** A use kept: its event time and the hash of its declaration or exporter id. */
typedef struct cf_cert_use {
        int64_t t;
        uint64_t h;
} cf_cert_use;

/** A certificate's record whole: its earliest declarations and exporters (the replica's value
 * before cert_rep.c); what a merge works on and a snapshot is read into. */
typedef struct cf_cert_full {
        int64_t last_ms;
        uint64_t uses; /* lines merged */
        uint8_t nd, ne;
        cf_cert_use decl[CF_CERT_KEEP]; /* earliest distinct declarations, by (t, hash) */
        cf_cert_use exp[CF_CERT_EXP];   /* earliest distinct exporters, by (t, hash) */
        char exp_id[CF_CERT_EXP][CF_CERT_ID_LEN];
        char first_decl[CF_CERT_DECL_ID]; /* id of decl[0] */
} cf_cert_full;

/** A record's declarations and exporters after the earliest ones (cert_rep.c). */
typedef struct cf_cert_more {
        cf_cert_use decl[CF_CERT_KEEP - 1]; /* cf_cert_full's decl[1..] */
        cf_cert_use exp[CF_CERT_EXP - 1];   /* exp[1..] */
        char exp_id[CF_CERT_EXP - 1][CF_CERT_ID_LEN];
} cf_cert_more;

/** What the replica knows of a certificate (a cf_cert_full held in two parts, cert_rep.c):
 * the earliest declaration and exporter inline, the others out of line, allocated only when
 * a second distinct one arrives (most certificates are used once or twice). */
typedef struct cf_cert_rep {
        int64_t last_ms;
        uint64_t uses; /* lines merged */
        cf_cert_use decl0, exp0;
        cf_cert_more *more; /* NULL while nd <= 1 and ne <= 1; the table's drop frees it */
        uint8_t nd, ne;
        char first_decl[CF_CERT_DECL_ID]; /* id of decl0 */
        char exp_id0[CF_CERT_ID_LEN];     /* id of exp0 */
} cf_cert_rep;

/** (t, h) before u: event time, then hash (ties are broken the same everywhere). */
static inline bool cf_cert_before(int64_t t, uint64_t h, const cf_cert_use *u)
{
        return t < u->t || (t == u->t && h < u->h);
}
/** The i-th earliest declaration of v (i < v->nd). */
static inline const cf_cert_use *cf_cert_decl(const cf_cert_rep *v, int i)
{
        return i ? &v->more->decl[i - 1] : &v->decl0;
}
/** The i-th earliest exporter of v (i < v->ne). */
static inline const cf_cert_use *cf_cert_exp(const cf_cert_rep *v, int i)
{
        return i ? &v->more->exp[i - 1] : &v->exp0;
}
/** The id of the i-th earliest exporter of v (i < v->ne). */
static inline const char *cf_cert_exp_id(const cf_cert_rep *v, int i)
{
        return i ? v->more->exp_id[i - 1] : v->exp_id0;
}

/** Dirty lists of the population state: a volume key (else unit value). */
#define CF_POP_KIND_VOL (1ull << 63)

/** The population key of a record's unit-value baseline: (HS6, unit). */
uint64_t cf_uv_key(const cf_decl *d);
/** Free a baseline's sketch (kvtab drop callback). */
void cf_uv_rep_drop(void *opaque, uint64_t key, void *val);
/** Settle a replica baseline: bound the sketch, refresh median and spread when due
 * (cfg: the rule's). */
void cf_uv_settle(const void *cfg, cf_uv_rep *v);
/** The generation length of the unit-value baselines (cfg: the rule's). */
int64_t cf_uv_period_ms(const void *cfg);
/** Bound a sketch as the replica's are. */
void cf_uv_sketch_settle(cf_lns *s);
/** Size a new volume value's rings (nh hours, nd days: cf_detect_vol_sizes), newest at hour. */
void cf_vol_rep_init(cf_vol_rep *v, uint16_t nh, uint16_t nd, int64_t hour);
/** Add a record's contribution to both rings. */
void cf_vol_rep_add(cf_vol_rep *v, const cf_vol_event *e);
/** Add (or, negative, take out: never moving the ring) cents and declarations at an
 * hour (day false) or a day of v's rings; outside the ring: nothing. */
void cf_vol_ring_add(cf_vol_rep *v, bool day, int64_t at, int64_t cents, int64_t decl);
/** Refresh v's cached sums (the replica's settle; cfg: the rule's). */
void cf_vol_settle(const void *cfg, cf_vol_rep *v);
/** Call fn for every non-empty hour, then day, of v's rings. */
void cf_vol_rep_each(cf_vol_rep *v,
                     void (*fn)(void *op, bool day, int64_t at, int64_t cents, uint32_t decl),
                     void *op);
/** A capacity window holding qty on day (an earlier release's yearly total); true. */
bool cf_cap_convert(void *cap_val, int64_t day, double qty);
/** Merge a use into a certificate's record (commutative: keeps the earliest). */
void cf_cert_rep_merge(cf_cert_rep *v, const cf_cert_event *e);
/** Merge a use into a whole record (what cf_cert_rep_merge does, on the whole form). */
void cf_cert_full_merge(cf_cert_full *f, const cf_cert_event *e);
/** Set v (zeroed, or a record) to f; what v held out of line is reused. */
void cf_cert_rep_set(cf_cert_rep *v, const cf_cert_full *f);
/** Copy v whole into f. */
void cf_cert_rep_get(const cf_cert_rep *v, cf_cert_full *f);
/** Write a record as a replica snapshot holds it (after its key: last use, uses, lists). */
void cf_cert_rep_put(cf_buf *out, const cf_cert_rep *v);
/** Copy n bytes of s to dst (cap bytes), cut to fit, terminated. */
void cf_cert_keep_id(char *dst, size_t cap, const char *s, size_t n);
/** Free a record's out-of-line part (kvtab drop callback). */
void cf_cert_rep_drop(void *opaque, uint64_t key, void *val);

/** A growable array of fixed-size items. */
typedef struct cf_vec {
        void *v;
        size_t n, cap;
} cf_vec;

/** Room for one more item of size bytes at the end of a (counted). */
void *cf_vec_push(cf_vec *a, size_t size);

/** One non-empty slot of a volume value's rings, as slot lists carry it (rule_volume.c). */
typedef struct cf_vol_slot {
        int64_t at, cents; /* hour (or day), cents */
        uint32_t decl;
        uint8_t day;
} cf_vol_slot;

/** Append a volume value's rings as a slot list (u32 count, then per slot u8 day flag,
 * i64 hour or day, i64 cents, u32 declarations). */
void cf_vol_rep_put(cf_buf *out, cf_vol_rep *v);
/** Read a slot list into slots (cf_vol_slot, emptied first), each checked; the newest
 * hour and day it holds in *top_hour, *top_day (-1: none). false: d failed. */
bool cf_vol_slots_get(cf_st_dec *d, cf_vec *slots, int64_t *top_hour, int64_t *top_day);
/** The newest hour a value read from a slot list starts at: its newest hour, else its
 * newest day's first hour, else 0 (tops as cf_vol_slots_get gives them). */
static inline int64_t cf_vol_start_hour(int64_t top_hour, int64_t top_day)
{
        return top_hour >= 0 ? top_hour : top_day >= 0 ? top_day * 24 : 0;
}
/** Size a new volume value's rings (nh hours, nd days), each ring's newest at the newest of
 * its slots (cf_vol_slots_get's tops). */
void cf_vol_rep_init_slots(cf_vol_rep *v, uint16_t nh, uint16_t nd, int64_t top_hour,
                           int64_t top_day);
/** Append n slots (hours oldest first, then days) as a slot list, as cf_vol_rep_put does. */
void cf_vol_slots_put(cf_buf *out, const cf_vol_slot *s, size_t n);
/** Append the changes of the slot list sv (nv slots, cf_vol_slots_put's order) against base (a
 * slot list written at the last delta, read from base): per ring (hours, then days) a varint
 * count, then per slot changed its hour or day (the first zigzag, the others the gap after the
 * one before), cents and declarations (varints; 0 and 0: the slot went). false, nothing
 * written: most slots changed. */
bool cf_vol_slots_diff(cf_buf *out, cf_st_dec *base, const cf_vol_slot *sv, size_t nv);
/** Read what cf_vol_slots_diff wrote into slots: the old list (o, no slots) with the changes,
 * checked as cf_vol_slots_get checks a list (and a slot removed must be held); the newest hour
 * and day in *top_hour, *top_day (-1: none). false: d failed. */
bool cf_vol_slots_patch(cf_st_dec *d, const cf_vol_slot *o, size_t no, cf_vec *slots,
                        int64_t *top_hour, int64_t *top_day);
/** Add (sign 1) or take out (sign -1) a slot list's cents and declarations. */
void cf_vol_slots_add(cf_vol_rep *v, const cf_vec *slots, int sign);
/** The ring sizes of origin_volume_surge's values for its config cfg (hours, days). */
void cf_vol_ring_sizes(const void *cfg, uint16_t *nh, uint16_t *nd);
/** Add cents and declarations to one slot (*c, *k), saturating at 0 and the types' maxima. */
void cf_vol_slot_add(int64_t *c, uint32_t *k, int64_t cents, int64_t decl);

/** A partition's own contribution to a pair's rings (vol_own.c): the non-empty slots only, in
 * slot-list order, with the rings' window and newest hour and day; what a cf_vol_rep would
 * hold, in a fraction of its size (a partition sees few records of most pairs). */
typedef struct cf_vol_own {
        int64_t last_ms;           /* first: the table's last use */
        int64_t cur_hour, cur_day; /* newest hour / day, as in the rings */
        uint16_t nh, nd;           /* ring sizes (from the config when created) */
        uint8_t dirty;             /* changed since the last publish */
        uint32_t n, nhs, cap;      /* slots held, of them hours (first), allocated */
        cf_vol_slot *s;            /* out of line: the table's drop frees it */
} cf_vol_own;

/** Size a new own value's rings from cfg, newest at hour (as cf_vol_rep_init). */
void cf_vol_own_init(cf_vol_own *o, const void *cfg, int64_t hour);
/** Size a new own value's rings as cf_vol_rep_init_slots does. */
void cf_vol_own_init_slots(cf_vol_own *o, const void *cfg, int64_t top_hour, int64_t top_day);
/** cf_vol_ring_add on an own value: the same window, advance and saturation. */
void cf_vol_own_ring_add(cf_vol_own *o, bool day, int64_t at, int64_t cents, int64_t decl);
/** Add a record's contribution to both rings of an own value. */
void cf_vol_own_add(cf_vol_own *o, const cf_vol_event *e);
/** Add a slot list (cf_vol_slot) to an own value. */
void cf_vol_own_add_slots(cf_vol_own *o, const cf_vec *slots);
/** Free an own value's slots (kvtab drop callback). */
void cf_vol_own_drop(void *opaque, uint64_t key, void *val);

/** The replica of the population state (one per detect stage). */
typedef struct cf_detect_pop {
        int64_t first_ms; /* earliest event time any partition published (INT64_MAX: none) */
        cf_kvtab uv;      /* unit-value baselines by (HS6, unit): uv_rep */
        cf_kvtab vol;     /* volume rings by (origin, HS6): vol_rep */
        cf_kvtab cert;    /* certificate uses: cert_rep */
        cf_kvtab contrib; /* cumulative mode: each (key, source partition)'s last contribution */
        cf_kvtab buckets; /* cumulative mode: per bucket message key, the contributions it set */
        cf_vec dirty;     /* uv keys changed since the last settle */
        cf_vec vdirty;    /* vol keys (| CF_POP_KIND_VOL) changed since the last settle */
        uint64_t applied, refused, contrib_evicted;
        int64_t max_contrib;     /* bound of contrib (stages.detect.max_contributions) */
        uint32_t n_buckets;      /* buckets a partition's contributions are published in */
        uint16_t vol_nh, vol_nd; /* the vol values' ring sizes at start: the table's layout */
        bool freeing;
        bool removing; /* a contribution leaves because its bucket no longer holds it */
} cf_detect_pop;

/** Load the replica rings origin_volume_surge will read for d (touch.h; nothing changes). */
void cf_vol_touch(const cf_detect_pop *g, const cf_decl *d);

/* ---- per-partition state ---- */

/** State of one input partition (the unit of work and of state, DESIGN §6). */
typedef struct cf_detect_part {
        int64_t first_ms;              /* earliest event time seen */
        int64_t first_published;       /* first_ms as last published */
        cf_vec uv_ev, vol_ev, cert_ev; /* contributions since the last publish */
        cf_kvtab exp;                  /* exporters: first seen, cumulative value */
        cf_kvtab cap;                  /* rolling quantity by (exporter, registry row) */
        cf_kvtab vdecl;   /* per exporter: its current declaration's (origin, HS6) pairs counted */
        cf_kvtab uv_own;  /* cumulative mode: this partition's unit-value contribution per key */
        cf_kvtab vol_own; /* cumulative mode: this partition's volume contribution per key */
        cf_vec own_dirty; /* cumulative mode: (kind << 63 | key) changed since the last publish */
        bool republish;   /* restored: its next cumulative publish sends every bucket */
} cf_detect_part;

typedef struct cf_detect cf_detect;

/** The ring sizes of a new volume value of replica g: the config's, but none longer than at
 * g's start (the table's value size is fixed until a restart; a reload lengthening the windows
 * wrote past each new value into the next). */
void cf_detect_vol_sizes(const cf_detect *x, const cf_detect_pop *g, uint16_t *nh, uint16_t *nd);

/** A rule: name, config map (under rules.<name> in rules.yaml) and check. A check that
 * fires writes the evidence (cf_ev_*) and the explanation sentence (cf_ex_begin), then
 * calls cf_detect_fire. */
typedef struct cf_rule {
        const char *name;
        const char *description;
        const cf_config_map *config_map;
        size_t cfg_size; /* bytes of the config struct (starts with cf_rule_common) */
        /** Check r (status OK); add a reason with cf_detect_fire when it fires. */
        void (*check)(cf_detect *x, cf_detect_part *ps, cf_batch *b, cf_record *r, const void *cfg);
        /** Bound, window and (when it depends on cfg) value size of the rule's
         * state table; *vsize comes in as value_size (NULL: stateless). */
        void (*state_limits)(const void *cfg, size_t *max_entries, int64_t *window_ms,
                             uint32_t *vsize);
        /** offsetof(cf_detect_part, <its table>) (0: stateless). */
        size_t table_off;
        uint32_t value_size; /* bytes per state value */
        /** Append one value of the table (stenc fields, last_ms first; detect_state.c). */
        void (*state_put)(cf_buf *out, const void *val);
        /** Read one value into val (zeroed, the table's value size) as state_put wrote it
         * (version 2) or as the raw struct of releases 1-2 (version 1), checked against cfg;
         * false with the reason in d. */
        bool (*state_get)(cf_st_dec *d, int version, void *val, const void *cfg);
        /** Population rules: offsetof(cf_detect_pop, <its replica table>) (0: none), and
         * the replica's bound, idle window and value size (*vsize in as replica_size). */
        size_t replica_off;
        uint32_t replica_size;
        void (*replica_limits)(const void *cfg, size_t *max_entries, int64_t *window_ms,
                               uint32_t *vsize);
        /** Frees what a replica value holds out of line (its table's drop; NULL: nothing). */
        void (*replica_drop)(void *opaque, uint64_t key, void *val);
        /* Global state (x->global[i]): not per partition but learnt from the
         * outcomes input, which every worker reads whole (DESIGN §6), so it is
         * the same on every worker. All NULL for a rule without one. */
        /** Create (*g NULL) or reconfigure *g from cfg at init and reload, while
         * cfg's borrowed nodes are alive; -1 + errstr keeps the old state. */
        int (*global_config)(void **g, const void *cfg, char *errstr, size_t errstr_size);
        /** Learn one outcome (r is CF_REC_OK, r->outcome set, r->decl as scored). */
        void (*learn)(void *g, const cf_record *r, const void *cfg);
        /** Append the global state to out. */
        void (*global_snapshot)(const void *g, cf_buf *out);
        /** Replace it (len 0: empty); 1: taken with other settings, now empty and to be
         * re-learnt from the outcomes; -1 + errstr: corrupt. */
        int (*global_restore)(void *g, const void *data, size_t len, char *errstr,
                              size_t errstr_size);
        /** Store the global state's values in its metric series, declared in reg (and
         *  looked up) the first time; g keeps the handles. Every worker has the same
         *  state: declare its counts with cf_metrics_counter_replicated. */
        void (*global_metrics)(void *g, cf_metrics *reg);
        /** Free it. */
        void (*global_free)(void *g);
} cf_rule;

/** The state table of rule ru in ps (ru->table_off != 0). */
static inline cf_kvtab *cf_rule_table(const cf_rule *ru, cf_detect_part *ps)
{
        return (cf_kvtab *)((char *)ps + ru->table_off);
}

/** The replica table of rule ru (ru->replica_off != 0). */
static inline cf_kvtab *cf_rule_replica(const cf_rule *ru, cf_detect_pop *g)
{
        return (cf_kvtab *)((char *)g + ru->replica_off);
}

/** The stage context. */
struct cf_detect {
        double score_cap, flag_threshold;
        cf_detect_ref ref;
        void **cfg; /* per rule (cf_detect_rules order) */
        cf_detect_part **parts;
        size_t nparts;
        cf_buf ev;                    /* evidence under construction */
        cf_buf ex;                    /* explanation under construction */
        uint64_t fired[CF_RULES_MAX]; /* per rule */
        uint16_t cur;                 /* registry position of the rule being checked */
        uint64_t exp_h, decl_h; /* hashes of the current record's exporter and declaration ids */
        cf_rule_set rules;      /* the registry's names, published to later stages */
        cf_detect_pop pop;      /* the replica of the population state */
        /* the replica rules read and apply to: &pop, or another chain's (replay's threads
         * share one, each applying and settling its part share_k of share_n) */
        cf_detect_pop *rep;
        int share_k, share_n;
        void *global[CF_RULES_MAX]; /* per rule: its global state (cf_rule.global_config) */
        bool track;                 /* partitions record their changes (deltas) */
        /* what deltas wrote, per table (the rules' in cf_detect_rules order, then the own
         * tables): bytes and keys (changed or removed), for the metrics that say which
         * table a commit's changelog bytes come from */
        uint64_t delta_bytes[CF_RULES_MAX + 2], delta_keys[CF_RULES_MAX + 2];
        cf_buf bucket; /* a bucket's entries under construction (publish) */
};

#define CF_RULE(name) extern const cf_rule cf_rule_##name;
#include "stages/detect/rules.def"
#undef CF_RULE

/** Every rule, in evaluation order (registry.c, from rules.def). */
extern const cf_rule *const cf_detect_rules[];
/** Number of rules. */
extern const size_t cf_detect_n_rules;

/** Check a registry (at most CF_RULES_MAX rules, names [a-z][a-z0-9_]* of at most
 * CF_RULE_NAME_MAX bytes, no name twice) and fill out with its names; -1 + errstr. */
int cf_rule_set_build(cf_rule_set *out, const cf_rule *const *rules, size_t n, char *errstr,
                      size_t errstr_size);

/* ---- population state (detect_population.c) ---- */

/** Set up the replica's tables from the loaded rule config. */
void cf_detect_pop_init(cf_detect *x);
/** New bounds and windows for the replica's tables after a reload (layouts stay). */
void cf_detect_pop_reload(cf_detect *x);
/** Read and apply owner's replica (owner == x: its own), applying and settling only part
 * k of n: each table belongs to one part, so n chains can apply one round at once. */
void cf_detect_pop_share(cf_detect *x, cf_detect *owner, int k, int n);
/** Free the replica. */
void cf_detect_pop_free(cf_detect *x);
/** Set up a partition's population part (own contributions, pending events). */
void cf_detect_part_init_pop(cf_detect *x, cf_detect_part *ps);
/** Free it. */
void cf_detect_part_free_pop(cf_detect_part *ps);
/** Append partition's contributions to out as population messages (global.h). */
int cf_detect_publish(cf_detect *x, cf_detect_part *ps, int32_t partition, cf_global_mode mode,
                      cf_buf *out);
/** Cumulative mode: the bucket messages (type 7) of every bucket holding a key of ps that
 * changed since the last publish, each with ps's whole contribution for the bucket's keys
 * (detect_bucket.c). */
void cf_detect_put_buckets(cf_detect *x, cf_detect_part *ps, int32_t partition, cf_buf *out);
/** The bucket of a population key (kind bit included) among n. */
uint32_t cf_pop_bucket_of(uint64_t kind_key, uint32_t n);
/** Population message types (values' first byte; detect_population.c's header). */
enum {
        CF_POP_UV_EVENTS = 1,
        CF_POP_VOL_EVENTS = 2,
        CF_POP_FIRST = 3,
        CF_POP_CERT_USES = 4,
        CF_POP_UV_CUM = 5,
        CF_POP_VOL_CUM = 6,
        CF_POP_BUCKET = 7,
};
/** Version byte of every population message type. */
#define CF_POP_MSG_VERSION 1
/** Largest bucket message value: a bucket holding more is split into parts. */
#define CF_POP_PART_BYTES (512u * 1024u)
/** Merge one population message into the replica; -1 + errstr if malformed (unchanged). */
int cf_detect_apply(cf_detect *x, const cf_global_msg *m, char *errstr, size_t errstr_size);
/** A round of applies is over: settle the replica (sketch bounds, medians, expiry clock). */
void cf_detect_settle(cf_detect *x);
/** The loaded config of rule ru. */
const void *cf_detect_rule_cfg(const cf_detect *x, const cf_rule *ru);
/** Convert a table of an earlier release's partition snapshot (detect_convert.c) into
 * this partition's contributions (published at the next barrier or commit) or, for
 * capacity, its windows, read from d; -1 with the reason in d when malformed. */
int cf_detect_convert_v1(cf_detect *x, cf_detect_part *ps, const cf_rule *ru, cf_st_dec *d);
/** A new empty partition state with tables sized by the current rule config (detect.c). */
cf_detect_part *cf_detect_part_new(cf_detect *x);
/** Free a partition state (detect.c). */
void cf_detect_part_free(cf_detect_part *ps);
/** A partition's own population contributions as a state table (detect_own.c). */
typedef struct cf_detect_own {
        const char *name; /* in snapshots and deltas, after the rules' tables */
        size_t off;       /* offsetof(cf_detect_part, <the table>) */
        cf_kv_put put;
        cf_kv_get get;       /* cfg: the rule's */
        cf_kv_diff diff;     /* deltas: a value's changes since the last (version 3) */
        cf_kv_patch patch;   /* reads them; cfg: the rule's */
        const cf_rule *rule; /* whose config sizes the values */
} cf_detect_own;
#define CF_DETECT_OWNS 2
/** The own tables: unit value, volume. */
extern const cf_detect_own cf_detect_owns[CF_DETECT_OWNS];
/** Index in cf_detect_owns of the table named (name, n), or -1. */
int cf_detect_own_named(const char *name, size_t n);
/** Own table i of ps. */
cf_kvtab *cf_detect_own_table(cf_detect_part *ps, int i);

/** Writes one table (whole or its delta: cf_kvtab_delta); diff NULL: values whole. */
typedef void (*cf_detect_table_writer)(cf_kvtab *t, cf_buf *out, cf_kv_put put, cf_kv_diff diff);
/** Append magic, version, the first event time and every rule's and own table written by
 * write, by name (detect_state.c); bytes and keys (NULL: not counted) get each table's
 * bytes and delta keys added, rules first, then the own tables. */
void cf_detect_state_write(cf_detect_part *ps, cf_buf *out, const char *magic, uint16_t version,
                           cf_detect_table_writer write, uint64_t *bytes, uint64_t *keys);
/** Append the partition's state (format in detect_state.c). */
void cf_detect_state_snapshot(cf_detect *x, cf_detect_part *ps, cf_buf *out);
/** A partition state read from a snapshot (len 0: empty) and checked against the current
 * rule config; NULL with the reason in errstr. */
cf_detect_part *cf_detect_state_restore(cf_detect *x, const void *data, size_t len, char *errstr,
                                        size_t errstr_size);
/** Start or stop recording the changes of every rule table of ps (detect_delta.c). */
void cf_detect_part_track(cf_detect_part *ps, bool on);
/** Append the partition's changes since its last snapshot or delta (detect_delta.c), counted
 * per table in x; out NULL: forget them. */
void cf_detect_state_delta(cf_detect *x, cf_detect_part *ps, cf_buf *out);
/** Apply a delta to ps, every byte checked before anything changes; -1 + errstr, ps as it
 * was (detect_delta.c). */
int cf_detect_state_apply_delta(cf_detect *x, cf_detect_part *ps, const void *data, size_t len,
                                char *errstr, size_t errstr_size);
/** Append the replica (detect_replica.c). */
void cf_detect_replica_snapshot(cf_detect *x, cf_buf *out);
/** Replace the replica from a cf_detect_replica_snapshot (len 0: empty), checked; -1 +
 * errstr and nothing changed when refused. */
int cf_detect_replica_restore(cf_detect *x, const void *data, size_t len, char *errstr,
                              size_t errstr_size);
/* ---- global state (detect_global.c) ---- */

/** Create or reconfigure every rule's global state from x->cfg; -1 + errstr. */
int cf_detect_global_config(cf_detect *x, void **cfg, char *errstr, size_t errstr_size);
/** Free every rule's global state. */
void cf_detect_global_free(cf_detect *x);
/** Every enabled rule with global state learns each outcome of b still CF_REC_OK. */
void cf_detect_learn(cf_detect *x, cf_batch *b);
/** The global snapshot: one named block per rule with global state. */
void cf_detect_global_snapshot(const cf_detect *x, cf_buf *out);
/** The global restore (1: some state must be re-learnt from the outcomes); -1 + errstr. */
int cf_detect_global_restore(cf_detect *x, const void *data, size_t len, char *errstr,
                             size_t errstr_size);
/** Prometheus text of every rule's global state. */
void cf_detect_global_metrics(cf_detect *x, cf_metrics *reg);

/** Start an evidence object in x->ev (writes '{'). */
cf_buf *cf_ev_begin(cf_detect *x);
/** Add "key":"string" (escaped). */
void cf_ev_str(cf_buf *o, const char *key, const char *s, size_t n);
/** Add "key":"CC" for a packed country code (null when 0). */
void cf_ev_cc(cf_buf *o, const char *key, uint16_t cc);
/** Add "key":number. */
void cf_ev_num(cf_buf *o, const char *key, double v);
/** Add "key":RFC 3339 time. */
void cf_ev_time(cf_buf *o, const char *key, int64_t ms);
/** Close the object and add the reason with the rule's weight and the explanation
 * written since cf_ev_begin to r. */
void cf_detect_fire(cf_detect *x, cf_batch *b, cf_record *r, const cf_rule *rule, const void *cfg);

/* ---- explanations: one sentence per reason, made from its evidence (RULES.md) ---- */

#define CF_EX_NUM_MAX 48
/** The explanation buffer, emptied by cf_ev_begin (write it with cf_buf_printf). */
cf_buf *cf_ex_begin(cf_detect *x);
/** v for people at dst: below 1000, 3 significant digits (0.00123, 1.61, 29.3, 587);
 * from 1000 on, rounded with thousands separators (1,587; 2,930,000). Returns dst. */
const char *cf_ex_num(char *dst, double v);
/** An event time as a UTC date "YYYY-MM-DD" at dst (>= 32 bytes). Returns dst. */
const char *cf_ex_date(char *dst, int64_t ms);
/** A packed country code as "CN" at dst (>= 3 bytes; "??" when 0). Returns dst. */
const char *cf_ex_cc(char *dst, uint16_t cc);
/* The same as printf arguments, valid until the end of the enclosing block. */
#define CF_EX_NUM(v)   cf_ex_num((char[CF_EX_NUM_MAX]){0}, (v))
#define CF_EX_DATE(ms) cf_ex_date((char[32]){0}, (ms))
#define CF_EX_CC(cc)   cf_ex_cc((char[3]){0}, (cc))

/** Packed country code of a two-letter prefix, or 0 when not an ISO code. */
uint16_t cf_cc_of(const char *p, size_t n);
/** Unpack a country code into out[3]. */
void cf_cc_str(uint16_t cc, char out[3]);

#endif
