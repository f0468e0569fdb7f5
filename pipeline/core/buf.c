/*
 * buf.c - growable buffer and JSON writer.
 */
#include "pipeline/core/buf.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/intmath.h"

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
        if (!n) return; /* s may be NULL then (an empty buffer's bytes): memcpy must not see it */
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

/* Two digits at a time: a division per two digits instead of per digit. */
static const char digits2[] = "00010203040506070809101112131415161718192021222324252627282930313233"
                              "34353637383940414243444546474849505152535455565758596061626364656667"
                              "6869707172737475767778798081828384858687888990919293949596979899";

size_t cf_fmt_uint(char *dst, uint64_t u)
{
        /* digits first, then written in place from the end: no temporary
         * and no variable-length copy (most numbers here are short counts) */
        size_t n = 1;
        for (uint64_t p = 10; n < 20 && u >= p; p *= 10)
                n++;
        char *p = dst + n;
        while (u >= 100) {
                p -= 2;
                memcpy(p, digits2 + (u % 100) * 2, 2);
                u /= 100;
        }
        if (u >= 10) {
                p -= 2;
                memcpy(p, digits2 + u * 2, 2);
        } else {
                *--p = (char)('0' + u);
        }
        return n;
}

size_t cf_fmt_int(char *dst, int64_t v)
{
        if (v >= 0) return cf_fmt_uint(dst, (uint64_t)v);
        dst[0] = '-';
        return 1 + cf_fmt_uint(dst + 1, (uint64_t)0 - (uint64_t)v);
}

/* The shortest of %.15g, %.16g, %.17g that strtod reads back as v: %.17g always round-trips;
 * %.15g does for every value that came from a decimal of up to 15 digits and prints it as
 * written. */
static size_t fmt_g_slow(char *dst, double v)
{
        for (int prec = 15; prec <= 17; prec++) {
                int n = snprintf(dst, 32, "%.*g", prec, v);
                if (prec == 17 || strtod(dst, NULL) == v) return (size_t)n;
        }
        return 0; /* not reached */
}

/* p significant digits dg (the value dg[0].dg[1..] x 10^x, -4 <= x < p) as %g writes them:
 * fixed point, trailing zeros and a bare point dropped. */
static size_t put_fixed(char *dst, bool neg, const char *dg, int p, int x)
{
        int last = p;
        while (last > 1 && dg[last - 1] == '0')
                last--;
        char *o = dst;
        if (neg) *o++ = '-';
        if (x < 0) {
                *o++ = '0';
                *o++ = '.';
                for (int i = -1; i > x; i--)
                        *o++ = '0';
                memcpy(o, dg, (size_t)last);
                return (size_t)(o + last - dst);
        }
        memcpy(o, dg, (size_t)x + 1);
        o += x + 1;
        if (last > x + 1) {
                *o++ = '.';
                memcpy(o, dg + x + 1, (size_t)(last - x - 1));
                o += last - x - 1;
        }
        return (size_t)(o - dst);
}

/* fmt_g_slow's result with one printf instead of up to three printf and two strtod (printf's
 * multi-precision path was ~2 % of replay's CPU: the stats' quantity sums, which seldom have
 * <= 6 decimals). %.16e gives the 17 significant digits; the 15- and 16-digit forms are
 * rounded from them, except when the digits dropped are exactly a half (the 17 digits are
 * themselves rounded: rounding twice could then differ from printf's one rounding), and read
 * back exactly by one double operation (Clinger's fast path: an integer below 2^53 times or
 * over an exact power of ten, correctly rounded as strtod is). Anything else: fmt_g_slow. */
static size_t fmt_g(char *dst, double v)
{
        static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
        char e[40];
        int n = snprintf(e, sizeof(e), "%.16e", v); /* [-]d.{16 digits}e(+|-)dd[d] */
        bool neg = e[0] == '-';
        const char *s = e + neg;
        if (n < 22 + neg || s[1] != '.' || s[18] != 'e') return fmt_g_slow(dst, v);
        char dg[17];
        dg[0] = s[0];
        memcpy(dg + 1, s + 2, 16);
        int x = 0;
        for (const char *q = s + 20; *q; q++)
                x = x * 10 + (*q - '0');
        if (s[19] == '-') x = -x;
        double a = fabs(v);
        for (int p = 15; p <= 16; p++) {
                int r = p == 15 ? (dg[15] - '0') * 10 + (dg[16] - '0') : dg[16] - '0';
                int half = p == 15 ? 50 : 5;
                if (r == half) return fmt_g_slow(dst, v);
                uint64_t m = 0;
                for (int i = 0; i < p; i++)
                        m = m * 10 + (uint64_t)(dg[i] - '0');
                int xp = x;
                if (r > half && ++m == (uint64_t)p10[p]) { /* 99..9 rounded up: 10..0 */
                        m /= 10;
                        xp++;
                }
                int ex = xp - (p - 1); /* the value is m x 10^ex */
                if (m >= (1ull << 53) || ex < -22 || ex > 22) return fmt_g_slow(dst, v);
                if ((ex < 0 ? (double)m / p10[-ex] : (double)m * p10[ex]) != a) continue;
                if (xp < -4 || xp >= p) return fmt_g_slow(dst, v); /* %g's exponent form */
                char md[16];
                for (int i = p - 1; i >= 0; i--, m /= 10)
                        md[i] = (char)('0' + m % 10);
                return put_fixed(dst, neg, md, p, xp);
        }
        if (x < -4 || x >= 17) return fmt_g_slow(dst, v);
        return put_fixed(dst, neg, dg, 17, x);
}

