/*
 * worker.c - one worker thread: a consumer-group member with its own
 * consumer, idempotent producer and stage chain.
 *
 * The loop: consume a batch, run the chain, produce its outputs (flags,
 * stats, dead letters), wait until the broker acknowledged every one of them,
 * and only then count the batch's offsets as committable. Every
 * commit_interval the worker checkpoints the state of the partitions it
 * processed to the changelog (acknowledged too) and commits their offsets
 * (commit.c: at_least_once spreads that over the next batches), so the
 * committed offsets and the checkpointed state always describe the same
 * point of the stream. A crash therefore re-delivers at most one interval of
 * input (at-least-once: outputs may repeat, inputs are never lost).
 *
 * Backpressure: a worker never consumes the next batch before the previous
 * batch's outputs are acknowledged, so in-flight output is bounded by one
 * batch per worker; while it waits on a slow broker it pauses its partitions
 * (librdkafka then stops fetching) and resumes them when drained.
 *
 * Everything here runs on the worker's thread (@locality: worker thread),
 * including librdkafka's rebalance and delivery callbacks, which are served
 * from this thread's poll calls.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/core/clock.h"
#include "pipeline/kafka/population.h"
#include "pipeline/kafka/kafka_conf.h"
#include "pipeline/kafka/service_int.h"

#define COMPONENT "worker"

/* ---- librdkafka callbacks ---- */

void cf_worker_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        cf_worker *w = opaque;
        (void)rk;
        if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
                return; /* exactly_once: an aborted transaction's output (txn.c rewinds) */
        if (m->err) {
                if (cf_kafka_err_is_auth(m->err))
                        cf_service_kafka_error(w->svc, rd_kafka_name(rk), m->err,
                                               rd_kafka_err2str(m->err));
                atomic_fetch_add(&w->delivery_failed, 1);
                cf_counter_inc(w->m.delivery_errors);
                cf_log(CF_LOG_ERROR, COMPONENT, "worker %d: output to %s not delivered: %s", w->id,
                       rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
        }
        /* outputs carry their batch; a base's first changelog record the slot for its
         * offset, &w->clog[p].noted (cf_worker_produce_noted); other changelog records
         * carry nothing */
        const char *o = m->_private, *clog = (const char *)w->clog;
        if (o >= clog && o < (const char *)(w->clog + CF_SVC_MAX_PARTITIONS))
                *(int64_t *)m->_private = m->err ? -1 : m->offset;
        else if (m->_private)
                cf_batch_ack_report(w, m->_private, !m->err);
}

void cf_worker_on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
        cf_worker *w = opaque;
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
                char buf[256];
                rd_kafka_resp_err_t why = rd_kafka_fatal_error(rk, buf, sizeof buf);
                /* exactly_once: a zombie's producer; this worker stops, the others go on */
                if (why == RD_KAFKA_RESP_ERR__FENCED || why == RD_KAFKA_RESP_ERR_PRODUCER_FENCED)
                        atomic_store(&w->fenced, true);
                snprintf(w->fatal_reason, sizeof w->fatal_reason, "fatal: %s", buf);
                atomic_store(&w->fatal, true);
                cf_log(CF_LOG_ERROR, COMPONENT, "worker %d: %s", w->id, w->fatal_reason);
                return;
        }
        /* authentication/authorization/TLS: fatal for the instance (health.c);
         * others are transient: librdkafka retries by itself */
        cf_service_kafka_error(w->svc, rd_kafka_name(rk), err, reason);
}

/* Least time between two changes of the group consumer's assignment. librdkafka 2.0.2 aborts
 * (rdkafka_assignment.c:872, assertion `rktp->rktp_started`; upstream issue 5573, fixed upstream
 * after v2.15.0) when a change removes a partition whose stop, sent by the previous change,
 * its main thread has not yet acknowledged: a second stop is sent, and its reply finds the
 * partition stopped. Seen in test_kafka_metrics (1 run in 30 with pipeline.batch_size 1024):
 * a re-assignment at a restored partition's position (cf_worker_reposition) and, 1 ms later,
 * the rebalance's unassign. Back-to-back re-assignments (restore rounds, resets) are the same
 * case. The acknowledgement takes well under 1 ms when librdkafka's thread gets a core;
 * this allows it 20 ms before a re-assignment of this worker's own. A rebalance's unassign
 * (the case seen) waits up to 100 ms: rebalances are rare and slow anyway, and on a loaded
 * machine (CI runs six tests on two cores) a thread can be off its core for more than 20 ms.
 * Re-assignments keep 20 ms: a restore round makes one, and restores are timed. */
