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
#include "pipeline/core/utf8.h"
#include "stages/decode/decode.h"
#include "stages/decode/decode_fields.h"
#ifdef CF_HAVE_SIMDJSON
#include "stages/decode/decode_simd.h"
#endif
#include "stages/decode/fx.h"

/* clang-format off */
const char *const cf_decode_codes[] = {
    CF_E_OVERSIZE,   CF_E_EMPTY,       CF_E_NUL,           CF_E_UTF8,        CF_E_CONTROL,
    CF_E_TOO_DEEP,   CF_E_TRUNCATED,   CF_E_NUMBER,        CF_E_MALFORMED,   CF_E_TOO_MANY_TOKENS,
    CF_E_NOT_OBJECT, CF_E_ESCAPE,      CF_E_DUPLICATE_KEY, CF_E_WRONG_TYPE,  CF_E_MISSING,
    CF_E_EMPTY_VALUE, CF_E_TOO_LONG,   CF_E_RANGE,         CF_E_NOT_INTEGER, CF_E_DATE,
    CF_E_HS,         CF_E_COUNTRY,     CF_E_CURRENCY,      CF_E_UNIT,        CF_E_ENUM,
    CF_E_LOCODE,     CF_E_CONTAINER,   CF_E_IMO,           CF_E_TOO_MANY_TRANSIT, CF_E_MASS,
    CF_E_TIME_RANGE, CF_E_FX,          NULL,
};
/* clang-format on */

typedef struct decode_cfg {
        int64_t max_message_bytes, max_depth, max_tokens, max_string_bytes, max_id_bytes,
            max_attributes;
        int64_t max_future_skew_ms;
        char *min_event_time;
        char *fx_rates;
        char *parser;
} decode_cfg;

static const cf_config_map decode_map[] = {
    /* The bounds keep the cost of one message small whatever the config: work
     * is linear in its bytes, and jsmn's closing brackets cost up to max_depth. */
    {CF_CFG_SIZE, "max_message_bytes", "64KiB", offsetof(decode_cfg, max_message_bytes),
     "Messages longer than this are dead-lettered as oversize_message (replay reads at most "
     "this much of a line)",
     2, 16 << 20},
    {CF_CFG_INT, "max_depth", "16", offsetof(decode_cfg, max_depth),
     "Deepest nesting of objects and arrays accepted (the declaration object is 1, "
     "transit_countries 2)",
     2, 64},
    {CF_CFG_INT, "max_tokens", "2048", offsetof(decode_cfg, max_tokens),
     "Most JSON values (keys, strings, numbers, containers) in one message", 64, 1 << 20},
    {CF_CFG_INT, "max_string_bytes", "4096", offsetof(decode_cfg, max_string_bytes),
     "Longest free-text string (goods_description etc.)", 16, 1 << 20},
    {CF_CFG_INT, "max_id_bytes", "128", offsetof(decode_cfg, max_id_bytes),
     "Longest party/document identifier (exporter_id, certificate_of_origin...)", 8, 4096},
    {CF_CFG_INT, "max_attributes", "32", offsetof(decode_cfg, max_attributes),
     "Most members of the optional `attributes` object (agency-specific fields)", 1,
     CF_JV_MAX_MEMBERS},
    {CF_CFG_DURATION, "max_future_skew", "1d", offsetof(decode_cfg, max_future_skew_ms),
     "A record whose event_time is further ahead of the reference time is dead-lettered "
     "(event_time_out_of_range): the wall clock in the service; in replay the highest event "
     "time accepted so far in the partition, or the wall clock when later; 0 = no bound",
     0, 3650.0 * 86400000},
    {CF_CFG_STR, "min_event_time", "1970-01-01T00:00:00Z", offsetof(decode_cfg, min_event_time),
     "Records with an earlier event_time (RFC 3339) are dead-lettered (event_time_out_of_range)"},
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
        int64_t min_event_ms;
        int64_t *hi; /* replay: per partition, the highest event time accepted (INT64_MIN: none) */
        size_t n_hi;
        uint64_t by_code[64];
        uint64_t fast, slow; /* records decoded by the simdjson / jsmn path */
        uint64_t outcomes, outcome_by_code[64]; /* the outcomes input */
} decode_ctx;

/* ---- byte pre-pass: size, emptiness, NUL, UTF-8, control characters ---- */

