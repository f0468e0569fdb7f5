/*
 * decode_fields.c - per-field checks of the declaration (types, formats, ranges).
 */
#include "stages/decode/decode_fields.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/memeq.h"
#include "pipeline/core/utf8.h"
#include "stages/decode/decode.h"

/* clang-format off: the field tables stay compact, in field order */
enum field_id {
        F_DECLARATION_ID, F_LINE, F_EVENT_TIME, F_HS_CODE, F_ORIGIN, F_EXPORT, F_EXPORTER,
        F_IMPORTER, F_QUANTITY, F_UNIT, F_VALUE, F_CURRENCY, /* required: 0..11 */
        F_AMENDMENT, F_REPORTER, F_DIRECTION, F_POL, F_POD, F_TRANSIT, F_MANUFACTURER_ID,
        F_MANUFACTURER_CC, F_NET_MASS, F_GROSS_MASS, F_PREFERENCE, F_CERTIFICATE, F_TRANSPORT,
        F_VESSEL, F_CONTAINER, F_BOL, F_DECLARANT, F_DESCRIPTION,
        F_CUSTOMS_OFFICE, F_COURIER, F_TAX_TYPE, F_TAX_RATE, F_ORIGIN_INDICATOR, F_PROCESS_TYPE,
        F_IMPORT_TYPE, F_IMPORT_USE, F_PAYMENT_TYPE, F_ATTRIBUTES, /* for risk models */
        F_COUNT
};
#define N_REQUIRED 12

static const char *const field_names[F_COUNT] = {
    "declaration_id", "line", "event_time", "hs_code", "origin_country", "export_country",
    "exporter_id", "importer_id", "quantity", "unit", "customs_value", "currency",
    "amendment", "reporter_country", "direction", "port_of_loading", "port_of_discharge",
    "transit_countries", "manufacturer_id", "manufacturer_country", "net_mass_kg",
    "gross_mass_kg", "preference_code", "certificate_of_origin", "transport_mode",
    "vessel_imo", "container_id", "bill_of_lading", "declarant_id", "goods_description",
    "customs_office", "courier_id", "tax_type", "tax_rate", "origin_indicator", "process_type",
    "import_type", "import_use", "payment_type", "attributes",
};
/* clang-format on */

static unsigned key_hash(const char *k, size_t n)
{
        return (unsigned)(n * 31u + (unsigned char)k[0] * 7u + (unsigned char)k[n - 1] * 3u +
                          (unsigned char)k[n / 2]) &
               255u;
}

void cf_field_index_init(cf_field_index *ix)
{
        memset(ix->slot, -1, sizeof(ix->slot));
        for (int f = 0; f < F_COUNT; f++) {
                ix->len[f] = (uint8_t)strlen(field_names[f]);
                unsigned h = key_hash(field_names[f], strlen(field_names[f]));
                while (ix->slot[h] >= 0) h = (h + 1) & 255u;
                ix->slot[h] = (int8_t)f;
        }
}

static int field_lookup(const cf_field_index *ix, const char *k, size_t n)
{
        if (n == 0) return -1;
        unsigned h = key_hash(k, n);
        while (ix->slot[h] >= 0) {
                int f = ix->slot[h];
                if (ix->len[f] == n && cf_memeq(field_names[f], k, n)) return f;
                h = (h + 1) & 255u;
        }
        return -1;
}

/* field_lookup with a guess first: the field after the highest one seen. Producers write
 * the fields in one order, mostly the table's (optional ones absent), so the guess is a
 * single comparison where the hash probe's branches mispredicted (3 % of replay's time);
 * a wrong guess costs one comparison more. Same result as field_lookup: names are unique. */
static int field_lookup_next(const cf_field_index *ix, const char *k, size_t n, uint64_t seen)
{
        int g = seen ? 64 - __builtin_clzll(seen) : 0;
        if (g < F_COUNT && ix->len[g] == n && cf_memeq(field_names[g], k, n)) return g;
        return field_lookup(ix, k, n);
}

