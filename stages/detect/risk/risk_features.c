/*
 * risk_features.c - the declaration fields the risk model can read, feature
 * specs (a field or a cross of fields, from the config), value hashing and the
 * analyst-readable names of features (evidence).
 *
 * A field's value becomes a 64-bit hash: strings through XXH3 (decode's hash
 * for the exporter and importer), countries and HS codes from their packed
 * numbers, amounts as log2 buckets. A spec's hash mixes its own seed (the hash
 * of its name) with its fields' values; the weight slot is that hash modulo the
 * hash space. An absent field is a value of its own ("missing"): a declaration
 * without a seller is information too.
 *
 * @locality: the thread that owns the model.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages/detect/risk/risk_int.h"

typedef enum { V_STR, V_CC, V_HS, V_BUCKET, V_RATE, V_FLAG } vkind;

static const struct {
        const char *name;
        vkind kind;
        const char *unit; /* buckets: unit of the amount */
} fields[RF_COUNT] = {
    [RF_IMPORTER] = {"importer_id", V_STR},
    [RF_EXPORTER] = {"exporter_id", V_STR},
    [RF_DECLARANT] = {"declarant_id", V_STR},
    [RF_MANUFACTURER] = {"manufacturer_id", V_STR},
    [RF_OFFICE] = {"customs_office", V_STR},
    [RF_COURIER] = {"courier_id", V_STR},
    [RF_TRANSPORT] = {"transport_mode", V_STR},
    [RF_TAX_TYPE] = {"tax_type", V_STR},
    [RF_TAX_RATE] = {"tax_rate", V_RATE},
    [RF_ORIGIN_INDICATOR] = {"origin_indicator", V_STR},
    [RF_PROCESS_TYPE] = {"process_type", V_STR},
    [RF_IMPORT_TYPE] = {"import_type", V_STR},
    [RF_IMPORT_USE] = {"import_use", V_STR},
    [RF_PAYMENT_TYPE] = {"payment_type", V_STR},
    [RF_ORIGIN] = {"origin_country", V_CC},
    [RF_EXPORT] = {"export_country", V_CC},
    [RF_REPORTER] = {"reporter_country", V_CC},
    [RF_MANUFACTURER_CC] = {"manufacturer_country", V_CC},
    [RF_POL] = {"port_of_loading", V_STR},
    [RF_HS6] = {"hs6", V_HS},
    [RF_HS4] = {"hs4", V_HS},
    [RF_HS2] = {"hs2", V_HS},
    [RF_HS_CODE] = {"hs_code", V_STR},
    [RF_UNIT] = {"unit", V_STR},
    [RF_CURRENCY] = {"currency", V_STR},
    [RF_PREFERENCE] = {"preference_code", V_STR},
    [RF_ORIGIN_DIFFERS] = {"origin_differs", V_FLAG},
    [RF_UNIT_PRICE] = {"unit_price", V_BUCKET, "USD/kg"},
    [RF_VALUE] = {"value", V_BUCKET, "USD"},
    [RF_MASS] = {"mass", V_BUCKET, "kg"},
    [RF_ATTR] = {"attributes.", V_STR},
};

#define MISSING_BUCKET INT32_MIN

/* The string of a V_STR field (n = 0 and p = NULL when absent). */
static cf_str field_str(const cf_decl *d, int f)
{
        static const cf_str none = {0};
        switch (f) {
        case RF_IMPORTER:
                return d->importer_id;
        case RF_EXPORTER:
                return d->exporter_id;
        case RF_DECLARANT:
                return d->declarant_id;
        case RF_MANUFACTURER:
                return d->manufacturer_id;
        case RF_OFFICE:
                return d->customs_office;
        case RF_COURIER:
                return d->courier_id;
        case RF_TRANSPORT:
                return d->transport_mode;
        case RF_TAX_TYPE:
                return d->tax_type;
        case RF_ORIGIN_INDICATOR:
                return d->origin_indicator;
        case RF_PROCESS_TYPE:
                return d->process_type;
        case RF_IMPORT_TYPE:
                return d->import_type;
        case RF_IMPORT_USE:
                return d->import_use;
        case RF_PAYMENT_TYPE:
                return d->payment_type;
        case RF_POL:
                return d->port_of_loading;
        case RF_HS_CODE:
                return d->hs_code;
        case RF_PREFERENCE:
                return d->preference_code;
        case RF_UNIT:
                return (cf_str){d->unit, (uint32_t)strlen(d->unit)};
        case RF_CURRENCY:
                return (cf_str){d->currency, (uint32_t)strlen(d->currency)};
        default:
                return none;
        }
}

