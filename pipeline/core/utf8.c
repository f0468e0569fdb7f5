/*
 * utf8.c - UTF-8 checks. The scalar validator is hand-written: it is one loop
 * that also reports where the error is (simdjson's validator, used for the
 * yes/no answer when the build has it, does not), and Debian's alternatives
 * (glib, ICU) are heavy dependencies for it.
 */
#include "pipeline/core/utf8.h"

#include <stdint.h>
#include <string.h>

#ifdef CF_HAVE_SIMDJSON
int cf_utf8_valid_simd(const char *s, size_t n); /* utf8_simd.cpp */
#endif

/* Length of the valid sequence starting at s[i], 0 when it is invalid. */
static size_t seq_len(const unsigned char *s, size_t n, size_t i)
{
        unsigned char c = s[i];
        if (c < 0x80) return 1;
        size_t need;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF)
                need = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
                need = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
                need = 3, cp = c & 0x07;
        else
                return 0;
        for (size_t k = 1; k <= need; k++) {
                if (i + k >= n || (s[i + k] & 0xC0) != 0x80) return 0;
                cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        /* overlong, surrogate or beyond U+10FFFF */
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        return need + 1;
}

size_t cf_utf8_error_at(const char *str, size_t n)
{
        const unsigned char *s = (const unsigned char *)str;
        size_t i = 0;
        while (i < n) {
                if (i + 8 <= n) {
                        uint64_t w;
                        memcpy(&w, s + i, 8);
                        if (!(w & 0x8080808080808080ull)) { /* eight ASCII bytes */
                                i += 8;
                                continue;
                        }
                }
                size_t l = seq_len(s, n, i);
                if (!l) return i;
                i += l;
        }
        return n;
}

int cf_utf8_valid(const char *s, size_t n)
{
#ifdef CF_HAVE_SIMDJSON
        return cf_utf8_valid_simd(s, n);
#else
        return cf_utf8_error_at(s, n) == n;
#endif
}

size_t cf_utf8_prefix(const char *str, size_t n, size_t max)
{
        const unsigned char *s = (const unsigned char *)str;
        if (n > max) n = max;
        /* the last character starts at most 3 bytes back: drop it when cut short */
        size_t k = n;
        while (k > 0 && n - k < 4 && (s[k - 1] & 0xC0) == 0x80)
                k--;
        if (k == 0 || s[k - 1] < 0xC0) return n; /* ASCII, or no lead byte: nothing cut */
        unsigned char c = s[k - 1];
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        return (k - 1) + need > n ? k - 1 : n;
}

void cf_utf8_sanitize(char *s, size_t n)
{
        size_t i = 0;
        while (i < n) {
                i += cf_utf8_error_at(s + i, n - i);
                if (i < n) s[i++] = '?';
        }
}

void cf_term_escape(cf_buf *b, const char *str, size_t n)
{
        const unsigned char *s = (const unsigned char *)str;
        for (size_t i = 0; i < n;) {
                size_t l = seq_len(s, n, i);
                /* C0 controls, DEL, and C1 controls (U+0080..U+009F: 0xC2 0x80..0x9F),
                 * which some terminals read as ESC sequences (0x9B = CSI) */
                int ctrl = l == 0 || s[i] < 0x20 || s[i] == 0x7F ||
                           (l == 2 && s[i] == 0xC2 && s[i + 1] < 0xA0);
                if (!ctrl) {
                        cf_buf_put(b, s + i, l);
                        i += l;
                        continue;
                }
                size_t k = l ? l : 1;
                for (size_t j = 0; j < k; j++)
                        cf_buf_printf(b, "\\x%02x", s[i + j]);
                i += k;
        }
}
