/*
 * decode_outcome.c - an outcome message (schemas/outcome.schema.json) over
 * jsmn tokens: its own fields into cf_record.outcome, and its `declaration`
 * (the declaration as it was scored) through the declaration's field checks
 * into cf_record.decl, so learning needs no lookup.
 *
 * Outcomes are few next to declarations (one per inspection), so they take
 * the exact jsmn path only. Errors use the declaration's stable codes; a bad
 * nested declaration keeps its code and its message gets a "declaration."
 * prefix.
 *
 * @locality: the worker thread that owns the decode stage.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "stages/decode/decode.h"
#include "stages/decode/decode_fields.h"

enum {
        O_ID,
        O_LINE,
        O_OUTCOME,
        O_INSPECTED,
        O_DECLARATION,
        O_DUTIES,
        O_CURRENCY,
        O_SOURCE,
        O_CASE,
        O_DECIDED_BY,
        O_COUNT
};
#define O_REQUIRED 5 /* O_ID .. O_DECLARATION */

static const struct {
        const char *name;
        uint32_t max_len; /* strings: longest accepted */
} ofields[O_COUNT] = {
    {"declaration_id", 64}, {"line", 0},        {"outcome", 64},
    {"inspected_at", 64},   {"declaration", 0}, {"duties_recovered", 0},
    {"currency", 64},       {"source", 64},     {"case_id", 128},
    {"decided_by", 128},
};

#define BAD(code, ...)                                                                             \
        do {                                                                                       \
                cf_record_dead_letter(b, r, code, __VA_ARGS__);                                    \
                return -1;                                                                         \
        } while (0)

static int ofield_lookup(const char *k, size_t n)
{
        for (int f = 0; f < O_COUNT; f++)
                if (strlen(ofields[f].name) == n && !memcmp(ofields[f].name, k, n)) return f;
        return -1;
}

static const char *jv_type_name(const cf_jv *v)
{
        switch (v->type) {
        case CF_JV_OBJECT:
                return "an object";
        case CF_JV_ARRAY:
                return "an array";
        case CF_JV_STRING:
                return "a string";
        case CF_JV_NULL:
                return "null";
        case CF_JV_NUMBER:
                return "a number";
        default:
                return "a boolean";
        }
}

/* A string field of the envelope within its length limit. */
static int ostr(cf_batch *b, cf_record *r, int f, const cf_jv *v)
{
        if (v->type != CF_JV_STRING)
                BAD(CF_E_WRONG_TYPE, "%s: expected a string, got %s", ofields[f].name,
                    jv_type_name(v));
        if (v->n > ofields[f].max_len)
                BAD(CF_E_TOO_LONG, "%s: %u bytes, limit %u", ofields[f].name, v->n,
                    ofields[f].max_len);
        if (memchr(v->s, 0, v->n)) BAD(CF_E_NUL, "%s: escaped NUL (\\u0000)", ofields[f].name);
        return 0;
}

static int onum(cf_batch *b, cf_record *r, int f, const cf_jv *v, double min, double *out)
{
        if (v->type != CF_JV_NUMBER)
                BAD(CF_E_WRONG_TYPE, "%s: expected a number, got %s", ofields[f].name,
                    jv_type_name(v));
        if (!isfinite(v->num) || fabs(v->num) > 1e15 || v->num < min)
                BAD(CF_E_RANGE, "%s: %.17g is out of range", ofields[f].name, v->num);
        *out = v->num;
        return 0;
}

static int outcome_kind(const cf_jv *v)
{
        static const char *const names[] = {"clean", "fraud", "critical"};
        for (int k = 0; k < 3; k++)
                if (v->n == strlen(names[k]) && !memcmp(v->s, names[k], v->n))
                        return CF_OUTCOME_CLEAN + k;
        return CF_OUTCOME_NONE;
}