static uint16_t field_cc(const cf_decl *d, int f)
{
        switch (f) {
        case RF_ORIGIN:
                return d->origin_country;
        case RF_EXPORT:
                return d->export_country;
        case RF_REPORTER:
                return d->reporter_country;
        default:
                return d->manufacturer_country;
        }
}

/* Net mass in kg: net_mass_kg, else the quantity when it is in kilograms. */
static double mass_kg(const cf_decl *d)
{
        if ((d->present & CF_HAS_NET_MASS) && d->net_mass_kg > 0) return d->net_mass_kg;
        if (!strcmp(d->unit, "KGM") && d->quantity > 0) return d->quantity;
        return 0;
}

/* The amount of a V_BUCKET field; <0 when it cannot be computed. */
static double field_amount(const cf_decl *d, int f)
{
        double kg = mass_kg(d);
        switch (f) {
        case RF_UNIT_PRICE:
                return kg > 0 ? d->value_usd / kg : -1;
        case RF_VALUE:
                return d->value_usd;
        default:
                return kg > 0 ? kg : -1;
        }
}

/* log2 bucket: floor(log2(x) * per_doubling); 0 has its own bucket. */
static int32_t bucket_of(double x, double per_doubling)
{
        if (x < 0 || !isfinite(x)) return MISSING_BUCKET;
        if (x == 0) return MISSING_BUCKET + 1;
        double b = floor(log2(x) * per_doubling);
        if (b < -100000) b = -100000;
        if (b > 100000) b = 100000;
        return (int32_t)b;
}

static const cf_attr *find_attr(const cf_decl *d, const char *name)
{
        size_t n = strlen(name);
        for (uint16_t i = 0; i < d->n_attrs; i++)
                if (d->attrs[i].key.n == n && !memcmp(d->attrs[i].key.p, name, n))
                        return &d->attrs[i];
        return NULL;
}

static uint64_t str_hash(cf_str s, int f)
{
        if (!s.p) return cf_risk_mix(0x6d697373696e67ULL + (uint64_t)f); /* "missing" */
        return XXH3_64bits_withSeed(s.p, s.n, (uint64_t)f);
}

/* Value hash of field f of d (never 0). */
static uint64_t field_value(const cf_risk *m, const cf_decl *d, int f, const char *attr)
{
        uint64_t v;
        switch (fields[f].kind) {
        case V_STR:
                if (f == RF_IMPORTER)
                        v = cf_decl_importer_h(d);
                else if (f == RF_EXPORTER)
                        v = cf_decl_exporter_h(d);
                else if (f == RF_ATTR) {
                        const cf_attr *a = find_attr(d, attr);
                        char num[32];
                        cf_str s = {0};
                        if (a && a->is_num)
                                s = (cf_str){num, (uint32_t)cf_fmt_num(num, a->num)};
                        else if (a)
                                s = a->str;
                        v = str_hash(s, f);
                } else
                        v = str_hash(field_str(d, f), f);
                break;
        case V_CC:
                v = cf_risk_mix(((uint64_t)f << 32) | field_cc(d, f));
                break;
        case V_HS: {
                static const uint32_t div[3] = {1, 100, 10000};
                uint32_t hs = d->hs6 / div[f - RF_HS6];
                v = cf_risk_mix(((uint64_t)f << 32) | hs);
                break;
        }
        case V_RATE: {
                double r = (d->present & CF_HAS_TAX_RATE) ? d->tax_rate : -1;
                int64_t q = (int64_t)llround(r * 1000); /* exact to 0.001 % */
                v = cf_risk_mix(((uint64_t)f << 48) ^ (uint64_t)q);
                break;
        }
        case V_FLAG:
                v = cf_risk_mix(((uint64_t)f << 32) |
                                (d->origin_country != d->export_country ? 1u : 0u));
                break;
        default:
                v = cf_risk_mix(((uint64_t)f << 32) ^
                                (uint32_t)bucket_of(field_amount(d, f), m->cfg.log_buckets));
                break;
        }
        return v ? v : 1;
}

