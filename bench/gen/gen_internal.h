/*
 * gen_internal.h - shared state of the generator's files (reference data,
 * random numbers, the record spec, truth labels). Not a public API.
 */
#ifndef CF_GEN_INTERNAL_H
#define CF_GEN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "bench/gen/gen.h"
#include "pipeline/core/buf.h"
#include "pipeline/core/rule_set.h"
#include "stages/decode/fx.h"

/* ---- random numbers ----
 * xoshiro256** seeded by splitmix64: hand-written because the output must be
 * identical on every platform and libc for a given seed (rand()/random() are
 * not), and it is a dozen lines. */
typedef struct gen_rng {
        uint64_t s[4];
} gen_rng;

void gen_rng_seed(gen_rng *r, uint64_t seed);
uint64_t gen_rng_u64(gen_rng *r);
/** Uniform in [0, 1). */
double gen_rng_unit(gen_rng *r);
/** Uniform integer in [0, n). */
uint64_t gen_rng_below(gen_rng *r, uint64_t n);
/** Standard normal (Box-Muller). */
double gen_rng_normal(gen_rng *r);
/** Bernoulli(p). */
bool gen_rng_chance(gen_rng *r, double p);

/* ---- reference data (deploy/examples/reference, formats in schemas/reference) ---- */
typedef struct gen_country {
        uint16_t cc;
        char iso[3];
        double weight;
        char currency[4];
        int first_port, n_ports; /* slice of gen_ref.ports (sorted by country) */
        int pool;                /* exporters of this origin (Zipf ranks 1..pool) */
        double *zipf_cdf;        /* pool entries */
} gen_country;

typedef struct gen_hs {
        char hs6[7];
        char unit[4];
        char desc[96];
        double ref_uv, sigma;
        uint64_t seen; /* valid lines generated so far (baseline maturity) */
} gen_hs;

typedef struct gen_port {
        char locode[6];
        uint16_t cc;
} gen_port;

typedef struct gen_measure {
        char case_id[32];
        char hs_prefix[11];
        uint16_t affected;
        int64_t from_ms, to_ms; /* to_ms INT64_MAX when open-ended */
} gen_measure;

typedef struct gen_watch {
        char kind[16];
        char id[48];
} gen_watch;

typedef struct gen_registered {
        char exporter_id[48];
        uint16_t cc;
        char hs_prefix[11];
        char unit[4];
        double capacity; /* over period_days (0: no capacity) */
        int period_days;
        int64_t registered_ms;
        int hs_idx; /* an hs_codes entry under hs_prefix with this unit, or -1 */
} gen_registered;

typedef struct gen_ref {
        gen_country *countries;
        int n_countries;
        double total_weight;
        gen_hs *hs;
        int n_hs;
        gen_port *ports;
        int n_ports;
        gen_measure *measures;
        int n_measures;
        gen_watch *watch;
        int n_watch;
        gen_registered *reg;
        int n_reg;
        uint16_t route_origins[64];
        int n_route_origins;
        char route_chapters[64][3];
        int n_route_chapters;
        cf_fx_table *fx;
} gen_ref;

/** Load every reference file of dir; -1 with "file:line: reason". */
int gen_ref_load(gen_ref *ref, const char *dir, char *errstr, size_t errstr_size);
void gen_ref_free(gen_ref *ref);
/** Index of country cc in ref->countries or -1. */
int gen_ref_country(const gen_ref *ref, uint16_t cc);

/* ---- one declaration line, before rendering ---- */
typedef struct gen_rec {
        char decl_id[48];
        int line;
        int64_t t_ms;
        int64_t amendment; /* -1: field absent */
        int hs_idx;
        char hs_code[11];
        uint16_t origin, export_cc, manuf_cc, reporter;
        char exporter[48], importer[48], manuf_id[48];
        double qty, value_usd, customs_value;
        char unit[4];
        const char *desc; /* goods description (reference data) */
        char currency[4];
        char pol[6], pod[6];
        uint16_t transit[4];
        int n_transit;
        char pref[12], cert[48], mode[8], imo[16], container[12], bol[32], declarant[24];
        double net, gross;
        /* truth */
        const char *kind;      /* valid | duplicate | amendment | bad */
        const char *bad_code;  /* for bad */
        const char *bad_kind;  /* which kind of bad input */
        const char *lookalike; /* legitimate look-alike kind or NULL */
        uint32_t labels;       /* bit i = rule i of detect's registry (cf_detect_rule_index) */
} gen_rec;

