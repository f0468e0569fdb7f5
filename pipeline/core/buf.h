/*
 * buf.h - growable byte buffer and a small JSON writer with correct escaping.
 *
 * JSON output only: input is parsed with jsmn (stages/decode.c). The writer
 * escapes per RFC 8259 and passes valid UTF-8 through unchanged.
 */
#ifndef CF_BUF_H
#define CF_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/** A growable buffer; len bytes used of cap. */
typedef struct cf_buf {
        char *p;
        size_t len;
        size_t cap;
} cf_buf;

/** Ensure room for n more bytes. */
void cf_buf_reserve(cf_buf *b, size_t n);
/** Append n raw bytes. */
void cf_buf_put(cf_buf *b, const void *s, size_t n);
/** Append a NUL-terminated string. */
void cf_buf_puts(cf_buf *b, const char *s);
/** Append one byte. */
void cf_buf_putc(cf_buf *b, char c);
/** Append printf-formatted text. */
void cf_buf_printf(cf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Drop the contents, keep the memory. */
void cf_buf_reset(cf_buf *b);
/** Free the memory. */
void cf_buf_free(cf_buf *b);
/** Slot i of a growable array of pointers (*v, *n), grown with NULLs as needed
 * (stages keep per-partition state this way). */
void **cf_ptrs_slot(void ***v, size_t *n, size_t i);

/** Append s (n bytes) as a quoted, escaped JSON string. */
void cf_json_str(cf_buf *b, const char *s, size_t n);
/** Append "key": (quoted key and colon); key must need no escaping. */
void cf_json_key(cf_buf *b, const char *key);
/** Write u in decimal at dst (at most 20 bytes, no NUL); returns the length. */
size_t cf_fmt_uint(char *dst, uint64_t u);
/** Write v in decimal at dst (at most 20 bytes, no NUL); returns the length. */
size_t cf_fmt_int(char *dst, int64_t v);
/** Write v as a JSON number at dst (at most 32 bytes, no NUL; "null" for NaN/inf): the
 * fewest decimals (up to 6) that round-trip, else the shortest of %.15g..%.17g. */
size_t cf_fmt_num(char *dst, double v);
/** Write an RFC 3339 UTC time "YYYY-MM-DDTHH:MM:SS[.mmm]Z" at dst (at most 40 bytes, no
 * NUL); milliseconds always when frac, else only when non-zero. Returns the length. */
size_t cf_fmt_time(char *dst, int64_t epoch_ms, int frac);
/** Append a double as a JSON number (round-trip form of cf_fmt_num; null for NaN/inf). */
void cf_json_num(cf_buf *b, double v);
/** Append a signed integer. */
void cf_json_int(cf_buf *b, int64_t v);
/** Append bytes as a base64 JSON string. */
void cf_json_base64(cf_buf *b, const unsigned char *s, size_t n);
/** Append an RFC 3339 UTC timestamp with milliseconds, quoted. */
void cf_json_time(cf_buf *b, int64_t epoch_ms);

#endif
