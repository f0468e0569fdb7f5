/*
 * decode.c - the decode stage: JSON line -> validated cf_decl.
 *
 * Tokenizing is jsmn's (Debian libjsmn-dev, strict mode). jsmn does not check
 * separators, number grammar, escapes or UTF-8, so this file completes the
 * validation over jsmn's tokens: one pass over the bytes (NUL, UTF-8, control
 * characters), one walk over the tokens (structure, separators, depth, number
 * grammar), then the field checks of DESIGN §3. Nothing allocates per record
 * except unescaped strings and messages, which go to the batch arena.
 */
/* Parent links make jsmn's ',' and '}' handling O(1) instead of a backward scan
 * over every token (measured 2x on 30-field records). Must match decode_fields.h. */
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#define JSMN_STATIC
#include <jsmn.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/stage.h"
#include "stages/decode/decode.h"
#include "stages/decode/decode_fields.h"
#ifdef CF_HAVE_SIMDJSON
#include "stages/decode/decode_simd.h"
#endif
#include "stages/decode/fx.h"

const char *const cf_decode_codes[] = {
    CF_E_OVERSIZE, CF_E_EMPTY,       CF_E_NUL,           CF_E_UTF8,        CF_E_CONTROL,
    CF_E_TRUNCATED, CF_E_NUMBER,     CF_E_MALFORMED,     CF_E_TOO_DEEP,    CF_E_TOO_MANY_TOKENS,
    CF_E_NOT_OBJECT, CF_E_ESCAPE,    CF_E_DUPLICATE_KEY, CF_E_WRONG_TYPE,  CF_E_MISSING,
    CF_E_EMPTY_VALUE, CF_E_TOO_LONG, CF_E_RANGE,         CF_E_NOT_INTEGER, CF_E_DATE,
    CF_E_HS,         CF_E_COUNTRY,   CF_E_CURRENCY,      CF_E_UNIT,        CF_E_ENUM,
    CF_E_LOCODE,     CF_E_CONTAINER, CF_E_IMO,           CF_E_TOO_MANY_TRANSIT, CF_E_MASS,
    CF_E_FX,         NULL,
};

typedef struct decode_cfg {
        int64_t max_message_bytes, max_depth, max_tokens, max_string_bytes, max_id_bytes,
            max_attributes;
        char *fx_rates;
        char *parser;
} decode_cfg;

static const cf_config_map decode_map[] = {
    {CF_CFG_SIZE, "max_message_bytes", "64KiB", offsetof(decode_cfg, max_message_bytes),
     "Messages longer than this are dead-lettered as oversize_message", 2, 1 << 30},
    {CF_CFG_INT, "max_depth", "16", offsetof(decode_cfg, max_depth),
     "Deepest JSON nesting accepted (the declaration itself needs 2)", 2, 1000},
    {CF_CFG_INT, "max_tokens", "2048", offsetof(decode_cfg, max_tokens),
     "Most JSON values (keys, strings, numbers, containers) in one message", 64, 1 << 20},
    {CF_CFG_INT, "max_string_bytes", "4096", offsetof(decode_cfg, max_string_bytes),
     "Longest free-text string (goods_description etc.)", 16, 1 << 20},
    {CF_CFG_INT, "max_id_bytes", "128", offsetof(decode_cfg, max_id_bytes),
     "Longest party/document identifier (exporter_id, certificate_of_origin...)", 8, 4096},
    {CF_CFG_INT, "max_attributes", "32", offsetof(decode_cfg, max_attributes),
     "Most members of the optional `attributes` object (agency-specific fields)", 1,
     CF_JV_MAX_MEMBERS},
    {CF_CFG_PATH, "fx_rates", "reference/fx_rates.csv", offsetof(decode_cfg, fx_rates),
     "CSV currency,period,usd_per_unit used to convert customs_value to USD"},
    {CF_CFG_STR, "parser", "simdjson", offsetof(decode_cfg, parser),
     "simdjson (fast path, jsmn classifies what it rejects) or jsmn (jsmn only); same results"},
    {0},
};