size_t cf_fmt_num(char *dst, double v)
{
        if (!isfinite(v)) {
                memcpy(dst, "null", 4);
                return 4;
        }
        double a = fabs(v);
        if (a < 9e15 && v == (double)(int64_t)v) return cf_fmt_int(dst, (int64_t)v);
        /* Fixed point with up to 6 decimals when that round-trips: v is the
         * double nearest to m / 10^d iff the (correctly rounded) division
         * m / 10^d gives v back, and strtod of the printed decimal is that
         * same nearest double. Covers money and quantities as written (and
         * most of their short sums) without printf's multi-precision path. */
        static const double p10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
        if (a >= 1e-6 && a < 9e9) {
                for (int d = 1; d <= 6; d++) {
                        double m = (double)(int64_t)(a * p10[d] + 0.5); /* < 2^53: exact */
                        if (m / p10[d] != a) continue;
                        uint64_t u = (uint64_t)m;
                        uint64_t ip = u / (uint64_t)p10[d], fp = u % (uint64_t)p10[d];
                        char *p = dst;
                        if (v < 0) *p++ = '-';
                        p += cf_fmt_uint(p, ip);
                        *p++ = '.';
                        /* d digits of fp, zero-padded; the last is non-zero (d minimal) */
                        for (int k = d - 1; k >= 0; k--) {
                                p[k] = (char)('0' + fp % 10);
                                fp /= 10;
                        }
                        return (size_t)(p + d - dst);
                }
        }
        return fmt_g(dst, v);
}

void cf_json_num(cf_buf *b, double v)
{
        cf_buf_reserve(b, 32);
        b->len += cf_fmt_num(b->p + b->len, v);
}

void cf_json_int(cf_buf *b, int64_t v)
{
        cf_buf_reserve(b, 20);
        b->len += cf_fmt_int(b->p + b->len, v);
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

static char *put2(char *p, unsigned v)
{
        memcpy(p, digits2 + v * 2, 2);
        return p + 2;
}

size_t cf_fmt_time(char *dst, int64_t epoch_ms, int frac)
{
        /* Days to civil date: H. Hinnant's days_from_civil inverse, exact for
         * the proleptic Gregorian calendar; no gmtime_r/printf, which were
         * the top of aggregate's profile (three timestamps per window). */
        int64_t secs = cf_floor_div(epoch_ms, 1000), days = cf_floor_div(secs, 86400);
        unsigned ms = (unsigned)(epoch_ms - secs * 1000), sod = (unsigned)(secs - days * 86400);
        int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
        unsigned doe = (unsigned)(z - era * 146097);
        unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
        unsigned d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
        int64_t y = (int64_t)yoe + era * 400 + (m <= 2);
        char *p = dst;
        if (y < 0 || y > 9999) {
                p += snprintf(p, 32, "%04lld", (long long)y);
        } else {
                p = put2(p, (unsigned)y / 100);
                p = put2(p, (unsigned)y % 100);
        }
        *p++ = '-';
        p = put2(p, m);
        *p++ = '-';
        p = put2(p, d);
        *p++ = 'T';
        p = put2(p, sod / 3600);
        *p++ = ':';
        p = put2(p, sod / 60 % 60);
        *p++ = ':';
        p = put2(p, sod % 60);
        if (frac || ms) {
                *p++ = '.';
                *p++ = (char)('0' + ms / 100);
                p = put2(p, ms % 100);
        }
        *p++ = 'Z';
        return (size_t)(p - dst);
}

void cf_json_time(cf_buf *b, int64_t epoch_ms)
{
        cf_buf_reserve(b, 48);
        b->p[b->len++] = '"';
        b->len += cf_fmt_time(b->p + b->len, epoch_ms, 1);
        b->p[b->len++] = '"';
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
