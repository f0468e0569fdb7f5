/*
 * risk_model.c - FTRL-Proximal logistic regression over hashed features plus
 * target encodings (see risk.h).
 *
 * Per weight slot i FTRL keeps z_i and n_i (sum of squared gradients); the
 * weight is w_i = 0 when |z_i| <= l1, else
 *   w_i = -(z_i - sign(z_i) l1) / ((beta + sqrt(n_i)) / alpha + l2).
 * w is stored too (recomputed for the slots an outcome touches), so scoring
 * reads one float per feature and no square root.
 *
 * Target encoding of an entity e (an importer, an (HS6, origin) pair...):
 * rate_e = (fraud_e + m p) / (n_e + m), p the global fraud rate so far and m
 * the prior's weight; the feature's value is logit(rate_e) - logit(p), so an
 * entity never seen contributes 0. Counts are only updated after the outcome
 * was learnt from: a record never sees its own label.
 *
 * @locality: the thread that owns the model.
 */
#include <math.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages/detect/risk/risk_int.h"

#define OFF(f) offsetof(cf_risk_cfg, f)

/* Defaults chosen on the KCS training split by time-ordered validation inside
 * it (bench/kcs/tune.py, bench/RESULTS.md), never on the validation split. */
const cf_config_map cf_risk_config_map[] = {
    {CF_CFG_INT, "hash_bits", "20", OFF(hash_bits),
     "2^hash_bits weights (12 bytes each): the hashed feature space", 8, 28},
    {CF_CFG_DOUBLE, "alpha", "0.2", OFF(alpha), "FTRL learning rate alpha", 1e-6, 100},
    {CF_CFG_DOUBLE, "beta", "0.1", OFF(beta), "FTRL learning rate beta", 0, 1000},
    {CF_CFG_DOUBLE, "l1", "0", OFF(l1), "FTRL L1 regularisation (sparsity)", 0, 1000},
    {CF_CFG_DOUBLE, "l2", "0", OFF(l2), "FTRL L2 regularisation", 0, 1000},
    {CF_CFG_STRLIST, "features",
     "hs6*origin_country,importer_id*hs6,export_country*origin_country,unit_price,value,mass,"
     "hs4*unit_price,hs2*unit_price,declarant_id*importer_id,customs_office*hs6,"
     "importer_id*origin_country,tax_type*hs6,declarant_id*hs6,origin_indicator*origin_country,"
     "hs6*tax_rate,importer_id*tax_type,declarant_id*customs_office,hs6*value,"
     "importer_id*export_country,hs4*origin_country,payment_type*import_type",
     OFF(features),
     "hashed one-hot features: a field or a cross of up to 3 ('hs6*origin_country'); "
     "fields in stages/detect/risk/README.md"},
    {CF_CFG_STRLIST, "encodings",
     "importer_id,declarant_id,exporter_id,hs6,hs6*origin_country,importer_id*hs6", OFF(encodings),
     "entities with a smoothed running fraud rate (target encoding)"},
    {CF_CFG_INT, "encoding_bits", "18", OFF(encoding_bits),
     "2^encoding_bits (fraud, outcome) counters for the encodings (8 bytes each)", 8, 28},
    {CF_CFG_DOUBLE, "encoding_prior", "0.5", OFF(encoding_prior),
     "weight of the global fraud rate in an entity's rate, in outcomes", 0, 1e6},
    {CF_CFG_BOOL, "encoding_counts", "false", OFF(encoding_counts),
     "also a one-hot feature per (entity kind, log2 of the outcomes seen of it)"},
    {CF_CFG_DOUBLE, "log_buckets", "4", OFF(log_buckets),
     "buckets per doubling of unit_price, value and mass", 0.1, 64},
    {0},
};

/* The settings that shape the learnt state: a snapshot must have the same. */
static uint64_t fingerprint(const cf_risk *m)
{
        uint64_t h = cf_risk_mix(0x7269736b31ULL ^ (uint64_t)m->cfg.hash_bits);
        h = cf_risk_mix(h ^ (uint64_t)m->cfg.encoding_bits);
        h = cf_risk_mix(h ^ (uint64_t)m->cfg.encoding_counts);
        double nums[6] = {m->cfg.alpha, m->cfg.beta,           m->cfg.l1,
                          m->cfg.l2,    m->cfg.encoding_prior, m->cfg.log_buckets};
        h = cf_risk_mix(h ^ XXH3_64bits(nums, sizeof nums));
        for (uint32_t i = 0; i < m->n_feats; i++)
                h = cf_risk_mix(h ^ m->feats[i].seed);
        h = cf_risk_mix(h ^ 0x2f);
        for (uint32_t i = 0; i < m->n_enc; i++)
                h = cf_risk_mix(h ^ m->enc[i].seed);
        return h;
}

