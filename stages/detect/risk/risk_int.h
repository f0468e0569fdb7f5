/*
 * risk_int.h - what the risk model's files share (risk_features.c: fields and
 * feature specs; risk_model.c: FTRL and target encodings; risk_state.c:
 * snapshot and restore). Not a public API.
 *
 * @locality: the thread that owns the model.
 */
#ifndef CF_RISK_INT_H
#define CF_RISK_INT_H

#include "stages/detect/risk/risk.h"

#define RISK_MAX_SPECS 40 /* features or encodings, each */
#define RISK_MAX_CROSS 3  /* fields in one cross */
/* per record: bias + features + (encoding + its count) per encoding */
#define RISK_MAX_FEATS (1 + RISK_MAX_SPECS * 3)

/** A declaration field the model can read (risk_features.c: the table). */
typedef enum risk_field {
        RF_IMPORTER,
        RF_EXPORTER,
        RF_DECLARANT,
        RF_MANUFACTURER,
        RF_OFFICE,
        RF_COURIER,
        RF_TRANSPORT,
        RF_TAX_TYPE,
        RF_TAX_RATE,
        RF_ORIGIN_INDICATOR,
        RF_PROCESS_TYPE,
        RF_IMPORT_TYPE,
        RF_IMPORT_USE,
        RF_PAYMENT_TYPE,
        RF_ORIGIN,
        RF_EXPORT,
        RF_REPORTER,
        RF_MANUFACTURER_CC,
        RF_POL,
        RF_HS6,
        RF_HS4,
        RF_HS2,
        RF_HS_CODE,
        RF_UNIT,
        RF_CURRENCY,
        RF_PREFERENCE,
        RF_ORIGIN_DIFFERS,
        RF_UNIT_PRICE,
        RF_VALUE,
        RF_MASS,
        RF_ATTR,
        RF_COUNT
} risk_field;

/** One feature spec: a field or a cross of fields, as written in the config. */
typedef struct risk_spec {
        char *name;                 /* "hs6*origin_country" */
        uint8_t nf;                 /* fields crossed, 1..RISK_MAX_CROSS */
        uint8_t f[RISK_MAX_CROSS];  /* risk_field */
        char *attr[RISK_MAX_CROSS]; /* attribute name for RF_ATTR ("attributes.<name>") */
        uint64_t seed;              /* hash of name: separates specs in the hash space */
} risk_spec;

enum { FEAT_BIAS, FEAT_ONEHOT, FEAT_RATE, FEAT_RATE_COUNT };

/** One active feature of the current record. */
typedef struct risk_feat {
        uint32_t idx; /* weight slot */
        float x;      /* value (1 for one-hot) */
        uint8_t kind; /* FEAT_* */
        uint8_t spec; /* index into features or encodings */
        uint32_t h;   /* FEAT_RATE, FEAT_RATE_COUNT: the entity's counter slot */
} risk_feat;

/** Fraud and outcome counts of one entity (target encoding). */
typedef struct risk_count {
        uint32_t fraud, n;
} risk_count;

struct cf_risk {
        cf_risk_cfg cfg;  /* numbers copied; lists owned by specs */
        uint32_t mask;    /* 2^hash_bits - 1 */
        float *w, *z, *n; /* FTRL: weight (derived), z and squared-gradient sums */
        risk_count *te;
        uint32_t te_mask;
        risk_spec feats[RISK_MAX_SPECS], enc[RISK_MAX_SPECS];
        uint32_t n_feats, n_enc;
        uint64_t fields_used; /* bit per risk_field some spec reads */
        uint64_t fingerprint; /* of the settings: a snapshot must match it */
        uint64_t outcomes, frauds;
        /* scratch of the current record (no allocation per record) */
        uint64_t fval[RF_COUNT]; /* value hash per field (0: not computed) */
        risk_feat cur[RISK_MAX_FEATS];
        uint32_t n_cur;
};

/** Parse the feature and encoding lists of cfg into m; -1 + errstr. */
int cf_risk_specs_init(cf_risk *m, const cf_risk_cfg *cfg, char *errstr, size_t errstr_size);
/** Free the specs' strings. */
void cf_risk_specs_free(cf_risk *m);
/** Value hash of every field a spec reads, into m->fval. */
void cf_risk_fields_eval(cf_risk *m, const cf_decl *d);
/** Hash of spec s over m->fval (after cf_risk_fields_eval). */
uint64_t cf_risk_spec_hash(const cf_risk *m, const risk_spec *s, const cf_decl *d);
/** Write "name=value" of spec s for d into out (analyst-readable). */
void cf_risk_spec_render(const cf_risk *m, const risk_spec *s, const cf_decl *d, char *out,
                         size_t n);
/** FTRL's weight of a slot from its z and n (risk_model.c). */
float cf_risk_weight_of(const cf_risk *m, double z, double n);
/** A 64-bit mixer (murmur3's finaliser): cheap, well spread. */
static inline uint64_t cf_risk_mix(uint64_t h)
{
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 33;
        return h;
}

#endif
