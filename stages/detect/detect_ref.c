/*
 * detect_ref.c - loads and compiles the detect stage's reference files
 * (schemas/reference/FORMATS.md): trade-remedy measures into a prefix table,
 * the watchlist and exporter registry into hash indexes, the route watch
 * list into per-country / per-chapter lookups. Every row is validated;
 * errors say "file:line: reason". Nothing here is consulted per record
 * except through O(1) lookups.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/core/csv_reader.h"
#include "stages/decode/decode.h"
#include "stages/detect/detect_int.h"

uint16_t cf_cc_of(const char *p, size_t n)
{
        if (n < 2 || !cf_iso_country_valid(p, 2)) return 0;
        return CF_CC(p[0], p[1]);
}

void cf_cc_str(uint16_t cc, char out[3])
{
        out[0] = (char)(cc >> 8);
        out[1] = (char)(cc & 0xff);
        out[2] = '\0';
}

int64_t cf_parse_date_ms(const char *s)
{
        /* YYYY-MM-DD as a real calendar day (2024-02-31 is refused; timegm
         * used to roll it over to March 2): the decoder's RFC 3339 parser
         * checks the calendar, at midnight UTC */
        char ts[24];
        int64_t ms;
        if (strlen(s) != 10) return -1;
        snprintf(ts, sizeof(ts), "%sT00:00:00Z", s);
        return cf_parse_rfc3339(ts, 20, &ms) ? -1 : ms;
}

/* ---- string-keyed index ---- */

/* Index n rows sorted by hash (stride bytes apart, the uint64 hash at
 * offset off of each): hash -> first row with it. */
static void index_build(cf_index *ix, const void *rows, size_t n, size_t stride, size_t off)
{
        size_t cap = 16;
        while (cap < n * 2 + 1)
                cap *= 2;
        ix->cap = cap;
        ix->h = calloc(cap, sizeof(*ix->h));
        ix->pos = malloc(cap * sizeof(*ix->pos));
        if (!ix->h || !ix->pos) abort();
        uint64_t prev = 0;
        for (size_t i = 0; i < n; i++) {
                uint64_t h;
                memcpy(&h, (const char *)rows + i * stride + off, sizeof(h));
                if (i && h == prev) continue; /* adjacent equal keys */
                prev = h;
                size_t j = h & (cap - 1);
                while (ix->h[j])
                        j = (j + 1) & (cap - 1);
                ix->h[j] = h;
                ix->pos[j] = (uint32_t)i;
        }
}

uint32_t cf_index_find(const cf_index *ix, uint64_t h)
{
        if (!ix->cap) return UINT32_MAX;
        for (size_t j = h & (ix->cap - 1);; j = (j + 1) & (ix->cap - 1)) {
                if (ix->h[j] == h) return ix->pos[j];
                if (!ix->h[j]) return UINT32_MAX;
        }
}

uint32_t cf_reg_next(const cf_detect_ref *ref, const cf_str *id, uint64_t h, uint32_t i)
{
        /* rows are sorted by hash: those of one id are adjacent (with any colliding id) */
        for (; i < ref->n_reg && ref->reg[i].h == h; i++) {
                const char *e = ref->reg[i].exporter_id;
                if (strlen(e) == id->n && !memcmp(e, id->p, id->n)) return i;
        }
        return (uint32_t)ref->n_reg;
}

static void index_free(cf_index *ix)
{
        free(ix->h);
        free(ix->pos);
        memset(ix, 0, sizeof(*ix));
}

/* ---- helpers for rows ---- */

#define ROW_ERR(...)                                                                               \
        do {                                                                                       \
                int k_ = snprintf(errstr, errstr_size, "%s:%d: ", row->file, row->line);           \
                if (k_ > 0 && (size_t)k_ < errstr_size)                                            \
                        snprintf(errstr + k_, errstr_size - (size_t)k_, __VA_ARGS__);              \
                return -1;                                                                         \
        } while (0)

static bool all_digits(const char *s, size_t lo, size_t hi)
{
        size_t n = strlen(s);
        if (n < lo || n > hi) return false;
        for (size_t i = 0; i < n; i++)
                if (!isdigit((unsigned char)s[i])) return false;
        return true;
}