/** Render r as a declaration JSON line (no newline) into out. */
void gen_rec_render(const gen_rec *r, cf_buf *out);
/** Render r's truth line into out; rules names the label bits. */
void gen_rec_truth(const gen_rec *r, const cf_rule_set *rules, cf_buf *out);

/* ---- labels by the rule definitions (stages/detect/RULES.md, default thresholds) ---- */
/** Set the labels of the rules that are pure functions of the record and reference data. */
uint32_t gen_static_labels(const gen_ref *ref, const gen_rec *r);
/** Does any measure in force cover r's HS code with an affected country on the route? */
bool gen_route_hits_measure(const gen_ref *ref, const gen_rec *r);
/** Is cc a route-watch-list origin, or hs chapter on the route watch list? */
bool gen_route_watched(const gen_ref *ref, uint16_t origin, const char *hs_code);
/** Bit of a rule name in labels (aborts on an unknown name: a programming error). */
uint32_t gen_label(const char *rule);

/* ---- bad input ---- */
/** Number of bad-input kinds. */
int gen_bad_kinds(void);
/** Turn the rendered valid line into bad kind k; returns the expected decoder code. */
const char *gen_bad_apply(int k, const gen_ref *ref, cf_buf *line, const char **kind_name);

/* ---- helpers ---- */
void gen_put_cc(char out[3], uint16_t cc);
uint16_t gen_cc(const char *s);

#endif

/* ---- generator state (gen.c, gen_fraud.c) ---- */

/* Scenario constants of the injected patterns. The labels of stateful rules
 * follow stages/detect/RULES.md at the default thresholds of
 * deploy/examples/rules.yaml; these are the scenario's, not the detector's. */
#define GEN_NEWEXP_MAX_VALUE   1000000.0 /* new_exporter_surge: cumulative USD */
#define GEN_NEWEXP_DAYS        90        /* new_exporter_surge: "new" horizon */
#define GEN_NEWEXP_WARMUP_DAYS 30 /* exporters first seen earlier in the stream are established */
#define GEN_CERT_MAX_DECL      3  /* certificate_reuse: declarations per certificate */
/* origin_volume_surge: declarations a surge needs in the short window before the rule
 * can see it (count_ratio 5 x min_baseline_count 2, on a pair with no regular trade) */
#define GEN_SURGE_MIN_DECL 10
#define GEN_DAY_MS         86400000LL
#define GEN_CAP_DAYS       366 /* longest capacity period of the registry format */

enum gen_camp_type {
        CAMP_REGISTERED, /* a registered exporter's regular flow (under capacity) */
        CAMP_CAPACITY,   /* a registered exporter ships beyond its capacity */
        CAMP_SURGE,      /* burst of (origin, HS6) volume */
        CAMP_NEWEXP,     /* new exporter shipping a lot quickly */
        CAMP_NEWEXP_LA,  /* look-alike: new exporter below the threshold */
        CAMP_CERT,       /* one certificate used by several exporters */
        CAMP_CERT_LA,    /* look-alike: one exporter, one certificate, few declarations */
};

typedef struct gen_campaign {
        int type;
        uint64_t next_due, interval; /* in messages */
        int remaining;               /* -1: forever */
        int step;
        int origin_idx, hs_idx, reg;
        char exporter[3][48];
        int n_exporters;
        char cert[48];
        double cum_value;
        int64_t first_ms;
} gen_campaign;

typedef struct gen_pending {
        uint64_t due;
        gen_rec rec;
} gen_pending;

/* What the detector knows of an exporter (for the definitional labels). */
typedef struct gen_exporter {
        uint64_t hash; /* XXH3 of the id; 0 = empty slot */
        int64_t first_ms;
        double cum_value;
} gen_exporter;

/* Per-certificate use of the injected certificates (legitimate ones are unique). */
typedef struct gen_cert_use {
        char cert[48];
        char first_exporter[48];
        char last_decl[48];
        int n_decl;
} gen_cert_use;

/* An inspection outcome waiting for its inspection time (gen_outcome.c). */
typedef struct gen_outcome {
        int64_t inspected_ms;
        uint64_t seq;
        int kind; /* 0 clean, 1 fraud, 2 critical */
        char *json;
        size_t json_len;
        char exporter[48];
} gen_outcome;

#define GEN_MAX_CAMPAIGNS 128
#define GEN_MAX_CERTS     1024
#define GEN_RECENT        256

