/*
 * ingest.c - Kafka ingestion: a consumer-group member of its own
 * (console.group_id) reading topics.flags and topics.stats. A batch of
 * messages is applied in one store transaction; its offsets are committed
 * only after that transaction has committed, so a crash at any point
 * re-delivers what was not durable, and the store's idempotence (store.h)
 * makes the re-delivery change nothing.
 *
 * @locality the ingestion thread (polls and parses) and its pipe's writer
 * (ingest_pipe.c: one store connection of its own, commits offsets).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console/console_int.h"
#include "pipeline/core/clock.h"
#include "pipeline/core/log.h"
#include "pipeline/kafka/kafka_conf.h"

static rd_kafka_t *consumer_new(cf_console *c)
{
        char err[1024];
        rd_kafka_conf_t *conf =
            cf_kafka_conf_new(c->cfg, c->bootstrap, CF_KAFKA_CONSUMER, err, sizeof err);
        if (!conf) {
                cf_log(CF_LOG_ERROR, "console", "ingest: %s", err);
                return NULL;
        }
        const char *kv[][2] = {{"group.id", c->cc.group_id},
                               {"enable.auto.commit", "false"},
                               {"enable.auto.offset.store", "false"},
                               {"auto.offset.reset", "earliest"}};
        for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
                if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof err)) {
                        cf_log(CF_LOG_ERROR, "console", "ingest: %s: %s", kv[i][0], err);
                        rd_kafka_conf_destroy(conf);
                        return NULL;
                }
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
        if (!rk) {
                cf_log(CF_LOG_ERROR, "console", "ingest: %s", err);
                return NULL;
        }
        rd_kafka_poll_set_consumer(rk);
        rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(2);
        rd_kafka_topic_partition_list_add(t, c->cc.topic_flags, RD_KAFKA_PARTITION_UA);
        rd_kafka_topic_partition_list_add(t, c->cc.topic_stats, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, t);
        rd_kafka_topic_partition_list_destroy(t);
        if (e) {
                cf_log(CF_LOG_ERROR, "console", "ingest: subscribe: %s", rd_kafka_err2str(e));
                rd_kafka_destroy(rk);
                return NULL;
        }
        return rk;
}

/* Sum of (high watermark - position) over the assignment, from cached values. */
static int64_t lag_of(rd_kafka_t *rk)
{
        rd_kafka_topic_partition_list_t *a = NULL;
        if (rd_kafka_assignment(rk, &a) || !a) return -1;
        int64_t lag = a->cnt ? 0 : -1;
        rd_kafka_position(rk, a);
        for (int i = 0; i < a->cnt; i++) {
                int64_t lo, hi;
                if (rd_kafka_get_watermark_offsets(rk, a->elems[i].topic, a->elems[i].partition,
                                                   &lo, &hi) ||
                    hi < 0) {
                        lag = -1;
                        break;
                }
                int64_t pos = a->elems[i].offset >= 0 ? a->elems[i].offset : lo;
                lag += hi > pos ? hi - pos : 0;
        }
        rd_kafka_topic_partition_list_destroy(a);
        return lag;
}

/* Consume up to max messages within timeout_ms into v; returns the count. */
static int fill(cf_console *c, rd_kafka_t *rk, rd_kafka_message_t **v, int max)
{
        int n = 0;
        int64_t deadline = cf_mono_ms() + c->cc.ingest_timeout_ms;
        while (n < max && !atomic_load(&c->stop)) {
                int64_t left = deadline - cf_mono_ms();
                if (left <= 0) break;
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, (int)(left > 100 ? 100 : left));
                if (!m) continue;
                if (m->err) {
                        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                cf_log(CF_LOG_WARN, "console", "ingest: %s",
                                       rd_kafka_message_errstr(m));
                        rd_kafka_message_destroy(m);
                        continue;
                }
                v[n++] = m;
        }
        return n;
}

/* Commit offset+1 of the last message of each partition (after the store). On
 * a failed batch, rewind instead: the same messages come again. */
