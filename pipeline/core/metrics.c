/*
 * metrics.c - the registry: families, series and their lookup (see metrics.h).
 * The Prometheus text encoder is metrics_encode.c.
 */
#include "pipeline/core/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <xxhash.h>

#include "pipeline/core/metrics_int.h"

#define MAX_LABELS 8

static void die(const char *what, const char *name)
{
        /* families are declared in code: a bad one is a bug, found by the first test run */
        fprintf(stderr, "metrics: %s: '%s'\n", what, name ? name : "(null)");
        abort();
}

static void *xcalloc(size_t n, size_t size)
{
        void *p = calloc(n ? n : 1, size);
        if (!p) abort();
        return p;
}

/* The series of a family built without a registry: updates land here and are never read.
 * Several threads may write it; its fields are atomics, so that is no data race. */
static _Atomic uint64_t sink_bucket[1];
static cf_series sink = {.buckets = sink_bucket};

cf_metrics *cf_metrics_new(void)
{
        cf_metrics *m = xcalloc(1, sizeof *m);
        pthread_mutex_init(&m->mtx, NULL);
        return m;
}

static void series_free(cf_series *s)
{
        free((void *)s->buckets);
        free(s->values);
        free(s);
}

static void family_free(cf_metric *f)
{
        for (size_t i = 0; i < f->ns; i++)
                series_free(f->series[i]);
        free(f->series);
        free(f->index);
        free(f->labels);
        free(f->bounds);
        free(f->name);
        free(f->help);
        free(f);
}

void cf_metrics_free(cf_metrics *m)
{
        if (!m) return;
        for (size_t i = 0; i < m->nf; i++)
                family_free(m->fams[i]);
        free(m->fams);
        pthread_mutex_destroy(&m->mtx);
        free(m);
}

static bool name_ok(const char *s, bool colon)
{
        if (!s || !*s || (*s >= '0' && *s <= '9')) return false;
        for (; *s; s++) {
                char c = *s;
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || (colon && c == ':')))
                        return false;
        }
        return true;
}

/* Split "a,b" into f->labels (one block: pointers, then the text). */
static void parse_labels(cf_metric *f, const char *labels)
{
        size_t len = labels ? strlen(labels) : 0;
        size_t n = len ? 1 : 0;
        for (size_t i = 0; i < len; i++)
                n += labels[i] == ',';
        if (n > MAX_LABELS) die("too many labels", f->name);
        char **v = xcalloc(1, (n + 1) * sizeof(char *) + len + 1);
        char *text = (char *)(v + n + 1);
        if (len) memcpy(text, labels, len);
        for (size_t i = 0; i < n; i++) {
                v[i] = text;
                char *c = strchr(text, ',');
                if (c) *c = '\0';
                if (!name_ok(v[i], false) || !strncmp(v[i], "__", 2))
                        die("invalid label name", v[i]);
                if (f->type == CF_METRIC_HISTOGRAM && !strcmp(v[i], "le"))
                        die("'le' is reserved in a histogram", f->name);
                text = c ? c + 1 : text + strlen(text);
        }
        f->labels = (const char **)v;
        f->nl = n;
}

bool cf_metric_same_shape(const cf_metric *f, const cf_metric *g)
{
        if (f->type != g->type || f->merge != g->merge || f->nl != g->nl || f->nb != g->nb)
                return false;
        for (size_t i = 0; i < f->nl; i++)
                if (strcmp(f->labels[i], g->labels[i])) return false;
        for (size_t i = 0; i < f->nb; i++)
                if (f->bounds[i] != g->bounds[i]) return false;
        return true;
}