typedef struct fctx {
        cf_batch *b;
        cf_record *r;
        const cf_field_limits *lim;
} fctx;

#define BAD(code, ...)                                                                        \
        do {                                                                                  \
                cf_record_dead_letter(c->b, c->r, code, __VA_ARGS__);                         \
                return -1;                                                                    \
        } while (0)

static const char *type_of(const cf_jv *v)
{
        switch (v->type) {
        case CF_JV_OBJECT: return "an object";
        case CF_JV_ARRAY: return "an array";
        case CF_JV_STRING: return "a string";
        case CF_JV_TRUE:
        case CF_JV_FALSE: return "a boolean";
        case CF_JV_NULL: return "null";
        default: return "a number";
        }
}

char *cf_decode_keep(cf_batch *b, const void *src, size_t n)
{
        char *p = cf_arena_alloc(&b->arena, n);
        memcpy(p, src, n);
        return p;
}

/* Get a string field; copies volatile bytes (simdjson's buffer) into the arena. */
static int get_str(fctx *c, const cf_jv *v, int f, uint32_t max, cf_str *out)
{
        if (v->type != CF_JV_STRING)
                BAD(CF_E_WRONG_TYPE, "%s: expected a string, got %s", field_names[f], type_of(v));
        if (v->n > max) BAD(CF_E_TOO_LONG, "%s: %u bytes, limit %u", field_names[f], v->n, max);
        if (!v->nul_free && memchr(v->s, 0, v->n))
                BAD(CF_E_NUL, "%s: escaped NUL (\\u0000)", field_names[f]);
        out->p = v->s_volatile ? cf_arena_strndup(&c->b->arena, v->s, v->n) : v->s;
        out->n = v->n;
        return 0;
}

static int get_nonempty(fctx *c, const cf_jv *v, int f, uint32_t max, cf_str *out)
{
        if (get_str(c, v, f, max, out)) return -1;
        if (out->n == 0) BAD(CF_E_EMPTY_VALUE, "%s: empty string", field_names[f]);
        return 0;
}

/* The number as written when known, else its value, for messages. */
static const char *num_text(const cf_jv *v, char *tmp, size_t n)
{
        if (v->raw) snprintf(tmp, n, "%.*s", (int)v->raw_n, v->raw);
        else snprintf(tmp, n, "%.17g", v->num);
        return tmp;
}

static int get_num(fctx *c, const cf_jv *v, int f, double *out)
{
        char t[64];
        if (v->type != CF_JV_NUMBER)
                BAD(CF_E_WRONG_TYPE, "%s: expected a number, got %s", field_names[f], type_of(v));
        if (!isfinite(v->num) || fabs(v->num) > 1e15)
                BAD(CF_E_RANGE, "%s: %s is out of range", field_names[f], num_text(v, t, 64));
        if (v->num < 0)
                BAD(CF_E_RANGE, "%s: %s is negative", field_names[f], num_text(v, t, 64));
        *out = v->num;
        return 0;
}

static int get_int(fctx *c, const cf_jv *v, int f, int64_t min, int64_t *out)
{
        char t[64];
        if (v->type != CF_JV_NUMBER)
                BAD(CF_E_WRONG_TYPE, "%s: expected an integer, got %s", field_names[f],
                    type_of(v));
        if (!isfinite(v->num) || fabs(v->num) > 9e15)
                BAD(CF_E_RANGE, "%s: %s is out of range", field_names[f], num_text(v, t, 64));
        if (v->num != floor(v->num))
                BAD(CF_E_NOT_INTEGER, "%s: %s is not an integer", field_names[f],
                    num_text(v, t, 64));
        if (v->num < (double)min)
                BAD(CF_E_RANGE, "%s: %s is below %lld", field_names[f], num_text(v, t, 64),
                    (long long)min);
        *out = (int64_t)v->num;
        return 0;
}

