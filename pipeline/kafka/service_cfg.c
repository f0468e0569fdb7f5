/*
 * service_cfg.c - the service's config sections (pipeline, topics, workers,
 * metrics, log, state) as config maps, and the `kafka:` section: librdkafka
 * properties passed straight through, with CUSTOMSFLOW_KAFKA_* environment
 * overrides for secrets. Property values are never logged.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "pipeline/core/config_map.h"
#include "pipeline/kafka/service.h"
#include "pipeline/kafka/service_int.h"

#define OFF(f) offsetof(cf_service_cfg, f)

static const cf_config_map pipeline_map[] = {
    {CF_CFG_STR, "group_id", "customsflow", OFF(group_id),
     "consumer group (also names this application's changelog keys)"},
    {CF_CFG_INT, "batch_size", "4096", OFF(batch_size), "records consumed per batch", 1, 1 << 20},
    {CF_CFG_DURATION, "batch_timeout", "100ms", OFF(batch_timeout_ms),
     "longest wait to fill a batch"},
    {CF_CFG_DURATION, "commit_interval", "5s", OFF(commit_interval_ms),
     "how often state is checkpointed and offsets committed (after every output is acked)"},
    {CF_CFG_DURATION, "flush_interval", "1s", OFF(flush_interval_ms),
     "how often stages emit what is due (e.g. closed windows) without new input"},
    {CF_CFG_DURATION, "shutdown_timeout", "30s", OFF(shutdown_timeout_ms),
     "graceful shutdown budget after SIGTERM/SIGINT; then exit non-zero"},
    {CF_CFG_DURATION, "delivery_timeout", "120s", OFF(delivery_timeout_ms),
     "producer message.timeout.ms: an output not acked by then stops the worker"},
    {0}};

static const cf_config_map topics_map[] = {
    {CF_CFG_STR, "input", "customs.declarations", OFF(topic_in), "declaration lines (input)"},
    {CF_CFG_STR, "flags", "customs.flags", OFF(topic_flags), "flag messages, key declaration_id"},
    {CF_CFG_STR, "stats", "customs.stats", OFF(topic_stats), "window statistics"},
    {CF_CFG_STR, "dlq", "customs.dlq", OFF(topic_dlq),
     "dead letters: original bytes, reason in headers"},
    {CF_CFG_STR, "changelog", "customsflow.changelog", OFF(topic_changelog),
     "compacted topic of stage state snapshots, one partition per input partition"},
    {CF_CFG_STR, "outcomes", "customs.outcomes", OFF(topic_outcomes),
     "inspection outcomes and the review console's verdicts, key exporter_id"},
    {0}};

static const cf_config_map metrics_map[] = {
    {CF_CFG_BOOL, "enabled", "true", OFF(metrics_enabled), "serve /metrics, /healthz, /readyz"},
    {CF_CFG_STR, "listen", "127.0.0.1:9464", OFF(metrics_listen),
     "host:port of the HTTP endpoint (port 0: any free port)"},
    {0}};

static const cf_config_map log_map[] = {
    {CF_CFG_STR, "level", "info", OFF(log_level), "debug, info, warn or error"}, {0}};

static const cf_config_map state_map[] = {
    {CF_CFG_BOOL, "changelog", "true", OFF(changelog),
     "checkpoint stage state to topics.changelog and restore it on assignment"},
    {CF_CFG_SIZE, "chunk_bytes", "512KiB", OFF(chunk_bytes),
     "largest changelog message (snapshots are split into chunks)", 1024, 64 << 20},
    {0}};

static const struct {
        const char *name;
        const cf_config_map *map;
        const char *desc;
} sections[] = {
    {"pipeline", pipeline_map, "batching, commits and shutdown"},
    {"topics", topics_map, "topic names"},
    {"metrics", metrics_map, "Prometheus endpoint"},
    {"log", log_map, "JSON logs on stderr"},
    {"state", state_map, "stage state checkpoints"},
};
#define N_SECTIONS (sizeof sections / sizeof sections[0])

int cf_service_cfg_load(cf_service_cfg *sc, const cf_config *cfg, char *errstr, size_t errstr_size)
{
        memset(sc, 0, sizeof *sc);
        for (size_t i = 0; i < N_SECTIONS; i++)
                if (cf_config_map_apply(sections[i].map, sections[i].name,
                                        cf_yaml_get(cfg->root, sections[i].name), cfg->base_dir, sc,
                                        errstr, errstr_size))
                        goto fail;
        /* containers and tests override single keys without editing the file */
        for (size_t i = 0; i < N_SECTIONS; i++)
                if (cf_config_map_apply_env(sections[i].map, sections[i].name, cfg->base_dir, sc,
                                            errstr, errstr_size))
                        goto fail;
        sc->workers = 1;
        const char *we = getenv("CUSTOMSFLOW_WORKERS");
        if (we && *we) {
                char *end;
                long v = strtol(we, &end, 10);
                if (*end || v < 1 || v > 256) {
                        snprintf(errstr, errstr_size, "CUSTOMSFLOW_WORKERS: '%s' is not 1..256",
                                 we);
                        goto fail;
                }
                sc->workers = v;
        }
        const cf_node *w = we && *we ? NULL : cf_yaml_get(cfg->root, "workers");
        if (w) {
                char *end = NULL;
                long v = w->type == CF_NODE_SCALAR ? strtol(w->scalar, &end, 10) : 0;
                if (!end || *end || v < 1 || v > 256) {
                        snprintf(errstr, errstr_size,
                                 "%s:%d: workers: expected an integer from 1 to 256", w->file,
                                 w->line);
                        goto fail;
                }
                sc->workers = v;
        }
        if (cf_log_set_level(sc->log_level)) {
                snprintf(errstr, errstr_size, "log.level: '%s' is not debug, info, warn or error",
                         sc->log_level);
                goto fail;
        }
        return 0;
