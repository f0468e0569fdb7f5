/*
 * kafka_conf.c - the `kafka:` section: librdkafka properties passed straight
 * through (Kafka Streams' "consumer."/"producer." prefixes pick one client),
 * CUSTOMSFLOW_KAFKA_* environment overrides for secrets, customsflow's own
 * keys (fail_on_auth_error, auth_error_grace), file paths resolved against
 * the config's folder, and librdkafka's log lines into the JSON log.
 * Property values are never logged.
 */
#include "pipeline/kafka/kafka_conf.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/core/config_map.h"
#include "pipeline/core/log.h"

#define OFF(f) offsetof(cf_kafka_opts, f)

/* customsflow's own keys of `kafka:`; everything else goes to librdkafka */
static const cf_config_map kafka_map[] = {
    {CF_CFG_BOOL, "fail_on_auth_error", "true", OFF(fail_on_auth_error),
     "exit non-zero (within seconds) on an authentication, authorization or TLS failure, so "
     "a supervisor sees it; false: keep retrying and let /healthz fail after auth_error_grace"},
    {CF_CFG_DURATION, "auth_error_grace", "30s", OFF(auth_error_grace_ms),
     "/healthz fails once authentication/authorization/TLS errors persist this long"},
    {0}};

/* "fail_on_auth_error" as a CUSTOMSFLOW_KAFKA_* variable arrives as "fail.on.auth.error" */
static bool is_own_key(const char *k)
{
        for (const cf_config_map *m = kafka_map; m->name; m++) {
                size_t n = strlen(m->name);
                if (strlen(k) != n) continue;
                size_t i = 0;
                while (i < n && (k[i] == m->name[i] || (k[i] == '.' && m->name[i] == '_')))
                        i++;
                if (i == n) return true;
        }
        return false;
}

int cf_kafka_opts_load(cf_kafka_opts *o, const cf_config *cfg, char *errstr, size_t errstr_size)
{
        memset(o, 0, sizeof *o);
        const cf_node *k = cf_yaml_get(cfg->root, "kafka");
        if (k && k->type != CF_NODE_MAP) {
                snprintf(errstr, errstr_size,
                         "%s:%d: kafka: expected a map of librdkafka properties", k->file, k->line);
                return -1;
        }
        /* a map of only our keys, borrowed from the document */
        cf_node *items[2 * 8];
        cf_node own = {.type = CF_NODE_MAP, .items = items};
        for (size_t i = 0; k && i + 1 < k->n_items && own.n_items + 2 <= 16; i += 2)
                if (is_own_key(k->items[i]->scalar)) {
                        items[own.n_items++] = k->items[i];
                        items[own.n_items++] = k->items[i + 1];
                }
        if (k) {
                own.file = k->file;
                own.line = k->line;
        }
        if (cf_config_map_apply(kafka_map, "kafka", k ? &own : NULL, cfg->base_dir, o, errstr,
                                errstr_size))
                return -1;
        return cf_config_map_apply_env(kafka_map, "kafka", cfg->base_dir, o, errstr, errstr_size);
}

void cf_kafka_opts_describe(FILE *out)
{
        fprintf(out, "\nkafka: librdkafka properties, passed through unchanged (e.g.\n"
                     "bootstrap.servers, security.protocol, sasl.*, ssl.*, compression.type);\n"
                     "\"consumer.<prop>\"/\"producer.<prop>\" apply to one client only;\n"
                     "CUSTOMSFLOW_KAFKA_<PROPERTY> (dots as underscores) overrides one; relative\n"
                     "file paths (ssl.*.location, sasl.kerberos.keytab) resolve against the\n"
                     "config file's folder. One default differs from librdkafka's:\n"
                     "socket.nagle.disable is true (as Kafka's Java clients). customsflow's own\n"
                     "keys:\n");
        cf_config_map_describe(kafka_map, "kafka", out);
}

void cf_kafka_opts_schema(cf_buf *b)
{
        static const char closed[] = "{\"type\":\"object\",\"additionalProperties\":false";
        cf_buf t = {0};
        cf_config_map_schema(kafka_map,
                             "librdkafka properties, passed through, and customsflow's "
                             "own keys",
                             &t);
        /* open: any other key is a librdkafka property, checked by librdkafka */
        cf_buf_puts(b, "{\"type\":\"object\",\"additionalProperties\":{\"type\":[\"string\","
                       "\"number\",\"boolean\"]}");
        cf_buf_put(b, t.p + sizeof closed - 1, t.len - (sizeof closed - 1));
        cf_buf_free(&t);
}