static int get_country(fctx *c, const cf_jv *v, int f, uint16_t *out)
{
        if (v->type != CF_JV_STRING)
                BAD(CF_E_WRONG_TYPE, "%s: expected a string, got %s", field_names[f], type_of(v));
        if (!cf_iso_country_valid(v->s, v->n))
                BAD(CF_E_COUNTRY, "%s: '%.*s' is not an ISO 3166-1 alpha-2 code", field_names[f],
                    (int)cf_utf8_prefix(v->s, v->n, 64), v->s);
        *out = CF_CC(v->s[0], v->s[1]);
        return 0;
}

static int is_upper(char ch)
{
        return ch >= 'A' && ch <= 'Z';
}

static int is_digit(char ch)
{
        return ch >= '0' && ch <= '9';
}

/* UN/LOCODE: country code + 3 of [A-Z2-9], written "CNSHA" or "CN SHA". */
static int locode_ok(const cf_str *s)
{
        const char *p = s->p;
        size_t n = s->n;
        if (n != 5 && !(n == 6 && p[2] == ' ')) return 0;
        if (!cf_iso_country_valid(p, 2)) return 0;
        for (size_t i = n - 3; i < n; i++)
                if (!is_upper(p[i]) && !(p[i] >= '2' && p[i] <= '9')) return 0;
        return 1;
}

static int container_ok(const cf_str *s)
{
        if (s->n != 11) return 0;
        for (int i = 0; i < 3; i++)
                if (!is_upper(s->p[i])) return 0;
        if (s->p[3] != 'U' && s->p[3] != 'J' && s->p[3] != 'Z') return 0;
        for (int i = 4; i < 11; i++)
                if (!is_digit(s->p[i])) return 0;
        return 1;
}

static int imo_ok(const cf_str *s)
{
        const char *p = s->p;
        size_t n = s->n;
        if (n == 10 && !memcmp(p, "IMO", 3)) p += 3, n = 7;
        if (n != 7) return 0;
        for (size_t i = 0; i < 7; i++)
                if (!is_digit(p[i])) return 0;
        return 1;
}

/* attributes: an object of agency-specific string or number fields, copied
 * into an arena array (keys unique, at most max_attributes of them). */
static int get_attributes(fctx *c, const cf_jv *v, cf_decl *d)
{
        char t[64];
        if (v->type != CF_JV_OBJECT)
                BAD(CF_E_WRONG_TYPE, "attributes: expected an object, got %s", type_of(v));
        if (v->n_items > c->lim->max_attributes)
                BAD(CF_E_RANGE, "attributes: %u members, limit %u", v->n_items,
                    c->lim->max_attributes);
        cf_attr *a = cf_arena_alloc(&c->b->arena, sizeof(*a) * (v->n_items ? v->n_items : 1));
        for (uint32_t k = 0; k < v->n_items; k++) {
                const cf_str *key = &v->keys[k];
                const cf_jv *e = &v->items[k];
                int kn = (int)(key->n > 64 ? 64 : key->n);
                if (key->n == 0) BAD(CF_E_EMPTY_VALUE, "attributes: empty member name");
                if (key->n > c->lim->max_id)
                        BAD(CF_E_TOO_LONG, "attributes: member name of %u bytes, limit %u", key->n,
                            c->lim->max_id);
                if (!v->nul_free && memchr(key->p, 0, key->n))
                        BAD(CF_E_NUL, "attributes: escaped NUL (\\u0000) in a member name");
                for (uint32_t j = 0; j < k; j++)
                        if (a[j].key.n == key->n && !memcmp(a[j].key.p, key->p, key->n))
                                BAD(CF_E_DUPLICATE_KEY, "attributes.%.*s: appears more than once",
                                    kn, key->p);
                a[k] = (cf_attr){.key = *key};
                if (v->keys_volatile) a[k].key.p = cf_arena_strndup(&c->b->arena, key->p, key->n);
                if (e->type == CF_JV_NUMBER) {
                        if (!isfinite(e->num) || fabs(e->num) > 1e15)
                                BAD(CF_E_RANGE, "attributes.%.*s: %s is out of range", kn, key->p,
                                    num_text(e, t, 64));
                        a[k].num = e->num;
                        a[k].is_num = true;
                        continue;
                }
                if (e->type != CF_JV_STRING)
                        BAD(CF_E_WRONG_TYPE,
                            "attributes.%.*s: expected a string or a number, got %s", kn, key->p,
                            type_of(e));
                if (e->n > c->lim->max_string)
                        BAD(CF_E_TOO_LONG, "attributes.%.*s: %u bytes, limit %u", kn, key->p, e->n,
                            c->lim->max_string);
                if (!e->nul_free && memchr(e->s, 0, e->n))
                        BAD(CF_E_NUL, "attributes.%.*s: escaped NUL (\\u0000)", kn, key->p);
                a[k].str.p = e->s_volatile ? cf_arena_strndup(&c->b->arena, e->s, e->n) : e->s;
                a[k].str.n = e->n;
        }
        d->attrs = a;
        d->n_attrs = (uint16_t)v->n_items;
        return 0;
}