static cf_metric *declare(cf_metrics *m, cf_metric_type type, const char *name, const char *help,
                          const char *labels, cf_metric_merge merge, const double *bounds,
                          size_t nb)
{
        if (!m) return NULL;
        if (!name_ok(name, true)) die("invalid metric name", name);
        cf_metric *f = xcalloc(1, sizeof *f);
        f->reg = m;
        f->type = type;
        f->merge = merge;
        f->name = strdup(name);
        f->help = strdup(help ? help : "");
        if (!f->name || !f->help) abort();
        parse_labels(f, labels);
        f->nb = nb;
        f->bounds = xcalloc(nb, sizeof(double));
        for (size_t i = 0; i < nb; i++) {
                if (i && !(bounds[i] > bounds[i - 1])) die("bounds not ascending", name);
                f->bounds[i] = bounds[i];
        }
        pthread_mutex_lock(&m->mtx);
        for (size_t i = 0; i < m->nf; i++) {
                if (strcmp(m->fams[i]->name, name)) continue;
                cf_metric *old = m->fams[i];
                pthread_mutex_unlock(&m->mtx);
                if (!cf_metric_same_shape(old, f))
                        die("declared twice with different types or labels", name);
                family_free(f);
                return old;
        }
        if (m->nf == m->cf) {
                m->cf = m->cf ? 2 * m->cf : 32;
                m->fams = realloc(m->fams, m->cf * sizeof(*m->fams));
                if (!m->fams) abort();
        }
        m->fams[m->nf++] = f;
        pthread_mutex_unlock(&m->mtx);
        return f;
}

cf_metric *cf_metrics_counter(cf_metrics *m, const char *name, const char *help, const char *labels)
{
        return declare(m, CF_METRIC_COUNTER, name, help, labels, CF_MERGE_SUM, NULL, 0);
}

cf_metric *cf_metrics_counter_replicated(cf_metrics *m, const char *name, const char *help,
                                         const char *labels)
{
        return declare(m, CF_METRIC_COUNTER, name, help, labels, CF_MERGE_MAX, NULL, 0);
}

cf_metric *cf_metrics_gauge(cf_metrics *m, const char *name, const char *help, const char *labels,
                            cf_metric_merge merge)
{
        return declare(m, CF_METRIC_GAUGE, name, help, labels, merge, NULL, 0);
}

cf_metric *cf_metrics_histogram(cf_metrics *m, const char *name, const char *help,
                                const char *labels, const double *bounds, size_t nb)
{
        return declare(m, CF_METRIC_HISTOGRAM, name, help, labels, CF_MERGE_SUM, bounds, nb);
}

static uint64_t values_hash(const char *const *values, size_t n)
{
        uint64_t h = 0;
        for (size_t i = 0; i < n; i++)
                h = XXH3_64bits_withSeed(values[i], strlen(values[i]) + 1, h);
        return h;
}

static bool values_eq(const cf_series *s, const char *const *values, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(s->values[i], values[i])) return false;
        return true;
}

/* Open addressing over series indices + 1 (0 = empty); capacity a power of two. */
static void index_put(cf_metric *f, size_t at)
{
        size_t mask = f->cap - 1;
        for (size_t i = f->series[at]->hash & mask;; i = (i + 1) & mask)
                if (!f->index[i]) {
                        f->index[i] = (uint32_t)at + 1;
                        return;
                }
}

static void index_grow(cf_metric *f)
{
        free(f->index);
        f->cap = f->cap ? 2 * f->cap : 16;
        f->index = xcalloc(f->cap, sizeof(*f->index));
        for (size_t i = 0; i < f->ns; i++)
                index_put(f, i);
}

static cf_series *series_new(cf_metric *f, const char *const *values, uint64_t h)
{
        cf_series *s = xcalloc(1, sizeof *s);
        size_t len = 0;
        for (size_t i = 0; i < f->nl; i++)
                len += strlen(values[i]) + 1;
        char **v = xcalloc(1, (f->nl + 1) * sizeof(char *) + len);
        char *text = (char *)(v + f->nl + 1);
        for (size_t i = 0; i < f->nl; i++) {
                size_t l = strlen(values[i]) + 1;
                memcpy(text, values[i], l);
                v[i] = text;
                text += l;
        }
        s->values = (const char **)v;
        s->hash = h;
        s->fam = f;
        s->nb = (uint32_t)f->nb;
        s->bounds = f->bounds;
        if (f->type == CF_METRIC_HISTOGRAM) s->buckets = xcalloc(f->nb + 1, sizeof(*s->buckets));
        return s;
}