#define ASSIGN_SETTLE_MS 20
#define REVOKE_SETTLE_MS 100

/* Wait out what is left of settle_ms since the last assignment change.
 * @locality: worker thread (its loop or its rebalance callback) */
static void assign_settle(const cf_worker *w, int64_t settle_ms)
{
        int64_t since = cf_mono_ms() - w->assign_ms;
        if (w->assign_ms > 0 && since >= 0 && since < settle_ms)
                usleep((useconds_t)(settle_ms - since) * 1000);
}

/* After every rd_kafka_assign (a rebalance's, or a re-assignment at new positions): the
 * partitions whose state is not back stay paused, every fetch starts over (so does its stall
 * watch), and restore.c resumes a restored partition a while after this moment. */
static void after_assign(cf_worker *w)
{
        w->assign_ms = cf_mono_ms();
        /* every fetch starts over: not at its end until it says so again */
        memset(w->at_eof, 0, sizeof w->at_eof);
        cf_restore_pause_pending(w);
        cf_fetch_watch_restart_all(w);
}

/* Assign only: with the changelog on, the new partitions are paused and their
 * state is restored by the worker loop (restore.c), never here -- a long
 * restore in this callback held the consumer past max.poll.interval.ms. */
static void on_assign(cf_worker *w, rd_kafka_topic_partition_list_t *parts)
{
        cf_service_kafka_ok(w->svc); /* the group answered: credentials work */
        for (int i = 0; i < parts->cnt; i++) {
                int32_t p = parts->elems[i].partition;
                if (!cf_part_ok(p)) {
                        cf_log(CF_LOG_ERROR, COMPONENT,
                               "worker %d: partition %d above the supported %d: not consumed",
                               w->id, p, CF_SVC_MAX_PARTITIONS);
                        continue;
                }
                cf_txn_snapshot_restored(w, p, NULL, NULL, 0);
                cf_changelog_restored(w, p, NULL); /* the first checkpoint: a full snapshot */
                w->assigned[p] = true;
                w->next_offset[p] = -1;
                cf_fetch_gate_reset(&w->gate[p]);
                w->reset_pending[p] = false;
                w->reset_from[p] = INT64_MIN;
                w->start_at[p] = RD_KAFKA_OFFSET_INVALID; /* the committed offset */
                w->dirty[p] = false;
                w->pop_dirty[p] = false; /* a previous assignment's: not this state's */
                cf_worker_metrics_assign(w, p);
                if (w->svc->sc.changelog) {
                        cf_restore_assigned(w, p); /* no record of p before its state is back */
                } else {
                        char err[256];
                        cf_chain_restore(w->chain, p, NULL, 0, err, sizeof err);
                        cf_worker_metrics_restored(w, p);
                }
        }
        assign_settle(w, ASSIGN_SETTLE_MS);
        rd_kafka_assign(w->consumer, parts);
        after_assign(w);
        w->pub.assigned = true;
        /* published at once: /readyz must not read "starting" while partitions
         * restore (publish() copies it only once a second) */
        pthread_mutex_lock(&w->svc->mtx);
        w->svc->pubs[w->id].assigned = true;
        pthread_mutex_unlock(&w->svc->mtx);
        cf_log(CF_LOG_INFO, COMPONENT, "worker %d: assigned %d partition(s), %d to restore", w->id,
               parts->cnt, w->n_restoring);
}

/* The assignment was lost (the session expired): the group may have given the
 * partitions to another member already. No checkpoint: it would land in the changelog
 * beside the new owner's, on the delta chain the new owner continues from the same
 * base (a zombie writer). No commit either (the group refuses it). The new owner
 * restores the last committed checkpoint and processes again from there (at least
 * once). exactly_once needs none of this: the stale generation fences the
 * transaction's offsets, so it aborts whole, checkpoints included. */