/* One optional or required field. */
static int field(fctx *c, int f, const cf_jv *v)
{
        cf_decl *d = &c->r->decl;
        uint32_t ms = c->lim->max_string, mi = c->lim->max_id;
        cf_str s;
        switch (f) {
        case F_DECLARATION_ID: return get_nonempty(c, v, f, 64, &d->declaration_id);
        case F_LINE: return get_int(c, v, f, 1, &d->line);
        case F_EVENT_TIME:
                if (get_str(c, v, f, 64, &s)) return -1;
                if (cf_parse_rfc3339(s.p, s.n, &d->event_time_ms))
                        BAD(CF_E_DATE, "event_time: '%.*s' is not an RFC 3339 date-time",
                            (int)s.n, s.p);
                return 0;
        case F_HS_CODE:
                if (get_str(c, v, f, 64, &d->hs_code)) return -1;
                if (d->hs_code.n < 6 || d->hs_code.n > 10) goto bad_hs;
                d->hs6 = 0;
                for (uint32_t i = 0; i < d->hs_code.n; i++) {
                        if (!is_digit(d->hs_code.p[i])) goto bad_hs;
                        if (i < 6) d->hs6 = d->hs6 * 10 + (uint32_t)(d->hs_code.p[i] - '0');
                }
                return 0;
        bad_hs:
                BAD(CF_E_HS, "hs_code: '%.*s' is not 6 to 10 digits", (int)d->hs_code.n,
                    d->hs_code.p);
        case F_ORIGIN: return get_country(c, v, f, &d->origin_country);
        case F_EXPORT: return get_country(c, v, f, &d->export_country);
        case F_EXPORTER: return get_nonempty(c, v, f, mi, &d->exporter_id);
        case F_IMPORTER: return get_nonempty(c, v, f, mi, &d->importer_id);
        case F_QUANTITY: return get_num(c, v, f, &d->quantity);
        case F_UNIT:
                if (get_str(c, v, f, 64, &s)) return -1;
                if (s.n < 2 || s.n > 3) goto bad_unit;
                for (uint32_t i = 0; i < s.n; i++)
                        if (!is_upper(s.p[i]) && !is_digit(s.p[i])) goto bad_unit;
                memcpy(d->unit, s.p, s.n);
                d->unit[s.n] = '\0';
                return 0;
        bad_unit:
                BAD(CF_E_UNIT, "unit: '%.*s' is not a UN/ECE Rec. 20 code", (int)s.n, s.p);
        case F_VALUE: return get_num(c, v, f, &d->customs_value);
        case F_CURRENCY:
                if (get_str(c, v, f, 64, &s)) return -1;
                if (s.n != 3 || !is_upper(s.p[0]) || !is_upper(s.p[1]) || !is_upper(s.p[2]))
                        BAD(CF_E_CURRENCY, "currency: '%.*s' is not an ISO 4217 code", (int)s.n,
                            s.p);
                memcpy(d->currency, s.p, 3);
                d->currency[3] = '\0';
                return 0;
        case F_AMENDMENT: return get_int(c, v, f, 0, &d->amendment);
        case F_REPORTER: return get_country(c, v, f, &d->reporter_country);
        case F_DIRECTION:
                if (get_str(c, v, f, 64, &s)) return -1;
                if (s.n == 6 && !memcmp(s.p, "import", 6)) d->direction = 1;
                else if (s.n == 6 && !memcmp(s.p, "export", 6)) d->direction = 2;
                else BAD(CF_E_ENUM, "direction: '%.*s' is not import or export", (int)s.n, s.p);
                return 0;
        case F_POL:
        case F_POD: {
                cf_str *dst = f == F_POL ? &d->port_of_loading : &d->port_of_discharge;
                if (get_str(c, v, f, 64, dst)) return -1;
                if (!locode_ok(dst))
                        BAD(CF_E_LOCODE, "%s: '%.*s' is not a UN/LOCODE", field_names[f],
                            (int)dst->n, dst->p);
                return 0;
        }
        case F_TRANSIT:
                if (v->type != CF_JV_ARRAY)
                        BAD(CF_E_WRONG_TYPE, "transit_countries: expected an array, got %s",
                            type_of(v));
                if (v->n_items > CF_MAX_TRANSIT)
                        BAD(CF_E_TOO_MANY_TRANSIT, "transit_countries: %u entries, limit %d",
                            v->n_items, CF_MAX_TRANSIT);
                d->n_transit = 0;
                for (uint32_t k = 0; k < v->n_items; k++)
                        if (get_country(c, &v->items[k], f, &d->transit[d->n_transit++]))
                                return -1;
                return 0;
        case F_MANUFACTURER_ID: return get_nonempty(c, v, f, mi, &d->manufacturer_id);
        case F_MANUFACTURER_CC: return get_country(c, v, f, &d->manufacturer_country);
        case F_NET_MASS: return get_num(c, v, f, &d->net_mass_kg);
        case F_GROSS_MASS: return get_num(c, v, f, &d->gross_mass_kg);
        case F_PREFERENCE: return get_str(c, v, f, mi, &d->preference_code);
        case F_CERTIFICATE: return get_str(c, v, f, mi, &d->certificate_of_origin);
        case F_TRANSPORT: return get_str(c, v, f, 64, &d->transport_mode);
        case F_VESSEL:
                if (get_str(c, v, f, 64, &d->vessel_imo)) return -1;
                if (!imo_ok(&d->vessel_imo))
                        BAD(CF_E_IMO, "vessel_imo: '%.*s' is not an IMO number",
                            (int)d->vessel_imo.n, d->vessel_imo.p);
                return 0;
        case F_CONTAINER:
                if (get_str(c, v, f, 64, &d->container_id)) return -1;
                if (!container_ok(&d->container_id))
                        BAD(CF_E_CONTAINER, "container_id: '%.*s' is not an ISO 6346 id",
                            (int)d->container_id.n, d->container_id.p);
                return 0;
        case F_BOL: return get_str(c, v, f, mi, &d->bill_of_lading);
        case F_DECLARANT: return get_str(c, v, f, mi, &d->declarant_id);
        case F_DESCRIPTION: return get_str(c, v, f, ms, &d->goods_description);
        case F_CUSTOMS_OFFICE:
                return get_str(c, v, f, mi, &d->customs_office);
        case F_COURIER:
                return get_str(c, v, f, mi, &d->courier_id);
        case F_TAX_TYPE:
                return get_str(c, v, f, 64, &d->tax_type);
        case F_TAX_RATE:
                return get_num(c, v, f, &d->tax_rate);
        case F_ORIGIN_INDICATOR:
                return get_str(c, v, f, 64, &d->origin_indicator);
        case F_PROCESS_TYPE:
                return get_str(c, v, f, 64, &d->process_type);
        case F_IMPORT_TYPE:
                return get_str(c, v, f, 64, &d->import_type);
        case F_IMPORT_USE:
                return get_str(c, v, f, 64, &d->import_use);
        case F_PAYMENT_TYPE:
                return get_str(c, v, f, 64, &d->payment_type);
        case F_ATTRIBUTES:
                return get_attributes(c, v, d);
        }
        return 0;
}

