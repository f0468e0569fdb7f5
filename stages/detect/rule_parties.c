/*
 * rule_parties.c - the rules about who declares: manufacturer_origin_mismatch,
 * watchlist_party and preference_without_certificate (RULES.md). All are
 * stateless lookups.
 */
#include <string.h>

#include "stages/detect/detect_int.h"

/* ---- manufacturer_origin_mismatch ---- */

typedef struct mom_cfg {
        cf_rule_common c;
        bool use_id_prefix;
} mom_cfg;

static const cf_config_map mom_map[] = {
    CF_RULE_COMMON_KEYS("50"),
    {CF_CFG_BOOL, "manufacturer_id_prefix", "true", offsetof(mom_cfg, use_id_prefix),
     "without manufacturer_country, use the country prefix of manufacturer_id (\"CC-...\")"},
    {0}};

static void mom_check(cf_detect *x, cf_detect_part *ps, cf_batch *b, cf_record *r, const void *cv)
{
        const mom_cfg *cfg = cv;
        const cf_decl *d = &r->decl;
        uint16_t mc = 0;
        const char *src = NULL;
        if (d->present & CF_HAS_MANUFACTURER_CC) {
                mc = d->manufacturer_country;
                src = "manufacturer_country";
        } else if (cfg->use_id_prefix && (d->present & CF_HAS_MANUFACTURER_ID) &&
                   d->manufacturer_id.n > 3 && d->manufacturer_id.p[2] == '-') {
                mc = cf_cc_of(d->manufacturer_id.p, 2);
                src = "manufacturer_id";
        }
        if (!mc || mc == d->origin_country) return;
        cf_buf *o = cf_ev_begin(x);
        cf_ev_cc(o, "manufacturer_country", mc);
        cf_ev_str(o, "source_field", src, strlen(src));
        if (d->present & CF_HAS_MANUFACTURER_ID)
                cf_ev_str(o, "manufacturer_id", d->manufacturer_id.p, d->manufacturer_id.n);
        cf_ev_cc(o, "origin_country", d->origin_country);
        /* "manufacturer country CN (prefix of manufacturer_id CN-M-1) differs from declared
         * origin VN" */
        cf_buf *e = cf_ex_begin(x);
        cf_buf_printf(e, "manufacturer country %s", CF_EX_CC(mc));
        if (!strcmp(src, "manufacturer_id"))
                cf_buf_printf(e, " (prefix of manufacturer_id %.*s)", (int)d->manufacturer_id.n,
                              d->manufacturer_id.p);
        cf_buf_printf(e, " differs from declared origin %s", CF_EX_CC(d->origin_country));
        cf_detect_fire(x, b, r, &cf_rule_manufacturer_origin_mismatch, cfg);
}

const cf_rule cf_rule_manufacturer_origin_mismatch = {
    .name = "manufacturer_origin_mismatch",
    .description = "the manufacturer's country differs from the declared origin",
    .config_map = mom_map,
    .cfg_size = sizeof(mom_cfg),
    .check = mom_check,
};

/* ---- watchlist_party ---- */

typedef struct wl_cfg {
        cf_rule_common c;
} wl_cfg;

static const cf_config_map wl_map[] = {CF_RULE_COMMON_KEYS("80"), {0}};

/* The watchlist entry for id in role, or NULL. Equal ids are adjacent. */
static const cf_wl_entry *wl_find(const cf_detect_ref *ref, const cf_str *id, uint8_t role)
{
        if (!ref->n_wl || !id->n) return NULL;
        uint64_t h = cf_id_hash(id->p, id->n);
        uint32_t i = cf_index_find(&ref->wl_ix, h);
        for (; i < ref->n_wl && ref->wl[i].h == h; i++) {
                const cf_wl_entry *e = &ref->wl[i];
                if ((e->kinds & role) && strlen(e->id) == id->n && !memcmp(e->id, id->p, id->n))
                        return e;
        }
        return NULL;
}

/* "importer US-I7 is on the watchlist as party (sanctions evasion; listed on 2024-05-01)";
 * "as <kind>" only when the list names another kind than the role */
