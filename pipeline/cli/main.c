/*
 * main.c - `customsflow` entry point: subcommand dispatch.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/cli/cli.h"
#include "pipeline/core/log.h"

static void usage(FILE *f)
{
        fprintf(f,
                "customsflow %s - stream processor for customs declarations\n\n"
                "usage: customsflow <command> [options]   (customsflow <command> --help)\n\n"
                "commands:\n"
                "  run -c config.yaml    the Kafka service\n"
                "  demo [--count N] [--rate R]\n"
                "                        embedded broker + generator + pipeline, live view\n"
                "  replay --in FILE|-    the same stages over JSONL files\n"
                "  gen [--seed S] [--count N] [--out FILE] [--truth FILE]\n"
                "                        seeded declaration generator with ground truth\n"
                "  bench [--count N] [--threads N] [--kafka] [--report DIR]\n"
                "                        throughput: yardstick, stages, replay at 1..N threads\n"
                "  check-config -c FILE  validate config, rules and reference data\n"
                "  console [-c FILE]     the analysts' review console (web, case store)\n"
                "  learn-eval --train F --test F [--format kcs|jsonl]\n"
                "                        the risk model learnt from outcomes: P@1/5/10 %%, AUC\n"
                "  --version             print the version\n",
                CF_VERSION);
}

/* Commands that read the configuration (and the CUSTOMSFLOW_* overrides), unless asked
 * for their help. */
static bool reads_config(const char *cmd, int argc, char **argv)
{
        static const char *const with[] = {"run", "demo", "replay", "check-config", "console"};
        for (int i = 2; i < argc; i++)
                if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return false;
        for (size_t i = 0; i < sizeof with / sizeof with[0]; i++)
                if (!strcmp(cmd, with[i])) return true;
        return false;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        const char *cmd = argv[1];
        if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
                printf("customsflow %s\n", CF_VERSION);
                return 0;
        }
        if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
                usage(stdout);
                return 0;
        }
        static const struct {
                const char *name;
                int (*fn)(int, char **);
        } cmds[] = {
            {"run", cf_cmd_run},         {"demo", cf_cmd_demo},
            {"replay", cf_cmd_replay},   {"bench", cf_cmd_bench},
            {"gen", cf_cmd_gen},         {"check-config", cf_cmd_check_config},
            {"console", cf_cmd_console}, {"learn-eval", cf_cmd_learn_eval},
        };
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
                if (strcmp(cmd, cmds[i].name)) continue;
                if (reads_config(cmd, argc, argv)) {
                        char err[512];
                        if (cf_cli_check_env(err, sizeof err)) {
                                cf_log(CF_LOG_ERROR, "config", "%s", err); /* JSON, as run's */
                                return 1;
                        }
                }
                return cmds[i].fn(argc - 1, argv + 1);
        }
        fprintf(stderr, "customsflow: unknown command '%s'\n\n", cmd);
        usage(stderr);
        return 2;
}
