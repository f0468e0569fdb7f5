/*
 * rule_route.c - origin_route_mismatch (RULES.md): the declared origin
 * differs from the export country or the port-of-loading country, for
 * origins or HS chapters on the route watch list.
 */
#include <string.h>

#include "stages/detect/detect_int.h"

typedef struct orm_cfg {
        cf_rule_common c;
        bool port_of_loading;
} orm_cfg;

static const cf_config_map orm_map[] = {
    CF_RULE_COMMON_KEYS("50"),
    {CF_CFG_BOOL, "port_of_loading", "true", offsetof(orm_cfg, port_of_loading),
     "also compare the origin with the port-of-loading country"},
    {0}};

/* "declared origin VN differs from the export country CN and the port-of-loading
 * country CN; origin VN is on the route watch list (reason)" */
static void orm_explain(cf_detect *x, const cf_decl *d, uint16_t pol, const cf_route_entry *le)
{
        bool exp = d->origin_country != d->export_country, port = pol && pol != d->origin_country;
        cf_buf *e = cf_ex_begin(x);
        cf_buf_printf(e, "declared origin %s differs from ", CF_EX_CC(d->origin_country));
        if (exp) cf_buf_printf(e, "the export country %s", CF_EX_CC(d->export_country));
        if (exp && port) cf_buf_puts(e, " and ");
        if (port) cf_buf_printf(e, "the port-of-loading country %s", CF_EX_CC(pol));
        cf_buf_printf(e, "; %s %s is on the route watch list",
                      strcmp(le->kind, "origin") ? "HS chapter" : "origin", le->value);
        if (*le->reason) cf_buf_printf(e, " (%s)", le->reason);
}

static void orm_check(cf_detect *x, cf_detect_part *ps, cf_batch *b, cf_record *r, const void *cv)
{
        const orm_cfg *cfg = cv;
        const cf_decl *d = &r->decl;
        const cf_detect_ref *ref = &x->ref;
        uint16_t pol = 0;
        if (cfg->port_of_loading && (d->present & CF_HAS_POL) && d->port_of_loading.n >= 2)
                pol = CF_CC(d->port_of_loading.p[0], d->port_of_loading.p[1]);
        bool differs = d->origin_country != d->export_country || (pol && pol != d->origin_country);
        if (!differs) return;
        uint16_t slot = ref->route_origin_ix[d->origin_country];
        if (!slot) {
                int ch = (d->hs_code.p[0] - '0') * 10 + (d->hs_code.p[1] - '0');
                slot = ref->route_chapter_ix[ch];
        }
        if (!slot) return;
        const cf_route_entry *e = &ref->route[slot - 1];
        cf_buf *o = cf_ev_begin(x);
        cf_ev_cc(o, "origin_country", d->origin_country);
        cf_ev_cc(o, "export_country", d->export_country);
        if (pol) cf_ev_cc(o, "port_of_loading_country", pol);
        cf_ev_str(o, "list_kind", e->kind, strlen(e->kind));
        cf_ev_str(o, "list_value", e->value, strlen(e->value));
        if (*e->reason) cf_ev_str(o, "list_reason", e->reason, strlen(e->reason));
        orm_explain(x, d, pol, e);
        cf_detect_fire(x, b, r, &cf_rule_origin_route_mismatch, cfg);
}

const cf_rule cf_rule_origin_route_mismatch = {
    .name = "origin_route_mismatch",
    .description = "declared origin differs from the export / port-of-loading country, for "
                   "watch-listed origins or HS chapters",
    .config_map = orm_map,
    .cfg_size = sizeof(orm_cfg),
    .check = orm_check,
};
