/*
 * buf.c - growable buffer and JSON writer.
 */
#include "pipeline/buf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cf_buf_reserve(cf_buf *b, size_t n)
{
        if (b->len + n <= b->cap) return;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
                cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
                fprintf(stderr, "customsflow: out of memory (buffer %zu bytes)\n", cap);
                abort();
        }
        b->p = p;
        b->cap = cap;
}

void cf_buf_put(cf_buf *b, const void *s, size_t n)
{
        cf_buf_reserve(b, n);
        memcpy(b->p + b->len, s, n);
        b->len += n;
}

void cf_buf_puts(cf_buf *b, const char *s)
{
        cf_buf_put(b, s, strlen(s));
}

void cf_buf_putc(cf_buf *b, char c)
{
        cf_buf_reserve(b, 1);
        b->p[b->len++] = c;
}

void cf_buf_printf(cf_buf *b, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char tmp[256];
        va_list ap2;
        va_copy(ap2, ap);
        int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        if (n < 0) {
                va_end(ap2);
                return;
        }
        if ((size_t)n < sizeof(tmp)) {
                cf_buf_put(b, tmp, (size_t)n);
        } else {
                cf_buf_reserve(b, (size_t)n + 1);
                vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap2);
                b->len += (size_t)n;
        }
        va_end(ap2);
}

void cf_buf_reset(cf_buf *b)
{
        b->len = 0;
}

void cf_buf_free(cf_buf *b)
{
        free(b->p);
        b->p = NULL;
        b->len = b->cap = 0;
}

void cf_json_str(cf_buf *b, const char *s, size_t n)
{
        static const char hex[] = "0123456789abcdef";
        cf_buf_reserve(b, n + 2);
        cf_buf_putc(b, '"');
        size_t run = 0; /* start of the pending unescaped run */
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c >= 0x20 && c != '"' && c != '\\') continue;
                cf_buf_put(b, s + run, i - run);
                run = i + 1;
                switch (c) {
                case '"':
                        cf_buf_put(b, "\\\"", 2);
                        break;
                case '\\':
                        cf_buf_put(b, "\\\\", 2);
                        break;
                case '\n':
                        cf_buf_put(b, "\\n", 2);
                        break;
                case '\r':
                        cf_buf_put(b, "\\r", 2);
                        break;
                case '\t':
                        cf_buf_put(b, "\\t", 2);
                        break;
                case '\b':
                        cf_buf_put(b, "\\b", 2);
                        break;
                case '\f':
                        cf_buf_put(b, "\\f", 2);
                        break;
                default: {
                        char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                        cf_buf_put(b, u, 6);
                }
                }
        }
        cf_buf_put(b, s + run, n - run);
        cf_buf_putc(b, '"');
}

void cf_json_key(cf_buf *b, const char *key)
{
        cf_buf_putc(b, '"');
        cf_buf_puts(b, key);
        cf_buf_put(b, "\":", 2);
}

void cf_json_num(cf_buf *b, double v)
{
        if (!isfinite(v)) {
                cf_buf_put(b, "null", 4);
                return;
        }
        if (v == (double)(int64_t)v && fabs(v) < 9e15) {
                cf_json_int(b, (int64_t)v);
                return;
        }
        char tmp[32];
        /* %.17g always round-trips; %.15g does for every value that came from
         * a decimal of up to 15 digits (money, quantities) and prints it as
         * written. Trying 15, 16, 17 costs at most three conversions (the old
         * loop from 6 digits up was the top of aggregate's profile). */
        for (int prec = 15; prec <= 17; prec++) {
                int n = snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
                if (strtod(tmp, NULL) == v || prec == 17) {
                        cf_buf_put(b, tmp, (size_t)n);
                        return;
                }
        }
}

void cf_json_int(cf_buf *b, int64_t v)
{
        char tmp[24];
        char *e = tmp + sizeof(tmp), *p = e;
        uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        do {
                *--p = (char)('0' + u % 10);
                u /= 10;
        } while (u);
        if (v < 0) *--p = '-';
        cf_buf_put(b, p, (size_t)(e - p));
}

void cf_json_base64(cf_buf *b, const unsigned char *s, size_t n)
{
        static const char tbl[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        cf_buf_reserve(b, (n + 2) / 3 * 4 + 2);
        cf_buf_putc(b, '"');
        size_t i = 0;
        for (; i + 2 < n; i += 3) {
                uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
                char o[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], tbl[v & 63]};
                cf_buf_put(b, o, 4);
        }
        if (i < n) {
                uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
                char o[4] = {tbl[v >> 18], tbl[(v >> 12) & 63],
                             i + 1 < n ? tbl[(v >> 6) & 63] : '=', '='};
                cf_buf_put(b, o, 4);
        }
        cf_buf_putc(b, '"');
}

void cf_json_time(cf_buf *b, int64_t epoch_ms)
{
        time_t secs = (time_t)(epoch_ms >= 0 ? epoch_ms / 1000 : (epoch_ms - 999) / 1000);
        int ms = (int)(epoch_ms - (int64_t)secs * 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        cf_buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

void **cf_ptrs_slot(void ***v, size_t *n, size_t i)
{
        if (i >= *n) {
                size_t m = i + 1 > 2 * *n ? i + 1 : 2 * *n;
                void **nv = realloc(*v, m * sizeof(**v));
                if (!nv) abort();
                memset(nv + *n, 0, (m - *n) * sizeof(*nv));
                *v = nv;
                *n = m;
        }
        return &(*v)[i];
}