/* Presence bit of each optional field (index f - N_REQUIRED). */
/* clang-format off */
static const uint32_t opt_bits[F_COUNT - N_REQUIRED] = {
    CF_HAS_AMENDMENT,       CF_HAS_REPORTER,        CF_HAS_DIRECTION,  CF_HAS_POL,
    CF_HAS_POD,             CF_HAS_TRANSIT,         CF_HAS_MANUFACTURER_ID,
    CF_HAS_MANUFACTURER_CC, CF_HAS_NET_MASS,        CF_HAS_GROSS_MASS, CF_HAS_PREFERENCE,
    CF_HAS_CERTIFICATE,     CF_HAS_TRANSPORT_MODE,  CF_HAS_VESSEL,     CF_HAS_CONTAINER,
    CF_HAS_BOL,             CF_HAS_DECLARANT,       CF_HAS_DESCRIPTION,
    CF_HAS_CUSTOMS_OFFICE,  CF_HAS_COURIER,         CF_HAS_TAX_TYPE,   CF_HAS_TAX_RATE,
    CF_HAS_ORIGIN_INDICATOR, CF_HAS_PROCESS_TYPE,   CF_HAS_IMPORT_TYPE, CF_HAS_IMPORT_USE,
    CF_HAS_PAYMENT_TYPE,    CF_HAS_ATTRIBUTES,
};
/* clang-format on */

