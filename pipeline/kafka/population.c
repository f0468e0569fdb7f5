/*
 * population.c - the population state on Kafka (population.h).
 *
 * Why a consumer per worker rather than one per instance: each worker's
 * chain holds its replica and is only touched from its thread, so the
 * worker applies messages between batches without locks; the cost is one
 * read of the population topics per worker (they are small: per partition and
 * commit, at most one message per bucket of baselines and one of certificate
 * uses; compacted).
 *
 * @locality: worker thread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/clock.h"
#include "pipeline/kafka/population.h"
#include "pipeline/kafka/service_int.h"

#define COMPONENT    "population"
#define POLL_BATCH   20000 /* messages applied per poll at most: input keeps flowing */
#define CATCH_UP_LOG 5000  /* ms between progress lines while catching up at start */

static const char *topic_of(const cf_worker *w, cf_global_stream s)
{
        return s == CF_GLOBAL_CERTIFICATES ? w->svc->sc.topic_certificates
                                           : w->svc->sc.topic_baselines;
}

/* A position below the topic's start (data deleted under a reader that fell behind,
 * seen on the mock cluster's size limit) resumes at the earliest message: the topics
 * are compacted and a contribution is a key's whole value, so reading again changes
 * nothing, while librdkafka's "latest" (the kafka.auto.offset.reset default) skipped
 * every contribution published meanwhile for good. */
static rd_kafka_t *reader(cf_worker *w, char *errstr, size_t n)
{
        static const char *const extra[] = {"fetch.wait.max.ms", "20", "auto.offset.reset",
                                            "earliest", NULL};
        return cf_worker_reader_new(w, "customsflow-population-unused", extra, errstr, n);
}

/* Every partition of topic from the beginning into l, with the end offset now in ends. */
static int add_topic(cf_worker *w, rd_kafka_t *rk, const char *topic,
                     rd_kafka_topic_partition_list_t *l)
{
        rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, 10000);
        int rc = -1;
        if (e || md->topic_cnt != 1 || md->topics[0].err) {
                cf_log(CF_LOG_ERROR, COMPONENT, "worker %d: topic %s: %s", w->id, topic,
                       e ? rd_kafka_err2str(e) : rd_kafka_err2str(md->topics[0].err));
                goto out;
        }
        for (int i = 0; i < md->topics[0].partition_cnt; i++) {
                int32_t p = md->topics[0].partitions[i].id;
                int64_t lo = 0, hi = 0;
                if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000)) goto out;
                rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(l, topic, p);
                tp->offset = RD_KAFKA_OFFSET_BEGINNING;
                cf_pop_end *pe = &w->pop.ends[w->pop.n_ends++];
                w->pop.n_parts[topic == w->svc->sc.topic_certificates]++;
                *pe = (cf_pop_end){.stream = topic == w->svc->sc.topic_certificates,
                                   .partition = p,
                                   .end = hi,
                                   .next = lo};
                if (w->pop.n_ends == CF_POP_MAX_PARTS) break;
        }
        rc = 0;
out:
        if (md) rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(t);
        return rc;
}

static bool caught_up(const cf_worker *w)
{
        for (int i = 0; i < w->pop.n_ends; i++)
                if (w->pop.ends[i].next < w->pop.ends[i].end) return false;
        return true;
}

static cf_pop_end *end_of(cf_worker *w, int stream, int32_t p)
{
        for (int i = 0; i < w->pop.n_ends; i++)
                if (w->pop.ends[i].stream == stream && w->pop.ends[i].partition == p)
                        return &w->pop.ends[i];
        return NULL;
}