typedef struct load_ctx {
        cf_detect_ref *ref;
        int *idx;
        int *opt;
        size_t cap;
} load_ctx;

static void *grow(void *p, size_t n, size_t *cap, size_t sz)
{
        if (n < *cap) return p;
        *cap = *cap ? *cap * 2 : 64;
        p = realloc(p, *cap * sz);
        if (!p) abort();
        return p;
}

/* ---- trade_measures.csv ---- */

static const char *const measure_types[] = {"anti_dumping", "countervailing", "safeguard",
                                            "section_301",  "section_232",    NULL};

static size_t mslot(const cf_detect_ref *ref, const char *hs, size_t len)
{
        return (size_t)(XXH3_64bits_withSeed(hs, len, len) & (ref->mcap - 1));
}

static int measure_row(const cf_csv_row *row, void *op, char *errstr, size_t errstr_size)
{
        load_ctx *c = op;
        cf_detect_ref *ref = c->ref;
        char **v = row->v;
        const int *ix = c->idx;
        const char *type = v[ix[1]], *prefix = v[ix[2]], *cc = v[ix[3]];
        bool ok = false;
        for (int i = 0; measure_types[i]; i++)
                ok |= !strcmp(type, measure_types[i]);
        if (!ok)
                ROW_ERR("measure_type '%s' must be anti_dumping, countervailing, safeguard, "
                        "section_301 or section_232",
                        type);
        if (!all_digits(prefix, 2, 10)) ROW_ERR("hs_prefix '%s' must be 2-10 digits", prefix);
        if (strlen(cc) != 2 || !cf_cc_of(cc, 2))
                ROW_ERR("affected_country '%s' is not an ISO 3166-1 alpha-2 code", cc);
        if (!*v[ix[0]]) ROW_ERR("case_id is empty");
        int64_t from = cf_parse_date_ms(v[ix[4]]), to = INT64_MAX;
        if (from < 0) ROW_ERR("in_force_from '%s' must be YYYY-MM-DD", v[ix[4]]);
        if (*v[ix[5]]) {
                to = cf_parse_date_ms(v[ix[5]]);
                if (to < 0) ROW_ERR("in_force_to '%s' must be YYYY-MM-DD or empty", v[ix[5]]);
                to += 86400000 - 1; /* the whole last day */
                if (to < from) ROW_ERR("in_force_to is before in_force_from");
        }
        double rate = NAN;
        if (c->opt[0] >= 0 && *v[c->opt[0]]) {
                char *end;
                errno = 0;
                rate = strtod(v[c->opt[0]], &end);
                if (errno || *end || !(rate >= 0))
                        ROW_ERR("duty_rate_pct '%s' must be a number >= 0", v[c->opt[0]]);
        }
        ref->measures = grow(ref->measures, ref->n_measures, &c->cap, sizeof(cf_measure));
        cf_measure *m = &ref->measures[ref->n_measures++];
        *m = (cf_measure){.case_id = strdup(v[ix[0]]),
                          .measure_type = strdup(type),
                          .hs_prefix = strdup(prefix),
                          .description = strdup(c->opt[1] >= 0 ? v[c->opt[1]] : ""),
                          .affected = CF_CC(cc[0], cc[1]),
                          .from_ms = from,
                          .to_ms = to,
                          .duty_rate_pct = rate};
        return 0;
}

static int load_measures(cf_detect_ref *ref, const char *path, char *errstr, size_t errstr_size)
{
        static const char *const req[] = {
            "case_id",       "measure_type", "hs_prefix", "affected_country",
            "in_force_from", "in_force_to",  NULL};
        static const char *const opt[] = {"duty_rate_pct", "description", NULL};
        int idx[6], oidx[2];
        load_ctx c = {ref, idx, oidx, 0};
        if (cf_csv_read(path, req, idx, opt, oidx, measure_row, &c, errstr, errstr_size)) return -1;
        ref->mcap = 16;
        while (ref->mcap < ref->n_measures * 2 + 1)
                ref->mcap *= 2;
        ref->mbuckets = calloc(ref->mcap, sizeof(*ref->mbuckets));
        for (size_t i = 0; i < ref->n_measures; i++) {
                cf_measure *m = &ref->measures[i];
                size_t len = strlen(m->hs_prefix);
                size_t s = mslot(ref, m->hs_prefix, len);
                m->next = ref->mbuckets[s];
                ref->mbuckets[s] = m;
                ref->prefix_lens |= (uint16_t)(1u << len);
        }
        return 0;
}