int cf_field_wants_members(const cf_field_index *ix, const char *key, size_t key_len)
{
        return field_lookup(ix, key, key_len) == F_ATTRIBUTES;
}

int cf_decode_field(const cf_field_index *ix, const cf_field_limits *lim, cf_batch *b,
                    cf_record *r, const char *key, size_t key_len, const cf_jv *v,
                    uint64_t *seen)
{
        fctx cx = {.b = b, .r = r, .lim = lim}, *c = &cx;
        int f = field_lookup_next(ix, key, key_len, *seen);
        if (f < 0) return 0; /* unknown keys pass through in the raw bytes */
        if (*seen & (1ull << f))
                BAD(CF_E_DUPLICATE_KEY, "%s: appears more than once", field_names[f]);
        *seen |= 1ull << f;
        if (v->type == CF_JV_NULL) {
                if (f < N_REQUIRED) BAD(CF_E_MISSING, "%s: is null", field_names[f]);
                return 0; /* null optional field = absent */
        }
        if (field(c, f, v)) return -1;
        if (f >= N_REQUIRED) r->decl.present |= opt_bits[f - N_REQUIRED];
        return 0;
}

int cf_decode_fields_end(cf_batch *b, cf_record *r, uint64_t seen)
{
        fctx cx = {.b = b, .r = r}, *c = &cx;
        cf_decl *d = &r->decl;
        for (int f = 0; f < N_REQUIRED; f++)
                if (!(seen & (1ull << f)))
                        BAD(CF_E_MISSING, "%s: required field is missing", field_names[f]);
        if ((d->present & CF_HAS_NET_MASS) && (d->present & CF_HAS_GROSS_MASS) &&
            d->net_mass_kg > d->gross_mass_kg)
                BAD(CF_E_MASS, "net_mass_kg %g exceeds gross_mass_kg %g", d->net_mass_kg,
                    d->gross_mass_kg);
        if (!(d->present & CF_HAS_AMENDMENT)) d->amendment = 0;
        return 0;
}

