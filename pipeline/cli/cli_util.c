/*
 * cli_util.c - helpers shared by the subcommands.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/core/buf.h"
#include "pipeline/cli/cli.h"

int cf_print_summary(FILE *f, const cf_counters *k, const cf_rule_set *rules, double elapsed_s,
                     const char *extra)
{
        cf_buf b = {0};
        cf_buf_printf(&b,
                      "{\"in\":%llu,\"processed\":%llu,\"duplicates\":%llu,\"dead_lettered\":%llu,"
                      "\"flagged\":%llu,\"flags_by_rule\":{",
                      (unsigned long long)k->in, (unsigned long long)k->processed,
                      (unsigned long long)k->duplicates, (unsigned long long)k->dead_lettered,
                      (unsigned long long)k->flagged);
        for (int i = 0; i < rules->n; i++)
                cf_buf_printf(&b, "%s\"%s\":%llu", i ? "," : "", rules->names[i],
                              (unsigned long long)k->flags_by_rule[i]);
        cf_buf_puts(&b, "},\"elapsed_s\":");
        cf_json_num(&b, (double)(int64_t)(elapsed_s * 1000) / 1000);
        cf_buf_puts(&b, ",\"records_per_s\":");
        cf_json_num(&b, elapsed_s > 0 ? (double)(int64_t)(k->in / elapsed_s) : 0);
        if (k->outcomes_learnt || k->outcomes_dead_lettered)
                cf_buf_printf(&b, ",\"outcomes_learnt\":%llu,\"outcomes_dead_lettered\":%llu",
                              (unsigned long long)k->outcomes_learnt,
                              (unsigned long long)k->outcomes_dead_lettered);
        cf_buf_printf(&b, ",\"invariant_ok\":%s",
                      k->in == k->processed + k->duplicates + k->dead_lettered ? "true" : "false");
        if (extra && *extra) cf_buf_printf(&b, ",%s", extra);
        cf_buf_puts(&b, "}\n");
        int rc = fwrite(b.p, 1, b.len, f) == b.len && fflush(f) == 0 ? 0 : -1;
        cf_buf_free(&b);
        return rc;
}

FILE *cf_open_out(const char *path, char *errstr, size_t errstr_size)
{
        if (!strcmp(path, "-")) return stdout;
        FILE *f = fopen(path, "wb");
        if (!f)
                snprintf(errstr, errstr_size, "cannot open %s for writing: %s", path,
                         strerror(errno));
        return f;
}

static int opt_bad(const char *cmd, const char *name, const char *v, const char *what)
{
        fprintf(stderr, "customsflow %s: --%s: '%s' is not %s\n", cmd, name, v, what);
        return -1;
}

int cf_opt_int(const char *cmd, const char *name, const char *v, long long min, long long max,
               long long *out)
{
        char *end, what[96];
        errno = 0;
        long long x = strtoll(v, &end, 10);
        snprintf(what, sizeof(what), "an integer in [%lld, %lld]", min, max);
        if (errno || end == v || *end || x < min || x > max) return opt_bad(cmd, name, v, what);
        *out = x;
        return 0;
}

int cf_opt_u64(const char *cmd, const char *name, const char *v, uint64_t min, uint64_t max,
               uint64_t *out)
{
        char *end, what[96];
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        snprintf(what, sizeof(what), "an integer in [%llu, %llu]", (unsigned long long)min,
                 (unsigned long long)max);
        /* strtoull accepts "-1" (as 2^64-1) and leading spaces: refuse both */
        if (errno || end == v || *end || *v < '0' || *v > '9' || x < min || x > max)
                return opt_bad(cmd, name, v, what);
        *out = x;
        return 0;
}

int cf_opt_double(const char *cmd, const char *name, const char *v, double min, double max,
                  double *out)
{
        char *end, what[96];
        errno = 0;
        double x = strtod(v, &end);
        snprintf(what, sizeof(what), "a number in [%g, %g]", min, max);
        if (errno || end == v || *end || !isfinite(x) || x < min || x > max)
                return opt_bad(cmd, name, v, what);
        *out = x;
        return 0;
}

int cf_opt_no_args(const char *cmd, int argc, char **argv)
{
        if (optind >= argc) return 0;
        fprintf(stderr, "customsflow %s: unexpected argument '%s'\n", cmd, argv[optind]);
        return -1;
}