static void lost(cf_worker *w, rd_kafka_topic_partition_list_t *parts)
{
        cf_counter_inc(w->m.lost);
        cf_log(CF_LOG_WARN, COMPONENT,
               "worker %d: assignment of %d partition(s) lost (group session expired): "
               "released without a checkpoint or a commit; what was processed since the last "
               "commit is processed again by their next owner",
               w->id, parts->cnt);
        cf_commit_round_drop(w);
}

static void on_revoke(cf_worker *w, rd_kafka_topic_partition_list_t *parts)
{
        /* No batch is in flight here: callbacks run from this thread's poll,
         * between batches. Checkpoint and commit what was processed, then let go.
         * exactly_once: the open transaction holds every partition's outputs, so
         * all of them commit (nothing at all once the producer is fenced). */
        if (!w->svc->sc.eos && rd_kafka_assignment_lost(w->consumer))
                lost(w, parts);
        else if (!w->svc->sc.eos)
                cf_commit_parts(w, parts);
        else if (!atomic_load(&w->fatal))
                cf_commit_parts(w, NULL);
        for (int i = 0; i < parts->cnt; i++) {
                int32_t p = parts->elems[i].partition;
                if (!cf_part_ok(p) || !w->assigned[p]) continue;
                cf_restore_revoked(w, p);
                cf_fetch_watch_revoke(w, p);
                cf_worker_align_drop(w, p);
                cf_chain_drop(w->chain, p);
                cf_worker_metrics_revoke(w, p);
                w->assigned[p] = false;
        }
        assign_settle(w, REVOKE_SETTLE_MS);
        rd_kafka_assign(w->consumer, NULL);
        w->assign_ms = cf_mono_ms();
        cf_log(CF_LOG_INFO, COMPONENT, "worker %d: revoked %d partition(s)", w->id, parts->cnt);
}

void cf_worker_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *parts, void *opaque)
{
        cf_worker *w = opaque;
        (void)rk;
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
                on_assign(w, parts);
        else
                on_revoke(w, parts);
}

/* ---- producing ---- */

/* Messages produced between two polls of the producer (delivery reports). */
#define POLL_EVERY 1024

/* The handle warm_up made for one of the output topics (its name is one of the config's
 * strings: compared by address), or NULL. Produced by handle, a message skips librdkafka's
 * lookup of the topic by name (a lock and string compares per message: 0.9 % of the
 * service's instructions under callgrind, 95 % of its messages being stats). */
static rd_kafka_topic_t *handle_of(const cf_worker *w, const char *topic)
{
        const char *names[CF_OUT_TOPICS];
        cf_worker_out_names(w, names);
        for (int i = 0; i < CF_OUT_TOPICS; i++)
                if (topic == names[i]) return w->out_topics[i];
        return NULL;
}

/* Produce a copy of the message; ack (NULL: none) is the batch it belongs to, else opaque
 * goes to its delivery report. */
static int produce(cf_worker *w, const char *topic, int32_t partition, const void *key,
                   size_t key_len, const void *val, size_t val_len, rd_kafka_headers_t *hdrs,
                   cf_batch_ack *ack, void *opaque)
{
        if (cf_txn_begin(w)) return -1; /* exactly_once: everything produced is in one */
        /* a topic warm_up did not name (none today): a handle of its own, for this message */
        rd_kafka_topic_t *rkt = handle_of(w, topic), *own = NULL;
        if (!rkt) rkt = own = rd_kafka_topic_new(w->producer, topic, NULL);
        int rc = 0;
        for (;;) {
                rd_kafka_resp_err_t e = rd_kafka_producev(
                    w->producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                    RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)val, val_len),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
                    RD_KAFKA_V_OPAQUE(ack ? (void *)ack : opaque), RD_KAFKA_V_END);
                if (!e) {
                        if (ack) ack->pending++;
                        /* long bursts (a commit's population contributions: 100k+
                         * messages) must not hold the delivery reports of the batches
                         * before them (customsflow_batch_seconds) */
                        if (++w->produced_unpolled >= POLL_EVERY) {
                                w->produced_unpolled = 0;
                                rd_kafka_poll(w->producer, 0);
                        }
                        break;
                }
                if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        if (hdrs) rd_kafka_headers_destroy(hdrs);
                        cf_log(CF_LOG_ERROR, COMPONENT, "worker %d: produce to %s: %s", w->id,
                               topic, rd_kafka_err2str(e));
                        rc = -1;
                        break;
                }
                rd_kafka_poll(w->producer, 50); /* queue full: serve delivery reports */
                if (atomic_load(&w->fatal) || atomic_load(&w->svc->abort) ||
                    cf_worker_stop_left_ms(w) <= 0) {
                        if (hdrs) rd_kafka_headers_destroy(hdrs); /* not produced: still ours */
                        rc = -1;
                        break;
                }
        }
        if (own) rd_kafka_topic_destroy(own);
        return rc;
}

