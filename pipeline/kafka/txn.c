/*
 * txn.c - processing.guarantee: exactly_once (DESIGN §4, Kafka Streams'
 * exactly_once_v2). Each worker's producer is transactional
 * (transactional.id <group_id>-<instance_id>-<worker>, cf_service_client_conf):
 * every output (flags, stats, dead letters), changelog chunk and population
 * contribution produced between two commits belongs to one transaction, and
 * the commit sends the consumed offsets into it
 * (rd_kafka_send_offsets_to_transaction with the consumer's group metadata)
 * before it commits. Consumers of the outputs see a batch's outputs, the state
 * that produced them and the offsets that consumed it all together or not at
 * all (isolation.level=read_committed).
 *
 * On any failure the transaction is aborted and the worker rewinds to the last
 * commit: each partition touched since gets back the state it had then (the
 * snapshot committed with it, kept in memory: a changelog read could see the
 * aborted snapshot on a broker that does not filter aborted records, as
 * librdkafka's mock cluster does not) and its position (a seek to the committed
 * offset), so the re-processed records give the same outputs. A fenced producer
 * (another process took over this transactional.id: this one is a zombie) stops
 * its worker; the instance's other workers go on.
 *
 * @locality: worker thread (commit, rebalance and produce paths).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/clock.h"
#include "pipeline/kafka/service_int.h"

#define COMPONENT "txn"

/* Longest wait of a transaction call; the transaction timeout (the producer's
 * delivery timeout) bounds the broker side. */
#define TXN_WAIT_MS 30000

/* A transaction call's wait: TXN_WAIT_MS, and once the service stops no longer than the
 * stop's budget (cf_worker_stop_left_ms; at least 100 ms, for a call that is already
 * answered). A transaction left open by a stop is aborted by the next incarnation's
 * init_transactions: outputs and offsets both stay uncommitted, nothing is lost. */
static int txn_wait_ms(cf_worker *w)
{
        int64_t left = cf_worker_stop_left_ms(w);
        if (left < 100) left = 100;
        return left < TXN_WAIT_MS ? (int)left : TXN_WAIT_MS;
}

/* A retriable transaction error is retried only while the stop's budget lasts. */
static bool txn_retry(cf_worker *w, const rd_kafka_error_t *e)
{
        return rd_kafka_error_is_retriable(e) && !atomic_load(&w->svc->abort) &&
               cf_worker_stop_left_ms(w) > 0;
}

static bool eos(const cf_worker *w)
{
        return w->svc->sc.eos;
}

/* A fatal error (fenced or otherwise): the producer is unusable; this worker stops. */
static void txn_fatal(cf_worker *w, const char *what, const rd_kafka_error_t *e)
{
        rd_kafka_resp_err_t code = rd_kafka_error_code(e);
        if (code == RD_KAFKA_RESP_ERR__FATAL) {
                char buf[256];
                code = rd_kafka_fatal_error(w->producer, buf, sizeof buf);
        }
        if (code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
            code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH)
                atomic_store(&w->fenced, true);
        snprintf(w->fatal_reason, sizeof w->fatal_reason, "%s: %s%s", what,
                 rd_kafka_error_string(e),
                 atomic_load(&w->fenced) ? " (fenced: another process took over this worker's "
                                           "transactional.id)"
                                         : "");
        atomic_store(&w->fatal, true);
}

