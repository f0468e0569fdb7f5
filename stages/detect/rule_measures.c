/*
 * rule_measures.c - trade_remedy_evasion (RULES.md): goods under a
 * trade-remedy measure against country A, declared with another origin,
 * whose route (export country, port of loading, transit, manufacturer
 * country) passes through A.
 */
#include <math.h>
#include <string.h>

#include "stages/detect/detect_int.h"

typedef struct tre_cfg {
        cf_rule_common c;
        bool check_manufacturer;
} tre_cfg;

static const cf_config_map tre_map[] = {CF_RULE_COMMON_KEYS("70"),
                                        {CF_CFG_BOOL, "manufacturer_country", "true",
                                         offsetof(tre_cfg, check_manufacturer),
                                         "count the manufacturer country as part of the route"},
                                        {0}};

/* A route field, and how the explanation says the affected country is on it. */
typedef struct route_field {
        const char *field, *words;
} route_field;

static const route_field route_export = {"export_country", "the export country is"},
                         route_pol = {"port_of_loading", "the port of loading is in"},
                         route_transit = {"transit_countries", "the goods transit"},
                         route_manufacturer = {"manufacturer_country", "the manufacturer is in"};

/* Which route field of r names country a (NULL: none). */
static const route_field *route_match(const cf_decl *d, uint16_t a, bool manufacturer)
{
        if (d->export_country == a) return &route_export;
        if ((d->present & CF_HAS_POL) && d->port_of_loading.n >= 2 &&
            CF_CC(d->port_of_loading.p[0], d->port_of_loading.p[1]) == a)
                return &route_pol;
        for (uint8_t i = 0; i < d->n_transit; i++)
                if (d->transit[i] == a) return &route_transit;
        if (manufacturer && (d->present & CF_HAS_MANUFACTURER_CC) && d->manufacturer_country == a)
                return &route_manufacturer;
        return NULL;
}

/* "HS 940350 is under anti_dumping measure A-570-890 against CN (duty 216%);
 * declared origin VN, but the export country is CN" */
static void tre_explain(cf_detect *x, const cf_decl *d, const cf_measure *m, size_t len,
                        const route_field *via)
{
        cf_buf *e = cf_ex_begin(x);
        cf_buf_printf(e, "HS %.*s is under %s measure %s against %s", (int)len, m->hs_prefix,
                      m->measure_type, m->case_id, CF_EX_CC(m->affected));
        if (!isnan(m->duty_rate_pct)) cf_buf_printf(e, " (duty %s%%)", CF_EX_NUM(m->duty_rate_pct));
        cf_buf_printf(e, "; declared origin %s, but %s %s", CF_EX_CC(d->origin_country), via->words,
                      CF_EX_CC(m->affected));
}

static void tre_check(cf_detect *x, cf_detect_part *ps, cf_batch *b, cf_record *r, const void *cv)
{
        const tre_cfg *cfg = cv;
        const cf_decl *d = &r->decl;
        const cf_detect_ref *ref = &x->ref;
        if (!ref->n_measures) return;
        for (size_t len = 2; len <= d->hs_code.n && len <= 10; len++) {
                for (const cf_measure *m = cf_measures_for(ref, d->hs_code.p, len); m;
                     m = m->next) {
                        if (strlen(m->hs_prefix) != len || memcmp(m->hs_prefix, d->hs_code.p, len))
                                continue;
                        if (d->event_time_ms < m->from_ms || d->event_time_ms > m->to_ms) continue;
                        if (m->affected == d->origin_country) continue;
                        const route_field *via =
                            route_match(d, m->affected, cfg->check_manufacturer);
                        if (!via) continue;
                        cf_buf *o = cf_ev_begin(x);
                        cf_ev_str(o, "case_id", m->case_id, strlen(m->case_id));
                        cf_ev_str(o, "measure_type", m->measure_type, strlen(m->measure_type));
                        cf_ev_str(o, "hs_prefix", m->hs_prefix, len);
                        cf_ev_cc(o, "affected_country", m->affected);
                        cf_ev_cc(o, "origin_country", d->origin_country);
                        cf_ev_str(o, "route_field", via->field, strlen(via->field));
                        if (!isnan(m->duty_rate_pct))
                                cf_ev_num(o, "duty_rate_pct", m->duty_rate_pct);
                        if (*m->description)
                                cf_ev_str(o, "measure", m->description, strlen(m->description));
                        tre_explain(x, d, m, len, via);
                        cf_detect_fire(x, b, r, &cf_rule_trade_remedy_evasion, cfg);
                        return;
                }
        }
}

const cf_rule cf_rule_trade_remedy_evasion = {
    .name = "trade_remedy_evasion",
    .description = "goods under a trade-remedy measure against country A, declared with another "
                   "origin, routed through A",
    .config_map = tre_map,
    .cfg_size = sizeof(tre_cfg),
    .check = tre_check,
};