int cf_worker_produce(cf_worker *w, const char *topic, int32_t partition, const void *key,
                      size_t key_len, const void *val, size_t val_len, rd_kafka_headers_t *hdrs)
{
        return produce(w, topic, partition, key, key_len, val, val_len, hdrs, NULL, NULL);
}

int cf_worker_produce_noted(cf_worker *w, int32_t p, const void *key, size_t key_len,
                            const void *val, size_t val_len, rd_kafka_headers_t *hdrs)
{
        w->clog[p].noted = -1;
        return produce(w, w->svc->sc.topic_changelog, p, key, key_len, val, val_len, hdrs, NULL,
                       &w->clog[p].noted);
}

int cf_worker_produce_dead_letter(cf_worker *w, const cf_record *r, cf_batch_ack *ack)
{
        rd_kafka_headers_t *h = rd_kafka_headers_new(5);
        char num[32];
        rd_kafka_header_add(h, "error.code", -1, r->err_code, -1);
        rd_kafka_header_add(h, "error.message", -1, r->err_msg ? r->err_msg : "", -1);
        rd_kafka_header_add(h, "source.topic", -1, r->src.topic, -1);
        snprintf(num, sizeof num, "%d", r->src.partition);
        rd_kafka_header_add(h, "source.partition", -1, num, -1);
        snprintf(num, sizeof num, "%" PRId64, r->src.offset);
        rd_kafka_header_add(h, "source.offset", -1, num, -1);
        /* the input key, as Kafka Connect's DLQ keeps it (exporter_id: one
         * exporter's dead letters stay together and in order) */
        return produce(w, w->svc->sc.topic_dlq, RD_KAFKA_PARTITION_UA, r->src.key, r->src.key_len,
                       r->data, r->len, h, ack, NULL);
}

static int produce_all(cf_worker *w, cf_batch *b, cf_batch_ack *ack)
{
        const cf_service_cfg *sc = &w->svc->sc;
        for (size_t i = 0; i < b->n_outs; i++) {
                const cf_output *o = &b->outs[i];
                const char *topic = o->kind == CF_OUT_FLAG ? sc->topic_flags : sc->topic_stats;
                if (produce(w, topic, RD_KAFKA_PARTITION_UA, b->out.p + o->key_off, o->key_len,
                            b->out.p + o->val_off, o->val_len, NULL, ack, NULL))
                        return -1;
        }
        for (size_t i = 0; i < b->n; i++) {
                const cf_record *r = &b->recs[i];
                if (r->status == CF_REC_DEAD_LETTER && cf_worker_produce_dead_letter(w, r, ack))
                        return -1;
                if (r->flagged && w->svc->flag_hook) w->svc->flag_hook(w->svc->flag_opaque, r);
        }
        return 0;
}

/* Seconds b's oldest record's Kafka timestamp was before b->now_ms, its consume (wall
 * clocks: the producer's and ours); -1 when none has one. Negative skews count as 0. */
static double oldest_wait(const cf_batch *b)
{
        int64_t oldest = INT64_MAX;
        for (size_t i = 0; i < b->n; i++)
                if (b->recs[i].timestamp_ms > 0 && b->recs[i].timestamp_ms < oldest)
                        oldest = b->recs[i].timestamp_ms;
        if (oldest == INT64_MAX) return -1;
        return oldest < b->now_ms ? (double)(b->now_ms - oldest) / 1000 : 0;
}

/* Produce the batch's outputs; t0 (cf_mono_s) is when it was consumed, for
 * the consume -> acknowledged latency its delivery reports observe (and, with its
 * oldest record's wait before that, the end-to-end latency). */
static int produce_outputs(cf_worker *w, cf_batch *b, double t0)
{
        cf_batch_ack *ack = cf_batch_ack_open(w, t0);
        ack->waited = oldest_wait(b);
        int rc = produce_all(w, b, ack);
        cf_batch_ack_close(w, ack);
        return rc;
}