/* ---- the jsmn path: tokens -> cf_jv ---- */

static const double pow10_tab[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Number already matches the JSON grammar (decode.c's walk checked it).
 * Fast path (Clinger): <= 15 significant digits and |exp| <= 22 is exact. */
static double parse_number(const char *s, int n)
{
        int i = 0, neg = 0, digits = 0, exp10 = 0;
        uint64_t m = 0;
        if (s[i] == '-') neg = 1, i++;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
                if (digits < 19 && (m || s[i] != '0')) m = m * 10 + (uint64_t)(s[i] - '0'), digits++;
                else if (digits >= 19) exp10++;
        }
        if (i < n && s[i] == '.') {
                for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
                        if (digits < 19 && (m || s[i] != '0'))
                                m = m * 10 + (uint64_t)(s[i] - '0'), digits++, exp10--;
                        else if (digits < 19) exp10--;
                }
        }
        if (i == n && digits <= 15 && exp10 >= -22 && exp10 <= 22) {
                double v = (double)m;
                v = exp10 < 0 ? v / pow10_tab[-exp10] : v * pow10_tab[exp10];
                return neg ? -v : v;
        }
        char tmp[64];
        if (n >= (int)sizeof(tmp)) return strtod(s, NULL); /* stops at the delimiter */
        memcpy(tmp, s, (size_t)n);
        tmp[n] = '\0';
        return strtod(tmp, NULL);
}

uint32_t cf_json_hex4(const char *s)
{
        uint32_t v = 0;
        for (int i = 0; i < 4; i++) {
                char ch = s[i];
                v <<= 4;
                if (ch >= '0' && ch <= '9') v |= (uint32_t)(ch - '0');
                else if (ch >= 'a' && ch <= 'f') v |= (uint32_t)(ch - 'a' + 10);
                else if (ch >= 'A' && ch <= 'F')
                        v |= (uint32_t)(ch - 'A' + 10);
        }
        return v;
}

static int utf8_put(char *o, uint32_t cp)
{
        if (cp < 0x80) return o[0] = (char)cp, 1;
        if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 63)), 2;
        if (cp < 0x10000)
                return o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 63)),
                       o[2] = (char)(0x80 | (cp & 63)), 3;
        o[0] = (char)(0xF0 | cp >> 18);
        o[1] = (char)(0x80 | ((cp >> 12) & 63));
        o[2] = (char)(0x80 | ((cp >> 6) & 63));
        o[3] = (char)(0x80 | (cp & 63));
        return 4;
}

/* Unescape a string token (slice when it has no escapes). jsmn has checked that
 * every escape is one of \" \\ \/ \b \f \n \r \t \uXXXX, and decode.c's walk
 * that no surrogate is left unpaired. */
static void jv_string(fctx *c, const char *js, const jsmntok_t *t, cf_jv *out)
{
        const char *s = js + t->start;
        size_t n = (size_t)(t->end - t->start);
        out->type = CF_JV_STRING;
        out->s_volatile = 0;
        if (!memchr(s, '\\', n)) {
                out->s = s;
                out->n = (uint32_t)n;
                return;
        }
        char *o = cf_arena_alloc(&c->b->arena, n + 1);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] != '\\') {
                        o[k++] = s[i];
                        continue;
                }
                char e = s[++i];
                switch (e) {
                case 'b': o[k++] = '\b'; break;
                case 'f': o[k++] = '\f'; break;
                case 'n': o[k++] = '\n'; break;
                case 'r': o[k++] = '\r'; break;
                case 't': o[k++] = '\t'; break;
                case 'u': {
                        uint32_t cp = cf_json_hex4(s + i + 1);
                        i += 4;
                        if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < n) { /* paired (walk) */
                                uint32_t lo = cf_json_hex4(s + i + 3);
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                i += 6;
                        }
                        k += (size_t)utf8_put(o + k, cp);
                        break;
                }
                default: o[k++] = e; break; /* \" \\ \/ */
                }
        }
        o[k] = '\0';
        out->s = o;
        out->n = (uint32_t)k;
}