/* First byte below 0x20 other than \t \n \r (NUL included), or n; *saw_ws_ctrl
 * tells whether a \t \n \r was seen (only then can a string hold one raw). */
static size_t first_control(const unsigned char *s, size_t n, int *saw_ws_ctrl)
{
        size_t i = 0;
        while (i < n) {
                if (i + 8 <= n) {
                        uint64_t w;
                        memcpy(&w, s + i, 8);
                        /* no byte below 0x20 in the word: skip it */
                        if (!((w - 0x2020202020202020ull) & ~w & 0x8080808080808080ull)) {
                                i += 8;
                                continue;
                        }
                }
                unsigned char c = s[i];
                if (c < 0x20) {
                        if (c != '\t' && c != '\n' && c != '\r') return i;
                        *saw_ws_ctrl = 1;
                }
                i++;
        }
        return n;
}

/* The first of: a NUL, a raw control character, an invalid UTF-8 sequence
 * (validated by core/utf8: simdjson's validator, the scalar pass only to
 * find where). Returns the code when the record was dead-lettered. */
static const char *check_bytes(cf_batch *b, cf_record *r, int *saw_ws_ctrl)
{
        const unsigned char *s = (const unsigned char *)r->data;
        size_t ctl = first_control(s, r->len, saw_ws_ctrl);
        size_t bad = cf_utf8_valid(r->data, r->len) ? r->len : cf_utf8_error_at(r->data, r->len);
        if (bad < ctl) {
                cf_record_dead_letter(b, r, CF_E_UTF8, "invalid UTF-8 sequence at byte %zu", bad);
                return CF_E_UTF8;
        }
        if (ctl == r->len) return NULL;
        if (s[ctl] == 0) {
                cf_record_dead_letter(b, r, CF_E_NUL, "NUL byte at byte %zu", ctl);
                return CF_E_NUL;
        }
        cf_record_dead_letter(b, r, CF_E_CONTROL, "control character 0x%02x at byte %zu", s[ctl],
                              ctl);
        return CF_E_CONTROL;
}

/* ---- token walk: structure, separators, escapes, primitives ---- */

