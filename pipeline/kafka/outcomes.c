/*
 * outcomes.c - the outcomes input (DESIGN §6): inspection outcomes and the
 * review console's verdicts on topics.outcomes, read WHOLE by every worker (a
 * consumer outside the group, assigned every partition), in topic order, like
 * Kafka Streams' GlobalKTable. Each batch goes through the chain's learn
 * callbacks (decode checks it, the risk model learns it); a bad outcome goes
 * to the dead-letter topic with its code and source coordinates, never to the
 * model. Every worker learns the same outcomes in the same order, so every
 * worker holds the same model (one partition: see RULES.md).
 *
 * At start, before it joins the group, a worker restores the global state
 * (the model and the outcome offsets it covers) from the changelog and reads
 * the outcomes topic up to its end (as a GlobalKTable is bootstrapped before
 * processing starts); after that it polls for new outcomes between batches,
 * without blocking. Worker 0 checkpoints the global state with its offsets
 * to the changelog (partition 0) at most every state.outcomes_interval, when
 * it learnt something since. A snapshot taken with other model settings, or
 * one that cannot be read, means re-learning from the start of the topic:
 * the outcomes themselves are the source of truth, so nothing is lost.
 *
 * @locality: the worker's thread (no lock: the consumer and the chain are the
 * worker's own).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/clock.h"
#include "pipeline/core/stenc.h"
#include "pipeline/kafka/service_int.h"

#define COMPONENT    "outcomes"
#define MAGIC        "CFOC"
#define CKPT_VERSION 1    /* "CFOUT1" (raw offsets before a sealed model) was never released */
#define POLL_MAX     1024 /* outcomes learnt per call between input batches */

static bool enabled(const cf_worker *w)
{
        return w->svc->sc.topic_outcomes && w->svc->sc.topic_outcomes[0];
}

/* ---- the checkpoint: offsets + the chain's global snapshot ---- */

/* Layout (pipeline/core/stenc.h, sealed: XXH3 checked before anything is read):
 * magic "CFOC", version (u16), partitions (u64 count), the next offset per
 * partition (i64), then a block holding the chain's global snapshot
 * (cf_chain_global_snapshot). */
static int checkpoint(cf_worker *w)
{
        cf_buf b = {0};
        size_t seal = cf_st_seal_begin(&b);
        memcpy(cf_st_room(&b, 4), MAGIC, 4);
        cf_st_put_u16(&b, CKPT_VERSION);
        cf_st_put_u64(&b, (uint64_t)w->out_parts);
        int64_t covers = 0; /* what the changelog orders checkpoints by */
        for (int p = 0; p < w->out_parts; p++) {
                cf_st_put_i64(&b, w->out_next[p]);
                covers += w->out_next[p];
        }
        size_t blk = cf_st_block_begin(&b);
        int rc = cf_chain_global_snapshot(w->chain, &b);
        cf_st_block_end(&b, blk);
        cf_st_seal_end(&b, seal);
        if (!rc) rc = cf_changelog_write_global(w, &b, covers);
        if (!rc) {
                w->out_dirty = false;
                w->out_checkpoint_ms = cf_mono_ms();
                cf_log(CF_LOG_DEBUG, COMPONENT, "worker %d: model checkpointed (%zu bytes)", w->id,
                       b.len);
        } else {
                cf_counter_inc(w->m.checkpoint_errors);
        }
        cf_buf_free(&b);
        return rc;
}

/* The checkpoint's offsets into next (n of them) and where its model is; -1 with the
 * reason in err when it is not one this build wrote. */
static int read_checkpoint(const cf_buf *b, int64_t *next, uint64_t *n, const void **model,
                           size_t *model_len, char *err, size_t err_size)
{
        const void *pl;
        size_t plen;
        if (cf_st_unseal(b->p, b->len, &pl, &plen, err, err_size)) return -1;
        cf_st_dec d;
        cf_st_dec_init(&d, pl, plen, "model checkpoint", err, err_size);
        const unsigned char *m = cf_st_take(&d, 4);
        if (m && memcmp(m, MAGIC, 4)) cf_st_fail(&d, "magic: not a model checkpoint");
        unsigned v = cf_st_u16(&d);
        if (cf_st_ok(&d) && v != CKPT_VERSION)
                cf_st_fail(&d, "version %u, this build reads %d", v, CKPT_VERSION);
        *n = cf_st_count(&d, 8, CF_OUT_MAX_PARTS, "outcome partitions");
        for (uint64_t p = 0; p < *n && cf_st_ok(&d); p++) {
                next[p] = cf_st_i64(&d);
                if (cf_st_ok(&d) && next[p] < 0)
                        cf_st_fail(&d, "offset %lld of partition %d", (long long)next[p], (int)p);
        }
        const unsigned char *outer = cf_st_enter(&d);
        *model_len = cf_st_left(&d);
        *model = cf_st_take(&d, *model_len);
        cf_st_leave(&d, outer, "the model");
        return cf_st_done(&d) ? 0 : -1;
}

