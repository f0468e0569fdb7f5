/*
 * console_cfg.c - the `console:` config section as a config map (parsing,
 * defaults, --describe and the JSON Schema come from the same table).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/console.h"
#include "pipeline/core/config_map.h"
#include "pipeline/kafka/service.h"

#define OFF(f) offsetof(cf_console_cfg, f)

static const cf_config_map console_map[] = {
    {CF_CFG_STR, "db", "console.db", OFF(db),
     "SQLite case store, relative to the config file's folder (one file, WAL mode; created and "
     "migrated at start)"},
    {CF_CFG_STR, "listen", "127.0.0.1:8080", OFF(listen),
     "host:port of the web console (port 0: any free port)"},
    {CF_CFG_STR, "group_id", "customsflow-console", OFF(group_id),
     "consumer group reading topics.flags and topics.stats"},
    {CF_CFG_BOOL, "ingest", "true", OFF(ingest),
     "consume topics.flags and topics.stats from kafka.bootstrap.servers"},
    {CF_CFG_BOOL, "publish", "true", OFF(publish),
     "publish closing verdicts to topics.outcomes (else they wait in the store's outbox)"},
    {CF_CFG_INT, "ingest_batch", "5000", OFF(ingest_batch),
     "messages per store transaction; offsets are committed after it commits", 1, 1000000},
    {CF_CFG_DURATION, "ingest_timeout", "200ms", OFF(ingest_timeout_ms),
     "longest wait to fill an ingestion batch", 0, 3600e3},
    {CF_CFG_STR, "tls_cert", "", OFF(tls_cert), "PEM certificate: serve HTTPS (with tls_key)"},
    {CF_CFG_STR, "tls_key", "", OFF(tls_key), "PEM private key of tls_cert"},
    {CF_CFG_BOOL, "secure_cookie", "false", OFF(secure_cookie),
     "mark the session cookie Secure without TLS here (behind a TLS proxy); always under TLS"},
    {CF_CFG_DURATION, "session_ttl", "8h", OFF(session_ttl_ms), "a login lasts this long", 60e3,
     30 * 86400e3},
    {CF_CFG_INT, "login_max_failures", "5", OFF(login_max_failures),
     "failed logins per user name and per client address within login_window, then 429", 1, 1000},
    {CF_CFG_DURATION, "login_window", "5m", OFF(login_window_ms), "login rate-limit window", 1e3,
     86400e3},
    {CF_CFG_INT, "page_size", "50", OFF(page_size), "cases per queue page", 5, 500},
    {CF_CFG_SIZE, "max_body", "64KiB", OFF(max_body),
     "largest request body (a form); larger requests get 413", 1024, 16 << 20},
    {CF_CFG_INT, "export_max_rows", "100000", OFF(export_max_rows), "rows in one CSV/JSON export",
     1, 10000000},
    {CF_CFG_INT, "http_threads", "4", OFF(http_threads), "HTTP worker threads", 1, 64},
    {CF_CFG_INT, "argon2_t", "2", OFF(argon2_t), "Argon2id passes (password hashing)", 1, 20},
    {CF_CFG_INT, "argon2_m_kib", "19456", OFF(argon2_m_kib),
     "Argon2id memory in KiB (OWASP minimum: 19 MiB)", 64, 4 << 20},
    {CF_CFG_STR, "web_dir", "", OFF(web_dir),
     "folder of the console's static files (default: the bundled console/web)"},
    {CF_CFG_PATH, "chartjs", "/usr/share/javascript/chart.js/chart.min.js", OFF(chartjs),
     "Chart.js served at /static/chart.min.js (Debian libjs-chart.js; no CDN)"},
    {0}};

cf_env_match cf_console_env_match(const char *name)
{
        return cf_config_map_env_match(console_map, "console", name);
}

int cf_console_cfg_load(cf_console_cfg *cc, const cf_config *cfg, char *errstr, size_t errstr_size)
{
        memset(cc, 0, sizeof *cc);
        if (cf_config_map_apply(console_map, "console", cf_yaml_get(cfg->root, "console"),
                                cfg->base_dir, cc, errstr, errstr_size) ||
            cf_config_map_apply_env(console_map, "console", cfg->base_dir, cc, errstr, errstr_size))
                goto fail;
        if (!*cc->tls_cert != !*cc->tls_key) {
                snprintf(errstr, errstr_size, "console: tls_cert and tls_key go together");
                goto fail;
        }
        /* paths that may not exist yet (the store) or are optional: resolved here */
        char **rel[] = {&cc->db, &cc->tls_cert, &cc->tls_key, &cc->web_dir};
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
                if (!**rel[i]) continue;
                /* a db not named in the file is the working directory's (the bundled
                 * example config lives in a read-only folder once installed) */
                if (i == 0 && !cf_yaml_get(cf_yaml_get(cfg->root, "console"), "db")) continue;
                char buf[4096];
                cf_path_resolve(cfg->base_dir, *rel[i], buf, sizeof buf);
                free(*rel[i]);
                *rel[i] = strdup(buf);
        }
        /* topic names are the service's: one definition for both programs */
        cf_service_cfg sc;
        if (cf_service_cfg_load(&sc, cfg, errstr, errstr_size)) goto fail;
        cc->topic_flags = strdup(sc.topic_flags);
        cc->topic_stats = strdup(sc.topic_stats);
        cc->topic_outcomes = strdup(sc.topic_outcomes);
        cf_service_cfg_free(&sc);
        return 0;
fail:
        cf_console_cfg_free(cc);
        return -1;
}

void cf_console_cfg_free(cf_console_cfg *cc)
{
        cf_config_map_free(console_map, cc);
        free(cc->topic_flags);
        free(cc->topic_stats);
        free(cc->topic_outcomes);
        cc->topic_flags = cc->topic_stats = cc->topic_outcomes = NULL;
}

void cf_console_describe(FILE *out)
{
        fprintf(out, "\nconsole: the analysts' review console (customsflow console)\n");
        cf_config_map_describe(console_map, "console", out);
}

void cf_console_schema(cf_buf *out)
{
        cf_buf_puts(out, "\"console\":");
        cf_config_map_schema(console_map, "the analysts' review console (customsflow console)",
                             out);
}
