/*
 * service.c - the service object: workers (threads), their Kafka clients,
 * start/stop/wait, and the Prometheus text assembled from what each worker
 * publishes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/clock.h"
#include "pipeline/http/metrics_text.h"
#include "pipeline/kafka/population.h"
#include "pipeline/kafka/service_int.h"
#include "pipeline/kafka/topics.h"

#define COMPONENT "service"

int cf_worker_init(cf_worker *w, cf_service *s, int id, char *errstr, size_t errstr_size)
{
        const cf_service_cfg *sc = &s->sc;
        memset(w, 0, sizeof *w);
        w->svc = s;
        w->id = id;
        for (int i = 0; i < CF_SVC_MAX_PARTITIONS; i++)
                w->next_offset[i] = w->committed[i] = w->parts[i].committed = -1;
        /* the chain first: bad rules or reference data must fail `run` before
         * any client is created (and starts connecting) */
        w->chain = cf_chain_new(s->cfg->root, s->cfg->base_dir, errstr, errstr_size);
        if (!w->chain) return -1;
        /* producer: idempotent, its delivery reports come back on this worker */
        rd_kafka_conf_t *pc = cf_service_client_conf(s->cfg, sc, s->bootstrap, CF_KAFKA_PRODUCER,
                                                     id, errstr, errstr_size);
        if (!pc) return -1;
        rd_kafka_conf_set_dr_msg_cb(pc, cf_worker_on_delivery);
        rd_kafka_conf_set_error_cb(pc, cf_worker_on_error);
        rd_kafka_conf_set_opaque(pc, w);
        /* consumer: manual commits of acknowledged batches only */
        rd_kafka_conf_t *cc = cf_service_client_conf(s->cfg, sc, s->bootstrap, CF_KAFKA_CONSUMER,
                                                     id, errstr, errstr_size);
        if (!cc) {
                rd_kafka_conf_destroy(pc);
                return -1;
        }
        rd_kafka_conf_set_rebalance_cb(cc, cf_worker_on_rebalance);
        rd_kafka_conf_set_error_cb(cc, cf_worker_on_error);
        rd_kafka_conf_set_opaque(cc, w);
        char err[512];
        w->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err);
        if (!w->producer) {
                snprintf(errstr, errstr_size, "producer: %s", err);
                rd_kafka_conf_destroy(cc);
                return -1;
        }
        w->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err);
        if (!w->consumer) {
                snprintf(errstr, errstr_size, "consumer: %s", err);
                return -1;
        }
        rd_kafka_poll_set_consumer(w->consumer);
        w->cq = rd_kafka_queue_get_consumer(w->consumer);
        cf_batch_init(&w->batch, (size_t)sc->batch_size);
        w->msgs = calloc((size_t)sc->batch_size, sizeof *w->msgs);
        return cf_outcomes_init(w, errstr, errstr_size);
}

rd_kafka_t *cf_worker_reader_new(cf_worker *w, const char *group, const char *const *extra,
                                 char *errstr, size_t errstr_size)
{
        char err[512];
        rd_kafka_conf_t *c =
            cf_kafka_conf_new(w->svc->cfg, w->svc->bootstrap, CF_KAFKA_CONSUMER, err, sizeof err);
        if (!c) {
                snprintf(errstr, errstr_size, "%s", err);
                return NULL;
        }
        /* assigned partitions only: never a group member, never a commit (the
         * group.id is required by librdkafka and unused) */
        rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
        rd_kafka_conf_set(c, "enable.auto.offset.store", "false", NULL, 0);
        rd_kafka_conf_set(c, "group.id", group, NULL, 0);
        for (int i = 0; extra && extra[i]; i += 2)
                rd_kafka_conf_set(c, extra[i], extra[i + 1], NULL, 0);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
        if (!rk) snprintf(errstr, errstr_size, "%s", err);
        return rk;
}

