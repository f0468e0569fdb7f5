/*
 * rule_risk.c - risk_model (RULES.md): the probability of fraud from the
 * model learnt online from inspection outcomes (stages/detect/risk) reaches
 * a threshold, once the model has learnt from enough outcomes. Evidence: the
 * probability, the outcomes learnt from and the features that raised the
 * score most, by name and contribution. It scores only: a record is never
 * blocked or dropped by it.
 *
 * The model is the rule's global state: the outcomes input, read whole by
 * every worker, trains each worker's copy identically (detect_global.c).
 * Model settings (the `model:` section) apply at start: on SIGHUP the rule's
 * weight, threshold and minimum apply at once, while changed model settings
 * are reported and wait for a restart (the model then re-learns from the
 * outcomes topic, whose snapshot no longer fits).
 *
 * @locality: the worker thread that owns the chain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/log.h"
#include "stages/detect/detect_int.h"
#include "stages/detect/risk/risk.h"

#define MAX_TOP 10

typedef struct risk_cfg {
        cf_rule_common c;
        double threshold;
        int64_t min_outcomes, top_features;
        const cf_node *model; /* borrowed: read by risk_config while the document lives */
} risk_cfg;

static const cf_config_map risk_map[] = {
    CF_RULE_COMMON_KEYS("50"),
    {CF_CFG_DOUBLE, "threshold", "0.9", offsetof(risk_cfg, threshold),
     "fires when the predicted probability of fraud reaches this", 0, 1},
    {CF_CFG_INT, "min_outcomes", "1000", offsetof(risk_cfg, min_outcomes),
     "outcomes the model must have learnt from before the rule may fire", 0, 1e12},
    {CF_CFG_INT, "top_features", "5", offsetof(risk_cfg, top_features),
     "features listed in the evidence (those that raised the score most)", 1, MAX_TOP},
    {CF_CFG_NODE, "model", NULL, offsetof(risk_cfg, model),
     "the model's settings; they apply at start (stages/detect/risk/README.md)", 0, 0, false,
     cf_risk_config_map},
    {0}};

/* The rule's global state. */
typedef struct risk_state {
        cf_risk *m;
        uint64_t fingerprint;    /* of the settings the model was built with */
        uint64_t checksum_at;    /* outcomes learnt when checksum was computed */
        uint64_t checksum;       /* of the learnt state, for /metrics */
        bool pending;            /* changed settings wait for a restart */
        uint64_t relearn_needed; /* restores that found a snapshot of other settings */
        /* each outcome scored just before it is learnt, at the rule's threshold:
         * [predicted fraud][found fraud] (how good the model is on what it has
         * not seen yet, and whether it improves) */
        uint64_t confusion[2][2];
        double psum[2]; /* sum of those predictions, by what was found (clean, fraud) */
        /* its metric series, looked up at the first collect (risk_metrics) */
        cf_series *m_outcomes, *m_frauds, *m_bytes, *m_info, *m_prog[2][2], *m_psum[2];
        cf_metric *f_info; /* labelled by checksum: one series, replaced as it changes */
        bool info_pending; /* the settings_pending label of m_info */
} risk_state;

static int risk_config(void **g, const void *cv, char *errstr, size_t errstr_size)
{
        const risk_cfg *cfg = cv;
        cf_risk_cfg rc = {0};
        if (cf_config_map_apply(cf_risk_config_map, "model", cfg->model, NULL, &rc, errstr,
                                errstr_size)) {
                cf_config_map_free(cf_risk_config_map, &rc);
                return -1;
        }
        cf_risk *m = cf_risk_new(&rc, errstr, errstr_size);
        cf_config_map_free(cf_risk_config_map, &rc);
        if (!m) return -1;
        risk_state *s = *g;
        if (!s) {
                s = calloc(1, sizeof(*s));
                s->m = m;
                s->fingerprint = cf_risk_fingerprint(m);
                s->checksum_at = UINT64_MAX;
                *g = s;
                return 0;
        }
        /* reload: the learnt model stays; other settings need a re-learn */
        s->pending = cf_risk_fingerprint(m) != s->fingerprint;
        if (s->pending)
                cf_log(CF_LOG_WARN, "detect",
                       "rules.risk_model.model changed: the model keeps its settings until a "
                       "restart, then re-learns from the outcomes");
        cf_risk_free(m);
        return 0;
}

