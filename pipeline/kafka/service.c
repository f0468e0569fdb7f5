/*
 * service.c - the service object: workers (threads), their Kafka clients,
 * start/stop/wait, and /metrics: the workers' registries merged.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/core/clock.h"
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
        for (int i = 0; i < CF_SVC_MAX_PARTITIONS; i++) {
                w->next_offset[i] = w->committed[i] = -1;
                cf_fetch_gate_reset(&w->gate[i]);
        }
        /* the chain first: bad rules or reference data must fail `run` before
         * any client is created (and starts connecting) */
        w->chain = cf_chain_new(s->cfg->root, s->cfg->base_dir, errstr, errstr_size);
        if (!w->chain) return -1;
        /* checkpoints are deltas of what changed (changelog_write.c): the stages record it */
        cf_chain_track_changes(w->chain, sc->changelog && sc->full_snapshot_ratio > 0);
        cf_worker_metrics_init(w);
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
        /* timestamp order (align.c) waits for a partition only until it is at its end */
        if (sc->align_buffer > 0) rd_kafka_conf_set(cc, "enable.partition.eof", "true", NULL, 0);
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
        if (sc->align_buffer > 0) {
                w->align = cf_align_new(CF_SVC_MAX_PARTITIONS);
                w->pull = calloc((size_t)sc->batch_size, sizeof *w->pull);
                if (!w->align || !w->pull) {
                        snprintf(errstr, errstr_size, "out of memory (pipeline.align_buffer)");
                        return -1;
                }
        }
        return cf_outcomes_init(w, errstr, errstr_size);
}

/* A property of conf as a number (-1: unknown). */
static long long conf_num(rd_kafka_conf_t *c, const char *name)
{
        char v[32];
        size_t n = sizeof v;
        return rd_kafka_conf_get(c, name, v, &n) == RD_KAFKA_CONF_OK ? strtoll(v, NULL, 10) : -1;
}

/* librdkafka refuses a fetch.max.bytes set below message.max.bytes or above
 * receive.message.max.bytes - 512: a reader's own value (changelog.c) is brought within
 * what the kafka: section sets for those two. */
static void fit_fetch_max(rd_kafka_conf_t *c)
{
        long long fetch = conf_num(c, "fetch.max.bytes"), msg = conf_num(c, "message.max.bytes"),
                  recv = conf_num(c, "receive.message.max.bytes");
        if (fetch < 0) return;
        long long want = fetch < msg ? msg : fetch;
        if (recv > 512 && want > recv - 512) want = recv - 512;
        if (want == fetch) return;
        char v[32];
        snprintf(v, sizeof v, "%lld", want);
        rd_kafka_conf_set(c, "fetch.max.bytes", v, NULL, 0);
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
        fit_fetch_max(c);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
        if (!rk) {
                rd_kafka_conf_destroy(c); /* still ours when rd_kafka_new fails */
                snprintf(errstr, errstr_size, "%s", err);
        }
        return rk;
}

