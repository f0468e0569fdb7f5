/*
 * decode_formats.c - code lists and formats the decoder checks: ISO 3166-1
 * alpha-2 countries and RFC 3339 timestamps.
 *
 * The RFC 3339 parser is hand-written on purpose: strptime is locale-bound,
 * has no fraction or offset support in glibc's %z form we need, and is slow;
 * the grammar is small and fully tested (tests/unit/test_decode.c).
 */
#include <stdint.h>
#include <string.h>

#include "stages/decode/decode.h"

/* ISO 3166-1 alpha-2 officially assigned codes (249) plus XK (Kosovo, user-assigned
 * but used by the EU and WCO in customs data). A standard list, not trade policy.
 * One row per first letter, bit n set when the second letter is 'A' + n: one load
 * and a shift (a binary search over the 250 codes mispredicted its way to 2 % of
 * replay's time; tests/unit/test_decode.c checks every pair against the list). */
/* clang-format off */
static const uint32_t iso_rows[26] = {
    0x2df5978u, /* A: D E F G I L M O Q R S T U W X Z */
    0x36f7bfbu, /* B: A B D E F G H I J L M N O Q R S T V W Y Z */
    0x3f27dedu, /* C: A C D F G H I K L M N O R U V W X Y Z */
    0x2005610u, /* D: E J K M O Z */
    0x00e00d4u, /* E: C E G H R S T */
    0x0025700u, /* F: I J K M O R */
    0x15fb9fbu, /* G: A B D E F G H I L M N P Q R S T U W Y */
    0x01a3400u, /* H: K M N R T U */
    0x00f7818u, /* I: D E L M N O Q R S T */
    0x000d010u, /* J: E M O P */
    0x342b1d0u, /* K: E G H I M N P R W Y Z */
    0x13e0507u, /* L: A B C I K R S T U V Y */
    0x3fffcfdu, /* M: A C D E F G H K L M N O P Q R S T U V W X Y Z */
    0x212c975u, /* N: A C E F G I L O P R U Z */
    0x0001000u, /* O: M */
    0x14e3cf1u, /* P: A E F G H K L M N R S T W Y */
    0x0000001u, /* Q: A */
    0x0544010u, /* R: E O S U W */
    0x3ae7fdfu, /* S: A B C D E G H I J K L M N O R S T V X Y Z */
    0x26a7eecu, /* T: C D F G H J K L M N O R T V W Z */
    0x3041041u, /* U: A G M S Y Z */
    0x0102155u, /* V: A C E G I N U */
    0x0040020u, /* W: F S */
    0x0000400u, /* X: K */
    0x0080010u, /* Y: E T */
    0x0401001u, /* Z: A M W */
};
/* clang-format on */

int cf_iso_country_valid(const char *p, size_t n)
{
        if (n != 2) return 0;
        unsigned a = (unsigned char)p[0] - 'A', b = (unsigned char)p[1] - 'A';
        return a < 26 && b < 26 && (iso_rows[a] >> b & 1u);
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
        y -= m <= 2;
        const int64_t era = (y >= 0 ? y : y - 399) / 400;
        const unsigned yoe = (unsigned)(y - era * 400);
        const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t)doe - 719468;
}

int cf_epoch_ms_yyyymm(int64_t epoch_ms)
{
        int64_t z = (epoch_ms >= 0 ? epoch_ms : epoch_ms - 86399999) / 86400000;
        z += 719468;
        const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
        const unsigned doe = (unsigned)(z - era * 146097);
        const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        const int64_t y = (int64_t)yoe + era * 400;
        const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        const unsigned mp = (5 * doy + 2) / 153;
        const unsigned m = mp < 10 ? mp + 3 : mp - 9;
        return (int)((y + (m <= 2)) * 100 + m);
}

static int digits(const char *s, int n, int *out)
{
        int v = 0;
        for (int i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9') return 0;
                v = v * 10 + (s[i] - '0');
        }
        *out = v;
        return 1;
}

int cf_parse_rfc3339(const char *s, size_t n, int64_t *epoch_ms)
{
        int Y, M, D, h, mi, sec;
        if (n < 20) return -1;
        if (!digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) || s[7] != '-' ||
            !digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
            !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
            !digits(s + 17, 2, &sec))
                return -1;
        static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        if (M < 1 || M > 12 || D < 1 || h > 23 || mi > 59 || sec > 60) return -1;
        int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
        if (D > mdays[M - 1] + (M == 2 && leap)) return -1;
        if (sec == 60) sec = 59; /* a leap second maps onto the second before it */
        size_t i = 19;
        int ms = 0;
        if (i < n && s[i] == '.') {
                size_t start = ++i;
                int scale = 100;
                while (i < n && s[i] >= '0' && s[i] <= '9') {
                        ms += (s[i] - '0') * scale;
                        scale /= 10;
                        i++;
                }
                if (i == start) return -1;
        }
        int off = 0;
        if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
                i++;
        } else if (i + 6 == n && (s[i] == '+' || s[i] == '-')) {
                int oh, om;
                if (!digits(s + i + 1, 2, &oh) || s[i + 3] != ':' || !digits(s + i + 4, 2, &om) ||
                    oh > 23 || om > 59)
                        return -1;
                off = (oh * 60 + om) * (s[i] == '+' ? 1 : -1);
                i += 6;
        } else {
                return -1;
        }
        if (i != n) return -1;
        int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
        *epoch_ms = ((days * 86400 + h * 3600 + mi * 60 + sec) - (int64_t)off * 60) * 1000 + ms;
        return 0;
}