typedef struct decode_ctx {
        decode_cfg cfg;
        jsmntok_t *toks;
        cf_fx_table *fx;
        cf_field_index fields;
#ifdef CF_HAVE_SIMDJSON
        cf_simd *simd;
#endif
        uint64_t by_code[64];
        uint64_t fast, slow; /* records decoded by the simdjson / jsmn path */
        uint64_t outcomes, outcome_by_code[64]; /* the outcomes input */
} decode_ctx;

/* ---- byte pre-pass: size, emptiness, NUL, UTF-8, control characters ---- */

/* UTF-8 validation is hand-written: it is one loop with an ASCII fast path,
 * and Debian's candidates (glib, ICU) are heavy dependencies for it. */
static const char *check_bytes(cf_batch *b, cf_record *r, int *saw_ws_ctrl)
{
        const unsigned char *s = (const unsigned char *)r->data;
        size_t n = r->len, i = 0;
        while (i < n) {
                if (i + 8 <= n) {
                        uint64_t w;
                        memcpy(&w, s + i, 8);
                        /* all ASCII and no byte below 0x20: skip the word */
                        if (!(w & 0x8080808080808080ull) &&
                            !((w - 0x2020202020202020ull) & ~w & 0x8080808080808080ull)) {
                                i += 8;
                                continue;
                        }
                }
                unsigned char c = s[i];
                if (c < 0x80) {
                        if (c == 0) {
                                cf_record_dead_letter(b, r, CF_E_NUL, "NUL byte at byte %zu", i);
                                return CF_E_NUL;
                        }
                        if (c < 0x20) {
                                if (c == '\t' || c == '\n' || c == '\r') {
                                        *saw_ws_ctrl = 1;
                                } else {
                                        cf_record_dead_letter(b, r, CF_E_CONTROL,
                                                              "control character 0x%02x at "
                                                              "byte %zu",
                                                              c, i);
                                        return CF_E_CONTROL;
                                }
                        }
                        i++;
                        continue;
                }
                size_t need;
                uint32_t cp;
                if (c >= 0xC2 && c <= 0xDF) need = 1, cp = c & 0x1F;
                else if (c >= 0xE0 && c <= 0xEF) need = 2, cp = c & 0x0F;
                else if (c >= 0xF0 && c <= 0xF4) need = 3, cp = c & 0x07;
                else goto bad;
                for (size_t k = 1; k <= need; k++) {
                        if (i + k >= n || (s[i + k] & 0xC0) != 0x80) goto bad;
                        cp = (cp << 6) | (s[i + k] & 0x3F);
                }
                /* overlong, surrogate or beyond U+10FFFF */
                if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10FFFF ||
                    (cp >= 0xD800 && cp <= 0xDFFF))
                        goto bad;
                i += need + 1;
                continue;
        bad:
                cf_record_dead_letter(b, r, CF_E_UTF8, "invalid UTF-8 sequence at byte %zu", i);
                return CF_E_UTF8;
        }
        return NULL;
}

/* ---- token walk: structure, separators, depth, primitives ---- */

typedef struct walk {
        const char *js;
        const jsmntok_t *t;
        int ntok;
        int max_depth;
        int saw_ws_ctrl;
        const char *err; /* code */
        int err_pos;
} walk;

static int raw_start(const jsmntok_t *t)
{
        return t->type == JSMN_STRING ? t->start - 1 : t->start;
}

static int raw_end(const jsmntok_t *t)
{
        return t->type == JSMN_STRING ? t->end + 1 : t->end;
}