typedef struct walk {
        const char *js;
        const jsmntok_t *t;
        int ntok;
        int saw_ws_ctrl;
        const char *err; /* code */
        int err_pos;
        const jsmntok_t *err_key; /* invalid_escape: the key the string is under (NULL: top) */
        uint32_t err_unit;        /* invalid_escape: the lone surrogate */
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

/* A JSON scalar literal: true, false, null or a number. */
static int scalar_ok(const char *s, int n)
{
        return (n == 4 && !memcmp(s, "true", 4)) || (n == 5 && !memcmp(s, "false", 5)) ||
               (n == 4 && !memcmp(s, "null", 4)) || number_ok(s, n);
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

/* Check a string token: raw control characters, and \u escapes that leave a
 * surrogate unpaired. simdjson rejects those in any string, so this path
 * does too, in every string (known field or not, key or value): one rule for
 * every output, the record is dead-lettered as invalid_escape. */
static int string_ok(walk *w, const jsmntok_t *t, const jsmntok_t *key)
{
        const char *s = w->js + t->start;
        int n = t->end - t->start;
        if (w->saw_ws_ctrl && !string_ctrl_ok(s, n)) return walk_fail(w, CF_E_CONTROL, t->start);
        const char *e = memchr(s, '\\', (size_t)n);
        while (e) {
                int i = (int)(e - s);
                if (s[i + 1] != 'u') { /* jsmn checked the escape: one byte after '\' */
                        e = i + 2 < n ? memchr(s + i + 2, '\\', (size_t)(n - i - 2)) : NULL;
                        continue;
                }
                uint32_t cu = cf_json_hex4(s + i + 2), lo;
                int next = i + 6;
                if (cu >= 0xD800 && cu <= 0xDBFF) {
                        if (next + 6 > n || s[next] != '\\' || s[next + 1] != 'u' ||
                            (lo = cf_json_hex4(s + next + 2)) < 0xDC00 || lo > 0xDFFF)
                                goto lone;
                        next += 6;
                } else if (cu >= 0xDC00 && cu <= 0xDFFF) {
                        goto lone;
                }
                e = next < n ? memchr(s + next, '\\', (size_t)(n - next)) : NULL;
                continue;
        lone:
                if (!w->err) w->err_key = key, w->err_unit = cu;
                return walk_fail(w, CF_E_ESCAPE, t->start + i);
        }
        return 0;
}

/* Validate the value at token i (under key, NULL at the top); return the index
 * after its subtree or -1. Depth was checked before tokenizing (raw_depth). */
static int walk_value(walk *w, int i, const jsmntok_t *key)
{
        if (i >= w->ntok) return walk_fail(w, CF_E_MALFORMED, 0);
        const jsmntok_t *t = &w->t[i];
        const char *s = w->js + t->start;
        int n = t->end - t->start;
        switch (t->type) {
        case JSMN_STRING:
                if (t->size != 0) return walk_fail(w, CF_E_MALFORMED, t->start);
                return string_ok(w, t, key) ? -1 : i + 1;
        case JSMN_PRIMITIVE:
                if (scalar_ok(s, n)) return i + 1;
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
                        const jsmntok_t *under = key;
                        if (obj) {
                                if (c->type != JSMN_STRING || c->size != 1)
                                        return walk_fail(w, CF_E_MALFORMED, c->start);
                                if (string_ok(w, c, NULL)) return -1;
                                if (j + 1 >= w->ntok ||
                                    !gap_ok(w->js, raw_end(c), raw_start(&w->t[j + 1]), ':'))
                                        return walk_fail(w, CF_E_MALFORMED, raw_end(c));
                                under = c;
                                j++;
                        }
                        int after = walk_value(w, j, under);
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

/* Nesting depth: objects and arrays around the deepest point, the declaration
 * object itself being 1 (strings skipped). The one definition of depth: it is
 * checked here, in one linear pass before tokenizing, so jsmn's closing-bracket
 * walk up the parent links (cost ~ depth per bracket) stays bounded by
 * max_depth; simdjson's own limit, set to max_depth, counts a scalar as one
 * level more, so whatever it accepts passes here too. */
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

/* Dead-letter r with the walk's error. */
static void walk_dead_letter(const walk *w, cf_batch *b, cf_record *r)
{
        if (!strcmp(w->err, CF_E_CONTROL)) {
                cf_record_dead_letter(b, r, w->err, "raw control character in string at byte %d",
                                      w->err_pos);
        } else if (!strcmp(w->err, CF_E_ESCAPE)) {
                /* named after the key the string is under, as the field checks name fields */
                const jsmntok_t *k = w->err_key;
                const char *kp = k ? w->js + k->start : "(top level)";
                size_t kn = k ? cf_utf8_prefix(kp, (size_t)(k->end - k->start), 31) : 11;
                cf_record_dead_letter(b, r, w->err, "%.*s: lone %s surrogate \\u%04X", (int)kn, kp,
                                      w->err_unit >= 0xDC00 ? "low" : "high", w->err_unit);
        } else {
                cf_record_dead_letter(b, r, w->err, "%s at byte %d",
                                      !strcmp(w->err, CF_E_NUMBER) ? "invalid number"
                                                                   : "JSON syntax error",
                                      w->err_pos);
        }
}

/* Tokenize and validate the syntax; returns token count or -1 (dead-lettered). */
static int tokenize(decode_ctx *x, cf_batch *b, cf_record *r, int saw_ws_ctrl)
{
        if (raw_depth(r->data, r->len) > x->cfg.max_depth) {
                cf_record_dead_letter(b, r, CF_E_TOO_DEEP, "nesting deeper than %d",
                                      (int)x->cfg.max_depth);
                return -1;
        }
        jsmn_parser p;
        jsmn_init(&p);
        int nt = jsmn_parse(&p, r->data, r->len, x->toks, (unsigned)x->cfg.max_tokens);
        if (nt == JSMN_ERROR_PART) {
                /* strict jsmn cannot end a top-level number or literal at the end of
                 * the input: a bare `1` is a complete value, just not an object */
                size_t a = 0, z = r->len;
                while (a < z && is_ws(r->data[a]))
                        a++;
                while (z > a && is_ws(r->data[z - 1]))
                        z--;
                if (scalar_ok(r->data + a, (int)(z - a))) {
                        cf_record_dead_letter(b, r, CF_E_NOT_OBJECT,
                                              "top-level JSON value is not an object");
                        return -1;
                }
                cf_record_dead_letter(b, r, CF_E_TRUNCATED, "JSON ends early at byte %zu",
                                      r->len);
                return -1;
        }
        if (nt == JSMN_ERROR_NOMEM) {
                cf_record_dead_letter(b, r, CF_E_TOO_MANY_TOKENS, "more than %d JSON values",
                                      (int)x->cfg.max_tokens);
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
        walk w = {.js = r->data, .t = x->toks, .ntok = nt, .saw_ws_ctrl = saw_ws_ctrl};
        int end = walk_value(&w, 0, NULL);
        if (end < 0) {
                walk_dead_letter(&w, b, r);
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

/* ---- event-time plausibility (one far-future line must not blind a partition) ---- */

/* The highest event time accepted in partition p (replay), growing the table. */
static int64_t *part_hi(decode_ctx *x, int32_t p)
{
        size_t i = p > 0 ? (size_t)p : 0;
        if (i >= x->n_hi) {
                size_t n = i + 16;
                int64_t *v = realloc(x->hi, n * sizeof(*v));
                if (!v) abort();
                for (size_t k = x->n_hi; k < n; k++)
                        v[k] = INT64_MIN;
                x->hi = v;
                x->n_hi = n;
        }
        return &x->hi[i];
}

/* "1d", "36h", "90m", "15s" or "250ms": the largest unit that divides ms. */
static void fmt_duration(char *o, size_t n, int64_t ms)
{
        static const struct {
                int64_t ms;
                const char *unit;
        } u[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
        for (size_t i = 0; i < 5; i++)
                if (ms % u[i].ms == 0) {
                        snprintf(o, n, "%lld%s", (long long)(ms / u[i].ms), u[i].unit);
                        return;
                }
}

/* Dead-letters r when its event time is before min_event_time or more than
 * max_future_skew ahead of the reference: the batch's wall clock (service),
 * or in replay the highest event time accepted so far in the partition when
 * that is later (so replaying old files gives the same result whenever it
 * runs, and future-dated test data moves the reference forward as it goes). */
static int check_event_time(decode_ctx *x, cf_batch *b, cf_record *r)
{
        int64_t t = r->decl.event_time_ms, ref = b->now_ms;
        char ts[48], rs[48], sk[32];
        ts[cf_fmt_time(ts, t, 0)] = '\0';
        if (t < x->min_event_ms) {
                rs[cf_fmt_time(rs, x->min_event_ms, 0)] = '\0';
                cf_record_dead_letter(b, r, CF_E_TIME_RANGE,
                                      "event_time: %s is before min_event_time %s", ts, rs);
                return -1;
        }
        if (!x->cfg.max_future_skew_ms) return 0;
        const char *what = "the wall clock";
        if (b->replay) {
                int64_t hi = *part_hi(x, r->src.partition);
                if (hi > ref) ref = hi, what = "the highest event time so far";
        }
        if (ref <= 0 || t - ref <= x->cfg.max_future_skew_ms) return 0; /* no clock: no bound */
        rs[cf_fmt_time(rs, ref, 0)] = '\0';
        fmt_duration(sk, sizeof(sk), x->cfg.max_future_skew_ms);
        cf_record_dead_letter(b, r, CF_E_TIME_RANGE,
                              "event_time: %s is more than %s ahead of %s (%s)", ts, sk, rs, what);
        return -1;
}

/* After the fields: event-time range, then the USD conversion. */
static int decode_finish(decode_ctx *x, cf_batch *b, cf_record *r)
{
        if (check_event_time(x, b, r)) return -1;
        return cf_fx_convert(x->fx, b, r);
}

/* Size and emptiness: the checks before any parsing; -1 if dead-lettered. */
static int precheck(decode_ctx *x, cf_batch *b, cf_record *r)
{
        if (r->dropped || r->len > (size_t)x->cfg.max_message_bytes) {
                cf_record_dead_letter(b, r, CF_E_OVERSIZE, "message is %llu bytes, limit %lld",
                                      (unsigned long long)(r->len + r->dropped),
                                      (long long)x->cfg.max_message_bytes);
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
                return rc ? -1 : decode_finish(x, b, r);
        }
        memset(&r->decl, 0, sizeof(r->decl));
#endif
        x->slow++;
        int nt = exact_tokens(x, b, r);
        if (nt < 0) return -1;
        if (cf_decode_fields(&x->fields, &lim, b, r, x->toks, nt)) return -1;
        return decode_finish(x, b, r);
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
                if (r->status != CF_REC_OK) continue;
                int rc = decode_one(x, b, r);
                decoded(x, r, rc, x->by_code);
                if (rc == 0 && b->replay) { /* the replay reference of event time */
                        int64_t *hi = part_hi(x, r->src.partition);
                        if (r->decl.event_time_ms > *hi) *hi = r->decl.event_time_ms;
                }
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

/* Settings that need more than the config map: the parser name, min_event_time. */
static int check_cfg(const decode_cfg *c, int64_t *min_ms, char *errstr, size_t errstr_size)
{
        if (strcmp(c->parser, "simdjson") && strcmp(c->parser, "jsmn")) {
                snprintf(errstr, errstr_size, "stages.decode.parser: '%s' is not simdjson or jsmn",
                         c->parser);
                return -1;
        }
        if (cf_parse_rfc3339(c->min_event_time, strlen(c->min_event_time), min_ms)) {
                snprintf(errstr, errstr_size,
                         "stages.decode.min_event_time: '%s' is not an RFC 3339 date-time",
                         c->min_event_time);
                return -1;
        }
        return 0;
}

#ifdef CF_HAVE_SIMDJSON
/* simdjson's nesting limit counts a scalar as one level below its container:
 * set to max_depth, whatever it accepts is within max_depth (raw_depth), and
 * what it refuses goes to the jsmn path, which makes the exact call. */
static cf_simd *simd_new(const decode_cfg *c)
{
        return cf_simd_new((size_t)c->max_message_bytes, (size_t)c->max_depth);
}
#endif

static int decode_init(cf_stage *st, const cf_stage_env *env, char *errstr, size_t errstr_size)
{
        decode_ctx *x = calloc(1, sizeof(*x));
        st->ctx = x;
        if (cf_config_map_apply(decode_map, "stages.decode", env->cfg, env->base_dir, &x->cfg,
                                errstr, errstr_size) ||
            check_cfg(&x->cfg, &x->min_event_ms, errstr, errstr_size))
                return -1;
        x->toks = malloc(sizeof(jsmntok_t) * (size_t)x->cfg.max_tokens);
        cf_field_index_init(&x->fields);
#ifdef CF_HAVE_SIMDJSON
        if (!strcmp(x->cfg.parser, "simdjson") && !(x->simd = simd_new(&x->cfg))) {
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
        int64_t min_ms;
        cf_fx_table *fx = NULL;
        if (cf_config_map_apply(decode_map, "stages.decode", env->cfg, env->base_dir, &nc, errstr,
                                errstr_size) ||
            check_cfg(&nc, &min_ms, errstr, errstr_size) ||
            !(fx = cf_fx_load(nc.fx_rates, errstr, errstr_size))) {
                cf_config_map_free(decode_map, &nc);
                return -1;
        }
#ifdef CF_HAVE_SIMDJSON
        /* the parser's limits follow the config (size, depth, which parser) */
        cf_simd *simd = strcmp(nc.parser, "simdjson") ? NULL : simd_new(&nc);
        if (!strcmp(nc.parser, "simdjson") && !simd) {
                snprintf(errstr, errstr_size, "stages.decode: cannot allocate the JSON parser");
                cf_fx_free(fx);
                cf_config_map_free(decode_map, &nc);
                return -1;
        }
        cf_simd_free(x->simd);
        x->simd = simd;
#endif
        /* Token limits need a new array; keep the old size if it did not change. */
        if (nc.max_tokens != x->cfg.max_tokens) {
                free(x->toks);
                x->toks = malloc(sizeof(jsmntok_t) * (size_t)nc.max_tokens);
        }
        cf_fx_free(x->fx);
        x->fx = fx;
        cf_config_map_free(decode_map, &x->cfg);
        x->cfg = nc;
        x->min_event_ms = min_ms;
        return 0;
}

size_t cf_decode_max_message_bytes(const cf_stage *st)
{
        const decode_ctx *x = st->ctx;
        return (size_t)x->cfg.max_message_bytes;
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
        free(x->hi);
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
