/*
 * linereader.h - buffered JSONL reader: hands out lines as slices that stay
 * valid until the next cf_linereader_compact (i.e. for one batch).
 *
 * A line is every byte before its '\n', a '\r' included (a CRLF file's lines
 * end in '\r': the bytes are the message, as they would be on Kafka). With a
 * maximum set, a longer line is handed out cut to its first max bytes and the
 * rest is read and dropped, never held (cf_linereader.dropped says how much).
 */
#ifndef CF_LINEREADER_H
#define CF_LINEREADER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct cf_linereader {
        FILE *f;
        char *buf;
        size_t cap, len, pos;
        int eof;
        size_t max_line;   /* 0 = no limit */
        size_t scanned;    /* bytes of the current line searched for '\n' so far */
        int skipping;      /* the current line is over max_line: its rest is being dropped */
        uint64_t dropped;  /* bytes dropped from the last line handed out (0 = whole) */
        long long line_no; /* number of the last line handed out (1-based) */
        unsigned long long bytes;
} cf_linereader;

/** Start reading f (not closed by the reader); max_line 0 = lines of any length. */
void cf_linereader_init(cf_linereader *lr, FILE *f, size_t max_line);
/** Next line without its '\n'; 1 = a line, 0 = end of input, -1 = I/O error,
 * 2 = the buffer is full: compact (ending the batch) and call again. */
int cf_linereader_next(cf_linereader *lr, const char **line, size_t *len);
/** Move unread bytes to the front; slices handed out before become invalid. */
void cf_linereader_compact(cf_linereader *lr);
/** Free the buffer. */
void cf_linereader_free(cf_linereader *lr);

#endif
