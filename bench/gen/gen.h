/*
 * gen.h - the seeded declaration generator with ground truth (DESIGN §7).
 *
 * Deterministic: the same options and reference data give byte-identical
 * output. Used by `customsflow gen`, the demo, tests and benches.
 */
#ifndef CF_GEN_H
#define CF_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/core/buf.h"

/** Generator options (defaults: cf_gen_opts_default). */
typedef struct cf_gen_opts {
        uint64_t seed;
        uint64_t count;        /* messages to generate (0 = unbounded, for the demo) */
        double dup_rate;       /* share of exact re-deliveries (plus amendments) */
        double bad_rate;       /* share of bad-input messages */
        double fraud_rate;     /* share of injected fraud patterns */
        const char *reference; /* reference data folder (deploy/examples/reference) */
        int64_t start_ms;      /* event time of the first message */
        double per_day;        /* new messages per day of event time (default 5000) */
        double outcome_rate;   /* share of valid lines inspected (outcomes; 0 = none) */
} cf_gen_opts;

typedef struct cf_gen cf_gen;

/** Fill defaults (seed 1, count 1000, dup 0.02, bad 0.01, fraud 0.05, bundled reference). */
void cf_gen_opts_default(cf_gen_opts *o);
/** Create a generator; NULL with errstr (e.g. bad reference data). */
cf_gen *cf_gen_new(const cf_gen_opts *o, char *errstr, size_t errstr_size);
/**
 * Append the next message (no newline) to line, its Kafka key (exporter_id, or
 * empty for some bad input) to key, and its truth line (JSON, no newline) to
 * truth when truth is not NULL. Returns 0, or 1 when count is reached.
 */
int cf_gen_next(cf_gen *g, cf_buf *line, cf_buf *key, cf_buf *truth);
/**
 * With outcome_rate > 0: append the next inspection outcome (an outcome
 * message, schemas/outcome.schema.json, no newline) to out and its key
 * (exporter_id) to key when one is due (inspected by the current event time;
 * all: any pending one, at the end). Returns 1 when one was appended.
 * Outcomes never change the declarations (a random stream of their own).
 */
int cf_gen_next_outcome(cf_gen *g, cf_buf *out, cf_buf *key, int all);
/** Append a JSON summary of what was generated (kinds, labels, look-alikes, bad kinds). */
void cf_gen_report(const cf_gen *g, cf_buf *out);
/** Free the generator. */
void cf_gen_free(cf_gen *g);

#endif