static void offsets(cf_console *c, rd_kafka_t *rk, rd_kafka_message_t **v, int n, bool stored)
{
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
        for (int i = 0; i < n; i++) {
                const char *t = rd_kafka_topic_name(v[i]->rkt);
                rd_kafka_topic_partition_t *e =
                    rd_kafka_topic_partition_list_find(l, t, v[i]->partition);
                if (!e) {
                        e = rd_kafka_topic_partition_list_add(l, t, v[i]->partition);
                        e->offset = stored ? v[i]->offset + 1 : v[i]->offset;
                } else if (stored && v[i]->offset + 1 > e->offset) {
                        e->offset = v[i]->offset + 1;
                } else if (!stored && v[i]->offset < e->offset) {
                        e->offset = v[i]->offset;
                }
        }
        if (stored) {
                rd_kafka_resp_err_t e = rd_kafka_commit(rk, l, 0);
                if (e) cf_log(CF_LOG_WARN, "console", "ingest: commit: %s", rd_kafka_err2str(e));
                cf_counter_add_shared(e ? c->m.commit_errors : c->m.commits, 1);
        } else {
                rd_kafka_error_t *e = rd_kafka_seek_partitions(rk, l, 5000);
                if (e) rd_kafka_error_destroy(e);
        }
        rd_kafka_topic_partition_list_destroy(l);
}

/* The pipe's source: the consumer's messages, a batch's in b->handles. */
typedef struct kafka_src {
        cf_console *c;
        rd_kafka_t *rk;
        int64_t last_lag;
} kafka_src;

static int k_fill(void *op, cf_ingest_batch *b)
{
        kafka_src *k = op;
        if (!b->handles) b->handles = calloc((size_t)b->cap, sizeof(rd_kafka_message_t *));
        rd_kafka_message_t **v = b->handles;
        b->n = fill(k->c, k->rk, v, b->cap);
        for (int i = 0; i < b->n; i++)
                b->it[i] = (cf_ingest_item){
                    .msg = v[i]->payload ? v[i]->payload : "",
                    .n = v[i]->len,
                    .is_flag = !strcmp(rd_kafka_topic_name(v[i]->rkt), k->c->cc.topic_flags)};
        if (b->n || cf_mono_ms() - k->last_lag > 1000) {
                int64_t lag = lag_of(k->rk);
                cf_gauge_set(k->c->m.lag, (double)lag);
                atomic_store(&k->c->ingest_ok, lag >= 0);
                k->last_lag = cf_mono_ms();
        }
        return atomic_load(&k->c->stop) ? -1 : 0;
}

static void k_done(void *op, cf_ingest_batch *b, bool stored)
{
        kafka_src *k = op;
        offsets(k->c, k->rk, b->handles, b->n, stored);
}

static void k_release(void *op, cf_ingest_batch *b)
{
        (void)op;
        rd_kafka_message_t **v = b->handles;
        for (int i = 0; i < b->n; i++)
                rd_kafka_message_destroy(v[i]);
}

static void k_where(void *op, const cf_ingest_batch *b, int i, char *buf, size_t size)
{
        (void)op;
        const rd_kafka_message_t *m = ((rd_kafka_message_t **)b->handles)[i];
        snprintf(buf, size, "%s/%d@%lld", rd_kafka_topic_name(m->rkt), (int)m->partition,
                 (long long)m->offset);
}

void *cf_console_ingest_main(void *arg)
{
        cf_console *c = arg;
        char err[512];
        cf_store *s = cf_store_open(c->cc.db, err, sizeof err);
        if (s) cf_store_bulk(s, true);
        rd_kafka_t *rk = s ? consumer_new(c) : NULL;
        if (!rk) {
                if (!s) cf_log(CF_LOG_ERROR, "console", "ingest: %s", err);
                cf_store_close(s);
                return NULL;
        }
        /* this thread polls and parses; the pipe's writer stores and commits */
        kafka_src k = {.c = c, .rk = rk};
        cf_ingest_src src = {k_fill, k_done, k_release, k_where, &k};
        if (cf_ingest_run(c, s, &src, (int)c->cc.ingest_batch, NULL))
                cf_log(CF_LOG_ERROR, "console", "ingest: cannot start the writer thread");
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        cf_store_close(s);
        return NULL;
}
