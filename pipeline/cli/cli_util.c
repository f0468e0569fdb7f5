/*
 * cli_util.c - helpers shared by the subcommands.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/core/buf.h"
#include "console/console.h"
#include "pipeline/cli/cli.h"
#include "pipeline/cli/replay_epochs.h"
#include "pipeline/core/log.h"
#include "pipeline/kafka/service.h"

/* VmHWM, not getrusage's ru_maxrss: Linux carries a process's high-water mark across
 * exec, so a child forked by a large parent (customsflow bench holds the whole input
 * in memory) reported the parent's resident set as its own. VmHWM belongs to the
 * address space, which exec replaces. */
double cf_peak_rss_mb(void)
{
        FILE *f = fopen("/proc/self/status", "r");
        if (!f) return -1;
        char line[256];
        double mb = -1;
        while (fgets(line, sizeof line, f))
                if (!strncmp(line, "VmHWM:", 6)) {
                        mb = strtod(line + 6, NULL) / 1024.0; /* kB */
                        break;
                }
        fclose(f);
        return mb;
}

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

extern char **environ;

/* What name (CUSTOMSFLOW_..., without "=value") is to customsflow: CF_ENV_KEY when read. */
static cf_env_match env_match(const char *name)
{
        static const char *const exact[] = {"CUSTOMSFLOW_CONFIG", "CUSTOMSFLOW_WORKERS",
                                            "CUSTOMSFLOW_BENCH_KAFKA"};
        for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
                if (!strcmp(name, exact[i])) return CF_ENV_KEY;
        /* any librdkafka property: librdkafka refuses one it does not know */
        if (!strncmp(name, "CUSTOMSFLOW_KAFKA_", 18)) return CF_ENV_KEY;
        cf_env_match m[] = {cf_service_env_match(name), cf_replay_env_match(name),
                            cf_console_env_match(name)};
        cf_env_match best = CF_ENV_OTHER;
        for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
                if (m[i] > best) best = m[i];
        return best;
}

int cf_cli_check_env(char *errstr, size_t errstr_size)
{
        for (char **e = environ; e && *e; e++) {
                if (strncmp(*e, "CUSTOMSFLOW_", 12)) continue;
                const char *eq = strchr(*e, '=');
                size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
                char name[256];
                if (n >= sizeof name) n = sizeof name - 1;
                memcpy(name, *e, n);
                name[n] = '\0';
                cf_env_match m = env_match(name);
                if (m == CF_ENV_KEY) continue;
                if (m == CF_ENV_SECTION) {
                        /* as an unknown key in the file: an override that would be ignored */
                        snprintf(
                            errstr, errstr_size,
                            "environment: %s is not a configuration key (CUSTOMSFLOW_<SECTION>_"
                            "<KEY>, dots as underscores; `customsflow check-config --describe` "
                            "lists the keys)",
                            name);
                        return -1;
                }
                cf_log(CF_LOG_WARN, "config",
                       "environment: %s is not read by customsflow (ignored): no section of that "
                       "name",
                       name);
        }
        return 0;
}
