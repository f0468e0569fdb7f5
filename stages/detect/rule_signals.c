/*
 * rule_signals.c - duplicate_shipment and conflicting_resubmission: the
 * dedup stage detects them (DESIGN §5.2) and hands a signal with its
 * evidence and explanation; here they become reasons with the weights of
 * rules.yaml.
 */
#include <string.h>

#include "stages/detect/detect_int.h"

typedef struct sig_cfg {
        cf_rule_common c;
} sig_cfg;

static const cf_config_map sig_map[] = {CF_RULE_COMMON_KEYS("50"), {0}};

static void signal_fire(cf_detect *x, cf_batch *b, cf_record *r, const cf_rule *rule,
                        const void *cfg, int bit)
{
        const char *ev = r->sig_evidence[bit];
        cf_buf *o = cf_ev_begin(x);
        /* the dedup evidence is an object: splice its members in */
        if (ev && ev[0] == '{' && ev[1] != '}') cf_buf_puts(o, ev + 1), o->len--;
        /* and its sentence, written by dedup from the same numbers (RULES.md) */
        if (r->sig_explanation[bit]) cf_buf_puts(cf_ex_begin(x), r->sig_explanation[bit]);
        cf_detect_fire(x, b, r, rule, cfg);
}

static void ds_check(cf_detect *x, cf_detect_part *ps, cf_batch *b, cf_record *r, const void *cv)
{
        if (r->signals & CF_SIG_DUPLICATE_SHIPMENT)
                signal_fire(x, b, r, &cf_rule_duplicate_shipment, cv, 2);
}

static void cr_check(cf_detect *x, cf_detect_part *ps, cf_batch *b, cf_record *r, const void *cv)
{
        if (r->signals & CF_SIG_CONFLICTING_RESUBMISSION)
                signal_fire(x, b, r, &cf_rule_conflicting_resubmission, cv, 1);
}

const cf_rule cf_rule_duplicate_shipment = {
    .name = "duplicate_shipment",
    .description = "the same shipment declared under another declaration_id (dedup signal)",
    .config_map = sig_map,
    .cfg_size = sizeof(sig_cfg),
    .check = ds_check,
};

const cf_rule cf_rule_conflicting_resubmission = {
    .name = "conflicting_resubmission",
    .description = "same declaration line re-sent with different content and no higher "
                   "amendment (dedup signal)",
    .config_map = sig_map,
    .cfg_size = sizeof(sig_cfg),
    .check = cr_check,
};
