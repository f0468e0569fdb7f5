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
 * but used by the EU and WCO in customs data). A standard list, not trade policy. */
static const char iso_codes[] =
    "ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZCACCCDCFCGCH"
    "CICKCLCMCNCOCRCUCVCWCXCYCZDEDJDKDMDODZECEEEGEHERESETFIFJFKFMFOFRGAGBGDGEGFGGGHGIGLGMGN"
    "GPGQGRGSGTGUGWGYHKHMHNHRHTHUIDIEILIMINIOIQIRISITJEJMJOJPKEKGKHKIKMKNKPKRKWKYKZLALBLCLI"
    "LKLRLSLTLULVLYMAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZNANCNENFNGNINLNONPNRNUNZOM"
    "PAPEPFPGPHPKPLPMPNPRPSPTPWPYQARERORSRURWSASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZTCTD"
    "TFTGTHTJTKTLTMTNTOTRTTTVTWTZUAUGUMUSUYUZVAVCVEVGVIVNVUWFWSXKYEYTZAZMZW";

int cf_iso_country_valid(const char *p, size_t n)
{
        if (n != 2 || p[0] < 'A' || p[0] > 'Z' || p[1] < 'A' || p[1] > 'Z') return 0;
        /* The list is sorted: binary search over its 2-byte entries. */
        size_t lo = 0, hi = (sizeof(iso_codes) - 1) / 2;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                const char *c = iso_codes + 2 * mid;
                int cmp = c[0] != p[0] ? c[0] - p[0] : c[1] - p[1];
                if (cmp == 0) return 1;
                if (cmp < 0) lo = mid + 1;
                else hi = mid;
        }
        return 0;
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
