/*
 * metrics_encode.c - registries merged and written as Prometheus text 0.0.4
 * (see metrics.h). Hand-written: the format is a few line rules and Debian has
 * no C library that writes it (cmetrics is not packaged).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "pipeline/core/metrics_int.h"

/* A number as Prometheus reads it: integers without a fraction, else the
 * shortest of %.15g..%.17g that reads back the same. */
static void put_num(cf_buf *b, double v)
{
        if (isnan(v)) {
                cf_buf_puts(b, "NaN");
                return;
        }
        if (isinf(v)) {
                cf_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
                return;
        }
        char s[40];
        if (v == floor(v) && fabs(v) < 9007199254740992.0) {
                snprintf(s, sizeof s, "%.0f", v);
        } else {
                for (int prec = 15; prec <= 17; prec++) {
                        snprintf(s, sizeof s, "%.*g", prec, v);
                        if (strtod(s, NULL) == v) break;
                }
        }
        cf_buf_puts(b, s);
}

/* Label values and help text: backslash, double quote (values only) and
 * newline are escaped, everything else (UTF-8 included) passes. */
static void put_escaped(cf_buf *b, const char *s, bool quote)
{
        for (; *s; s++) {
                if (*s == '\\')
                        cf_buf_puts(b, "\\\\");
                else if (*s == '\n')
                        cf_buf_puts(b, "\\n");
                else if (quote && *s == '"')
                        cf_buf_puts(b, "\\\"");
                else
                        cf_buf_putc(b, *s);
        }
}

/* name[suffix]{labels[,le="bound"]} */
static void put_name(cf_buf *b, const cf_series *s, const char *suffix, const char *le)
{
        const cf_metric *f = s->fam;
        cf_buf_puts(b, f->name);
        cf_buf_puts(b, suffix);
        if (!f->nl && !le) return;
        cf_buf_putc(b, '{');
        for (size_t i = 0; i < f->nl; i++) {
                cf_buf_printf(b, "%s%s=\"", i ? "," : "", f->labels[i]);
                put_escaped(b, s->values[i], true);
                cf_buf_putc(b, '"');
        }
        if (le) cf_buf_printf(b, "%sle=\"%s\"", f->nl ? "," : "", le);
        cf_buf_putc(b, '}');
}

static bool is_uint(const char *s)
{
        if (!*s) return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9') return false;
        return true;
}

/* Series order: by label values; numbers (partitions) first and by value
 * (shorter is smaller, then by digits), then other strings. */
static int cmp_values(const void *a, const void *b)
{
        const cf_series *x = *(const cf_series *const *)a, *y = *(const cf_series *const *)b;
        for (size_t i = 0; i < x->fam->nl; i++) {
                const char *p = x->values[i], *q = y->values[i];
                bool np = is_uint(p), nq = is_uint(q);
                if (np != nq) return np ? -1 : 1;
                if (np) {
                        size_t lp = strlen(p), lq = strlen(q);
                        if (lp != lq) return lp < lq ? -1 : 1;
                }
                int c = strcmp(p, q);
                if (c) return c;
        }
        return 0;
}

static double bits_double(uint64_t bits)
{
        double v;
        memcpy(&v, &bits, sizeof v);
        return v;
}

static uint64_t load(const _Atomic uint64_t *p)
{
        return atomic_load_explicit((_Atomic uint64_t *)p, memory_order_relaxed);
}

static void put_counter(cf_buf *b, cf_series *const *g, size_t n)
{
        bool max = g[0]->fam->merge == CF_MERGE_MAX; /* replicated state: one copy's count */
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) {
                uint64_t x = load(&g[i]->v);
                v = max ? (x > v ? x : v) : v + x;
        }
        put_name(b, g[0], "", NULL);
        cf_buf_printf(b, " %" PRIu64 "\n", v);
}

static void put_gauge(cf_buf *b, cf_series *const *g, size_t n)
{
        bool any = false;
        double v = 0;
        for (size_t i = 0; i < n; i++) {
                if (!atomic_load_explicit(&g[i]->set, memory_order_relaxed)) continue;
                double x = bits_double(load(&g[i]->v));
                switch (any ? g[0]->fam->merge : CF_MERGE_SUM) {
                case CF_MERGE_SUM:
                        v += x;
                        break;
                case CF_MERGE_MIN:
                        v = x < v ? x : v;
                        break;
                case CF_MERGE_MAX:
                        v = x > v ? x : v;
                        break;
                }
                any = true;
        }
        if (!any) return;
        put_name(b, g[0], "", NULL);
        cf_buf_putc(b, ' ');
        put_num(b, v);
        cf_buf_putc(b, '\n');
}