/* Forget the model and learn again from offset 0: the outcomes are the source of truth. */
static void relearn(cf_worker *w)
{
        char e2[256];
        cf_chain_global_restore(w->chain, NULL, 0, e2, sizeof e2);
        for (int p = 0; p < w->out_parts; p++)
                w->out_next[p] = 0;
        cf_counter_inc(w->m.outcome_relearns);
}

/* Restore the model and the offsets; on any doubt, start empty from offset 0. end: the sum
 * of the topic's end offsets (no checkpoint covers more), -1 not known. */
static void restore(cf_worker *w, int64_t end)
{
        char err[512] = "";
        cf_buf b = {0};
        bool found = false;
        for (int p = 0; p < w->out_parts; p++)
                w->out_next[p] = 0;
        int rc = end < 0                ? -1
                 : w->svc->sc.changelog ? cf_changelog_read_global(w, end, &b, &found)
                                        : 0;
        if (!rc && found) {
                int64_t next[CF_OUT_MAX_PARTS];
                uint64_t n = 0;
                const void *model = NULL;
                size_t model_len = 0;
                rc = read_checkpoint(&b, next, &n, &model, &model_len, err, sizeof err) ? 1 : 0;
                if (!rc) rc = cf_chain_global_restore(w->chain, model, model_len, err, sizeof err);
                /* offsets of partitions that exist now; new ones from 0 */
                for (uint64_t p = 0; rc == 0 && p < n && (int)p < w->out_parts; p++)
                        w->out_next[p] = next[p];
        }
        if (rc) {
                cf_log(CF_LOG_WARN, COMPONENT,
                       "worker %d: model checkpoint not used (%s): re-learning from the start "
                       "of %s",
                       w->id,
                       rc > 0   ? err
                       : err[0] ? err
                                : "read failed",
                       w->svc->sc.topic_outcomes);
                relearn(w);
        } else if (found) {
                cf_log(CF_LOG_INFO, COMPONENT, "worker %d: model restored (%zu bytes)", w->id,
                       b.len);
        }
        cf_buf_free(&b);
}

/* ---- reading ---- */

