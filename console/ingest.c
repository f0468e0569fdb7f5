/*
 * ingest.c - Kafka ingestion: a consumer-group member of its own
 * (console.group_id) reading topics.flags and topics.stats. A batch of
 * messages is applied in one store transaction; its offsets are committed
 * only after that transaction has committed, so a crash at any point
 * re-delivers what was not durable, and the store's idempotence (store.h)
 * makes the re-delivery change nothing.
 *
 * @locality the ingestion thread (one store connection of its own).
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

/* Apply v[0..n) in one transaction; 0 when committed. */
static int apply(cf_console *c, cf_store *s, cf_flag_parser *p, rd_kafka_message_t **v, int n)
{
        char err[512];
        if (cf_store_begin(s, err, sizeof err)) goto fail;
        for (int i = 0; i < n; i++) {
                const char *topic = rd_kafka_topic_name(v[i]->rkt);
                char where[300];
                snprintf(where, sizeof where, "%s/%d@%lld", topic, (int)v[i]->partition,
                         (long long)v[i]->offset);
                if (cf_console_ingest_one(c, s, p, !strcmp(topic, c->cc.topic_flags),
                                          v[i]->payload ? v[i]->payload : "", v[i]->len, where)) {
                        cf_store_rollback(s);
                        snprintf(err, sizeof err, "%s: the store failed", where);
                        goto fail;
                }
        }
        if (cf_store_commit(s, err, sizeof err)) {
                cf_store_rollback(s);
                goto fail;
        }
        cf_counter_add_shared(c->m.ingest_batches, 1);
        return 0;
fail:
        cf_counter_add_shared(c->m.ingest_errors, 1);
        cf_log(CF_LOG_ERROR, "console", "ingest: batch not stored: %s", err);
        return -1;
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
        int max = (int)c->cc.ingest_batch;
        rd_kafka_message_t **v = calloc((size_t)max, sizeof *v);
        cf_flag_parser p = {0};
        int64_t last_lag = 0;
        uint64_t analyzed_at = 0; /* cases created when the statistics were last refreshed */
        while (!atomic_load(&c->stop)) {
                int n = fill(c, rk, v, max);
                if (n) {
                        bool ok = !apply(c, s, &p, v, n);
                        offsets(c, rk, v, n, ok);
                        if (!ok) usleep(500 * 1000); /* e.g. the disk is full: retry, slowly */
                }
                for (int i = 0; i < n; i++)
                        rd_kafka_message_destroy(v[i]);
                uint64_t cases = cf_counter_get(c->m.cases_new);
                if (cases - analyzed_at >= 100000) { /* the store grew: re-plan */
                        cf_store_optimize(s);
                        analyzed_at = cases;
                }
                if (n || cf_mono_ms() - last_lag > 1000) {
                        int64_t lag = lag_of(rk);
                        cf_gauge_set(c->m.lag, (double)lag);
                        atomic_store(&c->ingest_ok, lag >= 0);
                        last_lag = cf_mono_ms();
                }
        }
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        free(v);
        cf_flag_parser_free(&p);
        cf_store_close(s);
        return NULL;
}
