/*
 * test_core.c - JSON writer, arena, YAML tree, config maps, CSV reader, line reader.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "pipeline/core/arena.h"
#include "pipeline/core/buf.h"
#include "pipeline/core/config_map.h"
#include "pipeline/core/csv_reader.h"
#include "pipeline/core/linereader.h"
#include "pipeline/core/memeq.h"
#include "pipeline/core/xorshift.h"
#include "pipeline/core/yaml_tree.h"

static char *str(cf_buf *b)
{
        cf_buf_putc(b, '\0');
        b->len--;
        return b->p;
}

static void test_json_escaping(void **s)
{
        (void)s;
        cf_buf b = {0};
        cf_json_str(&b, "a\"b\\c\n\t\x01\x1f\xc3\xa9", 11);
        assert_string_equal(str(&b), "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f\xc3\xa9\"");
        cf_buf_reset(&b);
        cf_json_str(&b, "x\0y", 3);
        assert_string_equal(str(&b), "\"x\\u0000y\"");
        cf_buf_reset(&b);
        cf_json_num(&b, 0.1);
        cf_buf_putc(&b, ' ');
        cf_json_num(&b, 1e20);
        cf_buf_putc(&b, ' ');
        cf_json_num(&b, -42);
        cf_buf_putc(&b, ' ');
        cf_json_num(&b, 1.0 / 0.0);
        assert_string_equal(str(&b), "0.1 1e+20 -42 null");
        cf_buf_reset(&b);
        cf_json_base64(&b, (const unsigned char *)"foob", 4);
        assert_string_equal(str(&b), "\"Zm9vYg==\"");
        cf_buf_reset(&b);
        cf_json_time(&b, 1741944600250LL);
        assert_string_equal(str(&b), "\"2025-03-14T09:30:00.250Z\"");
        cf_buf_reset(&b);
        cf_buf_printf(&b, "%0300d|", 7); /* longer than the stack buffer */
        assert_int_equal(b.len, 301);
        cf_buf_free(&b);
}

static char *fmt(double v, char *o)
{
        o[cf_fmt_num(o, v)] = '\0';
        return o;
}

/* What cf_fmt_num wrote before its one-printf path (buf.c, fmt_g): integers, <= 6 decimals
 * when they round-trip, else the shortest of %.15g..%.17g that does. */
static size_t fmt_num_ref(char *dst, double v)
{
        double a = fabs(v);
        if (a < 9e15 && v == (double)(int64_t)v) return (size_t)sprintf(dst, "%lld", (long long)v);
        static const double p10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
        if (a >= 1e-6 && a < 9e9)
                for (int d = 1; d <= 6; d++) {
                        double m = (double)(int64_t)(a * p10[d] + 0.5);
                        if (m / p10[d] != a) continue;
                        uint64_t u = (uint64_t)m, q = (uint64_t)p10[d];
                        return (size_t)sprintf(dst, "%s%llu.%0*llu", v < 0 ? "-" : "",
                                               (unsigned long long)(u / q), d,
                                               (unsigned long long)(u % q));
                }
        for (int prec = 15; prec <= 17; prec++) {
                int n = snprintf(dst, 32, "%.*g", prec, v);
                if (prec == 17 || strtod(dst, NULL) == v) return (size_t)n;
        }
        return 0;
}

/* cf_fmt_num writes what fmt_num_ref does (the stats' bytes must not change), for sums and
 * quotients of decimals (most reach the %g path) and any bit pattern. */
static void test_fmt_num_same(void **s)
{
        (void)s;
        uint64_t x = 0x2545F4914F6CDD1Dull;
        double sum = 0;
        for (int i = 0; i < 1000000; i++) {
                cf_xorshift64(&x);
                double v;
                switch (i % 5) {
                case 0:
                        memcpy(&v, &x, 8);
                        break;
                case 1:
                        v = sum += (double)(x % 100000) / 100;
                        break; /* a running sum */
                case 2:
                        v = (double)(x % 10000000) / (double)(1 + (x >> 40) % 9999);
                        break;
                case 3:
                        v = (double)(x % 1000) / 10 + (double)((x >> 20) % 1000) / 1000;
                        break;
                default:
                        v = ldexp((double)(x >> 11), (int)((x >> 3) % 120) - 110);
                }
                if (v != v || v - v != 0) continue;
                for (int sign = 0; sign < 2; sign++, v = -v) {
                        char o[40], ref[40];
                        o[cf_fmt_num(o, v)] = '\0';
                        ref[fmt_num_ref(ref, v)] = '\0';
                        if (strcmp(o, ref)) fail_msg("%.17g: %s, was %s", v, o, ref);
                }
        }
}

