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

/* Which route field of r names country a (NULL: none). */
static const char *route_match(const cf_decl *d, uint16_t a, bool manufacturer)
{
        if (d->export_country == a) return "export_country";
        if ((d->present & CF_HAS_POL) && d->port_of_loading.n >= 2 &&
            CF_CC(d->port_of_loading.p[0], d->port_of_loading.p[1]) == a)
                return "port_of_loading";
        for (uint8_t i = 0; i < d->n_transit; i++)
                if (d->transit[i] == a) return "transit_countries";
        if (manufacturer && (d->present & CF_HAS_MANUFACTURER_CC) && d->manufacturer_country == a)
                return "manufacturer_country";
        return NULL;
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
                        const char *via = route_match(d, m->affected, cfg->check_manufacturer);
                        if (!via) continue;
                        cf_buf *o = cf_ev_begin(x);
                        cf_ev_str(o, "case_id", m->case_id, strlen(m->case_id));
                        cf_ev_str(o, "measure_type", m->measure_type, strlen(m->measure_type));
                        cf_ev_str(o, "hs_prefix", m->hs_prefix, len);
                        cf_ev_cc(o, "affected_country", m->affected);
                        cf_ev_cc(o, "origin_country", d->origin_country);
                        cf_ev_str(o, "route_field", via, strlen(via));
                        if (!isnan(m->duty_rate_pct))
                                cf_ev_num(o, "duty_rate_pct", m->duty_rate_pct);
                        if (*m->description)
                                cf_ev_str(o, "measure", m->description, strlen(m->description));
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
