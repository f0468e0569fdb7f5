/*
 * rule_certificate.c - certificate_reuse (RULES.md): one certificate of
 * origin on more than max_declarations distinct declarations, or used by
 * more than one exporter (every use by a second or later exporter fires).
 *
 * State is per input partition; records are keyed by exporter_id, so a
 * certificate shared by exporters in different partitions is only seen as
 * reused when they share a partition (see the issue note).
 */
#include <string.h>

#include "stages/detect/detect_int.h"

#define CERT_IDS 4  /* declaration / exporter hashes remembered per certificate */
#define CERT_EXP 3  /* exporter ids kept for the evidence */
#define ID_LEN   24 /* bytes kept of an id for the evidence (truncated beyond) */

typedef struct cert_cfg {
        cf_rule_common c;
        int64_t max_declarations, window_ms, max_entries;
} cert_cfg;

static const cf_config_map cert_map[] = {
    CF_RULE_COMMON_KEYS("60"),
    {CF_CFG_INT, "max_declarations", "3", offsetof(cert_cfg, max_declarations),
     "fire when a certificate is on more distinct declarations than this", 1, CERT_IDS - 1},
    {CF_CFG_DURATION, "window", "365d", offsetof(cert_cfg, window_ms),
     "a certificate unused this long is forgotten"},
    {CF_CFG_INT, "max_entries", "1000000", offsetof(cert_cfg, max_entries),
     "certificates kept per input partition (least recently used evicted, counted)", 1, 1e10},
    {0}};

typedef struct cert_val {
        int64_t last_ms;
        int64_t first_ms;
        uint32_t n_decl, n_exp;
        uint64_t decl_h[CERT_IDS], exp_h[CERT_IDS];
        char first_decl[32];
        char exp_ids[CERT_EXP][ID_LEN];
} cert_val;

static void keep_id(char *dst, size_t cap, const cf_str *s)
{
        size_t n = s->n < cap - 1 ? s->n : cap - 1;
        memcpy(dst, s->p, n);
        dst[n] = '\0';
}

/* Index of h in a[0..min(n, CERT_IDS)), or -1. */
static int find(const uint64_t *a, uint32_t n, uint64_t h)
{
        for (uint32_t i = 0; i < n && i < CERT_IDS; i++)
                if (a[i] == h) return (int)i;
        return -1;
}

/* "certificate of origin CO-1, first used by exporter TH-E1 on declaration D-1 on
 * 2025-03-01, is now used by 2 exporters on 3 declarations" or "... is now on 5
 * declarations, more than the 3 allowed" */
static void cert_explain(cf_detect *x, const cf_decl *d, const cert_cfg *cfg, const cert_val *v,
                         bool second_exporter)
{
        cf_buf *e = cf_ex_begin(x);
        cf_buf_printf(e,
                      "certificate of origin %.*s, first used by exporter %s on declaration %s on "
                      "%s, is now ",
                      (int)d->certificate_of_origin.n, d->certificate_of_origin.p, v->exp_ids[0],
                      v->first_decl, CF_EX_DATE(v->first_ms));
        if (second_exporter)
                cf_buf_printf(e, "used by %s exporters on %s declarations", CF_EX_NUM(v->n_exp),
                              CF_EX_NUM(v->n_decl));
        else
                cf_buf_printf(e, "on %s declarations, more than the %s allowed",
                              CF_EX_NUM(v->n_decl), CF_EX_NUM((double)cfg->max_declarations));
}

static void cert_check(cf_detect *x, cf_detect_part *ps, cf_batch *b, cf_record *r, const void *cv)
{
        const cert_cfg *cfg = cv;
        const cf_decl *d = &r->decl;
        if (!(d->present & CF_HAS_CERTIFICATE) || !d->certificate_of_origin.n) return;
        uint64_t key = cf_id_hash(d->certificate_of_origin.p, d->certificate_of_origin.n);
        bool created;
        cert_val *v = cf_kvtab_put(&ps->cert, key, d->event_time_ms, &created);
        if (created) {
                v->first_ms = d->event_time_ms;
                keep_id(v->first_decl, sizeof(v->first_decl), &d->declaration_id);
        }
        uint64_t dh = x->decl_h;
        uint64_t eh = x->exp_h;
        if (find(v->decl_h, v->n_decl, dh) < 0) {
                v->decl_h[v->n_decl % CERT_IDS] = dh;
                v->n_decl++;
        }
        int pos = find(v->exp_h, v->n_exp, eh);
        if (pos < 0) {
                if (v->n_exp < CERT_IDS) v->exp_h[v->n_exp] = eh;
                if (v->n_exp < CERT_EXP) keep_id(v->exp_ids[v->n_exp], ID_LEN, &d->exporter_id);
                pos = (int)v->n_exp++;
        }
        bool too_many = v->n_decl > (uint32_t)cfg->max_declarations;
        if (!too_many && pos == 0) return;
        cf_buf *o = cf_ev_begin(x);
        cf_ev_str(o, "certificate_of_origin", d->certificate_of_origin.p,
                  d->certificate_of_origin.n);
        cf_ev_num(o, "declarations", v->n_decl);
        cf_ev_num(o, "max_declarations", (double)cfg->max_declarations);
        cf_ev_num(o, "exporters", v->n_exp);
        cf_buf_puts(o, ",\"exporters_seen\":[");
        for (uint32_t i = 0; i < v->n_exp && i < CERT_EXP; i++) {
                if (i) cf_buf_putc(o, ',');
                cf_json_str(o, v->exp_ids[i], strlen(v->exp_ids[i]));
        }
        cf_buf_putc(o, ']');
        cf_ev_str(o, "first_declaration_id", v->first_decl, strlen(v->first_decl));
        cf_ev_time(o, "first_used", v->first_ms);
        cf_ev_str(o, "reason", pos > 0 ? "second_exporter" : "too_many_declarations",
                  pos > 0 ? 15 : 21);
        cert_explain(x, d, cfg, v, pos > 0);
        cf_detect_fire(x, b, r, &cf_rule_certificate_reuse, cfg);
}

