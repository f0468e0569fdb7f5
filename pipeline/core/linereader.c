/*
 * linereader.c - buffered JSONL reader.
 */
#include "pipeline/core/linereader.h"

#include <stdlib.h>
#include <string.h>

void cf_linereader_init(cf_linereader *lr, FILE *f)
{
        memset(lr, 0, sizeof(*lr));
        lr->f = f;
        lr->cap = 8 << 20;
        lr->buf = malloc(lr->cap);
}

void cf_linereader_compact(cf_linereader *lr)
{
        /* only once half the buffer is consumed (or it is full): moving what is left
         * before every batch cost up to the whole buffer per batch, a third of replay's
         * time with 128-line epochs */
        if (lr->pos == 0 || (lr->pos < lr->cap / 2 && lr->len < lr->cap)) return;
        memmove(lr->buf, lr->buf + lr->pos, lr->len - lr->pos);
        lr->len -= lr->pos;
        lr->pos = 0;
}

/* Read more bytes at the end; the buffer grows (never moves handed-out lines
 * within a batch because callers compact only between batches). */
static int fill(cf_linereader *lr)
{
        if (lr->eof) return 0;
        if (lr->len == lr->cap) {
                lr->cap *= 2;
                char *nb = realloc(lr->buf, lr->cap);
                if (!nb) return -1;
                lr->buf = nb;
        }
        size_t n = fread(lr->buf + lr->len, 1, lr->cap - lr->len, lr->f);
        if (n == 0) {
                if (ferror(lr->f)) return -1;
                lr->eof = 1;
                return 0;
        }
        lr->len += n;
        lr->bytes += n;
        return 1;
}

int cf_linereader_next(cf_linereader *lr, const char **line, size_t *len)
{
        for (;;) {
                char *start = lr->buf + lr->pos;
                char *nl = memchr(start, '\n', lr->len - lr->pos);
                if (nl) {
                        size_t n = (size_t)(nl - start);
                        lr->pos += n + 1;
                        if (n && start[n - 1] == '\r') n--;
                        *line = start;
                        *len = n;
                        lr->line_no++;
                        return 1;
                }
                if (lr->eof) {
                        if (lr->pos == lr->len) return 0;
                        /* last line without a newline */
                        size_t n = lr->len - lr->pos;
                        lr->pos = lr->len;
                        if (n && start[n - 1] == '\r') n--;
                        *line = start;
                        *len = n;
                        lr->line_no++;
                        return 1;
                }
                /* Growing may move the buffer: only allowed when no line of this
                 * batch is outstanding, which the caller guarantees by compacting
                 * before each batch and sizing the buffer generously. */
                if (lr->pos > 0 && lr->len == lr->cap) return 2; /* caller must compact */
                int rc = fill(lr);
                if (rc < 0) return -1;
        }
}

void cf_linereader_free(cf_linereader *lr)
{
        free(lr->buf);
        lr->buf = NULL;
}