const cf_measure *cf_measures_for(const cf_detect_ref *ref, const char *hs, size_t len)
{
        if (!ref->mcap || !(ref->prefix_lens & (1u << len))) return NULL;
        return ref->mbuckets[mslot(ref, hs, len)];
}

/* ---- watchlist.csv ---- */

static int wl_row(const cf_csv_row *row, void *op, char *errstr, size_t errstr_size)
{
        load_ctx *c = op;
        cf_detect_ref *ref = c->ref;
        const char *kind = row->v[c->idx[0]], *id = row->v[c->idx[1]];
        static const char *const kinds[] = {"exporter", "importer", "manufacturer", "vessel",
                                            "party"};
        static const uint8_t masks[] = {CF_WL_EXPORTER, CF_WL_IMPORTER, CF_WL_MANUFACTURER,
                                        CF_WL_VESSEL,
                                        CF_WL_EXPORTER | CF_WL_IMPORTER | CF_WL_MANUFACTURER};
        uint8_t mask = 0;
        for (int i = 0; i < 5; i++)
                if (!strcmp(kind, kinds[i])) mask = masks[i];
        if (!mask)
                ROW_ERR("kind '%s' must be exporter, importer, manufacturer, vessel or party",
                        kind);
        if (!*id) ROW_ERR("id is empty");
        const char *listed = c->opt[1] >= 0 ? row->v[c->opt[1]] : "";
        if (*listed && cf_parse_date_ms(listed) < 0)
                ROW_ERR("listed_on '%s' must be YYYY-MM-DD", listed);
        ref->wl = grow(ref->wl, ref->n_wl, &c->cap, sizeof(cf_wl_entry));
        ref->wl[ref->n_wl++] =
            (cf_wl_entry){.id = strdup(id),
                          .reason = strdup(c->opt[0] >= 0 ? row->v[c->opt[0]] : ""),
                          .listed_on = strdup(listed),
                          .kind = strdup(kind),
                          .kinds = mask,
                          .h = cf_id_hash(id, strlen(id))};
        return 0;
}

static int cmp_wl(const void *a, const void *b)
{
        const cf_wl_entry *x = a, *y = b;
        return (x->h > y->h) - (x->h < y->h);
}

static int load_watchlist(cf_detect_ref *ref, const char *path, char *errstr, size_t errstr_size)
{
        static const char *const req[] = {"kind", "id", NULL};
        static const char *const opt[] = {"reason", "listed_on", NULL};
        int idx[2], oidx[2];
        load_ctx c = {ref, idx, oidx, 0};
        if (cf_csv_read(path, req, idx, opt, oidx, wl_row, &c, errstr, errstr_size)) return -1;
        if (ref->n_wl > 1) qsort(ref->wl, ref->n_wl, sizeof(*ref->wl), cmp_wl); /* wl: NULL if 0 */
        index_build(&ref->wl_ix, ref->wl, ref->n_wl, sizeof(*ref->wl), offsetof(cf_wl_entry, h));
        return 0;
}

/* ---- exporters.csv ---- */

/* A positive number in cell s (empty: NAN); -1 when malformed. */
static int parse_positive(const char *s, double *out)
{
        *out = NAN;
        if (!*s) return 0;
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || *end || !(v > 0) || !isfinite(v)) return -1;
        *out = v;
        return 0;
}

/* Capacity and its period: `capacity` with `period_days` (1..CF_CAP_MAX_DAYS), or the
 * older `capacity_per_year` read as a period of 365 days. */