/* One envelope field; the declaration itself is decoded by the caller. */
static int ofield(cf_batch *b, cf_record *r, int f, const cf_jv *v)
{
        cf_outcome *o = &r->outcome;
        double num;
        switch (f) {
        case O_ID:
                if (ostr(b, r, f, v)) return -1;
                if (!v->n) BAD(CF_E_EMPTY_VALUE, "declaration_id: empty string");
                return 0;
        case O_LINE:
                if (onum(b, r, f, v, 1, &num)) return -1;
                if (num != floor(num)) BAD(CF_E_NOT_INTEGER, "line: %.17g is not an integer", num);
                return 0;
        case O_OUTCOME:
                if (ostr(b, r, f, v)) return -1;
                o->kind = (uint8_t)outcome_kind(v);
                if (!o->kind)
                        BAD(CF_E_ENUM, "outcome: '%.*s' is not fraud, clean or critical",
                            (int)(v->n > 64 ? 64 : v->n), v->s);
                return 0;
        case O_INSPECTED:
                if (ostr(b, r, f, v)) return -1;
                if (cf_parse_rfc3339(v->s, v->n, &o->inspected_ms))
                        BAD(CF_E_DATE, "inspected_at: '%.*s' is not an RFC 3339 date-time",
                            (int)v->n, v->s);
                return 0;
        case O_DUTIES:
                if (onum(b, r, f, v, 0, &o->duties_recovered)) return -1;
                o->has_duties = true;
                return 0;
        case O_CURRENCY:
                if (ostr(b, r, f, v)) return -1;
                for (uint32_t i = 0; i < 3; i++)
                        if (v->n != 3 || v->s[i] < 'A' || v->s[i] > 'Z')
                                BAD(CF_E_CURRENCY, "currency: '%.*s' is not an ISO 4217 code",
                                    (int)v->n, v->s);
                return 0;
        default:
                return ostr(b, r, f, v); /* source, case_id, decided_by */
        }
}

/* The nested declaration: the declaration's own checks; messages say where. */
static int odeclaration(const cf_field_index *ix, const cf_field_limits *lim, cf_batch *b,
                        cf_record *r, const jsmntok_t *t, int nt)
{
        if (t[0].type != JSMN_OBJECT) BAD(CF_E_WRONG_TYPE, "declaration: expected an object");
        if (!cf_decode_fields(ix, lim, b, r, t, nt)) return 0;
        char *m = cf_arena_alloc(&b->arena, strlen(r->err_msg) + 13);
        sprintf(m, "declaration.%s", r->err_msg);
        r->err_msg = m;
        return -1;
}

int cf_decode_outcome(const cf_field_index *ix, const cf_field_limits *lim, cf_batch *b,
                      cf_record *r, const jsmntok_t *t, int nt)
{
        unsigned seen = 0;
        int decl_tok = -1;
        memset(&r->outcome, 0, sizeof(r->outcome));
        for (int k = 0, i = 1; k < t[0].size && i < nt; k++) {
                const jsmntok_t *key = &t[i], *vt = &t[i + 1];
                int vi = i + 1;
                i = cf_tok_skip(t, vi);
                int f = ofield_lookup(r->data + key->start, (size_t)(key->end - key->start));
                if (f < 0) continue; /* unknown keys pass through */
                if (seen & (1u << f))
                        BAD(CF_E_DUPLICATE_KEY, "%s: appears more than once", ofields[f].name);
                seen |= 1u << f;
                cf_jv v;
                if (cf_jv_of_token(b, r, vt, ofields[f].name, &v)) return -1;
                if (v.type == CF_JV_NULL) {
                        if (f < O_REQUIRED) BAD(CF_E_MISSING, "%s: is null", ofields[f].name);
                        continue;
                }
                if (f == O_DECLARATION) {
                        decl_tok = vi;
                        continue;
                }
                if (ofield(b, r, f, &v)) return -1;
        }
        for (int f = 0; f < O_REQUIRED; f++)
                if (!(seen & (1u << f)))
                        BAD(CF_E_MISSING, "%s: required field is missing", ofields[f].name);
        /* the declaration last: the envelope's errors are the cheaper ones to report */
        return odeclaration(ix, lim, b, r, t + decl_tok, nt - decl_tok);
}
