/*
 * test_opts.c - core/opts: the table-driven option parser every subcommand and
 * bench driver uses (unknown option, missing value, bad number, out of range,
 * the unexpected-argument check, required options, --help listing every option).
 * Seen failing on mutants of opts.c: no upper bound for integers, no unexpected-argument
 * check, no required check, u64 accepting "-1", --help skipping options with a short name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pipeline/core/opts.h"

typedef struct t_opts {
        const char *config, *in;
        int on, progress, threads;
        long long batch;
        uint64_t count, seed;
        double rate;
        int64_t max_bytes;
        int parity;
} t_opts;

static int parse_even(const char *v, void *dst)
{
        int x = atoi(v);
        if (x % 2) return -1;
        *(int *)dst = x;
        return 0;
}

static const cf_opt rows[] = {
    CF_OPT_ROW_STR("config", 'c', t_opts, config, "FILE", "config file"),
    {.name = "in",
     .kind = CF_OPT_STR,
     .off = offsetof(t_opts, in),
     .arg = "FILE",
     .help = "input",
     .required = true},
    CF_OPT_ROW_ON("on", t_opts, on, "switch on"),
    CF_OPT_ROW_OFF("no-progress", t_opts, progress, "no progress line"),
    CF_OPT_ROW_INT("threads", t_opts, threads, 1, 8, "N", "threads (default 1)"),
    CF_OPT_ROW_LL("batch", t_opts, batch, 1, 1 << 20, "N", "records per batch"),
    CF_OPT_ROW_U64("count", t_opts, count, 1, 0, "N", "records"),
    CF_OPT_ROW_U64("seed", t_opts, seed, 0, 1000, "S", "seed"),
    CF_OPT_ROW_DOUBLE("rate", t_opts, rate, 0, 1, "R", "a share (default 0.5)"),
    {.name = "max-bytes",
     .kind = CF_OPT_SIZE,
     .off = offsetof(t_opts, max_bytes),
     .arg = "SIZE",
     .help = "a size",
     .lo = 1},
    CF_OPT_ROW_FN("even", t_opts, parity, parse_even, "an even number", "N",
                  "an even number, with a long help text that the help printer must wrap "
                  "at the right margin without losing a word of it"),
    {0},
};
static const cf_opts_spec spec = {.prog = "t", .about = "About t.\n", .opts = rows};

/* Parse the words of line (space-separated, at most 32) into *o; the return value. */
static int parse(const char *line, t_opts *o, char *err, size_t n)
{
        static char buf[512];
        char *argv[33] = {"t"};
        int argc = 1;
        snprintf(buf, sizeof buf, "%s", line);
        for (char *w = strtok(buf, " "); w && argc < 32; w = strtok(NULL, " "))
                argv[argc++] = w;
        argv[argc] = NULL;
        *o = (t_opts){.progress = 1, .threads = 1, .rate = 0.5};
        err[0] = '\0';
        return cf_opts_parse(&spec, argc, argv, o, NULL, err, n);
}

static void test_values(void **state)
{
        (void)state;
        t_opts o;
        char err[256];
        assert_int_equal(parse("--in x -c cfg --on --no-progress --threads 8 --batch 4096 "
                               "--count 18446744073709551615 --seed 0 --rate 1 "
                               "--max-bytes 4GiB --even 6",
                               &o, err, sizeof err),
                         0);
        assert_string_equal(o.in, "x");
        assert_string_equal(o.config, "cfg");
        assert_int_equal(o.on, 1);
        assert_int_equal(o.progress, 0);
        assert_int_equal(o.threads, 8);
        assert_int_equal(o.batch, 4096);
        assert_true(o.count == UINT64_MAX);
        assert_true(o.seed == 0);
        assert_true(o.rate == 1.0);
        assert_true(o.max_bytes == 4LL << 30);
        assert_int_equal(o.parity, 6);
        /* options after a positional word are still options; --config=V too */
        assert_int_equal(parse("--config=a --in=b", &o, err, sizeof err), 0);
        assert_string_equal(o.config, "a");
        assert_string_equal(o.in, "b");
        /* defaults are the caller's */
        assert_int_equal(parse("--in x", &o, err, sizeof err), 0);
        assert_int_equal(o.threads, 1);
        assert_true(o.rate == 0.5);
}