/* cf_fmt_num: decimals as written, and every double round-trips. */
static void test_fmt_num(void **s)
{
        (void)s;
        char o[40];
        assert_string_equal(fmt(15752.9, o), "15752.9");
        assert_string_equal(fmt(0.05, o), "0.05");
        assert_string_equal(fmt(-1234.5678, o), "-1234.5678");
        assert_string_equal(fmt(0.000001, o), "0.000001");
        assert_string_equal(fmt(100, o), "100");
        assert_string_equal(fmt(0.1 + 0.2, o), "0.30000000000000004");
        assert_string_equal(fmt(1e-7, o), "1e-07");
        char u[24];
        u[cf_fmt_uint(u, UINT64_MAX)] = '\0';
        assert_string_equal(u, "18446744073709551615");
        u[cf_fmt_int(u, INT64_MIN)] = '\0';
        assert_string_equal(u, "-9223372036854775808");
        uint64_t x = 88172645463325252ull;
        for (int i = 0; i < 200000; i++) {
                cf_xorshift64(&x);
                double v;
                switch (i % 4) {
                case 0: /* any bit pattern */
                        memcpy(&v, &x, 8);
                        if (v != v || v - v != 0) continue;
                        break;
                case 1: /* money: cents */
                        v = (double)(x % 10000000000ull) / 100;
                        break;
                case 2: /* up to 6 decimals */
                        v = (double)(x % 1000000000000ull) / 1e6;
                        break;
                default: /* sums of short decimals */
                        v = (double)(x % 100000) / 10 + (double)(x >> 40) / 1000;
                }
                fmt(v, o);
                if (strtod(o, NULL) != v) fail_msg("%.17g printed as %s", v, o);
                if (strlen(o) > 24) fail_msg("%.17g printed long: %s", v, o);
                /* the fixed-point path prints no more digits than %.17g */
                if (i % 4 && !strchr(o, 'e')) {
                        char ref[40];
                        snprintf(ref, sizeof(ref), "%.17g", v);
                        if (!strchr(ref, 'e') && strlen(o) > strlen(ref) + 1)
                                fail_msg("%.17g printed long: %s", v, o);
                }
        }
}

/* cf_fmt_time agrees with gmtime_r over years 0001..9999, both sides of 1970. */
static void test_fmt_time(void **s)
{
        (void)s;
        char o[48];
        o[cf_fmt_time(o, 1741944600250LL, 0)] = '\0';
        assert_string_equal(o, "2025-03-14T09:30:00.250Z");
        o[cf_fmt_time(o, 1741944600000LL, 0)] = '\0';
        assert_string_equal(o, "2025-03-14T09:30:00Z");
        o[cf_fmt_time(o, -1, 1)] = '\0';
        assert_string_equal(o, "1969-12-31T23:59:59.999Z");
        uint64_t x = 0x9E3779B97F4A7C15ull;
        const int64_t lo = -62135596800000LL, span = 253402300799999LL - lo;
        for (int i = 0; i < 300000; i++) {
                cf_xorshift64(&x);
                int64_t ms = lo + (int64_t)(x % (uint64_t)span);
                if (i < 1000) ms = (int64_t)(x % 400000) * 86400000LL / 100 - 20000LL * 86400000LL;
                time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
                struct tm tm;
                gmtime_r(&secs, &tm);
                char want[64];
                snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, (int)(ms - (int64_t)secs * 1000));
                o[cf_fmt_time(o, ms, 1)] = '\0';
                if (strcmp(o, want)) fail_msg("%lld: %s, gmtime says %s", (long long)ms, o, want);
        }
}

/* cf_memeq agrees with memcmp for every length 0..40 and a difference at
 * every position (the overlapping loads must see each byte). */
static void test_memeq(void **s)
{
        (void)s;
        char a[48], b[48];
        for (size_t n = 0; n <= 40; n++) {
                for (size_t i = 0; i < n; i++)
                        a[i] = b[i] = (char)('a' + i % 26);
                assert_true(cf_memeq(a, b, n));
                for (size_t i = 0; i < n; i++) {
                        b[i] ^= 0x20;
                        if (cf_memeq(a, b, n)) fail_msg("length %zu: byte %zu differs", n, i);
                        b[i] ^= 0x20;
                }
        }
}

static void test_arena(void **s)
{
        (void)s;
        cf_arena a;
        cf_arena_init(&a, 1024);
        char *p1 = cf_arena_alloc(&a, 10);
        char *p2 = cf_arena_alloc(&a, 5000); /* bigger than a chunk */
        memset(p2, 1, 5000);
        assert_int_equal((uintptr_t)p1 % 16, 0);
        assert_int_equal((uintptr_t)p2 % 16, 0);
        char *d = cf_arena_strndup(&a, "hello", 3);
        assert_string_equal(d, "hel");
        cf_arena_reset(&a);
        assert_int_equal(a.used_total, 0);
        assert_ptr_equal(cf_arena_alloc(&a, 10), p1); /* first chunk reused */
        cf_arena_destroy(&a);
}

