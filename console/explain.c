/*
 * explain.c - a reason's evidence in words. The detect stage's `explanation`
 * sentence (stages/detect/RULES.md) is shown when the flag carries one; else
 * a sentence is built from the evidence object's keys and values, e.g.
 * "Unit value outlier: unit value usd 3,651.02, baseline median usd 176.8,
 * z 8.17, samples 307." The evidence is parsed with jsmn (no escapes matter:
 * keys and values are only copied, HTML-escaped).
 */
#define JSMN_STATIC
#include <jsmn.h>

#include <stdlib.h>
#include <string.h>

#include "console/http_int.h"

/* "unit_value_usd" -> "unit value usd" */
static void words(cf_buf *b, const char *s, size_t n, bool capital)
{
        cf_buf w = {0};
        for (size_t i = 0; i < n; i++) {
                char ch = s[i] == '_' ? ' ' : s[i];
                if (capital && i == 0 && ch >= 'a' && ch <= 'z') ch = (char)(ch - 32);
                cf_buf_putc(&w, ch);
        }
        cf_htmln(b, w.p ? w.p : "", w.len);
        cf_buf_free(&w);
}

static void value(cf_buf *b, const char *js, const jsmntok_t *t)
{
        const char *s = js + t->start;
        size_t n = (size_t)(t->end - t->start);
        if (t->type == JSMN_PRIMITIVE && ((s[0] >= '0' && s[0] <= '9') || s[0] == '-')) {
                char tmp[64];
                snprintf(tmp, sizeof tmp, "%.*s", (int)(n < 63 ? n : 63), s);
                double v = strtod(tmp, NULL);
                return cf_html_num(b, v, v == (double)(long long)v ? 0 : 2);
        }
        if (t->type == JSMN_ARRAY || t->type == JSMN_OBJECT) {
                /* ["A","B"] -> A, B */
                cf_buf flat = {0};
                for (size_t i = 0; i < n; i++)
                        if (!strchr("[]{}\"", s[i])) cf_buf_putc(&flat, s[i] == ',' ? ';' : s[i]);
                cf_htmln(b, flat.p ? flat.p : "", flat.len);
                return cf_buf_free(&flat);
        }
        cf_htmln(b, s, n);
}

void cf_explain(cf_buf *b, const char *rule, const char *evidence, const char *explanation)
{
        if (explanation && *explanation) return cf_html(b, explanation);
        words(b, rule, strlen(rule), true);
        jsmntok_t t[128];
        jsmn_parser p;
        jsmn_init(&p);
        int n = jsmn_parse(&p, evidence, strlen(evidence), t, 128);
        if (n < 1 || t[0].type != JSMN_OBJECT || t[0].size == 0) {
                cf_buf_puts(b, " fired.");
                return;
        }
        cf_buf_puts(b, ": ");
        /* top-level pairs only: key i, value i + 1, nested values skipped */
        int i = 1, pairs = 0;
        while (i + 1 < n && pairs < t[0].size) {
                if (pairs++) cf_buf_puts(b, ", ");
                words(b, evidence + t[i].start, (size_t)(t[i].end - t[i].start), false);
                cf_buf_putc(b, ' ');
                value(b, evidence, &t[i + 1]);
                int end = t[i + 1].end;
                i += 2;
                while (i < n && t[i].start < end)
                        i++;
        }
        cf_buf_putc(b, '.');
}