void cf_worker_destroy(cf_worker *w)
{
        cf_worker_align_free(w); /* its messages before their consumer */
        if (w->cq) rd_kafka_queue_destroy(w->cq);
        /* the consumer was closed by a graceful stop; after a fatal error it must
         * not commit anything on the way out */
        if (w->consumer) rd_kafka_destroy_flags(w->consumer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS && w->n_clog_rd; p++)
                cf_changelog_read_free(w, w->clog_rd[p]); /* restores cut short by a stop */
        if (w->restore_rk) rd_kafka_destroy(w->restore_rk);
        cf_population_free(w);
        cf_outcomes_destroy(w);
        cf_txn_destroy(w);
        cf_changelog_parts_free(w);
        cf_commit_round_free(w);
        for (int i = 0; i < CF_OUT_TOPICS; i++)
                if (w->out_topics[i]) rd_kafka_topic_destroy(w->out_topics[i]);
        if (w->producer) {
                rd_kafka_flush(w->producer, 5000);
                rd_kafka_destroy(w->producer);
        }
        cf_worker_metrics_free(w); /* no delivery report can come any more */
        if (w->chain) cf_chain_destroy(w->chain);
        if (w->reloaded_cfg) {
                cf_config_free(w->reloaded_cfg);
                free(w->reloaded_cfg);
        }
        if (w->msgs) cf_batch_destroy(&w->batch); /* initialised together */
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
        cf_service_metrics_init(s);
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
        /* the workers' shutdown budget starts here (a signal handler may call this:
         * clock_gettime and a lock-free atomic are async-signal-safe) */
        int_fast64_t none = 0;
        atomic_compare_exchange_strong(&s->stopped_ms, &none, (int_fast64_t)cf_mono_ms());
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

bool cf_service_restoring(cf_service *s)
{
        for (int i = 0; i < s->n_workers; i++)
                if (atomic_load(&s->workers[i].restoring)) return true;
        return false;
}

bool cf_service_ready(cf_service *s)
{
        char why[512];
        return cf_service_state(s, why, sizeof why) == CF_STATE_READY;
}

void cf_service_metrics(cf_service *s, cf_buf *b)
{
        /* The instance's series first, refreshed here; the chains (and their
         * registries) live from cf_service_new to cf_service_destroy, which
         * stops the HTTP thread first. */
        char why[512];
        cf_svc_state st = cf_service_state(s, why, sizeof why); /* takes s->mtx itself */
        cf_metrics **regs = malloc((size_t)(s->n_workers + 1) * sizeof(*regs));
        if (!regs) abort();
        pthread_mutex_lock(&s->reg_mtx);
        for (int i = 0; i < CF_SVC_STATES; i++)
                cf_gauge_set(s->m_state[i], i == (int)st);
        cf_counter_follow(s->m_auth_errors, &s->auth_seen, atomic_load(&s->auth_errors), 0);
        size_t n = 0;
        regs[n++] = s->reg;
        for (int i = 0; i < s->n_workers; i++)
                if (s->workers[i].chain) regs[n++] = cf_chain_registry(s->workers[i].chain);
        cf_metrics_encode(b, regs, n);
        pthread_mutex_unlock(&s->reg_mtx);
        free(regs);
}

void cf_service_destroy(cf_service *s)
{
        if (!s) return;
        cf_metrics_http_stop(s);
        for (int i = 0; i < s->n_workers; i++)
                cf_worker_destroy(&s->workers[i]);
        free(s->workers);
        free(s->pubs);
        free(s->bootstrap);
        cf_service_cfg_free(&s->sc);
        pthread_mutex_destroy(&s->mtx);
        cf_service_metrics_free(s);
        free(s);
}

/* @locality: the thread that stopped the service (main) */
int64_t cf_service_stop_left_ms(cf_service *s)
{
        int_fast64_t at = atomic_load(&s->stopped_ms);
        if (!at) return s->sc.shutdown_timeout_ms;
        return at + s->sc.shutdown_timeout_ms - cf_mono_ms();
}

/* One cf_service_destroy_by: the thread frees the service, then this (when it was
 * not given up on) or the caller (when it was) frees it. */
typedef struct destroyer {
        cf_service *s;
        pthread_mutex_t mtx;
        pthread_cond_t cv;
        bool done, abandoned;
} destroyer;

static void *destroy_main(void *arg)
{
        destroyer *d = arg;
        cf_service_destroy(d->s);
        pthread_mutex_lock(&d->mtx);
        d->done = true;
        bool abandoned = d->abandoned;
        pthread_cond_signal(&d->cv);
        pthread_mutex_unlock(&d->mtx);
        if (abandoned) free(d); /* nobody waits any more; the mutex is never used again */
        return NULL;
}

/* Why a thread: a consumer's rd_kafka_destroy waits for its commits in flight, whatever
 * the flags, with no timeout of its own; an OffsetCommit answered after 20 s held a stop
 * that had kept shutdown_timeout (8 s) for 25 s (test_kafka_stop_budget). */
bool cf_service_destroy_by(cf_service *s, int64_t ms)
{
        destroyer *d = calloc(1, sizeof *d);
        if (!d) abort();
        d->s = s;
        pthread_mutex_init(&d->mtx, NULL);
        pthread_cond_init(&d->cv, NULL);
        pthread_t t;
        if (pthread_create(&t, NULL, destroy_main, d)) {
                free(d);
                cf_service_destroy(s);
                return true;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until); /* pthread_cond_timedwait's clock */
        until.tv_sec += ms / 1000;
        until.tv_nsec += (ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&d->mtx);
        while (!d->done && pthread_cond_timedwait(&d->cv, &d->mtx, &until) == 0) {
        }
        bool done = d->done;
        if (!done) d->abandoned = true;
        pthread_mutex_unlock(&d->mtx);
        if (!done) {
                pthread_detach(t);
                return false;
        }
        pthread_join(t, NULL);
        pthread_mutex_destroy(&d->mtx);
        pthread_cond_destroy(&d->cv);
        free(d);
        return true;
}