static int is_ws(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The bytes in [from, to) are whitespace around exactly one sep (0: none). */
static int gap_ok(const char *js, int from, int to, char sep)
{
        int seen = 0;
        for (int i = from; i < to; i++) {
                if (is_ws(js[i])) continue;
                if (js[i] == sep && !seen) {
                        seen = 1;
                        continue;
                }
                return 0;
        }
        return sep ? seen : 1;
}

/* JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int number_ok(const char *s, int n)
{
        int i = 0;
        if (i < n && s[i] == '-') i++;
        if (i >= n) return 0;
        if (s[i] == '0') i++;
        else if (s[i] >= '1' && s[i] <= '9')
                while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        else return 0;
        if (i < n && s[i] == '.') {
                int d = ++i;
                while (i < n && s[i] >= '0' && s[i] <= '9') i++;
                if (i == d) return 0;
        }
        if (i < n && (s[i] == 'e' || s[i] == 'E')) {
                i++;
                if (i < n && (s[i] == '+' || s[i] == '-')) i++;
                int d = i;
                while (i < n && s[i] >= '0' && s[i] <= '9') i++;
                if (i == d) return 0;
        }
        return i == n;
}

static int walk_fail(walk *w, const char *code, int pos)
{
        if (!w->err) {
                w->err = code;
                w->err_pos = pos;
        }
        return -1;
}

static int string_ctrl_ok(const char *s, int n)
{
        for (int i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20) return 0;
        return 1;
}

/* Validate the value at token i; return the index after its subtree or -1. */
static int walk_value(walk *w, int i, int depth)
{
        if (i >= w->ntok) return walk_fail(w, CF_E_MALFORMED, 0);
        const jsmntok_t *t = &w->t[i];
        if (depth > w->max_depth) return walk_fail(w, CF_E_TOO_DEEP, t->start);
        const char *s = w->js + t->start;
        int n = t->end - t->start;
        switch (t->type) {
        case JSMN_STRING:
                if (t->size != 0) return walk_fail(w, CF_E_MALFORMED, t->start);
                if (w->saw_ws_ctrl && !string_ctrl_ok(s, n))
                        return walk_fail(w, CF_E_CONTROL, t->start);
                return i + 1;
        case JSMN_PRIMITIVE:
                if ((n == 4 && !memcmp(s, "true", 4)) || (n == 5 && !memcmp(s, "false", 5)) ||
                    (n == 4 && !memcmp(s, "null", 4)))
                        return i + 1;
                if (number_ok(s, n)) return i + 1;
                return walk_fail(w, (s[0] == '-' || (s[0] >= '0' && s[0] <= '9'))
                                        ? CF_E_NUMBER
                                        : CF_E_MALFORMED,
                                 t->start);
        case JSMN_OBJECT:
        case JSMN_ARRAY: {
                int obj = t->type == JSMN_OBJECT;
                int j = i + 1, prev_end = t->start + 1;
                for (int k = 0; k < t->size; k++) {
                        if (j >= w->ntok) return walk_fail(w, CF_E_MALFORMED, t->start);
                        const jsmntok_t *c = &w->t[j];
                        if (!gap_ok(w->js, prev_end, raw_start(c), k ? ',' : 0))
                                return walk_fail(w, CF_E_MALFORMED, prev_end);
                        if (obj) {
                                if (c->type != JSMN_STRING || c->size != 1)
                                        return walk_fail(w, CF_E_MALFORMED, c->start);
                                if (w->saw_ws_ctrl &&
                                    !string_ctrl_ok(w->js + c->start, c->end - c->start))
                                        return walk_fail(w, CF_E_CONTROL, c->start);
                                if (j + 1 >= w->ntok ||
                                    !gap_ok(w->js, raw_end(c), raw_start(&w->t[j + 1]), ':'))
                                        return walk_fail(w, CF_E_MALFORMED, raw_end(c));
                                j++;
                        }
                        int after = walk_value(w, j, depth + 1);
                        if (after < 0) return -1;
                        prev_end = raw_end(&w->t[j]);
                        j = after;
                }
                if (!gap_ok(w->js, prev_end, t->end - 1, 0))
                        return walk_fail(w, CF_E_MALFORMED, prev_end);
                return j;
        }
        default: return walk_fail(w, CF_E_MALFORMED, t->start);
        }
}

/* Depth of the raw text ignoring strings (used when jsmn ran out of tokens). */
static int raw_depth(const char *s, size_t n)
{
        int d = 0, max = 0, in_str = 0;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (in_str) {
                        if (c == '\\') i++;
                        else if (c == '"') in_str = 0;
                } else if (c == '"') in_str = 1;
                else if (c == '{' || c == '[') {
                        if (++d > max) max = d;
                } else if (c == '}' || c == ']') d--;
        }
        return max;
}

