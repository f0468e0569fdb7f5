/*
 * opts.c - table-driven command-line options (opts.h).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/config_map.h"
#include "pipeline/core/opts.h"

#define MAX_OPTS  64
#define HELP_VAL  1   /* getopt's value for --help (short options are printable) */
#define LONG_BASE 256 /* getopt's value for row i without a short name: LONG_BASE + i */
#define WIDTH     79  /* the help's right margin */
#define MAX_COL   22  /* an entry wider than this starts its help on the next line */

static const char *prog_of(const cf_opts_spec *s)
{
        return s->prog ? s->prog : "customsflow";
}

static int bad_value(const cf_opts_spec *s, const cf_opt *o, const char *v, const char *what,
                     char *errstr, size_t errstr_size)
{
        snprintf(errstr, errstr_size, "%s: --%s: '%s' is not %s", prog_of(s), o->name, v, what);
        return -1;
}

/* Parse v into o's destination: the whole value must parse and lie in o's range. */
static int set_value(const cf_opts_spec *s, const cf_opt *o, const char *v, void *base,
                     char *errstr, size_t errstr_size)
{
        char *dst = (char *)base + o->off, *end, what[96];
        errno = 0;
        switch (o->kind) {
        case CF_OPT_STR:
                *(const char **)dst = v;
                return 0;
        case CF_OPT_ON:
        case CF_OPT_OFF:
                *(int *)dst = o->kind == CF_OPT_ON;
                return 0;
        case CF_OPT_INT:
        case CF_OPT_LL: {
                long long x = strtoll(v, &end, 10);
                snprintf(what, sizeof what, "an integer in [%lld, %lld]", o->lo, o->hi);
                if (errno || end == v || *end || x < o->lo || x > o->hi)
                        return bad_value(s, o, v, what, errstr, errstr_size);
                if (o->kind == CF_OPT_INT)
                        *(int *)dst = (int)x;
                else
                        *(long long *)dst = x;
                return 0;
        }
        case CF_OPT_U64: {
                unsigned long long x = strtoull(v, &end, 10);
                unsigned long long lo = (unsigned long long)o->lo;
                unsigned long long hi = o->hi ? (unsigned long long)o->hi : UINT64_MAX;
                snprintf(what, sizeof what, "an integer in [%llu, %llu]", lo, hi);
                /* strtoull accepts "-1" (as 2^64-1) and leading spaces: refuse both */
                if (errno || end == v || *end || *v < '0' || *v > '9' || x < lo || x > hi)
                        return bad_value(s, o, v, what, errstr, errstr_size);
                *(uint64_t *)dst = x;
                return 0;
        }
        case CF_OPT_DOUBLE: {
                double x = strtod(v, &end);
                snprintf(what, sizeof what, "a number in [%g, %g]", o->dlo, o->dhi);
                if (errno || end == v || *end || !isfinite(x) || x < o->dlo || x > o->dhi)
                        return bad_value(s, o, v, what, errstr, errstr_size);
                *(double *)dst = x;
                return 0;
        }
        case CF_OPT_SIZE: {
                int64_t x = cf_parse_size(v);
                if (x < 1 || x < o->lo)
                        return bad_value(s, o, v, "a size like 512MiB or 4GiB", errstr,
                                         errstr_size);
                *(int64_t *)dst = x;
                return 0;
        }
        case CF_OPT_FN:
                if (o->parse(v, dst))
                        return bad_value(s, o, v, o->what ? o->what : "valid", errstr, errstr_size);
                return 0;
        }
        return -1;
}

/* getopt's '?' (unknown option, or a value given to a flag) or ':' (missing value). */
static void bad_usage(const cf_opts_spec *s, int ch, const struct option *lo, size_t n,
                      const char *word, char *errstr, size_t errstr_size)
{
        const char *known = NULL;
        for (size_t i = 0; optopt > 0 && i < n; i++)
                if (lo[i].val == optopt) known = lo[i].name;
        if (ch == ':' && known)
                snprintf(errstr, errstr_size, "%s: --%s needs a value", prog_of(s), known);
        else if (known)
                snprintf(errstr, errstr_size, "%s: --%s takes no value", prog_of(s), known);
        else if (optopt > 0 && optopt < 128)
                snprintf(errstr, errstr_size, "%s: -%c is not an option", prog_of(s), optopt);
        else
                snprintf(errstr, errstr_size, "%s: '%s' is not an option", prog_of(s), word);
}

static int has_value(const cf_opt *o)
{
        return o->kind != CF_OPT_ON && o->kind != CF_OPT_OFF;
}

