/*
 * topics.c - see topics.h. The decision (cf_topics_plan) is separate from the
 * Admin API calls that gather its facts and carry it out, so it is tested
 * without a broker; the mock cluster used by the integration tests answers
 * metadata but neither DescribeConfigs nor CreateTopics.
 *
 * @locality: main thread (cf_service_start), before any worker runs.
 */
#include "pipeline/kafka/topics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/core/clock.h"
#include "pipeline/kafka/service_int.h"

#define COMPONENT "topics"

static const char *topic_name(const cf_service_cfg *sc, int i)
{
        const char *n[CF_N_TOPICS] = {
            sc->topic_in,        sc->topic_flags,    sc->topic_stats,     sc->topic_dlq,
            sc->topic_changelog, sc->topic_outcomes, sc->topic_baselines, sc->topic_certificates};
        return n[i];
}

static const char *const topic_key[CF_N_TOPICS] = {
    "topics.input",     "topics.flags",    "topics.stats",     "topics.dlq",
    "topics.changelog", "topics.outcomes", "topics.baselines", "topics.certificates"};

/* Created certificate topics keep uses this long: beyond the longest
 * rules.certificate_reuse.window that makes sense (a year) plus lateness. */
#define CERT_RETENTION_MS (400LL * 86400000LL)

/* A compacted topic must not be delete: refused, or warned when unknown. */
static int check_compact(const cf_topic_fact *f, const char *key, const char *name,
                         const char *what, char *errstr, size_t errstr_size)
{
        if (!f->exists) return 0;
        if (!f->cleanup_policy[0]) {
                cf_log(CF_LOG_WARN, COMPONENT,
                       "cleanup.policy of %s '%s' unknown (the broker did not say): not verified; "
                       "it must be compact",
                       key, name);
                return 0;
        }
        if (strstr(f->cleanup_policy, "compact") && !strstr(f->cleanup_policy, "delete")) return 0;
        snprintf(errstr, errstr_size,
                 "%s '%s' has cleanup.policy=%s: the broker would delete %s that is still current "
                 "(Kafka Streams' changelogs are compact, not delete); set cleanup.policy=compact "
                 "on it",
                 key, name, f->cleanup_policy, what);
        return -1;
}

int cf_topics_plan(const cf_service_cfg *sc, const cf_topic_fact *f, cf_topic_spec *create,
                   int *n_create, char *errstr, size_t errstr_size)
{
        *n_create = 0;
        if (!f[CF_TOPIC_INPUT].exists) {
                snprintf(errstr, errstr_size,
                         "%s '%s' does not exist (customsflow never creates its input topic)",
                         topic_key[CF_TOPIC_INPUT], sc->topic_in);
                return -1;
        }
        int np = f[CF_TOPIC_INPUT].partitions;
        if (np > CF_SVC_MAX_PARTITIONS) {
                snprintf(errstr, errstr_size, "%s '%s' has %d partitions; at most %d are supported",
                         topic_key[CF_TOPIC_INPUT], sc->topic_in, np, CF_SVC_MAX_PARTITIONS);
                return -1;
        }
        for (int i = CF_TOPIC_FLAGS; i < CF_N_TOPICS; i++) {
                bool changelog = i == CF_TOPIC_CHANGELOG, outcomes = i == CF_TOPIC_OUTCOMES,
                     baselines = i == CF_TOPIC_BASELINES;
                if (changelog && !sc->changelog) continue;
                const char *name = topic_name(sc, i);
                if (f[i].exists || (outcomes && (!name || !name[0]))) continue;
                if (outcomes && !sc->topics_create) {
                        cf_log(CF_LOG_WARN, COMPONENT,
                               "%s '%s' does not exist: the risk model has nothing to learn "
                               "until it does (create it with one partition, or set "
                               "topics.create: true)",
                               topic_key[i], name);
                        continue;
                }
                if (!sc->topics_create) {
                        snprintf(errstr, errstr_size,
                                 "%s '%s' does not exist: create it%s, or set topics.create: true "
                                 "(README: the service)",
                                 topic_key[i], name,
                                 changelog   ? " with the input's partition count and "
                                               "cleanup.policy=compact"
                                 : baselines ? " with cleanup.policy=compact"
                                 : i == CF_TOPIC_CERTIFICATES ? " with retention.ms of at least "
                                                                "rules.certificate_reuse.window"
                                                              : "");
                        return -1;
                }
                cf_topic_spec *c = &create[(*n_create)++];
                c->name = name;
                c->partitions =
                    changelog || !sc->topics_partitions ? np : (int)sc->topics_partitions;
                /* every worker reads it whole, in order: one partition keeps the order */
                if (outcomes) c->partitions = 1;
                c->replication = (int)sc->topics_replication;
                c->compact = changelog || baselines;
                c->retention_ms = i == CF_TOPIC_CERTIFICATES ? CERT_RETENTION_MS : 0;
        }
        if (check_compact(&f[CF_TOPIC_BASELINES], topic_key[CF_TOPIC_BASELINES],
                          sc->topic_baselines, "baselines", errstr, errstr_size))
                return -1;
        const cf_topic_fact *cl = &f[CF_TOPIC_CHANGELOG];
        if (!sc->changelog || !cl->exists) return 0;
        /* changelog partition p holds the state of input partition p */
        if (cl->partitions < np) {
                snprintf(errstr, errstr_size,
                         "%s '%s' has %d partition(s), the input '%s' has %d: the state of input "
                         "partitions %d..%d would have nowhere to go (one changelog partition "
                         "per input partition; add partitions to the changelog)",
                         topic_key[CF_TOPIC_CHANGELOG], sc->topic_changelog, cl->partitions,
                         sc->topic_in, np, cl->partitions, np - 1);
                return -1;
        }
        if (cl->partitions > np)
                cf_log(CF_LOG_WARN, COMPONENT,
                       "%s '%s' has %d partitions, the input %d: the extra ones stay unused",
                       topic_key[CF_TOPIC_CHANGELOG], sc->topic_changelog, cl->partitions, np);
        if (check_compact(cl, topic_key[CF_TOPIC_CHANGELOG], sc->topic_changelog, "state", errstr,
                          errstr_size))
                return -1;
        return 0;
}