static void set_paused(cf_worker *w, bool pause)
{
        rd_kafka_topic_partition_list_t *a = NULL;
        if (rd_kafka_assignment(w->consumer, &a) || !a) return;
        if (a->cnt) {
                if (pause)
                        rd_kafka_pause_partitions(w->consumer, a);
                else
                        rd_kafka_resume_partitions(w->consumer, a);
        }
        rd_kafka_topic_partition_list_destroy(a);
        if (!pause) {
                cf_restore_pause_pending(w);   /* their state is not back yet */
                cf_fetch_watch_restart_all(w); /* no record came while paused: not a stall */
        }
}

/* Wait until at most limit produced messages are unacknowledged. While the
 * broker is slow, pause fetching so memory stays bounded. -1 once any output
 * failed (the worker then stops without committing). */
static int wait_outq(cf_worker *w, int limit)
{
        int64_t t0 = cf_mono_ms();
        bool paused = false, late = false;
        while (rd_kafka_outq_len(w->producer) > limit) {
                /* flush, not poll: it sends what lingers (linger.ms) at once, since
                 * this worker waits for these acks anyway */
                rd_kafka_flush(w->producer, 20);
                /* past the shutdown budget: unacknowledged, so nothing is committed */
                late = cf_worker_stop_left_ms(w) <= 0;
                if (atomic_load(&w->fatal) || atomic_load(&w->delivery_failed) ||
                    atomic_load(&w->svc->abort) || late)
                        break;
                if (!paused && cf_mono_ms() - t0 > 200) {
                        set_paused(w, true);
                        paused = true;
                        cf_counter_inc(w->m.pauses);
                }
        }
        if (paused) set_paused(w, false);
        return atomic_load(&w->fatal) || atomic_load(&w->delivery_failed) ||
                       atomic_load(&w->svc->abort) || late
                   ? -1
                   : 0;
}

int cf_worker_wait_acks(cf_worker *w)
{
        return wait_outq(w, 0);
}

/* ---- one batch ---- */

/* The batch's offsets are processed and its outputs produced: committable
 * once acknowledged. (What became of each record the chain counted.) */
static void advance(cf_worker *w, const cf_batch *b)
{
        for (size_t i = 0; i < b->n; i++) {
                const cf_record *r = &b->recs[i];
                if (r->src.offset + 1 > w->next_offset[r->src.partition])
                        w->next_offset[r->src.partition] = r->src.offset + 1;
                w->dirty[r->src.partition] = true;
                w->pop_dirty[r->src.partition] = true;
        }
        w->pop_records += b->n;
}

/* Unacknowledged outputs above which a worker stops consuming until they drop
 * to half: bounds the producer's memory (~400 bytes a message). */
#define OUTQ_HIGH 50000

/* librdkafka's auto.offset.reset is "error" (cf_service_client_conf), so a
 * position to reset comes here and the worker applies the configured policy
 * itself: the first start of a group (no committed offset) is no loss, but a
 * committed position below the log start means records were deleted
 * (retention) before this group read them -- data lost upstream of every
 * counter, so it is logged as an error and counted per partition
 * (customsflow_offsets_skipped_total). m->offset is the position that failed.
 * The new position is applied after the batch (cf_worker_reposition). */
