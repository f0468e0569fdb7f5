/*
 * evidence.c - what a rule that fires writes: its evidence object (the
 * numbers, JSON), its explanation (one sentence made from them, for people:
 * RULES.md defines it per rule) and the reason that carries both; and the
 * rule set detect publishes from its registry.
 *
 * Both texts are built in the stage's two reusable buffers and copied into
 * the batch arena: nothing is allocated per record, and only records that
 * fire pay for the sentence.
 *
 * @locality: worker thread (one chain per worker).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "stages/detect/detect_int.h"

/* ---- the registry's rule set ---- */

static int name_ok(const char *s)
{
        size_t n = strlen(s);
        if (!n || n > CF_RULE_NAME_MAX || s[0] < 'a' || s[0] > 'z') return 0;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
                        return 0;
        return 1;
}

int cf_rule_set_build(cf_rule_set *out, const cf_rule *const *rules, size_t n, char *errstr,
                      size_t errstr_size)
{
        memset(out, 0, sizeof(*out));
        if (n > CF_RULES_MAX) {
                snprintf(errstr, errstr_size,
                         "detect: %zu rules are registered (stages/detect/rules.def), at most "
                         "CF_RULES_MAX = %d: raise it in pipeline/core/rule_set.h",
                         n, CF_RULES_MAX);
                return -1;
        }
        for (size_t i = 0; i < n; i++) {
                const char *name = rules[i]->name;
                if (!name_ok(name)) {
                        snprintf(errstr, errstr_size,
                                 "detect: rule name '%s' must be [a-z][a-z0-9_]*, at most %d "
                                 "bytes (it is a JSON key and a metric label)",
                                 name, CF_RULE_NAME_MAX);
                        return -1;
                }
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(out->names[j], name)) {
                                snprintf(errstr, errstr_size,
                                         "detect: rule '%s' is registered twice", name);
                                return -1;
                        }
                out->names[i] = name;
                out->names_len += (uint32_t)strlen(name);
        }
        out->n = (uint16_t)n;
        return 0;
}

/* ---- evidence ---- */

cf_buf *cf_ev_begin(cf_detect *x)
{
        cf_buf_reset(&x->ex);
        cf_buf_reset(&x->ev);
        cf_buf_putc(&x->ev, '{');
        return &x->ev;
}

static void ev_key(cf_buf *o, const char *key)
{
        if (o->p[o->len - 1] != '{') cf_buf_putc(o, ',');
        cf_json_key(o, key);
}

void cf_ev_str(cf_buf *o, const char *key, const char *s, size_t n)
{
        ev_key(o, key);
        cf_json_str(o, s, n);
}

void cf_ev_cc(cf_buf *o, const char *key, uint16_t cc)
{
        ev_key(o, key);
        if (!cc) {
                cf_buf_puts(o, "null");
                return;
        }
        char s[3];
        cf_cc_str(cc, s);
        cf_json_str(o, s, 2);
}

void cf_ev_num(cf_buf *o, const char *key, double v)
{
        ev_key(o, key);
        cf_json_num(o, v);
}

void cf_ev_time(cf_buf *o, const char *key, int64_t ms)
{
        ev_key(o, key);
        cf_json_time(o, ms);
}

void cf_detect_fire(cf_detect *x, cf_batch *b, cf_record *r, const cf_rule *rule, const void *cfg)
{
        const cf_rule_common *c = cfg;
        cf_buf_putc(&x->ev, '}');
        cf_reason *re =
            cf_record_add_reason(b, r, x->cur, rule->name, c->weight, x->ev.p, x->ev.len);
        if (x->ex.len) cf_reason_explain(b, re, x->ex.p, x->ex.len);
        x->fired[x->cur]++;
}

/* ---- explanation ---- */

cf_buf *cf_ex_begin(cf_detect *x)
{
        cf_buf_reset(&x->ex);
        return &x->ex;
}

/* Digits of u with a comma every three, at dst; returns the length. */
static size_t grouped(char *dst, uint64_t u)
{
        char d[24];
        size_t n = cf_fmt_uint(d, u), o = 0;
        for (size_t i = 0; i < n; i++) {
                if (i && (n - i) % 3 == 0) dst[o++] = ',';
                dst[o++] = d[i];
        }
        return o;
}

const char *cf_ex_num(char *dst, double v)
{
        double a = fabs(v);
        if (!isfinite(v) || (a > 0 && a < 1e-9) || a >= 9e18) {
                snprintf(dst, CF_EX_NUM_MAX, "%.3g", v); /* beyond what people read in digits */
                return dst;
        }
        if (a >= 999.5) {
                size_t n = 0;
                if (v < 0) dst[n++] = '-';
                n += grouped(dst + n, (uint64_t)llround(a));
                dst[n] = '\0';
                return dst;
        }
        int dec = a > 0 ? 2 - (int)floor(log10(a)) : 0;
        snprintf(dst, CF_EX_NUM_MAX, "%.*f", dec < 0 ? 0 : dec, v);
        if (strchr(dst, '.')) { /* 1.50 -> 1.5, 100.0 -> 100 */
                size_t n = strlen(dst);
                while (dst[n - 1] == '0')
                        dst[--n] = '\0';
                if (dst[n - 1] == '.') dst[--n] = '\0';
        }
        if (!strcmp(dst, "-0")) strcpy(dst, "0");
        return dst;
}

const char *cf_ex_date(char *dst, int64_t ms)
{
        char t[48];
        size_t n = cf_fmt_time(t, ms, 0);
        const char *T = memchr(t, 'T', n);
        n = (size_t)(T - t); /* the date part; longer than 10 only for years beyond 9999 */
        memcpy(dst, t, n);
        dst[n] = '\0';
        return dst;
}

const char *cf_ex_cc(char *dst, uint16_t cc)
{
        if (!cc) {
                memcpy(dst, "??", 3);
                return dst;
        }
        cf_cc_str(cc, dst);
        return dst;
}