/* A secret must come from the environment rather than the file, and is never
 * echoed: only the property name appears in errors. */
static bool is_secret(const char *prop)
{
        return strstr(prop, "password") || strstr(prop, "secret") || strstr(prop, "key.pem") ||
               strstr(prop, "sasl.oauthbearer.config");
}

/* Properties naming a file: relative ones resolve against the config's folder
 * (as every other path of the config does), and a missing file is reported
 * with the line that names it rather than as an OpenSSL error code. */
static bool is_path(const char *prop)
{
        static const char *const paths[] = {"ssl.ca.location",       "ssl.certificate.location",
                                            "ssl.key.location",      "ssl.crl.location",
                                            "ssl.keystore.location", "sasl.kerberos.keytab",
                                            "ssl.engine.location",   NULL};
        for (int i = 0; paths[i]; i++)
                if (!strcmp(prop, paths[i])) return true;
        return false;
}

/* Set k (named `shown` in the config: with its role prefix) on conf. */
static int conf_set(rd_kafka_conf_t *conf, const char *base_dir, const char *k, const char *v,
                    const char *shown, const char *where, char *errstr, size_t errstr_size)
{
        char err[512], path[4096];
        /* ssl.ca.location: probe searches the system's CA folders */
        if (is_path(k) && *v && strcmp(v, "probe")) {
                cf_path_resolve(base_dir, v, path, sizeof path);
                if (access(path, R_OK)) {
                        snprintf(errstr, errstr_size, "%s: kafka.%s: %s: cannot open: %s", where,
                                 shown, path, strerror(errno));
                        return -1;
                }
                v = path;
        }
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
        if (!strncmp(prop, "consumer.", 9)) return role == CF_KAFKA_PRODUCER ? NULL : prop + 9;
        if (!strncmp(prop, "producer.", 9)) return role == CF_KAFKA_CONSUMER ? NULL : prop + 9;
        return prop;
}

/* CUSTOMSFLOW_KAFKA_SASL_PASSWORD=x names sasl.password (prop) with value x;
 * false for any other variable */
static bool env_prop(const char *e, char *prop, size_t size, const char **value)
{
        const char *eq = strchr(e, '=');
        if (strncmp(e, "CUSTOMSFLOW_KAFKA_", 18) || !eq) return false;
        size_t n = (size_t)(eq - (e + 18));
        if (n == 0 || n >= size) return false;
        for (size_t j = 0; j < n; j++) {
                char c = e[18 + j];
                prop[j] = c == '_' ? '.' : (char)tolower((unsigned char)c);
        }
        prop[n] = '\0';
        *value = eq + 1;
        return true;
}

void (*cf_kafka_log_hook)(const char *fac, const char *buf);

void cf_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
        /* a test holds a librdkafka thread here: librdkafka logs between a version barrier
         * and its op (test_kafka_fetch_stall forces a race that way) */
        if (cf_kafka_log_hook) cf_kafka_log_hook(fac ? fac : "", buf);
        /* syslog levels: 0-3 error, 4 warning, 5-6 notice/info, 7 debug */
        cf_log_level l = level <= 3   ? CF_LOG_ERROR
                         : level == 4 ? CF_LOG_WARN
                         : level <= 6 ? CF_LOG_INFO
                                      : CF_LOG_DEBUG;
        const char *kv[4] = {"client", rk ? rd_kafka_name(rk) : "", "facility", fac ? fac : ""};
        cf_log_kv(l, "librdkafka", kv, 2, "%s", buf);
}