static void offset_reset(cf_worker *w, const rd_kafka_message_t *m)
{
        const cf_service_cfg *sc = &w->svc->sc;
        int32_t p = m->partition;
        if (!cf_part_ok(p) || !w->assigned[p]) return;
        if (sc->offset_reset == CF_RESET_ERROR) {
                snprintf(w->fatal_reason, sizeof w->fatal_reason,
                         "partition %d: %s (kafka.auto.offset.reset: error)", p,
                         rd_kafka_message_errstr(m));
                atomic_store(&w->fatal, true);
                return;
        }
        bool latest = sc->offset_reset == CF_RESET_LATEST;
        int64_t to = latest ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
        if (m->offset >= 0) {
                int64_t lo = -1, hi = -1;
                if (rd_kafka_query_watermark_offsets(w->consumer, sc->topic_in, p, &lo, &hi, 2000))
                        rd_kafka_get_watermark_offsets(w->consumer, sc->topic_in, p, &lo, &hi);
                int64_t dest = latest ? hi : lo;
                int64_t skipped = dest > m->offset ? dest - m->offset : 0;
                if (dest >= 0) to = dest;
                /* the same failed position again (an error queued before the last
                 * re-assignment) is one loss, counted once */
                if (w->reset_from[p] != m->offset) {
                        w->reset_from[p] = m->offset;
                        cf_counter_inc(w->m.resets);
                        cf_counter_add(w->parts[p].skipped, (uint64_t)skipped);
                        cf_log(CF_LOG_ERROR, COMPONENT,
                               "worker %d: partition %d: position %" PRId64 " is out of range "
                               "[%" PRId64 ", %" PRId64 "): reset to %" PRId64
                               " (auto.offset.reset %s); %" PRId64
                               " record(s) skipped, never processed (deleted by retention "
                               "before this group read them?)",
                               w->id, p, m->offset, lo, hi, dest, latest ? "latest" : "earliest",
                               skipped);
                }
        } else {
                cf_log(CF_LOG_INFO, COMPONENT,
                       "worker %d: partition %d: no committed offset; starting at the %s", w->id, p,
                       latest ? "end" : "beginning");
        }
        cf_fetch_gate_moved(&w->gate[p]); /* where it lands is not known */
        w->reset_to[p] = to;
        w->reset_pending[p] = true;
        w->any_reset = true;
}

/* Give partitions with a reset (or a resumed restore, restore.c) their new
 * position. A partition in librdkafka's reset-error state does not accept a
 * seek ("Erroneous state"); a new assignment restarts it. Every other
 * partition keeps its place: the next offset to process, or (none processed
 * yet) its committed offset. Partitions still restoring stay paused. */
void cf_worker_reposition(cf_worker *w)
{
        if (!w->any_reset) return;
        w->any_reset = false;
        rd_kafka_topic_partition_list_t *a = NULL;
        if (rd_kafka_assignment(w->consumer, &a) || !a) return;
        for (int i = 0; i < a->cnt; i++) {
                int32_t p = a->elems[i].partition;
                if (!cf_part_ok(p)) continue;
                /* a reset position is kept until the partition processes a record:
                 * re-assigning it INVALID again would fail the same lookup again,
                 * and every such failure re-assigns every partition (a livelock
                 * while a partition waits for its restore) */
                if (w->reset_pending[p]) w->start_at[p] = w->reset_to[p];
                a->elems[i].offset = w->next_offset[p] >= 0 ? w->next_offset[p] : w->start_at[p];
                w->reset_pending[p] = false;
        }
        assign_settle(w, ASSIGN_SETTLE_MS);
        rd_kafka_resp_err_t e = rd_kafka_assign(w->consumer, a);
        if (e)
                cf_log(CF_LOG_ERROR, COMPONENT, "worker %d: re-assign at new positions: %s", w->id,
                       rd_kafka_err2str(e));
        rd_kafka_topic_partition_list_destroy(a);
        after_assign(w);
}

void cf_worker_consume_error(cf_worker *w, const rd_kafka_message_t *m)
{
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return;
        if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
                offset_reset(w, m);
                return;
        }
        if (cf_kafka_err_is_auth(m->err)) {
                cf_service_kafka_error(w->svc, rd_kafka_name(w->consumer), m->err,
                                       rd_kafka_message_errstr(m));
                return;
        }
        cf_log(CF_LOG_WARN, COMPONENT, "worker %d: consume: %s", w->id, rd_kafka_message_errstr(m));
}

/* Consume (waiting at most wait_ms for records), process, produce (acks are
 * awaited at commit). Returns records handled or -1 on a fatal error (nothing
 * of this batch is then committed). */