int cf_txn_init(cf_worker *w)
{
        if (!eos(w)) return 0;
        w->snap_committed = calloc(CF_SVC_MAX_PARTITIONS, sizeof *w->snap_committed);
        w->snap_pending = calloc(CF_SVC_MAX_PARTITIONS, sizeof *w->snap_pending);
        w->pending_full = calloc(CF_SVC_MAX_PARTITIONS, sizeof *w->pending_full);
        for (int i = 0; i < CF_SVC_MAX_PARTITIONS; i++)
                w->rewind_to[i] = -1;
        /* fences the previous incarnation and aborts what it left open; retried
         * while it times out (the coordinator may be loading) */
        for (;;) {
                rd_kafka_error_t *e = rd_kafka_init_transactions(w->producer, TXN_WAIT_MS);
                if (!e) return 0;
                if (rd_kafka_error_is_retriable(e) && atomic_load(&w->svc->stop)) {
                        rd_kafka_error_destroy(e); /* stopped before it could start */
                        return -1;
                }
                if (!rd_kafka_error_is_retriable(e)) {
                        txn_fatal(w, "init_transactions", e);
                        rd_kafka_error_destroy(e);
                        return -1;
                }
                cf_log(CF_LOG_WARN, COMPONENT, "worker %d: init_transactions: %s; retrying", w->id,
                       rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
        }
}

int cf_txn_begin(cf_worker *w)
{
        if (!eos(w) || w->in_txn) return 0;
        if (atomic_load(&w->fatal)) return -1;
        rd_kafka_error_t *e = rd_kafka_begin_transaction(w->producer);
        if (e) {
                txn_fatal(w, "begin_transaction", e);
                rd_kafka_error_destroy(e);
                return -1;
        }
        w->in_txn = true;
        return 0;
}

void cf_txn_touch(cf_worker *w, int32_t p, int64_t offset)
{
        if (eos(w) && w->rewind_to[p] < 0) w->rewind_to[p] = offset;
}

/* A partition's committed state is a list of checkpoints: a full snapshot, then the deltas
 * written on it, each as a u64 length and its bytes. */
static void list_add(cf_buf *list, const void *p, size_t n)
{
        uint64_t len = n;
        cf_buf_put(list, (const char *)&len, sizeof len);
        if (n) cf_buf_put(list, p, n);
}

void cf_txn_snapshot_written(cf_worker *w, int32_t p, const cf_buf *blob, bool full)
{
        if (!eos(w)) return;
        if (full) w->snap_pending[p].len = 0;
        w->pending_full[p] = w->pending_full[p] || full;
        list_add(&w->snap_pending[p], blob->p, blob->len);
}

void cf_txn_snapshot_restored(cf_worker *w, int32_t p, const cf_buf *snap,
                              const cf_buf *const *deltas, size_t nd)
{
        if (!eos(w)) return;
        w->snap_committed[p].len = 0;
        if (snap) list_add(&w->snap_committed[p], snap->p, snap->len);
        for (size_t i = 0; snap && i < nd; i++)
                list_add(&w->snap_committed[p], deltas[i]->p, deltas[i]->len);
        w->snap_pending[p].len = 0;
        w->pending_full[p] = false;
        w->rewind_to[p] = -1;
}

/* Put p's committed state back: its snapshot, then its deltas (none: empty). */
static int restore_committed(cf_worker *w, int32_t p, char *err, size_t err_size)
{
        const cf_buf *l = &w->snap_committed[p];
        int rc = 0;
        if (!l->len) return cf_chain_restore(w->chain, p, NULL, 0, err, err_size);
        for (size_t off = 0, i = 0; !rc && off + 8 <= l->len; i++) {
                uint64_t n;
                memcpy(&n, l->p + off, 8);
                const char *b = l->p + off + 8;
                rc = i ? cf_chain_apply_delta(w->chain, p, b, (size_t)n, err, err_size)
                       : cf_chain_restore(w->chain, p, b, (size_t)n, err, err_size);
                off += 8 + (size_t)n;
        }
        return rc;
}

/* Every partition touched since the last commit gets back its committed state,
 * counters and position. */
static void rewind_parts(cf_worker *w)
{
        const cf_service_cfg *sc = &w->svc->sc;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS; p++) {
                w->snap_pending[p].len = 0;
                w->pending_full[p] = false;
                /* every assigned partition: a flush without input changes state too;
                 * not one still restoring (restore.c): nothing of it ran yet */
                if (!w->assigned[p] || w->rp[p].pending) continue;
                char err[256];
                cf_chain_drop(w->chain, p);
                w->clog[p].base = 0; /* what the aborted transaction wrote is gone: a full
                                        snapshot next */
                if (restore_committed(w, p, err, sizeof err)) {
                        snprintf(w->fatal_reason, sizeof w->fatal_reason,
                                 "partition %d: committed state not restored after an abort: %s", p,
                                 err);
                        atomic_store(&w->fatal, true);
                }
                cf_worker_metrics_rewind(w, p);
                w->dirty[p] = false;
                w->pop_dirty[p] = true;            /* the restored contribution, published whole */
                if (w->rewind_to[p] < 0) continue; /* no record since the commit */
                w->next_offset[p] = w->rewind_to[p];
                cf_fetch_gate_rewind(&w->gate[p],
                                     w->rewind_to[p]); /* processed again, on purpose */
                rd_kafka_topic_partition_list_add(l, sc->topic_in, p)->offset = w->rewind_to[p];
                w->rewind_to[p] = -1;
        }
        if (l->cnt) {
                rd_kafka_error_t *e = rd_kafka_seek_partitions(w->consumer, l, 10000);
                for (int i = 0; !e && i < l->cnt; i++)
                        if (l->elems[i].err) {
                                snprintf(w->fatal_reason, sizeof w->fatal_reason,
                                         "partition %d: rewind to %" PRId64 ": %s",
                                         l->elems[i].partition, l->elems[i].offset,
                                         rd_kafka_err2str(l->elems[i].err));
                                atomic_store(&w->fatal, true);
                        }
                if (e) {
                        snprintf(w->fatal_reason, sizeof w->fatal_reason, "rewind: %s",
                                 rd_kafka_error_string(e));
                        atomic_store(&w->fatal, true);
                        rd_kafka_error_destroy(e);
                }
                cf_log(CF_LOG_WARN, COMPONENT,
                       "worker %d: %d partition(s) rewound to their committed offsets and state",
                       w->id, l->cnt);
        }
        rd_kafka_topic_partition_list_destroy(l);
}