/* ---- Admin API: facts and creation ---- */

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
        cf_service_kafka_error(opaque, rd_kafka_name(rk), err, reason);
}

/* The next event of q, polled in 100 ms steps so a stop request ends the
 * wait at once; NULL on stop, failure or after timeout_ms. */
static rd_kafka_event_t *wait_event(cf_service *s, rd_kafka_t *rk, rd_kafka_queue_t *q,
                                    int64_t timeout_ms)
{
        int64_t t0 = cf_mono_ms();
        while (!atomic_load(&s->stop) && cf_mono_ms() - t0 < timeout_ms) {
                rd_kafka_poll(rk, 0); /* error callback: authentication failures */
                rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
                if (ev) return ev;
        }
        return NULL;
}

/* Cluster metadata (every topic: asking for named ones may auto-create them
 * on a broker that allows it), as long as it takes; 1 on stop. */
static int fetch_metadata(cf_service *s, rd_kafka_t *rk, const struct rd_kafka_metadata **md)
{
        int64_t t0 = cf_mono_ms(), logged = t0;
        for (;;) {
                if (atomic_load(&s->stop)) return 1;
                rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, md, 1000);
                if (!e) return 0;
                rd_kafka_poll(rk, 0);
                if (cf_mono_ms() - logged >= 10000) {
                        logged = cf_mono_ms();
                        cf_log(CF_LOG_WARN, COMPONENT,
                               "waiting for the Kafka cluster to check the topics (%" PRId64
                               " s): %s",
                               (logged - t0) / 1000, rd_kafka_err2str(e));
                }
        }
}