static int run_batch(cf_worker *w, int wait_ms)
{
        ssize_t n = cf_worker_consume(w, wait_ms);
        if (n < 0) return 0;
        const cf_service_cfg *sc = &w->svc->sc;
        int64_t t0 = cf_mono_ms();
        double t0s = cf_mono_s();
        cf_batch *b = &w->batch;
        cf_batch_reset(b);
        b->now_ms = cf_now_ms(); /* wall clock: stages stamp processed_at with it */
        for (ssize_t i = 0; i < n; i++) {
                rd_kafka_message_t *m = w->msgs[i];
                if (m->err) {
                        cf_worker_consume_error(w, m);
                        continue;
                }
                /* fetched before a revoke: the new owner will process it */
                if (!cf_part_ok(m->partition) || !w->assigned[m->partition]) continue;
                cf_fetch_watch_rx(w, m->partition, t0); /* its fetcher works */
                /* fetched before its pause took effect: fetched again once restored */
                if (cf_restore_hold(w, m->partition, m->offset)) continue;
                /* processed already, or of a fetch before the partition moved
                 * (fetch_gate.h) */
                if (cf_fetch_gate_take(&w->gate[m->partition], m->offset) != CF_FETCH_TAKE) {
                        cf_counter_inc(w->m.refetched);
                        continue;
                }
                cf_txn_touch(w, m->partition, m->offset); /* before the chain sees it */
                /* consumed: counted here, before the chain, from the offsets */
                cf_worker_part *wp = &w->parts[m->partition];
                cf_offset_range_add(&wp->range, m->offset);
                cf_counter_inc(wp->in);
                cf_record *r = cf_batch_add(b, m->payload, m->len);
                r->src.topic = sc->topic_in;
                r->src.partition = m->partition;
                r->src.offset = m->offset;
                r->src.key = m->key;
                r->src.key_len = m->key_len;
                r->timestamp_ms = rd_kafka_message_timestamp(m, NULL);
        }
        int rc = (int)b->n;
        int_fast64_t none = 0;
        if (b->n) atomic_compare_exchange_strong(&w->svc->first_batch_ms, &none, b->now_ms);
        if (b->n) cf_chain_process(w->chain, b);
        if (t0 - w->last_flush_ms >= sc->flush_interval_ms) {
                cf_chain_flush(w->chain, b, b->now_ms, 0);
                w->last_flush_ms = t0;
        }
        if (b->n || b->n_outs) {
                /* Outputs are not awaited per batch: a commit waits for every
                 * ack before it commits (Kafka Streams' flush-then-commit), so
                 * batches overlap with the broker's round trips. A full queue
                 * is backpressure: wait it down, pausing the partitions. */
                if (produce_outputs(w, b, t0s)) {
                        rc = -1;
                } else {
                        cf_histogram_observe(w->m.batch_processed, cf_mono_s() - t0s);
                        if (rd_kafka_outq_len(w->producer) > OUTQ_HIGH &&
                            wait_outq(w, OUTQ_HIGH / 2)) {
                                rc = -1;
                        } else {
                                advance(w, b);
                                atomic_fetch_add(&w->svc->in_acked, b->n);
                        }
                }
        }
        for (ssize_t i = 0; i < n; i++)
                rd_kafka_message_destroy(w->msgs[i]);
        if (rc >= 0) cf_worker_reposition(w); /* after advance(): next_offset is exact */
        w->last_batch_ms = cf_mono_ms() - t0; /* a commit's slice may take as long (commit.c) */
        return rc;
}

/* About once a second: refresh the gauges /metrics shows (its counters are
 * current) and publish the totals cf_service_counters sums, under the service lock. */
static void publish(cf_worker *w, bool force)
{
        int64_t now = cf_mono_ms();
        if (!force && now - w->last_pub_ms < 1000) return;
        w->last_pub_ms = now;
        w->pub.max_lag = cf_worker_metrics_refresh(w);
        w->pub.total = *cf_chain_counters(w->chain);
        w->pub.population_ready = w->pop.ready;
        pthread_mutex_lock(&w->svc->mtx);
        w->svc->pubs[w->id] = w->pub;
        pthread_mutex_unlock(&w->svc->mtx);
}