void cf_population_poll(cf_worker *w, int timeout_ms)
{
        if (!w->pop.rk) return;
        int n = 0;
        char err[512];
        double t0 = cf_mono_s();
        while (n < POLL_BATCH) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(w->pop.rk, n ? 0 : timeout_ms);
                if (!m) break;
                if (m->err) {
                        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                cf_log(CF_LOG_WARN, COMPONENT, "worker %d: %s", w->id,
                                       rd_kafka_message_errstr(m));
                        rd_kafka_message_destroy(m);
                        continue;
                }
                const char *topic = rd_kafka_topic_name(m->rkt);
                int stream = !strcmp(topic, w->svc->sc.topic_certificates);
                cf_pop_end *pe = end_of(w, stream, m->partition);
                if (pe && m->offset + 1 > pe->next) pe->next = m->offset + 1;
                /* another application's (group's) contributions: not ours to merge */
                size_t gl = strlen(w->svc->sc.group_id);
                if (m->key_len <= gl || memcmp(m->key, w->svc->sc.group_id, gl) ||
                    ((const char *)m->key)[gl] != '/') {
                        rd_kafka_message_destroy(m);
                        continue;
                }
                cf_global_msg gm = {.stream = stream ? CF_GLOBAL_CERTIFICATES : CF_GLOBAL_BASELINES,
                                    .route = -1,
                                    .key = (const unsigned char *)m->key + gl + 1,
                                    .key_len = m->key_len - gl - 1,
                                    .val = m->payload,
                                    .val_len = m->len};
                if (cf_chain_apply(w->chain, &gm, err, sizeof err)) {
                        /* one bad message must not stop the replica: counted, and logged
                         * unless the last one logged was refused for the same reason (a
                         * topic of an earlier format refuses thousands alike) */
                        cf_counter_inc(w->m.pop_refused);
                        if (strcmp(err, w->pop.refusal)) {
                                cf_log(CF_LOG_WARN, COMPONENT,
                                       "worker %d: %s[%d]@%" PRId64
                                       ": %s (more refused for this reason are only "
                                       "counted: customsflow_population_refused_total)",
                                       w->id, topic, m->partition, m->offset, err);
                                snprintf(w->pop.refusal, sizeof w->pop.refusal, "%s", err);
                        }
                } else {
                        cf_counter_inc(w->m.pop_applied);
                }
                rd_kafka_message_destroy(m);
                n++;
        }
        if (n) {
                cf_chain_settle(w->chain);
                w->pop_work_s += cf_mono_s() - t0;
        }
        if (!w->pop.ready && caught_up(w)) {
                w->pop.ready = true;
                cf_log(CF_LOG_INFO, COMPONENT,
                       "worker %d: population state read (%" PRIu64 " messages)", w->id,
                       cf_counter_get(w->m.pop_applied));
        }
}

int cf_population_start(cf_worker *w)
{
        char err[512];
        w->pop.rk = reader(w, err, sizeof err);
        if (!w->pop.rk) {
                cf_log(CF_LOG_ERROR, COMPONENT, "worker %d: reader: %s", w->id, err);
                return -1;
        }
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
        int rc = add_topic(w, w->pop.rk, w->svc->sc.topic_baselines, l) ||
                         add_topic(w, w->pop.rk, w->svc->sc.topic_certificates, l)
                     ? -1
                     : 0;
        if (!rc && rd_kafka_assign(w->pop.rk, l)) rc = -1;
        rd_kafka_topic_partition_list_destroy(l);
        if (rc) return -1;
        int64_t t0 = cf_mono_ms(), last = t0;
        while (!caught_up(w) && !atomic_load(&w->svc->stop)) {
                cf_population_poll(w, 100);
                if (cf_mono_ms() - last >= CATCH_UP_LOG) {
                        last = cf_mono_ms();
                        cf_log(CF_LOG_INFO, COMPONENT,
                               "worker %d: reading the population state: %" PRIu64
                               " messages so far",
                               w->id, cf_counter_get(w->m.pop_applied));
                }
        }
        w->pop.ready = caught_up(w);
        w->pop_work_s = 0; /* reading at start is no reason to publish less */
        cf_log(CF_LOG_INFO, COMPONENT, "worker %d: population state ready in %lld ms", w->id,
               (long long)(cf_mono_ms() - t0));
        return 0;
}

/* A certificate use this worker publishes between its whole publishes goes into its own
 * replica at once, not only once the message is read back: on a backlog a worker processed
 * ~15,000 records in that round trip, and a reuse whose first use was among them went
 * unseen even with both on this worker (replay's epoch is 128 lines). Applied again when it
 * comes back, a use changes nothing but its count of uses, which no decision reads; nor
 * does one of an aborted transaction (exactly_once), whose records are processed again.
 * Only uses: a baseline bucket's message is its whole contribution, too dear to merge twice
 * after every batch. */
static void apply_own(cf_worker *w, const cf_global_msg *m)
{
        cf_global_msg gm = *m;
        gm.route = -1; /* as read back */
        char err[512];
        if (cf_chain_apply(w->chain, &gm, err, sizeof err)) {
                cf_counter_inc(w->m.pop_refused);
                cf_log(CF_LOG_ERROR, COMPONENT, "worker %d: own certificate uses refused: %s",
                       w->id, err);
        }
}

/* Produce partition's contributions of mode (CF_GLOBAL_USES: also applied here); the
 * messages produced, or -1. */