fail:
        cf_service_cfg_free(sc);
        return -1;
}

void cf_service_cfg_free(cf_service_cfg *sc)
{
        for (size_t i = 0; i < N_SECTIONS; i++)
                cf_config_map_free(sections[i].map, sc);
}

void cf_service_describe(FILE *out)
{
        for (size_t i = 0; i < N_SECTIONS; i++) {
                fprintf(out, "\n%s: %s\n", sections[i].name, sections[i].desc);
                cf_config_map_describe(sections[i].map, sections[i].name, out);
        }
        fprintf(out, "\nworkers: integer 1..256, worker threads (default 1)\n"
                     "\nkafka: librdkafka properties, passed through unchanged (e.g.\n"
                     "bootstrap.servers, security.protocol, sasl.*, ssl.*, compression.type);\n"
                     "CUSTOMSFLOW_KAFKA_<PROPERTY> (dots as underscores) overrides one.\n");
}

void cf_service_schema(cf_buf *b)
{
        for (size_t i = 0; i < N_SECTIONS; i++) {
                cf_buf_printf(b, "\"%s\":", sections[i].name);
                cf_config_map_schema(sections[i].map, sections[i].desc, b);
                cf_buf_putc(b, ',');
        }
        cf_buf_puts(b, "\"workers\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":256,"
                       "\"description\":\"worker threads, each a consumer-group member\"},"
                       "\"kafka\":{\"type\":\"object\",\"description\":\"librdkafka "
                       "properties, passed through\",\"additionalProperties\":{\"type\":["
                       "\"string\",\"number\",\"boolean\"]}}");
}

/* A secret must come from the environment rather than the file, and is never
 * echoed: only the property name appears in errors. */
static bool is_secret(const char *prop)
{
        return strstr(prop, "password") || strstr(prop, "secret") || strstr(prop, "key.pem") ||
               !strcmp(prop, "ssl.key.password") || strstr(prop, "sasl.oauthbearer.config");
}