static void cert_limits(const void *cv, size_t *max, int64_t *window, uint32_t *vsize)
{
        const cert_cfg *c = cv;
        *max = (size_t)c->max_entries;
        *window = c->window_ms;
}

/* State value, version 2: last_ms, first_ms, n_decl, n_exp (u32), the
 * declaration hashes kept (u8 count, u64 each), the exporter hashes kept (u8
 * count, u64 each), the first declaration id (str8), the exporter ids kept (u8
 * count, str8 each). Version 1: the raw struct (fixed arrays, strings
 * NUL-terminated in place). */
static void cert_put(cf_buf *out, const void *val)
{
        const cert_val *v = val;
        cf_st_put_i64(out, v->last_ms);
        cf_st_put_i64(out, v->first_ms);
        cf_st_put_u32(out, v->n_decl);
        cf_st_put_u32(out, v->n_exp);
        uint32_t nd = v->n_decl < CERT_IDS ? v->n_decl : CERT_IDS;
        uint32_t ne = v->n_exp < CERT_IDS ? v->n_exp : CERT_IDS;
        uint32_t ni = v->n_exp < CERT_EXP ? v->n_exp : CERT_EXP;
        cf_st_put_u8(out, (uint8_t)nd);
        for (uint32_t i = 0; i < nd; i++)
                cf_st_put_u64(out, v->decl_h[i]);
        cf_st_put_u8(out, (uint8_t)ne);
        for (uint32_t i = 0; i < ne; i++)
                cf_st_put_u64(out, v->exp_h[i]);
        cf_st_put_str8(out, v->first_decl);
        cf_st_put_u8(out, (uint8_t)ni);
        for (uint32_t i = 0; i < ni; i++)
                cf_st_put_str8(out, v->exp_ids[i]);
}

/* A fixed char array of a version-1 value: it must hold its NUL. */
static void get_raw_str(cf_st_dec *d, char *dst, size_t cap, const char *what)
{
        const unsigned char *s = cf_st_take(d, cap);
        if (!s) return;
        if (!memchr(s, '\0', cap)) {
                cf_st_fail(d, "%s is not NUL-terminated within its %zu bytes", what, cap);
                return;
        }
        memcpy(dst, s, cap);
}

/* Hashes: version 1 all CERT_IDS, version 2 a count (exactly `want`) then them. */
static void get_hashes(cf_st_dec *d, int version, uint64_t *h, uint32_t want, const char *what)
{
        uint32_t n = version == 1 ? CERT_IDS : cf_st_u8(d);
        if (cf_st_ok(d) && version != 1 && n != want) {
                cf_st_fail(d, "%u %s kept, expected %u", n, what, want);
                return;
        }
        for (uint32_t i = 0; i < n && cf_st_ok(d); i++)
                h[i] = cf_st_u64(d);
}

static bool cert_get(cf_st_dec *d, int version, void *val, const void *cfg)
{
        (void)cfg; /* the arrays' sizes are fixed (CERT_IDS, CERT_EXP, ID_LEN) */
        cert_val *v = val;
        v->last_ms = cf_st_time(d, "last use");
        v->first_ms = cf_st_time(d, "first use");
        v->n_decl = cf_st_u32(d);
        v->n_exp = cf_st_u32(d);
        uint32_t ni = v->n_exp < CERT_EXP ? v->n_exp : CERT_EXP;
        get_hashes(d, version, v->decl_h, v->n_decl < CERT_IDS ? v->n_decl : CERT_IDS,
                   "declaration hashes");
        get_hashes(d, version, v->exp_h, v->n_exp < CERT_IDS ? v->n_exp : CERT_IDS,
                   "exporter hashes");
        if (version == 1) {
                get_raw_str(d, v->first_decl, sizeof(v->first_decl), "first_declaration_id");
                for (uint32_t i = 0; i < CERT_EXP; i++)
                        get_raw_str(d, v->exp_ids[i], ID_LEN, "an exporter id");
                return cf_st_ok(d);
        }
        cf_st_str8(d, v->first_decl, sizeof(v->first_decl), "first_declaration_id");
        uint32_t n = cf_st_u8(d);
        if (cf_st_ok(d) && n != ni)
                return cf_st_fail(d, "%u exporter ids kept, expected %u", n, ni);
        for (uint32_t i = 0; i < n; i++)
                cf_st_str8(d, v->exp_ids[i], ID_LEN, "an exporter id");
        return cf_st_ok(d);
}

const cf_rule cf_rule_certificate_reuse = {
    .name = "certificate_reuse",
    .description = "a certificate of origin on too many declarations or by a second exporter",
    .config_map = cert_map,
    .cfg_size = sizeof(cert_cfg),
    .check = cert_check,
    .state_limits = cert_limits,
    .table_off = offsetof(cf_detect_part, cert),
    .value_size = sizeof(cert_val),
    .state_put = cert_put,
    .state_get = cert_get,
};
