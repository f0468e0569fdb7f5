/*
 * decode_syntax.c - the exact path of the decode stage: bytes and JSON syntax.
 *
 * Tokenizing is jsmn's (Debian libjsmn-dev, strict mode). jsmn does not check
 * separators, number grammar, escapes or UTF-8, so this file completes the
 * validation over jsmn's tokens: one pass over the bytes (NUL, UTF-8, control
 * characters), one linear pass for the nesting depth, then one walk over the
 * tokens (structure, separators, \\u escapes, number grammar). Every input
 * simdjson refuses comes here, so the stable code of any bad message is
 * decided here, whichever parser is configured.
 */
/* Parent links make jsmn's ',' and '}' handling O(1) instead of a backward scan
 * over every token (measured 2x on 30-field records). Must match decode_fields.h. */
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#define JSMN_STATIC
#include <jsmn.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/core/utf8.h"
#include "stages/decode/decode.h"
#include "stages/decode/decode_fields.h"
#include "stages/decode/decode_syntax.h"

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

/* The bytes in [from, to) are whitespace around exactly one sep (0: none). */
static int gap_ok(const char *js, int from, int to, char sep)
{
        int seen = 0;
        for (int i = from; i < to; i++) {
                if (cf_json_ws(js[i])) continue;
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
static int tokenize(cf_batch *b, cf_record *r, jsmntok_t *toks, int max_tokens, int max_depth,
                    int saw_ws_ctrl)
{
        if (raw_depth(r->data, r->len) > max_depth) {
                cf_record_dead_letter(b, r, CF_E_TOO_DEEP, "nesting deeper than %d",
                                      max_depth);
                return -1;
        }
        jsmn_parser p;
        jsmn_init(&p);
        int nt = jsmn_parse(&p, r->data, r->len, toks, (unsigned)max_tokens);
        if (nt == JSMN_ERROR_PART) {
                /* strict jsmn cannot end a top-level number or literal at the end of
                 * the input: a bare `1` is a complete value, just not an object */
                size_t a = 0, z = r->len;
                while (a < z && cf_json_ws(r->data[a]))
                        a++;
                while (z > a && cf_json_ws(r->data[z - 1]))
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
                                      max_tokens);
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
        if (toks[0].type != JSMN_OBJECT) {
                cf_record_dead_letter(b, r, CF_E_NOT_OBJECT,
                                      "top-level JSON value is not an object");
                return -1;
        }
        walk w = {.js = r->data, .t = toks, .ntok = nt, .saw_ws_ctrl = saw_ws_ctrl};
        int end = walk_value(&w, 0, NULL);
        if (end < 0) {
                walk_dead_letter(&w, b, r);
                return -1;
        }
        if (end != nt || !gap_ok(r->data, toks[0].end, (int)r->len, 0)) {
                cf_record_dead_letter(b, r, CF_E_MALFORMED, "trailing data after the object at "
                                                            "byte %d",
                                      toks[0].end);
                return -1;
        }
        return nt;
}

int cf_decode_syntax(cf_batch *b, cf_record *r, jsmntok_t *toks, int max_tokens, int max_depth)
{
        int saw_ws_ctrl = 0;
        if (check_bytes(b, r, &saw_ws_ctrl)) return -1;
        return tokenize(b, r, toks, max_tokens, max_depth, saw_ws_ctrl);
}
