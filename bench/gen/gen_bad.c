/*
 * gen_bad.c - bad input: a valid rendered line turned into one of many kinds
 * of broken message, each labelled with the stable code the decoder must give
 * (stages/decode/decode.h). tests/scripts/test_gen_replay.sh checks every kind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/gen/gen_internal.h"

/* Extent [*vs, *ve) of the value of "key" in a rendered line, or -1. The
 * generator's own output is flat and well-formed, so a scan suffices here. */
static int value_span(const cf_buf *b, const char *key, size_t *ks, size_t *vs, size_t *ve)
{
        char pat[64];
        int n = snprintf(pat, sizeof pat, "\"%s\":", key);
        const char *p = memmem(b->p, b->len, pat, (size_t)n);
        if (!p) return -1;
        size_t i = (size_t)(p - b->p) + (size_t)n;
        *ks = (size_t)(p - b->p);
        *vs = i;
        if (b->p[i] == '"') {
                for (i++; i < b->len && b->p[i] != '"'; i++)
                        if (b->p[i] == '\\') i++;
                i++;
        } else if (b->p[i] == '[') {
                while (i < b->len && b->p[i] != ']')
                        i++;
                i++;
        } else {
                while (i < b->len && b->p[i] != ',' && b->p[i] != '}')
                        i++;
        }
        *ve = i;
        return 0;
}

static void splice(cf_buf *b, size_t at, size_t del, const char *ins, size_t n)
{
        cf_buf_reserve(b, n);
        memmove(b->p + at + n, b->p + at + del, b->len - at - del);
        memcpy(b->p + at, ins, n);
        b->len = b->len - del + n;
}

/* Replace the value of key (raw JSON text), or add key at the end if absent. */
static void set_raw(cf_buf *b, const char *key, const char *raw, size_t n)
{
        size_t ks, vs, ve;
        if (value_span(b, key, &ks, &vs, &ve) == 0) {
                splice(b, vs, ve - vs, raw, n);
                return;
        }
        char pre[80];
        int pn = snprintf(pre, sizeof pre, ",\"%s\":", key);
        splice(b, b->len - 1, 0, pre, (size_t)pn);
        splice(b, b->len - 1, 0, raw, n);
}

static void set(cf_buf *b, const char *key, const char *raw)
{
        set_raw(b, key, raw, strlen(raw));
}

static void del(cf_buf *b, const char *key)
{
        size_t ks, vs, ve;
        if (value_span(b, key, &ks, &vs, &ve)) return;
        /* the key is never first (declaration_id is), so take the comma before */
        splice(b, ks - 1, ve - ks + 1, "", 0);
}

/* Put raw bytes inside the goods description (added when absent). */
static void in_desc(cf_buf *b, const char *bytes, size_t n)
{
        size_t ks, vs, ve;
        if (value_span(b, "goods_description", &ks, &vs, &ve)) {
                set(b, "goods_description", "\"goods\"");
                value_span(b, "goods_description", &ks, &vs, &ve);
        }
        splice(b, vs + 1, 0, bytes, n);
}

static void repeat_value(cf_buf *b, const char *open, const char *item, int n, const char *close)
{
        cf_buf v = {0};
        cf_buf_puts(&v, open);
        for (int i = 0; i < n; i++)
                cf_buf_printf(&v, "%s%s", i ? "," : "", item);
        cf_buf_puts(&v, close);
        set_raw(b, "extra", v.p, v.len);
        cf_buf_free(&v);
}

typedef struct bad_kind {
        const char *code, *name;
} bad_kind;

static const bad_kind kinds[] = {
    {"malformed_json", "missing-comma"},
    {"malformed_json", "single-quotes"},
    {"malformed_json", "trailing-comma"},
    {"malformed_json", "trailing-garbage"},
    {"truncated_json", "truncated"},
    {"empty_message", "empty"},
    {"empty_message", "whitespace"},
    {"nul_byte", "nul-in-string"},
    {"invalid_utf8", "bad-continuation"},
    {"invalid_utf8", "overlong"},
    {"control_character", "raw-control"},
    {"oversize_message", "oversize"},
    {"too_deep", "deep-nesting"},
    {"too_many_tokens", "many-values"},
    {"not_an_object", "array"},
    {"duplicate_key", "duplicate-line"},
    {"wrong_type", "quantity-string"},
    {"wrong_type", "hs-code-number"},
    {"missing_field", "no-currency"},
    {"missing_field", "null-importer"},
    {"empty_value", "empty-exporter"},
    {"string_too_long", "long-declaration-id"},
    {"out_of_range", "negative-value"},
    {"out_of_range", "line-zero"},
    {"not_an_integer", "fractional-line"},
    {"invalid_date", "feb-30"},
    {"invalid_date", "no-timezone"},
    {"invalid_hs_code", "letters"},
    {"invalid_country", "unassigned"},
    {"invalid_country", "lower-case"},
    {"invalid_currency", "symbol"},
    {"invalid_unit", "word"},
    {"invalid_enum", "direction"},
    {"invalid_locode", "port"},
    {"invalid_container_id", "container"},
    {"invalid_vessel_imo", "imo"},
    {"too_many_transit_countries", "transit"},
    {"inconsistent_mass", "net-over-gross"},
    {"unknown_currency_rate", "no-rate"},
    {"invalid_number", "nan"},
    {"invalid_number", "infinity"},
    {"invalid_escape", "lone-surrogate"},
};

int gen_bad_kinds(void)
{
        return (int)(sizeof kinds / sizeof kinds[0]);
}