static int starts_with(const char *s, size_t n, const char *lit)
{
        size_t l = strlen(lit);
        return n >= l && !memcmp(s, lit, l);
}

/* Tokenize and validate the syntax; returns token count or -1 (dead-lettered). */
static int tokenize(decode_ctx *x, cf_batch *b, cf_record *r, int saw_ws_ctrl)
{
        jsmn_parser p;
        jsmn_init(&p);
        int nt = jsmn_parse(&p, r->data, r->len, x->toks, (unsigned)x->cfg.max_tokens);
        if (nt == JSMN_ERROR_PART) {
                cf_record_dead_letter(b, r, CF_E_TRUNCATED, "JSON ends early at byte %zu",
                                      r->len);
                return -1;
        }
        if (nt == JSMN_ERROR_NOMEM) {
                if (raw_depth(r->data, r->len) > x->cfg.max_depth)
                        cf_record_dead_letter(b, r, CF_E_TOO_DEEP, "nesting deeper than %d",
                                              (int)x->cfg.max_depth);
                else
                        cf_record_dead_letter(b, r, CF_E_TOO_MANY_TOKENS,
                                              "more than %d JSON values", (int)x->cfg.max_tokens);
                return -1;
        }
        if (nt < 0) {
                const char *at = r->data + p.pos;
                size_t left = r->len - p.pos;
                if (starts_with(at, left, "NaN") || starts_with(at, left, "Infinity") ||
                    starts_with(at, left, "+"))
                        cf_record_dead_letter(b, r, CF_E_NUMBER, "invalid number at byte %u",
                                              p.pos);
                else
                        cf_record_dead_letter(b, r, CF_E_MALFORMED,
                                              "JSON syntax error at byte %u", p.pos);
                return -1;
        }
        if (nt == 0) { /* e.g. a lone ':' or ',': jsmn returns no token at all */
                cf_record_dead_letter(b, r, CF_E_MALFORMED, "no JSON value in the message");
                return -1;
        }
        if (x->toks[0].type != JSMN_OBJECT) {
                cf_record_dead_letter(b, r, CF_E_NOT_OBJECT,
                                      "top-level JSON value is not an object");
                return -1;
        }
        walk w = {.js = r->data, .t = x->toks, .ntok = nt, .max_depth = (int)x->cfg.max_depth,
                  .saw_ws_ctrl = saw_ws_ctrl};
        int end = walk_value(&w, 0, 1);
        if (end < 0) {
                if (!strcmp(w.err, CF_E_TOO_DEEP))
                        cf_record_dead_letter(b, r, w.err, "nesting deeper than %d",
                                              (int)x->cfg.max_depth);
                else if (!strcmp(w.err, CF_E_CONTROL))
                        cf_record_dead_letter(b, r, w.err,
                                              "raw control character in string at byte %d",
                                              w.err_pos);
                else
                        cf_record_dead_letter(b, r, w.err, "%s at byte %d",
                                              !strcmp(w.err, CF_E_NUMBER) ? "invalid number"
                                                                   : "JSON syntax error",
                                              w.err_pos);
                return -1;
        }
        if (end != nt || !gap_ok(r->data, x->toks[0].end, (int)r->len, 0)) {
                cf_record_dead_letter(b, r, CF_E_MALFORMED, "trailing data after the object at "
                                                            "byte %d",
                                      x->toks[0].end);
                return -1;
        }
        return nt;
}

/* Size and emptiness: the checks before any parsing; -1 if dead-lettered. */
static int precheck(decode_ctx *x, cf_batch *b, cf_record *r)
{
        if (r->len > (size_t)x->cfg.max_message_bytes) {
                cf_record_dead_letter(b, r, CF_E_OVERSIZE, "message is %zu bytes, limit %lld",
                                      r->len, (long long)x->cfg.max_message_bytes);
                return -1;
        }
        size_t i = 0;
        while (i < r->len && is_ws(r->data[i])) i++;
        if (i == r->len) {
                cf_record_dead_letter(b, r, CF_E_EMPTY, "empty message");
                return -1;
        }
        return 0;
}