void cf_txn_abort(cf_worker *w, const char *why)
{
        if (!eos(w)) return;
        cf_log(CF_LOG_ERROR, COMPONENT, "worker %d: aborting the transaction: %s", w->id, why);
        cf_counter_inc(w->m.commit_errors); /* an aborted transaction is a failed commit */
        if (w->in_txn) {
                rd_kafka_error_t *e;
                while ((e = rd_kafka_abort_transaction(w->producer, txn_wait_ms(w))) &&
                       txn_retry(w, e)) {
                        cf_log(CF_LOG_WARN, COMPONENT, "worker %d: abort_transaction: %s", w->id,
                               rd_kafka_error_string(e));
                        rd_kafka_error_destroy(e);
                }
                if (e) {
                        txn_fatal(w, "abort_transaction", e);
                        rd_kafka_error_destroy(e);
                        return;
                }
                w->in_txn = false;
        }
        /* the aborted outputs' delivery failures are part of what was aborted */
        atomic_store(&w->delivery_failed, 0);
        rewind_parts(w);
}

/* Handle a transaction call's error: fatal stops the worker, anything else aborts. */
static int failed(cf_worker *w, const char *what, rd_kafka_error_t *e)
{
        char why[512];
        snprintf(why, sizeof why, "%s: %s", what, rd_kafka_error_string(e));
        if (!rd_kafka_error_is_fatal(e) && cf_worker_stop_left_ms(w) <= 0) {
                /* stopping and out of shutdown_timeout: an abort would wait as long again */
                cf_counter_inc(w->m.commit_errors);
                cf_log(CF_LOG_WARN, COMPONENT,
                       "worker %d: %s at stop, past pipeline.shutdown_timeout: the transaction "
                       "is left open; the next start of this worker's transactional.id aborts "
                       "it (its outputs and offsets stay uncommitted: re-processed, not lost)",
                       w->id, why);
                rd_kafka_error_destroy(e);
                return -1;
        }
        if (rd_kafka_error_is_fatal(e))
                txn_fatal(w, what, e);
        else
                cf_txn_abort(w, why);
        rd_kafka_error_destroy(e);
        return -1;
}

