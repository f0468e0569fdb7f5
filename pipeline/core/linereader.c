/*
 * linereader.c - buffered JSONL reader.
 */
#include "pipeline/core/linereader.h"

#include <stdlib.h>
#include <string.h>

void cf_linereader_init(cf_linereader *lr, FILE *f, size_t max_line)
{
        memset(lr, 0, sizeof(*lr));
        lr->f = f;
        lr->max_line = max_line;
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

/* Read more bytes at the end; the buffer grows only when nothing of the
 * batch is outstanding (the caller compacts between batches, see _next). */
static int fill(cf_linereader *lr)
{
        if (lr->eof) return 0;
        if (lr->len == lr->cap) {
                size_t ncap = lr->cap * 2;
                char *nb = realloc(lr->buf, ncap);
                if (!nb) return -1;
                lr->buf = nb;
                lr->cap = ncap;
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

/* Hand out the n bytes at pos as the next line; the next one starts at next. */
static int hand_out(cf_linereader *lr, const char **line, size_t *len, size_t n, size_t next,
                    uint64_t dropped)
{
        *line = lr->buf + lr->pos;
        *len = n;
        lr->dropped = dropped;
        lr->pos = next;
        lr->scanned = 0;
        lr->skipping = 0;
        lr->line_no++;
        return 1;
}

int cf_linereader_next(cf_linereader *lr, const char **line, size_t *len)
{
        size_t max = lr->max_line;
        for (;;) {
                size_t avail = lr->len - lr->pos;
                if (!lr->skipping) {
                        /* a line of max bytes has its '\n' at offset max at the latest */
                        size_t lim = max && avail > max + 1 ? max + 1 : avail;
                        char *start = lr->buf + lr->pos;
                        char *nl = memchr(start + lr->scanned, '\n', lim - lr->scanned);
                        if (nl) {
                                size_t n = (size_t)(nl - start);
                                return hand_out(lr, line, len, n, lr->pos + n + 1, 0);
                        }
                        lr->scanned = lim;
                        if (max && avail > max) {
                                /* too long: keep max bytes, drop the rest as it comes */
                                lr->skipping = 1;
                                lr->dropped = 0;
                                continue;
                        }
                } else {
                        /* bytes read past the kept part, up to the '\n' ending the line */
                        char *from = lr->buf + lr->pos + max;
                        size_t m = lr->len - (lr->pos + max);
                        char *nl = memchr(from, '\n', m);
                        if (nl) {
                                uint64_t d = lr->dropped + (uint64_t)(nl - from);
                                return hand_out(lr, line, len, max, (size_t)(nl - lr->buf) + 1, d);
                        }
                        lr->dropped += m;
                        lr->len = lr->pos + max;
                }
                if (lr->eof) {
                        if (lr->skipping) return hand_out(lr, line, len, max, lr->len, lr->dropped);
                        if (avail == 0) return 0;
                        return hand_out(lr, line, len, avail, lr->len, 0); /* no final '\n' */
                }
                /* Growing may move the buffer: only when no line of this batch is
                 * outstanding, which the caller guarantees by compacting first. */
                if (lr->pos > 0 && lr->len == lr->cap) return 2;
                if (fill(lr) < 0) return -1;
        }
}

void cf_linereader_free(cf_linereader *lr)
{
        free(lr->buf);
        lr->buf = NULL;
}