void cf_risk_fields_eval(cf_risk *m, const cf_decl *d)
{
        for (int f = 0; f < RF_ATTR; f++)
                if (m->fields_used >> f & 1) m->fval[f] = field_value(m, d, f, NULL);
}

uint64_t cf_risk_spec_hash(const cf_risk *m, const risk_spec *s, const cf_decl *d)
{
        uint64_t h = s->seed;
        for (int i = 0; i < s->nf; i++) {
                uint64_t v =
                    s->f[i] == RF_ATTR ? field_value(m, d, RF_ATTR, s->attr[i]) : m->fval[s->f[i]];
                h = cf_risk_mix(h ^ v) + (uint64_t)i;
        }
        return h;
}

/* The value of field f as text, for evidence. */
static void render_value(const cf_risk *m, const cf_decl *d, int f, const char *attr, char *out,
                         size_t n)
{
        switch (fields[f].kind) {
        case V_STR: {
                cf_str s = field_str(d, f);
                const cf_attr *a = f == RF_ATTR ? find_attr(d, attr) : NULL;
                if (a && a->is_num) {
                        size_t k = cf_fmt_num(out, a->num);
                        out[k < n ? k : n - 1] = '\0';
                        return;
                }
                if (a) s = a->str;
                if (!s.p)
                        snprintf(out, n, "(none)");
                else
                        snprintf(out, n, "%.*s", (int)(s.n > 64 ? 64 : s.n), s.p);
                return;
        }
        case V_CC: {
                uint16_t cc = field_cc(d, f);
                if (!cc)
                        snprintf(out, n, "(none)");
                else
                        snprintf(out, n, "%c%c", cc >> 8, cc & 0xff);
                return;
        }
        case V_HS: {
                static const int digits[3] = {6, 4, 2}, div[3] = {1, 100, 10000};
                int k = f - RF_HS6;
                snprintf(out, n, "%0*u", digits[k], d->hs6 / (uint32_t)div[k]);
                return;
        }
        case V_RATE:
                if (d->present & CF_HAS_TAX_RATE)
                        snprintf(out, n, "%g%%", d->tax_rate);
                else
                        snprintf(out, n, "(none)");
                return;
        case V_FLAG:
                snprintf(out, n, "%s", d->origin_country != d->export_country ? "yes" : "no");
                return;
        default: {
                int32_t b = bucket_of(field_amount(d, f), m->cfg.log_buckets);
                if (b == MISSING_BUCKET)
                        snprintf(out, n, "(none)");
                else if (b == MISSING_BUCKET + 1)
                        snprintf(out, n, "0 %s", fields[f].unit);
                else
                        snprintf(out, n, "%.4g-%.4g %s", exp2(b / m->cfg.log_buckets),
                                 exp2((b + 1) / m->cfg.log_buckets), fields[f].unit);
        }
        }
}

void cf_risk_spec_render(const cf_risk *m, const risk_spec *s, const cf_decl *d, char *out,
                         size_t n)
{
        size_t k = (size_t)snprintf(out, n, "%s=", s->name);
        for (int i = 0; i < s->nf && k + 1 < n; i++) {
                if (i) out[k++] = '*';
                render_value(m, d, s->f[i], s->attr[i], out + k, n - k);
                k += strlen(out + k);
        }
}