rd_kafka_conf_t *cf_kafka_conf_new(const cf_config *cfg, const char *bootstrap, cf_kafka_role role,
                                   char *errstr, size_t errstr_size)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        /* Straight from librdkafka's threads, not through a log queue: a queue
         * is only served by the next poll, and an authentication failure must
         * be in the log at once (cf_log is thread-safe: one write a line). */
        rd_kafka_conf_set_log_cb(conf, cf_kafka_log_cb);
        /* Kafka's Java clients set TCP_NODELAY; librdkafka does not by default,
         * and a request written while the previous one is unacknowledged then
         * waits for the broker's delayed ACK. The file or environment may say
         * otherwise (set below, after this default). */
        if (rd_kafka_conf_set(conf, "socket.nagle.disable", "true", errstr, errstr_size)) goto fail;
        const cf_node *k = cf_yaml_get(cfg->root, "kafka");
        if (k && k->type != CF_NODE_MAP) {
                snprintf(errstr, errstr_size,
                         "%s:%d: kafka: expected a map of librdkafka properties", k->file, k->line);
                goto fail;
        }
        for (size_t i = 0; k && i + 1 < k->n_items; i += 2) {
                const cf_node *key = k->items[i], *val = k->items[i + 1];
                char where[600];
                snprintf(where, sizeof where, "%s:%d", key->file, key->line);
                if (is_own_key(key->scalar)) continue;
                if (val->type != CF_NODE_SCALAR) {
                        snprintf(errstr, errstr_size, "%s: kafka.%s: expected a scalar", where,
                                 key->scalar);
                        goto fail;
                }
                const char *prop = for_role(key->scalar, role);
                if (prop && conf_set(conf, cfg->base_dir, prop, val->scalar, key->scalar, where,
                                     errstr, errstr_size))
                        goto fail;
        }
        /* CUSTOMSFLOW_KAFKA_SASL_PASSWORD=... sets sasl.password,
         * CUSTOMSFLOW_KAFKA_CONSUMER_QUEUED_MIN_MESSAGES the consumer's queued.min.messages */
        extern char **environ;
        char prop[256];
        const char *v;
        for (char **e = environ; *e; e++) {
                if (!env_prop(*e, prop, sizeof prop, &v) || is_own_key(prop)) continue;
                const char *p = for_role(prop, role);
                if (p &&
                    conf_set(conf, cfg->base_dir, p, v, prop, "environment", errstr, errstr_size))
                        goto fail;
        }
        if (bootstrap && conf_set(conf, NULL, "bootstrap.servers", bootstrap, "bootstrap.servers",
                                  "demo", errstr, errstr_size))
                goto fail;
        return conf;
fail:
        rd_kafka_conf_destroy(conf);
        return NULL;
}

const char *cf_kafka_prop(const cf_config *cfg, cf_kafka_role role, const char *prop)
{
        const char *best = NULL;
        int best_rank = 0; /* 1 file plain, 2 file prefixed, 3 env plain, 4 env prefixed */
        const cf_node *k = cf_yaml_get(cfg->root, "kafka");
        for (size_t i = 0; k && k->type == CF_NODE_MAP && i + 1 < k->n_items; i += 2) {
                const char *name = k->items[i]->scalar, *p = for_role(name, role);
                if (!p || strcmp(p, prop) || k->items[i + 1]->type != CF_NODE_SCALAR) continue;
                int rank = p == name ? 1 : 2;
                if (rank >= best_rank) best = k->items[i + 1]->scalar, best_rank = rank;
        }
        extern char **environ;
        char name[256];
        const char *v;
        for (char **e = environ; *e; e++) {
                if (!env_prop(*e, name, sizeof name, &v)) continue;
                const char *p = for_role(name, role);
                if (!p || strcmp(p, prop)) continue;
                int rank = p == name ? 3 : 4;
                if (rank >= best_rank) best = v, best_rank = rank;
        }
        return best;
}

int cf_kafka_conf_try(rd_kafka_conf_t *conf, rd_kafka_type_t type, const char *what, char *errstr,
                      size_t errstr_size)
{
        char err[512];
        /* no broker: nothing connects; notices ("no bootstrap.servers") muted */
        rd_kafka_conf_set(conf, "bootstrap.servers", "", NULL, 0);
        rd_kafka_conf_set(conf, "log_level", "4", NULL, 0);
        rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
        if (!rk) {
                rd_kafka_conf_destroy(conf);
                snprintf(errstr, errstr_size, "kafka: the %s cannot be created: %s", what, err);
                return -1;
        }
        rd_kafka_destroy(rk);
        return 0;
}

bool cf_kafka_err_is_auth(int err)
{
        switch (err) {
        case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        case RD_KAFKA_RESP_ERR__SSL:
        case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
        case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM:
        case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE:
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_AUTHORIZATION_FAILED:
                return true;
        default:
                return false;
        }
}