cf_risk *cf_risk_new(const cf_risk_cfg *cfg, char *errstr, size_t errstr_size)
{
        cf_risk *m = calloc(1, sizeof(*m));
        if (!m) goto nomem;
        m->cfg = *cfg;
        m->cfg.features = (cf_strlist){0};
        m->cfg.encodings = (cf_strlist){0};
        if (cf_risk_specs_init(m, cfg, errstr, errstr_size)) {
                cf_risk_free(m);
                return NULL;
        }
        size_t slots = (size_t)1 << cfg->hash_bits, te = (size_t)1 << cfg->encoding_bits;
        m->mask = (uint32_t)(slots - 1);
        m->te_mask = (uint32_t)(te - 1);
        m->w = calloc(slots, sizeof(float));
        m->z = calloc(slots, sizeof(float));
        m->n = calloc(slots, sizeof(float));
        m->te = calloc(te, sizeof(risk_count));
        if (!m->w || !m->z || !m->n || !m->te) goto nomem;
        m->fingerprint = fingerprint(m);
        return m;
nomem:
        cf_risk_free(m);
        snprintf(errstr, errstr_size, "risk model: out of memory for 2^%lld weights",
                 (long long)cfg->hash_bits);
        return NULL;
}

void cf_risk_free(cf_risk *m)
{
        if (!m) return;
        cf_risk_specs_free(m);
        free(m->w);
        free(m->z);
        free(m->n);
        free(m->te);
        free(m);
}

void cf_risk_reset(cf_risk *m)
{
        size_t slots = (size_t)m->mask + 1;
        memset(m->w, 0, slots * sizeof(float));
        memset(m->z, 0, slots * sizeof(float));
        memset(m->n, 0, slots * sizeof(float));
        memset(m->te, 0, ((size_t)m->te_mask + 1) * sizeof(risk_count));
        m->outcomes = m->frauds = 0;
}

static double logit(double p)
{
        return log(p / (1 - p));
}

/* The global fraud rate so far, smoothed towards 1/2 (defined from the start). */
static double prior(const cf_risk *m)
{
        double p = ((double)m->frauds + 1) / ((double)m->outcomes + 2);
        /* 1.0 in double once frauds pass 2^53 (a restored count can be 2^64 - 1): its
         * logit, subtracted from every encoding's, must stay finite */
        return p > 1 - DBL_EPSILON ? 1 - DBL_EPSILON : p;
}

static void add(cf_risk *m, uint64_t h, float x, int kind, uint32_t spec)
{
        risk_feat *f = &m->cur[m->n_cur++];
        f->idx = (uint32_t)(h ^ h >> 32) & m->mask;
        f->x = x;
        f->kind = (uint8_t)kind;
        f->spec = (uint8_t)spec;
        f->h = 0;
}

/* The active features of d into m->cur (encodings read the counts so far).
 * Scoring is bound by cache misses on the weights and the counters (measured:
 * ~80 % of build()'s time was the counter load), so every slot is prefetched
 * as soon as its hash is known and read only after all hashes are computed. */
static void build(cf_risk *m, const cf_decl *d)
{
        uint32_t slot[RISK_MAX_SPECS];
        m->n_cur = 0;
        cf_risk_fields_eval(m, d);
        add(m, cf_risk_mix(0x62696173ULL), 1, FEAT_BIAS, 0);
        for (uint32_t i = 0; i < m->n_enc; i++) {
                uint64_t h = cf_risk_spec_hash(m, &m->enc[i], d);
                slot[i] = (uint32_t)(h >> 20) & m->te_mask;
                __builtin_prefetch(&m->te[slot[i]]);
        }
        for (uint32_t i = 0; i < m->n_feats; i++) {
                add(m, cf_risk_spec_hash(m, &m->feats[i], d), 1, FEAT_ONEHOT, i);
                __builtin_prefetch(&m->w[m->cur[m->n_cur - 1].idx]);
        }
        double p = prior(m), lp = logit(p), k = m->cfg.encoding_prior;
        for (uint32_t i = 0; i < m->n_enc; i++) {
                const risk_count *c = &m->te[slot[i]];
                double rate = (c->fraud + k * p) / (c->n + k);
                if (rate < 1e-4) rate = 1e-4;
                if (rate > 1 - 1e-4) rate = 1 - 1e-4;
                /* one weight per encoding: its slot comes from the spec alone */
                add(m, cf_risk_mix(m->enc[i].seed ^ 0x72617465ULL), (float)(logit(rate) - lp),
                    FEAT_RATE, i);
                m->cur[m->n_cur - 1].h = slot[i];
                if (m->cfg.encoding_counts) {
                        uint32_t b = 0;
                        while (b < 31 && (1u << b) <= c->n)
                                b++;
                        add(m, cf_risk_mix(m->enc[i].seed ^ (0x636e74ULL << 8) ^ b), 1,
                            FEAT_RATE_COUNT, i);
                        m->cur[m->n_cur - 1].h = slot[i];
                }
        }
}