static int reg_capacity(const cf_csv_row *row, const int *ox, double *cap, int *days, char *errstr,
                        size_t errstr_size)
{
        char **v = row->v;
        const char *c = ox[0] >= 0 ? v[ox[0]] : "", *pd = ox[1] >= 0 ? v[ox[1]] : "";
        const char *py = ox[2] >= 0 ? v[ox[2]] : "";
        double year;
        *days = 0;
        if (parse_positive(c, cap)) ROW_ERR("capacity '%s' must be a positive number", c);
        if (parse_positive(py, &year))
                ROW_ERR("capacity_per_year '%s' must be a positive number", py);
        if (!isnan(*cap) && !isnan(year))
                ROW_ERR("capacity and capacity_per_year both set: give one");
        if (!isnan(year)) {
                if (*pd) ROW_ERR("period_days goes with capacity, not capacity_per_year");
                *cap = year;
                *days = 365;
                return 0;
        }
        if (isnan(*cap)) {
                if (*pd) ROW_ERR("period_days '%s' without a capacity", pd);
                return 0;
        }
        char *end;
        long d = strtol(pd, &end, 10);
        if (!*pd || *end || d < 1 || d > CF_CAP_MAX_DAYS)
                ROW_ERR("period_days '%s' must be a whole number of days, 1-%d, with capacity", pd,
                        CF_CAP_MAX_DAYS);
        *days = (int)d;
        return 0;
}

static int reg_row(const cf_csv_row *row, void *op, char *errstr, size_t errstr_size)
{
        load_ctx *c = op;
        cf_detect_ref *ref = c->ref;
        char **v = row->v;
        const int *ix = c->idx;
        const char *id = v[ix[0]], *cc = v[ix[1]], *prefix = v[ix[3]], *unit = v[ix[4]];
        if (!*id) ROW_ERR("exporter_id is empty");
        if (strlen(cc) != 2 || !cf_cc_of(cc, 2))
                ROW_ERR("country '%s' is not an ISO 3166-1 alpha-2 code", cc);
        int64_t reg = -1;
        if (*v[ix[2]] && (reg = cf_parse_date_ms(v[ix[2]])) < 0)
                ROW_ERR("registered_on '%s' must be YYYY-MM-DD", v[ix[2]]);
        if (*prefix && !all_digits(prefix, 2, 10))
                ROW_ERR("hs_prefix '%s' must be 2-10 digits", prefix);
        if (*unit && strlen(unit) != 3) ROW_ERR("unit '%s' must be a 3-letter UN/ECE code", unit);
        double cap;
        int days;
        if (reg_capacity(row, c->opt, &cap, &days, errstr, errstr_size)) return -1;
        if (!isnan(cap) && (!*prefix || !*unit)) ROW_ERR("a capacity needs hs_prefix and unit");
        ref->reg = grow(ref->reg, ref->n_reg, &c->cap, sizeof(cf_reg_row));
        cf_reg_row *r = &ref->reg[ref->n_reg];
        *r = (cf_reg_row){.exporter_id = strdup(id),
                          .hs_prefix = strdup(prefix),
                          .country = CF_CC(cc[0], cc[1]),
                          .registered_ms = reg,
                          .capacity = cap,
                          .period_days = (uint16_t)days,
                          .index = (uint32_t)ref->n_reg,
                          .h = cf_id_hash(id, strlen(id))};
        snprintf(r->unit, sizeof(r->unit), "%s", unit);
        ref->n_reg++;
        return 0;
}

static int cmp_reg(const void *a, const void *b)
{
        const cf_reg_row *x = a, *y = b;
        if (x->h != y->h) return (x->h > y->h) - (x->h < y->h);
        return (x->index > y->index) - (x->index < y->index);
}

static int load_registry(cf_detect_ref *ref, const char *path, char *errstr, size_t errstr_size)
{
        static const char *const req[] = {"exporter_id", "country", "registered_on",
                                          "hs_prefix",   "unit",    NULL};
        static const char *const opt[] = {"capacity", "period_days", "capacity_per_year", NULL};
        int idx[5], oidx[3];
        load_ctx c = {ref, idx, oidx, 0};
        if (cf_csv_read(path, req, idx, opt, oidx, reg_row, &c, errstr, errstr_size)) return -1;
        if (ref->n_reg > 1) qsort(ref->reg, ref->n_reg, sizeof(*ref->reg), cmp_reg);
        index_build(&ref->reg_ix, ref->reg, ref->n_reg, sizeof(*ref->reg), offsetof(cf_reg_row, h));
        return 0;
}

