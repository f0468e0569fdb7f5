/*
 * rule_certificate.c - certificate_reuse (RULES.md): a certificate of origin
 * used by another exporter at or before this use (in event time), or on more
 * than max_declarations distinct declarations up to this one.
 *
 * Uses are global (detect_population.c): a use is published from the record's
 * partition (the service re-keys it by certificate id through
 * topics.certificates) and merged into every replica, which keeps per
 * certificate the earliest declarations and exporters in event time. The
 * decision reads only what the uses say about time, never which partition
 * they came from, so it is the same for any partitioning.
 */
#include <string.h>

#include "stages/detect/detect_int.h"

typedef struct cert_cfg {
        cf_rule_common c;
        int64_t max_declarations, window_ms, max_entries;
} cert_cfg;

static const cf_config_map cert_map[] = {
    CF_RULE_COMMON_KEYS("60"),
    {CF_CFG_INT, "max_declarations", "3", offsetof(cert_cfg, max_declarations),
     "fire when a certificate is on more distinct declarations than this", 1, CF_CERT_KEEP - 1},
    {CF_CFG_DURATION, "window", "365d", offsetof(cert_cfg, window_ms),
     "a certificate unused this long is forgotten", 3600e3, 3650 * 86400e3},
    {CF_CFG_INT, "max_entries", "1000000", offsetof(cert_cfg, max_entries),
     "certificates kept (global replica, 120 bytes each, 312 once on a second declaration or "
     "exporter; least recently used evicted, counted)",
     1, 1e10},
    {0}};

/* "certificate of origin CO-1, first used by exporter TH-E1 on declaration D-1 on
 * 2025-03-01, is now used by 2 exporters on 3 declarations" or "... is now on 5
 * declarations, more than the 3 allowed" */
static void cert_explain(cf_detect *x, const cf_decl *d, const cert_cfg *cfg, const cf_cert_rep *v,
                         bool other, double exporters, double rank)
{
        cf_buf *e = cf_ex_begin(x);
        cf_buf_printf(e,
                      "certificate of origin %.*s, first used by exporter %s on declaration %s on "
                      "%s, is now ",
                      (int)d->certificate_of_origin.n, d->certificate_of_origin.p, v->exp_id0,
                      v->first_decl, CF_EX_DATE(v->decl0.t));
        if (other)
                cf_buf_printf(e, "used by %s exporters on %s declarations", CF_EX_NUM(exporters),
                              CF_EX_NUM(rank));
        else
                cf_buf_printf(e, "on %s declarations, more than the %s allowed", CF_EX_NUM(rank),
                              CF_EX_NUM((double)cfg->max_declarations));
}

static void cert_fire(cf_detect *x, cf_batch *b, cf_record *r, const cert_cfg *cfg,
                      const cf_cert_rep *v, bool other, int rank)
{
        const cf_decl *d = &r->decl;
        int known = 0, exporters = v->ne;
        for (int i = 0; i < v->ne; i++)
                known |= cf_cert_exp(v, i)->h == x->exp_h;
        exporters += !known;
        cf_buf *o = cf_ev_begin(x);
        cf_ev_str(o, "certificate_of_origin", d->certificate_of_origin.p,
                  d->certificate_of_origin.n);
        cf_ev_num(o, "declarations", rank);
        cf_ev_num(o, "max_declarations", (double)cfg->max_declarations);
        cf_ev_num(o, "exporters", exporters);
        cf_buf_puts(o, ",\"exporters_seen\":[");
        for (int i = 0; i < v->ne; i++) {
                if (i) cf_buf_putc(o, ',');
                cf_json_str(o, cf_cert_exp_id(v, i), strlen(cf_cert_exp_id(v, i)));
        }
        if (!known) { /* this one too */
                if (v->ne) cf_buf_putc(o, ',');
                cf_json_str(o, d->exporter_id.p, d->exporter_id.n);
        }
        cf_buf_putc(o, ']');
        cf_ev_str(o, "first_declaration_id", v->first_decl, strlen(v->first_decl));
        cf_ev_time(o, "first_used", v->decl0.t);
        cf_ev_str(o, "reason", other ? "second_exporter" : "too_many_declarations",
                  other ? 15 : 21);
        cert_explain(x, d, cfg, v, other, exporters, rank);
        cf_detect_fire(x, b, r, &cf_rule_certificate_reuse, cfg);
}

static void cert_check(cf_detect *x, cf_detect_part *ps, cf_batch *b, cf_record *r, const void *cv)
{
        const cert_cfg *cfg = cv;
        const cf_decl *d = &r->decl;
        if (!(d->present & CF_HAS_CERTIFICATE) || !d->certificate_of_origin.n) return;
        uint64_t key = cf_id_hash(d->certificate_of_origin.p, d->certificate_of_origin.n);
        int64_t t = d->event_time_ms;
        const cf_cert_rep *v = cf_kvtab_get(&x->rep->cert, key);
        if (v && v->nd) {
                /* another exporter at or before t: the earliest one that is not this one */
                int i = v->ne && v->exp0.h == x->exp_h ? 1 : 0;
                bool other = i < v->ne && cf_cert_exp(v, i)->t <= t;
                /* this declaration's rank in event time among the certificate's */
                int earlier = 0;
                for (int j = 0; j < v->nd; j++) {
                        const cf_cert_use *u = cf_cert_decl(v, j);
                        earlier += u->h != x->decl_h &&
                                   cf_cert_before(u->t, u->h, &(cf_cert_use){t, x->decl_h});
                }
                if (other || earlier >= cfg->max_declarations)
                        cert_fire(x, b, r, cfg, v, other, earlier + 1);
        }
        cf_cert_event *e = cf_vec_push(&ps->cert_ev, sizeof(*e));
        e->key = key;
        e->decl_h = x->decl_h;
        e->exp_h = x->exp_h;
        e->t = t;
        cf_cert_keep_id(e->cert, sizeof(e->cert), d->certificate_of_origin.p,
                        d->certificate_of_origin.n);
        cf_cert_keep_id(e->decl, sizeof(e->decl), d->declaration_id.p, d->declaration_id.n);
        cf_cert_keep_id(e->exporter, sizeof(e->exporter), d->exporter_id.p, d->exporter_id.n);
}

static void cert_limits(const void *cv, size_t *max, int64_t *window, uint32_t *vsize)
{
        const cert_cfg *c = cv;
        *max = (size_t)c->max_entries;
        *window = c->window_ms;
}

const cf_rule cf_rule_certificate_reuse = {
    .name = "certificate_reuse",
    .description = "a certificate of origin used by another exporter before, or on too many "
                   "declarations (uses shared by every partition)",
    .config_map = cert_map,
    .cfg_size = sizeof(cert_cfg),
    .check = cert_check,
    .replica_off = offsetof(cf_detect_pop, cert),
    .replica_size = sizeof(cf_cert_rep),
    .replica_drop = cf_cert_rep_drop,
    .replica_limits = cert_limits,
};