/* A scalar token -> cf_jv (containers get their type only). */
static void jv_scalar(fctx *c, const char *js, const jsmntok_t *t, cf_jv *out)
{
        memset(out, 0, sizeof(*out));
        const char *s = js + t->start;
        switch (t->type) {
        case JSMN_STRING:
                jv_string(c, js, t, out);
                return;
        case JSMN_OBJECT:
                out->type = CF_JV_OBJECT;
                return;
        case JSMN_ARRAY:
                out->type = CF_JV_ARRAY;
                return;
        default: break;
        }
        if (s[0] == 't') out->type = CF_JV_TRUE;
        else if (s[0] == 'f') out->type = CF_JV_FALSE;
        else if (s[0] == 'n') out->type = CF_JV_NULL;
        else {
                out->type = CF_JV_NUMBER;
                out->raw = s;
                out->raw_n = (uint32_t)(t->end - t->start);
                out->num = parse_number(s, t->end - t->start);
        }
}

int cf_jv_of_token(cf_batch *b, cf_record *r, const jsmntok_t *t, const char *key, cf_jv *out)
{
        (void)key; /* escapes were checked by decode.c's walk: nothing to name */
        fctx cx = {.b = b, .r = r};
        jv_scalar(&cx, r->data, t, out);
        return 0;
}

int cf_tok_skip(const jsmntok_t *t, int i)
{
        int n = 1;
        for (int k = 0; k < n; k++, i++) n += t[i].size;
        return i;
}

int cf_decode_fields(const cf_field_index *ix, const cf_field_limits *lim, cf_batch *b,
                     cf_record *r, const jsmntok_t *t, int nt)
{
        fctx cx = {.b = b, .r = r, .lim = lim};
        uint64_t seen = 0;
        cf_jv items[CF_JV_MAX_MEMBERS];
        cf_str keys[CF_JV_MAX_MEMBERS];
        int i = 1;
        for (int k = 0; k < t[0].size && i < nt; k++) {
                const jsmntok_t *key = &t[i], *vt = &t[i + 1];
                int next = cf_tok_skip(t, i + 1);
                i = next;
                /* Keys are matched decoded, as simdjson gives them: "origin_countr\u0079"
                 * is origin_country on both paths (and a duplicate beside the plain one). */
                cf_jv kv;
                jv_string(&cx, r->data, key, &kv);
                int f = field_lookup(ix, kv.s, kv.n);
                if (f < 0) continue; /* unknown: passed through */
                cf_jv v;
                jv_scalar(&cx, r->data, vt, &v);
                if (v.type == CF_JV_ARRAY) {
                        v.n_items = (uint32_t)vt->size;
                        v.items = items;
                        int j = (int)(vt - t) + 1;
                        for (uint32_t e = 0; e < v.n_items && e < CF_JV_MAX_ITEMS; e++) {
                                jv_scalar(&cx, r->data, &t[j], &items[e]);
                                j = cf_tok_skip(t, j);
                        }
                }
                if (v.type == CF_JV_OBJECT && f == F_ATTRIBUTES) {
                        v.n_items = (uint32_t)vt->size;
                        v.items = items;
                        v.keys = keys;
                        int j = (int)(vt - t) + 1;
                        for (uint32_t e = 0; e < v.n_items && e < CF_JV_MAX_MEMBERS; e++) {
                                cf_jv mk;
                                jv_string(&cx, r->data, &t[j], &mk);
                                keys[e] = (cf_str){.p = mk.s, .n = mk.n};
                                jv_scalar(&cx, r->data, &t[j + 1], &items[e]);
                                j = cf_tok_skip(t, j + 1);
                        }
                }
                if (cf_decode_field(ix, lim, b, r, kv.s, kv.n, &v, &seen)) return -1;
        }
        return cf_decode_fields_end(b, r, seen);
}
