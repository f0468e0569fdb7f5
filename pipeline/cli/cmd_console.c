/*
 * cmd_console.c - `customsflow console`: the analysts' review console
 * (console/), and `customsflow console user add|passwd|disable|enable`.
 */
#include <getopt.h>
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

static void usage(FILE *f)
{
        fprintf(
            f,
            "usage: customsflow console [-c config.yaml] [--db FILE] [--listen HOST:PORT]\n"
            "                           [--load-flags FILE] [--load-stats FILE] [--load-only]\n"
            "       customsflow console user add|passwd|disable|enable NAME\n"
            "                           [--role viewer|analyst|supervisor] [-c config.yaml]\n"
            "                           [--db FILE]\n\n"
            "The analysts' review console: a case store (SQLite), web pages and a JSON API\n"
            "on http://<console.listen>/ (default 127.0.0.1:8080), verdicts published to\n"
            "topics.outcomes. With a broker configured (kafka.bootstrap.servers) it consumes\n"
            "topics.flags and topics.stats as consumer group console.group_id.\n\n"
            "  -c, --config FILE   config (the `console:` section; see check-config --describe)\n"
            "  --db FILE           case store (overrides console.db)\n"
            "  --listen HOST:PORT  overrides console.listen\n"
            "  --load-flags FILE   load `replay --flags` output (JSONL, '-' = stdin) first;\n"
            "                      Kafka ingestion is then off unless --ingest\n"
            "  --load-stats FILE   load `replay --stats` output first\n"
            "  --load-only         exit after loading\n"
            "  --ingest            consume from Kafka even after --load-*\n"
            "  -h, --help          this help\n\n"
            "user add|passwd read the password from standard input (at least 8 characters;\n"
            "prompted without echo on a terminal). Roles: viewer reads; analyst also\n"
            "reviews, comments and gives verdicts; supervisor also assigns to others,\n"
            "re-opens closed cases and acts in bulk.\n");
}

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
                usage(stderr);
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
        static const struct option lo[] = {{"config", required_argument, 0, 'c'},
                                           {"db", required_argument, 0, 'd'},
                                           {"listen", required_argument, 0, 'l'},
                                           {"load-flags", required_argument, 0, 'f'},
                                           {"load-stats", required_argument, 0, 's'},
                                           {"load-only", no_argument, 0, 'o'},
                                           {"ingest", no_argument, 0, 'i'},
                                           {"role", required_argument, 0, 'r'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
        const char *path = NULL, *flags = NULL, *stats = NULL, *role = NULL;
        cf_console_opts o = {.ingest = -1};
        bool load_only = false, ingest = false;
        int ch;
        optind = 1;
        while ((ch = getopt_long(argc, argv, "+c:h", lo, NULL)) != -1) {
                switch (ch) {
                case 'c':
                        path = optarg;
                        break;
                case 'd':
                        o.db = optarg;
                        break;
                case 'l':
                        o.listen = optarg;
                        break;
                case 'f':
                        flags = optarg;
                        break;
                case 's':
                        stats = optarg;
                        break;
                case 'o':
                        load_only = true;
                        break;
                case 'i':
                        ingest = true;
                        break;
                case 'r':
                        role = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc && !strcmp(argv[optind], "user")) {
                /* options may follow the user's name too */
                int n = argc - optind - 1;
                char **rest = argv + optind + 1;
                char *pos[2];
                int np = 0;
                for (int i = 0; i < n; i++) {
                        if (!strcmp(rest[i], "--role") && i + 1 < n)
                                role = rest[++i];
                        else if ((!strcmp(rest[i], "-c") || !strcmp(rest[i], "--config")) &&
                                 i + 1 < n)
                                path = rest[++i];
                        else if (!strcmp(rest[i], "--db") && i + 1 < n)
                                o.db = rest[++i];
                        else if (np < 2 && rest[i][0] != '-')
                                pos[np++] = rest[i];
                        else
                                return usage(stderr), 2;
                }
                return user_cmd(np, pos, path, o.db, role);
        }
        if (cf_opt_no_args("console", argc, argv)) return 2;
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
