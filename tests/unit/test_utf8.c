/*
 * test_utf8.c - core/utf8 (one validator: simdjson's and the scalar pass agree,
 * the error position, cuts on character boundaries, terminal escaping) and
 * logs written to a terminal (control characters escaped).
 */
#define _XOPEN_SOURCE 700
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "pipeline/core/log.h"
#include "pipeline/core/utf8.h"

typedef struct {
        const char *s;
        size_t n, err;
} sample;
#define S(lit, err)                                                                                \
        {                                                                                          \
                lit, sizeof(lit) - 1, err                                                          \
        }

static const sample samples[] = {
    S("", 0),
    S("plain ascii text, long enough", 29),
    S("caf\xc3\xa9", 5),
    S("\xe2\x82\xac euro", 8),
    S("\xf0\x9f\x93\xa6 box", 8),
    S("ab\xc3", 2),            /* cut short */
    S("ab\xc0\xaf", 2),        /* overlong '/' */
    S("ab\xe0\x80\xaf", 2),    /* overlong, 3 bytes */
    S("x\xed\xa0\x80y", 1),    /* U+D800, a surrogate */
    S("x\xf4\x90\x80\x80", 1), /* past U+10FFFF */
    S("12345678\xff", 8),      /* after an all-ASCII word */
    S("\x80", 0),
    S("ok\xc3\xa9\xc3", 4),
};

static void test_validators_agree(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(samples) / sizeof(*samples); i++) {
                const sample *t = &samples[i];
                assert_int_equal(cf_utf8_error_at(t->s, t->n), t->err);
                assert_int_equal(cf_utf8_valid(t->s, t->n), t->err == t->n);
        }
}

static void test_prefix_and_sanitize(void **state)
{
        (void)state;
        const char *e = "a\xc3\xa9\xe2\x82\xac"; /* a é € : 1 + 2 + 3 bytes */
        assert_int_equal(cf_utf8_prefix(e, 6, 6), 6);
        assert_int_equal(cf_utf8_prefix(e, 6, 5), 3); /* inside € */
        assert_int_equal(cf_utf8_prefix(e, 6, 4), 3);
        assert_int_equal(cf_utf8_prefix(e, 6, 2), 1); /* inside é */
        assert_int_equal(cf_utf8_prefix(e, 6, 1), 1);
        assert_int_equal(cf_utf8_prefix(e, 6, 0), 0);
        char s[] = "ok\xc3(\xed\xa0\x80)\xff";
        cf_utf8_sanitize(s, strlen(s));
        assert_string_equal(s, "ok?("
                               "???"
                               ")?"); /* split: "??)" is a trigraph */
        assert_true(cf_utf8_valid(s, strlen(s)));
}

static void test_term_escape(void **state)
{
        (void)state;
        /* a title, a clear screen, a C1 CSI, DEL, invalid UTF-8; é stays */
        const char in[] = "id\x1b]0;pwned\x07\x1b[2J\xc2\x9b"
                          "31m\x7f\xff-\xc3\xa9";
        cf_buf b = {0};
        cf_term_escape(&b, in, sizeof(in) - 1);
        cf_buf_putc(&b, '\0');
        assert_string_equal(b.p, "id\\x1b]0;pwned\\x07\\x1b[2J\\xc2\\x9b31m\\x7f\\xff-\xc3\xa9");
        cf_buf_free(&b);
}

/* A log line to a terminal: JSON escapes C0; DEL and C1 are escaped too. */
static void test_log_to_tty(void **state)
{
        (void)state;
        int m = posix_openpt(O_RDWR | O_NOCTTY);
        assert_true(m >= 0);
        assert_int_equal(grantpt(m), 0);
        assert_int_equal(unlockpt(m), 0);
        int s = open(ptsname(m), O_RDWR | O_NOCTTY);
        assert_true(s >= 0);
        int saved = dup(2);
        dup2(s, 2);
        cf_log(CF_LOG_WARN, "test",
               "id \x1b]0;x\x07 \xc2\x9b"
               "2J \x7f end");
        dup2(saved, 2);
        close(saved);
        char buf[1024];
        ssize_t n = read(m, buf, sizeof(buf) - 1);
        assert_true(n > 0);
        buf[n] = '\0';
        assert_non_null(strstr(buf, "id \\u001b]0;x\\u0007 \\u009b2J \\u007f end"));
        for (ssize_t i = 0; i < n; i++) /* nothing a terminal would act on but the newline */
                assert_true(buf[i] == '\n' || buf[i] == '\r' ||
                            ((unsigned char)buf[i] >= 0x20 && buf[i] != 0x7f));
        close(s);
        close(m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_validators_agree),
            cmocka_unit_test(test_prefix_and_sanitize),
            cmocka_unit_test(test_term_escape),
            cmocka_unit_test(test_log_to_tty),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