int cf_txn_commit(cf_worker *w, rd_kafka_topic_partition_list_t *l)
{
        /* offsets of records that produced nothing need a transaction too */
        if (l && l->cnt && cf_txn_begin(w)) return -1;
        if (!w->in_txn) return 0;
        rd_kafka_error_t *e;
        if (atomic_load(&w->delivery_failed)) {
                cf_txn_abort(w, "an output was not delivered");
                return -1;
        }
        if (l && l->cnt) {
                rd_kafka_consumer_group_metadata_t *gm =
                    rd_kafka_consumer_group_metadata(w->consumer);
                e = rd_kafka_send_offsets_to_transaction(w->producer, l, gm, txn_wait_ms(w));
                rd_kafka_consumer_group_metadata_destroy(gm);
                if (e) return failed(w, "send_offsets_to_transaction", e);
        }
        /* a timed-out commit may be retried (librdkafka: the outcome is then known) */
        for (int tries = 0;; tries++) {
                e = rd_kafka_commit_transaction(w->producer, txn_wait_ms(w));
                if (!e) break;
                if (!txn_retry(w, e) || tries == 2) return failed(w, "commit_transaction", e);
                rd_kafka_error_destroy(e);
        }
        w->in_txn = false;
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS; p++) {
                if (w->rewind_to[p] < 0) continue;
                if (w->pending_full[p]) { /* a new snapshot: the list starts over */
                        cf_buf t = w->snap_committed[p];
                        w->snap_committed[p] = w->snap_pending[p];
                        w->snap_pending[p] = t;
                } else if (w->snap_pending[p].len) {
                        cf_buf_put(&w->snap_committed[p], w->snap_pending[p].p,
                                   w->snap_pending[p].len);
                }
                w->snap_pending[p].len = 0;
                w->pending_full[p] = false;
                cf_worker_metrics_mark(w, p);
                w->rewind_to[p] = -1;
        }
        /* The offsets committed in the transaction once more through the consumer:
         * redundant on a broker (the same values, after the transaction), but
         * librdkafka's mock cluster (the demo's embedded broker, the tests) does not
         * store transactional offset commits. Its failure changes nothing. */
        if (l && l->cnt) {
                rd_kafka_resp_err_t ce = cf_commit_offsets_wait(w, l);
                if (ce)
                        cf_log(CF_LOG_DEBUG, COMPONENT, "worker %d: offsets mirror commit: %s",
                               w->id, rd_kafka_err2str(ce));
        }
        return 0;
}

int cf_txn_failed(cf_worker *w, const char *why)
{
        if (!eos(w)) return -1;
        cf_txn_abort(w, why);
        atomic_fetch_add(&w->failures_in_row, 1);
        w->last_commit_ms = cf_mono_ms();
        return -1;
}

bool cf_txn_retry(cf_worker *w, const char *why)
{
        if (!eos(w) || atomic_load(&w->fatal) || atomic_load(&w->svc->abort)) return false;
        cf_txn_abort(w, why);
        return !atomic_load(&w->fatal);
}

void cf_txn_fenced_stop(cf_worker *w)
{
        cf_log(CF_LOG_ERROR, COMPONENT,
               "worker %d stopped: %s; its open transaction is aborted by the broker and its "
               "partitions go to the group's other members",
               w->id, w->fatal_reason);
        cf_worker_leave(w);
        if (atomic_fetch_add(&w->svc->n_dead, 1) + 1 == w->svc->n_workers)
                cf_service_fail(w->svc, "every worker was fenced (another instance runs with "
                                        "this pipeline.instance_id)");
}

void cf_txn_destroy(cf_worker *w)
{
        for (int i = 0; w->snap_committed && i < CF_SVC_MAX_PARTITIONS; i++) {
                cf_buf_free(&w->snap_committed[i]);
                cf_buf_free(&w->snap_pending[i]);
        }
        free(w->snap_committed);
        free(w->snap_pending);
        free(w->pending_full);
        w->pending_full = NULL;
        w->snap_committed = w->snap_pending = NULL;
}
