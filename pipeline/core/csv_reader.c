/*
 * csv_reader.c - libcsv wrapper for reference files.
 */
#include "pipeline/core/csv_reader.h"

#include <csv.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/utf8.h"

typedef struct rd {
        const char *path;
        char **cur;
        size_t n, cap;
        int line, row_line;
        int header_done;
        char **header;
        size_t n_header;
        const char *const *required;
        int *col_idx;
        const char *const *optional;
        int *opt_idx;
        cf_csv_row_cb cb;
        void *opaque;
        char *errstr;
        size_t errstr_size;
        int failed;
} rd;

static void on_field(void *s, size_t len, void *data)
{
        rd *r = data;
        if (r->n == r->cap) {
                r->cap = r->cap ? r->cap * 2 : 16;
                r->cur = realloc(r->cur, r->cap * sizeof(char *));
        }
        r->cur[r->n++] = strndup(s ? s : "", s ? len : 0);
}

static void clear_row(rd *r)
{
        for (size_t i = 0; i < r->n; i++)
                free(r->cur[i]);
        r->n = 0;
}

static int map_header(rd *r)
{
        for (size_t i = 0; r->required && r->required[i]; i++) {
                r->col_idx[i] = -1;
                for (size_t j = 0; j < r->n_header; j++)
                        if (!strcmp(r->header[j], r->required[i])) r->col_idx[i] = (int)j;
                if (r->col_idx[i] < 0) {
                        snprintf(r->errstr, r->errstr_size,
                                 "%s:%d: header lacks required column '%s'", r->path, r->row_line,
                                 r->required[i]);
                        return -1;
                }
        }
        for (size_t i = 0; r->optional && r->optional[i]; i++) {
                r->opt_idx[i] = -1;
                for (size_t j = 0; j < r->n_header; j++)
                        if (!strcmp(r->header[j], r->optional[i])) r->opt_idx[i] = (int)j;
        }
        return 0;
}

static void on_row(int c, void *data)
{
        rd *r = data;
        (void)c;
        int line = r->row_line;
        if (r->failed) {
                clear_row(r);
                return;
        }
        /* A comment or blank line: one empty field, or a first field starting with '#'. */
        if ((r->n == 1 && r->cur[0][0] == '\0') || (r->n >= 1 && r->cur[0][0] == '#')) {
                clear_row(r);
                return;
        }
        if (!r->header_done) {
                for (size_t i = 0; i < r->n; i++) {
                        /* Trim spaces around header names: "a, b" is common. */
                        char *h = r->cur[i];
                        while (*h == ' ')
                                memmove(h, h + 1, strlen(h));
                        size_t l = strlen(h);
                        while (l && h[l - 1] == ' ')
                                h[--l] = '\0';
                }
                r->header = r->cur;
                r->n_header = r->n;
                r->cur = NULL;
                r->n = r->cap = 0;
                r->header_done = 1;
                if (map_header(r)) r->failed = 1;
                return;
        }
        if (r->n != r->n_header) {
                snprintf(r->errstr, r->errstr_size, "%s:%d: expected %zu columns, found %zu",
                         r->path, line, r->n_header, r->n);
                r->failed = 1;
                clear_row(r);
                return;
        }
        cf_csv_row row = {.file = r->path, .line = line, .v = r->cur, .n = r->n};
        if (r->cb(&row, r->opaque, r->errstr, r->errstr_size)) r->failed = 1;
        clear_row(r);
}

int cf_csv_read(const char *path, const char *const *required, int *col_idx,
                const char *const *optional, int *opt_idx, cf_csv_row_cb cb, void *opaque,
                char *errstr, size_t errstr_size)
{
        FILE *f = fopen(path, "rb");
        if (!f) {
                snprintf(errstr, errstr_size, "%s: cannot open: %s", path, strerror(errno));
                return -1;
        }
        struct csv_parser p;
        csv_init(&p, CSV_STRICT | CSV_APPEND_NULL | CSV_STRICT_FINI);
        rd r = {.path = path,
                .line = 1,
                .row_line = 1,
                .required = required,
                .col_idx = col_idx,
                .optional = optional,
                .opt_idx = opt_idx,
                .cb = cb,
                .opaque = opaque,
                .errstr = errstr,
                .errstr_size = errstr_size};
        char *buf = NULL;
        size_t cap = 0;
        ssize_t got;
        int rc = 0;
        /* Feed line by line so each row knows its line number. getline, not
         * fgets: a NUL byte must be seen (fgets + strlen silently dropped the
         * rest of the line, so "1.0\08" loaded as 1.0). */
        while (!r.failed && (got = getline(&buf, &cap, f)) > 0) {
                const char *line = buf;
                size_t n = (size_t)got;
                if (memchr(line, '\0', n)) {
                        snprintf(errstr, errstr_size, "%s:%d: NUL byte at column %zu", path, r.line,
                                 (size_t)((const char *)memchr(line, '\0', n) - line) + 1);
                        r.failed = 1;
                        break;
                }
                /* reference data is UTF-8: a value quoted in an error message (or
                 * matched against a declaration) must be text, not stray bytes */
                size_t bad = cf_utf8_error_at(line, n);
                if (bad < n) {
                        snprintf(errstr, errstr_size, "%s:%d: invalid UTF-8 at byte %zu", path,
                                 r.line, bad + 1);
                        r.failed = 1;
                        break;
                }
                /* a UTF-8 byte order mark (spreadsheet exports) is not part of the header */
                if (r.line == 1 && n >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3)) line += 3, n -= 3;
                if (csv_parse(&p, line, n, on_field, on_row, &r) != n) {
                        snprintf(errstr, errstr_size, "%s:%d: CSV error: %s", path, r.line,
                                 csv_strerror(csv_error(&p)));
                        r.failed = 1;
                        break;
                }
                if (n && line[n - 1] == '\n') {
                        r.line++;
                        if (p.pstate == 0 || p.pstate == 1) r.row_line = r.line;
                }
        }
        free(buf);
        if (!r.failed && ferror(f)) {
                snprintf(errstr, errstr_size, "%s:%d: read error: %s", path, r.line,
                         strerror(errno));
                r.failed = 1;
        }
        if (!r.failed && csv_fini(&p, on_field, on_row, &r)) {
                snprintf(errstr, errstr_size, "%s:%d: CSV error: %s", path, r.line,
                         csv_strerror(csv_error(&p)));
                r.failed = 1;
        }
        if (!r.failed && !r.header_done) {
                snprintf(errstr, errstr_size, "%s: empty file (no header row)", path);
                r.failed = 1;
        }
        rc = r.failed ? -1 : 0;
        clear_row(&r);
        free(r.cur);
        for (size_t i = 0; i < r.n_header; i++)
                free(r.header[i]);
        free(r.header);
        csv_free(&p);
        fclose(f);
        return rc;
}
