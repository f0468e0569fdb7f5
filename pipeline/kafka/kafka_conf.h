/*
 * kafka_conf.h - librdkafka client configs from the `kafka:` section (and
 * CUSTOMSFLOW_KAFKA_* overrides), for the service and the review console.
 */
#ifndef CF_KAFKA_CONF_H
#define CF_KAFKA_CONF_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "pipeline/core/config.h"

/** Which client a librdkafka config is for ("consumer."/"producer." keys apply to one). */
typedef enum cf_kafka_role { CF_KAFKA_CONSUMER, CF_KAFKA_PRODUCER } cf_kafka_role;
/** librdkafka conf for role from the `kafka:` section and env overrides; NULL + errstr. */
rd_kafka_conf_t *cf_kafka_conf_new(const cf_config *cfg, const char *bootstrap, cf_kafka_role role,
                                   char *errstr, size_t errstr_size);

#endif