/* ---- route_watchlist.csv ---- */

static int route_row(const cf_csv_row *row, void *op, char *errstr, size_t errstr_size)
{
        load_ctx *c = op;
        cf_detect_ref *ref = c->ref;
        const char *kind = row->v[c->idx[0]], *val = row->v[c->idx[1]];
        if (ref->n_route >= 65534) ROW_ERR("too many route watch-list rows (max 65534)");
        uint16_t slot = (uint16_t)(ref->n_route + 1);
        if (!strcmp(kind, "origin")) {
                if (strlen(val) != 2 || !cf_cc_of(val, 2))
                        ROW_ERR("origin '%s' is not an ISO 3166-1 alpha-2 code", val);
                ref->route_origin_ix[CF_CC(val[0], val[1])] = slot;
        } else if (!strcmp(kind, "hs_chapter")) {
                if (!all_digits(val, 2, 2)) ROW_ERR("hs_chapter '%s' must be 2 digits", val);
                ref->route_chapter_ix[atoi(val)] = slot;
        } else {
                ROW_ERR("kind '%s' must be origin or hs_chapter", kind);
        }
        ref->route = grow(ref->route, ref->n_route, &c->cap, sizeof(cf_route_entry));
        ref->route[ref->n_route++] = (cf_route_entry){
            strdup(kind), strdup(val), strdup(c->opt[0] >= 0 ? row->v[c->opt[0]] : "")};
        return 0;
}

static int load_route(cf_detect_ref *ref, const char *path, char *errstr, size_t errstr_size)
{
        static const char *const req[] = {"kind", "value", NULL};
        static const char *const opt[] = {"reason", NULL};
        int idx[2], oidx[1];
        load_ctx c = {ref, idx, oidx, 0};
        return cf_csv_read(path, req, idx, opt, oidx, route_row, &c, errstr, errstr_size);
}

int cf_detect_ref_load(cf_detect_ref *ref, const char *measures, const char *watchlist,
                       const char *exporters, const char *route_watchlist, char *errstr,
                       size_t errstr_size)
{
        memset(ref, 0, sizeof(*ref));
        ref->route_origin_ix = calloc(65536, sizeof(*ref->route_origin_ix));
        if ((measures && load_measures(ref, measures, errstr, errstr_size)) ||
            (watchlist && load_watchlist(ref, watchlist, errstr, errstr_size)) ||
            (exporters && load_registry(ref, exporters, errstr, errstr_size)) ||
            (route_watchlist && load_route(ref, route_watchlist, errstr, errstr_size))) {
                cf_detect_ref_free(ref);
                return -1;
        }
        return 0;
}

void cf_detect_ref_free(cf_detect_ref *ref)
{
        for (size_t i = 0; i < ref->n_measures; i++) {
                cf_measure *m = &ref->measures[i];
                free(m->case_id);
                free(m->measure_type);
                free(m->hs_prefix);
                free(m->description);
        }
        free(ref->measures);
        free(ref->mbuckets);
        for (size_t i = 0; i < ref->n_wl; i++) {
                free(ref->wl[i].id);
                free(ref->wl[i].reason);
                free(ref->wl[i].listed_on);
                free(ref->wl[i].kind);
        }
        free(ref->wl);
        index_free(&ref->wl_ix);
        for (size_t i = 0; i < ref->n_reg; i++) {
                free(ref->reg[i].exporter_id);
                free(ref->reg[i].hs_prefix);
        }
        free(ref->reg);
        index_free(&ref->reg_ix);
        for (size_t i = 0; i < ref->n_route; i++) {
                free(ref->route[i].kind);
                free(ref->route[i].value);
                free(ref->route[i].reason);
        }
        free(ref->route);
        free(ref->route_origin_ix);
        memset(ref, 0, sizeof(*ref));
}