static int assign(cf_worker *w)
{
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(w->out_parts);
        for (int p = 0; p < w->out_parts; p++)
                rd_kafka_topic_partition_list_add(l, w->svc->sc.topic_outcomes, p)->offset =
                    w->out_next[p];
        rd_kafka_resp_err_t e = rd_kafka_assign(w->oc, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (e)
                cf_log(CF_LOG_ERROR, COMPONENT, "worker %d: assign %s: %s", w->id,
                       w->svc->sc.topic_outcomes, rd_kafka_err2str(e));
        return e ? -1 : 0;
}

/* The topic's partition count (0: it does not exist, -1: unknown). */
static int partitions(cf_worker *w)
{
        rd_kafka_topic_t *t = rd_kafka_topic_new(w->oc, w->svc->sc.topic_outcomes, NULL);
        const struct rd_kafka_metadata *md = NULL;
        int n = -1;
        if (t && !rd_kafka_metadata(w->oc, 0, t, &md, 10000) && md->topic_cnt == 1)
                n = md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
                        ? 0
                        : md->topics[0].partition_cnt;
        if (md) rd_kafka_metadata_destroy(md);
        if (t) rd_kafka_topic_destroy(t);
        return n;
}

/* Learn what one fetch returned: decode + learn through the chain, bad ones to
 * the DLQ. Returns the messages handled or -1 when a dead letter failed. */
static int learn_fetched(cf_worker *w, int max, int timeout_ms)
{
        ssize_t n = rd_kafka_consume_batch_queue(w->oq, timeout_ms, w->omsgs, (size_t)max);
        if (n <= 0) return 0;
        cf_batch *b = &w->obatch;
        cf_batch_reset(b);
        b->now_ms = cf_now_ms();
        for (ssize_t i = 0; i < n; i++) {
                rd_kafka_message_t *m = w->omsgs[i];
                if (m->err) {
                        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                cf_log(CF_LOG_WARN, COMPONENT, "worker %d: %s", w->id,
                                       rd_kafka_message_errstr(m));
                        continue;
                }
                if (m->partition < 0 || m->partition >= w->out_parts) continue;
                cf_record *r = cf_batch_add(b, m->payload, m->len);
                r->src.topic = w->svc->sc.topic_outcomes;
                r->src.partition = m->partition;
                r->src.offset = m->offset;
                r->src.key = m->key;
                r->src.key_len = m->key_len;
                w->out_next[m->partition] = m->offset + 1;
        }
        int rc = (int)b->n;
        if (b->n) {
                cf_chain_learn(w->chain, b);
                w->out_dirty = true;
                for (size_t i = 0; i < b->n && rc >= 0; i++)
                        if (b->recs[i].status == CF_REC_DEAD_LETTER &&
                            cf_worker_produce_dead_letter(w, &b->recs[i], NULL))
                                rc = -1;
        }
        for (ssize_t i = 0; i < n; i++)
                rd_kafka_message_destroy(w->omsgs[i]);
        return rc;
}

/* The topic's start and end offsets into lo and hi, -1 when not known. Asked once, before
 * the reader is assigned: once it fetches, each query waits behind the fetch's long poll on
 * the connection (fetch.wait.max.ms, ~500 ms a partition on the mock cluster: an empty topic
 * of 4 partitions held every start 2 s). */
static int watermarks(cf_worker *w, int64_t *lo, int64_t *hi)
{
        for (int p = 0; p < w->out_parts; p++) {
                lo[p] = hi[p] = 0;
                rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
                    w->oc, w->svc->sc.topic_outcomes, p, &lo[p], &hi[p], 10000);
                if (e) {
                        cf_log(CF_LOG_WARN, COMPONENT, "worker %d: %s watermarks: %s", w->id,
                               w->svc->sc.topic_outcomes, rd_kafka_err2str(e));
                        return -1;
                }
        }
        return 0;
}

/* The restored offsets checked against the topic's ends: a checkpoint past an end is
 * re-learnt from the start, a start deleted by retention resumes at the oldest kept. */
static void check_ends(cf_worker *w, const int64_t *lo, const int64_t *hi)
{
        for (int p = 0; p < w->out_parts; p++)
                if (w->out_next[p] > hi[p]) { /* outcomes that do not exist */
                        cf_log(CF_LOG_WARN, COMPONENT,
                               "worker %d: model checkpoint at offset %" PRId64 " of %s[%d], "
                               "which ends at %" PRId64 ": re-learning from the start",
                               w->id, w->out_next[p], w->svc->sc.topic_outcomes, p, hi[p]);
                        relearn(w);
                        break;
                }
        for (int p = 0; p < w->out_parts; p++)
                if (w->out_next[p] < lo[p]) w->out_next[p] = lo[p];
}

/* Read up to the end offsets hi (the bootstrap); t0: when the start began (cf_mono_ms). */
static int catch_up(cf_worker *w, const int64_t *hi, int64_t t0)
{
        int64_t last_log = t0;
        for (;;) {
                int behind = 0;
                for (int p = 0; p < w->out_parts; p++)
                        behind |= w->out_next[p] < hi[p];
                if (!behind || atomic_load(&w->svc->stop) || atomic_load(&w->fatal)) break;
                if (learn_fetched(w, 4096, 200) < 0) return -1;
                if (cf_mono_ms() - last_log > 5000) {
                        last_log = cf_mono_ms();
                        cf_log(CF_LOG_INFO, COMPONENT,
                               "worker %d: catching up on %s (%" PRIu64 " learnt)", w->id,
                               w->svc->sc.topic_outcomes,
                               cf_chain_counters(w->chain)->outcomes_learnt);
                }
        }
        cf_gauge_set(w->m.outcomes_start_s, (double)(cf_mono_ms() - t0) / 1000.0);
        cf_log(CF_LOG_INFO, COMPONENT,
               "worker %d: %s read to its end in %lld ms (%" PRIu64 " outcomes learnt, %" PRIu64
               " dead-lettered)",
               w->id, w->svc->sc.topic_outcomes, (long long)(cf_mono_ms() - t0),
               cf_chain_counters(w->chain)->outcomes_learnt,
               cf_chain_counters(w->chain)->outcomes_dead_lettered);
        return 0;
}