static void put_histogram(cf_buf *b, cf_series *const *g, size_t n)
{
        const cf_metric *f = g[0]->fam;
        uint64_t cum = 0;
        double sum = 0;
        for (size_t i = 0; i < n; i++)
                sum += bits_double(load(&g[i]->sum));
        for (size_t k = 0; k <= f->nb; k++) {
                for (size_t i = 0; i < n; i++)
                        cum += load(&g[i]->buckets[k]);
                cf_buf le = {0};
                if (k < f->nb)
                        put_num(&le, f->bounds[k]);
                else
                        cf_buf_puts(&le, "+Inf");
                cf_buf_putc(&le, '\0');
                put_name(b, g[0], "_bucket", le.p);
                cf_buf_free(&le);
                cf_buf_printf(b, " %" PRIu64 "\n", cum);
        }
        put_name(b, g[0], "_sum", NULL);
        cf_buf_putc(b, ' ');
        put_num(b, sum);
        cf_buf_putc(b, '\n');
        /* _count from the buckets read above: always equal to the +Inf bucket */
        put_name(b, g[0], "_count", NULL);
        cf_buf_printf(b, " %" PRIu64 "\n", cum);
}

static const char *type_name(cf_metric_type t)
{
        return t == CF_METRIC_COUNTER ? "counter" : t == CF_METRIC_GAUGE ? "gauge" : "histogram";
}

/* One family: the same-named families of every registry (fs[0..n)), merged. */
static void put_family(cf_buf *b, cf_metric *const *fs, size_t n)
{
        const cf_metric *f = fs[0];
        cf_buf_printf(b, "# HELP %s ", f->name);
        put_escaped(b, f->help, false);
        cf_buf_printf(b, "\n# TYPE %s %s\n", f->name, type_name(f->type));
        size_t total = 0;
        for (size_t i = 0; i < n; i++)
                total += fs[i]->ns;
        if (!total) return;
        cf_series **all = malloc(total * sizeof(*all));
        if (!all) abort();
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < fs[i]->ns; j++)
                        all[k++] = fs[i]->series[j];
        qsort(all, total, sizeof(*all), cmp_values);
        for (size_t i = 0; i < total;) {
                size_t j = i + 1;
                while (j < total && !cmp_values(&all[i], &all[j]))
                        j++;
                if (f->type == CF_METRIC_COUNTER)
                        put_counter(b, all + i, j - i);
                else if (f->type == CF_METRIC_GAUGE)
                        put_gauge(b, all + i, j - i);
                else
                        put_histogram(b, all + i, j - i);
                i = j;
        }
        free(all);
}

/* Was a family of this name already written (from an earlier registry)? */
static bool written(cf_metrics *const *regs, size_t upto, const char *name)
{
        for (size_t r = 0; r < upto; r++)
                for (size_t i = 0; i < regs[r]->nf; i++)
                        if (!strcmp(regs[r]->fams[i]->name, name)) return true;
        return false;
}

void cf_metrics_encode(cf_buf *out, cf_metrics *const *regs, size_t n)
{
        for (size_t r = 0; r < n; r++)
                pthread_mutex_lock(&regs[r]->mtx);
        cf_metric **same = malloc((n ? n : 1) * sizeof(*same));
        if (!same) abort();
        for (size_t r = 0; r < n; r++) {
                for (size_t i = 0; i < regs[r]->nf; i++) {
                        cf_metric *f = regs[r]->fams[i];
                        if (written(regs, r, f->name)) continue;
                        size_t k = 0;
                        same[k++] = f;
                        for (size_t q = r + 1; q < n; q++)
                                for (size_t j = 0; j < regs[q]->nf; j++) {
                                        cf_metric *g = regs[q]->fams[j];
                                        if (strcmp(g->name, f->name)) continue;
                                        /* one code declares every registry's families: a
                                         * mismatch is a bug, and its series are left out
                                         * rather than written under the wrong type */
                                        if (cf_metric_same_shape(f, g)) same[k++] = g;
                                        break;
                                }
                        put_family(out, same, k);
                }
        }
        free(same);
        for (size_t r = n; r-- > 0;)
                pthread_mutex_unlock(&regs[r]->mtx);
}