/* The exact path: bytes, then jsmn's tokens; token count or -1 if dead-lettered. */
static int exact_tokens(decode_ctx *x, cf_batch *b, cf_record *r)
{
        int saw_ws_ctrl = 0;
        if (check_bytes(b, r, &saw_ws_ctrl)) return -1;
        return tokenize(x, b, r, saw_ws_ctrl);
}

static cf_field_limits limits(const decode_ctx *x)
{
        return (cf_field_limits){.max_string = (uint32_t)x->cfg.max_string_bytes,
                                 .max_id = (uint32_t)x->cfg.max_id_bytes,
                                 .max_attributes = (uint32_t)x->cfg.max_attributes};
}

static int decode_one(decode_ctx *x, cf_batch *b, cf_record *r)
{
        if (precheck(x, b, r)) return -1;
        cf_field_limits lim = limits(x);
#ifdef CF_HAVE_SIMDJSON
        /* Fast path for valid JSON; whatever simdjson rejects takes the exact path. */
        int rc = x->simd ? cf_simd_decode(x->simd, &x->fields, &lim, b, r,
                                          (size_t)x->cfg.max_tokens)
                         : -1;
        if (rc >= 0) {
                x->fast++;
                return rc ? -1 : cf_fx_convert(x->fx, b, r);
        }
        memset(&r->decl, 0, sizeof(r->decl));
#endif
        x->slow++;
        int nt = exact_tokens(x, b, r);
        if (nt < 0) return -1;
        if (cf_decode_fields(&x->fields, &lim, b, r, x->toks, nt)) return -1;
        return cf_fx_convert(x->fx, b, r);
}

/* Set the id hashes detect and aggregate key their state by, or count the code. */
static void decoded(decode_ctx *x, cf_record *r, int rc, uint64_t *by_code)
{
        if (rc == 0) {
                /* hashed once here, while the text is in cache */
                cf_decl *d = &r->decl;
                d->exporter_h = cf_id_hash(d->exporter_id.p, d->exporter_id.n);
                d->importer_h = cf_id_hash(d->importer_id.p, d->importer_id.n);
                return;
        }
        for (int c = 0; cf_decode_codes[c]; c++)
                if (!strcmp(cf_decode_codes[c], r->err_code)) by_code[c]++;
}

static int decode_process(cf_stage *st, cf_batch *b)
{
        decode_ctx *x = st->ctx;
        for (size_t i = 0; i < b->n; i++) {
                cf_record *r = &b->recs[i];
                if (r->status == CF_REC_OK) decoded(x, r, decode_one(x, b, r), x->by_code);
        }
        return 0;
}

/* An outcome message: envelope and nested declaration (decode_outcome.c). */
static int decode_outcome(decode_ctx *x, cf_batch *b, cf_record *r)
{
        if (precheck(x, b, r)) return -1;
        cf_field_limits lim = limits(x);
        int nt = exact_tokens(x, b, r);
        if (nt < 0) return -1;
        if (cf_decode_outcome(&x->fields, &lim, b, r, x->toks, nt)) return -1;
        return cf_fx_convert(x->fx, b, r);
}

/* The outcomes input: every record is an outcome message. */
static int decode_learn(cf_stage *st, cf_batch *b)
{
        decode_ctx *x = st->ctx;
        for (size_t i = 0; i < b->n; i++) {
                cf_record *r = &b->recs[i];
                if (r->status != CF_REC_OK) continue;
                x->outcomes++;
                decoded(x, r, decode_outcome(x, b, r), x->outcome_by_code);
        }
        return 0;
}