cf_series *cf_metric_series_v(cf_metric *f, const char *const *values)
{
        if (!f) return &sink;
        uint64_t h = values_hash(values, f->nl);
        cf_metrics *m = f->reg;
        pthread_mutex_lock(&m->mtx);
        size_t mask = f->cap - 1;
        for (size_t i = f->cap ? h & mask : 0; f->cap && f->index[i]; i = (i + 1) & mask) {
                cf_series *s = f->series[f->index[i] - 1];
                if (s->hash == h && values_eq(s, values, f->nl)) {
                        pthread_mutex_unlock(&m->mtx);
                        return s;
                }
        }
        if (f->ns == f->cs) {
                f->cs = f->cs ? 2 * f->cs : 8;
                f->series = realloc(f->series, f->cs * sizeof(*f->series));
                if (!f->series) abort();
        }
        cf_series *s = series_new(f, values, h);
        f->series[f->ns++] = s;
        if (2 * f->ns > f->cap)
                index_grow(f);
        else
                index_put(f, f->ns - 1);
        pthread_mutex_unlock(&m->mtx);
        return s;
}

void cf_metric_series_remove(cf_series *s)
{
        if (s == &sink) return;
        cf_metric *f = (cf_metric *)s->fam;
        pthread_mutex_lock(&f->reg->mtx);
        size_t i = 0;
        while (i < f->ns && f->series[i] != s)
                i++;
        if (i < f->ns) {
                memmove(&f->series[i], &f->series[i + 1], (f->ns - i - 1) * sizeof(*f->series));
                f->ns--;
                /* rare (an info metric's labels changed): rebuild the index */
                memset(f->index, 0, f->cap * sizeof(*f->index));
                for (size_t k = 0; k < f->ns; k++)
                        index_put(f, k);
                series_free(s);
        }
        pthread_mutex_unlock(&f->reg->mtx);
}

cf_series *cf_metric_series(cf_metric *f, ...)
{
        if (!f) return &sink;
        const char *v[MAX_LABELS];
        va_list ap;
        va_start(ap, f);
        for (size_t i = 0; i < f->nl; i++)
                v[i] = va_arg(ap, const char *);
        va_end(ap);
        return cf_metric_series_v(f, v);
}

void *cf_metrics_part(void ***v, size_t *n, size_t i, size_t size, char label[16], bool *created)
{
        void **slot = cf_ptrs_slot(v, n, i);
        *created = !*slot;
        if (*slot) return *slot;
        *slot = xcalloc(1, size);
        snprintf(label, 16, "%zu", i);
        return *slot;
}

cf_series *cf_metrics_counter_series(cf_metrics *m, const char *name, const char *help)
{
        return cf_metric_series(cf_metrics_counter(m, name, help, NULL));
}

cf_series *cf_metrics_gauge_series(cf_metrics *m, const char *name, const char *help,
                                   cf_metric_merge merge)
{
        return cf_metric_series(cf_metrics_gauge(m, name, help, NULL, merge));
}

/* The index of label name in f, -1 when f has none of that name. */
static int label_index(const cf_metric *f, const char *name)
{
        for (size_t i = 0; i < f->nl; i++)
                if (!strcmp(f->labels[i], name)) return (int)i;
        return -1;
}

double cf_metrics_sum(cf_metrics *m, const char *name, const char *label, const char *value)
{
        double sum = 0;
        pthread_mutex_lock(&m->mtx);
        for (size_t i = 0; i < m->nf; i++) {
                const cf_metric *f = m->fams[i];
                if (strcmp(f->name, name) || f->type == CF_METRIC_HISTOGRAM) continue;
                int li = label ? label_index(f, label) : -1;
                if (label && li < 0) break;
                for (size_t k = 0; k < f->ns; k++) {
                        const cf_series *s = f->series[k];
                        if (label && strcmp(s->values[li], value)) continue;
                        if (f->type == CF_METRIC_COUNTER)
                                sum += (double)cf_counter_get(s);
                        else if (atomic_load_explicit(&((cf_series *)s)->set, memory_order_relaxed))
                                sum += cf_gauge_get(s);
                }
                break;
        }
        pthread_mutex_unlock(&m->mtx);
        return sum;
}