typedef struct cfg {
        char *name;
        int64_t n, window, size;
        double ratio;
        bool on;
        cf_strlist list;
} cfg;

static const cf_config_map map[] = {
    {CF_CFG_STR, "name", "x", offsetof(cfg, name), "a name"},
    {CF_CFG_INT, "n", "5", offsetof(cfg, n), "a count", 1, 10},
    {CF_CFG_DURATION, "window", "30d", offsetof(cfg, window), "a window"},
    {CF_CFG_SIZE, "size", "64KiB", offsetof(cfg, size), "a size"},
    {CF_CFG_DOUBLE, "ratio", "0.5", offsetof(cfg, ratio), "a ratio"},
    {CF_CFG_BOOL, "on", "false", offsetof(cfg, on), "a switch"},
    {CF_CFG_STRLIST, "list", NULL, offsetof(cfg, list), "a list"},
    {0},
};

static int apply(const char *yaml, cfg *c, char *err)
{
        char e2[256];
        cf_node *n = cf_yaml_load_string("t.yaml", yaml, strlen(yaml), e2, sizeof(e2));
        if (!n) {
                strcpy(err, e2);
                return -1;
        }
        memset(c, 0, sizeof(*c));
        int rc = cf_config_map_apply(map, "sec", n, "/base", c, err, 256);
        cf_config_map_free(map, c);
        cf_yaml_free(n);
        return rc;
}

static void test_config_map(void **s)
{
        (void)s;
        char err[256];
        cfg c;
        const char *y = "n: 7\nwindow: 1h\nsize: 1MiB\nlist: [a, b]\non: yes\n";
        cf_node *n = cf_yaml_load_string("t.yaml", y, strlen(y), err, sizeof(err));
        assert_non_null(n);
        memset(&c, 0, sizeof(c));
        assert_int_equal(cf_config_map_apply(map, "sec", n, NULL, &c, err, sizeof(err)), 0);
        assert_int_equal(c.n, 7);
        assert_int_equal(c.window, 3600000);
        assert_int_equal(c.size, 1048576);
        assert_true(c.on);
        assert_true(c.ratio == 0.5);
        assert_string_equal(c.name, "x");
        assert_int_equal(c.list.n, 2);
        assert_string_equal(c.list.v[1], "b");
        cf_config_map_free(map, &c);
        cf_yaml_free(n);

        assert_int_equal(apply("n: 5\nbogus: 1\n", &c, err), -1);
        assert_non_null(strstr(err, "t.yaml:2: unknown key 'bogus' in sec"));
        assert_int_equal(apply("n: 50\n", &c, err), -1);
        assert_non_null(strstr(err, "t.yaml:1: sec.n: 50 is out of range"));
        assert_int_equal(apply("window: soon\n", &c, err), -1);
        assert_non_null(strstr(err, "expected a duration"));
        assert_int_equal(apply("n: [1]\n", &c, err), -1);
        assert_non_null(strstr(err, "expected a integer, got a list"));
        assert_int_equal(apply("n: 1\nn: 2\n", &c, err), -1);
        assert_non_null(strstr(err, "t.yaml:2: duplicate key 'n'"));
        assert_int_equal(apply("n: [1\n", &c, err), -1);
        assert_non_null(strstr(err, "t.yaml:"));
        assert_int_equal(cf_parse_duration_ms("250ms"), 250);
        assert_int_equal(cf_parse_duration_ms("10m"), 600000);
        assert_int_equal(cf_parse_duration_ms("-1s"), -1);
        assert_int_equal(cf_parse_size("2k"), 2048);
}

static int rows_seen;

static int row_cb(const cf_csv_row *row, void *op, char *err, size_t n)
{
        const int *idx = op;
        rows_seen++;
        if (!strcmp(row->v[idx[0]], "bad")) {
                snprintf(err, n, "%s:%d: bad row", row->file, row->line);
                return -1;
        }
        return 0;
}

