/*
 * cmd_console.c - `customsflow console`: the analysts' review console
 * (console/), and `customsflow console user add|passwd|disable|enable`.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "console/console.h"
#include "pipeline/cli/cli.h"
#include "pipeline/core/config.h"
#include "pipeline/core/log.h"

/* The one console of this process, for the signal handler (sets a flag). */
static cf_console *volatile cf_console_proc;

static void on_stop(int sig)
{
        (void)sig;
        if (cf_console_proc) cf_console_stop(cf_console_proc);
}

typedef struct console_cli {
        cf_console_opts o;
        const char *config, *flags, *stats, *role;
        int load_only, ingest;
} console_cli;

static const cf_opt console_rows[] = {
    CF_OPT_ROW_STR("config", 'c', console_cli, config, "FILE",
                   "config (the `console:` section; see check-config --describe)"),
    CF_OPT_ROW_STR("db", 0, console_cli, o.db, "FILE", "case store (overrides console.db)"),
    CF_OPT_ROW_STR("listen", 0, console_cli, o.listen, "HOST:PORT", "overrides console.listen"),
    CF_OPT_ROW_STR("load-flags", 0, console_cli, flags, "FILE",
                   "load `replay --flags` output (JSONL, '-' = stdin) first; Kafka ingestion "
                   "is then off unless --ingest"),
    CF_OPT_ROW_STR("load-stats", 0, console_cli, stats, "FILE",
                   "load `replay --stats` output first"),
    CF_OPT_ROW_ON("load-only", console_cli, load_only, "exit after loading"),
    CF_OPT_ROW_ON("ingest", console_cli, ingest, "consume from Kafka even after --load-*"),
    CF_OPT_ROW_STR("role", 0, console_cli, role, "ROLE", "user add: viewer, analyst or supervisor"),
    {0},
};

static const cf_opts_spec console_spec = {
    .prog = "customsflow console",
    .about = "       customsflow console user add|passwd|disable|enable NAME [--role ROLE]\n"
             "                           [-c FILE] [--db FILE]\n\n"
             "The analysts' review console: a case store (SQLite), web pages and a JSON API\n"
             "on http://<console.listen>/ (default 127.0.0.1:8080), verdicts published to\n"
             "topics.outcomes. With a broker configured (kafka.bootstrap.servers) it consumes\n"
             "topics.flags and topics.stats as consumer group console.group_id.\n",
    .epilog = "user add|passwd read the password from standard input (at least 8 characters;\n"
              "prompted without echo on a terminal). Roles: viewer reads; analyst also\n"
              "reviews, comments and gives verdicts; supervisor also assigns to others,\n"
              "re-opens closed cases and acts in bulk.\n",
    .opts = console_rows,
    .args = true, /* user add|passwd|disable|enable NAME */
};

static int read_password(char *pw, size_t n)
{
        struct termios old, quiet;
        bool tty = isatty(0) && tcgetattr(0, &old) == 0;
        if (tty) {
                fprintf(stderr, "password: ");
                quiet = old;
                quiet.c_lflag &= ~(tcflag_t)ECHO;
                tcsetattr(0, TCSANOW, &quiet);
        }
        char *ok = fgets(pw, (int)n, stdin);
        if (tty) {
                tcsetattr(0, TCSANOW, &old);
                fprintf(stderr, "\n");
        }
        if (!ok) return -1;
        pw[strcspn(pw, "\r\n")] = '\0';
        return 0;
}

static int user_cmd(int argc, char **argv, const char *path, const char *db, const char *role)
{
        if (argc != 2) {
                fprintf(stderr, "customsflow console: user add|passwd|disable|enable NAME\n");
                cf_opts_synopsis(&console_spec, stderr);
                return 2;
        }
        char err[1024], pw[1100] = "";
        cf_config cfg;
        cf_console_cfg cc;
        if (cf_config_load(&cfg, path, err, sizeof err) ||
            cf_console_cfg_load(&cc, &cfg, err, sizeof err)) {
                fprintf(stderr, "customsflow console: %s\n", err);
                return 1;
        }
        bool needs_pw = !strcmp(argv[0], "add") || !strcmp(argv[0], "passwd");
        int rc = 0;
        if (needs_pw && read_password(pw, sizeof pw)) {
                fprintf(stderr, "customsflow console: no password on standard input\n");
                rc = 1;
        }
        if (!rc &&
            cf_console_user(&cc, db ? db : cc.db, argv[0], argv[1], role, pw, err, sizeof err)) {
                fprintf(stderr, "customsflow console: user %s: %s\n", argv[0], err);
                rc = 1;
        }
        if (!rc) fprintf(stderr, "customsflow console: user %s: %s done\n", argv[1], argv[0]);
        memset(pw, 0, sizeof pw);
        cf_console_cfg_free(&cc);
        cf_config_free(&cfg);
        return rc;
}

int cf_cmd_console(int argc, char **argv)
{
        console_cli cli = {.o = {.ingest = -1}};
        int argi = argc;
        int prc = cf_opts_main(&console_spec, argc, argv, &cli, &argi);
        if (prc) return prc > 0 ? 0 : 2;
        /* options may stand anywhere: cf_opts_parse left the words last */
        if (argi < argc && !strcmp(argv[argi], "user"))
                return user_cmd(argc - argi - 1, argv + argi + 1, cli.config, cli.o.db, cli.role);
        if (argi < argc) {
                fprintf(stderr, "customsflow console: unexpected argument '%s'\n", argv[argi]);
                return 2;
        }
        cf_console_opts o = cli.o;
        const char *path = cli.config, *flags = cli.flags, *stats = cli.stats;
        bool load_only = cli.load_only, ingest = cli.ingest;
        if (flags || stats) o.ingest = ingest ? 1 : 0;
        char err[1024];
        cf_config cfg;
        if (cf_config_load(&cfg, path, err, sizeof err)) {
                fprintf(stderr, "customsflow console: %s\n", err);
                return 1;
        }
        cf_console *c = cf_console_new(&cfg, &o, err, sizeof err);
        int rc = c ? 0 : 1;
        if (!c) fprintf(stderr, "customsflow console: %s\n", err);
        if (!rc && flags && cf_console_load_file(c, flags, 'f', err, sizeof err)) rc = 1;
        if (!rc && stats && cf_console_load_file(c, stats, 's', err, sizeof err)) rc = 1;
        if (!rc && !load_only && cf_console_start(c, err, sizeof err)) rc = 1;
        if (rc && c) fprintf(stderr, "customsflow console: %s\n", err);
        if (!rc && !load_only) {
                cf_console_proc = c;
                struct sigaction sa = {0};
                sa.sa_handler = on_stop;
                sigaction(SIGTERM, &sa, NULL);
                sigaction(SIGINT, &sa, NULL);
                signal(SIGPIPE, SIG_IGN);
                fprintf(stderr, "customsflow console: %s\n", cf_console_url(c));
                while (!cf_console_stopping(c))
                        usleep(100 * 1000);
                cf_log(CF_LOG_INFO, "console", "stopping");
        }
        cf_console_proc = NULL;
        cf_console_destroy(c);
        cf_config_free(&cfg);
        return rc;
}