void *cf_worker_main(void *arg)
{
        cf_worker *w = arg;
        const cf_service_cfg *sc = &w->svc->sc;
        cf_worker_warm_up(w);
        /* exactly_once: before anything is produced (the outcomes' dead letters) */
        if (cf_txn_init(w) && atomic_load(&w->fatal))
                cf_log(CF_LOG_ERROR, COMPONENT, "worker %d: %s", w->id, w->fatal_reason);
        /* the outcomes learnt so far before the first declaration (GlobalKTable) */
        if (cf_outcomes_start(w)) {
                snprintf(w->fatal_reason, sizeof w->fatal_reason,
                         "a dead letter of the outcomes input was not produced");
                atomic_store(&w->fatal, true);
        }
        /* the population state before any input: readiness waits for it */
        if (cf_population_start(w)) {
                snprintf(w->fatal_reason, sizeof w->fatal_reason,
                         "population topics %s / %s cannot be read", sc->topic_baselines,
                         sc->topic_certificates);
                atomic_store(&w->fatal, true);
        }
        publish(w, true);
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, sc->topic_in, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(w->consumer, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        if (e) {
                snprintf(w->fatal_reason, sizeof w->fatal_reason, "subscribe %s: %s", sc->topic_in,
                         rd_kafka_err2str(e));
                atomic_store(&w->fatal, true);
        }
        w->last_commit_ms = w->last_flush_ms = cf_mono_ms();
        while (!atomic_load(&w->fatal) && !atomic_load(&w->svc->stop)) {
                if (cf_outcomes_poll(w) < 0) break;
                /* a slice of a restore or a commit in progress, then the batch without
                 * waiting */
                bool busy = cf_restore_poll(w) || w->round.l;
                int wait = busy ? 0 : (int)sc->batch_timeout_ms;
                if (atomic_load(&w->fatal)) break;
                if (run_batch(w, wait) < 0 && !cf_txn_retry(w, "an output was not produced")) break;
                cf_population_poll(w, 0);
                cf_population_publish_due(w);
                if (atomic_load(&w->fatal)) break;
                if (atomic_load(&w->delivery_failed) &&
                    !cf_txn_retry(w, "an output was not delivered"))
                        break;
                cf_commit_poll(w);
                cf_fetch_watch_poll(w); /* a partition no longer fetched (fetch_watch.c) */
                /* serve the producer's error callback (authentication failures)
                 * even while no output is produced, and delivery reports as they
                 * come (customsflow_batch_seconds: consume -> acknowledged) */
                rd_kafka_poll(w->producer, 0);
                cf_worker_maybe_reload(w);
                publish(w, false);
        }
        if (atomic_load(&w->svc->abort) && !w->fatal_reason[0])
                snprintf(w->fatal_reason, sizeof w->fatal_reason, "the instance failed");
        if (!atomic_load(&w->fatal) && !atomic_load(&w->delivery_failed) &&
            !atomic_load(&w->svc->abort)) {
                /* graceful: emit what stages still hold (partial windows), then commit */
                cf_batch_reset(&w->batch);
                w->batch.now_ms = cf_now_ms();
                cf_chain_flush(w->chain, &w->batch, w->batch.now_ms, 1);
                if (!produce_outputs(w, &w->batch, cf_mono_s()) && !cf_worker_wait_acks(w)) {
                        cf_outcomes_checkpoint(w, true);
                        cf_commit_parts(w, NULL);
                }
                /* Leave the group only once every worker of this instance has
                 * committed: the first to leave starts a rebalance, and commits
                 * during a rebalance are refused. */
                atomic_fetch_add(&w->svc->n_final, 1);
                int64_t t0 = cf_mono_ms();
                while (atomic_load(&w->svc->n_final) + atomic_load(&w->svc->n_dead) <
                           w->svc->n_workers &&
                       cf_mono_ms() - t0 < 10000 && cf_worker_stop_left_ms(w) > 0) {
                        rd_kafka_poll(w->producer, 0);
                        usleep(10 * 1000);
                }
                cf_worker_leave(w); /* revoke: checkpoint, leave the group */
        } else if (atomic_load(&w->fenced) && !atomic_load(&w->svc->abort)) {
                cf_txn_fenced_stop(w);
        } else {
                /* fatal: stop without committing past unacknowledged output */
                if (!w->fatal_reason[0])
                        snprintf(w->fatal_reason, sizeof w->fatal_reason,
                                 "an output was not delivered");
                cf_log(CF_LOG_ERROR, COMPONENT,
                       "worker %d stopped: %s; uncommitted input will be re-delivered", w->id,
                       w->fatal_reason);
                pthread_mutex_lock(&w->svc->mtx);
                if (!w->svc->fail_reason[0])
                        snprintf(w->svc->fail_reason, sizeof w->svc->fail_reason,
                                 "worker %d: %.480s", w->id, w->fatal_reason);
                pthread_mutex_unlock(&w->svc->mtx);
                atomic_store(&w->svc->failed, true);
                atomic_fetch_add(&w->svc->n_dead, 1);
        }
        publish(w, true);
        return NULL;
}
