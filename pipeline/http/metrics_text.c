/*
 * metrics_text.c - see metrics_text.h.
 *
 * Why: each worker's chain writes its stage metrics on its own (one
 * "customsflow_dedup_decisions_total{decision=...}" per worker); pasted one
 * after the other they repeat series and split families, which Prometheus
 * refuses. Hand-written: the text format is line-based and there is no
 * Debian C library for writing it.
 */
#include "pipeline/http/metrics_text.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct line {
        const char *p;
        size_t n;   /* without the newline */
        size_t fam; /* family index */
        int worker;
        bool comment;
} line;

typedef struct fam {
        const char *name;
        size_t n;
} fam;

/* The metric name a line is about: a sample's name, or the third token of
 * "# HELP name …" / "# TYPE name …"; histogram/summary suffixes fold into
 * their family. */
static void line_name(const char *p, size_t n, const char **name, size_t *len, bool *comment)
{
        *comment = n && p[0] == '#';
        size_t i = 0;
        if (*comment) {
                int sp = 0;
                while (i < n && sp < 2)
                        sp += p[i++] == ' ';
        }
        size_t s = i;
        while (i < n && p[i] != '{' && p[i] != ' ')
                i++;
        *name = p + s;
        *len = i - s;
}

static size_t fam_of(fam **fs, size_t *nf, size_t *cap, const char *name, size_t len)
{
        for (size_t i = 0; i < *nf; i++)
                if ((*fs)[i].n == len && !memcmp((*fs)[i].name, name, len)) return i;
        static const char *const sfx[] = {"_bucket", "_sum", "_count"};
        for (size_t k = 0; k < 3; k++) {
                size_t sl = strlen(sfx[k]);
                if (len > sl && !memcmp(name + len - sl, sfx[k], sl))
                        for (size_t i = 0; i < *nf; i++)
                                if ((*fs)[i].n == len - sl &&
                                    !memcmp((*fs)[i].name, name, len - sl))
                                        return i;
        }
        if (*nf == *cap) {
                *cap = *cap ? 2 * *cap : 32;
                *fs = realloc(*fs, *cap * sizeof(**fs));
                if (!*fs) abort();
        }
        (*fs)[*nf] = (fam){name, len};
        return (*nf)++;
}

/* The sample line with worker="w" as its first label. */
static void put_labeled(cf_buf *out, const line *l)
{
        const char *name;
        size_t len;
        bool comment;
        line_name(l->p, l->n, &name, &len, &comment);
        cf_buf_put(out, l->p, len);
        cf_buf_puts(out, "{worker=\"");
        cf_json_int(out, l->worker);
        cf_buf_putc(out, '"');
        const char *rest = l->p + len;
        size_t left = l->n - len;
        if (left && *rest == '{') {
                rest++;
                left--;
                if (left && *rest != '}') cf_buf_putc(out, ',');
        } else {
                cf_buf_putc(out, '}');
        }
        cf_buf_put(out, rest, left);
        cf_buf_putc(out, '\n');
}

void cf_metrics_merge_workers(cf_buf *out, const cf_buf *per_worker, int n)
{
        line *ls = NULL;
        fam *fs = NULL;
        size_t nl = 0, lcap = 0, nf = 0, fcap = 0;
        for (int w = 0; w < n; w++) {
                const char *p = per_worker[w].p, *end = p + per_worker[w].len;
                while (p < end) {
                        const char *nlp = memchr(p, '\n', (size_t)(end - p));
                        size_t len = nlp ? (size_t)(nlp - p) : (size_t)(end - p);
                        if (len) {
                                const char *name;
                                size_t nn;
                                bool comment;
                                line_name(p, len, &name, &nn, &comment);
                                if (nl == lcap) {
                                        lcap = lcap ? 2 * lcap : 256;
                                        ls = realloc(ls, lcap * sizeof(*ls));
                                        if (!ls) abort();
                                }
                                ls[nl++] =
                                    (line){p, len, fam_of(&fs, &nf, &fcap, name, nn), w, comment};
                        }
                        p += len + 1;
                }
        }
        for (size_t f = 0; f < nf; f++) {
                /* comments once (the first worker's), then every sample */
                for (size_t i = 0; i < nl; i++) {
                        if (ls[i].fam != f || !ls[i].comment) continue;
                        bool seen = false;
                        for (size_t j = 0; j < i && !seen; j++)
                                seen = ls[j].fam == f && ls[j].comment && ls[j].n == ls[i].n &&
                                       !memcmp(ls[j].p, ls[i].p, ls[i].n);
                        if (seen) continue;
                        cf_buf_put(out, ls[i].p, ls[i].n);
                        cf_buf_putc(out, '\n');
                }
                for (size_t i = 0; i < nl; i++)
                        if (ls[i].fam == f && !ls[i].comment) put_labeled(out, &ls[i]);
        }
        free(ls);
        free(fs);
}