static void wl_explain(cf_detect *x, const char *role, const cf_wl_entry *le)
{
        cf_buf *e = cf_ex_begin(x);
        cf_buf_printf(e, "%s %s is on the watchlist", role, le->id);
        if (strcmp(le->kind, role)) cf_buf_printf(e, " as %s", le->kind);
        if (*le->reason || *le->listed_on)
                cf_buf_printf(e, " (%s%s%s%s)", le->reason,
                              *le->reason && *le->listed_on ? "; " : "",
                              *le->listed_on ? "listed on " : "", le->listed_on);
}

static void wl_check(cf_detect *x, cf_detect_part *ps, cf_batch *b, cf_record *r, const void *cv)
{
        const cf_decl *d = &r->decl;
        static const char *const roles[] = {"exporter", "importer", "manufacturer", "vessel"};
        const cf_str *ids[] = {&d->exporter_id, &d->importer_id,
                               (d->present & CF_HAS_MANUFACTURER_ID) ? &d->manufacturer_id : NULL,
                               (d->present & CF_HAS_VESSEL) ? &d->vessel_imo : NULL};
        static const uint8_t masks[] = {CF_WL_EXPORTER, CF_WL_IMPORTER, CF_WL_MANUFACTURER,
                                        CF_WL_VESSEL};
        cf_buf *o = NULL;
        int hits = 0;
        for (int i = 0; i < 4; i++) {
                if (!ids[i]) continue;
                const cf_wl_entry *e = wl_find(&x->ref, ids[i], masks[i]);
                if (!e) continue;
                if (!hits++) {
                        o = cf_ev_begin(x);
                        cf_ev_str(o, "role", roles[i], strlen(roles[i]));
                        cf_ev_str(o, "id", e->id, strlen(e->id));
                        cf_ev_str(o, "list_kind", e->kind, strlen(e->kind));
                        cf_ev_str(o, "list_reason", e->reason, strlen(e->reason));
                        if (*e->listed_on)
                                cf_ev_str(o, "listed_on", e->listed_on, strlen(e->listed_on));
                        wl_explain(x, roles[i], e);
                }
        }
        if (!hits) return;
        cf_ev_num(o, "roles_matched", hits);
        if (hits > 1) cf_buf_printf(&x->ex, "; %d parties of the declaration are listed", hits);
        cf_detect_fire(x, b, r, &cf_rule_watchlist_party, cv);
}

const cf_rule cf_rule_watchlist_party = {
    .name = "watchlist_party",
    .description = "exporter, importer, manufacturer or vessel is on the watchlist",
    .config_map = wl_map,
    .cfg_size = sizeof(wl_cfg),
    .check = wl_check,
};

/* ---- preference_without_certificate ---- */

typedef struct pwc_cfg {
        cf_rule_common c;
} pwc_cfg;

static const cf_config_map pwc_map[] = {CF_RULE_COMMON_KEYS("50"), {0}};

static void pwc_check(cf_detect *x, cf_detect_part *ps, cf_batch *b, cf_record *r, const void *cv)
{
        const cf_decl *d = &r->decl;
        if (!(d->present & CF_HAS_PREFERENCE) || !d->preference_code.n) return;
        if ((d->present & CF_HAS_CERTIFICATE) && d->certificate_of_origin.n) return;
        cf_buf *o = cf_ev_begin(x);
        cf_ev_str(o, "preference_code", d->preference_code.p, d->preference_code.n);
        cf_buf_printf(cf_ex_begin(x),
                      "tariff preference %.*s claimed without a certificate of origin",
                      (int)d->preference_code.n, d->preference_code.p);
        cf_detect_fire(x, b, r, &cf_rule_preference_without_certificate, cv);
}

const cf_rule cf_rule_preference_without_certificate = {
    .name = "preference_without_certificate",
    .description = "a tariff preference is claimed without a certificate of origin",
    .config_map = pwc_map,
    .cfg_size = sizeof(pwc_cfg),
    .check = pwc_check,
};
