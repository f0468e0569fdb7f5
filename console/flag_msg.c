/*
 * flag_msg.c - parse a flag message with jsmn (the project's C JSON
 * tokenizer, DESIGN §5.1). jsmn gives token spans only, so JSON string
 * escapes are decoded here (unescape); raw JSON of nested objects is kept
 * as sent, byte for byte, for the store.
 */
#define JSMN_STRICT
#define JSMN_STATIC
#include <jsmn.h>

#include "console/flag_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages/decode/decode.h"

#define MAX_TOKS (1 << 16)

/* Index just past the subtree at i: each token adds its children to do. */
static int skip(const jsmntok_t *t, int i, int n)
{
        int todo = 1;
        while (todo > 0 && i < n) {
                todo += t[i].size - 1;
                i++;
        }
        return i;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
}

static int hex4(const char *s, unsigned *u)
{
        *u = 0;
        for (int i = 0; i < 4; i++) {
                int v = hexval(s[i]);
                if (v < 0) return -1;
                *u = *u << 4 | (unsigned)v;
        }
        return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
        if (cp < 0x80) return (size_t)(o[0] = (char)cp, 1);
        if (cp < 0x800) {
                o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F));
                return 2;
        }
        if (cp < 0x10000) {
                o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
                o[2] = (char)(0x80 | (cp & 0x3F));
                return 3;
        }
        o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        o[2] = (char)(0x80 | (cp >> 6 & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
}

/* The string token t as text: in place when it has no escape, else decoded
 * into scratch (reserved to the message's size, so it never moves). */
static int text_of(cf_flag_parser *p, const char *js, const jsmntok_t *t, cf_text *out)
{
        const char *s = js + t->start;
        size_t n = (size_t)(t->end - t->start);
        if (!memchr(s, '\\', n)) {
                *out = (cf_text){s, n};
                return 0;
        }
        char *o = p->scratch.p + p->scratch.len, *o0 = o;
        for (size_t i = 0; i < n; i++) {
                if (s[i] != '\\') {
                        *o++ = s[i];
                        continue;
                }
                char c = s[++i];
                const char *map = "\"\"\\\\//b\bf\fn\nr\rt\t";
                const char *m = strchr(map, c);
                if (c != 'u' && m && (m - map) % 2 == 0) {
                        *o++ = m[1];
                        continue;
                }
                unsigned cp, lo;
                if (c != 'u' || i + 4 >= n || hex4(s + i + 1, &cp)) return -1;
                i += 4;
                if (cp >= 0xD800 && cp < 0xDC00) { /* a surrogate pair */
                        if (i + 6 >= n || s[i + 1] != '\\' || s[i + 2] != 'u' ||
                            hex4(s + i + 3, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                                return -1;
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        i += 6;
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                        return -1;
                }
                o += put_utf8(o, cp);
        }
        *out = (cf_text){o0, (size_t)(o - o0)};
        p->scratch.len += (size_t)(o - o0);
        return 0;
}

static int eq(const char *js, const jsmntok_t *t, const char *s)
{
        size_t n = strlen(s);
        return t->type == JSMN_STRING && (size_t)(t->end - t->start) == n &&
               !memcmp(js + t->start, s, n);
}

static int num_of(const char *js, const jsmntok_t *t, double *v)
{
        if (t->type != JSMN_PRIMITIVE) return -1;
        char c = js[t->start];
        if (c != '-' && (c < '0' || c > '9')) return -1;
        char *end;
        *v = strtod(js + t->start, &end);
        return end == js + t->end ? 0 : -1;
}

static cf_text raw_of(const char *js, const jsmntok_t *t)
{
        return (cf_text){js + t->start, (size_t)(t->end - t->start)};
}

#define FAIL(...)                                                                                  \
        do {                                                                                       \
                snprintf(errstr, errstr_size, __VA_ARGS__);                                        \
                return -1;                                                                         \
        } while (0)

/* A string field of the declaration, kept when present and a string. */
static int decl_field(cf_flag_parser *p, const char *js, const jsmntok_t *k, const jsmntok_t *v,
                      cf_flag_msg *f)
{
        static const struct {
                const char *name;
                size_t off;
        } fields[] = {
            {"exporter_id", offsetof(cf_flag_msg, exporter_id)},
            {"importer_id", offsetof(cf_flag_msg, importer_id)},
            {"origin_country", offsetof(cf_flag_msg, origin)},
            {"export_country", offsetof(cf_flag_msg, export_country)},
            {"hs_code", offsetof(cf_flag_msg, hs_code)},
            {"certificate_of_origin", offsetof(cf_flag_msg, certificate)},
            {"currency", offsetof(cf_flag_msg, currency)},
            {"event_time", offsetof(cf_flag_msg, event_time)},
        };
        if (v->type == JSMN_PRIMITIVE && eq(js, k, "amendment")) {
                double a;
                if (!num_of(js, v, &a)) f->amendment = (int64_t)a;
                return 0;
        }
        if (v->type == JSMN_PRIMITIVE && eq(js, k, "customs_value"))
                return num_of(js, v, &f->customs_value) ? -1 : 0;
        if (v->type != JSMN_STRING) return 0;
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
                if (eq(js, k, fields[i].name))
                        return text_of(p, js, v, (cf_text *)((char *)f + fields[i].off));
        return 0;
}

static int parse_decl(cf_flag_parser *p, const char *js, const jsmntok_t *t, int i, int n,
                      cf_flag_msg *f)
{
        int end = skip(t, i, n);
        for (int j = i + 1; j < end; j = skip(t, j + 1, n))
                if (decl_field(p, js, &t[j], &t[j + 1], f)) return -1;
        return 0;
}

static int parse_reasons(cf_flag_parser *p, const char *js, const jsmntok_t *t, int i, int n,
                         cf_flag_msg *f, char *errstr, size_t errstr_size)
{
        if (t[i].type != JSMN_ARRAY || t[i].size < 1) FAIL("reasons: expected a non-empty array");
        if (t[i].size > CF_FLAG_MAX_REASONS) FAIL("reasons: more than %d", CF_FLAG_MAX_REASONS);
        for (int j = i + 1, r = 0; r < t[i].size; r++, j = skip(t, j, n)) {
                cf_flag_reason *x = &f->reasons[f->n_reasons++];
                memset(x, 0, sizeof *x);
                x->weight = -1;
                if (t[j].type != JSMN_OBJECT) FAIL("reasons[%d]: expected an object", r);
                int end = skip(t, j, n);
                for (int k = j + 1; k < end; k = skip(t, k + 1, n)) {
                        const jsmntok_t *v = &t[k + 1];
                        if (eq(js, &t[k], "rule") && v->type == JSMN_STRING) {
                                if (text_of(p, js, v, &x->rule))
                                        FAIL("reasons[%d].rule: bad escape", r);
                        } else if (eq(js, &t[k], "weight")) {
                                if (num_of(js, v, &x->weight))
                                        FAIL("reasons[%d].weight: not a number", r);
                        } else if (eq(js, &t[k], "evidence") && v->type == JSMN_OBJECT) {
                                x->evidence = raw_of(js, v);
                        } else if (eq(js, &t[k], "explanation") && v->type == JSMN_STRING) {
                                if (text_of(p, js, v, &x->explanation))
                                        FAIL("reasons[%d].explanation: bad escape", r);
                        }
                }
                if (!x->rule.n || x->weight < 0 || !x->evidence.n)
                        FAIL("reasons[%d]: rule, weight and evidence (an object) are required", r);
        }
        return 0;
}

static int top_field(cf_flag_parser *p, const char *js, const jsmntok_t *t, int k, int n,
                     cf_flag_msg *f, char *errstr, size_t errstr_size)
{
        const jsmntok_t *v = &t[k + 1];
        double d;
        if (eq(js, &t[k], "declaration_id")) {
                if (v->type != JSMN_STRING || text_of(p, js, v, &f->declaration_id))
                        FAIL("declaration_id: expected a string");
        } else if (eq(js, &t[k], "line")) {
                if (num_of(js, v, &d) || d < 1 || d != (double)(int64_t)d)
                        FAIL("line: expected an integer >= 1");
                f->line = (int64_t)d;
        } else if (eq(js, &t[k], "score")) {
                if (num_of(js, v, &f->score) || f->score < 0 || f->score > 100)
                        FAIL("score: expected a number 0..100");
        } else if (eq(js, &t[k], "reasons")) {
                return parse_reasons(p, js, t, k + 1, n, f, errstr, errstr_size);
        } else if (eq(js, &t[k], "declaration")) {
                if (v->type != JSMN_OBJECT) FAIL("declaration: expected an object");
                f->declaration = raw_of(js, v);
                if (parse_decl(p, js, t, k + 1, n, f)) FAIL("declaration: bad field");
        } else if (eq(js, &t[k], "source")) {
                f->source = raw_of(js, v);
        } else if (eq(js, &t[k], "processed_at") && v->type == JSMN_STRING) {
                return text_of(p, js, v, &f->processed_at);
        } else if (eq(js, &t[k], "pipeline_version") && v->type == JSMN_STRING) {
                return text_of(p, js, v, &f->pipeline_version);
        }
        return 0;
}

int cf_flag_parse(cf_flag_parser *p, const char *json, size_t n, cf_flag_msg *f, char *errstr,
                  size_t errstr_size)
{
        memset(f, 0, sizeof *f);
        f->score = -1;
        if (!p->keep) p->scratch.len = 0;
        cf_buf_reserve(&p->scratch, n + 1);
        if (!p->toks) {
                p->n_toks = 256;
                p->toks = malloc(sizeof(jsmntok_t) * (size_t)p->n_toks);
        }
        int nt;
        for (;;) {
                jsmn_parser jp;
                jsmn_init(&jp);
                nt = jsmn_parse(&jp, json, n, p->toks, (unsigned)p->n_toks);
                if (nt != JSMN_ERROR_NOMEM) break;
                if (p->n_toks >= MAX_TOKS) FAIL("too many JSON values");
                p->n_toks *= 4;
                p->toks = realloc(p->toks, sizeof(jsmntok_t) * (size_t)p->n_toks);
        }
        const jsmntok_t *t = p->toks;
        if (nt < 1) FAIL("malformed JSON");
        if (t[0].type != JSMN_OBJECT) FAIL("not a JSON object");
        for (int k = 1; k < nt; k = skip(t, k + 1, nt))
                if (top_field(p, json, t, k, nt, f, errstr, errstr_size)) return -1;
        if (!f->declaration_id.n || f->declaration_id.n > 64)
                FAIL("declaration_id: required, 1 to 64 bytes");
        if (!f->line) FAIL("line: required");
        if (f->score < 0) FAIL("score: required");
        if (!f->n_reasons) FAIL("reasons: required");
        if (!f->declaration.n) FAIL("declaration: required");
        if (!f->exporter_id.n) FAIL("declaration.exporter_id: required");
        if (!f->event_time.n ||
            cf_parse_rfc3339(f->event_time.p, f->event_time.n, &f->event_time_ms))
                FAIL("declaration.event_time: required, RFC 3339");
        return 0;
}

void cf_flag_parser_free(cf_flag_parser *p)
{
        free(p->toks);
        p->toks = NULL;
        cf_buf_free(&p->scratch);
}