struct cf_gen {
        cf_gen_opts o;
        gen_ref ref;
        gen_rng rng;
        uint64_t emitted;
        int64_t start_ms, clock_ms;
        int64_t first_event_ms; /* earliest event time of a labelled line so far */
        double ms_per_msg, msgs_per_day;
        uint16_t reporter;
        int reporter_idx;
        uint64_t decl_seq, cert_seq, container_seq, newexp_seq;
        gen_rec cur[8];
        int n_cur, i_cur;
        gen_pending *pend;
        int n_pend, cap_pend;
        gen_campaign camps[GEN_MAX_CAMPAIGNS];
        int n_camps;
        gen_rec recent[GEN_RECENT]; /* recent plain lines, for duplicate shipments */
        uint64_t n_recent;
        gen_cert_use certs[GEN_MAX_CERTS]; /* ring: outlives the campaigns whose lines dedup can
                                              still copy */
        int n_certs;
        uint64_t cert_slot;
        gen_exporter *exporters;
        size_t n_exporters, cap_exporters;
        double *reg_days; /* per registry row: quantity per day, GEN_CAP_DAYS ring */
        int64_t *reg_day; /* per registry row: newest day in its ring */
        uint16_t hubs[16];
        int n_hubs;
        char imos[256][16];
        int n_imos;
        /* inspection outcomes (o.outcome_rate > 0): their own random stream */
        gen_rng orng;
        gen_outcome *outs; /* min-heap by inspection time */
        size_t n_out, cap_out;
        uint64_t out_seq, n_outcome_kind[3];
        /* what was generated, for the report */
        cf_rule_set rules; /* detect's registry: the names of the label bits */
        uint64_t n_kind[4], n_label[CF_RULES_MAX], n_lookalike[16];
        uint64_t n_bad_kind[64];
};

/** A valid line was emitted (decl: its JSON): maybe sample it for an outcome. */
void gen_outcome_note(cf_gen *g, const gen_rec *r, const char *decl, size_t n);
/** Is this importer one of the bad actors (fraud outcomes without a rule's label)? */
bool gen_bad_actor(const char *importer);
/** Free the pending outcomes. */
void gen_outcomes_free(cf_gen *g);

/** Fill r as a legitimate line of a new declaration from origin index oi (-1: by weight). */
void gen_make_legit(cf_gen *g, gen_rec *r, int oi);
/** New declaration id into r (and line 1). */
void gen_new_decl_id(cf_gen *g, gen_rec *r);
/** Price r's line: quantity from a target value and the unit value at z sigmas. */
void gen_price(cf_gen *g, gen_rec *r, double value_usd, double z);
/** Pick a country index by trade weight, excluding cc (0: none). */
int gen_pick_country(cf_gen *g, uint16_t exclude);
/** Exporter id of origin index oi with Zipf rank into out. */
void gen_exporter_id(cf_gen *g, int oi, int rank, char *out, size_t n);
/** Start a new declaration as one of the fraud patterns (fills g->cur). */
void gen_fraud_declaration(cf_gen *g);
/** Start a new declaration as a legitimate look-alike (fills g->cur). */
void gen_lookalike_declaration(cf_gen *g);
/** Produce the next line of campaign c into r; returns 0. */
void gen_campaign_line(cf_gen *g, gen_campaign *c, gen_rec *r);
/** Add a campaign (dropped when GEN_MAX_CAMPAIGNS are active). */
gen_campaign *gen_campaign_add(cf_gen *g, int type, int remaining, double span_days);
/** Queue r (rendered now) for emission delay messages later. */
void gen_pending_add(cf_gen *g, uint64_t delay, const gen_rec *r);
/** Set r's HS code (hs_idx, national digits appended to reach prefix); re-checks transit. */
void gen_set_hs(cf_gen *g, gen_rec *r, int hs_idx, const char *prefix);
/** A legitimate line value in USD (log-normal around 20000). */
double gen_legit_value(cf_gen *g);
/** Legitimate z for a price (|z| <= 2). */
double gen_legit_z(cf_gen *g);
/** The state slot of exporter id (created empty). */
gen_exporter *gen_exporter_get(cf_gen *g, const char *id);
/** Registry row i's quantity over its rolling period ending at day, after adding q on
 * that day when add (otherwise a read that changes nothing). */
double gen_reg_window(cf_gen *g, int i, int64_t day, double q, bool add);
/** Lookalike kind index by name, for the report. */
int gen_lookalike_index(const char *name);
extern const char *const gen_lookalike_names[];