/* ---- specs from the config ---- */

static int field_of(const char *name, size_t n, char **attr)
{
        size_t al = strlen(fields[RF_ATTR].name);
        if (n > al && !memcmp(name, fields[RF_ATTR].name, al)) {
                *attr = strndup(name + al, n - al);
                return RF_ATTR;
        }
        for (int f = 0; f < RF_ATTR; f++)
                if (strlen(fields[f].name) == n && !memcmp(fields[f].name, name, n)) return f;
        return -1;
}

/* Parse "a*b*c" into s; -1 + errstr naming the unknown field. */
static int spec_parse(risk_spec *s, const char *text, const char *list, char *errstr,
                      size_t errstr_size)
{
        memset(s, 0, sizeof(*s));
        s->name = strdup(text);
        s->seed = cf_risk_mix(XXH3_64bits(text, strlen(text)));
        const char *p = text;
        for (;;) {
                const char *e = strchr(p, '*');
                size_t n = e ? (size_t)(e - p) : strlen(p);
                if (s->nf == RISK_MAX_CROSS) {
                        snprintf(errstr, errstr_size, "%s: '%s' crosses more than %d fields", list,
                                 text, RISK_MAX_CROSS);
                        return -1;
                }
                int f = field_of(p, n, &s->attr[s->nf]);
                if (f < 0) {
                        snprintf(errstr, errstr_size,
                                 "%s: unknown field '%.*s' in '%s' (known: see "
                                 "stages/detect/risk/README.md)",
                                 list, (int)n, p, text);
                        return -1;
                }
                s->f[s->nf++] = (uint8_t)f;
                if (!e) return 0;
                p = e + 1;
        }
}

/* The list given (an empty one too), or the map's default (a comma-separated
 * text) when the key is absent (the config map leaves v NULL then). */
static int specs_from(cf_risk *m, const cf_strlist *given, const char *key, risk_spec *out,
                      uint32_t *n_out, char *errstr, size_t errstr_size)
{
        const char *def = NULL;
        for (const cf_config_map *c = cf_risk_config_map; c->name; c++)
                if (!strcmp(c->name, key)) def = c->def;
        char *copy = given->v ? NULL : strdup(def ? def : "");
        char *save = NULL, *tok = copy ? strtok_r(copy, ",", &save) : NULL;
        size_t n = given->n;
        *n_out = 0;
        for (size_t i = 0; copy ? tok != NULL : i < n; i++) {
                const char *text = copy ? tok : given->v[i];
                if (*n_out == RISK_MAX_SPECS) {
                        snprintf(errstr, errstr_size, "%s: more than %d entries", key,
                                 RISK_MAX_SPECS);
                        free(copy);
                        return -1;
                }
                risk_spec *s = &out[(*n_out)++];
                if (spec_parse(s, text, key, errstr, errstr_size)) {
                        free(copy);
                        return -1;
                }
                for (int k = 0; k < s->nf; k++)
                        m->fields_used |= 1ull << s->f[k];
                if (copy) tok = strtok_r(NULL, ",", &save);
        }
        free(copy);
        return 0;
}

int cf_risk_specs_init(cf_risk *m, const cf_risk_cfg *cfg, char *errstr, size_t errstr_size)
{
        if (specs_from(m, &cfg->features, "features", m->feats, &m->n_feats, errstr, errstr_size))
                return -1;
        return specs_from(m, &cfg->encodings, "encodings", m->enc, &m->n_enc, errstr, errstr_size);
}

void cf_risk_specs_free(cf_risk *m)
{
        risk_spec *lists[2] = {m->feats, m->enc};
        uint32_t ns[2] = {m->n_feats, m->n_enc};
        for (int l = 0; l < 2; l++)
                for (uint32_t i = 0; i < ns[l]; i++) {
                        free(lists[l][i].name);
                        for (int k = 0; k < RISK_MAX_CROSS; k++)
                                free(lists[l][i].attr[k]);
                }
        m->n_feats = m->n_enc = 0;
}
