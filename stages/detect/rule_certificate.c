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
     "certificates kept (global replica, ~250 bytes each; least recently used evicted, counted)", 1,
     1e10},
    {0}};

static void keep_id(char *dst, size_t cap, const char *s, size_t n)
{
        if (n > cap - 1) n = cap - 1;
        memcpy(dst, s, n);
        dst[n] = '\0';
}

/* (t, h) ordering: event time, then hash (ties are broken the same everywhere). */
static inline bool before(int64_t t, uint64_t h, const cf_cert_use *u)
{
        return t < u->t || (t == u->t && h < u->h);
}

/* Insert (t, h) into the sorted list a[0..*n) of at most cap, one entry per hash
 * holding its earliest time; the position it got, or -1 when it is not kept. */
static int keep_earliest(cf_cert_use *a, uint8_t *n, int cap, int64_t t, uint64_t h)
{
        for (int i = 0; i < *n; i++) {
                if (a[i].h != h) continue;
                if (!before(t, h, &a[i])) return -1; /* an earlier use is kept */
                memmove(a + i, a + i + 1, (size_t)(*n - i - 1) * sizeof(*a));
                (*n)--;
                break;
        }
        int p = 0;
        while (p < *n && !before(t, h, &a[p]))
                p++;
        if (p >= cap) return -1;
        int m = *n < cap ? *n : cap - 1;
        memmove(a + p + 1, a + p, (size_t)(m - p) * sizeof(*a));
        a[p] = (cf_cert_use){t, h};
        if (*n < cap) (*n)++;
        return p;
}

void cf_cert_rep_merge(cf_cert_rep *v, const cf_cert_event *e)
{
        v->uses++;
        int p = keep_earliest(v->decl, &v->nd, CF_CERT_KEEP, e->t, e->decl_h);
        if (p == 0) keep_id(v->first_decl, sizeof(v->first_decl), e->decl, strlen(e->decl));
        /* exporter ids move with their entries */
        char ids[CF_CERT_EXP][CF_CERT_ID_LEN];
        cf_cert_use old[CF_CERT_EXP];
        uint8_t on = v->ne;
        memcpy(ids, v->exp_id, sizeof(ids));
        memcpy(old, v->exp, sizeof(old));
        if (keep_earliest(v->exp, &v->ne, CF_CERT_EXP, e->t, e->exp_h) < 0) return;
        for (int i = 0; i < v->ne; i++) {
                if (v->exp[i].h == e->exp_h) {
                        keep_id(v->exp_id[i], CF_CERT_ID_LEN, e->exporter, strlen(e->exporter));
                        continue;
                }
                for (int j = 0; j < on; j++)
                        if (old[j].h == v->exp[i].h) memcpy(v->exp_id[i], ids[j], CF_CERT_ID_LEN);
        }
}

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
                      (int)d->certificate_of_origin.n, d->certificate_of_origin.p, v->exp_id[0],
                      v->first_decl, CF_EX_DATE(v->decl[0].t));
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
                known |= v->exp[i].h == x->exp_h;
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
                cf_json_str(o, v->exp_id[i], strlen(v->exp_id[i]));
        }
        if (!known) { /* this one too */
                if (v->ne) cf_buf_putc(o, ',');
                cf_json_str(o, d->exporter_id.p, d->exporter_id.n);
        }
        cf_buf_putc(o, ']');
        cf_ev_str(o, "first_declaration_id", v->first_decl, strlen(v->first_decl));
        cf_ev_time(o, "first_used", v->decl[0].t);
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
                int i = v->ne && v->exp[0].h == x->exp_h ? 1 : 0;
                bool other = i < v->ne && v->exp[i].t <= t;
                /* this declaration's rank in event time among the certificate's */
                int earlier = 0;
                for (int j = 0; j < v->nd; j++)
                        earlier += v->decl[j].h != x->decl_h &&
                                   before(v->decl[j].t, v->decl[j].h, &(cf_cert_use){t, x->decl_h});
                if (other || earlier >= cfg->max_declarations)
                        cert_fire(x, b, r, cfg, v, other, earlier + 1);
        }
        cf_cert_event *e = cf_vec_push(&ps->cert_ev, sizeof(*e));
        e->key = key;
        e->decl_h = x->decl_h;
        e->exp_h = x->exp_h;
        e->t = t;
        keep_id(e->cert, sizeof(e->cert), d->certificate_of_origin.p, d->certificate_of_origin.n);
        keep_id(e->decl, sizeof(e->decl), d->declaration_id.p, d->declaration_id.n);
        keep_id(e->exporter, sizeof(e->exporter), d->exporter_id.p, d->exporter_id.n);
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
    .replica_limits = cert_limits,
};