void cf_worker_destroy(cf_worker *w)
{
        if (w->cq) rd_kafka_queue_destroy(w->cq);
        /* the consumer was closed by a graceful stop; after a fatal error it must
         * not commit anything on the way out */
        if (w->consumer) rd_kafka_destroy_flags(w->consumer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        if (w->restore_rk) rd_kafka_destroy(w->restore_rk);
        cf_population_free(w);
        cf_outcomes_destroy(w);
        cf_txn_destroy(w);
        for (int i = 0; i < 6; i++)
                if (w->out_topics[i]) rd_kafka_topic_destroy(w->out_topics[i]);
        if (w->producer) {
                rd_kafka_flush(w->producer, 5000);
                rd_kafka_destroy(w->producer);
        }
        if (w->chain) cf_chain_destroy(w->chain);
        if (w->reloaded_cfg) {
                cf_config_free(w->reloaded_cfg);
                free(w->reloaded_cfg);
        }
        if (w->msgs) cf_batch_destroy(&w->batch); /* initialised together */
        cf_buf_free(&w->pub.chain_metrics);
        free(w->msgs);
}

cf_service *cf_service_new(const cf_config *cfg, const char *bootstrap, char *errstr,
                           size_t errstr_size)
{
        cf_service *s = calloc(1, sizeof *s);
        s->cfg = cfg;
        /* every config error before any client exists (check-config: the same code) */
        if (cf_service_validate(cfg, bootstrap, &s->sc, errstr, errstr_size)) {
                free(s);
                return NULL;
        }
        s->bootstrap = bootstrap ? strdup(bootstrap) : NULL;
        pthread_mutex_init(&s->mtx, NULL);
        s->n_workers = (int)s->sc.workers;
        s->workers = calloc((size_t)s->n_workers, sizeof *s->workers);
        s->pubs = calloc((size_t)s->n_workers, sizeof *s->pubs);
        for (int i = 0; i < s->n_workers; i++)
                if (cf_worker_init(&s->workers[i], s, i, errstr, errstr_size)) {
                        s->n_workers = i + 1;
                        cf_service_destroy(s);
                        return NULL;
                }
        return s;
}

int cf_service_start(cf_service *s, char *errstr, size_t errstr_size)
{
        s->started_ms = cf_mono_ms();
        if (s->sc.metrics_enabled && cf_metrics_http_start(s, errstr, errstr_size)) return -1;
        /* /readyz says "starting" meanwhile; a SIGTERM ends the check at once */
        if (s->sc.topics_check && cf_topics_ensure(s, errstr, errstr_size)) return -1;
        if (atomic_load(&s->stop)) return 0; /* stopped while checking: no worker started */
        for (int i = 0; i < s->n_workers; i++)
                if (pthread_create(&s->workers[i].th, NULL, cf_worker_main, &s->workers[i])) {
                        snprintf(errstr, errstr_size, "cannot start worker thread %d", i);
                        atomic_store(&s->stop, true);
                        for (int j = 0; j < i; j++)
                                pthread_join(s->workers[j].th, NULL);
                        s->n_workers = i; /* joined ones only */
                        return -1;
                }
        cf_log(CF_LOG_INFO, COMPONENT, "started %d worker(s) on %s (group %s)%s%s", s->n_workers,
               s->sc.topic_in, s->sc.group_id, s->metrics_addr[0] ? ", metrics on http://" : "",
               s->metrics_addr);
        return 0;
}

void cf_service_stop(cf_service *s)
{
        atomic_store(&s->stop, true);
}

bool cf_service_stopping(const cf_service *s)
{
        return atomic_load(&((cf_service *)s)->stop);
}

const cf_service_cfg *cf_service_config(const cf_service *s)
{
        return &s->sc;
}

void cf_service_reload(cf_service *s)
{
        atomic_fetch_add(&s->reload_gen, 1);
}

int cf_service_fenced_workers(cf_service *s)
{
        int n = 0;
        for (int i = 0; i < s->n_workers; i++)
                n += atomic_load(&s->workers[i].fenced);
        return n;
}

bool cf_service_failed(const cf_service *s)
{
        return atomic_load(&((cf_service *)s)->failed);
}

int cf_service_wait(cf_service *s)
{
        int rc = 0;
        for (int i = 0; i < s->n_workers; i++) {
                cf_worker *w = &s->workers[i];
                if (!w->th) continue;
                /* after stop, give every worker the shutdown budget in total */
                for (;;) {
                        struct timespec ts;
                        clock_gettime(CLOCK_REALTIME, &ts); /* pthread's clock; a 1 s tick */
                        ts.tv_sec += 1;
                        if (pthread_timedjoin_np(w->th, NULL, &ts) == 0) break;
                        /* one worker's fatal error stops the instance: a supervisor
                         * (systemd, Kubernetes) restarts it from the committed offsets */
                        if (atomic_load(&s->failed)) atomic_store(&s->stop, true);
                        if (!atomic_load(&s->stop)) continue;
                        if (!s->stop_at_ms) s->stop_at_ms = cf_mono_ms();
                        if (cf_mono_ms() - s->stop_at_ms > s->sc.shutdown_timeout_ms) {
                                cf_log(CF_LOG_ERROR, COMPONENT,
                                       "shutdown timeout (%" PRId64 " ms): exiting without "
                                       "waiting for worker %d",
                                       s->sc.shutdown_timeout_ms, i);
                                return 1;
                        }
                }
                w->th = 0;
        }
        if (atomic_load(&s->failed)) rc = 1;
        return rc;
}

void cf_service_progress(cf_service *s, uint64_t *in_acked, int64_t *first_batch_ms)
{
        *in_acked = atomic_load(&s->in_acked);
        *first_batch_ms = atomic_load(&s->first_batch_ms);
}

void cf_service_counters(cf_service *s, cf_counters *out)
{
        memset(out, 0, sizeof *out);
        pthread_mutex_lock(&s->mtx);
        for (int i = 0; i < s->n_workers; i++) {
                const cf_counters *k = &s->pubs[i].total;
                out->in += k->in;
                out->processed += k->processed;
                out->duplicates += k->duplicates;
                out->dead_lettered += k->dead_lettered;
                out->flagged += k->flagged;
                for (int r = 0; r < CF_RULES_MAX; r++)
                        out->flags_by_rule[r] += k->flags_by_rule[r];
                /* every worker reads every outcome: the instance's count is one worker's
                 * (the furthest) */
                if (k->outcomes_learnt > out->outcomes_learnt)
                        out->outcomes_learnt = k->outcomes_learnt;
                if (k->outcomes_dead_lettered > out->outcomes_dead_lettered)
                        out->outcomes_dead_lettered = k->outcomes_dead_lettered;
        }
        pthread_mutex_unlock(&s->mtx);
}

const cf_rule_set *cf_service_rules(const cf_service *s)
{
        /* every worker's chain has the same stages, hence the same rule set */
        return cf_chain_rules(s->workers[0].chain);
}

void cf_service_set_flag_hook(cf_service *s, cf_flag_hook hook, void *opaque)
{
        s->flag_hook = hook;
        s->flag_opaque = opaque;
}

void cf_service_set_metrics_listen(cf_service *s, const char *listen)
{
        free(s->sc.metrics_listen);
        s->sc.metrics_listen = strdup(listen);
}

const char *cf_service_metrics_addr(const cf_service *s)
{
        return s->metrics_addr;
}

int cf_service_assigned_workers(cf_service *s)
{
        int n = 0;
        pthread_mutex_lock(&s->mtx);
        for (int i = 0; i < s->n_workers; i++)
                n += s->pubs[i].assigned;
        pthread_mutex_unlock(&s->mtx);
        return n;
}

bool cf_service_ready(cf_service *s)
{
        char why[512];
        return cf_service_state(s, why, sizeof why) == CF_STATE_READY;
}

static const double lat_bounds_s[CF_LAT_BUCKETS] = {0.001, 0.002, 0.005, 0.01, 0.025, 0.05,
                                                    0.1,   0.25,  0.5,   1,    2.5,   5};

static void metric_head(cf_buf *b, const char *name, const char *type, const char *help)
{
        cf_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void cf_service_metrics(cf_service *s, cf_buf *b)
{
        const char *t = s->sc.topic_in;
        char why[512];
        cf_svc_state st = cf_service_state(s, why, sizeof why); /* takes the lock itself */
        metric_head(b, "customsflow_state", "gauge",
                    "1 for the instance's current state (what /readyz reports)");
        for (int i = CF_STATE_STARTING; i <= CF_STATE_FAILED; i++)
                cf_buf_printf(b, "customsflow_state{state=\"%s\"} %d\n",
                              cf_service_state_name((cf_svc_state)i), i == (int)st);
        pthread_mutex_lock(&s->mtx);
        static const char *const names[] = {"in", "processed", "duplicates", "dead_lettered",
                                            "flagged"};
        for (int m = 0; m < 5; m++) {
                char name[96];
                snprintf(name, sizeof name, "customsflow_records_%s_total", names[m]);
                metric_head(b, name, "counter", "records per input partition");
                for (int i = 0; i < s->n_workers; i++)
                        for (int p = 0; p < CF_SVC_MAX_PARTITIONS; p++) {
                                const cf_worker_pub *w = &s->pubs[i];
                                if (!w->has_part[p]) continue;
                                const cf_part_counters *k = &w->parts[p];
                                uint64_t v = m == 0   ? k->in
                                             : m == 1 ? k->processed
                                             : m == 2 ? k->duplicates
                                             : m == 3 ? k->dead_lettered
                                                      : k->flagged;
                                cf_buf_printf(b, "%s{topic=\"%s\",partition=\"%d\"} %" PRIu64 "\n",
                                              name, t, p, v);
                        }
        }
        metric_head(b, "customsflow_consumer_lag", "gauge",
                    "high watermark minus next offset to process");
        for (int i = 0; i < s->n_workers; i++)
                for (int p = 0; p < CF_SVC_MAX_PARTITIONS; p++)
                        if (s->pubs[i].has_part[p] && s->pubs[i].parts[p].lag >= 0)
                                cf_buf_printf(b,
                                              "customsflow_consumer_lag{topic=\"%s\",partition="
                                              "\"%d\"} %" PRId64 "\n",
                                              t, p, s->pubs[i].parts[p].lag);
        metric_head(b, "customsflow_flags_total", "counter", "flags per rule");
        const cf_rule_set *rules = cf_service_rules(s);
        for (int r = 0; r < rules->n; r++) {
                uint64_t v = 0;
                for (int i = 0; i < s->n_workers; i++)
                        v += s->pubs[i].total.flags_by_rule[r];
                cf_buf_printf(b, "customsflow_flags_total{rule=\"%s\"} %" PRIu64 "\n",
                              rules->names[r], v);
        }
        metric_head(b, "customsflow_offsets_skipped_total", "counter",
                    "offsets skipped by offset resets (records deleted before they were read: "
                    "lost upstream of every other counter)");
        for (int p = 0; p < CF_SVC_MAX_PARTITIONS; p++) {
                uint64_t v = 0;
                bool any = false;
                for (int i = 0; i < s->n_workers; i++) {
                        v += s->pubs[i].offsets_skipped[p];
                        any |= s->pubs[i].has_part[p];
                }
                if (any || v)
                        cf_buf_printf(b,
                                      "customsflow_offsets_skipped_total{topic=\"%s\",partition="
                                      "\"%d\"} %" PRIu64 "\n",
                                      t, p, v);
        }
        uint64_t viol = 0, outq = 0, commits = 0, cerr = 0, derr = 0, ck = 0, paused = 0;
        uint64_t ckerr = 0, resets = 0;
        for (int i = 0; i < s->n_workers; i++) {
                ckerr += s->pubs[i].checkpoint_errors;
                resets += s->pubs[i].resets;
                viol += s->pubs[i].invariant_violations;
                outq += s->pubs[i].outq;
                commits += s->pubs[i].commits;
                cerr += s->pubs[i].commit_errors;
                derr += s->pubs[i].delivery_errors;
                ck += s->pubs[i].checkpoints;
                paused += s->pubs[i].paused;
        }
        metric_head(b, "customsflow_invariant_ok", "gauge",
                    "1 while in = processed + duplicates + dead_lettered held at every commit");
        cf_buf_printf(b, "customsflow_invariant_ok %d\n", viol == 0);
        metric_head(b, "customsflow_producer_queue_depth", "gauge", "messages awaiting acks");
        cf_buf_printf(b, "customsflow_producer_queue_depth %" PRIu64 "\n", outq);
        metric_head(b, "customsflow_commits_total", "counter", "offset commits");
        cf_buf_printf(b, "customsflow_commits_total %" PRIu64 "\n", commits);
        metric_head(b, "customsflow_commit_errors_total", "counter", "failed offset commits");
        cf_buf_printf(b, "customsflow_commit_errors_total %" PRIu64 "\n", cerr);
        metric_head(b, "customsflow_delivery_errors_total", "counter", "outputs not delivered");
        cf_buf_printf(b, "customsflow_delivery_errors_total %" PRIu64 "\n", derr);
        metric_head(b, "customsflow_checkpoints_total", "counter", "state checkpoints written");
        cf_buf_printf(b, "customsflow_checkpoints_total %" PRIu64 "\n", ck);
        uint64_t pp = 0, pa = 0, pr = 0;
        for (int i = 0; i < s->n_workers; i++) {
                pp += s->pubs[i].population_published;
                pa += s->pubs[i].population_applied;
                pr += s->pubs[i].population_refused;
        }
        metric_head(b, "customsflow_population_messages_total", "counter",
                    "population-state messages published (contributions, certificate uses), "
                    "applied to the workers' replicas, refused as malformed");
        cf_buf_printf(b,
                      "customsflow_population_messages_total{result=\"published\"} %" PRIu64
                      "\ncustomsflow_population_messages_total{result=\"applied\"} %" PRIu64
                      "\ncustomsflow_population_messages_total{result=\"refused\"} %" PRIu64 "\n",
                      pp, pa, pr);
        metric_head(b, "customsflow_checkpoint_errors_total", "counter",
                    "failed state checkpoints (offsets of the partition not committed; retried)");
        cf_buf_printf(b, "customsflow_checkpoint_errors_total %" PRIu64 "\n", ckerr);
        metric_head(b, "customsflow_offset_resets_total", "counter",
                    "positions out of range reset by auto.offset.reset");
        cf_buf_printf(b, "customsflow_offset_resets_total %" PRIu64 "\n", resets);
        metric_head(b, "customsflow_kafka_auth_errors_total", "counter",
                    "Kafka authentication, authorization and TLS failures");
        cf_buf_printf(b, "customsflow_kafka_auth_errors_total %" PRIu64 "\n",
                      (uint64_t)atomic_load(&s->auth_errors));
        metric_head(b, "customsflow_backpressure_pauses_total", "counter",
                    "times fetching was paused waiting for output acks");
        cf_buf_printf(b, "customsflow_backpressure_pauses_total %" PRIu64 "\n", paused);
        metric_head(b, "customsflow_batch_seconds", "histogram",
                    "batch latency: consume to every output acknowledged");
        uint64_t cum = 0, count = 0;
        double sum = 0;
        for (int k = 0; k <= CF_LAT_BUCKETS; k++) {
                for (int i = 0; i < s->n_workers; i++)
                        cum += s->pubs[i].lat_bucket[k];
                if (k < CF_LAT_BUCKETS)
                        cf_buf_printf(b,
                                      "customsflow_batch_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                                      lat_bounds_s[k], cum);
        }
        for (int i = 0; i < s->n_workers; i++) {
                count += s->pubs[i].batches;
                sum += s->pubs[i].lat_sum_s;
        }
        cf_buf_printf(b, "customsflow_batch_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
        cf_buf_printf(
            b, "customsflow_batch_seconds_sum %.6f\ncustomsflow_batch_seconds_count %" PRIu64 "\n",
            sum, count);
        cf_buf *per = malloc((size_t)s->n_workers * sizeof(*per));
        if (!per) abort();
        for (int i = 0; i < s->n_workers; i++)
                per[i] = s->pubs[i].chain_metrics;
        cf_metrics_merge_workers(b, per, s->n_workers);
        free(per);
        pthread_mutex_unlock(&s->mtx);
}

void cf_service_destroy(cf_service *s)
{
        if (!s) return;
        cf_metrics_http_stop(s);
        for (int i = 0; i < s->n_workers; i++)
                cf_worker_destroy(&s->workers[i]);
        for (int i = 0; i < s->n_workers; i++)
                cf_buf_free(&s->pubs[i].chain_metrics);
        free(s->workers);
        free(s->pubs);
        free(s->bootstrap);
        cf_service_cfg_free(&s->sc);
        pthread_mutex_destroy(&s->mtx);
        free(s);
}