static void test_errors(void **state)
{
        (void)state;
        static const struct {
                const char *line;
                int rc;
                const char *msg;
        } cases[] = {
            {"--in x --bogus", -2, "t: '--bogus' is not an option"},
            {"--in x -z", -2, "t: -z is not an option"},
            {"--in x --threads", -2, "t: --threads needs a value"},
            {"--in x -c", -2, "t: --config needs a value"},
            {"--in x --on=1", -2, "t: --on takes no value"},
            {"--in x stray", -2, "t: unexpected argument 'stray'"},
            {"--threads 2", -2, "t: --in FILE is required"},
            {"--in x --threads abc", -1, "t: --threads: 'abc' is not an integer in [1, 8]"},
            {"--in x --threads 9", -1, "t: --threads: '9' is not an integer in [1, 8]"},
            {"--in x --threads 0", -1, "t: --threads: '0' is not an integer in [1, 8]"},
            {"--in x --threads 2x", -1, "t: --threads: '2x' is not an integer in [1, 8]"},
            {"--in x --batch 99999999999999999999", -1,
             "t: --batch: '99999999999999999999' is not an integer in [1, 1048576]"},
            {"--in x --count -1", -1,
             "t: --count: '-1' is not an integer in [1, 18446744073709551615]"},
            {"--in x --count 0", -1,
             "t: --count: '0' is not an integer in [1, 18446744073709551615]"},
            {"--in x --seed 1001", -1, "t: --seed: '1001' is not an integer in [0, 1000]"},
            {"--in x --rate 2", -1, "t: --rate: '2' is not a number in [0, 1]"},
            {"--in x --rate nan", -1, "t: --rate: 'nan' is not a number in [0, 1]"},
            {"--in x --rate 0.5.", -1, "t: --rate: '0.5.' is not a number in [0, 1]"},
            {"--in x --max-bytes lots", -1,
             "t: --max-bytes: 'lots' is not a size like 512MiB or 4GiB"},
            {"--in x --even 3", -1, "t: --even: '3' is not an even number"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                t_opts o;
                char err[256];
                int rc = parse(cases[i].line, &o, err, sizeof err);
                if (rc != cases[i].rc || strcmp(err, cases[i].msg))
                        fail_msg("'%s': %d '%s', want %d '%s'", cases[i].line, rc, err, cases[i].rc,
                                 cases[i].msg);
        }
}

static void test_help(void **state)
{
        (void)state;
        t_opts o;
        char err[256];
        assert_int_equal(parse("--in x --help", &o, err, sizeof err), 1);
        assert_int_equal(parse("-h", &o, err, sizeof err), 1);
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        cf_opts_usage(&spec, f);
        fclose(f);
        /* the required option unbracketed in the usage line, the others bracketed */
        assert_non_null(strstr(text, "usage: t --in FILE [-c FILE]") == text ? text : NULL);
        assert_non_null(strstr(text, "[--no-progress]"));
        assert_non_null(strstr(text, "About t.\n"));
        for (const cf_opt *r = rows; r->name; r++) {
                char want[128];
                snprintf(want, sizeof want, "--%s%s%s", r->name, r->arg ? " " : "",
                         r->arg ? r->arg : "");
                if (!strstr(text, want)) fail_msg("--help lacks '%s':\n%s", want, text);
                /* its help follows it */
                char first[32];
                sscanf(r->help, "%31s", first);
                if (!strstr(strstr(text, want), first)) fail_msg("--%s: no help", r->name);
        }
        assert_non_null(strstr(text, "  -c, --config FILE"));
        assert_non_null(strstr(text, "  -h, --help"));
        assert_non_null(strstr(text, "this help"));
        /* wrapped at the margin, every word kept */
        for (char *l = text; *l;) {
                char *e = strchr(l, '\n');
                size_t w = e ? (size_t)(e - l) : strlen(l);
                if (w > 79) fail_msg("a line of %zu columns: %.*s", w, (int)w, l);
                l += w + (e != NULL);
        }
        char flat[4096];
        size_t k = 0;
        for (const char *c = text; *c && k + 1 < sizeof flat; c++)
                if (!(*c == ' ' || *c == '\n') || (k && flat[k - 1] != ' ')) /* one space */
                        flat[k++] = *c == '\n' ? ' ' : *c;
        flat[k] = '\0';
        assert_non_null(strstr(flat, "--even N an even number, with a long help text that the "
                                     "help printer must wrap at the right margin without "
                                     "losing a word of it -h, --help this help"));
        free(text);
}

static void test_positional(void **state)
{
        (void)state;
        static const cf_opt r2[] = {CF_OPT_ROW_STR("db", 0, t_opts, config, "FILE", "db"), {0}};
        static const cf_opts_spec s2 = {.prog = "t2", .opts = r2, .args = true};
        char *argv[] = {"t2", "--db", "x", "user", "add", "--db", "y", NULL};
        t_opts o = {0};
        int argi = 0;
        char err[128];
        assert_int_equal(cf_opts_parse(&s2, 7, argv, &o, &argi, err, sizeof err), 0);
        /* the arguments, after the options wherever they stood */
        assert_int_equal(argi, 5);
        assert_string_equal(argv[5], "user");
        assert_string_equal(argv[6], "add");
        assert_string_equal(o.config, "y");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_values),
            cmocka_unit_test(test_errors),
            cmocka_unit_test(test_help),
            cmocka_unit_test(test_positional),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
