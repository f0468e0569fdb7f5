/*
 * health.c - what /healthz and /readyz say, and fatal Kafka errors.
 *
 * /readyz follows the instance through starting -> restoring -> ready ->
 * draining, and is not ready ("degraded") while commits or checkpoints keep
 * failing or a partition's lag exceeds pipeline.max_ready_lag. /healthz fails
 * only when restarting the process is the cure: a fatal error, or
 * authentication/authorization/TLS failures persisting past
 * kafka.auth_error_grace (with kafka.fail_on_auth_error the process exits
 * instead, within seconds).
 *
 * @locality: any thread (HTTP thread, librdkafka callbacks, workers); worker
 * state is read through atomics or under cf_service.mtx.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/core/clock.h"
#include "pipeline/kafka/service_int.h"

#define COMPONENT "service"

const char *cf_service_state_name(cf_svc_state st)
{
        static const char *const names[] = {"starting", "restoring", "ready",
                                            "degraded", "draining",  "failed"};
        return names[st];
}

/* Has the instance failed? Then why (prefixed), copied under the lock. */
static bool failed(cf_service *s, const char *prefix, char *why, size_t why_size)
{
        if (!atomic_load(&s->failed)) return false;
        pthread_mutex_lock(&s->mtx);
        snprintf(why, why_size, "%s%s", prefix, s->fail_reason);
        pthread_mutex_unlock(&s->mtx);
        return true;
}

cf_svc_state cf_service_state(cf_service *s, char *why, size_t why_size)
{
        why[0] = '\0';
        if (failed(s, "", why, why_size)) return CF_STATE_FAILED;
        if (atomic_load(&s->stop)) return CF_STATE_DRAINING;
        bool restoring = false;
        int failing = 0, restore_failing = 0;
        for (int i = 0; i < s->n_workers; i++) {
                restoring |= atomic_load(&s->workers[i].restoring);
                restore_failing += atomic_load(&s->workers[i].restore_failing);
                int f = atomic_load(&s->workers[i].failures_in_row);
                if (f > failing) failing = f;
        }
        if (restore_failing)
                snprintf(why, why_size,
                         "the state restore of %d partition(s) is failing and retried "
                         "(customsflow_restore_failing)",
                         restore_failing);
        if (restoring) return CF_STATE_RESTORING;
        int assigned = 0;
        int64_t lag = -1;
        bool population = true;
        pthread_mutex_lock(&s->mtx);
        for (int i = 0; i < s->n_workers; i++) {
                assigned += s->pubs[i].assigned;
                population &= s->pubs[i].population_ready;
                if (s->pubs[i].max_lag > lag) lag = s->pubs[i].max_lag;
        }
        pthread_mutex_unlock(&s->mtx);
        if (!assigned) return CF_STATE_STARTING;
        /* every worker reads the population topics up to their ends at start */
        if (!population) {
                snprintf(why, why_size, "reading the population state (%s, %s)",
                         s->sc.topic_baselines, s->sc.topic_certificates);
                return CF_STATE_RESTORING;
        }

        if (failing >= s->sc.failures_not_ready) {
                snprintf(why, why_size, "%d commits or checkpoints in a row failed", failing);
                return CF_STATE_DEGRADED;
        }
        if (s->sc.max_ready_lag > 0 && lag > s->sc.max_ready_lag) {
                snprintf(why, why_size, "consumer lag %" PRId64 " above max_ready_lag %" PRId64,
                         lag, s->sc.max_ready_lag);
                return CF_STATE_DEGRADED;
        }
        return CF_STATE_READY;
}

bool cf_service_healthy(cf_service *s, char *why, size_t why_size)
{
        why[0] = '\0';
        if (failed(s, "failed: ", why, why_size)) return false;
        int64_t since = atomic_load(&s->auth_failing_since);
        if (since && cf_mono_ms() - since >= s->sc.kafka.auth_error_grace_ms) {
                pthread_mutex_lock(&s->mtx);
                snprintf(why, why_size,
                         "kafka authentication/authorization failing for %" PRId64 " s: %s",
                         (cf_mono_ms() - since) / 1000, s->auth_reason);
                pthread_mutex_unlock(&s->mtx);
                return false;
        }
        return true;
}

void cf_service_fail(cf_service *s, const char *reason)
{
        pthread_mutex_lock(&s->mtx);
        if (!s->fail_reason[0]) snprintf(s->fail_reason, sizeof s->fail_reason, "%s", reason);
        pthread_mutex_unlock(&s->mtx);
        atomic_store(&s->abort, true);
        atomic_store(&s->failed, true);
        atomic_store(&s->stop, true);
}

bool cf_service_kafka_error(cf_service *s, const char *client, int err, const char *reason)
{
        rd_kafka_resp_err_t e = (rd_kafka_resp_err_t)err;
        if (!cf_kafka_err_is_auth(err)) {
                /* transient: librdkafka retries by itself */
                cf_log(CF_LOG_WARN, COMPONENT, "%s: %s: %s", client, rd_kafka_err2name(e), reason);
                return false;
        }
        atomic_fetch_add(&s->auth_errors, 1);
        int_fast64_t none = 0;
        atomic_compare_exchange_strong(&s->auth_failing_since, &none, cf_mono_ms());
        char msg[512];
        snprintf(msg, sizeof msg, "%s: %s: %s", client, rd_kafka_err2name(e), reason);
        pthread_mutex_lock(&s->mtx);
        snprintf(s->auth_reason, sizeof s->auth_reason, "%s", msg);
        pthread_mutex_unlock(&s->mtx);
        if (s->sc.kafka.fail_on_auth_error) {
                cf_log(CF_LOG_ERROR, COMPONENT,
                       "kafka authentication, authorization or TLS failure (retrying will not "
                       "help; kafka.fail_on_auth_error): %s; stopping",
                       msg);
                cf_service_fail(s, msg);
        } else {
                cf_log(CF_LOG_ERROR, COMPONENT,
                       "kafka authentication, authorization or TLS failure: %s; /healthz fails "
                       "after kafka.auth_error_grace (%" PRId64 " ms)",
                       msg, s->sc.kafka.auth_error_grace_ms);
        }
        return true;
}

void cf_service_kafka_ok(cf_service *s)
{
        atomic_store(&s->auth_failing_since, 0);
}
