/*
 * decode_fields.c - per-field checks of the declaration (types, formats, ranges).
 */
#include "stages/decode_fields.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages/decode.h"

enum field_id {
        F_DECLARATION_ID, F_LINE, F_EVENT_TIME, F_HS_CODE, F_ORIGIN, F_EXPORT, F_EXPORTER,
        F_IMPORTER, F_QUANTITY, F_UNIT, F_VALUE, F_CURRENCY, /* required: 0..11 */
        F_AMENDMENT, F_REPORTER, F_DIRECTION, F_POL, F_POD, F_TRANSIT, F_MANUFACTURER_ID,
        F_MANUFACTURER_CC, F_NET_MASS, F_GROSS_MASS, F_PREFERENCE, F_CERTIFICATE, F_TRANSPORT,
        F_VESSEL, F_CONTAINER, F_BOL, F_DECLARANT, F_DESCRIPTION, F_COUNT
};
#define N_REQUIRED 12

static const char *const field_names[F_COUNT] = {
    "declaration_id", "line", "event_time", "hs_code", "origin_country", "export_country",
    "exporter_id", "importer_id", "quantity", "unit", "customs_value", "currency",
    "amendment", "reporter_country", "direction", "port_of_loading", "port_of_discharge",
    "transit_countries", "manufacturer_id", "manufacturer_country", "net_mass_kg",
    "gross_mass_kg", "preference_code", "certificate_of_origin", "transport_mode",
    "vessel_imo", "container_id", "bill_of_lading", "declarant_id", "goods_description",
};

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
                if (ix->len[f] == n && !memcmp(field_names[f], k, n)) return f;
                h = (h + 1) & 255u;
        }
        return -1;
}

typedef struct fctx {
        cf_batch *b;
        cf_record *r;
        const char *js;
        const cf_field_limits *lim;
} fctx;

#define BAD(code, ...)                                                                        \
        do {                                                                                  \
                cf_record_dead_letter(c->b, c->r, code, __VA_ARGS__);                         \
                return -1;                                                                    \
        } while (0)