/* A topic's cleanup.policy, or "" when the broker does not say. */
static void cleanup_policy(cf_service *s, rd_kafka_t *rk, const char *topic, char *out, size_t n)
{
        out[0] = '\0';
        rd_kafka_ConfigResource_t *res =
            rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        char err[256];
        rd_kafka_AdminOptions_t *o =
            rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
        rd_kafka_AdminOptions_set_request_timeout(o, 5000, err, sizeof err);
        rd_kafka_DescribeConfigs(rk, &res, 1, o, q);
        rd_kafka_event_t *ev = wait_event(s, rk, q, 6000);
        if (ev && rd_kafka_event_error(ev)) {
                cf_log(CF_LOG_INFO, COMPONENT, "DescribeConfigs %s: %s", topic,
                       rd_kafka_event_error_string(ev));
        } else if (ev) {
                size_t nr = 0, nc = 0;
                const rd_kafka_ConfigResource_t **rs = rd_kafka_DescribeConfigs_result_resources(
                    rd_kafka_event_DescribeConfigs_result(ev), &nr);
                const rd_kafka_ConfigEntry_t **ce =
                    nr && !rd_kafka_ConfigResource_error(rs[0])
                        ? rd_kafka_ConfigResource_configs(rs[0], &nc)
                        : NULL;
                for (size_t i = 0; i < nc; i++)
                        if (!strcmp(rd_kafka_ConfigEntry_name(ce[i]), "cleanup.policy") &&
                            rd_kafka_ConfigEntry_value(ce[i]))
                                snprintf(out, n, "%s", rd_kafka_ConfigEntry_value(ce[i]));
        }
        if (!ev && !atomic_load(&s->stop))
                cf_log(CF_LOG_INFO, COMPONENT, "DescribeConfigs %s: no answer", topic);
        if (ev) rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_queue_destroy(q);
        rd_kafka_ConfigResource_destroy(res);
}

/* Facts for every topic; 1 on stop, -1 + errstr when not allowed to see one. */
static int gather(cf_service *s, rd_kafka_t *rk, cf_topic_fact *f, bool *have_ctl, char *errstr,
                  size_t errstr_size)
{
        const cf_service_cfg *sc = &s->sc;
        const struct rd_kafka_metadata *md = NULL;
        if (fetch_metadata(s, rk, &md)) return 1;
        memset(f, 0, sizeof *f * CF_N_TOPICS);
        int rc = 0;
        for (int i = 0; i < CF_N_TOPICS && !rc; i++)
                for (int t = 0; t < md->topic_cnt; t++) {
                        const rd_kafka_metadata_topic_t *mt = &md->topics[t];
                        if (strcmp(mt->topic, topic_name(sc, i))) continue;
                        if (mt->err && mt->err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
                                snprintf(errstr, errstr_size, "%s '%s': %s", topic_key[i],
                                         mt->topic, rd_kafka_err2str(mt->err));
                                rc = -1;
                                break;
                        }
                        f[i].exists = !mt->err;
                        f[i].partitions = mt->partition_cnt;
                }
        /* DescribeConfigs goes to the controller; a cluster naming none of its
         * brokers as controller (librdkafka's mock cluster) would hold the
         * request until its timeout */
        int32_t ctl = rd_kafka_controllerid(rk, 0);
        *have_ctl = false;
        for (int b = 0; b < md->broker_cnt; b++)
                *have_ctl |= md->brokers[b].id == ctl;
        rd_kafka_metadata_destroy(md);
        if (!rc && sc->changelog && f[CF_TOPIC_CHANGELOG].exists && *have_ctl)
                cleanup_policy(s, rk, sc->topic_changelog, f[CF_TOPIC_CHANGELOG].cleanup_policy,
                               sizeof f[CF_TOPIC_CHANGELOG].cleanup_policy);
        if (!rc && f[CF_TOPIC_BASELINES].exists && *have_ctl)
                cleanup_policy(s, rk, sc->topic_baselines, f[CF_TOPIC_BASELINES].cleanup_policy,
                               sizeof f[CF_TOPIC_BASELINES].cleanup_policy);
        return atomic_load(&s->stop) ? 1 : rc;
}

