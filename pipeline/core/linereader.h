/*
 * linereader.h - buffered JSONL reader: hands out lines as slices that stay
 * valid until the next cf_linereader_compact (i.e. for one batch).
 */
#ifndef CF_LINEREADER_H
#define CF_LINEREADER_H

#include <stdio.h>
#include <stddef.h>

typedef struct cf_linereader {
        FILE *f;
        char *buf;
        size_t cap, len, pos;
        int eof;
        long long line_no; /* number of the last line handed out (1-based) */
        unsigned long long bytes;
} cf_linereader;

/** Start reading f (not closed by the reader). */
void cf_linereader_init(cf_linereader *lr, FILE *f);
/** Next line without its '\n' (and one trailing '\r'); 0 at end of input, -1 on I/O error. */
int cf_linereader_next(cf_linereader *lr, const char **line, size_t *len);
/** Move unread bytes to the front; slices handed out before become invalid. */
void cf_linereader_compact(cf_linereader *lr);
/** Free the buffer. */
void cf_linereader_free(cf_linereader *lr);

#endif
