/*
 * kafka_conf.h - the `kafka:` section turned into librdkafka configs: every
 * client of the service (consumers, producers, the restore and admin
 * clients) is configured here, so they all log into the JSON log, resolve
 * relative file paths against the config file's folder and classify fatal
 * errors the same way.
 */
#ifndef CF_KAFKA_CONF_H
#define CF_KAFKA_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "pipeline/core/buf.h"
#include "pipeline/core/config.h"

/** Which client a librdkafka config is for ("consumer."/"producer." keys apply to one). */
typedef enum cf_kafka_role { CF_KAFKA_CONSUMER, CF_KAFKA_PRODUCER } cf_kafka_role;

/** customsflow's own keys of the `kafka:` section (not passed to librdkafka). */
typedef struct cf_kafka_opts {
        bool fail_on_auth_error;     /* exit non-zero on an auth/authorization/TLS failure */
        int64_t auth_error_grace_ms; /* /healthz fails once such errors persist this long */
} cf_kafka_opts;

/**
 * librdkafka conf for role from the `kafka:` section and CUSTOMSFLOW_KAFKA_*
 * overrides: relative file paths (ssl.*.location, sasl.kerberos.keytab)
 * resolved against the config's folder and checked to exist, librdkafka's log
 * lines routed to the JSON log. bootstrap (may be NULL) overrides
 * bootstrap.servers. NULL + "file:line: kafka.<prop>: reason" on error.
 */
rd_kafka_conf_t *cf_kafka_conf_new(const cf_config *cfg, const char *bootstrap, cf_kafka_role role,
                                   char *errstr, size_t errstr_size);
/** The value of librdkafka property prop for role as the user set it (environment over file,
 *  "consumer."/"producer." over plain), or NULL when unset. Borrowed from cfg or environ. */
const char *cf_kafka_prop(const cf_config *cfg, cf_kafka_role role, const char *prop);
/** Parse customsflow's own keys of `kafka:` (and their env overrides); -1 + errstr. */
int cf_kafka_opts_load(cf_kafka_opts *o, const cf_config *cfg, char *errstr, size_t errstr_size);
/** Print the docs of customsflow's own `kafka:` keys (check-config --describe). */
void cf_kafka_opts_describe(FILE *out);
/** Append the JSON Schema of the `kafka:` section. */
void cf_kafka_opts_schema(cf_buf *b);
/**
 * Create (never connect: bootstrap.servers emptied) a client of type from
 * conf, which is consumed, and destroy it: what librdkafka checks only when a
 * client is built (CA and key files, SASL mechanism without credentials,
 * idempotence with acks) fails here. -1 + "what: reason".
 */
int cf_kafka_conf_try(rd_kafka_conf_t *conf, rd_kafka_type_t type, const char *what, char *errstr,
                      size_t errstr_size);
/** Is err an authentication, authorization or TLS failure (retrying will not help)? */
bool cf_kafka_err_is_auth(int err);
/** librdkafka log callback: one JSON line, level mapped, client and facility as fields.
 *  @locality: any librdkafka thread */
void cf_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);
/** Tests only: called with each librdkafka log line (on the thread that logs it, before it
 *  is filtered or written) when set before the clients are made; NULL in the service. */
extern void (*cf_kafka_log_hook)(const char *fac, const char *buf);

#endif