static double predict(const cf_risk *m)
{
        double s = 0;
        for (uint32_t i = 0; i < m->n_cur; i++)
                s += (double)m->w[m->cur[i].idx] * m->cur[i].x;
        if (s > 35) s = 35;
        if (s < -35) s = -35;
        return 1 / (1 + exp(-s));
}

double cf_risk_score(cf_risk *m, const cf_decl *d)
{
        build(m, d);
        return predict(m);
}

/* v as a finite float: a z or n at the edge of float's range (restored from a state, or
 * after very many outcomes) must not become infinite, then NaN in a prediction, and a
 * state that no snapshot can hold. */
static float finite_f(double v)
{
        return v > FLT_MAX ? FLT_MAX : v < -FLT_MAX ? -FLT_MAX : (float)v;
}

static float weight(const cf_risk *m, double z, double n)
{
        double l1 = m->cfg.l1;
        if (fabs(z) <= l1) return 0;
        double sign = z < 0 ? -1 : 1;
        return finite_f(-(z - sign * l1) / ((m->cfg.beta + sqrt(n)) / m->cfg.alpha + m->cfg.l2));
}

double cf_risk_learn(cf_risk *m, const cf_decl *d, bool fraud)
{
        build(m, d);
        double p = predict(m), g = p - (fraud ? 1.0 : 0.0);
        for (uint32_t i = 0; i < m->n_cur; i++) {
                uint32_t j = m->cur[i].idx;
                double gi = g * m->cur[i].x, n = m->n[j];
                double sigma = (sqrt(n + gi * gi) - sqrt(n)) / m->cfg.alpha;
                double z = (double)m->z[j] + gi - sigma * m->w[j];
                n += gi * gi;
                m->z[j] = finite_f(z);
                m->n[j] = finite_f(n);
                m->w[j] = weight(m, m->z[j], m->n[j]);
        }
        /* the counts last: this outcome was not part of its own encoding */
        for (uint32_t i = 0; i < m->n_cur; i++) {
                if (m->cur[i].kind != FEAT_RATE) continue;
                risk_count *c = &m->te[m->cur[i].h];
                if (c->n == UINT32_MAX) continue; /* saturated: the rate is known well */
                c->n++;
                c->fraud += fraud;
        }
        /* saturated (a restored count can be at the top): wrapping would leave more frauds
         * than outcomes, a state its own snapshot is refused for */
        if (m->outcomes != UINT64_MAX) {
                m->outcomes++;
                m->frauds += fraud;
        }
        return p;
}

float cf_risk_weight_of(const cf_risk *m, double z, double n)
{
        return weight(m, z, n);
}

int cf_risk_top(cf_risk *m, const cf_decl *d, cf_risk_contrib *out, int k)
{
        uint8_t taken[RISK_MAX_FEATS] = {0};
        int got = 0;
        for (; got < k; got++) {
                int best = -1;
                double bc = 0;
                for (uint32_t i = 0; i < m->n_cur; i++) {
                        if (taken[i] || m->cur[i].kind == FEAT_BIAS) continue;
                        double c = (double)m->w[m->cur[i].idx] * m->cur[i].x;
                        if (c > bc) best = (int)i, bc = c;
                }
                if (best < 0) break; /* only features that raised the score */
                taken[best] = 1;
                const risk_feat *f = &m->cur[best];
                out[got].contribution = bc;
                if (f->kind == FEAT_ONEHOT) {
                        cf_risk_spec_render(m, &m->feats[f->spec], d, out[got].name,
                                            sizeof out[got].name);
                        continue;
                }
                char v[160];
                cf_risk_spec_render(m, &m->enc[f->spec], d, v, sizeof v);
                const risk_count *c = &m->te[f->h];
                if (f->kind == FEAT_RATE)
                        snprintf(out[got].name, sizeof out[got].name, "fraud rate of %s: %u of %u",
                                 v, c->fraud, c->n);
                else
                        snprintf(out[got].name, sizeof out[got].name, "outcomes seen of %s: %u", v,
                                 c->n);
        }
        return got;
}

uint64_t cf_risk_fingerprint(const cf_risk *m)
{
        return m->fingerprint;
}

uint64_t cf_risk_outcomes(const cf_risk *m)
{
        return m->outcomes;
}

uint64_t cf_risk_frauds(const cf_risk *m)
{
        return m->frauds;
}

uint64_t cf_risk_used(const cf_risk *m)
{
        uint64_t u = 0;
        for (uint32_t i = 0; i <= m->mask; i++)
                u += m->n[i] != 0;
        return u;
}

size_t cf_risk_bytes(const cf_risk *m)
{
        return ((size_t)m->mask + 1) * 3 * sizeof(float) +
               ((size_t)m->te_mask + 1) * sizeof(risk_count);
}
