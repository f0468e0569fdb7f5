/*
 * cmd_run.c - `customsflow run`: the Kafka service in the foreground, with
 * SIGTERM/SIGINT for a graceful stop and SIGHUP to reload rules.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/cli/cli.h"
#include "pipeline/core/config.h"
#include "pipeline/core/log.h"
#include "pipeline/kafka/service.h"

/* The one service of this process, for the signal handlers (pipeline/ owns
 * process-wide state; the handlers only set atomic flags). */
static cf_service *volatile cf_run_svc;

static void on_stop_signal(int sig)
{
        (void)sig;
        if (cf_run_svc) cf_service_stop(cf_run_svc);
}

static void on_hup(int sig)
{
        (void)sig;
        if (cf_run_svc) cf_service_reload(cf_run_svc);
}

void cf_install_hup_stops(void)
{
        struct sigaction sa = {0};
        sa.sa_handler = on_stop_signal;
        sigaction(SIGHUP, &sa, NULL);
}

void cf_install_signals(cf_service *s)
{
        cf_run_svc = s;
        struct sigaction sa = {0};
        sa.sa_handler = on_stop_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sa.sa_handler = on_hup;
        sigaction(SIGHUP, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
}

typedef struct run_opts {
        const char *config;
} run_opts;

static const cf_opt run_rows[] = {
    CF_OPT_ROW_STR("config", 'c', run_opts, config, "FILE",
                   "config (default: $CUSTOMSFLOW_CONFIG, ./customsflow.yaml, "
                   "/etc/customsflow/customsflow.yaml, the bundled example)"),
    {0},
};

static const cf_opts_spec run_spec = {
    .prog = "customsflow run",
    .about = "Runs the service: consumes topics.input, runs the stages and produces\n"
             "flags, stats and dead letters; commits offsets only after every output\n"
             "was acknowledged. SIGTERM/SIGINT stop gracefully (finish, flush,\n"
             "checkpoint, commit, leave the group); SIGHUP reloads rules and reference\n"
             "data. Logs are JSON lines on stderr; metrics on http://<metrics.listen>/metrics.\n",
    .epilog = "Keys: customsflow check-config --describe. Secrets: CUSTOMSFLOW_KAFKA_<PROP>\n"
              "(e.g. CUSTOMSFLOW_KAFKA_SASL_PASSWORD) overrides kafka.<prop>.\n",
    .opts = run_rows,
};

int cf_cmd_run(int argc, char **argv)
{
        run_opts o = {0};
        int prc = cf_opts_main(&run_spec, argc, argv, &o, NULL);
        if (prc) return prc > 0 ? 0 : 2;
        const char *path = o.config;
        char err[1024];
        cf_config cfg;
        if (cf_config_load(&cfg, path, err, sizeof err)) {
                cf_log(CF_LOG_ERROR, "run", "%s", err); /* JSON, as every line of run */
                return 1;
        }
        cf_service *s = cf_service_new(&cfg, NULL, err, sizeof err);
        if (!s) {
                cf_log(CF_LOG_ERROR, "run", "%s", err); /* JSON, as every line of run */
                cf_config_free(&cfg);
                return 1;
        }
        cf_install_signals(s);
        if (cf_service_start(s, err, sizeof err)) {
                cf_log(CF_LOG_ERROR, "run", "%s", err); /* JSON, as every line of run */
                cf_service_destroy(s);
                cf_config_free(&cfg);
                return 1;
        }
        int rc = cf_service_wait(s);
        cf_counters k;
        cf_service_counters(s, &k);
        cf_log(rc ? CF_LOG_ERROR : CF_LOG_INFO, "run",
               "stopped: in %llu processed %llu duplicates %llu dead_lettered %llu flagged %llu",
               (unsigned long long)k.in, (unsigned long long)k.processed,
               (unsigned long long)k.duplicates, (unsigned long long)k.dead_lettered,
               (unsigned long long)k.flagged);
        cf_run_svc = NULL;
        /* what is left of shutdown_timeout, and at least 0.5 s to free what was not
         * waited for */
        int64_t left = cf_service_stop_left_ms(s);
        if (!cf_service_destroy_by(s, left < 500 ? 500 : left)) {
                /* librdkafka still waits for requests in flight (a commit to a slow
                 * coordinator): what was committed is committed, the rest is processed
                 * again by the next owner (at-least-once; an open transaction aborted) */
                cf_log(CF_LOG_WARN, "run",
                       "exiting while the Kafka clients still wait for requests in flight "
                       "(pipeline.shutdown_timeout is over)");
                fflush(NULL);
                _exit(rc);
        }
        cf_config_free(&cfg);
        return rc;
}
