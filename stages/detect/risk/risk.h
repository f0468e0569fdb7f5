/*
 * risk.h - the risk model learnt online from inspection outcomes (issue 16,
 * the `risk_model` rule): logistic regression over hashed features, trained
 * with FTRL-Proximal (McMahan et al., "Ad Click Prediction: a View from the
 * Trenches", KDD 2013), plus smoothed running fraud rates per entity (target
 * encodings that only use outcomes already seen).
 *
 * Features are data (rules.yaml, `rules.risk_model.model.features`): each one
 * names a declaration field ("importer_id", "hs6", "unit_price") or a cross of
 * up to three ("hs6*origin_country"); see stages/detect/risk/README.md.
 *
 * Logic and state only: no I/O, no threads, and no allocation after
 * cf_risk_new (the weights and count tables are sized by the config: bounded
 * memory). Deterministic: the same outcomes in the same order give
 * bit-identical weights on every instance (FTRL's updates are a pure function
 * of the outcome sequence; no randomness, no clock).
 *
 * @locality: the thread that owns the model (one per worker chain); not
 * thread-safe, no lock: every worker holds its own copy and feeds it the same
 * outcomes (the outcomes topic is read whole by every worker, DESIGN §6).
 */
#ifndef CF_RISK_H
#define CF_RISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/core/batch.h"
#include "pipeline/core/buf.h"
#include "pipeline/core/config_map.h"

/** The model's settings (rules.yaml: rules.risk_model.model). */
typedef struct cf_risk_cfg {
        int64_t hash_bits;     /* 2^hash_bits weights (hashed feature space) */
        double alpha, beta;    /* FTRL per-coordinate learning rate alpha / (beta + sqrt(n)) */
        double l1, l2;         /* FTRL regularisation */
        cf_strlist features;   /* hashed one-hot features and crosses */
        cf_strlist encodings;  /* entities with a smoothed running fraud rate */
        int64_t encoding_bits; /* 2^encoding_bits (fraud, outcome) counters */
        double encoding_prior; /* pseudo-outcomes at the global rate (smoothing) */
        bool encoding_counts;  /* also a feature per (entity, log2 outcomes seen) */
        double log_buckets;    /* buckets per doubling of unit_price, value, mass */
} cf_risk_cfg;

/** The config map of cf_risk_cfg (docs, schema and parsing share it). */
extern const cf_config_map cf_risk_config_map[];

typedef struct cf_risk cf_risk;

/** One feature's share of a score: its name as an analyst reads it and w*x. */
typedef struct cf_risk_contrib {
        char name[192];
        double contribution;
} cf_risk_contrib;

/** A model from cfg (copied); NULL + errstr on a bad feature list or size. */
cf_risk *cf_risk_new(const cf_risk_cfg *cfg, char *errstr, size_t errstr_size);
/** Free the model. */
void cf_risk_free(cf_risk *m);
/** Forget everything learnt (same settings). */
void cf_risk_reset(cf_risk *m);
/** Probability of fraud for d with the weights learnt so far (read-only on the weights). */
double cf_risk_score(cf_risk *m, const cf_decl *d);
/** After cf_risk_score(m, d): the k features that raised the score most (d still valid). */
int cf_risk_top(cf_risk *m, const cf_decl *d, cf_risk_contrib *out, int k);
/** Learn one outcome: d as it was scored, fraud = fraud or critical. Returns the
 * probability the model gave d just before (an honest, progressive validation). */
double cf_risk_learn(cf_risk *m, const cf_decl *d, bool fraud);
/** Outcomes learnt from so far. */
uint64_t cf_risk_outcomes(const cf_risk *m);
/** Of those, frauds. */
uint64_t cf_risk_frauds(const cf_risk *m);
/** Weight slots in use (non-zero squared-gradient sum). */
uint64_t cf_risk_used(const cf_risk *m);
/** Bytes the model holds (weights and counters). */
size_t cf_risk_bytes(const cf_risk *m);
/** A hash of the settings that shape the learnt state (a snapshot must match it). */
uint64_t cf_risk_fingerprint(const cf_risk *m);
/** XXH64 of the learnt state (weights, counters): equal models have equal checksums. */
uint64_t cf_risk_checksum(const cf_risk *m);
/** Append the learnt state (versioned, little-endian, checksummed; sparse). */
void cf_risk_snapshot(const cf_risk *m, cf_buf *out);
/**
 * Replace the learnt state from a snapshot. 1 when the snapshot was taken
 * with other settings (features, sizes): the model is then reset and must
 * re-learn from the outcomes; -1 + errstr when the bytes are corrupt.
 */
int cf_risk_restore(cf_risk *m, const void *data, size_t len, char *errstr, size_t errstr_size);

#endif