/* A well-formed ISO 4217 code with no rate in fx_rates (data-driven: the
 * reference set decides which currencies are convertible). */
static const char *currency_without_rate(const gen_ref *ref)
{
        static const char *const cand[] = {"XAF", "XOF", "KMF", "BIF", "DJF", "GNF", "XPF"};
        for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++) {
                bool any = false;
                for (int y = 2000; y <= 2040 && !any; y++)
                        any = cf_fx_rate(ref->fx, cand[i], y * 100 + 1) > 0;
                if (!any) return cand[i];
        }
        return "XTS"; /* ISO 4217's code reserved for testing */
}

const char *gen_bad_apply(int k, const gen_ref *ref, cf_buf *b, const char **kind_name)
{
        size_t ks, vs, ve;
        const bad_kind *bk = &kinds[k];
        *kind_name = bk->name;
        switch (k) {
        case 0: /* drop the comma after the line number */
                value_span(b, "line", &ks, &vs, &ve);
                splice(b, ve, 1, " ", 1);
                break;
        case 1:
                value_span(b, "unit", &ks, &vs, &ve);
                b->p[ks] = b->p[ks + 5] = b->p[vs] = b->p[ve - 1] = '\'';
                break;
        case 2:
                splice(b, b->len - 1, 0, ",", 1);
                break;
        case 3:
                cf_buf_puts(b, " x");
                break;
        case 4:
                b->len = b->len * 3 / 5;
                break;
        case 5:
                b->len = 0;
                break;
        case 6:
                b->len = 0;
                cf_buf_puts(b, "  \t ");
                break;
        case 7:
                in_desc(b, "a\0b", 3);
                break;
        case 8:
                in_desc(b, "\xc3\x28", 2);
                break;
        case 9:
                in_desc(b, "\xc0\xaf", 2);
                break;
        case 10:
                in_desc(b, "\x01", 1);
                break;
        case 11: {
                cf_buf pad = {0};
                cf_buf_putc(&pad, '"');
                for (int i = 0; i < 70000; i++)
                        cf_buf_putc(&pad, 'x');
                cf_buf_putc(&pad, '"');
                set_raw(b, "goods_description", pad.p, pad.len);
                cf_buf_free(&pad);
                break;
        }
        case 12: {
                char deep[128];
                memset(deep, '[', 40);
                memset(deep + 40, ']', 40);
                set_raw(b, "extra", deep, 80);
                break;
        }
        case 13:
                repeat_value(b, "[", "0", 3000, "]");
                break;
        case 14:
                b->len = 0;
                cf_buf_puts(b, "[\"declaration\",1]");
                break;
        case 15:
                splice(b, b->len - 1, 0, ",\"line\":2", 9);
                break;
        case 16: {
                value_span(b, "quantity", &ks, &vs, &ve);
                char q[48];
                int n = snprintf(q, sizeof q, "\"%.*s\"", (int)(ve - vs), b->p + vs);
                splice(b, vs, ve - vs, q, (size_t)n);
                break;
        }
        case 17: /* the code as a number (no leading zero: that would be invalid_number) */
                value_span(b, "hs_code", &ks, &vs, &ve);
                splice(b, ve - 1, 1, "", 0);
                b->p[vs] = '1';
                break;
        case 18:
                del(b, "currency");
                break;
        case 19:
                set(b, "importer_id", "null");
                break;
        case 20:
                set(b, "exporter_id", "\"\"");
                break;
        case 21:
                set(b, "declaration_id",
                    "\"DEC-0123456789-0123456789-0123456789-0123456789-0123456789-0123456789-"
                    "0123456789\"");
                break;
        case 22:
                set(b, "customs_value", "-125.5");
                break;
        case 23:
                set(b, "line", "0");
                break;
        case 24:
                set(b, "line", "1.5");
                break;
        case 25:
                set(b, "event_time", "\"2025-02-30T10:00:00Z\"");
                break;
        case 26:
                set(b, "event_time", "\"2025-03-14T09:30:00\"");
                break;
        case 27:
                set(b, "hs_code", "\"94035A\"");
                break;
        case 28:
                set(b, "origin_country", "\"ZZ\"");
                break;
        case 29:
                set(b, "origin_country", "\"cn\"");
                break;
        case 30:
                set(b, "currency", "\"US$\"");
                break;
        case 31:
                set(b, "unit", "\"pieces\"");
                break;
        case 32:
                set(b, "direction", "\"inbound\"");
                break;
        case 33:
                set(b, "port_of_loading", "\"CN-SHA\"");
                break;
        case 34:
                set(b, "container_id", "\"MSCU12345\"");
                break;
        case 35:
                set(b, "vessel_imo", "\"IMO12345\"");
                break;
        case 36:
                set(b, "transit_countries",
                    "[\"SG\",\"MY\",\"TH\",\"AE\",\"EG\",\"NL\",\"BE\",\"DE\",\"PL\"]");
                break;
        case 37:
                set(b, "net_mass_kg", "1000");
                set(b, "gross_mass_kg", "900");
                break;
        case 38: {
                char c[8];
                snprintf(c, sizeof c, "\"%s\"", currency_without_rate(ref));
                set(b, "currency", c);
                break;
        }
        case 39:
                set(b, "quantity", "NaN");
                break;
        case 40:
                set(b, "customs_value", "Infinity");
                break;
        case 41:
                in_desc(b, "\\ud800", 6);
                break; /* a lone surrogate */
        default:
                abort();
        }
        return bk->code;
}