int cf_opts_parse(const cf_opts_spec *s, int argc, char **argv, void *base, int *argi, char *errstr,
                  size_t errstr_size)
{
        struct option lo[MAX_OPTS + 2];
        char shorts[2 * MAX_OPTS + 8] = ":h";
        size_t n = 0, ns = 2;
        bool seen[MAX_OPTS] = {false};
        for (const cf_opt *o = s->opts; o && o->name; o++, n++) {
                if (n == MAX_OPTS) {
                        snprintf(errstr, errstr_size, "%s: more than %d options", prog_of(s),
                                 MAX_OPTS);
                        return -2;
                }
                lo[n] = (struct option){o->name, has_value(o) ? required_argument : no_argument,
                                        NULL, o->short_name ? o->short_name : LONG_BASE + (int)n};
                if (o->short_name) {
                        shorts[ns++] = o->short_name;
                        if (has_value(o)) shorts[ns++] = ':';
                }
        }
        shorts[ns] = '\0';
        lo[n] = (struct option){"help", no_argument, NULL, HELP_VAL};
        lo[n + 1] = (struct option){0, 0, 0, 0};
        opterr = 0; /* messages are ours, in errstr */
#ifdef __GLIBC__
        optind = 0; /* a full reset: a previous parse may have stopped inside "-ab" */
#else
        optind = 1;
#endif
        int ch;
        while ((ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
                if (ch == 'h' || ch == HELP_VAL) return 1;
                if (ch == '?' || ch == ':') {
                        bad_usage(s, ch, lo, n, argv[optind - 1], errstr, errstr_size);
                        return -2;
                }
                size_t i = 0;
                while (i < n && lo[i].val != ch)
                        i++;
                if (i == n) {
                        snprintf(errstr, errstr_size, "%s: unexpected option", prog_of(s));
                        return -2;
                }
                seen[i] = true;
                if (set_value(s, &s->opts[i], optarg, base, errstr, errstr_size)) return -1;
        }
        if (argi) *argi = optind;
        if (!s->args && optind < argc) {
                snprintf(errstr, errstr_size, "%s: unexpected argument '%s'", prog_of(s),
                         argv[optind]);
                return -2;
        }
        for (size_t i = 0; i < n; i++)
                if (s->opts[i].required && !seen[i]) {
                        snprintf(errstr, errstr_size, "%s: --%s %s is required", prog_of(s),
                                 s->opts[i].name, s->opts[i].arg ? s->opts[i].arg : "");
                        return -2;
                }
        return 0;
}

/* "-c, --config FILE" or "--count N": an entry's left column. */
static int entry(const cf_opt *o, char *out, size_t n)
{
        char sh[8] = "";
        if (o->short_name) snprintf(sh, sizeof sh, "-%c, ", o->short_name);
        return snprintf(out, n, "%s--%s%s%s", sh, o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

/* Write text from column col (the cursor is there), wrapped at WIDTH; continuation lines
 * start at column indent; '\n' in text starts a new line too. */
static void wrap(FILE *f, const char *text, int col, int indent)
{
        const char *p = text;
        while (*p) {
                if (*p == '\n') {
                        fprintf(f, "\n%*s", indent, "");
                        col = indent;
                        p++;
                        continue;
                }
                size_t w = strcspn(p, " \n");
                if (col > indent && col + 1 + (int)w > WIDTH) {
                        fprintf(f, "\n%*s", indent, "");
                        col = indent;
                } else if (col > indent) {
                        fputc(' ', f);
                        col++;
                }
                fwrite(p, 1, w, f);
                col += (int)w;
                p += w;
                while (*p == ' ')
                        p++;
        }
        fputc('\n', f);
}

void cf_opts_synopsis(const cf_opts_spec *s, FILE *f)
{
        int indent = (int)strlen("usage: ") + (int)strlen(prog_of(s)) + 1;
        int col = fprintf(f, "usage: %s", prog_of(s));
        /* required options first, without brackets, as a reader types them */
        for (int pass = 0; pass < 2; pass++)
                for (const cf_opt *o = s->opts; o && o->name; o++) {
                        if (o->required != (pass == 0)) continue;
                        char e[96], word[104];
                        /* the short name where there is one, as a reader types it */
                        if (o->short_name)
                                snprintf(e, sizeof e, "-%c%s%s", o->short_name, o->arg ? " " : "",
                                         o->arg ? o->arg : "");
                        else
                                entry(o, e, sizeof e);
                        int w = snprintf(word, sizeof word, o->required ? "%s" : "[%s]", e);
                        if (col + 1 + w > WIDTH) {
                                fprintf(f, "\n%*s", indent - 1, "");
                                col = indent - 1;
                        }
                        col += fprintf(f, " %s", word);
                }
        fputc('\n', f);
}

void cf_opts_usage(const cf_opts_spec *s, FILE *f)
{
        cf_opts_synopsis(s, f);
        if (s->about) fprintf(f, "\n%s", s->about);
        fputc('\n', f);
        static const cf_opt help = {.name = "help", .short_name = 'h', .help = "this help"};
        int width = 0;
        char e[96];
        for (const cf_opt *o = s->opts; o && o->name; o++) {
                int w = entry(o, e, sizeof e);
                if (w <= MAX_COL && w > width) width = w;
        }
        int indent = 2 + width + 2;
        for (const cf_opt *o = s->opts;; o++) {
                if (!o->name) o = &help;
                int w = entry(o, e, sizeof e);
                fprintf(f, "  %s", e);
                if (w > width)
                        fprintf(f, "\n%*s", indent, "");
                else
                        fprintf(f, "%*s", indent - 2 - w, "");
                wrap(f, o->help ? o->help : "", indent, indent);
                if (o == &help) break;
        }
        if (s->epilog) fprintf(f, "\n%s", s->epilog);
}

int cf_opts_main(const cf_opts_spec *s, int argc, char **argv, void *base, int *argi)
{
        char err[512];
        int rc = cf_opts_parse(s, argc, argv, base, argi, err, sizeof err);
        if (rc == 1) {
                cf_opts_usage(s, stdout);
                return 1;
        }
        if (rc == 0) return 0;
        fprintf(stderr, "%s\n", err);
        if (rc == -2) {
                cf_opts_synopsis(s, stderr);
                fprintf(stderr, "(%s --help: every option)\n", prog_of(s));
        }
        return -1;
}