static const char *type_of(const fctx *c, const jsmntok_t *t)
{
        switch (t->type) {
        case JSMN_OBJECT: return "an object";
        case JSMN_ARRAY: return "an array";
        case JSMN_STRING: return "a string";
        default: break;
        }
        char ch = c->js[t->start];
        return ch == 't' || ch == 'f' ? "a boolean" : ch == 'n' ? "null" : "a number";
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

static int hex4(const char *s, uint32_t *out)
{
        uint32_t v = 0;
        for (int i = 0; i < 4; i++) {
                char ch = s[i];
                v <<= 4;
                if (ch >= '0' && ch <= '9') v |= (uint32_t)(ch - '0');
                else if (ch >= 'a' && ch <= 'f') v |= (uint32_t)(ch - 'a' + 10);
                else if (ch >= 'A' && ch <= 'F') v |= (uint32_t)(ch - 'A' + 10);
                else return -1;
        }
        *out = v;
        return 0;
}

/* Get a string field (slice, or unescaped copy in the arena). jsmn has checked
 * that every escape is one of \" \\ \/ \b \f \n \r \t \uXXXX. */
static int get_str(fctx *c, const jsmntok_t *t, int f, uint32_t max, cf_str *out)
{
        if (t->type != JSMN_STRING)
                BAD(CF_E_WRONG_TYPE, "%s: expected a string, got %s", field_names[f],
                    type_of(c, t));
        const char *s = c->js + t->start;
        size_t n = (size_t)(t->end - t->start);
        if (!memchr(s, '\\', n)) {
                if (n > max)
                        BAD(CF_E_TOO_LONG, "%s: %zu bytes, limit %u", field_names[f], n, max);
                out->p = s;
                out->n = (uint32_t)n;
                return 0;
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
                        uint32_t cp, lo;
                        hex4(s + i + 1, &cp);
                        i += 4;
                        if (cp >= 0xDC00 && cp <= 0xDFFF)
                                BAD(CF_E_ESCAPE, "%s: lone low surrogate \\u%04X", field_names[f],
                                    cp);
                        if (cp >= 0xD800 && cp <= 0xDBFF) {
                                if (i + 6 >= n + 0 || s[i + 1] != '\\' || s[i + 2] != 'u' ||
                                    hex4(s + i + 3, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                                        BAD(CF_E_ESCAPE, "%s: lone high surrogate \\u%04X",
                                            field_names[f], cp);
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                i += 6;
                        }
                        if (cp == 0) BAD(CF_E_NUL, "%s: escaped NUL (\\u0000)", field_names[f]);
                        k += (size_t)utf8_put(o + k, cp);
                        break;
                }
                default: o[k++] = e; break; /* \" \\ \/ */
                }
        }
        o[k] = '\0';
        if (k > max) BAD(CF_E_TOO_LONG, "%s: %zu bytes, limit %u", field_names[f], k, max);
        out->p = o;
        out->n = (uint32_t)k;
        return 0;
}

static int get_nonempty(fctx *c, const jsmntok_t *t, int f, uint32_t max, cf_str *out)
{
        if (get_str(c, t, f, max, out)) return -1;
        if (out->n == 0) BAD(CF_E_EMPTY_VALUE, "%s: empty string", field_names[f]);
        return 0;
}

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
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
                if (digits < 19 && (m || s[i] != '0')) m = m * 10 + (uint64_t)(s[i] - '0'), digits++;
                else if (digits >= 19) exp10++;
        if (i < n && s[i] == '.') {
                for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
                        if (digits < 19 && (m || s[i] != '0'))
                                m = m * 10 + (uint64_t)(s[i] - '0'), digits++, exp10--;
                        else if (digits < 19) exp10--;
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

static int get_num(fctx *c, const jsmntok_t *t, int f, double *out)
{
        const char *s = c->js + t->start;
        if (t->type != JSMN_PRIMITIVE || s[0] == 't' || s[0] == 'f' || s[0] == 'n')
                BAD(CF_E_WRONG_TYPE, "%s: expected a number, got %s", field_names[f],
                    type_of(c, t));
        double v = parse_number(s, t->end - t->start);
        if (!isfinite(v) || fabs(v) > 1e15)
                BAD(CF_E_RANGE, "%s: %.*s is out of range", field_names[f], t->end - t->start, s);
        if (v < 0) BAD(CF_E_RANGE, "%s: %.*s is negative", field_names[f], t->end - t->start, s);
        *out = v;
        return 0;
}

static int get_int(fctx *c, const jsmntok_t *t, int f, int64_t min, int64_t *out)
{
        const char *s = c->js + t->start;
        if (t->type != JSMN_PRIMITIVE || s[0] == 't' || s[0] == 'f' || s[0] == 'n')
                BAD(CF_E_WRONG_TYPE, "%s: expected an integer, got %s", field_names[f],
                    type_of(c, t));
        int n = t->end - t->start;
        double v = parse_number(s, n);
        if (!isfinite(v) || fabs(v) > 9e15)
                BAD(CF_E_RANGE, "%s: %.*s is out of range", field_names[f], n, s);
        if (v != floor(v)) BAD(CF_E_NOT_INTEGER, "%s: %.*s is not an integer", field_names[f], n, s);
        if (v < (double)min)
                BAD(CF_E_RANGE, "%s: %.*s is below %lld", field_names[f], n, s, (long long)min);
        *out = (int64_t)v;
        return 0;
}

static int get_country(fctx *c, const jsmntok_t *t, int f, uint16_t *out)
{
        cf_str s;
        if (get_str(c, t, f, 64, &s)) return -1;
        if (!cf_iso_country_valid(s.p, s.n))
                BAD(CF_E_COUNTRY, "%s: '%.*s' is not an ISO 3166-1 alpha-2 code", field_names[f],
                    (int)s.n, s.p);
        *out = CF_CC(s.p[0], s.p[1]);
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

static int is_null(const fctx *c, const jsmntok_t *t)
{
        return t->type == JSMN_PRIMITIVE && c->js[t->start] == 'n';
}

static int skip(const jsmntok_t *t, int i)
{
        int n = 1;
        for (int k = 0; k < n; k++, i++) n += t[i].size;
        return i;
}

/* One optional or required field; t points at its value token. */
static int field(fctx *c, int f, const jsmntok_t *t)
{
        cf_decl *d = &c->r->decl;
        uint32_t ms = c->lim->max_string, mi = c->lim->max_id;
        cf_str s;
        switch (f) {
        case F_DECLARATION_ID: return get_nonempty(c, t, f, 64, &d->declaration_id);
        case F_LINE: return get_int(c, t, f, 1, &d->line);
        case F_EVENT_TIME:
                if (get_str(c, t, f, 64, &s)) return -1;
                if (cf_parse_rfc3339(s.p, s.n, &d->event_time_ms))
                        BAD(CF_E_DATE, "event_time: '%.*s' is not an RFC 3339 date-time",
                            (int)s.n, s.p);
                return 0;
        case F_HS_CODE:
                if (get_str(c, t, f, 64, &d->hs_code)) return -1;
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
        case F_ORIGIN: return get_country(c, t, f, &d->origin_country);
        case F_EXPORT: return get_country(c, t, f, &d->export_country);
        case F_EXPORTER: return get_nonempty(c, t, f, mi, &d->exporter_id);
        case F_IMPORTER: return get_nonempty(c, t, f, mi, &d->importer_id);
        case F_QUANTITY: return get_num(c, t, f, &d->quantity);
        case F_UNIT:
                if (get_str(c, t, f, 64, &s)) return -1;
                if (s.n < 2 || s.n > 3) goto bad_unit;
                for (uint32_t i = 0; i < s.n; i++)
                        if (!is_upper(s.p[i]) && !is_digit(s.p[i])) goto bad_unit;
                memcpy(d->unit, s.p, s.n);
                d->unit[s.n] = '\0';
                return 0;
        bad_unit:
                BAD(CF_E_UNIT, "unit: '%.*s' is not a UN/ECE Rec. 20 code", (int)s.n, s.p);
        case F_VALUE: return get_num(c, t, f, &d->customs_value);
        case F_CURRENCY:
                if (get_str(c, t, f, 64, &s)) return -1;
                if (s.n != 3 || !is_upper(s.p[0]) || !is_upper(s.p[1]) || !is_upper(s.p[2]))
                        BAD(CF_E_CURRENCY, "currency: '%.*s' is not an ISO 4217 code", (int)s.n,
                            s.p);
                memcpy(d->currency, s.p, 3);
                d->currency[3] = '\0';
                return 0;
        case F_AMENDMENT: return get_int(c, t, f, 0, &d->amendment);
        case F_REPORTER: return get_country(c, t, f, &d->reporter_country);
        case F_DIRECTION:
                if (get_str(c, t, f, 64, &s)) return -1;
                if (s.n == 6 && !memcmp(s.p, "import", 6)) d->direction = 1;
                else if (s.n == 6 && !memcmp(s.p, "export", 6)) d->direction = 2;
                else BAD(CF_E_ENUM, "direction: '%.*s' is not import or export", (int)s.n, s.p);
                return 0;
        case F_POL:
        case F_POD: {
                cf_str *dst = f == F_POL ? &d->port_of_loading : &d->port_of_discharge;
                if (get_str(c, t, f, 64, dst)) return -1;
                if (!locode_ok(dst))
                        BAD(CF_E_LOCODE, "%s: '%.*s' is not a UN/LOCODE", field_names[f],
                            (int)dst->n, dst->p);
                return 0;
        }
        case F_TRANSIT: {
                if (t->type != JSMN_ARRAY)
                        BAD(CF_E_WRONG_TYPE, "transit_countries: expected an array, got %s",
                            type_of(c, t));
                if (t->size > CF_MAX_TRANSIT)
                        BAD(CF_E_TOO_MANY_TRANSIT, "transit_countries: %d entries, limit %d",
                            t->size, CF_MAX_TRANSIT);
                d->n_transit = 0;
                for (int k = 0; k < t->size; k++)
                        if (get_country(c, t + 1 + k, f, &d->transit[d->n_transit++])) return -1;
                return 0;
        }
        case F_MANUFACTURER_ID: return get_nonempty(c, t, f, mi, &d->manufacturer_id);
        case F_MANUFACTURER_CC: return get_country(c, t, f, &d->manufacturer_country);
        case F_NET_MASS: return get_num(c, t, f, &d->net_mass_kg);
        case F_GROSS_MASS: return get_num(c, t, f, &d->gross_mass_kg);
        case F_PREFERENCE: return get_str(c, t, f, mi, &d->preference_code);
        case F_CERTIFICATE: return get_str(c, t, f, mi, &d->certificate_of_origin);
        case F_TRANSPORT: return get_str(c, t, f, 64, &d->transport_mode);
        case F_VESSEL:
                if (get_str(c, t, f, 64, &d->vessel_imo)) return -1;
                if (!imo_ok(&d->vessel_imo))
                        BAD(CF_E_IMO, "vessel_imo: '%.*s' is not an IMO number",
                            (int)d->vessel_imo.n, d->vessel_imo.p);
                return 0;
        case F_CONTAINER:
                if (get_str(c, t, f, 64, &d->container_id)) return -1;
                if (!container_ok(&d->container_id))
                        BAD(CF_E_CONTAINER, "container_id: '%.*s' is not an ISO 6346 id",
                            (int)d->container_id.n, d->container_id.p);
                return 0;
        case F_BOL: return get_str(c, t, f, mi, &d->bill_of_lading);
        case F_DECLARANT: return get_str(c, t, f, mi, &d->declarant_id);
        case F_DESCRIPTION: return get_str(c, t, f, ms, &d->goods_description);
        }
        return 0;
}

/* Presence bit of each optional field (index f - N_REQUIRED). */
static const uint32_t opt_bits[F_COUNT - N_REQUIRED] = {
    CF_HAS_AMENDMENT,       CF_HAS_REPORTER,        CF_HAS_DIRECTION,  CF_HAS_POL,
    CF_HAS_POD,             CF_HAS_TRANSIT,         CF_HAS_MANUFACTURER_ID,
    CF_HAS_MANUFACTURER_CC, CF_HAS_NET_MASS,        CF_HAS_GROSS_MASS, CF_HAS_PREFERENCE,
    CF_HAS_CERTIFICATE,     CF_HAS_TRANSPORT_MODE,  CF_HAS_VESSEL,     CF_HAS_CONTAINER,
    CF_HAS_BOL,             CF_HAS_DECLARANT,       CF_HAS_DESCRIPTION,
};

int cf_decode_fields(const cf_field_index *ix, const cf_field_limits *lim, cf_batch *b,
                     cf_record *r, const jsmntok_t *t, int nt)
{
        fctx cx = {.b = b, .r = r, .js = r->data, .lim = lim}, *c = &cx;
        cf_decl *d = &r->decl;
        uint64_t seen = 0;
        int i = 1;
        for (int k = 0; k < t[0].size && i < nt; k++) {
                const jsmntok_t *key = &t[i];
                int f = field_lookup(ix, r->data + key->start, (size_t)(key->end - key->start));
                const jsmntok_t *v = &t[i + 1];
                int next = skip(t, i + 1);
                i = next;
                if (f < 0) continue; /* unknown keys pass through in the raw bytes */
                if (seen & (1ull << f))
                        BAD(CF_E_DUPLICATE_KEY, "%s: appears more than once", field_names[f]);
                seen |= 1ull << f;
                if (is_null(c, v)) {
                        if (f < N_REQUIRED) BAD(CF_E_MISSING, "%s: is null", field_names[f]);
                        continue; /* null optional field = absent */
                }
                if (field(c, f, v)) return -1;
                if (f >= N_REQUIRED) d->present |= opt_bits[f - N_REQUIRED];
        }
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
