/*
 * outbox.c - publishes verdict outcomes to topics.outcomes (key exporter_id,
 * schemas/outcome.schema.json). A verdict and its outcome are stored in one
 * transaction (the transactional outbox pattern); this thread produces what
 * is pending with an idempotent producer and marks a row published when the
 * broker acknowledges it, so an outcome is never lost by a crash or a broker
 * outage (at-least-once; consumers key on declaration_id + line + case_id).
 *
 * @locality the outbox thread (one producer, one store connection).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "console/console_int.h"
#include "pipeline/core/clock.h"
#include "pipeline/core/log.h"
#include "pipeline/kafka/kafka_conf.h"

typedef struct ob {
        cf_console *c;
        cf_store *s;
        rd_kafka_t *rk;
        int64_t sent_upto; /* highest outbox id handed to the producer */
        int in_flight;
} ob;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        ob *o = opaque;
        int64_t id = (int64_t)(intptr_t)m->_private;
        char err[256];
        o->in_flight--;
        if (m->err) {
                cf_counter_add_shared(o->c->m.outcome_errors, 1);
                cf_log(CF_LOG_WARN, "console", "outcome %lld not delivered: %s", (long long)id,
                       rd_kafka_err2str(m->err));
                if (id - 1 < o->sent_upto) o->sent_upto = id - 1; /* send it again */
                return;
        }
        if (cf_store_outbox_done(o->s, id, cf_now_ms(), err, sizeof err))
                cf_log(CF_LOG_WARN, "console", "outcome %lld: %s", (long long)id, err);
        else
                cf_counter_add_shared(o->c->m.outcomes_published, 1);
}

static int produce_one(void *op, const cf_outbox_row *r)
{
        ob *o = op;
        rd_kafka_resp_err_t e =
            rd_kafka_producev(o->rk, RD_KAFKA_V_TOPIC(o->c->cc.topic_outcomes),
                              RD_KAFKA_V_KEY(r->key, strlen(r->key)),
                              RD_KAFKA_V_VALUE((void *)r->payload, strlen(r->payload)),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_OPAQUE((void *)(intptr_t)r->id), RD_KAFKA_V_END);
        if (e) return 1; /* queue full: the rest next round */
        o->sent_upto = r->id;
        o->in_flight++;
        return 0;
}

static rd_kafka_t *producer_new(cf_console *c, ob *o)
{
        char err[1024];
        rd_kafka_conf_t *conf =
            cf_kafka_conf_new(c->cfg, c->bootstrap, CF_KAFKA_PRODUCER, err, sizeof err);
        if (!conf) {
                cf_log(CF_LOG_ERROR, "console", "outcomes: %s", err);
                return NULL;
        }
        rd_kafka_conf_set(conf, "enable.idempotence", "true", NULL, 0);
        rd_kafka_conf_set(conf, "linger.ms", "5", NULL, 0);
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_opaque(conf, o);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        if (!rk) cf_log(CF_LOG_ERROR, "console", "outcomes: %s", err);
        return rk;
}

void *cf_console_outbox_main(void *arg)
{
        cf_console *c = arg;
        char err[512];
        ob o = {.c = c};
        o.s = cf_store_open(c->cc.db, err, sizeof err);
        o.rk = o.s ? producer_new(c, &o) : NULL;
        if (!o.rk) {
                if (!o.s) cf_log(CF_LOG_ERROR, "console", "outcomes: %s", err);
                cf_store_close(o.s);
                return NULL;
        }
        while (!atomic_load(&c->stop)) {
                if (cf_store_outbox_pending(o.s, o.sent_upto, 1000, produce_one, &o, err,
                                            sizeof err))
                        cf_log(CF_LOG_WARN, "console", "outcomes: %s", err);
                rd_kafka_poll(o.rk, 50);
                /* sleep until a verdict kicks us, or poll deliveries every 100 ms */
                pthread_mutex_lock(&c->ob_mtx);
                if (!c->ob_kick && !o.in_flight) {
                        struct timespec ts;
                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_nsec += 100 * 1000000L;
                        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
                        pthread_cond_timedwait(&c->ob_cv, &c->ob_mtx, &ts);
                }
                c->ob_kick = false;
                pthread_mutex_unlock(&c->ob_mtx);
        }
        rd_kafka_flush(o.rk, 10000); /* deliveries mark their rows published */
        rd_kafka_destroy(o.rk);
        cf_store_close(o.s);
        return NULL;
}