static void risk_learn(void *g, const cf_record *r, const void *cv)
{
        risk_state *s = g;
        const risk_cfg *cfg = cv;
        uint8_t k = r->outcome.kind;
        bool fraud = k == CF_OUTCOME_FRAUD || k == CF_OUTCOME_CRITICAL;
        double p = cf_risk_learn(s->m, &r->decl, fraud);
        s->confusion[p >= cfg->threshold][fraud]++;
        s->psum[fraud] += p;
}

/* "the model (12,345 outcomes learnt) puts the probability of fraud at 0.94
 * (threshold 0.9), mostly from importer_id*hs6=X*Y (+1.23), ..." */
static void risk_explain(cf_detect *x, const risk_cfg *cfg, double p, uint64_t n,
                         const cf_risk_contrib *top, int k)
{
        cf_buf *e = cf_ex_begin(x);
        cf_buf_printf(e,
                      "the risk model learnt from %s inspection outcomes puts the probability "
                      "of fraud at %s (threshold %s)",
                      CF_EX_NUM((double)n), CF_EX_NUM(p), CF_EX_NUM(cfg->threshold));
        for (int i = 0; i < k && i < 3; i++)
                cf_buf_printf(e, "%s%s (+%s)", i ? ", " : "; mostly from ", top[i].name,
                              CF_EX_NUM(top[i].contribution));
}

static void risk_check(cf_detect *x, cf_detect_part *ps, cf_batch *b, cf_record *r, const void *cv)
{
        const risk_cfg *cfg = cv;
        risk_state *s = x->global[x->cur];
        (void)ps;
        if (!s) return;
        uint64_t n = cf_risk_outcomes(s->m);
        if (n < (uint64_t)cfg->min_outcomes) return;
        double p = cf_risk_score(s->m, &r->decl);
        if (p < cfg->threshold) return;
        cf_risk_contrib top[MAX_TOP];
        int k = cf_risk_top(s->m, &r->decl, top, (int)cfg->top_features);
        cf_buf *o = cf_ev_begin(x);
        cf_ev_num(o, "probability", p);
        cf_ev_num(o, "threshold", cfg->threshold);
        cf_ev_num(o, "outcomes_learnt", (double)n);
        cf_buf_puts(o, ",\"top_features\":[");
        for (int i = 0; i < k; i++) {
                cf_buf_puts(o, i ? ",{\"feature\":" : "{\"feature\":");
                cf_json_str(o, top[i].name, strlen(top[i].name));
                cf_buf_puts(o, ",\"contribution\":");
                cf_json_num(o, top[i].contribution);
                cf_buf_putc(o, '}');
        }
        cf_buf_putc(o, ']');
        risk_explain(x, cfg, p, n, top, k);
        cf_detect_fire(x, b, r, &cf_rule_risk_model, cfg);
}

static void risk_snapshot(const void *g, cf_buf *out)
{
        const risk_state *s = g;
        cf_risk_snapshot(s->m, out);
}

static int risk_restore(void *g, const void *data, size_t len, char *errstr, size_t errstr_size)
{
        risk_state *s = g;
        int rc = cf_risk_restore(s->m, data, len, errstr, errstr_size);
        if (rc > 0) s->relearn_needed++;
        s->checksum_at = UINT64_MAX;
        return rc;
}