/* Set k (named `shown` in the config: with its role prefix) on conf. */
static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, const char *shown,
                    const char *where, char *errstr, size_t errstr_size)
{
        char err[512];
        if (rd_kafka_conf_set(conf, k, v, err, sizeof err) == RD_KAFKA_CONF_OK) return 0;
        if (is_secret(k))
                snprintf(errstr, errstr_size, "%s: kafka.%s: rejected by librdkafka", where, shown);
        else
                snprintf(errstr, errstr_size, "%s: kafka.%s: %s", where, shown, err);
        return -1;
}

/* Kafka Streams' convention: "consumer.<prop>" / "producer.<prop>" apply to
 * that client only (no warning from the other, which would not know the
 * property); anything else to both. Returns the property name to set on a
 * client of this role, or NULL to skip it. */
static const char *for_role(const char *prop, cf_kafka_role role)
{
        if (!strncmp(prop, "consumer.", 9))
                return role == CF_KAFKA_PRODUCER ? NULL : prop + 9;
        if (!strncmp(prop, "producer.", 9))
                return role == CF_KAFKA_CONSUMER ? NULL : prop + 9;
        return prop;
}

rd_kafka_conf_t *cf_kafka_conf_new(const cf_config *cfg, const char *bootstrap, cf_kafka_role role,
                                   char *errstr, size_t errstr_size)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        const cf_node *k = cf_yaml_get(cfg->root, "kafka");
        if (k && k->type != CF_NODE_MAP) {
                snprintf(errstr, errstr_size,
                         "%s:%d: kafka: expected a map of librdkafka "
                         "properties",
                         k->file, k->line);
                goto fail;
        }
        for (size_t i = 0; k && i + 1 < k->n_items; i += 2) {
                const cf_node *key = k->items[i], *val = k->items[i + 1];
                char where[600];
                snprintf(where, sizeof where, "%s:%d", key->file, key->line);
                if (val->type != CF_NODE_SCALAR) {
                        snprintf(errstr, errstr_size, "%s: kafka.%s: expected a scalar", where,
                                 key->scalar);
                        goto fail;
                }
                const char *prop = for_role(key->scalar, role);
                if (prop &&
                    conf_set(conf, prop, val->scalar, key->scalar, where, errstr, errstr_size))
                        goto fail;
        }
        /* CUSTOMSFLOW_KAFKA_SASL_PASSWORD=... sets sasl.password,
         * CUSTOMSFLOW_KAFKA_CONSUMER_QUEUED_MIN_MESSAGES the consumer's queued.min.messages */
        extern char **environ;
        for (char **e = environ; *e; e++) {
                if (strncmp(*e, "CUSTOMSFLOW_KAFKA_", 18)) continue;
                const char *eq = strchr(*e, '=');
                if (!eq) continue;
                char prop[256];
                size_t n = (size_t)(eq - (*e + 18));
                if (n == 0 || n >= sizeof prop) continue;
                for (size_t j = 0; j < n; j++) {
                        char c = (*e)[18 + j];
                        prop[j] = c == '_' ? '.' : (char)tolower((unsigned char)c);
                }
                prop[n] = '\0';
                const char *p = for_role(prop, role);
                if (p && conf_set(conf, p, eq + 1, prop, "environment", errstr, errstr_size))
                        goto fail;
        }
        if (bootstrap &&
            conf_set(conf, "bootstrap.servers", bootstrap, "bootstrap.servers", "demo", errstr,
                     errstr_size))
                goto fail;
        return conf;
fail:
        rd_kafka_conf_destroy(conf);
        return NULL;
}

int cf_service_kafka_check(const cf_config *cfg, char *errstr, size_t errstr_size)
{
        /* each role's properties must be valid for it */
        for (int r = CF_KAFKA_CONSUMER; r <= CF_KAFKA_PRODUCER; r++) {
                rd_kafka_conf_t *conf =
                    cf_kafka_conf_new(cfg, NULL, (cf_kafka_role)r, errstr, errstr_size);
                if (!conf) return -1;
                rd_kafka_conf_destroy(conf);
        }
        return 0;
}