static int create_topics(cf_service *s, rd_kafka_t *rk, const cf_topic_spec *c, int n, char *errstr,
                         size_t errstr_size)
{
        rd_kafka_NewTopic_t *nt[CF_N_TOPICS];
        char err[512];
        for (int i = 0; i < n; i++) {
                nt[i] = rd_kafka_NewTopic_new(c[i].name, c[i].partitions, c[i].replication, err,
                                              sizeof err);
                if (nt[i] && c[i].compact)
                        rd_kafka_NewTopic_set_config(nt[i], "cleanup.policy", "compact");
                char ret[32];
                snprintf(ret, sizeof ret, "%lld", (long long)c[i].retention_ms);
                if (nt[i] && c[i].retention_ms)
                        rd_kafka_NewTopic_set_config(nt[i], "retention.ms", ret);
                cf_log(CF_LOG_INFO, COMPONENT, "creating topic %s: %d partition(s)%s", c[i].name,
                       c[i].partitions, c[i].compact ? ", cleanup.policy=compact" : "");
        }
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_operation_timeout(o, 30000, err, sizeof err);
        rd_kafka_CreateTopics(rk, nt, (size_t)n, o, q);
        rd_kafka_event_t *ev = wait_event(s, rk, q, 60000);
        int rc = 0;
        if (!ev) {
                rc = atomic_load(&s->stop) ? 0 : -1;
                snprintf(errstr, errstr_size, "creating topics: no answer from the cluster");
        } else if (rd_kafka_event_error(ev)) {
                snprintf(errstr, errstr_size, "cannot create topic %s%s: %s", c[0].name,
                         n > 1 ? " and others" : "", rd_kafka_event_error_string(ev));
                rc = -1;
        } else {
                size_t nr = 0;
                const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(
                    rd_kafka_event_CreateTopics_result(ev), &nr);
                for (size_t i = 0; i < nr && !rc; i++) {
                        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
                        if (!e || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) continue;
                        snprintf(errstr, errstr_size, "cannot create topic %s: %s",
                                 rd_kafka_topic_result_name(tr[i]),
                                 rd_kafka_topic_result_error_string(tr[i]));
                        rc = -1;
                }
        }
        if (ev) rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_queue_destroy(q);
        rd_kafka_NewTopic_destroy_array(nt, (size_t)n);
        return rc;
}

int cf_topics_ensure(cf_service *s, char *errstr, size_t errstr_size)
{
        rd_kafka_conf_t *conf =
            cf_kafka_conf_new(s->cfg, s->bootstrap, CF_KAFKA_PRODUCER, errstr, errstr_size);
        if (!conf) return -1;
        rd_kafka_conf_set_error_cb(conf, on_error);
        rd_kafka_conf_set_opaque(conf, s);
        char err[512];
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        if (!rk) {
                snprintf(errstr, errstr_size, "topic check client: %s", err);
                return -1;
        }
        cf_topic_fact f[CF_N_TOPICS];
        cf_topic_spec c[CF_N_TOPICS];
        int n = 0, rc = 0;
        bool have_ctl = false;
        /* check; create what is missing; check again (a topic just created may
         * take a moment to appear in metadata) */
        for (int round = 0; round < 10 && !rc; round++) {
                rc = gather(s, rk, f, &have_ctl, errstr, errstr_size);
                if (rc) break;
                rc = cf_topics_plan(&s->sc, f, c, &n, errstr, errstr_size);
                if (rc || !n) break;
                if (round == 0 && !have_ctl) { /* CreateTopics goes to the controller */
                        snprintf(errstr, errstr_size,
                                 "cannot create topic %s: the cluster's metadata names no "
                                 "controller",
                                 c[0].name);
                        rc = -1;
                } else if (round == 0)
                        rc = create_topics(s, rk, c, n, errstr, errstr_size);
                else
                        rd_kafka_poll(rk, 500);
        }
        if (!rc && n) {
                snprintf(errstr, errstr_size, "topic %s still missing after its creation",
                         c[0].name);
                rc = -1;
        }
        if (rc == 1) rc = 0; /* stopped */
        if (!rc && !atomic_load(&s->stop))
                cf_log(CF_LOG_INFO, COMPONENT, "topics ok: %s (%d partitions) -> %s, %s, %s%s%s",
                       s->sc.topic_in, f[CF_TOPIC_INPUT].partitions, s->sc.topic_flags,
                       s->sc.topic_stats, s->sc.topic_dlq, s->sc.changelog ? ", state in " : "",
                       s->sc.changelog ? s->sc.topic_changelog : "");
        /* fail_on_auth_error failed the service meanwhile: say why */
        if (!rc && atomic_load(&s->failed)) {
                pthread_mutex_lock(&s->mtx);
                snprintf(errstr, errstr_size, "%s", s->fail_reason);
                pthread_mutex_unlock(&s->mtx);
                rc = -1;
        }
        rd_kafka_destroy(rk);
        return rc;
}