static int decode_init(cf_stage *st, const cf_stage_env *env, char *errstr, size_t errstr_size)
{
        decode_ctx *x = calloc(1, sizeof(*x));
        st->ctx = x;
        if (cf_config_map_apply(decode_map, "stages.decode", env->cfg, env->base_dir, &x->cfg,
                                errstr, errstr_size))
                return -1;
        x->toks = malloc(sizeof(jsmntok_t) * (size_t)x->cfg.max_tokens);
        cf_field_index_init(&x->fields);
        if (strcmp(x->cfg.parser, "simdjson") && strcmp(x->cfg.parser, "jsmn")) {
                snprintf(errstr, errstr_size,
                         "stages.decode.parser: '%s' is not simdjson or jsmn", x->cfg.parser);
                return -1;
        }
#ifdef CF_HAVE_SIMDJSON
        /* Nesting limit one above ours: simdjson's DEPTH_ERROR then always means
         * "too deep for us too", and the jsmn path makes the exact call. */
        if (!strcmp(x->cfg.parser, "simdjson"))
                x->simd = cf_simd_new((size_t)x->cfg.max_message_bytes,
                                      (size_t)x->cfg.max_depth + 1);
        if (!strcmp(x->cfg.parser, "simdjson") && !x->simd) {
                snprintf(errstr, errstr_size, "stages.decode: cannot allocate the JSON parser");
                return -1;
        }
#endif
        x->fx = cf_fx_load(x->cfg.fx_rates, errstr, errstr_size);
        return x->fx ? 0 : -1;
}

static int decode_reload(cf_stage *st, const cf_stage_env *env, char *errstr, size_t errstr_size)
{
        decode_ctx *x = st->ctx;
        decode_cfg nc = {0};
        if (cf_config_map_apply(decode_map, "stages.decode", env->cfg, env->base_dir, &nc,
                                errstr, errstr_size)) {
                cf_config_map_free(decode_map, &nc);
                return -1;
        }
        cf_fx_table *fx = cf_fx_load(nc.fx_rates, errstr, errstr_size);
        if (!fx) {
                cf_config_map_free(decode_map, &nc);
                return -1;
        }
        /* Token limits need a new array; keep the old size if it did not change. */
        if (nc.max_tokens != x->cfg.max_tokens) {
                free(x->toks);
                x->toks = malloc(sizeof(jsmntok_t) * (size_t)nc.max_tokens);
        }
        cf_fx_free(x->fx);
        x->fx = fx;
        cf_config_map_free(decode_map, &x->cfg);
        x->cfg = nc;
        return 0;
}

static void decode_metrics(cf_stage *st, cf_buf *out)
{
        decode_ctx *x = st->ctx;
        cf_buf_printf(out, "customsflow_decode_records_total{path=\"simdjson\"} %llu\n",
                      (unsigned long long)x->fast);
        cf_buf_printf(out, "customsflow_decode_records_total{path=\"jsmn\"} %llu\n",
                      (unsigned long long)x->slow);
        for (int c = 0; cf_decode_codes[c]; c++)
                if (x->by_code[c])
                        cf_buf_printf(out,
                                      "customsflow_decode_dead_letters_total{code=\"%s\"} %llu\n",
                                      cf_decode_codes[c], (unsigned long long)x->by_code[c]);
        cf_buf_printf(out, "customsflow_decode_outcomes_total %llu\n",
                      (unsigned long long)x->outcomes);
        for (int c = 0; cf_decode_codes[c]; c++)
                if (x->outcome_by_code[c])
                        cf_buf_printf(out,
                                      "customsflow_decode_outcome_dead_letters_total{code=\"%s\"} "
                                      "%llu\n",
                                      cf_decode_codes[c],
                                      (unsigned long long)x->outcome_by_code[c]);
}

static void decode_destroy(cf_stage *st)
{
        decode_ctx *x = st->ctx;
        if (!x) return;
        cf_config_map_free(decode_map, &x->cfg);
        cf_fx_free(x->fx);
        free(x->toks);
#ifdef CF_HAVE_SIMDJSON
        cf_simd_free(x->simd);
#endif
        free(x);
        st->ctx = NULL;
}

const cf_stage_plugin cf_stage_decode = {
    .name = "decode",
    .description = "JSON declaration line -> validated record; bad input dead-lettered with a "
                   "stable code",
    .config_map = decode_map,
    .init = decode_init,
    .process = decode_process,
    .reload = decode_reload,
    .metrics = decode_metrics,
    .destroy = decode_destroy,
    .learn = decode_learn,
};
