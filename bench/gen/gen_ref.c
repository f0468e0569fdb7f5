/*
 * gen_ref.c - the generator's random numbers and its reference data loader
 * (the CSV formats of schemas/reference/FORMATS.md, read with libcsv).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/gen/gen_internal.h"
#include "pipeline/core/csv_reader.h"
#include "stages/decode/decode.h"

/* ---- random numbers ---- */

static uint64_t splitmix64(uint64_t *x)
{
        uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

void gen_rng_seed(gen_rng *r, uint64_t seed)
{
        for (int i = 0; i < 4; i++)
                r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
        return (x << k) | (x >> (64 - k));
}

uint64_t gen_rng_u64(gen_rng *r)
{
        uint64_t *s = r->s;
        uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return out;
}

double gen_rng_unit(gen_rng *r)
{
        return (double)(gen_rng_u64(r) >> 11) * 0x1.0p-53;
}

uint64_t gen_rng_below(gen_rng *r, uint64_t n)
{
        return n ? gen_rng_u64(r) % n : 0;
}

double gen_rng_normal(gen_rng *r)
{
        double u = gen_rng_unit(r), v = gen_rng_unit(r);
        return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

bool gen_rng_chance(gen_rng *r, double p)
{
        return gen_rng_unit(r) < p;
}

/* ---- helpers ---- */

void gen_put_cc(char out[3], uint16_t cc)
{
        out[0] = (char)(cc >> 8);
        out[1] = (char)(cc & 0xff);
        out[2] = '\0';
}

uint16_t gen_cc(const char *s)
{
        return CF_CC(s[0], s[1]);
}

int gen_ref_country(const gen_ref *ref, uint16_t cc)
{
        for (int i = 0; i < ref->n_countries; i++)
                if (ref->countries[i].cc == cc) return i;
        return -1;
}

static int parse_date_ms(const char *s, int64_t *out)
{
        char tmp[32];
        if (strlen(s) != 10) return -1;
        snprintf(tmp, sizeof tmp, "%sT00:00:00Z", s);
        return cf_parse_rfc3339(tmp, strlen(tmp), out);
}

#define GROW(arr, n, cap)                                                                          \
        do {                                                                                       \
                if ((n) == (cap)) {                                                                \
                        (cap) = (cap) ? 2 * (cap) : 64;                                            \
                        (arr) = realloc((arr), (size_t)(cap) * sizeof(*(arr)));                    \
                }                                                                                  \
        } while (0)

#define ROW_ERR(...)                                                                               \
        do {                                                                                       \
                char m_[160];                                                                      \
                snprintf(m_, sizeof m_, __VA_ARGS__);                                              \
                snprintf(errstr, errstr_size, "%s:%d: %s", row->file, row->line, m_);              \
                return -1;                                                                         \
        } while (0)

typedef struct load_ctx {
        gen_ref *ref;
        int cap;
        const int *col;
} load_ctx;

static int cc_ok(const char *s)
{
        return strlen(s) == 2 && cf_iso_country_valid(s, 2);
}

static int on_country(const cf_csv_row *row, void *o, char *errstr, size_t errstr_size)
{
        load_ctx *c = o;
        gen_ref *ref = c->ref;
        const char *iso = row->v[c->col[0]], *w = row->v[c->col[1]], *cur = row->v[c->col[2]];
        if (!cc_ok(iso)) ROW_ERR("iso2: '%s' is not an ISO 3166-1 alpha-2 code", iso);
        double weight = strtod(w, NULL);
        if (!(weight > 0)) ROW_ERR("trade_weight: '%s' is not a positive number", w);
        if (strlen(cur) != 3) ROW_ERR("currency: '%s' is not an ISO 4217 code", cur);
        GROW(ref->countries, ref->n_countries, c->cap);
        gen_country *k = &ref->countries[ref->n_countries++];
        memset(k, 0, sizeof *k);
        k->cc = gen_cc(iso);
        memcpy(k->iso, iso, 3);
        k->weight = weight;
        memcpy(k->currency, cur, 4);
        ref->total_weight += weight;
        return 0;
}

static int on_hs(const cf_csv_row *row, void *o, char *errstr, size_t errstr_size)
{
        load_ctx *c = o;
        gen_ref *ref = c->ref;
        const char *hs = row->v[c->col[0]], *unit = row->v[c->col[1]];
        double uv = strtod(row->v[c->col[2]], NULL), sg = strtod(row->v[c->col[3]], NULL);
        if (strlen(hs) != 6 || strspn(hs, "0123456789") != 6)
                ROW_ERR("hs6: '%s' is not six digits", hs);
        if (strlen(unit) < 2 || strlen(unit) > 3) ROW_ERR("unit: '%s' is not a Rec. 20 code", unit);
        if (!(uv > 0)) ROW_ERR("ref_unit_value_usd must be > 0");
        if (!(sg > 0 && sg < 2)) ROW_ERR("price_sigma must be in (0, 2)");
        GROW(ref->hs, ref->n_hs, c->cap);
        gen_hs *h = &ref->hs[ref->n_hs++];
        memset(h, 0, sizeof *h);
        memcpy(h->hs6, hs, 7);
        memcpy(h->unit, unit, strlen(unit) + 1);
        snprintf(h->desc, sizeof h->desc, "%s", c->col[4] >= 0 ? row->v[c->col[4]] : "");
        h->ref_uv = uv;
        h->sigma = sg;
        return 0;
}

static int on_port(const cf_csv_row *row, void *o, char *errstr, size_t errstr_size)
{
        load_ctx *c = o;
        gen_ref *ref = c->ref;
        const char *lo = row->v[c->col[0]];
        if (strlen(lo) != 5 || !cc_ok((char[]){lo[0], lo[1], 0}))
                ROW_ERR("locode: '%s' is not a UN/LOCODE", lo);
        GROW(ref->ports, ref->n_ports, c->cap);
        gen_port *p = &ref->ports[ref->n_ports++];
        memcpy(p->locode, lo, 6);
        p->cc = gen_cc(lo);
        return 0;
}

static int on_measure(const cf_csv_row *row, void *o, char *errstr, size_t errstr_size)
{
        load_ctx *c = o;
        gen_ref *ref = c->ref;
        const char *id = row->v[c->col[0]], *pre = row->v[c->col[1]], *aff = row->v[c->col[2]];
        const char *from = row->v[c->col[3]], *to = row->v[c->col[4]];
        size_t pl = strlen(pre);
        if (pl < 2 || pl > 10 || strspn(pre, "0123456789") != pl)
                ROW_ERR("hs_prefix: '%s' is not 2-10 digits", pre);
        if (!cc_ok(aff)) ROW_ERR("affected_country: '%s' is not an ISO code", aff);
        GROW(ref->measures, ref->n_measures, c->cap);
        gen_measure *m = &ref->measures[ref->n_measures];
        snprintf(m->case_id, sizeof m->case_id, "%s", id);
        memcpy(m->hs_prefix, pre, pl + 1);
        m->affected = gen_cc(aff);
        if (parse_date_ms(from, &m->from_ms)) ROW_ERR("in_force_from: '%s' is not a date", from);
        m->to_ms = INT64_MAX;
        if (*to && parse_date_ms(to, &m->to_ms)) ROW_ERR("in_force_to: '%s' is not a date", to);
        if (*to) m->to_ms += 86400000LL - 1; /* the whole last day */
        ref->n_measures++;
        return 0;
}

static int on_watch(const cf_csv_row *row, void *o, char *errstr, size_t errstr_size)
{
        load_ctx *c = o;
        gen_ref *ref = c->ref;
        (void)errstr, (void)errstr_size;
        GROW(ref->watch, ref->n_watch, c->cap);
        gen_watch *w = &ref->watch[ref->n_watch++];
        snprintf(w->kind, sizeof w->kind, "%s", row->v[c->col[0]]);
        snprintf(w->id, sizeof w->id, "%s", row->v[c->col[1]]);
        return 0;
}

/* The registry's capacity: `capacity` over `period_days`, or `capacity_per_year` (365
 * days), as schemas/reference/FORMATS.md says; rows without one are registrations only. */
static int on_registered(const cf_csv_row *row, void *o, char *errstr, size_t errstr_size)
{
        load_ctx *c = o;
        gen_ref *ref = c->ref;
        const char *cc = row->v[c->col[1]];
        if (!cc_ok(cc)) ROW_ERR("country: '%s' is not an ISO code", cc);
        const char *capc = c->col[5] >= 0 ? row->v[c->col[5]] : "";
        const char *days = c->col[6] >= 0 ? row->v[c->col[6]] : "";
        const char *year = c->col[7] >= 0 ? row->v[c->col[7]] : "";
        double cap = 0;
        int period = 0;
        if (*capc) {
                cap = strtod(capc, NULL);
                period = atoi(days);
        } else if (*year) {
                cap = strtod(year, NULL);
                period = 365;
        }
        if ((*capc || *year) && (!(cap > 0) || period < 1))
                ROW_ERR("capacity must be > 0 with period_days >= 1");
        GROW(ref->reg, ref->n_reg, c->cap);
        gen_registered *g = &ref->reg[ref->n_reg++];
        memset(g, 0, sizeof *g);
        snprintf(g->exporter_id, sizeof g->exporter_id, "%s", row->v[c->col[0]]);
        g->cc = gen_cc(cc);
        snprintf(g->hs_prefix, sizeof g->hs_prefix, "%s", row->v[c->col[2]]);
        snprintf(g->unit, sizeof g->unit, "%s", row->v[c->col[3]]);
        g->capacity = cap;
        g->period_days = period;
        g->hs_idx = -1;
        const char *reg = c->col[4] >= 0 ? row->v[c->col[4]] : "";
        if (*reg && parse_date_ms(reg, &g->registered_ms))
                ROW_ERR("registered_on: '%s' is not a date", reg);
        return 0;
}

static int on_route(const cf_csv_row *row, void *o, char *errstr, size_t errstr_size)
{
        load_ctx *c = o;
        gen_ref *ref = c->ref;
        const char *kind = row->v[c->col[0]], *v = row->v[c->col[1]];
        if (!strcmp(kind, "origin") && cc_ok(v) && ref->n_route_origins < 64)
                ref->route_origins[ref->n_route_origins++] = gen_cc(v);
        else if (!strcmp(kind, "hs_chapter") && strlen(v) == 2 && ref->n_route_chapters < 64)
                memcpy(ref->route_chapters[ref->n_route_chapters++], v, 3);
        else
                ROW_ERR("kind '%s' with value '%s' is not an origin or hs_chapter entry", kind, v);
        return 0;
}

static int read_ref(const char *dir, const char *file, const char *const *req,
                    const char *const *opt, cf_csv_row_cb cb, gen_ref *ref, char *errstr,
                    size_t errstr_size)
{
        char path[1024];
        int col[16];
        int nreq = 0;
        for (int i = 0; i < 16; i++)
                col[i] = -1;
        while (req[nreq])
                nreq++;
        snprintf(path, sizeof path, "%s/%s", dir, file);
        load_ctx c = {ref, 0, col};
        /* optional columns follow the required ones in col[] */
        return cf_csv_read(path, req, col, opt, col + nreq, cb, &c, errstr, errstr_size);
}

static int cmp_port(const void *a, const void *b)
{
        const gen_port *x = a, *y = b;
        if (x->cc != y->cc) return x->cc < y->cc ? -1 : 1;
        return strcmp(x->locode, y->locode);
}

/* Zipf(s = 1.0) cumulative weights over each origin's exporter pool. The pool
 * size follows the country's trade weight, so big traders have more exporters. */
static void build_pools(gen_ref *ref)
{
        for (int i = 0; i < ref->n_countries; i++) {
                gen_country *k = &ref->countries[i];
                int pool = (int)(4000.0 * k->weight / ref->total_weight * 100.0);
                k->pool = pool < 20 ? 20 : pool;
                k->zipf_cdf = malloc((size_t)k->pool * sizeof(double));
                double acc = 0;
                for (int r = 0; r < k->pool; r++)
                        k->zipf_cdf[r] = (acc += 1.0 / (r + 1));
        }
}

static void link_ports(gen_ref *ref)
{
        qsort(ref->ports, (size_t)ref->n_ports, sizeof *ref->ports, cmp_port);
        for (int i = 0; i < ref->n_countries; i++) {
                gen_country *k = &ref->countries[i];
                k->first_port = -1;
                for (int p = 0; p < ref->n_ports; p++) {
                        if (ref->ports[p].cc != k->cc) continue;
                        if (k->first_port < 0) k->first_port = p;
                        k->n_ports++;
                }
        }
}

static void link_registry(gen_ref *ref)
{
        for (int i = 0; i < ref->n_reg; i++) {
                gen_registered *g = &ref->reg[i];
                for (int h = 0; h < ref->n_hs && g->hs_idx < 0; h++)
                        if (!strncmp(ref->hs[h].hs6, g->hs_prefix,
                                     strlen(g->hs_prefix) < 6 ? strlen(g->hs_prefix) : 6) &&
                            !strcmp(ref->hs[h].unit, g->unit))
                                g->hs_idx = h;
        }
}

int gen_ref_load(gen_ref *ref, const char *dir, char *errstr, size_t errstr_size)
{
        memset(ref, 0, sizeof *ref);
        static const char *const c_req[] = {"iso2", "trade_weight", "currency", NULL};
        static const char *const h_req[] = {"hs6", "unit", "ref_unit_value_usd", "price_sigma",
                                            NULL};
        static const char *const h_opt[] = {"description", NULL};
        static const char *const p_req[] = {"locode", NULL};
        static const char *const m_req[] = {"case_id",       "hs_prefix",   "affected_country",
                                            "in_force_from", "in_force_to", NULL};
        static const char *const w_req[] = {"kind", "id", NULL};
        static const char *const e_req[] = {"exporter_id", "country", "hs_prefix", "unit", NULL};
        static const char *const r_req[] = {"kind", "value", NULL};
        static const char *const e_opt[] = {"registered_on", "capacity", "period_days",
                                            "capacity_per_year", NULL};
        char path[1024];
        if (read_ref(dir, "countries.csv", c_req, NULL, on_country, ref, errstr, errstr_size) ||
            read_ref(dir, "hs_codes.csv", h_req, h_opt, on_hs, ref, errstr, errstr_size) ||
            read_ref(dir, "ports.csv", p_req, NULL, on_port, ref, errstr, errstr_size) ||
            read_ref(dir, "trade_measures.csv", m_req, NULL, on_measure, ref, errstr,
                     errstr_size) ||
            read_ref(dir, "watchlist.csv", w_req, NULL, on_watch, ref, errstr, errstr_size) ||
            read_ref(dir, "exporters.csv", e_req, e_opt, on_registered, ref, errstr, errstr_size) ||
            read_ref(dir, "route_watchlist.csv", r_req, NULL, on_route, ref, errstr, errstr_size))
                goto fail;
        if (ref->n_countries < 3 || ref->n_hs < 1) {
                snprintf(errstr, errstr_size, "%s: need at least 3 countries and 1 HS code", dir);
                goto fail;
        }
        snprintf(path, sizeof path, "%s/fx_rates.csv", dir);
        if (!(ref->fx = cf_fx_load(path, errstr, errstr_size))) goto fail;
        link_ports(ref);
        link_registry(ref);
        build_pools(ref);
        return 0;
fail:
        gen_ref_free(ref);
        return -1;
}

void gen_ref_free(gen_ref *ref)
{
        for (int i = 0; i < ref->n_countries; i++)
                free(ref->countries[i].zipf_cdf);
        free(ref->countries);
        free(ref->hs);
        free(ref->ports);
        free(ref->measures);
        free(ref->watch);
        free(ref->reg);
        if (ref->fx) cf_fx_free(ref->fx);
        memset(ref, 0, sizeof *ref);
}