static int publish(cf_worker *w, int32_t partition, cf_global_mode mode)
{
        cf_buf *b = &w->pop.out;
        cf_buf_reset(b);
        if (cf_chain_publish(w->chain, partition, mode, b)) return -1;
        size_t off = 0;
        cf_global_msg m;
        int r, n = 0;
        /* keys start with the group: applications sharing the topics keep apart (the
         * changelog's keys do the same) */
        cf_buf *k = &w->pop.key;
        while ((r = cf_global_next(b->p, b->len, &off, &m)) > 0) {
                cf_buf_reset(k);
                cf_buf_puts(k, w->svc->sc.group_id);
                cf_buf_putc(k, '/');
                cf_buf_put(k, m.key, m.key_len);
                /* a routed message goes to the partition its route picks, so that a
                 * source partition's messages are read in the order they were published */
                int np = w->pop.n_parts[m.stream == CF_GLOBAL_CERTIFICATES];
                int32_t part = m.route >= 0 && np > 0 ? m.route % np : RD_KAFKA_PARTITION_UA;
                if (cf_worker_produce(w, topic_of(w, m.stream), part, k->p, k->len, m.val,
                                      m.val_len, NULL))
                        return -1;
                cf_counter_inc(w->m.pop_published);
                if (mode == CF_GLOBAL_USES) apply_own(w, &m);
                n++;
        }
        return r < 0 ? -1 : n;
}

int cf_population_publish(cf_worker *w, int32_t partition)
{
        return publish(w, partition, CF_GLOBAL_CUMULATIVE) < 0 ? -1 : 0;
}

void cf_population_fold(cf_worker *w, int32_t partition)
{
        publish(w, partition, CF_GLOBAL_FOLD); /* produces nothing: cannot fail */
}

/* Every batch: the certificate uses of the partitions that processed records since their
 * last whole publish (cheap: a use is ~40 bytes and sent once). */
static int publish_uses(cf_worker *w)
{
        int applied = 0;
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS; p++) {
                if (!w->pop_dirty[p] || !w->assigned[p]) continue;
                int n = publish(w, p, CF_GLOBAL_USES);
                if (n < 0) return -1;
                applied += n;
        }
        if (applied) cf_chain_settle(w->chain);
        return 0;
}

/* Publishing between commits, with applying what comes back, takes at most 1 /
 * PUBLISH_SHARE of the worker's time: a publish re-sends each touched bucket whole, and
 * every replica merges it, which with many population keys per partition may cost more
 * than publish_records allows for (kafka_cpu at 256 partitions, publishes 100 ms apart:
 * +25 % CPU per record when only the publish itself was counted). */
#define PUBLISH_SHARE 10

void cf_population_publish_due(cf_worker *w)
{
        const cf_service_cfg *sc = &w->svc->sc;
        if (sc->publish_records <= 0) return;
        int64_t t0 = cf_mono_ms();
        /* exactly_once: what is produced is in the transaction, seen by the other workers
         * once it commits, so the baselines wait for the commit; a batch's uses still go
         * into this worker's replica at once (an abort rewinds the partitions, and the
         * same records publish the same uses again) */
        if (sc->eos || w->pop_records < (uint64_t)sc->publish_records || t0 < w->pop_due_ms) {
                if (publish_uses(w))
                        cf_log(CF_LOG_WARN, COMPONENT,
                               "worker %d: a batch's certificate uses not all published (the "
                               "replicas miss those until their records are processed again)",
                               w->id);
                return;
        }
        /* Uncommitted contributions may reach the topics: after a crash the partition's
         * next owner restores its checkpoint, processes the same records again and
         * publishes the same whole again (a bucket's message is the partition's whole
         * contribution to it); meanwhile rules may see those records' contributions
         * before they are processed again, as they may see any later record's. */
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS; p++) {
                if (!w->pop_dirty[p] || !w->assigned[p]) continue;
                if (cf_population_publish(w, p)) {
                        /* the commit's publish tries again (and counts its failure); none
                         * between commits until then */
                        cf_log(CF_LOG_WARN, COMPONENT,
                               "worker %d: partition %d: population publish failed; retried at "
                               "the next commit",
                               w->id, p);
                        w->pop_due_ms = t0 + sc->commit_interval_ms;
                        return;
                }
                w->pop_dirty[p] = false;
        }
        cf_population_published(w, (double)(cf_mono_ms() - t0) / 1e3);
}

bool cf_population_commit_due(const cf_worker *w)
{
        return w->svc->sc.publish_records <= 0 || cf_mono_ms() >= w->pop_due_ms;
}

void cf_population_published(cf_worker *w, double publish_s)
{
        int64_t now = cf_mono_ms();
        w->pop_due_ms = now + (int64_t)((publish_s + w->pop_work_s) * 1e3 * (PUBLISH_SHARE - 1));
        w->pop_work_s = 0;
        w->pop_records = 0;
}

void cf_population_free(cf_worker *w)
{
        if (w->pop.rk) {
                rd_kafka_assign(w->pop.rk, NULL);
                rd_kafka_destroy(w->pop.rk);
        }
        cf_buf_free(&w->pop.out);
        cf_buf_free(&w->pop.key);
        memset(&w->pop, 0, sizeof w->pop);
}