static void risk_declare(risk_state *s, cf_metrics *reg)
{
        s->m_outcomes = cf_metric_series(
            cf_metrics_counter_replicated(reg, "customsflow_risk_model_outcomes_total",
                                          "outcomes the risk model learnt from", NULL));
        s->m_frauds = cf_metric_series(
            cf_metrics_counter_replicated(reg, "customsflow_risk_model_frauds_total",
                                          "of those, frauds (fraud or critical)", NULL));
        s->m_bytes = cf_metric_series(cf_metrics_gauge(
            reg, "customsflow_risk_model_bytes",
            "memory of the model (fixed by hash_bits and encoding_bits)", NULL, CF_MERGE_MAX));
        s->f_info = cf_metrics_gauge(reg, "customsflow_risk_model_info",
                                     "the learnt state's checksum (equal on every worker that "
                                     "learnt the same outcomes) and whether changed settings "
                                     "wait for a restart",
                                     "checksum,settings_pending", CF_MERGE_MAX);
        cf_metric *f = cf_metrics_counter_replicated(
            reg, "customsflow_risk_model_progressive_total",
            "outcomes by what the model predicted (at the rule's threshold) just before learning "
            "each, and what the inspection found",
            "predicted,found");
        static const char *const w[2] = {"clean", "fraud"};
        for (int p = 0; p < 2; p++)
                for (int k = 0; k < 2; k++)
                        s->m_prog[p][k] = cf_metric_series(f, w[p], w[k]);
        /* a gauge: a float running sum (as a counter it would need _total, and ours
         * count integers); its change over the progressive count's is a mean */
        f = cf_metrics_gauge(reg, "customsflow_risk_model_progressive_probability",
                             "sum of those predictions by what was found (its change divided by "
                             "the change of the count of the same outcomes: the mean probability "
                             "the model gave frauds and clean ones before learning them)",
                             "found", CF_MERGE_MAX);
        for (int k = 0; k < 2; k++)
                s->m_psum[k] = cf_metric_series(f, w[k]);
}

static void risk_metrics(void *g, cf_metrics *reg)
{
        risk_state *s = g;
        if (!s->m_outcomes) risk_declare(s, reg);
        uint64_t n = cf_risk_outcomes(s->m);
        /* a 14 MB digest: only when something was learnt since the last one; the
         * info series follows its labels */
        if (s->checksum_at != n || !s->m_info || s->info_pending != s->pending) {
                s->checksum = cf_risk_checksum(s->m);
                s->checksum_at = n;
                char sum[24];
                snprintf(sum, sizeof sum, "%016llx", (unsigned long long)s->checksum);
                if (s->m_info) cf_metric_series_remove(s->m_info);
                s->m_info = cf_metric_series(s->f_info, sum, s->pending ? "true" : "false");
                s->info_pending = s->pending;
        }
        cf_counter_set(s->m_outcomes, n);
        cf_counter_set(s->m_frauds, cf_risk_frauds(s->m));
        cf_gauge_set(s->m_bytes, (double)cf_risk_bytes(s->m));
        cf_gauge_set(s->m_info, 1);
        for (int p = 0; p < 2; p++)
                for (int k = 0; k < 2; k++)
                        cf_counter_set(s->m_prog[p][k], s->confusion[p][k]);
        for (int k = 0; k < 2; k++)
                cf_gauge_set(s->m_psum[k], s->psum[k]);
}

static void risk_free(void *g)
{
        risk_state *s = g;
        cf_risk_free(s->m);
        free(s);
}

const cf_rule cf_rule_risk_model = {
    .name = "risk_model",
    .description = "the probability of fraud from the model learnt from inspection outcomes "
                   "reaches a threshold (scores only, never blocks)",
    .config_map = risk_map,
    .cfg_size = sizeof(risk_cfg),
    .check = risk_check,
    .global_config = risk_config,
    .learn = risk_learn,
    .global_snapshot = risk_snapshot,
    .global_restore = risk_restore,
    .global_metrics = risk_metrics,
    .global_free = risk_free,
};