/* ---- the worker's calls ---- */

int cf_outcomes_init(cf_worker *w, char *errstr, size_t errstr_size)
{
        if (!enabled(w)) return 0;
        /* outside the group: the offsets live in the model's checkpoint; one below the
         * topic's start (retention) resumes at its earliest outcome, not at its end
         * (which would skip every outcome after it) */
        static const char *const extra[] = {"enable.partition.eof", "false", "auto.offset.reset",
                                            "earliest", NULL};
        char err[512];
        w->oc = cf_worker_reader_new(w, "customsflow-outcomes-unused", extra, err, sizeof err);
        if (!w->oc) {
                snprintf(errstr, errstr_size, "outcomes consumer: %s", err);
                return -1;
        }
        rd_kafka_poll_set_consumer(w->oc);
        w->oq = rd_kafka_queue_get_consumer(w->oc);
        cf_batch_init(&w->obatch, 4096);
        w->omsgs = calloc(4096, sizeof *w->omsgs);
        return 0;
}

int cf_outcomes_start(cf_worker *w)
{
        if (!w->oc) return 0;
        int n = partitions(w);
        if (n <= 0) {
                cf_log(CF_LOG_WARN, COMPONENT,
                       "worker %d: outcomes topic '%s' %s: risk_model has nothing to learn from "
                       "(create it with one partition; checked again every minute)",
                       w->id, w->svc->sc.topic_outcomes,
                       n == 0 ? "does not exist" : "not readable now");
                w->out_retry_ms = cf_mono_ms() + 60000;
                return 0;
        }
        if (n > CF_OUT_MAX_PARTS) n = CF_OUT_MAX_PARTS;
        if (n > 1 && w->id == 0)
                cf_log(CF_LOG_WARN, COMPONENT,
                       "outcomes topic '%s' has %d partitions: each worker interleaves them in "
                       "its own order, so their models may differ slightly (use one partition)",
                       w->svc->sc.topic_outcomes, n);
        w->out_parts = n;
        w->out_retry_ms = 0;
        int64_t t0 = cf_mono_ms(), lo[CF_OUT_MAX_PARTS], hi[CF_OUT_MAX_PARTS], end = 0;
        bool known = watermarks(w, lo, hi) == 0; /* else learnt as they come */
        for (int p = 0; p < n && known; p++)
                end += hi[p];
        /* the changelog is not read without the ends: a model it holds may cover outcomes
         * that do not exist (re-learnt instead) */
        restore(w, !w->svc->sc.changelog ? 0 : known ? end : -1);
        if (known) check_ends(w, lo, hi);
        if (assign(w)) return 0;
        w->out_checkpoint_ms = cf_mono_ms();
        if (!known) /* the start's wait, though the end was not known */
                cf_gauge_set(w->m.outcomes_start_s, (double)(cf_mono_ms() - t0) / 1000.0);
        return known ? catch_up(w, hi, t0) : 0;
}

int cf_outcomes_poll(cf_worker *w)
{
        if (!w->oc) return 0;
        if (!w->out_parts) {
                if (w->out_retry_ms && cf_mono_ms() >= w->out_retry_ms) return cf_outcomes_start(w);
                return 0;
        }
        return learn_fetched(w, POLL_MAX, 0) < 0 ? -1 : 0;
}

int cf_outcomes_checkpoint(cf_worker *w, bool force)
{
        if (!w->oc || !w->out_parts || !w->out_dirty || w->id != 0 || !w->svc->sc.changelog)
                return 0;
        if (!force && cf_mono_ms() - w->out_checkpoint_ms < w->svc->sc.outcomes_interval_ms)
                return 0;
        return checkpoint(w);
}

void cf_outcomes_destroy(cf_worker *w)
{
        if (w->oq) rd_kafka_queue_destroy(w->oq);
        if (w->oc) {
                rd_kafka_consumer_close(w->oc);
                rd_kafka_destroy(w->oc);
        }
        if (w->omsgs) cf_batch_destroy(&w->obatch);
        free(w->omsgs);
        w->oq = NULL;
        w->oc = NULL;
        w->omsgs = NULL;
}