static void test_csv(void **s)
{
        (void)s;
        char path[] = "/tmp/cf_csv_XXXXXX";
        int fd = mkstemp(path);
        const char *text = "# comment\nb, a\n2,\"x,y\"\n\n3,bad\n";
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        static const char *const req[] = {"a", "b", NULL};
        int idx[2];
        char err[256];
        rows_seen = 0;
        assert_int_equal(cf_csv_read(path, req, idx, NULL, NULL, row_cb, idx, err, sizeof(err)),
                         -1);
        assert_int_equal(idx[0], 1);
        assert_int_equal(rows_seen, 2);
        assert_non_null(strstr(err, ":5: bad row"));
        static const char *const req2[] = {"c", NULL};
        assert_int_equal(cf_csv_read(path, req2, idx, NULL, NULL, row_cb, idx, err, sizeof(err)),
                         -1);
        assert_non_null(strstr(err, "lacks required column 'c'"));
        unlink(path);
        assert_int_equal(
            cf_csv_read("/nonexistent.csv", req, idx, NULL, NULL, row_cb, idx, err, sizeof(err)),
            -1);
        assert_non_null(strstr(err, "cannot open"));
}

/* Read every line the way replay does (compact when the reader asks). */
static int read_all(cf_linereader *lr, char lines[][16], uint64_t *dropped, size_t *lens, int max)
{
        int n = 0, r;
        const char *l;
        size_t len;
        while ((r = cf_linereader_next(lr, &l, &len)) != 0) {
                assert_true(r > 0);
                if (r == 2) {
                        cf_linereader_compact(lr);
                        continue;
                }
                assert_true(n < max);
                snprintf(lines[n], 16, "%.*s", (int)(len < 15 ? len : 15), l);
                lens[n] = len;
                dropped[n++] = lr->dropped;
        }
        return n;
}

static void test_linereader(void **s)
{
        (void)s;
        /* a '\r' stays in its line: the line is the message, byte for byte */
        const char *text = "a\r\n\nbb\nlast";
        FILE *f = fmemopen((void *)text, strlen(text), "r");
        cf_linereader lr;
        cf_linereader_init(&lr, f, 0);
        const char *l;
        size_t n;
        const char *want[] = {"a\r", "", "bb", "last"};
        for (int i = 0; i < 4; i++) {
                assert_int_equal(cf_linereader_next(&lr, &l, &n), 1);
                assert_int_equal(n, strlen(want[i]));
                assert_memory_equal(l, want[i], n);
                assert_int_equal(lr.line_no, i + 1);
        }
        assert_int_equal(cf_linereader_next(&lr, &l, &n), 0);
        cf_linereader_free(&lr);
        fclose(f);
}

/* Lines over the maximum are cut to it and the rest is counted, not kept:
 * exactly max bytes is whole; a 17 MiB line after a short one (the buffer
 * fills, the reader asks to compact) costs no more than the buffer. */
static void test_linereader_max(void **s)
{
        (void)s;
        char lines[8][16];
        uint64_t dropped[8];
        size_t lens[8];
        const char *text = "abcd\nabcdefgh\nxy\nabcdef";
        FILE *f = fmemopen((void *)text, strlen(text), "r");
        cf_linereader lr;
        cf_linereader_init(&lr, f, 4);
        assert_int_equal(read_all(&lr, lines, dropped, lens, 8), 4);
        assert_string_equal(lines[0], "abcd");
        assert_int_equal(dropped[0], 0);
        assert_string_equal(lines[1], "abcd");
        assert_int_equal(dropped[1], 4);
        assert_string_equal(lines[2], "xy");
        assert_int_equal(dropped[2], 0);
        assert_string_equal(lines[3], "abcd"); /* the last line, no '\n', cut too */
        assert_int_equal(dropped[3], 2);
        cf_linereader_free(&lr);
        fclose(f);

        size_t big = 17u << 20, tot = big + 16;
        char *t = malloc(tot);
        memcpy(t, "x\n", 2);
        memset(t + 2, 'y', big);
        memcpy(t + 2 + big, "\nzz\n", 4);
        f = fmemopen(t, big + 6, "r");
        cf_linereader_init(&lr, f, 1024);
        assert_int_equal(read_all(&lr, lines, dropped, lens, 8), 3);
        assert_string_equal(lines[0], "x");
        assert_int_equal(lens[1], 1024);
        assert_int_equal(dropped[1], big - 1024);
        assert_string_equal(lines[2], "zz");
        assert_true(lr.cap <= (16u << 20)); /* the 17 MiB line was never held */
        cf_linereader_free(&lr);
        fclose(f);
        free(t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_json_escaping),
            cmocka_unit_test(test_fmt_num),
            cmocka_unit_test(test_fmt_num_same),
            cmocka_unit_test(test_fmt_time),
            cmocka_unit_test(test_memeq),
            cmocka_unit_test(test_arena),
            cmocka_unit_test(test_config_map),
            cmocka_unit_test(test_csv),
            cmocka_unit_test(test_linereader),
            cmocka_unit_test(test_linereader_max),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
