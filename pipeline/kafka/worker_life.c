/*
 * worker_life.c - a worker's life around its batch loop (worker.c): the output
 * topics made known before the first batch, SIGHUP reloads of its stages, and
 * leaving the group at the end.
 *
 * @locality: worker thread
 */
#include <stdlib.h>

#include "pipeline/core/clock.h"
#include "pipeline/kafka/service_int.h"

#define COMPONENT "worker"

#define CLOSE_WAIT_MS 10000 /* bound on leaving the group at shutdown */

/* Of shutdown_timeout, what a worker leaves to cf_service_wait to see it end (the
 * service gives up on it shutdown_timeout after its first 1 s tick past the stop). */
#define STOP_MARGIN_MS 1000

/* Of the shutdown budget, what the waits before leaving the group leave to it (at most a
 * quarter): the close must serve its revoke. A consumer destroyed while its close waits for
 * the revoke never returns (librdkafka's main thread blocks on a lock; seen when the final
 * commit took the whole budget and the close was given up at once). */
#define LEAVE_RESERVE_MS 3000

/* Every wait of a stopping worker (a commit, acknowledgements, the other workers, leaving
 * the group) had its own bound (10 s each) and none knew shutdown_timeout: a stop during a
 * commit to a slow coordinator took a commit in the loop, the final commit and the
 * revoke's commit in the close, 10 s each: 29.5 s of the default 30 s measured with
 * OffsetCommit answered after 15 s on the mock cluster; a stop a little earlier in that
 * commit, and the service gave up on the worker (exit 1) with its member still in the
 * group (test_kafka_stop_budget). Now they share one deadline. */
int64_t cf_worker_stop_left_ms(cf_worker *w)
{
        cf_service *s = w->svc;
        if (!atomic_load(&s->stop)) return INT64_MAX;
        int64_t now = cf_mono_ms();
        int_fast64_t at = atomic_load(&s->stopped_ms);
        /* stopped without cf_service_stop (a failed worker, health.c): the first to ask
         * starts the clock */
        if (!at && atomic_compare_exchange_strong(&s->stopped_ms, &at, (int_fast64_t)now)) at = now;
        int64_t reserve = s->sc.shutdown_timeout_ms / 4;
        if (reserve > LEAVE_RESERVE_MS) reserve = LEAVE_RESERVE_MS;
        return at + s->sc.shutdown_timeout_ms - STOP_MARGIN_MS - (w->leaving ? 0 : reserve) - now;
}

/* SIGHUP: re-read the config file and reload this worker's stages (rules and
 * reference data), keeping their state. Each worker reloads its own chain. */
void cf_worker_maybe_reload(cf_worker *w)
{
        unsigned gen = atomic_load(&w->svc->reload_gen);
        if (gen == w->reload_seen) return;
        w->reload_seen = gen;
        char err[1024];
        cf_config *nc = calloc(1, sizeof *nc);
        const char *path = w->svc->cfg->path[0] ? w->svc->cfg->path : NULL;
        if (cf_config_load(nc, path, err, sizeof err) ||
            cf_chain_reload(w->chain, nc->root, nc->base_dir, err, sizeof err)) {
                cf_log(CF_LOG_ERROR, COMPONENT, "worker %d: reload failed, keeping rules: %s",
                       w->id, err);
                cf_config_free(nc);
                free(nc);
                return;
        }
        /* stages may borrow config nodes: keep this document until the next reload */
        if (w->reloaded_cfg) {
                cf_config_free(w->reloaded_cfg);
                free(w->reloaded_cfg);
        }
        w->reloaded_cfg = nc;
        cf_log(CF_LOG_INFO, COMPONENT, "worker %d: rules and reference data reloaded", w->id);
}

/* Make the output topics known to the producer before the first batch: the
 * first message to a topic the producer does not know yet waits for its
 * metadata (~1 s measured on the mock cluster), which would otherwise stall
 * the first batch and the first checkpoint. A new topic handle starts that
 * lookup in the background; nothing here waits for it (a blocking metadata
 * call here held a SIGTERM, or an authentication failure, for 4 x 5 s). */
void cf_worker_out_names(const cf_worker *w, const char *names[CF_OUT_TOPICS])
{
        const cf_service_cfg *sc = &w->svc->sc;
        const char *n[CF_OUT_TOPICS] = {
            sc->topic_flags,     sc->topic_stats,
            sc->topic_dlq,       sc->changelog ? sc->topic_changelog : NULL,
            sc->topic_baselines, sc->topic_certificates};
        for (int i = 0; i < CF_OUT_TOPICS; i++)
                names[i] = n[i];
}

void cf_worker_warm_up(cf_worker *w)
{
        const char *names[CF_OUT_TOPICS];
        cf_worker_out_names(w, names);
        for (int i = 0; i < CF_OUT_TOPICS; i++)
                if (names[i]) w->out_topics[i] = rd_kafka_topic_new(w->producer, names[i], NULL);
}

/* Leave the group (the revoke callback checkpoints and commits), at most
 * budget_ms and never past the shutdown budget (cf_worker_stop_left_ms):
 * rd_kafka_consumer_close waits for good when the member is mid-rebalance and
 * its coordinator is gone (seen in test_kafka_faults after a broker outage),
 * which would hold shutdown past its timeout. The asynchronous close serves
 * the rebalance callback on our queue; past the budget the member is left for
 * the group to expire (session.timeout.ms). Offsets were committed before
 * this: nothing is lost either way.
 * @locality: worker thread */
static void close_consumer(cf_worker *w, int64_t budget_ms)
{
        rd_kafka_queue_t *q = rd_kafka_queue_new(w->consumer);
        rd_kafka_error_t *e = rd_kafka_consumer_close_queue(w->consumer, q);
        if (e) {
                cf_log(CF_LOG_WARN, COMPONENT, "worker %d: close: %s", w->id,
                       rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                rd_kafka_queue_destroy(q);
                return;
        }
        int64_t t0 = cf_mono_ms();
        while (!rd_kafka_consumer_closed(w->consumer)) {
                if (cf_mono_ms() - t0 >= budget_ms || cf_worker_stop_left_ms(w) <= 0) {
                        cf_log(CF_LOG_WARN, COMPONENT,
                               "worker %d: leaving the group given up after %lld ms (its bound "
                               "or the shutdown budget); left to expire",
                               w->id, (long long)(cf_mono_ms() - t0));
                        break;
                }
                /* The close forwards the consumer's queue here, so messages fetched
                 * before the close arrive too. Served as events, not callbacks:
                 * rd_kafka_queue_poll_callback asserts on a message
                 * (rd_kafka_q_serve: res != RD_KAFKA_OP_RES_PASS -- SIGTERM under
                 * load aborted with exit 134). Fetched messages are dropped (their
                 * offsets are not committed); a rebalance returned as an event is
                 * handled as the callback would be. */
                rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
                if (!ev) continue;
                if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
                        cf_worker_on_rebalance(w->consumer, rd_kafka_event_error(ev),
                                               rd_kafka_event_topic_partition_list(ev), w);
                rd_kafka_event_destroy(ev);
        }
        rd_kafka_queue_destroy(q);
}

void cf_worker_leave(cf_worker *w)
{
        w->leaving = true; /* the reserve of the shutdown budget is for this */
        close_consumer(w, CLOSE_WAIT_MS);
}
